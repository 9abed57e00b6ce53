"""Local data files: where they live, their checksums, and the IDX format MNIST is stored in.

``data_dir()`` is the environment variable ``DLFS_DATA`` when it is set, else the repository's ``data/``
folder. Every file is checked against the SHA-256 of its *uncompressed* bytes before it is used, so a
damaged copy is reported instead of silently training on garbage.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataError", "RemoteFile", "cache_dir", "data_dir", "read_idx", "sha256_uncompressed", "verify"]

_CHUNK = 1 << 20  # 1 MiB: the read size for hashing and downloading


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


# --------------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------------


@contextmanager
def _gzip_errors(path: Path) -> Iterator[None]:
    """Turn a missing, truncated or non-gzip file into a :class:`DataError` that says what to do."""
    try:
        yield
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{path} is truncated or not a gzip file ({type(exc).__name__}: {exc}). "
            "Delete it and run again to download a fresh copy, or copy a good copy "
            "from the course repository."
        ) from exc


def sha256_uncompressed(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of the *uncompressed* content of the gzip file ``path``.

    The file is streamed in 1 MiB chunks, so memory use stays small. A missing file, a truncated or
    corrupt gzip stream, or a file that is not gzip at all raises :class:`DataError`.
    """
    path = Path(path)
    digest = hashlib.sha256()
    with _gzip_errors(path), gzip.open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
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
    with _gzip_errors(path), gzip.open(path, "rb") as stream:
        return stream.read()


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
