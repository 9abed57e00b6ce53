"""The shared shape of every hidden-case suite: correct variants pass, known mistakes fail with their
diagnosis, and every case a topic module registers is covered. Cases run through
:func:`autograder.protocol.run_case`: inputs written out, the probe's answers read back, judged outside
the probe, exactly as while grading."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from autograder.protocol import CASES, run_case


def name_of(value) -> str:
    """A readable pytest id for a parameter: a function's name, else its text."""
    return getattr(value, "__name__", str(value))


def hidden_tests(module: str, correct: dict, wrong: list, untested_by_functions: frozenset = frozenset()):
    """Test functions for the cases of ``autograder.cases.<module>``.

    ``correct`` maps a case id to implementations that must pass; ``wrong`` lists (case id,
    implementation, regex of the expected message). Cases not called with a function (a file path,
    say) go in ``untested_by_functions`` and get tests of their own.
    """

    @pytest.mark.parametrize(("case", "fn"), [(c, f) for c, fns in correct.items() for f in fns], ids=name_of)
    def test_hidden_passes_correct(case, fn):
        run_case(case, fn)

    @pytest.mark.parametrize(("case", "fn", "message"), wrong, ids=name_of)
    def test_hidden_fails_wrong(case, fn, message):
        with np.errstate(all="ignore"), pytest.raises(AssertionError, match=message):
            run_case(case, fn)

    def test_every_case_is_tested():
        importlib.import_module(f"autograder.cases.{module}")
        cases = {case for case, spec in CASES.items() if spec.module == f"autograder.cases.{module}"}
        assert cases, f"no hidden case is registered by autograder.cases.{module}"
        assert set(correct) | untested_by_functions == cases
        assert {case for case, _, _ in wrong} | untested_by_functions == cases

    return test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested
