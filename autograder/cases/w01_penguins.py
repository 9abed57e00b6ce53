"""Week 1, pandas on the Palmer penguins: reference, known mistakes, hidden cases, fixtures.

The rule every task here checks: what is learned from data (medians, categories, means and standard
deviations) is learned on the training split only, then applied to both splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.grading import Call, Unsupported
from dlfs.penguins import load_penguins, train_test_split_frame

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]
EPS = 1e-8

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
_LEAK = (
    "your measurement columns were {what} with statistics of *all* rows (train and test together): that leaks "
    "the test split into what is learned; learn the medians, means and stds on the training rows only."
)
PENGUIN_MISTAKES = {
    "leak_fill": _LEAK.format(what="filled"),
    "leak_scale": _LEAK.format(what="standardised"),
    "leak_both": _LEAK.format(what="filled and standardised"),
}

Y_HINT = "y is the position of each penguin's species in the sorted list of the training split's species."


# ---- reference -----------------------------------------------------------------------------------


def fill_missing_with_train_median(
    train: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of both frames with NaN in ``columns`` replaced by the training split's median."""
    medians = train[columns].median()
    train, test = train.copy(), test.copy()
    train[columns] = train[columns].fillna(medians)
    test[columns] = test[columns].fillna(medians)
    return train, test


def _encode(values: np.ndarray, categories: list) -> np.ndarray:
    return (np.asarray(values, dtype=object)[:, None] == np.asarray(categories, dtype=object)[None, :]).astype(np.float64)


def one_hot_categories(train_values: np.ndarray, test_values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """One column per category seen in training (sorted); an unseen test value gives an all-zero row."""
    categories = sorted(set(np.asarray(train_values).tolist()))
    return _encode(train_values, categories), _encode(test_values, categories), categories


def standardize_train_test(X_train: np.ndarray, X_test: np.ndarray, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """Both splits standardised with the training columns' mean and population std."""
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / (std + eps), (X_test - mean) / (std + eps)


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


# ---- the known mistakes: {name: (train output, test output)} ---------------------------------------


def fill_missing_mistakes(
    train: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) values of ``columns`` as the known mistakes fill them: all rows' median, training mean."""
    fills = {"all_rows": pd.concat([train, test])[columns].median(), "mean": train[columns].mean()}
    return {name: (train[columns].fillna(fill).to_numpy(), test[columns].fillna(fill).to_numpy())
            for name, fill in fills.items()}


def one_hot_mistakes(train_values: np.ndarray, test_values: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) columns of the known mistakes: categories from all rows, or in order of appearance."""
    every = sorted(set(np.asarray(train_values).tolist()) | set(np.asarray(test_values).tolist()))
    seen = list(dict.fromkeys(np.asarray(train_values).tolist()))
    return {name: (_encode(train_values, cats), _encode(test_values, cats))
            for name, cats in (("all_rows", every), ("unsorted", seen))}


def standardize_train_test_mistakes(
    X_train: np.ndarray, X_test: np.ndarray, eps: float = EPS
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) outputs of the known mistakes: the test split's own stats, all rows' stats, ddof=1."""
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    both = np.vstack([X_train, X_test])
    mu, sd = both.mean(axis=0), both.std(axis=0)
    tr_mu, tr_sd1 = X_train.mean(axis=0), X_train.std(axis=0, ddof=1)
    right_train, _ = standardize_train_test(X_train, X_test, eps)
    return {
        "own_stats": (right_train, (X_test - X_test.mean(0)) / (X_test.std(0) + eps)),
        "all_rows": ((X_train - mu) / (sd + eps), (X_test - mu) / (sd + eps)),
        "sample_std": ((X_train - tr_mu) / (tr_sd1 + eps), (X_test - tr_mu) / (tr_sd1 + eps)),
    }


def penguin_arrays_mistakes(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(X_train, X_test) of the recipe with the measurements filled, standardised, or both, on all rows."""
    X_train, _, X_test, _, _ = penguin_arrays(train, test)
    both = pd.concat([train, test])
    out = {}
    for name, fill_rows, scale_on_all in (("leak_fill", both, False), ("leak_scale", train, True),
                                          ("leak_both", both, True)):
        medians = fill_rows[NUMERIC].median()
        tr, te = (frame[NUMERIC].fillna(medians).to_numpy(dtype=np.float64) for frame in (train, test))
        fit = np.vstack([tr, te]) if scale_on_all else tr
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        leaky_train, leaky_test = X_train.copy(), X_test.copy()
        leaky_train[:, :len(NUMERIC)], leaky_test[:, :len(NUMERIC)] = (tr - mean) / (std + EPS), (te - mean) / (std + EPS)
        out[name] = (leaky_train, leaky_test)
    return out


# ---- hidden cases ----------------------------------------------------------------------------------

SPLITS = ("train", "test")


def _split_mistakes(wrong: dict[str, tuple], split: int, messages: dict[str, str]):
    """The known mistakes' outputs for one split (0 train, 1 test), with their messages."""
    return mistakes_on({name: outputs[split] for name, outputs in wrong.items()}, messages)


def _texts(name: str, value, what: str) -> list[str]:
    """A returned list of names as text, or a failure saying what to return."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, list | tuple):
        kind = value.type if isinstance(value, Unsupported) else type(value).__name__
        raise CheckFailed(f"{name}: {what} must be a list of strings; got a {kind}.")
    return [str(v) for v in value]


def _frame_with(name: str, got, expected: pd.DataFrame, part: str) -> pd.DataFrame:
    """A returned frame that has every column of the frame it was made from."""
    if not isinstance(got, pd.DataFrame):
        raise CheckFailed(f"{name}: the {part} part must be a DataFrame (a filled copy of `{part}`); got a "
                          f"{type(got).__name__}.")
    lost = [c for c in expected.columns if c not in got.columns]
    if lost:
        raise CheckFailed(f"{name}: the {part} frame has lost the column(s) {lost}: return the whole frame.")
    if len(got) != len(expected):
        raise CheckFailed(f"{name}: the {part} frame has {len(got)} rows; expected {len(expected)} (keep every row).")
    return got


def _same_column(got: pd.Series, expected: pd.Series) -> bool:
    """Same gaps (None or NaN alike) and same values elsewhere, for numbers and text."""
    gaps = pd.isna(expected).to_numpy()
    if not np.array_equal(pd.isna(got).to_numpy(), gaps):
        return False
    g, e = got.to_numpy()[~gaps], expected.to_numpy()[~gaps]
    if e.dtype.kind in "fiu":
        try:
            return bool(np.array_equal(np.asarray(g, dtype=np.float64), e.astype(np.float64)))
        except (TypeError, ValueError):
            return False
    return [str(v) for v in g] == [str(v) for v in e]


def _gappy(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """Columns a, b, c on different scales, with their largest 30% made gaps."""
    frame = pd.DataFrame(rng.normal(size=(rows, 3)) * [1, 10, 100] + shift, columns=["a", "b", "c"])
    return frame.mask(frame > frame.quantile(0.7))


@case("w01_fill_missing")
def fill_missing(rng: np.random.Generator):
    """Training medians fill both splits' `columns`; the other columns (numbers, and text with gaps in the
    larger example) come back as they were, and the frames passed in are not modified."""
    examples = []
    for n_train, n_test in ((7, 3), (40, 15)):
        examples.append((_gappy(rng, n_train, 0.0), _gappy(rng, n_test, 50.0)))
    for frame in examples[1]:
        frame["island"] = pd.Series(rng.choice(["Biscoe", "Dream", "Torgersen"], len(frame))).mask(
            rng.random(len(frame)) < 0.3)
    columns = ["a", "b"]

    def judge(answers: Answers, context: Context) -> str:
        for i, (train, test) in enumerate(examples):
            label = f"{len(train)} training rows"
            name = f"{answers.name} ({label})"
            got = answers.parts(answers.result(i, label, ("train", "test", "columns")), "train_filled", "test_filled")
            want = fill_missing_with_train_median(train, test, columns)
            wrong = fill_missing_mistakes(train, test, columns)
            for split, part in enumerate(SPLITS):
                frame = _frame_with(name, got[split], want[split], part)
                try:
                    values = frame[columns].to_numpy(dtype=np.float64)
                except (TypeError, ValueError):
                    raise CheckFailed(f"{name}: the {part} frame's columns {columns} are not numbers.") from None
                check_array(f"{name}: the {part} frame, columns {', '.join(columns)}", values,
                            want[split][columns].to_numpy(), mistakes=_split_mistakes(wrong, split, FILL_MISTAKES))
                for other in want[split].columns.difference(columns):
                    if not _same_column(frame[other], want[split][other]):
                        raise CheckFailed(f"{name}: column {other} of the {part} frame was not in `columns` and must "
                                          "come back as it was, gaps included.")
        return "training medians fill both splits; other columns and the given frames untouched"

    return {"calls": [Call((train, test, columns)) for train, test in examples]}, judge


@case("w01_one_hot_categories")
def one_hot_categories_case(rng: np.random.Generator):
    """Sorted training categories; test values unseen in training give rows of zeros.

    The values are sent as text and handed over as object arrays, as a text column's ``to_numpy()`` gives.
    """
    pool = np.array(["Torgersen", "Biscoe", "Dream", "male", "female", "unknown"])
    pairs = [(rng.choice(pool[:4], n_train), rng.choice(pool, n_test)) for n_train, n_test in ((5, 4), (60, 20))]

    def judge(answers: Answers, context: Context) -> str:
        for i, (train_values, test_values) in enumerate(pairs):
            label = f"{len(train_values)} training values"
            name = f"{answers.name} ({label})"
            got = answers.parts(answers.result(i, label, ("train_values", "test_values")),
                                "train_onehot", "test_onehot", "categories")
            *want, categories = one_hot_categories(train_values, test_values)
            wrong = one_hot_mistakes(train_values, test_values)
            for split, part in enumerate(SPLITS):
                check_array(f"{name}: the {part} columns", got[split], want[split],
                            mistakes=_split_mistakes(wrong, split, ONE_HOT_MISTAKES))
            got_categories = _texts(name, got[2], "categories")
            if got_categories != categories:
                raise CheckFailed(f"{name}: categories should be {categories}; got {got_categories}.")
        return "sorted training categories; unseen test values encode as zeros"

    return {"calls": [Call(pair) for pair in pairs]}, judge


@case("w01_standardize_train_test")
def standardize_case(rng: np.random.Generator):
    """Both splits standardised with the training mean and population std, a constant training column
    included (eps keeps it finite), and float32 input."""
    examples = []
    for shape_train, shape_test in (((10, 2), (4, 2)), ((200, 5), (50, 5))):
        X_train, X_test = rng.normal(2.0, 3.0, shape_train), rng.normal(-1.0, 5.0, shape_test)
        X_train[:, 0] = 1.5
        examples.append((X_train, X_test, f"{shape_train[0]} training rows"))
    examples.append((rng.normal(2.0, 3.0, (30, 3)).astype(np.float32), rng.normal(-1.0, 5.0, (8, 3)).astype(np.float32),
                     "float32 input"))

    def judge(answers: Answers, context: Context) -> str:
        for i, (X_train, X_test, label) in enumerate(examples):
            got = answers.parts(answers.result(i, label, ("X_train", "X_test")), "train_std", "test_std")
            want = standardize_train_test(X_train, X_test)
            wrong = standardize_train_test_mistakes(X_train, X_test)
            rtol, atol = (1e-4, 1e-4) if X_train.dtype == np.float32 else (1e-7, 1e-9)
            for split, part in enumerate(SPLITS):
                check_array(f"{answers.name} ({label}): the {part} split", got[split], want[split], rtol=rtol, atol=atol,
                            mistakes=_split_mistakes(wrong, split, STANDARDIZE_MISTAKES))
        return "both splits use the training statistics (constant column and float32 input included)"

    return {"calls": [Call((X_train, X_test)) for X_train, X_test, _ in examples]}, judge


@case("w01_penguin_arrays")
def penguin_arrays_case(rng: np.random.Generator):
    """The whole recipe on the real penguins, for the visible 75/25 split and a 60/40 one with another seed;
    the frames are split here and sent in."""
    penguins = load_penguins()
    splits = [(0.25, 0), (0.4, int(rng.integers(1, 1000)))]
    frames = [train_test_split_frame(penguins, test_fraction=fraction, seed=seed) for fraction, seed in splits]
    parts = ("X_train", "y_train", "X_test", "y_test")
    hints = {"y_train": Y_HINT, "y_test": Y_HINT}

    def judge(answers: Answers, context: Context) -> str:
        for i, ((train, test), (fraction, seed)) in enumerate(zip(frames, splits)):
            label = f"split {fraction}, seed {seed}"
            got = answers.parts(answers.result(i, label, ("train", "test")), *parts, "feature_names")
            want = penguin_arrays(train, test)
            wrong = penguin_arrays_mistakes(train, test)
            for k, part in enumerate(parts):
                mistakes = _split_mistakes(wrong, k // 2, PENGUIN_MISTAKES) if part.startswith("X") else []
                check_array(f"{answers.name} ({label}): {part}", got[k], want[k], rtol=1e-7, atol=1e-9, mistakes=mistakes,
                            hint=hints.get(part, ""))
            names = _texts(answers.name, got[4], "feature_names")
            if names != want[4]:
                raise CheckFailed(f"{answers.name}: feature names should be {want[4]}; got {names}.")
        return "the recipe agrees with the reference on two splits"

    return {"calls": [Call(pair) for pair in frames]}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def _per_split(wrong: dict[str, tuple], messages: dict[str, str], parts=SPLITS) -> dict[str, np.ndarray]:
    """``mistake_<name>_<part>`` arrays and ``message_<name>`` texts from {name: (train output, test output)}."""
    found: dict[str, np.ndarray] = {}
    for split, part in enumerate(parts):
        found |= stored({name: outputs[split] for name, outputs in wrong.items()}, messages, suffix=f"_{part}")
    return found


def _fill_missing_fixture() -> dict[str, np.ndarray]:
    columns = ["a", "b"]
    train = pd.DataFrame([[1.0, 10.0], [np.nan, 20.0], [3.0, np.nan], [100.0, 40.0], [5.0, 50.0]], columns=columns)
    test = pd.DataFrame([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan]], columns=columns)
    tr, te = fill_missing_with_train_median(train, test, columns)
    return {"train": train.to_numpy(), "test": test.to_numpy(), "columns": np.array(columns),
            "expected_train": tr.to_numpy(), "expected_test": te.to_numpy()} | _per_split(
        fill_missing_mistakes(train, test, columns), FILL_MISTAKES)


def _one_hot_fixture() -> dict[str, np.ndarray]:
    train_values = np.array(["Dream", "Biscoe", "Torgersen", "Biscoe"])
    test_values = np.array(["Torgersen", "Atlantis", "Dream"])
    tr, te, categories = one_hot_categories(train_values.astype(object), test_values.astype(object))
    return {"train_values": train_values, "test_values": test_values, "expected_train": tr, "expected_test": te,
            "expected_categories": np.array(categories)} | _per_split(
        one_hot_mistakes(train_values, test_values), ONE_HOT_MISTAKES)


def _standardize_fixture() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(19)
    X_train, X_test = rng.normal(3.0, 2.0, (6, 3)), rng.normal(5.0, 4.0, (4, 3))
    tr, te = standardize_train_test(X_train, X_test)
    return {"X_train": X_train, "X_test": X_test, "expected_train": tr, "expected_test": te} | _per_split(
        standardize_train_test_mistakes(X_train, X_test), STANDARDIZE_MISTAKES)


def _penguin_arrays_fixture() -> dict[str, np.ndarray]:
    train, test = train_test_split_frame(load_penguins(), test_fraction=0.25, seed=0)
    X_train, y_train, X_test, y_test, names = penguin_arrays(train, test)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
            "feature_names": np.array(names)} | _per_split(
        penguin_arrays_mistakes(train, test), PENGUIN_MISTAKES, parts=("X_train", "X_test"))


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    return {"w01_fill_missing": _fill_missing_fixture(), "w01_one_hot_categories": _one_hot_fixture(),
            "w01_standardize_train_test": _standardize_fixture(), "w01_penguin_arrays": _penguin_arrays_fixture()}
