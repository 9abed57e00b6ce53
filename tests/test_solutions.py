"""Every hidden call of every source notebook, answered in-process by the notebook's own solution cells.

``validate`` proves full marks through nbgrader (slower, and only as a total); this runs each call
separately, so a solution that drifts from its hidden case fails here by name. Calls whose arguments are
made by the notebook's experiments (the Kaggle submission's trained W, b) are left to ``validate``.
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from hidden_suite import notebook_solutions

from autograder import notebooks
from autograder.course import NOTEBOOK, SOURCE_DIR, weeks_with_source
from autograder.judge import is_test_cell
from autograder.protocol import _python_only, run_case

pytestmark = [pytest.mark.autograder]


def _calls() -> list:
    found = []
    for week in weeks_with_source():
        for cell in nbformat.read(SOURCE_DIR / week / NOTEBOOK, as_version=4).cells:
            if not is_test_cell(cell):
                continue
            hidden = "\n".join(notebooks.split_region(cell.source, notebooks.HIDDEN)[0])
            for node in ast.walk(ast.parse(_python_only(hidden))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check":
                    found.append(pytest.param(week, node.args, id=f"{cell.metadata['nbgrader']['grade_id']}"))
    return found


@pytest.mark.parametrize(("week", "args"), _calls())
def test_the_solution_passes_its_hidden_case(week, args):
    solution = notebook_solutions(week)
    values = []
    for arg in args:
        if isinstance(arg, ast.Constant):
            values.append(arg.value)
        elif isinstance(arg, ast.Name) and arg.id in solution:
            values.append(solution[arg.id])
        else:
            pytest.skip(f"{ast.unparse(arg)} is made by the notebook's experiments (validate covers this call)")
    run_case(*values)
