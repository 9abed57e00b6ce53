"""The visible-check framework: every failure says what is wrong, specifically."""

from __future__ import annotations

import numpy as np
import pytest

from dlfs.checks import CheckFailed, Mistake, call, check_array, check_unchanged, fixture, passed
from dlfs.checks.source import check_no_loops, find_loops

pytestmark = pytest.mark.library

EXPECTED = np.arange(6, dtype=np.float64).reshape(2, 3) + 1.0


def test_pass_returns_the_max_relative_error():
    got = EXPECTED.copy()
    got[1, 2] *= 1 + 1e-9
    assert 0 < check_array("f", got, EXPECTED) < 1e-9


def test_passed_prints_one_line(capsys):
    passed("f: fine")
    assert capsys.readouterr().out == "\u2713 f: fine\n"


@pytest.mark.parametrize(
    ("got", "message"),
    [
        (None, r"f returned None: did you forget the `return` statement\?"),
        ("text", "f returned a str; expected a NumPy array"),
        (np.array(["a"]), "dtype <U1; expected numbers"),
        (np.ones((3, 2)), r"expected shape \(2, 3\), got \(3, 2\)"),
        (np.ones((2, 3), dtype=np.int64), "expected a floating-point array, got dtype int64"),
        (np.where(EXPECTED > 4, np.nan, EXPECTED), r"contains NaN \(first at \[1, 1\], 2 in all\)"),
        (np.where(EXPECTED > 5, np.inf, EXPECTED), r"contains inf \(first at \[1, 2\]"),
    ],
)
def test_failures_are_specific(got, message):
    with pytest.raises(CheckFailed, match=message):
        check_array("f", got, EXPECTED)


def test_wrong_values_report_count_error_and_location():
    got = EXPECTED.copy()
    got[0, 1] = 10.0
    with pytest.raises(CheckFailed) as failure:
        check_array("f", got, EXPECTED, hint="look at row 0")
    text = str(failure.value)
    assert "1 of 6 values are wrong" in text
    assert "at [0, 1]" in text and "expected 2.0" in text and "got 10.0" in text
    assert text.endswith("Hint: look at row 0")


def test_a_known_mistake_is_named_instead_of_numbers():
    mistakes = [Mistake("squared", EXPECTED**2, "did you forget the square root?")]
    with pytest.raises(CheckFailed, match=r"^f: did you forget the square root\?$"):
        check_array("f", EXPECTED**2, EXPECTED, mistakes=mistakes)


def test_a_known_mistake_with_another_shape_is_named():
    mistakes = [Mistake("transposed", EXPECTED.T, "your result is transposed")]
    with pytest.raises(CheckFailed, match="transposed"):
        check_array("f", EXPECTED.T, EXPECTED, mistakes=mistakes)


def test_a_mistake_does_not_hide_a_right_answer():
    mistakes = [Mistake("same", EXPECTED, "should never be said")]
    check_array("f", EXPECTED, EXPECTED, mistakes=mistakes)


def test_tolerances_are_honoured():
    got = EXPECTED + 1e-4
    with pytest.raises(CheckFailed):
        check_array("f", got, EXPECTED, rtol=1e-7)
    check_array("f", got, EXPECTED, rtol=0, atol=2e-4)


def test_call_turns_stub_and_crash_into_clear_failures():
    def stub():
        raise NotImplementedError()

    def crash():
        return 1 / 0

    with pytest.raises(CheckFailed, match="stub is not implemented yet"):
        call(stub)
    with pytest.raises(CheckFailed, match="crash raised ZeroDivisionError"):
        call(crash)
    assert call(lambda x: x + 1, 1) == 2


def test_check_unchanged():
    check_unchanged("f", EXPECTED, EXPECTED.copy(), "X")
    with pytest.raises(CheckFailed, match="changed its input `X` in place"):
        check_unchanged("f", EXPECTED, EXPECTED + 1, "X")


def test_fixture_returns_fresh_copies():
    first = fixture("w01_l2_distances")
    first["X"][:] = 0
    assert fixture("w01_l2_distances")["X"].any()


def test_missing_fixture_says_what_to_do():
    with pytest.raises(FileNotFoundError, match="make lab"):
        fixture("no_such_fixture")


# ---- loops in the source --------------------------------------------------------------------------------


def vectorised(a):
    return (a[:, None] * a[None, :]).sum()


def every_kind(a):
    total = 0
    for x in a:
        total += x
    while total > 10:
        total -= 1
    squares = [x * x for x in a]
    pairs = {x: x for x in a}
    unique = {x for x in a}
    lazy = sum(x for x in a)
    mapped = list(map(abs, a))
    return total, squares, pairs, unique, lazy, mapped, np.vectorize(abs)(a), np.apply_along_axis(sum, 0, a)


def test_find_loops_finds_none_in_vectorised_code():
    assert find_loops(vectorised) == []
    check_no_loops(vectorised)


def test_find_loops_finds_every_kind():
    found = " ".join(find_loops(every_kind))
    for kind in ("`for` loop", "`while` loop", "list comprehension", "dict comprehension",
                 "set comprehension", "generator expression", "`map`", "`vectorize`", "`apply_along_axis`"):
        assert kind in found, kind


def test_check_no_loops_names_the_function_and_lines():
    with pytest.raises(CheckFailed, match=r"every_kind must not contain a Python loop, but it has a `for` loop \(line 3\)"):
        check_no_loops(every_kind)


def test_source_that_cannot_be_read_is_a_clear_failure():
    with pytest.raises(CheckFailed, match="Could not read the source code of len"):
        find_loops(len)


def test_check_array_names_a_pair_returned_where_one_array_was_expected():
    pair = (np.zeros((2, 3)), (np.ones(3), 1, 1))  # a habit from the layer contract: (out, cache)
    with pytest.raises(CheckFailed, match=r"returned a tuple of 2 items that is not one array; expected a single "
                                          r"array of shape \(2, 3\) \(return the output only"):
        check_array("conv2d_forward", pair, np.zeros((2, 3)))
