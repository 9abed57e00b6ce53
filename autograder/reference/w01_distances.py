"""Week 1 reference implementations: pairwise distances and the known mistakes of that task."""

from __future__ import annotations

import numpy as np


def l2_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances between the rows of X (N, D) and Y (M, D), shape (N, M), float64.

    D[i, j] = sqrt(|X_i|^2 + |Y_j|^2 - 2 X_i . Y_j), with the squared distance clipped at 0 where
    round-off makes it slightly negative.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    squared = np.einsum("nd,nd->n", X, X)[:, None] + np.einsum("md,md->m", Y, Y)[None, :] - 2.0 * (X @ Y.T)
    return np.sqrt(np.maximum(squared, 0.0))


def l2_distances_two_loops(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The same distances with two Python loops, written as the assignment's two-loop task asks
    (``sqrt(sum((X[i] - Y[j]) ** 2))``): the baseline the vectorised version is timed against."""
    out = np.empty((X.shape[0], Y.shape[0]))
    for i in range(X.shape[0]):
        for j in range(Y.shape[0]):
            out[i, j] = np.sqrt(np.sum((X[i] - Y[j]) ** 2))
    return out


def squared_l2_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A known mistake: the square root forgotten."""
    return l2_distances(X, Y) ** 2


def l1_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A known mistake: Manhattan distances, sum_d |X[i, d] - Y[j, d]|."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    return np.abs(X[:, None, :] - Y[None, :, :]).sum(axis=2)


def distance_mistake_outputs(X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """What each known mistake (named as in ``dlfs.checks.w01_distances.DISTANCE_MISTAKES``) outputs on X, Y."""
    return {
        "squared": squared_l2_distances(X, Y),
        "transposed": l2_distances(X, Y).T,
        "l1": l1_distances(X, Y),
    }
