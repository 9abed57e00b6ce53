"""autograder.metadata validates the cells' grading metadata exactly as nbgrader does, only faster.

Every graded cell of week 1's release, and each of them broken in one of many ways, must get the same answer from
nbgrader's MetadataValidator and from ours: both accept, or both raise the same exception with the same message.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, ValidationError

from autograder.metadata import CheckCellMetadata, validator

pytestmark = pytest.mark.autograder

REPO = Path(__file__).resolve().parent.parent
RELEASE = nbformat.read(REPO / "week01_linear_algebra" / "assignment.ipynb", as_version=4)

BREAKS = {
    "unchanged": lambda m: None,
    "points as text": lambda m: m.update(points="two"),
    "negative points": lambda m: m.update(points=-1),
    "grade as text": lambda m: m.update(grade="yes"),
    "no grade_id": lambda m: m.pop("grade_id", None),
    "grade_id a number": lambda m: m.update(grade_id=7),
    "no locked": lambda m: m.pop("locked", None),
    "an extra key": lambda m: m.update(secret=1),
    "schema version 2": lambda m: m.update(schema_version=2),
    "schema version 4": lambda m: m.update(schema_version=4),
    "no schema version": lambda m: m.pop("schema_version", None),
    "graded and unlocked": lambda m: m.update(grade=True, solution=False, locked=False, points=1),
    "graded without points": lambda m: (m.update(grade=True), m.pop("points", None)),
    "a task that is graded": lambda m: m.update(task=True, grade=True),
    "cell type changed": lambda m: m.update(cell_type="markdown"),
    "everything gone": lambda m: [m.pop(k) for k in list(m)],
}


def outcome(check, cell) -> tuple:
    try:
        check(cell)
    except Exception as err:  # compared, whatever it is
        return type(err), str(err)
    return ("accepted",)


def graded_cells():
    return [c for c in RELEASE.cells if "nbgrader" in c.metadata]


@pytest.mark.parametrize("name", BREAKS)
def test_every_cell_broken_so_gets_nbgraders_answer(name):
    theirs, ours = MetadataValidator(), validator()
    answers = set()
    for cell in graded_cells():
        broken = copy.deepcopy(cell)
        BREAKS[name](broken.metadata.nbgrader)
        expected = outcome(theirs.validate_cell, copy.deepcopy(broken))
        assert outcome(ours.validate_cell, copy.deepcopy(broken)) == expected, (name, cell.metadata.nbgrader)
        answers.add(expected[0])
    if name == "unchanged":
        assert answers == {"accepted"}
    elif name not in ("an extra key", "cell type changed"):  # nbgrader accepts these (it warns of the second)
        assert answers != {"accepted"}, f"{name}: nbgrader accepted every cell, so the comparison shows nothing"


def test_the_preprocessor_rejects_a_broken_notebook_as_nbgraders_does():
    nb = copy.deepcopy(RELEASE)
    assert CheckCellMetadata().preprocess(nb, {})[0] is nb
    graded_cells_of = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    graded_cells_of[0].metadata.nbgrader["points"] = "two"
    with pytest.raises(ValidationError, match="the nbgrader metadata may be corrupted"):
        CheckCellMetadata().preprocess(nb, {})
