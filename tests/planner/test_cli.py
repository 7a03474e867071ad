"""The `blocks` command line as a person uses it."""

import json

from .harness import Blocks


def test_grid_shows_plan_actual_and_the_current_block(tmp_path):
    b = Blocks(tmp_path, tz="Asia/Kathmandu", now="2026-06-01T04:20:00Z")  # 10:05 local
    b.ok("plan", "09:00-11:00", "deep work")
    b.ok("did", "09:00-10:00", "deep work")
    text = b.ok("show")
    lines = text.splitlines()
    assert lines[0].startswith("Mon 2026-06-01  Asia/Kathmandu (UTC+05:45)  07:00-24:00  102 blocks")
    ten = next(l for l in lines if l.startswith("10:00"))
    assert ten.startswith("10:00 ▶deep work")
    assert ten.endswith("◀ now 10:05")
    assert "\x1b" not in text  # NO_COLOR
    assert "adherence: 6/6 blocks (100%)" in text


def test_today_is_the_default_command(tmp_path):
    b = Blocks(tmp_path)
    assert b.ok() == b.ok("today")


def test_json_backup_is_readable_and_restores(tmp_path):
    b = Blocks(tmp_path)
    b.ok("plan", "09:00-10:00", "reading", "--category", "learn")
    b.ok("template", "save", "study")
    out = tmp_path / "backup.json"
    b.ok("export", "--json", out)
    data = json.loads(out.read_text())
    assert data["format"] == "retrace-blocks-backup" and data["version"] == 1
    rev = data["days"][0]["revisions"][0]
    assert rev["blocks"] == [{"from": "09:00", "to": "10:00", "label": "reading", "category": "learn"}]
    assert data["templates"][0]["name"] == "study"

    (tmp_path / "other").mkdir()
    other = Blocks(tmp_path / "other")
    other.ok("import", out)
    assert other.ok("show") == b.ok("show")


def test_errors_name_the_problem_and_exit_with_documented_codes(tmp_path):
    b = Blocks(tmp_path)
    assert "Exit codes:" in b.ok("--help")
    r = b.run("plan", "09:07-10:00", "x")
    assert r.code == 3 and "not on a 10-minute boundary" in r.stderr
    r = b.run("--tz", "Nowhere/City", "show")
    assert r.code == 3 and "unknown time zone `Nowhere/City`" in r.stderr
    r = b.run("frobnicate")
    assert r.code == 2
