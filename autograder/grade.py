"""``grade``: a folder of student notebooks -> nbgrader autograde -> feedback HTML and grades.csv.

The file name (without ``.ipynb``) is the student id. Submissions are copied into a temporary course;
the folder they came from is only read. Every submission ends in grades.csv, either ``graded`` with
its score per test or ``flagged`` with the reason (unreadable notebook, unusable file name, nbgrader
failure or time-out). A feedback page that would show hidden test source is not written.
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import notebooks
from autograder.build import checking_code, reference_code
from autograder.course import NOTEBOOK, SOURCE_DIR, Course, NbgraderError, temporary_course
from autograder.integrity import Snapshot

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
#: Seconds one submission may take to autograde (all its cells together) before it is flagged.
DEFAULT_TIMEOUT = 900.0


@dataclass
class Result:
    student: str
    status: str  # "graded" or "flagged"
    score: float | None = None
    max_score: float | None = None
    reason: str = ""
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook; ValueError with a short reason when it is not one."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # malformed JSON, wrong schema, unreadable bytes: all mean "not a notebook"
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise ValueError(f"not a valid notebook ({type(err).__name__}: {first})") from err
    return nb


def _grade_one(course: Course, path: Path, out: Path, secrets: set[str], timeout: float) -> Result:
    student = path.stem
    if not STUDENT_ID.match(student):
        return Result(path.name, "flagged", reason="the file name is not a usable student id "
                      "(letters, digits, '.', '_', '-', '@'; starting with a letter or digit)")
    try:
        nb = read_submission(path)
    except ValueError as err:
        return Result(student, "flagged", reason=str(err))
    try:
        course.submit(student, nb)
        course.autograde(student, timeout=timeout)
        score, max_score, cells = course.scores(student)
        page = course.feedback(student)
    except NbgraderError as err:
        return Result(student, "flagged", reason=str(err).splitlines()[0])
    # What the student wrote is theirs to see, whatever it coincides with.
    own = "\n".join(notebooks.notebook_text_lines(nb))
    shown = notebooks.leaked_into(notebooks.html_text(page.read_text()), {s for s in secrets if s not in own})
    if shown:
        return Result(student, "flagged", score, max_score, "feedback would show hidden test source "
                      f"({shown[0]!r}); not written (fix the source notebook)", cells)
    shutil.copy(page, out / "feedback" / f"{student}.html")
    return Result(student, "graded", score, max_score, "", cells)


def write_grades(results: list[Result], path: Path) -> None:
    """grades.csv: one row per submission, with the points of every test cell."""
    tests = sorted({name for result in results for name in result.cells})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "status", "score", "max_score", "reason", *tests])
        for r in results:
            writer.writerow(
                [r.student, r.status, "" if r.score is None else f"{r.score:g}",
                 "" if r.max_score is None else f"{r.max_score:g}", r.reason,
                 *(f"{r.cells[t][0]:g}" if t in r.cells else "" for t in tests)]
            )


def import_submissions(archive: Path, out: Path, lms: str = "auto") -> tuple[Path, list[Result]]:
    """Unpack an LMS export into ``out/submissions/<id>.ipynb``; flagged rows for every entry that maps no one."""
    from autograder.lms import import_zip

    folder = out / "submissions"
    if folder.exists():
        shutil.rmtree(folder)  # ours from an earlier run of the same archive: re-import, idempotent
    imported = import_zip(archive, folder, lms)
    rows = [Result(entry, "flagged", reason=f"in {archive.name}, not graded: {reason}") for entry, reason in imported.unmapped]
    for student, entry in sorted(imported.sources.items()):
        print(f"{entry} -> {student}.ipynb", flush=True)
    return folder, rows


def grade(week: str, folder: Path, out: Path, timeout: float = DEFAULT_TIMEOUT, lms: str = "auto") -> list[Result]:
    """Grade every ``*.ipynb`` in ``folder`` (or in an LMS zip export); write ``out/grades.csv`` and
    ``out/feedback/<id>.html``. Entries of a zip that map no student are rows of grades.csv, flagged with why."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    unmapped: list[Result] = []
    if folder.is_file() and folder.suffix.lower() == ".zip":
        folder, unmapped = import_submissions(folder, out, lms)
    paths = sorted(folder.glob("*.ipynb"))
    if not paths and not unmapped:
        raise SystemExit(f"No notebooks (*.ipynb) in {folder}.")
    source = nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)
    secrets = notebooks.secret_lines(source, notebooks.HIDDEN) | reference_code() | checking_code()
    results = []
    snapshot = Snapshot()
    # Stopped from outside (Ctrl-C, `kill`), the course files are still put back before the process ends:
    # a submission that rewrote them would otherwise leave them rewritten for the next run to trust.
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        with temporary_course(week) as course:
            for number, path in enumerate(paths, 1):
                result = _grade_one(course, path, out, secrets, timeout)
                touched = snapshot.restore(out / "quarantine" / result.student)
                if touched:  # its verdicts may have been judged by altered code: not to be trusted
                    (out / "feedback" / f"{result.student}.html").unlink(missing_ok=True)
                    result = Result(result.student, "flagged", reason=f"the submission changed the course's files "
                                    f"({', '.join(touched[:3])}{', ...' if len(touched) > 3 else ''}); they were "
                                    f"restored (its versions are in quarantine/{result.student}/) and the "
                                    "submission needs a look by hand")
                shown = f"{result.score:g}/{result.max_score:g}" if result.score is not None else result.reason
                print(f"[{number}/{len(paths)}] {result.student}: {result.status} {shown}", flush=True)
                results.append(result)
    finally:
        touched = snapshot.restore(out / "quarantine" / "interrupted")
        signal.signal(signal.SIGTERM, previous)
        if touched:
            print(f"grading was interrupted; the course files it changed were restored: {', '.join(touched)}",
                  file=sys.stderr, flush=True)
    results += unmapped
    write_grades(results, out / "grades.csv")
    return results


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")
