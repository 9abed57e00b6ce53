"""The sandbox of a grading kernel (autograder/sandbox.py), probed with small Python programs started in it the way
nbgrader starts a kernel: what it can see, who it is, what it can reach, and where its limits stop it.

Each program prints one line; the grader's own files, held-out data and the network must be out of reach.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.course import REPO, temporary_course

pytestmark = [pytest.mark.autograder]

if sandbox.problems():
    pytest.skip(f"the sandbox cannot run here: {'; '.join(sandbox.problems())}", allow_module_level=True)

SMALL = sandbox.Limits(memory=1024 * sandbox.MiB, processes=64, file_size=8 * sandbox.MiB, disk=32 * sandbox.MiB)


def run_inside(code: str, limits: sandbox.Limits = SMALL, timeout: float = 60) -> subprocess.CompletedProcess:
    with sandbox.Box(limits) as box:
        command = box.command([sys.executable, "-c", textwrap.dedent(code)])
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_the_kernel_is_not_root_and_has_no_privileges():
    run = run_inside("""
        import os
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
        print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), status["NoNewPrivs"].strip(), status["CapEff"])
    """)
    uid, euid, gid, groups, no_new_privs, caps = run.stdout.split(maxsplit=5)
    assert int(uid) >= sandbox.FIRST_UID and uid == euid and int(gid) >= sandbox.FIRST_UID, run.stdout
    assert groups == "[]" and no_new_privs == "1" and int(caps.strip(), 16) == 0, run.stdout


def test_only_the_library_and_the_data_of_the_repository_exist():
    with temporary_course("week01_linear_algebra") as course, sandbox.Box(SMALL) as box:
        hidden = [REPO / "autograder", REPO / "solutions", REPO / "tests", REPO / ".git", REPO / "README.md",
                  course.root / "gradebook.db", course.root, Path.home() / ".cache", REPO.parent / "shared",
                  box.folder / "config.json", box.folder.parent / "unrelated"]
        (box.folder.parent / "unrelated").mkdir(exist_ok=True)
        code = f"""if True:
            import os
            for path in {[str(p) for p in hidden]!r}:
                print(path, os.path.exists(path))
            print("dlfs", os.path.exists({str(REPO / "dlfs" / "checks")!r}), "data", os.path.exists({str(REPO / "data")!r}))
        """
        run = subprocess.run(box.command([sys.executable, "-c", code]), capture_output=True, text=True, timeout=60)
        (box.folder.parent / "unrelated").rmdir()
    lines = run.stdout.splitlines()
    assert lines[-1] == "dlfs True data True", run.stdout + run.stderr
    for line in lines[:-1]:
        assert line.endswith("False"), f"visible in the sandbox: {line}"


def test_the_library_and_the_data_are_read_only():
    run = run_inside(f"""
        import pathlib
        for path in [{str(REPO / "dlfs" / "checks" / "__init__.py")!r}, {str(REPO / "data" / "README.md")!r}]:
            try:
                open(path, "a").write("# changed")
                print("written", path)
            except OSError as err:
                print("refused")
    """)
    assert run.stdout.split() == ["refused", "refused"], run.stdout + run.stderr


def test_there_is_no_network():
    run = run_inside("""
        import socket
        for host in [("127.0.0.1", 22), ("1.1.1.1", 53), ("pypi.org", 443)]:
            try:
                socket.create_connection(host, timeout=2)
                print("reached", host)
            except OSError as err:
                print("refused")
    """)
    assert run.stdout.split() == ["refused"] * 3, run.stdout + run.stderr


def test_an_allocation_past_the_memory_limit_raises_memory_error():
    run = run_inside("""
        import numpy as np
        try:
            block = np.ones(2 * 1024**3 // 8)
            print("allocated")
        except MemoryError:
            print("MemoryError")
        print(np.ones(1000).sum())
    """)
    assert run.stdout.split() == ["MemoryError", "1000.0"], run.stdout + run.stderr


def test_a_fork_bomb_meets_the_process_limit_and_dies_with_the_sandbox():
    start = time.perf_counter()
    run = run_inside("""
        import os, time
        children = 0
        try:
            for _ in range(10_000):
                if os.fork() == 0:
                    time.sleep(600)  # dlfs-fork-bomb-child
                    os._exit(0)
                children += 1
        except OSError as err:
            print("stopped", children < 64, err.errno)
    """)
    assert run.stdout.split()[:2] == ["stopped", "True"], run.stdout + run.stderr
    assert time.perf_counter() - start < 30, "the sleeping children kept the sandbox alive"
    assert subprocess.run(["pgrep", "-f", "dlfs-fork-bomb-child"], capture_output=True).stdout == b""


def test_a_huge_file_stops_at_the_file_size_limit():
    run = run_inside("""
        import os
        try:
            with open("big.bin", "wb") as handle:
                for _ in range(64):
                    handle.write(b"x" * 1024**2)
            print("written")
        except OSError as err:
            print("OSError", os.path.getsize("big.bin") <= 8 * 1024**2)
    """)
    assert run.stdout.split() == ["OSError", "True"], run.stdout + run.stderr


def test_the_kernel_sees_no_process_of_the_machine():
    run = run_inside("""
        import os
        print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()) == [1, os.getpid()])
    """)
    assert run.stdout.strip() == "True", run.stdout + run.stderr


@pytest.mark.parametrize("code, status", [
    ("import os; os._exit(3)", 3),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 128 + 9),
    ("while True: pass", 128 + 24),  # SIGXCPU at the CPU-time limit
])
def test_the_launcher_ends_with_the_kernels_status(code, status):
    """What the judge reports when a kernel dies comes from here: an exit status, or 128 + the signal."""
    run = run_inside(code, sandbox.Limits(cpu_seconds=1, disk=32 * sandbox.MiB), timeout=30)
    assert run.returncode == status, run.stderr


def test_killing_the_launcher_kills_everything_inside():
    """What happens when nbgrader (the launcher's parent) is killed: nothing it started inside survives."""
    with sandbox.Box(SMALL) as box:
        marker = f"dlfs-sandbox-orphan-{os.getpid()}"
        code = f"import os, time\nif os.fork() == 0:\n    time.sleep(600)  # {marker}\ntime.sleep(600)  # {marker}"
        process = subprocess.Popen(box.command([sys.executable, "-c", code]))
        time.sleep(2)
        assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout, "the program never started"
        process.kill()
        process.wait()
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout, "a sandboxed process survived"


def test_the_box_leaves_no_mount_and_no_folder():
    with sandbox.Box(SMALL) as box:
        folder = box.folder
        assert str(box.shared) in open("/proc/self/mounts").read()
    assert not folder.exists()
    assert str(folder) not in open("/proc/self/mounts").read()
    assert box.cpu is None or not box.cpu.folder.exists(), "the box's cgroup was left behind"


def burn(seconds: float) -> str:
    return f"import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass\n"


def test_the_cpu_clock_counts_every_process_of_the_sandbox_also_one_left_behind():
    """The speed cases' clock: a thread's, a child's and a daemon's CPU time count, none can hide outside."""
    with sandbox.Box(SMALL) as box:
        if box.cpu is None:
            pytest.skip("this machine gives no cgroup to count a sandbox's CPU time in (cells are timed by the wall)")
        before = box.cpu_seconds()
        code = (burn(0.3) + "import os, threading\n"
                f"threading.Thread(target=exec, args=({burn(0.3)!r},)).start()\n"
                f"if os.fork() == 0:\n    exec({burn(0.3)!r})\n    os._exit(0)\n"
                f"if os.fork() == 0:\n    if os.fork() == 0:\n        exec({burn(0.3)!r})\n    os._exit(0)\n"
                "os.wait(); os.wait()\nimport time; time.sleep(1)\n")
        run = subprocess.run(box.command([sys.executable, "-c", code]), capture_output=True, text=True, timeout=60)
        spent = box.cpu_seconds() - before
    assert run.returncode == 0, run.stderr
    assert 1.2 <= spent < 3.0, f"{spent:.2f} s of CPU counted for 1.2 s spent in four places"


def test_the_cpu_clock_is_not_slowed_by_a_neighbour():
    """Two sandboxes busy on one core each, and a third process: each sandbox's CPU time is its own work only."""
    with sandbox.Box(SMALL) as first, sandbox.Box(SMALL) as second:
        if first.cpu is None:
            pytest.skip("this machine gives no cgroup to count a sandbox's CPU time in")
        runs = [subprocess.Popen(box.command([sys.executable, "-c", burn(0.5)])) for box in (first, second, first)]
        assert [run.wait(timeout=60) for run in runs] == [0, 0, 0]
        mine, theirs = first.cpu_seconds(), second.cpu_seconds()
    assert 1.0 <= mine < 1.5 and 0.5 <= theirs < 0.9, (mine, theirs)


def test_a_killed_graders_boxes_are_swept_and_a_live_ones_are_not():
    """A grader killed by SIGKILL cannot unmount its box: the next `grade` removes it (and its cgroup)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(sandbox.BASE) / f"{sandbox.FOLDER}{dead.pid}-test"
    (stale / "shared").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "dlfs-sandbox", str(stale / "shared")], check=True)
    (stale / "shared" / "home").mkdir()
    clock = sandbox.CpuClock.create(stale.name)
    with sandbox.Box(SMALL) as live:
        assert sandbox.sweep() >= 1
        assert live.folder.exists() and str(live.shared) in open("/proc/self/mounts").read()
    assert not stale.exists() and str(stale) not in open("/proc/self/mounts").read()
    assert clock is None or not clock.folder.exists()
