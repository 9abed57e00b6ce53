"""Grading throughput: a folder of mixed week-1 submissions graded with 1 worker and with 2, in the sandbox, and
the fixed cost of one submission beyond executing its cells.

The submissions cycle through seven kinds: the solution, the untouched stub, a partial one (two loops without the
square root), the stub with ``one_hot`` solved, a hostile one (the hidden check patched to print a pass), one
whose kernel exits half-way and a broken file (not JSON); ``--endless`` of them (default 2) are replaced by a loop
that ignores Ctrl-C. First a clean run grades one submission of each kind but the endless alone; then both runs
grade the whole folder through ``autograder.grade.grade`` with ``--timeout`` (default 60 s, about three times a
solved submission under two workers). Every submission must be graded or flagged, each endless one flagged at the
time limit, every other one must get its kind's score from the clean run, and the two runs must agree, or the
script fails.

The fixed cost: for a few submissions graded one at a time, the wall time of grading (nbgrader autograde, the
sandboxed kernel's start and stop, the feedback page) minus the time the kernel spent executing cells (from the
execution timestamps nbclient records in the autograded notebook) and minus the time the judges spent building
inputs and checking answers (recorded by the judge in the verdicts file). From the second submission of a worker on,
its kernel was started while the one before was reported on (autograder/kernels.py), as in a real run.

Run from the repository root, as root (the sandbox needs it), on an otherwise idle machine:

    python benchmarks/grading.py [--count 100] [--fixed 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from nbformat.v4 import new_code_cell  # noqa: E402

from autograder import notebooks  # noqa: E402
from autograder.course import NOTEBOOK, SOURCE_DIR, temporary_course  # noqa: E402
from autograder.grade import REQUIRED, _grade_one, grade  # noqa: E402

WEEK = "week01_linear_algebra"
KINDS = ("solved", "stub", "partial", "one_hot", "hostile", "crash", "broken")
ENDLESS = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def submission(kind: str, release, source) -> nbformat.NotebookNode:
    solved = notebooks.solved_submission(release, source)
    if kind == "solved":
        return solved
    if kind == "partial":
        for cell in solved.cells:
            if _grade_id(cell) == "l2_distances_two_loops":
                cell.source = cell.source.replace("np.sqrt(np.sum((X[i] - Y[j]) ** 2))", "np.sum((X[i] - Y[j]) ** 2)")
        return solved
    nb = nbformat.from_dict(release)
    if kind in ("one_hot", "hostile", "crash"):
        answer = next(c.source for c in solved.cells if _grade_id(c) == "one_hot")
        for cell in nb.cells:
            if _grade_id(cell) == "one_hot":
                cell.source = answer
    setup = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == "setup")
    if kind == "hostile":
        nb.cells.insert(setup + 1, new_code_cell("import dlfs.grading\ndlfs.grading.check = lambda *a, **k: print('ok')"))
    if kind == "crash":
        nb.cells.insert(len(nb.cells) // 2, new_code_cell("import os\nos._exit(1)"))
    if kind == "endless":
        nb.cells.insert(len(nb.cells) // 2, new_code_cell(ENDLESS))
    return nb


def write_submission(kind: str, release, source, path: Path) -> None:
    if kind == "broken":
        path.write_text('{"cells": [ {"cell_type": "code", "source": "not a notebook ')
    else:
        nbformat.write(submission(kind, release, source), path)


def cell_seconds(graded: Path) -> float:
    """Seconds the kernel spent executing the cells of an autograded notebook (nbclient's timestamps)."""
    total = 0.0
    for cell in nbformat.read(graded, as_version=4).cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            total += (end - start).total_seconds()
    return total


def fixed_cost(folder: Path, out: Path, count: int) -> list[tuple[str, float, float, float]]:
    """(student, wall, cell, judge seconds) of ``count`` submissions graded one at a time in the sandbox, by one
    long-lived worker as ``grade`` does (the first submission also pays for starting it)."""
    rows = []
    (out / "feedback").mkdir(parents=True)
    with temporary_course(WEEK, REQUIRED, persistent=True) as course:
        timed = [p for p in sorted(folder.glob("*.ipynb")) if not p.stem.endswith(("_broken", "_endless"))]
        for path in timed[:count]:
            start = time.perf_counter()
            _grade_one(course, path, out, set(), 600)
            wall = time.perf_counter() - start
            judged = json.loads((out / "verdicts" / f"{path.stem}.json").read_text())["judge_seconds"]
            cells = cell_seconds(course.root / "autograded" / path.stem / WEEK / NOTEBOOK)
            rows.append((path.stem, wall, cells, judged))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="submissions in the folder (default 100)")
    parser.add_argument("--fixed", type=int, default=6, help="submissions timed one by one for the fixed cost")
    parser.add_argument("--fixed-only", action="store_true", help="measure the fixed cost only")
    parser.add_argument("--endless", type=int, default=2, help="endless submissions among them (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    args = parser.parse_args()

    source = nbformat.read(SOURCE_DIR / WEEK / NOTEBOOK, as_version=4)
    release = nbformat.read(REPO / WEEK / NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory(prefix="dlfs-bench-") as scratch:
        folder = Path(scratch) / "submissions"
        folder.mkdir()
        for number in range(args.count):
            kind = "endless" if number >= args.count - args.endless else KINDS[number % len(KINDS)]
            write_submission(kind, release, source, folder / f"s{number:03d}_{kind}.ipynb")
        clean = Path(scratch) / "clean"
        clean.mkdir()
        for kind in KINDS:
            write_submission(kind, release, source, clean / f"{kind}.ipynb")

        rows = fixed_cost(folder, Path(scratch) / "fixed", args.fixed)
        print(f"{'submission':<20}{'wall s':>8}{'cells s':>9}{'judges s':>10}{'fixed s':>9}")
        for student, wall, cells, judged in rows:
            print(f"{student:<20}{wall:>8.2f}{cells:>9.2f}{judged:>10.2f}{wall - cells - judged:>9.2f}")
        later = rows[1:] or rows
        print(f"fixed cost per submission, beyond its cells and the judges (median of all but the first): "
              f"{statistics.median(w - c - j for _, w, c, j in later):.2f} s; with the judges "
              f"{statistics.median(w - c for _, w, c, _ in later):.2f} s")

        if args.fixed_only:
            return
        expected = {r.student: (r.status, r.score) for r in grade(WEEK, clean, Path(scratch) / "clean_out",
                                                                     timeout=args.timeout)}
        print("clean run, one of each kind:", ", ".join(f"{k} {s} {p}" for k, (s, p) in expected.items()))
        scores, seconds = {}, {}
        for workers in (1, 2):
            start = time.perf_counter()
            results = grade(WEEK, folder, Path(scratch) / f"out{workers}", timeout=args.timeout, workers=workers)
            seconds[workers] = time.perf_counter() - start
            scores[workers] = {r.student: (r.status, r.score) for r in results}
            per = statistics.mean(r.seconds for r in results)
            print(f"{workers} worker(s): {args.count} submissions in {seconds[workers]:.0f} s "
                  f"({seconds[workers] / args.count:.1f} s each; a submission takes {per:.1f} s of wall time)")
            wrong = []
            for r in results:
                kind = r.student.split("_", 1)[1]
                if kind == "endless":
                    if not (r.status == "flagged" and "did not finish within" in r.reason):
                        wrong.append(f"{r.student}: {r.status} {r.reason}")
                elif (r.status, r.score) != expected[kind]:
                    wrong.append(f"{r.student}: {r.status} {r.score}, the clean run gave {expected[kind]}")
            if wrong or len(results) != args.count:
                raise SystemExit(f"{workers} worker(s): {len(results)} rows; not as the clean run: {wrong}")
            print(f"  all {len(results)} graded or flagged; every score as in the clean run; "
                  f"{sum(r.status == 'flagged' for r in results)} flagged")
        if scores[1] != scores[2]:
            raise SystemExit(f"the two runs disagree: {set(scores[1].items()) ^ set(scores[2].items())}")
        print(f"speed-up with 2 workers: {seconds[1] / seconds[2]:.2f}x (same scores in both runs)")


if __name__ == "__main__":
    main()
