"""A long-lived nbgrader for one temporary course: ``autograde`` and ``generate_feedback`` run in this process, one
request at a time, through nbgrader's own API with the course's ``nbgrader_config.py``.

``grade`` keeps one per worker (:class:`autograder.course.Worker`), so a submission no longer pays for starting
Python and importing nbgrader, nbconvert and the hidden cases twice (about 3 s each time, measured). Requests are
JSON lines on stdin; each reply is one line on stdout starting with :data:`REPLY`; nbgrader's log, and anything else
this process or its kernels print, goes to stderr. After each notebook it starts the kernel of the next one
(:mod:`autograder.kernels`), which boots while the feedback page is written. A request past its time limit is ended
by killing this whole process (the kernels it started die with it, see :mod:`autograder.sandbox`); the next request
starts a new one.

    python -m autograder.worker COURSE_ROOT
"""

from __future__ import annotations

import gc
import json
import os
import sys

REPLY = "DLFS-WORKER "


def _gradebook_without_sync() -> None:
    """SQLite in this process writes without waiting for the disk (``PRAGMA synchronous=OFF``).

    The only database the worker opens is the temporary course's gradebook, removed when the run ends; what a run
    keeps (grades.csv, the feedback pages) is written by ``grade`` from it after each submission. Not waiting only
    risks that file if the operating system itself crashes, and saves one disk flush per score nbgrader commits
    (about 45 per week-1 submission)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _no_sync(connection, record) -> None:
        if type(connection).__module__.startswith("sqlite3"):
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()


def main(root: str) -> None:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    _gradebook_without_sync()
    # Replies go to the grader through a copy of standard output; whatever else prints, this process or a kernel it
    # starts (which inherits descriptor 1: a kernel prints a note when it starts), goes to the log.
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config, root=root), config=config)
    from autograder import kernels
    from autograder.judge import restore_environ  # also the preprocessors and the cases' machinery, imported once

    kernels.keep_spares()  # each notebook's kernel starts while the one before it is still being reported on
    # What was imported so far lives as long as the process: the collector no longer walks it on every full collection
    # (one in four feedback pages met a 0.2 s collection, measured here).
    gc.freeze()

    def reply(message: dict) -> None:
        print(REPLY + json.dumps(message), file=replies, flush=True)

    reply({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        saved = {name: os.environ.get(name) for name in request.get("env", {})}
        os.environ.update(request.get("env", {}))
        try:
            if request["command"] == "autograde":
                result = api.autograde(request["week"], request["student"], force=True, create=True)
            elif request["command"] == "generate_feedback":
                result = api.generate_feedback(request["week"], request["student"], force=True)
            else:
                result = {"success": False, "error": f"unknown command {request['command']!r}"}
        except Exception as err:  # reported to the grader, which flags the submission
            result = {"success": False, "error": f"{type(err).__name__}: {err}"}
        finally:
            restore_environ(saved)
        reply({"success": bool(result.get("success")), "log": result.get("log") or "", "error": result.get("error") or ""})
    kernels.discard_spare()


if __name__ == "__main__":
    main(sys.argv[1])
