//! Reading the events of an .ics file.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use icalendar::{
    Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, EventLike,
};

use super::zone::Zones;
use crate::error::{PlannerError, Result};
use crate::grid::resolve_local;
use crate::plan::{Cell, Color};

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
    /// The UIDs of events the file says are cancelled: they take no blocks, and an import
    /// removes the blocks earlier imports gave them.
    pub cancelled: Vec<String>,
    pub warnings: Vec<String>,
}

/// Reads the events of an .ics file. Times with a TZID are read in that zone (an IANA or
/// Windows name, or the file's own VTIMEZONE: see `zone`), floating times
/// in `floating_tz`; all-day events are skipped (they have no blocks), and a recurring event
/// contributes its first occurrence.
pub fn parse(data: impl AsRef<[u8]>, path: &str, floating_tz: Tz) -> Result<Parsed> {
    let bad = |reason: String| PlannerError::MalformedIcs {
        path: path.to_owned(),
        reason,
    };
    let trimmed = data.as_ref().trim_ascii_start();
    let normalized = super::lines::normalize(trimmed).map_err(bad)?;
    let cal: Calendar = normalized
        .parse()
        .map_err(|e: String| bad(e.trim().to_owned()))?;
    let zones = Zones::of(&cal);
    let mut out = Parsed::default();
    // An iTIP cancellation (RFC 5546) cancels every event it carries.
    let method_cancel = cal.property_value("METHOD") == Some("CANCEL");
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
        if method_cancel || ev.property_value("STATUS") == Some("CANCELLED") {
            out.warnings.push(format!(
                "skipped {what}: it is cancelled, so it takes no blocks (and loses those an \
                 earlier import gave it)"
            ));
            out.cancelled.push(uid);
            continue;
        }
        let Some(start) = ev.get_start() else {
            return Err(bad(format!("{what} has no DTSTART")));
        };
        let start = match instant(&start, floating_tz, &zones) {
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
            Some(end) => match instant(&end, floating_tz, &zones) {
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
    zones: &Zones,
) -> std::result::Result<Option<DateTime<Utc>>, String> {
    match d {
        DatePerhapsTime::Date(_) => Ok(None),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => Ok(Some(*t)),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(t)) => {
            Ok(Some(resolve_local(floating_tz, *t)))
        }
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            zones.resolve(tzid, *date_time).map(Some)
        }
    }
}

/// Reads an RFC 5545 DURATION such as `PT1H30M`, `P1D` or `-PT15M` (negative is refused, and
/// so is one too long for chrono).
pub(super) fn parse_duration(s: &str) -> Option<Duration> {
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
