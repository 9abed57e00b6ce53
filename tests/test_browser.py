"""The student's path, in a real browser: JupyterLab started by `make lab`, driven by headless Chromium.

What a new student does in their first minutes, checked end to end: open the week's assignment, run
the check of a stub and see one line saying what to do (no frame of the course library), type a correct
answer into the editor and see the check pass, restart and run all, save; open the lecture and see its
figures; the student's Lab shows none of nbgrader's instructor tools and no news pop-up; the browser
console stays free of errors. The classic notebook interface shows the same one-line failure.

Each week's first graded function joins ``FIRST_TASKS`` when the week lands (a test below fails until
it does).

Runs Playwright for Python against the system's Chromium (the Debian package ``chromium``, or the
browser named by ``DLFS_CHROMIUM``); Playwright's own browser download is never used. Without a browser
or Playwright the tests skip, saying why, and fail instead when ``CI`` is set (``.ci/run`` installs
the browser). A failing test leaves a screenshot, the page's HTML and the console log in
``test-artifacts/browser/`` (or ``$DLFS_TEST_ARTIFACTS/browser``), next to the Lab's log and the
measured times (``timings.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("DLFS_TEST_ARTIFACTS") or REPO / "test-artifacts") / "browser"
IN_CI = bool(os.environ.get("CI"))

#: How Chromium runs here: headless, no sandbox (root in a container), no GPU, and none of the background
#: connections (updates, sync, QUIC) that a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Upper bounds (seconds) of the explicit conditions waited for; a healthy run needs a fraction of each.
SERVER_TIMEOUT = 180
KERNEL_TIMEOUT = 120
CELL_TIMEOUT = 90
UI_TIMEOUT = 30

# The browser tests are end to end; "browser" is to be registered in pyproject.toml, until then:
pytestmark = [pytest.mark.browser, pytest.mark.pipeline]


@dataclass(frozen=True)
class FirstTask:
    """A week's first graded function: its stub's check must fail in one line, the answer must pass."""

    week: str
    function: str
    answer: str  # a correct implementation, typed into the function's cell in place of the stub
    pass_line: str  # how the check's pass line starts


FIRST_TASKS = [
    FirstTask(
        week="week01_linear_algebra",
        function="l2_distances_two_loops",
        answer=(
            "def l2_distances_two_loops(X, Y):\n"
            "    num_x, num_y = X.shape[0], Y.shape[0]\n"
            "    dists = np.zeros((num_x, num_y))\n"
            "    for i in range(num_x):\n"
            "        for j in range(num_y):\n"
            "            dists[i, j] = np.sqrt(np.sum((X[i] - Y[j]) ** 2))\n"
            "    return dists"
        ),
        pass_line="\u2713 l2_distances_two_loops: ",
    ),
    FirstTask(
        week="week02_backprop",
        function="Perceptron",
        answer=(
            "class Perceptron:\n"
            "    def __init__(self, lr=1.0, max_epochs=100):\n"
            "        self.lr, self.max_epochs = lr, max_epochs\n"
            "\n"
            "    def fit(self, X, y):\n"
            "        self.w, self.b, self.errors_ = np.zeros(X.shape[1]), 0.0, []\n"
            "        for _ in range(self.max_epochs):\n"
            "            mistakes = 0\n"
            "            for x, t in zip(X, y):\n"
            "                if t * (x @ self.w + self.b) <= 0:\n"
            "                    self.w, self.b, mistakes = self.w + self.lr * t * x, self.b + self.lr * t, mistakes + 1\n"
            "            self.errors_.append(mistakes)\n"
            "            if mistakes == 0:\n"
            "                break\n"
            "        return self\n"
            "\n"
            "    def predict(self, X):\n"
            "        return np.where(X @ self.w + self.b >= 0, 1, -1)"
        ),
        pass_line="\u2713 Perceptron",
    ),
    FirstTask(
        week="week03_cnn",
        function="conv_output_size",
        answer=(
            "def conv_output_size(H, K, P, S):\n"
            "    if H < 1 or K < 1 or P < 0 or S < 1 or K > H + 2 * P:\n"
            "        raise ValueError(f'no output for H={H}, K={K}, P={P}, S={S}')\n"
            "    return (H + 2 * P - K) // S + 1"
        ),
        pass_line="\u2713 conv_output_size",
    ),
    FirstTask(
        week="week04_conv_from_scratch",
        function="conv_forward_naive",
        answer=(
            "def conv_forward_naive(x, w, b, stride=1, pad=0):\n"
            "    N, F = x.shape[0], w.shape[0]\n"
            "    KH, KW = w.shape[2:]\n"
            "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"
            "    OH = (xp.shape[2] - KH) // stride + 1\n"
            "    OW = (xp.shape[3] - KW) // stride + 1\n"
            "    out = np.zeros((N, F, OH, OW))\n"
            "    for n in range(N):\n"
            "        for f in range(F):\n"
            "            for i in range(OH):\n"
            "                for j in range(OW):\n"
            "                    patch = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]\n"
            "                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]\n"
            "    return out, (x, w, b, stride, pad)"
        ),
        pass_line="\u2713 conv_forward_naive",
    ),
    FirstTask(
        week="week05_gans_transformers",
        function="bce_with_logits_forward",
        answer=(
            "def bce_with_logits_forward(s, y):\n"
            "    loss = np.mean(np.logaddexp(0, s) - s * y)\n"
            "    return loss, (s, y)"
        ),
        pass_line="\u2713 bce_with_logits_forward",
    ),
]

LECTURES = sorted(path.parent.name for path in REPO.glob("week*/lecture.ipynb"))

#: What the student's Lab must not show: nbgrader's instructor tools and Jupyter's news question.
NEWS_QUESTION = "Would you like to get notified about official Jupyter news?"
STUDENT_DISABLED = [
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:validate-assignment",
    "@jupyterlab/apputils-extension:announcements",
]

TIMINGS: dict[str, float] = {}


# ----------------------------------------------------------------------------------------- notebooks


def _cells(week: str, name: str = "assignment.ipynb") -> list[dict]:
    return json.loads((REPO / week / name).read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


@dataclass(frozen=True)
class TaskCells:
    function: int  # index of the cell that defines the function
    check: int  # index of its first visible check cell
    before: list[int] = field(default_factory=list)  # the code cells to run first (imports, set-up)


def task_cells(task: FirstTask) -> TaskCells:
    """Where the task's function and its visible check are in the student's notebook."""
    cells = _cells(task.week)
    code = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code" and _source(cell).strip()]
    function = next(i for i in code if re.search(rf"^(def|class) {task.function}\b", _source(cells[i]), re.M))
    check = next(
        i for i in code if i > function and re.search(rf"\bchecks\.\w+\(\s*{task.function}\b", _source(cells[i]))
    )
    return TaskCells(function, check, [i for i in code if i < function])


def test_every_assignment_has_its_first_task_in_the_browser_test():
    """A week that lands with an assignment adds its first graded function to FIRST_TASKS."""
    weeks = sorted(path.parent.name for path in REPO.glob("week*/assignment.ipynb"))
    assert weeks, "no assignment found"
    assert sorted(task.week for task in FIRST_TASKS) == weeks
    for task in FIRST_TASKS:
        where = task_cells(task)
        stub = _source(_cells(task.week)[where.function])
        assert "raise NotImplementedError()" in stub, f"{task.function} is not a stub in the student's notebook"


# ------------------------------------------------------------------------------- browser and server


def _require(available: bool, reason: str) -> None:
    """Skip with the reason; under CI (where .ci/run installs the browser) fail instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason}; CI must run the browser test (.ci/run installs Chromium)", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    named = os.environ.get("DLFS_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    _require(path is not None, "no Chromium to drive: install the Debian package `chromium` (or set DLFS_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require(False, "Playwright is not installed: `make setup` installs requirements-dev.txt")
    _require(shutil.which("make") is not None, "`make` is missing: the test starts the Lab as `make lab` does")
    _require((REPO / ".venv" / "bin" / "jupyter").exists(), "no .venv with Jupyter: run `make setup` first")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    """A running student Lab: the `make lab` process group, its address and its folder of notebooks."""

    process: subprocess.Popen
    base: str
    token: str
    root: Path
    started: float  # time.monotonic() when `make lab` was started
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            self.url(path), method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_of(self, path: str) -> str | None:
        """The id of the kernel of the notebook at ``path`` (relative to the Lab's root), once it has one."""
        for session in self.api("GET", "api/sessions") or []:
            if session.get("path") == path and session.get("kernel"):
                return session["kernel"]["id"]
        return None

    def copy(self, week: str, label: str) -> str:
        """A fresh copy of a week's folder for one test (own files, own kernels); its path in the Lab."""
        shutil.copytree(REPO / week, self.root / label / week)
        return f"{label}/{week}"


def _log_tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _stop(lab: Lab) -> None:
    """Shut the Lab down (kernels first), then make sure its whole process group is gone."""
    with contextlib.suppress(Exception):
        for kernel in lab.api("GET", "api/kernels") or []:
            with contextlib.suppress(Exception):
                lab.api("DELETE", f"api/kernels/{kernel['id']}")
        lab.api("POST", "api/shutdown")
    with contextlib.suppress(subprocess.TimeoutExpired):
        lab.process.wait(timeout=20)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(lab.process.pid, sig)
        except ProcessLookupError:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            lab.process.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory) -> Iterator[Lab]:
    """The student's Lab, started as `make lab` starts it, on a free port with a token, over a scratch
    folder (the tests type into notebooks; the repository's stay untouched) and scratch Jupyter state
    (no user config, kernels, settings, workspaces or answered pop-ups leak in)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    root, state = tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-state")
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in {"JUPYTER_CONFIG_PATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
    )
    args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}"
    )
    # `-o .venv/.installed`: use the environment the tests run in, never reinstall it mid-test.
    command = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", "lab",
               f"LAB_ROOT={root}", f"LAB_ARGS={args}"]
    log = ARTIFACTS / "jupyter-lab.log"
    with open(log, "w", encoding="utf-8") as out:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(process, f"http://127.0.0.1:{port}", token, root, started, log)
    try:
        deadline = started + SERVER_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"`make lab` exited with {process.returncode}:\n{_log_tail(log)}", pytrace=False)
            try:
                lab.api("GET", "api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the Lab did not answer within {SERVER_TIMEOUT} s:\n{_log_tail(log)}",
                                pytrace=False)
                time.sleep(0.2)  # polling interval; the condition is the server answering
        TIMINGS["make lab -> server answers (s)"] = round(time.monotonic() - started, 2)
        yield lab
    finally:
        _stop(lab)
        (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n", encoding="utf-8")


class Console:
    """The browser console's errors and the page's uncaught exceptions, since the last clear()."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(
            f"console.error: {message.text} ({message.location.get('url', '')})"))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def clear(self) -> None:
        self.errors.clear()


class Kernels:
    """When each kernel first answered the page: the time its ``kernel_info_reply`` reached the browser
    (JupyterLab asks for it as soon as it connects; the answer means the kernel is ready to run code)."""

    def __init__(self, page):
        self.ready: dict[str, float] = {}
        page.on("websocket", self._watch)

    def _watch(self, socket) -> None:
        found = re.search(r"/api/kernels/([^/?]+)/channels", socket.url)
        if not found:
            return
        kernel = found.group(1)

        def received(payload) -> None:
            data = payload.encode() if isinstance(payload, str) else payload
            if kernel not in self.ready and b"kernel_info_reply" in data:
                self.ready[kernel] = time.monotonic()

        socket.on("framereceived", received)


@dataclass
class Browser:
    page: object
    console: Console
    kernels: Kernels

    def wait_for(self, condition, seconds: float, what: str):
        """Poll ``condition`` (letting the page's events in) until it returns something true."""
        deadline = time.monotonic() + seconds
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"waited {seconds} s for {what}", pytrace=False)
            self.page.wait_for_timeout(100)  # polling interval; the condition is what is waited for


@pytest.fixture(scope="module")
def browser(lab, chromium) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = chrome.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT * 1000)
            yield Browser(page, Console(page), Kernels(page))
        finally:
            chrome.close()


@pytest.fixture
def student(browser, lab) -> Iterator[Browser]:
    """The browser for one test, its console errors counted from the test's start; the test's
    notebooks and kernels are shut down after it."""
    browser.console.clear()
    yield browser
    with contextlib.suppress(Exception):
        browser.page.goto("about:blank")
        for session in lab.api("GET", "api/sessions") or []:
            lab.api("DELETE", f"api/sessions/{session['id']}")


#: Console errors of the classic interface (Notebook 7.6.5) that come from upstream, not from the course:
#: each also shows without the course's settings, and none hides what the student sees of a check.
KNOWN_CLASSIC_ERRORS = [
    # notebook's keyboard-shortcut settings plugin, on every page load (also in the instructor's face)
    re.compile(r"uncaught: Cannot read properties of undefined \(reading 'schema'\)"),
    # notebook's URL routing after JupyterLab ran in the same browser (the Lab's file browser is absent)
    re.compile(r"uncaught: Command 'filebrowser:open-path' not registered\."),
    # jupyter_server's static-file handler caches a path per file name across applications: once the Lab
    # served a font, /static/notebook/ refuses the font of the same name (403) and the page falls back
    re.compile(r"console\.error: Failed to load resource: .*403 \(Forbidden\) \(\S+/static/notebook/\w+\.woff2?\)"),
]


@contextlib.contextmanager
def keep_artifacts_on_failure(browser: Browser, name: str, known: list[re.Pattern] = ()) -> Iterator[None]:
    """Fail on browser console errors (but ``known`` ones); on any failure keep a screenshot, the page
    and the console log."""
    try:
        yield
        errors = [error for error in browser.console.errors if not any(k.fullmatch(error) for k in known)]
        assert errors == [], "errors in the browser console:\n" + "\n".join(errors)
    except BaseException:
        stem = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        with contextlib.suppress(Exception):
            browser.page.screenshot(path=f"{stem}.png", full_page=True)
        with contextlib.suppress(Exception):
            Path(f"{stem}.html").write_text(browser.page.content(), encoding="utf-8")
        with contextlib.suppress(Exception):
            Path(f"{stem}.console.txt").write_text("\n".join(browser.console.errors) + "\n", encoding="utf-8")
        raise


# --------------------------------------------------------------------------------------- page helpers


def open_notebook(browser: Browser, lab: Lab, path: str, interface: str = "lab", workspace: str = "default"):
    """Open a notebook as a student does (``lab``: JupyterLab, in its own workspace so that no earlier
    tab is restored; ``notebooks``: the classic Notebook 7 interface) and wait until its kernel is ready:
    it has answered the page and the notebook shows it idle. Returns the notebook panel and the seconds
    from opening to the ready kernel."""
    from playwright.sync_api import expect

    page = browser.page
    opened = time.monotonic()
    where = f"lab/workspaces/{workspace}/tree/{path}" if interface == "lab" else f"notebooks/{path}"
    page.goto(lab.url(f"{where}?token={lab.token}"))
    kernel = browser.wait_for(lambda: lab.kernel_of(path), KERNEL_TIMEOUT, f"a kernel for {path}")
    ready = browser.wait_for(lambda: browser.kernels.ready.get(kernel), KERNEL_TIMEOUT,
                             f"the kernel of {path} to answer")
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_TIMEOUT * 1000)
    TIMINGS.setdefault("make lab -> first notebook's kernel ready (s)", round(ready - lab.started, 2))
    return panel, ready - opened


def cell(panel, index: int):
    return panel.locator(".jp-Notebook .jp-Cell").nth(index)


def run_cell(browser: Browser, panel, index: int, count: int) -> None:
    """Select a cell, Shift+Enter, wait for its execution count to become ``count``."""
    from playwright.sync_api import expect

    target = cell(panel, index)
    target.locator(".jp-InputPrompt").click()
    browser.page.keyboard.press("Shift+Enter")
    expect(target.locator(".jp-InputPrompt")).to_have_text(f"[{count}]:", timeout=CELL_TIMEOUT * 1000)


def output_text(panel, index: int) -> str:
    """The text of a cell's outputs (their DOM text: a cell scrolled out of view is not laid out)."""
    from playwright.sync_api import expect

    outputs = cell(panel, index).locator(".jp-OutputArea-output")
    expect(outputs.first).to_have_text(re.compile(r"\S"))
    return "\n".join(text.strip() for text in outputs.all_text_contents())


def assert_one_line_failure(text: str, function: str) -> None:
    """What a student must see for a stub: the check's message, alone, and no library frame."""
    assert text.splitlines() == [text], f"more than the message:\n{text}"
    assert re.match(rf"CheckFailed: {function}(\.\w+)? is not implemented yet", text), text  # a class names its method
    for noise in ("dlfs/", "dlfs\\", "Traceback", "File ", "NotImplementedError      "):
        assert noise not in text, f"{noise!r} in what the student sees:\n{text}"


# ------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("task", FIRST_TASKS, ids=lambda task: task.week)
def test_stub_check_fails_in_one_line_then_the_typed_answer_passes(student, lab, task):
    from playwright.sync_api import expect

    where = task_cells(task)
    label = f"first-task-{task.week}"
    folder = lab.copy(task.week, label)
    with keep_artifacts_on_failure(student, label):
        panel, seconds = open_notebook(student, lab, f"{folder}/assignment.ipynb", workspace=label)
        TIMINGS.setdefault("open the assignment -> kernel ready (s)", round(seconds, 2))
        expect(panel.locator(".jp-Notebook .jp-Cell")).to_have_count(len(_cells(task.week)))
        count = 0
        for index in [*where.before, where.function, where.check]:
            count += 1
            run_cell(student, panel, index, count)

        # the stub's check: one line, on screen where the student ran it
        expect(cell(panel, where.check).locator(".jp-OutputArea-output")).to_be_in_viewport()
        assert_one_line_failure(output_text(panel, where.check), task.function)

        # type the answer into the function's cell, run it (Shift+Enter from the editor), run the check
        editor = cell(panel, where.function).locator(".cm-content")
        editor.click()
        student.page.keyboard.press("ControlOrMeta+a")
        student.page.keyboard.insert_text(task.answer)
        expect(editor).to_contain_text(task.answer.splitlines()[-2].strip())
        student.page.keyboard.press("Shift+Enter")
        count += 1
        expect(cell(panel, where.function).locator(".jp-InputPrompt")).to_have_text(
            f"[{count}]:", timeout=CELL_TIMEOUT * 1000)
        count += 1
        run_cell(student, panel, where.check, count)
        passed = output_text(panel, where.check)
        assert passed.startswith(task.pass_line) and len(passed.splitlines()) == 1, passed


def test_student_lab_has_no_instructor_tools_and_no_news_popup(student, lab):
    from playwright.sync_api import expect

    task = FIRST_TASKS[0]
    folder = lab.copy(task.week, "tools")
    page = student.page
    with keep_artifacts_on_failure(student, "no-instructor-tools"):
        panel, _ = open_notebook(student, lab, f"{folder}/assignment.ipynb", workspace="tools")
        config = json.loads(page.locator("#jupyter-config-data").text_content())
        disabled = config.get("disabledExtensions", [])
        assert set(STUDENT_DISABLED) <= set(disabled), disabled
        menus = page.locator("#jp-menu-panel .lm-MenuBar-itemLabel").all_inner_texts()
        assert "Kernel" in menus and not any("nbgrader" in menu.lower() for menu in menus), menus
        tabs = [tab.get_attribute("title") or "" for tab in page.locator(".jp-SideBar .lm-TabBar-tab").all()]
        assert tabs and not any("assignment" in tab.lower() or "nbgrader" in tab.lower() for tab in tabs), tabs
        expect(panel.get_by_role("button", name="Validate")).to_have_count(0)
        expect(page.get_by_text(NEWS_QUESTION)).to_have_count(0)
        # nor on the server: no formgrader, no nbgrader handlers
        for path in ("formgrader", "assignments", "courses"):
            response = page.request.get(lab.url(path), headers={"Authorization": f"token {lab.token}"})
            assert response.status == 404, (path, response.status)


def test_restart_and_run_all_then_save_gives_the_file_to_hand_in(student, lab):
    """From the first cell: the toolbar's restart-and-run-all button is there, the Kernel menu's
    "Restart Kernel and Run All Cells..." reruns the notebook in a fresh kernel (stopping at the stub's
    failing check, shown in one line), and Ctrl+S writes that to the file the student hands in."""
    from playwright.sync_api import expect

    task = FIRST_TASKS[0]
    where = task_cells(task)
    folder = lab.copy(task.week, "run-all")
    page = student.page
    with keep_artifacts_on_failure(student, "restart-run-all"):
        panel, _ = open_notebook(student, lab, f"{folder}/assignment.ipynb", workspace="run-all")
        for count, index in enumerate(where.before, start=1):  # some work first, as a student would
            run_cell(student, panel, index, count)
        cell(panel, 0).click()
        button = panel.locator(".jp-NotebookPanel-toolbar [data-command='notebook:restart-run-all']")
        expect(button).to_be_visible()
        expect(button).to_have_attribute("title", "Restart the kernel and run all cells")
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Kernel").click()
        page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").click()
        accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        expect(accept).to_have_text("Restart")
        accept.click()
        ran = len(where.before) + 2  # a fresh kernel counts from 1: set-up, the function, its check
        expect(cell(panel, where.check).locator(".jp-InputPrompt")).to_have_text(
            f"[{ran}]:", timeout=CELL_TIMEOUT * 1000)
        assert_one_line_failure(output_text(panel, where.check), task.function)

        saved = lab.root / folder / "assignment.ipynb"
        page.keyboard.press("ControlOrMeta+s")

        def saved_outputs():
            return json.loads(saved.read_text(encoding="utf-8"))["cells"][where.check].get("outputs")

        outputs = student.wait_for(saved_outputs, UI_TIMEOUT, "the saved notebook to hold the check's output")
        assert [output["output_type"] for output in outputs] == ["error"]
        assert outputs[0]["ename"] == "CheckFailed" and len(outputs[0]["traceback"]) == 1


def test_classic_notebook_shows_the_same_one_line_failure(student, lab):
    task = FIRST_TASKS[0]
    where = task_cells(task)
    folder = lab.copy(task.week, "classic")
    with keep_artifacts_on_failure(student, "classic-notebook", known=KNOWN_CLASSIC_ERRORS):
        panel, _ = open_notebook(student, lab, f"{folder}/assignment.ipynb", interface="notebooks")
        for count, index in enumerate([*where.before, where.function, where.check], start=1):
            run_cell(student, panel, index, count)
        assert_one_line_failure(output_text(panel, where.check), task.function)


@pytest.mark.parametrize("week", LECTURES)
def test_lecture_figures_render(student, lab, week):
    from playwright.sync_api import expect

    figures = sum("image/png" in output.get("data", {})
                  for c in _cells(week, "lecture.ipynb") for output in c.get("outputs", []))
    assert figures > 0, "the committed lecture has no figure"
    label = f"lecture-{week}"
    folder = lab.copy(week, label)
    with keep_artifacts_on_failure(student, label):
        panel, _ = open_notebook(student, lab, f"{folder}/lecture.ipynb", workspace=label)
        images = panel.locator(".jp-RenderedImage img")
        expect(images).to_have_count(figures)
        # scroll to each figure as a reader does, wait until the browser has decoded it, measure it on screen
        shown = images.evaluate_all(
            """async images => {
                const sizes = [];
                for (const image of images) {
                    image.scrollIntoView({block: "center"});
                    await image.decode();
                    const box = image.getBoundingClientRect();
                    sizes.push([image.naturalWidth, image.naturalHeight, box.width, box.height]);
                }
                return sizes;
            }"""
        )
        small = [size for size in shown if min(size) < 50]
        assert len(shown) == figures and not small, f"figures not rendered (natural w, h, shown w, h): {small}"
