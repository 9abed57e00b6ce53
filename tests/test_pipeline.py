"""Build -> validate -> grade, end to end through real nbgrader (about two minutes in all)."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import build as build_module
from autograder import course as course_module
from autograder import notebooks
from autograder.__main__ import main
from autograder.build import BuildRefused, checking_code, drift, make_release, reference_code, release_path
from autograder.course import NOTEBOOK, SOURCE_DIR, weeks_with_source
from autograder.grade import grade

pytestmark = [pytest.mark.pipeline, pytest.mark.autograder]

WEEK = "week01_linear_algebra"


def source_nb():
    return nbformat.read(SOURCE_DIR / WEEK / NOTEBOOK, as_version=4)


def release_nb():
    return nbformat.read(release_path(WEEK), as_version=4)


@pytest.mark.parametrize("week", weeks_with_source())
def test_generated_notebooks_match_the_source(week):
    assert drift(week) == []


@pytest.mark.parametrize(("week", "total"), [(WEEK, "39"), ("week02_backprop", "75"), ("week03_cnn", "44"),
                                             ("week04_conv_from_scratch", "52"), ("week05_gans_transformers", "60")])
def test_validate_full_marks_and_zero(week, total, capsys):
    """Under the tests' budget (DLFS_BUDGET=small, tests/conftest.py): the hidden cases are the same."""
    assert main(["validate", week, "--no-record"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith(week))
    week, points, solution, stub, ran, seconds, _ = row.split()
    assert (points, solution, stub, ran) == (total, total, "0", "yes")
    assert float(seconds) < 300, "solution and stub together must autograde within 5 minutes"
    assert row.endswith("ok")


def test_build_refuses_a_source_that_leaks(tmp_path, monkeypatch):
    leaky = source_nb()
    leaky.cells.append(new_code_cell("squared = 1.0\nreturn np.sqrt(np.maximum(squared, 0.0))"))
    (tmp_path / WEEK).mkdir()
    nbformat.write(leaky, tmp_path / WEEK / NOTEBOOK)
    monkeypatch.setattr(course_module, "SOURCE_DIR", tmp_path)
    monkeypatch.setattr(build_module, "SOURCE_DIR", tmp_path)
    with pytest.raises(BuildRefused, match="a line of reference code"):
        make_release(WEEK)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_grade_a_folder_of_submissions(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    solved = notebooks.solved_submission(release_nb(), source_nb())
    nbformat.write(solved, submissions / "ada.ipynb")
    nbformat.write(release_nb(), submissions / "bob.ipynb")
    partial = notebooks.solved_submission(release_nb(), source_nb())
    for cell in partial.cells:  # two loops without the square root: its 3 points are lost
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "l2_distances_two_loops":
            cell.source = cell.source.replace("np.sqrt(np.sum((X[i] - Y[j]) ** 2))", "np.sum((X[i] - Y[j]) ** 2)")
            assert "np.sum((X[i] - Y[j]) ** 2)" in cell.source
    nbformat.write(partial, submissions / "cy.ipynb")
    (submissions / "dee.ipynb").write_text('{"cells": [ this is not json')
    shutil.copy(submissions / "ada.ipynb", submissions / "bad name!.ipynb")
    before = _digest(submissions)

    out = tmp_path / "out"
    results = {r.student: r for r in grade(WEEK, submissions, out)}

    assert _digest(submissions) == before, "grading modified a submission"
    assert (results["ada"].status, results["ada"].score, results["ada"].max_score) == ("graded", 39, 39)
    assert (results["bob"].status, results["bob"].score) == ("graded", 0)
    assert (results["cy"].status, results["cy"].score) == ("graded", 36)
    assert results["dee"].status == "flagged" and "not a valid notebook" in results["dee"].reason
    assert results["bad name!.ipynb"].status == "flagged" and "student id" in results["bad name!.ipynb"].reason

    with (out / "grades.csv").open() as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"ada", "bob", "cy", "dee", "bad name!.ipynb"}
    assert (rows["ada"]["score"], rows["bob"]["score"], rows["cy"]["score"]) == ("39", "0", "36")
    assert rows["cy"]["test_l2_two_loops_shapes"] == "0" and rows["cy"]["test_l2_no_loops_speed"] == "2"
    assert rows["dee"]["status"] == "flagged" and rows["dee"]["score"] == ""

    secrets = notebooks.secret_lines(source_nb(), notebooks.HIDDEN) | reference_code() | checking_code()
    pages = sorted((out / "feedback").glob("*.html"))
    assert [p.stem for p in pages] == ["ada", "bob", "cy"]
    for page in pages:
        html = page.read_text()
        own = "\n".join(notebooks.notebook_text_lines(nbformat.read(submissions / f"{page.stem}.ipynb", as_version=4)))
        assert notebooks.leaked_into(notebooks.html_text(html), {s for s in secrets if s not in own}) == []
        assert "autograder" not in html and "BEGIN HIDDEN" not in html and "Traceback (most recent" not in html
        assert "w01_l2_distances_shapes\"" not in notebooks.html_text(html)
    feedback_cy = (out / "feedback" / "cy.html").read_text()
    assert "did you forget the square root?" in feedback_cy

    # The class report: of the three graded, one passed the two-loop task; cy's named mistake and bob's stub counted.
    with (out / "class_report.csv").open() as handle:
        report = [row for row in csv.DictReader(handle) if row["task"] == "test_l2_two_loops_shapes"]
    found = {row["finding"]: (row["students_with_it"], row["students"]) for row in report}
    assert found["passed"] == ("1", "3")
    assert found["squared: your distances match the *squared* Euclidean distances: did you forget the square root?"] \
        == ("1", "3")
    assert found["not implemented"] == ("1", "3")
    page = notebooks.html_text((out / "class_report.html").read_text())
    assert "test_l2_two_loops_shapes" in page and "33% passed" in page


def test_grade_flags_an_endless_submission_and_leaves_no_kernel(tmp_path):
    """A loop that ignores Ctrl-C is stopped at the time-out, flagged with the reason, and killed."""
    looping = release_nb()
    for cell in looping.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "l2_distances_two_loops":
            cell.source = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n" + cell.source
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(looping, submissions / "loop.ipynb")

    def kernels():
        return set(subprocess.run(["pgrep", "-f", "ipykernel_launcher"], capture_output=True, text=True).stdout.split())

    before = kernels()
    [result] = grade(WEEK, submissions, tmp_path / "out", timeout=15)
    assert result.status == "flagged" and "did not finish within 15 s" in result.reason
    assert kernels() - before == set(), "the looping kernel survived the time-out"
    from autograder import sandbox

    left = [p.name for p in Path(sandbox.BASE).glob(f"{sandbox.FOLDER}*") if not sandbox._owner_alive(p.name)]
    assert left == [], f"the killed worker's sandbox was left behind: {left}"
    with (tmp_path / "out" / "grades.csv").open() as handle:
        assert "did not finish within 15 s" in handle.read()


def test_grade_an_lms_zip_reports_every_entry(tmp_path):
    """A Canvas export: the stub is graded under the student's Canvas id, the other files are flagged rows."""
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("smithbob_late_220011_5530999_assignment.ipynb", nbformat.writes(release_nb()))
        zf.writestr("smithbob_late_220011_5530999_notes.pdf", b"%PDF")
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "out"
    results = {r.student: r for r in grade(WEEK, archive, out)}
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before
    assert (results["220011"].status, results["220011"].score) == ("graded", 0)
    pdf = results["smithbob_late_220011_5530999_notes.pdf"]
    assert pdf.status == "flagged" and pdf.reason == "in submissions.zip, not graded: not a notebook (.pdf)"
    with (out / "grades.csv").open() as handle:
        assert {row["student_id"] for row in csv.DictReader(handle)} == {"220011", "smithbob_late_220011_5530999_notes.pdf"}
