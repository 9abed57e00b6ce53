"""The feedback page of autograder.feedback.FeedbackExporter is nbconvert's page: the same document, written faster.

nbconvert's HTMLExporter with nbgrader's feedback template is the reference. Both pages are parsed with
BeautifulSoup (which nbconvert itself ends with) and must serialize the same: the executed solutions of the course
(plots, tables, long outputs) and a notebook of awkward image tags (no alt, a bare alt, alt in another case, ``>`` in
an attribute value, self-closing, an attribute merely ending in "alt", images in markdown and in HTML output).
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

import jinja2
import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory

from autograder.feedback import MISSING_ALT, FeedbackExporter

pytestmark = pytest.mark.autograder

REPO = Path(__file__).resolve().parent.parent
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TAGS = [
    '<img src="a.png">',
    '<img alt src="b.png">',
    '<IMG SRC="c.png" ALT="shouting">',
    '<img src="d.png" title="x > y">',
    "<img src='e.png'/>",
    '<img src="f.png" data-alt="not an alt">',
    '<img src="g.png" alt="">',
    '<img\nsrc="h.png"\n>',
]


def awkward_notebook() -> nbformat.NotebookNode:
    html = new_output("display_data", data={"text/html": "<p>" + "".join(TAGS) + "</p>", "text/plain": "tags"})
    png = new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})
    described = new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"},
                           metadata={"image/png": {"alt": "a described plot"}})
    code = new_code_cell("show()", outputs=[html, png, described], execution_count=1)
    markdown = new_markdown_cell("![a plot](plot.png) and raw " + TAGS[0] + " and `<img src=code>`")
    nb = new_notebook(cells=[markdown, code])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def page(exporter_class, nb) -> str:
    """The page ``exporter_class`` writes of ``nb`` as nbgrader's generate_feedback configures it."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # what nbgrader's GetGrades puts in before the page is written
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("task"):
            meta["score"] = meta.get("points", 0)
    resources = {"nbgrader": {"notebook": "assignment", "score": 7.0, "max_score": 9.0, "late_penalty": 0}}
    exporter = exporter_class(config=GenerateFeedback(coursedir=CourseDirectory()).config)
    html, _ = exporter.from_notebook_node(nb, resources)
    return html


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def same_document(ours: str, theirs: str) -> bool:
    """Both parse to the same document, but for the random ids nbconvert gives widget views on every page."""
    def parsed(html: str) -> str:
        return UUID.sub("<uuid>", str(BeautifulSoup(html, features="html.parser")))
    return parsed(ours) == parsed(theirs)


def test_awkward_images_get_the_same_alt_text_as_nbconvert_gives():
    nb = awkward_notebook()
    ours, theirs = page(FeedbackExporter, nb), page(HTMLExporter, nb)
    assert same_document(ours, theirs)
    images = BeautifulSoup(ours, features="html.parser").find_all("img")
    assert len(images) == len(TAGS) + 4  # the tags, the markdown image, the raw tag in markdown, two plots
    alts = [img.get("alt") for img in images]
    assert None not in alts
    assert alts.count(MISSING_ALT) == 7 and "shouting" in alts and "a described plot" in alts


@pytest.mark.parametrize("week", ["week01_linear_algebra", "week03_cnn", "week05_gans_transformers"])
def test_a_solution_notebook_gives_the_same_document_as_nbconvert(week):
    nb = nbformat.read(REPO / "solutions" / f"{week}.ipynb", as_version=4)
    assert same_document(page(FeedbackExporter, nb), page(HTMLExporter, nb))


def test_pages_after_the_first_reuse_the_compiled_templates(monkeypatch):
    """The second exporter of a process compiles no template again (nbconvert's compiles them for every page)."""
    nb = awkward_notebook()
    page(FeedbackExporter, nb)  # compiles and keeps them
    compiled = []
    original = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, source, name=None, *a, **k: compiled.append(name) or original(self, source, name, *a, **k))
    again = page(FeedbackExporter, nb)
    assert compiled == []
    theirs = page(HTMLExporter, nb)
    assert compiled, "nbconvert's exporter compiled nothing: the comparison no longer measures anything"
    assert same_document(again, theirs)


def test_code_is_highlighted_once_per_process(monkeypatch):
    """A cell's code is highlighted on the first page that shows it; later pages take it from memory, and a changed
    cell, or the same code marked as another language's magic, is highlighted anew."""
    calls = []
    original = Highlight2HTML.__call__
    monkeypatch.setattr(Highlight2HTML, "__call__", lambda self, *a, **k: calls.append(a[0]) or original(self, *a, **k))
    nb = awkward_notebook()
    nb.cells[1].source = f"x = {time.time_ns()}  # a cell no page has shown yet"
    first = page(FeedbackExporter, nb)
    assert calls == [nb.cells[1].source]
    assert page(FeedbackExporter, nb) == first and len(calls) == 1
    nb.cells[1].source += "\ny = 2"
    page(FeedbackExporter, nb)
    nb.cells[1].metadata["magics_language"] = "bash"
    page(FeedbackExporter, nb)
    assert len(calls) == 3
