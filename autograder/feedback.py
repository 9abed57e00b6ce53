"""The feedback page: nbgrader preprocessors used when feedback is generated, and the exporter that writes the
page (see nbgrader_config.py)."""

from __future__ import annotations

import re

import jinja2
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
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


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept in this process. Jinja checks each template's source against the checksum stored
    with its code, so a changed template is compiled again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _MemoryBytecodeCache()
#: An ``<img>`` start tag (attribute values may hold ``>``), and whether it has an ``alt`` attribute.
_IMG = re.compile(r"""<img\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_ALT = re.compile(r"""\salt(?=[\s=/>]|$)""", re.IGNORECASE)
MISSING_ALT = "No description has been provided for this image"


def _with_alt(tag: str) -> str:
    """``tag`` with the alt text nbconvert gives an image that has none (kept as it is if it has one)."""
    if _ALT.search(re.sub(r""""[^"]*"|'[^']*'""", '""', tag)):
        return tag
    end = len(tag) - (2 if tag.endswith("/>") else 1)
    return f'{tag[:end].rstrip()} alt="{MISSING_ALT}"{tag[end:]}'


class _Remembered:
    """A code-highlighting filter whose pages are kept, by source, language and magics language (all that nbconvert's
    highlighting reads): most code cells of a class's notebooks are the release's, the same for every student."""

    LIMIT = 20_000  # cells kept before starting afresh

    def __init__(self, highlight: Highlight2HTML) -> None:
        self.highlight = highlight
        self.options = repr(sorted(highlight.extra_formatter_options.items()))

    def __call__(self, source, language=None, metadata=None):
        key = (source, language or self.highlight.pygments_lexer, (metadata or {}).get("magics_language"), self.options)
        html = _HIGHLIGHTED.get(key)
        if html is None:
            if len(_HIGHLIGHTED) >= self.LIMIT:
                _HIGHLIGHTED.clear()
            html = _HIGHLIGHTED[key] = self.highlight(source, language, metadata)
        return html


_HIGHLIGHTED: dict[tuple, str] = {}


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter, made for writing one page per student in a long-lived process.

    nbconvert parses every page it writes again with BeautifulSoup to give images without alt text a
    placeholder one and to make cells focusable, then writes the page out again: about 0.2–0.4 s of the
    0.6 s a feedback page took here. This exporter adds the same alt text to the ``<img>`` tags of the page
    as written (the feedback template, classic's, has no cell to make focusable), keeps the compiled templates
    between pages (Jinja's bytecode cache, in memory) instead of compiling them for every page, and highlights a
    cell's code once per process (:class:`_Remembered`).
    ``tests/test_feedback_page.py`` checks that the page parses to the same document as nbconvert's. One known
    difference: an ``<img`` written inside a script or an HTML comment of a cell's output also gets the alt text
    here, where nbconvert's parser leaves it alone.
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _TEMPLATES
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node's filters, then the template, without its BeautifulSoup pass.
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name", None))
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", _Remembered(Highlight2HTML(pygments_lexer=lexer, parent=self))))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _IMG.sub(lambda match: _with_alt(match.group(0)), html), resources
