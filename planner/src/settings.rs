//! The planner's settings: the waking span, the first day of the week, how long a gap between
//! activity spans may be before they count as separate, and the default time zone.

use std::collections::BTreeMap;

use chrono::Weekday;

use crate::clock::hhmm;
use crate::error::{PlannerError, Result};
use crate::grid::{DaySpan, parse_tz};

/// All settings with their effective values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub span: DaySpan,
    pub week_start: Weekday,
    /// Activity spans closer than this are joined into one, as WakaTime's heartbeat timeout
    /// joins heartbeats.
    pub join_gap_minutes: u32,
    /// An IANA zone used when neither `--tz` nor the system names one.
    pub tz: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            span: DaySpan::default(),
            week_start: Weekday::Mon,
            join_gap_minutes: 15,
            tz: None,
        }
    }
}

/// The keys `blocks config` knows, with what each means.
pub const KEYS: &[(&str, &str)] = &[
    ("wake", "when the day starts, HH:MM (default 07:00)"),
    (
        "sleep",
        "when the day ends, HH:MM; past midnight belongs to the same day (default 24:00)",
    ),
    (
        "week-start",
        "first day of the week for reports and patterns (default mon)",
    ),
    (
        "join-gap",
        "minutes between activity spans that still count as one (default 15)",
    ),
    (
        "tz",
        "IANA time zone used when --tz is not given (default: the system's)",
    ),
];

impl Settings {
    /// Settings from stored key/value pairs; unknown keys are ignored so an older build can
    /// read a newer build's settings.
    pub fn from_pairs(pairs: &BTreeMap<String, String>) -> Result<Settings> {
        let mut s = Settings::default();
        for (k, v) in pairs {
            // Wake and sleep are set together below: a valid pair may be invalid one at a time.
            if k != "wake" && k != "sleep" && check_key(k).is_ok() {
                s.set(k, v)?;
            }
        }
        s.span = s.span.with(
            pairs.get("wake").map(String::as_str),
            pairs.get("sleep").map(String::as_str),
        )?;
        Ok(s)
    }

    /// Changes one setting after checking its value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |reason: String| PlannerError::BadSetting {
            key: key.to_owned(),
            reason,
        };
        match key {
            "wake" => self.span = self.span.with(Some(value), None)?,
            "sleep" => self.span = self.span.with(None, Some(value))?,
            "week-start" => {
                self.week_start = value.parse::<Weekday>().map_err(|_| {
                    bad(format!(
                        "`{value}` is not a weekday; write mon, tue, ... sun"
                    ))
                })?
            }
            "join-gap" => {
                self.join_gap_minutes = value
                    .parse::<u32>()
                    .ok()
                    .filter(|m| *m <= 24 * 60)
                    .ok_or_else(|| {
                        bad(format!(
                            "`{value}` is not a number of minutes from 0 to 1440"
                        ))
                    })?
            }
            "tz" => {
                parse_tz(value)?;
                self.tz = Some(value.trim().to_owned());
            }
            _ => check_key(key)?,
        }
        Ok(())
    }

    /// The stored form: every setting as text.
    pub fn to_pairs(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("wake".into(), hhmm(self.span.wake));
        m.insert("sleep".into(), hhmm(self.span.sleep));
        m.insert("week-start".into(), weekday_name(self.week_start).into());
        m.insert("join-gap".into(), self.join_gap_minutes.to_string());
        if let Some(tz) = &self.tz {
            m.insert("tz".into(), tz.clone());
        }
        m
    }
}

/// Refuses a key `blocks config` does not know, naming the ones it does.
pub fn check_key(key: &str) -> Result<()> {
    if KEYS.iter().any(|(k, _)| *k == key) {
        return Ok(());
    }
    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    Err(PlannerError::BadSetting {
        key: key.to_owned(),
        reason: format!("unknown setting; the settings are {}", known.join(", ")),
    })
}

pub fn weekday_name(d: Weekday) -> &'static str {
    crate::template::DAY_NAMES[d.num_days_from_monday() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_are_checked() {
        let mut s = Settings::default();
        s.set("wake", "06:30").unwrap();
        s.set("sleep", "01:00").unwrap();
        s.set("week-start", "sun").unwrap();
        s.set("join-gap", "5").unwrap();
        s.set("tz", "Asia/Kathmandu").unwrap();
        assert_eq!(s.span.sleep, 25 * 60);
        let back = Settings::from_pairs(&s.to_pairs()).unwrap();
        assert_eq!(back, s);
        assert!(s.set("wake", "06:35").is_err());
        assert!(s.set("tz", "Nowhere/Special").is_err());
        let e = s.set("colour", "x").unwrap_err().to_string();
        assert!(
            e.contains("the settings are wake, sleep, week-start, join-gap, tz"),
            "{e}"
        );
    }

    #[test]
    fn every_key_can_be_set_and_unknown_stored_keys_are_ignored() {
        let defaults = Settings::default().to_pairs();
        for (key, _) in KEYS {
            let value = defaults.get(*key).map_or("UTC", String::as_str);
            Settings::default().set(key, value).unwrap();
        }
        // A newer build's setting, read by this one.
        let mut pairs = defaults.clone();
        pairs.insert("colour-scheme".into(), "dark".into());
        assert_eq!(Settings::from_pairs(&pairs).unwrap(), Settings::default());
    }
}
