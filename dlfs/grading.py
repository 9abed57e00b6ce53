"""The student's side of a hidden test: make the calls, write down what came back. Nothing else.

A hidden test cell holds one call, ``check("w01_l2_distances_shapes", l2_distances_two_loops)``. While a
notebook is graded, the grader (a trusted process outside the kernel) writes the case's inputs into an
exchange folder just before the cell runs; :func:`check` reads them, calls the student's function, and
writes what it returned (or the exception it raised) back as data: ``.npy`` files without pickle and one
JSON file. The grader reads those answers after the cell, and only there are they compared with the
reference, diagnosed and scored. This module holds no reference, no tolerance and no verdict: whatever
it is made to write, the grader judges it as the answers of the student's functions.

The inputs say which calls to make (a list of :class:`Call`); a case that needs more than calls (a file
written by the function, a class to drive) has a *probe* of its own in its topic module
(``dlfs/checks/w<NN>_<topic>.py``), registered with :func:`probe`.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The environment variable that names the exchange folder while a notebook is graded.
EXCHANGE = "DLFS_GRADING"
TREE = "tree.json"
#: Bounds on what is read back (the grader reads answers written by code it does not trust).
MAX_JSON_BYTES = 16 * 2**20
MAX_ARRAY_BYTES = 1 * 2**30
MAX_DEPTH = 32


@dataclass(frozen=True)
class Call:
    """One call to make on the student's function: ``fn(*args, **kwargs)``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OutputFile:
    """An argument that is a path the function writes to; the probe records the file's bytes."""

    name: str


@dataclass(frozen=True)
class Pixels:
    """Images sent as ``uint8`` and handed to the function as ``pixels.astype(dtype) / 255``."""

    pixels: np.ndarray
    dtype: str = "float64"

    def value(self) -> np.ndarray:
        out = self.pixels.astype(self.dtype)
        out /= 255
        return out


@dataclass(frozen=True)
class Raised:
    """An exception a call raised, recorded as its type name and message."""

    type: str
    message: str


@dataclass(frozen=True)
class Unsupported:
    """A value the exchange format cannot carry (an object array, a custom class, ...)."""

    type: str


class ExchangeError(ValueError):
    """The exchange folder holds something that is not a valid tree of answers."""


# ---- the data-only format, both directions -----------------------------------------------------------


def _encode(value: Any, folder: Path, counter: list[int], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return {"unsupported": "a structure nested too deeply"}

    def sub(item: Any) -> Any:
        return _encode(item, folder, counter, depth + 1)

    if value is None or isinstance(value, bool | int | float | str):
        return {"json": value}
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {"unsupported": f"an array of dtype {value.dtype}"}
        name = f"{counter[0]}.npy"
        counter[0] += 1
        np.save(folder / name, value if value.flags.c_contiguous else value.copy(order="C"), allow_pickle=False)
        return {"array": name}
    if isinstance(value, pd.DataFrame):
        frame = {"columns": [str(c) for c in value.columns], "index": sub(value.index.to_numpy())}
        if len(set(value.dtypes)) == 1 and value.shape[1] > 1 and value.dtypes.iloc[0].kind in "biuf":
            return {"frame": frame | {"block": sub(value.to_numpy())}}  # all one numeric dtype: one array
        return {"frame": frame | {"data": [_column(value[c].to_numpy(), sub) for c in value.columns]}}
    if isinstance(value, pd.Series):
        return {"series": {"name": None if value.name is None else str(value.name),
                           "index": sub(value.index.to_numpy()), "data": _column(value.to_numpy(), sub)}}
    if isinstance(value, tuple | list):
        return {type(value).__name__: [sub(item) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": {key: sub(item) for key, item in value.items()}}
    if isinstance(value, Call):
        return {"call": {"args": [sub(a) for a in value.args], "kwargs": {k: sub(v) for k, v in value.kwargs.items()}}}
    if isinstance(value, OutputFile):
        return {"output_file": value.name}
    if isinstance(value, Pixels):
        return {"pixels": {"data": sub(value.pixels), "dtype": value.dtype}}
    if isinstance(value, Raised):
        return {"raised": {"type": value.type, "message": value.message}}
    if isinstance(value, Unsupported):
        return {"unsupported": value.type}
    return {"unsupported": type(value).__name__}


def _column(values: np.ndarray, sub: Callable[[Any], Any]) -> Any:
    """A frame column: numbers and booleans as they are; anything else as text plus a mask of gaps."""
    if values.dtype.hasobject:
        missing = pd.isna(values)
        return {"text": sub(np.array(["" if gap else str(v) for v, gap in zip(values, missing)])),
                "missing": sub(np.asarray(missing, dtype=bool))}
    return {"values": sub(values)}


def write_tree(value: Any, folder: Path) -> None:
    """Write ``value`` into an empty ``folder``: arrays as ``.npy`` (no pickle), the rest as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    tree = _encode(value, folder, [0])
    (folder / TREE).write_text(json.dumps(tree))


class _Reader:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.array_bytes = 0

    def array(self, name: Any) -> np.ndarray:
        if not (isinstance(name, str) and name.endswith(".npy") and name[:-4].isdigit()):
            raise ExchangeError(f"bad array name {name!r}")
        path = self.folder / name
        if not path.is_file() or path.is_symlink():
            raise ExchangeError(f"missing array file {name}")
        self.array_bytes += path.stat().st_size
        if self.array_bytes > MAX_ARRAY_BYTES:
            raise ExchangeError(f"the answers hold more than {MAX_ARRAY_BYTES >> 20} MB of arrays")
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ExchangeError(f"unreadable array file {name}: {err}") from err

    def column(self, node: Any, depth: int) -> np.ndarray:
        if not isinstance(node, dict):
            raise ExchangeError("bad frame column")
        if "values" in node:
            return np.asarray(self.decode(node["values"], depth + 1))
        text = np.asarray(self.decode(node["text"], depth + 1))
        missing = np.asarray(self.decode(node["missing"], depth + 1), dtype=bool)
        if text.shape != missing.shape:
            raise ExchangeError("bad frame column")
        return np.array([None if gap else str(t) for t, gap in zip(text, missing)], dtype=object)

    def decode(self, node: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH or not isinstance(node, dict) or len(node) != 1:
            raise ExchangeError("malformed answer tree")
        [(kind, body)] = node.items()
        if kind == "json":
            if body is not None and not isinstance(body, bool | int | float | str):
                raise ExchangeError("malformed answer tree")
            return body
        if kind == "array":
            return self.array(body)
        if kind in ("list", "tuple"):
            items = [self.decode(item, depth + 1) for item in _expect(body, list)]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {str(k): self.decode(v, depth + 1) for k, v in _expect(body, dict).items()}
        if kind == "frame":
            body = _expect(body, dict)
            columns = [str(c) for c in _expect(body["columns"], list)]
            index = np.asarray(self.decode(body["index"], depth + 1))
            if "block" in body:
                block = np.asarray(self.decode(body["block"], depth + 1))
                if block.ndim != 2 or block.shape != (len(index), len(columns)):
                    raise ExchangeError("bad frame")
                return pd.DataFrame(block, index=index, columns=columns)
            data = [self.column(col, depth) for col in _expect(body["data"], list)]
            if len(columns) != len(data) or any(len(col) != len(index) for col in data):
                raise ExchangeError("bad frame")
            return pd.DataFrame(dict(zip(columns, data)), index=index, columns=columns)
        if kind == "series":
            body = _expect(body, dict)
            return pd.Series(self.column(body["data"], depth), index=np.asarray(self.decode(body["index"], depth + 1)),
                             name=body.get("name"))
        if kind == "call":
            body = _expect(body, dict)
            return Call(tuple(self.decode(a, depth + 1) for a in _expect(body["args"], list)),
                        {str(k): self.decode(v, depth + 1) for k, v in _expect(body["kwargs"], dict).items()})
        if kind == "output_file":
            return OutputFile(str(body))
        if kind == "pixels":
            body = _expect(body, dict)
            return Pixels(np.asarray(self.decode(body["data"], depth + 1)), str(body["dtype"]))
        if kind == "raised":
            body = _expect(body, dict)
            return Raised(str(body.get("type", "")), str(body.get("message", "")))
        if kind == "unsupported":
            return Unsupported(str(body))
        raise ExchangeError(f"unknown kind {kind!r} in the answers")


def _expect(body: Any, kind: type) -> Any:
    if not isinstance(body, kind):
        raise ExchangeError("malformed answer tree")
    return body


def read_tree(folder: Path) -> Any:
    """Read what :func:`write_tree` wrote, refusing pickles, huge files and malformed trees."""
    path = folder / TREE
    if not path.is_file() or path.is_symlink():
        raise ExchangeError("no answer file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ExchangeError(f"the answer file is larger than {MAX_JSON_BYTES >> 20} MB")
    try:
        tree = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ExchangeError(f"the answer file is not valid JSON ({err})") from err
    return _Reader(folder).decode(tree)


# ---- running a case in the kernel --------------------------------------------------------------------

#: Probes of cases that need more than a list of calls, registered by the topic modules.
PROBES: dict[str, Callable[..., Any]] = {}


def probe(case_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the calls of hidden case ``case_id``: ``probe(target, *args, inputs=...) -> answers``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        PROBES[case_id] = fn
        return fn

    return register


def _load_probes(case_id: str) -> None:
    """Import the topic modules of the case's week (``dlfs/checks/w<NN>_*.py``), which register probes."""
    week = case_id.split("_", 1)[0]
    import dlfs.checks

    for module in pkgutil.iter_modules(dlfs.checks.__path__):
        if module.name.startswith(f"{week}_"):
            importlib.import_module(f"dlfs.checks.{module.name}")


def record(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` and return its result, or the exception it raised as a :class:`Raised`."""
    try:
        return fn(*args, **kwargs)
    except (Exception, SystemExit) as err:  # an interrupt (KeyboardInterrupt) stops the cell as usual
        return Raised(type(err).__name__, str(err))


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        kind = before.dtype.kind
        return not np.array_equal(before, after, equal_nan=kind in "fc")
    if isinstance(before, pd.DataFrame | pd.Series):
        return not before.equals(after)
    return False


def _read_file(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    return np.frombuffer(path.read_bytes()[: 64 * 2**20], dtype=np.uint8).copy()


def make_calls(fn: Callable[..., Any], calls: list[Call]) -> dict[str, Any]:
    """The default probe: each call's result (or exception), which arguments it changed, files it wrote."""
    results, changed, files = [], [], []
    with tempfile.TemporaryDirectory(prefix="dlfs-out-") as scratch:
        for call in calls:
            args = [str(Path(scratch) / a.name) if isinstance(a, OutputFile) else
                    a.value() if isinstance(a, Pixels) else a for a in call.args]
            before = [a.copy() if isinstance(a, np.ndarray | pd.DataFrame | pd.Series) else None for a in args]
            results.append(record(fn, *args, **call.kwargs))
            changed.append([i for i, (b, a) in enumerate(zip(before, args)) if b is not None and _changed(b, a)])
            files.append({a.name: _read_file(Path(scratch) / a.name) for a in call.args if isinstance(a, OutputFile)})
    return {"results": results, "changed": changed, "files": files}


def run_probe(root: str | os.PathLike[str], case_id: str, target: Any, *args: Any) -> None:
    """Read the case's inputs from the exchange folder, make its calls, write the answers back."""
    root = Path(root)
    inputs = read_tree(root / "inputs" / case_id)
    _load_probes(case_id)
    custom = PROBES.get(case_id)
    if custom is not None:
        answers = custom(target, *args, inputs=inputs)
    else:
        answers = make_calls(target, list(inputs["calls"]))
    final = root / "answers" / case_id
    staging = Path(tempfile.mkdtemp(prefix=f".{case_id}-", dir=root / "answers"))
    write_tree(answers, staging)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)


def check(case_id: str, target: Any, *args: Any) -> None:
    """Answer hidden test ``case_id`` with ``target`` (the student's function, class or file name).

    Only does something while a notebook is graded; the grader, not this function, decides the verdict.
    """
    root = os.environ.get(EXCHANGE)
    if not root:
        print(f"{case_id}: hidden tests run only while the notebook is graded.")
        return
    try:
        run_probe(root, case_id, target, *args)
    except (ExchangeError, OSError, KeyError) as err:
        print(f"{case_id}: the answers could not be recorded ({type(err).__name__}: {err}).")
        return
    print(f"{case_id}: answers recorded; the grader checks them after the notebook has run.")
