"""``build``: one source notebook -> the student release (via nbgrader) and the executed solutions.

The release goes to ``<week>/assignment.ipynb`` and the solutions to ``solutions/<week>.ipynb``.
Nothing is written when the release would contain an answer, a hidden test or reference code, or when
the solutions would contain a hidden test. ``--check`` writes nothing and reports drift between the
committed files and what the source makes now (the release whole; the solutions cell by cell, since
their outputs hold timings that differ between runs).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder import notebooks
from autograder.course import AUTOGRADER, NOTEBOOK, REPO, SOLUTIONS_DIR, SOURCE_DIR, temporary_course, week_prefix

#: Seconds a solution notebook may take to execute on a 2-core machine.
SOLUTION_TIMEOUT = 900


class BuildRefused(RuntimeError):
    """The build found a leak or a failing solution; nothing was written."""


def reference_code() -> set[str]:
    """Statement lines of the trusted topic modules (references, mistakes, hidden cases): none may
    appear in a student release or in feedback."""
    return notebooks.code_lines(sorted((AUTOGRADER / "cases").glob("*.py")))


def checking_code() -> set[str]:
    """Statement lines of the code that judges hidden cases: none may appear in feedback."""
    return reference_code() | notebooks.code_lines([AUTOGRADER / "protocol.py", AUTOGRADER / "judge.py"])


def source_problems(week: str, source: nbformat.NotebookNode) -> list[str]:
    """Why a source notebook cannot be graded: a test cell without a hidden case (its verdict would be
    the kernel's), or a hidden case that is not registered or belongs to another week."""
    from autograder import protocol
    from autograder.judge import hidden_calls, is_test_cell

    problems = []
    for number, cell in enumerate(source.cells, 1):
        if not is_test_cell(cell):
            continue
        grade_id = cell.metadata["nbgrader"].get("grade_id", f"cell {number}")
        calls = hidden_calls("\n".join(notebooks.split_region(cell.source, notebooks.HIDDEN)[0]))
        if not calls:
            problems.append(f"the test cell {grade_id} calls no hidden case (check(\"w..\", fn) in a hidden region)")
        for call in calls:
            if protocol.week_of(call.case_id) != week_prefix(week):
                problems.append(f"the test cell {grade_id} calls {call.case_id}, a case of another week")
                continue
            try:
                protocol.get_case(call.case_id)
            except KeyError:
                problems.append(f"the test cell {grade_id} calls {call.case_id}, which no topic module registers")
    return problems


def release_path(week: str) -> Path:
    return REPO / week / NOTEBOOK


def solutions_path(week: str) -> Path:
    return SOLUTIONS_DIR / f"{week}.ipynb"


def make_release(week: str) -> nbformat.NotebookNode:
    """Generate the student release with nbgrader and refuse it if anything secret is inside."""
    source = nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)
    problems = source_problems(week, source)
    if problems:
        raise BuildRefused(f"{week}: the source notebook is not gradable:\n  " + "\n  ".join(problems))
    with temporary_course(week) as course:
        release = nbformat.read(course.release, as_version=4)
    problems = notebooks.release_problems(release, source, reference_code())
    if problems:
        raise BuildRefused(f"{week}: refusing to write the release:\n  " + "\n  ".join(problems))
    return release


def make_solutions(week: str) -> nbformat.NotebookNode:
    """The solutions notebook (not executed), refused if a hidden test or marker is inside."""
    source = nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)
    solutions = notebooks.solutions_notebook(source)
    problems = notebooks.solutions_problems(solutions, source)
    if problems:
        raise BuildRefused(f"{week}: refusing to write the solutions:\n  " + "\n  ".join(problems))
    return solutions


def execute(nb: nbformat.NotebookNode, week: str) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel, in a scratch copy of the source folder."""
    with tempfile.TemporaryDirectory(prefix=f"dlfs-run-{week}-") as scratch:
        shutil.copytree(SOURCE_DIR / week, scratch, dirs_exist_ok=True)
        client = NotebookClient(
            nb,
            timeout=SOLUTION_TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": scratch}},
            shutdown_kernel="immediate",
        )
        try:
            client.execute()
        except CellExecutionError as err:
            raise BuildRefused(f"{week}: the solution notebook fails to run:\n{err}") from err
    return nb


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def drift(week: str) -> list[str]:
    """What differs between the committed generated files and what the source makes now."""
    found = []
    release = make_release(week)
    if not release_path(week).exists():
        found.append(f"{release_path(week)} is missing")
    elif nbformat.read(release_path(week), as_version=4) != release:
        found.append(f"{release_path(week)} differs from the source: run `python -m autograder build {week}`")
    solutions = make_solutions(week)
    if not solutions_path(week).exists():
        found.append(f"{solutions_path(week)} is missing")
    else:
        committed = nbformat.read(solutions_path(week), as_version=4)
        if _cells(committed) != _cells(solutions):
            found.append(f"{solutions_path(week)} differs from the source: run `python -m autograder build {week}`")
        elif any(c.cell_type == "code" and c.source.strip() and c.execution_count is None for c in committed.cells):
            found.append(f"{solutions_path(week)} is not fully executed")
    return found


def build(week: str) -> float:
    """Write the release and the executed solutions of ``week``; return the seconds it took."""
    start = time.perf_counter()
    release = make_release(week)
    solutions = execute(make_solutions(week), week)
    release_path(week).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(release, release_path(week))
    SOLUTIONS_DIR.mkdir(exist_ok=True)
    nbformat.write(solutions, solutions_path(week))
    return time.perf_counter() - start
