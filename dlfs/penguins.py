"""The Palmer penguins: a small tabular data set (344 penguins, 8 columns) shipped in ``data/penguins/``.

The file is the plain CSV ``data_dir() / PENGUINS_FILE``, checked against :data:`PENGUINS_SHA256`
(the SHA-256 of its raw bytes; the file is not compressed) every time it is loaded. Unlike MNIST there
is no download: the file is small enough to always ship with the repository. See ``data/README.md``
for where it came from and its licence (CC0).

Typical use::

    from dlfs.penguins import load_penguins, train_test_split_frame

    penguins = load_penguins()                       # pandas DataFrame, shape (344, 8)
    train, test = train_test_split_frame(penguins, test_fraction=0.25, seed=0)
"""

from __future__ import annotations

import hashlib
import io
import numbers

import numpy as np
import pandas as pd

from dlfs.data import DataError, data_dir

__all__ = [
    "PENGUINS_COLUMNS",
    "PENGUINS_FILE",
    "PENGUINS_SHA256",
    "load_penguins",
    "train_test_split_frame",
]

PENGUINS_SHA256 = "f204db2c753b0937caac3cb35258562c14f073e4bbc76be24b4c51ce22767a93"
"""SHA-256 of the raw bytes of ``penguins/penguins.csv`` (15,241 bytes, from PyPI palmerpenguins 0.1.6)."""

PENGUINS_FILE = "penguins/penguins.csv"
"""Where the CSV lives, relative to :func:`dlfs.data.data_dir`."""

PENGUINS_COLUMNS = (
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
)
"""The columns of the file, in file order."""

# Numeric columns get an explicit dtype, so that the result does not depend on whether a column
# happens to contain a missing value (flipper length and body mass are whole numbers in the file).
_NUMERIC_DTYPES = {
    "bill_length_mm": "float64",
    "bill_depth_mm": "float64",
    "flipper_length_mm": "float64",
    "body_mass_g": "float64",
    "year": "int64",
}


def _read_verified(path) -> bytes:
    """Return the bytes of ``path`` after checking their SHA-256; DataError if missing or different."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{path} does not exist. The Palmer penguins CSV ships with the course repository: "
            f"restore it (git checkout -- data/penguins), or, if DLFS_DATA is set, copy "
            f"data/penguins/penguins.csv from the repository into {path.parent}."
        ) from None
    except OSError as exc:
        raise DataError(f"{path} could not be read ({type(exc).__name__}: {exc}).") from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != PENGUINS_SHA256:
        raise DataError(
            f"{path} is damaged or not the expected file: its SHA-256 is {actual}, expected "
            f"{PENGUINS_SHA256}. Restore the file from the repository (git checkout -- data/penguins), "
            "or copy a good copy of data/penguins/penguins.csv over it."
        )
    return raw


def load_penguins() -> pd.DataFrame:
    """Load the Palmer penguins: 344 adult penguins from three islands near Palmer Station, Antarctica.

    The file's SHA-256 is checked first: a missing file or one whose digest is not
    :data:`PENGUINS_SHA256` raises :class:`dlfs.data.DataError`, naming the file (and, for a damaged
    file, the expected and the actual digest) and saying how to restore it.

    Returns a new DataFrame on every call (nothing is cached, so the caller may modify it), with a
    default RangeIndex 0..343 in file order and these columns:

    ===================  ==========  ===========================================================
    column               dtype       meaning
    ===================  ==========  ===========================================================
    species              str         "Adelie" (152), "Chinstrap" (68) or "Gentoo" (124)
    island               str         "Biscoe" (168), "Dream" (124) or "Torgersen" (52)
    bill_length_mm       float64     bill (culmen) length, millimetres
    bill_depth_mm        float64     bill (culmen) depth, millimetres
    flipper_length_mm    float64     flipper length, millimetres (whole numbers in the file)
    body_mass_g          float64     body mass, grams (whole numbers in the file)
    sex                  str         "male" (168) or "female" (165)
    year                 int64       year of the observation: 2007 (110), 2008 (114) or 2009 (120)
    ===================  ==========  ===========================================================

    The text columns are plain string columns (pandas' default ``str`` dtype, ``object`` on older
    pandas), not categoricals.

    Missing values are written ``NA`` in the file and become ``NaN``; 19 values in all, in 11 rows:

    - bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g: 2 NaN each (rows 3 and 271,
      an Adelie and a Gentoo with no measurements and no sex at all);
    - sex: 11 NaN (those 2 rows and 9 others);
    - species, island, year: none.

    So 333 rows are complete (``frame.dropna()``).

    Source: the file ``palmerpenguins/data/penguins.csv`` of the PyPI package ``palmerpenguins``
    0.1.6, a copy of the ``penguins`` data of the R package palmerpenguins by Allison Horst, Alison
    Hill and Kristen Gorman; data collected by Kristen Gorman and the Palmer Station Long Term
    Ecological Research (LTER) Program (Gorman, Williams and Fraser 2014, PLoS ONE 9(3): e90081).
    Licence: CC0 (public domain dedication), https://creativecommons.org/publicdomain/zero/1.0/.
    """
    path = data_dir() / PENGUINS_FILE
    raw = _read_verified(path)
    # Parse the very bytes that were checked. Only the literal "NA" means missing (pandas' long default
    # list of missing-value markers is switched off), so nothing else can silently become NaN.
    frame = pd.read_csv(
        io.BytesIO(raw),
        keep_default_na=False,
        na_values=["NA"],
        dtype=_NUMERIC_DTYPES,
    )
    if tuple(frame.columns) != PENGUINS_COLUMNS:  # cannot happen with the verified file; a cheap guard
        raise DataError(f"{path} has columns {list(frame.columns)}, expected {list(PENGUINS_COLUMNS)}.")
    return frame


def train_test_split_frame(
    frame: pd.DataFrame, test_fraction: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the rows of ``frame`` at random into ``(train, test)``.

    ``np.random.default_rng(seed).permutation(n)`` is drawn for the ``n = len(frame)`` row positions;
    the first ``round(test_fraction * n)`` of it are the test rows, the rest the training rows. Both
    parts keep the original index values (so a row can be traced back to ``frame``) and are sorted by
    index. The same ``frame``, ``test_fraction`` and ``seed`` always give the same split. ``frame``
    itself is not modified. For very small frames one part may be empty.

    ``test_fraction`` must lie strictly between 0 and 1, otherwise ValueError.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}.")
    if not 0 < test_fraction < 1:  # also rejects NaN
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}.")
    n = len(frame)
    n_test = round(test_fraction * n)
    permutation = np.random.default_rng(seed).permutation(n)
    test = frame.iloc[permutation[:n_test]].sort_index(kind="stable")
    train = frame.iloc[permutation[n_test:]].sort_index(kind="stable")
    return train, test
