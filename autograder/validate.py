"""``validate``: the solution must score full marks and the stubbed release 0 while running to its end.

Both go through real nbgrader autograde in a temporary course, exactly as a student's submission would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import nbformat

from autograder import notebooks, sandbox
from autograder.course import NOTEBOOK, SOURCE_DIR, ran_to_end, temporary_course


@dataclass(frozen=True)
class Validation:
    week: str
    points: float
    solution_score: float
    stub_score: float
    stub_ran_to_end: bool
    seconds: float
    solution_seconds: float = float("nan")
    failed_solution_tests: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            self.points > 0
            and self.solution_score == self.points
            and self.stub_score == 0
            and self.stub_ran_to_end
        )


def validate_week(week: str) -> Validation:
    """Autograde the solved and the stubbed release of ``week``, in the sandbox where it can run (as ``grade``)."""
    start = time.perf_counter()
    source = nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4)
    limits = None if sandbox.problems() else sandbox.Limits()
    with temporary_course(week, limits) as course:
        release = nbformat.read(course.release, as_version=4)
        course.submit("solution", notebooks.solved_submission(release, source))
        course.submit("stub", release)
        solution_start = time.perf_counter()
        course.autograde("solution")
        solution_seconds = time.perf_counter() - solution_start
        stub_graded = course.autograde("stub")
        solution_score, points, cells = course.scores("solution")
        stub_score, _, _ = course.scores("stub")
        failed = tuple(sorted(name for name, (got, most) in cells.items() if got < most))
        return Validation(
            week=week,
            points=points,
            solution_score=solution_score,
            stub_score=stub_score,
            stub_ran_to_end=ran_to_end(stub_graded),
            seconds=time.perf_counter() - start,
            solution_seconds=solution_seconds,
            failed_solution_tests=failed,
        )


def table(rows: list[Validation]) -> str:
    """The validation table printed by the command line."""
    header = f"{'week':<28}{'points':>7}{'solution':>10}{'stub':>6}  {'stub ran to end':<16}{'seconds':>8}  result"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.week:<28}{row.points:>7g}{row.solution_score:>10g}{row.stub_score:>6g}  "
            f"{'yes' if row.stub_ran_to_end else 'NO':<16}{row.seconds:>8.1f}  {'ok' if row.ok else 'FAILED'}"
        )
        if row.failed_solution_tests:
            lines.append(f"    the solution fails: {', '.join(row.failed_solution_tests)}")
    return "\n".join(lines)
