"""Sandboxed kernels, and the spare one a long-lived worker keeps ready for its next notebook.

A kernel takes 0.4–0.5 s to start (Python, ipykernel and IPython import in the sandbox; measured here), all of it in
the kernel's own process. A worker (:mod:`autograder.worker`) grades one notebook after another, so as soon as
one notebook's kernel is killed and its box removed, :func:`start_spare` makes a fresh box and starts a fresh
kernel in it, and returns at once (about 15 ms): the kernel boots while the worker writes the feedback page and
waits for the next request. :func:`take_spare` hands it to the next notebook.

What the next submission gets is what it would get without the spare: a new box (new tmpfs, cgroup, namespaces,
limits) holding a kernel that has run no code but its own start-up, started with the same command. One box at a
time: the spare is started only after the previous kernel was killed and its box removed (which waits up to 2 s for
its cgroup to empty), so no two kernels of a worker share its uid at once. A spare that died while it waited, or
was made for other limits or another command, is thrown away and a kernel is started as usual. Killing the worker
kills its spare (``--pdeathsig``, and the worker's process group); ``sweep`` removes the box it leaves.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from traitlets import Type

from autograder.sandbox import PASSED, Box, Limits


class ReadyClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as the kernel answers ``kernel_info`` and IOPub carries its messages.

    jupyter_client's ``wait_for_ready`` then also reads IOPub until it has been quiet for 0.2 s and drops what came:
    0.2 s per notebook measured here, even for a kernel that had been ready for seconds. nbclient reads only the
    messages that answer its own requests, so a leftover status message changes nothing. Otherwise this is
    jupyter_client's loop: ask again every second, fail if the kernel dies or the timeout passes."""

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:
                    await ensure_async(self.iopub_channel.get_msg(timeout=0.02))  # IOPub is connected
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    wait_for_ready = _async_wait_for_ready


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts inside a :class:`~autograder.sandbox.Box` and talks over Unix sockets."""

    box: Box | None = None
    client_factory = Type(ReadyClient, klass=AsyncKernelClient)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Wait for the killed kernel to be gone, looking every 5 ms, not every 100 (it takes a few ms to die: up to
        0.1 s per notebook went in jupyter_client's wait, measured here)."""
        await super()._async_wait(pollinterval=min(pollinterval, 0.005))

    def format_kernel_cmd(self, extra_arguments=None):
        return self.box.command(super().format_kernel_cmd(extra_arguments))


def manager(box: Box, kernel_name: str, config) -> SandboxedKernelManager:
    """A kernel manager for ``box`` (its kernel not started)."""
    km = SandboxedKernelManager(kernel_name=kernel_name, config=config, transport="ipc", ip=box.ipc_address,
                                connection_file=str(box.connection_file))
    km.box = box
    return km


@dataclass(frozen=True)
class SpareKey:
    """What a spare must have been made for to be used: the limits, the kernel and its arguments, and the variables
    the kernel gets from this process (:data:`autograder.sandbox.PASSED`)."""

    limits: Limits
    kernel_name: str
    arguments: tuple[str, ...]
    passed: tuple[str | None, ...]


@dataclass
class Spare:
    key: SpareKey
    box: Box
    km: SandboxedKernelManager


#: Whether this process keeps a spare kernel (only a long-lived worker: a one-shot nbgrader would leave it behind).
_keeping = False
_spare: Spare | None = None


def keep_spares() -> None:
    """From now on, :func:`start_spare` starts a kernel for the next notebook (called by the worker)."""
    global _keeping
    _keeping = True


def key(limits: Limits, kernel_name: str, arguments: list[str]) -> SpareKey:
    """The key of a kernel started now with these limits, kernel and arguments."""
    return SpareKey(limits, kernel_name, tuple(arguments), tuple(os.environ.get(name) for name in PASSED))


def start_spare(spare_key: SpareKey, config) -> None:
    """Make a box and start a kernel in it for the next notebook, if this process keeps spares; never raises (a
    spare that cannot start is simply not there, and the next notebook starts its kernel itself)."""
    global _spare
    if not _keeping:
        return
    discard_spare()
    box = Box(spare_key.limits)
    try:
        box.__enter__()
    except Exception:
        return
    km = manager(box, spare_key.kernel_name, config)
    try:
        run_sync(km.start_kernel)(extra_arguments=list(spare_key.arguments), cwd=str(box.folder))
    except Exception as err:
        km.log.warning("the spare kernel did not start (%s); the next notebook starts its own", err)
        _end(Spare(spare_key, box, km))
        return
    _spare = Spare(spare_key, box, km)


def take_spare(spare_key: SpareKey) -> Spare | None:
    """The spare kernel, if there is one made for ``spare_key`` and still running; None otherwise (any other spare
    is ended)."""
    global _spare
    spare, _spare = _spare, None
    if spare is None:
        return None
    alive = False
    with contextlib.suppress(Exception):
        alive = run_sync(spare.km.is_alive)()
    if spare.key != spare_key or not alive:
        _end(spare)
        return None
    return spare


def discard_spare() -> None:
    """End the spare kernel, if any, and remove its box."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None:
        _end(spare)


def _end(spare: Spare) -> None:
    with contextlib.suppress(Exception):
        run_sync(spare.km.shutdown_kernel)(now=True)
    with contextlib.suppress(Exception):
        run_sync(spare.km.cleanup_resources)()
    spare.box.__exit__(None, None, None)
