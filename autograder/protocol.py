"""The trusted side of a hidden test: inputs out, answers in, verdict here.

A hidden case is registered in its topic module ``autograder/cases/w<NN>_<topic>.py`` with :func:`case`.
Its function receives a NumPy generator and returns ``(inputs, judge)``: the inputs the kernel's probe
needs (data only: arrays, numbers, text, frames, :class:`~dlfs.grading.Call` lists) and a judge that,
given the answers the kernel recorded and a :class:`Context`, returns a short pass message or raises
:class:`~dlfs.checks.CheckFailed` with the diagnosis. References, tolerances, mistakes and held-out
labels stay in this process: the kernel only ever sees the inputs.

Cases are found by convention: the week is the id's prefix (``w01``), and every module
``autograder/cases/w01_*.py`` is imported, lazily and for that week only, when one of its cases is
needed. :func:`run_case` runs a case in-process (the pytest suites); :mod:`autograder.judge` runs it
around a notebook cell while nbgrader grades.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import secrets
import tempfile
import textwrap
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlfs import grading
from dlfs.checks import CheckFailed, Mistake, check_array
from dlfs.grading import Raised, Unsupported

Judge = Callable[["Answers", "Context"], str]


@dataclass(frozen=True)
class Case:
    case_id: str
    make: Callable[[np.random.Generator], tuple[dict, Judge]]
    fresh: bool
    module: str

    def build(self) -> tuple[dict, Judge]:
        """The inputs and the judge; ``fresh`` cases draw new inputs at every grading (speed, held-out)."""
        seed = secrets.randbits(64) if self.fresh else zlib.crc32(self.case_id.encode())
        return self.make(np.random.default_rng(seed))


CASES: dict[str, Case] = {}
#: The mistake a speed case names when the answer is right but slower than its bar (a verdict ``grade`` gives
#: only once the submission was timed alone: see :func:`autograder.grade.grade`).
SLOW = "slower than required"


def case(case_id: str, *, fresh: bool = False) -> Callable:
    """Register a hidden case under ``case_id`` (``w<NN>_<task>_<what>``)."""

    def register(make: Callable[[np.random.Generator], tuple[dict, Judge]]) -> Callable:
        if case_id in CASES and CASES[case_id].module != make.__module__:
            raise ValueError(f"hidden case {case_id!r} is registered twice")
        CASES[case_id] = Case(case_id, make, fresh, make.__module__)
        return make

    return register


def week_of(case_id: str) -> str:
    return case_id.split("_", 1)[0]


def topic_modules(week: str | None = None) -> list[str]:
    """The trusted topic modules (``autograder.cases.w<NN>_<topic>``), of one week or of all."""
    import autograder.cases

    names = sorted(m.name for m in pkgutil.iter_modules(autograder.cases.__path__) if m.name[:1] == "w")
    return [f"autograder.cases.{n}" for n in names if week is None or n.startswith(f"{week}_")]


def load_week(week: str) -> None:
    """Import the week's topic modules, which register its cases."""
    for name in topic_modules(week):
        importlib.import_module(name)


def get_case(case_id: str) -> Case:
    load_week(week_of(case_id))
    if case_id not in CASES:
        known = ", ".join(sorted(c for c in CASES if week_of(c) == week_of(case_id)))
        raise KeyError(f"unknown hidden test {case_id!r}; known for {week_of(case_id)}: {known}")
    return CASES[case_id]


# ---- what the judge is given -------------------------------------------------------------------------


@dataclass
class Context:
    """What the trusted side knows about the run besides the answers.

    ``name``: the name of the student's function in the test cell; ``seconds``: the time the cell took, measured
    outside the kernel: the CPU time of the sandbox's processes while grading (:mod:`autograder.cpuclock`), the wall
    clock where no cgroup counts them, and this process's CPU time for the probe run in-process; ``sources``:
    the code of the notebook's cells before the test cell, as submitted (for rules about source code).
    """

    name: str
    seconds: float = float("nan")
    sources: list[str] = field(default_factory=list)

    def definition(self, name: str | None = None) -> str:
        """The source of the last top-level ``def`` of ``name`` in the cells before the test.

        Fails when the name is bound last by something other than ``def`` (an assignment, an import):
        the rule is about the function as written, and a rebinding would hide which one runs.
        """
        name = name or self.name
        last: tuple[str, str] | None = None
        for source in self.sources:
            code = _python_only(source)
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in tree.body:
                text = ast.get_source_segment(code, node) or ""
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                    last = ("def", text)
                elif name in _bound_names(node):
                    last = ("other", text)
        if last is None:
            raise CheckFailed(f"no `def {name}(...)` found in the notebook's cells: define it with `def`.")
        kind, text = last
        if kind != "def":
            raise CheckFailed(f"{name} is bound last by `{text.splitlines()[0][:80]}`, not by its `def`: define it "
                              "once, with `def`, and do not assign to its name.")
        return text


def _python_only(source: str) -> str:
    """A cell without IPython's magics and shell escapes (lines starting with % or !)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement (other than a def) binds: assignments, imports, classes, loops, with."""
    names: set[str] = set()
    if isinstance(node, ast.ClassDef):
        names.add(node.name)
    if isinstance(node, ast.Import | ast.ImportFrom):
        names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
    return names


class Answers:
    """What the kernel recorded for one case, with the checks every judge needs."""

    def __init__(self, tree: Any, name: str) -> None:
        self.tree = tree
        self.name = name

    def __getitem__(self, key: str) -> Any:
        if not isinstance(self.tree, dict) or key not in self.tree:
            raise CheckFailed(f"{self.name}: the answers hold no {key!r} (was the hidden test cell changed?).")
        return self.tree[key]

    def value(self, value: Any, label: str = "") -> Any:
        """``value`` unless it records an exception or a type that cannot be checked."""
        name = self.name + (f" on {label}" if label else "")
        if isinstance(value, Raised):
            if value.type == "NotImplementedError":
                raise CheckFailed(f"{self.name} is not implemented yet: replace `raise NotImplementedError()` "
                                  "with your code.")
            raise CheckFailed(f"{name} raised {value.type}: {value.message}. Run it by hand on a small input "
                              "to see where.")
        if isinstance(value, Unsupported):
            raise CheckFailed(f"{name} returned {value.type}, which cannot be checked; return NumPy arrays "
                              "or numbers.")
        return value

    def result(self, index: int, label: str = "", arguments: Iterable[str] = ()) -> Any:
        """The result of call ``index`` (default probe); fails if it raised or changed an argument."""
        value = self.value(self["results"][index], label)
        names = list(arguments)
        for position in self["changed"][index]:
            argument = names[position] if position < len(names) else f"argument {position + 1}"
            raise CheckFailed(f"{self.name}{f' on {label}' if label else ''} changed its input `{argument}` in place; "
                              "work on a copy or on new arrays.")
        return value

    def parts(self, value: Any, *parts: str) -> tuple:
        """The parts of a tuple result, or a failure naming what the function must return."""
        if not (isinstance(value, tuple | list) and len(value) == len(parts)):
            got = f"a tuple of {len(value)}" if isinstance(value, tuple | list) else f"a {type(value).__name__}"
            raise CheckFailed(f"{self.name} must return a tuple ({', '.join(parts)}); got {got}.")
        return tuple(value)

    def file(self, index: int, name: str) -> bytes | None:
        data = self["files"][index].get(name)
        return None if data is None else np.asarray(data, dtype=np.uint8).tobytes()


def mistakes_on(outputs: dict[str, Any], messages: dict[str, str]) -> list[Mistake]:
    """The named mistakes: what each outputs on the case's inputs, and what to tell the student."""
    return [Mistake(name, outputs[name], messages[name]) for name in messages if name in outputs]


def expect(
    answers: Answers, index: int, expected: Any, *, label: str = "",
    mistakes: list[Mistake] | Callable[[], list[Mistake]] = (),
    rtol: float = 1e-7, atol: float = 0.0, hint: str = "", arguments: Iterable[str] = (),
) -> float:
    """Compare call ``index``'s result with ``expected``; return the max relative error.

    ``mistakes`` may also be a function returning them, called only when the answer is wrong: some take seconds
    to compute, which a correct answer (or none at all) should not cost the grader.
    """
    got = answers.result(index, label, arguments)
    name = answers.name + (f" on {label}" if label else "")
    if callable(mistakes):
        try:
            return check_array(name, got, expected, rtol=rtol, atol=atol, hint=hint)
        except CheckFailed:
            mistakes = mistakes()
    return check_array(name, got, expected, rtol=rtol, atol=atol, mistakes=mistakes, hint=hint)


# ---- running a case in-process (pytest) --------------------------------------------------------------


def write_inputs(root: Path, case_id: str, inputs: dict) -> None:
    grading.write_tree(inputs, root / "inputs" / case_id)
    (root / "answers").mkdir(parents=True, exist_ok=True)


def read_answers(root: Path, case_id: str) -> Any:
    return grading.read_tree(root / "answers" / case_id)


def target_name(target: Any) -> str:
    return getattr(target, "__name__", None) or (target if isinstance(target, str) else type(target).__name__)


def run_case(case_id: str, target: Any, *args: Any) -> str:
    """Run hidden case ``case_id`` on ``target`` in this process, through the same exchange format.

    Returns the pass message, or raises CheckFailed with the diagnosis, exactly as grading would.
    """
    inputs, judge = get_case(case_id).build()
    sources = []
    if callable(target):
        try:
            sources = [textwrap.dedent(inspect.getsource(target))]
        except (OSError, TypeError):
            pass
    with tempfile.TemporaryDirectory(prefix="dlfs-case-") as scratch:
        root = Path(scratch)
        write_inputs(root, case_id, inputs)
        start = time.process_time()  # CPU time, as the sandbox counts a graded cell's
        grading.run_probe(root, case_id, target, *args)
        seconds = time.process_time() - start
        answers = read_answers(root, case_id)
    return judge(Answers(answers, target_name(target)), Context(target_name(target), seconds, sources))
