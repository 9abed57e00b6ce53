"""The CPU time of one sandbox, every process of it together: the clock that times a submission's speed cases.

A cell timed by the wall clock runs slower when a neighbouring worker, or that worker's judge, takes the core for a
moment: with two workers on two cores, week 1's speed case once measured 19.6x against its 20x bar. The CPU time
the sandbox's processes spent is not slowed by a neighbour. It is counted by the kernel in a control group (cgroup)
of the sandbox's own, which the sandbox's launcher joins, as root, before it starts anything; every process the
kernel starts then belongs to it, and an unprivileged process cannot leave it. So work done in a thread, a child or
a process left behind is counted too, with microsecond resolution (``/proc``'s CPU times count 10 ms ticks).

Two kinds of hierarchy are used, whichever this machine has: cgroup v2 (``cpu.stat``, ``usage_usec``) or the v1
``cpuacct`` controller (``cpuacct.usage``, nanoseconds). Where neither can be written (not root, no cgroup file
system), :meth:`CpuClock.create` returns None and the cell is timed by the wall clock as before.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

#: The prefix of the sandboxes' folders and of their cgroups, which have their folders' names.
PREFIX = "dlfs-sandbox-"


def _own_cgroups() -> list[tuple[str, Path]]:
    """(kind, folder) of this process's cgroups that count CPU time, preferred first: ("v2", …), ("v1", …)."""
    mounts: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
        groups = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, rest = before.split(), after.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        if rest[0] == "cgroup2":
            mounts.setdefault("v2", Path(fields[4]))
        elif rest[0] == "cgroup" and "cpuacct" in rest[2].split(","):
            mounts.setdefault("v1", Path(fields[4]))
    found = []
    for line in groups:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        kind = "v2" if number == "0" and controllers == "" else "v1" if "cpuacct" in controllers.split(",") else None
        if kind in mounts:
            found.append((kind, mounts[kind] / path.lstrip("/")))
    return sorted(found, key=lambda item: item[0] != "v2")


class CpuClock:
    """A cgroup of one sandbox: :attr:`procs` is the file its launcher writes itself into; :meth:`seconds` the CPU
    time its processes spent so far."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.folder = kind, folder
        self.procs = folder / "cgroup.procs"

    @classmethod
    def create(cls, name: str) -> CpuClock | None:
        """A new cgroup named ``name`` beside this process's own, or None where none can be made."""
        for kind, parent in _own_cgroups():
            folder = parent / name
            try:
                folder.mkdir()
            except OSError:
                continue
            clock = cls(kind, folder)
            try:
                clock.seconds()
            except (OSError, ValueError):
                clock.remove()
                continue
            return clock
        return None

    def seconds(self) -> float:
        if self.kind == "v2":
            for line in (self.folder / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            raise ValueError(f"no usage_usec in {self.folder / 'cpu.stat'}")
        return int((self.folder / "cpuacct.usage").read_text()) / 1e9

    def remove(self, wait: float = 2.0) -> bool:
        """Remove the cgroup once its processes are gone (they may take a moment to die); False if it stays."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self.folder.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)


def folders() -> list[Path]:
    """Every sandbox cgroup beside this process's own (a grader killed by SIGKILL leaves its own behind, empty)."""
    found = []
    for _, parent in _own_cgroups():
        with contextlib.suppress(OSError):
            found += sorted(parent.glob(f"{PREFIX}*"))
    return found
