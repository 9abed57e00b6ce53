"""Hidden tests of week 1's Kaggle part: frames to arrays, softmax regression, the submission file."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from autograder.hidden import case
from autograder.reference import w01_softmax_regression as ref
from dlfs.checks import CheckFailed, Mistake, call, check_array, expect, unpack
from dlfs.checks.w01_softmax_regression import FRAME_MISTAKES, LOSS_MISTAKES
from dlfs.data import load_mnist
from dlfs.kaggle import SubmissionError, answers, check_submission

TRAIN_SIZE, TRAIN_EPOCHS, TRAIN_MIN_ACCURACY = 20_000, 3, 0.89
SUBMISSION_MIN_ACCURACY = 0.90


def _frames(rng: np.random.Generator, n_train: int, n_test: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    pixels = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(rng.integers(0, 256, (n_train, 784)), columns=pixels)
    train.insert(0, "label", rng.integers(0, 10, n_train))
    return train, pd.DataFrame(rng.integers(0, 256, (n_test, 784)), columns=pixels)


@case("w01_frame_to_arrays")
def frame_to_arrays(fn: Callable) -> str:
    """(X_train, y_train, X_test) agree with the reference for 1, 3 and 50 rows."""
    rng = np.random.default_rng(701)
    for n_train, n_test in ((1, 1), (3, 2), (50, 20)):
        train, test = _frames(rng, n_train, n_test)
        parts = ("X_train", "y_train", "X_test")
        result = unpack(fn.__name__, call(fn, train.copy(), test.copy()), *parts)
        wrong = ref.frame_mistakes(train, test)
        for part, got, want in zip(parts, result, ref.frame_to_arrays(train, test)):
            mistakes = [Mistake(name, out, FRAME_MISTAKES[name]) for name, out in wrong.get(part, {}).items()]
            check_array(f"{fn.__name__} ({n_train} training rows): {part}", got, want, mistakes=mistakes)
    return "three sizes agree with the reference"


def _problem(rng: np.random.Generator, N: int, D: int, C: int, scale: float = 1.0):
    return (rng.normal(size=(D, C)), rng.normal(size=C), scale * rng.normal(size=(N, D)),
            rng.integers(0, C, N), float(rng.choice([0.0, 0.1, 1.0])))


@case("w01_softmax_loss_value")
def softmax_loss_value(fn: Callable) -> str:
    """The loss agrees with the reference on several shapes, and stays finite for scores around 1000."""
    rng = np.random.default_rng(702)
    for N, D, C, scale in ((1, 3, 2, 1.0), (10, 5, 4, 1.0), (64, 20, 10, 1.0), (8, 4, 3, 400.0)):
        W, b, X, y, reg = _problem(rng, N, D, C, scale)
        result = unpack(fn.__name__, call(fn, W, b, X, y, reg), "loss", "dW", "db")
        loss = float(np.asarray(result[0]))
        if not math.isfinite(loss):
            raise CheckFailed(f"{fn.__name__}: the loss is {loss} for scores of size ~{scale * 3:.0f}: compute "
                              "log-probabilities stably (shift the scores by each row's max).")
        check_array(f"{fn.__name__} (N={N}, D={D}, C={C}): loss", np.float64(loss),
                    np.float64(ref.softmax_loss_grad(W, b, X, y, reg)[0]), rtol=1e-7,
                    hint="the mean over the batch of -log p(correct class), plus 0.5 * reg * sum(W**2).")
    return "the loss agrees with the reference, also for large scores"


@case("w01_softmax_loss_gradient")
def softmax_loss_gradient(fn: Callable) -> str:
    """dW and db agree with the reference (itself checked against numerical gradients in the tests)."""
    rng = np.random.default_rng(703)
    for N, D, C in ((1, 3, 2), (10, 5, 4), (32, 8, 10)):
        W, b, X, y, reg = _problem(rng, N, D, C)
        reg = max(reg, 0.1)
        _, dW_ref, db_ref = ref.softmax_loss_grad(W, b, X, y, reg)
        expect(lambda *a: fn(*a)[1], (W, b, X, y, reg), dW_ref, messages=LOSS_MISTAKES,
               mistake_outputs=ref.softmax_loss_mistakes(W, b, X, y, reg), label=f"dW (N={N}, D={D}, C={C})", rtol=1e-6,
               atol=1e-10)
        expect(lambda *a: fn(*a)[2], (W, b, X, y, reg), db_ref, label=f"db (N={N}, D={D}, C={C})", rtol=1e-6,
               atol=1e-10, hint="db is the mean over the batch of (probabilities - one-hot labels).")
    return "dW and db agree with the reference and with numerical gradients"


@case("w01_train_softmax_regression")
def train_softmax_regression(fn: Callable) -> str:
    """Trained on 20,000 MNIST images for 3 epochs: the right shapes, a falling loss, >= 89% test accuracy."""
    mnist = load_mnist(normalize="unit", dtype=np.float64)
    X, y = mnist.X_train[:TRAIN_SIZE], mnist.y_train[:TRAIN_SIZE]
    result = unpack(fn.__name__, call(fn, X, y, 10, lr=0.5, epochs=TRAIN_EPOCHS, batch_size=256, reg=1e-4, seed=0),
                    "W", "b", "losses")
    W, b, losses = (np.asarray(part, dtype=np.float64) for part in result)
    steps = TRAIN_EPOCHS * math.ceil(TRAIN_SIZE / 256)
    if W.shape != (784, 10) or b.shape != (10,) or losses.shape != (steps,):
        raise CheckFailed(f"{fn.__name__}: expected W (784, 10), b (10,) and {steps} losses; got {W.shape}, "
                          f"{b.shape}, {losses.shape}.")
    if not losses[-20:].mean() < 0.5 * losses[:5].mean():
        raise CheckFailed(f"{fn.__name__}: the loss did not fall ({losses[:5].mean():.3f} -> {losses[-20:].mean():.3f}).")
    accuracy = ref.accuracy(W, b, mnist.X_test.astype(np.float64), mnist.y_test)
    if accuracy < TRAIN_MIN_ACCURACY:
        raise CheckFailed(f"{fn.__name__}: test accuracy {accuracy:.3f} after {TRAIN_EPOCHS} epochs on {TRAIN_SIZE} "
                          f"images; expected at least {TRAIN_MIN_ACCURACY}.")
    return f"test accuracy {accuracy:.3f} after {TRAIN_EPOCHS} epochs on {TRAIN_SIZE} images"


@case("w01_write_submission")
def write_submission(fn: Callable) -> str:
    """Files for 1, 10 and 10,000 labels have exactly the competition's format and the given labels."""
    rng = np.random.default_rng(704)
    with tempfile.TemporaryDirectory() as folder:
        for n in (1, 10, 10_000):
            labels = rng.integers(0, 10, n)
            path = Path(folder) / f"submission_{n}.csv"
            call(fn, labels.copy(), path)
            try:
                frame = check_submission(path, n_rows=n)
            except SubmissionError as err:
                raise CheckFailed(f"{fn.__name__} ({n} labels): {err}") from err
            if not np.array_equal(frame["Label"].to_numpy(), labels):
                raise CheckFailed(f"{fn.__name__} ({n} labels): the labels in the file differ from those given.")
    return "exact format for 1, 10 and 10,000 labels"


@case("w01_kaggle_submission")
def kaggle_submission(path: str) -> str:
    """The notebook's submission.csv: the exact format and at least 90% accuracy on the held-out labels."""
    try:
        frame = check_submission(path)
    except SubmissionError as err:
        raise CheckFailed(str(err)) from err
    accuracy = float(np.mean(frame["Label"].to_numpy() == answers()))
    if accuracy < SUBMISSION_MIN_ACCURACY:
        raise CheckFailed(f"{path}: accuracy {accuracy:.4f} on the held-out labels; at least {SUBMISSION_MIN_ACCURACY} "
                          "is expected.")
    return f"format right, held-out accuracy {accuracy:.4f}"
