"""Running real nbgrader on a fresh, temporary course folder.

Every command works on a new temporary copy of the course (config + one week's source), so no
gradebook, submission or feedback is ever written inside the repository, runs never see each other's
state, and a crash leaves the repository as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:
    from autograder.sandbox import Limits

REPO = Path(__file__).resolve().parent.parent
AUTOGRADER = REPO / "autograder"
SOURCE_DIR = AUTOGRADER / "source"
SOLUTIONS_DIR = REPO / "solutions"
#: The course's weeks, in order (the top-level folders students open).
WEEKS = (
    "week01_linear_algebra",
    "week02_backprop",
    "week03_cnn",
    "week04_conv_from_scratch",
    "week05_gans_transformers",
)
NOTEBOOK = "assignment.ipynb"
_WEEK_FOLDER = re.compile(r"^week(\d\d)_[a-z0-9_]+$")


#: The nbgrader processes running now (several when ``grade`` has workers), for :func:`stop_running`.
_RUNNING: set[subprocess.Popen] = set()


def stop_running() -> None:
    """Kill every nbgrader process this process started that is still running, with its kernels."""
    for process in list(_RUNNING):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


#: Seconds to write one feedback page (about 1 s; the submission's own time limit is spent by then).
FEEDBACK_TIMEOUT = 120.0


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message ends with the tail of its log."""


def weeks_with_source() -> list[str]:
    """The weeks whose assignment source exists (``autograder/source/weekNN_<name>/``), in order.

    Found by folder name, so a new week needs no list to be edited.
    """
    found = [p.parent.name for p in SOURCE_DIR.glob(f"week*/{NOTEBOOK}") if _WEEK_FOLDER.match(p.parent.name)]
    return sorted(found)


def week_prefix(week: str) -> str:
    """``week01_linear_algebra`` -> ``w01``, the prefix of its hidden cases, fixtures and topic modules."""
    return f"w{week[4:6]}"


def resolve_week(name: str) -> str:
    """Accept ``week01_linear_algebra``, ``week01`` or ``1``; fail clearly otherwise."""
    for week in sorted(set(WEEKS) | set(weeks_with_source())):
        if name in (week, week[:6], str(int(week[4:6]))):
            if not (SOURCE_DIR / week / NOTEBOOK).exists():
                raise SystemExit(f"{week} has no assignment source yet ({SOURCE_DIR / week / NOTEBOOK}).")
            return week
    raise SystemExit(f"Unknown week {name!r}; the weeks are: {', '.join(sorted(set(WEEKS) | set(weeks_with_source())))}.")


def nbgrader_env() -> dict[str, str]:
    """The environment of nbgrader: the instructor side is importable (its configuration loads the judge).

    The kernels nbgrader starts while autograding do not get the repository on their path
    (:class:`autograder.judge.JudgedExecute` takes it out): nothing of ``autograder/`` is importable there.
    """
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # nbgrader calls `alembic` and jupyter's tools by name: the environment's bin folder comes first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MPLBACKEND"] = "Agg"
    # One BLAS thread per kernel: timings stay comparable when submissions are graded side by side
    # (a multi-threaded BLAS on a busy core can be many times slower, and a speed test would flap).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONHASHSEED"] = "0"
    # The notebooks' own long experiments (week 2's and week 4's full training runs) are not graded: the hidden
    # cases train on budgets of their own. Grading runs them small, unless the instructor asks for "full".
    env.setdefault("DLFS_BUDGET", "small")
    return env


def course_env(course: Path, sandbox: Limits | None = None) -> dict[str, str]:
    """The environment of an nbgrader process working in ``course`` (see :func:`nbgrader_env`)."""
    env = nbgrader_env()
    if sandbox is not None:
        env.update(sandbox.to_env())
    # Byte code in the temporary course's own folder: no .pyc planted in the repository's __pycache__
    # is ever read by the grader (compiled once per course, so it costs nothing after the first command).
    # Written there even where the user's environment says not to write byte code: without it every nbgrader
    # command would compile nbgrader, pandas and matplotlib from source again (measured: 4 s more per command).
    env["PYTHONPYCACHEPREFIX"] = str(course / ".pycache")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_nbgrader(args: list[str], course: Path, timeout: float | None = None, sandbox: Limits | None = None,
                 extra_env: dict[str, str] | None = None) -> str:
    """Run ``nbgrader ARGS`` in the course folder; return its log, raise NbgraderError on failure.

    With ``sandbox``, the kernels nbgrader starts run in :mod:`autograder.sandbox` with those limits.
    """
    command = [sys.executable, "-m", "nbgrader", *args]
    env = course_env(course, sandbox)
    env.update(extra_env or {})
    # A session of its own, so that on a time-out the kernels nbgrader started die with it.
    process = subprocess.Popen(
        command,
        cwd=course,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    _RUNNING.add(process)
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise NbgraderError(f"nbgrader {' '.join(args)} did not finish within {timeout:.0f} s") from err
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): nbgrader and its kernels must not outlive us
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        _RUNNING.discard(process)
    if process.returncode != 0:
        tail = "\n".join(log.splitlines()[-25:])
        raise NbgraderError(f"nbgrader {' '.join(args)} failed (exit {process.returncode}):\n{tail}")
    return log


class Worker:
    """A long-lived nbgrader process for one course (:mod:`autograder.worker`), started on first use and again
    after a time-out or a crash. Its log is ``worker.log`` in the course folder."""

    def __init__(self, root: Path, sandbox: Limits | None) -> None:
        self.root, self.sandbox, self.process = root, sandbox, None

    def _start(self) -> None:
        self.log = (self.root / "worker.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.worker", str(self.root)], cwd=self.root, env=course_env(self.root, self.sandbox),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        _RUNNING.add(self.process)
        self._reply(120, "start")

    def _reply(self, timeout: float | None, what: str) -> dict:
        import selectors

        from autograder.worker import REPLY

        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self.stop()
                    raise NbgraderError(f"nbgrader {what} did not finish within {timeout:.0f} s")
                if not selector.select(left):
                    continue
                line = self.process.stdout.readline()
                if not line:  # the worker died
                    tail = self._log_tail()
                    self.stop()
                    raise NbgraderError(f"nbgrader {what} failed (its process ended):\n{tail}")
                if line.startswith(REPLY):
                    return json.loads(line[len(REPLY):])

    def _log_tail(self) -> str:
        try:
            return "\n".join((self.root / "worker.log").read_text(errors="replace").splitlines()[-25:])
        except OSError:
            return ""

    def request(self, command: str, week: str, student: str, timeout: float | None, env: dict[str, str]) -> None:
        self.send(command, week, student, env)
        self.receive(command, week, student, timeout)

    def send(self, command: str, week: str, student: str, env: dict[str, str]) -> None:
        """Ask for ``command`` and return at once; :meth:`receive` waits for its end."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        self.process.stdin.write(json.dumps({"command": command, "week": week, "student": student, "env": env}) + "\n")
        self.process.stdin.flush()

    def receive(self, command: str, week: str, student: str, timeout: float | None) -> None:
        answer = self._reply(timeout, f"{command} {week} --student {student}")
        if not answer["success"]:
            tail = "\n".join((answer["log"] + answer["error"]).splitlines()[-25:])
            raise NbgraderError(f"nbgrader {command} {week} --student {student} failed:\n{tail}")

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            _RUNNING.discard(self.process)
            self.process = None
            self.log.close()
            if self.sandbox is not None:  # the box it was grading in is left mounted: removed now, not at the next run
                from autograder.sandbox import sweep

                sweep()


@dataclass
class Course:
    """A temporary nbgrader course holding one week's assignment, generated and in the gradebook."""

    root: Path
    week: str
    sandbox: Limits | None = None
    worker: Worker | None = None

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def release(self) -> Path:
        return self.root / "release" / self.week / NOTEBOOK

    def submit(self, student: str, nb: nbformat.NotebookNode) -> None:
        """Place a student's notebook where nbgrader collects it (autograde registers the student)."""
        folder = self.root / "submitted" / student / self.week
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / NOTEBOOK)

    def autograde(self, student: str, timeout: float | None = None, verdicts: Path | None = None) -> Path:
        """Autograde one student's submission; return the autograded notebook's path.

        With ``verdicts``, the judge writes every hidden case's verdict there (JSON, for the class report)."""
        env = {"DLFS_VERDICTS": str(verdicts)} if verdicts else {}
        if self.worker is not None:
            self.worker.request("autograde", self.week, student, timeout, env)
        else:
            run_nbgrader(["autograde", self.week, "--student", student, "--force"], self.root, timeout, self.sandbox, env)
        graded = self.root / "autograded" / student / self.week / NOTEBOOK
        if not graded.exists():
            raise NbgraderError(f"nbgrader wrote no autograded notebook for {student}")
        return graded

    def feedback(self, student: str) -> Path:
        """Generate the student's feedback HTML; return its path."""
        if self.worker is not None:
            self.worker.request("generate_feedback", self.week, student, FEEDBACK_TIMEOUT, {})
        else:
            run_nbgrader(["generate_feedback", self.week, "--student", student, "--force"], self.root, FEEDBACK_TIMEOUT)
        return self._page(student)

    def _page(self, student: str) -> Path:
        page = self.root / "feedback" / student / self.week / NOTEBOOK.replace(".ipynb", ".html")
        if not page.exists():
            raise NbgraderError(f"nbgrader wrote no feedback for {student}")
        return page

    def scores_and_feedback(self, student: str) -> tuple[float, float, dict[str, tuple[float, float]], Path]:
        """:meth:`scores` and :meth:`feedback` of an autograded submission. With a worker, the scores are read while
        it writes the page."""
        if self.worker is None:
            return (*self.scores(student), self.feedback(student))
        self.worker.send("generate_feedback", self.week, student, {})
        try:
            score, max_score, cells = self.scores(student)
        finally:  # its reply is read whatever happened here, or the next request would read it
            self.worker.receive("generate_feedback", self.week, student, FEEDBACK_TIMEOUT)
        return score, max_score, cells, self._page(student)

    def scores(self, student: str) -> tuple[float, float, dict[str, tuple[float, float]]]:
        """(score, max score, {grade cell id: (score, max)}) of an autograded submission."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, "dlfs") as gradebook:
            submission = gradebook.find_submission(self.week, student)
            cells = {
                grade.name: (float(grade.score), float(grade.max_score))
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.max_score
            }
            return float(submission.score), float(submission.max_score), cells


@contextmanager
def temporary_course(week: str, sandbox: Limits | None = None, persistent: bool = False) -> Iterator[Course]:
    """A fresh course folder with ``week`` generated by nbgrader; removed afterwards.

    With ``sandbox``, its submissions' kernels run in :mod:`autograder.sandbox` with those limits. ``persistent``:
    autograde and feedback go through one long-lived nbgrader process (:class:`Worker`) instead of one per command.

    Set DLFS_KEEP_COURSE=1 to keep the folder for inspection (its path is printed).
    """
    if sandbox is not None:
        from autograder.sandbox import prepare_data

        prepare_data()
    root = Path(tempfile.mkdtemp(prefix=f"dlfs-{week}-"))
    try:
        shutil.copy(AUTOGRADER / "nbgrader_config.py", root / "nbgrader_config.py")
        shutil.copytree(SOURCE_DIR / week, root / "source" / week)
        run_nbgrader(["db", "assignment", "add", week], root)
        run_nbgrader(["generate_assignment", week, "--force"], root)
        worker = Worker(root, sandbox) if persistent else None
        try:
            yield Course(root, week, sandbox, worker)
        finally:
            if worker is not None:
                worker.stop()
    finally:
        if os.environ.get("DLFS_KEEP_COURSE"):
            print(f"kept the course folder {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def ran_to_end(graded: Path) -> bool:
    """True when every code cell of an autograded notebook was executed (no kernel death or abort)."""
    nb = nbformat.read(graded, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
    return all(cell.execution_count is not None for cell in code)
