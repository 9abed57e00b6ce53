"""The class report: per graded task, the share of the class that passed it and what the hidden tests found in
the others, counted ("l2_distances_two_loops: 61% passed; 23% did you forget the square root?").

``grade`` writes it beside grades.csv as ``class_report.csv`` (one row per task and finding) and
``class_report.html`` (a bar chart per task). The findings come from the verdicts the judge records for every
hidden case (``verdicts/<student>.json``, written by :mod:`autograder.judge` outside the kernel, with the seconds
the judges took): a named mistake
(the diagnosis its hidden test gives, e.g. a transposed result), or one of the kinds in :func:`finding`. A student
counts once per finding and task, however many cases of the task found it. Flagged submissions are left out.
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.protocol import SLOW

VERDICTS = "verdicts"


def finding(verdict: dict) -> str:
    """What a failed case found: its named mistake's diagnosis, else the kind of failure."""
    message = verdict.get("message", "")
    if verdict.get("mistake") == SLOW:  # its message holds the times measured: counted under the name alone
        return SLOW
    if verdict.get("mistake"):
        text = message.split(": ", 1)[-1]
        return f"{verdict['mistake']}: {text}"[:160]
    if "is not implemented yet" in message:
        return "not implemented"
    if "no answer recorded" in message:
        return "no answer (the cell stopped or the kernel died)"
    if " raised " in message:
        return "raised an exception"
    return "wrong answer, no named mistake"


@dataclass
class Task:
    name: str
    points: float
    students: int = 0
    passed: int = 0
    findings: Counter = field(default_factory=Counter)

    @property
    def passed_share(self) -> float:
        return self.passed / self.students if self.students else float("nan")


def read_verdicts(out: Path, student: str) -> list[dict]:
    try:
        return json.loads((out / VERDICTS / f"{student}.json").read_text())["verdicts"]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def build(out: Path, results: list) -> list[Task]:
    """The tasks of the graded submissions among ``results`` (``autograder.grade.Result``), in notebook order."""
    graded = [r for r in results if r.status == "graded"]
    order: dict[str, int] = {}
    verdicts = {r.student: read_verdicts(out, r.student) for r in graded}
    for found in verdicts.values():
        for verdict in found:
            order.setdefault(verdict["cell"], len(order))
    names = sorted({name for r in graded for name in r.cells}, key=lambda n: (order.get(n, len(order)), n))
    tasks = {name: Task(name, max(r.cells[name][1] for r in graded if name in r.cells)) for name in names}
    for r in graded:
        for name, (score, most) in r.cells.items():
            tasks[name].students += 1
            tasks[name].passed += score >= most
        failed = {(v["cell"], finding(v)) for v in verdicts[r.student] if not v["passed"] and v["cell"] in tasks}
        for name, what in failed:
            if r.cells.get(name, (0, 1))[0] < r.cells.get(name, (0, 1))[1]:
                tasks[name].findings[what] += 1
    return list(tasks.values())


def write_csv(tasks: list[Task], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "points", "students", "finding", "students_with_it", "share"])
        for task in tasks:
            rows = [("passed", task.passed), *task.findings.most_common()]
            for what, count in rows:
                share = count / task.students if task.students else 0.0
                writer.writerow([task.name, f"{task.points:g}", task.students, what, count, f"{share:.3f}"])


def write_html(tasks: list[Task], path: Path, title: str) -> None:
    blocks = []
    for task in tasks:
        bars = []
        for what, count in [("passed", task.passed), *task.findings.most_common()]:
            share = count / task.students if task.students else 0.0
            colour = "#3a7d44" if what == "passed" else "#b5483b"
            bars.append(
                f'<div class="row"><div class="label">{html.escape(what)}</div>'
                f'<div class="track"><div class="bar" style="width:{100 * share:.1f}%;background:{colour}"></div></div>'
                f'<div class="value">{100 * share:.0f}% ({count})</div></div>')
        blocks.append(f"<section><h2>{html.escape(task.name)} <small>{task.points:g} points, {task.students} "
                      f"students, {100 * task.passed_share:.0f}% passed</small></h2>{''.join(bars)}</section>")
    style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#222}h2{font-size:1.05rem;margin-top:1.6rem}"
             "small{font-weight:normal;color:#666}.row{display:flex;align-items:center;gap:.6rem;margin:.2rem 0}"
             ".label{width:26rem;font-size:.85rem}.track{flex:1;background:#eee;height:1rem}.bar{height:1rem}"
             ".value{width:6rem;font-size:.85rem;text-align:right}")
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
                    "<p>Per graded task: the share of the class with full points, and what the hidden tests found in "
                    "the other submissions (a student counts once per finding).</p>"
                    f"{''.join(blocks)}</body></html>\n")


def write(out: Path, results: list, week: str) -> list[Task]:
    tasks = build(out, results)
    write_csv(tasks, out / "class_report.csv")
    write_html(tasks, out / "class_report.html", f"Class report: {week}")
    return tasks
