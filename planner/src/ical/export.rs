//! Plans and actual time as iCalendar files: one VEVENT per run of blocks, stable UIDs.

use std::collections::HashMap;
use std::ops::Range;

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, Property};

use crate::actual::ActualCell;
use crate::grid::Grid;
use crate::plan::Cell;

const PRODID: &str = "-//Retrace//blocks planner//EN";

/// Prefix of UIDs this planner makes.
pub const UID_DOMAIN: &str = "blocks.retrace.invalid";

fn slug(label: &str) -> String {
    let mut s = String::new();
    for ch in label.to_lowercase().chars() {
        if ch.is_ascii_alphanumeric() {
            s.push(ch);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-');
    let h = label
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    if s.is_empty() {
        format!("{h:08x}")
    } else {
        format!("{}-{h:08x}", &s[..s.len().min(40)])
    }
}

fn calendar(name: &str, tz: &str) -> Calendar {
    let mut cal = Calendar::empty();
    cal.append_property(Property::new("VERSION", "2.0"));
    cal.append_property(Property::new("PRODID", PRODID));
    cal.append_property(Property::new("CALSCALE", "GREGORIAN"));
    cal.append_property(Property::new("X-WR-CALNAME", name));
    cal.append_property(Property::new("X-WR-TIMEZONE", tz));
    cal
}

/// One day's plan to export: the grid and the planned cell of each block.
pub struct PlanDay<'a> {
    pub grid: &'a Grid,
    pub planned: Vec<Option<&'a Cell>>,
    /// The revision the plan is, for SEQUENCE.
    pub revision: u32,
}

/// The plan of some days as an iCalendar file.
pub fn plan_calendar(days: &[PlanDay<'_>], now: DateTime<Utc>) -> String {
    let tz = days.first().map_or("UTC", |d| d.grid.tz.name());
    let mut cal = calendar("blocks plan", tz);
    for day in days {
        let mut uids = UidMaker::new("plan", day.grid);
        for (range, cell) in crate::plan::runs(&day.planned) {
            let uid = uids.uid(&cell.label, cell.fixed_uid.as_deref());
            let mut ev = event(day.grid, range.clone(), &cell.label, &uid, now);
            ev.sequence(day.revision.saturating_sub(1));
            if let Some(c) = &cell.category {
                ev.categories([c.as_str()]);
            }
            if let Some(color) = &cell.color {
                ev.add_property("X-BLOCKS-COLOR", color.as_str());
                if color.is_named() {
                    ev.add_property("COLOR", color.as_str());
                }
            }
            ev.description(&format!(
                "Planned in blocks: {} on {} ({}), {} blocks of 10 minutes",
                day.grid.describe(range.clone()),
                day.grid.date,
                day.grid.tz.name(),
                range.len()
            ));
            cal.push(ev.done());
        }
    }
    cal.to_string()
}

/// What was actually done on some days, as its own iCalendar file.
pub fn actual_calendar(days: &[(&Grid, &[Option<ActualCell>])], now: DateTime<Utc>) -> String {
    let tz = days.first().map_or("UTC", |d| d.0.tz.name());
    let mut cal = calendar("blocks actual", tz);
    for (grid, actual) in days {
        #[derive(PartialEq)]
        struct Key<'a>(&'a str, Option<&'a str>, &'a str);
        let keys: Vec<Option<Key>> = actual
            .iter()
            .map(|a| {
                a.as_ref()
                    .map(|a| Key(&a.label, a.category.as_deref(), &a.source))
            })
            .collect();
        let refs: Vec<Option<&Key>> = keys.iter().map(Option::as_ref).collect();
        let mut uids = UidMaker::new("actual", grid);
        for (range, key) in crate::plan::runs(&refs) {
            let uid = uids.uid(key.0, None);
            let mut ev = event(grid, range.clone(), key.0, &uid, now);
            if let Some(c) = key.1 {
                ev.categories([c]);
            }
            ev.add_property("X-BLOCKS-SOURCE", key.2);
            ev.description(&format!(
                "Done ({}): {} on {} ({})",
                key.2,
                grid.describe(range.clone()),
                grid.date,
                grid.tz.name()
            ));
            cal.push(ev.done());
        }
    }
    cal.to_string()
}

fn event(grid: &Grid, range: Range<usize>, summary: &str, uid: &str, now: DateTime<Utc>) -> Event {
    let (start, end) = grid.instants(range);
    let mut ev = Event::new();
    ev.uid(uid)
        .timestamp(now)
        .summary(summary)
        .starts(start)
        .ends(end);
    ev
}

/// Stable, unique UIDs within one day of one export.
struct UidMaker {
    kind: &'static str,
    date: String,
    seen: HashMap<String, u32>,
}

impl UidMaker {
    fn new(kind: &'static str, grid: &Grid) -> UidMaker {
        UidMaker {
            kind,
            date: grid.date.to_string(),
            seen: HashMap::new(),
        }
    }

    fn uid(&mut self, label: &str, fixed: Option<&str>) -> String {
        let base = match fixed {
            Some(uid) => uid.to_owned(),
            None => format!("{}-{}-{}", self.kind, self.date, slug(label)),
        };
        let n = self.seen.entry(base.clone()).or_insert(0);
        *n += 1;
        match (fixed, *n) {
            (Some(_), 1) => base,
            (Some(_), n) => format!("{base}-part{n}"),
            (None, n) => format!("{base}-{n}@{UID_DOMAIN}"),
        }
    }
}
