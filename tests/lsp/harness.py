"""A real LSP client (pytest-lsp, on pygls) driving the real retrace-lsp binary over stdio."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import pathlib
import time
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import binary


def uri(path: pathlib.Path) -> str:
    return path.resolve().as_uri()


class Session:
    """One editor connection: a started server process and its client."""

    def __init__(self, client: LanguageClient, workspace: pathlib.Path):
        self.client = client
        self.workspace = workspace

    # --- what a plugin does -------------------------------------------------------
    def visit(self, path: pathlib.Path, line: int, reason: str = "definition", character: int = 0):
        self.client.protocol.notify(
            "retrace/visit",
            {"uri": uri(path), "position": {"line": line, "character": character}, "reason": reason},
        )

    async def command(self, name: str, *args: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(args))
        )

    def command_now(self, name: str, *args: Any) -> asyncio.Future:
        """Sends a command at once (in order with notifications sent before and after)."""
        params = types.ExecuteCommandParams(command=name, arguments=list(args))
        return asyncio.wrap_future(self.client.protocol.send_request("workspace/executeCommand", params))

    async def back(self):
        return await self.command("retrace.back")

    async def forward(self, **arg):
        return await self.command("retrace.forward", arg) if arg else await self.command("retrace.forward")

    async def jump(self, node: int):
        return await self.command("retrace.jump", {"node": node})

    async def tree_text(self) -> str:
        return await self.command("retrace.tree", {"format": "text"})

    async def tree_json(self) -> dict:
        return await self.command("retrace.tree", {"format": "json"})

    async def status(self) -> dict:
        return await self.command("retrace.status")

    async def close(self):
        await self.client.shutdown_session()
        await self.client.stop()


async def start(
    workspace: pathlib.Path,
    data_home: pathlib.Path,
    options: dict | None = None,
    show_document: bool = True,
    db: pathlib.Path | None = None,
    env: dict[str, str] | None = None,
) -> Session:
    """Starts retrace-lsp for `workspace`, with its data under `data_home` and its control
    socket under `data_home/../run` (unless `env` names another XDG_RUNTIME_DIR)."""
    run = data_home.parent / "run"
    run.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "XDG_RUNTIME_DIR": str(run),
           "RETRACE_LOG": "info", **(env or {})}
    cmd = [str(binary("retrace-lsp")), "--stdio"]
    if db is not None:
        cmd += ["--db", str(db)]
    client = await ClientServerConfig(server_command=cmd, server_env=env).start()
    caps = client_capabilities("visual-studio-code")
    if not show_document and caps.window is not None:
        caps.window.show_document = None
    await client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            root_uri=uri(workspace),
            workspace_folders=[types.WorkspaceFolder(uri=uri(workspace), name=workspace.name)],
            initialization_options=options or {},
            client_info=types.ClientInfo(name="pytest-lsp", version="1"),
        )
    )
    return Session(client, workspace)


async def eventually(check, timeout: float = 8.0, interval: float = 0.05):
    """Polls `check` (plain or async) until it returns a truthy value, and returns that:
    for what arrives beside replies rather than in order with them (server notifications,
    file watcher events)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def by_path(tree: dict) -> dict[str, dict]:
    return {n["path"] + ":" + str(n["line"] + 1): n for n in tree["nodes"]}


def raw_frame(message: dict | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """retrace-lsp on pipes, for bytes no well-behaved client library would send."""

    def __init__(self, workspace: pathlib.Path, data_home: pathlib.Path, *args: str):
        import subprocess

        run = data_home.parent / "run"
        run.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, XDG_DATA_HOME=str(data_home), XDG_RUNTIME_DIR=str(run))
        self.proc = subprocess.Popen(
            [str(binary("retrace-lsp")), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"capabilities": {}, "rootUri": uri(workspace)}})
        reply = self.read()
        assert "result" in reply, reply
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def send(self, message: dict | bytes):
        self.proc.stdin.write(raw_frame(message))
        self.proc.stdin.flush()

    def read(self) -> dict:
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError("retrace-lsp closed its output")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.proc.stdout.read(length))

    def reply_to(self, id_: int | None) -> dict:
        """Reads messages until the reply with this id (server notifications are skipped)."""
        while True:
            m = self.read()
            if "method" not in m and m.get("id") == id_:
                return m

    def command(self, id_: int, name: str, *args) -> dict:
        self.send({"jsonrpc": "2.0", "id": id_, "method": "workspace/executeCommand",
                   "params": {"command": name, "arguments": list(args)}})
        return self.reply_to(id_)

    def close(self) -> bytes:
        self.send({"jsonrpc": "2.0", "id": 99999, "method": "shutdown"})
        self.reply_to(99999)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        self.proc.stdin.close()
        self.proc.wait(timeout=20)
        return self.proc.stderr.read()
