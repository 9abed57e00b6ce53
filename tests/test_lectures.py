"""The lecture notebooks: committed executed, and they still run top to bottom in a fresh kernel."""

from __future__ import annotations

import shutil
import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import REPO, WEEKS

LECTURES = [REPO / week / "lecture.ipynb" for week in WEEKS if (REPO / week / "lecture.ipynb").exists()]
#: Seconds a lecture may take on a 2-core machine (week 1 takes about 20 s).
LECTURE_BUDGET = 120

pytestmark = pytest.mark.lecture


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.parent.name)
def test_lecture_is_committed_executed_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    assert cells and all(cell.execution_count is not None for cell in cells), "not fully executed"
    errors = [o for cell in cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    figures = sum("image/png" in o.get("data", {}) for cell in cells for o in cell.outputs)
    assert figures >= 5, f"only {figures} figures"


@pytest.mark.pipeline
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.parent.name)
def test_lecture_runs_top_to_bottom(path, tmp_path):
    shutil.copy(path, tmp_path / path.name)
    nb = nbformat.read(tmp_path / path.name, as_version=4)
    for cell in _code_cells(nb):
        cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    NotebookClient(nb, timeout=LECTURE_BUDGET, kernel_name="python3", shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    assert seconds < LECTURE_BUDGET
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "the lecture wrote files next to itself"
