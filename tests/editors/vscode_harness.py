"""VS Code itself for the extension's end-to-end tests: code-server (VS Code's workbench served
to a browser, with a real extension host running the real extension) driven in Debian's
Chromium through Playwright, against the real retrace-lsp.

scripts/setup installs code-server and the Node.js it runs on into the cache
(tests/editors/code-server.env names the versions). Each code-server runs in its own process
group, which `stop()` ends whole: the extension hosts and their retrace-lsp servers with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import REPO, binary

EXTENSION = REPO / "editors" / "vscode"
ENV_FILE = pathlib.Path(__file__).resolve().parent / "code-server.env"
# Where the screenshots go (not committed): one directory per test.
OUTPUT = pathlib.Path(os.environ.get("RETRACE_TEST_OUTPUT", REPO / "tests" / "output"))
# Debian's Chromium, headless, with nothing that reaches the network.
CHROMIUM = "/usr/bin/chromium"
# VS Code in a browser on a loaded 2-core machine: give the UI time.
expect.set_options(timeout=30_000)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def versions() -> dict[str, str]:
    """code-server.env: CODE_SERVER_VERSION and NODE_VERSION."""
    out = {}
    for line in ENV_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


def cache() -> pathlib.Path:
    return pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "retrace"


def node_bin() -> pathlib.Path:
    """The directory of the Node.js code-server runs on (node, npm)."""
    path = cache() / f"node-{versions()['NODE_VERSION']}" / "bin"
    if not (path / "node").exists():
        pytest.fail(f"Node.js for code-server is not in {path}: run scripts/setup")
    return path


def code_server_entry() -> pathlib.Path:
    home = cache() / f"code-server-{versions()['CODE_SERVER_VERSION']}"
    entry = home / "lib" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
    if not (home / ".installed").exists() or not entry.exists():
        pytest.fail(f"code-server is not installed in {home}: run scripts/setup (a few minutes, once)")
    return entry


def tool_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PATH=f"{node_bin()}:{os.environ['PATH']}", **extra)


def build_vsix(out: pathlib.Path) -> pathlib.Path:
    """Packages the extension from the sources (vsce runs the bundle step)."""
    vsix = out / "retrace.vsix"
    vsce = EXTENSION / "node_modules" / "@vscode" / "vsce" / "vsce"
    if not vsce.exists():
        pytest.fail(f"{vsce} is missing: run scripts/setup (npm ci in editors/vscode)")
    subprocess.run([str(node_bin() / "node"), str(vsce), "package", "--no-dependencies",
                    "--allow-missing-repository", "--out", str(vsix)],
                   cwd=EXTENSION, env=tool_env(), check=True, capture_output=True, text=True)
    return vsix


def install_extension(vsix: pathlib.Path, extensions: pathlib.Path) -> None:
    subprocess.run([str(node_bin() / "node"), str(code_server_entry()), "--extensions-dir", str(extensions),
                    "--install-extension", str(vsix)],
                   env=tool_env(), check=True, capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_members(pgid: int) -> list[str]:
    """The live processes of a process group, as "pid command"."""
    out = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(f"{stat.parent.name} {(stat.parent / 'cmdline').read_bytes()[:120]!r}")
    return out


class CodeServer:
    """One code-server on a free port, with its own user data, settings and config file."""

    def __init__(self, tmp: pathlib.Path, extensions: pathlib.Path, data_home: pathlib.Path,
                 settings: dict[str, Any]):
        self.tmp = tmp
        self.user_data = tmp / "user-data"
        (self.user_data / "User").mkdir(parents=True)
        (self.user_data / "Machine").mkdir()
        self.set_settings(settings)
        self.port = free_port()
        self.log_path = tmp / "code-server.log"
        env = tool_env(XDG_DATA_HOME=str(data_home), XDG_CONFIG_HOME=str(tmp / "config"))
        argv = [str(node_bin() / "node"), str(code_server_entry()), "--auth", "none",
                "--bind-addr", f"127.0.0.1:{self.port}", "--disable-telemetry", "--disable-update-check",
                "--disable-workspace-trust", "--disable-getting-started-override",
                "--config", str(tmp / "config.yaml"), "--user-data-dir", str(self.user_data),
                "--extensions-dir", str(extensions)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.pgid = self.process.pid
        deadline = time.monotonic() + 60
        while "HTTP server listening" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"code-server did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def set_settings(self, settings: dict[str, Any]) -> None:
        """Writes the settings; a running VS Code picks them up (it watches the files). To
        VS Code, code-server is a remote machine: `retrace.serverPath` (scope
        machine-overridable: a path on the machine that runs the server) is read from the
        remote machine's settings (Machine/settings.json), not from the user's."""
        base = {
            "workbench.startupEditor": "none",
            "workbench.secondarySideBar.defaultVisibility": "hidden",
            "workbench.tips.enabled": False,
            "workbench.enableExperiments": False,
            "extensions.autoCheckUpdates": False,
            "extensions.autoUpdate": False,
            "telemetry.telemetryLevel": "off",
            "security.workspace.trust.enabled": False,
            "chat.disableAIFeatures": True,
            "editor.minimap.enabled": False,
            "window.commandCenter": False,
            "files.exclude": {"**/.git": True},
        }
        base.update(settings)
        (self.user_data / "User" / "settings.json").write_text(json.dumps(base, indent=2))
        (self.user_data / "Machine" / "settings.json").write_text(json.dumps(settings, indent=2))

    def url(self, folder: pathlib.Path) -> str:
        return f"http://127.0.0.1:{self.port}/?folder={folder}"

    def stop(self) -> None:
        """Ends the whole process group and checks that nothing of it is left."""
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, sig)
            deadline = time.monotonic() + wait
            while group_members(self.pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.1)
            if not group_members(self.pgid):
                return
        raise AssertionError(f"code-server's processes outlived SIGKILL: {group_members(self.pgid)}")


class Workbench:
    """A VS Code window in the browser, used through its UI as a person would."""

    # Screenshots taken so far, per directory (windows of one test number them in one row).
    _taken: dict[pathlib.Path, int] = {}

    def __init__(self, page: Page, shots: pathlib.Path, name: str):
        self.page = page
        self.shots = shots
        self.name = name

    @classmethod
    def open(cls, browser: Browser, server: CodeServer, folder: pathlib.Path, shots: pathlib.Path,
             name: str = "window") -> "Workbench":
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(server.url(folder))
        bench = cls(page, shots, name)
        page.locator(".monaco-workbench").wait_for(timeout=60_000)
        page.locator(".explorer-folders-view").wait_for(timeout=60_000)
        # The files pane shares the explorer with the Retrace view: folded, it leaves the
        # view room for every row (its list draws only the rows that fit).
        files = page.locator(".pane-header", has_text=folder.name).first
        if files.get_attribute("aria-expanded") == "true":
            files.click()
            expect(files).to_have_attribute("aria-expanded", "false")
        return bench

    def close(self) -> None:
        self.page.context.close()

    def shot(self, name: str) -> pathlib.Path:
        """Saves a screenshot of the window as it is now."""
        count = self._taken.get(self.shots, 0) + 1
        self._taken[self.shots] = count
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{count:02d}-{self.name}-{name}.png"
        self.page.screenshot(path=str(path), animations="disabled")
        return path

    # --- the quick input: Quick Open, the command palette, QuickPicks ------------------------
    @property
    def quick_input(self) -> Locator:
        return self.page.locator(".quick-input-widget")

    def wait_input(self) -> None:
        """Waits until the quick input is open and has the keyboard."""
        expect(self.quick_input).to_be_visible()
        expect(self.quick_input.locator("input.input")).to_be_focused()

    def rows(self) -> Locator:
        return self.quick_input.locator(".monaco-list-row")

    def row_labels(self) -> list[str]:
        """The rows of the open QuickPick, as their labels and descriptions read."""
        expect(self.rows().first).to_be_visible()
        return [" ".join(r.inner_text().split()) for r in self.rows().all()]

    def type(self, text: str) -> None:
        """Types into the quick input and waits until it holds the text (keys typed while it
        is still setting itself up can be lost)."""
        field = self.quick_input.locator("input.input")
        field.fill(text)
        expect(field).to_have_value(text)

    def _type_and_choose(self, text: str, row_text: str) -> None:
        self.type(text)
        row = self.rows().filter(has_text=row_text).first
        expect(row).to_be_visible()
        expect(self.rows().first).to_contain_text(row_text)
        self.page.keyboard.press("Enter")
        expect(self.quick_input).to_be_hidden()

    def command(self, title: str) -> None:
        """Runs a command from the command palette (F1) by its title."""
        self.page.keyboard.press("F1")
        self.wait_input()
        self._type_and_choose(f">{title}", title)

    def command_picks(self, title: str) -> None:
        """Runs a command that answers with a QuickPick (left open for the test)."""
        self.page.keyboard.press("F1")
        self.wait_input()
        self.type(f">{title}")
        expect(self.rows().first).to_contain_text(title)
        self.page.keyboard.press("Enter")

    def pick(self, text: str) -> None:
        self.rows().filter(has_text=text).first.click()
        expect(self.quick_input).to_be_hidden()

    def quick_open(self, name: str) -> None:
        """Opens a file through Quick Open (Ctrl+P)."""
        self.page.keyboard.press("Control+p")
        self.wait_input()
        self._type_and_choose(name, name)
        self.wait_editor(name)

    def go_to_line(self, line: int) -> None:
        """Go to Line (Ctrl+P, then `:line`)."""
        self.page.keyboard.press("Control+p")
        self.wait_input()
        self.type(f":{line}")
        expect(self.rows().first).to_contain_text(f"line {line}")
        self.page.keyboard.press("Enter")
        expect(self.quick_input).to_be_hidden()
        self.wait_line(line)

    # --- where the editor is -----------------------------------------------------------------
    def active_tab(self) -> str:
        return self.page.locator(".tabs-container .tab.active").get_attribute("data-resource-name") or ""

    def wait_editor(self, name: str) -> None:
        expect(self.page.locator(".tabs-container .tab.active")).to_have_attribute("data-resource-name", name)

    def wait_line(self, line: int) -> None:
        expect(self.page.locator("#status\\.editor\\.selection")).to_contain_text(f"Ln {line},")

    def place(self) -> tuple[str, int]:
        text = self.page.locator("#status\\.editor\\.selection").inner_text()
        match = re.search(r"Ln (\d+)", text)
        assert match, text
        return self.active_tab(), int(match.group(1))

    def wait_place(self, name: str, line: int) -> None:
        self.wait_editor(name)
        self.wait_line(line)

    # --- the extension's UI ------------------------------------------------------------------
    def status(self) -> Locator:
        """The extension's status bar item (id: the extension's id)."""
        return self.page.locator("[id='retrace.retrace']")

    def tree_view(self) -> Locator:
        return self.page.locator(".pane").filter(has=self.page.locator(".pane-header", has_text="Retrace"))

    def tree_rows(self) -> list[str]:
        rows = self.tree_view().locator(".monaco-list-row")
        return [" ".join(r.inner_text().split()) for r in rows.all()]

    def notifications(self) -> list[str]:
        return [" ".join(t.split()) for t in
                self.page.locator(".notification-toast .notification-list-item-message").all_inner_texts()]


def cli_tree(workspace: pathlib.Path, data_home: pathlib.Path) -> dict:
    """`retrace-lsp tree --json`: what the database holds."""
    out = subprocess.run([str(binary("retrace-lsp")), "tree", "--json", "--workspace", str(workspace)],
                         capture_output=True, text=True, env=dict(os.environ, XDG_DATA_HOME=str(data_home)))
    if out.returncode != 0:
        return {"nodes": [], "error": out.stderr}
    return json.loads(out.stdout)


def cli_nodes(workspace: pathlib.Path, data_home: pathlib.Path) -> list[str]:
    return [f"{n['path']}:{n['line'] + 1} ({n['reason']})" for n in cli_tree(workspace, data_home)["nodes"]]


def remove_tree(path: pathlib.Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
