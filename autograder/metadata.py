"""nbgrader's check of the cells' grading metadata, without checking its own schema again for every cell.

nbgrader validates each cell's ``nbgrader`` metadata with ``jsonschema.validate(metadata, schema)``, which first
checks the schema itself: 150 cells a notebook, twice per submission (before and after it runs), 0.09 s each time
here. :class:`CheckCellMetadata` is nbgrader's preprocessor with the schema checked once per process; every cell
is then validated against it exactly as ``jsonschema.validate`` does (its best-matching error is raised), and
everything else (the schema version, the checks of grade, solution and lock flags) is nbgrader's own code.
"""

from __future__ import annotations

import traceback
from functools import cache

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata


class _SchemaChecked(BaseMetadataValidator):
    def __init__(self) -> None:
        super().__init__()
        checker = jsonschema.validators.validator_for(self.schema)
        checker.check_schema(self.schema)
        self._checker = checker(self.schema)

    def validate_cell(self, cell) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)  # nbgrader's own answer to no metadata or another schema version
        error = jsonschema.exceptions.best_match(self._checker.iter_errors(meta))
        if error is not None:
            raise error


class _Validator(MetadataValidator, _SchemaChecked):
    """nbgrader's validator; its ``super().validate_cell`` (the schema part) goes to :class:`_SchemaChecked`."""


@cache
def validator() -> _Validator:
    return _Validator()


class CheckCellMetadata(NbgraderCheckCellMetadata):
    """nbgrader's CheckCellMetadata with one validator per process (see the module's docstring)."""

    def preprocess(self, nb, resources):
        try:
            validator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            message = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(message)
            raise ValidationError(message) from None
        return nb, resources
