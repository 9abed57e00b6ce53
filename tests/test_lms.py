"""LMS exports: every entry of a generated Canvas, Moodle or Blackboard zip ends as one student's notebook or
in the report with its reason; the archive is only read."""

from __future__ import annotations

import hashlib
import stat
import zipfile

import pytest

from autograder.lms import import_zip, match_entry

pytestmark = pytest.mark.autograder

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("name", "lms", "student"),
    [
        ("doejane_104577_5530123_assignment.ipynb", "canvas", "104577"),
        ("doejane_late_104577_5530123_assignment-2.ipynb", "canvas", "104577"),
        ("doejane_LATE_104577_5530123_week 1 (final).ipynb", "canvas", "104577"),
        ("Jane Doe_88121_assignsubmission_file_/assignment.ipynb", "moodle", "88121"),
        ("Jane Doe_88121_assignsubmission_file_/sub/dir/assignment.ipynb", "moodle", "88121"),
        ("Jane Doe_88121_assignsubmission_file_assignment.ipynb", "moodle", "88121"),
        ("Week 1_jdoe3_attempt_2026-11-02-17-45-09_assignment.ipynb", "blackboard", "jdoe3"),
        ("Week 1_jdoe3_attempt_2026-11-02-17-45-09.ipynb", "blackboard", "jdoe3"),
        ("ada.ipynb", "plain", "ada"),
        ("ada.lovelace@uni.ipynb", "plain", "ada.lovelace@uni"),
    ],
)
def test_each_lms_pattern_names_the_student(name, lms, student):
    found = match_entry(name)
    assert (found.lms, found.student) == (lms, student)
    assert match_entry(name, lms).student == student


@pytest.mark.parametrize(
    "name",
    ["assignment.ipynb.bak", "Jane Doe_assignsubmission_file_/a.ipynb", "bad name!.ipynb", "folder/ada.ipynb"],
)
def test_names_that_map_no_student(name):
    assert match_entry(name) is None


def test_canvas_export_keeps_the_last_resubmission_and_reports_the_rest(tmp_path):
    archive = make_zip(
        tmp_path / "submissions.zip",
        {
            "doejane_104577_5530123_assignment.ipynb": NB + b" ",
            "doejane_104577_5530123_assignment-1.ipynb": NB + b"  ",
            "doejane_104577_5530123_assignment-2.ipynb": NB,
            "smithbob_late_220011_5530999_assignment.ipynb": NB,
            "smithbob_late_220011_5530999_screenshot.png": b"\x89PNG",
            "readme.txt": b"hello",
        },
    )
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    result = import_zip(archive, tmp_path / "out")
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["104577.ipynb", "220011.ipynb"]
    assert result.sources["104577"] == "doejane_104577_5530123_assignment-2.ipynb"
    assert (tmp_path / "out" / "104577.ipynb").read_bytes() == NB
    reasons = dict(result.unmapped)
    assert reasons["doejane_104577_5530123_assignment.ipynb"].startswith("superseded by")
    assert reasons["doejane_104577_5530123_assignment-1.ipynb"].startswith("superseded by")
    assert reasons["smithbob_late_220011_5530999_screenshot.png"] == "not a notebook (.png)"
    assert reasons["readme.txt"] == "not a notebook (.txt)"
    assert len(result.unmapped) == 4


def test_moodle_folders_and_an_ambiguous_student(tmp_path):
    archive = make_zip(
        tmp_path / "moodle.zip",
        {
            "Jane Doe_88121_assignsubmission_file_/assignment.ipynb": NB,
            "Bob Smith_88122_assignsubmission_file_/assignment.ipynb": NB,
            "Bob Smith_88122_assignsubmission_file_/copy of assignment.ipynb": NB,
            "Bob Smith_88122_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
            "__MACOSX/._x": b"",
            ".DS_Store": b"",
        },
    )
    result = import_zip(archive, tmp_path / "out", lms="moodle")
    assert sorted(result.notebooks) == ["88121"]
    reasons = dict(result.unmapped)
    assert "cannot be ordered" in reasons["Bob Smith_88122_assignsubmission_file_/assignment.ipynb"]
    assert "cannot be ordered" in reasons["Bob Smith_88122_assignsubmission_file_/copy of assignment.ipynb"]
    assert reasons["Bob Smith_88122_assignsubmission_onlinetext_/onlinetext.html"] == "not a notebook (.html)"
    assert len(result.unmapped) == 3


def test_blackboard_keeps_the_latest_attempt_and_ignores_receipts(tmp_path):
    archive = make_zip(
        tmp_path / "gradebook.zip",
        {
            "Week 1_jdoe3_attempt_2026-11-02-17-45-09_assignment.ipynb": NB + b" ",
            "Week 1_jdoe3_attempt_2026-11-02-17-45-09.txt": b"Name: Jane Doe",
            "Week 1_jdoe3_attempt_2026-11-03-09-01-00_assignment.ipynb": NB,
            "Week 1_jdoe3_attempt_2026-11-03-09-01-00.txt": b"Name: Jane Doe",
        },
    )
    result = import_zip(archive, tmp_path / "out")
    assert (tmp_path / "out" / "jdoe3.ipynb").read_bytes() == NB
    assert result.unmapped == [
        (
            "Week 1_jdoe3_attempt_2026-11-02-17-45-09_assignment.ipynb",
            "superseded by Week 1_jdoe3_attempt_2026-11-03-09-01-00_assignment.ipynb",
        )
    ]


def test_hostile_entries_are_reported_never_written(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.ipynb", NB)
        zf.writestr("/abs/root.ipynb", NB)
        link = zipfile.ZipInfo("link.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("huge.ipynb", b"x" * 2000)
        zf.writestr("inner.zip", b"PK")
    result = import_zip(archive, tmp_path / "out", max_bytes=1000)
    assert result.notebooks == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip", "out"]
    reasons = dict(result.unmapped)
    assert reasons["../../escape.ipynb"] == "a path outside the archive's folder"
    assert reasons["/abs/root.ipynb"] == "a path outside the archive's folder"
    assert reasons["link.ipynb"] == "a symbolic link, not a file"
    assert "over the limit of 1,000" in reasons["huge.ipynb"]
    assert reasons["inner.zip"] == "not a notebook (.zip)"


def test_bad_archives_and_folders_are_refused_with_a_reason(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable zip file"):
        import_zip(tmp_path / "broken.zip", tmp_path / "out")
    make_zip(tmp_path / "ok.zip", {"ada.ipynb": NB})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not empty"):
        import_zip(tmp_path / "ok.zip", tmp_path / "full")
    with pytest.raises(ValueError, match="unknown LMS"):
        import_zip(tmp_path / "ok.zip", tmp_path / "new", lms="sakai")
