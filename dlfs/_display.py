"""How a failed visible check looks in a notebook: its message, first and alone.

A check that fails raises :class:`dlfs.checks.CheckFailed`. Left to itself, IPython prints the whole
chain: the student's stub, then the frames of ``dlfs/checks``, then ``raise CheckFailed(...) from err``,
with the one line that matters at the very bottom. :func:`register` (called when ``dlfs`` is imported
inside IPython or a Jupyter kernel) installs an IPython custom exception handler for ``CheckFailed``
only, which shows

* first, the check's own message (what, expected against got, where, the named mistake, the hint);
* then, only when the failure was caused by an exception raised in the student's own code, the frames
  of that code (notebook cells), formatted by IPython as usual. The frames of the course library, of
  NumPy and of Python itself are left out. A stub (``raise NotImplementedError()`` directly in the
  checked function) shows the message alone: the message already says what to do.

Every other exception, including a plain ``AssertionError``, keeps IPython's normal traceback. The full
traceback of a check failure stays one command away: ``%tb`` prints it and ``%debug`` opens it, and
with ``%pdb`` on, failures are shown in full and the debugger starts as usual.

The error that reaches the front end is a normal ``error`` message (``ename`` ``CheckFailed``, the
message as ``evalue``), so JupyterLab, the classic notebook, nbconvert and nbgrader all see a failed
cell; only its ``traceback`` lines are shorter.
"""

from __future__ import annotations

import sys
import traceback
import types
from typing import Any

#: The line that introduces the student's frames under the message.
STUDENT_FRAMES_HEADER = "Where your code raised it:"

_RED, _RESET = "\x1b[31m", "\x1b[39m"
# The attribute of the shell that remembers the exception classes this module registered.
_MARK = "_dlfs_check_failed_display"


def _running_shell() -> Any:
    """The IPython shell this code runs in, or None (IPython is not imported just to find out)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:
        return None


def register(shell: Any = None) -> bool:
    """Show :class:`~dlfs.checks.CheckFailed` short in ``shell`` (default: the running IPython).

    Returns True when the short display is in place. Does nothing outside IPython, and leaves alone a
    shell in which something else already installed a custom exception handler.
    """
    shell = _running_shell() if shell is None else shell
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    from dlfs.checks import CheckFailed  # here, not at import time: dlfs.checks imports dlfs

    ours = (CheckFailed,)
    current = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if current and current != getattr(shell, _MARK, None):
        return False
    shell.set_custom_exc(ours, _show_check_failed)
    setattr(shell, _MARK, ours)
    return True


def register_in_running_shell() -> None:
    """What ``import dlfs`` calls: :func:`register`, and a warning instead of an error if it fails."""
    try:
        register()
    except Exception as err:  # a display nicety must never stop the course library from importing
        import warnings

        warnings.warn(f"dlfs: failed checks will show IPython's full traceback ({err!r})", stacklevel=2)


def unregister(shell: Any = None) -> bool:
    """Give CheckFailed back its full IPython traceback; True if this module's handler was removed."""
    shell = _running_shell() if shell is None else shell
    if shell is None or getattr(shell, _MARK, None) is None:
        return False
    if tuple(shell.custom_exceptions) == getattr(shell, _MARK):
        shell.set_custom_exc((), None)
    setattr(shell, _MARK, None)
    return True


def _show_check_failed(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    """The custom exception handler: display the short form through the shell's error channel."""
    # What IPython's own showtraceback records, so that %tb and %debug still reach the whole story.
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    if getattr(shell, "call_pdb", False):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    try:
        stb = check_failure_lines(value, shell)
    except Exception:
        # A display problem must never hide the failure: fall back to IPython's full traceback.
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    shell._showtraceback(etype, value, stb)
    return stb


def check_failure_lines(error: BaseException, shell: Any = None) -> list[str]:
    """The lines shown for a failed check: its message, then the student's frames if the cause is theirs."""
    name = type(error).__name__
    message = str(error).splitlines()
    if message:
        lines = [f"{_RED}{name}{_RESET}: {message[0]}", *message[1:]]
    else:
        lines = [f"{_RED}{name}{_RESET}"]
    student = _student_error(error, shell)
    if student is not None:
        cause, frames = student
        lines += ["", STUDENT_FRAMES_HEADER, *_format_frames(cause, frames, shell)]
    return lines


def _student_error(error: BaseException, shell: Any) -> tuple[BaseException, list[types.TracebackType]] | None:
    """The exception the student's code raised that led to the failure, and its frames in their cells."""
    cause = error.__cause__
    if cause is None and not error.__suppress_context__:
        cause = error.__context__
    if cause is None:
        return None
    frames = []
    tb = cause.__traceback__
    while tb is not None:
        if _is_cell(tb.tb_frame.f_code.co_filename, shell):
            frames.append(tb)
        tb = tb.tb_next
    if not frames:
        return None
    if isinstance(cause, NotImplementedError) and len(frames) == 1:
        return None  # the stub itself: the message says what to do
    return cause, frames


def _is_cell(filename: str, shell: Any) -> bool:
    """Whether code in ``filename`` was typed into a notebook cell (or an IPython prompt)."""
    cells = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if isinstance(cells, dict) and filename in cells:
        return True
    return filename.startswith("<ipython-input-")


def _format_frames(cause: BaseException, frames: list[types.TracebackType], shell: Any) -> list[str]:
    """The given frames of ``cause`` and its last line, as IPython formats a traceback."""
    tb = None
    for frame in reversed(frames):
        tb = types.TracebackType(tb, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    formatter = getattr(shell, "InteractiveTB", None)
    if hasattr(formatter, "format_exception_as_a_whole"):
        try:
            parts = formatter.format_exception_as_a_whole(type(cause), cause, tb, 3, 0)
            # IPython's own layout, less its header line ("KeyError   Traceback (most recent call last)")
            return "\n".join(line for part in parts for line in part[1:]).strip("\n").split("\n")
        except Exception:
            pass
    text = "".join(traceback.format_exception(type(cause), cause, tb, chain=False)[1:])
    return text.rstrip("\n").split("\n")
