"""A Kaggle-style competition in the format of Kaggle's *Digit Recognizer*, built from the shipped MNIST.

The files, written once into ``data_dir() / "kaggle" / "digit-recognizer"`` (ignored by git):

- ``train.csv``: ``label,pixel0,...,pixel783``, one row per image, pixels 0..255 row by row;
  42,000 images drawn at random (seeded) from MNIST's 60,000 training images, as on Kaggle.
- ``test.csv``: ``pixel0,...,pixel783`` only: the 10,000 images of MNIST's *test* split, in file order,
  so scores are measured on the real test split.
- ``sample_submission.csv``: ``ImageId,Label`` with ImageId 1..10000 (the row number in test.csv)
  and a placeholder label 0.

A submission has exactly the sample's format: the header ``ImageId,Label``, one row per test image,
ImageIds 1..N in order, integer labels 0..9. :func:`check_submission` says precisely what is wrong
with a file and :func:`score_submission` gives its accuracy on the held-out labels.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dlfs.data import _mnist_raw, data_dir

N_PIXELS = 784
KAGGLE_TRAIN_SIZE = 42_000
_PIXEL_TEXT = np.array([str(value) for value in range(256)], dtype=object)


@dataclass(frozen=True)
class Competition:
    """Paths of the competition's files."""

    folder: Path
    train: Path
    test: Path
    sample_submission: Path


def _write_csv(path: Path, header: list[str], rows: np.ndarray) -> None:
    """Write an integer matrix with values 0..255 as CSV, atomically (temporary file, then rename)."""
    lines = [",".join(header)]
    lines += [",".join(_PIXEL_TEXT[row]) for row in rows]
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".part", delete=False)
    try:
        with handle:
            handle.write("\n".join(lines) + "\n")
        # Readable as any other data file (a temporary file is made private), e.g. by a sandboxed grading kernel.
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)


def digit_recognizer(folder: str | os.PathLike[str] | None = None, *, seed: int = 0) -> Competition:
    """Create the competition's CSV files if they are not there yet; return their paths.

    Writing them takes a few seconds the first time (about 100 MB in all); later calls reuse them.
    """
    folder = Path(folder) if folder is not None else data_dir() / "kaggle" / "digit-recognizer"
    files = Competition(folder, folder / "train.csv", folder / "test.csv", folder / "sample_submission.csv")
    stamp = folder / f".complete-seed{seed}"
    if stamp.exists() and all(p.exists() for p in (files.train, files.test, files.sample_submission)):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    X_train, y_train, X_test, _ = _mnist_raw(str(data_dir()))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(y_train))[:KAGGLE_TRAIN_SIZE])
    pixels = [f"pixel{i}" for i in range(N_PIXELS)]
    train_rows = np.column_stack([y_train[chosen], X_train[chosen].reshape(len(chosen), -1)])
    _write_csv(files.train, ["label", *pixels], train_rows)
    _write_csv(files.test, pixels, X_test.reshape(len(X_test), -1))
    ids = np.arange(1, len(X_test) + 1)
    pd.DataFrame({"ImageId": ids, "Label": 0}).to_csv(files.sample_submission, index=False)
    for old in folder.glob(".complete-seed*"):
        old.unlink()
    stamp.touch()
    return files


def answers() -> np.ndarray:
    """The held-out labels of test.csv (MNIST's test labels), in ImageId order."""
    return _mnist_raw(str(data_dir()))[3].astype(np.int64)


class SubmissionError(ValueError):
    """A submission file is not in the competition's format; the message says where."""


def check_submission(path: str | os.PathLike[str], n_rows: int | None = None) -> pd.DataFrame:
    """Read a submission and check its format exactly; return it, or raise SubmissionError.

    The format: a CSV with the header ``ImageId,Label`` (nothing else), ``n_rows`` rows (default: the
    number of test images), ImageIds 1..n in order, and integer labels from 0 to 9.
    """
    path = Path(path)
    n_rows = len(answers()) if n_rows is None else n_rows
    if not path.exists():
        raise SubmissionError(f"{path} does not exist: write it with DataFrame.to_csv(path, index=False).")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SubmissionError(f"{path} is not a readable CSV file ({err}).") from err
    if list(frame.columns) != ["ImageId", "Label"]:
        extra = " (an index column was written: use index=False)" if "Unnamed: 0" in frame.columns else ""
        got = ",".join(map(str, frame.columns))
        raise SubmissionError(f"{path}: the header must be exactly ImageId,Label; got {got}{extra}.")
    if len(frame) != n_rows:
        raise SubmissionError(f"{path}: expected {n_rows} rows, one per test image; got {len(frame)}.")
    for column in ("ImageId", "Label"):
        if not pd.api.types.is_integer_dtype(frame[column]):
            raise SubmissionError(
                f"{path}: the column {column} must hold integers only; got values such as "
                f"{frame[column].iloc[0]!r} (dtype {frame[column].dtype}). Convert with .astype(int)."
            )
    if not np.array_equal(frame["ImageId"].to_numpy(), np.arange(1, n_rows + 1)):
        raise SubmissionError(f"{path}: ImageId must run 1, 2, ..., {n_rows} in order (as in sample_submission.csv).")
    labels = frame["Label"].to_numpy()
    if labels.min() < 0 or labels.max() > 9:
        raise SubmissionError(f"{path}: labels must be digits 0..9; found {labels.min()}..{labels.max()}.")
    return frame


def score_submission(path: str | os.PathLike[str]) -> float:
    """The accuracy of a submission on the held-out test labels (after checking its format)."""
    frame = check_submission(path)
    return float(np.mean(frame["Label"].to_numpy() == answers()))
