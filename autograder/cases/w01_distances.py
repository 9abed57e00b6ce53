"""Week 1, pairwise Euclidean distances: reference, known mistakes, hidden cases, fixtures."""

from __future__ import annotations

import ast
import time

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import SLOW, Answers, Context, case, expect, mistakes_on
from dlfs.checks import CheckFailed
from dlfs.checks.source import loops_in, no_loops_failure
from dlfs.grading import Call

MISTAKES = {
    "squared": "your distances match the *squared* Euclidean distances: did you forget the square root?",
    "transposed": (
        "your result is the transpose of the expected one: entry [i, j] must be the distance between "
        "X[i] (row i of the first argument) and Y[j] (row j of the second), so the shape is (N, M)."
    ),
    "l1": (
        "your distances match the L1 (Manhattan) distances, the sum of absolute differences: the "
        "Euclidean (L2) distance is the square root of the sum of *squared* differences."
    ),
}

#: (N, M, D) of the shape case: one row on either side, one feature, square and MNIST-sized rows.
SHAPES = [(1, 7, 3), (6, 1, 4), (7, 11, 1), (3, 3, 16), (20, 30, 784)]
SPEED_SHAPE, SPEED_CALLS, MIN_SPEEDUP = (200, 500, 784), 5, 20.0


# ---- reference -----------------------------------------------------------------------------------


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


def l1_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A known mistake: Manhattan distances, sum_d |X[i, d] - Y[j, d]|."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    return np.abs(X[:, None, :] - Y[None, :, :]).sum(axis=2)


def mistake_outputs(X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """What each known mistake outputs on X, Y."""
    return {"squared": l2_distances(X, Y) ** 2, "transposed": l2_distances(X, Y).T, "l1": l1_distances(X, Y)}


# ---- hidden cases ----------------------------------------------------------------------------------


def _expect_distances(answers: Answers, index: int, X: np.ndarray, Y: np.ndarray, label: str) -> float:
    """Tolerances follow the input's precision and scale."""
    scale = float(max(np.linalg.norm(X, axis=1).max(), np.linalg.norm(Y, axis=1).max(), 1.0))
    single = X.dtype == np.float32 or Y.dtype == np.float32
    rtol, atol = (1e-4, 1e-3 * scale) if single else (1e-7, 1e-7 * scale)
    return expect(answers, index, l2_distances(X, Y), label=label, rtol=rtol, atol=atol, arguments=("X", "Y"),
                  mistakes=lambda: mistakes_on(mistake_outputs(X, Y), MISTAKES))


def _pairs_case(pairs: list[tuple[np.ndarray, np.ndarray, str]], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        worst = max(_expect_distances(answers, i, X, Y, label) for i, (X, Y, label) in enumerate(pairs))
        return summary.format(worst=worst)

    return {"calls": [Call((X, Y)) for X, Y, _ in pairs]}, judge


@case("w01_l2_distances_shapes")
def distances_shapes(rng: np.random.Generator):
    """Agreement with the reference on several (N, M, D), including a single row on either side."""
    pairs = []
    for N, M, D in SHAPES:
        X, Y = rng.normal(size=(N, D)), rng.normal(size=(M, D))
        pairs.append((X, Y, f"X {X.shape}, Y {Y.shape}"))
    return _pairs_case(pairs, f"{len(SHAPES)} shapes agree with the reference (max relative error {{worst:.1e}})")


@case("w01_l2_distances_edge_cases")
def distances_edge_cases(rng: np.random.Generator):
    """Identical far-from-origin points (no NaN from negative round-off), float32 input, one pair."""
    X = rng.normal(size=(20, 50)) + 100.0
    X32, Y32 = rng.normal(size=(8, 30)).astype(np.float32), rng.normal(size=(5, 30)).astype(np.float32)
    pairs = [(X, X.copy(), "identical points far from the origin"), (X32, Y32, "float32 input"),
             (rng.normal(size=(1, 5)), rng.normal(size=(1, 5)), "a single pair of points")]
    return _pairs_case(pairs, "identical points give 0 (no NaN), float32 input and a single pair work")


@case("w01_l2_no_loops_syntax")
def no_loops_syntax(rng: np.random.Generator):
    """Correct on a small example, and its definition in the notebook holds no loop or looping call.

    The source is read from the submitted notebook's cells, not from the kernel.
    """
    pairs = [(rng.normal(size=(4, 6)), rng.normal(size=(9, 6)), "X (4, 6), Y (9, 6)")]
    inputs, correct = _pairs_case(pairs, "")

    def judge(answers: Answers, context: Context) -> str:
        correct(answers, context)
        loops = loops_in(ast.parse(context.definition()))
        if loops:
            raise no_loops_failure(context.name, loops)
        return "correct, and no Python loop in its definition"

    return inputs, judge


def cpu_seconds(fn, *args, repeats: int = 2) -> float:
    """The smallest CPU time of this process over ``repeats`` runs of ``fn(*args)``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - start)
    return best


@case("w01_l2_no_loops_speed", fresh=True)
def no_loops_speed(rng: np.random.Generator):
    """Correct on 200 x 500 rows of 784 features and at least 20x faster than two Python loops.

    The inputs are new at every grading (no answer can be prepared in advance); the cell is timed by
    the process that drives the kernel (its sandbox's CPU time), the two-loop baseline by this one's CPU time.
    """
    N, M, D = SPEED_SHAPE
    pairs = [(rng.random((N, D)), rng.random((M, D)), f"X {(N, D)}, Y {(M, D)}") for _ in range(SPEED_CALLS)]
    inputs, correct = _pairs_case(pairs, "")

    def judge(answers: Answers, context: Context) -> str:
        correct(answers, context)
        per_call = context.seconds / SPEED_CALLS
        loops = cpu_seconds(l2_distances_two_loops, pairs[0][0], pairs[0][1])
        speedup = loops / per_call
        if speedup < MIN_SPEEDUP:
            raise CheckFailed(
                f"{context.name} took {per_call * 1e3:.1f} ms per call on {N} x {M} rows of {D} features, only "
                f"{speedup:.1f}x faster than two Python loops ({loops * 1e3:.0f} ms); at least {MIN_SPEEDUP:.0f}x is "
                "expected. Hint: expand |x - y|^2 = |x|^2 + |y|^2 - 2 x.y and use one matrix product; an (N, M, D) "
                "broadcast array is slow and large.", mistake=SLOW,
            )
        return f"{speedup:.0f}x faster than two Python loops ({per_call * 1e3:.1f} ms vs {loops * 1e3:.0f} ms)"

    return inputs, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    return {"w01_l2_distances": {"X": X, "Y": Y, "expected": l2_distances(X, Y)}
            | stored(mistake_outputs(X, Y), MISTAKES)}

