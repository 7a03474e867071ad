//! Templates, the founder's "common models": a named day shape saved from a plan and applied
//! to any date, or to every day of a weekday pattern.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use serde::Serialize;

use crate::error::{PlannerError, Result};
use crate::grid::Grid;
use crate::plan::{Cell, Conflict, DayPlan, runs};

/// A named day shape: cells by wall-clock minute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub cells: BTreeMap<u16, Cell>,
}

/// Checks a template name: something a person can type again.
pub fn validate_name(name: &str) -> Result<String> {
    let bad = |reason: &str| PlannerError::BadTemplateName {
        name: name.to_owned(),
        reason: reason.into(),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.chars().count() > 64 {
        return Err(bad("it is longer than 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    Ok(name.to_owned())
}

/// What applying a template did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Blocks that got the template's plan.
    pub placed: usize,
    /// Blocks left alone because a calendar event holds them.
    pub kept_fixed: usize,
    /// Template cells with no block on this day (outside its span, or in a skipped hour).
    pub not_on_day: usize,
    /// Template cells left alone because they are before the current revision's start.
    pub before_revision: usize,
}

impl Template {
    /// Saves the current plan of `day` as a template. Calendar events are left out: they
    /// belong to their date, not to the day's shape.
    pub fn from_day(name: &str, day: &DayPlan, now: DateTime<Utc>) -> Result<Template> {
        let name = validate_name(name)?;
        let cells: BTreeMap<u16, Cell> = day
            .cells()
            .iter()
            .filter(|(w, c)| w.fold == 0 && !c.is_fixed())
            .map(|(w, c)| (w.minute, c.clone()))
            .collect();
        if cells.is_empty() {
            return Err(PlannerError::EmptyDay {
                date: day.date.to_string(),
            });
        }
        Ok(Template {
            name,
            created_at: now,
            cells,
        })
    }

    /// Applies the template to `day`. With `Conflict::Refuse` a block that already holds a
    /// different plan stops the whole application; with `Replace` the template replaces the
    /// day's plan. Calendar events stay where they are either way.
    pub fn apply(
        &self,
        day: &mut DayPlan,
        grid: &Grid,
        conflict: Conflict,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let mut applied = Applied::default();
        let first = day.first_editable(grid);
        let mut on_day = 0;
        let mut wanted: Vec<Option<&Cell>> = vec![None; grid.len()];
        for (i, b) in grid.blocks.iter().enumerate() {
            let Some(cell) = self.cells.get(&b.wall.minute) else {
                continue;
            };
            if b.wall.fold == 0 {
                on_day += 1;
            }
            if i < first {
                applied.before_revision += 1;
            } else if day.cells().get(&b.wall).is_some_and(Cell::is_fixed) {
                applied.kept_fixed += 1;
            } else {
                wanted[i] = Some(cell);
            }
        }
        applied.not_on_day = self.cells.len().saturating_sub(on_day);
        // Runs of blocks with the same template cell, so each is one assign.
        let runs = runs(&wanted);
        if conflict == Conflict::Refuse {
            // Check every run before writing any, so a refusal leaves the day as it was.
            let mut probe = day.clone();
            for (range, cell) in &runs {
                probe.assign(grid, range.clone(), cell, Conflict::Refuse, now)?;
            }
        } else if day.current().is_some() {
            let rest: Vec<usize> = (first..grid.len())
                .filter(|&i| {
                    day.cells()
                        .get(&grid.blocks[i].wall)
                        .is_some_and(|c| !c.is_fixed())
                })
                .collect();
            for i in rest {
                day.clear(grid, i..i + 1, now)?;
            }
        }
        for (range, cell) in runs {
            applied.placed += range.len();
            day.assign(grid, range, cell, Conflict::Replace, now)?;
        }
        Ok(applied)
    }
}

/// A set of weekdays, as in `mon-fri` or `sat,sun`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Weekdays(u8);

/// Short weekday names, Monday first, as patterns and settings spell them.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_index(s: &str) -> Option<u8> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() < 2 {
        return None;
    }
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    FULL.iter()
        .position(|f| f.starts_with(&s) && s.len() >= 2)
        .map(|i| i as u8)
}

impl Weekdays {
    pub fn parse(input: &str) -> Result<Weekdays> {
        let bad = || PlannerError::BadWeekdays {
            input: input.to_owned(),
        };
        let lower = input.trim().to_ascii_lowercase();
        match lower.as_str() {
            "weekdays" => return Ok(Weekdays(0b0011111)),
            "weekends" | "weekend" => return Ok(Weekdays(0b1100000)),
            "all" | "daily" | "every" => return Ok(Weekdays(0b1111111)),
            _ => {}
        }
        let mut bits = 0u8;
        for part in lower.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (
                        weekday_index(a).ok_or_else(bad)?,
                        weekday_index(b).ok_or_else(bad)?,
                    );
                    // A range may wrap past Sunday: fri-mon.
                    let mut d = a;
                    loop {
                        bits |= 1 << d;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => bits |= 1 << weekday_index(part).ok_or_else(bad)?,
            }
        }
        if bits == 0 {
            Err(bad())
        } else {
            Ok(Weekdays(bits))
        }
    }

    pub fn contains(&self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// The dates of this pattern in the week that contains `anchor`.
    pub fn dates_in_week(&self, anchor: NaiveDate, week_start: Weekday) -> Vec<NaiveDate> {
        week_of(anchor, week_start)
            .into_iter()
            .filter(|d| self.contains(d.weekday()))
            .collect()
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| DAY_NAMES[i])
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The seven dates of the week that contains `date`, starting on `week_start`.
pub fn week_of(date: NaiveDate, week_start: Weekday) -> [NaiveDate; 7] {
    let back = (7 + date.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
    let first = date - Duration::days(back as i64);
    std::array::from_fn(|i| first + Duration::days(i as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Rounding;
    use crate::grid::{DaySpan, parse_tz};

    fn now() -> DateTime<Utc> {
        "2026-03-01T20:00:00Z".parse().unwrap()
    }

    fn grid(d: &str, tz: &str) -> Grid {
        Grid::new(
            d.parse().unwrap(),
            parse_tz(tz).unwrap(),
            DaySpan::default(),
        )
    }

    fn planned(day: &DayPlan, g: &Grid) -> String {
        day.runs(g, None)
            .into_iter()
            .map(|(r, c)| format!("{} {}", g.describe(r), c.label))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn workday() -> Template {
        let g = grid("2026-03-02", "UTC");
        let mut day = DayPlan::new(g.date);
        for (range, label) in [
            ("09:00-11:30", "deep work"),
            ("11:30-12:00", "email"),
            ("13:00-14:00", "meetings"),
        ] {
            let r = g.range(range.parse().unwrap(), Rounding::Strict).unwrap();
            day.assign(&g, r, &Cell::new(label).unwrap(), Conflict::Refuse, now())
                .unwrap();
        }
        let standup = g
            .range("08:30-08:50".parse().unwrap(), Rounding::Strict)
            .unwrap();
        day.place_fixed(
            &g,
            standup,
            &Cell::new("standup").unwrap().fixed("ev"),
            Conflict::Refuse,
            now(),
        )
        .unwrap();
        Template::from_day("workday", &day, now()).unwrap()
    }

    #[test]
    fn saved_template_leaves_out_calendar_events() {
        let t = workday();
        assert_eq!(t.cells.len(), 15 + 3 + 6);
        assert!(t.cells.values().all(|c| c.label != "standup"));
    }

    #[test]
    fn applies_to_another_date_in_another_zone() {
        let t = workday();
        let g = grid("2026-03-05", "Asia/Kathmandu");
        let mut day = DayPlan::new(g.date);
        let a = t.apply(&mut day, &g, Conflict::Refuse, now()).unwrap();
        assert_eq!(
            a,
            Applied {
                placed: 24,
                ..Applied::default()
            }
        );
        assert_eq!(
            planned(&day, &g),
            "09:00-11:30 deep work, 11:30-12:00 email, 13:00-14:00 meetings"
        );
    }

    #[test]
    fn apply_refuses_a_conflict_whole_and_replace_keeps_calendar_events() {
        let t = workday();
        let g = grid("2026-03-05", "UTC");
        let mut day = DayPlan::new(g.date);
        let r = |s: &str| g.range(s.parse().unwrap(), Rounding::Strict).unwrap();
        day.assign(
            &g,
            r("13:30-14:30"),
            &Cell::new("dentist").unwrap(),
            Conflict::Refuse,
            now(),
        )
        .unwrap();
        day.place_fixed(
            &g,
            r("10:00-10:30"),
            &Cell::new("1:1").unwrap().fixed("x"),
            Conflict::Refuse,
            now(),
        )
        .unwrap();
        let before = day.clone();
        let e = t.apply(&mut day, &g, Conflict::Refuse, now()).unwrap_err();
        assert!(
            e.to_string()
                .contains("overlaps the planned `dentist` at 13:30-14:00"),
            "{e}"
        );
        assert_eq!(day, before, "a refused template writes nothing");

        let a = t.apply(&mut day, &g, Conflict::Replace, now()).unwrap();
        assert_eq!(a.kept_fixed, 3);
        assert_eq!(
            planned(&day, &g),
            "09:00-10:00 deep work, 10:00-10:30 1:1, 10:30-11:30 deep work, 11:30-12:00 email, 13:00-14:00 meetings"
        );
    }

    #[test]
    fn spring_forward_day_drops_the_skipped_hour() {
        let mut cells = BTreeMap::new();
        for m in (60..240).step_by(10) {
            cells.insert(m, Cell::new("night shift").unwrap());
        }
        let t = Template {
            name: "night".into(),
            created_at: now(),
            cells,
        };
        let g = Grid::new(
            "2026-03-08".parse().unwrap(),
            parse_tz("America/New_York").unwrap(),
            DaySpan::parse("00:00", "12:00").unwrap(),
        );
        let mut day = DayPlan::new(g.date);
        let a = t.apply(&mut day, &g, Conflict::Refuse, now()).unwrap();
        assert_eq!((a.placed, a.not_on_day), (12, 6));
    }

    #[test]
    fn weekday_patterns() {
        let w = Weekdays::parse("mon-fri").unwrap();
        assert_eq!(w.to_string(), "mon,tue,wed,thu,fri");
        assert_eq!(
            Weekdays::parse("fri-mon").unwrap().to_string(),
            "mon,fri,sat,sun"
        );
        assert_eq!(
            Weekdays::parse("Tue,Thursday").unwrap().to_string(),
            "tue,thu"
        );
        assert!(Weekdays::parse("funday").is_err());
        assert!(Weekdays::parse("").is_err());
        // The week of leap day 2028 (a Tuesday), weeks starting Monday.
        let dates = w.dates_in_week("2028-02-29".parse().unwrap(), Weekday::Mon);
        let dates: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            dates,
            [
                "2028-02-28",
                "2028-02-29",
                "2028-03-01",
                "2028-03-02",
                "2028-03-03"
            ]
        );
        let sunday_weeks = week_of("2026-03-05".parse().unwrap(), Weekday::Sun);
        assert_eq!(sunday_weeks[0].to_string(), "2026-03-01");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_name("  workday ").unwrap(), "workday");
        assert!(validate_name("   ").is_err());
        assert!(validate_name("a\tb").is_err());
    }
}
