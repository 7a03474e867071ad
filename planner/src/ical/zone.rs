//! The time zones an .ics file names. A TZID is read, in this order:
//! - as an IANA name, also behind a vendor prefix (`/mozilla.org/20050126_1/Europe/Berlin`);
//! - as a Windows zone name (Outlook writes `W. Europe Standard Time`), through CLDR's table
//!   of Windows zones (the `windows-timezones` crate);
//! - by the rules of the file's own VTIMEZONE with that TZID (RFC 5545 3.6.5): each STANDARD
//!   and DAYLIGHT observance starts at its DTSTART, again at each RDATE and at each
//!   occurrence of its RRULE (expanded with the `rrule` crate), moving the clock from its
//!   TZOFFSETFROM to its TZOFFSETTO.
//!
//! Local times resolve as RFC 5545 3.3.5 says, whichever way the zone was found: a time in a
//! gap is read with the offset from before the gap, a time that occurs twice means the first.

use std::cell::OnceCell;
use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, CalendarComponent, Component};

use crate::grid::resolve_local;

/// Onsets are expanded up to this year; later instants keep the offset of the last onset.
const LAST_YEAR: i32 = 2200;
/// At most this many onsets of one observance.
const MAX_ONSETS: u16 = 5000;

/// A zone a TZID names.
enum Zone<'a> {
    Named(Tz),
    Defined(&'a Rules),
}

/// The VTIMEZONEs of a calendar, by TZID; each one's rules are worked out when first used.
pub(super) struct Zones {
    defined: HashMap<String, Definition>,
}

struct Definition {
    /// The VTIMEZONE (the `icalendar` crate's type of it has no public name).
    component: CalendarComponent,
    rules: OnceCell<Result<Rules, String>>,
}

/// A clock change: from `at` on, the zone is `to` ahead of UTC instead of `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transition {
    at: DateTime<Utc>,
    from: FixedOffset,
    to: FixedOffset,
}

/// A VTIMEZONE's rules as a list of clock changes, oldest first.
#[derive(Debug)]
struct Rules {
    transitions: Vec<Transition>,
}

impl Zones {
    pub(super) fn of(cal: &Calendar) -> Zones {
        let defined = cal
            .components
            .iter()
            .filter_map(|c| match c {
                CalendarComponent::Other(o) if o.component_kind() == "VTIMEZONE" => {
                    let tzid = unquoted(o.property_value("TZID")?).to_owned();
                    let definition = Definition {
                        component: c.clone(),
                        rules: OnceCell::new(),
                    };
                    Some((tzid, definition))
                }
                _ => None,
            })
            .collect();
        Zones { defined }
    }

    /// The instant local time `local` names in the zone `tzid`.
    pub(super) fn resolve(
        &self,
        tzid: &str,
        local: NaiveDateTime,
    ) -> Result<DateTime<Utc>, String> {
        match self.zone(tzid)? {
            Zone::Named(tz) => Ok(resolve_local(tz, local)),
            Zone::Defined(rules) => Ok(rules.resolve(local)),
        }
    }

    fn zone(&self, tzid: &str) -> Result<Zone<'_>, String> {
        let name = unquoted(tzid);
        if let Some(tz) = iana(name).or_else(|| windows(name)) {
            return Ok(Zone::Named(tz));
        }
        match self.defined.get(name) {
            Some(d) => match d.rules.get_or_init(|| match &d.component {
                CalendarComponent::Other(o) => Rules::of(o),
                _ => Err("it is not a VTIMEZONE".into()),
            }) {
                Ok(rules) => Ok(Zone::Defined(rules)),
                Err(e) => Err(format!(
                    "the VTIMEZONE of TZID `{name}` cannot be read: {e}"
                )),
            },
            None => Err(format!(
                "TZID `{name}` is neither an IANA time zone this build knows, nor a Windows \
                 zone name, nor defined by a VTIMEZONE in the file"
            )),
        }
    }
}

fn unquoted(tzid: &str) -> &str {
    tzid.trim().trim_matches('"').trim()
}

/// An IANA name, possibly behind a vendor prefix (`/mozilla.org/.../Europe/Berlin`).
fn iana(tzid: &str) -> Option<Tz> {
    if let Ok(tz) = tzid.parse::<Tz>() {
        return Some(tz);
    }
    let parts: Vec<&str> = tzid.split('/').collect();
    (1..parts.len()).find_map(|i| parts[i..].join("/").parse::<Tz>().ok())
}

/// A Windows zone name, by CLDR's table.
fn windows(tzid: &str) -> Option<Tz> {
    tzid.parse::<windows_timezones::WindowsTimezone>()
        .ok()
        .map(Tz::from)
}

impl Rules {
    fn of(vtimezone: &impl Component) -> Result<Rules, String> {
        let mut transitions = Vec::new();
        for observance in vtimezone.components() {
            let kind = observance.component_kind();
            if kind != "STANDARD" && kind != "DAYLIGHT" {
                continue;
            }
            let get = |key: &str| {
                observance
                    .property_value(key)
                    .ok_or_else(|| format!("a {kind} part has no {key}"))
            };
            let from = offset(get("TZOFFSETFROM")?)?;
            let to = offset(get("TZOFFSETTO")?)?;
            let start = local_time(get("DTSTART")?)?;
            let mut onsets = vec![start];
            if let Some(rule) = observance.property_value("RRULE") {
                onsets.extend(occurrences(rule, start, from)?);
            }
            for rdate in observance
                .multi_properties()
                .get("RDATE")
                .into_iter()
                .flatten()
            {
                for value in rdate.value().split(',') {
                    // A PERIOD (`start/end`) starts at its start.
                    let value = value.split('/').next().unwrap_or_default();
                    onsets.push(local_time(value)?);
                }
            }
            transitions.extend(onsets.into_iter().map(|local| Transition {
                at: (local - seconds(from)).and_utc(),
                from,
                to,
            }));
        }
        if transitions.is_empty() {
            return Err("it has no STANDARD or DAYLIGHT part".into());
        }
        transitions.sort_by_key(|t| t.at);
        transitions.dedup_by_key(|t| t.at);
        Ok(Rules { transitions })
    }

    /// The zone's offset at `t`: before the first onset, what that onset changes from.
    fn offset_at(&self, t: DateTime<Utc>) -> FixedOffset {
        let after = self.transitions.partition_point(|tr| tr.at <= t);
        match after.checked_sub(1) {
            Some(i) => self.transitions[i].to,
            None => self.transitions[0].from,
        }
    }

    /// The instant a local time names: the first of two, or in a gap, read with the offset
    /// from before the gap (RFC 5545 3.3.5).
    fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let valid = self
            .transitions
            .iter()
            .flat_map(|t| [t.from, t.to])
            .filter(|o| self.offset_at((local - seconds(*o)).and_utc()) == *o)
            .map(|o| (local - seconds(o)).and_utc())
            .min();
        if let Some(u) = valid {
            return u;
        }
        let gap = self.transitions.iter().find(|t| {
            t.at.naive_utc() + seconds(t.from) <= local && local < t.at.naive_utc() + seconds(t.to)
        });
        let before = gap.map_or_else(|| self.offset_at(local.and_utc()), |t| t.from);
        (local - seconds(before)).and_utc()
    }
}

fn seconds(offset: FixedOffset) -> Duration {
    Duration::seconds(offset.local_minus_utc() as i64)
}

/// `+0200`, `-0330` or `+053028` (RFC 5545 3.3.14).
fn offset(text: &str) -> Result<FixedOffset, String> {
    let bad = || format!("`{text}` is not a UTC offset like +0200");
    let t = text.trim();
    let (sign, digits) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| {
        digits
            .get(r)
            .and_then(|d| d.parse::<i32>().ok())
            .unwrap_or(0)
    };
    let (h, m, s) = (n(0..2), n(2..4), n(4..6));
    if h > 23 || m > 59 || s > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60 + s)).ok_or_else(bad)
}

/// A local DATE-TIME such as `16010101T030000` (a DATE means its midnight).
fn local_time(text: &str) -> Result<NaiveDateTime, String> {
    let t = text.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(t, "%Y%m%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
        .map_err(|_| format!("`{text}` is not a date-time like 19701025T030000"))
}

/// The local times after `start` at which `rule` starts the observance again, up to
/// [`LAST_YEAR`]. The rule runs on local times; an UNTIL in UTC is moved to local time with
/// the offset in force before the onset (`from`).
fn occurrences(
    rule: &str,
    start: NaiveDateTime,
    from: FixedOffset,
) -> Result<Vec<NaiveDateTime>, String> {
    let bad = |e: rrule::RRuleError| format!("RRULE `{rule}` cannot be read: {e}");
    let rule = rule
        .split(';')
        .map(|part| match part.split_once('=') {
            Some(("UNTIL", until)) if until.ends_with('Z') => match local_time(until) {
                Ok(t) => format!("UNTIL={}Z", (t + seconds(from)).format("%Y%m%dT%H%M%S")),
                Err(_) => part.to_owned(),
            },
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";");
    let utc = rrule::Tz::UTC;
    let as_utc = |t: NaiveDateTime| t.and_utc().with_timezone(&utc);
    let end = chrono::NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31)
        .map(|d| d.and_time(chrono::NaiveTime::MIN))
        .ok_or("no end year")?;
    let set = rule
        .parse::<rrule::RRule<rrule::Unvalidated>>()
        .map_err(bad)?
        .build(as_utc(start))
        .map_err(bad)?
        .before(as_utc(end));
    Ok(set
        .all(MAX_ONSETS)
        .dates
        .into_iter()
        .map(|t| t.naive_utc())
        .filter(|t| *t > start)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn zones(vtimezones: &str) -> Zones {
        let text = format!("BEGIN:VCALENDAR\r\n{vtimezones}END:VCALENDAR\r\n");
        Zones::of(&text.parse::<Calendar>().unwrap())
    }

    fn at(zones: &Zones, tzid: &str, local: &str) -> String {
        let local = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
        match zones.resolve(tzid, local) {
            Ok(t) => t.format("%Y-%m-%d %H:%M").to_string(),
            Err(e) => e,
        }
    }

    const OUTLOOK_BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Berlin (Outlook)\r\n\
        BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
        RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n\
        BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
        RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

    #[test]
    fn a_vtimezone_with_rules_agrees_with_the_iana_zone_it_copies() {
        let z = zones(OUTLOOK_BERLIN);
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Every 37 hours over three years, gaps and repeated hours included.
        let mut local =
            NaiveDateTime::parse_from_str("2025-01-01 00:10", "%Y-%m-%d %H:%M").unwrap();
        while local.year() < 2028 {
            assert_eq!(
                z.resolve("Berlin (Outlook)", local).unwrap(),
                resolve_local(berlin, local),
                "{local}"
            );
            local += Duration::minutes(37 * 60 + 10);
        }
        for (local, utc) in [
            // Clocks go back at 03:00: 02:30 happens twice, and means the first.
            ("2026-10-25 02:30", "2026-10-25 00:30"),
            // Clocks jump from 02:00 to 03:00: 02:30 is read with the offset before.
            ("2026-03-29 02:30", "2026-03-29 01:30"),
            ("2026-03-29 03:00", "2026-03-29 01:00"),
        ] {
            assert_eq!(at(&z, "Berlin (Outlook)", local), utc);
        }
    }

    #[test]
    fn tzids_are_iana_windows_or_the_files_own() {
        let z = zones(
            "BEGIN:VTIMEZONE\r\nTZID:+0317\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
             TZOFFSETFROM:+0317\r\nTZOFFSETTO:+0317\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
             BEGIN:VTIMEZONE\r\nTZID:Odd\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
             TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=XX\r\n\
             END:STANDARD\r\nEND:VTIMEZONE\r\n",
        );
        for (tzid, local, want) in [
            ("Europe/Berlin", "2026-03-05 09:00", "2026-03-05 08:00"),
            (
                "/mozilla.org/20050126_1/America/New_York",
                "2026-07-01 09:00",
                "2026-07-01 13:00",
            ),
            (
                "W. Europe Standard Time",
                "2026-07-01 09:00",
                "2026-07-01 07:00",
            ),
            (
                "\"Eastern Standard Time\"",
                "2026-01-05 09:00",
                "2026-01-05 14:00",
            ),
            ("+0317", "2026-03-05 09:00", "2026-03-05 05:43"),
            (
                "Odd",
                "2026-03-05 09:00",
                "the VTIMEZONE of TZID `Odd` cannot be read: RRULE `FREQ=YEARLY;BYDAY=XX` \
                 cannot be read: ",
            ),
            (
                "Mars/Base",
                "2026-03-05 09:00",
                "TZID `Mars/Base` is neither an IANA time zone this build knows, nor a Windows \
                 zone name, nor defined by a VTIMEZONE in the file",
            ),
        ] {
            let got = at(&z, tzid, local);
            assert!(got.starts_with(want), "{tzid}: {got}");
        }
    }

    #[test]
    fn offsets_and_rdates() {
        assert_eq!(
            offset("+0530").unwrap().local_minus_utc(),
            5 * 3600 + 30 * 60
        );
        assert_eq!(offset("-000130").unwrap().local_minus_utc(), -90);
        for bad in ["0100", "+1", "+2500", "+01:00", "+0160", ""] {
            assert!(offset(bad).is_err(), "{bad}");
        }
        // Onsets given as dates, not a rule.
        let z = zones(
            "BEGIN:VTIMEZONE\r\nTZID:Listed\r\n\
             BEGIN:DAYLIGHT\r\nDTSTART:20260301T020000\r\nRDATE:20270301T020000,20280301T020000\r\n\
             TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\nEND:DAYLIGHT\r\n\
             BEGIN:STANDARD\r\nDTSTART:20261001T020000\r\nRDATE:20271001T020000\r\n\
             TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        );
        assert_eq!(at(&z, "Listed", "2026-01-10 09:00"), "2026-01-10 09:00");
        assert_eq!(at(&z, "Listed", "2027-06-10 09:00"), "2027-06-10 08:00");
        assert_eq!(at(&z, "Listed", "2027-12-10 09:00"), "2027-12-10 09:00");
        assert_eq!(at(&z, "Listed", "2028-06-10 09:00"), "2028-06-10 08:00");
    }
}
