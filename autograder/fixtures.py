"""The stored inputs and expected outputs of the visible checks (``dlfs/fixtures/<name>.npz``).

Each trusted topic module (``autograder/cases/w<NN>_<topic>.py``) makes its own with a ``fixtures()``
function returning ``{fixture name: {array name: array}}``; this module finds every topic module, so a
new week's fixtures are written without editing any list. Students receive the arrays (and the
diagnoses of the known mistakes, stored as text), never the code that made them.
``python -m autograder fixtures`` rewrites them; a test fails when the stored ones drift.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from autograder.course import REPO

FIXTURE_DIR = REPO / "dlfs" / "fixtures"


def stored(outputs: dict[str, np.ndarray], messages: dict[str, str], suffix: str = "") -> dict[str, np.ndarray]:
    """A fixture's ``mistake_<name><suffix>`` outputs and ``message_<name>`` diagnoses, for the visible
    checks to name a mistake (see :func:`dlfs.checks.stored_mistakes`)."""
    return ({f"mistake_{name}{suffix}": out for name, out in outputs.items() if name in messages}
            | {f"message_{name}": np.array(messages[name]) for name in outputs if name in messages})


def made() -> dict[str, dict[str, np.ndarray]]:
    """Every fixture of every topic module, by name; a name made twice is an error."""
    from autograder.protocol import topic_modules

    found: dict[str, dict[str, np.ndarray]] = {}
    for name in topic_modules():
        module = importlib.import_module(name)
        for fixture, arrays in getattr(module, "fixtures", dict)().items():
            if fixture in found:
                raise ValueError(f"the fixture {fixture!r} is made twice (again by {name})")
            if not fixture.startswith(name.rsplit(".", 1)[1].split("_", 1)[0] + "_"):
                raise ValueError(f"{name} makes the fixture {fixture!r}, which does not start with its week")
            found[fixture] = arrays
    return found


def write(directory: Path = FIXTURE_DIR) -> list[Path]:
    """Write every fixture; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, arrays in made().items():
        path = directory / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        paths.append(path)
    return paths


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN included (gaps are part of some fixtures)."""
    floats = a.dtype.kind == "f" and np.asarray(b).dtype.kind == "f"
    return np.array_equal(a, b, equal_nan=floats)


def stale(directory: Path = FIXTURE_DIR) -> list[str]:
    """The fixtures whose stored arrays differ from what the references make now, and stray files."""
    found = []
    fresh_all = made()
    for name, fresh in fresh_all.items():
        path = directory / f"{name}.npz"
        if not path.exists():
            found.append(f"{path} is missing")
            continue
        with np.load(path, allow_pickle=False) as stored_arrays:
            if set(stored_arrays.files) != set(fresh) or any(not _same(stored_arrays[k], fresh[k]) for k in fresh):
                found.append(f"{path} differs from the reference")
    found += [f"{path} is made by no topic module" for path in sorted(directory.glob("*.npz"))
              if path.stem not in fresh_all]
    return found
