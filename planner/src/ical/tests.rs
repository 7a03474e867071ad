//! Export, parse and import, read back against each other.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::parse::parse_duration;
use super::*;
use crate::clock::Rounding;
use crate::grid::{DaySpan, Grid, parse_tz};
use crate::plan::{Cell, Color, Conflict, DayPlan};

fn now() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

/// The current plan of one day as an iCalendar file.
fn export(g: &Grid, day: &DayPlan) -> String {
    plan_calendar(
        &[PlanDay {
            grid: g,
            planned: day.per_block(g, None),
            revision: 1,
        }],
        now(),
    )
}

fn berlin_day() -> (Grid, DayPlan) {
    let g = Grid::new(
        "2026-03-05".parse().unwrap(),
        parse_tz("Europe/Berlin").unwrap(),
        DaySpan::default(),
    );
    let mut day = DayPlan::new(g.date);
    let plan = [
        ("09:00-11:30", "deep work", Some("focus"), Some("blue")),
        ("11:30-12:00", "email", None, None),
        ("14:00-14:30", "deep work", Some("focus"), Some("blue")),
        ("16:00-16:20", "review, notes; misc", None, Some("#ff8800")),
    ];
    for (range, label, cat, color) in plan {
        let r = g.range(range.parse().unwrap(), Rounding::Strict).unwrap();
        let cell = Cell::new(label)
            .unwrap()
            .with_category(cat)
            .with_color(color.map(|c| Color::parse(c).unwrap()));
        day.assign(&g, r, &cell, Conflict::Refuse, now()).unwrap();
    }
    (g, day)
}

#[test]
fn export_merges_runs_and_round_trips() {
    let (g, day) = berlin_day();
    let text = export(&g, &day);
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 4, "{text}");
    assert!(text.contains("DTSTART:20260305T080000Z"), "{text}");
    assert!(text.contains("DTEND:20260305T103000Z"), "{text}");
    assert!(text.contains("PRODID:-//Retrace//blocks planner//EN"));
    assert!(text.contains("\r\n"), "RFC 5545 lines end in CRLF");

    let parsed = parse(&text, "x.ics", parse_tz("UTC").unwrap()).unwrap();
    assert!(parsed.warnings.is_empty());
    let uids: Vec<&str> = parsed.events.iter().map(|e| e.uid.as_str()).collect();
    let mut unique = uids.clone();
    unique.dedup();
    assert_eq!(uids.len(), unique.len(), "{uids:?}");
    assert!(
        uids[0].starts_with("plan-2026-03-05-deep-work-"),
        "{uids:?}"
    );

    // Importing the events into an empty day gives the same plan back.
    let mut back = DayPlan::new(g.date);
    for ev in &parsed.events {
        let r = g.touching(ev.start, ev.end).unwrap();
        back.place_fixed(&g, r, &ev.cell(), Conflict::Refuse, now())
            .unwrap();
    }
    let strip = |d: &DayPlan| -> Vec<(String, String, Option<String>, Option<String>)> {
        d.cells()
            .iter()
            .map(|(w, c)| {
                (
                    w.to_string(),
                    c.label.clone(),
                    c.category.clone(),
                    c.color.as_ref().map(|c| c.to_string()),
                )
            })
            .collect()
    };
    assert_eq!(strip(&back), strip(&day));

    // The second export of the imported plan keeps the UIDs.
    let again = export(&g, &back);
    let reparsed = parse(&again, "y.ics", parse_tz("UTC").unwrap()).unwrap();
    let uids2: Vec<&str> = reparsed.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, uids2);
    assert_eq!(reparsed.events, parsed.events);
}

#[test]
fn uids_are_stable_when_a_run_moves() {
    let (g, mut day) = berlin_day();
    let uid_of = |day: &DayPlan| {
        let text = export(&g, day);
        parse(&text, "x", Tz::UTC).unwrap().events[1].uid.clone()
    };
    let before = uid_of(&day);
    let r = g
        .range("11:30-12:00".parse().unwrap(), Rounding::Strict)
        .unwrap();
    day.clear(&g, r, now()).unwrap();
    let r = g
        .range("12:00-12:30".parse().unwrap(), Rounding::Strict)
        .unwrap();
    day.assign(&g, r, &Cell::new("email").unwrap(), Conflict::Refuse, now())
        .unwrap();
    assert_eq!(uid_of(&day), before);
}

#[test]
fn reads_tzid_floating_duration_and_skips_all_day() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n\
        BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260301T000000Z\r\nDTSTART;TZID=America/New_York:20261101T013000\r\nDTEND;TZID=America/New_York:20261101T020000\r\nSUMMARY:ambiguous\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20261101T090000\r\nDURATION:PT1H30M\r\nSUMMARY:floating\r\nCATEGORIES:work,other\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:c\r\nDTSTAMP:20260301T000000Z\r\nDTSTART;VALUE=DATE:20261101\r\nSUMMARY:holiday\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let p = parse(text, "t.ics", parse_tz("Asia/Kathmandu").unwrap()).unwrap();
    assert_eq!(p.events.len(), 2);
    // 01:30 exists twice in New York that night; RFC 5545 says the first (EDT, -04:00).
    assert_eq!(p.events[0].start.to_rfc3339(), "2026-11-01T05:30:00+00:00");
    // 02:00 EST.
    assert_eq!(p.events[0].end.to_rfc3339(), "2026-11-01T07:00:00+00:00");
    assert_eq!(p.events[1].start.to_rfc3339(), "2026-11-01T03:15:00+00:00");
    assert_eq!(p.events[1].end - p.events[1].start, Duration::minutes(90));
    assert_eq!(p.events[1].category.as_deref(), Some("work"));
    assert_eq!(
        p.warnings,
        ["skipped event 3 `holiday`: an all-day event has no time blocks"]
    );
}

#[test]
fn malformed_files_are_named() {
    for (text, want) in [
        ("hello", "does not start with BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", "no END:VCALENDAR"),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "has no DTSTART",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "ends before it starts",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;TZID=Mars/Base:20260101T100000\r\nDTEND:20260101T110000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "TZID `Mars/Base`",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\nDURATION:P9999999999W\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "has a DURATION that cannot be read",
        ),
    ] {
        let e = parse(text, "bad.ics", Tz::UTC).unwrap_err().to_string();
        assert!(e.starts_with("malformed iCalendar file bad.ics: "), "{e}");
        assert!(e.contains(want), "{e} should mention {want}");
    }
}

#[test]
fn a_calendar_nested_thousands_deep_is_refused_before_the_parser_recurses() {
    // The parser recursed once per level: 3000 levels overflowed the stack (SIGABRT).
    let n = 3000;
    let text = "BEGIN:VCALENDAR\r\n".to_owned()
        + &"BEGIN:X-A\r\n".repeat(n)
        + &"END:X-A\r\n".repeat(n)
        + "END:VCALENDAR\r\n";
    let e = parse(&text, "deep.ics", Tz::UTC).unwrap_err();
    assert_eq!(e.exit_code(), crate::error::exit::BAD_FILE);
    assert!(
        e.to_string()
            .starts_with("malformed iCalendar file deep.ics: line 17: BEGIN:X-A is nested"),
        "{e}"
    );
}

#[test]
fn names_are_case_insensitive_as_rfc_5545_says() {
    // Lower-case components were read as unknown ones (0 events, no word), lower-case
    // properties as missing ("has no UID").
    let text = "begin:vcalendar\r\nversion:2.0\r\n\
        begin:vevent\r\nuid:lower@x\r\ndtstart;tzid=Europe/Berlin:20260305t100000\r\n\
        dtend;tzid=Europe/Berlin:20260305t110000\r\nsummary:Lower Case\r\nend:vevent\r\n\
        Begin:VEvent\r\nUid:mixed@x\r\nDtStart;Value=Date:20260306\r\nSummary:all day\r\n\
        End:VEvent\r\n\
        BEGIN:VEVENT\r\nUID:d@x\r\nDTSTART:20260305T140000Z\r\nduration:pt30m\r\n\
        categories:Work\r\nx-blocks-color:Blue\r\nEND:VEVENT\r\nend:vcalendar\r\n";
    let p = parse(text, "lower.ics", Tz::UTC).unwrap();
    let got: Vec<(String, String, String)> = p
        .events
        .iter()
        .map(|e| (e.uid.clone(), e.summary.clone(), e.start.to_rfc3339()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "lower@x".into(),
                "Lower Case".into(),
                "2026-03-05T09:00:00+00:00".into()
            ),
            (
                "d@x".into(),
                "(busy)".into(),
                "2026-03-05T14:00:00+00:00".into()
            ),
        ]
    );
    assert_eq!(p.events[1].end - p.events[1].start, Duration::minutes(30));
    assert_eq!(p.events[1].category.as_deref(), Some("Work"));
    assert!(p.events[1].color.is_some());
    assert_eq!(
        p.warnings,
        ["skipped event 2 `all day`: an all-day event has no time blocks"]
    );
}

#[test]
fn cancelled_events_take_no_blocks_and_lose_those_they_had() {
    let event = |status: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:talk@x\r\nDTSTART:20260305T140000Z\r\n\
             DTEND:20260305T150000Z\r\nSUMMARY:talk\r\n{status}END:VEVENT\r\n"
        )
    };
    let calendar = |method: &str, status: &str| {
        format!(
            "BEGIN:VCALENDAR\r\n{method}{}END:VCALENDAR\r\n",
            event(status)
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(&dir.path().join("p.db")).unwrap();
    let g = Grid::new("2026-03-05".parse().unwrap(), Tz::UTC, DaySpan::default());
    let import = |text: &str, store: &mut crate::store::Store| {
        let parsed = parse(text, "cal.ics", Tz::UTC).unwrap();
        let import = Import::new(parsed, Tz::UTC, DaySpan::default());
        store
            .write(|x| import.write(x, Conflict::Refuse, now()))
            .unwrap();
        (
            import.notes,
            planned(&store.read().day_plan(g.date).unwrap(), &g),
        )
    };
    assert_eq!(import(&calendar("", ""), &mut store).1, "14:00-15:00 talk");
    for cancelled in [
        calendar("", "STATUS:CANCELLED\r\n"),
        calendar("", "status:cancelled\r\n"),
        calendar("METHOD:CANCEL\r\n", ""),
    ] {
        let (notes, plan) = import(&cancelled, &mut store);
        assert_eq!(plan, "", "{cancelled}");
        assert_eq!(
            notes,
            [
                "skipped event 1 `talk`: it is cancelled, so it takes no blocks (and loses those \
              an earlier import gave it)"
            ]
        );
        import(&calendar("", "STATUS:CONFIRMED\r\n"), &mut store);
    }
}

#[test]
fn events_of_one_file_that_overlap_share_their_blocks() {
    // Refused whole before, telling the user to `blocks clear` an event of the file itself.
    let overlapping = import(vec![
        event("b", "review", "10:30", "11:30"),
        event("a", "planning", "10:00", "11:00"),
        event("c", "inside", "10:10", "10:20"),
        event("d", "around", "09:50", "11:40"),
        event("e", "next", "11:25", "12:00"),
    ]);
    assert_eq!(
        placed(&overlapping),
        ["around 09:50-11:40", "next 11:40-12:00"],
        "the earliest start keeps the blocks"
    );
    assert_eq!(
        overlapping.notes,
        [
            "`planning` 10:00-11:00 on 2026-03-05 overlaps `around`, another event of this file, \
             at 10:00-11:00: not imported",
            "`inside` 10:10-10:20 on 2026-03-05 overlaps `around`, another event of this file, \
             at 10:10-10:20: not imported",
            "`review` 10:30-11:30 on 2026-03-05 overlaps `around`, another event of this file, \
             at 10:30-11:30: not imported",
            "`next` 11:20-12:00 on 2026-03-05 overlaps `around`, another event of this file, \
             at 11:20-11:40: imported 11:40-12:00",
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(&dir.path().join("p.db")).unwrap();
    let written = store
        .write(|x| overlapping.write(x, Conflict::Refuse, now()))
        .unwrap();
    assert_eq!(written.imported, 2);

    // Two meetings back to back, rounded outward, share a block: the first keeps it.
    let back_to_back = import(vec![
        event("x", "one", "10:00", "10:25"),
        event("y", "two", "10:25", "11:00"),
    ]);
    assert_eq!(
        placed(&back_to_back),
        ["one 10:00-10:30", "two 10:30-11:00"]
    );
}

#[test]
fn events_go_to_the_day_that_holds_them() {
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let event = |uid: &str, start: &str, end: &str| ImportedEvent {
        uid: uid.into(),
        summary: uid.into(),
        category: None,
        color: None,
        start: t(start),
        end: t(end),
    };
    let parsed = Parsed {
        events: vec![
            event("late", "2026-03-06T00:20:00Z", "2026-03-06T00:40:00Z"),
            event("early", "2026-03-06T08:30:00Z", "2026-03-06T09:20:00Z"),
            event("night", "2026-03-06T03:00:00Z", "2026-03-06T04:00:00Z"),
        ],
        cancelled: vec!["gone".into()],
        warnings: vec!["from parsing".into()],
    };
    let import = Import::new(parsed, Tz::UTC, DaySpan::parse("09:00", "01:00").unwrap());
    let got: Vec<String> = import
        .placements
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.cell.label,
                p.grid.date,
                p.grid.describe(p.blocks.clone())
            )
        })
        .collect();
    // 00:20 belongs to the day before, which runs until 01:00.
    assert_eq!(
        got,
        [
            "late 2026-03-05 00:20-00:40",
            "early 2026-03-06 09:00-09:20"
        ]
    );
    assert_eq!(import.uids, ["late", "early", "night", "gone"]);
    assert_eq!(
        import.notes,
        [
            "from parsing",
            "`early` was cut to the waking span: 09:00-09:20",
            "skipped `night` at 2026-03-06 03:00: outside the waking span 09:00-25:00",
        ]
    );
}

fn event(uid: &str, summary: &str, start: &str, end: &str) -> ImportedEvent {
    ImportedEvent {
        uid: uid.into(),
        summary: summary.into(),
        category: None,
        color: None,
        start: format!("2026-03-05T{start}:00Z").parse().unwrap(),
        end: format!("2026-03-05T{end}:00Z").parse().unwrap(),
    }
}

fn import(events: Vec<ImportedEvent>) -> Import {
    let parsed = Parsed {
        events,
        ..Parsed::default()
    };
    Import::new(parsed, Tz::UTC, DaySpan::default())
}

/// `label 10:00-11:00` for each placement.
fn placed(import: &Import) -> Vec<String> {
    import
        .placements
        .iter()
        .map(|p| format!("{} {}", p.cell.label, p.grid.describe(p.blocks.clone())))
        .collect()
}

fn planned(day: &DayPlan, g: &Grid) -> String {
    day.runs(g, None)
        .into_iter()
        .map(|(r, c)| format!("{} {}", g.describe(r), c.label))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn an_import_leaves_the_blocks_before_a_replan_as_planned() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(&dir.path().join("p.db")).unwrap();
    let g = Grid::new("2026-03-05".parse().unwrap(), Tz::UTC, DaySpan::default());
    let t = |s: &str| {
        format!("2026-03-05T{s}:00Z")
            .parse::<DateTime<Utc>>()
            .unwrap()
    };

    // The morning: a standup from the calendar and deep work, then a re-plan at 14:05.
    let first = import(vec![event("sync", "standup", "09:00", "09:30")]);
    store
        .write(|x| first.write(x, Conflict::Refuse, t("07:00")))
        .unwrap();
    let mut day = store.read().day_plan(g.date).unwrap();
    let deep = g
        .range("10:00-12:00".parse().unwrap(), Rounding::Strict)
        .unwrap();
    day.assign(
        &g,
        deep,
        &Cell::new("deep work").unwrap(),
        Conflict::Refuse,
        t("07:00"),
    )
    .unwrap();
    day.replan(&g, g.index_at(t("14:05")).unwrap(), false, t("14:05"))
        .unwrap();
    store.write(|x| x.save_day_plan(&day)).unwrap();

    // The calendar now has lunch over the deep work, a review across the re-plan, and
    // the standup moved to the afternoon. Even --replace leaves the morning alone.
    let now = t("14:10");
    let calendar = import(vec![
        event("lunch", "lunch", "10:00", "10:30"),
        event("review", "review", "13:30", "14:30"),
        event("sync", "standup", "15:00", "15:30"),
    ]);
    let written = store
        .write(|x| calendar.write(x, Conflict::Replace, now))
        .unwrap();
    let left = "2026-03-05: 2 events before the re-plan at 14:00 left as they were planned: \
                `lunch` 10:00-10:30, `review` 13:30-14:00 (the rest was imported)";
    assert_eq!(
        written,
        Written {
            dates: vec![g.date],
            imported: 2,
            notes: vec![left.to_owned()],
        }
    );
    let after = "09:00-09:30 standup, 10:00-12:00 deep work, 14:00-14:30 review, \
                 15:00-15:30 standup";
    let day = store.read().day_plan(g.date).unwrap();
    assert_eq!(planned(&day, &g), after);
    assert_eq!(day.revisions.len(), 2);

    // Importing again changes nothing, before the re-plan or after it.
    let again = store
        .write(|x| calendar.write(x, Conflict::Refuse, now))
        .unwrap();
    assert_eq!(
        again,
        Written {
            dates: vec![],
            imported: 2,
            notes: vec![left.to_owned()],
        }
    );
    assert_eq!(store.read().day_plan(g.date).unwrap(), day);
}

#[test]
fn durations() {
    assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
    assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
    assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
    assert_eq!(parse_duration("-PT15M"), None);
    assert_eq!(parse_duration("PT"), None);
    assert_eq!(parse_duration("PT99999999999999999H"), None);
}

use proptest::strategy::Strategy as _;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("ICAL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    /// Whatever a file holds, reading it gives events or an error, never a panic.
    #[test]
    fn no_file_makes_parse_panic(
        lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex(
                    "(BEGIN|END|DTSTART|DTEND|DURATION|RRULE|RDATE|TZID|STATUS|UID|SUMMARY|TZOFFSETFROM|TZOFFSETTO)(;(TZID|VALUE)=[A-Za-z0-9 /+\"-]{0,12})?:[A-Za-z0-9:;=,+/ TZ-]{0,24}"
                ).unwrap(),
                proptest::sample::select(vec![
                    "BEGIN:VEVENT", "END:VEVENT", "BEGIN:VTIMEZONE", "END:VTIMEZONE",
                    "BEGIN:STANDARD", "END:STANDARD", "BEGIN:DAYLIGHT", "END:DAYLIGHT",
                    "TZID:Z", "DTSTART;TZID=Z:20260305T090000", "DTEND;TZID=Z:20260305T100000",
                    "DTSTART:16010101T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
                    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", "RRULE:FREQ=SECONDLY",
                    "RRULE:FREQ=DAILY;UNTIL=20300101T000000Z", "RDATE:20260301T020000,x",
                    "UID:a", "DURATION:PT1H", "DTSTART:20260305T090000Z", " folded",
                ]).prop_map(str::to_owned),
            ],
            0..40,
        )
    ) {
        let text = format!("BEGIN:VCALENDAR\r\n{}\r\nEND:VCALENDAR\r\n", lines.join("\r\n"));
        let _ = parse(&text, "fuzz.ics", Tz::UTC);
    }
}

#[test]
fn odd_vtimezone_rules_are_errors_not_panics() {
    for rule in [
        "FREQ=YEARLY;BYDAY=é",
        "FREQ=YEARLY;BYDAY=1éé",
        "FREQ=YEARLY;UNTIL=é",
        "FREQ=é",
        "BYDAY=SU",
    ] {
        let text = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Z\r\nBEGIN:STANDARD\r\n\
             DTSTART:19700101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nRRULE:{rule}\r\n\
             END:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:a\r\n\
             DTSTART;TZID=Z:20260305T090000\r\nDURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let e = parse(&text, "z.ics", Tz::UTC).unwrap_err().to_string();
        assert!(
            e.contains("the VTIMEZONE of TZID `Z` cannot be read"),
            "{rule}: {e}"
        );
    }
}
