"""Across the suite: jumps made in Neovim reach retrace-lsp through the plugin, and the
planner (`blocks`) counts that navigation as actual time in the workspace, read back through
retrace-lsp's library. Real Neovim, real server, real SQLite files, real `blocks` binary."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess

from tests.conftest import binary
from tests.editors.nvim_harness import Editor, make_workspace


def test_navigation_in_neovim_fills_the_planners_actual_blocks(tmp_path: pathlib.Path):
    workspace = make_workspace(tmp_path / "orbit")
    data_home = tmp_path / "data"
    ed = Editor(tmp_path / "nvim", workspace, data_home)
    try:
        ed.edit("src/a.txt")
        ed.wait_ready()
        ed.edit("src/b.txt")
        ed.keys("G")
        ed.wait_nodes(["src/a.txt:1 (open)", "src/b.txt:1 (open)", "src/b.txt:200 (jump)"])
        ed.cmd("RetraceBack")
        ed.wait_place(("src/b.txt", 1))
    finally:
        ed.quit()
    now = dt.datetime.now(dt.timezone.utc)

    env = dict(os.environ, XDG_DATA_HOME=str(data_home), TZ="UTC", NO_COLOR="1",
               BLOCKS_DB=str(tmp_path / "planner.sqlite3"),
               BLOCKS_NOW=now.isoformat(timespec="seconds"))
    # The whole UTC day, so the test's own time of day is always on the grid.
    out = subprocess.run([str(binary("blocks")), "show", now.date().isoformat(), "--json",
                          "--wake", "00:00", "--sleep", "24:00"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    day = json.loads(out.stdout)
    filled = [b for b in day["blocks"] if b["actual"]]
    assert filled, "no actual time at all"
    labels = {b["actual"]["label"] for b in filled}
    assert labels == {"orbit"}, labels
    # The block we are in now holds the navigation just made.
    current = next(b for b in day["blocks"]
                   if dt.datetime.fromisoformat(b["start"]) <= now < dt.datetime.fromisoformat(b["end"]))
    assert current["actual"]["label"] == "orbit", current
