"""The stored inputs and expected outputs of the visible checks (``dlfs/fixtures/*.npz``).

Made by the reference implementations; students receive the arrays, never the code that made them.
``python -m autograder fixtures`` rewrites them; a test fails when the stored ones drift.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from autograder.course import REPO
from autograder.reference import week01

FIXTURE_DIR = REPO / "dlfs" / "fixtures"


def w01_l2_distances() -> dict[str, np.ndarray]:
    """5 x 4 against 3 x 4 points, their distances, and what each known mistake outputs."""
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    arrays = {"X": X, "Y": Y, "expected": week01.l2_distances(X, Y)}
    arrays |= {f"mistake_{name}": out for name, out in week01.distance_mistake_outputs(X, Y).items()}
    return arrays


FIXTURES: dict[str, Callable[[], dict[str, np.ndarray]]] = {"w01_l2_distances": w01_l2_distances}


def write(directory: Path = FIXTURE_DIR) -> list[Path]:
    """Write every fixture; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in FIXTURES.items():
        path = directory / f"{name}.npz"
        np.savez_compressed(path, **make())
        paths.append(path)
    return paths


def stale(directory: Path = FIXTURE_DIR) -> list[str]:
    """The fixtures whose stored arrays differ from what the reference makes now."""
    found = []
    for name, make in FIXTURES.items():
        path = directory / f"{name}.npz"
        if not path.exists():
            found.append(f"{path} is missing")
            continue
        with np.load(path, allow_pickle=False) as stored:
            fresh = make()
            if set(stored.files) != set(fresh) or any(not np.array_equal(stored[k], fresh[k]) for k in fresh):
                found.append(f"{path} differs from the reference")
    return found
