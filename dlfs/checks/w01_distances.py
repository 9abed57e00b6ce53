"""Week 1, pairwise distances: the visible checks. Their hidden cases need only calls (the default probe)."""

from __future__ import annotations

from collections.abc import Callable

from dlfs.checks import call, check_array, check_unchanged, fixture, passed, stored_mistakes
from dlfs.checks.source import check_no_loops
from dlfs.grading import probe, record

__all__ = ["l2_distances", "l2_distances_no_loops"]


def l2_distances(fn: Callable) -> None:
    """Check a pairwise Euclidean distance function ``fn(X, Y) -> (N, M)`` on the stored example."""
    name = getattr(fn, "__name__", "your function")
    arrays = fixture("w01_l2_distances")
    X, Y = arrays["X"], arrays["Y"]
    got = call(fn, X, Y)
    check_unchanged(name, arrays["X"], fixture("w01_l2_distances")["X"], "X")
    check_unchanged(name, arrays["Y"], fixture("w01_l2_distances")["Y"], "Y")
    error = check_array(name, got, arrays["expected"], rtol=1e-7, atol=1e-9, mistakes=stored_mistakes(arrays),
                        hint="entry [i, j] is sqrt(sum_d (X[i, d] - Y[j, d])**2).")
    N, M = arrays["expected"].shape
    passed(f"{name}: all {N}x{M} distances match (max relative error {error:.1e})")


def l2_distances_no_loops(fn: Callable) -> None:
    """The distance check plus: the function's source contains no Python loop."""
    l2_distances(fn)
    check_no_loops(fn)
    passed(f"{getattr(fn, '__name__', 'your function')}: no Python loop in the source")


@probe("w01_l2_no_loops_speed")
def _speed(fn: Callable, *, inputs: dict) -> dict:
    """The timed calls: nothing but the calls (no copies to detect changed inputs), so the cell's time
    is the function's."""
    return {"results": [record(fn, *c.args) for c in inputs["calls"]], "changed": [[] for _ in inputs["calls"]]}
