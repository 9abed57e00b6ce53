"""Downloading a data file that is not shipped: mirrors, retries, a progress bar, verified renames.

Where :func:`fetch` looks for a file, in this order:

1. the shipped copy ``data_dir() / subdir / filename``: used if it verifies, an error if it does not
   (a shipped file is never replaced or deleted by this module);
2. the download cache ``data_dir() / "cache" / filename``: used if it verifies, deleted (with a warning)
   and downloaded again if it does not;
3. a download from each mirror in turn, into a temporary ``.part`` file that is renamed to its final
   name only after its checksum matched. Nothing half-written is ever left behind.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from dlfs.files import _CHUNK, DataError, RemoteFile, cache_dir, data_dir, sha256_uncompressed, verify

__all__ = ["fetch"]

_USER_AGENT = "dlfs-course-data-loader"


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
        os.chmod(part_path, 0o644)  # a temporary file is private; the data is not (a sandboxed kernel reads it)
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
