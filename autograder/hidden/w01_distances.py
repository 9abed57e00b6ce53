"""Hidden tests of week 1: pairwise Euclidean distances (two loops, one loop, no loops)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from autograder.hidden import case
from autograder.reference import w01_distances as ref
from dlfs.checks import CheckFailed, Mistake, call, check_array, check_unchanged
from dlfs.checks.source import check_no_loops
from dlfs.checks.w01_distances import DISTANCE_MISTAKES

#: (N, M, D) of the shape test: one row on either side, one feature, square and MNIST-sized rows.
SHAPES = [(1, 7, 3), (6, 1, 4), (7, 11, 1), (3, 3, 16), (20, 30, 784)]
SPEED_SHAPE = (200, 500, 784)
MIN_SPEEDUP = 20.0


def _expect_distances(fn: Callable, X: np.ndarray, Y: np.ndarray, label: str) -> float:
    """Compare fn(X, Y) with the reference; tolerances follow the input's precision and scale."""
    name = f"{getattr(fn, '__name__', 'your function')} on {label}"
    X_before, Y_before = X.copy(), Y.copy()
    got = call(fn, X, Y)
    check_unchanged(name, X_before, X, "X")
    check_unchanged(name, Y_before, Y, "Y")
    scale = float(max(np.linalg.norm(X, axis=1).max(), np.linalg.norm(Y, axis=1).max(), 1.0))
    single = X.dtype == np.float32 or Y.dtype == np.float32
    rtol, atol = (1e-4, 1e-3 * scale) if single else (1e-7, 1e-7 * scale)
    mistakes = [
        Mistake(key, output, DISTANCE_MISTAKES[key])
        for key, output in ref.distance_mistake_outputs(X, Y).items()
    ]
    return check_array(name, got, ref.l2_distances(X, Y), rtol=rtol, atol=atol, mistakes=mistakes)


@case("w01_l2_distances_shapes")
def distances_shapes(fn: Callable) -> str:
    """Agreement with the reference on several (N, M, D), including a single row on either side."""
    rng = np.random.default_rng(101)
    worst = 0.0
    for N, M, D in SHAPES:
        X, Y = rng.normal(size=(N, D)), rng.normal(size=(M, D))
        worst = max(worst, _expect_distances(fn, X, Y, f"X {X.shape}, Y {Y.shape}"))
    return f"{len(SHAPES)} shapes agree with the reference (max relative error {worst:.1e})"


@case("w01_l2_distances_edge_cases")
def distances_edge_cases(fn: Callable) -> str:
    """Identical far-from-origin points (no NaN from negative round-off), float32 input, one pair."""
    rng = np.random.default_rng(202)
    X = rng.normal(size=(20, 50)) + 100.0
    _expect_distances(fn, X, X.copy(), "identical points far from the origin")
    X32, Y32 = rng.normal(size=(8, 30)).astype(np.float32), rng.normal(size=(5, 30)).astype(np.float32)
    _expect_distances(fn, X32, Y32, "float32 input")
    one, other = rng.normal(size=(1, 5)), rng.normal(size=(1, 5))
    _expect_distances(fn, one, other, "a single pair of points")
    return "identical points give 0 (no NaN), float32 input and a single pair work"


@case("w01_l2_no_loops_syntax")
def no_loops_syntax(fn: Callable) -> str:
    """Correct on a small example, and its syntax tree holds no loop, comprehension or looping call.

    The point is for a vectorised *answer*: a stub or a wrong function earns nothing here.
    """
    rng = np.random.default_rng(404)
    _expect_distances(fn, rng.normal(size=(4, 6)), rng.normal(size=(9, 6)), "X (4, 6), Y (9, 6)")
    check_no_loops(fn)
    return "correct, and no Python loop in the source"


def _best_time(fn: Callable, X: np.ndarray, Y: np.ndarray, repeats: int, budget: float) -> float:
    """The fastest of up to ``repeats`` runs, stopping early once ``budget`` seconds are spent."""
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn(X, Y)
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget:
            break
    return best


@case("w01_l2_no_loops_speed")
def no_loops_speed(fn: Callable) -> str:
    """Correct on 200 x 500 rows of 784 features and at least 20x faster than two Python loops."""
    N, M, D = SPEED_SHAPE
    rng = np.random.default_rng(303)
    X, Y = rng.random((N, D)), rng.random((M, D))
    _expect_distances(fn, X, Y, f"X {X.shape}, Y {Y.shape}")
    fast = _best_time(lambda a, b: call(fn, a, b), X, Y, repeats=7, budget=3.0)
    loops = _best_time(ref.l2_distances_two_loops, X, Y, repeats=2, budget=1.5)
    speedup = loops / fast
    if speedup < MIN_SPEEDUP:
        raise CheckFailed(
            f"{getattr(fn, '__name__', 'your function')} took {fast * 1e3:.1f} ms on {N} x {M} rows of {D} "
            f"features, only {speedup:.1f}x faster than two Python loops ({loops * 1e3:.0f} ms); at least "
            f"{MIN_SPEEDUP:.0f}x is expected. Hint: expand |x - y|^2 = |x|^2 + |y|^2 - 2 x.y and use one "
            "matrix product; an (N, M, D) broadcast array is slow and large."
        )
    return f"{speedup:.0f}x faster than two Python loops ({fast * 1e3:.1f} ms vs {loops * 1e3:.0f} ms)"
