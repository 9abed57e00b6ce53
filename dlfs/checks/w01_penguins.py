"""Week 1, pandas on the Palmer penguins: the visible checks, fitted on the training split.

Their hidden cases need only calls (the default probe), except one_hot_categories's, whose text values
are handed over as object arrays (what a text column's ``to_numpy()`` gives).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Call, make_calls, probe
from dlfs.penguins import load_penguins, train_test_split_frame

__all__ = ["fill_missing_with_train_median", "one_hot_categories", "standardize_train_test", "penguin_arrays"]
Y_HINT = "y is the position of each penguin's species in the sorted list of the training split's species."


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
        if not isinstance(got, pd.DataFrame):
            raise CheckFailed(f"{fn.__name__}: the {part} part must be a DataFrame; got a {type(got).__name__}.")
        check_array(f"{fn.__name__}: the {part} frame", np.asarray(got[columns], dtype=float), a[f"expected_{part}"],
                    mistakes=stored_mistakes(a, f"_{part}"))
    passed(f"{fn.__name__}: gaps in both splits filled with the training medians")


def one_hot_categories(fn: Callable) -> None:
    """Check one-hot columns from the training categories, with a category unseen in training."""
    a = fixture("w01_one_hot_categories")
    train_values, test_values = a["train_values"].astype(object), a["test_values"].astype(object)
    train_oh, test_oh, categories = unpack(fn.__name__, call(fn, train_values, test_values),
                                           "train_onehot", "test_onehot", "categories")
    for part, got in (("train", train_oh), ("test", test_oh)):
        check_array(f"{fn.__name__}: the {part} columns", got, a[f"expected_{part}"], mistakes=stored_mistakes(a, f"_{part}"))
    if [str(c) for c in categories] != [str(c) for c in a["expected_categories"]]:
        raise CheckFailed(f"{fn.__name__}: categories should be {list(a['expected_categories'])}; got {list(categories)}.")
    passed(f"{fn.__name__}: sorted training categories; an unseen test value gives a row of zeros")


def standardize_train_test(fn: Callable) -> None:
    """Check that both splits are standardised with the training statistics."""
    a = fixture("w01_standardize_train_test")
    result = unpack(fn.__name__, call(fn, a["X_train"].copy(), a["X_test"].copy()), "train_std", "test_std")
    for part, got in zip(("train", "test"), result):
        check_array(f"{fn.__name__}: the {part} split", got, a[f"expected_{part}"], rtol=1e-7, atol=1e-9,
                    mistakes=stored_mistakes(a, f"_{part}"))
    passed(f"{fn.__name__}: both splits standardised with the training mean and std")


def penguin_arrays(fn: Callable) -> None:
    """Check the whole recipe on the real penguins, split 75/25 with seed 0."""
    a = fixture("w01_penguin_arrays")
    train, test = train_test_split_frame(load_penguins(), test_fraction=0.25, seed=0)
    result = unpack(fn.__name__, call(fn, train, test), "X_train", "y_train", "X_test", "y_test", "feature_names")
    for part, got in zip(("X_train", "y_train", "X_test", "y_test"), result):
        check_array(f"{fn.__name__}: {part}", got, a[part], rtol=1e-7, atol=1e-9, mistakes=stored_mistakes(a, f"_{part}"),
                    hint=Y_HINT if part.startswith("y") else "")
    if [str(n) for n in result[4]] != [str(n) for n in a["feature_names"]]:
        raise CheckFailed(f"{fn.__name__}: feature names should be {list(a['feature_names'])}; got {list(result[4])}.")
    passed(f"{fn.__name__}: {a['X_train'].shape[1]} features, {len(a['y_train'])} training and {len(a['y_test'])} test penguins")


@probe("w01_one_hot_categories")
def _one_hot(fn: Callable, *, inputs: dict) -> dict:
    """The calls on object arrays of text; categories returned as an array or an Index (np.unique of an
    object array gives an object array, which the answers cannot carry) are sent back as a list."""
    calls = [Call(tuple(np.asarray(arg).astype(object) for arg in c.args)) for c in inputs["calls"]]
    answers = make_calls(fn, calls)
    for i, result in enumerate(answers["results"]):
        if isinstance(result, tuple) and len(result) == 3 and isinstance(result[2], np.ndarray | pd.Index):
            answers["results"][i] = (*result[:2], result[2].tolist())
    return answers
