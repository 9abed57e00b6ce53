"""The instructor's command line: ``python -m autograder {build,validate,grade,fixtures} ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.course import NbgraderError, resolve_week, weeks_with_source


def _weeks(names: list[str]) -> list[str]:
    return [resolve_week(name) for name in names] if names else weeks_with_source()


def cmd_build(args: argparse.Namespace) -> int:
    from autograder.build import BuildRefused, build, drift

    status = 0
    for week in _weeks(args.weeks):
        try:
            if args.check:
                found = drift(week)
                print("\n".join(found) if found else f"{week}: generated notebooks are up to date")
                status |= bool(found)
            else:
                seconds = build(week)
                print(f"{week}: wrote {week}/assignment.ipynb and solutions/{week}.ipynb ({seconds:.0f} s)")
        except BuildRefused as err:
            print(err, file=sys.stderr)
            status = 1
    return status


def cmd_validate(args: argparse.Namespace) -> int:
    from autograder.grade import record_timing
    from autograder.validate import table, validate_week

    rows = [validate_week(week) for week in _weeks(args.weeks)]
    print(table(rows))
    for row in rows:
        if row.ok and not args.no_record:
            path = record_timing(row.week, row.solution_seconds)
            print(f"recorded the solution's grading time ({row.solution_seconds:.0f} s) in {path}")
    return 0 if rows and all(row.ok for row in rows) else 1


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.grade import REQUIRED, SandboxUnavailable, grade, summary
    from autograder.sandbox import Limits, MiB

    week = resolve_week(args.week)
    is_zip = args.submissions.is_file() and args.submissions.suffix.lower() == ".zip"
    if not args.submissions.is_dir() and not is_zip:
        raise SystemExit(f"{args.submissions} is neither a folder of notebooks nor a .zip exported by an LMS.")
    out = args.out or Path("grading") / week
    sandbox = None if args.no_sandbox else Limits(memory=args.memory * MiB) if args.memory else REQUIRED
    try:
        results = grade(week, args.submissions, out, timeout=args.timeout, lms=args.lms, sandbox=sandbox,
                        workers=args.workers, only=set(args.student) if args.student else None, dask=args.dask)
    except (ValueError, FileExistsError, SandboxUnavailable) as err:
        raise SystemExit(str(err)) from None
    print(summary(results))
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}; class report: {out / 'class_report.html'}")
    return 0


def cmd_fixtures(args: argparse.Namespace) -> int:
    from autograder import fixtures

    if args.check:
        found = fixtures.stale()
        print("\n".join(found) if found else "fixtures are up to date")
        return int(bool(found))
    for path in fixtures.write():
        print(f"wrote {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="source -> student release (week folder) and executed solutions/")
    build.add_argument("weeks", nargs="*", help="weeks to build (default: every week with a source)")
    build.add_argument("--check", action="store_true", help="write nothing; fail when committed files drift")
    build.set_defaults(run=cmd_build)

    validate = sub.add_parser("validate", help="solution scores full marks, stubbed release scores 0")
    validate.add_argument("weeks", nargs="*", help="weeks to validate (default: every week with a source)")
    validate.add_argument("--no-record", action="store_true",
                          help="do not record the solution's grading time (the base of grade's default time limit)")
    validate.set_defaults(run=cmd_validate)

    grade = sub.add_parser("grade", help="autograde a folder of notebooks (file name = student id)")
    grade.add_argument("week")
    grade.add_argument("submissions", type=Path,
                       help="folder holding <student_id>.ipynb files, or a zip exported by Canvas, Moodle or Blackboard")
    grade.add_argument("--lms", default="auto", choices=["auto", "canvas", "moodle", "blackboard", "plain"],
                       help="how the zip names its files (default: recognise each entry)")
    grade.add_argument("--out", type=Path, help="output folder (default: grading/<week>)")
    grade.add_argument("--timeout", type=float, default=None,
                       help="seconds per submission (default: 4 times what the solution took in the last `validate`, "
                            "at least 120; 900 when never validated)")
    grade.add_argument("--workers", type=int, default=1, help="submissions graded at once (default 1; about one per core)")
    grade.add_argument("--dask", metavar="ADDRESS",
                       help="grade on a Dask cluster: its scheduler's address (tcp://host:8786), or 'local' for a "
                            "LocalCluster of --workers processes (needs `distributed`; see autograder/cluster.py)")
    grade.add_argument("--student", action="append", metavar="ID",
                       help="regrade only this student (repeatable); the other rows of grades.csv are kept")
    grade.add_argument("--memory", type=int, metavar="MiB", help="memory limit of each kernel (default 6144)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run the kernels as yourself, with the course's files and the network in reach "
                            "(only where the sandbox cannot run; see the README)")
    grade.set_defaults(run=cmd_grade)

    fixtures = sub.add_parser("fixtures", help="rewrite the visible checks' stored arrays from the reference")
    fixtures.add_argument("--check", action="store_true", help="write nothing; fail when they drift")
    fixtures.set_defaults(run=cmd_fixtures)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except NbgraderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"stopped ({err or 'Ctrl-C'})", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
