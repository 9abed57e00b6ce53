"""Hidden tests judged outside the student's kernel, inside nbgrader's autograde step.

:class:`JudgedExecute` replaces nbgrader's ``Execute`` preprocessor (see ``nbgrader_config.py``). It runs
the notebook cell by cell as ``Execute`` does; around each test cell it

1. reads the cell's hidden calls, ``check("<case id>", <name>, ...)``, from the cell's source as nbgrader
   restored it from the gradebook (a student cannot change it);
2. builds each case's inputs and judge here, writes the inputs into a fresh exchange folder, and deletes
   any answers that were there;
3. times the cell while the kernel runs it: by the CPU time of every process in the sandbox
   (:mod:`autograder.cpuclock`), or by this process's wall clock where there is no sandbox or no cgroup;
4. reads the answers the cell wrote (data only, bounded in size), deletes them, and judges them;
5. replaces the cell's outputs with the verdicts: a line starting with a tick per passed case, or one
   error per failed case, whose message is the diagnosis. nbgrader then scores the cell from these
   outputs: whatever the student's code printed, raised or hid in the cell is gone.

A case whose answers are missing fails with "no answer recorded" and the reason when one is known (the
cell raised first, ran past its time limit, or the kernel died). All the grading code is imported before
the kernel starts.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute

from autograder import kernels, protocol
from autograder.course import REPO
from autograder.sandbox import Box, Limits
from dlfs.checks import CheckFailed
from dlfs.grading import EXCHANGE, ExchangeError


@dataclass(frozen=True)
class HiddenCall:
    case_id: str
    target: str


def hidden_calls(source: str) -> list[HiddenCall]:
    """The ``check("<case id>", target, ...)`` calls of a test cell, in order."""
    try:
        tree = ast.parse(protocol._python_only(source))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            target = node.args[1]
            name = target.id if isinstance(target, ast.Name) else (
                target.value if isinstance(target, ast.Constant) else ast.unparse(target))
            found.append(HiddenCall(node.args[0].value, str(name)))
    return found


#: The environment variable naming the file the verdicts are written to (see :mod:`autograder.report`).
VERDICTS = "DLFS_VERDICTS"
#: What a kernel killed by a signal most likely met.
SIGNALS = {
    "SIGXCPU": "its CPU-time limit",
    "SIGXFSZ": "its file-size limit",
    "SIGKILL": "killed from outside, or by itself",
    "SIGSEGV": "a crash in compiled code",
    "SIGABRT": "an abort in compiled code, often memory it could not get",
    "SIGBUS": "a crash in compiled code",
}


#: Bytes of output the graded notebook keeps per cell and in all (the solutions' largest cell has 0.75 MB, all of
#: week 5's 1.5 MB): a submission that prints without end gets a note, not a page of hundreds of megabytes.
CELL_OUTPUT_LIMIT, OUTPUT_LIMIT = 2_000_000, 10_000_000


def _output_size(content: dict) -> int:
    """About the bytes an output message adds to the notebook (text, data, traceback)."""
    size = len(content.get("text") or "") + len(str(content.get("evalue") or ""))
    size += sum(len(line) for line in content.get("traceback") or [])
    return size + sum(len(value) if isinstance(value, str) else len(json.dumps(value))
                      for value in (content.get("data") or {}).values())


def restore_environ(saved: dict[str, str | None]) -> None:
    """Put environment variables back as they were (None: was not set)."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def is_test_cell(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def passed_output(case_id: str, message: str) -> Any:
    return new_output("stream", name="stdout", text=f"\u2713 {case_id}: {message}\n")


def failed_output(case_id: str, message: str) -> Any:
    text = f"{case_id}: {message}"
    return new_output("error", ename="CheckFailed", evalue=text, traceback=[f"CheckFailed: {text}"])


def _cell_error(cell: Any) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {str(output.get('evalue', ''))[:300]}"
    return ""


class JudgedExecute(Execute):
    """nbgrader's Execute with every hidden case judged in this (trusted) process."""

    def preprocess(self, nb, resources=None, km=None):
        limits = Limits.from_env()
        if limits is None:
            self._box = self._started = None
            return self._preprocess(nb, resources, km)
        spare_key = kernels.key(limits, self._kernel_name(nb), self._kernel_arguments())
        spare = kernels.take_spare(spare_key)  # a worker's kernel started while the last notebook's feedback was made
        self._box, self._started = (spare.box, spare.km) if spare else (Box(limits).__enter__(), None)
        try:
            return self._preprocess(nb, resources, km)
        finally:
            self._box.__exit__(None, None, None)
            kernels.start_spare(spare_key, self.config)

    def _kernel_name(self, nb) -> str:
        return self.kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"

    def _kernel_arguments(self) -> list[str]:
        """The kernel's extra arguments as nbclient's ``async_start_new_kernel`` passes them to ipykernel."""
        arguments = list(self.extra_arguments)
        if self.ipython_hist_file and not any(a.startswith("--HistoryManager.hist_file") for a in arguments):
            arguments.append(f"--HistoryManager.hist_file={self.ipython_hist_file}")
        return arguments

    def create_kernel_manager(self):
        if self._box is None:
            return super().create_kernel_manager()
        self.kernel_name = self._kernel_name(self.nb)
        # A started kernel is not started again: nbclient only starts one for a manager without a kernel.
        self.km = self._started or kernels.manager(self._box, self.kernel_name, self.config)
        return self.km

    async def _async_poll_kernel_alive(self) -> None:
        """nbclient's watch for a kernel that died during a cell, looking every 0.1 s instead of every second: a crashed
        kernel's cell ended up to a second later than it had to (0.7 s more per crashed submission, measured here)."""
        while True:
            await asyncio.sleep(0.1)
            try:
                await self._async_check_alive()
            except DeadKernelError:
                self.task_poll_for_reply.cancel()
                return

    def _preprocess(self, nb, resources, km):
        plan = {i: hidden_calls(cell.source) for i, cell in enumerate(nb.cells) if is_test_cell(cell)}
        for week in {protocol.week_of(c.case_id) for calls in plan.values() for c in calls}:
            protocol.load_week(week)  # imported now, before any student code runs
        self._plan, self._dead_in, self._death, self._verdicts, self._judging = plan, None, "", [], 0.0
        self._cell_output, self._output, self._cut = {}, 0, set()
        self._exchange = self._box.exchange if self._box else Path(tempfile.mkdtemp(prefix="dlfs-exchange-"))
        saved = {name: os.environ.get(name)
                 for name in (EXCHANGE, "PYTHONPATH", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
        os.environ[EXCHANGE] = str(self._exchange)  # the kernel inherits its environment from this process
        os.environ["PYTHONPATH"] = os.pathsep.join(  # and must not import the instructor side
            p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p and Path(p).resolve() != REPO)
        os.environ.pop("PYTHONPYCACHEPREFIX", None)  # nor learn where this process keeps its byte code
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # nor leave byte code of its own anywhere
        try:
            NotebookClient.__init__(self, nb, km)
            self.reset_execution_trackers()
            self._check_assign_resources(resources)
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(self.nb.cells):
                    self.preprocess_cell(cell, resources, index)
            self.set_widgets_metadata()
            self._write_verdicts()
        finally:
            restore_environ(saved)
            shutil.rmtree(self._exchange, ignore_errors=True)
        return self.nb, self.resources

    def preprocess_cell(self, cell, resources, index):
        calls = self._plan.get(index)
        if self._dead_in is not None:
            if calls is not None:
                why = f"the kernel died{self._death} while running cell {self._dead_in + 1}, so this cell never ran"
                cell.outputs = [failed_output(c.case_id, f"no answer recorded: {why}.") for c in calls]
                self._record(cell, index, calls)
            return cell, self.resources
        start = time.perf_counter()
        judges = self._prepare(calls) if calls is not None else {}
        self._judging += time.perf_counter() - start
        cpu = self._box.cpu_seconds() if self._box is not None and calls is not None else None
        start = time.perf_counter()
        try:
            self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            self._dead_in, self._death = index, self._death_cause()
        seconds = time.perf_counter() - start
        if cpu is not None:  # the sandbox's CPU time, which a neighbouring worker cannot slow (autograder.cpuclock)
            spent = self._box.cpu_seconds() - cpu
            seconds = spent if spent > 0 else seconds
        if calls is None:
            return cell, self.resources
        sources = [c.source for c in self.nb.cells[:index] if c.cell_type == "code"]
        start = time.perf_counter()
        cell.outputs = [self._verdict(call, judges[call.case_id], cell, index, seconds, sources) for call in calls]
        self._judging += time.perf_counter() - start
        self._record(cell, index, calls)
        shutil.rmtree(self._exchange / "inputs", ignore_errors=True)
        shutil.rmtree(self._exchange / "answers", ignore_errors=True)
        return cell, self.resources

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, with a limit on what a cell and the notebook keep (CELL_OUTPUT_LIMIT,
        OUTPUT_LIMIT): past it, one note says what was dropped, and the rest of the cell's output is dropped."""
        if cell_index in self._cut:
            return None
        size = _output_size(msg.get("content") or {})
        kept = self._cell_output.get(cell_index, 0)
        if kept + size > CELL_OUTPUT_LIMIT or self._output + size > OUTPUT_LIMIT:
            self._cut.add(cell_index)
            room = max(0, min(CELL_OUTPUT_LIMIT - kept, OUTPUT_LIMIT - self._output))
            if msg.get("msg_type") == "stream" and room:  # the text up to the limit, then the note
                msg["content"]["text"] = msg["content"]["text"][:room]
                super().output(outs, msg, display_id, cell_index)
                kept += room
                self._output += room
            note = (f"[the grader kept the first {kept:,} bytes of this cell's output and dropped the rest: at most "
                    f"{CELL_OUTPUT_LIMIT:,} per cell and {OUTPUT_LIMIT:,} per notebook are kept]\n")
            outs.append(new_output("stream", name="stderr", text=note))
            return None
        self._cell_output[cell_index] = kept + size
        self._output += size
        return super().output(outs, msg, display_id, cell_index)

    def _record(self, cell: Any, index: int, calls: list[HiddenCall]) -> None:
        """Keep the verdicts now in the cell's outputs for the class report (:meth:`_write_verdicts`)."""
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {index + 1}")
        for call, output in zip(calls, cell.outputs):
            failed = output.get("output_type") == "error"
            self._verdicts.append({"cell": grade_id, "case": call.case_id, "passed": not failed,
                                   "mistake": output.pop("_mistake", None),
                                   "message": str(output.get("evalue", "")).split(": ", 1)[-1] if failed else ""})

    def _prepare(self, calls: list[HiddenCall]) -> dict[str, Any]:
        """Fresh exchange folders holding this cell's inputs only; return each case's judge."""
        shutil.rmtree(self._exchange / "inputs", ignore_errors=True)
        shutil.rmtree(self._exchange / "answers", ignore_errors=True)
        judges = {}
        for call in calls:
            try:
                inputs, judge = protocol.get_case(call.case_id).build()
                protocol.write_inputs(self._exchange, call.case_id, inputs)
                judges[call.case_id] = judge
            except KeyError as err:
                judges[call.case_id] = err
        (self._exchange / "answers").mkdir(parents=True, exist_ok=True)
        if self._box:
            self._box.give(self._exchange / "answers")
        return judges

    def _verdict(self, call: HiddenCall, judge: Any, cell: Any, index: int, seconds: float, sources: list[str]):
        if isinstance(judge, KeyError):
            return failed_output(call.case_id, f"the course has no hidden test of that name ({judge}).")
        try:
            answers = protocol.read_answers(self._exchange, call.case_id)
        except ExchangeError as err:
            return failed_output(call.case_id, self._missing(err, cell, index))
        context = protocol.Context(call.target, seconds, sources)
        try:
            return passed_output(call.case_id, judge(protocol.Answers(answers, call.target), context))
        except CheckFailed as err:
            output = failed_output(call.case_id, str(err))
            output["_mistake"] = getattr(err, "mistake", None)  # taken off again before nbgrader sees the output
            return output
        except Exception as err:  # answers of the wrong kind: the student's answer, not the grader, is wrong
            self.log.warning("judging %s raised %r", call.case_id, err)
            return failed_output(call.case_id, f"the answers could not be checked ({type(err).__name__}: {err}).")

    def _write_verdicts(self) -> None:
        """Every case's verdict, for the class report: to the file ``grade`` names in DLFS_VERDICTS, if any."""
        path = os.environ.get(VERDICTS)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            record = {"judge_seconds": round(self._judging, 3), "verdicts": self._verdicts}
            Path(path).write_text(json.dumps(record, indent=1))

    def _death_cause(self) -> str:
        """How the kernel ended, as " (killed by SIGXCPU: the CPU-time limit)" or " (exit status 3)"; "" if unknown.

        Sandboxed, the process is the launcher, which ends with the kernel's status (128 + N for signal N)."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        try:
            code = process.wait(timeout=5) if process is not None else None
        except Exception:  # still running or already reaped: the cause is unknown
            return ""
        if code is None:
            return ""
        number = -code if code < 0 else code - 128 if code > 128 and self._box else None
        if number is None:
            return f" (exit status {code}: the code called os._exit or exit from a thread?)"
        try:
            name = signal.Signals(number).name
        except ValueError:
            return f" (killed by signal {number})"
        return f" (killed by {name}{': ' + SIGNALS[name] if name in SIGNALS else ''})"

    def _missing(self, err: ExchangeError, cell: Any, index: int) -> str:
        if self._dead_in == index:
            return f"no answer recorded: the kernel died{self._death} while running this cell."
        error = _cell_error(cell)
        if "CellTimeoutError" in error:
            return f"no answer recorded: the cell did not finish within {self.timeout} s."
        if error:
            return f"no answer recorded: the cell stopped before the hidden test could answer ({error})."
        if str(err) != "no answer file":
            return f"no answer recorded: the answers are unreadable ({err})."
        return "no answer recorded (was the hidden test cell changed or its output suppressed?)."
