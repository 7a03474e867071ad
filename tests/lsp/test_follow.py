"""Places follow the code (issue 13), end to end: the real binary, a real LSP client sending
document sync, real files changed from outside (sed -i, a real git repository)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
from lsprotocol import types

from .harness import eventually, start, uri

LINES = "".join(f"line {i}\n" for i in range(100))


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.rs").write_text(LINES)
    (ws / "src" / "b.rs").write_text(LINES)
    return ws


@pytest.fixture
def data_home(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data"


def did_open(s, path: pathlib.Path, text: str):
    s.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri(path), language_id="rust", version=1, text=text)
        )
    )


def did_change(s, path: pathlib.Path, version: int, *changes):
    s.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=list(changes),
        )
    )


def insert(line: int, text: str):
    at = types.Position(line=line, character=0)
    return types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)


def node_at(tree: dict, path: str) -> list[dict]:
    return [n for n in tree["nodes"] if n["path"] == path]


async def test_ten_lines_inserted_above_in_the_editor_and_back_lands_on_the_same_code(workspace, data_home):
    s = await start(workspace, data_home)
    a, b = workspace / "src" / "a.rs", workspace / "src" / "b.rs"
    try:
        s.visit(a, 40, character=3)
        s.visit(b, 10)
        did_open(s, a, LINES)
        did_change(s, a, 2, insert(5, "".join(f"new {i}\n" for i in range(10))))
        back = await s.back()
        assert back["location"]["uri"] == uri(a)
        assert back["location"]["range"]["start"] == {"line": 50, "character": 3}
        tree = await s.tree_json()
        (node,) = node_at(tree, "src/a.rs")
        assert node["line"] == 50 and node["anchor"] == "exact"
        assert node["lineText"] == "line 40"
        assert node["visits"] == 2, "a move by an edit is not a visit"
        # `dd` of that line: the nearest line, approximate, and the text form says so.
        did_change(s, a, 3, types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=50, character=0), end=types.Position(line=51, character=0)),
            text=""))
        tree = await s.tree_json()
        (node,) = node_at(tree, "src/a.rs")
        assert (node["line"], node["anchor"], node["lineText"]) == (50, "approximate", "line 41")
        assert "[line deleted: nearest line]" in await s.tree_text()
        # A full-text change is diffed: five lines on top move it by five.
        text = "".join(f"top {i}\n" for i in range(5)) + "".join(f"new {i}\n" for i in range(10)) + LINES.replace("line 40\n", "")
        did_change(s, a, 4, types.TextDocumentContentChangeWholeDocument(text=text))
        (node,) = node_at(await s.tree_json(), "src/a.rs")
        assert node["line"] == 55 and node["lineText"] == "line 41"
    finally:
        await s.close()


async def test_a_change_for_a_document_never_opened_is_logged_and_moves_nothing(workspace, data_home):
    s = await start(workspace, data_home)
    a = workspace / "src" / "a.rs"
    try:
        s.visit(a, 40)
        did_change(s, a, 2, insert(0, "x\n"))
        message = await eventually(lambda: [m.message for m in s.client.log_messages if "without opening it" in m.message])
        assert "src/a.rs" in message[0]
        (node,) = node_at(await s.tree_json(), "src/a.rs")
        assert node["line"] == 40
    finally:
        await s.close()


async def test_sed_from_outside_with_the_file_closed_re_anchors(workspace, data_home):
    s = await start(workspace, data_home)
    a = workspace / "src" / "a.rs"
    try:
        s.visit(a, 40)
        s.visit(workspace / "src" / "b.rs", 1)
        await s.tree_json()  # the visits are recorded, the watches set
        subprocess.run(["sed", "-i", "1i one\\ntwo\\nthree", str(a)], check=True)

        async def moved():
            (node,) = node_at(await s.tree_json(), "src/a.rs")
            return node if node["line"] == 43 else None

        node = await eventually(moved)
        assert node["anchor"] == "exact" and node["lineText"] == "line 40"
    finally:
        await s.close()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_git_checkout_of_another_branch_and_back_re_anchors_every_node(workspace, data_home):
    git = ["git", "-C", str(workspace), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "main"], check=True)
    subprocess.run([*git, "checkout", "-qb", "other"], check=True)
    a, b = workspace / "src" / "a.rs", workspace / "src" / "b.rs"
    a.write_text("".join(f"// header {i}\n" for i in range(20)) + LINES)
    b.unlink()
    subprocess.run([*git, "commit", "-qam", "other"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)

    s = await start(workspace, data_home)
    try:
        s.visit(a, 30)
        s.visit(a, 70)
        s.visit(b, 50)
        await s.tree_json()
        subprocess.run([*git, "checkout", "-q", "other"], check=True)

        async def lines(want):
            tree = await s.tree_json()
            got = sorted((n["path"], n["line"], n["anchor"]) for n in tree["nodes"])
            return tree if got == want else None

        tree = await eventually(lambda: lines([
            ("src/a.rs", 50, "exact"), ("src/a.rs", 90, "exact"), ("src/b.rs", 50, "gone"),
        ]))
        assert sorted(n.get("lineText") or "" for n in tree["nodes"]) == ["", "line 30", "line 70"]
        subprocess.run([*git, "checkout", "-q", "main"], check=True)
        await eventually(lambda: lines([
            ("src/a.rs", 30, "exact"), ("src/a.rs", 70, "exact"), ("src/b.rs", 50, "exact"),
        ]))
        back = await s.back()
        assert back["location"]["range"]["start"]["line"] == 70
    finally:
        await s.close()


def change(start: tuple[int, int], end: tuple[int, int], text: str):
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=start[0], character=start[1]),
                          end=types.Position(line=end[0], character=end[1])),
        text=text)


async def test_overlapping_changes_in_one_did_change_apply_in_order(workspace, data_home):
    s = await start(workspace, data_home)
    a = workspace / "src" / "a.rs"
    try:
        s.visit(a, 2)
        s.visit(a, 40)
        did_open(s, a, LINES)
        # Each change's range is in the document as the changes before it left it: three lines
        # inserted above line 2, lines 1..4 of that deleted (into the insertion), then from
        # past the end of line 1 into line 2.
        did_change(s, a, 2, insert(2, "a\nb\nc\n"), change((1, 0), (4, 0), ""), change((1, 2), (2, 3), "X"))
        tree = await s.tree_json()
        got = sorted((n["line"], n["anchor"], n["lineText"]) for n in node_at(tree, "src/a.rs"))
        assert got == [(1, "exact", "cXe 2"), (39, "exact", "line 40")]
    finally:
        await s.close()


async def test_crlf_lines_and_a_binary_file_changed_outside(workspace, data_home):
    crlf = workspace / "src" / "crlf.rs"
    crlf.write_bytes(b"".join(f"line {i}\r\n".encode() for i in range(20)))
    blob = workspace / "src" / "blob.bin"
    blob.write_bytes(b"\x00\x01binary\n" * 10)
    s = await start(workspace, data_home)
    try:
        s.visit(crlf, 10)
        s.visit(blob, 3)
        did_open(s, crlf, crlf.read_bytes().decode())
        did_change(s, crlf, 2, insert(0, "new\r\n"))
        (node,) = node_at(await s.tree_json(), "src/crlf.rs")
        assert (node["line"], node["anchor"], node["lineText"]) == (11, "exact", "line 10")
        # A binary file rewritten: where its lines went cannot be told; the place keeps its
        # line and says it is approximate.
        blob.write_bytes(b"\x00" * 100)

        async def approximate():
            (node,) = node_at(await s.tree_json(), "src/blob.bin")
            return node if node["anchor"] == "approximate" else None

        node = await eventually(approximate)
        assert node["line"] == 3
    finally:
        await s.close()


def test_a_50_mb_file_opened_and_changed_outside_is_refused_cleanly(workspace, tmp_path):
    from .harness import RawServer, proc_status, wait_until_idle

    big = workspace / "src" / "big.rs"
    row = '    let value = compute(index, "some text");\n'
    text = row * (50_000_000 // len(row))
    big.write_text(text)
    server = RawServer(workspace, tmp_path / "data")
    try:
        server.send({"jsonrpc": "2.0", "method": "retrace/visit",
                     "params": {"uri": uri(big), "position": {"line": 600_000, "character": 0}}})
        assert server.command(1, "retrace.status")["result"]["nodes"] == 1
        before = proc_status(server.proc.pid, "VmHWM")
        server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri(big), "languageId": "rust", "version": 1, "text": text}}})
        refused = server.reply_to(None, timeout=60)
        assert "larger than the limit of 16 MiB" in refused["error"]["message"]
        # Changes to it are changes to a document never opened: reported, nothing moves.
        for version in (2, 3):
            server.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri(big), "version": version},
                "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 0}}, "text": "x\n"}]}})
        (node,) = server.command(2, "retrace.tree", {"format": "json"})["result"]["nodes"]
        assert (node["line"], node["anchor"]) == (600_000, "exact")
        # Rewritten outside: over 8 MiB it is not read; the place keeps its line, approximate.
        big.write_text("top\n" + text)
        deadline = 30
        import time
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            (node,) = server.command(3, "retrace.tree", {"format": "json"})["result"]["nodes"]
            if node["anchor"] == "approximate":
                break
            time.sleep(0.1)
        assert (node["line"], node["anchor"]) == (600_000, "approximate")
        wait_until_idle(server.proc.pid)
        grown = proc_status(server.proc.pid, "VmHWM") - before
        assert grown < 60 * 1024, f"peak resident memory grew by {grown // 1024} MiB"
        server.close()
        assert server.proc.returncode == 0
        assert b"panicked" not in server.stderr()
    finally:
        server.kill()


async def test_two_editors_the_open_buffer_wins_over_a_rewrite_on_disk(workspace, data_home):
    a = workspace / "src" / "a.rs"
    editing = await start(workspace, data_home)
    other = await start(workspace, data_home)
    try:
        editing.visit(a, 40)
        await editing.tree_json()
        # The first editor inserts three lines on top and does not save.
        did_open(editing, a, LINES)
        did_change(editing, a, 2, insert(0, "u0\nu1\nu2\n"))
        (node,) = node_at(await editing.tree_json(), "src/a.rs")
        assert node["line"] == 43
        # Stored when that server is idle: the other server sees it.
        async def seen_by_other(line):
            (node,) = node_at(await other.tree_json(), "src/a.rs")
            return node if node["line"] == line else None

        await eventually(lambda: seen_by_other(43))
        # The file is rewritten on disk with five other lines on top. The other server (the
        # file is not open there) re-anchors to the disk; the first one, whose user sees the
        # buffer, re-anchors back to it when it next writes (idle): the buffer wins.
        a.write_text("".join(f"d{i}\n" for i in range(5)) + LINES)

        async def settled(session, line):
            (node,) = node_at(await session.tree_json(), "src/a.rs")
            return node if node["line"] == line else None

        node = await eventually(lambda: settled(editing, 43))
        assert node["anchor"] == "exact" and node["lineText"] == "line 40"
        await eventually(lambda: seen_by_other(43))
        # The editor reloads the file from disk (`:e!`): the place follows the disk.
        did_change(editing, a, 3, types.TextDocumentContentChangeWholeDocument(text=a.read_text()))
        await eventually(lambda: settled(editing, 45))
        node = await eventually(lambda: seen_by_other(45))
        assert node["lineText"] == "line 40"
    finally:
        await editing.close()
        await other.close()
