"""Bad input gets a clear answer, and the server stays up and loses nothing."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import subprocess

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import binary

from .harness import RawServer, start, uri, eventually

LINES = "\n".join(f"line {i}" for i in range(100)) + "\n"


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ["a.rs", "b.rs"]:
        (ws / name).write_text(LINES)
    return ws


async def expect_error(coro, code: int, *fragments: str):
    with pytest.raises(JsonRpcException) as err:
        await coro
    message = str(err.value)
    assert f"{code}" in repr(err.value.code) or err.value.code == code, repr(err.value)
    for f in fragments:
        assert f in message, message
    return message


async def test_unknown_commands_and_wrong_arguments_get_clear_errors(workspace, tmp_path):
    s = await start(workspace, tmp_path / "data")
    try:
        s.visit(workspace / "a.rs", 0)
        await expect_error(s.command("retrace.sideways"), -32602, "unknown command `retrace.sideways`", "retrace.back")
        await expect_error(s.command("retrace.jump", {"node": "three"}), -32602,
                           "invalid argument for retrace.jump", 'expected {"node": ID}')
        await expect_error(s.command("retrace.jump"), -32602, "exactly one argument object, got 0")
        await expect_error(s.command("retrace.jump", {"node": 999}), -32803, "no node #999")
        await expect_error(s.command("retrace.forward", {"nod": 1}), -32602, "unknown field `nod`")
        await expect_error(s.command("retrace.forward", {"policy": "sometimes"}), -32602, "unknown variant `sometimes`")
        await expect_error(s.command("retrace.tree", {"format": "xml"}), -32602, "unknown variant `xml`")
        await expect_error(s.command("retrace.back", 1, 2), -32602, "takes no arguments")
        await expect_error(
            s.command("retrace.visit", {"uri": uri(workspace / "b.rs"), "position": {"line": -1, "character": 0}}),
            -32602, "invalid argument for retrace.visit")
        await expect_error(
            s.command("retrace.visit", {"uri": "file:///etc/passwd", "position": {"line": 0, "character": 0}}),
            -32602, "/etc/passwd is outside the workspace", "recordOutsideWorkspace")
        await expect_error(
            s.command("retrace.visit", {"uri": "untitled:Untitled-1", "position": {"line": 0, "character": 0}}),
            -32602, "scheme `untitled`")
        # A bad notification is reported to the user instead of silently dropped.
        s.client.protocol.notify("retrace/visit", {"uri": 42})
        status = await s.status()
        # The message travels beside replies, not in order with them: wait for it.
        await eventually(lambda: any("invalid argument for retrace/visit" in m.message
                                     for m in s.client.messages))
        # Nothing was lost or added along the way, and the server still works.
        assert status["nodes"] == 1
        ok = await s.command("retrace.visit", {"uri": uri(workspace / "b.rs"), "position": {"line": 3, "character": 0}})
        assert ok["status"] == "added"
    finally:
        await s.close()


async def test_places_outside_the_workspace_can_be_allowed(workspace, tmp_path):
    outside = tmp_path / "dep.rs"
    outside.write_text(LINES)
    s = await start(workspace, tmp_path / "data", options={"recordOutsideWorkspace": True})
    try:
        s.visit(workspace / "a.rs", 0)
        s.visit(outside, 7)
        text = await s.tree_text()
        assert f"{outside}:8" in text
    finally:
        await s.close()


def test_malformed_json_rpc_gets_an_error_reply_and_the_server_stays_up(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data")
    server.send(b"{this is not json")
    assert server.reply_to(None)["error"]["code"] == -32700  # parse error, id null
    visit = server.command(2, "retrace.visit", {"uri": uri(workspace / "a.rs"), "position": {"line": 1, "character": 0}})
    assert visit["result"]["status"] == "added"
    server.send({"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand", "params": {"command": 7}})
    assert server.reply_to(3)["error"]["code"] == -32602
    server.send(b'{"jsonrpc": "2.0", "id": 4, "method": "workspace/executeCommand", "params": ')
    assert server.reply_to(None)["error"]["code"] == -32700
    server.send(b'{"id": 9, "hello": "not json-rpc"}')
    assert server.reply_to(9)["error"]["code"] == -32600
    tree = server.command(5, "retrace.tree", {"format": "json"})
    assert [n["path"] for n in tree["result"]["nodes"]] == ["a.rs"]
    err = server.close()
    assert server.proc.returncode == 0, err.decode()
    assert b"panicked" not in err


async def test_a_corrupt_database_is_moved_aside_and_a_new_history_starts(workspace, tmp_path):
    db = tmp_path / "history.sqlite3"
    db.write_bytes(b"this is not an SQLite database, it was damaged" * 100)
    s = await start(workspace, tmp_path / "data", db=db)
    try:
        s.visit(workspace / "a.rs", 0)
        status = await s.status()
        assert status["nodes"] == 1
        warning = "\n".join(m.message for m in s.client.messages)
        assert "is damaged" in warning and "started a new history" in warning, warning
        kept = list(tmp_path.glob("history.corrupt-*"))
        assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not an SQLite"), "the damaged file is kept"
    finally:
        await s.close()


async def test_a_database_from_a_newer_version_is_left_alone_with_a_clear_error(workspace, tmp_path):
    db = tmp_path / "newer.sqlite3"
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.execute("CREATE TABLE future (x)")
    con.commit()
    con.close()
    before = db.read_bytes()
    s = await start(workspace, tmp_path / "data", db=db)
    try:
        message = await expect_error(s.back(), -32803, "newer retrace-lsp", "schema 99", "upgrade retrace-lsp")
        assert any("newer retrace-lsp" in m.message for m in s.client.messages)
        assert "history unavailable" in message
    finally:
        await s.close()
    assert db.read_bytes() == before


async def test_a_missing_workspace_is_reported(tmp_path):
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, client_capabilities

    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    client = await ClientServerConfig(server_command=[str(binary("retrace-lsp"))], server_env=env).start()
    try:
        await client.initialize_session(types.InitializeParams(capabilities=client_capabilities("neovim")))
        with pytest.raises(JsonRpcException) as err:
            await client.workspace_execute_command_async(types.ExecuteCommandParams(command="retrace.back"))
        assert "no workspace folder" in str(err.value)
    finally:
        await client.shutdown_session()
        await client.stop()


def test_a_full_disk_is_reported_and_nothing_is_half_written(workspace, tmp_path):
    """A real full disk: a 1 MiB tmpfs holds the database (needs root to mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        db = mnt / "history.sqlite3"
        env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
        server = RawServer(workspace, tmp_path / "data", "--db", str(db))
        # Long URIs fill the disk quickly.
        deep = "x" * 3000
        recorded, failures = 0, []
        for i in range(1, 600):
            reply = server.command(i, "retrace.visit",
                                   {"uri": uri(workspace / f"{deep}{i}.rs"), "position": {"line": 0, "character": 0}})
            if "error" in reply:
                failures.append(reply["error"]["message"])
                if len(failures) > 5:
                    break
            else:
                recorded += 1
        assert failures, "the disk never filled up"
        assert "no space left" in failures[0] and "nothing was recorded" in failures[0], failures[0]
        # What the server answers afterwards matches what is on disk: nothing half-written.
        nodes = server.command(1000, "retrace.tree", {"format": "json"})["result"]["nodes"]
        assert len(nodes) == recorded
        err = server.close()
        assert b"panicked" not in err
        reopened = RawServer(workspace, tmp_path / "data", "--db", str(db))
        again = reopened.command(1, "retrace.tree", {"format": "json"})["result"]["nodes"]
        assert [n["id"] for n in again] == [n["id"] for n in nodes]
        reopened.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


async def test_an_internal_error_is_reported_and_the_server_goes_on(workspace, tmp_path):
    s = await start(workspace, tmp_path / "data", env={"RETRACE_LSP_TEST_FAULTS": "1"})
    try:
        s.visit(workspace / "a.rs", 0)
        with pytest.raises(JsonRpcException):
            await s.command("retrace.debug.panic")
        await eventually(lambda: any("internal error" in m.message and "reloaded from disk" in m.message
                                     for m in s.client.messages))
        s.visit(workspace / "b.rs", 0)
        status = await s.status()
        assert status["nodes"] == 2 and status["node"]["path"] == "b.rs"
    finally:
        await s.close()
