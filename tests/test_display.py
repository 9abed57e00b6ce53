"""What a student sees when a visible check fails (dlfs._display), in a real IPython shell and kernel.

A failed check shows its message first and alone; the student's own frames follow only when their code
raised; every other error keeps IPython's full traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from dlfs import _display
from dlfs.checks import CheckFailed, call, check_array

pytestmark = pytest.mark.library

ANSI = re.compile(r"\x1b\[[0-9;]*m")

STUB = '''
def squares(x):
    """The squares of x."""
    out = np.zeros_like(x)
    # YOUR CODE HERE
    raise NotImplementedError()
    return out
'''

BROADCAST_BUG = '''
def squares(x):
    """The squares of x."""
    column = x[:, None]
    return column * np.ones(len(x) + 1)[:, None]   # a shape bug: raises inside NumPy
'''

HELPER_BUG = '''
def scale(x):
    return x / {}["factor"]

def squares(x):
    return scale(x) ** 2
'''

WRONG = '''
def squares(x):
    return x * 2
'''


def check_squares(fn):
    """A visible check written like the course's: the student's call goes through dlfs.checks.call."""
    x = np.arange(4.0)
    got = call(fn, x)
    check_array(fn.__name__, got, x**2, hint="square each entry.")
    print("\u2713 squares: all 4 values match")


class Shown:
    """What the shell sent to the front end as errors (ipykernel turns these into `error` messages)."""

    def __init__(self):
        self.errors: list[tuple[str, str, list[str]]] = []

    def __call__(self, etype, evalue, stb):
        self.errors.append((etype.__name__, str(evalue), list(stb)))

    def text(self) -> str:
        assert len(self.errors) == 1, self.errors
        return ANSI.sub("", "\n".join(self.errors[0][2]))


@pytest.fixture
def shell(monkeypatch):
    ip = InteractiveShell.instance()
    shown = Shown()
    monkeypatch.setattr(ip, "_showtraceback", shown)
    ip.shown = shown
    assert _display.register(ip)
    ip.user_ns.update(np=np, check_squares=check_squares)
    yield ip
    _display.unregister(ip)
    del ip.shown


def run(shell, *cells):
    """Run cells as a notebook does; return the result of the last one."""
    result = None
    for cell in cells:
        result = shell.run_cell(cell, store_history=True)
    return result


def test_a_stub_shows_one_message_line_and_no_library_frame(shell):
    result = run(shell, STUB, "check_squares(squares)")
    assert isinstance(result.error_in_exec, CheckFailed)
    ename, evalue, _ = shell.shown.errors[0]
    assert (ename, evalue) == ("CheckFailed", str(result.error_in_exec))
    text = shell.shown.text()
    assert text == (
        "CheckFailed: squares is not implemented yet: replace `raise NotImplementedError()` with your code."
    )
    assert "dlfs" not in text and "Traceback" not in text


def test_a_wrong_answer_shows_the_checks_message_only(shell):
    run(shell, WRONG, "check_squares(squares)")
    lines = shell.shown.text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("CheckFailed: squares: 2 of 4 values are wrong")
    assert lines[0].endswith("Hint: square each entry.")


def test_an_error_in_the_students_code_shows_their_frame_under_the_message(shell):
    run(shell, BROADCAST_BUG, "check_squares(squares)")
    text = shell.shown.text()
    lines = text.splitlines()
    assert lines[0].startswith("CheckFailed: squares raised ValueError: operands could not be broadcast")
    assert lines[1:3] == ["", _display.STUDENT_FRAMES_HEADER]
    assert re.match(r"Cell In\[\d+\], line \d+, in squares\(x\)", lines[3])
    assert "return column * np.ones(len(x) + 1)[:, None]" in text
    assert lines[-1].startswith("ValueError: operands could not be broadcast")
    assert "dlfs" not in text and "numpy" not in text.replace("np.ones", "")
    assert "File " not in text  # no library or Python frame at all


def test_every_student_frame_on_the_way_is_shown(shell):
    run(shell, HELPER_BUG, "check_squares(squares)")
    text = shell.shown.text()
    assert text.startswith("CheckFailed: squares raised KeyError: 'factor'")
    cells = re.findall(r"Cell In\[\d+\], line \d+, in (\w+)", text)
    assert cells == ["squares", "scale"]
    assert text.splitlines()[-1] == "KeyError: 'factor'"


def test_a_stub_called_by_the_checked_function_is_pointed_at(shell):
    """squares is written but calls a helper that is still a stub: the frames show which one."""
    helper_stub = STUB.replace("def squares", "def helper") + "\ndef squares(x):\n    return helper(x)\n"
    run(shell, helper_stub, "check_squares(squares)")
    text = shell.shown.text()
    assert text.startswith("CheckFailed: squares is not implemented yet")
    assert re.findall(r"Cell In\[\d+\], line \d+, in (\w+)", text) == ["squares", "helper"]


@pytest.mark.parametrize(
    ("cell", "ename"),
    [
        ("def f():\n    raise ValueError('bad value')\nf()", "ValueError"),
        ("def f():\n    assert 1 + 1 == 3, 'arithmetic'\nf()", "AssertionError"),
        ("from dlfs.checks import fixture\nfixture('no_such_fixture')", "FileNotFoundError"),
    ],
    ids=["ValueError", "AssertionError", "error-inside-dlfs"],
)
def test_other_errors_keep_the_full_traceback(shell, cell, ename):
    run(shell, cell)
    (shown_name, _, _), text = shell.shown.errors[0], shell.shown.text()
    assert shown_name == ename
    assert "Traceback (most recent call last)" in text
    assert re.search(r"Cell In\[\d+\], line \d+", text)
    assert text.splitlines()[-1].startswith(f"{ename}: ")
    if ename == "FileNotFoundError":
        assert "dlfs/checks/__init__.py" in text.replace("\\", "/")  # library frames kept for other errors


def test_the_full_traceback_stays_one_magic_away(shell):
    run(shell, STUB, "check_squares(squares)")
    shell.shown.errors.clear()
    run(shell, "%tb")
    text = shell.shown.text()
    assert "The above exception was the direct cause of the following exception" in text
    assert "dlfs/checks/__init__.py" in text.replace("\\", "/")


def test_a_broken_display_falls_back_to_the_full_traceback(shell, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("display bug")

    monkeypatch.setattr(_display, "check_failure_lines", broken)
    run(shell, STUB, "check_squares(squares)")
    text = shell.shown.text()
    assert "Traceback (most recent call last)" in text
    assert text.splitlines()[-1].startswith("CheckFailed: squares is not implemented yet")
    assert _display.register(shell)  # still registered: the fallback did not unregister it


def test_the_real_week1_check_on_the_assignment_stub(shell):
    from dlfs.checks.w01_distances import l2_distances

    shell.user_ns["l2_distances"] = l2_distances
    stub = (
        "def l2_distances_two_loops(X, Y):\n    num_x, num_y = X.shape[0], Y.shape[0]\n"
        "    dists = np.zeros((num_x, num_y))\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
        "    return dists\n"
    )
    run(shell, stub, "l2_distances(l2_distances_two_loops)")
    assert shell.shown.text() == (
        "CheckFailed: l2_distances_two_loops is not implemented yet: replace `raise NotImplementedError()` "
        "with your code."
    )


def test_registration_is_idempotent_and_leaves_other_handlers_alone():
    ip = InteractiveShell.instance()
    try:
        assert _display.register(ip) and _display.register(ip)
        assert ip.custom_exceptions == (CheckFailed,)
        assert _display.unregister(ip) and ip.custom_exceptions == ()
        ip.set_custom_exc((KeyError,), lambda *args, **kwargs: None)
        assert not _display.register(ip)
        assert ip.custom_exceptions == (KeyError,)
    finally:
        ip.set_custom_exc((), None)
        _display.unregister(ip)


def test_outside_ipython_importing_dlfs_changes_nothing():
    """Plain Python (scripts, the grader's own process): no IPython import, no warning, no handler."""
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"
        "import dlfs\n"
        "assert 'IPython' not in sys.modules and 'dlfs.checks' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert not _display.register(object())  # not a shell: nothing to register with


@pytest.mark.pipeline
def test_in_a_jupyter_kernel_the_error_output_is_the_message(tmp_path):
    """The real path: a kernel as JupyterLab, the classic notebook, nbconvert and nbgrader run it."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import numpy as np\nfrom dlfs.checks import call, check_array"),
            nbformat.v4.new_code_cell(STUB),
            nbformat.v4.new_code_cell(
                "def check(fn):\n    check_array('squares', call(fn, np.arange(3.0)), np.arange(3.0) ** 2)"
            ),
            nbformat.v4.new_code_cell("check(squares)"),
            nbformat.v4.new_code_cell("raise ValueError('not a check')"),
        ]
    )
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    (failed,), (other,) = nb.cells[3].outputs, nb.cells[4].outputs
    assert (failed.output_type, failed.ename) == ("error", "CheckFailed")
    assert [ANSI.sub("", line) for line in failed.traceback] == [
        "CheckFailed: squares is not implemented yet: replace `raise NotImplementedError()` with your code."
    ]
    assert other.ename == "ValueError" and len(other.traceback) > 1
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "is not implemented yet" in html
    assert "dlfs/checks" not in html and "The above exception" not in html
