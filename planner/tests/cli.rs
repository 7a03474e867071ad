//! End-to-end: the real `blocks` binary on a temporary database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expect_test::expect;
use serde_json::Value;

struct Blocks {
    _dir: tempfile::TempDir,
    db: PathBuf,
    tz: String,
    now: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Blocks {
    fn new(tz: &str, now: &str) -> Blocks {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("planner.sqlite3");
        Blocks {
            _dir: dir,
            db,
            tz: tz.into(),
            now: now.into(),
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn run(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_blocks"))
            .args(args)
            .env("BLOCKS_DB", &self.db)
            .env("TZ", &self.tz)
            .env("BLOCKS_NOW", &self.now)
            .env("NO_COLOR", "1")
            // Activity sources (retrace-lsp, snaprun) read from here: the test's own.
            .env("XDG_DATA_HOME", self.dir().join("data"))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Runs and insists on success.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "blocks {args:?} failed:\n{}{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs and insists on failure with `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let r = self.run(args);
        assert_eq!(r.code, code, "blocks {args:?}:\n{}{}", r.stdout, r.stderr);
        assert!(r.stderr.starts_with("blocks: error: "), "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        r.stderr
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

#[test]
fn a_planned_day_with_actual_time_side_by_side() {
    // 10:47 in Berlin.
    let b = Blocks::new("Europe/Berlin", "2026-03-05T09:47:00Z");
    b.ok(&["plan", "09:00-11:30", "deep work", "--category", "focus"]);
    b.ok(&["plan", "11:30-12:00", "email"]);
    b.ok(&["plan", "13:00-14:00", "meetings"]);
    b.ok(&["did", "09:00-10:00", "deep work"]);
    b.ok(&["did", "10:00-10:30", "chat"]);
    let text = b.ok(&["show", "--wake", "08:00", "--sleep", "14:00"]);
    expect![[r#"
        Thu 2026-03-05  Europe/Berlin (UTC+01:00)  08:00-14:00  36 blocks
        plan revision 1 of 1 (made 2026-03-05 10:47)
              planned                              │ actual
        08:00 ·     ·     ·     ·     ·     ·      │ ·     ·     ·     ·     ·     ·
        09:00 [deep work                         ] │ [deep work                         ]
        10:00 [deep work              ▶          ] │ [chat            ]·     ▶     ·  ◀ now 10:47
        11:00 [deep work       ][email           ] │ ·     ·     ·     ·     ·     ·
        12:00 ·     ·     ·     ·     ·     ·      │ ·     ·     ·     ·     ·     ·
        13:00 [meetings                          ] │ ·     ·     ·     ·     ·     ·
        adherence: 6/10 blocks (60%)
        planned: deep work 2h30 · meetings 1h00 · email 0h30
        actual:  deep work 1h00 · chat 0h30
    "#]]
    .assert_eq(&text);

    let day = b.json(&["show", "--json"]);
    assert_eq!(day["blocks"].as_array().unwrap().len(), 102);
    assert_eq!(day["current_block"], 22);
    assert_eq!(day["blocks"][12]["planned"]["label"], "deep work");
    assert_eq!(day["blocks"][12]["actual"]["label"], "deep work");
    assert_eq!(day["blocks"][12]["outcome"], "matched");
    assert_eq!(day["blocks"][18]["outcome"], "different");
    assert_eq!(day["adherence"]["matched"], 6);
    assert_eq!(day["adherence"]["due"], 10);

    let report = b.json(&["report", "--json"]);
    let deep = report["by_label"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "deep work")
        .unwrap();
    assert_eq!(
        (
            deep["planned"].as_u64(),
            deep["actual"].as_u64(),
            deep["matched"].as_u64()
        ),
        (Some(15), Some(6), Some(6))
    );
    let week = b.json(&["report", "--week", "--json"]);
    assert_eq!(week["days"].as_array().unwrap().len(), 7);
    assert_eq!(week["days"][0]["date"], "2026-03-02");
    assert_eq!(week["adherence"]["matched"], 6);
}

#[test]
fn replan_keeps_what_was_planned_earlier() {
    let mut b = Blocks::new("UTC", "2026-03-05T07:30:00Z");
    b.ok(&["plan", "09:00-12:00", "deep work"]);
    b.now = "2026-03-05T10:43:00Z".into();
    let out = b.ok(&["replan", "--clear"]);
    assert!(
        out.starts_with("re-planned 2026-03-05 from 10:40: revision 2"),
        "{out}"
    );
    b.ok(&["plan", "10:40-12:00", "review"]);
    let err = b.fails(&["plan", "09:00-09:30", "x", "--replace"], 4);
    assert!(
        err.contains("is before 10:40, where plan revision 2 starts"),
        "{err}"
    );

    let label_at = |v: &Value, i: usize| {
        v["blocks"][i]["planned"]["label"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let now = b.json(&["show", "--json"]);
    assert_eq!(
        (label_at(&now, 20), label_at(&now, 24)),
        ("deep work".into(), "review".into())
    );
    let at_nine = b.json(&["show", "--json", "--at", "09:00"]);
    assert_eq!(at_nine["revision"], 1);
    assert_eq!(label_at(&at_nine, 24), "deep work");
    let rev1 = b.json(&["show", "--json", "--revision", "1"]);
    assert_eq!(label_at(&rev1, 29), "deep work");
    assert_eq!(label_at(&rev1, 30), "");
    assert_eq!(now["revisions"].as_array().unwrap().len(), 2);
    b.fails(&["show", "--revision", "3"], 5);
}

#[test]
fn templates_apply_to_weekday_patterns_or_not_at_all() {
    let b = Blocks::new("UTC", "2026-03-01T20:00:00Z");
    b.ok(&["plan", "09:00-11:00", "deep work", "--date", "2026-03-02"]);
    b.ok(&["plan", "14:00-15:00", "email", "--date", "2026-03-02"]);
    b.ok(&["template", "save", "workday", "--from", "2026-03-02"]);
    b.fails(&["template", "save", "workday", "--from", "2026-03-02"], 4);
    // Thursday already holds something else at 10:00: the whole application is refused.
    b.ok(&["plan", "10:00-10:30", "dentist", "--date", "2026-03-12"]);
    let err = b.fails(
        &[
            "template",
            "apply",
            "workday",
            "--weekdays",
            "mon-fri",
            "--week",
            "2026-03-09",
        ],
        4,
    );
    assert!(
        err.contains("overlaps the planned `dentist` at 10:00-10:30 on 2026-03-12"),
        "{err}"
    );
    let monday = b.json(&["show", "2026-03-09", "--json"]);
    assert!(
        monday["blocks"][12]["planned"].is_null(),
        "nothing half-written"
    );

    let out = b.ok(&[
        "template",
        "apply",
        "workday",
        "--weekdays",
        "mon-wed",
        "--week",
        "2026-03-09",
    ]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let wed = b.json(&["show", "2026-03-11", "--json"]);
    assert_eq!(wed["blocks"][12]["planned"]["label"], "deep work");
    assert_eq!(wed["blocks"][42]["planned"]["label"], "email");
    b.ok(&[
        "template",
        "apply",
        "workday",
        "--date",
        "2026-03-12",
        "--replace",
    ]);
    let thu = b.json(&["show", "2026-03-12", "--json"]);
    assert_eq!(thu["blocks"][18]["planned"]["label"], "deep work");

    b.ok(&["template", "rename", "workday", "office"]);
    let ls = b.json(&["template", "ls", "--json"]);
    assert_eq!(ls[0]["name"], "office");
    assert_eq!(ls[0]["blocks"], 18);
    let err = b.fails(&["template", "apply", "workday"], 5);
    assert!(
        err.contains("no template named `workday`; the templates are: office"),
        "{err}"
    );
    b.ok(&["template", "rm", "office"]);
    assert!(b.ok(&["template", "ls"]).starts_with("no templates yet"));
}

#[test]
fn clock_change_days_on_the_command_line() {
    let b = Blocks::new("America/New_York", "2026-03-01T12:00:00Z");
    for (date, blocks) in [("2026-03-08", 96), ("2026-11-01", 108)] {
        let v = b.json(&[
            "show", date, "--wake", "01:00", "--sleep", "18:00", "--json",
        ]);
        assert_eq!(v["blocks"].as_array().unwrap().len(), blocks, "{date}");
        let v = b.json(&["show", date, "--json"]);
        assert_eq!(v["blocks"].as_array().unwrap().len(), 102, "{date}");
    }
    // The repeated hour: plan the second 01:00-01:30 by its offset.
    b.ok(&[
        "plan",
        "01:00@-05:00-01:30@-05:00",
        "night",
        "--date",
        "2026-11-01",
        "--wake",
        "00:00",
    ]);
    let v = b.json(&[
        "show",
        "2026-11-01",
        "--json",
        "--wake",
        "00:00",
        "--sleep",
        "04:00",
    ]);
    let night: Vec<(String, String)> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["planned"]["label"] == "night")
        .map(|b| {
            (
                b["local"].as_str().unwrap().to_owned(),
                b["offset"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        night,
        [
            ("01:00".into(), "-05:00".into()),
            ("01:10".into(), "-05:00".into()),
            ("01:20".into(), "-05:00".into())
        ]
    );
    let text = b.ok(&["show", "2026-11-01", "--wake", "00:00", "--sleep", "04:00"]);
    assert!(text.contains("01:00 [night           ]·     ·     ·      │ ·     ·     ·     ·     ·     ·  UTC-05:00"), "{text}");
    // Kathmandu through --tz: local :00/:10 labels.
    let v = b.json(&["--tz", "Asia/Kathmandu", "show", "2026-06-01", "--json"]);
    assert_eq!(v["blocks"][0]["start"], "2026-06-01T01:15:00+00:00");
    assert_eq!(v["blocks"][0]["local"], "07:00");
}

#[test]
fn a_day_that_ends_after_midnight_is_still_today_at_half_past_midnight() {
    // 00:30 on Friday in UTC, with the day running until 01:00: it is still Thursday's day.
    let b = Blocks::new("UTC", "2026-03-06T00:30:00Z");
    b.ok(&["config", "set", "sleep", "01:00"]);
    let v = b.json(&["show", "--json"]);
    assert_eq!(v["date"], "2026-03-05");
    assert_eq!(v["sleep"], "25:00");
    assert_eq!(v["blocks"].as_array().unwrap().len(), 108);
    b.ok(&["plan", "23:30-00:40", "reading"]);
    let v = b.json(&["show", "--json"]);
    assert_eq!(
        v["blocks"][v["current_block"].as_u64().unwrap() as usize]["planned"]["label"],
        "reading"
    );
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let b = Blocks::new("Europe/Berlin", "2026-03-05T08:00:00Z");
    b.ok(&["plan", "09:00-10:00", "a"]);
    for (args, code, want) in [
        (
            &["plan", "09:05-10:00", "x"][..],
            3,
            "09:05 is not on a 10-minute boundary; use 09:00 or 09:10, or pass --round",
        ),
        (
            &["plan", "11:00-10:00", "x"],
            3,
            "ends before it starts; write it as 10:00-11:00",
        ),
        (
            &["plan", "09:30-10:30", "x"],
            4,
            "overlaps the planned `a` at 09:30-10:00",
        ),
        (
            &["plan", "05:00-06:00", "x"],
            3,
            "outside the waking span 07:00-24:00",
        ),
        (&["plan", "nine-ten", "x"], 3, "is not a time range"),
        (&["plan", "10:00-11:00", "  "], 3, "label must not be empty"),
        (
            &["plan", "10:00-11:00", "x", "--fill", "sparkly"],
            3,
            "is not a colour",
        ),
        (&["show", "2026-02-30"], 3, "is not a date"),
        (
            &["--tz", "Europe/Berlinn", "show"],
            3,
            "unknown time zone `Europe/Berlinn`",
        ),
        (
            &["--tz", "europe/berlin", "show"],
            3,
            "did you mean `Europe/Berlin`?",
        ),
        (
            &["template", "apply", "nope"],
            5,
            "no template named `nope`; there are no templates yet",
        ),
        (
            &["template", "apply", "x", "--weekdays", "someday"],
            3,
            "is not a weekday pattern",
        ),
        (&["config", "set", "wake", "7"], 3, "`7` is not a time"),
        (
            &["replan", "--date", "2026-03-09"],
            5,
            "nothing is planned for 2026-03-09 yet",
        ),
    ] {
        let err = b.fails(args, code);
        assert!(err.contains(want), "blocks {args:?}: {err}");
    }
    // --round rounds outward.
    let out = b.ok(&["plan", "10:05-10:25", "rounded", "--round"]);
    assert!(out.contains("10:00-10:30"), "{out}");
    let v = b.json(&["show", "--json"]);
    let labels: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["planned"]["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "a", "a", "a", "a", "a", "a", "rounded", "rounded", "rounded"
        ]
    );
}

#[test]
fn recorded_time_can_be_replaced_and_cleared() {
    let b = Blocks::new("UTC", "2026-03-05T18:00:00Z");
    b.ok(&["did", "14:00-15:00", "review"]);
    b.fails(&["did", "14:30-15:30", "chat"], 4);
    b.ok(&["did", "14:30-15:30", "chat", "--replace"]);
    b.ok(&["clear", "15:00-15:10", "--actual"]);
    let v = b.json(&["show", "--json"]);
    let actual: Vec<String> = (42..56)
        .map(|i| {
            v["blocks"][i]["actual"]["label"]
                .as_str()
                .unwrap_or("-")
                .to_owned()
        })
        .collect();
    assert_eq!(
        actual,
        [
            "review", "review", "review", "chat", "chat", "chat", "-", "chat", "chat", "-", "-",
            "-", "-", "-"
        ]
    );
}

#[test]
fn ical_round_trip_through_files() {
    let b = Blocks::new("Europe/Berlin", "2026-03-01T12:00:00Z");
    b.ok(&[
        "plan",
        "09:00-11:30",
        "deep work",
        "--category",
        "focus",
        "--fill",
        "blue",
        "--date",
        "2026-03-05",
    ]);
    b.ok(&["plan", "14:00-14:30", "deep work", "--date", "2026-03-05"]);
    b.ok(&["plan", "09:00-10:00", "writing", "--date", "2026-03-06"]);
    let ics = b.dir().join("week.ics");
    let out = b.ok(&[
        "export",
        "--ics",
        ics.to_str().unwrap(),
        "--week",
        "2026-03-05",
    ]);
    assert!(
        out.starts_with("wrote 3 events (plan, 2026-03-02 to 2026-03-08)"),
        "{out}"
    );

    let other = Blocks::new("Europe/Berlin", "2026-03-01T12:00:00Z");
    let out = other.ok(&["import", ics.to_str().unwrap()]);
    assert!(out.starts_with("imported 3 events"), "{out}");
    // Importing the same file again updates the same blocks rather than adding to them.
    other.ok(&["import", ics.to_str().unwrap()]);
    for date in ["2026-03-05", "2026-03-06"] {
        let a = b.json(&["show", date, "--json"]);
        let c = other.json(&["show", date, "--json"]);
        for i in 0..102 {
            assert_eq!(
                a["blocks"][i]["planned"]["label"], c["blocks"][i]["planned"]["label"],
                "{date} block {i}"
            );
            assert_eq!(
                a["blocks"][i]["planned"]["category"],
                c["blocks"][i]["planned"]["category"]
            );
        }
    }
    let again = other.dir().join("again.ics");
    other.ok(&[
        "export",
        "--ics",
        again.to_str().unwrap(),
        "--week",
        "2026-03-05",
    ]);
    let uids = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("UID:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(uids(&ics), uids(&again));

    // A file that cannot be written is named as given, and nothing is left beside it.
    let taken = b.dir().join("taken.ics");
    std::fs::create_dir(&taken).unwrap();
    let missing = b.dir().join("no/such/dir/plan.ics");
    for target in [&taken, &missing] {
        let err = b.fails(&["export", "--ics", target.to_str().unwrap()], 7);
        assert!(
            err.contains(&format!("cannot use {}:", target.display())),
            "{err}"
        );
    }
    assert!(
        !b.dir().join("taken.blocks-tmp").exists(),
        "no temporary file is left"
    );

    let bad = b.dir().join("bad.ics");
    std::fs::write(&bad, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:no start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").unwrap();
    let err = other.fails(&["import", bad.to_str().unwrap()], 7);
    assert!(
        err.contains("malformed iCalendar file") && err.contains("has no DTSTART"),
        "{err}"
    );
}

#[test]
fn a_calendar_import_after_a_replan_leaves_the_earlier_blocks_as_planned() {
    let mut b = Blocks::new("UTC", "2026-03-05T07:30:00Z");
    let calendar = |name: &str, events: &[(&str, &str, &str, &str)]| {
        let mut text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n".to_owned();
        for (uid, summary, start, end) in events {
            text.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260301T000000Z\r\n\
                 DTSTART:20260305T{start}00Z\r\nDTEND:20260305T{end}00Z\r\n\
                 SUMMARY:{summary}\r\nEND:VEVENT\r\n"
            ));
        }
        text.push_str("END:VCALENDAR\r\n");
        let path = b.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let morning = calendar(
        "morning.ics",
        &[("sync@example.com", "standup", "0900", "0930")],
    );
    // The standup moved to the afternoon, lunch landed on the deep work, and a review came.
    let ics = &calendar(
        "work.ics",
        &[
            ("sync@example.com", "standup", "1630", "1700"),
            ("lunch@example.com", "lunch", "1000", "1030"),
            ("review@example.com", "review", "1500", "1600"),
        ],
    );
    b.ok(&["import", &morning]);
    b.ok(&["plan", "10:00-12:00", "deep work"]);
    b.now = "2026-03-05T14:05:00Z".into();
    b.ok(&["replan"]);
    b.ok(&["plan", "15:00-15:30", "email"]);
    let left = "note: 2026-03-05: 1 event before the re-plan at 14:00 left as it was planned: \
                `lunch` 10:00-10:30\n";

    // After the re-plan, conflicts are refused as ever, and the suggested command works.
    let err = b.fails(&["import", ics], 4);
    assert!(
        err.contains(
            "15:00-16:00 overlaps the planned `email` at 15:00-15:30 on 2026-03-05; clear it \
             first (`blocks clear 15:00-15:30 --date 2026-03-05`)"
        ),
        "{err}"
    );
    b.ok(&["clear", "15:00-15:30", "--date", "2026-03-05"]);
    let out = b.ok(&["import", ics]);
    assert_eq!(
        out,
        format!("imported 2 events from {ics} as fixed blocks (2026-03-05)\n{left}")
    );

    let planned = |v: &Value, local: &str| {
        let block = v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|blk| blk["local"] == local)
            .unwrap_or_else(|| panic!("no block {local}"));
        (
            block["planned"]["label"].as_str().unwrap_or("").to_owned(),
            block["planned"]["fixed_uid"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let day = b.json(&["show", "--json"]);
    assert_eq!(planned(&day, "10:00"), ("deep work".into(), "".into()));
    // The standup keeps its morning blocks, planned before the re-plan, and gets the new ones.
    assert_eq!(
        planned(&day, "09:20"),
        ("standup".into(), "sync@example.com".into())
    );
    assert_eq!(
        planned(&day, "16:50"),
        ("standup".into(), "sync@example.com".into())
    );
    assert_eq!(
        planned(&day, "15:50"),
        ("review".into(), "review@example.com".into())
    );
    assert_eq!(day["revisions"].as_array().unwrap().len(), 2);

    // Importing again, even with --replace, changes nothing before the re-plan or after it.
    for args in [&["import", ics][..], &["import", ics, "--replace"]] {
        let out = b.ok(args);
        assert_eq!(
            out,
            format!("imported 2 events from {ics} as fixed blocks (no days changed)\n{left}")
        );
        assert_eq!(b.json(&["show", "--json"]), day);
    }
}

#[test]
fn backup_round_trip_and_newer_files_are_refused() {
    let b = Blocks::new("UTC", "2026-03-05T08:00:00Z");
    b.ok(&["plan", "09:00-10:00", "a", "--category", "c"]);
    b.ok(&["did", "09:00-09:30", "a"]);
    b.ok(&["template", "save", "t"]);
    b.ok(&["config", "set", "join-gap", "5"]);
    let backup = b.dir().join("backup.json");
    b.ok(&["export", "--json", backup.to_str().unwrap()]);
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(
        text.contains("\"from\": \"09:00\""),
        "readable ranges: {text}"
    );

    let other = Blocks::new("UTC", "2026-03-05T08:00:00Z");
    other.ok(&["import", backup.to_str().unwrap()]);
    assert_eq!(b.ok(&["show"]), other.ok(&["show"]));
    other.fails(&["import", backup.to_str().unwrap()], 4);
    other.ok(&["import", backup.to_str().unwrap(), "--replace"]);
    assert!(other.ok(&["config"]).contains("join-gap   5"));

    let newer = b.dir().join("newer.json");
    std::fs::write(&newer, text.replace("\"version\": 1", "\"version\": 2")).unwrap();
    let err =
        Blocks::new("UTC", "2026-03-05T08:00:00Z").fails(&["import", newer.to_str().unwrap()], 7);
    assert!(
        err.contains("written by a newer blocks (backup format 2"),
        "{err}"
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused_untouched() {
    let b = Blocks::new("UTC", "2026-03-05T08:00:00Z");
    b.ok(&["plan", "09:00-10:00", "a"]);
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    conn.pragma_update(None, "user_version", 42).unwrap();
    drop(conn);
    let before = std::fs::read(&b.db).unwrap();
    let err = b.fails(&["show"], 6);
    assert!(
        err.contains("written by a newer blocks (schema version 42"),
        "{err}"
    );
    assert!(
        err.contains("upgrade blocks, or point --db at another file"),
        "{err}"
    );
    b.fails(&["plan", "10:00-11:00", "b"], 6);
    assert_eq!(
        std::fs::read(&b.db).unwrap(),
        before,
        "the newer database was not touched"
    );
}

#[test]
fn colour_follows_no_color_and_the_flag() {
    let b = Blocks::new("UTC", "2026-03-05T08:00:00Z");
    b.ok(&["plan", "09:00-10:00", "a", "--fill", "#102030"]);
    assert!(!b.ok(&["show"]).contains('\x1b'));
    let coloured = b.ok(&["show", "--color", "always"]);
    assert!(
        coloured.contains("\x1b[97;48;2;16;32;48m[a"),
        "{coloured:?}"
    );
}

#[test]
fn database_lives_under_xdg_data_home() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blocks"))
        .args(["plan", "09:00-10:00", "a"])
        .env_remove("BLOCKS_DB")
        .env("XDG_DATA_HOME", dir.path())
        .env("TZ", "UTC")
        .env("BLOCKS_NOW", "2026-03-05T08:00:00Z")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("retrace/planner.sqlite3").exists());
}

/// Real retrace-lsp visits and a real snaprun batch, written through those tools' own
/// libraries under `XDG_DATA_HOME`, fill the actual blocks of the day.
#[test]
fn activity_from_retrace_lsp_and_snaprun_fills_actual_blocks() {
    use retrace_lsp::history::{History, Options};
    use retrace_lsp::store::{SessionInfo, database_path};
    use retrace_lsp::tree::{Precision, Reason};
    use retrace_lsp::workspace::{Workspace, uri_for_path};

    let b = Blocks::new("UTC", "2026-03-05T18:00:00Z");
    let data = b.dir().join("data");
    let ms = |hhmm: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-03-05T{hhmm}:00Z"))
            .unwrap()
            .timestamp_millis()
    };

    // Navigation in ~/src/retrace between 10:00 and 10:24 (gaps under the join gap).
    let root = Path::new("/home/me/src/retrace");
    let db = database_path(&data.join("retrace"), root);
    let session = SessionInfo {
        id: std::sync::Arc::from("test"),
        pid: std::process::id(),
        host: "test".into(),
        client: "test".into(),
        started_ms: ms("10:00"),
    };
    let mut h = History::open(
        &db,
        Workspace::new(root),
        &session,
        Options::default(),
        ms("10:00"),
    )
    .unwrap();
    for (i, at) in ["10:00", "10:08", "10:15", "10:24"].iter().enumerate() {
        let uri = uri_for_path(&root.join(format!("src/f{i}.rs")));
        h.visit(&uri, 0, 0, Reason::Definition, Precision::Line, ms(at))
            .unwrap();
    }
    h.close().unwrap();

    // A snaprun batch on ~/src/stress from 13:00 to 13:35.
    std::fs::create_dir_all(data.join("snaprun")).unwrap();
    let results = snaprun::results::Results::open(&data.join("snaprun/results.db")).unwrap();
    results
        .insert_batch(&snaprun::results::Batch {
            workspace: "/home/me/src/stress".into(),
            start_ms: ms("13:00"),
            end_ms: Some(ms("13:35")),
            ..snaprun::results::fixtures::batch("b1")
        })
        .unwrap();

    let day: serde_json::Value =
        serde_json::from_str(&b.ok(&["show", "2026-03-05", "--json"])).unwrap();
    let actual_at = |local: &str| {
        let block = day["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|blk| blk["local"] == local)
            .unwrap();
        block["actual"]["label"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(actual_at("09:50"), "");
    for t in ["10:00", "10:10", "10:20"] {
        assert_eq!(actual_at(t), "retrace", "at {t}: {day}");
    }
    assert_eq!(actual_at("10:30"), "");
    for t in ["13:00", "13:10", "13:20", "13:30"] {
        assert_eq!(actual_at(t), "stress", "at {t}");
    }
    assert_eq!(actual_at("13:40"), "");
}
