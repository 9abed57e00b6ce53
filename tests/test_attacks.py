"""Hostile submissions graded through ``python -m autograder grade``: none scores more than it would without
its attack, and the honest submissions in the same folder keep their grades.

The base is the stub with ``one_hot`` solved (2 of 39 points, honestly). Each attack adds one cell after
the set-up cell; grading judges the answers outside the kernel, so what the cell patches, prints, hides
or writes changes no verdict. They are graded as ``grade`` grades, in the sandbox; what the
sandbox stops (reading the grader's files, the network, memory and process bombs) keeps the honest points and
leaves its trace in the submission's own feedback. One run without the sandbox checks the file snapshot.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import notebooks
from autograder.course import NOTEBOOK, REPO, SOURCE_DIR
from autograder.grade import grade

pytestmark = [pytest.mark.pipeline, pytest.mark.autograder]

WEEK = "week01_linear_algebra"
HONEST = 2.0

CHANGE_COURSE_FILES = """
    import pathlib, dlfs
    repo = pathlib.Path(dlfs.__file__).resolve().parents[1]
    target = repo / "autograder" / "cases" / "w01_broadcasting.py"
    try:
        target.write_text(target.read_text() + "\\nraise SystemExit('tampered')\\n")
    except OSError as err:
        print("could not change the course files:", type(err).__name__)
"""

ATTACKS = {
    # the name the hidden cell calls, replaced by one that prints a pass
    "patch_check": """
        import dlfs.grading
        dlfs.grading.check = lambda *args, **kwargs: print("\u2713 all hidden tests passed")
    """,
    # the instructor side imported anyway (its files are readable) and its registry replaced; visible checks too
    "replace_cases": """
        import sys, pathlib, dlfs, dlfs.checks
        sys.path.insert(0, str(pathlib.Path(dlfs.__file__).resolve().parents[1]))
        try:
            import autograder.protocol as protocol
            for spec in list(protocol.CASES.values()):
                protocol.CASES[spec.case_id] = spec.__class__(spec.case_id, lambda rng: ({}, lambda a, c: "ok"), False, "x")
        except Exception as err:
            print("could not import the autograder:", err)
        dlfs.checks.check_array = lambda *args, **kwargs: 0.0
        dlfs.checks.call = lambda fn, *args, **kwargs: None
    """,
    # every error made invisible
    "hide_errors": """
        ip = get_ipython()
        ip.showtraceback = lambda *args, **kwargs: None
        ip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
    """,
    # every later cell blanked before it runs
    "blank_cells": """
        get_ipython().input_transformers_post.append(lambda lines: [])
    """,
    "sys_exit": """
        import sys
        sys.exit(0)
    """,
    "kill_kernel": """
        import os
        os._exit(0)
    """,
    "patch_numpy": """
        import numpy as np
        np.allclose = lambda *args, **kwargs: True
        np.array_equal = lambda *args, **kwargs: True
        np.testing.assert_allclose = lambda *args, **kwargs: None
        np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)
    """,
    # answers forged before every cell, and a pickle where an array should be
    "forge_answers": """
        import json, os, pathlib
        import numpy as np

        def forge(*_):
            root = pathlib.Path(os.environ.get("DLFS_GRADING", "/nonexistent"))
            for case in (root / "inputs").glob("*"):
                out = root / "answers" / case.name
                out.mkdir(parents=True, exist_ok=True)
                np.save(out / "0.npy", np.array([object()], dtype=object), allow_pickle=True)
                tree = {"dict": {"results": {"list": [{"array": "0.npy"}] * 40}, "changed": {"list": [{"list": []}] * 40}}}
                (out / "tree.json").write_text(json.dumps(tree))

        get_ipython().events.register("pre_run_cell", forge)
        get_ipython().events.register("post_run_cell", forge)
    """,
    # the public test labels written as the submission, with a model that does not predict them
    "kaggle_labels": """
        import numpy as np
        from dlfs.kaggle import answers, digit_recognizer
        W, b = np.zeros((784, 10)), np.zeros(10)
        digit_recognizer()
        import pandas as pd
        pd.DataFrame({"ImageId": np.arange(1, 10001), "Label": answers()}).to_csv("submission.csv", index=False)
    """,
    # k-NN that looks the test digits' labels up in the shipped data
    "knn_lookup": """
        import numpy as np
        from dlfs.data import load_mnist
        _labels = load_mnist().y_test

        def knn_predict(dists, y_train, k):
            return _labels[: dists.shape[0]].copy()
    """,
    # the grader's own files rewritten on disk (in the sandbox they are not there, and dlfs/ is read-only)
    "change_course_files": CHANGE_COURSE_FILES,
    # the memory limit reached inside a function: MemoryError in this cell, the others keep their points
    "memory_bomb": """
        import numpy as np

        def hog():
            blocks = []
            while True:
                blocks.append(np.ones(2**27))  # 1 GiB each, touched

        hog()
    """,
    # processes until the limit; they sleep, and die with the kernel
    "fork_bomb": """
        import os, time
        for _ in range(100_000):
            if os.fork() == 0:
                time.sleep(3600)
                os._exit(0)
    """,
    # looks for the grader's secrets and prints what it can read: its outputs reach its feedback page
    "read_secrets": """
        import glob, os, pathlib, dlfs
        repo = pathlib.Path(dlfs.__file__).resolve().parents[1]
        places = [repo / "autograder" / "cases", repo / "autograder" / "source", repo / "solutions", repo / ".git"]
        found = [str(p) for p in places if p.exists()]
        found += glob.glob("/tmp/dlfs-*/gradebook.db") + glob.glob("/tmp/**/gradebook.db", recursive=True)
        found += glob.glob("/var/tmp/dlfs-sandbox-*/config.json")  # this kernel's own box, and other workers'
        found += [p for p in glob.glob("/var/tmp/dlfs-sandbox-*/shared/home") if p != os.environ["HOME"]]
        print("SECRETS FOUND:", found if found else "none")
    """,
    # 100 MB printed: the grader keeps the first megabyte of a cell's output, the page stays small
    "huge_output": """
        import sys
        for _ in range(100):
            sys.stdout.write("x" * 1_000_000 + "\\n")
        print("HUGE OUTPUT:", "all written")  # never shown: the output was cut before
    """,
    # tries to send something out
    "network": """
        import urllib.request
        try:
            urllib.request.urlopen("https://pypi.org/simple/numpy/", timeout=5)
            print("NETWORK: reached")
        except Exception as err:
            print("NETWORK: none", type(err).__name__)
    """,
}


#: Graded in every `make test`; the others only in the full set (`pytest -m adversarial`, which CI runs too).
QUICK = ("patch_check", "forge_answers", "kill_kernel", "change_course_files", "memory_bomb", "fork_bomb",
         "read_secrets", "huge_output", "network")
FULL = tuple(name for name in ATTACKS if name not in QUICK)


def _with_cafe(nb: nbformat.NotebookNode) -> str:
    """The notebook's JSON with a non-ASCII word in its first markdown cell."""
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    first.source += "\n\nCafé notes — written elsewhere."
    return nbformat.writes(nb)


def _without_a_test_cell(path) -> None:
    """The honest submission with a test cell of the task it solved deleted: nbgrader puts it back, and the points
    of one_hot stay (without that, they would be lost)."""
    nb = _base()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_one_hot_values"]
    nbformat.write(nb, path)


#: Attacks in the file rather than the code: (how the file is made, the status it must get, what its row says).
FILES = {
    "old_format": (lambda path: nbformat.write(_base(), path, version=3), "graded", ""),
    "not_utf8": (lambda path: path.write_bytes(_with_cafe(_base()).encode("cp1252", errors="replace")), "flagged",
                 "not UTF-8 (byte 0x"),
    "empty": (lambda path: path.write_bytes(b""), "flagged", "an empty file"),
    "deleted_test_cell": (_without_a_test_cell, "graded", ""),
    "wrong_week": (lambda path: shutil.copy(REPO / "week02_backprop" / NOTEBOOK, path), "flagged",
                   "not week01_linear_algebra's assignment"),
}


def _base() -> nbformat.NotebookNode:
    source = nbformat.read(SOURCE_DIR / WEEK / NOTEBOOK, as_version=4)
    release = nbformat.read(REPO / WEEK / NOTEBOOK, as_version=4)
    solved = notebooks.solved_submission(release, source)
    answer = next(c.source for c in solved.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "one_hot")
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "one_hot":
            cell.source = answer
    return release


def _with_attack(code: str) -> nbformat.NotebookNode:
    nb = _base()
    setup = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    nb.cells.insert(setup + 1, new_code_cell(textwrap.dedent(code).strip()))
    return nb


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _graded(tmp_path_factory, attacks, files=()):
    folder = tmp_path_factory.mktemp("submissions")
    source = nbformat.read(SOURCE_DIR / WEEK / NOTEBOOK, as_version=4)
    release = nbformat.read(REPO / WEEK / NOTEBOOK, as_version=4)
    nbformat.write(notebooks.solved_submission(release, source), folder / "solved.ipynb")
    nbformat.write(_base(), folder / "honest.ipynb")
    for name in attacks:
        nbformat.write(_with_attack(ATTACKS[name]), folder / f"{name}.ipynb")
    for name in files:
        FILES[name][0](folder / f"{name}.ipynb")
    before_files = {p.name: _digest(p) for p in folder.iterdir()}
    protected = REPO / "autograder" / "cases" / "w01_broadcasting.py"
    before = _digest(protected)
    out = tmp_path_factory.mktemp("out")
    # Two workers, as a class is graded: the speed case of the solved notebook is timed by its sandbox's CPU time,
    # which the other worker does not slow (by the wall clock it once fell to 19.6x against its 20x bar in CI).
    results = {r.student: r for r in grade(WEEK, folder, out, timeout=600, workers=2)}
    assert _digest(protected) == before, "a submission changed the course files"
    assert {p.name: _digest(p) for p in folder.iterdir()} == before_files, "grading changed a submitted file"
    return results, out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return _graded(tmp_path_factory, QUICK, FILES)


@pytest.fixture(scope="module")
def graded_full(tmp_path_factory):
    return _graded(tmp_path_factory, FULL)


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory):
    """Without the sandbox (``--no-sandbox``), the course files are writable: the snapshot undoes a change."""
    folder = tmp_path_factory.mktemp("unsandboxed")
    nbformat.write(_base(), folder / "honest.ipynb")
    nbformat.write(_with_attack(CHANGE_COURSE_FILES), folder / "change_course_files.ipynb")
    protected = REPO / "autograder" / "cases" / "w01_broadcasting.py"
    before = _digest(protected)
    out = tmp_path_factory.mktemp("out")
    results = {r.student: r for r in grade(WEEK, folder, out, timeout=600, sandbox=None)}
    assert _digest(protected) == before, "a submission's change to the course files was not undone"
    return results, out


def test_honest_submissions_keep_their_grades(graded):
    results, _ = graded
    assert (results["solved"].status, results["solved"].score, results["solved"].max_score) == ("graded", 39, 39)
    assert (results["honest"].status, results["honest"].score) == ("graded", HONEST)


@pytest.mark.parametrize("attack", QUICK)
def test_an_attack_earns_nothing(graded, attack):
    results, _ = graded
    result = results[attack]
    assert result.status == "graded", result.reason
    assert result.score <= HONEST, f"{attack} scored {result.score}"


@pytest.mark.adversarial
@pytest.mark.parametrize("attack", FULL)
def test_an_attack_of_the_full_set_earns_nothing(graded_full, attack):
    results, _ = graded_full
    assert (results["solved"].score, results["honest"].score) == (39, HONEST)
    result = results[attack]
    assert result.status == "graded", result.reason
    assert result.score <= HONEST, f"{attack} scored {result.score}"


@pytest.mark.parametrize("name", FILES)
def test_a_file_attack_is_graded_as_honest_or_flagged_with_its_reason(graded, name):
    results, _ = graded
    _, status, reason = FILES[name]
    result = results[name]
    assert result.status == status and reason in result.reason, result
    if status == "graded":
        assert result.score == HONEST


def test_huge_output_is_cut_and_its_page_stays_small(graded):
    results, out = graded
    page = out / "feedback" / "huge_output.html"
    assert results["huge_output"].score == HONEST
    assert page.stat().st_size < 4_000_000, f"{page.stat().st_size:,} bytes"
    text = notebooks.html_text(page.read_text())
    assert "the grader kept the first 2,000,000 bytes of this cell's output" in text, text[-3000:]
    assert "HUGE OUTPUT: all written" not in text


@pytest.mark.parametrize("attack", ["memory_bomb", "fork_bomb", "network", "read_secrets", "change_course_files"])
def test_an_attack_the_sandbox_stops_keeps_the_honest_points(graded, attack):
    results, _ = graded
    assert results[attack].score == HONEST, results[attack]


@pytest.mark.parametrize("attack, shown", [
    ("read_secrets", "SECRETS FOUND: none"),
    ("network", "NETWORK: none"),
    ("change_course_files", "could not change the course files: "),
    ("memory_bomb", "MemoryError"),
])
def test_what_the_sandbox_left_the_attack_is_in_its_feedback(graded, attack, shown):
    _, out = graded
    assert shown in notebooks.html_text((out / "feedback" / f"{attack}.html").read_text())


def test_without_the_sandbox_changing_the_course_files_is_flagged_and_undone(unsandboxed):
    results, out = unsandboxed
    assert (results["honest"].status, results["honest"].score) == ("graded", HONEST)
    result = results["change_course_files"]
    assert result.status == "flagged" and "changed the course's files" in result.reason
    assert "autograder/cases/w01_broadcasting.py" in result.reason
    kept = out / "quarantine" / "change_course_files" / "autograder" / "cases" / "w01_broadcasting.py"
    assert kept.read_bytes() != (REPO / "autograder" / "cases" / "w01_broadcasting.py").read_bytes(), "not kept"
    with (out / "grades.csv").open() as handle:
        assert {row["student_id"] for row in csv.DictReader(handle)} == {"honest", "change_course_files"}


def test_grades_csv_holds_every_submission(graded):
    _, out = graded
    with (out / "grades.csv").open() as handle:
        assert {row["student_id"] for row in csv.DictReader(handle)} == {"solved", "honest", *QUICK, *FILES}


def test_a_dead_kernel_still_gets_a_grade_and_a_reason(graded):
    _, out = graded
    page = (out / "feedback" / "kill_kernel.html").read_text()
    assert "no answer recorded: the kernel died" in notebooks.html_text(page)


def test_a_run_stopped_midway_still_restores_the_course_files(tmp_path):
    """`kill` while a submission that rewrote the course files is still running: they are put back before
    the grader exits (nbgrader and the kernel are stopped with it)."""
    protected = REPO / "autograder" / "cases" / "w01_broadcasting.py"
    before = protected.read_bytes()
    folder = tmp_path / "submissions"
    folder.mkdir()
    stalling = CHANGE_COURSE_FILES + "\n    import time\n    time.sleep(600)\n"
    nbformat.write(_with_attack(stalling), folder / "stalls.ipynb")
    command = [sys.executable, "-m", "autograder", "grade", WEEK, str(folder), "--out", str(tmp_path / "out"),
               "--no-sandbox"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while protected.read_bytes() == before:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the submission never reached its rewriting cell"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        log, _ = process.communicate(timeout=120)
        assert protected.read_bytes() == before, log
        assert "the course files it changed were restored: autograder/cases/w01_broadcasting.py" in log
        kept = tmp_path / "out" / "quarantine" / "interrupted" / "autograder" / "cases" / "w01_broadcasting.py"
        assert kept.read_bytes() != before, "the rewritten file was not kept in quarantine"
    finally:
        if process.poll() is None:
            process.kill()
        protected.write_bytes(before)
