"""The shared shape of every hidden-test suite: correct variants pass, known mistakes fail with their
diagnosis, and every case a week module registers is covered."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.hidden import CASES, check


def name_of(value) -> str:
    """A readable pytest id for a parameter: a function's name, else its text."""
    return getattr(value, "__name__", str(value))


def hidden_tests(module: str, correct: dict, wrong: list, untested_by_functions: frozenset = frozenset()):
    """Test functions for the cases of ``autograder.hidden.<module>``.

    ``correct`` maps a case id to implementations that must pass; ``wrong`` lists (case id,
    implementation, regex of the expected message). Cases not called with a function (a file path,
    say) go in ``untested_by_functions`` and get tests of their own.
    """

    @pytest.mark.parametrize(("case", "fn"), [(c, f) for c, fns in correct.items() for f in fns], ids=name_of)
    def test_hidden_passes_correct(case, fn):
        check(case, fn)

    @pytest.mark.parametrize(("case", "fn", "message"), wrong, ids=name_of)
    def test_hidden_fails_wrong(case, fn, message):
        with np.errstate(all="ignore"), pytest.raises(AssertionError, match=message):
            check(case, fn)

    def test_every_case_is_tested():
        cases = {case for case, test in CASES.items() if test.__module__ == f"autograder.hidden.{module}"}
        assert cases, f"no hidden case is registered by autograder.hidden.{module}"
        assert set(correct) | untested_by_functions == cases
        assert {case for case, _, _ in wrong} | untested_by_functions == cases

    return test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested
