//! The Retrace planner: a day of 10-minute blocks, plans with revisions, templates, actual
//! time, planned vs actual, and the `blocks` command line.
//!
//! The pure core (`clock`, `grid`, `plan`, `template`, `actual`, `compare`, `render`,
//! `settings`) does no I/O and reads no clock: callers pass `now`. `store` (SQLite), `ical`
//! (RFC 5545), `backup` (JSON), `sources` (other tools' activity) and `cli` sit around it.

pub mod actual;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod color;
pub mod compare;
pub mod day;
pub mod error;
pub mod grid;
pub mod ical;
pub mod plan;
pub mod render;
pub mod settings;
pub mod sources;
pub mod store;
pub mod template;

pub use error::{PlannerError, Result};
