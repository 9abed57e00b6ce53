"""MNIST for the course: the shipped files, verified, decoded once, split and normalised.

Typical use::

    from dlfs.data import load_mnist

    mnist = load_mnist(validation_size=10_000, seed=0)
    mnist.X_train.shape   # (50000, 784), float32 in [0, 1]

Files, checksums and downloads live in :mod:`dlfs.files` and :mod:`dlfs.download`; their public names are
available from here too.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dlfs.download import fetch
from dlfs.files import DataError, RemoteFile, cache_dir, data_dir, read_idx, sha256_uncompressed, verify

__all__ = [
    "DataError",
    "MNIST",
    "MNIST_FILES",
    "RemoteFile",
    "cache_dir",
    "data_dir",
    "fetch",
    "load_mnist",
    "read_idx",
    "sha256_uncompressed",
    "split_indices",
    "verify",
]


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

MNIST_FILES: dict[str, RemoteFile] = {
    "train-images": RemoteFile(
        "train-images-idx3-ubyte.gz",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        _MNIST_MIRRORS,
        "mnist",
    ),
    "train-labels": RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        _MNIST_MIRRORS,
        "mnist",
    ),
    "test-images": RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        _MNIST_MIRRORS,
        "mnist",
    ),
    "test-labels": RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        _MNIST_MIRRORS,
        "mnist",
    ),
}


# --------------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------------

_MNIST_TRAIN_SIZE = 60_000
_NORMALIZATIONS = (None, "unit", "standard")


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST splits returned by :func:`load_mnist`.

    ``X_*`` are images, shape (N, 784) or (N, 28, 28); ``y_*`` are int64 labels 0..9. ``X_val`` and
    ``y_val`` have zero rows when no validation split was asked for. ``mean`` and ``std`` are the pixel
    statistics (on the [0, 1] scale, computed on the training split) that were used for
    ``normalize="standard"``; they are ``None`` for the other normalisations.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    mean: float | None = None
    std: float | None = None

    def __repr__(self) -> str:
        parts = [
            f"{name}={getattr(self, name).shape}"
            for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
        ]
        stats = "" if self.mean is None else f", mean={self.mean:.4f}, std={self.std:.4f}"
        return f"MNIST({', '.join(parts)}, dtype={self.X_train.dtype}{stats})"


def split_indices(n: int, validation_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_indices, validation_indices) for splitting ``n`` examples; the rule of load_mnist.

    ``np.random.default_rng(seed).permutation(n)`` is drawn; its last ``validation_size`` entries are the
    validation examples. Both index arrays are then sorted, so each split keeps the original file order
    (with ``validation_size == 0`` the training split is exactly the original data). The result depends
    only on ``n``, ``validation_size`` and ``seed``.
    """
    if isinstance(validation_size, bool) or not isinstance(validation_size, numbers.Integral):
        raise ValueError(f"validation_size must be an integer, got {validation_size!r}.")
    if not 0 <= validation_size < n:
        raise ValueError(
            f"validation_size must satisfy 0 <= validation_size < {n} (the number of training "
            f"examples), got {validation_size}."
        )
    permutation = np.random.default_rng(seed).permutation(n)
    cut = n - int(validation_size)
    return np.sort(permutation[:cut]), np.sort(permutation[cut:])


@functools.lru_cache(maxsize=2)
def _mnist_raw(root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode the four MNIST files under ``root`` once per process; the arrays are made read-only.

    ``root`` is only the cache key (the value of data_dir() at call time), so changing DLFS_DATA
    loads the files again.
    """
    arrays = []
    for key in ("train-images", "train-labels", "test-images", "test-labels"):
        array = read_idx(fetch(MNIST_FILES[key]))
        array.flags.writeable = False
        arrays.append(array)
    X_train, y_train, X_test, y_test = arrays
    for X, y, name in ((X_train, y_train, "training"), (X_test, y_test, "test")):
        if X.ndim != 3 or X.shape[1:] != (28, 28) or y.ndim != 1 or len(X) != len(y):
            raise DataError(
                f"The MNIST {name} files under {root} have unexpected shapes {X.shape} and {y.shape}."
            )
    return X_train, y_train, X_test, y_test


def _pixel_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation of uint8 pixels on the [0, 1] scale.

    Computed from exact integer sums (sum of x and of x**2), so the result does not depend on the
    floating-point type or the summation order.
    """
    n = images.size
    total = int(images.sum(dtype=np.uint64))
    squares = images.astype(np.uint16)
    squares *= squares
    total_sq = int(squares.sum(dtype=np.uint64))
    mean = total / (255 * n)
    variance = (n * total_sq - total * total) / (255 * 255 * n * n)  # exact integer numerator
    return mean, math.sqrt(variance)


def _scale(images: np.ndarray, dtype: np.dtype, mean: float, std: float) -> np.ndarray:
    """Return ``(images / 255 - mean) / std`` as a new array of ``dtype``."""
    out = images.astype(dtype)
    out /= 255
    if mean != 0.0 or std != 1.0:
        out -= dtype.type(mean)
        out /= dtype.type(std)
    return out


def load_mnist(
    normalize: str | None = "unit",
    *,
    flatten: bool = True,
    validation_size: int = 0,
    seed: int = 0,
    dtype: npt.DTypeLike = np.float32,
) -> MNIST:
    """Load MNIST (60,000 training and 10,000 test images of handwritten digits, 28x28 grey levels).

    normalize:
        ``None``: raw ``uint8`` pixels 0..255 (``dtype`` is ignored).
        ``"unit"``: ``x / 255`` as ``dtype``, values in [0, 1].
        ``"standard"``: ``(x / 255 - mean) / std`` as ``dtype``, where ``mean`` and ``std`` are one
        scalar each, the mean and standard deviation of all pixels of the *training split* (after the
        validation images were taken out). They are stored in the result's ``mean`` and ``std`` so
        that new images can be scaled the same way; validation and test use the same values.
    flatten:
        ``True``: images of shape (N, 784); ``False``: (N, 28, 28).
    validation_size, seed:
        How many training images to move into a validation split, chosen by :func:`split_indices`
        (a seeded random permutation; both splits keep the original file order). Requires
        ``0 <= validation_size < 60000``. The same seed always gives the same split.

    Labels are ``int64``. Every returned array is new: writing into it does not affect later calls
    (the decoded files are cached in memory for the life of the process).
    """
    if normalize not in _NORMALIZATIONS:
        raise ValueError(f"normalize must be one of None, 'unit' or 'standard', got {normalize!r}.")
    dtype = np.dtype(dtype)
    if normalize is not None and dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type when normalizing, got {dtype}.")
    train_idx, val_idx = split_indices(_MNIST_TRAIN_SIZE, validation_size, seed)

    X_all, y_all, X_test_raw, y_test_raw = _mnist_raw(str(data_dir()))
    if len(X_all) != _MNIST_TRAIN_SIZE:
        raise DataError(f"The MNIST training file holds {len(X_all)} images, expected {_MNIST_TRAIN_SIZE}.")
    X_train, X_val, X_test = X_all[train_idx], X_all[val_idx], X_test_raw.copy()  # new arrays
    y_train, y_val, y_test = (y.astype(np.int64) for y in (y_all[train_idx], y_all[val_idx], y_test_raw))

    mean = std = None
    if normalize is not None:
        if normalize == "standard":
            mean, std = _pixel_stats(X_train)
            shift, spread = mean, std
        else:
            shift, spread = 0.0, 1.0
        X_train, X_val, X_test = (_scale(X, dtype, shift, spread) for X in (X_train, X_val, X_test))
    if flatten:
        X_train, X_val, X_test = (X.reshape(len(X), 28 * 28) for X in (X_train, X_val, X_test))
    return MNIST(X_train, y_train, X_val, y_val, X_test, y_test, mean=mean, std=std)
