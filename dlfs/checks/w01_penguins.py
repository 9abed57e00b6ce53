"""Visible checks of week 1's pandas part: preparing the Palmer penguins, fitted on the training split."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from dlfs.checks import CheckFailed, Mistake, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.penguins import load_penguins, train_test_split_frame

FILL_MISTAKES = {
    "all_rows": (
        "you filled with the median of *all* rows: the test split must not influence what is learned; "
        "use the training median."
    ),
    "mean": "you filled with the mean; the task asks for the training split's median (robust to outliers).",
}
ONE_HOT_MISTAKES = {
    "all_rows": "your categories include values seen only in the test split: take the categories from the training split alone.",
    "unsorted": "your columns are in order of appearance: sort the categories (sorted(set(...))).",
}
STANDARDIZE_MISTAKES = {
    "own_stats": "the test split was standardised with its own mean and std: use the training split's for both.",
    "all_rows": (
        "you computed mean and std over *all* rows (train and test together): that leaks the test split; "
        "use the training rows."
    ),
    "sample_std": "your result uses the sample std (ddof=1); use the population std (ddof=0, np.std's default).",
}


def _mistakes(arrays: dict, part: str, messages: dict) -> list[Mistake]:
    outputs = {k.removesuffix(f"_{part}"): v for k, v in arrays.items() if k.endswith(f"_{part}")}
    return [Mistake(k, v, messages[k]) for k, v in stored_mistakes(outputs, messages).items()]


def fill_missing_with_train_median(fn: Callable) -> None:
    """Check median filling on stored frames with gaps in both splits."""
    a = fixture("w01_fill_missing")
    columns = [str(c) for c in a["columns"]]
    train, test = pd.DataFrame(a["train"], columns=columns), pd.DataFrame(a["test"], columns=columns)
    before = (train.copy(), test.copy())
    result = unpack(fn.__name__, call(fn, train, test, columns), "train_filled", "test_filled")
    if not (train.equals(before[0]) and test.equals(before[1])):
        raise CheckFailed(f"{fn.__name__} changed the frames it was given: work on copies (frame.copy()).")
    for part, got in zip(("train", "test"), result):
        check_array(f"{fn.__name__}: the {part} frame", np.asarray(got[columns], dtype=float), a[f"expected_{part}"],
                    mistakes=_mistakes(a, part, FILL_MISTAKES))
    passed(f"{fn.__name__}: gaps in both splits filled with the training medians")


def one_hot_categories(fn: Callable) -> None:
    """Check one-hot columns from the training categories, with a category unseen in training."""
    a = fixture("w01_one_hot_categories")
    train_values, test_values = a["train_values"].astype(object), a["test_values"].astype(object)
    train_oh, test_oh, categories = unpack(fn.__name__, call(fn, train_values, test_values),
                                           "train_onehot", "test_onehot", "categories")
    for part, got in (("train", train_oh), ("test", test_oh)):
        check_array(f"{fn.__name__}: the {part} columns", got, a[f"expected_{part}"],
                    mistakes=_mistakes(a, part, ONE_HOT_MISTAKES))
    if [str(c) for c in categories] != [str(c) for c in a["expected_categories"]]:
        raise CheckFailed(f"{fn.__name__}: categories should be {list(a['expected_categories'])}; got {list(categories)}.")
    passed(f"{fn.__name__}: sorted training categories; an unseen test value gives a row of zeros")


def standardize_train_test(fn: Callable) -> None:
    """Check that both splits are standardised with the training statistics."""
    a = fixture("w01_standardize_train_test")
    result = unpack(fn.__name__, call(fn, a["X_train"].copy(), a["X_test"].copy()), "train_std", "test_std")
    for part, got in zip(("train", "test"), result):
        check_array(f"{fn.__name__}: the {part} split", got, a[f"expected_{part}"], rtol=1e-7, atol=1e-9,
                    mistakes=_mistakes(a, part, STANDARDIZE_MISTAKES))
    passed(f"{fn.__name__}: both splits standardised with the training mean and std")


def penguin_arrays(fn: Callable) -> None:
    """Check the whole recipe on the real penguins, split 75/25 with seed 0."""
    a = fixture("w01_penguin_arrays")
    train, test = train_test_split_frame(load_penguins(), test_fraction=0.25, seed=0)
    result = unpack(fn.__name__, call(fn, train, test), "X_train", "y_train", "X_test", "y_test", "feature_names")
    for part, got in zip(("X_train", "y_train", "X_test", "y_test"), result):
        check_array(f"{fn.__name__}: {part}", got, a[part], rtol=1e-7, atol=1e-9)
    if [str(n) for n in result[4]] != [str(n) for n in a["feature_names"]]:
        raise CheckFailed(f"{fn.__name__}: feature names should be {list(a['feature_names'])}; got {list(result[4])}.")
    passed(f"{fn.__name__}: {a['X_train'].shape[1]} features, {len(a['y_train'])} training and {len(a['y_test'])} test penguins")
