//! The planner's use cases: everything a person can do with `blocks`, one call each, for the
//! command line and the desktop app alike.
//!
//! A [`Planner`] is an open database with the zone, waking span, clock and activity sources
//! it works with. Its methods take typed requests and return typed, `serde::Serialize`
//! reports: `blocks ... --json` prints those reports, and the command line's text is made
//! from them. Nothing here parses a command line or prints.
//!
//! - [`view`]: a day as a [`DayView`], its revisions, the block at an instant,
//!   the labels and colours in use, what was recorded by hand;
//! - [`edit`]: plan (paint), clear, move or resize, re-plan, record what was done;
//! - [`templates`]: save, apply (to a date or weekday pattern), list,
//!   remove, rename;
//! - [`report`]: planned vs actual for a day or a week;
//! - [`exchange`]: iCalendar export and import, JSON backup and restore;
//! - [`config`]: the settings.
//!
//! Every change runs in one immediate transaction (see [`Store::write`]): two processes
//! writing the same database wait for each other (up to the store's busy timeout) and lose
//! nothing.

pub mod config;
pub mod edit;
pub mod exchange;
pub mod report;
pub mod templates;
pub mod view;

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

pub use crate::day::DayView;

use crate::actual::{self, ActualCell, ManualEntry};
use crate::clock::{ClockRange, Rounding, parse_date};
use crate::compare::{self, DayComparison};
use crate::error::{PlannerError, Result};
use crate::grid::{DaySpan, Grid, parse_tz, planning_date};
use crate::plan::Conflict;
use crate::settings::Settings;
use crate::sources::{self, Source};
use crate::store::{self, Store, Txn};

/// Where "now" comes from.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock, read at each call.
    #[default]
    System,
    /// A fixed instant (`blocks --now`, `BLOCKS_NOW`; tests and scripts).
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// How to open a [`Planner`]; every field may be left to its default.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// The database file (default: [`store::default_path`]).
    pub db: Option<PathBuf>,
    /// IANA zone (default: `TZ`, then the `tz` setting, then the system's zone).
    pub tz: Option<String>,
    /// Wake and sleep times, `HH:MM`, for this planner only (default: the settings).
    pub wake: Option<String>,
    pub sleep: Option<String>,
    pub clock: Clock,
}

/// Which blocks of a day a change covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocks {
    /// A clock range as a person types it (`09:00-11:30`), on 10-minute boundaries unless
    /// rounded outward.
    Clock(ClockRange, Rounding),
    /// Indices into the day's blocks, end exclusive: what a painting view has.
    Index(Range<usize>),
}

impl Blocks {
    /// A typed range such as `09:00-11:30`; `round` rounds times off the 10-minute grid
    /// outward instead of refusing them.
    pub fn parse(text: &str, round: bool) -> Result<Blocks> {
        let rounding = if round {
            Rounding::Outward
        } else {
            Rounding::Strict
        };
        Ok(Blocks::Clock(text.parse()?, rounding))
    }

    /// The run of `grid`'s blocks this selects.
    pub fn resolve(&self, grid: &Grid) -> Result<Range<usize>> {
        match self {
            Blocks::Clock(range, rounding) => grid.range(*range, *rounding),
            Blocks::Index(r) if r.start < r.end && r.end <= grid.len() => Ok(r.clone()),
            Blocks::Index(r) => Err(PlannerError::NoSuchBlocks {
                start: r.start,
                end: r.end,
                date: grid.date.to_string(),
                count: grid.len(),
            }),
        }
    }
}

/// `Conflict::Replace` when a person asked to overwrite.
pub fn conflict(replace: bool) -> Conflict {
    if replace {
        Conflict::Replace
    } else {
        Conflict::Refuse
    }
}

/// An open planner database and what its use cases work with.
pub struct Planner {
    store: Store,
    options: OpenOptions,
    tz: Tz,
    settings: Settings,
    span: DaySpan,
    sources: Vec<Source>,
}

/// The zone for a planner: the one asked for, then TZ, then the `tz` setting, then the
/// system's.
fn choose_tz(asked: Option<&str>, setting: Option<&str>) -> Result<Tz> {
    if let Some(name) = asked {
        return parse_tz(name);
    }
    if let Ok(env) = std::env::var("TZ") {
        let name = env.trim_start_matches(':');
        let name = name.strip_prefix("/usr/share/zoneinfo/").unwrap_or(name);
        if let Ok(tz) = name.parse::<Tz>() {
            return Ok(tz);
        }
    }
    if let Some(name) = setting {
        return parse_tz(name);
    }
    Ok(iana_time_zone::get_timezone()
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(Tz::UTC))
}

impl Planner {
    /// Opens (creating if needed) the database and reads the settings. Activity comes from
    /// the installed sources (retrace-lsp and snaprun under their default data directories);
    /// [`Planner::with_sources`] changes that.
    pub fn open(options: OpenOptions) -> Result<Planner> {
        let path = match &options.db {
            Some(p) => p.clone(),
            None => store::default_path()?,
        };
        let store = Store::open(&path)?;
        let mut planner = Planner {
            store,
            options,
            tz: Tz::UTC,
            settings: Settings::default(),
            span: DaySpan::default(),
            sources: sources::installed(),
        };
        planner.refresh()?;
        Ok(planner)
    }

    /// The same planner reading activity from `sources` instead.
    pub fn with_sources(mut self, sources: Vec<Source>) -> Planner {
        self.sources = sources;
        self
    }

    /// Reads the settings again (another process may have changed them) and recomputes the
    /// zone and the waking span from them and the options.
    pub fn refresh(&mut self) -> Result<()> {
        let settings = self.store.read().settings()?;
        let tz = choose_tz(self.options.tz.as_deref(), settings.tz.as_deref())?;
        let span = settings
            .span
            .with(self.options.wake.as_deref(), self.options.sleep.as_deref())?;
        (self.settings, self.tz, self.span) = (settings, tz, span);
        Ok(())
    }

    pub fn set_clock(&mut self, clock: Clock) {
        self.options.clock = clock;
    }

    /// The current instant by the planner's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.options.clock.now()
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn span(&self) -> DaySpan {
        self.span
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn db_path(&self) -> &Path {
        self.store.path()
    }

    /// The planning day `now` belongs to (a day that ends after midnight still holds 00:30).
    pub fn today(&self) -> NaiveDate {
        planning_date(self.now(), self.tz, self.span)
    }

    /// A date as people type it (`2026-03-05`, `today`, `tomorrow`, `yesterday`); today when
    /// `None`.
    pub fn date(&self, text: Option<&str>) -> Result<NaiveDate> {
        match text {
            Some(s) => parse_date(s, self.today()),
            None => Ok(self.today()),
        }
    }

    /// The blocks of `date`.
    pub fn grid(&self, date: NaiveDate) -> Grid {
        Grid::new(date, self.tz, self.span)
    }

    /// What was done on the day: entries made by hand and activity from the other tools, and
    /// warnings from sources that could not be read.
    fn actual(
        &self,
        txn: &Txn<'_>,
        grid: &Grid,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Option<ActualCell>>, Vec<String>)> {
        let manual: Vec<ManualEntry> = txn
            .manual_between(grid.wake, grid.sleep)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let (activity, warnings) = sources::collect(&self.sources, grid.wake, grid.sleep, now);
        let joined = actual::join(
            activity,
            Duration::minutes(self.settings.join_gap_minutes as i64),
        );
        Ok((actual::fill(grid, &manual, &joined), warnings))
    }

    /// The current plan of `date` against what was done, and warnings: from the sources, and
    /// about planned blocks outside the waking span, which the comparison leaves out.
    fn compare(&self, date: NaiveDate, now: DateTime<Utc>) -> Result<(DayComparison, Vec<String>)> {
        let grid = self.grid(date);
        self.store.snapshot(|t| {
            let day = t.day_plan(date)?;
            let planned = day.per_block(&grid, None);
            let (actual, mut warnings) = self.actual(t, &grid, now)?;
            warnings.extend(day.off_grid_note(&grid));
            Ok((
                compare::compare_day(&grid, &planned, &actual, now),
                warnings,
            ))
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A planner on a temporary database with a fixed clock and no activity sources.

    use super::*;

    pub struct Fixture {
        pub planner: Planner,
        pub dir: tempfile::TempDir,
    }

    pub fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    pub fn planner(tz: &str, now: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let planner = open(dir.path(), tz, now);
        Fixture { planner, dir }
    }

    /// Another planner on the same database file (as a second process would have).
    pub fn open(dir: &Path, tz: &str, now: &str) -> Planner {
        Planner::open(OpenOptions {
            db: Some(dir.join("planner.sqlite3")),
            tz: Some(tz.into()),
            clock: Clock::Fixed(at(now)),
            ..OpenOptions::default()
        })
        .unwrap()
        .with_sources(vec![])
    }

    pub fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    pub fn blocks(s: &str) -> Blocks {
        Blocks::parse(s, false).unwrap()
    }

    /// Plans `label` on `blocks` of `date`, refusing overlaps.
    pub fn paint(date: NaiveDate, blocks: Blocks, label: &str) -> super::edit::PlanRequest {
        super::edit::PlanRequest {
            date,
            blocks,
            label: label.into(),
            category: None,
            color: None,
            conflict: Conflict::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn a_planner_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<Planner>();
    }

    #[test]
    fn block_indices_are_checked_against_the_day() {
        let f = planner("UTC", "2026-03-05T08:00:00Z");
        let g = f.planner.grid(date("2026-03-05"));
        assert_eq!(Blocks::Index(3..5).resolve(&g).unwrap(), 3..5);
        assert_eq!(blocks("09:00-09:30").resolve(&g).unwrap(), 12..15);
        let e = Blocks::Index(100..103).resolve(&g).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocks 100..103 are not blocks of 2026-03-05, which has 102 (0..102)"
        );
        assert!(Blocks::Index(5..5).resolve(&g).is_err());
    }

    #[test]
    fn dates_are_read_relative_to_the_planners_today() {
        // 00:30 with a day running to 01:00 is still the day before.
        let mut f = planner("UTC", "2026-03-06T00:30:00Z");
        f.planner.set_setting("sleep", "01:00").unwrap();
        assert_eq!(f.planner.today(), date("2026-03-05"));
        assert_eq!(
            f.planner.date(Some("tomorrow")).unwrap(),
            date("2026-03-06")
        );
        f.planner
            .set_clock(Clock::Fixed(at("2026-03-06T09:00:00Z")));
        assert_eq!(f.planner.date(None).unwrap(), date("2026-03-06"));
    }
}
