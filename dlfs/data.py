"""Data sets for the course: verified local files first, a careful download only when needed.

The data sets the course uses ship with the repository in ``data/`` (see ``data/README.md``). Every file
is checked against the SHA-256 of its *uncompressed* bytes before it is used, so a damaged copy is
reported instead of silently training on garbage.

Where a file is looked for, in this order (see :func:`fetch`):

1. the shipped copy ``data_dir() / subdir / filename``: used if it verifies, an error if it does not
   (a shipped file is never replaced or deleted by this module);
2. the download cache ``data_dir() / "cache" / filename``: used if it verifies, deleted (with a warning)
   and downloaded again if it does not;
3. a download from each mirror in turn, into a temporary ``.part`` file that is renamed to its final
   name only after its checksum matched. Nothing half-written is ever left behind.

``data_dir()`` is the environment variable ``DLFS_DATA`` when it is set, else the repository's ``data/``
folder.

Typical use::

    from dlfs.data import load_mnist

    mnist = load_mnist(validation_size=10_000, seed=0)
    mnist.X_train.shape   # (50000, 784), float32 in [0, 1]
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import math
import numbers
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

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

_CHUNK = 1 << 20  # 1 MiB: the read size for hashing and downloading
_USER_AGENT = "dlfs-course-data-loader"


class DataError(RuntimeError):
    """A data file is missing, damaged or could not be downloaded. The message says what to do."""


# --------------------------------------------------------------------------------------------------
# Where the data lives
# --------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """Return the data folder: ``$DLFS_DATA`` if that variable is set, else the repository's ``data/``.

    It is resolved on every call, so setting ``DLFS_DATA`` at run time takes effect immediately.
    """
    override = os.environ.get("DLFS_DATA")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "data"


def cache_dir() -> Path:
    """Return the download cache folder, ``data_dir() / "cache"`` (ignored by git)."""
    return data_dir() / "cache"


@dataclass(frozen=True)
class RemoteFile:
    """A gzipped data file: its name, the SHA-256 of its uncompressed bytes, and where to get it.

    ``mirrors`` are base URLs; the file's URL is ``mirror + filename``. ``subdir`` is the folder under
    :func:`data_dir` that holds the copy shipped with the repository.
    """

    filename: str
    sha256: str
    mirrors: tuple[str, ...]
    subdir: str


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
# Checksums
# --------------------------------------------------------------------------------------------------


def sha256_uncompressed(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of the *uncompressed* content of the gzip file ``path``.

    The file is streamed in 1 MiB chunks, so memory use stays small. A missing file, a truncated or
    corrupt gzip stream, or a file that is not gzip at all raises :class:`DataError`.
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{path} is truncated or not a gzip file ({type(exc).__name__}: {exc}). "
            "Delete it and run again to download a fresh copy, or copy a good copy "
            "from the course repository."
        ) from exc
    return digest.hexdigest()


def verify(path: str | os.PathLike[str], sha256: str) -> None:
    """Check that the uncompressed content of ``path`` has the SHA-256 ``sha256``.

    Returns ``None`` when it does; raises :class:`DataError` naming the file, the expected and the
    actual digest, and what to do about it, when it does not.
    """
    actual = sha256_uncompressed(path)
    if actual != sha256.lower():
        raise DataError(
            f"{path} is damaged: the SHA-256 of its uncompressed bytes is {actual}, "
            f"expected {sha256.lower()}. Delete it and run again to download it again, "
            "or copy a good copy from the course repository."
        )


# --------------------------------------------------------------------------------------------------
# The IDX format (MNIST's file format)
# --------------------------------------------------------------------------------------------------

_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_gzip_bytes(path: Path) -> bytes:
    """Return the whole uncompressed content of a gzip file, with :class:`DataError` on any problem."""
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{path} is truncated or not a gzip file ({type(exc).__name__}: {exc}). "
            "Delete it and run again, or copy a good copy from the course repository."
        ) from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzipped IDX file (the format of MNIST) into a NumPy array of the stored shape.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64; all big-endian), the number of dimensions, then one big-endian uint32
    per dimension. The payload must hold exactly the product of the dimensions. The returned array is a
    fresh, writable array in the machine's native byte order. Any deviation raises :class:`DataError`.
    """
    path = Path(path)
    raw = _read_gzip_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path} is not an IDX file: only {len(raw)} bytes after decompression.")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: the magic number starts with bytes "
            f"{raw[0]:#04x} {raw[1]:#04x}, expected 0x00 0x00."
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"{c:#04x}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX type code {code:#04x} (known codes: {known}).")
    if ndim == 0:
        raise DataError(f"{path}: the IDX header declares 0 dimensions; expected at least 1.")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(
            f"{path}: the IDX header declares {ndim} dimensions but the file ends after {len(raw)} bytes."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    payload = len(raw) - header_size
    if payload != expected:
        raise DataError(
            f"{path}: the IDX header declares shape {shape} of {dtype.name} ({expected} bytes of data) "
            f"but the file holds {payload} bytes of data. The file is damaged: delete it and run again, "
            "or copy a good copy from the course repository."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------------


class _AttemptFailed(Exception):
    """One download attempt failed. ``kind`` is 'connect', 'http', 'truncated' or 'corrupt'."""

    def __init__(self, kind: str, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.retry = retry


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stream_to(
    response: http.client.HTTPResponse, out: BinaryIO, desc: str, progress: bool
) -> tuple[int, int | None]:
    """Copy a response body into ``out``; return (bytes received, Content-Length or None)."""
    header = response.headers.get("Content-Length")
    length = int(header) if header is not None and header.isdigit() else None
    received = 0
    with tqdm(
        total=length, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress
    ) as bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except http.client.IncompleteRead as exc:
                received += len(exc.partial)
                raise _AttemptFailed("truncated", _truncation(received, length), retry=True) from exc
            except OSError as exc:  # connection reset or timed out in the middle of the body
                raise _AttemptFailed(
                    "truncated", f"{_truncation(received, length)}; connection lost ({exc})", retry=True
                ) from exc
            if not chunk:
                return received, length
            try:
                out.write(chunk)
            except OSError as exc:  # a local problem (disk full, ...): no mirror can fix it
                raise DataError(
                    f"Could not write the download to {getattr(out, 'name', 'the cache folder')} ({exc}). "
                    "Free some disk space, or set DLFS_DATA to a folder with room to spare."
                ) from exc
            received += len(chunk)
            bar.update(len(chunk))


def _truncation(received: int, length: int | None) -> str:
    total = "?" if length is None else str(length)
    return f"truncated download ({received} of {total} bytes)"


def _download_once(url: str, remote: RemoteFile, cache: Path, timeout: float, progress: bool) -> Path:
    """Download ``url`` into the cache under ``remote.filename``, verified, or raise _AttemptFailed.

    The body goes into a temporary ``.part`` file which is renamed to the final name only after the
    checksum matched; on any failure the temporary file is deleted.
    """
    final = cache / remote.filename
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        part = tempfile.NamedTemporaryFile(
            dir=cache, prefix=remote.filename + ".", suffix=".part", delete=False
        )
    except OSError as exc:
        raise DataError(
            f"Cannot create a file in the download cache folder {cache} ({exc}). "
            "Set DLFS_DATA to a writable folder."
        ) from exc
    part_path = Path(part.name)
    try:
        try:
            with part, urllib.request.urlopen(request, timeout=timeout) as response:
                received, length = _stream_to(response, part, remote.filename, progress)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _AttemptFailed("http", f"HTTP {exc.code}", retry=exc.code >= 500) from exc
        except urllib.error.URLError as exc:
            raise _AttemptFailed("connect", f"could not connect ({exc.reason})", retry=True) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise _AttemptFailed("connect", f"could not connect ({exc})", retry=True) from exc
        if length is not None and received < length:
            raise _AttemptFailed("truncated", _truncation(received, length), retry=True)
        try:
            actual = sha256_uncompressed(part_path)
        except DataError:
            raise _AttemptFailed("corrupt", "not a valid gzip file (truncated or corrupt)", retry=False)
        if actual != remote.sha256.lower():
            raise _AttemptFailed(
                "corrupt",
                f"checksum mismatch (expected {remote.sha256.lower()}, got {actual})",
                retry=False,
            )
        os.replace(part_path, final)
        return final
    finally:
        part.close()
        part_path.unlink(missing_ok=True)  # a no-op after a successful os.replace


def _usable_cache_copy(path: Path, sha256: str) -> bool:
    """True if the cached copy at ``path`` verifies; a damaged copy is deleted with a warning."""
    if not path.exists():
        return False
    try:
        actual = sha256_uncompressed(path)
        problem = None if actual == sha256.lower() else f"SHA-256 {actual}, expected {sha256.lower()}"
    except DataError:
        problem = "truncated or not a gzip file"
    if problem is None:
        return True
    _warn(f"warning: the cached copy {path} is damaged ({problem}); deleting it and downloading it again")
    path.unlink(missing_ok=True)
    return False


def _give_up_message(remote: RemoteFile, reasons: dict[str, str], kinds: set[str]) -> str:
    home = data_dir() / remote.subdir
    lines = [f"Could not download {remote.filename} from any mirror:"]
    lines += [f"  - {mirror}: {reason}" for mirror, reason in reasons.items()]
    if kinds == {"connect"}:
        lines.append(
            "This machine looks offline (no mirror could be reached). To proceed without a network, "
            f"copy the file named {remote.filename} (SHA-256 of its uncompressed bytes: {remote.sha256}) "
            f"into the folder {home}, or set the environment variable DLFS_DATA to a folder that holds "
            f"{remote.subdir}/{remote.filename}."
        )
    else:
        lines.append(
            f"Try again later, or copy a good copy of {remote.filename} "
            f"(SHA-256 of its uncompressed bytes: {remote.sha256}) into the folder {home}."
        )
    return "\n".join(lines)


def fetch(
    remote: RemoteFile,
    *,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
    backoff: float = 1.0,
) -> Path:
    """Return the path of a verified local copy of ``remote``, downloading it only if needed.

    Order: the shipped copy ``data_dir()/subdir/filename`` (if present it must verify, else
    :class:`DataError`; it is never modified), then the cache copy ``data_dir()/cache/filename`` (a
    damaged one is deleted with a warning), then each mirror in order.

    Per mirror, up to ``retries`` attempts are made, sleeping ``backoff * 2**attempt`` seconds between
    them. Transient failures are retried on the same mirror: connection errors, time-outs, HTTP 5xx and
    truncated bodies (fewer bytes than Content-Length; the network, not the file, is the likely
    culprit). Failures that would repeat move straight to the next mirror: any other HTTP status (e.g.
    404) and a checksum mismatch or broken gzip (the mirror serves a bad file). Each failed attempt
    prints a one-line report to stderr. When every mirror failed, :class:`DataError` lists each
    mirror's last reason (and says the machine looks offline if no mirror could be reached).

    The body is streamed into a temporary ``.part`` file in the cache folder and renamed to its final
    name only after its checksum matched, so a failure never leaves a partial or unverified file.
    """
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}.")
    shipped = data_dir() / remote.subdir / remote.filename
    if shipped.exists():
        verify(shipped, remote.sha256)  # DataError if damaged: never silently use or replace it
        return shipped

    cache = cache_dir()
    cached = cache / remote.filename
    if _usable_cache_copy(cached, remote.sha256):
        return cached
    if not remote.mirrors:
        raise DataError(
            f"{remote.filename} is not in {shipped.parent} and has no download mirror. "
            f"Copy it (SHA-256 of its uncompressed bytes: {remote.sha256}) into {shipped.parent}."
        )
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Cannot create the download cache folder {cache} ({exc}). Set DLFS_DATA to a writable folder."
        ) from exc

    reasons: dict[str, str] = {}
    kinds: set[str] = set()
    for mirror in remote.mirrors:
        url = mirror + remote.filename
        for attempt in range(retries):
            try:
                return _download_once(url, remote, cache, timeout, progress)
            except _AttemptFailed as failure:
                reasons[mirror], last_kind = failure.reason, failure.kind
                _warn(f"mirror {mirror}: {failure.reason}")
                if not failure.retry or attempt == retries - 1:
                    break
                time.sleep(backoff * 2**attempt)
        kinds.add(last_kind)
    raise DataError(_give_up_message(remote, reasons, kinds))


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
