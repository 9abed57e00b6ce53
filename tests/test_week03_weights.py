"""The pretrained week-3 CNN shipped in ``data/week03_cnn_weights.npz`` (made by ``scripts/train_week03_cnn.py``):
its checksum is the one in data/README.md, its arrays are what the README says, and the reference layers reach
the stated accuracy with it on the MNIST test split."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from autograder.cases.conv_reference import conv_forward_fast, max_pool_forward
from dlfs.data import load_mnist

pytestmark = [pytest.mark.data, pytest.mark.autograder]

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "data" / "week03_cnn_weights.npz"
SHAPES = {"conv1_w": (16, 1, 3, 3), "conv1_b": (16,), "conv2_w": (32, 16, 3, 3), "conv2_b": (32,),
          "dense_w": (1568, 10), "dense_b": (10,)}


def _readme_row() -> tuple[str, float]:
    """The SHA-256 and the test accuracy that data/README.md states for the file."""
    text = (ROOT / "data" / "README.md").read_text()
    row = re.search(r"\| `week03_cnn_weights\.npz` \| [^|]* \| (0\.\d{4}) \| `([0-9a-f]{64})` \|", text)
    assert row, "data/README.md must state the weight file's test accuracy and SHA-256 in its table"
    return row.group(2), float(row.group(1))


def test_weights_file_matches_the_readme():
    sha256, _ = _readme_row()
    assert hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() == sha256
    with np.load(WEIGHTS, allow_pickle=False) as stored:
        assert {k: stored[k].shape for k in stored.files} == SHAPES
        assert all(stored[k].dtype == np.float32 for k in stored.files)


def test_weights_reach_the_stated_accuracy():
    _, stated = _readme_row()
    with np.load(WEIGHTS, allow_pickle=False) as stored:
        p = {k: stored[k] for k in stored.files}
    mnist = load_mnist("unit", flatten=False)
    correct = 0
    for i in range(0, 10_000, 2_000):
        x = mnist.X_test[i:i + 2_000, None]
        h = max_pool_forward(np.maximum(conv_forward_fast(x, p["conv1_w"], p["conv1_b"], 1, 1)[0], 0), 2, 2)[0]
        h = max_pool_forward(np.maximum(conv_forward_fast(h, p["conv2_w"], p["conv2_b"], 1, 1)[0], 0), 2, 2)[0]
        logits = h.reshape(len(x), -1) @ p["dense_w"] + p["dense_b"]
        correct += int((logits.argmax(axis=1) == mnist.y_test[i:i + 2_000]).sum())
    assert correct / 10_000 == pytest.approx(stated, abs=3e-4)  # BLAS may flip a near tie or two
    assert correct / 10_000 >= 0.99


def test_the_loader_returns_the_shipped_arrays_and_its_checksum_is_the_readmes():
    from dlfs.pretrained import WEEK03_CNN_SHA256, load_week03_cnn

    assert WEEK03_CNN_SHA256 == _readme_row()[0]
    params = load_week03_cnn()
    assert {k: v.shape for k, v in params.items()} == SHAPES
    assert all(v.dtype == np.float32 and v.flags.writeable for v in params.values())
    params["conv1_w"][...] = 0  # new arrays: a later call is not affected
    assert np.any(load_week03_cnn()["conv1_w"] != 0)


@pytest.mark.parametrize("damage", ["missing", "truncated", "replaced"])
def test_the_loader_refuses_a_damaged_file_with_what_to_do(tmp_path, damage):
    from dlfs.files import DataError
    from dlfs.pretrained import load_week03_cnn

    path = tmp_path / "week03_cnn_weights.npz"
    if damage == "truncated":
        path.write_bytes(WEIGHTS.read_bytes()[:1000])
    elif damage == "replaced":
        np.savez(path, **{k: np.zeros(s, np.float32) for k, s in SHAPES.items()})
    with pytest.raises(DataError, match="missing" if damage == "missing" else "damaged or was replaced.*git checkout"):
        load_week03_cnn(path)
