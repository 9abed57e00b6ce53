"""Notebook text operations: solution and hidden-test regions, the generated notebooks, leak detection.

The source notebook marks answers with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and hidden tests
with ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` (nbgrader's markers). A *secret* line is a
line inside such a region that appears nowhere outside one: if it shows up in a student release, in
feedback or (for hidden tests) in the published solutions, something leaked.
"""

from __future__ import annotations

import ast
import copy
import html
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

SOLUTION = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARKERS = (*SOLUTION, *HIDDEN)
#: Lines shorter than this (``return x``, ``)``) are too common to count as a leak.
MIN_SECRET_LENGTH = 12
_IMPORTS_AUTOGRADER = re.compile(r"^\s*(from|import)\s+autograder\b", re.MULTILINE)


def split_region(source: str, markers: tuple[str, str]) -> tuple[list[str], list[str]]:
    """Split a cell's lines into (inside the marked regions, outside them); marker lines are dropped."""
    begin, end = markers
    inside, outside, within = [], [], False
    for line in source.splitlines():
        if begin in line:
            if within:
                raise ValueError(f"nested '{begin}' in:\n{source}")
            within = True
        elif end in line:
            if not within:
                raise ValueError(f"'{end}' without '{begin}' in:\n{source}")
            within = False
        else:
            (inside if within else outside).append(line)
    if within:
        raise ValueError(f"'{begin}' without '{end}' in:\n{source}")
    return inside, outside


def strip_hidden_tests(source: str) -> str:
    """The cell without its hidden-test regions."""
    return "\n".join(split_region(source, HIDDEN)[1]).rstrip()


def strip_solution_markers(source: str) -> str:
    """The cell with its answer in place and the solution marker lines removed."""
    return "\n".join(line for line in source.splitlines() if not any(m in line for m in SOLUTION))


def _significant(line: str) -> str | None:
    text = line.strip()
    if len(text) < MIN_SECRET_LENGTH or text.startswith("#"):
        return None
    return text


def secret_lines(source_nb: nbformat.NotebookNode, markers: tuple[str, str]) -> set[str]:
    """Significant lines inside ``markers`` regions that never occur outside them in the notebook."""
    inside, outside = set(), set()
    for cell in source_nb.cells:
        lines_in, lines_out = split_region(cell.source, markers)
        inside.update(filter(None, map(_significant, lines_in)))
        outside.update(filter(None, map(_significant, lines_out)))
    return inside - outside


def _public_calls(tree: ast.AST) -> set[str]:
    """Names a file imports from the course library (``from dlfs... import load_mnist``): public API."""
    return {alias.asname or alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "dlfs" for alias in node.names}


def _is_public(stmt: ast.stmt, public: set[str]) -> bool:
    """An import, or ``x = f(...)`` / ``f(...)`` with ``f`` from the course library: no secret in it."""
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return True
    value = stmt.value if isinstance(stmt, ast.Assign | ast.Expr) else None
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in public


def code_lines(paths: Iterable[Path]) -> set[str]:
    """Significant statement lines of the function bodies in Python files (docstrings excluded), without
    imports and plain calls of the course library's public functions (a data loader is no secret)."""
    found: set[str] = set()
    for path in paths:
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        public = _public_calls(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            for stmt in body:
                if _is_public(stmt, public):
                    continue
                for line in lines[stmt.lineno - 1 : stmt.end_lineno]:
                    text_line = _significant(line)
                    if text_line and not text_line.startswith(('"', "'")):
                        found.add(text_line)
    return found


def notebook_text_lines(nb: nbformat.NotebookNode) -> list[str]:
    """Every stripped line of every cell's source."""
    return [line.strip() for cell in nb.cells for line in cell.source.splitlines()]


def html_text(page: str) -> str:
    """The visible text of an HTML page: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaked(lines: Iterable[str], secrets: set[str]) -> list[str]:
    """The secret lines that occur among ``lines`` (each line is compared whole, stripped)."""
    return sorted(set(lines) & secrets)


def leaked_into(text: str, secrets: set[str]) -> list[str]:
    """The secret lines that occur anywhere in ``text`` (tracebacks prefix lines with numbers)."""
    return sorted(secret for secret in secrets if secret in text)


def release_problems(
    release: nbformat.NotebookNode, source: nbformat.NotebookNode, reference_code: set[str]
) -> list[str]:
    """Why a student release must not be written: markers, answers, hidden tests or reference code in it."""
    problems = []
    lines = notebook_text_lines(release)
    for marker in MARKERS:
        if any(marker in line for line in lines):
            problems.append(f"the marker '{marker}' is still in the release")
    for what, secrets in (
        ("a solution line", secret_lines(source, SOLUTION)),
        ("a hidden test line", secret_lines(source, HIDDEN)),
        ("a line of reference code", reference_code),
    ):
        problems += [f"{what} is in the release: {line!r}" for line in leaked(lines, secrets)]
    for cell in release.cells:
        if cell.cell_type == "code" and _IMPORTS_AUTOGRADER.search(cell.source):
            problems.append(f"a code cell imports the autograder: {cell.source.strip()[:80]!r}")
    return problems


def solutions_problems(solutions: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Why a published solution notebook must not be written: hidden tests or markers in it."""
    lines = notebook_text_lines(solutions)
    problems = [f"the marker '{m}' is in the solutions" for m in MARKERS if any(m in ln for ln in lines)]
    problems += [
        f"a hidden test line is in the solutions: {line!r}"
        for line in leaked(lines, secret_lines(source, HIDDEN))
    ]
    problems += [
        "a code cell imports the autograder"
        for cell in solutions.cells
        if cell.cell_type == "code" and _IMPORTS_AUTOGRADER.search(cell.source)
    ]
    return problems


def _only_docstring(cell: nbformat.NotebookNode) -> bool:
    """An empty cell, or a code cell holding nothing but a string (a hidden test's description)."""
    if not cell.source.strip():
        return True
    if cell.cell_type != "code":
        return False
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        return False
    return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def solutions_notebook(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The self-learner's notebook: answers in place, no hidden test, no grading metadata or outputs."""
    nb = copy.deepcopy(source)
    cells = []
    for cell in nb.cells:
        cell.source = strip_solution_markers(strip_hidden_tests(cell.source))
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not _only_docstring(cell):
            cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("nbgrader", None)
    return nb


def solved_submission(
    release: nbformat.NotebookNode, source: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The release with every answer cell filled in from the source, as a perfect student would."""
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: strip_solution_markers(cell.source)
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb
