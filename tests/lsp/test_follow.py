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
