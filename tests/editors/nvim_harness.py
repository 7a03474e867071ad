"""A real headless Neovim (the system's, 0.7.2 on Debian 12) with the retrace plugin on its
runtimepath, driven over msgpack-RPC by pynvim, against the real retrace-lsp binary.

Each editor gets its own XDG directories, so its history lives in the test's temp dir.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import time
from typing import Any, Callable

import pynvim
import pytest

from tests.conftest import REPO, binary

PLUGIN = REPO / "editors" / "nvim"
SUPPORT = pathlib.Path(__file__).resolve().parent / "support.lua"


def nvim_path() -> str:
    path = shutil.which("nvim")
    if path is None:
        pytest.fail("nvim is not installed: run scripts/setup (it installs Debian's neovim)")
    return path


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
                 setup: dict | None = None, extra_path: str | None = None, call_setup: bool = True):
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
        argv = [nvim_path(), "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n",
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
        self.server_pids |= set(self.lua(
            "local pids = {} for _, c in pairs(vim.lsp.get_active_clients()) do"
            " if c.name == 'retrace' then table.insert(pids, c.rpc.pid) end end return pids"))

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


def cli_tree(bin_path: pathlib.Path, workspace: pathlib.Path, data_home: pathlib.Path) -> str:
    """`retrace-lsp tree`, the way a person reads the history from the shell."""
    out = subprocess.run([str(bin_path), "tree", "--workspace", str(workspace)], capture_output=True,
                         text=True, env=dict(os.environ, XDG_DATA_HOME=str(data_home)), check=True)
    return out.stdout
