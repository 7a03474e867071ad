//! The Retrace planner: a day of 10-minute blocks, plans with revisions, templates, actual
//! time, and planned vs actual.
//!
//! The pure core (`clock`, `grid`, `color`, `plan`, `template`, `actual`, `compare`, `day`,
//! `render`, `terminal`, `settings`) does no I/O and reads no clock: callers pass `now`. `store` (SQLite),
//! `ical` (RFC 5545), `backup` (JSON) and `sources` (other tools' activity) sit around it, and
//! `ops` holds the use cases on top: [`ops::Planner`], one call per thing a person can do,
//! returning typed, serialisable reports. The `blocks` binary (`src/main.rs`, `src/cli/`)
//! parses arguments, calls `ops`, and prints.

// No panic reaches a person: production code has no unwrap() or expect() (tests may).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod actual;
pub mod backup;
pub mod clock;
pub mod color;
pub mod compare;
pub mod day;
pub mod error;
pub mod grid;
pub mod ical;
pub mod ops;
pub mod plan;
pub mod render;
pub mod settings;
pub mod sources;
pub mod store;
pub mod template;
pub mod terminal;

pub use error::{PlannerError, Result};
pub use ops::{Clock, OpenOptions, Planner};
