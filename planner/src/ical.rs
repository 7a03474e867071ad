//! iCalendar (RFC 5545) export and import through the `icalendar` crate.
//!
//! Export: each run of contiguous blocks with one plan becomes one VEVENT with UTC start and
//! end. UIDs are stable (date, label and which run of that label it is, or the UID of the
//! calendar event the blocks came from), so importing a newer export into a calendar
//! updates the events instead of adding copies. Actual time exports as its own calendar.
//!
//! Import: events become fixed blocks; events are rounded outward to whole blocks, and
//! re-importing an event (by UID) moves its blocks to where it is now. Blocks before a day's
//! re-plan are history: an import leaves them as they were planned.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use icalendar::{
    Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event, EventLike,
    Property,
};

use crate::actual::ActualCell;
use crate::error::{PlannerError, Result};
use crate::grid::{DaySpan, Grid, resolve_local};
use crate::plan::{Cell, Color, Conflict, DayPlan};
use crate::store::Txn;

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

/// An event read from an .ics file, in UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedEvent {
    pub uid: String,
    pub summary: String,
    pub category: Option<String>,
    pub color: Option<Color>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl ImportedEvent {
    pub fn cell(&self) -> Cell {
        Cell {
            label: self.summary.clone(),
            category: self.category.clone(),
            color: self.color.clone(),
            fixed_uid: Some(self.uid.clone()),
        }
    }
}

/// What reading a calendar gave: the events, and what was skipped and why.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub events: Vec<ImportedEvent>,
    pub warnings: Vec<String>,
}

/// Reads the events of an .ics file. Times with a TZID are read in that zone, floating times
/// in `floating_tz`; all-day events are skipped (they have no blocks), and a recurring event
/// contributes its first occurrence.
pub fn parse(text: &str, path: &str, floating_tz: Tz) -> Result<Parsed> {
    let bad = |reason: String| PlannerError::MalformedIcs {
        path: path.to_owned(),
        reason,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !trimmed
        .get(..15)
        .is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR"))
    {
        return Err(bad("it does not start with BEGIN:VCALENDAR".into()));
    }
    if !text.to_ascii_uppercase().contains("END:VCALENDAR") {
        return Err(bad(
            "it has no END:VCALENDAR (is the file cut short?)".into()
        ));
    }
    let cal: Calendar = trimmed
        .parse()
        .map_err(|e: String| bad(e.trim().to_owned()))?;
    let mut out = Parsed::default();
    for (n, comp) in cal.components.iter().enumerate() {
        let CalendarComponent::Event(ev) = comp else {
            continue;
        };
        let summary = ev
            .get_summary()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("(busy)");
        let what = format!("event {} `{summary}`", n + 1);
        let uid = match ev.get_uid() {
            Some(u) if !u.trim().is_empty() => u.trim().to_owned(),
            _ => return Err(bad(format!("{what} has no UID"))),
        };
        let Some(start) = ev.get_start() else {
            return Err(bad(format!("{what} has no DTSTART")));
        };
        let start = match instant(&start, floating_tz) {
            Ok(Some(t)) => t,
            Ok(None) => {
                out.warnings.push(format!(
                    "skipped {what}: an all-day event has no time blocks"
                ));
                continue;
            }
            Err(e) => return Err(bad(format!("{what}: {e}"))),
        };
        let end = match ev.get_end() {
            Some(end) => match instant(&end, floating_tz) {
                Ok(Some(t)) => t,
                Ok(None) => {
                    return Err(bad(format!(
                        "{what} mixes a DATE end with a DATE-TIME start"
                    )));
                }
                Err(e) => return Err(bad(format!("{what}: {e}"))),
            },
            None => match ev
                .property_value("DURATION")
                .map(|d| parse_duration(d).and_then(|d| start.checked_add_signed(d)))
            {
                Some(Some(end)) => end,
                Some(None) => {
                    return Err(bad(format!("{what} has a DURATION that cannot be read")));
                }
                None => {
                    out.warnings
                        .push(format!("skipped {what}: it has no end and no duration"));
                    continue;
                }
            },
        };
        if end <= start {
            return Err(bad(format!("{what} ends before it starts")));
        }
        if ev.property_value("RRULE").is_some() {
            out.warnings.push(format!(
                "{what} repeats; only its first occurrence was imported"
            ));
        }
        let color = ev
            .property_value("X-BLOCKS-COLOR")
            .or_else(|| ev.property_value("COLOR"))
            .and_then(|c| Color::parse(c).ok());
        let category = ev.get_categories().and_then(|cs| {
            cs.into_iter()
                .map(|c| c.trim().to_owned())
                .find(|c| !c.is_empty())
        });
        out.events.push(ImportedEvent {
            uid,
            summary: summary.to_owned(),
            category,
            color,
            start,
            end,
        });
    }
    Ok(out)
}

fn instant(
    d: &DatePerhapsTime,
    floating_tz: Tz,
) -> std::result::Result<Option<DateTime<Utc>>, String> {
    match d {
        DatePerhapsTime::Date(_) => Ok(None),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => Ok(Some(*t)),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(t)) => {
            Ok(Some(resolve_local(floating_tz, *t)))
        }
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            let tz = tz_from_tzid(tzid).ok_or_else(|| {
                format!("TZID `{tzid}` is not an IANA time zone this build knows")
            })?;
            Ok(Some(resolve_local(tz, *date_time)))
        }
    }
}

/// Reads a TZID: an IANA name, possibly with a vendor prefix (`/mozilla.org/.../Europe/Berlin`).
fn tz_from_tzid(tzid: &str) -> Option<Tz> {
    let t = tzid.trim().trim_matches('"');
    if let Ok(tz) = t.parse::<Tz>() {
        return Some(tz);
    }
    let parts: Vec<&str> = t.split('/').collect();
    (0..parts.len()).find_map(|i| parts[i..].join("/").parse::<Tz>().ok())
}

/// Reads an RFC 5545 DURATION such as `PT1H30M`, `P1D` or `-PT15M` (negative is refused, and
/// so is one too long for chrono).
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim().strip_prefix('+').unwrap_or(s.trim());
    let s = s.strip_prefix('P')?;
    let mut total = Duration::zero();
    let mut num = String::new();
    let mut in_time = false;
    for ch in s.chars() {
        match ch {
            'T' => in_time = true,
            '0'..='9' => num.push(ch),
            _ => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                let part = match (ch, in_time) {
                    ('W', false) => Duration::try_weeks(n),
                    ('D', false) => Duration::try_days(n),
                    ('H', true) => Duration::try_hours(n),
                    ('M', true) => Duration::try_minutes(n),
                    ('S', true) => Duration::try_seconds(n),
                    _ => None,
                };
                total = total.checked_add(&part?)?;
            }
        }
    }
    (num.is_empty() && total > Duration::zero()).then_some(total)
}

/// Where an imported event goes: a run of blocks on one day.
#[derive(Clone, Debug)]
pub struct Placement {
    pub grid: Grid,
    pub blocks: Range<usize>,
    pub cell: Cell,
}

/// A calendar's events laid onto days, ready to write.
#[derive(Clone, Debug)]
pub struct Import {
    /// Every event's UID, placed or not: blocks from earlier imports of these events are
    /// removed before the events are placed again.
    pub uids: Vec<String>,
    pub placements: Vec<Placement>,
    /// What was skipped or cut, and why.
    pub notes: Vec<String>,
    /// The zone and waking span the events were laid out in.
    tz: Tz,
    span: DaySpan,
}

/// What writing an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The dates whose plan changed.
    pub dates: Vec<NaiveDate>,
    /// Events with blocks placed (all of them, or their part after a re-plan).
    pub imported: usize,
    /// One line per day with events before a re-plan, which were left as planned.
    pub notes: Vec<String>,
}

/// An event (or its start) that fell before its day's re-plan, and was not imported there.
struct LeftAlone<'a> {
    placement: &'a Placement,
    before: Range<usize>,
    /// The rest of the event, after the re-plan, was imported.
    rest_imported: bool,
}

impl Import {
    /// Lays the events onto days of `tz` with the waking span `span`. Each event goes to the
    /// day whose waking span holds its start (or, failing that, any of it): the day before its
    /// local date when that day runs past midnight.
    pub fn new(parsed: Parsed, tz: Tz, span: DaySpan) -> Import {
        let mut notes = parsed.warnings;
        let mut placements = Vec::new();
        let mut grids: BTreeMap<NaiveDate, Grid> = BTreeMap::new();
        for ev in &parsed.events {
            let d = ev.start.with_timezone(&tz).date_naive();
            let candidates = [d - Duration::days(1), d];
            for c in candidates {
                grids.entry(c).or_insert_with(|| Grid::new(c, tz, span));
            }
            let holds_start = |c: &&NaiveDate| {
                let g = &grids[*c];
                ev.start >= g.wake && ev.start < g.sleep
            };
            let found = candidates
                .iter()
                .filter(holds_start)
                .chain(&candidates)
                .find_map(|c| Some((&grids[c], grids[c].touching(ev.start, ev.end)?)));
            let Some((grid, blocks)) = found else {
                notes.push(format!(
                    "skipped `{}` at {}: outside the waking span {span}",
                    ev.summary,
                    ev.start.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                ));
                continue;
            };
            let (start, end) = grid.instants(blocks.clone());
            if start > ev.start || end < ev.end {
                notes.push(format!(
                    "`{}` was cut to the waking span: {}",
                    ev.summary,
                    grid.describe(blocks.clone())
                ));
            }
            placements.push(Placement {
                grid: grid.clone(),
                blocks,
                cell: ev.cell(),
            });
        }
        Import {
            uids: parsed.events.into_iter().map(|e| e.uid).collect(),
            placements,
            notes,
            tz,
            span,
        }
    }

    /// Writes the events as fixed blocks, after removing the blocks earlier imports of the
    /// same events left. A day's blocks before its re-plan are history: they keep what was
    /// planned, so events (or the parts of events) there are left out, and earlier blocks of
    /// these events there stay.
    pub fn write(&self, txn: &Txn<'_>, conflict: Conflict, now: DateTime<Utc>) -> Result<Written> {
        let mut days: BTreeMap<NaiveDate, (DayPlan, DayPlan)> = BTreeMap::new();
        for d in txn.dates_with_uids(&self.uids)? {
            let stored = txn.day_plan(d)?;
            let mut day = stored.clone();
            day.remove_fixed(&Grid::new(d, self.tz, self.span), &self.uids, now);
            days.insert(d, (stored, day));
        }
        let mut written = Written::default();
        let mut left: BTreeMap<NaiveDate, Vec<LeftAlone>> = BTreeMap::new();
        for p in &self.placements {
            let (_, day) = match days.entry(p.grid.date) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => {
                    let stored = txn.day_plan(p.grid.date)?;
                    v.insert((stored.clone(), stored))
                }
            };
            let (before, after) = day.split_at_revision(&p.grid, p.blocks.clone());
            if !before.is_empty() {
                left.entry(p.grid.date).or_default().push(LeftAlone {
                    placement: p,
                    before,
                    rest_imported: !after.is_empty(),
                });
            }
            if !after.is_empty() {
                day.place_fixed(&p.grid, after, &p.cell, conflict, now)?;
                written.imported += 1;
            }
        }
        for (date, (stored, day)) in &days {
            if day != stored {
                txn.save_day_plan(day)?;
                written.dates.push(*date);
            }
        }
        for (date, events) in left {
            let (_, day) = &days[&date];
            written.notes.push(left_alone_note(day, &events));
        }
        Ok(written)
    }
}

/// `2026-03-05: 2 events before the re-plan at 14:00 left as they were planned: ...`
fn left_alone_note(day: &DayPlan, events: &[LeftAlone]) -> String {
    let from = day
        .current()
        .and_then(|r| r.from)
        .map(|w| w.to_string())
        .unwrap_or_default();
    let what: Vec<String> = events
        .iter()
        .map(|e| {
            let p = e.placement;
            let rest = if e.rest_imported {
                " (the rest was imported)"
            } else {
                ""
            };
            format!(
                "`{}` {}{rest}",
                p.cell.label,
                p.grid.describe(e.before.clone())
            )
        })
        .collect();
    let (n, were) = match events.len() {
        1 => ("1 event".to_owned(), "it was"),
        n => (format!("{n} events"), "they were"),
    };
    format!(
        "{}: {n} before the re-plan at {from} left as {were} planned: {}",
        day.date,
        what.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Rounding;
    use crate::grid::{DaySpan, parse_tz};
    use crate::plan::{Conflict, DayPlan};

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
        assert_eq!(import.uids, ["late", "early", "night"]);
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
            warnings: Vec::new(),
        };
        Import::new(parsed, Tz::UTC, DaySpan::default())
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
}
