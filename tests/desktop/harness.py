"""The real Retrace app in a real webview: the built `retrace-desktop`, started by
`tauri-driver` (which runs WebKitWebDriver, WebKitGTK's own WebDriver) on an Xvfb display,
driven with Selenium over W3C WebDriver. Nothing here stands in for the app.

Each `App` gets its own XDG directories, so a test never sees a user's data or another
test's, and its own tauri-driver, so the app inherits that environment. Screenshots go to
`$RETRACE_SCREENSHOTS` (by default `<target dir>/screenshots/desktop`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from typing import Callable, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.remote_connection import RemoteConnection
from selenium.webdriver.remote.webelement import WebElement

from tests.conftest import REPO, bin_dir, binary

T = TypeVar("T")


def tauri_driver() -> pathlib.Path:
    """tauri-driver, as scripts/setup installs it (cached outside the clone), or on PATH."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    for candidate in (
        os.environ.get("RETRACE_TAURI_DRIVER"),
        str(cache / "retrace" / "tauri-driver" / "bin" / "tauri-driver"),
        shutil.which("tauri-driver"),
    ):
        if candidate and pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    pytest.fail("tauri-driver is not installed: run scripts/setup (it installs it with cargo install --locked)")


def screenshots_dir() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("RETRACE_SCREENSHOTS") or bin_dir().parent / "screenshots" / "desktop")
    d.mkdir(parents=True, exist_ok=True)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Display:
    """An Xvfb server for the whole test session (`-displayfd` picks a free display)."""

    def __init__(self):
        if not shutil.which("Xvfb"):
            pytest.fail("Xvfb is missing: run scripts/setup (it installs xvfb)")
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
            pass_fds=(w,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()
        if not number:
            self.close()
            pytest.fail("Xvfb did not start")
        self.name = f":{number}"

    def close(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)


class TauriOptions(ArgOptions):
    """The capabilities tauri-driver expects: the app to start, as `tauri:options`."""

    def __init__(self, application: pathlib.Path):
        super().__init__()
        self.application = application

    def to_capabilities(self) -> dict:
        return {"browserName": "wry", "tauri:options": {"application": str(self.application)}}


class Dirs:
    """The app's and the tools' directories for one test (one simulated user)."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.home = root / "home"
        self.data = root / "data"
        self.config = root / "config"
        self.cache = root / "cache"
        self.runtime = root / "runtime"
        for d in (self.home, self.data, self.config, self.cache, self.runtime):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.data),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_CACHE_HOME": str(self.cache),
            "XDG_RUNTIME_DIR": str(self.runtime),
        }


class App:
    """One run of the app, from start to quit."""

    def __init__(self, display: Display, dirs: Dirs, name: str, extra_env: dict[str, str] | None = None):
        self.dirs = dirs
        self.name = name
        self.display = display.name
        self.shots = 0
        port, native = free_port(), free_port()
        # WebKitWebDriver's screenshots never come back from a webview without compositing,
        # which the app turns off on a machine without a GPU (desktop/src-tauri/src/
        # rendering.rs) unless the variable is set: the driven app keeps it.
        env = dict(os.environ, DISPLAY=display.name, WEBKIT_DISABLE_COMPOSITING_MODE="0", **dirs.env(),
                   **(extra_env or {}))
        # The app inherits tauri-driver's environment (through WebKitWebDriver). Its own
        # stderr (the app's log) is kept for the failure report.
        self.log_path = dirs.root / f"tauri-driver-{name}.log"
        self.log = open(self.log_path, "wb")
        self.driver_proc = subprocess.Popen(
            [str(tauri_driver()), "--port", str(port), "--native-port", str(native)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.driver: webdriver.Remote | None = None
        self.leftovers: list[str] = []
        try:
            # tauri-driver listens at once, but forwards to WebKitWebDriver, which starts after.
            self._wait_port(port)
            self._wait_port(native)
            connection = RemoteConnection(client_config=ClientConfig(remote_server_addr=f"http://127.0.0.1:{port}"))
            self.driver = webdriver.Remote(command_executor=connection, options=TauriOptions(binary("retrace-desktop")))
            self.driver.implicitly_wait(0)
            self.wait(lambda: self.driver.execute_script("return document.readyState") == "complete")
        except Exception:
            self.quit()
            raise

    def _wait_port(self, port: int, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.driver_proc.poll() is not None:
                raise RuntimeError(f"tauri-driver exited: {self.log_path.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("tauri-driver did not listen in time")

    # --- looking at the app ---------------------------------------------------------
    def wait(self, check: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except (StaleElementReferenceException, WebDriverException) as e:
                last = e
            else:
                if last:
                    return last  # type: ignore[return-value]
            time.sleep(0.05)
        self.screenshot(f"timeout-{what.replace(' ', '-')}")
        raise AssertionError(f"{what} not met within {timeout}s; last: {last!r}")

    def find(self, css: str) -> list[WebElement]:
        assert self.driver is not None
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def one(self, css: str, timeout: float = 10.0) -> WebElement:
        return self.wait(lambda: (self.find(css) or [None])[0], timeout, f"an element {css}")

    def text(self, css: str) -> str:
        return self.one(css).text

    def press(self, *keys: str):
        """Key presses sent to the page, as a person types them."""
        assert self.driver is not None
        webdriver.ActionChains(self.driver).send_keys(*keys).perform()

    def screenshot(self, label: str) -> pathlib.Path | None:
        if self.driver is None:
            return None
        self.shots += 1
        path = screenshots_dir() / f"{self.name}-{self.shots:02d}-{label}.png"
        with contextlib.suppress(WebDriverException):
            self.painted()
            self.driver.save_screenshot(str(path))
        return path

    def painted(self):
        """Waits until what the DOM holds now has been painted (two animation frames): a
        screenshot taken right after a change can otherwise show the frame before it."""
        assert self.driver is not None
        self.driver.execute_async_script(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));"
        )

    def js(self, script: str, *args):
        assert self.driver is not None
        return self.driver.execute_script(script, *args)

    # --- ending -----------------------------------------------------------------------
    def quit(self):
        if self.driver is not None:
            with contextlib.suppress(WebDriverException):
                self.driver.quit()
            self.driver = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.driver_proc.pid, signal.SIGTERM)
        try:
            self.driver_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.driver_proc.pid, signal.SIGKILL)
            self.driver_proc.wait(timeout=10)
        self.log.close()
        # tauri-driver, WebKitWebDriver and the app share the process group started above.
        deadline = time.monotonic() + 10
        while left_running(self.driver_proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.leftovers = left_running(self.driver_proc.pid)
        if self.leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.driver_proc.pid, signal.SIGKILL)


def left_running(group: int) -> list[str]:
    """Processes of a process group still running (zombies, already ended, do not count)."""
    out = subprocess.run(["ps", "-e", "-o", "pgid=,pid=,stat=,args="], capture_output=True, text=True).stdout
    left = []
    for line in out.splitlines():
        pgid, pid, stat, args = (line.split(None, 3) + [""])[:4]
        if int(pgid) == group and not stat.startswith("Z"):
            left.append(f"{pid} {args}")
    return left


def update_docs_screenshot(shot: pathlib.Path | None, name: str):
    """With RETRACE_UPDATE_DOCS=1, copies a screenshot to docs/ (the README shows it)."""
    if shot and shot.exists() and os.environ.get("RETRACE_UPDATE_DOCS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / name)
