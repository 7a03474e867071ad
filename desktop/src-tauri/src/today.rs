//! The Today view over the planner's use-case layer (`retrace_planner::ops`): one call each,
//! typed requests in, the planner's own serialisable reports out. The app never reads the
//! planner's tables and never runs `blocks`: what it paints, `blocks show --json` sees.
//!
//! Also here: the files whose changes refresh the view (the planner's database and the
//! activity sources it reads), and the "now" line of the app: the block that holds the
//! current instant, which names the window and, when asked, announces each planned run.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use retrace_planner::day::DayView;
use retrace_planner::ops::edit::{
    ClearTarget, Cleared, DidRequest, MoveRequest, Moved, PlanRequest, Planned, Recorded,
    ReplanFrom, Replanned,
};
use retrace_planner::ops::exchange::{Imported, write_file};
use retrace_planner::ops::report::WeekReport;
use retrace_planner::ops::templates::{ApplyTo, TemplateApplied, TemplateSaved};
use retrace_planner::ops::view::{CurrentBlock, Palette, RevisionPick};
use retrace_planner::ops::{Blocks, Clock, OpenOptions, Planner};
use retrace_planner::plan::{Color, Conflict};
use retrace_planner::store::TemplateInfo;
use retrace_planner::template::Weekdays;
use retrace_planner::{PlannerError, error::exit};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, ErrorKind, Result};
use crate::live::Target;

/// The environment variable that fixes the app's "now" (RFC 3339), as `BLOCKS_NOW` does for
/// `blocks`: for tests and demonstrations only.
pub const NOW_VAR: &str = "RETRACE_NOW";

/// How the Today view opens the planner, fixed at start.
#[derive(Clone, Debug)]
pub struct TodayConfig {
    /// The planner's database (`blocks`'s default, or `BLOCKS_DB`); `None` without a data
    /// directory, which the view explains.
    pub db: Option<PathBuf>,
    pub clock: Clock,
    /// The zone; `None` takes the planner's choice (TZ, then its `tz` setting, then the
    /// system's), as `blocks` does.
    pub tz: Option<String>,
    /// Read activity from the installed tools (retrace-lsp, snaprun); off in tests that
    /// want no activity at all.
    pub activity: bool,
}

impl TodayConfig {
    /// The configuration of the running app: `BLOCKS_DB` or the planner's default path, and
    /// `RETRACE_NOW` if set (a value that does not parse is an error, said at start).
    pub fn from_env() -> std::result::Result<TodayConfig, String> {
        let db = match std::env::var_os("BLOCKS_DB") {
            Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => retrace_planner::store::default_path().ok(),
        };
        let clock = match std::env::var(NOW_VAR) {
            Ok(s) if !s.is_empty() => Clock::Fixed(s.parse::<DateTime<Utc>>().map_err(|e| {
                format!(
                    "{NOW_VAR}=`{s}` is not an RFC 3339 instant like 2026-03-05T09:00:00Z ({e})"
                )
            })?),
            _ => Clock::System,
        };
        Ok(TodayConfig {
            db,
            clock,
            tz: None,
            activity: true,
        })
    }

    /// Opens the planner this configuration names (creating its database if needed).
    pub fn open(&self) -> Result<Planner> {
        let db = self.db.clone().ok_or_else(|| {
            AppError::failed(
                "cannot find the planner's database: set XDG_DATA_HOME or HOME (or BLOCKS_DB) and restart the app",
            )
        })?;
        let planner = Planner::open(OpenOptions {
            db: Some(db),
            clock: self.clock,
            tz: self.tz.clone(),
            ..OpenOptions::default()
        })
        .map_err(planner_error)?;
        Ok(if self.activity {
            planner
        } else {
            planner.with_sources(Vec::new())
        })
    }

    /// What changes the view: the planner's database and the activity sources' files
    /// (retrace-lsp's histories, one database per workspace; snaprun's results).
    pub fn watched(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        if let Some(db) = &self.db {
            targets.push(Target::File(db.clone()));
            targets.push(Target::File(with_suffix(db, "-wal")));
        }
        if self.activity {
            if let Some(data) = retrace_lsp::store::data_dir() {
                targets.push(Target::Dir(data.join("history")));
            }
            if let Ok(root) = snaprun::store::Store::default_root() {
                let results = snaprun::store::Store::at(root).results_db();
                targets.push(Target::File(with_suffix(&results, "-wal")));
                targets.push(Target::File(results));
            }
        }
        targets
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The planner behind the view, opened at its first use (the app does not create the
/// planner's database until a person opens the view).
pub struct Today {
    pub config: TodayConfig,
    planner: Mutex<Option<Planner>>,
}

impl Today {
    pub fn new(config: TodayConfig) -> Today {
        Today {
            config,
            planner: Mutex::new(None),
        }
    }

    /// Runs `f` on the planner, opening it first if needed and reading its settings again
    /// (another process may have changed the zone or the waking span).
    pub fn with<T>(&self, f: impl FnOnce(&mut Planner) -> Result<T>) -> Result<T> {
        let mut slot = self.planner.lock().map_err(|_| {
            AppError::failed("the planner is unusable after an earlier failure; restart the app")
        })?;
        let planner = match &mut *slot {
            Some(p) => {
                p.refresh().map_err(planner_error)?;
                p
            }
            None => slot.insert(self.config.open()?),
        };
        f(planner)
    }
}

/// A planner error as the app shows it: the planner's own message with its causes, and a kind
/// from its exit code.
pub fn planner_error(e: PlannerError) -> AppError {
    let kind = match e.exit_code() {
        exit::BAD_INPUT | exit::CONFLICT | exit::BAD_FILE => ErrorKind::Invalid,
        exit::NOT_FOUND => ErrorKind::NotFound,
        exit::DATABASE => ErrorKind::Unreadable,
        _ => ErrorKind::Failed,
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    AppError::new(kind, message)
}

fn pe<T>(r: retrace_planner::Result<T>) -> Result<T> {
    r.map_err(planner_error)
}

/// A date as the view sends it (`2026-03-05`, `today`, ...); the planner's today when absent.
fn date(p: &Planner, text: Option<&str>) -> Result<NaiveDate> {
    pe(p.date(text))
}

/// Blocks `start..end` of a day, as the grid numbers them (end exclusive).
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    fn blocks(self) -> Blocks {
        Blocks::Index(self.start..self.end)
    }
}

/// A day as the view shows it: the planner's [`DayView`] (what `blocks show --json` prints)
/// and the planner's today, for the "today" key and the header.
#[derive(Debug, Serialize)]
pub struct TodayDay {
    pub today: NaiveDate,
    #[serde(flatten)]
    pub day: DayView,
}

pub fn day(p: &mut Planner, on: Option<&str>, revision: Option<u32>) -> Result<TodayDay> {
    let d = date(p, on)?;
    let pick = revision.map_or(RevisionPick::InForce, RevisionPick::Number);
    Ok(TodayDay {
        today: p.today(),
        day: pe(p.day(d, pick))?,
    })
}

/// What a change did, and the day it changed as it now stands (the revision in force), so
/// the view redraws from one reply.
#[derive(Debug, Serialize)]
pub struct Edited<T> {
    pub done: T,
    pub day: TodayDay,
}

/// Runs the change `f`, then reads the day `on` again.
pub fn edit<T>(
    p: &mut Planner,
    on: &str,
    f: impl FnOnce(&mut Planner) -> Result<T>,
) -> Result<Edited<T>> {
    let done = f(p)?;
    Ok(Edited {
        done,
        day: day(p, Some(on), None)?,
    })
}

/// A paint stroke: a label (with optional category and colour) over blocks of a day.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stroke {
    pub date: String,
    pub span: Span,
    pub label: String,
    pub category: Option<String>,
    pub color: Option<String>,
}

pub fn paint(p: &mut Planner, s: &Stroke) -> Result<Planned> {
    let color = s
        .color
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(Color::parse)
        .transpose()
        .map_err(planner_error)?;
    let req = PlanRequest {
        date: date(p, Some(&s.date))?,
        blocks: s.span.blocks(),
        label: s.label.clone(),
        category: s.category.clone(),
        color,
        conflict: Conflict::KeepFixed,
    };
    pe(p.plan(&req))
}

/// Clears the plan over `span`, or (with `actual`) the time recorded by hand there.
pub fn clear(p: &mut Planner, on: &str, span: Span, actual: bool) -> Result<Cleared> {
    let d = date(p, Some(on))?;
    let target = if actual {
        ClearTarget::Actual
    } else {
        ClearTarget::Painted
    };
    pe(p.clear(d, &span.blocks(), target))
}

/// Moves or resizes the painted run `from` to `to`; hand-painted blocks in the way are
/// replaced, a calendar block refuses it.
pub fn move_run(p: &mut Planner, on: &str, from: Span, to: Span) -> Result<Moved> {
    let req = MoveRequest {
        date: date(p, Some(on))?,
        from: from.blocks(),
        to: to.blocks(),
        conflict: Conflict::Replace,
    };
    pe(p.move_blocks(&req))
}

/// Starts a new revision of the day from block `from` (from "now" when absent).
pub fn replan(
    p: &mut Planner,
    on: &str,
    from: Option<usize>,
    clear_rest: bool,
) -> Result<Replanned> {
    let d = date(p, Some(on))?;
    let from = from.map_or(ReplanFrom::Now, ReplanFrom::Block);
    pe(p.replan(d, from, clear_rest))
}

/// Records what was done over `span` ("I did X from 10:20 to 11:00"), replacing what was
/// recorded by hand there.
pub fn did(
    p: &mut Planner,
    on: &str,
    span: Span,
    label: &str,
    category: Option<&str>,
) -> Result<Recorded> {
    let req = DidRequest {
        date: date(p, Some(on))?,
        blocks: span.blocks(),
        label: label.to_owned(),
        category: category.map(str::to_owned),
        conflict: Conflict::Replace,
    };
    pe(p.did(&req))
}

pub fn palette(p: &mut Planner) -> Result<Palette> {
    pe(p.palette())
}

pub fn templates(p: &mut Planner) -> Result<Vec<TemplateInfo>> {
    pe(p.templates())
}

pub fn save_template(
    p: &mut Planner,
    name: &str,
    on: &str,
    overwrite: bool,
) -> Result<TemplateSaved> {
    let d = date(p, Some(on))?;
    pe(p.save_template(name, d, overwrite))
}

/// Applies a template to a date, or with `weekdays` (`mon,wed`, `weekdays`, ...) to those
/// days of the date's week and the `weeks - 1` after it.
pub fn apply_template(
    p: &mut Planner,
    name: &str,
    on: &str,
    weekdays: Option<&str>,
    weeks: Option<u32>,
    replace: bool,
) -> Result<Vec<TemplateApplied>> {
    let d = date(p, Some(on))?;
    let to = match weekdays.filter(|w| !w.trim().is_empty()) {
        None => ApplyTo::Date(d),
        Some(w) => ApplyTo::Weekdays {
            pattern: pe(Weekdays::parse(w))?,
            week_of: d,
            weeks: weeks.unwrap_or(1),
        },
    };
    pe(p.apply_template(name, &to, retrace_planner::ops::conflict(replace)))
}

pub fn week(p: &mut Planner, on: &str) -> Result<WeekReport> {
    let d = date(p, Some(on))?;
    pe(p.week_report(d))
}

/// What an export wrote.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    pub path: String,
    pub events: usize,
    pub dates: Vec<NaiveDate>,
    pub actual: bool,
}

/// Writes the day (or with `week` its week) as iCalendar to `path`: the plan, or with
/// `actual` what was done.
pub fn export(p: &mut Planner, on: &str, week: bool, actual: bool, path: &str) -> Result<Exported> {
    let d = date(p, Some(on))?;
    let dates: Vec<NaiveDate> = if week { p.week(d).to_vec() } else { vec![d] };
    let path = expand_home(path)?;
    let cal = pe(p.export_calendar(&dates, actual))?;
    pe(write_file(&path, &cal.text))?;
    Ok(Exported {
        path: path.display().to_string(),
        events: cal.events,
        dates,
        actual,
    })
}

/// Imports an `.ics` calendar (its events become fixed blocks, by the planner's rules) or a
/// `blocks` JSON backup.
pub fn import(p: &mut Planner, path: &str, replace: bool) -> Result<Imported> {
    let path = expand_home(path)?;
    pe(p.import_file(&path, replace))
}

/// A path as a person types it: `~/x.ics` is in the home directory; a relative one too.
fn expand_home(path: &str) -> Result<PathBuf> {
    let path = path.trim();
    if path.is_empty() {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "no file named: type the path of the .ics file",
        ));
    }
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| AppError::failed("HOME is not set: type an absolute path"))
    };
    Ok(match path.strip_prefix("~/") {
        Some(rest) => home()?.join(rest),
        None if Path::new(path).is_absolute() => PathBuf::from(path),
        None => home()?.join(path),
    })
}

/// The block that holds the planner's "now", with its planned cell, and whether it starts a
/// planned run (the block before holds something else): what the window title and the
/// notifications say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Now {
    pub block: Option<CurrentBlock>,
    pub starts_run: bool,
}

pub fn now(p: &mut Planner) -> Result<Now> {
    let at = p.now();
    let block = pe(p.block_at(at))?;
    let starts_run = match &block {
        Some(b) if b.planned.is_some() => {
            let before = b.start - chrono::Duration::minutes(1);
            let prev = pe(p.block_at(before))?;
            prev.is_none_or(|prev| prev.planned != b.planned)
        }
        _ => false,
    };
    Ok(Now { block, starts_run })
}

/// The window title for the current block: its label first, so a taskbar shows it.
pub fn title(now: &Now) -> String {
    match now.block.as_ref().and_then(|b| b.label().map(|l| (l, b))) {
        Some((label, b)) => format!("{label} ({}) · Retrace", b.local),
        None => "Retrace".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn today(dir: &Path, now: &str) -> Today {
        Today::new(TodayConfig {
            db: Some(dir.join("planner.sqlite3")),
            clock: Clock::Fixed(at(now)),
            tz: Some("UTC".into()),
            activity: false,
        })
    }

    #[test]
    fn the_title_names_the_current_block_and_runs_start_where_the_plan_changes() {
        let dir = tempfile::tempdir().unwrap();
        let t = today(dir.path(), "2026-03-05T09:00:00Z");
        let stroke = |start, end, label: &str| Stroke {
            date: "2026-03-05".into(),
            span: Span { start, end },
            label: label.into(),
            category: None,
            color: None,
        };
        t.with(|p| paint(p, &stroke(12, 15, "deep work"))).unwrap();
        let n = t.with(now).unwrap();
        assert!(n.starts_run);
        assert_eq!(title(&n), "deep work (09:00) · Retrace");
        t.with(|p| {
            p.set_clock(Clock::Fixed(at("2026-03-05T09:10:00Z")));
            Ok(())
        })
        .unwrap();
        let n = t.with(now).unwrap();
        assert!(!n.starts_run);
        t.with(|p| {
            p.set_clock(Clock::Fixed(at("2026-03-05T09:30:00Z")));
            Ok(())
        })
        .unwrap();
        let n = t.with(now).unwrap();
        assert_eq!((title(&n).as_str(), n.starts_run), ("Retrace", false));
    }

    #[test]
    fn a_bad_color_and_an_empty_path_are_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let t = today(dir.path(), "2026-03-05T09:00:00Z");
        let e = t
            .with(|p| {
                paint(
                    p,
                    &Stroke {
                        date: "2026-03-05".into(),
                        span: Span { start: 0, end: 1 },
                        label: "x".into(),
                        category: None,
                        color: Some("chartreuse-ish".into()),
                    },
                )
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("chartreuse-ish"), "{}", e.message);
        let e = t.with(|p| import(p, "  ", false)).unwrap_err();
        assert!(e.message.contains("type the path"), "{}", e.message);
    }
}
