"""The course files a grading run trusts, snapshotted before and compared after each submission.

Student code runs with the grader's permissions until the sandbox of a later issue: a submission could
write into ``autograder/``, ``dlfs/`` or ``data/`` (a forged reference, say), and the next submission's
judge would load it. :class:`Snapshot` keeps every such file's bytes; after each submission
:meth:`Snapshot.restore` puts back what changed and removes what was added, and the submission that did
it is flagged; so is everything at the end of a run, also one stopped by Ctrl-C or ``kill``. What was
undone is not lost: the changed and added files are first copied into a quarantine folder for a look by hand
(``grade`` uses ``<out>/quarantine/<student>/``). Do not edit these folders while a grading run is going on:
a file edited meanwhile is taken for the submission's work, undone and quarantined.
nbgrader runs with a byte-code cache folder of its own, so no ``__pycache__`` in the
repository is read (see :func:`autograder.course.run_nbgrader`). What this cannot catch, writes into the
Python installation or into that cache folder, needs the kernel to run as another user: the sandbox's job.
"""


from __future__ import annotations

from pathlib import Path

from autograder.course import REPO

PROTECTED = ("autograder", "dlfs", "data")
#: Generated or downloaded files the judges never read.
SKIPPED = (REPO / "data" / "kaggle", REPO / "data" / "cache")


def _files() -> dict[Path, bytes]:
    found = {}
    for top in PROTECTED:
        for path in (REPO / top).rglob("*"):
            if (path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts
                    and not any(path.is_relative_to(s) for s in SKIPPED)):
                found[path] = path.read_bytes()
    return found


class Snapshot:
    """The protected files' bytes at one moment."""

    def __init__(self) -> None:
        self.files = _files()

    def restore(self, quarantine: Path | None = None) -> list[str]:
        """Undo every change since the snapshot; return the changed paths (relative), empty if none.

        With ``quarantine``, the current bytes of every changed or added file are first copied there, under
        their path relative to the repository, so that nothing written is lost.
        """
        now = _files()
        changed = sorted({p for p in self.files if now.get(p) != self.files[p]} | (set(now) - set(self.files)))
        if quarantine is not None:
            for path in changed:
                if path in now:
                    kept = quarantine / path.relative_to(REPO)
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    kept.write_bytes(now[path])
        for path in changed:
            if path in self.files:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(self.files[path])
            else:
                path.unlink(missing_ok=True)
        return [str(p.relative_to(REPO)) for p in changed]
