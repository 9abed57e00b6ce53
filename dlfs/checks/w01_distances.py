"""Visible checks for week 1 (linear algebra and NumPy).

Each check runs the student's function on stored inputs, compares with stored expected outputs and
recognises the common mistakes of the task by the outputs those mistakes produce.
"""

from __future__ import annotations

from collections.abc import Callable

from dlfs.checks import Mistake, call, check_array, check_unchanged, fixture, passed
from dlfs.checks.source import check_no_loops

DISTANCE_MISTAKES = {
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


def distance_mistakes(arrays: dict) -> list[Mistake]:
    """The known distance mistakes, with the outputs stored as ``mistake_<name>`` in ``arrays``."""
    return [Mistake(name, arrays[f"mistake_{name}"], message) for name, message in DISTANCE_MISTAKES.items()]


def l2_distances(fn: Callable) -> None:
    """Check a pairwise Euclidean distance function ``fn(X, Y) -> (N, M)`` on the stored example."""
    name = getattr(fn, "__name__", "your function")
    arrays = fixture("w01_l2_distances")
    X, Y = arrays["X"], arrays["Y"]
    got = call(fn, X, Y)
    check_unchanged(name, arrays["X"], fixture("w01_l2_distances")["X"], "X")
    check_unchanged(name, arrays["Y"], fixture("w01_l2_distances")["Y"], "Y")
    error = check_array(
        name,
        got,
        arrays["expected"],
        rtol=1e-7,
        atol=1e-9,
        mistakes=distance_mistakes(arrays),
        hint="entry [i, j] is sqrt(sum_d (X[i, d] - Y[j, d])**2).",
    )
    N, M = arrays["expected"].shape
    passed(f"{name}: all {N}x{M} distances match (max relative error {error:.1e})")


def l2_distances_no_loops(fn: Callable) -> None:
    """The distance check plus: the function's source contains no Python loop."""
    l2_distances(fn)
    check_no_loops(fn)
    passed(f"{getattr(fn, '__name__', 'your function')}: no Python loop in the source")
