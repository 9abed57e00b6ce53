"""Week 1 reference: the broadcasting drills (softmax, standardize, one_hot) and their known mistakes."""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of scores (N, C): exp(s - logsumexp(s)), computed in float64."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.exp(shifted - log_norm)


def standardize(X: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Column-wise (X - mean) / (std + eps), with the population std (ddof=0)."""
    X = np.asarray(X, dtype=np.float64)
    return (X - X.mean(axis=0)) / (X.std(axis=0) + eps)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) integer labels in [0, num_classes) -> (N, num_classes) float64 rows with a single 1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    return (labels[:, None] == np.arange(num_classes)[None, :]).astype(np.float64)


def softmax_mistakes(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the known softmax mistakes on ``scores``."""
    scores = np.asarray(scores, dtype=np.float64)
    return {"columns": softmax(scores.T).T}


def standardize_mistakes(X: np.ndarray, eps: float = 1e-8) -> dict[str, np.ndarray]:
    """Outputs of the known standardize mistakes on ``X``."""
    X = np.asarray(X, dtype=np.float64)
    return {
        "sample_std": (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + eps),
        "rows": standardize(X.T, eps).T,
    }


def one_hot_mistakes(labels: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """Outputs of the known one_hot mistakes on ``labels``."""
    right = one_hot(labels, num_classes)
    return {"transposed": right.T, "shifted": np.roll(right, -1, axis=1)}
