//! The `blocks` command line: what it accepts (clap), and `run`, which calls the planner's
//! use cases (`retrace_planner::ops`) and prints what they return.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod run;

pub use self::run::{exit_code, run};

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
    #[arg(
        long,
        global = true,
        env = "BLOCKS_DB",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub db: Option<PathBuf>,
    /// IANA time zone for this command (default: TZ, the setting, then the system's zone).
    #[arg(long, global = true, value_name = "ZONE", allow_hyphen_values = true)]
    pub tz: Option<String>,
    /// Wake time for this command (default: the `wake` setting, 07:00).
    #[arg(long, global = true, value_name = "HH:MM", allow_hyphen_values = true)]
    pub wake: Option<String>,
    /// Sleep time for this command; past midnight belongs to the same day (default 24:00).
    #[arg(long, global = true, value_name = "HH:MM", allow_hyphen_values = true)]
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
        value_name = "INSTANT",
        allow_hyphen_values = true
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
        #[arg(allow_hyphen_values = true)]
        date: Option<String>,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Plan a range of blocks: `blocks plan 09:00-11:30 "deep work"`.
    Plan {
        #[arg(allow_hyphen_values = true)]
        range: String,
        #[arg(allow_hyphen_values = true)]
        label: String,
        #[arg(long, short, allow_hyphen_values = true)]
        category: Option<String>,
        /// The blocks' colour: a name (blue, green, ...) or #rrggbb.
        #[arg(long, value_name = "COLOR", allow_hyphen_values = true)]
        fill: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Clear the plan (or, with --actual, the recorded time) of a range.
    Clear {
        #[arg(allow_hyphen_values = true)]
        range: String,
        /// Clear time recorded with `blocks did` instead of the plan.
        #[arg(long)]
        actual: bool,
        #[arg(long, short, allow_hyphen_values = true)]
        date: Option<String>,
        /// Round times that are not on a 10-minute boundary outward.
        #[arg(long)]
        round: bool,
    },
    /// Re-plan the rest of the day: start a new plan revision, keeping the earlier one.
    Replan {
        /// First block of the new revision (default: the current block).
        #[arg(long, value_name = "HH:MM", allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, short, allow_hyphen_values = true)]
        date: Option<String>,
        /// Start the new revision empty from there on.
        #[arg(long)]
        clear: bool,
    },
    /// Record what you actually did: `blocks did 14:10-15:00 "review"`.
    Did {
        #[arg(allow_hyphen_values = true)]
        range: String,
        #[arg(allow_hyphen_values = true)]
        label: String,
        #[arg(long, short, allow_hyphen_values = true)]
        category: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Templates ("common models"): named day shapes.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Planned vs actual per label and category, with adherence, for a day or a week.
    Report {
        #[arg(long, short, allow_hyphen_values = true)]
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
            conflicts_with = "json",
            allow_hyphen_values = true
        )]
        ics: Option<PathBuf>,
        /// Write a JSON backup of everything (`-` for standard output).
        #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
        json: Option<PathBuf>,
        #[arg(long, short, conflicts_with = "week", allow_hyphen_values = true)]
        date: Option<String>,
        /// The week that contains this date.
        #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
        week: Option<String>,
        /// Export what was done rather than the plan (a separate calendar).
        #[arg(long)]
        actual: bool,
    },
    /// Import an .ics file (its events become fixed blocks; blocks before a day's re-plan keep
    /// what was planned) or a JSON backup.
    Import {
        #[arg(allow_hyphen_values = true)]
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
    #[arg(
        long,
        value_name = "HH:MM",
        conflicts_with = "revision",
        allow_hyphen_values = true
    )]
    pub at: Option<String>,
    /// Show this plan revision.
    #[arg(long, value_name = "N")]
    pub revision: Option<u32>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    #[arg(long, short, allow_hyphen_values = true)]
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
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// The day to save (default today).
        #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
        from: Option<String>,
        /// Overwrite a template of the same name.
        #[arg(long)]
        force: bool,
    },
    /// Apply a template to a date, or to every day of a weekday pattern.
    Apply {
        #[arg(allow_hyphen_values = true)]
        name: String,
        #[arg(long, short, conflicts_with = "weekdays", allow_hyphen_values = true)]
        date: Option<String>,
        /// Days of the week, e.g. mon-fri, sat,sun, weekdays.
        #[arg(long, value_name = "PATTERN", allow_hyphen_values = true)]
        weekdays: Option<String>,
        /// With --weekdays: the week that contains this date (default this week).
        #[arg(
            long,
            value_name = "DATE",
            requires = "weekdays",
            allow_hyphen_values = true
        )]
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
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Go back to a setting's default.
    Unset { key: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrace_planner::PlannerError;

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
    fn values_may_start_with_a_hyphen_and_flags_stay_flags() {
        // `config set join-gap -5` and `--wake -01:00` were usage errors (exit 2): the value
        // is bad input (exit 3), which the library says with what to write instead.
        let parse = |args: &[&str]| Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        let cli = parse(&["blocks", "config", "set", "join-gap", "-5"]);
        assert!(matches!(
            cli.command,
            Some(Command::Config { action: Some(ConfigCommand::Set { ref value, .. }) }) if value == "-5"
        ));
        let cli = parse(&["blocks", "--wake", "-01:00", "show", "--sleep", "-23:00"]);
        assert_eq!(
            (cli.wake.as_deref(), cli.sleep.as_deref()),
            (Some("-01:00"), Some("-23:00"))
        );
        let cli = parse(&["blocks", "plan", "-09:00-10:00", "-x", "--date", "tomorrow"]);
        match cli.command {
            Some(Command::Plan {
                range, label, edit, ..
            }) => {
                assert_eq!((range.as_str(), label.as_str()), ("-09:00-10:00", "-x"));
                assert_eq!(edit.date.as_deref(), Some("tomorrow"));
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["blocks", "show", "--json"]);
        assert!(matches!(cli.command, Some(Command::Show { date: None, view }) if view.json));
        let cli = parse(&[
            "blocks",
            "plan",
            "--date",
            "tomorrow",
            "09:00-10:00",
            "x",
            "--replace",
        ]);
        assert!(matches!(cli.command, Some(Command::Plan { edit, .. }) if edit.replace));
    }

    #[test]
    fn exit_codes_come_from_the_library_error() {
        let e = anyhow::Error::from(PlannerError::EmptyLabel).context("while planning");
        assert_eq!(exit_code(&e), retrace_planner::error::exit::BAD_INPUT);
        assert_eq!(
            exit_code(&anyhow::anyhow!("other")),
            retrace_planner::error::exit::OTHER
        );
    }
}
