//! Wall-clock times and ranges as people type them (`09:00-11:30`), and the keys plans are
//! stored under. Pure parsing; nothing here knows a time zone's rules.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{PlannerError, Result};

/// Minutes in one block.
pub const BLOCK_MINUTES: u16 = 10;

/// The latest clock time a day may reach: 48:00, the end of the day after.
pub const MAX_MINUTE: u16 = 48 * 60;

/// Where a block sits on a day's wall clock: minutes after the local midnight that starts the
/// day's date (24:00 and later belong to a day that ends after midnight), and which occurrence
/// of that clock time it is on a day whose clocks go back (0 first, 1 the repeat).
///
/// Plans are stored under these keys, so 09:00 stays 09:00 whatever zone the day is shown in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime {
    pub minute: u16,
    pub fold: u8,
}

impl WallTime {
    pub const fn new(minute: u16) -> Self {
        WallTime { minute, fold: 0 }
    }

    pub const fn with_fold(minute: u16, fold: u8) -> Self {
        WallTime { minute, fold }
    }

    /// The next wall time one block later with the same fold.
    pub fn next(self) -> WallTime {
        WallTime {
            minute: self.minute + BLOCK_MINUTES,
            fold: self.fold,
        }
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hhmm(self.minute))?;
        if self.fold > 0 {
            write!(f, "#{}", self.fold + 1)?;
        }
        Ok(())
    }
}

impl FromStr for WallTime {
    type Err = PlannerError;
    fn from_str(s: &str) -> Result<Self> {
        let (clock, fold) = match s.split_once('#') {
            Some((c, n)) => {
                let n: u8 = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=2).contains(n))
                    .ok_or_else(|| PlannerError::BadTime {
                        input: s.to_owned(),
                        reason: "the occurrence after `#` must be 1 or 2".into(),
                    })?;
                (c, n - 1)
            }
            None => (s, 0),
        };
        Ok(WallTime {
            minute: parse_clock(clock, MAX_WALL_MINUTE)?,
            fold,
        })
    }
}

impl Serialize for WallTime {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WallTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `HH:MM` for a minute of the day; 24:00 and later stay above 24 so they read as "past
/// midnight of the same planning day".
pub fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Parses `HH:MM` (hours 0-48) into minutes after midnight.
pub fn parse_minute(s: &str) -> Result<u16> {
    parse_clock(s, MAX_MINUTE)
}

/// The latest key a block may have: a day's grid can reach past 48:00 when its sleep time
/// falls in a skipped hour (which reads it after the gap), so stored keys go up to 99:59.
const MAX_WALL_MINUTE: u16 = 99 * 60 + 59;

fn parse_clock(s: &str, max: u16) -> Result<u16> {
    let bad = |reason: &str| PlannerError::BadTime {
        input: s.to_owned(),
        reason: reason.into(),
    };
    let (h, m) = s.trim().split_once(':').ok_or_else(|| bad("missing `:`"))?;
    if h.is_empty() || h.len() > 2 || !h.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the hour must be one or two digits"));
    }
    if m.len() != 2 || !m.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the minutes must be two digits"));
    }
    let (h, m): (u16, u16) = (h.parse().unwrap_or(99), m.parse().unwrap_or(99));
    if m >= 60 {
        return Err(bad("minutes run from 00 to 59"));
    }
    let minute = h * 60 + m;
    if minute > max {
        return Err(bad(&format!("the latest time is {}", hhmm(max))));
    }
    Ok(minute)
}

/// A clock time as typed: minutes after midnight, and an optional UTC offset that picks one
/// occurrence of a time repeated when clocks go back (`01:30@-05:00`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ClockTime {
    pub minute: u16,
    pub offset: Option<FixedOffset>,
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hhmm(self.minute))?;
        if let Some(o) = self.offset {
            write!(f, "@{o}")?;
        }
        Ok(())
    }
}

impl FromStr for ClockTime {
    type Err = PlannerError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        match s.split_once('@') {
            None => Ok(ClockTime {
                minute: parse_minute(s)?,
                offset: None,
            }),
            Some((clock, off)) => Ok(ClockTime {
                minute: parse_minute(clock)?,
                offset: Some(parse_offset(off).ok_or_else(|| PlannerError::BadTime {
                    input: s.to_owned(),
                    reason: "the UTC offset after `@` must look like +01:00 or -05:00".into(),
                })?),
            }),
        }
    }
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=18).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// A range of clock times as typed: `09:00-11:30`. The end is exclusive: 09:00-09:10 is one
/// block.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ClockRange {
    pub start: ClockTime,
    pub end: ClockTime,
}

impl fmt::Display for ClockRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl FromStr for ClockRange {
    type Err = PlannerError;
    fn from_str(input: &str) -> Result<Self> {
        let s = input.trim();
        let bad = || PlannerError::BadRange {
            input: input.to_owned(),
        };
        // The separator is the first `-` after the start's `HH:MM`, which is not a sign of an
        // `@` offset (an offset's sign comes right after `@`).
        let colon = s.find(':').ok_or_else(bad)?;
        let after = &s[colon..];
        let mut cut = None;
        let bytes = after.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'-' && bytes.get(i.wrapping_sub(1)) != Some(&b'@') {
                cut = Some(colon + i);
                break;
            }
        }
        let cut = cut.ok_or_else(bad)?;
        let (a, b) = (&s[..cut], &s[cut + 1..]);
        if a.trim().is_empty() || b.trim().is_empty() {
            return Err(bad());
        }
        Ok(ClockRange {
            start: a.parse()?,
            end: b.parse()?,
        })
    }
}

/// How to treat a time that is not on a 10-minute boundary.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Refuse it and say which boundaries are near.
    #[default]
    Strict,
    /// Round a range outward: the start down, the end up.
    Outward,
}

/// Checks that a range's ends are on block boundaries, rounding outward when asked.
pub fn align(range: ClockRange, rounding: Rounding) -> Result<ClockRange> {
    let fix = |t: ClockTime, up: bool| -> Result<ClockTime> {
        let rem = t.minute % BLOCK_MINUTES;
        if rem == 0 {
            return Ok(t);
        }
        let earlier = t.minute - rem;
        let later = earlier + BLOCK_MINUTES;
        match rounding {
            Rounding::Strict => Err(PlannerError::NotOnBoundary {
                time: hhmm(t.minute),
                earlier: hhmm(earlier),
                later: hhmm(later),
            }),
            Rounding::Outward => Ok(ClockTime {
                minute: if up { later } else { earlier },
                offset: t.offset,
            }),
        }
    };
    Ok(ClockRange {
        start: fix(range.start, false)?,
        end: fix(range.end, true)?,
    })
}

/// Parses a date as people type it, relative to `today` for the words. Years run from 1 to
/// 9999, as YYYY says: chrono reads `+262142-12-31`, but a day there has no end to compute.
pub fn parse_date(input: &str, today: NaiveDate) -> Result<NaiveDate> {
    match input.trim().to_ascii_lowercase().as_str() {
        "today" => Ok(today),
        "tomorrow" => Ok(today + Duration::days(1)),
        "yesterday" => Ok(today - Duration::days(1)),
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|d| (1..=9999).contains(&d.year()))
            .ok_or_else(|| PlannerError::BadDate {
                input: input.to_owned(),
            }),
    }
}

/// Serializes an instant as `2026-03-05T09:00:00+00:00` (`DateTime::to_rfc3339`), the form
/// `--json` has always printed, rather than chrono's default `...Z`. For
/// `#[serde(serialize_with = "crate::clock::rfc3339")]`.
pub fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_ranges() {
        let r: ClockRange = "09:00-11:30".parse().unwrap();
        assert_eq!((r.start.minute, r.end.minute), (540, 690));
        assert_eq!(r.start.offset, None);
        let r: ClockRange = "9:00 - 24:00".parse().unwrap();
        assert_eq!((r.start.minute, r.end.minute), (540, 1440));
    }

    #[test]
    fn parses_offsets_on_either_end() {
        let r: ClockRange = "01:30@-05:00-02:00@-05:00".parse().unwrap();
        assert_eq!(r.start.minute, 90);
        assert_eq!(r.start.offset, FixedOffset::west_opt(5 * 3600));
        assert_eq!(r.end.minute, 120);
        let r: ClockRange = "01:00-01:30@+01:00".parse().unwrap();
        assert_eq!(r.end.offset, FixedOffset::east_opt(3600));
    }

    #[test]
    fn rejects_junk() {
        for s in [
            "",
            "9",
            "09:00",
            "09:00-",
            "-09:00",
            "09:60-10:00",
            "ab:cd-10:00",
            "49:00-50:00",
        ] {
            assert!(s.parse::<ClockRange>().is_err(), "{s} should not parse");
        }
    }

    #[test]
    fn strict_alignment_names_the_neighbours() {
        let r: ClockRange = "09:05-10:00".parse().unwrap();
        let err = align(r, Rounding::Strict).unwrap_err().to_string();
        assert!(
            err.contains("09:05 is not on a 10-minute boundary"),
            "{err}"
        );
        assert!(err.contains("09:00 or 09:10"), "{err}");
        let r: ClockRange = "09:05-10:01".parse().unwrap();
        let r = align(r, Rounding::Outward).unwrap();
        assert_eq!((r.start.minute, r.end.minute), (540, 610));
    }

    #[test]
    fn wall_time_text_round_trips() {
        // A block's key passes 48:00 on a day whose sleep time fell in a skipped hour; a
        // backup must read it back. A typed time stops at 48:00.
        for s in ["00:00", "09:30", "25:10", "01:30#2", "48:30"] {
            let w: WallTime = s.parse().unwrap();
            assert_eq!(w.to_string(), s);
        }
        assert!(parse_minute("48:30").is_err());
        assert_eq!(
            "01:30#2".parse::<WallTime>().unwrap(),
            WallTime::with_fold(90, 1)
        );
    }

    #[test]
    fn dates() {
        let today = NaiveDate::from_ymd_opt(2028, 2, 28).unwrap();
        assert_eq!(
            parse_date("tomorrow", today).unwrap().to_string(),
            "2028-02-29"
        );
        assert_eq!(
            parse_date("2026-03-08", today).unwrap().to_string(),
            "2026-03-08"
        );
        assert!(parse_date("2026-02-29", today).is_err());
        assert!(parse_date("+262142-12-31", today).is_err());
        assert!(parse_date("10000-01-01", today).is_err());
    }
}
