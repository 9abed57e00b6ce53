"""Week 1 reference: the Kaggle part (CSV frames to arrays, softmax regression) and its known mistakes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def frame_to_arrays(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X_train / 255, labels, X_test / 255) from Digit Recognizer frames; float64 pixels, int64 labels."""
    pixels = [column for column in train.columns if column != "label"]
    return (
        train[pixels].to_numpy(dtype=np.float64) / 255.0,
        train["label"].to_numpy(dtype=np.int64),
        test[pixels].to_numpy(dtype=np.float64) / 255.0,
    )


def softmax_loss_grad(
    W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean cross-entropy of softmax(X W + b) plus 0.5 reg |W|^2, and its gradients (dW, db).

    With P the row-wise softmax and Y the one-hot labels: dW = X^T (P - Y) / N + reg W,
    db = sum_i (P - Y)_i / N.
    """
    N = X.shape[0]
    scores = X @ W + b
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean() + 0.5 * reg * np.sum(W * W)
    delta = np.exp(log_probs)
    delta[np.arange(N), y] -= 1.0
    delta /= N
    return float(loss), X.T @ delta + reg * W, delta.sum(axis=0)


def frame_mistakes(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Per part (X_train, X_test), what the known frame_to_arrays mistakes output."""
    X_train, _, X_test = frame_to_arrays(train, test)
    return {
        "X_train": {"unscaled": X_train * 255.0, "with_label": train.to_numpy(dtype=np.float64) / 255.0},
        "X_test": {"unscaled": X_test * 255.0},
    }


def softmax_loss_mistakes(W, b, X, y, reg) -> dict[str, np.ndarray]:
    """dW of the known gradient mistakes: no 1/N, no regulariser, twice the regulariser."""
    _, dW, _ = softmax_loss_grad(W, b, X, y, reg)
    data_part = dW - reg * W
    return {"no_mean": data_part * X.shape[0] + reg * W, "no_reg": data_part, "double_reg": data_part + 2 * reg * W}


def accuracy(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose highest score is the true label."""
    return float(np.mean((X @ W + b).argmax(axis=1) == y))
