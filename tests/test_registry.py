"""One home per graded topic, found by convention: nothing can be registered, used or read without the
other side existing, and nothing a later week grades ships in the student library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import fixtures, notebooks, protocol
from autograder.build import source_problems
from autograder.course import NOTEBOOK, REPO, SOURCE_DIR, week_prefix, weeks_with_source
from autograder.judge import hidden_calls, is_test_cell

pytestmark = pytest.mark.autograder

STUDENT_LIBRARY = REPO / "dlfs"


def _source(week):
    return nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)


def _used_cases() -> set[str]:
    return {call.case_id for week in weeks_with_source() for cell in _source(week).cells if is_test_cell(cell)
            for call in hidden_calls(cell.source)}


@pytest.mark.parametrize("week", weeks_with_source())
def test_every_test_cell_calls_registered_cases_of_its_week(week):
    assert source_problems(week, _source(week)) == []


def test_every_registered_case_is_used_by_a_notebook():
    for week in weeks_with_source():
        protocol.load_week(week_prefix(week))
    for name in protocol.topic_modules():
        __import__(name)
    assert set(protocol.CASES) - _used_cases() == set()


def test_source_problems_name_what_is_wrong():
    nb = _source(weeks_with_source()[0])
    cell = next(c for c in nb.cells if is_test_cell(c))
    cell.source = '"""no hidden test"""\nprint("looks fine")'
    other = next(c for c in nb.cells if is_test_cell(c) and c is not cell)
    other.source = '### BEGIN HIDDEN TESTS\ncheck("w01_no_such_case", f)\ncheck("w02_x", f)\n### END HIDDEN TESTS'
    problems = "\n".join(source_problems(weeks_with_source()[0], nb))
    assert "calls no hidden case" in problems
    assert "w01_no_such_case, which no topic module registers" in problems
    assert "w02_x, a case of another week" in problems


def _fixture_names_read() -> set[str]:
    names = set()
    for path in (STUDENT_LIBRARY / "checks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "fixture" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
    return names


def test_every_fixture_a_check_reads_is_generated():
    read = _fixture_names_read()
    assert read, "no visible check reads a fixture: the scan is broken"
    made = set(fixtures.made())
    assert read - made == set(), "read by a visible check but made by no topic module"
    assert {p.stem for p in fixtures.FIXTURE_DIR.glob("*.npz")} >= read


def test_fixtures_are_up_to_date():
    assert fixtures.stale() == []


# ---- nothing a later week grades ships early ---------------------------------------------------------


def _central_differences(tree: ast.AST) -> list[int]:
    """Lines that divide a difference by something involving 2 and a step: (f(x+h) - f(x-h)) / (2h)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.left, ast.BinOp) \
                and isinstance(node.left.op, ast.Sub):
            right = list(ast.walk(node.right))
            if any(isinstance(n, ast.Constant) and n.value == 2 for n in right) and \
                    any(isinstance(n, ast.Name) for n in right):
                found.append(node.lineno)
    return found


def test_the_scan_finds_a_numerical_gradient():
    assert _central_differences(ast.parse((REPO / "autograder" / "gradcheck.py").read_text()))


def test_no_module_of_the_student_library_computes_a_numerical_gradient():
    found = {str(path.relative_to(REPO)): lines for path in STUDENT_LIBRARY.rglob("*.py")
             if (lines := _central_differences(ast.parse(path.read_text())))}
    assert found == {}


def test_the_student_library_holds_no_trusted_code_and_imports_no_autograder():
    from autograder.build import reference_code

    trusted = reference_code()  # references, mistakes, hidden judgements of every topic
    for path in STUDENT_LIBRARY.rglob("*.py"):
        text = path.read_text()
        assert "import autograder" not in text and "from autograder" not in text, path
    # what the kernel runs for the checks and the hidden tests (data loaders share plain pandas lines)
    for path in [*(STUDENT_LIBRARY / "checks").glob("*.py"), STUDENT_LIBRARY / "grading.py"]:
        shared = {line for line in notebooks.code_lines([path]) & trusted  # not boilerplate (`return x, y`, conversions)
                  if len(line) >= 40 and "np.asarray(" not in line}
        assert shared == set(), path


def test_loading_a_week_imports_only_that_week():
    code = ("import sys\nfrom autograder import protocol\nprotocol.load_week('w01')\n"
            "print(sorted(m for m in sys.modules if m.startswith('autograder.cases.w')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = eval(out)
    assert loaded and all(name.startswith("autograder.cases.w01_") for name in loaded)
    code = "import sys\nimport dlfs.checks\ndlfs.checks.week01\nprint([m for m in sys.modules if 'autograder' in m])"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path("/"), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
