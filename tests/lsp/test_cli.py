"""The `retrace-lsp` command line over the same database the server writes."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import binary

from .harness import start


def run(*args, data_home, cwd=None, check=True):
    env = dict(os.environ, XDG_DATA_HOME=str(data_home))
    return subprocess.run([str(binary("retrace-lsp")), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, check=check, timeout=30)


async def test_tree_prints_what_an_editor_recorded(tmp_path):
    ws = tmp_path / "proj"
    (ws / "src").mkdir(parents=True)
    for f in ["main.rs", "lib.rs", "util.rs"]:
        (ws / "src" / f).write_text("x\n" * 100)
    data = tmp_path / "data"
    s = await start(ws, data)
    s.visit(ws / "src" / "main.rs", 0, reason="open")
    s.visit(ws / "src" / "lib.rs", 11)
    await s.back()
    s.visit(ws / "src" / "util.rs", 22, reason="reference")
    await s.close()

    text = run("tree", "--workspace", str(ws), data_home=data).stdout
    assert text.splitlines() == [
        "#1 src/main.rs:1 (open)",
        "├─ #2 src/lib.rs:12 (definition)",
        "└─ #3 src/util.rs:23 (reference)  <- current",
    ]
    # From inside the workspace, with no flag.
    assert run("tree", data_home=data, cwd=ws).stdout == text
    tree = json.loads(run("tree", "--json", "--workspace", str(ws), data_home=data).stdout)
    assert [n["path"] for n in tree["nodes"]] == ["src/main.rs", "src/lib.rs", "src/util.rs"]
    db = run("db-path", "--workspace", str(ws), data_home=data).stdout.strip()
    assert db.startswith(str(data / "retrace" / "history" / "proj-")) and os.path.exists(db)


def test_tree_for_a_workspace_without_history_says_what_to_do(tmp_path):
    out = run("tree", "--workspace", str(tmp_path), data_home=tmp_path / "d", check=False)
    assert out.returncode == 1
    assert "no history for" in out.stderr and "open the workspace in an editor" in out.stderr
    out = run("tree", "--workspace", str(tmp_path / "nope"), data_home=tmp_path / "d", check=False)
    assert out.returncode == 1 and "does not exist" in out.stderr


def test_help_and_version(tmp_path):
    help_text = run("--help", data_home=tmp_path).stdout
    assert "Exit codes" in help_text and "tree" in help_text and "--stdio" in help_text
    assert run("--version", data_home=tmp_path).stdout.startswith("retrace-lsp ")
    bad = run("--frobnicate", data_home=tmp_path, check=False)
    assert bad.returncode == 2 and "--frobnicate" in bad.stderr


async def test_strings_from_files_and_clients_reach_the_terminal_escaped(tmp_path):
    """A workspace and file names holding escape sequences, a new line and a bidi override:
    `tree`, `workspaces`, `db-path` and error messages print them harmless."""
    ws = tmp_path / "proj\x1b]0;owned\x07"
    ws.mkdir()
    evil = ws / "a\x1b[2J\nb\u202e\u009b.rs"
    evil.write_text("x\n" * 10)
    data = tmp_path / "data"
    s = await start(ws, data)
    s.visit(evil, 3)
    await s.status()
    await s.close()

    def harmless(text: str):
        for c in ["\x1b", "\x07", "\u202e", "\u009b"]:
            assert c not in text, repr(text)

    tree = run("tree", "--workspace", str(ws), data_home=data)
    harmless(tree.stdout)
    assert tree.stdout.splitlines() == ["#1 a\\u{1b}[2J\\u{a}b\\u{202e}\\u{9b}.rs:4 (definition)  <- current"]
    tree_json = run("tree", "--json", "--workspace", str(ws), data_home=data)
    harmless(tree_json.stdout)
    assert json.loads(tree_json.stdout)["nodes"][0]["path"] == evil.name, "the JSON keeps the real name"
    listing = run("workspaces", data_home=data)
    harmless(listing.stdout)
    assert "proj" in listing.stdout
    harmless(run("workspaces", "--json", data_home=data).stdout)
    harmless(run("db-path", "--workspace", str(ws), data_home=data).stdout)
    missing = run("tree", "--workspace", str(ws / "nope\x1b[2J"), data_home=data, check=False)
    assert missing.returncode == 1
    harmless(missing.stderr)
