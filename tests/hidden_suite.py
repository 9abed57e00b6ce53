"""The shared shape of every hidden-case suite: correct variants pass, known mistakes fail with their
diagnosis, and every case a topic module registers is covered. Cases run through
:func:`autograder.protocol.run_case`: inputs written out, the probe's answers read back, judged outside
the probe, exactly as while grading."""

from __future__ import annotations

import functools
import importlib

import numpy as np
import pytest

from autograder.protocol import CASES, run_case


def name_of(value) -> str:
    """A readable pytest id for a parameter: a function's name, else its text."""
    return getattr(value, "__name__", str(value))


class Together:
    """The targets of one hidden call that takes several, e.g. ``check(id, backward, forward)``, under one id."""

    def __init__(self, *targets) -> None:
        self.targets = targets
        self.__name__ = "+".join(name_of(target) for target in targets)


def _targets(fn) -> tuple:
    return fn.targets if isinstance(fn, Together) else (fn,)


def hidden_tests(module: str, correct: dict, wrong: list, untested_by_functions: frozenset = frozenset()):
    """Test functions for the cases of ``autograder.cases.<module>``.

    ``correct`` maps a case id to implementations that must pass; ``wrong`` lists (case id,
    implementation, regex of the expected message). A case called with several targets gets them as
    :class:`Together`. Cases not called with a function (a file path,
    say) go in ``untested_by_functions`` and get tests of their own.
    """

    @pytest.mark.parametrize(("case", "fn"), [(c, f) for c, fns in correct.items() for f in fns], ids=name_of)
    def test_hidden_passes_correct(case, fn):
        run_case(case, *_targets(fn))

    @pytest.mark.parametrize(("case", "fn", "message"), wrong, ids=name_of)
    def test_hidden_fails_wrong(case, fn, message):
        with np.errstate(all="ignore"), pytest.raises(AssertionError, match=message):
            run_case(case, *_targets(fn))

    def test_every_case_is_tested():
        importlib.import_module(f"autograder.cases.{module}")
        cases = {case for case, spec in CASES.items() if spec.module == f"autograder.cases.{module}"}
        assert cases, f"no hidden case is registered by autograder.cases.{module}"
        assert set(correct) | untested_by_functions == cases
        assert {case for case, _, _ in wrong} | untested_by_functions == cases

    return test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested


def visible_tests(correct: list, wrong: list):
    """Test functions for a topic's visible checks (``dlfs.checks.w<NN>_<topic>``).

    ``correct`` lists (check, implementation) pairs whose check must print a line starting with a tick;
    ``wrong`` lists (check, implementation, regex) triples whose check must raise ``CheckFailed`` with a
    message matching the regex. A check that takes several functions gets them as :class:`Together`.
    """
    from dlfs.checks import CheckFailed

    @pytest.mark.parametrize(("check", "fn"), correct, ids=name_of)
    def test_visible_passes_correct(check, fn, capsys):
        check(*_targets(fn))
        assert capsys.readouterr().out.startswith("\u2713")

    @pytest.mark.parametrize(("check", "fn", "message"), wrong, ids=name_of)
    def test_visible_names_the_mistake(check, fn, message):
        with np.errstate(all="ignore"), pytest.raises(CheckFailed, match=message):
            check(*_targets(fn))

    return test_visible_passes_correct, test_visible_names_the_mistake


@functools.cache
def notebook_solutions(week: str) -> dict:
    """What the solution cells of ``week``'s source notebook define, run in order in one namespace after what the
    notebook's other cells define without running anything (their imports, functions, classes and constants, e.g.
    a given ``softmax``; IPython magics left out, test cells skipped): the notebook's own answers, for suites that
    feed them to the hidden cases. Their source stays readable to ``inspect`` (rules about source code)."""
    import ast
    import linecache

    import nbformat

    from autograder.course import NOTEBOOK, SOURCE_DIR
    from autograder.protocol import _python_only

    definitions = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    cells = [c for c in nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    namespace: dict = {"__name__": f"{week}_solution"}
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") or meta.get("grade"):
            nodes = [node for node in ast.parse(_python_only(cell.source)).body if isinstance(node, ast.Import | ast.ImportFrom)]
        else:
            nodes = [node for node in ast.parse(_python_only(cell.source)).body if isinstance(node, definitions)
                     or (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))]
        filename, source = f"<{week}:{meta.get('grade_id', 'cell')}>", _python_only(cell.source)
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        for node in nodes:
            try:
                exec(compile(ast.Module(body=[node], type_ignores=[]), filename, "exec"), namespace)
            except Exception:  # noqa: BLE001 - a definition that needs the notebook's run-time state
                continue
    for cell in cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            filename, source = f"<{week}:{grade_id}>", _python_only(cell.source)
            linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
            exec(compile(source, filename, "exec"), namespace)
    return namespace
