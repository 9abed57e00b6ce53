"""Leak detection and the notebook transformations behind build, validate and grade."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import notebooks
from autograder.build import reference_code, release_path, solutions_path
from autograder.course import NOTEBOOK, SOURCE_DIR, weeks_with_source
from autograder.feedback import ShortErrors

pytestmark = pytest.mark.autograder

SOURCE = new_notebook(
    cells=[
        new_markdown_cell("Compute the distances."),
        new_code_cell(
            "def f(X):\n    out = prepare(X)\n    ### BEGIN SOLUTION\n    out = secret_formula(X) + 1\n"
            "    ### END SOLUTION\n    return out"
        ),
        new_code_cell(
            '"""f works"""\nvisible_check(f)\n### BEGIN HIDDEN TESTS\nhidden_check("w01_case", f)\n'
            "### END HIDDEN TESTS"
        ),
    ]
)


def release_with(extra: str) -> nbformat.NotebookNode:
    release = new_notebook(
        cells=[
            new_markdown_cell("Compute the distances."),
            new_code_cell("def f(X):\n    out = prepare(X)\n    raise NotImplementedError()\n    return out"),
            new_code_cell('"""f works"""\nvisible_check(f)'),
        ]
    )
    if extra:
        release.cells.append(new_code_cell(extra))
    return release


def test_split_region_and_its_errors():
    inside, outside = notebooks.split_region("a\n### BEGIN SOLUTION\nb\n### END SOLUTION\nc", notebooks.SOLUTION)
    assert (inside, outside) == (["b"], ["a", "c"])
    for broken in ("### BEGIN SOLUTION\nx", "### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION"):
        with pytest.raises(ValueError):
            notebooks.split_region(broken, notebooks.SOLUTION)


def test_secret_lines_are_region_lines_not_seen_elsewhere():
    assert notebooks.secret_lines(SOURCE, notebooks.SOLUTION) == {"out = secret_formula(X) + 1"}
    assert notebooks.secret_lines(SOURCE, notebooks.HIDDEN) == {'hidden_check("w01_case", f)'}


def test_a_clean_release_passes():
    assert notebooks.release_problems(release_with(""), SOURCE, set()) == []


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("    out = secret_formula(X) + 1", "a solution line is in the release"),
        ('hidden_check("w01_case", f)', "a hidden test line is in the release"),
        ("### BEGIN HIDDEN TESTS", "the marker 'BEGIN HIDDEN TESTS'"),
        ("np.sqrt(np.maximum(squared, 0.0))", "a line of reference code"),
        ("from autograder.hidden import check", "imports the autograder"),
    ],
)
def test_a_leaking_release_is_refused(extra, problem):
    problems = notebooks.release_problems(release_with(extra), SOURCE, {"np.sqrt(np.maximum(squared, 0.0))"})
    assert any(problem in p for p in problems), problems


def test_reference_code_lines_skip_docstrings_and_short_lines():
    lines = reference_code()
    assert "return np.sqrt(np.maximum(squared, 0.0))" in lines
    assert not any(line.startswith(('"""', "Pairwise")) for line in lines)
    assert all(len(line) >= notebooks.MIN_SECRET_LENGTH for line in lines)


def test_solutions_notebook_keeps_answers_drops_hidden_tests_and_metadata():
    source = nbformat.from_dict(SOURCE)
    source.cells[1].metadata["nbgrader"] = {"solution": True, "grade_id": "f"}
    solved = notebooks.solutions_notebook(source)
    text = "\n".join(cell.source for cell in solved.cells)
    assert "secret_formula" in text and "hidden_check" not in text and "BEGIN" not in text
    assert all("nbgrader" not in cell.metadata for cell in solved.cells)
    assert notebooks.solutions_problems(solved, source) == []
    solved.cells.append(new_code_cell('hidden_check("w01_case", f)'))
    assert notebooks.solutions_problems(solved, source)


def test_solutions_notebook_drops_cells_left_with_only_a_docstring():
    source = new_notebook(cells=[new_code_cell('"""hidden only"""\n### BEGIN HIDDEN TESTS\nx()\n### END HIDDEN TESTS')])
    assert notebooks.solutions_notebook(source).cells == []


def test_solved_submission_fills_answer_cells_by_grade_id():
    source = nbformat.from_dict(SOURCE)
    source.cells[1].metadata["nbgrader"] = {"solution": True, "grade_id": "f"}
    release = release_with("")
    release.cells[1].metadata["nbgrader"] = {"solution": True, "grade_id": "f"}
    solved = notebooks.solved_submission(release, source)
    assert "secret_formula" in solved.cells[1].source and "BEGIN SOLUTION" not in solved.cells[1].source
    assert "raise NotImplementedError" in release.cells[1].source  # the release itself is untouched


def test_leaks_are_found_through_highlighting_and_line_numbers():
    page = '<pre>  4 <span class="n">hidden_check</span><span class="p">(</span>&quot;w01_case&quot;, f)</pre>'
    assert notebooks.leaked_into(notebooks.html_text(page), {'hidden_check("w01_case", f)'})
    assert not notebooks.leaked_into(notebooks.html_text(page), {"something else entirely"})


def test_short_errors_keeps_only_the_last_line():
    cell = new_code_cell("check()")
    cell.outputs = [new_output("error", ename="CheckFailed", evalue="f: wrong", traceback=["frame 1", "frame 2"])]
    cell, _ = ShortErrors().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0]["traceback"] == ["CheckFailed: f: wrong"]


@pytest.mark.parametrize("week", weeks_with_source())
def test_committed_notebooks_hold_no_secret(week):
    source = nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)
    release = nbformat.read(release_path(week), as_version=4)
    assert notebooks.release_problems(release, source, reference_code()) == []
    assert notebooks.solutions_problems(nbformat.read(solutions_path(week), as_version=4), source) == []
