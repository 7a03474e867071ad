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


HOSTILE = "\x1b]0;owned\x07\x1b[2Jevil\u202ecod.exe\x9b31m"


def test_labels_cannot_drive_the_terminal_and_json_keeps_them_exact(tmp_path):
    b = Blocks(tmp_path)
    b.ok("plan", "09:00-10:00", HOSTILE, "--category", "cat\x1b[5m")
    b.ok("plan", "10:00-10:30", "two\nlines")
    b.ok("did", "09:00-09:30", "did\x1b[31m")
    (tmp_path / "x.ics").write_text(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260305T140000Z\r\n"
        "DTEND:20260305T143000Z\r\nSUMMARY:cal\x1b]2;title\x07\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:y\r\nDTSTART:20260305T020000Z\r\nDTEND:20260305T030000Z\r\n"
        "SUMMARY:night\x1b[H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    outputs = [
        b.run("import", tmp_path / "x.ics"),
        b.run("show", "--color", "never"),
        b.run("show", "--color", "always"),
        b.run("report", "--color", "never"),
        b.run("report", "--week"),
        b.run("template", "save", "t"),
        b.run("template", "ls"),
        b.run("plan", "09:00-09:10", "x"),  # refused: names the hostile label
        b.run("config", "set", "tz", "Bad\x1b[2J"),
    ]
    for r in outputs:
        for bad in ("\x1b]", "\x1b[2J", "\x1b[5m", "\x1b[31m", "\x1b[H", "\x07", "\u202e", "\x9b"):
            assert bad not in r.stdout + r.stderr, (bad, r.stdout, r.stderr)
    show = outputs[1].stdout
    assert "\\u{1b}]0;owned\\u{7}" in show or "evil" in show
    rows = [l for l in show.splitlines() if l[:2].isdigit()]
    assert [r[:5] for r in rows] == [f"{h:02d}:00" for h in range(7, 24)], show
    assert all(len(r.split("│")[0]) == len(rows[0].split("│")[0]) for r in rows), show
    assert "two\\nlines" in show
    # The stored data is as the user gave it, and JSON prints it exactly.
    day = b.json("show", "--json")
    assert day["blocks"][12]["planned"]["label"] == HOSTILE
    assert day["blocks"][18]["planned"]["label"] == "two\nlines"
    assert day["blocks"][12]["actual"]["label"] == "did\x1b[31m"


def test_a_span_of_nearly_a_day_ending_in_a_skipped_hour_keeps_every_block(tmp_path):
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    b = Blocks(tmp_path, tz="America/Nuuk")
    day = b.json("show", "2026-03-27", "--json", "--wake", "23:50", "--sleep", "23:40")
    nuuk = ZoneInfo("America/Nuuk")
    # RFC 5545 (and PEP 495's fold=0): 23:40 on the 28th is skipped, read with the offset
    # before the change.
    wake = datetime(2026, 3, 27, 23, 50, tzinfo=nuuk).astimezone(timezone.utc)
    sleep = datetime(2026, 3, 28, 23, 40, tzinfo=nuuk).astimezone(timezone.utc)
    starts = [datetime.fromisoformat(blk["start"]) for blk in day["blocks"]]
    assert starts[0] == wake
    assert datetime.fromisoformat(day["blocks"][-1]["end"]) == sleep
    assert len(starts) == (sleep - wake) // timedelta(minutes=10) == 143
    assert all(b - a == timedelta(minutes=10) for a, b in zip(starts, starts[1:]))
    text = b.ok("show", "2026-03-27", "--wake", "23:50", "--sleep", "23:40")
    assert "143 blocks" in text.splitlines()[0]


def test_both_rows_of_a_repeated_hour_show_their_offset(tmp_path):
    # Lord Howe goes back half an hour: 01:30-02:00 happens twice on 2026-04-05.
    b = Blocks(tmp_path, tz="Australia/Lord_Howe")
    text = b.ok("show", "2026-04-05", "--wake", "00:00", "--sleep", "04:00")
    rows = [l for l in text.splitlines() if l.startswith("01:00")]
    assert len(rows) == 2, text
    assert rows[0].endswith("UTC+11:00") and rows[1].endswith("UTC+10:30"), text


def test_negative_values_are_bad_input_not_usage_errors(tmp_path):
    b = Blocks(tmp_path)
    for args, what in [
        (("config", "set", "join-gap", "-5"), "join-gap"),
        (("--wake", "-01:00", "show"), "-01:00"),
        (("show", "--sleep", "-23:00"), "-23:00"),
        (("plan", "-09:00-10:00", "x"), "`-09:00` is not a time"),
    ]:
        r = b.run(*args)
        assert r.code == 3, (args, r.code, r.stderr)
        assert what in r.stderr, (args, r.stderr)
    assert b.ok("plan", "09:00-10:00", "-- dashes are a label").startswith("planned `-- dashes are a label`")

