"""Week 1, the Kaggle part: the visible checks (CSV frames to arrays, softmax regression, the submission),
and the probe of the hidden test of the submission file."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dlfs.checks import CheckFailed, call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.grading import probe, record
from dlfs.kaggle import SubmissionError, check_submission, score_submission

__all__ = ["frame_to_arrays", "softmax_loss_grad", "train_softmax_regression", "write_submission", "submission_file"]

#: The most of submission.csv the hidden test records (a right file is about 90 kB).
MAX_SUBMISSION_BYTES = 4 * 2**20


def _frames(arrays: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored Digit Recognizer rows as the two frames pandas would read from the CSV files."""
    pixels = [f"pixel{i}" for i in range(arrays["test_values"].shape[1])]
    return (
        pd.DataFrame(arrays["train_values"], columns=["label", *pixels]),
        pd.DataFrame(arrays["test_values"], columns=pixels),
    )


def frame_to_arrays(fn: Callable) -> None:
    """Check the conversion of the competition's frames into (X_train, y_train, X_test)."""
    arrays = fixture("w01_frame_to_arrays")
    train, test = _frames(arrays)
    result = unpack(fn.__name__, call(fn, train, test), "X_train", "y_train", "X_test")
    for part, got in zip(("X_train", "y_train", "X_test"), result):
        check_array(f"{fn.__name__}: {part}", got, arrays[f"expected_{part}"],
                    mistakes=stored_mistakes(arrays, suffix=f"_{part}"))
    passed(f"{fn.__name__}: features in [0, 1] without the label, integer labels")


def softmax_loss_grad(fn: Callable) -> None:
    """Check the loss, dW and db against the stored values."""
    a = fixture("w01_softmax_loss")
    reg = float(a["reg"])
    loss, dW, db = unpack(fn.__name__, call(fn, a["W"], a["b"], a["X"], a["y"], reg), "loss", "dW", "db")
    fresh = fixture("w01_softmax_loss")
    for argument in ("W", "b", "X", "y"):
        check_unchanged(fn.__name__, fresh[argument], a[argument], argument)
    if not isinstance(loss, float | np.floating) or not math.isfinite(float(loss)):
        raise CheckFailed(f"{fn.__name__}: the loss must be a finite float; got {loss!r}.")
    check_array(f"{fn.__name__}: loss", np.float64(loss), a["expected_loss"], rtol=1e-7,
                hint="the mean over the batch of -log p(correct class), plus 0.5 * reg * sum(W**2).")
    check_array(f"{fn.__name__}: dW", dW, a["expected_dW"], rtol=1e-6, atol=1e-12, mistakes=stored_mistakes(a))
    check_array(f"{fn.__name__}: db", db, a["expected_db"], rtol=1e-6, atol=1e-12,
                hint="db is the mean over the batch of (probabilities - one-hot labels).")
    passed(f"{fn.__name__}: loss, dW and db match")


def train_softmax_regression(fn: Callable) -> None:
    """Train on a small stored 3-class problem: shapes, a falling loss, and a fitted training set."""
    a = fixture("w01_train_data")
    X, y = a["X"], a["y"]
    W, b, losses = unpack(fn.__name__, call(fn, X, y, 3, lr=0.5, epochs=20, batch_size=32, reg=1e-4, seed=0),
                          "W", "b", "losses")
    steps = 20 * math.ceil(len(y) / 32)
    if np.shape(W) != (X.shape[1], 3) or np.shape(b) != (3,) or np.shape(losses) != (steps,):
        raise CheckFailed(f"{fn.__name__}: expected W {(X.shape[1], 3)}, b (3,) and {steps} losses (one per "
                          f"mini-batch); got {np.shape(W)}, {np.shape(b)}, {np.shape(losses)}.")
    losses = np.asarray(losses, dtype=float)
    if not losses[-10:].mean() < 0.5 * losses[:10].mean():
        raise CheckFailed(f"{fn.__name__}: the loss did not fall (first 10 steps {losses[:10].mean():.3f}, last 10 "
                          f"{losses[-10:].mean():.3f}): do you step *against* the gradient, W -= lr * dW?")
    accuracy = float(np.mean((X @ W + b).argmax(axis=1) == y))
    if accuracy < 0.95:
        raise CheckFailed(f"{fn.__name__}: training accuracy {accuracy:.2f} on an easy problem; expected at least 0.95.")
    passed(f"{fn.__name__}: loss {losses[:10].mean():.3f} -> {losses[-10:].mean():.3f}, training accuracy {accuracy:.2f}")


def write_submission(fn: Callable) -> None:
    """Write five labels to a temporary file and check the competition's exact format."""
    labels = np.array([3, 1, 4, 1, 5])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.csv"
        call(fn, labels, path)
        try:
            frame = check_submission(path, n_rows=len(labels))
        except SubmissionError as err:
            raise CheckFailed(f"{fn.__name__}: {err}") from err
        if not np.array_equal(frame["Label"].to_numpy(), labels):
            raise CheckFailed(f"{fn.__name__}: the labels in the file are {frame['Label'].tolist()}, expected {labels.tolist()}.")
    passed(f"{fn.__name__}: header ImageId,Label, ImageIds 1..N, integer labels")


def submission_file(path: str = "submission.csv") -> float:
    """Check the format of a competition submission file and print its accuracy on the held-out labels."""
    try:
        accuracy = score_submission(path)
    except SubmissionError as err:
        raise CheckFailed(str(err)) from err
    passed(f"{path}: the format is right; accuracy on the held-out test labels {accuracy:.4f}")
    return accuracy


def _read_bytes(path: str | Path) -> np.ndarray | None:
    path = Path(path)
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return np.frombuffer(handle.read(MAX_SUBMISSION_BYTES), dtype=np.uint8).copy()


@probe("w01_kaggle_submission")
def _submission(path: str, *model, inputs: dict) -> dict:
    """``check("w01_kaggle_submission", "submission.csv", W, b)``: the file's bytes (None if it is missing)
    and the model W, b that wrote it, recorded as they are (None when not given)."""
    W, b = (*model, None, None)[:2]
    return {"file": record(_read_bytes, path), "W": W, "b": b}
