"""A sandbox per submission: the student's kernel runs fenced off from the grader and from the machine.

While nbgrader autogrades, :class:`autograder.judge.JudgedExecute` starts the kernel through :class:`Box`:

- **Its own file system.** A new root holding only the system folders, the Python installation, ``dlfs/`` and
  ``data/`` (all read-only) and one writable tmpfs of ``disk`` bytes (home, ``/tmp``, the exchange folder, the
  kernel's sockets). The gradebook, ``autograder/`` (references, hidden cases), the source notebooks,
  ``solutions/``, other students' submissions and the grader's output do not exist there.
- **Another user.** An unprivileged uid of its own (no name, no groups, no new privileges), so nothing it
  writes can reach a file of the grader's, and its process limit counts only its own processes.
- **No network.** A network namespace without interfaces; the grader talks to the kernel through Unix
  sockets (ZeroMQ's ``ipc`` transport), which need none.
- **Limits** (:class:`Limits`): address space (an allocation past it raises MemoryError in that cell), processes,
  file size, open files, CPU time; its own PID namespace, so everything it started dies with it, also when the
  grader itself is killed (``--pdeathsig`` on the launcher, ``--kill-child`` on the namespace).

It needs Linux, root and ``unshare``/``setpriv`` (util-linux). :func:`problems` says what is missing; ``grade``
refuses to run without the sandbox unless told to (``--no-sandbox``). What it does not guarantee: CPU time is
shared (a submission can be slow to others, not stop them), and it is no defence against a kernel exploit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from autograder import cpuclock
from autograder.course import REPO
from autograder.cpuclock import CpuClock

LAUNCH = Path(__file__).with_name("sandbox_launch.py")
MiB = 1 << 20
#: The variables through which ``grade``/``validate`` hand the sandbox to nbgrader's process.
SWITCH, LIMITS = "DLFS_SANDBOX", "DLFS_SANDBOX_LIMITS"
#: Read-only system folders of the kernel's root (the ones that exist here).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: Passed to the kernel from the grader's environment; everything else is left out.
PASSED = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED", "DLFS_BUDGET", "DLFS_DATA",
          "DLFS_MALLOC")
#: The uids of sandboxed kernels: FIRST_UID + the nbgrader process's pid, unique among the running graders.
FIRST_UID = 200_000
#: Where the boxes are made: ``BASE/dlfs-sandbox-<grader's pid>-<random>``.
BASE = "/var/tmp"
FOLDER = cpuclock.PREFIX  # a box's cgroup has its folder's name


@dataclass(frozen=True)
class Limits:
    """What one submission's kernel may use (bytes, counts, seconds)."""

    memory: int = 6144 * MiB
    processes: int = 256
    file_size: int = 256 * MiB
    open_files: int = 1024
    cpu_seconds: int | None = None
    disk: int = 512 * MiB

    def to_env(self) -> dict[str, str]:
        return {SWITCH: "on", LIMITS: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> Limits | None:
        """The limits ``grade`` asked for, or None when this nbgrader runs without the sandbox."""
        if os.environ.get(SWITCH) != "on":
            return None
        return cls(**json.loads(os.environ.get(LIMITS) or "{}"))


def _probe_command() -> list[str]:
    code = ("import os, socket\n"
            "assert os.getuid() != 0 and os.geteuid() != 0, 'still root'\n"
            "assert not os.path.exists(%r), 'the repository is visible'\n"
            "try:\n socket.create_connection(('1.1.1.1', 53), timeout=1); print('network')\n"
            "except OSError:\n print('sandboxed')\n") % str(REPO / "autograder")
    return [sys.executable, "-c", code]


def prepare_data() -> None:
    """Write the data files the notebooks generate on first use (week 1's Kaggle CSVs): ``data/`` is read-only
    in the sandbox, so they must exist before a kernel starts."""
    from dlfs.kaggle import digit_recognizer

    digit_recognizer()


@cache
def problems() -> tuple[str, ...]:
    """Why the sandbox cannot run here (empty when it can): checked by starting a sandboxed Python once."""
    if not sys.platform.startswith("linux"):
        return (f"the sandbox needs Linux namespaces; this is {sys.platform}",)
    if os.geteuid() != 0:
        return ("the grader does not run as root, so it can neither make namespaces nor switch the kernel to "
                "another user (run `grade` as root, e.g. in a container)",)
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} (util-linux) not found",)
    try:
        with Box(Limits()) as box:
            run = subprocess.run(box.command(_probe_command()), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return (f"a sandboxed test process could not start ({err})",)
    if run.stdout.strip() != "sandboxed":
        why = (run.stderr.strip().splitlines() or [run.stdout.strip() or f"exit {run.returncode}"])[-1]
        return (f"a sandboxed test process failed: {why}",)
    return ()


def _owner_alive(name: str) -> bool:
    """Whether the grader that made the box ``<FOLDER><pid>-<random>`` still runs (an unparsable name: no)."""
    pid = name[len(FOLDER):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep() -> int:
    """Remove the boxes (and their cgroups) of graders that no longer run: one killed by SIGKILL leaves its box's
    tmpfs mounted and its folder behind (its kernels died with it). Returns how many boxes were removed."""
    removed = 0
    for folder in Path(BASE).glob(f"{FOLDER}*") if os.path.isdir(BASE) else []:
        if _owner_alive(folder.name):
            continue
        subprocess.run(["umount", "--lazy", str(folder / "shared")], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        removed += not folder.exists()
    for group in cpuclock.folders():
        if not _owner_alive(group.name):
            with contextlib.suppress(OSError):
                group.rmdir()  # only an empty one can be removed: a process still in it keeps it
    return removed


class Box:
    """One kernel's sandbox: a folder for its new root, a size-limited tmpfs shared with the grader, a uid."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.uid = self.gid = FIRST_UID + os.getpid() % 100_000

    def __enter__(self) -> Box:
        # Not under /tmp, which the kernel gets a folder of the shared tmpfs as.
        self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER}{os.getpid()}-", dir=BASE if os.path.isdir(BASE) else None))
        self.cpu = CpuClock.create(self.folder.name)
        (self.folder / "root").mkdir()
        self.shared = self.folder / "shared"
        self.shared.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.limits.disk},mode=0711,nosuid,nodev",
                        "dlfs-sandbox", str(self.shared)], check=True, capture_output=True)
        for name in ("home", "tmp", "shm", "exchange", "ipc"):
            (self.shared / name).mkdir()
        self._seed_matplotlib_cache()
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", "--lazy", str(self.shared)], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.cpu is not None:
            self.cpu.remove()

    def cpu_seconds(self) -> float | None:
        """CPU seconds spent so far by all the processes of this sandbox (:mod:`autograder.cpuclock`), or None where
        this machine gives no cgroup to count them in."""
        return self.cpu.seconds() if self.cpu is not None else None

    @property
    def home(self) -> Path:
        return self.shared / "home"

    @property
    def exchange(self) -> Path:
        return self.shared / "exchange"

    @property
    def connection_file(self) -> Path:
        return self.shared / "kernel.json"

    @property
    def ipc_address(self) -> str:
        return str(self.shared / "ipc" / "kernel")

    def give(self, path: Path) -> None:
        """Let the kernel write into ``path`` (a folder the grader made in the shared tmpfs)."""
        os.chown(path, self.uid, self.gid)

    def _seed_matplotlib_cache(self) -> None:
        """The grader's font list, so that every kernel does not rebuild it (about a second each)."""
        config = self.home / ".matplotlib"
        config.mkdir()
        for folder in filter(None, (os.environ.get("MPLCONFIGDIR"), str(Path.home() / ".cache" / "matplotlib"))):
            for found in Path(folder).glob("fontlist-*.json"):
                shutil.copy(found, config / found.name)

    def readonly(self) -> list[str]:
        python = {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
                  os.path.dirname(os.path.realpath(sys.executable))}
        data = os.environ.get("DLFS_DATA") or str(REPO / "data")
        return sorted({*(p for p in SYSTEM if os.path.lexists(p)), *python, str(REPO / "dlfs"), data})

    def environment(self) -> dict[str, str]:
        from dlfs.grading import EXCHANGE

        home = str(self.home)
        env = {name: os.environ[name] for name in PASSED if name in os.environ}
        env.update({
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home, "USER": "student", "LANG": "C.UTF-8",
            "TMPDIR": str(self.shared / "tmp") if str(self.shared).startswith("/tmp/") else "/tmp",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.matplotlib", "IPYTHONDIR": f"{home}/.ipython",
            "JUPYTER_RUNTIME_DIR": f"{home}/.runtime", "PYTHONDONTWRITEBYTECODE": "1",
            EXCHANGE: str(self.exchange),
        })
        return env

    def command(self, kernel: list[str]) -> list[str]:
        """``kernel`` (an argv) wrapped so that it starts inside this sandbox."""
        limits = asdict(self.limits)
        limits.pop("disk")
        config = {
            "root": str(self.folder / "root"), "shared": str(self.shared), "cwd": str(self.home),
            "readonly": self.readonly(), "uid": self.uid, "gid": self.gid, "limits": limits,
            "env": self.environment(), "cgroups": [str(self.cpu.procs)] if self.cpu is not None else [],
        }
        path = self.folder / "config.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net", "--mount", "--pid", "--ipc", "--uts",
                "--fork", "--kill-child", sys.executable, "-I", str(LAUNCH), str(path), "--", *kernel]
