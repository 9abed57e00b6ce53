"""The stored inputs and expected outputs of the visible checks (``dlfs/fixtures/*.npz``).

Made by the reference implementations; students receive the arrays, never the code that made them.
``python -m autograder fixtures`` rewrites them; a test fails when the stored ones drift.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from autograder.course import REPO
from autograder.reference import (
    w01_broadcasting,
    w01_distances,
    w01_knn,
    w01_penguins,
    w01_softmax_regression,
)
from dlfs.penguins import load_penguins, train_test_split_frame

FIXTURE_DIR = REPO / "dlfs" / "fixtures"


def w01_l2_distances() -> dict[str, np.ndarray]:
    """5 x 4 against 3 x 4 points, their distances, and what each known mistake outputs."""
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    arrays = {"X": X, "Y": Y, "expected": w01_distances.l2_distances(X, Y)}
    arrays |= {f"mistake_{name}": out for name, out in w01_distances.distance_mistake_outputs(X, Y).items()}
    return arrays


def _with_mistakes(arrays: dict, mistakes: dict[str, np.ndarray], suffix: str = "") -> dict:
    return arrays | {f"mistake_{name}{suffix}": out for name, out in mistakes.items()}


def w01_softmax() -> dict[str, np.ndarray]:
    """Scores with one row around 1000 (overflows without the max shift) and one with a tie."""
    scores = np.random.default_rng(12).normal(size=(4, 5))
    scores[1] += 1000.0
    scores[2, :2] = 3.0
    return _with_mistakes({"scores": scores, "expected": w01_broadcasting.softmax(scores)},
                          w01_broadcasting.softmax_mistakes(scores))


def w01_standardize() -> dict[str, np.ndarray]:
    """Six rows, three columns on different scales, the last constant."""
    X = np.random.default_rng(13).normal(size=(6, 3)) * [1.0, 50.0, 1.0] + [0.0, 100.0, 0.0]
    X[:, 2] = 7.0
    return _with_mistakes({"X": X, "expected": w01_broadcasting.standardize(X)},
                          w01_broadcasting.standardize_mistakes(X))


def w01_one_hot() -> dict[str, np.ndarray]:
    labels = np.array([2, 0, 3, 3, 1])
    return _with_mistakes({"labels": labels, "num_classes": np.array(5), "expected": w01_broadcasting.one_hot(labels, 5)},
                          w01_broadcasting.one_hot_mistakes(labels, 5))


def w01_knn_predict() -> dict[str, np.ndarray]:
    """Distances of 6 test points to 8 training points, with ties in the vote for k = 4."""
    rng = np.random.default_rng(14)
    dists = rng.random((6, 8))
    y_train = np.array([0, 1, 2, 1, 2, 0, 3, 3])
    arrays = {"dists": dists, "y_train": y_train}
    for k in (1, 3, 4):
        arrays[f"expected_k{k}"] = w01_knn.knn_predict(dists, y_train, k)
        arrays |= {f"mistake_{name}_k{k}": out for name, out in w01_knn.knn_mistakes(dists, y_train, k).items()}
    return arrays


def w01_choose_k() -> dict[str, np.ndarray]:
    X, y = w01_knn.clusters(15)
    ks = [1, 3, 5, 9]
    best, accuracies = w01_knn.cross_validate(X, y, ks, 3)
    _, leaked = w01_knn.cross_validate(X, y, ks, 3, leak=True)
    return {"X": X, "y": y, "ks": np.array(ks), "num_folds": np.array(3), "expected_best_k": np.array(best),
            "expected_accuracies": accuracies, "mistake_leak": leaked}


def _per_split(mistakes: dict[str, tuple[np.ndarray, np.ndarray]], parts=("train", "test")) -> dict[str, np.ndarray]:
    """``mistake_<name>_<part>`` arrays from {name: (train output, test output)}."""
    return {f"mistake_{name}_{part}": out for name, outs in mistakes.items() for part, out in zip(parts, outs)}


def w01_frame_to_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16)
    train_values = np.column_stack([rng.integers(0, 10, 5), rng.integers(0, 256, (5, 784))])
    test_values = rng.integers(0, 256, (3, 784))
    pixels = [f"pixel{i}" for i in range(784)]
    train, test = pd.DataFrame(train_values, columns=["label", *pixels]), pd.DataFrame(test_values, columns=pixels)
    X_train, y_train, X_test = w01_softmax_regression.frame_to_arrays(train, test)
    mistakes = {f"mistake_{name}_{part}": out for part, outs in w01_softmax_regression.frame_mistakes(train, test).items()
                for name, out in outs.items()}
    return {"train_values": train_values, "test_values": test_values, "expected_X_train": X_train,
            "expected_y_train": y_train, "expected_X_test": X_test} | mistakes


def w01_softmax_loss() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(17)
    W, b, X, y, reg = rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=(5, 6)), rng.integers(0, 4, 5), 0.1
    loss, dW, db = w01_softmax_regression.softmax_loss_grad(W, b, X, y, reg)
    return {"W": W, "b": b, "X": X, "y": y, "reg": np.array(reg), "expected_loss": np.array(loss),
            "expected_dW": dW, "expected_db": db} | {
        f"mistake_{name}": out for name, out in w01_softmax_regression.softmax_loss_mistakes(W, b, X, y, reg).items()}


def w01_train_data() -> dict[str, np.ndarray]:
    """200 points of three well separated classes in 5-D."""
    rng = np.random.default_rng(18)
    y = rng.integers(0, 3, 200)
    return {"X": np.eye(3, 5)[y] * 3.0 + 0.5 * rng.normal(size=(200, 5)), "y": y}


def w01_fill_missing() -> dict[str, np.ndarray]:
    columns = ["a", "b"]
    train = pd.DataFrame([[1.0, 10.0], [np.nan, 20.0], [3.0, np.nan], [100.0, 40.0], [5.0, 50.0]], columns=columns)
    test = pd.DataFrame([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan]], columns=columns)
    tr, te = w01_penguins.fill_missing_with_train_median(train, test, columns)
    return {"train": train.to_numpy(), "test": test.to_numpy(), "columns": np.array(columns),
            "expected_train": tr.to_numpy(), "expected_test": te.to_numpy()} | _per_split(
        w01_penguins.fill_missing_mistakes(train, test, columns))


def w01_one_hot_categories() -> dict[str, np.ndarray]:
    train_values = np.array(["Dream", "Biscoe", "Torgersen", "Biscoe"])
    test_values = np.array(["Torgersen", "Atlantis", "Dream"])
    tr, te, categories = w01_penguins.one_hot_categories(train_values.astype(object), test_values.astype(object))
    return {"train_values": train_values, "test_values": test_values, "expected_train": tr, "expected_test": te,
            "expected_categories": np.array(categories)} | _per_split(
        w01_penguins.one_hot_mistakes(train_values, test_values))


def w01_standardize_train_test() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(19)
    X_train, X_test = rng.normal(3.0, 2.0, (6, 3)), rng.normal(5.0, 4.0, (4, 3))
    tr, te = w01_penguins.standardize_train_test(X_train, X_test)
    return {"X_train": X_train, "X_test": X_test, "expected_train": tr, "expected_test": te} | _per_split(
        w01_penguins.standardize_train_test_mistakes(X_train, X_test))


def w01_penguin_arrays() -> dict[str, np.ndarray]:
    train, test = train_test_split_frame(load_penguins(), test_fraction=0.25, seed=0)
    X_train, y_train, X_test, y_test, names = w01_penguins.penguin_arrays(train, test)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
            "feature_names": np.array(names)}


FIXTURES: dict[str, Callable[[], dict[str, np.ndarray]]] = {
    name: make for name, make in list(globals().items()) if name.startswith("w01_") and callable(make)
}


def write(directory: Path = FIXTURE_DIR) -> list[Path]:
    """Write every fixture; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in FIXTURES.items():
        path = directory / f"{name}.npz"
        np.savez_compressed(path, **make())
        paths.append(path)
    return paths


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN included (gaps are part of some fixtures)."""
    floats = a.dtype.kind == "f" and np.asarray(b).dtype.kind == "f"
    return np.array_equal(a, b, equal_nan=floats)


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
            if set(stored.files) != set(fresh) or any(not _same(stored[k], fresh[k]) for k in fresh):
                found.append(f"{path} differs from the reference")
    return found
