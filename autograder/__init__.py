"""The instructor side of the course: reference implementations, hidden-test checking code, and the
command line that builds, validates and grades the assignments on top of nbgrader
(``python -m autograder --help``).

Nothing here is part of what students receive, and none of it is installed into the course's
environment as a package: it is run from the repository root.
"""
