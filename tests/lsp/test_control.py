"""The control socket end to end: the real binary serving a real LSP client (pytest-lsp), and
the desktop app's side played by a plain socket client written from PROTOCOL.md."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import socket
import sqlite3
import stat
import subprocess
import tempfile

import pytest

from tests.conftest import binary

from .control import Control, find_socket
from .harness import by_path, eventually, start, uri

LINES = "\n".join(f"line {i}" for i in range(200)) + "\n"


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    for name in ["a.rs", "b.rs", "c.rs", "d.rs", "e.rs", "f.rs"]:
        (ws / "src" / name).write_text(LINES)
    return ws


@pytest.fixture
def data_home(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data"


def run_dir(data_home: pathlib.Path) -> pathlib.Path:
    return data_home.parent / "run"


def workspaces(data_home: pathlib.Path) -> list[dict]:
    out = subprocess.run(
        [str(binary("retrace-lsp")), "workspaces", "--json"],
        env={**os.environ, "XDG_DATA_HOME": str(data_home)},
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def events(data_home: pathlib.Path) -> list[tuple[str, int]]:
    (db,) = (data_home / "retrace" / "history").glob("*.sqlite3")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT kind, node FROM events ORDER BY id").fetchall()


async def call(ctl: Control, method: str, params: dict | None = None) -> dict:
    """A blocking socket call off the event loop, so the LSP client can answer the server
    (window/showDocument) meanwhile."""
    return await asyncio.to_thread(ctl.call, method, params)


async def three_visits(s, workspace: pathlib.Path) -> dict[str, dict]:
    src = workspace / "src"
    s.visit(src / "a.rs", 9)
    s.visit(src / "b.rs", 19)
    s.visit(src / "c.rs", 29)
    return by_path(await s.tree_json())


async def test_a_jump_on_the_socket_moves_the_editor_and_the_cursor(workspace, data_home):
    # No `showDocument` option: a jump from the app moves the editor regardless.
    s = await start(workspace, data_home, options={"sendsVisits": True})
    ctl = None
    try:
        nodes = await three_visits(s, workspace)
        a = nodes["src/a.rs:10"]["id"]
        path = find_socket(run_dir(data_home))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        ctl = Control(path)
        hello = await call(ctl, "hello", {"protocol": 1, "client": "pytest"})
        status = hello["result"]
        assert status["editor"] == "pytest-lsp"
        assert status["workspace"] == str(workspace)
        assert status["canMoveEditor"] is True
        assert status["node"]["path"] == "src/c.rs"

        # The app knows where this editor is, from the database.
        (listed,) = workspaces(data_home)
        assert listed["root"] == str(workspace) and listed["nodes"] == 3
        (session,) = listed["sessions"]
        assert session["editor"] == "pytest-lsp"
        assert session["socket"] == str(path)
        assert session["id"] == status["session"]

        reply = await call(ctl, "jump", {"node": a, "workspace": str(workspace)})
        assert "error" not in reply, reply
        assert reply["result"]["node"]["id"] == a
        assert reply["result"]["answer"] == {"status": "shown"}
        shown = s.client.shown_documents[-1]
        assert shown.uri == uri(workspace / "src" / "a.rs")
        assert shown.take_focus is True
        assert shown.selection.start.line == 9
        # The session's cursor is there, recorded as a jump; nothing was added.
        assert (await s.status())["node"]["id"] == a
        tree = await s.tree_json()
        assert len(tree["nodes"]) == 3 and tree["current"] == a
        assert events(data_home)[-1] == ("jump", a)
        # The editor's report of arriving is absorbed, as for the server's own moves.
        s.visit(workspace / "src" / "a.rs", 9, reason="switch")
        tree = await s.tree_json()
        assert len(tree["nodes"]) == 3 and tree["current"] == a
        # The next real jump in the editor is a visit again, in the same file too.
        s.visit(workspace / "src" / "a.rs", 120)
        s.visit(workspace / "src" / "d.rs", 39)
        assert len((await s.tree_json())["nodes"]) == 5
    finally:
        if ctl:
            ctl.close()
        await s.close()
    # The session's end takes its socket and its registration with it.
    assert not path.exists()
    assert workspaces(data_home)[0]["sessions"] == []


async def test_an_editor_without_show_document_support_cannot_be_moved(workspace, data_home):
    s = await start(workspace, data_home, show_document=False)
    try:
        nodes = await three_visits(s, workspace)
        ctl = Control(find_socket(run_dir(data_home)))
        status = (await call(ctl, "status"))["result"]
        assert status["canMoveEditor"] is False
        assert "window.showDocument" in status["cannotMove"]
        reply = await call(ctl, "jump", {"node": nodes["src/a.rs:10"]["id"]})
        assert reply["error"]["code"] == "editor-cannot-move", reply
        assert "pytest-lsp did not announce `window.showDocument` support" in reply["error"]["message"]
        ctl.close()
        # Nothing moved.
        assert (await s.status())["node"]["path"] == "src/c.rs"
        assert s.client.shown_documents == []
    finally:
        await s.close()


async def test_bad_input_on_the_socket_gets_errors_and_the_editor_is_still_served(
    workspace, data_home, tmp_path
):
    s = await start(workspace, data_home, options={"nodeLimit": 4})
    other = tmp_path / "other"
    other.mkdir()
    try:
        src = workspace / "src"
        for i, name in enumerate(["a.rs", "b.rs", "c.rs", "d.rs", "e.rs", "f.rs"]):
            s.visit(src / name, i * 10)
        tree = await s.tree_json()
        alive = {n["id"] for n in tree["nodes"]}
        assert 1 not in alive, "node 1 was pruned"
        path = find_socket(run_dir(data_home))
        ctl = Control(path)

        async def editor_still_served():
            assert (await s.status())["nodes"] == len(alive)

        ctl.send_raw(b"this is not json\n")
        assert (await asyncio.to_thread(ctl.read))["error"]["code"] == "parse-error"
        await editor_still_served()
        ctl.send_raw(b'{"id": [1], "method": "status"}\n')
        assert (await asyncio.to_thread(ctl.read))["error"]["code"] == "invalid-request"
        reply = await call(ctl, "format-disk")
        assert reply["error"]["code"] == "unknown-method"
        assert "hello, status, jump" in reply["error"]["message"]
        reply = await call(ctl, "jump", {"node": "three"})
        assert reply["error"]["code"] == "invalid-params"
        reply = await call(ctl, "hello", {"protocol": 99})
        assert reply["error"]["code"] == "unsupported-version"
        reply = await call(ctl, "jump", {"node": max(alive), "workspace": str(other)})
        assert reply["error"]["code"] == "wrong-workspace", reply
        assert str(other) in reply["error"]["message"]
        reply = await call(ctl, "jump", {"node": 1})
        assert reply["error"]["code"] == "no-such-node", reply
        assert "pruned" in reply["error"]["message"]
        reply = await call(ctl, "jump", {"node": 999999})
        assert reply["error"]["code"] == "no-such-node"
        await editor_still_served()
        assert s.client.shown_documents == []

        # A 100 MB line: answered once, then cut off.
        big = Control(path)

        def flood() -> bool:
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(100):
                    big.send_raw(chunk)
            except OSError:
                return True
            return False

        flooding = asyncio.create_task(asyncio.to_thread(flood))
        first = await asyncio.to_thread(big.read)
        assert first["error"]["code"] == "line-too-long"
        assert await flooding, "the server stopped reading"
        big.close()
        await editor_still_served()

        # A client that sends and never reads its replies.
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(str(path))
        slow.setblocking(False)
        request = b'{"id": 1, "method": "status"}\n' * 2000
        for _ in range(50):
            try:
                slow.send(request)
            except BlockingIOError:
                break
        await editor_still_served()
        # And the app's own connection still works meanwhile.
        reply = await call(ctl, "jump", {"node": max(alive)})
        assert reply["result"]["node"]["id"] == max(alive)
        slow.close()
        ctl.close()
        await editor_still_served()
    finally:
        await s.close()


async def test_a_stale_socket_of_a_killed_server_is_cleaned_up(workspace, data_home):
    first = await start(workspace, data_home)
    await three_visits(first, workspace)
    stale = find_socket(run_dir(data_home))
    pid = int(stale.stem)
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: not pathlib.Path(f"/proc/{pid}").exists() or _zombie(pid))
    try:
        await asyncio.wait_for(first.client.stop(), 5)
    except Exception:  # the server is gone: stopping its client may fail, and that is fine
        pass
    assert stale.exists(), "kill -9 leaves the socket behind"
    second = await start(workspace, data_home)
    try:
        fresh = await asyncio.to_thread(find_socket, run_dir(data_home))
        assert fresh != stale and not stale.exists()
        (listed,) = workspaces(data_home)
        assert [s["socket"] for s in listed["sessions"]] == [str(fresh)]
    finally:
        await second.close()


def _zombie(pid: int) -> bool:
    try:
        return "Z" in pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True


def _connect_as(uid: int, path: pathlib.Path) -> dict:
    """Connects to `path` from a child process that became `uid`; what it saw."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        result: dict
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(str(path))
            except OSError as e:
                result = {"connected": False, "errno": e.errno}
            else:
                # The server answers a refused connection at once, then closes it.
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                result = {"connected": True, "lines": data.decode().splitlines()}
        except BaseException as e:  # the child must never return into pytest
            result = {"crashed": repr(e)}
        os.write(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = f.read()
    os.waitpid(child, 0)
    return json.loads(out)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid (nobody, 65534)")
async def test_another_user_cannot_use_the_socket(workspace, tmp_path):
    # A runtime directory that `nobody` can reach (pytest's own tmp is closed to others).
    run = pathlib.Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    try:
        os.chmod(run, 0o755)
        data = tmp_path / "data"
        s = await start(workspace, data, env={"XDG_RUNTIME_DIR": str(run)})
        try:
            await three_visits(s, workspace)
            path = find_socket(run)
            seen = await asyncio.to_thread(_connect_as, 65534, path)
            assert seen == {"connected": False, "errno": 13}, seen  # EACCES: the 0700 directory
            # Past the directory and the socket's mode (opened here on purpose), the server
            # still asks the kernel who is connecting, and refuses.
            os.chmod(path.parent, 0o755)
            os.chmod(path, 0o666)
            seen = await asyncio.to_thread(_connect_as, 65534, path)
            assert seen["connected"] is True, seen
            (line,) = seen["lines"]
            refused = json.loads(line)
            assert refused["error"]["code"] == "refused"
            assert "uid 65534 may not control it" in refused["error"]["message"]
            os.chmod(path.parent, 0o700)
            # The editor and the owner's own connections are unaffected.
            ctl = Control(path)
            assert (await call(ctl, "status"))["result"]["editor"] == "pytest-lsp"
            ctl.close()
            assert (await s.status())["nodes"] == 3
        finally:
            await s.close()
    finally:
        subprocess.run(["rm", "-rf", str(run)], check=False)
