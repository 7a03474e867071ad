"""The VS Code extension end to end, in VS Code itself: the packaged .vsix installed into
code-server, driven in Chromium through the workbench's UI as a person uses it (Quick Open,
the command palette, QuickPicks, the tree view, the status bar), against the real retrace-lsp.
After each step the history database agrees (`retrace-lsp tree --json`). Screenshots of each
state go to tests/output/vscode/<test>/ (RETRACE_TEST_OUTPUT moves them)."""

from __future__ import annotations

import pathlib

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import binary

from .nvim_harness import old_server
from .nvim_harness import wait_for as _wait_for
from .vscode_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OUTPUT,
    CodeServer,
    Workbench,
    build_vsix,
    cli_nodes,
    group_members,
    install_extension,
    remove_tree,
)

@pytest.fixture(scope="module")
def extensions(tmp_path_factory) -> pathlib.Path:
    """An extensions directory holding the extension, packaged from the sources."""
    tmp = tmp_path_factory.mktemp("vscode-extension")
    vsix = build_vsix(tmp)
    extensions = tmp / "extensions"
    install_extension(vsix, extensions)
    return extensions


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    """src/{a,b,c,d}.ts of 200 numbered lines, in a git-like root."""
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    for name in "abcd":
        (root / "src" / f"{name}.ts").write_text("".join(f"const {name}{i} = {i};\n" for i in range(1, 201)))
    return root.resolve()


@pytest.fixture
def data_home(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data"


@pytest.fixture
def vscode(tmp_path, extensions, data_home, request):
    """Starts code-server (one per call); each is stopped at the end, its whole process group
    (extension hosts, retrace-lsp) checked gone."""
    started: list[CodeServer] = []

    def start(settings: dict) -> CodeServer:
        server = CodeServer(tmp_path / f"code-server{len(started)}", extensions, data_home, settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def shots(request) -> pathlib.Path:
    path = OUTPUT / "vscode" / request.node.name
    remove_tree(path)
    return path


def open_window(browser, server: CodeServer, workspace: pathlib.Path, shots: pathlib.Path,
                name: str = "window") -> Workbench:
    """A window on the workspace, once the extension has started there (it activates when
    VS Code has finished starting, and shows its status bar item once its server answers):
    what a person does before that is not recorded."""
    wb = Workbench.open(browser, server, workspace, shots, name)
    expect(wb.status()).to_be_visible(timeout=60_000)
    return wb


def wait_for(check, what: str, timeout: float = 30.0):
    """As nvim_harness.wait_for, with the time VS Code in a browser needs on a loaded machine."""
    return _wait_for(check, timeout=timeout, what=what)


def db_agrees(workspace: pathlib.Path, data_home: pathlib.Path, expected: list[str]) -> None:
    """Waits until the history database holds exactly `expected` (path:line (reason))."""
    wait_for(lambda: cli_nodes(workspace, data_home) == expected,
             what=f"the database to hold {expected} (it has {cli_nodes(workspace, data_home)})")


def retrace_servers(server: CodeServer) -> set[int]:
    return {int(m.split()[0]) for m in group_members(server.pgid) if "retrace-lsp" in m}


WALK = ["src/a.ts:1 (open)", "src/b.ts:1 (open)", "src/b.ts:200 (jump)", "src/c.ts:1 (open)"]


def walk(wb: Workbench, workspace: pathlib.Path, data_home: pathlib.Path) -> None:
    """a.ts, b.ts, line 200 of b.ts, c.ts: four visits."""
    wb.quick_open("a.ts")
    db_agrees(workspace, data_home, WALK[:1])
    wb.quick_open("b.ts")
    wb.go_to_line(200)
    db_agrees(workspace, data_home, WALK[:3])
    wb.quick_open("c.ts")
    db_agrees(workspace, data_home, WALK)
    wb.shot("walked")


def test_a_session_in_vscode(browser, vscode, workspace, data_home, shots):
    server = vscode({"retrace.serverPath": str(binary("retrace-lsp"))})
    wb = open_window(browser, server, workspace, shots)
    walk(wb, workspace, data_home)
    expect(wb.status()).to_contain_text("3 · 0 branches")

    # back, back: the editor follows the server's cursor
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 200)
    wb.shot("back")
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 1)
    expect(wb.status()).to_contain_text("1 · 1 branch")
    wb.shot("back-back")

    # a new file from there is a new branch; the old one is kept
    wb.quick_open("d.ts")
    db_agrees(workspace, data_home, WALK + ["src/d.ts:1 (open)"])
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 1)
    expect(wb.status()).to_contain_text("1 · 2 branches")

    # forward at the branch: both ways on, most recent first
    wb.command_picks("Retrace: Forward")
    wait_for(lambda: len(wb.rows().all()) == 2 and "d.ts" in wb.row_labels()[0], what="the branch QuickPick")
    rows = wb.row_labels()
    wb.shot("forward-branches")
    assert rows[0].startswith("src/d.ts:1") and "open, just now" in rows[0], rows
    assert rows[1].startswith("src/b.ts:200") and "const b200 = 200;" in rows[1], rows
    wb.pick("src/b.ts:200")
    wb.wait_place("b.ts", 200)
    expect(wb.status()).to_contain_text("2 · 1 branch")
    db_agrees(workspace, data_home, WALK + ["src/d.ts:1 (open)"])

    # the tree view: the history as a tree, the current place marked; a click jumps
    wb.command("Retrace: Show the History Tree")
    wait_for(lambda: any("← current" in r for r in wb.tree_rows()), what=f"the tree view ({wb.tree_rows()})")
    rows = wb.tree_rows()
    assert rows[:2] == ["#1 src/a.ts:1open", "#2 src/b.ts:1open"], rows
    assert "#3 src/b.ts:200jump ← current" in rows and "#5 src/d.ts:1open" in rows, rows
    wb.shot("tree-view")
    wb.tree_view().locator(".monaco-list-row", has_text="#1 src/a.ts:1").click()
    wb.wait_place("a.ts", 1)
    expect(wb.status()).to_contain_text("0 · 1 branch")
    wait_for(lambda: "#1 src/a.ts:1open ← current" in wb.tree_rows(), what="the tree view to follow")
    wb.shot("jumped-from-tree")
    db_agrees(workspace, data_home, WALK + ["src/d.ts:1 (open)"])

    # restart: a new retrace-lsp, the same history
    before = retrace_servers(server)
    assert len(before) == 1, group_members(server.pgid)
    wb.command("Retrace: Restart the Server")
    wait_for(lambda: len(retrace_servers(server)) == 1 and not retrace_servers(server) & before,
             what="a new retrace-lsp")
    wb.command("Retrace: Forward")
    wb.wait_place("b.ts", 1)
    wb.shot("after-restart")

    # the jump picker: every place, most recent first, with its line; pick one
    wb.command_picks("Retrace: Jump to a Place in the History...")
    wait_for(lambda: len(wb.rows().all()) == 5, what="the jump QuickPick")
    rows = wb.row_labels()
    wb.shot("jump-picker")
    assert rows[0].startswith("#2 src/b.ts:1") and "← current" in rows[0], rows
    assert any(r.startswith("#4 src/c.ts:1") and "const c1 = 1;" in r for r in rows), rows
    wb.pick("#4 src/c.ts:1")
    wb.wait_place("c.ts", 1)
    expect(wb.status()).to_contain_text("3 · 0 branches")
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 200)
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 1)
    db_agrees(workspace, data_home, WALK + ["src/d.ts:1 (open)"])

    # a second window on the same folder shares the tree
    wb2 = open_window(browser, server, workspace, shots, "window2")
    wb2.quick_open("c.ts")
    wb2.go_to_line(150)
    # its session started where the history was last (b.ts:1): c.ts is a new branch there
    db_agrees(workspace, data_home, WALK + ["src/d.ts:1 (open)", "src/c.ts:1 (open)", "src/c.ts:150 (jump)"])
    wb2.shot("second-window")
    # the first window learns of them when it next asks: Show the History Tree refreshes the
    # tree (#6 heads the new branch, #7 under it) and the status bar
    wb.command("Retrace: Show the History Tree")
    wait_for(lambda: "#6 src/c.ts:1open" in wb.tree_rows(),
             what=f"the second window's visits in the first window's tree ({wb.tree_rows()})")
    expect(wb.status()).to_contain_text("1 · 3 branches")
    wb.status().hover()
    expect(wb.page.locator(".monaco-hover, .workbench-hover")).to_contain_text("2 editor sessions open on it")
    wb.shot("first-window-sees-it")
    wb2.close()
    wb.close()


def test_the_server_moves_the_editor_with_show_document(browser, vscode, workspace, data_home, shots):
    """With serverOptions.showDocument the server moves the editor (window/showDocument, as
    the Retrace app will): vscode-languageclient opens the place, the extension does not report
    the arrival, and the history does not change."""
    server = vscode({"retrace.serverPath": str(binary("retrace-lsp")),
                     "retrace.serverOptions": {"showDocument": True}})
    wb = open_window(browser, server, workspace, shots)
    walk(wb, workspace, data_home)
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 200)
    wb.command("Retrace: Back")
    wb.wait_place("b.ts", 1)
    wb.shot("moved-by-the-server")
    wb.command("Retrace: Show the History Tree")
    wait_for(lambda: len(wb.tree_rows()) == 4, what=f"the tree view ({wb.tree_rows()})")
    wb.tree_view().locator(".monaco-list-row", has_text="#4 src/c.ts:1").click()
    wb.wait_place("c.ts", 1)
    wb.shot("jumped-by-the-server")
    db_agrees(workspace, data_home, WALK)
    expect(wb.status()).to_contain_text("3 · 0 branches")
    wb.close()


def test_a_missing_or_old_server_is_a_clear_error(browser, vscode, workspace, data_home, shots, tmp_path):
    old = old_server(tmp_path / "old-retrace-lsp")
    server = vscode({"retrace.serverPath": "/nonexistent/retrace-lsp"})
    wb = Workbench.open(browser, server, workspace, shots, "window")
    wait_for(lambda: any("cannot find the retrace-lsp binary" in n for n in wb.notifications()),
             what=f"the missing-binary error ({wb.notifications()})")
    assert ("Retrace: cannot find the retrace-lsp binary (looked for /nonexistent/retrace-lsp). Install it from "
            "the Retrace repository with `cargo install --path lsp-server`, or set retrace.serverPath.") \
        in wb.notifications()
    wb.shot("missing")
    wb.command("Notifications: Clear All Notifications")

    # a setting that names a too old server: the extension restarts and says so
    server.set_settings({"retrace.serverPath": str(old)})
    wait_for(lambda: any("older than 0.1.0" in n for n in wb.notifications()),
             what=f"the too-old error ({wb.notifications()})")
    assert any(n.startswith(f"Retrace: {old} is version 0.0.1, older than 0.1.0") for n in wb.notifications())
    expect(wb.page.locator(".notification-toast", has_text="older than 0.1.0")).to_be_visible()
    wb.shot("too-old")

    # and a good one: recording starts
    server.set_settings({"retrace.serverPath": str(binary("retrace-lsp"))})
    wb.quick_open("a.ts")
    db_agrees(workspace, data_home, ["src/a.ts:1 (open)"])
    wb.shot("fixed")
    wb.close()
