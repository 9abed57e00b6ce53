"""nbgrader configuration of the course. The autograder command line copies this file into a fresh
temporary course folder for every build, validate and grade run, so no gradebook or student file is
ever written inside the repository."""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

from autograder.feedback import ShortErrors

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "dlfs"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Seconds per cell while autograding; the slowest hidden test (a timing comparison) takes about 5 s.
c.Execute.timeout = 120

# Feedback shows the student which tests passed and the diagnosis of those that failed, never the
# hidden test source: ClearHiddenTests removes the hidden regions, ShortErrors replaces tracebacks
# (which would print the hidden lines and the checking code) by their last line.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ShortErrors, CSSHTMLHeaderPreprocessor]
