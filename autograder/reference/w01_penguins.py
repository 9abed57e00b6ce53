"""Week 1 reference: preparing the Palmer penguins for a model, fitted on the training split only."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]


def fill_missing_with_train_median(
    train: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of both frames with NaN in ``columns`` replaced by the training split's median."""
    medians = train[columns].median()
    train, test = train.copy(), test.copy()
    train[columns] = train[columns].fillna(medians)
    test[columns] = test[columns].fillna(medians)
    return train, test


def one_hot_categories(
    train_values: np.ndarray, test_values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list]:
    """One column per category seen in training (sorted); an unseen test value gives an all-zero row."""
    categories = sorted(set(np.asarray(train_values).tolist()))
    def encode(values):
        return (np.asarray(values)[:, None] == np.asarray(categories, dtype=object)[None, :]).astype(np.float64)
    return encode(train_values), encode(test_values), categories


def standardize_train_test(
    X_train: np.ndarray, X_test: np.ndarray, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray]:
    """Both splits standardised with the training columns' mean and population std."""
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / (std + eps), (X_test - mean) / (std + eps)


def fill_missing_mistakes(
    train: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) values of ``columns`` as the known mistakes fill them: all rows' median, training mean."""
    fills = {"all_rows": pd.concat([train, test])[columns].median(), "mean": train[columns].mean()}
    return {name: (train[columns].fillna(fill).to_numpy(), test[columns].fillna(fill).to_numpy())
            for name, fill in fills.items()}


def one_hot_mistakes(train_values: np.ndarray, test_values: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) columns of the known mistakes: categories from all rows, or in order of appearance."""
    def encode(values, categories):
        return (np.asarray(values)[:, None] == np.asarray(categories, dtype=object)[None, :]).astype(np.float64)
    every = sorted(set(np.asarray(train_values).tolist()) | set(np.asarray(test_values).tolist()))
    seen = list(dict.fromkeys(np.asarray(train_values).tolist()))
    return {name: (encode(train_values, cats), encode(test_values, cats))
            for name, cats in (("all_rows", every), ("unsorted", seen))}


def standardize_train_test_mistakes(
    X_train: np.ndarray, X_test: np.ndarray, eps: float = 1e-8
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) outputs of the known mistakes: the test split's own stats, all rows' stats, ddof=1."""
    both = np.vstack([X_train, X_test])
    mu, sd = both.mean(axis=0), both.std(axis=0)
    tr_mu, tr_sd1 = X_train.mean(axis=0), X_train.std(axis=0, ddof=1)
    right_train, _ = standardize_train_test(X_train, X_test, eps)
    return {
        "own_stats": (right_train, (X_test - X_test.mean(0)) / (X_test.std(0) + eps)),
        "all_rows": ((X_train - mu) / (sd + eps), (X_test - mu) / (sd + eps)),
        "sample_std": ((X_train - tr_mu) / (tr_sd1 + eps), (X_test - tr_mu) / (tr_sd1 + eps)),
    }


def penguin_arrays(train: pd.DataFrame, test: pd.DataFrame):
    """(X_train, y_train, X_test, y_test, feature_names) by the assignment's recipe."""
    train, test = fill_missing_with_train_median(train, test, NUMERIC)
    numeric_train, numeric_test = standardize_train_test(train[NUMERIC].to_numpy(), test[NUMERIC].to_numpy())
    parts_train, parts_test, names = [numeric_train], [numeric_test], list(NUMERIC)
    for column in CATEGORICAL:
        tr, te, categories = one_hot_categories(
            train[column].fillna("unknown").to_numpy(), test[column].fillna("unknown").to_numpy()
        )
        parts_train.append(tr)
        parts_test.append(te)
        names += [f"{column}={category}" for category in categories]
    species = sorted(train["species"].unique())
    return (
        np.hstack(parts_train),
        train["species"].map(species.index).to_numpy(dtype=np.int64),
        np.hstack(parts_test),
        test["species"].map(species.index).to_numpy(dtype=np.int64),
        names,
    )
