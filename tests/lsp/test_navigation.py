"""retrace-lsp end to end: the real binary, a real LSP client, a real SQLite file."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from .harness import by_path, eventually, start, uri

LINES = "\n".join(f"line {i}" for i in range(200)) + "\n"


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    for name in ["a.rs", "b.rs", "c.rs", "d.rs", "e.rs"]:
        (ws / "src" / name).write_text(LINES)
    return ws


@pytest.fixture
def data_home(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data"


async def test_the_seed_scenario_keeps_both_branches(workspace, data_home):
    s = await start(workspace, data_home)
    src = workspace / "src"
    try:
        s.visit(src / "a.rs", 9)
        s.visit(src / "b.rs", 19)
        s.visit(src / "c.rs", 29)
        back = await s.back()
        assert back["status"] == "moved"
        assert back["location"]["uri"] == uri(src / "b.rs")
        assert back["location"]["range"]["start"] == {"line": 19, "character": 0}
        back = await s.back()
        assert back["node"]["path"] == "src/a.rs"
        s.visit(src / "d.rs", 39)
        await s.back()
        fwd = await s.forward()
        assert fwd["status"] == "choose"
        assert [c["path"] for c in fwd["choices"]] == ["src/d.rs", "src/b.rs"]
        assert fwd["node"]["path"] == "src/a.rs", "choosing must not move the cursor"
        b_id = fwd["choices"][1]["id"]
        moved = await s.forward(node=b_id)
        assert moved["status"] == "moved" and moved["node"]["path"] == "src/b.rs"
        tree = await s.tree_json()
        c = by_path(tree)["src/c.rs:30"]
        jumped = await s.jump(c["id"])
        assert jumped["location"]["uri"] == uri(src / "c.rs")
        text = await s.tree_text()
        assert text.splitlines() == [
            "#1 src/a.rs:10 (definition)",
            "├─ #2 src/b.rs:20 (definition)",
            "│  #3 src/c.rs:30 (definition)  <- current",
            "└─ #4 src/d.rs:40 (definition)",
        ]
        tree = await s.tree_json()
        assert tree["current"] == c["id"]
        assert tree["root"] == 1
        assert {n["id"]: n["children"] for n in tree["nodes"]} == {1: [2, 4], 2: [3], 3: [], 4: []}
    finally:
        await s.close()


async def test_back_at_root_and_forward_at_leaf_say_so(workspace, data_home):
    s = await start(workspace, data_home)
    try:
        empty = await s.back()
        assert empty["status"] == "empty" and "no history yet" in empty["message"]
        s.visit(workspace / "src" / "a.rs", 0)
        at_root = await s.back()
        assert at_root["status"] == "at-root" and at_root["location"] is None
        at_leaf = await s.forward()
        assert at_leaf["status"] == "at-leaf"
        assert len((await s.tree_json())["nodes"]) == 1
    finally:
        await s.close()


async def test_forward_latest_policy_skips_the_question(workspace, data_home):
    s = await start(workspace, data_home, options={"forwardPolicy": "latest"})
    src = workspace / "src"
    try:
        s.visit(src / "a.rs", 0)
        s.visit(src / "b.rs", 0)
        await s.back()
        s.visit(src / "c.rs", 0)
        await s.back()
        fwd = await s.forward()
        assert fwd["status"] == "moved" and fwd["node"]["path"] == "src/c.rs"
        # An explicit policy in the arguments wins over the setting.
        await s.back()
        ask = await s.forward(policy="ask")
        assert ask["status"] == "choose"
    finally:
        await s.close()


async def test_history_survives_a_restart_and_xdg_data_home_is_used(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home)
    s.visit(src / "a.rs", 0)
    s.visit(src / "b.rs", 50)
    await s.tree_json()  # the visits are handled before this answer
    await s.close()
    dbs = list((data_home / "retrace" / "history").glob("ws-*.sqlite3"))
    assert len(dbs) == 1, "the database lives under $XDG_DATA_HOME/retrace/history"

    s = await start(workspace, data_home)
    try:
        status = await s.status()
        assert status["nodes"] == 2
        assert status["node"]["path"] == "src/b.rs", "a new session starts where history left off"
        back = await s.back()
        assert back["node"]["path"] == "src/a.rs"
    finally:
        await s.close()


async def test_a_visit_is_on_disk_before_the_next_message_even_after_kill_9(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home)
    for i, name in enumerate(["a.rs", "b.rs", "c.rs"]):
        s.visit(src / name, i * 20)
    await s.status()  # a request after the visits: they were handled (and committed) before
    s.client._server.kill()  # SIGKILL: no shutdown, no flush
    await s.client._server.wait()
    await s.client.stop()

    s = await start(workspace, data_home)
    try:
        text = await s.tree_text()
        assert [line.split()[1] for line in text.splitlines()] == ["src/a.rs:1", "src/b.rs:21", "src/c.rs:41"]
    finally:
        await s.close()


async def test_two_servers_on_one_workspace_see_each_others_visits(workspace, data_home):
    src = workspace / "src"
    nvim = await start(workspace, data_home)
    code = await start(workspace, data_home)
    try:
        nvim.visit(src / "a.rs", 0)
        nvim.visit(src / "b.rs", 0)
        await nvim.status()
        seen = by_path(await code.tree_json())
        assert set(seen) == {"src/a.rs:1", "src/b.rs:1"}
        # The second editor has its own cursor: moving it leaves the first one alone.
        await code.jump(seen["src/a.rs:1"]["id"])
        code.visit(src / "c.rs", 0)
        await code.status()
        assert (await nvim.status())["node"]["path"] == "src/b.rs"
        tree = by_path(await nvim.tree_json())
        assert tree["src/c.rs:1"]["parent"] == tree["src/a.rs:1"]["id"]
        # Both keep writing, interleaved: nothing is lost, ids stay unique.
        for i in range(20):
            nvim.visit(src / "d.rs", i * 10)
            code.visit(src / "e.rs", i * 10)
        await asyncio.gather(nvim.status(), code.status())
        nodes = (await nvim.tree_json())["nodes"]
        assert len(nodes) == 3 + 40
        assert len({n["id"] for n in nodes}) == len(nodes)
    finally:
        await nvim.close()
        await code.close()


async def test_show_document_is_sent_and_the_arrival_is_not_a_new_visit(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home, options={"showDocument": True, "sendsVisits": True})
    try:
        s.visit(src / "a.rs", 4)
        s.visit(src / "b.rs", 99)
        back = await s.back()
        # window/showDocument goes out before the command's reply.
        shown = s.client.shown_documents
        assert len(shown) == 1
        assert shown[0].uri == uri(src / "a.rs")
        assert shown[0].take_focus is True
        assert shown[0].selection.start.line == 4
        # The editor reports arriving at the target: absorbed.
        s.visit(src / "a.rs", 4, reason="switch")
        after = await s.tree_json()
        assert len(after["nodes"]) == 2
        assert after["current"] == back["node"]["id"]
        # The user's own jump in the same file, at once, is recorded.
        s.visit(src / "a.rs", 60, reason="jump")
        after = by_path(await s.tree_json())
        assert after["src/a.rs:61"]["parent"] == back["node"]["id"]
        # And so is a jump in the moved-to file when the editor does not report arriving.
        await s.jump(after["src/b.rs:100"]["id"])
        s.visit(src / "b.rs", 150, reason="jump")
        assert "src/b.rs:151" in by_path(await s.tree_json())
    finally:
        await s.close()


async def test_pull_style_clients_get_every_visit_right_after_a_move(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home, options={"sendsVisits": True})
    try:
        s.visit(src / "a.rs", 4)
        s.visit(src / "b.rs", 99)
        await s.back()
        # The plugin moved the editor itself and does not report that; the user's next jump
        # in the same file, at once, is a real visit.
        s.visit(src / "a.rs", 150)
        tree = by_path(await s.tree_json())
        assert "src/a.rs:151" in tree
        assert tree["src/a.rs:151"]["parent"] == tree["src/a.rs:5"]["id"]
    finally:
        await s.close()


async def test_show_document_needs_the_client_capability_and_the_option(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home, options={"showDocument": True}, show_document=False)
    t = await start(workspace, data_home / "other", options={})
    try:
        for session in (s, t):
            session.visit(src / "a.rs", 0)
            session.visit(src / "b.rs", 0)
            assert (await session.back())["location"] is not None
            # window/showDocument would have come before the reply.
            assert session.client.shown_documents == []
    finally:
        await s.close()
        await t.close()


async def test_message_order_is_kept_under_a_burst(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home)
    try:
        # 300 notifications and commands in one burst, nothing awaited in between.
        lines = list(range(0, 3000, 10))
        pending = []
        for i, line in enumerate(lines):
            s.visit(src / "a.rs", line)
            if i % 50 == 49:
                pending.append(s.command_now("retrace.status"))
        statuses = await asyncio.gather(*pending)
        # Each status saw exactly the visits sent before it.
        assert [st["nodes"] for st in statuses] == [50 * (k + 1) for k in range(len(statuses))]
        nodes = (await s.tree_json())["nodes"]
        assert [n["line"] for n in nodes] == lines
        assert all(n["parent"] == p["id"] for p, n in zip(nodes, nodes[1:])), "one chain, in order"
    finally:
        await s.close()


async def test_did_open_is_a_visit_only_for_clients_that_send_no_visits(workspace, data_home):
    from lsprotocol import types

    src = workspace / "src"
    s = await start(workspace, data_home)
    try:
        def did_open(path):
            s.client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(uri=uri(path), language_id="rust", version=1, text=LINES)
                )
            )

        did_open(src / "a.rs")
        did_open(src / "b.rs")
        tree = await s.tree_json()
        assert [(n["path"], n["reason"]) for n in tree["nodes"]] == [("src/a.rs", "open"), ("src/b.rs", "open")]
        s.visit(src / "c.rs", 5)
        did_open(src / "d.rs")  # from now on the client reports visits itself
        tree = await s.tree_json()
        assert [n["path"] for n in tree["nodes"]] == ["src/a.rs", "src/b.rs", "src/c.rs"]
    finally:
        await s.close()


async def test_files_renamed_or_deleted_outside_the_editor_are_followed(workspace, data_home):
    src = workspace / "src"
    s = await start(workspace, data_home)
    try:
        s.visit(src / "a.rs", 0)
        s.visit(src / "b.rs", 10)
        s.visit(src / "c.rs", 20)
        await s.status()  # the directories are watched once the visits are answered

        (src / "a.rs").rename(src / "renamed.rs")
        (src / "c.rs").unlink()

        async def followed():
            nodes = by_path(await s.tree_json())
            ok = "src/renamed.rs:1" in nodes and nodes["src/c.rs:21"]["gone"]
            return nodes if ok else None

        nodes = await eventually(followed)
        assert "src/a.rs:1" not in nodes
        assert (await s.tree_text()).splitlines()[2] == "#3 src/c.rs:21 (definition) [deleted]  <- current"
        # Moving to the deleted file's node says so and gives no location.
        await s.back()
        fwd = await s.forward()
        assert fwd["status"] == "moved" and fwd["location"] is None
        assert "src/c.rs was deleted" in fwd["message"]
        # The renamed file's node opens at its new path.
        root = await s.jump(nodes["src/renamed.rs:1"]["id"])
        assert root["location"]["uri"] == uri(src / "renamed.rs")

        # A save by rename (vim's backup dance) is not a move. The watcher's events come in
        # order: once a real rename made after it is followed, the dance was seen.
        s.visit(src / "e.rs", 30)
        await s.status()
        (src / "b.rs").rename(src / "b.rs~")
        (src / "b.rs").write_text(LINES)
        (src / "b.rs~").unlink()
        (src / "e.rs").rename(src / "e2.rs")

        async def marker_followed():
            nodes = by_path(await s.tree_json())
            return nodes if "src/e2.rs:31" in nodes else None

        nodes = await eventually(marker_followed)
        assert "src/b.rs:11" in nodes and not nodes["src/b.rs:11"]["gone"]

        # A whole directory moved.
        (workspace / "src").rename(workspace / "lib")

        async def dir_followed():
            paths = {n["path"] for n in (await s.tree_json())["nodes"]}
            return paths if paths >= {"lib/renamed.rs", "lib/b.rs"} else None

        await eventually(dir_followed)
    finally:
        await s.close()


async def test_renames_and_deletes_reported_by_the_editor(workspace, data_home):
    from lsprotocol import types

    src = workspace / "src"
    s = await start(workspace, data_home)
    try:
        s.visit(src / "a.rs", 0)
        s.visit(src / "b.rs", 0)
        (src / "a.rs").rename(src / "z.rs")
        s.client.workspace_did_rename_files(
            types.RenameFilesParams(files=[types.FileRename(old_uri=uri(src / "a.rs"), new_uri=uri(src / "z.rs"))])
        )
        (src / "b.rs").unlink()
        s.client.workspace_did_delete_files(types.DeleteFilesParams(files=[types.FileDelete(uri=uri(src / "b.rs"))]))
        nodes = by_path(await s.tree_json())
        assert set(nodes) == {"src/z.rs:1", "src/b.rs:1"}
        assert nodes["src/b.rs:1"]["gone"] and not nodes["src/z.rs:1"]["gone"]
    finally:
        await s.close()


async def test_tree_changed_notifications_for_clients_that_ask(workspace, data_home):
    s = await start(workspace, data_home, options={"notifyChanges": True})
    try:
        waiter = asyncio.ensure_future(s.client.wait_for_notification("retrace/treeChanged"))
        s.visit(workspace / "src" / "a.rs", 0)
        changed = await asyncio.wait_for(waiter, 5)
        assert changed.nodes == 1 if hasattr(changed, "nodes") else changed["nodes"] == 1
    finally:
        await s.close()
