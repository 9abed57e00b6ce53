"""Week 1 reference: k-nearest-neighbour prediction, k by cross-validation, and their known mistakes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autograder.reference.w01_distances import l2_distances


def _vote_counts(dists: np.ndarray, y_train: np.ndarray, k: int, farthest: bool = False) -> np.ndarray:
    order = np.argsort(-dists if farthest else dists, axis=1, kind="stable")[:, :k]
    votes = np.asarray(y_train)[order]
    counts = np.zeros((dists.shape[0], int(np.max(y_train)) + 1), dtype=np.int64)
    np.add.at(counts, (np.arange(dists.shape[0])[:, None], votes), 1)
    return counts


def knn_predict(dists: np.ndarray, y_train: np.ndarray, k: int) -> np.ndarray:
    """Majority label of the k nearest training points (stable order); ties -> the smallest label."""
    return _vote_counts(dists, y_train, k).argmax(axis=1)


def knn_mistakes(dists: np.ndarray, y_train: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Outputs of the known k-NN mistakes."""
    counts = _vote_counts(dists, y_train, k)
    largest = counts.shape[1] - 1 - counts[:, ::-1].argmax(axis=1)
    order = np.argsort(dists, axis=1, kind="stable")[:, :k]
    first_seen = []
    for row, neighbours in zip(counts, np.asarray(y_train)[order]):
        tied = set(np.flatnonzero(row == row.max()))
        first_seen.append(next(label for label in neighbours if label in tied))
    return {
        "largest_label": largest,
        "nearest_in_tie": np.array(first_seen),
        "farthest": _vote_counts(dists, y_train, k, farthest=True).argmax(axis=1),
    }


def clusters(seed: int, n: int = 60, noise: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian clusters in 2-D, labels 0..2: data on which k matters."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 0.0], [2.0, 0.5], [1.0, 2.0]])
    return centres[y] + noise * rng.normal(size=(n, 2)), y


def fold_indices(n: int, num_folds: int) -> list[np.ndarray]:
    """Contiguous folds of range(n), as np.array_split makes them."""
    return np.array_split(np.arange(n), num_folds)


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    ks: list[int],
    num_folds: int = 5,
    distances: Callable = l2_distances,
    predict: Callable = knn_predict,
    leak: bool = False,
) -> tuple[int, np.ndarray]:
    """(best k, accuracies of shape (len(ks), num_folds)); best = highest mean, ties -> smallest k.

    ``leak=True`` is the known mistake of keeping the validation fold among the training points.
    """
    folds = fold_indices(len(y), num_folds)
    accuracies = np.zeros((len(ks), num_folds))
    for f, val in enumerate(folds):
        train = np.arange(len(y)) if leak else np.concatenate([folds[g] for g in range(num_folds) if g != f])
        dists = distances(X[val], X[train])
        for i, k in enumerate(ks):
            accuracies[i, f] = np.mean(predict(dists, y[train], k) == y[val])
    means = accuracies.mean(axis=1)
    return min(k for k, mean in zip(ks, means) if np.isclose(mean, means.max(), rtol=0, atol=1e-12)), accuracies
