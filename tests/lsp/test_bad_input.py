"""Bad input gets a clear answer, and the server stays up and loses nothing."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import subprocess

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import bin_dir, binary

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
    """A panic in a job, injected by the `retrace.debug.panic` command that only the test
    build (`retrace-lsp-faults`, feature `debug-commands`) has."""
    faults = bin_dir() / "retrace-lsp-faults"
    if not faults.exists():
        pytest.skip(f"{faults} is not built: `cargo build -p retrace-lsp --features debug-commands "
                    "--bin retrace-lsp-faults` (make build does it)")
    s = await start(workspace, tmp_path / "data", binary_name="retrace-lsp-faults")
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


async def test_the_shipped_binary_has_no_fault_injection(workspace, tmp_path):
    """Whatever its environment says, `retrace-lsp` knows no debug command."""
    s = await start(workspace, tmp_path / "data", env={"RETRACE_LSP_TEST_FAULTS": "1"})
    try:
        s.visit(workspace / "a.rs", 0)
        await expect_error(s.command("retrace.debug.panic"), -32602, "unknown command `retrace.debug.panic`")
        assert (await s.status())["nodes"] == 1
        assert not any("internal error" in m.message for m in s.client.messages)
    finally:
        await s.close()


def test_status_takes_no_arguments_as_back_does(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data")
    try:
        for i, args in enumerate([[1, 2], ["x"], [{"verbose": True}]], start=1):
            reply = server.command(i, "retrace.status", *args)
            assert reply["error"]["code"] == -32602, (args, reply)
            assert "retrace.status takes no arguments" in reply["error"]["message"]
        for i, args in enumerate([[], [None], [{}]], start=10):
            assert server.command(i, "retrace.status", *args)["result"]["nodes"] == 0
        server.close()
    finally:
        server.kill()


def test_an_unusable_first_workspace_folder_falls_back_to_root_uri(workspace, tmp_path):
    server = RawServer(workspace, tmp_path / "data", initialize=False)
    try:
        server.initialize({"capabilities": {}, "rootUri": uri(workspace),
                           "workspaceFolders": [{"uri": "file://otherhost/x", "name": "x"}]})
        ok = server.command(1, "retrace.visit", {"uri": uri(workspace / "a.rs"), "position": {"line": 0, "character": 0}})
        assert ok["result"]["status"] == "added", ok
        assert server.command(2, "retrace.status")["result"]["workspace"] == str(workspace)
        server.close()
    finally:
        server.kill()
    # Neither usable: the message says what was wrong with each.
    server = RawServer(workspace, tmp_path / "data", initialize=False)
    try:
        server.initialize({"capabilities": {}, "rootUri": "untitled:x",
                           "workspaceFolders": [{"uri": "file://otherhost/x", "name": "x"}]})
        reply = server.command(1, "retrace.status")
        message = reply["error"]["message"]
        assert "otherhost" in message and "untitled" in message, message
        server.close()
    finally:
        server.kill()


def test_dot_segments_and_odd_spellings_name_the_real_file(workspace, tmp_path):
    (workspace / "sub").mkdir()
    server = RawServer(workspace, tmp_path / "data")
    try:
        def visit(id_, u, line=0):
            return server.command(id_, "retrace.visit", {"uri": u, "position": {"line": line, "character": 0}})

        root = uri(workspace)
        for i, escape in enumerate(["/../../../etc/passwd", "/..%2F..%2F..%2Fetc/passwd", "/sub/../../x.rs"], start=1):
            reply = visit(i, root + escape)
            assert reply["error"]["code"] == -32602, reply
            assert "outside the workspace" in reply["error"]["message"], reply
        assert visit(10, root + "/a.rs")["result"]["status"] == "added"
        # The same file by another road is the same node.
        assert visit(11, root + "/sub/../a.rs", 2)["result"]["status"] == "unchanged"
        assert visit(12, root + "/./a.rs", 1)["result"]["status"] == "unchanged"
        for i, bad in enumerate([root + "/a%00.rs", "file://otherhost" + str(workspace) + "/a.rs"], start=20):
            assert visit(i, bad)["error"]["code"] == -32602
        # What clients send raw: a space, letters beyond ASCII.
        added = visit(30, f"file://{workspace}/b c ö.rs")
        assert added["result"]["node"]["path"] == "b c ö.rs", added
        assert visit(31, root + "/b%20c%20%C3%B6.rs", 1)["result"]["status"] == "unchanged"
        # The last line a u32 holds shows as itself, not as line 0.
        last = visit(40, root + "/b.rs", 4294967295)
        assert last["result"]["message"] == "recorded a new place", last
        text = server.command(41, "retrace.tree", {"format": "text"})["result"]
        assert "b.rs:4294967296 (other)" in text, text
        tree = server.command(42, "retrace.tree", {"format": "json"})["result"]
        assert [n["path"] for n in tree["nodes"]] == ["a.rs", "b c ö.rs", "b.rs"]
        server.close()
    finally:
        server.kill()
