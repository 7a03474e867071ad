"""iCalendar exports read back by an independent parser (Python's `icalendar`), and
calendars made by it imported by `blocks`."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar

from .harness import Blocks

UTC = timezone.utc


def events(path):
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    assert not cal.errors, cal.errors
    evs = cal.walk("VEVENT")
    for e in evs:
        assert not e.errors, e.errors
    return cal, evs


def test_plan_export_merges_blocks_into_events(tmp_path):
    b = Blocks(tmp_path, tz="Europe/Berlin", now="2026-03-01T12:00:00Z")
    b.ok("plan", "09:00-11:30", "deep work", "--category", "focus", "--fill", "blue", "--date", "2026-03-05")
    b.ok("plan", "11:30-12:00", "email", "--date", "2026-03-05")
    b.ok("plan", "14:00-14:30", "deep work", "--category", "focus", "--fill", "blue", "--date", "2026-03-05")
    b.ok("plan", "16:00-16:20", "review, notes; misc", "--date", "2026-03-05")
    out = tmp_path / "plan.ics"
    b.ok("export", "--ics", out, "--date", "2026-03-05")

    cal, evs = events(out)
    assert str(cal["VERSION"]) == "2.0"
    assert "Retrace" in str(cal["PRODID"])
    got = [
        (str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"))
        for e in sorted(evs, key=lambda e: e.decoded("DTSTART"))
    ]
    # Berlin is UTC+01:00 in March.
    assert got == [
        ("deep work", datetime(2026, 3, 5, 8, 0, tzinfo=UTC), datetime(2026, 3, 5, 10, 30, tzinfo=UTC)),
        ("email", datetime(2026, 3, 5, 10, 30, tzinfo=UTC), datetime(2026, 3, 5, 11, 0, tzinfo=UTC)),
        ("deep work", datetime(2026, 3, 5, 13, 0, tzinfo=UTC), datetime(2026, 3, 5, 13, 30, tzinfo=UTC)),
        ("review, notes; misc", datetime(2026, 3, 5, 15, 0, tzinfo=UTC), datetime(2026, 3, 5, 15, 20, tzinfo=UTC)),
    ]
    uids = [str(e["UID"]) for e in evs]
    assert len(set(uids)) == len(uids)
    deep = [e for e in evs if str(e["SUMMARY"]) == "deep work"]
    assert all(e["CATEGORIES"].cats == ["focus"] for e in deep)
    assert all(str(e["COLOR"]) == "blue" for e in deep)
    assert all("DTSTAMP" in e for e in evs)


def test_uids_stay_when_the_plan_moves_so_calendars_update(tmp_path):
    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z")
    b.ok("plan", "09:00-10:00", "writing", "--date", "2026-03-05")
    first = tmp_path / "a.ics"
    b.ok("export", "--ics", first, "--date", "2026-03-05")
    b.ok("clear", "09:00-10:00", "--date", "2026-03-05")
    b.ok("plan", "10:00-11:30", "writing", "--date", "2026-03-05")
    second = tmp_path / "b.ics"
    b.ok("export", "--ics", second, "--date", "2026-03-05")
    (_, a), (_, c) = events(first), events(second)
    assert [str(e["UID"]) for e in a] == [str(e["UID"]) for e in c]
    assert c[0].decoded("DTEND") - c[0].decoded("DTSTART") == timedelta(minutes=90)


def test_week_export_across_a_clock_change(tmp_path):
    b = Blocks(tmp_path, tz="America/New_York", now="2026-03-01T12:00:00Z")
    # Clocks jump from 02:00 to 03:00 on 2026-03-08: 01:00-04:00 is two real hours.
    b.ok("plan", "01:00-04:00", "night shift", "--date", "2026-03-08", "--wake", "00:00")
    b.ok("plan", "09:00-10:00", "standup", "--date", "2026-03-06")
    out = tmp_path / "week.ics"
    r = b.ok("export", "--ics", out, "--week", "2026-03-05", "--wake", "00:00")
    assert "2026-03-02 to 2026-03-08" in r
    _, evs = events(out)
    by = {str(e["SUMMARY"]): e for e in evs}
    night = by["night shift"]
    assert night.decoded("DTSTART") == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert night.decoded("DTEND") - night.decoded("DTSTART") == timedelta(hours=2)
    local = night.decoded("DTEND").astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (4, 0)


def test_actual_time_is_its_own_calendar(tmp_path):
    b = Blocks(tmp_path, now="2026-03-05T18:00:00Z")
    b.ok("plan", "09:00-10:00", "deep work")
    b.ok("did", "09:00-09:40", "deep work")
    b.ok("did", "09:40-10:10", "chat", "--category", "social")
    out = tmp_path / "actual.ics"
    b.ok("export", "--ics", out, "--actual")
    cal, evs = events(out)
    assert str(cal["X-WR-CALNAME"]) == "blocks actual"
    got = sorted((str(e["SUMMARY"]), e.decoded("DTSTART").hour, e.decoded("DTSTART").minute) for e in evs)
    assert got == [("chat", 9, 40), ("deep work", 9, 0)]
    chat = next(e for e in evs if str(e["SUMMARY"]) == "chat")
    assert chat["CATEGORIES"].cats == ["social"]
    assert chat.decoded("DTEND") == datetime(2026, 3, 5, 10, 10, tzinfo=UTC)


def make_calendar(events_spec):
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//python icalendar//EN")
    cal.add("version", "2.0")
    for uid, summary, start, end in events_spec:
        e = icalendar.Event()
        e.add("uid", uid)
        e.add("summary", summary)
        e.add("dtstamp", datetime(2026, 3, 1, tzinfo=UTC))
        e.add("dtstart", start)
        if end is not None:
            e.add("dtend", end)
        cal.add_component(e)
    cal.add_missing_timezones()
    return cal


def test_calendar_made_elsewhere_becomes_fixed_blocks_and_reimport_updates(tmp_path):
    ny = ZoneInfo("America/New_York")
    cal = make_calendar([
        ("standup@example.com", "standup", datetime(2026, 3, 5, 9, 0, tzinfo=ny), datetime(2026, 3, 5, 9, 15, tzinfo=ny)),
        ("review@example.com", "design review", datetime(2026, 3, 5, 14, 0, tzinfo=ny), datetime(2026, 3, 5, 15, 0, tzinfo=ny)),
        ("holiday@example.com", "holiday", datetime(2026, 3, 6).date(), None),
    ])
    assert b"TZID=America/New_York" in cal.to_ical()
    path = tmp_path / "work.ics"
    path.write_bytes(cal.to_ical())

    b = Blocks(tmp_path, tz="America/New_York", now="2026-03-01T12:00:00Z")
    out = b.ok("import", path)
    assert "imported 2 events" in out
    assert "all-day event" in out
    day = b.json("show", "2026-03-05", "--json")
    labels = {blk["local"]: (blk["planned"] or {}).get("label") for blk in day["blocks"]}
    # 09:00-09:15 rounds outward to two blocks.
    assert labels["09:00"] == "standup" and labels["09:10"] == "standup" and labels["09:20"] is None
    assert [labels[t] for t in ("14:00", "14:50", "15:00")] == ["design review", "design review", None]
    assert all(blk["planned"]["fixed_uid"] for blk in day["blocks"] if blk["planned"])

    # The review moves to 16:00 in the calendar; importing again moves it here too.
    moved = make_calendar([
        ("review@example.com", "design review", datetime(2026, 3, 5, 16, 0, tzinfo=ny), datetime(2026, 3, 5, 16, 30, tzinfo=ny)),
    ])
    path.write_bytes(moved.to_ical())
    b.ok("import", path)
    day = b.json("show", "2026-03-05", "--json")
    labels = {blk["local"]: (blk["planned"] or {}).get("label") for blk in day["blocks"]}
    assert labels["14:00"] is None and labels["16:00"] == "design review" and labels["16:30"] is None
    assert labels["09:00"] == "standup"

    # A template applied over the day keeps the calendar's blocks.
    b.ok("plan", "08:00-10:00", "deep work", "--date", "2026-03-04")
    b.ok("template", "save", "mornings", "--from", "2026-03-04")
    out = b.ok("template", "apply", "mornings", "--date", "2026-03-05", "--replace")
    assert "2 kept for calendar events" in out


def test_malformed_calendar_is_refused_with_a_clear_error(tmp_path):
    b = Blocks(tmp_path)
    bad = tmp_path / "bad.ics"
    bad.write_text("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:cut short\r\n")
    r = b.run("import", bad)
    assert r.code == 7
    assert r.stderr.startswith("blocks: error: malformed iCalendar file")
    assert "END:VCALENDAR" in r.stderr
    assert "panicked" not in r.stderr


def test_a_calendar_nested_thousands_deep_is_refused_not_a_crash(tmp_path):
    # 112 KB of nested components once overflowed the parser's stack (SIGABRT).
    depth = 5000
    text = "BEGIN:VCALENDAR\r\n" + "BEGIN:X-A\r\n" * depth + "END:X-A\r\n" * depth + "END:VCALENDAR\r\n"
    path = tmp_path / "deep.ics"
    path.write_text(text)
    assert path.stat().st_size > 100_000
    b = Blocks(tmp_path)
    r = b.run("import", path)
    assert r.code == 7, (r.code, r.stderr[-500:])
    assert r.stderr.startswith("blocks: error: malformed iCalendar file")
    assert "line 17" in r.stderr and "nested" in r.stderr, r.stderr
    assert "overflow" not in r.stderr
    assert not b.db.exists() or "no plan yet" in b.ok("show", "2026-03-05")


def test_names_are_case_insensitive_as_rfc_5545_says(tmp_path):
    path = tmp_path / "lower.ics"
    path.write_text(
        "begin:vcalendar\r\nversion:2.0\r\nprodid:-//test//EN\r\n"
        "begin:vevent\r\nuid:lower@example.com\r\ndtstamp:20260301T000000Z\r\n"
        "dtstart;tzid=Europe/Berlin:20260305T100000\r\ndtend;tzid=Europe/Berlin:20260305T110000\r\n"
        "summary:lower case\r\nend:vevent\r\n"
        "Begin:VEvent\r\nUid:mixed@example.com\r\nDtStart;Value=Date-Time:20260305T140000Z\r\n"
        "Duration:PT30M\r\nSummary:Mixed case\r\nEnd:VEvent\r\n"
        "end:vcalendar\r\n"
    )
    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z")
    out = b.ok("import", path)
    assert "imported 2 events" in out, out
    day = b.json("show", "2026-03-05", "--json")
    labels = {blk["local"]: (blk["planned"] or {}).get("label") for blk in day["blocks"]}
    # 10:00 in Berlin is 09:00 UTC.
    assert labels["09:00"] == "lower case" and labels["09:50"] == "lower case" and labels["10:00"] is None
    assert labels["14:00"] == "Mixed case" and labels["14:30"] is None


def test_a_fold_may_split_a_utf8_character(tmp_path):
    summary = "Réunion 会議 with Zoë"
    line = f"SUMMARY:{summary}".encode()
    cut = line.index("会".encode()) + 1  # inside the three bytes of 会
    folded = line[:cut] + b"\r\n " + line[cut:]
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:u@x\r\n"
        b"DTSTART:20260305T100000Z\r\nDTEND:20260305T110000Z\r\n" + folded + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    path = tmp_path / "folded.ics"
    path.write_bytes(data)
    # RFC 5545 3.1: "implementations need to unfold lines in such a way to properly restore
    # the original sequence" (Python's icalendar 7.3 does not: it decodes before unfolding).
    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z")
    assert "imported 1 events" in b.ok("import", path)
    day = b.json("show", "2026-03-05", "--json")
    assert day["blocks"][18]["planned"]["label"] == summary


def test_cancelled_events_take_no_blocks_and_a_reimport_frees_theirs(tmp_path):
    cal = make_calendar([
        ("sync@example.com", "sync", datetime(2026, 3, 5, 9, 0, tzinfo=UTC), datetime(2026, 3, 5, 10, 0, tzinfo=UTC)),
        ("gone@example.com", "cancelled talk", datetime(2026, 3, 5, 14, 0, tzinfo=UTC), datetime(2026, 3, 5, 15, 0, tzinfo=UTC)),
    ])
    path = tmp_path / "cal.ics"
    path.write_bytes(cal.to_ical())
    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z")
    b.ok("import", path)
    day = b.json("show", "2026-03-05", "--json")
    assert day["blocks"][42]["planned"]["label"] == "cancelled talk"

    # The talk is cancelled in the calendar: importing it again frees its blocks.
    for e in cal.walk("VEVENT"):
        if str(e["UID"]) == "gone@example.com":
            e.add("status", "CANCELLED")
    path.write_bytes(cal.to_ical())
    out = b.ok("import", path)
    assert "imported 1 events" in out, out
    assert "`cancelled talk`" in out and "cancelled" in out.split("`cancelled talk`")[1], out
    day = b.json("show", "2026-03-05", "--json")
    assert day["blocks"][42]["planned"] is None
    assert day["blocks"][12]["planned"]["label"] == "sync"


OUTLOOK = """BEGIN:VCALENDAR\r
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r
VERSION:2.0\r
METHOD:PUBLISH\r
BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VTIMEZONE\r
TZID:+0317\r
BEGIN:STANDARD\r
DTSTART:19700101T000000\r
TZOFFSETFROM:+0317\r
TZOFFSETTO:+0317\r
TZNAME:+0317\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VTIMEZONE\r
TZID:Island Time (custom)\r
BEGIN:STANDARD\r
DTSTART:20001029T020000\r
TZOFFSETFROM:-0230\r
TZOFFSETTO:-0330\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:20000402T020000\r
TZOFFSETFROM:-0330\r
TZOFFSETTO:-0230\r
RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:040000008200E00074C5B7101A82E00800000000A1\r
DTSTAMP:20260301T000000Z\r
DTSTART;TZID="W. Europe Standard Time":20260305T090000\r
DTEND;TZID="W. Europe Standard Time":20260305T100000\r
SUMMARY:outlook winter\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:040000008200E00074C5B7101A82E00800000000A2\r
DTSTAMP:20260301T000000Z\r
DTSTART;TZID="W. Europe Standard Time":20260706T090000\r
DTEND;TZID="W. Europe Standard Time":20260706T093000\r
SUMMARY:outlook summer\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:custom-offset@example.com\r
DTSTAMP:20260301T000000Z\r
DTSTART;TZID=+0317:20260305T150000\r
DTEND;TZID=+0317:20260305T160000\r
SUMMARY:odd offset\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:island-winter@example.com\r
DTSTAMP:20260301T000000Z\r
DTSTART;TZID=Island Time (custom):20260305T120000\r
DTEND;TZID=Island Time (custom):20260305T123000\r
SUMMARY:island winter\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:island-summer@example.com\r
DTSTAMP:20260301T000000Z\r
DTSTART;TZID=Island Time (custom):20260706T120000\r
DTEND;TZID=Island Time (custom):20260706T123000\r
SUMMARY:island summer\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_outlook_and_custom_time_zones_resolve_as_an_independent_parser_says(tmp_path):
    path = tmp_path / "outlook.ics"
    path.write_text(OUTLOOK)
    want = {}
    for e in icalendar.Calendar.from_ical(OUTLOOK.encode()).walk("VEVENT"):
        want[str(e["SUMMARY"])] = (
            e.decoded("DTSTART").astimezone(UTC),
            e.decoded("DTEND").astimezone(UTC),
        )
    assert want["outlook winter"][0] == datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    assert want["outlook summer"][0] == datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    assert want["odd offset"][0] == datetime(2026, 3, 5, 11, 43, tzinfo=UTC)

    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z", tz="UTC")
    out = b.ok("import", path, "--wake", "00:00")
    assert "imported 5 events" in out, out
    got = {}
    for date in ("2026-03-05", "2026-07-06"):
        day = b.json("show", date, "--json", "--wake", "00:00")
        for blk in day["blocks"]:
            if blk["planned"]:
                label = blk["planned"]["label"]
                start = datetime.fromisoformat(blk["start"])
                end = datetime.fromisoformat(blk["end"])
                s, e = got.get(label, (start, end))
                got[label] = (min(s, start), max(e, end))
    # Blocks round outward to 10 minutes: 11:43 is the 11:40 block.
    def rounded(t, up):
        over = timedelta(minutes=t.minute % 10)
        return t - over + (timedelta(minutes=10) if up and over else timedelta(0))

    assert got == {k: (rounded(s, False), rounded(e, True)) for k, (s, e) in want.items()}


def test_events_of_one_file_that_overlap_are_imported_as_far_as_they_fit(tmp_path):
    cal = make_calendar([
        ("a@example.com", "planning", datetime(2026, 3, 5, 10, 0, tzinfo=UTC), datetime(2026, 3, 5, 11, 0, tzinfo=UTC)),
        ("b@example.com", "review", datetime(2026, 3, 5, 10, 30, tzinfo=UTC), datetime(2026, 3, 5, 11, 30, tzinfo=UTC)),
        ("c@example.com", "inside", datetime(2026, 3, 5, 10, 10, tzinfo=UTC), datetime(2026, 3, 5, 10, 20, tzinfo=UTC)),
    ])
    path = tmp_path / "overlap.ics"
    path.write_bytes(cal.to_ical())
    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z")
    r = b.run("import", path)
    assert r.code == 0, r.stderr
    assert "blocks clear" not in r.stdout + r.stderr
    assert "imported 2 events" in r.stdout, r.stdout
    assert "`review`" in r.stdout and "`inside`" in r.stdout, r.stdout
    day = b.json("show", "2026-03-05", "--json")
    labels = {blk["local"]: (blk["planned"] or {}).get("label") for blk in day["blocks"]}
    assert [labels[t] for t in ("10:00", "10:10", "10:50", "11:00", "11:20", "11:30")] == [
        "planning", "planning", "planning", "review", "review", None,
    ]


def test_export_writes_what_is_planned_outside_the_default_span(tmp_path):
    b = Blocks(tmp_path, now="2026-03-01T12:00:00Z")
    b.ok("plan", "05:00-06:00", "run", "--wake", "05:00", "--date", "2026-03-05")
    b.ok("plan", "09:00-10:00", "work", "--date", "2026-03-05")
    b.ok("plan", "23:30-00:30", "late film", "--sleep", "01:00", "--date", "2026-03-05")
    assert "note: 9 planned blocks fall outside" in b.ok("show", "2026-03-05")
    out = tmp_path / "day.ics"
    b.ok("export", "--ics", out, "--date", "2026-03-05")
    _, evs = events(out)
    got = sorted((e.decoded("DTSTART"), e.decoded("DTEND"), str(e["SUMMARY"])) for e in evs)
    assert got == [
        (datetime(2026, 3, 5, 5, 0, tzinfo=UTC), datetime(2026, 3, 5, 6, 0, tzinfo=UTC), "run"),
        (datetime(2026, 3, 5, 9, 0, tzinfo=UTC), datetime(2026, 3, 5, 10, 0, tzinfo=UTC), "work"),
        (datetime(2026, 3, 5, 23, 30, tzinfo=UTC), datetime(2026, 3, 6, 0, 30, tzinfo=UTC), "late film"),
    ]

