"""Week 1 pandas part: the reference, the visible checks and the hidden tests.

The hidden tests must pass correct variants (loops, NumPy, pandas idioms, float32) and fail leakage and the
other known mistakes with their diagnosis, through the same exchange format as grading.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w01_penguins as ref
from autograder.protocol import run_case
from dlfs.checks import CheckFailed
from dlfs.checks import w01_penguins as visible
from dlfs.penguins import load_penguins, train_test_split_frame

pytestmark = [pytest.mark.week01, pytest.mark.w01_penguins, pytest.mark.autograder]


# ---- fill_missing_with_train_median -------------------------------------------------------------------


def fill_loop(train, test, columns):
    train, test = train.copy(), test.copy()
    for column in columns:
        median = train[column].median()
        train[column] = train[column].fillna(median)
        test[column] = test[column].fillna(median)
    return train, test


def fill_nanmedian(train, test, columns):
    medians = dict(zip(columns, np.nanmedian(train[columns].to_numpy(dtype=float), axis=0)))
    return train.fillna(medians), test.fillna(medians)


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


def fill_train_only(train, test, columns):
    return train.fillna(train[columns].median()), test.copy()


def fill_drops_other_columns(train, test, columns):
    medians = train[columns].median()
    return train[columns].fillna(medians), test[columns].fillna(medians)


def fill_returns_arrays(train, test, columns):
    filled = fill_loop(train, test, columns)
    return filled[0].to_numpy(), filled[1].to_numpy()


def fill_stub(train, test, columns):
    raise NotImplementedError()


def fill_no_return(train, test, columns):
    fill_loop(train, test, columns)


# ---- one_hot_categories ----------------------------------------------------------------------------


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


def one_hot_np_unique(train_values, test_values):
    """np.unique of an object array gives an object array of categories."""
    categories = np.unique(train_values)
    return ((train_values[:, None] == categories).astype(float), (test_values[:, None] == categories).astype(float),
            categories)


def one_hot_pandas(train_values, test_values):
    categories = pd.Index(sorted(set(train_values)))

    def encode(values):
        return pd.get_dummies(pd.Series(values)).reindex(columns=categories, fill_value=0).to_numpy(float)

    return encode(train_values), encode(test_values), categories


def one_hot_all_rows(train_values, test_values):
    categories = sorted(set(train_values) | set(test_values))
    encode = lambda values: (np.asarray(values)[:, None] == np.array(categories)[None]).astype(float)  # noqa: E731
    return encode(train_values), encode(test_values), categories


def one_hot_unsorted(train_values, test_values):
    categories = list(dict.fromkeys(train_values))
    encode = lambda values: (np.asarray(values)[:, None] == np.array(categories)[None]).astype(float)  # noqa: E731
    return encode(train_values), encode(test_values), categories


def one_hot_integers(train_values, test_values):
    train_oh, test_oh, categories = one_hot_index(train_values, test_values)
    return train_oh.astype(int), test_oh.astype(int), categories


def one_hot_set_of_categories(train_values, test_values):
    train_oh, test_oh, categories = one_hot_index(train_values, test_values)
    return train_oh, test_oh, set(categories)


def one_hot_sorts_input(train_values, test_values):
    train_values.sort()  # in place: reorders the caller's array
    return one_hot_index(train_values, test_values)


def one_hot_stub(train_values, test_values):
    raise NotImplementedError()


# ---- standardize_train_test ------------------------------------------------------------------------


def standardize_with_stats(X_train, X_test, eps=1e-8):
    mean, var = X_train.mean(0), ((X_train - X_train.mean(0)) ** 2).mean(0)
    return (X_train - mean) / (np.sqrt(var) + eps), (X_test - mean) / (np.sqrt(var) + eps)


def standardize_column_loop(X_train, X_test, eps=1e-8):
    out_train, out_test = np.empty(X_train.shape), np.empty(X_test.shape)
    for j in range(X_train.shape[1]):
        mean, std = X_train[:, j].mean(), X_train[:, j].std()
        out_train[:, j] = (X_train[:, j] - mean) / (std + eps)
        out_test[:, j] = (X_test[:, j] - mean) / (std + eps)
    return out_train, out_test


def standardize_float32_kept(X_train, X_test, eps=1e-8):
    mean, std = X_train.mean(axis=0, keepdims=True), X_train.std(axis=0, keepdims=True)
    return (X_train - mean) / (std + eps), (X_test - mean) / (std + eps)


def standardize_own_stats(X_train, X_test, eps=1e-8):
    return tuple((X - X.mean(0)) / (X.std(0) + eps) for X in (X_train, X_test))


def standardize_all_rows(X_train, X_test, eps=1e-8):
    both = np.vstack([X_train, X_test])
    return tuple((X - both.mean(0)) / (both.std(0) + eps) for X in (X_train, X_test))


def standardize_sample(X_train, X_test, eps=1e-8):
    return tuple((X - X_train.mean(0)) / (X_train.std(0, ddof=1) + eps) for X in (X_train, X_test))


def standardize_no_eps(X_train, X_test, eps=1e-8):
    return tuple((X - X_train.mean(0)) / X_train.std(0) for X in (X_train, X_test))


def standardize_in_place(X_train, X_test, eps=1e-8):
    mean, std = X_train.mean(0), X_train.std(0)
    X_train -= mean
    X_train /= std + eps
    return X_train, (X_test - mean) / (std + eps)


def standardize_stub(X_train, X_test, eps=1e-8):
    raise NotImplementedError()


# ---- penguin_arrays --------------------------------------------------------------------------------


def penguins_reference_copy(train, test):
    return ref.penguin_arrays(train, test)


def penguins_pandas(train, test):
    """Written with pandas throughout: get_dummies on training categories, map for the labels."""
    medians = train[ref.NUMERIC].median()
    numeric_train, numeric_test = train[ref.NUMERIC].fillna(medians), test[ref.NUMERIC].fillna(medians)
    mean, std = numeric_train.mean(), numeric_train.std(ddof=0)
    parts_train, parts_test = [(numeric_train - mean) / (std + 1e-8)], [(numeric_test - mean) / (std + 1e-8)]
    for column in ["island", "sex"]:
        categories = sorted(train[column].fillna("unknown").unique())
        for frame, parts in ((train, parts_train), (test, parts_test)):
            dummies = pd.get_dummies(frame[column].fillna("unknown"), dtype=float).reindex(columns=categories, fill_value=0.0)
            parts.append(dummies.add_prefix(f"{column}="))
    X_train, X_test = pd.concat(parts_train, axis=1), pd.concat(parts_test, axis=1)
    species = {name: i for i, name in enumerate(sorted(train["species"].unique()))}
    return (X_train.to_numpy(dtype=float), train["species"].map(species).to_numpy(), X_test.to_numpy(dtype=float),
            test["species"].map(species).to_numpy(), list(X_train.columns))


def penguins_leaky(train, test):
    """Fits the filling and the scaling on all rows: the classic leak."""
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    medians = pd.concat([train, test])[ref.NUMERIC].median()
    numeric = [df[ref.NUMERIC].fillna(medians).to_numpy() for df in (train, test)]
    stacked = np.vstack(numeric)
    X_train[:, :4], X_test[:, :4] = ((n - stacked.mean(0)) / (stacked.std(0) + 1e-8) for n in numeric)
    return X_train, y_train, X_test, y_test, names


def penguins_leaky_scaling(train, test):
    """Training medians, but the scaling learned on all rows."""
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    train, test = ref.fill_missing_with_train_median(train, test, ref.NUMERIC)
    numeric = [df[ref.NUMERIC].to_numpy() for df in (train, test)]
    stacked = np.vstack(numeric)
    X_train[:, :4], X_test[:, :4] = ((n - stacked.mean(0)) / (stacked.std(0) + 1e-8) for n in numeric)
    return X_train, y_train, X_test, y_test, names


def penguins_drop_missing_sex(train, test):
    """Drops the sex column's 'unknown' category: fewer features."""
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    keep = [i for i, n in enumerate(names) if n != "sex=unknown"]
    return X_train[:, keep], y_train, X_test[:, keep], y_test, [names[i] for i in keep]


def penguins_species_by_appearance(train, test):
    X_train, _, X_test, _, names = ref.penguin_arrays(train, test)
    species = list(dict.fromkeys(train["species"]))
    return X_train, train["species"].map(species.index).to_numpy(), X_test, test["species"].map(species.index).to_numpy(), names


def penguins_bare_names(train, test):
    X_train, y_train, X_test, y_test, names = ref.penguin_arrays(train, test)
    return X_train, y_train, X_test, y_test, [n.split("=")[-1] for n in names]


def penguins_fills_in_place(train, test):
    train[ref.NUMERIC] = train[ref.NUMERIC].fillna(train[ref.NUMERIC].median())
    return ref.penguin_arrays(train, test)


def penguins_stub(train, test):
    raise NotImplementedError()


# ---- the reference -----------------------------------------------------------------------------------


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


def test_leak_mistakes_differ_from_the_reference():
    train, test = train_test_split_frame(load_penguins(), test_fraction=0.25, seed=0)
    X_train, _, X_test, _, _ = ref.penguin_arrays(train, test)
    for name, (leaky_train, leaky_test) in ref.penguin_arrays_mistakes(train, test).items():
        assert not np.allclose(leaky_test, X_test, rtol=1e-7, atol=1e-9), name
        np.testing.assert_array_equal(leaky_train[:, 4:], X_train[:, 4:])


def test_one_hot_reference_on_an_unseen_value():
    train_oh, test_oh, categories = ref.one_hot_categories(np.array(["b", "a", "b"]), np.array(["c", "a"]))
    assert categories == ["a", "b"]
    np.testing.assert_array_equal(train_oh, [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(test_oh, [[0, 0], [1, 0]])


# ---- visible checks ----------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.fill_missing_with_train_median, fill_loop),
    (visible.fill_missing_with_train_median, fill_nanmedian),
    (visible.one_hot_categories, one_hot_index),
    (visible.one_hot_categories, one_hot_np_unique),
    (visible.standardize_train_test, standardize_with_stats),
    (visible.standardize_train_test, standardize_column_loop),
    (visible.penguin_arrays, penguins_reference_copy),
    (visible.penguin_arrays, penguins_pandas),
]

VISIBLE_WRONG = [
    (visible.fill_missing_with_train_median, fill_all_rows, r"median of \*all\* rows"),
    (visible.fill_missing_with_train_median, fill_mean, "filled with the mean"),
    (visible.fill_missing_with_train_median, fill_in_place, "changed the frames"),
    (visible.fill_missing_with_train_median, fill_stub, "not implemented yet"),
    (visible.one_hot_categories, one_hot_all_rows, "only in the test split"),
    (visible.one_hot_categories, one_hot_unsorted, "order of appearance"),
    (visible.standardize_train_test, standardize_all_rows, "leaks the test split"),
    (visible.standardize_train_test, standardize_own_stats, "its own mean"),
    (visible.standardize_train_test, standardize_sample, "sample std"),
    (visible.penguin_arrays, penguins_leaky, r"filled and standardised with statistics of \*all\* rows"),
    (visible.penguin_arrays, penguins_leaky_scaling, r"standardised with statistics of \*all\* rows"),
    (visible.penguin_arrays, penguins_drop_missing_sex, "expected shape"),
    (visible.penguin_arrays, penguins_bare_names, "feature names should be"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


# ---- hidden tests ------------------------------------------------------------------------------------

CORRECT = {
    "w01_fill_missing": [fill_loop, fill_nanmedian],
    "w01_one_hot_categories": [one_hot_index, one_hot_np_unique, one_hot_pandas],
    "w01_standardize_train_test": [standardize_with_stats, standardize_column_loop, standardize_float32_kept],
    "w01_penguin_arrays": [penguins_reference_copy, penguins_pandas],
}

WRONG = [
    ("w01_fill_missing", fill_all_rows, r"median of \*all\* rows"),
    ("w01_fill_missing", fill_mean, "filled with the mean"),
    ("w01_fill_missing", fill_in_place, "changed its input `train` in place"),
    ("w01_fill_missing", fill_every_column, "column c of the train frame was not in `columns`"),
    ("w01_fill_missing", fill_train_only, "NaN"),
    ("w01_fill_missing", fill_drops_other_columns, r"lost the column\(s\) \['c'\]"),
    ("w01_fill_missing", fill_returns_arrays, "must be a DataFrame"),
    ("w01_fill_missing", fill_no_return, r"must return a tuple \(train_filled, test_filled\); got a NoneType"),
    ("w01_fill_missing", fill_stub, "not implemented yet"),
    ("w01_one_hot_categories", one_hot_all_rows, "only in the test split"),
    ("w01_one_hot_categories", one_hot_unsorted, "order of appearance"),
    ("w01_one_hot_categories", one_hot_integers, "floating-point"),
    ("w01_one_hot_categories", one_hot_set_of_categories, "categories must be a list of strings"),
    ("w01_one_hot_categories", one_hot_sorts_input, "changed its input `train_values` in place"),
    ("w01_one_hot_categories", one_hot_stub, "not implemented yet"),
    ("w01_standardize_train_test", standardize_own_stats, "its own mean"),
    ("w01_standardize_train_test", standardize_all_rows, "leaks the test split"),
    ("w01_standardize_train_test", standardize_sample, "sample std"),
    ("w01_standardize_train_test", standardize_no_eps, "NaN"),
    ("w01_standardize_train_test", standardize_in_place, "changed its input `X_train` in place"),
    ("w01_standardize_train_test", standardize_stub, "not implemented yet"),
    ("w01_penguin_arrays", penguins_leaky, r"filled and standardised with statistics of \*all\* rows"),
    ("w01_penguin_arrays", penguins_leaky_scaling, r"were standardised with statistics of \*all\* rows"),
    ("w01_penguin_arrays", penguins_drop_missing_sex, "expected shape"),
    ("w01_penguin_arrays", penguins_species_by_appearance, "y_train: .* values are wrong"),
    ("w01_penguin_arrays", penguins_bare_names, "feature names should be"),
    ("w01_penguin_arrays", penguins_fills_in_place, "changed its input `train` in place"),
    ("w01_penguin_arrays", penguins_stub, "not implemented yet"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w01_penguins", CORRECT, WRONG)


def test_hidden_fill_missing_keeps_text_columns():
    """The larger example carries a text column with gaps; it must come back as it was."""
    def fill_breaks_text(train, test, columns):
        train, test = fill_loop(train, test, columns)
        return train.assign(island=train["island"].fillna("unknown")) if "island" in train else train, test

    with pytest.raises(CheckFailed, match="column island of the train frame"):
        run_case("w01_fill_missing", fill_breaks_text)
