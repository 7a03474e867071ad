"""The Navigation view, used as a person uses it: the real app in a real webview, a real
retrace-lsp driven by a real LSP client (pytest-lsp) making the visits."""

from __future__ import annotations

import asyncio
import hashlib
import pathlib

from tests.desktop.harness import update_docs_screenshot
from tests.editors.nvim_harness import Editor, environment, make_workspace, wait_for
from tests.lsp import harness as lsp


def workspace(root: pathlib.Path, name: str, files: dict[str, int]) -> pathlib.Path:
    ws = root / name
    for rel, lines in files.items():
        path = ws / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"line {i + 1} of {rel}\n" for i in range(lines)))
    return ws


def rows(app) -> list[str]:
    """The tree's rows as text (textContent: WebKitWebDriver's visible text skips spans that
    clip with an ellipsis)."""
    return [" ".join((e.get_attribute("textContent") or "").split()) for e in app.find("[data-testid=node]")]


def test_first_start_on_an_empty_data_directory_explains_what_to_do(start_app):
    app = start_app()
    empty = app.one("[data-testid=nav-empty]")
    assert "No navigation history yet" in empty.text
    assert "Open a workspace in an editor with the Retrace plugin" in empty.text
    app.screenshot("empty")


async def test_visits_from_an_editor_appear_live(start_app, dirs, tmp_path):
    ws = workspace(tmp_path, "shop", {"src/main.rs": 60, "src/cart.rs": 80, "src/tax.rs": 40})
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    try:
        editor.visit(ws / "src/main.rs", 0, "open")
        editor.visit(ws / "src/cart.rs", 41)
        await editor.status()  # the visits are committed once this is answered
        app = start_app()
        app.wait(lambda: len(rows(app)) == 2, what="two nodes shown")
        app.screenshot("two-visits")
        # file:line, the line's text, the reason, and the editor whose cursor is there.
        assert "src/cart.rs:42 line 42 of src/cart.rs definition pytest-lsp" in rows(app)[1]
        # Made while the app is open: shown without any reload.
        editor.visit(ws / "src/tax.rs", 9, "reference")
        await editor.status()
        app.wait(lambda: any("src/tax.rs:10" in r for r in rows(app)), what="the new visit shown live")
        # A branch: back to main.rs, then somewhere new.
        await editor.back()
        await editor.back()
        editor.visit(ws / "src/tax.rs", 30)
        await editor.status()
        app.wait(lambda: len(rows(app)) == 4, what="the branch shown")
        shot = app.screenshot("branch")
        update_docs_screenshot(shot, "desktop-navigation.png")
    finally:
        await editor.close()


def test_a_corrupt_database_is_explained_and_left_untouched(start_app, dirs):
    history = dirs.data / "retrace" / "history"
    history.mkdir(parents=True)
    broken = history / "broken-0011223344556677.sqlite3"
    broken.write_bytes(b"this is not a database, it only has the name of one\n" * 100)
    before = hashlib.sha256(broken.read_bytes()).hexdigest()
    app = start_app()
    app.one("[data-testid=workspace]").click()
    problem = app.one("[data-testid=nav-tree-error]")
    assert str(broken) in problem.text
    assert "has not changed it" in problem.text
    app.screenshot("corrupt")
    app.quit()
    assert hashlib.sha256(broken.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in history.iterdir()) == [broken.name]


def test_keys_are_listed_by_question_mark(start_app):
    app = start_app()
    app.one("[data-testid=nav-empty]")
    app.press("?")
    dialog = app.one("[role=dialog]")
    assert "Keyboard shortcuts" in dialog.text
    assert "Filter by file name" in dialog.text
    app.screenshot("help")
    app.press("\ue00c")  # Escape
    app.wait(lambda: not app.find("[role=dialog]"), what="the list closed")


async def test_the_selected_workspace_survives_a_restart(start_app, dirs, tmp_path):
    for name in ("alpha", "beta"):
        ws = workspace(tmp_path, name, {"a.txt": 20})
        editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
        editor.visit(ws / "a.txt", 3, "open")
        await editor.status()
        await editor.close()
    app = start_app()
    buttons = app.wait(lambda: app.find("[data-testid=workspace]") if len(app.find("[data-testid=workspace]")) == 2 else None,
                       what="both workspaces listed")
    alpha = next(b for b in buttons if "alpha" in b.text)
    alpha.click()
    app.wait(lambda: "alpha" in app.text("h1"), what="alpha opened")
    app.quit()
    app = start_app()
    app.wait(lambda: "alpha" in app.text("h1"), what="alpha opened again after the restart")


def test_the_theme_follows_the_system(start_app):
    """GTK's dark style (here through GTK_THEME, as a desktop's setting would) turns the
    app dark; without it the app is light."""
    def background(app) -> tuple[int, ...]:
        app.one("[data-testid=nav-empty]")
        rgb = app.js("return getComputedStyle(document.body).backgroundColor")
        return tuple(int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(","))

    light = start_app()
    assert sum(background(light)) > 600
    light.quit()
    dark = start_app(GTK_THEME="Adwaita:dark")
    assert sum(background(dark)) < 150
    dark.screenshot("dark")


def test_the_window_size_survives_a_restart(start_app):
    app = start_app()
    app.one("[data-testid=nav-empty]")
    app.driver.set_window_size(900, 610)
    app.wait(lambda: app.js("return innerWidth") == 900, what="the window resized")
    # The app may be ended any way (here WebDriver kills it): the size is saved when it settles.
    state = app.dirs.config / "dev.retrace.desktop" / ".window-state.json"
    app.wait(lambda: state.exists() and '"width": 900' in state.read_text(), what="the new size saved")
    app.quit()
    again = start_app()
    again.one("[data-testid=nav-empty]")
    assert again.js("return [innerWidth, innerHeight]") == [900, 610]


def row_of(app, place: str):
    """The tree row whose file:line is `place`."""
    return app.wait(
        lambda: next((e for e in app.find("[data-testid=node]") if place in (e.get_attribute("textContent") or "")), None),
        what=f"a row for {place}",
    )


async def test_a_click_moves_the_editor_there(start_app, dirs, tmp_path):
    """app -> control socket -> retrace-lsp -> window/showDocument -> the LSP client."""
    ws = workspace(tmp_path, "shop", {"src/main.rs": 60, "src/cart.rs": 80, "src/tax.rs": 40})
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    try:
        editor.visit(ws / "src/main.rs", 0, "open")
        editor.visit(ws / "src/cart.rs", 41)
        editor.visit(ws / "src/tax.rs", 9)
        tree = await editor.tree_json()
        cart = next(n["id"] for n in tree["nodes"] if n["path"] == "src/cart.rs")
        app = start_app()
        row = row_of(app, "src/cart.rs:42")
        await asyncio.to_thread(row.click)
        shown = await lsp.eventually(lambda: editor.client.shown_documents)
        assert shown[-1].uri == lsp.uri(ws / "src/cart.rs")
        assert shown[-1].selection.start.line == 41 and shown[-1].take_focus is True
        # Recorded as a jump of that session: its cursor is there, no node was added.
        assert (await editor.status())["node"]["id"] == cart
        assert len((await editor.tree_json())["nodes"]) == 3
        await asyncio.to_thread(app.wait, lambda: "pytest-lsp is at src/cart.rs:42" in app.text("[data-testid=nav-note]"),
                                10.0, "the app saying where the editor went")
        # The editor's cursor mark moves to the node in the app, live.
        await asyncio.to_thread(app.wait, lambda: "pytest-lsp" in (row_of(app, "src/cart.rs:42").get_attribute("textContent") or ""),
                                10.0, "the editor's mark on the node")
        await asyncio.to_thread(app.screenshot, "jumped")
        # Keyboard: the cursor to src/main.rs (first row), Enter.
        await asyncio.to_thread(app.press, "g")
        await asyncio.to_thread(app.press, "\ue007")  # Enter
        await lsp.eventually(lambda: editor.client.shown_documents[-1].uri == lsp.uri(ws / "src/main.rs"))
    finally:
        await editor.close()


async def test_the_most_recent_editor_moves_unless_another_is_picked(start_app, dirs, tmp_path):
    ws = workspace(tmp_path, "shop", {"a.rs": 50, "b.rs": 50})
    first = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    second = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    try:
        first.visit(ws / "a.rs", 4, "open")
        await first.status()
        second.visit(ws / "b.rs", 9, "open")
        await second.status()
        app = start_app()
        picker = app.one("[data-testid=nav-editor]")
        assert len(picker.find_elements("css selector", "option")) == 2
        await asyncio.to_thread(row_of(app, "a.rs:5").click)
        await lsp.eventually(lambda: second.client.shown_documents)
        assert first.client.shown_documents == []
        # Pick the other editor (the select, or `e` from the keyboard).
        await asyncio.to_thread(app.press, "e")
        await asyncio.to_thread(row_of(app, "b.rs:10").click)
        await lsp.eventually(lambda: first.client.shown_documents)
        assert first.client.shown_documents[-1].uri == lsp.uri(ws / "b.rs")
        await asyncio.to_thread(app.screenshot, "two-editors")
    finally:
        await first.close()
        await second.close()


async def test_without_an_editor_a_click_says_what_to_do(start_app, dirs, tmp_path):
    ws = workspace(tmp_path, "shop", {"a.rs": 50})
    editor = await lsp.start(ws, dirs.data, options={"sendsVisits": True})
    editor.visit(ws / "a.rs", 4, "open")
    await editor.status()
    await editor.close()
    app = start_app()
    app.one("[data-testid=nav-no-editor]")
    row_of(app, "a.rs:5").click()
    line = app.one("[data-testid=error-line]")
    assert "no editor is open on" in line.text and "open the workspace in an editor" in line.text
    app.screenshot("no-editor")


def test_a_click_moves_neovim_with_the_plugin(start_app, dirs, tmp_path):
    """Headless Neovim (Debian's 0.7.2, which has no showDocument handler of its own) with
    the Retrace plugin: its buffer and cursor move to the node clicked in the app."""
    ws = make_workspace(tmp_path / "ws")
    with environment(XDG_RUNTIME_DIR=str(dirs.runtime)):
        nvim = Editor(tmp_path / "nvim", ws, dirs.data, nvim="0.7")
    try:
        nvim.edit("src/a.txt")
        nvim.wait_ready()
        nvim.keys("120G")
        nvim.edit("src/b.txt")
        nvim.keys("30G")
        wait_for(lambda: len(nvim.nodes()) == 4, what=f"four visits (have {nvim.nodes()})")
        app = start_app()
        picker = app.one("[data-testid=nav-editor]")
        assert "Neovim" in picker.text
        row_of(app, "src/a.txt:120").click()
        wait_for(lambda: nvim.place() == ("src/a.txt", 120), what="Neovim at src/a.txt:120")
        assert nvim.current() == "src/a.txt:120"
        assert len(nvim.nodes()) == 4
        app.screenshot("neovim-moved")
    finally:
        nvim.quit()
