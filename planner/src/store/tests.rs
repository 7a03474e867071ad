//! The store against real SQLite files.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::*;
use crate::actual::ManualEntry;
use crate::clock::Rounding;
use crate::grid::{DaySpan, Grid, parse_tz};
use crate::plan::{Conflict, DayPlan};
use crate::template::Template;

fn now() -> DateTime<Utc> {
    "2026-03-05T08:00:00Z".parse().unwrap()
}

#[test]
fn plans_and_revisions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/planner.sqlite3");
    let g = Grid::new(
        "2026-03-05".parse().unwrap(),
        parse_tz("Europe/Berlin").unwrap(),
        DaySpan::default(),
    );
    let mut day = DayPlan::new(g.date);
    let r = g
        .range("09:00-10:00".parse().unwrap(), Rounding::Strict)
        .unwrap();
    let cell = Cell::new("deep work")
        .unwrap()
        .with_category(Some("focus"))
        .with_color(Some(Color::parse("#112233").unwrap()));
    day.assign(&g, r, &cell, Conflict::Refuse, now()).unwrap();
    day.replan(&g, 20, true, now()).unwrap();
    {
        let mut s = Store::open(&path).unwrap();
        s.write(|t| t.save_day_plan(&day)).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.read().day_plan(g.date).unwrap(), day);
    assert_eq!(s.read().planned_dates().unwrap(), vec![g.date]);
    let mode: String = s
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn calendar_events_are_found_in_current_plans_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("p.db")).unwrap();
    let g = Grid::new(
        "2026-03-05".parse().unwrap(),
        parse_tz("UTC").unwrap(),
        DaySpan::default(),
    );
    let mut day = DayPlan::new(g.date);
    let r = g
        .range("14:00-15:00".parse().unwrap(), Rounding::Strict)
        .unwrap();
    let review = Cell::new("review").unwrap().fixed("ev-1");
    day.place_fixed(&g, r, &review, Conflict::Refuse, now())
        .unwrap();
    s.write(|t| t.save_day_plan(&day)).unwrap();
    let uids = ["ev-1".to_owned()];
    assert_eq!(s.read().dates_with_uids(&uids).unwrap(), [g.date]);
    // A re-plan that clears the rest of the day leaves the event only in revision 1.
    day.replan(&g, 0, true, now()).unwrap();
    s.write(|t| t.save_day_plan(&day)).unwrap();
    assert_eq!(s.read().dates_with_uids(&uids).unwrap(), []);
}

#[test]
fn a_failed_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("p.db")).unwrap();
    let e = ManualEntry {
        start: now(),
        end: now() + chrono::Duration::minutes(10),
        tz: "UTC".into(),
        label: "x".into(),
        category: None,
    };
    let r: Result<()> = s.write(|t| {
        t.insert_manual(&e)?;
        Err(PlannerError::EmptyLabel)
    });
    assert!(r.is_err());
    assert!(s.read().is_empty().unwrap());
}

#[test]
fn refuses_a_newer_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    drop(Store::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let e = Store::open(&path).err().unwrap();
    assert!(matches!(e, PlannerError::NewerDatabase { found: 99, .. }));
    assert!(
        e.to_string()
            .contains("written by a newer blocks (schema version 99"),
        "{e}"
    );
}

#[test]
fn templates_save_rename_remove() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("p.db")).unwrap();
    let mut cells = BTreeMap::new();
    cells.insert(540, Cell::new("deep work").unwrap());
    let t = Template {
        name: "workday".into(),
        created_at: now(),
        cells,
    };
    s.write(|x| x.save_template(&t, false)).unwrap();
    assert!(matches!(
        s.write(|x| x.save_template(&t, false)),
        Err(PlannerError::TemplateExists { .. })
    ));
    assert_eq!(s.read().template("WORKDAY").unwrap().cells.len(), 1);
    s.write(|x| x.rename_template("workday", "weekday"))
        .unwrap();
    let e = s.read().template("workday").unwrap_err().to_string();
    assert_eq!(
        e,
        "no template named `workday`; the templates are: weekday (`blocks template ls`)"
    );
    s.write(|x| x.remove_template("weekday")).unwrap();
    let e = s.read().template("weekday").unwrap_err().to_string();
    assert!(e.contains("there are no templates yet"), "{e}");
}

#[test]
fn settings_are_checked_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("p.db")).unwrap();
    s.write(|x| x.set_setting("wake", "06:00")).unwrap();
    assert!(s.write(|x| x.set_setting("wake", "6")).is_err());
    assert_eq!(s.read().settings().unwrap().span.wake, 360);
    s.write(|x| x.unset_setting("wake")).unwrap();
    assert_eq!(s.read().settings().unwrap().span.wake, 420);
}

#[test]
fn a_writer_waits_for_another_connections_transaction_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut first = Store::open(&path).unwrap();
    let entry = |minute: i64, label: &str| ManualEntry {
        start: now() + chrono::Duration::minutes(minute),
        end: now() + chrono::Duration::minutes(minute + 10),
        tz: "UTC".into(),
        label: label.into(),
        category: None,
    };
    let (go, started) = std::sync::mpsc::channel::<()>();
    let second_path = path.clone();
    let waiter = std::thread::spawn(move || {
        let mut second = Store::open(&second_path).unwrap();
        started.recv().unwrap();
        // Starts while the first connection holds the write lock: it waits (busy timeout)
        // instead of failing, and then sees what the first wrote.
        second
            .write(|t| {
                let before = t.all_manual()?.len();
                t.insert_manual(&entry(20, "second"))?;
                Ok(before)
            })
            .unwrap()
    });
    first
        .write(|t| {
            t.insert_manual(&entry(0, "first"))?;
            go.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        waiter.join().unwrap(),
        1,
        "the second writer saw the first's entry"
    );
    let labels: Vec<String> = first
        .read()
        .all_manual()
        .unwrap()
        .into_iter()
        .map(|e| e.label)
        .collect();
    assert_eq!(labels, ["first", "second"]);
}

#[test]
fn styles_in_use_count_current_plans_and_templates() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("p.db")).unwrap();
    let g = Grid::new(
        "2026-03-05".parse().unwrap(),
        parse_tz("UTC").unwrap(),
        DaySpan::default(),
    );
    let r = |s: &str| g.range(s.parse().unwrap(), Rounding::Strict).unwrap();
    let deep = Cell::new("deep work")
        .unwrap()
        .with_category(Some("focus"))
        .with_color(Some(Color::parse("blue").unwrap()));
    let mut day = DayPlan::new(g.date);
    day.assign(&g, r("09:00-10:00"), &deep, Conflict::Refuse, now())
        .unwrap();
    day.assign(
        &g,
        r("10:00-10:10"),
        &Cell::new("email").unwrap(),
        Conflict::Refuse,
        now(),
    )
    .unwrap();
    s.write(|t| t.save_day_plan(&day)).unwrap();
    // A re-plan that clears email: only the current revision counts.
    day.replan(&g, r("10:00-10:10").start, true, now()).unwrap();
    s.write(|t| t.save_day_plan(&day)).unwrap();
    let t = Template::from_day("t", &day, now()).unwrap();
    s.write(|x| x.save_template(&t, false)).unwrap();
    let styles = s.read().styles_in_use().unwrap();
    assert_eq!(
        styles,
        [StyleUse {
            label: "deep work".into(),
            category: Some("focus".into()),
            color: Some(Color::parse("blue").unwrap()),
            blocks: 12,
        }]
    );
}

#[test]
fn many_connections_opening_a_new_database_at_once_all_succeed() {
    // Each open checked the schema version, then migrated: two that both saw an empty file
    // both ran `CREATE TABLE settings`, and the second failed ("table settings already
    // exists"). 20 `blocks` processes on a new file: 43 of 200 failed.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite3");
        let start = std::sync::Barrier::new(20);
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let mut store = Store::open(&path)?;
                        store.write(|t| t.set_setting("join-gap", "5"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let failed: Vec<String> = results
            .iter()
            .filter_map(|r| {
                r.as_ref().err().map(|e| {
                    let source = std::error::Error::source(e).map(ToString::to_string);
                    format!("{e}: {}", source.unwrap_or_default())
                })
            })
            .collect();
        assert!(
            failed.is_empty(),
            "round {round}: {} failed: {failed:?}",
            failed.len()
        );
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema_version());
    }
}
