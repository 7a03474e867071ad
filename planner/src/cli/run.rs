//! From parsed arguments to a use-case call, and from its report to what `blocks` prints.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use retrace_planner::error::{PlannerError, exit};
use retrace_planner::ops::edit::{ClearTarget, DidRequest, PlanRequest, ReplanFrom};
use retrace_planner::ops::exchange::{Imported, write_file};
use retrace_planner::ops::templates::ApplyTo;
use retrace_planner::ops::view::RevisionPick;
use retrace_planner::ops::{Blocks, conflict};
use retrace_planner::plan::Color;
use retrace_planner::render;
use retrace_planner::template::Weekdays;
use retrace_planner::terminal::sanitize;
use retrace_planner::{Clock, OpenOptions, Planner};

use super::{Cli, ColorChoice, Command, ConfigCommand, EditArgs, TemplateCommand, ViewArgs};

/// What every command needs: the planner, whether to colour, and what to print.
struct Ctx {
    planner: Planner,
    color: bool,
    out: String,
}

impl Ctx {
    fn open(cli: &Cli) -> anyhow::Result<Ctx> {
        let clock = match &cli.now {
            Some(s) => Clock::Fixed(
                DateTime::parse_from_rfc3339(s)
                    .with_context(|| {
                        format!("--now `{s}` is not an RFC 3339 instant like 2026-03-05T09:00:00Z")
                    })?
                    .with_timezone(&Utc),
            ),
            None => Clock::System,
        };
        let planner = Planner::open(OpenOptions {
            db: cli.db.clone(),
            tz: cli.tz.clone(),
            wake: cli.wake.clone(),
            sleep: cli.sleep.clone(),
            clock,
        })?;
        let color = match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Ok(Ctx {
            planner,
            color,
            out: String::new(),
        })
    }

    /// Prints one line of text made from labels, names, paths and notes: sanitized for the
    /// terminal (every line of text `blocks` prints goes through here or through `render`).
    fn say(&mut self, line: impl AsRef<str>) {
        self.out.push_str(&sanitize(line.as_ref()));
        self.out.push('\n');
    }

    /// Prints a report as `--json` always has: pretty, keys in alphabetical order, strings
    /// exactly as stored (JSON escapes control characters itself).
    fn json(&mut self, report: &impl Serialize) -> anyhow::Result<()> {
        let value = serde_json::to_value(report).context("serialising the report")?;
        self.out.push_str(&serde_json::to_string_pretty(&value)?);
        self.out.push('\n');
        Ok(())
    }

    /// Writes `text` to `path`, or to standard output for `-`.
    fn write(&self, path: &Path, text: &str) -> anyhow::Result<()> {
        if path.as_os_str() == "-" {
            write_stdout(text)
        } else {
            Ok(write_file(path, text)?)
        }
    }

    /// Says what was written to `path`; on standard error when the file went to standard
    /// output, so the message does not end up in it.
    fn wrote(&mut self, path: &Path, message: String) {
        if path.as_os_str() == "-" {
            eprintln!("{}", sanitize(&message));
        } else {
            self.say(message);
        }
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

/// Runs a parsed command line and returns what it would print.
fn run_to_string(cli: Cli) -> anyhow::Result<String> {
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
        } => plan(&mut ctx, &range, label, category, fill.as_deref(), edit)?,
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
        } => did(&mut ctx, &range, label, category, edit)?,
        Command::Template(t) => template(&mut ctx, t)?,
        Command::Report { date, week, json } => report(&mut ctx, date.as_deref(), week, json)?,
        Command::Export {
            ics,
            json,
            date,
            week,
            actual,
        } => match (json, ics) {
            (Some(path), _) => backup(&mut ctx, &path)?,
            (None, Some(path)) => {
                export(&mut ctx, &path, date.as_deref(), week.as_deref(), actual)?
            }
            (None, None) => anyhow::bail!("say where to export: --ics FILE or --json FILE"),
        },
        Command::Import { file, replace } => import(&mut ctx, &file, replace)?,
        Command::Config { action } => config(&mut ctx, action.unwrap_or(ConfigCommand::Show))?,
    }
    Ok(ctx.out)
}

fn show(ctx: &mut Ctx, date: Option<&str>, view: ViewArgs) -> anyhow::Result<()> {
    let date = ctx.planner.date(date)?;
    let pick = match (view.revision, &view.at) {
        (Some(n), _) => RevisionPick::Number(n),
        (None, Some(at)) => RevisionPick::At(at.parse()?),
        (None, None) => RevisionPick::InForce,
    };
    let day = ctx.planner.day(date, pick)?;
    if view.json {
        return ctx.json(&day);
    }
    ctx.out.push_str(&render::render_day(&day, ctx.color));
    Ok(())
}

fn plan(
    ctx: &mut Ctx,
    range: &str,
    label: String,
    category: Option<String>,
    color: Option<&str>,
    edit: EditArgs,
) -> anyhow::Result<()> {
    let date = ctx.planner.date(edit.date.as_deref())?;
    let blocks = Blocks::parse(range, edit.round)?;
    let planned = ctx.planner.plan(&PlanRequest {
        date,
        blocks,
        label,
        category,
        color: color.map(Color::parse).transpose()?,
        conflict: conflict(edit.replace),
    })?;
    ctx.say(format!(
        "planned `{}` {} on {} ({} blocks)",
        planned.cell.label,
        planned.range,
        date,
        planned.blocks.len()
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
    let date = ctx.planner.date(date)?;
    let blocks = Blocks::parse(range, round)?;
    let target = if actual {
        ClearTarget::Actual
    } else {
        ClearTarget::Plan
    };
    let c = ctx.planner.clear(date, &blocks, target)?;
    ctx.say(match target {
        ClearTarget::Actual => format!(
            "cleared recorded time {} on {date} ({} entries touched)",
            c.range, c.count
        ),
        ClearTarget::Plan | ClearTarget::Painted => {
            format!("cleared {} on {date} ({} planned blocks)", c.range, c.count)
        }
    });
    Ok(())
}

fn replan(
    ctx: &mut Ctx,
    from: Option<&str>,
    date: Option<&str>,
    clear_rest: bool,
) -> anyhow::Result<()> {
    let date = ctx.planner.date(date)?;
    let from = match from {
        Some(text) => ReplanFrom::Clock(text.parse()?),
        None => ReplanFrom::Now,
    };
    let r = ctx.planner.replan(date, from, clear_rest)?;
    ctx.say(format!(
        "re-planned {date} from {}: revision {}{}; earlier revisions are kept \
         (`blocks show --revision {}`)",
        r.from,
        r.revision,
        if clear_rest {
            ", rest of the day cleared"
        } else {
            ""
        },
        r.revision - 1
    ));
    Ok(())
}

fn did(
    ctx: &mut Ctx,
    range: &str,
    label: String,
    category: Option<String>,
    edit: EditArgs,
) -> anyhow::Result<()> {
    let date = ctx.planner.date(edit.date.as_deref())?;
    let blocks = Blocks::parse(range, edit.round)?;
    let r = ctx.planner.did(&DidRequest {
        date,
        blocks,
        label,
        category,
        conflict: conflict(edit.replace),
    })?;
    ctx.say(format!(
        "recorded `{}` {} on {date} ({} blocks)",
        r.entry.label,
        r.range,
        r.blocks.len()
    ));
    Ok(())
}

fn template(ctx: &mut Ctx, cmd: TemplateCommand) -> anyhow::Result<()> {
    match cmd {
        TemplateCommand::Save { name, from, force } => {
            let date = ctx.planner.date(from.as_deref())?;
            let t = ctx.planner.save_template(&name, date, force)?;
            ctx.say(format!(
                "saved template `{}` from {date} ({} blocks)",
                t.name, t.blocks
            ));
            if t.fixed_left_out > 0 {
                ctx.say(format!(
                    "note: {} blocks from calendar events were left out; they belong to {date}",
                    t.fixed_left_out
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
            let to = match weekdays {
                Some(pattern) => ApplyTo::Weekdays {
                    pattern: Weekdays::parse(&pattern)?,
                    week_of: ctx.planner.date(week.as_deref())?,
                    weeks,
                },
                None => ApplyTo::Date(ctx.planner.date(date.as_deref())?),
            };
            for r in ctx.planner.apply_template(&name, &to, conflict(replace))? {
                let (date, a) = (r.date, &r.applied);
                let mut line = format!(
                    "{} {date}: {} blocks from `{}`",
                    date.weekday(),
                    a.placed,
                    r.template
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
            let infos = ctx.planner.templates()?;
            if json {
                ctx.json(&infos)?;
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
            ctx.planner.remove_template(&name)?;
            ctx.say(format!("removed template `{}`", name.trim()));
        }
        TemplateCommand::Rename { old, new } => {
            ctx.planner.rename_template(&old, &new)?;
            ctx.say(format!(
                "renamed template `{}` to `{}`",
                old.trim(),
                new.trim()
            ));
        }
    }
    Ok(())
}

fn report(ctx: &mut Ctx, date: Option<&str>, week: bool, json: bool) -> anyhow::Result<()> {
    let date = ctx.planner.date(date)?;
    let (text, notes) = if week {
        let r = ctx.planner.week_report(date)?;
        if json {
            return ctx.json(&r);
        }
        (render::render_week_report(&r.summary, &r.tz), r.notes)
    } else {
        let r = ctx.planner.day_report(date)?;
        if json {
            return ctx.json(&r);
        }
        (render::render_day_report(&r.comparison, &r.tz), r.notes)
    };
    ctx.out.push_str(&text);
    for n in notes {
        ctx.say(format!("note: {n}"));
    }
    Ok(())
}

fn backup(ctx: &mut Ctx, path: &Path) -> anyhow::Result<()> {
    let backup = ctx.planner.backup()?;
    ctx.write(path, &backup.to_json()?)?;
    ctx.wrote(
        path,
        format!(
            "wrote backup of {} days, {} templates and {} recorded entries to {}",
            backup.days.len(),
            backup.templates.len(),
            backup.actual.len(),
            path.display()
        ),
    );
    Ok(())
}

fn export(
    ctx: &mut Ctx,
    path: &Path,
    date: Option<&str>,
    week: Option<&str>,
    actual: bool,
) -> anyhow::Result<()> {
    let dates = match week {
        Some(w) => ctx.planner.week(ctx.planner.date(Some(w))?).to_vec(),
        None => vec![ctx.planner.date(date)?],
    };
    let calendar = ctx.planner.export_calendar(&dates, actual)?;
    ctx.write(path, &calendar.text)?;
    let what = if actual { "actual time" } else { "plan" };
    let span = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} to {b}"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    };
    ctx.wrote(
        path,
        format!(
            "wrote {} events ({what}, {span}) to {}",
            calendar.events,
            path.display()
        ),
    );
    for n in &calendar.notes {
        ctx.wrote(path, format!("note: {n}"));
    }
    Ok(())
}

fn import(ctx: &mut Ctx, file: &Path, replace: bool) -> anyhow::Result<()> {
    match ctx.planner.import_file(file, replace)? {
        Imported::Backup(b) => ctx.say(format!(
            "restored {} days, {} templates and {} recorded entries from {}",
            b.days, b.templates, b.entries, b.file
        )),
        Imported::Calendar(c) => {
            let dates: Vec<String> = c.dates.iter().map(|d| d.to_string()).collect();
            ctx.say(format!(
                "imported {} events from {} as fixed blocks ({})",
                c.imported,
                c.file,
                if dates.is_empty() {
                    "no days changed".to_owned()
                } else {
                    dates.join(", ")
                }
            ));
            for n in &c.notes {
                ctx.say(format!("note: {n}"));
            }
        }
    }
    Ok(())
}

fn config(ctx: &mut Ctx, action: ConfigCommand) -> anyhow::Result<()> {
    match action {
        ConfigCommand::Show => {
            let view = ctx.planner.config()?;
            for s in &view.settings {
                let value = s.value.as_deref().unwrap_or("(system)");
                let origin = if s.default { "  (default)" } else { "" };
                ctx.say(format!("{:<10} {value:<16}{origin}  # {}", s.key, s.help));
            }
            ctx.say(format!("database   {}", view.database.display()));
            ctx.say(format!("zone now   {}", view.zone));
        }
        ConfigCommand::Set { key, value } => {
            ctx.planner.set_setting(&key, &value)?;
            ctx.say(format!("{key} = {value}"));
        }
        ConfigCommand::Unset { key } => {
            ctx.planner.unset_setting(&key)?;
            ctx.say(format!("{key} is back to its default"));
        }
    }
    Ok(())
}

/// The exit code for an error from [`run`]: the library error's, wherever it sits in the
/// chain (see `PlannerError::exit_code`), or 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<PlannerError>())
        .map_or(exit::OTHER, PlannerError::exit_code)
}
