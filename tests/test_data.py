"""Tests for dlfs.data: the shipped MNIST, the IDX reader, checksums and the download path.

The download tests run against a real HTTP server on 127.0.0.1 that serves small synthetic gzipped
files; DLFS_DATA points at a temporary folder, so the repository's data/ folder is never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dlfs import data
from dlfs.data import (
    MNIST_FILES,
    DataError,
    RemoteFile,
    fetch,
    load_mnist,
    read_idx,
    sha256_uncompressed,
    split_indices,
    verify,
)

pytestmark = pytest.mark.data

REPO_DATA = Path(data.__file__).resolve().parent.parent / "data"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ----------------------------------------------------------------------------------------------------
# The shipped MNIST
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_data() -> Iterator[None]:
    """Make sure the repository's data/ folder is used, whatever DLFS_DATA says in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DLFS_DATA", raising=False)
        yield


@pytest.fixture(scope="module")
def raw(real_data) -> data.MNIST:
    return load_mnist(None, flatten=False)


@pytest.fixture(scope="module")
def unit(real_data) -> data.MNIST:
    return load_mnist("unit")


def test_flattened_shapes_and_dtypes(unit):
    assert unit.X_train.shape == (60000, 784) and unit.X_test.shape == (10000, 784)
    assert unit.y_train.shape == (60000,) and unit.y_test.shape == (10000,)
    assert unit.X_train.dtype == np.float32 and unit.X_test.dtype == np.float32
    assert unit.y_train.dtype == np.int64 and unit.y_test.dtype == np.int64
    assert unit.X_val.shape == (0, 784) and unit.X_val.dtype == np.float32
    assert unit.y_val.shape == (0,) and unit.y_val.dtype == np.int64
    assert unit.mean is None and unit.std is None


def test_unflattened_raw_shapes_dtypes_and_range(raw):
    assert raw.X_train.shape == (60000, 28, 28) and raw.X_test.shape == (10000, 28, 28)
    assert raw.X_val.shape == (0, 28, 28)
    assert raw.X_train.dtype == np.uint8 and raw.X_test.dtype == np.uint8
    assert raw.X_train.min() == 0 and raw.X_train.max() == 255
    assert raw.X_test.min() == 0 and raw.X_test.max() == 255


def test_labels(raw):
    assert np.bincount(raw.y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(raw.y_test, minlength=10).tolist() == TEST_COUNTS
    assert raw.y_train[:5].tolist() == [5, 0, 4, 1, 9]


def test_unit_range_matches_raw(unit, raw):
    for X in (unit.X_train, unit.X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(unit.X_test[:50], raw.X_test[:50].reshape(50, 784) / 255, rtol=1e-6)


def mean_and_std(X: np.ndarray) -> tuple[float, float]:
    """Mean and std of all entries, accumulated in float64 (einsum avoids a float64 copy of X)."""
    mean = float(X.mean(dtype=np.float64))
    mean_sq = float(np.einsum("ij,ij->", X, X, dtype=np.float64)) / X.size
    return mean, (mean_sq - mean**2) ** 0.5


def test_standard_uses_training_statistics(real_data, raw):
    std = load_mnist("standard")
    assert std.X_train.dtype == np.float32 and std.X_test.dtype == np.float32
    mean, spread = mean_and_std(std.X_train)
    assert abs(mean) < 1e-5 and spread == pytest.approx(1.0, abs=1e-5)
    # the well-known MNIST values, here measured from the data, not hard-coded in the loader
    assert std.mean == pytest.approx(0.1307, abs=1e-4) and std.std == pytest.approx(0.3081, abs=1e-4)
    assert std.X_train.min() == pytest.approx(-std.mean / std.std, rel=1e-5)
    assert std.X_train.max() == pytest.approx((1 - std.mean) / std.std, rel=1e-5)
    # validation and test use the training statistics
    expected_test = (raw.X_test[:200].reshape(200, 784) / 255 - std.mean) / std.std
    np.testing.assert_allclose(std.X_test[:200], expected_test, rtol=1e-5, atol=1e-6)


def test_standard_in_float64(real_data, raw):
    std = load_mnist("standard", dtype=np.float64, flatten=False, validation_size=100)
    assert std.X_train.dtype == np.float64 and std.X_val.dtype == np.float64
    expected = (raw.X_test[:20] / 255 - std.mean) / std.std
    np.testing.assert_allclose(std.X_test[:20], expected, rtol=1e-12, atol=1e-12)


def test_standard_statistics_come_from_the_training_split_only(real_data):
    full = load_mnist("standard")
    split = load_mnist("standard", validation_size=10000, seed=3)
    assert split.mean != full.mean
    mean, spread = mean_and_std(split.X_train)
    assert abs(mean) < 1e-5 and spread == pytest.approx(1.0, abs=1e-5)
    assert split.X_train.dtype == np.float32


def test_validation_split_sizes_and_content(real_data, raw):
    m = load_mnist(None, flatten=False, validation_size=10000, seed=7)
    assert m.X_train.shape == (50000, 28, 28) and m.X_val.shape == (10000, 28, 28)
    assert m.y_train.shape == (50000,) and m.y_val.shape == (10000,)
    assert m.X_test.shape == (10000, 28, 28)
    counts = np.bincount(m.y_train, minlength=10) + np.bincount(m.y_val, minlength=10)
    assert counts.tolist() == TRAIN_COUNTS
    train_idx, val_idx = split_indices(60000, 10000, seed=7)
    np.testing.assert_array_equal(m.X_train, raw.X_train[train_idx])
    np.testing.assert_array_equal(m.X_val, raw.X_train[val_idx])
    np.testing.assert_array_equal(m.y_val, raw.y_train[val_idx])


def test_split_indices_are_disjoint_and_cover_everything():
    train_idx, val_idx = split_indices(60000, 12345, seed=0)
    assert len(train_idx) == 60000 - 12345 and len(val_idx) == 12345
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(60000))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)  # original order kept


def test_split_is_deterministic_for_a_seed_and_differs_between_seeds(real_data):
    a = load_mnist(None, validation_size=1000, seed=1)
    b = load_mnist(None, validation_size=1000, seed=1)
    c = load_mnist(None, validation_size=1000, seed=2)
    np.testing.assert_array_equal(a.X_val, b.X_val)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_val, c.y_val)
    assert not np.array_equal(a.X_val, c.X_val)


def test_zero_validation_keeps_the_original_training_order(unit, raw):
    np.testing.assert_array_equal(unit.y_train, raw.y_train)


@pytest.mark.parametrize("size", [-1, 60000, 70000, 1.5, True])
def test_bad_validation_size(real_data, size):
    with pytest.raises(ValueError, match="validation_size"):
        load_mnist(validation_size=size)


@pytest.mark.parametrize("normalize", ["minmax", "Unit", ""])
def test_unknown_normalize(real_data, normalize):
    with pytest.raises(ValueError, match="normalize"):
        load_mnist(normalize)


def test_integer_dtype_with_normalization_is_rejected(real_data):
    with pytest.raises(ValueError, match="dtype"):
        load_mnist("unit", dtype=np.int32)


def test_returned_arrays_are_copies(real_data):
    first = load_mnist(None)
    first.X_train[0] = 77
    first.y_train[0] = 3
    first.X_test[:] = 0
    second = load_mnist(None)
    assert second.X_train[0].max() != 77 or second.X_train[0].min() != 77
    assert second.y_train[0] == 5
    assert second.X_test.max() == 255


# ----------------------------------------------------------------------------------------------------
# Checksums of the shipped files, and the README that lists them
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(MNIST_FILES))
def test_shipped_files_verify(real_data, key):
    remote = MNIST_FILES[key]
    shipped = REPO_DATA / remote.subdir / remote.filename
    verify(shipped, remote.sha256)
    assert fetch(remote, progress=False) == shipped


def test_every_digest_is_written_in_the_data_readme():
    readme = (REPO_DATA / "README.md").read_text(encoding="utf-8")
    for remote in MNIST_FILES.values():
        assert remote.sha256 in readme, f"{remote.filename}: digest missing from data/README.md"
        assert remote.filename in readme


def test_mnist_files_table():
    assert set(MNIST_FILES) == {"train-images", "train-labels", "test-images", "test-labels"}
    for remote in MNIST_FILES.values():
        assert len(remote.sha256) == 64 and remote.subdir == "mnist"
        assert remote.mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
        assert all(m.endswith("/") for m in remote.mirrors)


# ----------------------------------------------------------------------------------------------------
# The IDX reader and the checksum helpers, on hand-made files
# ----------------------------------------------------------------------------------------------------

IDX_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_CODES[code]).tobytes()


def write_gz(path: Path, content: bytes) -> Path:
    path.write_bytes(gzip.compress(content, mtime=0))
    return path


def test_read_idx_uint8(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    result = read_idx(write_gz(tmp_path / "a.gz", idx_bytes(array, 0x08)))
    assert result.dtype == np.uint8 and result.shape == (3, 4, 5)
    np.testing.assert_array_equal(result, array)
    result[0, 0, 0] = 9  # writable


def test_read_idx_big_endian_int32(tmp_path):
    array = np.array([[-2_000_000_000, -1, 0], [1, 258, 2_000_000_000]], dtype=np.int32)
    content = idx_bytes(array, 0x0C)
    assert content[8:12] == struct.pack(">I", 3) and content[12:16] == struct.pack(">i", -2_000_000_000)
    result = read_idx(write_gz(tmp_path / "b.gz", content))
    assert result.dtype == np.int32 and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


@pytest.mark.parametrize("code", sorted(IDX_CODES))
def test_read_idx_every_type_code(tmp_path, code):
    array = np.arange(-3, 9).reshape(12)
    result = read_idx(write_gz(tmp_path / "c.gz", idx_bytes(array, code)))
    assert result.dtype == np.dtype(IDX_CODES[code]).newbyteorder("=")
    np.testing.assert_array_equal(result, array.astype(IDX_CODES[code]))


def test_read_idx_bad_magic(tmp_path):
    content = bytearray(idx_bytes(np.zeros((2, 2), np.uint8), 0x08))
    content[0] = 0x1F
    with pytest.raises(DataError, match="magic"):
        read_idx(write_gz(tmp_path / "d.gz", bytes(content)))


def test_read_idx_unknown_type_code(tmp_path):
    content = bytearray(idx_bytes(np.zeros((2, 2), np.uint8), 0x08))
    content[2] = 0x0A
    with pytest.raises(DataError, match="type code 0x0a"):
        read_idx(write_gz(tmp_path / "e.gz", bytes(content)))


@pytest.mark.parametrize("delta", [-1, 1])
def test_read_idx_wrong_payload_size(tmp_path, delta):
    content = idx_bytes(np.zeros((3, 4), np.uint8), 0x08)
    content = content[:-1] if delta < 0 else content + b"\0"
    with pytest.raises(DataError, match=f"holds {12 + delta} bytes"):
        read_idx(write_gz(tmp_path / "f.gz", content))


def test_read_idx_payload_size_accounts_for_item_size(tmp_path):
    content = idx_bytes(np.zeros(4, np.int32), 0x0C)[:-4]  # 3 int32 where 4 were declared
    with pytest.raises(DataError, match="holds 12 bytes"):
        read_idx(write_gz(tmp_path / "g.gz", content))


def test_read_idx_not_gzip(tmp_path):
    path = tmp_path / "h.gz"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(DataError, match="truncated or not a gzip file"):
        read_idx(path)


def test_sha256_uncompressed(tmp_path):
    content = b"hello, digits" * 1000
    path = write_gz(tmp_path / "x.gz", content)
    assert sha256_uncompressed(path) == hashlib.sha256(content).hexdigest()


def test_sha256_uncompressed_truncated_gzip(tmp_path):
    packed = gzip.compress(np.random.default_rng(0).bytes(50_000))
    path = tmp_path / "t.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="truncated or not a gzip file"):
        sha256_uncompressed(path)
    with pytest.raises(DataError, match=str(path).replace("\\", "\\\\")):
        sha256_uncompressed(path)


def test_verify_mismatch_names_file_and_both_digests(tmp_path):
    path = write_gz(tmp_path / "v.gz", b"abc")
    actual = hashlib.sha256(b"abc").hexdigest()
    verify(path, actual.upper())  # hex digests compare case-insensitively
    with pytest.raises(DataError) as info:
        verify(path, "0" * 64)
    message = str(info.value)
    assert str(path) in message and "0" * 64 in message and actual in message
    assert "Delete" in message and "download" in message


# ----------------------------------------------------------------------------------------------------
# The download path, against a local HTTP server
# ----------------------------------------------------------------------------------------------------

FILENAME = "tiny-idx1-ubyte.gz"
CONTENT = idx_bytes(np.random.default_rng(42).integers(0, 256, 40_000).astype(np.uint8), 0x08)
GOOD = gzip.compress(CONTENT, mtime=0)
SHA = hashlib.sha256(CONTENT).hexdigest()
WRONG_CONTENT = CONTENT[:-1] + bytes([CONTENT[-1] ^ 1])
WRONG = gzip.compress(WRONG_CONTENT, mtime=0)  # a valid gzip with the wrong content
WRONG_SHA = hashlib.sha256(WRONG_CONTENT).hexdigest()


class Server:
    """What a local HTTP server answers, per path: a list of responses, used in order, the last repeated.

    A response is ("ok", body), ("status", code), ("truncate", body, claimed_length) or ("hang", seconds)
    (wait, then close without answering). Paths without a plan answer 404. ``hits`` counts the requests
    per path.
    """

    def __init__(self) -> None:
        self.plans: dict[str, list[tuple]] = {}
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.root = ""

    def mirror(self, name: str, *responses: tuple) -> str:
        if responses:
            self.plans[f"/{name}/{FILENAME}"] = list(responses)
        return f"{self.root}/{name}/"

    def next_response(self, path: str) -> tuple:
        with self.lock:
            self.hits[path] += 1
            plan = self.plans.get(path)
            if not plan:
                return ("status", 404)
            return plan.pop(0) if len(plan) > 1 else plan[0]

    def count(self, name: str) -> int:
        return self.hits[f"/{name}/{FILENAME}"]


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            response = state.next_response(self.path)
            if response[0] == "hang":
                time.sleep(response[1])
                self.close_connection = True
                return
            if response[0] == "status":
                self.send_error(response[1])
                return
            body = response[1]
            claimed = response[2] if response[0] == "truncate" else len(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(claimed))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if response[0] == "truncate" else body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.root = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A private data folder: DLFS_DATA points here for the test."""
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    return tmp_path


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def remote(*mirrors: str) -> RemoteFile:
    return RemoteFile(filename=FILENAME, sha256=SHA, mirrors=tuple(mirrors), subdir="tiny")


def get(rf: RemoteFile, retries: int = 3) -> Path:
    return fetch(rf, retries=retries, timeout=5.0, progress=False, backoff=0)


def assert_clean(home: Path) -> None:
    cache = home / "cache"
    assert not list(cache.glob("*.part")), "a temporary .part file was left behind"
    assert not (cache / FILENAME).exists(), "an unverified file was left under the final name"


def assert_good_download(path: Path, home: Path) -> None:
    assert path == home / "cache" / FILENAME
    assert path.read_bytes() == GOOD
    verify(path, SHA)
    assert not list((home / "cache").glob("*.part"))


def test_data_dir_follows_the_environment(home):
    assert data.data_dir() == home
    assert data.cache_dir() == home / "cache"


def test_good_download_lands_in_the_cache(home, server):
    path = get(remote(server.mirror("m1", ("ok", GOOD))))
    assert_good_download(path, home)
    assert server.count("m1") == 1
    assert read_idx(path).shape == (40_000,)
    # a second call uses the verified cache copy and does not download again
    assert get(remote(server.mirror("m1"))) == path and server.count("m1") == 1


def test_progress_bar_does_not_break_the_download(home, server):
    path = fetch(remote(server.mirror("m1", ("ok", GOOD))), progress=True, backoff=0, timeout=5.0)
    assert_good_download(path, home)


def test_corrupt_mirror_is_reported_and_skipped(home, server, capsys):
    m1 = server.mirror("m1", ("ok", WRONG))
    path = get(remote(m1, server.mirror("m2", ("ok", GOOD))))
    assert_good_download(path, home)
    assert server.count("m1") == 1  # a corrupt mirror is not retried
    err = capsys.readouterr().err
    assert f"mirror {m1}: checksum mismatch (expected {SHA}, got {WRONG_SHA})" in err


def test_corrupt_only_mirror_fails_cleanly(home, server):
    with pytest.raises(DataError, match="checksum mismatch"):
        get(remote(server.mirror("m1", ("ok", WRONG))))
    assert_clean(home)


def test_non_gzip_body_is_rejected(home, server, capsys):
    m1 = server.mirror("m1", ("ok", b"<html>Service moved</html>"))
    with pytest.raises(DataError, match="not a valid gzip file"):
        get(remote(m1))
    assert_clean(home)
    assert f"mirror {m1}: not a valid gzip file" in capsys.readouterr().err


def test_truncated_response_is_detected_and_never_used(home, server, capsys):
    m1 = server.mirror("m1", ("truncate", GOOD, len(GOOD)))
    path = get(remote(m1, server.mirror("m2", ("ok", GOOD))))
    assert_good_download(path, home)
    assert server.count("m1") == 3  # a truncation is retried on the same mirror, up to `retries`
    report = f"mirror {m1}: truncated download ({len(GOOD) // 2} of {len(GOOD)} bytes)"
    assert report in capsys.readouterr().err


def test_truncated_only_mirror_fails_cleanly(home, server):
    with pytest.raises(DataError, match="truncated download"):
        get(remote(server.mirror("m1", ("truncate", GOOD, len(GOOD) + 100))), retries=2)
    assert_clean(home)


def test_truncation_then_success_on_retry(home, server):
    path = get(remote(server.mirror("m1", ("truncate", GOOD, len(GOOD)), ("ok", GOOD))))
    assert_good_download(path, home)
    assert server.count("m1") == 2


def test_http_500_is_retried(home, server, capsys):
    m1 = server.mirror("m1", ("status", 500), ("status", 503), ("ok", GOOD))
    path = get(remote(m1))
    assert_good_download(path, home)
    assert server.count("m1") == 3
    err = capsys.readouterr().err
    assert f"mirror {m1}: HTTP 500" in err and f"mirror {m1}: HTTP 503" in err


def test_404_moves_to_the_next_mirror(home, server, capsys):
    m1 = server.mirror("m1")  # no plan: 404
    path = get(remote(m1, server.mirror("m2", ("ok", GOOD))))
    assert_good_download(path, home)
    assert server.count("m1") == 1 and server.count("m2") == 1
    assert f"mirror {m1}: HTTP 404" in capsys.readouterr().err


def test_all_mirrors_bad(home, server):
    mirrors = [
        server.mirror("m1", ("status", 500)),
        server.mirror("m2"),
        server.mirror("m3", ("ok", WRONG)),
        server.mirror("m4", ("truncate", GOOD, len(GOOD))),
    ]
    with pytest.raises(DataError) as info:
        get(remote(*mirrors), retries=2)
    message = str(info.value)
    for mirror, reason in zip(mirrors, ["HTTP 500", "HTTP 404", "checksum mismatch", "truncated download"]):
        assert f"{mirror}: {reason}" in message
    assert "offline" not in message
    assert [server.count(m) for m in ("m1", "m2", "m3", "m4")] == [2, 1, 1, 2]
    assert_clean(home)


def test_offline_machine(home, capsys):
    url = closed_port_url()
    with pytest.raises(DataError) as info:
        get(remote(url, url + "other/"))
    message = str(info.value)
    assert "looks offline" in message
    assert FILENAME in message and SHA in message
    assert str(home / "tiny") in message and "DLFS_DATA" in message
    assert f"{url}: could not connect" in message and f"{url}other/: could not connect" in message
    assert capsys.readouterr().err.count("could not connect") == 6  # 3 attempts on each mirror
    assert_clean(home)


def test_timeout_is_retried_then_the_next_mirror_is_used(home, server, capsys):
    m1 = server.mirror("m1", ("hang", 1.0))
    rf = remote(m1, server.mirror("m2", ("ok", GOOD)))
    path = fetch(rf, retries=2, timeout=0.2, progress=False, backoff=0)
    assert_good_download(path, home)
    assert server.count("m1") == 2
    assert capsys.readouterr().err.count(f"mirror {m1}: could not connect (timed out)") == 2


def test_no_mirrors(home):
    with pytest.raises(DataError, match="no download mirror"):
        get(remote())
    assert_clean(home)


def test_damaged_shipped_copy_raises_and_is_not_modified(home, server):
    shipped = home / "tiny" / FILENAME
    shipped.parent.mkdir()
    shipped.write_bytes(WRONG)
    with pytest.raises(DataError, match="damaged") as info:
        get(remote(server.mirror("m1", ("ok", GOOD))))
    assert str(shipped) in str(info.value)
    assert shipped.read_bytes() == WRONG
    assert server.count("m1") == 0  # no silent download in its place
    assert_clean(home)


def test_good_shipped_copy_needs_no_network(home):
    shipped = home / "tiny" / FILENAME
    shipped.parent.mkdir()
    shipped.write_bytes(GOOD)
    assert get(remote(closed_port_url())) == shipped


def test_good_cached_copy_needs_no_network(home):
    cached = home / "cache" / FILENAME
    cached.parent.mkdir()
    cached.write_bytes(GOOD)
    assert get(remote(closed_port_url())) == cached


@pytest.mark.parametrize("damage", [WRONG, GOOD[:100], b"not gzip at all"])
def test_corrupt_cached_copy_is_replaced(home, server, capsys, damage):
    cached = home / "cache" / FILENAME
    cached.parent.mkdir()
    cached.write_bytes(damage)
    path = get(remote(server.mirror("m1", ("ok", GOOD))))
    assert_good_download(path, home)
    err = capsys.readouterr().err
    assert f"the cached copy {home / 'cache' / FILENAME} is damaged" in err and "downloading it again" in err


def test_corrupt_cached_copy_and_no_network(home):
    cached = home / "cache" / FILENAME
    cached.parent.mkdir()
    cached.write_bytes(WRONG)
    with pytest.raises(DataError, match="offline"):
        get(remote(closed_port_url()), retries=1)
    assert_clean(home)


def test_bad_retries_value(home, server):
    with pytest.raises(ValueError, match="retries"):
        fetch(remote(server.mirror("m1", ("ok", GOOD))), retries=0, progress=False)
