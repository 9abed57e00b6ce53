"""A new week's graded function, added in four files and found by convention: its fixture is generated,
its notebook built, validated and graded, without editing any list. Everything is removed afterwards."""

from __future__ import annotations

import shutil
import sys
import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import fixtures, protocol
from autograder.build import build, drift, release_path, solutions_path
from autograder.course import NOTEBOOK, REPO, SOURCE_DIR, weeks_with_source
from autograder.grade import grade
from autograder.validate import validate_week

pytestmark = [pytest.mark.pipeline, pytest.mark.autograder]

WEEK, TOPIC = "week09_scratch", "w09_scratch"

TRUSTED = '''
"""A throw-away topic made by tests/test_new_week.py."""
import numpy as np

from autograder.fixtures import stored
from autograder.protocol import case, expect, mistakes_on
from dlfs.grading import Call

MISTAKES = {"plus_two": "you added 2 instead of doubling."}


def double(x):
    return 2.0 * np.asarray(x, dtype=np.float64)


@case("w09_double")
def doubles(rng):
    xs = [rng.normal(size=n) for n in (1, 5)]

    def judge(answers, context):
        for i, x in enumerate(xs):
            expect(answers, i, double(x), mistakes=mistakes_on({"plus_two": x + 2}, MISTAKES))
        return "doubles"

    return {"calls": [Call((x,)) for x in xs]}, judge


def fixtures():
    x = np.arange(3.0)
    return {"w09_double": {"x": x, "expected": double(x)} | stored({"plus_two": x + 2}, MISTAKES)}
'''

STUDENT = '''
"""A throw-away topic made by tests/test_new_week.py."""
from dlfs.checks import call, check_array, fixture, passed, stored_mistakes

__all__ = ["double"]


def double(fn):
    arrays = fixture("w09_double")
    check_array(fn.__name__, call(fn, arrays["x"]), arrays["expected"], mistakes=stored_mistakes(arrays))
    passed(f"{fn.__name__} doubles")
'''


def _cell(source, grade_id, **flags):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, "task": False,
                                 "grade_id": grade_id, "schema_version": 3, **flags}
    return cell


def _source_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# A scratch week"),
        new_code_cell("from dlfs.checks import week09 as checks"),
        _cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double", solution=True),
        _cell('"""double: the stored example, then two sizes (1 point)."""\n### BEGIN HIDDEN TESTS\n'
              'from dlfs.grading import check\ncheck("w09_double", double)\n### END HIDDEN TESTS\n'
              "checks.double(double)", "test_double", grade=True, locked=True, points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


@pytest.fixture
def scratch_week():
    files = [REPO / "autograder" / "cases" / f"{TOPIC}.py", REPO / "dlfs" / "checks" / f"{TOPIC}.py"]
    made = [*files, fixtures.FIXTURE_DIR / "w09_double.npz", SOURCE_DIR / WEEK, REPO / WEEK, solutions_path(WEEK)]
    assert not any(path.exists() for path in made), "a scratch week is left over from an earlier run"
    try:
        files[0].write_text(textwrap.dedent(TRUSTED))
        files[1].write_text(textwrap.dedent(STUDENT))
        (SOURCE_DIR / WEEK).mkdir()
        nbformat.write(_source_notebook(), SOURCE_DIR / WEEK / NOTEBOOK)
        yield
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        for name in [m for m in sys.modules if m.endswith(TOPIC)]:
            del sys.modules[name]
        for case_id in [c for c in protocol.CASES if c.startswith("w09_")]:
            del protocol.CASES[case_id]
        import dlfs.checks

        dlfs.checks._week.cache_clear()


def test_a_new_week_is_found_built_validated_and_graded(scratch_week, tmp_path):
    assert WEEK in weeks_with_source()
    assert "w09_double" in fixtures.made() and fixtures.FIXTURE_DIR / "w09_double.npz" in fixtures.write()
    build(WEEK)
    assert drift(WEEK) == []
    assert "BEGIN SOLUTION" not in release_path(WEEK).read_text()
    row = validate_week(WEEK)
    assert (row.points, row.solution_score, row.stub_score, row.stub_ran_to_end) == (1, 1, 0, True)

    submissions = tmp_path / "in"
    submissions.mkdir()
    wrong = nbformat.read(release_path(WEEK), as_version=4)
    wrong.cells[2].source = "def double(x):\n    return x + 2"
    nbformat.write(wrong, submissions / "eve.ipynb")
    [result] = grade(WEEK, submissions, tmp_path / "out")
    assert (result.status, result.score) == ("graded", 0)
    assert "you added 2 instead of doubling" in (tmp_path / "out" / "feedback" / "eve.html").read_text()
