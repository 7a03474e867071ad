"""Bounded memory against a client that does not read, and against huge input: the real
process's resident memory (VmHWM: its peak) stays under a bound, and nothing is lost."""

from __future__ import annotations

import json
import pathlib
import threading

import pytest

from .harness import RawServer, command_request, proc_status, raw_frame, uri, wait_until_idle

MIB = 1024  # VmHWM is in KiB


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.rs").write_text("x\n")
    return ws


def write_all(server: RawServer, frames: list[bytes]) -> threading.Thread:
    """Writes from a thread: the server may stop reading, and that must block only this."""
    def run():
        try:
            for f in frames:
                server.proc.stdin.write(f)
            server.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_replies_the_client_does_not_read_do_not_pile_up(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data")
    try:
        # A history whose text form is large: 1500 nodes with long paths (~250 KB a reply).
        deep = workspace / ("d" * 120)
        for i in range(1500):
            server.send({"jsonrpc": "2.0", "method": "retrace/visit",
                         "params": {"uri": uri(deep / f"f{i % 50}.rs"), "position": {"line": i * 10, "character": 0}}})
        assert server.command(1, "retrace.status")["result"]["nodes"] == 1500
        # The client stops reading, and sends 2000 requests for the tree.
        server.reading.clear()
        requests = [raw_frame(command_request(1000 + i, "retrace.tree", {"format": "text"})) for i in range(2000)]
        writer = write_all(server, requests)
        wait_until_idle(server.proc.pid)
        peak = proc_status(server.proc.pid, "VmHWM")
        assert peak < 80 * MIB, f"peak resident memory {peak // MIB} MiB"
        # Once the client reads again, every request is answered, in order.
        server.reading.set()
        ids = [server.reply_to(1000 + i, timeout=60)["id"] for i in range(2000)]
        assert ids == list(range(1000, 3000))
        writer.join(timeout=60)
        server.close()
        assert server.proc.returncode == 0
    finally:
        server.kill()


def test_a_message_of_a_million_values_is_refused_without_the_memory(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data")
    try:
        before = proc_status(server.proc.pid, "VmHWM")
        huge = "[" + ",".join(["0"] * 5_000_000) + "]"  # 10 MB of JSON
        body = ('{"jsonrpc":"2.0","id":7,"method":"workspace/executeCommand","params":'
                '{"command":"retrace.status","arguments":' + huge + "}}").encode()
        server.send_bytes(raw_frame(body))
        reply = server.reply_to(7, timeout=60)
        assert reply["error"]["code"] == -32600, reply
        assert "more than 100000 JSON values" in reply["error"]["message"]
        grown = proc_status(server.proc.pid, "VmHWM") - before
        assert grown < 60 * MIB, f"peak resident memory grew by {grown // MIB} MiB"
        # Over the size limit, a message is skipped as it streams by.
        big = b'{"jsonrpc":"2.0","id":8,"method":"x","params":"' + b"y" * (17 << 20) + b'"}'
        server.send_bytes(raw_frame(big))
        assert server.reply_to(None, timeout=60)["error"]["message"].startswith(
            f"message of {len(big)} bytes is larger than the limit of 16 MiB")
        grown = proc_status(server.proc.pid, "VmHWM") - before
        assert grown < 60 * MIB, f"peak resident memory grew by {grown // MIB} MiB"
        assert server.command(9, "retrace.status")["result"]["nodes"] == 0
        server.close()
    finally:
        server.kill()


def test_a_file_name_over_the_limit_is_refused_and_not_stored(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data")
    try:
        for i, length in enumerate([5000, 100_000, 10_000_000], start=1):
            long_uri = uri(workspace) + "/" + "n" * length + ".rs"
            reply = server.command(i, "retrace.visit", {"uri": long_uri, "position": {"line": 0, "character": 0}})
            assert reply["error"]["code"] == -32602, reply
            assert "longer than" in reply["error"]["message"], reply
            assert len(reply["error"]["message"]) < 1000, "the message does not repeat the name"
        ok = server.command(10, "retrace.visit", {"uri": uri(workspace / "a.rs"), "position": {"line": 0, "character": 0}})
        assert ok["result"]["status"] == "added"
        tree = server.command(11, "retrace.tree", {"format": "json"})["result"]
        assert [n["path"] for n in tree["nodes"]] == ["a.rs"]
        # The client's name is bounded too.
        other = RawServer(workspace, tmp_path / "data2", initialize=False)
        try:
            other.initialize({"capabilities": {}, "rootUri": uri(workspace),
                              "clientInfo": {"name": "x" * 100_000, "version": "\x1b[31m1"}})
            assert other.command(1, "retrace.status")["result"]["nodes"] == 0
            other.close()
        finally:
            other.kill()
        import sqlite3

        (db,) = (tmp_path / "data2" / "retrace" / "history").glob("*.sqlite3")
        with sqlite3.connect(db) as conn:
            names = [r[0] for r in conn.execute("SELECT client FROM sessions")]
        assert all(len(n) <= 200 and "\x1b" not in n for n in names), names
        server.close()
    finally:
        server.kill()


def test_tree_changed_notifications_a_client_does_not_read_are_coalesced(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data", initialize=False)
    try:
        server.initialize({"capabilities": {}, "rootUri": uri(workspace),
                           "initializationOptions": {"notifyChanges": True}})
        server.reading.clear()
        visits = [raw_frame({"jsonrpc": "2.0", "method": "retrace/visit",
                             "params": {"uri": uri(workspace / "a.rs"), "position": {"line": i * 10, "character": 0}}})
                  for i in range(3000)]
        writer = write_all(server, visits + [raw_frame(command_request(5, "retrace.status"))])
        wait_until_idle(server.proc.pid)
        server.reading.set()
        changed, answered, i = [], False, 6
        while not (answered and changed and changed[-1] == 3000):
            m = server.read(timeout=60)
            if m.get("method") == "retrace/treeChanged":
                changed.append(m["params"]["nodes"])
            elif m.get("id") == 5:
                assert m["result"]["nodes"] == 3000
                answered = True
            elif answered and m.get("id") == i - 1:
                pass
            if answered and server.messages.empty():
                server.send(command_request(i, "retrace.status"))
                i += 1
        writer.join(timeout=60)
        # Fewer notifications than changes, the last one up to date.
        assert len(changed) < 3000 and changed == sorted(changed), changed[:20]
        server.close()
    finally:
        server.kill()
