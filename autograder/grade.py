"""``grade``: a folder of student notebooks -> nbgrader autograde -> feedback HTML and grades.csv.

The file name (without ``.ipynb``) is the student id. Submissions are copied into a temporary course;
the folder they came from is only read. Every submission ends in grades.csv, either ``graded`` with
its score per test or ``flagged`` with the reason (unreadable notebook, unusable file name, nbgrader
failure or time-out). A feedback page that would show hidden test source is not written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import queue
import re
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from autograder import notebooks, protocol, report
from autograder.build import checking_code, reference_code
from autograder.course import NOTEBOOK, REPO, SOURCE_DIR, WEEKS, Course, NbgraderError, stop_running, temporary_course
from autograder.integrity import Snapshot
from autograder.sandbox import Limits

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
#: Seconds one submission may take to autograde (all its cells together) before it is flagged, when ``validate``
#: has not measured the solution yet; otherwise TIMEOUT_FACTOR times the solution's time, at least MIN_TIMEOUT.
DEFAULT_TIMEOUT = 900.0
TIMEOUT_FACTOR, MIN_TIMEOUT = 4.0, 120.0
#: Where ``validate`` records the solution's grading time, beside the source notebook.
TIMING = "timing.json"


@dataclass
class Result:
    student: str
    status: str  # "graded" or "flagged"
    score: float | None = None
    max_score: float | None = None
    reason: str = ""
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: float = float("nan")  # wall time of grading it (timings.csv, not grades.csv: runs stay byte-identical)
    judge_seconds: float = float("nan")  # of which the judges took (building inputs, checking answers)


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook (an older format is converted to 4, as Jupyter does); ValueError with a short
    reason when it is not one: an empty file, text that is not UTF-8, not JSON, not a notebook's schema."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"the file cannot be read ({err.strerror})") from err
    if not data.strip():
        raise ValueError(f"an empty file ({len(data)} bytes): the notebook was not saved, or not uploaded whole")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        where = ("UTF-16 text" if data[:2] in (b"\xff\xfe", b"\xfe\xff")
                 else f"byte 0x{data[err.start]:02x} at offset {err.start}")
        raise ValueError(f"not UTF-8 ({where}), the encoding Jupyter saves notebooks in: another program re-encoded "
                         "it; open it in Jupyter and save it again") from err
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # malformed JSON, wrong schema, unreadable bytes: all mean "not a notebook"
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise ValueError(f"not a valid notebook ({type(err).__name__}: {first})") from err
    return nb


def _grade_one(course: Course, path: Path, out: Path, secrets: set[str], timeout: float) -> Result:
    """Grade one submission in ``course``; the Result's ``seconds`` is the wall time it took."""
    start = time.perf_counter()
    result = _graded(course, path, out, secrets, timeout)
    result.seconds = time.perf_counter() - start
    return result


def _graded(course: Course, path: Path, out: Path, secrets: set[str], timeout: float) -> Result:
    student = path.stem
    if not STUDENT_ID.match(student):
        return Result(path.name, "flagged", reason="the file name is not a usable student id "
                      "(letters, digits, '.', '_', '-', '@'; starting with a letter or digit)")
    try:
        nb = read_submission(path)
    except ValueError as err:
        return Result(student, "flagged", reason=str(err))
    wrong = _not_this_assignment(nb, course)
    if wrong:
        return Result(student, "flagged", reason=wrong)
    verdicts = out / report.VERDICTS / f"{student}.json"
    verdicts.unlink(missing_ok=True)  # from an earlier run: a submission graded now has this run's or none
    try:
        course.submit(student, nb)
        course.autograde(student, timeout=timeout, verdicts=verdicts)
        score, max_score, cells, page = course.scores_and_feedback(student)
    except NbgraderError as err:
        return Result(student, "flagged", reason=nbgrader_reason(str(err)))
    # What the student wrote is theirs to see, whatever it coincides with.
    own = "\n".join(notebooks.notebook_text_lines(nb))
    shown = notebooks.leaked_into(notebooks.html_text(page.read_text()), {s for s in secrets if s not in own})
    if shown:
        return Result(student, "flagged", score, max_score, "feedback would show hidden test source "
                      f"({shown[0]!r}); not written (fix the source notebook)", cells)
    shutil.copy(page, out / "feedback" / f"{student}.html")
    return Result(student, "graded", score, max_score, "", cells)


def _graded_ids(nb: nbformat.NotebookNode) -> set[str]:
    """The ids of the answer and test cells of a notebook."""
    found = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if (meta.get("grade") or meta.get("solution")) and meta.get("grade_id"):
            found.add(meta["grade_id"])
    return found


@cache
def _ids_in(release: Path) -> frozenset[str]:
    """The answer and test cell ids of a release notebook (none when it does not exist), read once per run."""
    return frozenset(_graded_ids(nbformat.read(release, as_version=4))) if release.exists() else frozenset()


def _not_this_assignment(nb: nbformat.NotebookNode, course: Course) -> str:
    """Why ``nb`` is not the course's assignment at all (none of its answer and test cells is there), or ""."""
    found, expected = _graded_ids(nb), _ids_in(course.release)
    if found & expected:
        return ""
    reason = f"not {course.week}'s assignment: none of its {len(expected)} answer and test cells is in the notebook"
    other = next((w for w in WEEKS if w != course.week and found & _ids_in(REPO / w / NOTEBOOK)), None)
    return f"{reason} (it is {other}'s)" if other else reason


#: An exception's last line in nbgrader's log, e.g. "ValidationError: Notebook failed to validate; ...".
_EXCEPTION = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")


def nbgrader_reason(message: str) -> str:
    """A flag's reason from an NbgraderError: its first line, with the exception nbgrader met when there is one
    (not its closing "see the traceback above")."""
    first, *rest = message.splitlines() or [""]
    found = [m.groups() for m in map(_EXCEPTION.match, rest) if m and m.group(1) != "NbGraderException"]
    if not found:
        return first
    name, text = found[-1]
    return f"{first} {name}: {text.strip()[:300]}"


def write_grades(results: list[Result], path: Path) -> None:
    """grades.csv: one row per submission, with the points of every test cell. Nothing measured goes in it, so two
    runs on the same submissions (local, with workers, on Dask) write the same bytes; the times go to timings.csv."""
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


def _seconds(value: float) -> str:
    return "" if value != value else f"{value:.1f}"


def write_timings(results: list[Result], path: Path) -> None:
    """timings.csv: per submission, the wall time of grading it and the part the judges took (seconds)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "seconds", "judge_seconds"])
        for r in results:
            writer.writerow([r.student, _seconds(r.seconds), _seconds(r.judge_seconds)])


def _take_judge_seconds(out: Path, result: Result) -> None:
    """Move the judges' time out of the verdicts file (which then holds verdicts only) into the result."""
    path = out / report.VERDICTS / f"{result.student}.json"
    try:
        record = json.loads(path.read_text())
        result.judge_seconds = float(record.pop("judge_seconds"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return
    path.write_text(json.dumps(record, indent=1))


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


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here; the message says why and how to grade without it."""


#: ``grade``'s default sandbox: the standard limits, and a refusal when the sandbox cannot run.
REQUIRED = Limits()


def default_timeout(week: str) -> float:
    """Seconds per submission: TIMEOUT_FACTOR times what the solution took to autograde when ``validate`` last
    ran (``autograder/source/<week>/timing.json``), at least MIN_TIMEOUT; DEFAULT_TIMEOUT when never measured."""
    record = SOURCE_DIR / week / TIMING
    try:
        seconds = float(json.loads(record.read_text())["solution_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_TIMEOUT
    return float(max(MIN_TIMEOUT, round(TIMEOUT_FACTOR * seconds)))


def record_timing(week: str, solution_seconds: float) -> Path:
    """Written by ``validate``: how long the solution takes to autograde (the base of the default time limit)."""
    record = SOURCE_DIR / week / TIMING
    record.write_text(json.dumps({"solution_seconds": round(solution_seconds, 1)}) + "\n")
    return record


def _sandbox(sandbox: Limits | None) -> Limits | None:
    if sandbox is None:
        print("grading WITHOUT the sandbox: the kernels run as this user, can read the course's files (gradebook, "
              "references, solutions) and other submissions, and can reach the network", file=sys.stderr, flush=True)
        return None
    from autograder.sandbox import problems, sweep

    found = problems()
    if found:
        raise SandboxUnavailable("the sandbox cannot run here: " + "; ".join(found) + ". Grade elsewhere, or pass "
                                 "--no-sandbox to grade without it (the kernels then run as you, read the course's "
                                 "files and reach the network).")
    swept = sweep()
    if swept:
        print(f"removed {swept} sandbox folder(s) left by a grader that was killed", file=sys.stderr, flush=True)
    return sandbox


def hidden_text(week: str) -> set[str]:
    """The lines no feedback page may show: the hidden tests' source, the references and the checks' code."""
    source = nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)
    return notebooks.secret_lines(source, notebooks.HIDDEN) | reference_code() | checking_code()


def grade(week: str, folder: Path, out: Path, timeout: float | None = None, lms: str = "auto",
          sandbox: Limits | None = REQUIRED, workers: int = 1, only: set[str] | None = None,
          dask: str | None = None) -> list[Result]:
    """Grade every ``*.ipynb`` in ``folder`` (or in an LMS zip export); write ``out/grades.csv``,
    ``out/timings.csv``, ``out/feedback/<id>.html`` and the class report (:mod:`autograder.report`). Entries of a
    zip that map no student are rows of grades.csv, flagged with why.

    ``sandbox``: the limits of each kernel's sandbox (:mod:`autograder.sandbox`), or None to grade without it.
    ``workers``: submissions graded at once, each worker in a temporary course of its own (this process alone
    writes ``out/``). ``dask``: grade on a Dask cluster instead, at this scheduler address, or ``local`` for a
    LocalCluster of ``workers`` processes (:mod:`autograder.cluster`); the outputs are the same.
    ``only``: regrade these students, keeping every other row of an existing grades.csv.
    ``timeout``: seconds per submission (default: :func:`default_timeout`).
    """
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    timeout = timeout or default_timeout(week)
    sandbox = _sandbox(sandbox)
    if (workers > 1 or dask) and sandbox is None:
        raise SandboxUnavailable("--workers and --dask need the sandbox: without it, a change to the course's files "
                                 "could not be traced to the one submission that made it.")
    unmapped: list[Result] = []
    if folder.is_file() and folder.suffix.lower() == ".zip":
        folder, unmapped = import_submissions(folder, out, lms)
    paths = sorted(folder.glob("*.ipynb"))
    if only is not None:
        missing = only - {p.stem for p in paths}
        if missing:
            raise ValueError(f"no submission of {', '.join(sorted(missing))} in {folder}")
        paths, unmapped = [p for p in paths if p.stem in only], []
    if not paths and not unmapped:
        raise SystemExit(f"No notebooks (*.ipynb) in {folder}.")
    # Largest notebooks first (the solved ones run longest): less time with one worker idle at the end.
    paths = sorted(paths, key=_size, reverse=True)
    snapshot = Snapshot()
    results = []
    # Stopped from outside (Ctrl-C, `kill`), the course files are still put back before the process ends:
    # a submission that rewrote them would otherwise leave them rewritten for the next run to trust.
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        with contextlib.ExitStack() as stack:
            if dask:
                try:
                    from autograder import cluster
                except ImportError as err:
                    raise SystemExit(f"--dask needs Dask distributed ({err}): pip install 'distributed==2026.8.0' "
                                     "(the version requirements-dev.txt pins)") from err

                client = stack.enter_context(cluster.connect(dask, workers))
                completed = cluster.run(client, week, paths, out, timeout, sandbox)
            else:
                completed = _local(stack, week, paths, out, timeout, sandbox, workers)
            progress = stack.enter_context(tqdm(total=len(paths), unit="notebook", file=sys.stderr,
                                                disable=None, dynamic_ncols=True))
            try:
                for result in completed:
                    result = _after(result, snapshot, out)
                    shown = f"{result.score:g}/{result.max_score:g}" if result.score is not None else result.reason
                    progress.write(f"{result.student}: {result.status} {shown} ({result.seconds:.0f} s)",
                                   file=sys.stderr)
                    progress.update()
                    results.append(result)
                # A speed verdict is only given by a timing alone: side by side, a neighbour can slow a kernel
                # (cache and memory traffic count in its CPU time too). Those found slow are timed again alone.
                slow_ids = {r.student for r in results if _too_slow(out, r.student)}
                slow = [path for path in paths if path.stem in slow_ids]
                if slow and (workers > 1 or dask):
                    progress.write(f"{len(slow)} found too slow while others were graded beside them: graded again, "
                                   "one at a time", file=sys.stderr)
                    completed = (cluster.run(client, week, slow, out, timeout, sandbox, one_at_a_time=True) if dask
                                 else _local(stack, week, slow, out, timeout, sandbox, 1))
                    for result in completed:
                        results = [r for r in results if r.student != result.student]
                        results.append(_after(result, snapshot, out))
            except BaseException:  # stopped: the workers' nbgrader processes and kernels stop with us
                completed.close()
                stop_running()
                raise
    finally:
        touched = snapshot.restore(out / "quarantine" / "interrupted")
        signal.signal(signal.SIGTERM, previous)
        if touched:
            print(f"grading was interrupted; the course files it changed were restored: {', '.join(touched)}",
                  file=sys.stderr, flush=True)
    results = sorted(results, key=lambda r: r.student) + unmapped
    if only is not None:
        results = _merge(out, results)
    write_grades(results, out / "grades.csv")
    write_timings(results, out / "timings.csv")
    report.write(out, results, week)
    return results


def _local(stack: contextlib.ExitStack, week: str, paths: list[Path], out: Path, timeout: float,
           sandbox: Limits | None, workers: int) -> Iterator[Result]:
    """Grade ``paths`` on this machine, ``workers`` at a time, each worker in a temporary course of its own;
    yield each Result as it completes."""
    secrets = hidden_text(week)
    courses: queue.Queue[Course] = queue.Queue()
    for _ in range(max(1, min(workers, len(paths)))):
        courses.put(stack.enter_context(temporary_course(week, sandbox, persistent=True)))
    pool = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, workers)))

    def grade_one(path: Path) -> Result:
        course = courses.get()
        try:
            return _grade_one(course, path, out, secrets, timeout)
        finally:
            courses.put(course)

    futures = [pool.submit(grade_one, path) for path in paths]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


def _too_slow(out: Path, student: str) -> bool:
    """Whether a speed case found this student's submission right but slower than its bar (its verdicts say)."""
    try:
        record = json.loads((out / report.VERDICTS / f"{student}.json").read_text())
        return any(v.get("mistake") == protocol.SLOW for v in record["verdicts"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _after(result: Result, snapshot: Snapshot, out: Path) -> Result:
    """A graded result, checked: the course's files put back if it changed them (and then flagged), the judges'
    time moved out of its verdicts file."""
    _take_judge_seconds(out, result)
    touched = snapshot.restore(out / "quarantine" / result.student)
    if not touched:
        return result
    # Its verdicts may have been judged by altered code: not to be trusted.
    (out / "feedback" / f"{result.student}.html").unlink(missing_ok=True)
    return Result(result.student, "flagged", reason=f"the submission changed the course's files "
                  f"({', '.join(touched[:3])}{', ...' if len(touched) > 3 else ''}); they were "
                  f"restored (its versions are in quarantine/{result.student}/) and the "
                  "submission needs a look by hand", seconds=result.seconds, judge_seconds=result.judge_seconds)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _merge(out: Path, fresh: list[Result]) -> list[Result]:
    """The rows of an existing ``out/grades.csv`` (and their times in timings.csv) with ``fresh`` results in place
    of their students' rows."""
    path = out / "grades.csv"
    if not path.exists():
        return fresh
    times: dict[str, dict[str, str]] = {}
    with contextlib.suppress(OSError), (out / "timings.csv").open(newline="") as handle:
        times = {row["student_id"]: row for row in csv.DictReader(handle)}
    by_student = {r.student: r for r in fresh}
    merged = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["student_id"] in by_student:
                merged.append(by_student.pop(row["student_id"]))
                continue
            fixed = {"student_id", "status", "score", "max_score", "reason", "seconds"}  # seconds: before timings.csv
            cells = {k: (float(v), float("nan")) for k, v in row.items() if k not in fixed and v not in ("", None)}
            timed = times.get(row["student_id"], {})
            merged.append(Result(row["student_id"], row["status"], float(row["score"]) if row["score"] else None,
                                 float(row["max_score"]) if row["max_score"] else None, row["reason"], cells,
                                 float(timed.get("seconds") or "nan"), float(timed.get("judge_seconds") or "nan")))
    return sorted([*merged, *by_student.values()], key=lambda r: r.student)


def summary(results: list[Result], slowest: int = 5) -> str:
    """The table printed at the end of a run: graded, flagged by reason, mean score, the slowest submissions."""
    graded = [r for r in results if r.status == "graded"]
    flagged = [r for r in results if r.status == "flagged"]
    lines = [f"{len(graded)} graded, {len(flagged)} flagged"]
    if graded:
        top = graded[0].max_score or 0
        mean = sum(r.score or 0 for r in graded) / len(graded)
        full = sum(r.score == r.max_score for r in graded)
        lines.append(f"mean score {mean:.1f}/{top:g}; full marks {full}, zero {sum(r.score == 0 for r in graded)}")
    reasons = Counter(_reason_kind(r.reason) for r in flagged)
    for reason, count in reasons.most_common():
        lines.append(f"  flagged {count:>4}  {reason}")
    timed = sorted((r for r in results if r.seconds == r.seconds), key=lambda r: -r.seconds)[:slowest]
    if timed:
        lines.append("slowest: " + ", ".join(f"{r.student} {r.seconds:.0f} s" for r in timed))
    return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    """A flag reason without its particulars (file names, numbers), to count alike reasons together."""
    return re.sub(r"\([^)]*\)|\d+(\.\d+)?", "…", reason.split(":")[0] if ": " in reason[:60] else reason)[:90]


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")
