"""Submissions exported by a learning management system: a zip -> ``<student_id>.ipynb`` files, nothing dropped.

Each LMS names the files of its "download all submissions" archive its own way. The patterns below are the
documented defaults of the three we know; every entry of the archive ends either as one student's notebook or
in the report of files that map no student, with the reason:

Canvas       ``<lastfirst>_[late_]<user id>_<submission id>_<original name>[-<n>].ipynb``
             e.g. ``doejane_late_104577_5530123_assignment-2.ipynb``; the student id is the numeric user id.
             ``-<n>`` marks a resubmission, and the highest n is kept (the submission id is the same).
Moodle       ``<Full Name>_<participant id>_assignsubmission_file_/<original name>.ipynb`` (one folder per
             student, the default) or the same without the slash (flat download); the student id is the
             participant id.
Blackboard   ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<original name>.ipynb`` next to a
             ``.txt`` receipt per attempt; the student id is the username, and the latest attempt is kept.
plain        ``<student id>.ipynb`` at the top of the archive (what ``grade`` reads from a folder).

With ``lms="auto"`` the first of these that matches an entry is used for it. Archives are read without
extracting anything else: a path that would leave the output folder, a link, a nested archive, a file over
``max_bytes`` uncompressed or anything but a notebook is reported, never written. Nothing in the zip is changed.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = ["PATTERNS", "Imported", "import_zip", "match_entry"]

#: Largest uncompressed notebook accepted from an archive (a graded notebook with figures is a few MB).
MAX_BYTES = 50 * 1024 * 1024

PATTERNS: dict[str, re.Pattern[str]] = {
    "canvas": re.compile(
        r"^(?P<name>[a-z0-9]+)_(?:late_)?(?P<student>\d+)_(?P<submission>\d+)_(?P<file>.+?)(?:-(?P<version>\d+))?\.ipynb$",
        re.IGNORECASE,
    ),
    "moodle": re.compile(
        r"^(?P<name>[^/]+?)_(?P<student>\d+)_assignsubmission_file_/?(?:[^/]*/)*(?P<file>[^/]+)\.ipynb$",
    ),
    "blackboard": re.compile(
        r"^(?P<assignment>.+?)_(?P<student>[A-Za-z0-9.@-]+)_attempt_"
        r"(?P<version>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>.+))?\.ipynb$",
    ),
    "plain": re.compile(r"^(?P<student>[A-Za-z0-9][A-Za-z0-9_.@-]{0,99})\.ipynb$"),
}


@dataclass(frozen=True)
class Match:
    lms: str
    student: str
    version: str  # compared as (len, text): resubmission numbers and timestamps both sort right


def match_entry(name: str, lms: str = "auto") -> Match | None:
    """Which student an archive entry belongs to, or None. ``name`` is the entry's path inside the zip."""
    kinds = [k for k in PATTERNS if k != "plain"] + ["plain"] if lms == "auto" else [lms]
    for kind in kinds:
        if kind == "plain" and "/" in name:
            continue  # a bare <id>.ipynb only at the top: in a folder it is some LMS's file under another name
        text = name if kind == "moodle" else PurePosixPath(name).name
        found = PATTERNS[kind].match(text)
        if found:
            return Match(kind, found.group("student"), found.groupdict().get("version") or "")
    return None


@dataclass
class Imported:
    """What an import wrote (student id -> file) and every entry it did not use, with the reason."""

    notebooks: dict[str, Path] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # student id -> the archive entry kept
    unmapped: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)


def _skip_reason(info: zipfile.ZipInfo, max_bytes: int) -> str | None:
    name = info.filename
    if info.is_dir():
        return ""  # folders are structure, not files: not reported
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link, not a file"
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        return "a path outside the archive's folder"
    if path.name.startswith(".") or "__MACOSX" in path.parts:
        return ""  # operating-system litter (.DS_Store, __MACOSX/): not a submission
    if path.suffix.lower() == ".txt" and "_attempt_" in path.name:
        return ""  # a Blackboard receipt
    if path.suffix.lower() != ".ipynb":
        return f"not a notebook ({path.suffix or 'no extension'})"
    if info.file_size > max_bytes:
        return f"{info.file_size:,} bytes uncompressed, over the limit of {max_bytes:,}"
    return None


def import_zip(archive: Path, out: Path, lms: str = "auto", max_bytes: int = MAX_BYTES) -> Imported:
    """Write ``out/<student id>.ipynb`` for every student of an LMS archive; report the entries not used.

    A student with several entries keeps the latest (Canvas resubmission number, Blackboard attempt time);
    the others are reported as superseded. Two entries that map the same student and cannot be ordered
    (e.g. two different notebooks in one Moodle folder) are both reported and that student gets no file,
    so that no one is graded on a notebook chosen by chance. ``out`` must not exist or be empty.
    """
    if lms != "auto" and lms not in PATTERNS:
        raise ValueError(f"unknown LMS {lms!r}; choose auto, {', '.join(PATTERNS)}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; import into a new folder")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{archive} is not a readable zip file ({type(err).__name__}: {err})") from err
    result = Imported()
    with zf:
        chosen: dict[str, tuple[Match, zipfile.ZipInfo]] = {}
        ambiguous: dict[str, list[str]] = {}
        for info in zf.infolist():
            reason = _skip_reason(info, max_bytes)
            if reason == "":
                continue
            if reason is not None:
                result.unmapped.append((info.filename, reason))
                continue
            found = match_entry(info.filename, lms)
            if found is None:
                result.unmapped.append((info.filename, "the file name maps no student (no known LMS pattern)"))
                continue
            if found.student in ambiguous:
                ambiguous[found.student].append(info.filename)
                continue
            previous = chosen.get(found.student)
            if previous is None:
                chosen[found.student] = (found, info)
                continue
            old_key = (len(previous[0].version), previous[0].version)
            new_key = (len(found.version), found.version)
            if new_key == old_key:
                ambiguous[found.student] = [previous[1].filename, info.filename]
                del chosen[found.student]
            elif new_key > old_key:
                result.unmapped.append((previous[1].filename, f"superseded by {info.filename}"))
                chosen[found.student] = (found, info)
            else:
                result.unmapped.append((info.filename, f"superseded by {previous[1].filename}"))
        for student, names in ambiguous.items():
            for name in names:
                result.unmapped.append(
                    (
                        name,
                        f"one of {len(names)} notebooks of student {student} that cannot be "
                        "ordered; none was taken: choose one by hand",
                    )
                )
        out.mkdir(parents=True, exist_ok=True)
        for student, (_, info) in sorted(chosen.items()):
            target = out / f"{student}.ipynb"
            with zf.open(info) as source:
                data = source.read(max_bytes + 1)
            target.write_bytes(data)
            result.notebooks[student] = target
            result.sources[student] = info.filename
    return result
