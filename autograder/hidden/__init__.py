"""Hidden-test checking code: what the hidden test cells of the source notebooks call.

A hidden test cell is one call, ``check("w01_l2_distances_shapes", l2_distances_two_loops)``: the case
id names the test, the function is the student's. Each case is ordinary Python registered here with
:func:`case`; it raises ``AssertionError`` (``dlfs.checks.CheckFailed``) with a diagnosis when the
function is wrong, and returns a short pass message otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

CASES: dict[str, Callable[[Callable], str]] = {}


def case(case_id: str) -> Callable[[Callable[[Callable], str]], Callable[[Callable], str]]:
    """Register a hidden test under ``case_id`` (``w<week>_<task>_<what>``)."""

    def register(test: Callable[[Callable], str]) -> Callable[[Callable], str]:
        if case_id in CASES:
            raise ValueError(f"hidden test {case_id!r} is registered twice")
        CASES[case_id] = test
        return test

    return register


def check(case_id: str, fn: Callable) -> None:
    """Run the hidden test ``case_id`` on the student's function ``fn``; raise on a wrong answer."""
    if case_id not in CASES:
        raise KeyError(f"unknown hidden test {case_id!r}; known: {', '.join(sorted(CASES))}")
    print(f"\u2713 {case_id}: {CASES[case_id](fn)}")


# Each module registers its cases.
from autograder.hidden import (  # noqa: E402,F401
    w01_broadcasting,
    w01_distances,
    w01_kaggle,
    w01_knn,
    w01_penguins,
)
