"""The spare kernel a grading worker keeps for its next notebook (autograder/kernels.py), and the kernel client that is
ready without jupyter_client's 0.2 s wait.

A spare is a sandboxed kernel like any other (its own box, uid and limits), is used only for what it was made for,
is thrown away when it died or was made for something else, and leaves no box behind.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import run_sync
from traitlets.config import Config

from autograder import kernels, sandbox

pytestmark = [pytest.mark.autograder]

if sandbox.problems():
    pytest.skip(f"the sandbox cannot run here: {'; '.join(sandbox.problems())}", allow_module_level=True)

SMALL = sandbox.Limits(memory=1024 * sandbox.MiB, processes=64, file_size=8 * sandbox.MiB, disk=32 * sandbox.MiB)
ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]


@pytest.fixture
def keeping(monkeypatch):
    """This process keeps spares for the test (as a worker does), and ends any it left."""
    monkeypatch.setattr(kernels, "_keeping", True)
    yield
    kernels.discard_spare()


def run_code(km, code: str) -> str:
    """Run ``code`` in the kernel of ``km``; its standard output."""
    printed = []
    kc = km.client()
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        reply = run_sync(kc.execute_interactive)(code, timeout=60, output_hook=printed.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(m["content"].get("text", "") for m in printed if m["msg_type"] == "stream")
    finally:
        kc.stop_channels()


def test_only_a_worker_keeps_a_spare():
    key = kernels.key(SMALL, "python3", ARGUMENTS)
    kernels.start_spare(key, Config())
    assert kernels.take_spare(key) is None


def test_a_spare_is_a_sandboxed_kernel_of_its_own_box(keeping):
    key = kernels.key(SMALL, "python3", ARGUMENTS)
    kernels.start_spare(key, Config())
    spare = kernels.take_spare(key)
    assert spare is not None and spare.box.folder.exists()
    out = run_code(spare.km, "import os; print(os.getuid(), os.environ['HOME'], os.path.exists('/etc/shadow'))")
    uid, home, _ = out.split()
    assert int(uid) == spare.box.uid >= sandbox.FIRST_UID and home == str(spare.box.home)
    assert kernels.take_spare(key) is None, "a spare is handed out once"
    run_sync(spare.km.shutdown_kernel)(now=True)
    spare.box.__exit__(None, None, None)
    assert not spare.box.folder.exists()


def test_a_spare_made_for_other_limits_is_ended_not_used(keeping):
    kernels.start_spare(kernels.key(SMALL, "python3", ARGUMENTS), Config())
    folder = kernels._spare.box.folder
    other = sandbox.Limits(memory=2048 * sandbox.MiB, processes=64, file_size=8 * sandbox.MiB, disk=32 * sandbox.MiB)
    assert kernels.take_spare(kernels.key(other, "python3", ARGUMENTS)) is None
    assert kernels.take_spare(kernels.key(SMALL, "python3", [])) is None  # nothing left: it was ended
    assert not folder.exists()


def test_a_spare_whose_kernel_died_is_ended_not_used(keeping):
    key = kernels.key(SMALL, "python3", ARGUMENTS)
    kernels.start_spare(key, Config())
    spare = kernels._spare
    os.kill(spare.km.provisioner.process.pid, signal.SIGKILL)
    spare.km.provisioner.process.wait()
    assert kernels.take_spare(key) is None
    assert not spare.box.folder.exists()


def test_discarding_the_spare_removes_its_box(keeping):
    kernels.start_spare(kernels.key(SMALL, "python3", ARGUMENTS), Config())
    spare = kernels._spare
    kernels.discard_spare()
    assert kernels._spare is None and not spare.box.folder.exists()
    assert not run_sync(spare.km.is_alive)()


def test_a_started_kernel_is_ready_without_jupyter_clients_wait():
    """jupyter_client's client waits until IOPub has been quiet for 0.2 s; ReadyClient returns once it answers."""
    with sandbox.Box(SMALL) as box:
        km = kernels.manager(box, "python3", Config())
        run_sync(km.start_kernel)(extra_arguments=ARGUMENTS, cwd=str(box.folder))
        try:
            times = {}
            for name, factory in (("first", km.client), ("ours", km.client), ("theirs", None)):
                kc = factory() if factory else AsyncKernelClient(parent=km, **km.get_connection_info(session=True))
                kc.start_channels()
                start = time.perf_counter()
                run_sync(kc.wait_for_ready)(timeout=60)
                times[name] = time.perf_counter() - start
                kc.stop_channels()
            assert isinstance(km.client(), kernels.ReadyClient)
            assert times["theirs"] >= 0.2 and times["ours"] < 0.1, times
        finally:
            run_sync(km.shutdown_kernel)(now=True)
