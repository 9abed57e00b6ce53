"""Week 1, the broadcasting drills (softmax, standardize, one_hot): references, known mistakes, hidden
cases, fixtures."""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, expect, mistakes_on
from dlfs.checks import CheckFailed
from dlfs.checks.w01_broadcasting import SOFTMAX_HINT, STANDARDIZE_HINT
from dlfs.grading import Call, Raised

SOFTMAX_MISTAKES = {
    "columns": (
        "your columns sum to 1, not your rows: each row holds one example's scores, so normalise "
        "over axis=1 (with keepdims=True so the sums broadcast back)."
    ),
}
STANDARDIZE_MISTAKES = {
    "sample_std": (
        "your result matches standardisation with the *sample* standard deviation (ddof=1); use the "
        "population standard deviation, np.std's default (ddof=0)."
    ),
    "rows": "you standardised each row; standardise each column (a feature) over the rows, axis=0.",
}
ONE_HOT_MISTAKES = {
    "transposed": "your result is transposed: one row per label, one column per class, shape (N, num_classes).",
    "shifted": "your ones are one column to the left: label c goes in column c (labels start at 0).",
}
#: What one_hot says when the labels are not integers (the notebook's solution says the same).
NOT_INTEGERS = "labels must be integers: cast with `.astype(int)`"


# ---- references ------------------------------------------------------------------------------------


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
    """(N,) integer labels in [0, num_classes) -> (N, num_classes) float64 rows with a single 1.

    Raises ValueError for labels that are not integers (floats, booleans), even when their values
    would do: casting them silently hides a bug upstream. No labels at all (an empty int array) is fine.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(NOT_INTEGERS)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    return (labels[:, None] == np.arange(num_classes)[None, :]).astype(np.float64)


def softmax_mistakes(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the known softmax mistakes on ``scores``."""
    return {"columns": softmax(np.asarray(scores, dtype=np.float64).T).T}


def standardize_mistakes(X: np.ndarray, eps: float = 1e-8) -> dict[str, np.ndarray]:
    """Outputs of the known standardize mistakes on ``X``."""
    X = np.asarray(X, dtype=np.float64)
    return {"sample_std": (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + eps), "rows": standardize(X.T, eps).T}


def one_hot_mistakes(labels: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """Outputs of the known one_hot mistakes on ``labels``."""
    right = one_hot(labels, num_classes)
    return {"transposed": right.T, "shifted": np.roll(right, -1, axis=1)}


# ---- hidden cases ----------------------------------------------------------------------------------


def _softmax_case(batches: list[tuple[np.ndarray, str]], summary: str):
    """Each batch of scores against the reference; float32 scores get float32 tolerances."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (scores, label) in enumerate(batches):
            rtol, atol = (1e-5, 1e-7) if scores.dtype == np.float32 else (1e-7, 1e-12)
            expect(answers, i, softmax(scores), label=label, rtol=rtol, atol=atol, hint=SOFTMAX_HINT,
                   mistakes=mistakes_on(softmax_mistakes(scores), SOFTMAX_MISTAKES), arguments=("scores",))
        return summary

    return {"calls": [Call((scores,)) for scores, _ in batches]}, judge


@case("w01_softmax_values")
def softmax_values(rng: np.random.Generator):
    """Agreement with the reference on (N, C) from one row or one class to a batch of 64."""
    shapes = [(1, 3), (5, 1), (4, 10), (64, 10), (3, 2)]
    batches = [(3.0 * rng.normal(size=shape), f"scores of shape {shape}") for shape in shapes]
    return _softmax_case(batches, f"{len(shapes)} shapes agree with the reference")


@case("w01_softmax_stable")
def softmax_stable(rng: np.random.Generator):
    """Rows around +1000 and -1000 in one batch (a global max shift underflows), and float32 scores."""
    scores = rng.normal(size=(4, 6))
    scores[0] += 1000.0
    scores[1] -= 1000.0
    scores[2] *= 300.0
    scores32 = (5.0 * rng.normal(size=(8, 5))).astype(np.float32)
    batches = [(scores, "rows around +1000 and -1000"), (scores32, "float32 scores")]
    return _softmax_case(batches, "no overflow or underflow for scores around +-1000; float32 works")


def _standardize_case(calls: list[tuple[tuple, str, str]], summary: str, named: bool = False):
    """Each call ``(X,)`` or ``(X, eps)`` against the reference, with its hint; float32 gets looser
    tolerances. ``named``: name the known mistakes when an output matches one."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (args, label, hint) in enumerate(calls):
            X, eps = args[0], (args[1] if len(args) > 1 else 1e-8)
            rtol, atol = (1e-4, 1e-5) if X.dtype == np.float32 else (1e-7, 1e-9)
            mistakes = mistakes_on(standardize_mistakes(X, eps), STANDARDIZE_MISTAKES) if named and len(args) == 1 else []
            expect(answers, i, standardize(X, eps), label=label, rtol=rtol, atol=atol, hint=hint, mistakes=mistakes,
                   arguments=("X", "eps"))
        return summary

    return {"calls": [Call(args) for args, _, _ in calls]}, judge


@case("w01_standardize_values")
def standardize_values(rng: np.random.Generator):
    """Agreement with the reference on several shapes and scales, with the default and a given eps."""
    calls = []
    for shape in [(10, 1), (5, 4), (100, 3), (1000, 7)]:
        X = rng.normal(size=shape) * rng.uniform(0.1, 100.0, size=shape[1]) + rng.uniform(-50, 50, size=shape[1])
        calls.append(((X,), f"X of shape {shape}", ""))
    calls.append(((rng.normal(size=(6, 3)), 0.5), "eps=0.5", "divide by (std + eps), with the eps given as the second argument."))
    return _standardize_case(calls, "4 shapes and a given eps agree with the reference", named=True)


@case("w01_standardize_edge_cases")
def standardize_edge_cases(rng: np.random.Generator):
    """A constant column gives 0 (not NaN), a single row gives zeros, float32 input works."""
    X = rng.normal(size=(8, 3))
    X[:, 1] = -4.0
    one = rng.normal(size=(1, 4))
    X32 = rng.normal(size=(50, 3)).astype(np.float32) * 10
    calls = [((X,), "a constant column", STANDARDIZE_HINT), ((one,), "a single row", STANDARDIZE_HINT),
             ((X32,), "float32 input", "")]
    return _standardize_case(calls, "constant column, single row and float32 input")


@case("w01_one_hot_values")
def one_hot_values(rng: np.random.Generator):
    """Agreement with the reference for one label, many labels, one class, and no labels at all."""
    cases = [(np.array([2]), 3), (rng.integers(0, 10, 100), 10), (np.zeros(4, dtype=int), 1),
             (rng.integers(0, 3, 7), 5), (np.array([], dtype=int), 4)]

    def judge(answers: Answers, context: Context) -> str:
        for i, (labels, num_classes) in enumerate(cases):
            expect(answers, i, one_hot(labels, num_classes), label=f"{len(labels)} labels, {num_classes} classes",
                   mistakes=mistakes_on(one_hot_mistakes(labels, num_classes), ONE_HOT_MISTAKES),
                   arguments=("labels", "num_classes"))
        return f"{len(cases)} cases agree with the reference, including no labels"

    return {"calls": [Call((labels, num_classes)) for labels, num_classes in cases]}, judge


@case("w01_one_hot_errors")
def one_hot_errors(rng: np.random.Generator):
    """A label equal to num_classes, a negative label, float labels (even whole-valued) and boolean
    labels each raise ValueError; valid integer labels do not."""
    refuse = f'refuse them with ValueError("{NOT_INTEGERS}") instead of casting them or indexing with them'
    bad = [
        (np.array([0, 3]), 3, "the label 3 is outside [0, 3)"),
        (np.array([1, -1]), 3, "the label -1 is outside [0, 3)"),
        (rng.integers(0, 3, size=4).astype(np.float64), 3, f"the labels are floats, not integers; {refuse}"),
        (np.array([True, False, True]), 3, f"the labels are booleans, not integers; {refuse}"),
    ]
    valid = np.array([0, 2])

    def judge(answers: Answers, context: Context) -> str:
        for i, (labels, num_classes, why) in enumerate(bad):
            got = answers["results"][i]
            if isinstance(got, Raised) and got.type == "NotImplementedError":
                answers.value(got)  # fails: "not implemented yet"
            if not (isinstance(got, Raised) and got.type == "ValueError"):
                other = f", not {got.type} ({got.message})" if isinstance(got, Raised) else ""
                raise CheckFailed(f"{context.name}({labels.tolist()}, {num_classes}) must raise ValueError{other}: {why}.")
        answers.result(len(bad), label=f"the valid labels {valid.tolist()} with 3 classes", arguments=("labels", "num_classes"))
        return "labels outside [0, num_classes), float labels and boolean labels raise ValueError"

    return {"calls": [Call((labels, num_classes)) for labels, num_classes, _ in bad] + [Call((valid, 3))]}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    scores = np.random.default_rng(12).normal(size=(4, 5))  # one row around 1000, one with a tie
    scores[1] += 1000.0
    scores[2, :2] = 3.0
    X = np.random.default_rng(13).normal(size=(6, 3)) * [1.0, 50.0, 1.0] + [0.0, 100.0, 0.0]
    X[:, 2] = 7.0  # a constant column
    labels = np.array([2, 0, 3, 3, 1])
    return {
        "w01_softmax": {"scores": scores, "expected": softmax(scores)} | stored(softmax_mistakes(scores), SOFTMAX_MISTAKES),
        "w01_standardize": {"X": X, "expected": standardize(X)} | stored(standardize_mistakes(X), STANDARDIZE_MISTAKES),
        "w01_one_hot": {"labels": labels, "num_classes": np.array(5), "expected": one_hot(labels, 5)}
        | stored(one_hot_mistakes(labels, 5), ONE_HOT_MISTAKES),
    }
