"""Hidden tests of week 1's broadcasting drills: softmax, standardize, one_hot."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autograder.hidden import case
from autograder.reference import w01_broadcasting as ref
from dlfs.checks import CheckFailed, call, expect
from dlfs.checks.w01_broadcasting import (
    ONE_HOT_MISTAKES,
    SOFTMAX_HINT,
    SOFTMAX_MISTAKES,
    STANDARDIZE_HINT,
    STANDARDIZE_MISTAKES,
)


def _softmax(fn: Callable, scores: np.ndarray, label: str, rtol: float = 1e-7, atol: float = 1e-12) -> None:
    expect(fn, (scores,), ref.softmax(scores), messages=SOFTMAX_MISTAKES, mistake_outputs=ref.softmax_mistakes(scores),
           label=label, rtol=rtol, atol=atol, hint=SOFTMAX_HINT)


@case("w01_softmax_values")
def softmax_values(fn: Callable) -> str:
    """Agreement with the reference on (N, C) from one row or one class to a batch of 64."""
    rng = np.random.default_rng(501)
    shapes = [(1, 3), (5, 1), (4, 10), (64, 10), (3, 2)]
    for shape in shapes:
        _softmax(fn, 3.0 * rng.normal(size=shape), f"scores of shape {shape}")
    return f"{len(shapes)} shapes agree with the reference"


@case("w01_softmax_stable")
def softmax_stable(fn: Callable) -> str:
    """Rows around +1000 and -1000 in one batch (a global max shift underflows), and float32 scores."""
    rng = np.random.default_rng(502)
    scores = rng.normal(size=(4, 6))
    scores[0] += 1000.0
    scores[1] -= 1000.0
    scores[2] *= 300.0
    _softmax(fn, scores, "rows around +1000 and -1000")
    scores32 = (5.0 * rng.normal(size=(8, 5))).astype(np.float32)
    _softmax(fn, scores32, "float32 scores", rtol=1e-5, atol=1e-7)
    return "no overflow or underflow for scores around +-1000; float32 works"


@case("w01_standardize_values")
def standardize_values(fn: Callable) -> str:
    """Agreement with the reference on several shapes and scales, with the default and a given eps."""
    rng = np.random.default_rng(503)
    for shape in [(10, 1), (5, 4), (100, 3), (1000, 7)]:
        X = rng.normal(size=shape) * rng.uniform(0.1, 100.0, size=shape[1]) + rng.uniform(-50, 50, size=shape[1])
        expect(fn, (X,), ref.standardize(X), messages=STANDARDIZE_MISTAKES,
               mistake_outputs=ref.standardize_mistakes(X), label=f"X of shape {shape}", rtol=1e-7, atol=1e-9)
    X = rng.normal(size=(6, 3))
    expect(fn, (X, 0.5), ref.standardize(X, 0.5), label="eps=0.5", rtol=1e-7, atol=1e-9,
           hint="divide by (std + eps), with the eps given as the second argument.")
    return "4 shapes and a given eps agree with the reference"


@case("w01_standardize_edge_cases")
def standardize_edge_cases(fn: Callable) -> str:
    """A constant column gives 0 (not NaN), a single row gives zeros, float32 input works."""
    rng = np.random.default_rng(504)
    X = rng.normal(size=(8, 3))
    X[:, 1] = -4.0
    expect(fn, (X,), ref.standardize(X), label="a constant column", rtol=1e-7, atol=1e-9, hint=STANDARDIZE_HINT)
    one = rng.normal(size=(1, 4))
    expect(fn, (one,), ref.standardize(one), label="a single row", rtol=1e-7, atol=1e-9, hint=STANDARDIZE_HINT)
    X32 = rng.normal(size=(50, 3)).astype(np.float32) * 10
    expect(fn, (X32,), ref.standardize(X32), label="float32 input", rtol=1e-4, atol=1e-5)
    return "constant column, single row and float32 input"


@case("w01_one_hot_values")
def one_hot_values(fn: Callable) -> str:
    """Agreement with the reference for one label, many labels, one class, and no labels at all."""
    rng = np.random.default_rng(505)
    cases = [(np.array([2]), 3), (rng.integers(0, 10, 100), 10), (np.zeros(4, dtype=int), 1),
             (rng.integers(0, 3, 7), 5), (np.array([], dtype=int), 4)]
    for labels, num_classes in cases:
        expect(fn, (labels, num_classes), ref.one_hot(labels, num_classes), messages=ONE_HOT_MISTAKES,
               mistake_outputs=ref.one_hot_mistakes(labels, num_classes),
               label=f"{len(labels)} labels, {num_classes} classes")
    return f"{len(cases)} cases agree with the reference, including no labels"


@case("w01_one_hot_errors")
def one_hot_errors(fn: Callable) -> str:
    """A label equal to num_classes, or negative, raises ValueError."""
    for labels, num_classes in ((np.array([0, 3]), 3), (np.array([1, -1]), 3)):
        try:
            fn(labels, num_classes)
        except ValueError:
            continue
        except NotImplementedError as err:
            raise CheckFailed(f"{fn.__name__} is not implemented yet.") from err
        except Exception as err:
            raise CheckFailed(f"{fn.__name__}({labels.tolist()}, {num_classes}) must raise ValueError, "
                              f"not {type(err).__name__}.") from err
        raise CheckFailed(f"{fn.__name__}({labels.tolist()}, {num_classes}) must raise ValueError: the label "
                          f"{labels[1]} is outside [0, {num_classes}).")
    call(fn, np.array([0, 2]), 3)
    return "labels outside [0, num_classes) raise ValueError"
