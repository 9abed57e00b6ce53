"""Week 1, the Kaggle part: frames to arrays, softmax regression, the submission file.

Reference, known mistakes, hidden cases and the fixtures of the visible checks. The held-out labels of
the competition (MNIST's test labels) and the test images the submission is re-predicted on are read
here, on the trusted side, only.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.data import load_mnist
from dlfs.grading import Call, OutputFile, Pixels
from dlfs.kaggle import SubmissionError, check_submission
from dlfs.kaggle import answers as held_out_labels

FRAME_MISTAKES = {
    "unscaled": "your pixels are not scaled: divide by 255 so they lie in [0, 1].",
    "with_label": "X_train still holds the label column: drop it from the features.",
}
LOSS_MISTAKES = {
    "no_mean": "your dW matches the gradient of the *summed* loss: divide by N, the batch size, as the loss is a mean.",
    "no_reg": "your dW is missing the regularisation term: d(0.5 reg |W|^2)/dW = reg W.",
    "double_reg": "your dW has 2 reg W: the loss has 0.5 reg |W|^2, whose gradient is reg W.",
}
LOSS_HINT = "the mean over the batch of -log p(correct class), plus 0.5 * reg * sum(W**2)."
DB_HINT = "db is the mean over the batch of (probabilities - one-hot labels)."
LOSS_ARGUMENTS = ("W", "b", "X", "y", "reg")

#: (N, D, C) of the gradient case: the first ones also get a numerical gradient of the student's own loss
#: (2 (D C + C) more calls each), the last one is compared with the reference only.
GRADIENT_SHAPES = [((1, 3, 2), True), ((10, 5, 4), True), ((7, 4, 3), True), ((32, 8, 10), False)]
STEP = 1e-5
TRAIN_SIZE, TRAIN_EPOCHS, TRAIN_MIN_ACCURACY = 20_000, 3, 0.89
TRAIN_SETTINGS = {"lr": 0.5, "epochs": TRAIN_EPOCHS, "batch_size": 256, "reg": 1e-4, "seed": 0}
SUBMISSION_MIN_ACCURACY = 0.90
#: Labels of submission.csv allowed to differ from the model's predictions (ties broken by round-off).
MAX_DISAGREEMENTS = 10


# ---- reference -----------------------------------------------------------------------------------


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


def test_images() -> np.ndarray:
    """The competition's test images (MNIST's test split, test.csv's rows in order), pixels / 255, float64."""
    return load_mnist(normalize=None).X_test.astype(np.float64) / 255.0


# ---- hidden cases: frames and the loss ---------------------------------------------------------------


def _frames(rng: np.random.Generator, n_train: int, n_test: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    pixels = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(rng.integers(0, 256, (n_train, 784)), columns=pixels)
    train.insert(0, "label", rng.integers(0, 10, n_train))
    return train, pd.DataFrame(rng.integers(0, 256, (n_test, 784)), columns=pixels)


@case("w01_frame_to_arrays")
def frame_to_arrays_case(rng: np.random.Generator):
    """(X_train, y_train, X_test) agree with the reference for 1 and 50 training rows; the frames are left alone.

    Two calls only: a frame travels as one file per column (785 of them), which takes a while to write.
    """
    frames = [_frames(rng, n_train, n_test) for n_train, n_test in ((1, 1), (50, 20))]

    def judge(answers: Answers, context: Context) -> str:
        parts = ("X_train", "y_train", "X_test")
        for i, (train, test) in enumerate(frames):
            label = f"{len(train)} training rows"
            result = answers.parts(answers.result(i, label, ("train", "test")), *parts)
            wrong = frame_mistakes(train, test)
            for part, got, want in zip(parts, result, frame_to_arrays(train, test)):
                check_array(f"{context.name} ({label}): {part}", got, want,
                            mistakes=mistakes_on(wrong.get(part, {}), FRAME_MISTAKES))
        return "one and 50 rows agree with the reference"

    return {"calls": [Call((train, test)) for train, test in frames]}, judge


def _problem(rng: np.random.Generator, N: int, D: int, C: int, scale: float = 1.0):
    return (rng.normal(size=(D, C)), rng.normal(size=C), scale * rng.normal(size=(N, D)),
            rng.integers(0, C, N), float(rng.choice([0.0, 0.1, 1.0])))


def _label(X: np.ndarray, W: np.ndarray) -> str:
    return f"N={X.shape[0]}, D={W.shape[0]}, C={W.shape[1]}"


def _loss(answers: Answers, index: int, label: str) -> tuple[float, tuple]:
    """Call ``index``'s loss as a float, and its three parts; fails unless it is one number."""
    parts = answers.parts(answers.result(index, label, LOSS_ARGUMENTS), "loss", "dW", "db")
    loss = np.asarray(parts[0])
    if loss.dtype.kind not in "iuf":
        raise CheckFailed(f"{answers.name} on {label}: the loss must be a float; got {type(parts[0]).__name__}.")
    if loss.size != 1:
        raise CheckFailed(f"{answers.name} on {label}: the loss must be one number (the mean over the batch); "
                          f"got an array of shape {loss.shape}.")
    return float(loss.reshape(())), parts


@case("w01_softmax_loss_value")
def softmax_loss_value(rng: np.random.Generator):
    """The loss agrees with the reference on several shapes, and stays finite for scores around 1000."""
    problems = [(_problem(rng, N, D, C, scale), scale) for N, D, C, scale in
                ((1, 3, 2, 1.0), (10, 5, 4, 1.0), (64, 20, 10, 1.0), (8, 4, 3, 400.0))]

    def judge(answers: Answers, context: Context) -> str:
        for i, (args, scale) in enumerate(problems):
            label = _label(args[2], args[0])
            loss, _ = _loss(answers, i, label)
            if not math.isfinite(loss):
                if scale > 1:
                    raise CheckFailed(f"{context.name} on {label}: the loss is {loss} for scores of size ~{scale * 3:.0f}: "
                                      "compute log-probabilities stably (shift the scores by each row's max).")
                raise CheckFailed(f"{context.name} on {label}: the loss is {loss}, not a finite number.")
            check_array(f"{context.name} ({label}): loss", np.float64(loss), np.float64(softmax_loss_grad(*args)[0]),
                        rtol=1e-7, hint=LOSS_HINT)
        return "the loss agrees with the reference, also for large scores"

    return {"calls": [Call(args) for args, _ in problems]}, judge


def _perturbed(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[list[Call], list]:
    """The calls with one entry of W, then of b, moved by +STEP and -STEP, and the exact steps taken."""
    calls, steps = [], []
    for which, array in ((0, W), (1, b)):
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += STEP
            minus[index] -= STEP
            for moved in (plus, minus):
                args = [W, b, X, y, reg]
                args[which] = moved
                calls.append(Call(tuple(args)))
            steps.append((which, index, plus[index] - minus[index]))
    return calls, steps


@case("w01_softmax_loss_gradient")
def softmax_loss_gradient(rng: np.random.Generator):
    """dW and db agree with the reference (naming the known dW mistakes) and with the numerical gradient
    of the student's OWN loss: the kernel also returns the loss at W and b moved by +-1e-5 in each entry,
    and the centered differences are formed here."""
    calls, problems = [], []
    for (N, D, C), numeric in GRADIENT_SHAPES:
        W, b, X, y, reg = _problem(rng, N, D, C)
        args = (W, b, X, y, max(reg, 0.1))
        start = len(calls)
        calls.append(Call(args))
        steps = []
        if numeric:
            more, steps = _perturbed(*args)
            calls += more
        problems.append((start, args, steps))

    def judge(answers: Answers, context: Context) -> str:
        for start, args, steps in problems:
            label = _label(args[2], args[0])
            _, (_, dW, db) = _loss(answers, start, label)
            _, dW_ref, db_ref = softmax_loss_grad(*args)
            check_array(f"{context.name} ({label}): dW", dW, dW_ref, rtol=1e-6, atol=1e-10,
                        mistakes=mistakes_on(softmax_loss_mistakes(*args), LOSS_MISTAKES))
            check_array(f"{context.name} ({label}): db", db, db_ref, rtol=1e-6, atol=1e-10, hint=DB_HINT)
            if steps:
                numeric = [np.zeros_like(args[0]), np.zeros_like(args[1])]
                for k, (which, index, step) in enumerate(steps):
                    plus, _ = _loss(answers, start + 1 + 2 * k, f"{label}, {'Wb'[which]} moved by +{STEP}")
                    minus, _ = _loss(answers, start + 2 + 2 * k, f"{label}, {'Wb'[which]} moved by -{STEP}")
                    numeric[which][index] = (plus - minus) / step
                for part, got, want in (("dW", dW, numeric[0]), ("db", db, numeric[1])):
                    check_array(f"{context.name} ({label}): {part} against the numerical gradient of your own loss",
                                got, want, rtol=1e-5, atol=1e-8,
                                hint=f"your {part} agrees with the reference, so the loss your function returns "
                                     f"is wrong (its centered differences, h = {STEP}, give another gradient): it is "
                                     f"{LOSS_HINT}")
        return "dW and db agree with the reference and with numerical gradients of your loss"

    return {"calls": calls}, judge


# ---- hidden cases: training and the submission ---------------------------------------------------------


def _float_array(answers: Answers, value, label: str) -> np.ndarray:
    """A returned part as a float64 array, or a failure saying what it is."""
    value = answers.value(value, label)
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{answers.name}: {label} must be a NumPy array of numbers; got {type(value).__name__}.") from err


@case("w01_train_softmax_regression")
def train_softmax_regression(rng: np.random.Generator):
    """Trained on 20,000 MNIST training images (sent as uint8 pixels, divided by 255 in the kernel) for 3
    epochs: the right shapes, a falling loss, and >= 89% accuracy on MNIST's test split, measured here."""
    mnist = load_mnist(normalize=None)
    X, y = mnist.X_train[:TRAIN_SIZE], mnist.y_train[:TRAIN_SIZE]
    steps = TRAIN_EPOCHS * math.ceil(TRAIN_SIZE / TRAIN_SETTINGS["batch_size"])

    def judge(answers: Answers, context: Context) -> str:
        result = answers.result(0, f"{TRAIN_SIZE} MNIST images", ("X", "y", "num_classes"))
        W, b, losses = (_float_array(answers, part, name) for part, name in
                        zip(answers.parts(result, "W", "b", "losses"), ("W", "b", "losses")))
        if W.shape != (784, 10) or b.shape != (10,) or losses.shape != (steps,):
            raise CheckFailed(f"{context.name}: expected W (784, 10), b (10,) and {steps} losses (one per mini-batch); "
                              f"got {W.shape}, {b.shape}, {losses.shape}.")
        if not losses[-20:].mean() < 0.5 * losses[:5].mean():
            raise CheckFailed(f"{context.name}: the loss did not fall ({losses[:5].mean():.3f} -> {losses[-20:].mean():.3f}): "
                              "do you step *against* the gradient, W -= lr * dW?")
        score = accuracy(W, b, test_images(), mnist.y_test)
        if not score >= TRAIN_MIN_ACCURACY:
            raise CheckFailed(f"{context.name}: test accuracy {score:.3f} after {TRAIN_EPOCHS} epochs on {TRAIN_SIZE} "
                              f"images; expected at least {TRAIN_MIN_ACCURACY}.")
        return f"test accuracy {score:.3f} after {TRAIN_EPOCHS} epochs on {TRAIN_SIZE} images"

    return {"calls": [Call((Pixels(X), y, 10), dict(TRAIN_SETTINGS))]}, judge


def read_submission(data: bytes | None, name: str, n_rows: int | None = None) -> pd.DataFrame:
    """The recorded bytes of a submission file (None: not written) checked by :func:`check_submission`;
    the messages name the file as the student knows it."""
    with tempfile.TemporaryDirectory(prefix="dlfs-submission-") as folder:
        path = Path(folder) / "submission.csv"
        if data is not None:
            path.write_bytes(data)
        try:
            return check_submission(path, n_rows=n_rows)
        except SubmissionError as err:
            raise CheckFailed(str(err).replace(str(path), name)) from err


@case("w01_write_submission")
def write_submission(rng: np.random.Generator):
    """Files for 1, 10 and 10,000 labels have exactly the competition's format and the given labels."""
    labels = [rng.integers(0, 10, n) for n in (1, 10, 10_000)]
    calls = [Call((y, OutputFile(f"submission_{len(y)}.csv"))) for y in labels]

    def judge(answers: Answers, context: Context) -> str:
        for i, y in enumerate(labels):
            label = f"{len(y)} label{'s' if len(y) > 1 else ''}"
            answers.result(i, label, ("labels", "path"))
            frame = read_submission(answers.file(i, f"submission_{len(y)}.csv"), f"{context.name} ({label})", len(y))
            if not np.array_equal(frame["Label"].to_numpy(), y):
                raise CheckFailed(f"{context.name} ({label}): the labels in the file differ from those given.")
        return "exact format for 1, 10 and 10,000 labels"

    return {"calls": calls}, judge


@case("w01_kaggle_submission")
def kaggle_submission(rng: np.random.Generator):
    """The notebook's submission.csv and the model W, b that wrote it (``check(..., "submission.csv", W, b)``):
    the exact format; labels that are the model's predictions on the test images (recomputed here, at most
    10 of 10,000 may differ, for ties), so a file of labels from elsewhere fails; >= 90% held-out accuracy."""

    def judge(answers: Answers, context: Context) -> str:
        name = context.name
        data = answers.value(answers["file"], f"reading {name}")
        frame = read_submission(None if data is None else np.asarray(data, dtype=np.uint8).tobytes(), name)
        W, b = answers["W"], answers["b"]
        if W is None or b is None:
            raise CheckFailed(f'the hidden test needs the model that wrote {name}: it calls check("w01_kaggle_submission", '
                              f'"{name}", W, b) with the W, b trained on all 42,000 rows; keep those names.')
        W, b = _float_array(answers, W, "W"), _float_array(answers, b, "b")
        if W.shape != (784, 10) or b.shape != (10,):
            raise CheckFailed(f"the model that wrote {name} must be W (784, 10) and b (10,); got {W.shape} and {b.shape}.")
        labels = frame["Label"].to_numpy()
        differ = int(np.sum(labels != (test_images() @ W + b).argmax(axis=1)))
        if differ > MAX_DISAGREEMENTS:
            raise CheckFailed(f"{name} is not the predictions of your model W, b: {differ:,} of {len(labels):,} labels "
                              "differ. Write it with write_submission((X_kaggle_test @ W + b).argmax(axis=1), "
                              f'"{name}") right after training W, b on all 42,000 rows.')
        score = float(np.mean(labels == held_out_labels()))
        if score < SUBMISSION_MIN_ACCURACY:
            raise CheckFailed(f"{name}: accuracy {score:.4f} on the held-out labels; at least {SUBMISSION_MIN_ACCURACY} "
                              "is expected.")
        return f"format right, the predictions of W, b, held-out accuracy {score:.4f}"

    return {}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(16)
    train_values = np.column_stack([rng.integers(0, 10, 5), rng.integers(0, 256, (5, 784))])
    test_values = rng.integers(0, 256, (3, 784))
    pixels = [f"pixel{i}" for i in range(784)]
    train, test = pd.DataFrame(train_values, columns=["label", *pixels]), pd.DataFrame(test_values, columns=pixels)
    X_train, y_train, X_test = frame_to_arrays(train, test)
    frames = {"train_values": train_values, "test_values": test_values, "expected_X_train": X_train,
              "expected_y_train": y_train, "expected_X_test": X_test}
    for part, outputs in frame_mistakes(train, test).items():
        frames |= stored(outputs, FRAME_MISTAKES, suffix=f"_{part}")

    rng = np.random.default_rng(17)
    W, b, X, y, reg = rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=(5, 6)), rng.integers(0, 4, 5), 0.1
    loss, dW, db = softmax_loss_grad(W, b, X, y, reg)
    loss_arrays = {"W": W, "b": b, "X": X, "y": y, "reg": np.array(reg), "expected_loss": np.array(loss),
                   "expected_dW": dW, "expected_db": db} | stored(softmax_loss_mistakes(W, b, X, y, reg), LOSS_MISTAKES)

    rng = np.random.default_rng(18)  # 200 points of three well separated classes in 5-D
    labels = rng.integers(0, 3, 200)
    train_data = {"X": np.eye(3, 5)[labels] * 3.0 + 0.5 * rng.normal(size=(200, 5)), "y": labels}
    return {"w01_frame_to_arrays": frames, "w01_softmax_loss": loss_arrays, "w01_train_data": train_data}
