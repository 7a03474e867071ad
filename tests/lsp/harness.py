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
    binary_name: str = "retrace-lsp",
) -> Session:
    """Starts retrace-lsp for `workspace`, with its data under `data_home` and its control
    socket under `data_home/../run` (unless `env` names another XDG_RUNTIME_DIR)."""
    run = data_home.parent / "run"
    run.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "XDG_RUNTIME_DIR": str(run),
           "RETRACE_LOG": "info", **(env or {})}
    cmd = [str(binary(binary_name)), "--stdio"]
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


def request(id_: int, method: str, params: Any = None) -> dict:
    message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def command_request(id_: int, name: str, *args) -> dict:
    return request(id_, "workspace/executeCommand", {"command": name, "arguments": list(args)})


def proc_status(pid: int, field: str) -> int:
    """A field of /proc/PID/status in KiB (VmRSS: resident now, VmHWM: the peak)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_until_idle(pid: int, quiet: float = 1.0, timeout: float = 120.0):
    """Waits until the process has used no CPU for `quiet` seconds: it has done what it
    will do with what it was given (and is blocked, or waiting for more)."""
    deadline = time.monotonic() + timeout
    last, since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError(f"process {pid} kept running for {timeout}s")


class RawServer:
    """retrace-lsp on pipes, for bytes no well-behaved client library would send. A thread
    reads the server's output frame by frame, so a test can wait for a reply with a timeout
    (and tell "no answer" from a hang)."""

    def __init__(self, workspace: pathlib.Path, data_home: pathlib.Path, *args: str,
                 initialize: bool = True, binary_name: str = "retrace-lsp"):
        import queue
        import subprocess
        import threading

        run = data_home.parent / "run"
        run.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, XDG_DATA_HOME=str(data_home), XDG_RUNTIME_DIR=str(run))
        # The log goes to a file: a pipe nobody reads could fill and block the server.
        import tempfile

        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(binary(binary_name)), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        self.messages: queue.Queue = queue.Queue()
        # Cleared: the reader thread stops taking messages off the pipe (a client that does
        # not read), at the next message.
        self.reading = threading.Event()
        self.reading.set()
        self.reader = threading.Thread(target=self._read_all, daemon=True)
        self.reader.start()
        self.workspace = workspace
        if initialize:
            self.initialize({"capabilities": {}, "rootUri": uri(workspace)})

    def initialize(self, params: dict) -> dict:
        self.send(request(0, "initialize", params))
        reply = self.reply_to(0)
        assert "result" in reply, reply
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return reply

    def _read_all(self):
        out = self.proc.stdout
        while True:
            self.reading.wait()
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(EOFError("retrace-lsp closed its output"))
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(out.read(length)))

    def send(self, message: dict | bytes):
        self.send_bytes(raw_frame(message))

    def send_bytes(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, timeout: float = 15.0) -> dict:
        import queue

        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message from retrace-lsp within {timeout}s") from None
        if isinstance(m, Exception):
            self.messages.put(m)
            raise m
        return m

    def reply_to(self, id_: int | None, timeout: float = 15.0) -> dict:
        """Reads messages until the reply with this id (server notifications and requests
        are skipped)."""
        while True:
            m = self.read(timeout)
            if "method" not in m and m.get("id") == id_:
                return m

    def command(self, id_: int, name: str, *args) -> dict:
        self.send(command_request(id_, name, *args))
        return self.reply_to(id_)

    def close(self) -> bytes:
        self.send(request(99999, "shutdown"))
        self.reply_to(99999)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        self.proc.stdin.close()
        self.proc.wait(timeout=20)
        return self.stderr()

    def stderr(self) -> bytes:
        self.log.seek(0)
        return self.log.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
