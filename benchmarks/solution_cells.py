"""The solution cells of a week's source notebook (or of fragment files), run into one namespace, for benchmarks.

A benchmark times the code a student is shown in ``solutions/``: the solution cells of
``autograder/source/<week>/assignment.ipynb``, executed in order, after what the notebook's other code cells
define without running anything (their imports, functions, classes and constants: a given ``softmax`` or
``init_transformer``, say; IPython magics left out, test cells skipped). Before a notebook is assembled, the same
cells can come from fragment files in the percent format (cells start with ``# %% <kind> [grade id]``).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


def source_notebook(week: str) -> Path:
    return REPO / "autograder" / "source" / week / "assignment.ipynb"


def cells_of_notebook(path: Path) -> list[tuple[str, str, str]]:
    """(source, kind, grade id) of every code cell: kind is "solution", "test" or "other"."""
    import nbformat

    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            meta = cell.metadata.get("nbgrader", {})
            kind = "solution" if meta.get("solution") else "test" if meta.get("grade") else "other"
            cells.append((cell.source, kind, meta.get("grade_id", "")))
    return cells


def cells_of_fragments(paths: list[Path]) -> list[tuple[str, str, str]]:
    """The same from fragment files."""
    cells = []
    for path in paths:
        marker_kind, grade_id, lines = None, "", []
        for line in [*path.read_text().splitlines(), "# %% end"]:
            marker = re.match(r"^# %% (\w+)(.*)$", line)
            if not marker:
                lines.append(line)
                continue
            if marker_kind in ("code", "setup", "solution", "test"):
                kind = marker_kind if marker_kind in ("solution", "test") else "other"
                cells.append(("\n".join(lines), kind, grade_id))
            marker_kind, grade_id, lines = marker.group(1), (marker.group(2).split() or [""])[0], []
    return cells


def _definitions(source: str) -> list[ast.Module]:
    """The imports, functions, classes and constant assignments of a cell, nothing that runs, one by one."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    return [
        ast.Module(body=[node], type_ignores=[])
        for node in ast.parse(code).body
        if isinstance(node, _DEFINITIONS) or (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))
    ]


def solution_namespace(
    week: str, needed: tuple[str, ...], fragments: list[Path] | None = None, notebook: Path | None = None
) -> dict:
    """The names the solution cells define, after the other cells' definitions; exits naming what is missing.

    The cells come from ``fragments`` if given, else from ``notebook``, else from the week's source notebook.
    """
    notebook = notebook or source_notebook(week)
    cells = cells_of_fragments(fragments) if fragments else cells_of_notebook(notebook)
    namespace: dict = {"__name__": f"{week}_solution"}
    for source, kind, grade_id in cells:
        if kind == "solution":
            exec(compile(source, f"<{grade_id}>", "exec"), namespace)
        elif kind == "other":
            for definition in _definitions(source):
                try:
                    exec(compile(definition, f"<{grade_id or 'cell'}>", "exec"), namespace)
                except Exception:  # noqa: BLE001 - a definition that needs the notebook's run-time state: not ours
                    continue
    missing = [name for name in needed if name not in namespace]
    if missing:
        where = ", ".join(map(str, fragments)) if fragments else str(notebook)
        sys.exit(f"{where} defines no {', '.join(missing)}: pass the fragments with --fragment before assembly")
    return namespace
