"""Week 1 pandas part: the hidden tests pass correct variants and fail leakage and the other mistakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hidden_suite import hidden_tests, name_of

from autograder.reference import w01_penguins as ref
from dlfs.checks import CheckFailed
from dlfs.checks import week01 as visible
from dlfs.penguins import load_penguins, train_test_split_frame

pytestmark = [pytest.mark.week01, pytest.mark.w01_penguins, pytest.mark.autograder]


def fill_loop(train, test, columns):
    train, test = train.copy(), test.copy()
    for column in columns:
        median = train[column].median()
        train[column] = train[column].fillna(median)
        test[column] = test[column].fillna(median)
    return train, test


def fill_all_rows(train, test, columns):
    median = pd.concat([train, test])[columns].median()
    return train.fillna(median), test.fillna(median)


def fill_mean(train, test, columns):
    return train.fillna(train[columns].mean()), test.fillna(train[columns].mean())


def fill_in_place(train, test, columns):
    median = train[columns].median()
    train[columns] = train[columns].fillna(median)
    test[columns] = test[columns].fillna(median)
    return train, test


def fill_every_column(train, test, columns):
    return train.fillna(train.median()), test.fillna(train.median())


def one_hot_index(train_values, test_values):
    categories = sorted(pd.unique(pd.Series(train_values)))
    column = {category: j for j, category in enumerate(categories)}

    def encode(values):
        out = np.zeros((len(values), len(categories)))
        for i, value in enumerate(values):
            if value in column:
                out[i, column[value]] = 1.0
        return out

    return encode(train_values), encode(test_values), categories


def one_hot_all_rows(train_values, test_values):
    categories = sorted(set(train_values) | set(test_values))
    encode = lambda values: (np.asarray(values)[:, None] == np.array(categories)[None]).astype(float)  # noqa: E731
    return encode(train_values), encode(test_values), categories


def one_hot_unsorted(train_values, test_values):
    categories = list(dict.fromkeys(train_values))
    encode = lambda values: (np.asarray(values)[:, None] == np.array(categories)[None]).astype(float)  # noqa: E731
    return encode(train_values), encode(test_values), categories


def standardize_with_stats(X_train, X_test, eps=1e-8):
    mean, var = X_train.mean(0), ((X_train - X_train.mean(0)) ** 2).mean(0)
    return (X_train - mean) / (np.sqrt(var) + eps), (X_test - mean) / (np.sqrt(var) + eps)


def standardize_own_stats(X_train, X_test, eps=1e-8):
    return tuple((X - X.mean(0)) / (X.std(0) + eps) for X in (X_train, X_test))


def standardize_all_rows(X_train, X_test, eps=1e-8):
    both = np.vstack([X_train, X_test])
    return tuple((X - both.mean(0)) / (both.std(0) + eps) for X in (X_train, X_test))


def standardize_sample(X_train, X_test, eps=1e-8):
    return tuple((X - X_train.mean(0)) / (X_train.std(0, ddof=1) + eps) for X in (X_train, X_test))


def penguins_reference_copy(train, test):
    return ref.penguin_arrays(train, test)


def penguins_leaky(train, test):
    """Fits the scaling on all rows: the classic leak."""
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    both = pd.concat([train, test])
    medians = both[ref.NUMERIC].median()
    numeric = [df[ref.NUMERIC].fillna(medians).to_numpy() for df in (train, test)]
    stacked = np.vstack(numeric)
    X_train[:, :4], X_test[:, :4] = ((n - stacked.mean(0)) / (stacked.std(0) + 1e-8) for n in numeric)
    return X_train, y_train, X_test, y_test, names


def penguins_drop_missing_sex(train, test):
    """Drops the sex column's 'unknown' category: fewer features."""
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    keep = [i for i, n in enumerate(names) if n != "sex=unknown"]
    return X_train[:, keep], y_train, X_test[:, keep], y_test, [names[i] for i in keep]


CORRECT = {
    "w01_fill_missing": [fill_loop],
    "w01_one_hot_categories": [one_hot_index],
    "w01_standardize_train_test": [standardize_with_stats],
    "w01_penguin_arrays": [penguins_reference_copy],
}

WRONG = [
    ("w01_fill_missing", fill_all_rows, "median of \\*all\\* rows"),
    ("w01_fill_missing", fill_mean, "mean"),
    ("w01_fill_missing", fill_in_place, "changed the frames"),
    ("w01_fill_missing", fill_every_column, "column c"),
    ("w01_one_hot_categories", one_hot_all_rows, "only in the test split"),
    ("w01_one_hot_categories", one_hot_unsorted, "order of appearance"),
    ("w01_standardize_train_test", standardize_own_stats, "its own mean"),
    ("w01_standardize_train_test", standardize_all_rows, "leaks the test split"),
    ("w01_standardize_train_test", standardize_sample, "sample std"),
    ("w01_penguin_arrays", penguins_leaky, "values are wrong"),
    ("w01_penguin_arrays", penguins_drop_missing_sex, "expected shape"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w01_penguins", CORRECT, WRONG)



def test_reference_recipe_on_the_real_split():
    train, test = train_test_split_frame(load_penguins(), test_fraction=0.25, seed=0)
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    assert X_train.shape == (258, len(names)) and X_test.shape == (86, len(names))
    assert names[:4] == ref.NUMERIC and "island=Biscoe" in names and "sex=unknown" in names
    np.testing.assert_allclose(X_train[:, :4].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train[:, :4].std(0), 1, atol=1e-6)
    assert not np.isnan(X_train).any() and not np.isnan(X_test).any()
    np.testing.assert_array_equal(X_train[:, 4:].sum(1), 2.0)  # one island and one sex per penguin
    assert sorted(set(y_train)) == [0, 1, 2]


@pytest.mark.parametrize(
    ("check_fn", "fn", "message"),
    [
        (visible.fill_missing_with_train_median, fill_all_rows, "median of \\*all\\* rows"),
        (visible.one_hot_categories, one_hot_all_rows, "only in the test split"),
        (visible.standardize_train_test, standardize_all_rows, "leaks the test split"),
        (visible.penguin_arrays, penguins_drop_missing_sex, "expected shape"),
    ],
    ids=name_of,
)
def test_visible_checks_name_the_mistake(check_fn, fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_fn(fn)
