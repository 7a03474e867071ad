//! The planner's errors. Each message names the problem and the next step, because most of
//! them reach a person typing `blocks` commands.

use std::path::PathBuf;

/// Everything that can go wrong in the planner library.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    #[error("`{input}` is not a time: {reason} (write HH:MM, for example 09:30)")]
    BadTime { input: String, reason: String },

    #[error(
        "`{input}` is not a time range; write START-END, for example 09:00-11:30 \
         (a time may carry its UTC offset on a clock-change day: 01:30@-05:00)"
    )]
    BadRange { input: String },

    #[error("`{input}` is not a date; write YYYY-MM-DD, `today`, `tomorrow` or `yesterday`")]
    BadDate { input: String },

    #[error(
        "{time} is not on a 10-minute boundary; use {earlier} or {later}, \
         or pass --round to round the range outward"
    )]
    NotOnBoundary {
        time: String,
        earlier: String,
        later: String,
    },

    #[error("the range {range} ends before it starts; write it as {suggestion}")]
    ReversedRange { range: String, suggestion: String },

    #[error("the range {range} is empty; give an end after the start")]
    EmptyRange { range: String },

    #[error(
        "{range} is outside the waking span {span} of {date}; widen it for this command with \
         --wake/--sleep, or change the default with `blocks config set wake|sleep HH:MM`"
    )]
    OutsideSpan {
        range: String,
        span: String,
        date: String,
    },

    #[error("waking span {wake}-{sleep} is not usable: {reason}")]
    BadSpan {
        wake: String,
        sleep: String,
        reason: String,
    },

    #[error("unknown time zone `{name}`{hint}")]
    UnknownTimeZone { name: String, hint: String },

    #[error("{0}")]
    Overlap(Box<Overlap>),

    #[error(
        "{range} on {date} meets `{label}` at {at}, a fixed block from a calendar event; \
         change the event in its calendar and import it again, or pick other blocks"
    )]
    FixedInTheWay {
        range: String,
        label: String,
        at: String,
        date: String,
    },

    #[error(
        "{range} on {date} does not hold one planned task; pick the blocks of one painted \
         range (the plan may have changed since it was shown)"
    )]
    NotOneRun { range: String, date: String },

    #[error("blocks {start}..{end} are not blocks of {date}, which has {count} (0..{count})")]
    NoSuchBlocks {
        start: usize,
        end: usize,
        date: String,
        count: usize,
    },

    #[error(
        "{at} on {date} is before {from}, where plan revision {revision} starts: blocks before \
         a re-plan keep the plan they had; record what happened with `blocks did` instead"
    )]
    BeforeRevision {
        at: String,
        date: String,
        from: String,
        revision: u32,
    },

    #[error("no template named `{name}`; {known}")]
    UnknownTemplate { name: String, known: String },

    #[error(
        "a template named `{name}` already exists; pass --force to overwrite it, or pick another name"
    )]
    TemplateExists { name: String },

    #[error("template name `{name}` is not usable: {reason}")]
    BadTemplateName { name: String, reason: String },

    #[error("{date} has no planned blocks to save; plan the day first with `blocks plan`")]
    EmptyDay { date: String },

    #[error(
        "nothing is planned for {date} yet, so there is no plan to keep; plan it with \
         `blocks plan` (re-planning starts a new revision and keeps the earlier one)"
    )]
    NothingToReplan { date: String },

    #[error("{date} has no plan revision {number}; it has {count}")]
    UnknownRevision {
        date: String,
        number: u32,
        count: usize,
    },

    #[error("`{input}` is not a weekday pattern; write days like mon-fri, sat,sun or mon,wed,fri")]
    BadWeekdays { input: String },

    #[error(
        "`{input}` is not a colour; use a name (red, green, yellow, blue, magenta, cyan, white, \
         black, gray, orange, purple, pink, brown, teal) or #rrggbb"
    )]
    BadColor { input: String },

    #[error("setting `{key}`: {reason}")]
    BadSetting { key: String, reason: String },

    #[error("label must not be empty; give the task a name, for example \"deep work\"")]
    EmptyLabel,

    #[error("malformed iCalendar file {path}: {reason}")]
    MalformedIcs { path: String, reason: String },

    #[error("could not write the backup as JSON; this is a bug in blocks, please report it")]
    BackupJson(#[source] serde_json::Error),

    #[error("malformed backup file {path}: {reason}")]
    MalformedBackup { path: String, reason: String },

    #[error(
        "backup {path} was written by a newer blocks (backup format {found}, this build reads up \
         to {supported}); upgrade blocks to import it"
    )]
    NewerBackup {
        path: String,
        found: u32,
        supported: u32,
    },

    #[error(
        "the database is not empty; importing a backup replaces everything in it, so pass \
         --replace to do that, or import into a new file with --db"
    )]
    NotEmpty,

    #[error(
        "database {path} was written by a newer blocks (schema version {found}, this build knows \
         up to {supported}); upgrade blocks, or point --db at another file"
    )]
    NewerDatabase {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("database {path}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "database {path}: could not bring the schema up to date: {reason}; if another program \
         holds it, try again, or point --db at another file"
    )]
    Migration { path: PathBuf, reason: String },

    #[error("no data directory found for the database (HOME is not set); pass --db FILE")]
    NoDataDir,

    #[error("cannot use {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PlannerError {
    /// The process exit code for this error, as documented in `blocks --help`.
    pub fn exit_code(&self) -> u8 {
        use PlannerError::*;
        match self {
            BadTime { .. }
            | BadRange { .. }
            | BadDate { .. }
            | NotOnBoundary { .. }
            | ReversedRange { .. }
            | EmptyRange { .. }
            | OutsideSpan { .. }
            | BadSpan { .. }
            | UnknownTimeZone { .. }
            | BadTemplateName { .. }
            | BadWeekdays { .. }
            | BadColor { .. }
            | BadSetting { .. }
            | EmptyLabel
            | EmptyDay { .. }
            | NoSuchBlocks { .. } => exit::BAD_INPUT,
            NothingToReplan { .. } | UnknownRevision { .. } => exit::NOT_FOUND,
            Overlap(_)
            | FixedInTheWay { .. }
            | NotOneRun { .. }
            | BeforeRevision { .. }
            | TemplateExists { .. }
            | NotEmpty => exit::CONFLICT,
            UnknownTemplate { .. } => exit::NOT_FOUND,
            MalformedIcs { .. } | MalformedBackup { .. } | NewerBackup { .. } => exit::BAD_FILE,
            NewerDatabase { .. } | Database { .. } | Migration { .. } | NoDataDir => exit::DATABASE,
            Io { .. } => exit::BAD_FILE,
            BackupJson(_) => exit::OTHER,
        }
    }
}

/// Exit codes of the `blocks` binary.
pub mod exit {
    /// Something unexpected (a bug, or an error without a better code).
    pub const OTHER: u8 = 1;
    /// Command-line usage error (reported by clap).
    pub const USAGE: u8 = 2;
    /// A time, range, date, zone, colour, pattern or setting that cannot be used.
    pub const BAD_INPUT: u8 = 3;
    /// The change conflicts with what is stored (overlap, past revision, existing name).
    pub const CONFLICT: u8 = 4;
    /// A named thing (template) does not exist.
    pub const NOT_FOUND: u8 = 5;
    /// The database cannot be used (newer schema, locked, corrupt).
    pub const DATABASE: u8 = 6;
    /// A file to read or write is malformed or unreadable (.ics, backup).
    pub const BAD_FILE: u8 = 7;
}

/// A change that meets blocks already holding something else.
#[derive(Debug)]
pub struct Overlap {
    /// The range the change covers.
    pub range: String,
    /// `the planned` or `the recorded`.
    pub what: &'static str,
    pub label: String,
    /// Where the other thing is.
    pub at: String,
    pub date: String,
    /// Extra flag for the `blocks clear` hint (` --actual` for recorded time).
    pub clear_flag: &'static str,
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} overlaps {} `{}` at {} on {}; clear it first (`blocks clear {}{}{}`) or pass --replace",
            self.range,
            self.what,
            self.label,
            self.at,
            self.date,
            self.at,
            if self.date.is_empty() {
                String::new()
            } else {
                format!(" --date {}", self.date)
            },
            self.clear_flag,
        )
    }
}

pub type Result<T, E = PlannerError> = std::result::Result<T, E>;
