"""``grade --dask ADDRESS``: the same grading on the workers of a Dask distributed cluster.

Dask schedules; nothing here does. Each Dask worker holds one temporary course with its long-lived nbgrader
(:class:`CoursePlugin`, set up when the worker joins and removed when it leaves) and grades one submission at a time
in it, in its own sandbox, exactly as a local worker of ``grade --workers`` does (:func:`autograder.grade._grade_one`).
A task receives the notebook's bytes and returns the result with the feedback page and the verdicts as bytes, so a
worker needs no file system shared with the grader; this process alone writes ``out/`` (``grades.csv``, the
feedback pages, the class report), in the same order and format as a local run.

A worker needs what a local grader needs: this repository (the same commit) on its ``PYTHONPATH`` with the
course's packages, root, and the sandbox (``grade`` refuses otherwise). On a real cluster, start the scheduler and
one single-threaded worker per core from the repository's root::

    dask scheduler                                       # on one machine: prints tcp://HOST:8786
    PYTHONPATH=. dask worker tcp://HOST:8786 --nworkers 2 --nthreads 1    # as root, on every grading machine
    python -m autograder grade week01 submissions/ --dask tcp://HOST:8786

``--dask local`` starts a ``LocalCluster`` on this machine instead (one single-threaded worker process per
``--workers``), which is how the tests run it.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from autograder import report
from autograder.sandbox import Limits

#: The name under which each Dask worker keeps its course.
PLUGIN = "dlfs-course"


class CoursePlugin(WorkerPlugin):
    """A Dask worker plugin: one temporary course (``persistent``: one nbgrader process) per worker.

    Dask calls :meth:`setup` on every worker that joins, and :meth:`teardown` when it leaves or the client closes the
    cluster; the course folder, its nbgrader process and its sandboxes go with it.
    """

    name = PLUGIN

    def __init__(self, week: str, limits: dict | None) -> None:
        self.week, self.limits = week, limits

    def setup(self, worker) -> None:
        from autograder.course import temporary_course
        from autograder.grade import hidden_text

        self.lock = threading.Lock()
        self.stack = contextlib.ExitStack()
        sandbox = Limits(**self.limits) if self.limits is not None else None
        self.course = self.stack.enter_context(temporary_course(self.week, sandbox, persistent=True))
        self.secrets = hidden_text(self.week)

    def teardown(self, worker) -> None:
        self.stack.close()


def grade_task(name: str, notebook: bytes, timeout: float) -> tuple:
    """Run on a Dask worker: grade one submission (file ``name``, contents ``notebook``) in the worker's course.

    Returns (Result, feedback page or None, verdicts or None), the last two as bytes."""
    from autograder.grade import _grade_one

    plugin = get_worker().plugins[PLUGIN]
    with plugin.lock, tempfile.TemporaryDirectory(prefix="dlfs-dask-") as scratch:
        path = Path(scratch) / "in" / name
        path.parent.mkdir()
        path.write_bytes(notebook)
        out = Path(scratch) / "out"
        (out / "feedback").mkdir(parents=True)
        result = _grade_one(plugin.course, path, out, plugin.secrets, timeout)
        page = out / "feedback" / f"{result.student}.html"
        verdicts = out / report.VERDICTS / f"{result.student}.json"
        return (result, page.read_bytes() if page.exists() else None,
                verdicts.read_bytes() if verdicts.exists() else None)


def _each(futures: dict, waiting: list[Path], send) -> Iterator:
    """The futures as they complete; after each, the next of ``waiting`` is sent (and added to ``futures``)."""
    done = as_completed(list(futures))
    for future in done:
        yield future
        if waiting:
            path = waiting.pop(0)
            future = send(path)
            futures[future] = path
            done.add(future)


@contextlib.contextmanager
def connect(address: str, workers: int) -> Iterator:
    """A Dask client: of the scheduler at ``address``, or of a new LocalCluster of ``workers`` worker processes
    (one thread each) when ``address`` is ``local``."""
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                                       processes=True, dashboard_address=None,
                                                       memory_limit=None))  # the sandboxes limit the kernels
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address))
        yield client


def run(client, week: str, paths: list[Path], out: Path, timeout: float, sandbox: Limits | None,
        one_at_a_time: bool = False) -> Iterator:
    """Grade ``paths`` on the cluster's workers; yield each Result as it completes, after writing its feedback page
    and verdicts into ``out``. A task that fails (its worker died more often than Dask retries) is a flagged row.
    ``one_at_a_time``: each task is sent when the one before has finished (a timing alone)."""
    from autograder.grade import Result

    client.register_plugin(CoursePlugin(week, None if sandbox is None else asdict(sandbox)), name=PLUGIN)
    run_id = uuid.uuid4().hex[:8]

    def send(path: Path):
        return client.submit(grade_task, path.name, path.read_bytes(), timeout, key=f"dlfs-grade-{run_id}-{path.name}")

    futures = {send(path): path for path in (paths[:1] if one_at_a_time else paths)}
    waiting = list(paths[1:]) if one_at_a_time else []
    try:
        for future in _each(futures, waiting, send):
            path = futures[future]
            try:
                result, page, verdicts = future.result()
            except Exception as err:  # the worker died or the task could not run: flagged, never lost
                yield Result(path.stem, "flagged", reason=f"the Dask task failed ({type(err).__name__}: "
                             f"{str(err).splitlines()[0][:200] if str(err) else ''})")
                continue
            if page is not None:
                (out / "feedback" / f"{result.student}.html").write_bytes(page)
            if verdicts is not None:
                (out / report.VERDICTS).mkdir(parents=True, exist_ok=True)
                (out / report.VERDICTS / f"{result.student}.json").write_bytes(verdicts)
            yield result
    finally:
        for future in futures:
            future.cancel()
        with contextlib.suppress(Exception):  # each worker removes its course (a closed cluster already has)
            client.unregister_worker_plugin(PLUGIN)
