"""Pretrained weights that ship with the course, verified before use.

Week 3 runs the student's own forward code with the weights of a small trained CNN::

    from dlfs.pretrained import load_week03_cnn

    params = load_week03_cnn()
    params["conv1_w"].shape   # (16, 1, 3, 3), float32

The file and how it was made are described in ``data/README.md`` ("Week 3 CNN weights"); the network is

    conv(1 -> 16, 3x3, pad 1) - ReLU - maxpool 2 - conv(16 -> 32, 3x3, pad 1) - ReLU - maxpool 2
    - flatten - dense(32*7*7 = 1568 -> 10)

on images of shape (N, 1, 28, 28) with pixels in [0, 1].
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from dlfs.files import DataError, data_dir

__all__ = ["WEEK03_CNN_FILE", "WEEK03_CNN_SHA256", "WEEK03_CNN_SHAPES", "load_week03_cnn"]

WEEK03_CNN_FILE = "week03_cnn_weights.npz"
#: SHA-256 of the file's bytes (the same figure as in data/README.md; a test keeps the two equal).
WEEK03_CNN_SHA256 = "74e42121203ff8e07f0fb0b34d2a93c4b6570e6495935022348836513e4babea"
WEEK03_CNN_SHAPES = {
    "conv1_w": (16, 1, 3, 3),
    "conv1_b": (16,),
    "conv2_w": (32, 16, 3, 3),
    "conv2_b": (32,),
    "dense_w": (1568, 10),
    "dense_b": (10,),
}


def load_week03_cnn(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The week-3 CNN's weights as a dict of new float32 arrays (keys and shapes: ``WEEK03_CNN_SHAPES``).

    ``path`` defaults to ``data_dir() / "week03_cnn_weights.npz"``. The file's SHA-256 is checked first,
    so a damaged or replaced file stops with a :class:`~dlfs.files.DataError` saying what to do, never
    with wrong weights.
    """
    path = Path(path) if path is not None else data_dir() / WEEK03_CNN_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing: it ships with the course repository (data/{WEEK03_CNN_FILE}); "
                        "restore it with `git checkout -- data/` or copy it from a fresh clone.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEEK03_CNN_SHA256:
        raise DataError(f"{path} is damaged or was replaced: its SHA-256 is {digest}, expected "
                        f"{WEEK03_CNN_SHA256}. Restore it with `git checkout -- data/{WEEK03_CNN_FILE}`.")
    try:
        with np.load(path, allow_pickle=False) as stored:
            params = {key: np.array(stored[key]) for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:  # pragma: no cover - the checksum catches these
        raise DataError(f"{path} could not be read as an .npz file ({error}).") from error
    shapes = {key: value.shape for key, value in params.items()}
    if shapes != WEEK03_CNN_SHAPES:  # pragma: no cover - the checksum catches this
        raise DataError(f"{path} holds {shapes}, expected {WEEK03_CNN_SHAPES}.")
    return params
