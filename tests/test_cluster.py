"""``grade --dask``: the same submissions graded by one local worker and by a Dask LocalCluster of two worker
processes give the same grades.csv and class report byte for byte, the same verdicts up to the times measured in
them (a speed case's milliseconds), and feedback pages of the same text up to those times, the notebook's own
timings, the number of the cell a kernel died in and white space."""

from __future__ import annotations

import csv
import re

import nbformat
import pytest

from autograder import notebooks, sandbox
from autograder.build import release_path
from autograder.course import NOTEBOOK, SOURCE_DIR
from autograder.grade import grade

pytest.importorskip("distributed", reason="the Dask backend needs `distributed` (requirements-dev.txt)")
pytestmark = [pytest.mark.pipeline, pytest.mark.autograder]
if sandbox.problems():
    pytest.skip(f"grading on Dask needs the sandbox: {'; '.join(sandbox.problems())}", allow_module_level=True)

WEEK = "week01_linear_algebra"
NUMBER = re.compile(rb" *\d+(\.\d+)?")  # with the padding that aligns it
#: An input prompt: the cell a kernel died in shows its number or not, as the kernel's last message came in time.
PROMPT = re.compile(r"In\s*\[[^\]]*\]:")


def _page_text(page: bytes) -> str:
    """A feedback page's text, without numbers, prompts and white space (how prints were split into lines)."""
    text = PROMPT.sub("", notebooks.html_text(page.decode()))
    return re.sub(r"\s+", "", re.sub(NUMBER.pattern.decode(), "#", text))


def _submissions(folder):
    release = nbformat.read(release_path(WEEK), as_version=4)
    source = nbformat.read(SOURCE_DIR / WEEK / NOTEBOOK, as_version=4)
    partial = notebooks.solved_submission(release, source)
    for cell in partial.cells:  # two loops without the square root
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "l2_distances_two_loops":
            cell.source = cell.source.replace("np.sqrt(np.sum((X[i] - Y[j]) ** 2))", "np.sum((X[i] - Y[j]) ** 2)")
    folder.mkdir()
    nbformat.write(partial, folder / "cy.ipynb")
    nbformat.write(release, folder / "bob.ipynb")
    crash = nbformat.read(release_path(WEEK), as_version=4)
    crash.cells.insert(len(crash.cells) // 2, nbformat.v4.new_code_cell("import os\nos._exit(3)"))
    nbformat.write(crash, folder / "eve.ipynb")
    (folder / "dee.ipynb").write_text('{"cells": [ this is not json')


def test_a_local_cluster_grades_as_a_local_run(tmp_path):
    _submissions(tmp_path / "in")
    local, cluster = tmp_path / "local", tmp_path / "dask"
    expected = grade(WEEK, tmp_path / "in", local, timeout=300)
    got = grade(WEEK, tmp_path / "in", cluster, timeout=300, workers=2, dask="local")

    assert [(r.student, r.status, r.score, r.reason) for r in got] == \
        [(r.student, r.status, r.score, r.reason) for r in expected]
    assert {r.student: r.score for r in got} == {"bob": 0, "cy": 36, "dee": None, "eve": 0}
    for name in ("grades.csv", "class_report.csv", "class_report.html"):
        assert (cluster / name).read_bytes() == (local / name).read_bytes(), f"{name} differs"
    for folder, same in (("feedback", _page_text), ("verdicts", lambda data: NUMBER.sub(b"#", data))):
        pages = sorted(p.name for p in (local / folder).iterdir())
        assert pages == sorted(p.name for p in (cluster / folder).iterdir()) and pages
        for name in pages:
            mine, theirs = (same((out / folder / name).read_bytes()) for out in (local, cluster))
            at = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
            assert mine == theirs, f"{folder}/{name} differs beyond its numbers: {mine[at - 300:at + 200]!r} vs " \
                f"{theirs[at - 300:at + 200]!r}"
    assert "kernel died (exit status 3" in (cluster / "verdicts" / "eve.json").read_text()
    with (cluster / "timings.csv").open() as handle:
        times = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(times["cy"]["seconds"]) > float(times["cy"]["judge_seconds"]) > 0
