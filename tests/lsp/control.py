"""A client of retrace-lsp's control socket written from PROTOCOL.md ("Control socket"):
one JSON object per line, over a Unix socket."""

from __future__ import annotations

import json
import pathlib
import socket
import time


def find_socket(run_dir: pathlib.Path, timeout: float = 8.0) -> pathlib.Path:
    """The one control socket under `run_dir/retrace` (the server makes it while it opens
    the history, after `initialize`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted((run_dir / "retrace").glob("*.sock")) if (run_dir / "retrace").exists() else []
        if len(found) == 1:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no single control socket in {run_dir}/retrace: {found!r}")


class Control:
    def __init__(self, path: pathlib.Path, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buffer = b""
        self.next_id = 0

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def read(self) -> dict | None:
        """The next reply line, or None when the server closed the connection."""
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def call(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        request = {"id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.send_raw(json.dumps(request).encode() + b"\n")
        reply = self.read()
        assert reply is not None, "the server closed the connection"
        assert reply["id"] == self.next_id, reply
        return reply

    def close(self):
        self.sock.close()
