"""nbgrader preprocessors used when feedback is generated (see nbgrader_config.py)."""

from nbgrader.preprocessors.base import NbGraderPreprocessor


class ShortErrors(NbGraderPreprocessor):
    """Replace every error traceback by its last line, ``ExceptionName: message``.

    A traceback of a failed hidden test prints the hidden test's source lines and the frames of the
    checking code; the message alone carries the diagnosis the student needs. (nbgrader's base class
    is used because it is enabled by default; nbconvert's plain Preprocessor is not.)
    """

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
