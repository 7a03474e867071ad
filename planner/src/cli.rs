//! The `blocks` command line: argument definitions and the glue from them to the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::actual::{self, ActualCell, ManualEntry};
use crate::backup::Backup;
use crate::clock::{ClockRange, ClockTime, Rounding, align, parse_date};
use crate::compare::{self, Adherence, DayComparison};
use crate::error::{Overlap, PlannerError};
use crate::grid::{DaySpan, Grid, parse_tz, planning_date};
use crate::ical;
use crate::plan::{Cell, Color, Conflict, DayPlan, Revision};
use crate::render;
use crate::settings::{self, Settings};
use crate::sources::{self, Source};
use crate::store::{self, Store};
use crate::template::{Template, Weekdays, week_of};

const EXIT_CODES: &str = "\
Times are in your local time zone (TZ, then the system's) unless --tz or `blocks config set tz`
says otherwise. Ranges are START-END on 10-minute boundaries, end exclusive: 09:00-11:30.
On a night the clocks go back, pick the second 01:30 with its offset: 01:30@-05:00.

Exit codes:
  0  success
  1  unexpected error
  2  usage error (unknown command or flag)
  3  bad input: time, range, date, time zone, colour, weekday pattern or setting
  4  conflict: overlapping plans or records, a block before a re-plan, a name in use
  5  not found: template or plan revision
  6  database cannot be used (written by a newer blocks, locked or corrupt)
  7  file to import is malformed, or a file cannot be read or written

Environment:
  BLOCKS_DB   database file (as --db); default $XDG_DATA_HOME/retrace/planner.sqlite3
  NO_COLOR    when set, no colours (unless --color always)";

#[derive(Debug, Parser)]
#[command(
    name = "blocks",
    version,
    about = "Plan the day in 10-minute blocks, and see planned against actual",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Database file (default: $XDG_DATA_HOME/retrace/planner.sqlite3).
    #[arg(long, global = true, env = "BLOCKS_DB", value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// IANA time zone for this command (default: TZ, the setting, then the system's zone).
    #[arg(long, global = true, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Wake time for this command (default: the `wake` setting, 07:00).
    #[arg(long, global = true, value_name = "HH:MM")]
    pub wake: Option<String>,
    /// Sleep time for this command; past midnight belongs to the same day (default 24:00).
    #[arg(long, global = true, value_name = "HH:MM")]
    pub sleep: Option<String>,
    /// When to colour the grid.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The current instant, RFC 3339 (for scripts and tests).
    #[arg(
        long,
        global = true,
        hide = true,
        env = "BLOCKS_NOW",
        value_name = "INSTANT"
    )]
    pub now: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show today's grid (the default command).
    Today(ViewArgs),
    /// Show a day's grid: planned and actual side by side.
    Show {
        /// YYYY-MM-DD, today, tomorrow or yesterday.
        date: Option<String>,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Plan a range of blocks: `blocks plan 09:00-11:30 "deep work"`.
    Plan {
        range: String,
        label: String,
        #[arg(long, short)]
        category: Option<String>,
        /// The blocks' colour: a name (blue, green, ...) or #rrggbb.
        #[arg(long, value_name = "COLOR")]
        fill: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Clear the plan (or, with --actual, the recorded time) of a range.
    Clear {
        range: String,
        /// Clear time recorded with `blocks did` instead of the plan.
        #[arg(long)]
        actual: bool,
        #[arg(long, short)]
        date: Option<String>,
        /// Round times that are not on a 10-minute boundary outward.
        #[arg(long)]
        round: bool,
    },
    /// Re-plan the rest of the day: start a new plan revision, keeping the earlier one.
    Replan {
        /// First block of the new revision (default: the current block).
        #[arg(long, value_name = "HH:MM")]
        from: Option<String>,
        #[arg(long, short)]
        date: Option<String>,
        /// Start the new revision empty from there on.
        #[arg(long)]
        clear: bool,
    },
    /// Record what you actually did: `blocks did 14:10-15:00 "review"`.
    Did {
        range: String,
        label: String,
        #[arg(long, short)]
        category: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Templates ("common models"): named day shapes.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Planned vs actual per label and category, with adherence, for a day or a week.
    Report {
        #[arg(long, short)]
        date: Option<String>,
        /// The whole week that contains the date.
        #[arg(long)]
        week: bool,
        #[arg(long)]
        json: bool,
    },
    /// Export plans or actual time as iCalendar, or everything as a JSON backup.
    Export {
        /// Write an iCalendar file (`-` for standard output).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "json",
            conflicts_with = "json"
        )]
        ics: Option<PathBuf>,
        /// Write a JSON backup of everything (`-` for standard output).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[arg(long, short, conflicts_with = "week")]
        date: Option<String>,
        /// The week that contains this date.
        #[arg(long, value_name = "DATE")]
        week: Option<String>,
        /// Export what was done rather than the plan (a separate calendar).
        #[arg(long)]
        actual: bool,
    },
    /// Import an .ics file (its events become fixed blocks; blocks before a day's re-plan keep
    /// what was planned) or a JSON backup.
    Import {
        file: PathBuf,
        /// .ics: let events overwrite planned blocks. Backup: replace the whole database.
        #[arg(long)]
        replace: bool,
    },
    /// Show or change settings: wake, sleep, week-start, join-gap, tz.
    Config {
        #[command(subcommand)]
        action: Option<ConfigCommand>,
    },
}

#[derive(Debug, Args, Default)]
pub struct ViewArgs {
    /// Print the day as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show the plan as it stood at this time of the day (HH:MM).
    #[arg(long, value_name = "HH:MM", conflicts_with = "revision")]
    pub at: Option<String>,
    /// Show this plan revision.
    #[arg(long, value_name = "N")]
    pub revision: Option<u32>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    #[arg(long, short)]
    pub date: Option<String>,
    /// Overwrite what is already there instead of refusing.
    #[arg(long)]
    pub replace: bool,
    /// Round times that are not on a 10-minute boundary outward.
    #[arg(long)]
    pub round: bool,
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Save a day's plan as a template.
    Save {
        name: String,
        /// The day to save (default today).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Overwrite a template of the same name.
        #[arg(long)]
        force: bool,
    },
    /// Apply a template to a date, or to every day of a weekday pattern.
    Apply {
        name: String,
        #[arg(long, short, conflicts_with = "weekdays")]
        date: Option<String>,
        /// Days of the week, e.g. mon-fri, sat,sun, weekdays.
        #[arg(long, value_name = "PATTERN")]
        weekdays: Option<String>,
        /// With --weekdays: the week that contains this date (default this week).
        #[arg(long, value_name = "DATE", requires = "weekdays")]
        week: Option<String>,
        /// With --weekdays: how many weeks from there.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "weekdays")]
        weeks: u32,
        /// Replace the days' plans (calendar events stay) instead of refusing overlaps.
        #[arg(long)]
        replace: bool,
    },
    /// List templates.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Delete a template.
    Rm { name: String },
    /// Rename a template.
    Rename { old: String, new: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show every setting.
    Show,
    /// Change a setting.
    Set { key: String, value: String },
    /// Go back to a setting's default.
    Unset { key: String },
}

/// What every command needs: the database, the zone, the span, the instant.
struct Ctx {
    store: Store,
    tz: Tz,
    settings: Settings,
    span: DaySpan,
    now: DateTime<Utc>,
    color: bool,
    sources: Vec<Source>,
    out: String,
}

/// The zone for this command: --tz, then TZ, then the `tz` setting, then the system's.
fn choose_tz(flag: Option<&str>, setting: Option<&str>) -> crate::Result<Tz> {
    if let Some(name) = flag {
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

impl Ctx {
    fn open(cli: &Cli) -> anyhow::Result<Ctx> {
        let now = match &cli.now {
            Some(s) => DateTime::parse_from_rfc3339(s)
                .with_context(|| {
                    format!("--now `{s}` is not an RFC 3339 instant like 2026-03-05T09:00:00Z")
                })?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        let path = match &cli.db {
            Some(p) => p.clone(),
            None => store::default_path()?,
        };
        let store = Store::open(&path)?;
        let settings = store.read().settings()?;
        let tz = choose_tz(cli.tz.as_deref(), settings.tz.as_deref())?;
        let span = settings
            .span
            .with(cli.wake.as_deref(), cli.sleep.as_deref())?;
        let color = match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Ok(Ctx {
            store,
            tz,
            settings,
            span,
            now,
            color,
            sources: sources::installed(),
            out: String::new(),
        })
    }

    fn grid(&self, date: NaiveDate) -> Grid {
        Grid::new(date, self.tz, self.span)
    }

    fn today(&self) -> NaiveDate {
        planning_date(self.now, self.tz, self.span)
    }

    fn date(&self, arg: Option<&str>) -> crate::Result<NaiveDate> {
        match arg {
            Some(s) => parse_date(s, self.today()),
            None => Ok(self.today()),
        }
    }

    fn say(&mut self, line: impl AsRef<str>) {
        self.out.push_str(line.as_ref());
        self.out.push('\n');
    }

    /// Says what was written to `path`; on standard error when the file went to standard
    /// output, so the message does not end up in it.
    fn wrote(&mut self, path: &Path, message: String) {
        if path.as_os_str() == "-" {
            eprintln!("{message}");
        } else {
            self.say(message);
        }
    }

    /// What was done on the day: entries made by hand and activity from the other tools.
    fn actual(&self, grid: &Grid) -> crate::Result<(Vec<Option<ActualCell>>, Vec<String>)> {
        let manual: Vec<ManualEntry> = self
            .store
            .read()
            .manual_between(grid.wake, grid.sleep)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let (activity, warnings) = sources::collect(&self.sources, grid.wake, grid.sleep, self.now);
        let joined = actual::join(
            activity,
            Duration::minutes(self.settings.join_gap_minutes as i64),
        );
        Ok((actual::fill(grid, &manual, &joined), warnings))
    }

    fn range(&self, grid: &Grid, text: &str, round: bool) -> crate::Result<std::ops::Range<usize>> {
        let r: ClockRange = text.parse()?;
        grid.range(
            r,
            if round {
                Rounding::Outward
            } else {
                Rounding::Strict
            },
        )
    }

    /// The current plan of `date` against what was done, and warnings from the sources.
    fn compare(&self, date: NaiveDate) -> crate::Result<(DayComparison, Vec<String>)> {
        let grid = self.grid(date);
        let day = self.store.read().day_plan(date)?;
        let planned = day.per_block(&grid, None);
        let (actual, warnings) = self.actual(&grid)?;
        let cmp = compare::compare_day(&grid, &planned, &actual, self.now);
        Ok((cmp, warnings))
    }
}

/// Runs a parsed command line, writing what it prints to stdout.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    write_stdout(&run_to_string(cli)?)
}

/// Writes to standard output; a reader that went away (`blocks report | head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to standard output"),
    }
}

fn conflict(replace: bool) -> Conflict {
    if replace {
        Conflict::Replace
    } else {
        Conflict::Refuse
    }
}

/// Runs a parsed command line and returns what it would print.
pub fn run_to_string(cli: Cli) -> anyhow::Result<String> {
    let mut ctx = Ctx::open(&cli)?;
    let command = cli.command.unwrap_or(Command::Today(ViewArgs::default()));
    match command {
        Command::Today(view) => show(&mut ctx, None, view)?,
        Command::Show { date, view } => show(&mut ctx, date.as_deref(), view)?,
        Command::Plan {
            range,
            label,
            category,
            fill,
            edit,
        } => plan(
            &mut ctx,
            &range,
            &label,
            category.as_deref(),
            fill.as_deref(),
            edit,
        )?,
        Command::Clear {
            range,
            actual,
            date,
            round,
        } => clear(&mut ctx, &range, actual, date.as_deref(), round)?,
        Command::Replan { from, date, clear } => {
            replan(&mut ctx, from.as_deref(), date.as_deref(), clear)?
        }
        Command::Did {
            range,
            label,
            category,
            edit,
        } => did(&mut ctx, &range, &label, category.as_deref(), edit)?,
        Command::Template(t) => template(&mut ctx, t)?,
        Command::Report { date, week, json } => report(&mut ctx, date.as_deref(), week, json)?,
        Command::Export {
            ics,
            json,
            date,
            week,
            actual,
        } => export(
            &mut ctx,
            ics,
            json,
            date.as_deref(),
            week.as_deref(),
            actual,
        )?,
        Command::Import { file, replace } => import(&mut ctx, &file, replace)?,
        Command::Config { action } => config(&mut ctx, action.unwrap_or(ConfigCommand::Show))?,
    }
    Ok(ctx.out)
}

fn revision_note(day: &DayPlan, shown: Option<&Revision>, tz: Tz) -> String {
    let Some(rev) = shown else {
        return if day.revisions.is_empty() {
            "no plan yet: plan blocks with `blocks plan 09:00-11:30 \"deep work\"`, or apply a template".to_owned()
        } else {
            "nothing was planned yet at that time".to_owned()
        };
    };
    let made = rev.created_at.with_timezone(&tz).format("%Y-%m-%d %H:%M");
    match rev.from {
        None => format!(
            "plan revision {} of {} (made {made})",
            rev.number,
            day.revisions.len()
        ),
        Some(from) => format!(
            "plan revision {} of {} (re-planned from {from}, made {made})",
            rev.number,
            day.revisions.len()
        ),
    }
}

fn show(ctx: &mut Ctx, date: Option<&str>, view: ViewArgs) -> anyhow::Result<()> {
    let date = ctx.date(date)?;
    let grid = ctx.grid(date);
    let day = ctx.store.read().day_plan(date)?;
    let shown: Option<&Revision> = match (view.revision, &view.at) {
        (Some(n), _) => Some(day.revision(n)?),
        (None, Some(at)) => {
            let t: ClockTime = at.parse()?;
            day.as_of(grid.resolve(t)?)
        }
        (None, None) => day.current(),
    };
    let planned: Vec<Option<&Cell>> = match shown {
        Some(rev) => day.per_block(&grid, Some(rev)),
        None => vec![None; grid.len()],
    };
    let (actual, mut notes) = ctx.actual(&grid)?;
    let cmp = compare::compare_day(&grid, &planned, &actual, ctx.now);
    let off = day.off_grid(&grid);
    if off > 0 {
        notes.push(format!(
            "{off} planned blocks fall outside {} on this day; see them with --wake/--sleep",
            grid.span
        ));
    }
    if view.json {
        let value = day_json(&grid, &day, shown, &planned, &actual, &cmp, ctx.now, &notes);
        ctx.say(serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let text = render::render_day(
        &render::DayView {
            grid: &grid,
            planned: &planned,
            actual: &actual,
            comparison: &cmp,
            now: ctx.now,
            revision_note: revision_note(&day, shown, ctx.tz),
            notes,
        },
        ctx.color,
    );
    ctx.out.push_str(&text);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn day_json(
    grid: &Grid,
    day: &DayPlan,
    shown: Option<&Revision>,
    planned: &[Option<&Cell>],
    actual: &[Option<ActualCell>],
    cmp: &DayComparison,
    now: DateTime<Utc>,
    notes: &[String],
) -> serde_json::Value {
    let blocks: Vec<serde_json::Value> = grid
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({
                "index": i,
                "start": b.start.to_rfc3339(),
                "end": b.end().to_rfc3339(),
                "local": b.label(),
                "offset": b.offset.to_string(),
                "repeated": b.repeated,
                "key": b.wall.to_string(),
                "planned": planned[i],
                "actual": actual[i],
                "outcome": cmp.outcomes[i],
            })
        })
        .collect();
    json!({
        "date": grid.date.to_string(),
        "tz": grid.tz.name(),
        "wake": crate::clock::hhmm(grid.span.wake),
        "sleep": crate::clock::hhmm(grid.span.sleep),
        "block_minutes": crate::clock::BLOCK_MINUTES,
        "now": now.to_rfc3339(),
        "current_block": grid.index_at(now),
        "revision": shown.map(|r| r.number),
        "revisions": day.revisions.iter().map(|r| json!({
            "number": r.number,
            "created_at": r.created_at.to_rfc3339(),
            "from": r.from.map(|w| w.to_string()),
        })).collect::<Vec<_>>(),
        "blocks": blocks,
        "adherence": adherence_json(&cmp.adherence),
        "by_label": cmp.by_label,
        "by_category": cmp.by_category,
        "notes": notes,
    })
}

fn plan(
    ctx: &mut Ctx,
    range: &str,
    label: &str,
    category: Option<&str>,
    color: Option<&str>,
    edit: EditArgs,
) -> anyhow::Result<()> {
    let date = ctx.date(edit.date.as_deref())?;
    let grid = ctx.grid(date);
    let blocks = ctx.range(&grid, range, edit.round)?;
    let cell = Cell::new(label)?
        .with_category(category)
        .with_color(color.map(Color::parse).transpose()?);
    let conflict = conflict(edit.replace);
    let now = ctx.now;
    let b = blocks.clone();
    ctx.store.write(|t| {
        let mut day = t.day_plan(date)?;
        day.assign(&grid, b, &cell, conflict, now)?;
        t.save_day_plan(&day)
    })?;
    ctx.say(format!(
        "planned `{}` {} on {} ({} blocks)",
        cell.label,
        grid.describe(blocks.clone()),
        date,
        blocks.len()
    ));
    Ok(())
}

fn clear(
    ctx: &mut Ctx,
    range: &str,
    actual: bool,
    date: Option<&str>,
    round: bool,
) -> anyhow::Result<()> {
    let date = ctx.date(date)?;
    let grid = ctx.grid(date);
    let blocks = ctx.range(&grid, range, round)?;
    let (s, e) = grid.instants(blocks.clone());
    let now = ctx.now;
    if actual {
        let n = ctx.store.write(|t| t.cut_manual(s, e))?;
        ctx.say(format!(
            "cleared recorded time {} on {date} ({n} entries touched)",
            grid.describe(blocks)
        ));
    } else {
        let b = blocks.clone();
        let n = ctx.store.write(|t| {
            let mut day = t.day_plan(date)?;
            let n = day.clear(&grid, b, now)?;
            if n > 0 {
                t.save_day_plan(&day)?;
            }
            Ok(n)
        })?;
        ctx.say(format!(
            "cleared {} on {date} ({n} planned blocks)",
            grid.describe(blocks)
        ));
    }
    Ok(())
}

fn replan(
    ctx: &mut Ctx,
    from: Option<&str>,
    date: Option<&str>,
    clear_rest: bool,
) -> anyhow::Result<()> {
    let date = ctx.date(date)?;
    let grid = ctx.grid(date);
    let outside = |range: String| PlannerError::OutsideSpan {
        range,
        span: grid.span.to_string(),
        date: date.to_string(),
    };
    let start = match from {
        Some(text) => {
            let t: ClockTime = text.parse()?;
            align(ClockRange { start: t, end: t }, Rounding::Strict)?;
            let instant = grid.resolve(t)?;
            grid.index_at(instant)
                .ok_or_else(|| outside(text.to_owned()))?
        }
        None if ctx.now < grid.wake => 0,
        None => grid.index_at(ctx.now).ok_or_else(|| {
            outside(format!(
                "now ({})",
                ctx.now.with_timezone(&ctx.tz).format("%H:%M")
            ))
        })?,
    };
    let now = ctx.now;
    let (number, from_label) = ctx.store.write(|t| {
        let mut day = t.day_plan(date)?;
        let rev = day.replan(&grid, start, clear_rest, now)?;
        let out = (rev.number, grid.blocks[start].label_with_offset());
        t.save_day_plan(&day)?;
        Ok(out)
    })?;
    ctx.say(format!(
        "re-planned {date} from {from_label}: revision {number}{}; earlier revisions are kept \
         (`blocks show --revision {}`)",
        if clear_rest {
            ", rest of the day cleared"
        } else {
            ""
        },
        number - 1
    ));
    Ok(())
}

fn did(
    ctx: &mut Ctx,
    range: &str,
    label: &str,
    category: Option<&str>,
    edit: EditArgs,
) -> anyhow::Result<()> {
    let date = ctx.date(edit.date.as_deref())?;
    let grid = ctx.grid(date);
    let blocks = ctx.range(&grid, range, edit.round)?;
    let cell = Cell::new(label)?.with_category(category);
    let (s, e) = grid.instants(blocks.clone());
    let entry = ManualEntry {
        start: s,
        end: e,
        tz: ctx.tz.name().to_owned(),
        label: cell.label.clone(),
        category: cell.category,
    };
    let replace = edit.replace;
    let described = grid.describe(blocks.clone());
    ctx.store.write(|t| {
        if replace {
            t.cut_manual(s, e)?;
        } else if let Some((_, other)) = t.manual_between(s, e)?.first() {
            let at = grid
                .touching(other.start.max(s), other.end.min(e))
                .map(|r| grid.describe(r))
                .unwrap_or_default();
            return Err(PlannerError::Overlap(Box::new(Overlap {
                range: described.clone(),
                what: "the recorded",
                label: other.label.clone(),
                at,
                date: date.to_string(),
                clear_flag: " --actual",
            })));
        }
        t.insert_manual(&entry)
    })?;
    ctx.say(format!(
        "recorded `{}` {described} on {date} ({} blocks)",
        entry.label,
        blocks.len()
    ));
    Ok(())
}

fn template(ctx: &mut Ctx, cmd: TemplateCommand) -> anyhow::Result<()> {
    let now = ctx.now;
    match cmd {
        TemplateCommand::Save { name, from, force } => {
            let date = ctx.date(from.as_deref())?;
            let day = ctx.store.read().day_plan(date)?;
            let t = Template::from_day(&name, &day, now)?;
            ctx.store.write(|x| x.save_template(&t, force))?;
            let fixed = day.cells().values().filter(|c| c.is_fixed()).count();
            ctx.say(format!(
                "saved template `{}` from {date} ({} blocks)",
                t.name,
                t.cells.len()
            ));
            if fixed > 0 {
                ctx.say(format!(
                    "note: {fixed} blocks from calendar events were left out; they belong to {date}"
                ));
            }
        }
        TemplateCommand::Apply {
            name,
            date,
            weekdays,
            week,
            weeks,
            replace,
        } => {
            let dates: Vec<NaiveDate> = match weekdays {
                Some(pattern) => {
                    let pattern = Weekdays::parse(&pattern)?;
                    let anchor = ctx.date(week.as_deref())?;
                    (0..weeks.max(1))
                        .flat_map(|w| {
                            pattern.dates_in_week(
                                anchor + Duration::weeks(w as i64),
                                ctx.settings.week_start,
                            )
                        })
                        .collect()
                }
                None => vec![ctx.date(date.as_deref())?],
            };
            let conflict = conflict(replace);
            let grids: Vec<Grid> = dates.iter().map(|d| ctx.grid(*d)).collect();
            let results = ctx.store.write(|x| {
                let t = x.template(&name)?;
                let mut results = Vec::new();
                for g in &grids {
                    let mut day = x.day_plan(g.date)?;
                    let applied = t.apply(&mut day, g, conflict, now)?;
                    x.save_day_plan(&day)?;
                    results.push((g.date, applied, t.name.clone()));
                }
                Ok(results)
            })?;
            for (date, a, tname) in results {
                let mut line = format!(
                    "{} {date}: {} blocks from `{tname}`",
                    date.weekday(),
                    a.placed
                );
                if a.kept_fixed > 0 {
                    line.push_str(&format!(", {} kept for calendar events", a.kept_fixed));
                }
                if a.before_revision > 0 {
                    line.push_str(&format!(
                        ", {} before the current re-plan left alone",
                        a.before_revision
                    ));
                }
                if a.not_on_day > 0 {
                    line.push_str(&format!(
                        ", {} not on this day (outside the span or a skipped hour)",
                        a.not_on_day
                    ));
                }
                ctx.say(line);
            }
        }
        TemplateCommand::Ls { json } => {
            let infos = ctx.store.read().template_infos()?;
            if json {
                let v: Vec<serde_json::Value> = infos
                    .iter()
                    .map(|i| json!({"name": i.name, "blocks": i.blocks, "labels": i.labels, "created_at": i.created_at.to_rfc3339()}))
                    .collect();
                ctx.say(serde_json::to_string_pretty(&v)?);
            } else if infos.is_empty() {
                ctx.say(
                    "no templates yet; save one with `blocks template save NAME [--from DATE]`",
                );
            } else {
                for i in infos {
                    ctx.say(format!(
                        "{}  {}  {}",
                        i.name,
                        render::duration_text(i.blocks as u32),
                        i.labels.join(", ")
                    ));
                }
            }
        }
        TemplateCommand::Rm { name } => {
            ctx.store.write(|x| x.remove_template(&name))?;
            ctx.say(format!("removed template `{}`", name.trim()));
        }
        TemplateCommand::Rename { old, new } => {
            ctx.store.write(|x| x.rename_template(&old, &new))?;
            ctx.say(format!(
                "renamed template `{}` to `{}`",
                old.trim(),
                new.trim()
            ));
        }
    }
    Ok(())
}

fn report(ctx: &mut Ctx, date: Option<&str>, week: bool, json_out: bool) -> anyhow::Result<()> {
    let date = ctx.date(date)?;
    let tz = ctx.tz.name();
    let (mut value, text, notes) = if week {
        let mut days = Vec::new();
        let mut notes = Vec::new();
        for d in week_of(date, ctx.settings.week_start) {
            let (cmp, w) = ctx.compare(d)?;
            days.push(cmp);
            notes.extend(w);
        }
        let summary = compare::summarize(&days);
        let value = json!({
            "week_start": settings::weekday_name(ctx.settings.week_start),
            "days": summary.days.iter().map(|(d, a)| {
                let mut day = adherence_json(a);
                day["date"] = json!(d.to_string());
                day
            }).collect::<Vec<_>>(),
            "adherence": adherence_json(&summary.adherence),
            "by_label": summary.by_label,
            "by_category": summary.by_category,
        });
        (value, render::render_week_report(&summary, tz), notes)
    } else {
        let (cmp, notes) = ctx.compare(date)?;
        let value = json!({
            "date": date.to_string(),
            "adherence": adherence_json(&cmp.adherence),
            "by_label": cmp.by_label,
            "by_category": cmp.by_category,
        });
        (value, render::render_day_report(&cmp, tz), notes)
    };
    if json_out {
        value["tz"] = json!(tz);
        value["notes"] = json!(notes);
        ctx.say(serde_json::to_string_pretty(&value)?);
    } else {
        ctx.out.push_str(&text);
        for n in notes {
            ctx.say(format!("note: {n}"));
        }
    }
    Ok(())
}

fn adherence_json(a: &Adherence) -> serde_json::Value {
    json!({"matched": a.matched, "due": a.due, "ratio": a.ratio()})
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        return write_stdout(text);
    }
    // Write beside the target and rename, so a failed export never leaves half a file (nor
    // the temporary one). Errors name the file the person asked for.
    let tmp = path.with_extension("blocks-tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            PlannerError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
    Ok(())
}

fn export(
    ctx: &mut Ctx,
    ics: Option<PathBuf>,
    json_path: Option<PathBuf>,
    date: Option<&str>,
    week: Option<&str>,
    actual: bool,
) -> anyhow::Result<()> {
    if let Some(path) = json_path {
        let backup = Backup::collect(&ctx.store.read(), ctx.now)?;
        write_file(&path, &backup.to_json())?;
        ctx.wrote(
            &path,
            format!(
                "wrote backup of {} days, {} templates and {} recorded entries to {}",
                backup.days.len(),
                backup.templates.len(),
                backup.actual.len(),
                path.display()
            ),
        );
        return Ok(());
    }
    let path = ics.expect("clap requires --ics or --json");
    let dates: Vec<NaiveDate> = match week {
        Some(w) => week_of(ctx.date(Some(w))?, ctx.settings.week_start).to_vec(),
        None => vec![ctx.date(date)?],
    };
    let grids: Vec<Grid> = dates.iter().map(|d| ctx.grid(*d)).collect();
    let text = if actual {
        let mut per_day = Vec::new();
        for g in &grids {
            per_day.push(ctx.actual(g)?.0);
        }
        let days: Vec<(&Grid, &[Option<ActualCell>])> = grids
            .iter()
            .zip(per_day.iter())
            .map(|(g, a)| (g, a.as_slice()))
            .collect();
        ical::actual_calendar(&days, ctx.now)
    } else {
        let plans: Vec<DayPlan> = dates
            .iter()
            .map(|d| ctx.store.read().day_plan(*d))
            .collect::<Result<_, _>>()?;
        let days: Vec<ical::PlanDay> = grids
            .iter()
            .zip(plans.iter())
            .map(|(g, p)| ical::PlanDay {
                grid: g,
                planned: p.per_block(g, None),
                revision: p.current().map_or(1, |r| r.number),
            })
            .collect();
        ical::plan_calendar(&days, ctx.now)
    };
    write_file(&path, &text)?;
    let events = text.matches("BEGIN:VEVENT").count();
    let what = if actual { "actual time" } else { "plan" };
    let span = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} to {b}"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    };
    ctx.wrote(
        &path,
        format!(
            "wrote {events} events ({what}, {span}) to {}",
            path.display()
        ),
    );
    Ok(())
}

fn import(ctx: &mut Ctx, file: &Path, replace: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).map_err(|source| PlannerError::Io {
        path: file.to_owned(),
        source,
    })?;
    let shown = file.display().to_string();
    if text.trim_start().starts_with('{') {
        let backup = Backup::from_json(&text, &shown)?;
        ctx.store.write(|t| {
            if !t.is_empty()? && !replace {
                return Err(PlannerError::NotEmpty);
            }
            t.wipe()?;
            backup.restore(t, &shown)
        })?;
        ctx.say(format!(
            "restored {} days, {} templates and {} recorded entries from {shown}",
            backup.days.len(),
            backup.templates.len(),
            backup.actual.len()
        ));
        return Ok(());
    }
    let parsed = ical::parse(&text, &shown, ctx.tz)?;
    let import = ical::Import::new(parsed, ctx.tz, ctx.span);
    let conflict = conflict(replace);
    let now = ctx.now;
    let written = ctx.store.write(|t| import.write(t, conflict, now))?;
    let dates: Vec<String> = written.dates.iter().map(|d| d.to_string()).collect();
    ctx.say(format!(
        "imported {} events from {shown} as fixed blocks ({})",
        written.imported,
        if dates.is_empty() {
            "no days changed".to_owned()
        } else {
            dates.join(", ")
        }
    ));
    for n in import.notes.iter().chain(&written.notes) {
        ctx.say(format!("note: {n}"));
    }
    Ok(())
}

fn config(ctx: &mut Ctx, action: ConfigCommand) -> anyhow::Result<()> {
    match action {
        ConfigCommand::Show => {
            let stored = ctx.store.read().setting_pairs()?;
            let effective = ctx.settings.to_pairs();
            for (key, help) in settings::KEYS {
                let value = effective
                    .get(*key)
                    .cloned()
                    .unwrap_or_else(|| "(system)".to_owned());
                let origin = if stored.contains_key(*key) {
                    ""
                } else {
                    "  (default)"
                };
                ctx.say(format!("{key:<10} {value:<16}{origin}  # {help}"));
            }
            ctx.say(format!("database   {}", ctx.store.path().display()));
            ctx.say(format!("zone now   {}", ctx.tz.name()));
        }
        ConfigCommand::Set { key, value } => {
            ctx.store.write(|t| t.set_setting(&key, &value))?;
            ctx.say(format!("{key} = {value}"));
        }
        ConfigCommand::Unset { key } => {
            ctx.store.write(|t| t.unset_setting(&key))?;
            ctx.say(format!("{key} is back to its default"));
        }
    }
    Ok(())
}

/// The exit code for an error from [`run`].
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<PlannerError>())
        .map_or(crate::error::exit::OTHER, PlannerError::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_commands_of_the_issue() {
        for args in [
            &["blocks"][..],
            &["blocks", "today"],
            &[
                "blocks",
                "show",
                "2026-03-05",
                "--wake",
                "06:00",
                "--sleep",
                "23:00",
                "--json",
            ],
            &[
                "blocks",
                "plan",
                "09:00-11:30",
                "deep work",
                "--category",
                "focus",
                "--date",
                "tomorrow",
            ],
            &["blocks", "clear", "09:00-10:00"],
            &["blocks", "replan"],
            &["blocks", "did", "14:10-15:00", "review"],
            &[
                "blocks",
                "template",
                "save",
                "workday",
                "--from",
                "2026-03-05",
            ],
            &[
                "blocks",
                "template",
                "apply",
                "workday",
                "--weekdays",
                "mon-fri",
            ],
            &[
                "blocks",
                "template",
                "apply",
                "workday",
                "--date",
                "2026-03-06",
            ],
            &["blocks", "template", "ls"],
            &["blocks", "template", "rm", "workday"],
            &["blocks", "template", "rename", "a", "b"],
            &["blocks", "report", "--week", "--json"],
            &[
                "blocks",
                "export",
                "--ics",
                "x.ics",
                "--week",
                "2026-03-05",
                "--actual",
            ],
            &["blocks", "import", "x.ics"],
            &["blocks", "--tz", "Asia/Kathmandu", "today"],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(Cli::try_parse_from(["blocks", "export"]).is_err());
    }

    #[test]
    fn exit_codes_come_from_the_library_error() {
        let e = anyhow::Error::from(PlannerError::EmptyLabel).context("while planning");
        assert_eq!(exit_code(&e), crate::error::exit::BAD_INPUT);
        assert_eq!(
            exit_code(&anyhow::anyhow!("other")),
            crate::error::exit::OTHER
        );
    }
}
