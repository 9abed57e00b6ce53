"""Inside the sandbox, before the kernel: run as root by ``unshare`` in new mount, PID, network, IPC and UTS
namespaces, this builds the kernel's file system, drops to an unprivileged user with limits, and execs the kernel.

Usage (from :mod:`autograder.sandbox`, never by hand)::

    unshare --net --mount --pid --ipc --uts --fork --kill-child python -I sandbox_launch.py CONFIG -- KERNEL...

CONFIG (JSON, written by the grader and readable by root only) holds ``root`` (an empty folder to build the new
root in), ``readonly`` (paths shown read-only at their own place: the system, the Python installation, ``dlfs/``
and ``data/``), ``shared`` (the one writable folder, a size-limited tmpfs the grader mounted: home, /tmp,
the exchange folder and the kernel's sockets), ``cwd``, ``uid``/``gid``, ``limits`` (resource name -> value),
``env`` (the kernel's whole environment) and ``cgroups`` (the ``cgroup.procs`` files this process joins first, so
that the CPU time of everything it starts is counted: :mod:`autograder.cpuclock`). Nothing else of the machine
exists for the kernel: not the repository's ``autograder/``, ``solutions/`` or source notebooks, not the
gradebook, not other submissions.

Standard library only, and run with ``python -I``: nothing here may import from the repository.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
DEVICES = ("null", "zero", "full", "random", "urandom")
LIMITS = {
    "memory": resource.RLIMIT_AS,
    "processes": resource.RLIMIT_NPROC,
    "file_size": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "cpu_seconds": resource.RLIMIT_CPU,
    "core": resource.RLIMIT_CORE,
}

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encoded = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    if _libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or fstype} on {target}: {os.strerror(err)}")


def _show(path: str, root: str, writable: bool) -> None:
    """Make ``path`` appear at the same place under ``root`` (symbolic links as links)."""
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if not os.path.exists(path):
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(path, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY))


def build_root(config: dict) -> None:
    root, shared = config["root"], config["shared"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here is seen outside
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    # /tmp first: the repository or the Python installation may lie under /tmp, and is then shown inside it.
    for inside, folder in (("/tmp", "tmp"), ("/dev/shm", "shm")):
        if (shared + "/").startswith(inside + "/"):
            continue  # the shared folder itself lies there (the kernel's TMPDIR says where to write)
        os.makedirs(root + inside, exist_ok=True)
        _mount(os.path.join(shared, folder), root + inside, None, MS_BIND)
    for path in sorted(config["readonly"]):
        _show(path, root, writable=False)
    _show(shared, root, writable=True)
    for name in DEVICES:
        _show(f"/dev/{name}", root, writable=True)
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16m,mode=0755")


def hand_over(shared: str, uid: int, gid: int) -> None:
    """The shared folder's files (the connection file, the exchange) to the kernel's user."""
    for folder, dirs, files in os.walk(shared):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(folder, name), uid, gid)
    for folder in ("tmp", "shm"):
        os.chmod(os.path.join(shared, folder), 0o1777)


def drop(config: dict) -> None:
    for name, value in config["limits"].items():
        if value is not None:
            soft = int(value)
            hard = soft + 5 if name == "cpu_seconds" else soft  # SIGXCPU first, SIGKILL 5 s later
            resource.setrlimit(LIMITS[name], (soft, hard))
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    uid, gid = int(config["uid"]), int(config["gid"])
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() == 0 or os.getuid() == 0:
        raise OSError("still root after setresuid")
    # unshare's --kill-child is a parent-death signal, which changing the uid clears: set it again, so that this
    # process (PID 1 here, whose death ends every process in the namespace) dies with unshare.
    if _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        raise SystemExit("usage: sandbox_launch.py CONFIG -- KERNEL COMMAND...")
    with open(argv[1]) as handle:
        config = json.load(handle)
    command = argv[3:]
    try:
        for procs in config.get("cgroups", []):  # before anything starts: every process here is counted
            with open(procs, "w") as handle:
                handle.write("0")
        hand_over(config["shared"], int(config["uid"]), int(config["gid"]))  # before anything is mounted inside it
        build_root(config)
        os.chroot(config["root"])
        os.chdir(config["cwd"])
        os.umask(0o077)
        drop(config)
    except OSError as err:
        print(f"sandbox: {err}", file=sys.stderr, flush=True)
        os._exit(125)
    kernel = os.fork()
    if kernel == 0:
        os.execve(command[0], command, config["env"])
    init(kernel)


def init(kernel: int) -> None:
    """PID 1 of the namespace (unprivileged by now): reap every process, end with the kernel's status.

    The kernel is not PID 1 itself, which would make it immune to the signals it has no handler for (its own
    ``os.kill``, the CPU-time limit's SIGXCPU). When this process ends, every process in the namespace ends.
    A signal to the kernel's process group (nbgrader's interrupt) reaches this process too: it is ignored here.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)  # killed by signal N: 128 + N, as a shell reports it


if __name__ == "__main__":
    main(sys.argv)
