"""A long-lived nbgrader for one temporary course: ``autograde`` and ``generate_feedback`` run in this process, one
request at a time, through nbgrader's own API with the course's ``nbgrader_config.py``.

``grade`` keeps one per worker (:class:`autograder.course.Worker`), so a submission no longer pays for starting
Python and importing nbgrader, nbconvert and the hidden cases twice (about 3 s each time, measured). Requests are
JSON lines on stdin; each reply is one line on stdout starting with :data:`REPLY`; nbgrader's log goes to stderr.
A request past its time limit is ended by killing this whole process (the kernel it started dies with it, see
:mod:`autograder.sandbox`); the next request starts a new one.

    python -m autograder.worker COURSE_ROOT
"""

from __future__ import annotations

import json
import os
import sys

REPLY = "DLFS-WORKER "


def main(root: str) -> None:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    replies, sys.stdout = sys.stdout, sys.stderr  # whatever else prints, prints to the log
    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config, root=root), config=config)
    from autograder.judge import restore_environ  # also the preprocessors and the cases' machinery, imported once

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


if __name__ == "__main__":
    main(sys.argv[1])
