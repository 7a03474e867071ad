"""The Neovim plugin end to end: headless Neovim (Debian's 0.7.2 and a current one: every test
runs on both), the plugin, the real retrace-lsp. A test fails on any use of deprecated API."""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
import time

import pytest

from tests.conftest import binary

from .nvim_harness import (
    NEOVIMS,
    PLUGIN,
    Editor,
    cli_tree,
    cli_tree_json,
    make_workspace,
    old_server,
    wait_for,
)

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def data_home(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data"


@pytest.fixture(params=NEOVIMS, ids=[f"nvim-{v}" for v in NEOVIMS])
def nvim(request) -> str:
    """Which Neovim the test runs on."""
    return request.param


@pytest.fixture
def editors(tmp_path, workspace, data_home, nvim):
    """Starts editors on the workspace; every one is quit (and checked gone) at the end, after
    checking that nothing used deprecated API."""
    started: list[Editor] = []

    def start(**kwargs) -> Editor:
        kwargs.setdefault("workspace", workspace)
        kwargs.setdefault("data_home", data_home)
        kwargs.setdefault("nvim", nvim)
        ed = Editor(tmp_path / f"nvim{len(started)}", **kwargs)
        started.append(ed)
        return ed

    yield start
    deprecated = []
    for ed in started:
        if ed.nvim is not None:
            deprecated += ed.deprecations()
    for ed in started:
        ed.quit()
    assert deprecated == [], "deprecated Neovim API used:\n" + "\n".join(deprecated)


# The current window's jumplist, as "bufnr:lnum" entries.
JUMPLIST = "local out = {} for _, e in ipairs(vim.fn.getjumplist()[1]) do" \
           " table.insert(out, e.bufnr .. ':' .. e.lnum) end return out"


def walk(ed: Editor) -> None:
    """a.txt, then b.txt, G in b.txt (a jump of 199 lines), then c.txt."""
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.edit("src/b.txt")
    ed.keys("G")
    ed.edit("src/c.txt")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/b.txt:1 (open)", "src/b.txt:200 (jump)", "src/c.txt:1 (open)"])


def test_back_branch_and_forward_through_the_picker(editors):
    ed = editors()
    walk(ed)
    ed.cmd("RetraceBack")
    ed.wait_place(("src/b.txt", 200))
    ed.cmd("2RetraceBack")
    ed.wait_place(("src/a.txt", 1))
    assert ed.current() == "src/a.txt:1"
    ed.cmd("RetraceBack")
    wait_for(lambda: any("oldest place" in m for m in ed.messages("INFO")), what="the at-root message")

    # somewhere new from a.txt: a second branch; the first is kept
    ed.edit("src/d.txt")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/b.txt:1 (open)", "src/b.txt:200 (jump)", "src/c.txt:1 (open)",
                   "src/d.txt:1 (open)"])
    ed.cmd("RetraceBack")
    ed.wait_place(("src/a.txt", 1))

    ed.lua("T.pick = 2")
    ed.cmd("RetraceForward")
    ed.wait_place(("src/b.txt", 1))
    assert ed.lua("return T.prompt") == "Retrace: forward to"
    assert ed.lua("return T.offered") == ["src/d.txt:1  d line 1", "src/b.txt:1  b line 1"]
    assert ed.current() == "src/b.txt:1"
    ed.cmd("RetraceForward")
    ed.wait_place(("src/b.txt", 200))
    assert ed.tree_text() == [
        "#1 src/a.txt:1 (open)",
        "├─ #2 src/b.txt:1 (open)",
        "│  #3 src/b.txt:200 (jump)  <- current",
        "│  #4 src/c.txt:1 (open)",
        "└─ #5 src/d.txt:1 (open)",
    ]
    # choosing nothing moves nothing
    ed.cmd("2RetraceBack")
    ed.wait_place(("src/a.txt", 1))
    ed.lua("T.pick = nil")
    ed.cmd("RetraceForward")
    time.sleep(0.2)
    assert ed.place() == ("src/a.txt", 1) and ed.current() == "src/a.txt:1"
    # ! takes the most recent branch without asking
    ed.lua("T.offered = nil")
    ed.cmd("RetraceForward!")
    ed.wait_place(("src/b.txt", 1))
    assert ed.lua("return T.offered") is None
    assert ed.messages("ERROR") == []


def test_forward_policy_latest_and_status(editors):
    ed = editors(setup={"forward_policy": "latest"})
    walk(ed)
    ed.cmd("3RetraceBack")
    ed.wait_place(("src/a.txt", 1))
    ed.edit("src/d.txt")
    ed.cmd("RetraceBack")
    ed.wait_place(("src/a.txt", 1))
    ed.lua("T.offered = nil")
    ed.cmd("RetraceForward")
    ed.wait_place(("src/d.txt", 1))
    assert ed.lua("return T.offered") is None, "latest: no question asked"
    ed.cmd("RetraceStatus")
    wait_for(lambda: any(m.startswith("retrace: at src/d.txt:1, depth 1, 0 branches here; 5 nodes, 1 session")
                         for m in ed.messages("INFO")), what=f"the status message ({ed.messages()})")


def test_moves_made_by_the_plugin_are_not_visits_and_keep_the_jumplist(editors):
    ed = editors()
    walk(ed)
    ed.lua("T.spy_on_visits()")
    before = set(ed.lua(JUMPLIST))
    ed.cmd("RetraceBack")
    ed.wait_place(("src/b.txt", 200))
    ed.cmd("RetraceBack")
    ed.wait_place(("src/b.txt", 1))
    ed.cmd("RetraceJump #3")
    ed.wait_place(("src/b.txt", 200))
    ed.cmd("RetraceJump 4")
    ed.wait_place(("src/c.txt", 1))
    ed.keys("j")
    assert ed.lua("return T.visits_sent") == []
    # keepjumps: nothing added to the native jumplist (Neovim itself drops the newest entry
    # when the cursor sits on it, so entries may be fewer)
    assert set(ed.lua(JUMPLIST)) <= before
    assert len(ed.nodes()) == 4 and ed.current() == "src/c.txt:1"
    # a real jump afterwards is still recorded
    ed.keys("G")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/b.txt:1 (open)", "src/b.txt:200 (jump)", "src/c.txt:1 (open)",
                   "src/c.txt:200 (jump)"])
    assert len(ed.lua("return T.visits_sent")) == 1


def test_the_server_moves_the_editor_with_show_document(editors, workspace, data_home):
    """window/showDocument, which the Retrace app will use to move the editor: the plugin
    answers it (0.7 has no handler; the current one's would add jumplist and tag stack entries
    and be taken for a visit) as it makes its own moves: no visit, no jumplist entry."""
    ed = editors(setup={"server_options": {"showDocument": True}})
    walk(ed)
    ed.lua("T.spy_on_visits()")
    ed.lua("T.spy_on_show_document()")
    jumps_before = set(ed.lua(JUMPLIST))
    tags_before = ed.lua("return vim.fn.gettagstack().length")
    # a modified buffer in a Neovim without 'hidden' is left all the same
    ed.cmd("set nohidden")
    ed.keys("Ochanged\x1b")
    # a move the plugin did not ask for (as when the app asks the server): the server's
    # command moves the session, its window/showDocument moves the editor
    ed.command("retrace.back")
    ed.wait_place(("src/b.txt", 200))
    # the plugin's own commands leave the move to the server's request too
    ed.cmd("RetraceBack")
    ed.wait_place(("src/b.txt", 1))
    # the line inserted above c.txt's place moved it down with its code (issue 13)
    ed.cmd("RetraceJump 4")
    ed.wait_place(("src/c.txt", 2))
    shown = [(pathlib.Path(s["uri"]).name, s["line"], s["result"]) for s in ed.lua("return T.shown")]
    assert shown == [("b.txt", 199, {"success": True}), ("b.txt", 0, {"success": True}),
                     ("c.txt", 1, {"success": True})]
    assert ed.lua("return vim.bo.modified") is True, "c.txt kept its change"
    ed.keys("j")
    assert ed.lua("return T.visits_sent") == [], "arrivals are not visits"
    tree = cli_tree_json(ed.bin, workspace, data_home)
    assert [f"{n['path']}:{n['line'] + 1}" for n in tree["nodes"]] == [
        "src/a.txt:1", "src/b.txt:1", "src/b.txt:200", "src/c.txt:2"]
    assert ed.current() == "src/c.txt:2"
    assert set(ed.lua(JUMPLIST)) <= jumps_before, "keepjumps: no jumplist entries"
    assert ed.lua("return vim.fn.gettagstack().length") == tags_before
    assert ed.messages("ERROR") == []
    # the user's own jumps are still reported (the server may take one in the moved-to file
    # for the arrival for 2 seconds: PROTOCOL.md, "Arrivals are not visits")
    ed.keys("G")
    wait_for(lambda: ed.lua("return T.visits_sent"), what="the visit of G")
    assert [(v["position"]["line"], v["reason"]) for v in ed.lua("return T.visits_sent")] == [(200, "jump")]


def test_keepjumps_off_adds_the_moves_to_the_jumplist(editors):
    ed = editors(setup={"keepjumps": False})
    walk(ed)
    ed.cmd("RetraceBack")
    ed.wait_place(("src/b.txt", 200))
    entries = [(e["bufnr"], e["lnum"]) for e in ed.lua("return vim.fn.getjumplist()[1]")]
    assert (ed.lua("return vim.fn.bufnr('c.txt')"), 1) in entries, "CTRL-O goes back to c.txt"
    ed.cmd("RetraceBack")
    ed.wait_place(("src/b.txt", 1))
    entries = [(e["bufnr"], e["lnum"]) for e in ed.lua("return vim.fn.getjumplist()[1]")]
    assert (ed.lua("return vim.fn.bufnr('b.txt')"), 200) in entries, "in-file moves too"
    assert len(ed.nodes()) == 4


def test_only_jumps_within_a_file_are_visits(editors):
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.keys("30j")  # a count, not a jump
    ed.keys("\x04")  # CTRL-D scrolls, not a jump
    assert ed.place() == ("src/a.txt", 42)
    ed.keys("80G")  # a jump of at least 10 lines
    ed.keys("85G")  # a jump, but of 5 lines
    ed.keys("/a line 120\r")  # a search is a jump
    ed.wait_nodes(["src/a.txt:1 (open)", "src/a.txt:80 (jump)", "src/a.txt:120 (jump)"])


def test_jump_lines_setting(editors):
    ed = editors(setup={"jump_lines": 0})
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.keys("G")
    ed.edit("src/b.txt")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/b.txt:1 (open)"])


def test_switching_buffers_and_windows_is_a_visit(editors):
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.edit("src/b.txt")
    ed.cmd("buffer " + str(ed.lua("return vim.fn.bufnr(...)", str(ed.workspace / "src/a.txt"))))
    ed.cmd("split " + str(ed.workspace / "src/c.txt"))
    ed.keys("\x17w")  # CTRL-W w: back to the window on a.txt
    ed.wait_nodes(["src/a.txt:1 (open)", "src/b.txt:1 (open)", "src/a.txt:1 (switch)", "src/c.txt:1 (open)",
                   "src/a.txt:1 (switch)"])


def test_a_renamed_buffer_is_recorded_under_its_new_name(editors):
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    # :RetraceStatus looks the renamed buffer up again before the tracker's next check, the
    # first move after the rename (which itself triggers none)
    ed.cmd(f"saveas {ed.workspace / 'src/e.txt'} | RetraceStatus")
    ed.keys("G")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/e.txt:200 (switch)"])


def test_lsp_go_to_definition_from_any_client_is_a_visit(editors, workspace):
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.keys("20G")
    fake = [sys.executable, str(HERE / "fake_lsp.py"), "--definition", f"{workspace / 'src/c.txt'}:77"]
    ed.lua("_G.fake_id = T.start_other('fake', ...)", fake)
    wait_for(lambda: ed.lua("local c = vim.lsp.get_client_by_id(_G.fake_id) return c ~= nil and c.initialized"),
             what="the fake language server")
    ed.lua("vim.lsp.buf.definition()")
    ed.wait_place(("src/c.txt", 77))
    # and the same within a file: the fake server points into c.txt itself
    ed.lua("vim.lsp.buf_attach_client(0, _G.fake_id)")
    ed.keys("gg")
    ed.lua("vim.lsp.buf.definition()")
    wait_for(lambda: ed.place() == ("src/c.txt", 77) and len(ed.nodes()) == 5,
             what=f"the in-file definition ({ed.place()}, {ed.nodes()})")
    assert ed.nodes() == ["src/a.txt:1 (open)", "src/a.txt:20 (jump)", "src/c.txt:77 (definition)",
                          "src/c.txt:1 (jump)", "src/c.txt:77 (definition)"]
    ed.lua("T.stop_client(_G.fake_id)")


def test_tag_jumps_are_visits(editors, workspace):
    (workspace / "tags").write_text("target\tsrc/d.txt\t150\n")
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.cmd("tag target")
    ed.wait_place(("src/d.txt", 150))
    ed.wait_nodes(["src/a.txt:1 (open)", "src/d.txt:150 (tag)"])


def test_tree_window_shows_the_tree_and_jumps_with_enter(editors):
    ed = editors()
    walk(ed)
    ed.cmd("RetraceTree")
    wait_for(lambda: ed.lua("return vim.bo.filetype") == "retrace", what="the tree window")
    assert ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == [
        "#1 src/a.txt:1 (open)",
        "#2 src/b.txt:1 (open)",
        "#3 src/b.txt:200 (jump)",
        "#4 src/c.txt:1 (open)  <- current",
    ]
    assert ed.lua("return vim.fn.line('.')") == 4, "the cursor starts on the current node"
    assert ed.lua("return vim.bo.modifiable") is False
    ed.keys("2G")
    ed.keys("\r")
    ed.wait_place(("src/b.txt", 1))
    assert ed.lua("return vim.bo.filetype") != "retrace"
    assert ed.lua("return #vim.api.nvim_list_wins()") == 1, "<CR> closes the tree"
    assert ed.current() == "src/b.txt:1" and len(ed.nodes()) == 4

    # it follows the history while open, and q closes it
    ed.cmd("RetraceTree")
    wait_for(lambda: ed.lua("return vim.bo.filetype") == "retrace", what="the tree window")
    ed.cmd("wincmd p")
    ed.cmd("RetraceBack")
    ed.wait_place(("src/a.txt", 1))
    tree_buf = "vim.fn.bufnr('retrace://tree*')"
    wait_for(lambda: ed.lua(f"return vim.api.nvim_buf_get_lines({tree_buf}, 0, 1, false)[1]")
             == "#1 src/a.txt:1 (open)  <- current", what="the tree window to follow")
    ed.cmd("wincmd p")
    ed.keys("q")
    assert ed.lua("return #vim.api.nvim_list_wins()") == 1


def test_tree_float_layout(editors):
    ed = editors(setup={"tree": {"layout": "float"}})
    walk(ed)
    ed.cmd("RetraceTree")
    wait_for(lambda: ed.lua("return vim.bo.filetype") == "retrace", what="the tree float")
    assert ed.lua("return vim.api.nvim_win_get_config(0).relative") == "editor"
    ed.keys("1G\r")
    ed.wait_place(("src/a.txt", 1))


def test_history_survives_a_restart(editors, workspace, data_home):
    first = editors()
    walk(first)
    first.quit()
    assert cli_tree(first.bin, workspace, data_home).splitlines() == [
        "#1 src/a.txt:1 (open)",
        "#2 src/b.txt:1 (open)",
        "#3 src/b.txt:200 (jump)",
        "#4 src/c.txt:1 (open)  <- current",
    ]
    second = editors()
    second.edit("src/c.txt")
    second.wait_ready()
    assert second.current() == "src/c.txt:1", "a new session starts where the history was last"
    second.cmd("RetraceBack")
    second.wait_place(("src/b.txt", 200))
    second.cmd("RetraceBack")
    second.wait_place(("src/b.txt", 1))
    assert len(second.nodes()) == 4


def test_jump_command_errors_and_picker(editors):
    ed = editors()
    walk(ed)
    ed.cmd("RetraceJump 99")
    wait_for(lambda: ed.messages("ERROR"), what="an error for a node that does not exist")
    assert "retrace.jump failed" in ed.messages("ERROR")[0]
    ed.cmd("RetraceJump src/a.txt")
    assert "is not a node" in ed.messages("ERROR")[-1]
    # without a node: every node, most recent first, in vim.ui.select
    ed.lua("T.pick = 3")
    ed.cmd("RetraceJump")
    ed.wait_place(("src/b.txt", 1))
    offered = ed.lua("return T.offered")
    assert offered[0] == "#4 src/c.txt:1  c line 1 (open)  <- current"
    assert offered[2] == "#2 src/b.txt:1  b line 1 (open)"


def test_the_picker_reads_each_file_once(editors):
    ed = editors()
    walk(ed)
    ed.cmd(f"bwipeout {ed.workspace / 'src/b.txt'}")  # its two nodes are previewed from the file
    ed.lua("T.count_reads()")
    ed.cmd("RetraceJump")
    wait_for(lambda: ed.lua("return T.offered"), what="the picker")
    assert ed.lua("return T.offered")[1:3] == ["#3 src/b.txt:200  b line 200 (jump)", "#2 src/b.txt:1  b line 1 (open)"]
    assert ed.lua("return T.reads") == {str(ed.workspace / "src/b.txt"): 1}


def test_one_client_per_root_attached_to_every_file_buffer(editors, tmp_path, workspace):
    other = make_workspace(tmp_path / "other")
    (workspace / "notes.unknownft").write_text("no language server for this\n" * 30)
    ed = editors()
    ed.edit("src/a.txt")
    ed.edit("notes.unknownft")
    ed.cmd(f"edit {other / 'src/b.txt'}")
    ed.cmd(f"edit {tmp_path / 'loose.txt'}")  # in no workspace: not recorded
    ed.cmd("help")  # not a file buffer
    ed.wait_ready()
    clients = ed.lua("""
        local out = {}
        for _, c in ipairs(T.clients('retrace')) do
          local bufs = {}
          for _, b in ipairs(vim.api.nvim_list_bufs()) do
            if vim.lsp.buf_is_attached(b, c.id) then
              table.insert(bufs, vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b), ':t'))
            end
          end
          table.sort(bufs)
          out[c.config.root_dir] = bufs
        end
        return out
    """)
    assert clients == {str(workspace): ["a.txt", "notes.unknownft"], str(other): ["b.txt"]}
    ed.cmd("quit")  # close the help window
    assert ed.nodes() == ["src/a.txt:1 (open)", "notes.unknownft:1 (open)"]


def test_checkhealth_passes(editors, workspace):
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    report = ed.health()
    assert "ERROR" not in report, report
    assert "OK: binary: " in report and "OK: version: retrace-lsp 0.1.0" in report, report
    assert f"OK: database: {ed.data_home}/retrace/history/" in report, report
    assert "OK: client 1 is running for " + str(workspace) in report, report
    assert "OK: attached to src/a.txt" in report, report


def test_checkhealth_reports_a_missing_binary(editors):
    ed = editors(setup={"binary": "/nonexistent/retrace-lsp"})
    report = ed.health()
    assert "ERROR: retrace-lsp not found (looked for /nonexistent/retrace-lsp)" in report, report
    assert "cargo install --path lsp-server" in report


def test_a_missing_binary_is_reported_once_and_on_commands(editors):
    ed = editors(setup={"binary": "/nonexistent/retrace-lsp"})
    ed.edit("src/a.txt")
    ed.edit("src/b.txt")
    ed.keys("G")
    errors = ed.messages("ERROR")
    assert len(errors) == 1, errors
    assert errors[0].startswith("retrace: cannot find the retrace-lsp binary (/nonexistent/retrace-lsp)")
    ed.cmd("RetraceBack")
    assert len(ed.messages("ERROR")) == 2
    assert "cannot find the retrace-lsp binary" in ed.messages("ERROR")[1]


def test_a_missing_binary_is_reported_once_per_command(editors):
    ed = editors(setup={"binary": "/nonexistent/retrace-lsp", "autostart": False})
    ed.cmd("RetraceBack")
    assert len(ed.messages("ERROR")) == 1, ed.messages("ERROR")
    ed.cmd("RetraceTree")
    assert len(ed.messages("ERROR")) == 2
    assert all("cannot find the retrace-lsp binary" in m for m in ed.messages("ERROR"))


def test_the_binary_is_found_on_path(editors, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "retrace-lsp").symlink_to(binary("retrace-lsp"))
    ed = editors(extra_path=f"{bin_dir}:{os.environ['PATH']}", call_setup=False)
    ed.lua("require('retrace').setup({})")
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.wait_nodes(["src/a.txt:1 (open)"])


def test_a_too_old_server_is_refused_clearly(editors, tmp_path):
    old = old_server(tmp_path / "old-retrace-lsp")
    ed = editors(setup={"binary": str(old)})
    ed.edit("src/a.txt")
    wait_for(lambda: ed.messages("ERROR"), what="the too-old error")
    assert ed.messages("ERROR") == [
        f"retrace: {old} is version 0.0.1, older than 0.1.0, the oldest this plugin works with. "
        "Update it with `cargo install --path lsp-server` from the Retrace repository."
    ]
    wait_for(lambda: ed.clients() == 0, what="the old server to be stopped")
    report = ed.health()
    assert "ERROR: version: retrace-lsp 0.0.1 is older than 0.1.0" in report, report


def test_autostart_off_records_nothing_until_retrace_start(editors):
    ed = editors(setup={"autostart": False})
    ed.edit("src/a.txt")
    ed.edit("src/b.txt")
    assert ed.clients() == 0
    ed.cmd("RetraceStart")
    ed.wait_ready()
    ed.edit("src/c.txt")
    ed.wait_nodes(["src/b.txt:1 (switch)", "src/c.txt:1 (open)"])
    ed.cmd("RetraceStop")
    wait_for(lambda: ed.clients() == 0, what="the server to stop")
    assert ed.messages("ERROR") == []


def test_bad_settings_are_refused_with_the_setting_named(editors):
    ed = editors(call_setup=False)
    err = ed.lua("return select(2, pcall(require('retrace').setup, { forward_policy = 'sideways' }))")
    assert "forward_policy" in err and '"ask" or "latest"' in err


def test_help_file_has_its_tags(editors, tmp_path):
    doc = tmp_path / "doc"
    shutil.copytree(PLUGIN / "doc", doc)
    ed = editors(call_setup=False)
    ed.cmd(f"helptags {doc}")
    tags = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    assert {"retrace", "retrace-setup", ":RetraceBack", ":RetraceForward", ":RetraceJump", ":RetraceTree",
            "retrace-visits", "retrace-health"} <= tags
    ed.cmd(f"set rtp+={tmp_path}")
    ed.cmd("help :RetraceForward")
    assert ed.lua("return vim.fn.expand('%:t')") == "retrace.txt"


def test_plugin_loads_once(editors):
    ed = editors(call_setup=False)
    ed.cmd("runtime plugin/retrace.lua")
    assert ed.lua("return vim.g.loaded_retrace") is True
    assert ed.lua("return vim.fn.exists(':RetraceTree')") == 2


def test_telescope_picker_when_telescope_is_installed(editors, workspace):
    ed = editors()
    walk(ed)
    ed.lua("T.fake_telescope()")
    ed.cmd("RetraceJump")
    wait_for(lambda: ed.lua("return T.picker ~= nil"), what="the Telescope picker")
    assert ed.lua("return T.picker.prompt_title") == "Retrace"
    entries = ed.lua("return T.telescope_entries()")
    assert [e["display"] for e in entries] == [
        "#4 src/c.txt:1 (open)  <- current",
        "#3 src/b.txt:200 (jump)",
        "#2 src/b.txt:1 (open)",
        "#1 src/a.txt:1 (open)",
    ]
    assert entries[1]["filename"] == str(workspace / "src/b.txt") and entries[1]["lnum"] == 200
    ed.lua("T.telescope_select(4)")
    ed.wait_place(("src/a.txt", 1))
    assert ed.current() == "src/a.txt:1"
    # and as a Telescope extension
    assert ed.lua("return type(require('telescope._extensions.retrace').exports.retrace)") == "function"


def test_places_follow_edits_in_the_buffer_and_back_lands_on_the_same_text(editors):
    """Issue 13: Neovim sends the buffer's changes (document sync); lines inserted above a
    place move it, and :RetraceBack lands on the same text."""
    ed = editors()
    ed.edit("src/a.txt")
    ed.wait_ready()
    ed.keys("G")
    ed.keys("gg")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/a.txt:200 (jump)", "src/a.txt:1 (jump)"])
    # Ten lines inserted below the cursor (it does not move) and above the place at 200.
    ed.lua("vim.api.nvim_buf_set_lines(0, 1, 1, false, {'n1','n2','n3','n4','n5','n6','n7','n8','n9','n10'})")
    ed.wait_nodes(["src/a.txt:1 (open)", "src/a.txt:210 (jump)", "src/a.txt:1 (jump)"])
    ed.cmd("RetraceBack")
    ed.wait_place(("src/a.txt", 210))
    assert ed.lua("return vim.api.nvim_get_current_line()") == "a line 200"
    node = next(n for n in ed.tree()["nodes"] if n["line"] == 209)
    assert node["anchor"] == "exact" and node["lineText"] == "a line 200"
    assert ed.messages("ERROR") == []
