"""nbgrader configuration of the course. The autograder command line copies this file into a fresh
temporary course folder for every build, validate and grade run, so no gradebook or student file is
ever written inside the repository."""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.feedback import FeedbackExporter, ShortErrors
from autograder.judge import JudgedExecute
from autograder.metadata import CheckCellMetadata

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "dlfs"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Seconds per cell while autograding; the slowest hidden test (a timing comparison) takes about 5 s.
c.Execute.timeout = 120
# The kernel is killed when the notebook is done, not asked to shut down: nothing of it is kept (in the sandbox its
# whole namespace goes), and a polite shutdown costs time on every submission.
c.Execute.shutdown_kernel = "immediate"

# Adjacent outputs of one stream are merged into one, as Jupyter shows them: how the kernel happened to split its
# prints (it flushes on a timer) no longer changes the graded notebook or the feedback page between two runs.
c.Execute.coalesce_streams = True

# A test cell the student deleted is put back from the gradebook (after the answer cell before it) and graded, as
# any other: deleting a test neither earns its points nor loses those of work that passes it.
c.OverwriteCells.add_missing_cells = True

# nbgrader's own steps before a submission runs, with its metadata check validating against a schema checked once per
# process instead of once per cell (autograder/metadata.py).
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]

# nbgrader's own steps, with its Execute replaced by JudgedExecute: the hidden cases' verdicts are decided
# in this process, outside the student's kernel, and written into the test cells before SaveAutoGrades
# scores them (autograder/judge.py).
c.Autograde.autograde_preprocessors = [
    JudgedExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback shows the student which tests passed and the diagnosis of those that failed, never the
# hidden test source: ClearHiddenTests removes the hidden regions, ShortErrors replaces tracebacks
# (which would print the hidden lines and the checking code) by their last line.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ShortErrors, CSSHTMLHeaderPreprocessor]
# nbconvert's HTML page, written faster (autograder/feedback.py): the same document, with its templates compiled once
# per process and without parsing every page again to add alt text to images.
c.GenerateFeedback.exporter_class = FeedbackExporter
