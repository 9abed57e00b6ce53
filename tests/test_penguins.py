"""Tests for dlfs.penguins: the shipped Palmer penguins CSV, its checksum, and the seeded row split.

Tests that damage or remove the file work on a copy under a temporary DLFS_DATA folder, so the
repository's data/ folder is never touched.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlfs import penguins as penguins_module
from dlfs.data import DataError
from dlfs.penguins import (
    PENGUINS_FILE,
    PENGUINS_SHA256,
    load_penguins,
    train_test_split_frame,
)

pytestmark = pytest.mark.data

REPO = Path(penguins_module.__file__).resolve().parent.parent
SHIPPED = REPO / "data" / PENGUINS_FILE

COLUMNS = [
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
]
MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
TEXT_COLUMNS = ["species", "island", "sex"]
NAN_COUNTS = {
    "species": 0,
    "island": 0,
    "bill_length_mm": 2,
    "bill_depth_mm": 2,
    "flipper_length_mm": 2,
    "body_mass_g": 2,
    "sex": 11,
    "year": 0,
}
SPECIES_COUNTS = {"Adelie": 152, "Chinstrap": 68, "Gentoo": 124}


@pytest.fixture(autouse=True)
def real_data(monkeypatch) -> None:
    """Use the repository's data/ folder, whatever DLFS_DATA says in the environment."""
    monkeypatch.delenv("DLFS_DATA", raising=False)


@pytest.fixture(scope="module")
def frame() -> Iterator[pd.DataFrame]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DLFS_DATA", raising=False)
        yield load_penguins()


# ----------------------------------------------------------------------------------------------------
# The shipped file
# ----------------------------------------------------------------------------------------------------


def test_shipped_file_matches_the_digest():
    raw = SHIPPED.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == PENGUINS_SHA256
    assert len(raw) == 15_241
    assert raw.count(b"\n") == 345  # header + 344 rows, each ending in a newline
    assert b"\r" not in raw


def test_shape_columns_and_index(frame):
    assert frame.shape == (344, 8)
    assert list(frame.columns) == COLUMNS
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.equals(pd.RangeIndex(344))


def test_dtypes(frame):
    for column in MEASUREMENTS:
        assert frame[column].dtype == np.float64, column
    assert frame["year"].dtype == np.int64
    for column in TEXT_COLUMNS:
        dtype = frame[column].dtype
        assert not isinstance(dtype, pd.CategoricalDtype), column
        assert dtype == np.dtype(object) or isinstance(dtype, pd.StringDtype), (column, dtype)
        assert all(isinstance(v, str) for v in frame[column].dropna()), column


def test_nan_counts_per_column(frame):
    assert frame.isna().sum().to_dict() == NAN_COUNTS
    assert frame.isna().any(axis=1).sum() == 11
    assert len(frame.dropna()) == 333
    # the two rows without any measurement
    assert frame.index[frame[MEASUREMENTS].isna().all(axis=1)].tolist() == [3, 271]


def test_nan_counts_are_the_ones_in_the_docstring():
    doc = " ".join(load_penguins.__doc__.split())  # undo the line wrapping
    assert "bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g: 2 NaN each" in doc
    assert "sex: 11 NaN" in doc
    assert "species, island, year: none" in doc
    assert "19 values in all, in 11 rows" in doc
    assert sum(NAN_COUNTS.values()) == 19


def test_species_and_other_values(frame):
    assert set(frame["species"]) == set(SPECIES_COUNTS)
    assert frame["species"].value_counts().to_dict() == SPECIES_COUNTS
    assert frame["island"].value_counts().to_dict() == {"Biscoe": 168, "Dream": 124, "Torgersen": 52}
    assert frame["sex"].value_counts().to_dict() == {"male": 168, "female": 165}
    assert frame["year"].value_counts().to_dict() == {2009: 120, 2008: 114, 2007: 110}


def test_first_row_and_measurement_ranges(frame):
    first = frame.iloc[0]
    assert (first["species"], first["island"], first["sex"], first["year"]) == (
        "Adelie",
        "Torgersen",
        "male",
        2007,
    )
    assert first[MEASUREMENTS].tolist() == [39.1, 18.7, 181.0, 3750.0]
    assert frame["bill_length_mm"].agg(["min", "max"]).tolist() == [32.1, 59.6]
    assert frame["body_mass_g"].agg(["min", "max"]).tolist() == [2700.0, 6300.0]


# ----------------------------------------------------------------------------------------------------
# Damaged or missing file, and fresh copies
# ----------------------------------------------------------------------------------------------------


def _data_folder_with(tmp_path: Path, content: bytes | None) -> Path:
    """A DLFS_DATA folder holding ``content`` as penguins/penguins.csv (nothing if ``content`` is None)."""
    (tmp_path / "penguins").mkdir()
    target = tmp_path / PENGUINS_FILE
    if content is not None:
        target.write_bytes(content)
    return target


def test_good_copy_in_dlfs_data_is_used(tmp_path, monkeypatch):
    _data_folder_with(tmp_path, SHIPPED.read_bytes())
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    assert load_penguins().shape == (344, 8)


def test_corrupted_copy_raises_with_both_digests(tmp_path, monkeypatch):
    original = SHIPPED.read_bytes()
    damaged = original.replace(b"39.1,18.7", b"39.2,18.7", 1)
    assert damaged != original
    target = _data_folder_with(tmp_path, damaged)
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    with pytest.raises(DataError) as info:
        load_penguins()
    message = str(info.value)
    assert str(target) in message
    assert PENGUINS_SHA256 in message
    assert hashlib.sha256(damaged).hexdigest() in message
    assert target.read_bytes() == damaged  # the loader never touches the file


def test_truncated_copy_raises(tmp_path, monkeypatch):
    _data_folder_with(tmp_path, SHIPPED.read_bytes()[:-100])
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    with pytest.raises(DataError, match=PENGUINS_SHA256):
        load_penguins()


def test_missing_file_raises_naming_the_path(tmp_path, monkeypatch):
    target = _data_folder_with(tmp_path, None)
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    with pytest.raises(DataError) as info:
        load_penguins()
    assert str(target) in str(info.value)


def test_each_load_returns_a_fresh_frame():
    first = load_penguins()
    expected = first.copy(deep=True)
    first.loc[0, "bill_length_mm"] = -1.0
    first.loc[1, "species"] = "Emperor"
    first["year"] += 1
    first["sex"] = first["sex"].fillna("unknown")
    del first["island"]
    second = load_penguins()
    assert second is not first
    pd.testing.assert_frame_equal(second, expected)


# ----------------------------------------------------------------------------------------------------
# train_test_split_frame
# ----------------------------------------------------------------------------------------------------


def _index_set(part: pd.DataFrame) -> set:
    return set(part.index.tolist())


@pytest.mark.parametrize(("fraction", "n_test"), [(0.25, 86), (0.1, 34), (0.5, 172), (0.9, 310)])
def test_split_sizes(frame, fraction, n_test):
    train, test = train_test_split_frame(frame, test_fraction=fraction, seed=0)
    assert len(test) == n_test == round(fraction * 344)
    assert len(train) == 344 - n_test


def test_split_default_is_a_quarter(frame):
    train, test = train_test_split_frame(frame)
    assert (len(train), len(test)) == (258, 86)


def test_split_is_disjoint_covers_all_rows_and_keeps_rows(frame):
    train, test = train_test_split_frame(frame, 0.25, seed=3)
    assert _index_set(train).isdisjoint(_index_set(test))
    assert _index_set(train) | _index_set(test) == set(frame.index)
    for part in (train, test):
        assert part.index.is_monotonic_increasing
        assert list(part.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(part, frame.loc[part.index])
    pd.testing.assert_frame_equal(pd.concat([train, test]).sort_index(), frame)


def test_split_follows_the_documented_rule(frame):
    permutation = np.random.default_rng(7).permutation(len(frame))
    train, test = train_test_split_frame(frame, 0.25, seed=7)
    assert test.index.tolist() == sorted(permutation[:86].tolist())
    assert train.index.tolist() == sorted(permutation[86:].tolist())


def test_split_keeps_original_index_values():
    complete = load_penguins().dropna()  # index with gaps: 3, 8, 9, ... are missing
    train, test = train_test_split_frame(complete, 0.2, seed=1)
    assert len(test) == round(0.2 * 333)
    assert _index_set(train) | _index_set(test) == set(complete.index)
    assert not (_index_set(test) & {3, 8, 271})
    pd.testing.assert_frame_equal(test, complete.loc[test.index])


def test_split_does_not_modify_the_frame(frame):
    before = frame.copy(deep=True)
    train, test = train_test_split_frame(frame, 0.3, seed=5)
    train.loc[train.index[0], "body_mass_g"] = -1.0
    test.loc[test.index[0], "species"] = "Emperor"
    pd.testing.assert_frame_equal(frame, before)


def test_split_is_deterministic_per_seed(frame):
    for seed in (0, 1, 12345):
        a_train, a_test = train_test_split_frame(frame, 0.25, seed=seed)
        b_train, b_test = train_test_split_frame(frame, 0.25, seed=seed)
        pd.testing.assert_frame_equal(a_train, b_train)
        pd.testing.assert_frame_equal(a_test, b_test)


def test_different_seeds_give_different_splits(frame):
    tests = [_index_set(train_test_split_frame(frame, 0.25, seed=seed)[1]) for seed in range(5)]
    assert len({frozenset(t) for t in tests}) == 5


@pytest.mark.parametrize("fraction", [0, 1, 0.0, 1.0, -0.1, 1.5, math.nan, True, "0.25", None])
def test_split_rejects_bad_fractions(frame, fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split_frame(frame, test_fraction=fraction)


# ----------------------------------------------------------------------------------------------------
# Documentation
# ----------------------------------------------------------------------------------------------------


def test_digest_is_written_in_the_data_readme():
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    assert PENGUINS_SHA256 in readme
    assert "Palmer penguins" in readme
    assert "15,241" in readme
