"""Hidden tests of week 1's pandas part: the penguins prepared with statistics of the training split."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from autograder.hidden import case
from autograder.reference import w01_penguins as ref
from dlfs.checks import CheckFailed, Mistake, call, check_array, unpack
from dlfs.checks.w01_penguins import FILL_MISTAKES, ONE_HOT_MISTAKES, STANDARDIZE_MISTAKES
from dlfs.penguins import load_penguins, train_test_split_frame


def _mistakes(wrong: dict[str, tuple[np.ndarray, np.ndarray]], split: int, messages: dict[str, str]) -> list[Mistake]:
    """The known mistakes' outputs for one split (0 train, 1 test), with their messages."""
    return [Mistake(name, outputs[split], messages[name]) for name, outputs in wrong.items()]


@case("w01_fill_missing")
def fill_missing(fn: Callable) -> str:
    """Training medians fill both splits; other columns and the given frames stay as they were."""
    rng = np.random.default_rng(801)
    for n_train, n_test in ((7, 3), (40, 15)):
        train = pd.DataFrame(rng.normal(size=(n_train, 3)) * [1, 10, 100], columns=["a", "b", "c"])
        test = pd.DataFrame(rng.normal(size=(n_test, 3)) * [1, 10, 100] + 50, columns=["a", "b", "c"])
        for frame in (train, test):
            frame[frame > frame.quantile(0.7)] = np.nan
        before = (train.copy(), test.copy())
        got = unpack(fn.__name__, call(fn, train, test, ["a", "b"]), "train_filled", "test_filled")
        if not (train.equals(before[0]) and test.equals(before[1])):
            raise CheckFailed(f"{fn.__name__} changed the frames it was given: work on copies.")
        want = ref.fill_missing_with_train_median(train, test, ["a", "b"])
        wrong = ref.fill_missing_mistakes(train, test, ["a", "b"])
        for i, part in enumerate(("train", "test")):
            check_array(f"{fn.__name__}: the {part} frame, columns a, b", np.asarray(got[i][["a", "b"]], dtype=float),
                        want[i][["a", "b"]].to_numpy(), mistakes=_mistakes(wrong, i, FILL_MISTAKES))
            if not got[i]["c"].isna().equals(before[i]["c"].isna()):
                raise CheckFailed(f"{fn.__name__}: column c was not in `columns` and must keep its gaps.")
    return "training medians, both splits, other columns untouched"


@case("w01_one_hot_categories")
def one_hot_categories(fn: Callable) -> str:
    """Sorted training categories; test values unseen in training give rows of zeros."""
    rng = np.random.default_rng(802)
    pool = np.array(["Torgersen", "Biscoe", "Dream", "male", "female", "unknown"], dtype=object)
    for n_train, n_test in ((5, 4), (60, 20)):
        train_values, test_values = rng.choice(pool[:4], n_train), rng.choice(pool, n_test)
        want_train, want_test, categories = ref.one_hot_categories(train_values, test_values)
        wrong = ref.one_hot_mistakes(train_values, test_values)
        got = unpack(fn.__name__, call(fn, train_values.copy(), test_values.copy()),
                     "train_onehot", "test_onehot", "categories")
        for i, (part, want) in enumerate((("train", want_train), ("test", want_test))):
            check_array(f"{fn.__name__} ({n_train} training values): the {part} columns", got[i], want,
                        mistakes=_mistakes(wrong, i, ONE_HOT_MISTAKES))
        if [str(c) for c in got[2]] != categories:
            raise CheckFailed(f"{fn.__name__}: categories should be {categories}; got {list(got[2])}.")
    return "sorted training categories; unseen test values encode as zeros"


@case("w01_standardize_train_test")
def standardize_train_test(fn: Callable) -> str:
    """Both splits standardised with the training mean and population std, a constant column included."""
    rng = np.random.default_rng(803)
    for shape_train, shape_test in (((10, 2), (4, 2)), ((200, 5), (50, 5))):
        X_train, X_test = rng.normal(2.0, 3.0, shape_train), rng.normal(-1.0, 5.0, shape_test)
        X_train[:, 0] = 1.5
        want = ref.standardize_train_test(X_train, X_test)
        wrong = ref.standardize_train_test_mistakes(X_train, X_test)
        got = unpack(fn.__name__, call(fn, X_train.copy(), X_test.copy()), "train_std", "test_std")
        for i, part in enumerate(("train", "test")):
            check_array(f"{fn.__name__} ({shape_train[0]} training rows): the {part} split", got[i], want[i],
                        rtol=1e-7, atol=1e-9, mistakes=_mistakes(wrong, i, STANDARDIZE_MISTAKES))
    return "both splits use the training statistics"


@case("w01_penguin_arrays")
def penguin_arrays(fn: Callable) -> str:
    """The whole recipe on the real penguins, for two different splits."""
    penguins = load_penguins()
    for fraction, seed in ((0.25, 0), (0.4, 7)):
        train, test = train_test_split_frame(penguins, test_fraction=fraction, seed=seed)
        want = ref.penguin_arrays(train, test)
        got = unpack(fn.__name__, call(fn, train.copy(), test.copy()),
                     "X_train", "y_train", "X_test", "y_test", "feature_names")
        for part, g, w in zip(("X_train", "y_train", "X_test", "y_test"), got, want):
            check_array(f"{fn.__name__} (split {fraction}, seed {seed}): {part}", g, w, rtol=1e-7, atol=1e-9)
        if [str(n) for n in got[4]] != want[4]:
            raise CheckFailed(f"{fn.__name__}: feature names should be {want[4]}; got {list(got[4])}.")
    return "the recipe agrees with the reference on two splits"
