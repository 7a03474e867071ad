//! iCalendar (RFC 5545) export and import through the `icalendar` crate.
//!
//! Export: each run of contiguous blocks with one plan becomes one VEVENT with UTC start and
//! end. UIDs are stable (date, label and which run of that label it is, or the UID of the
//! calendar event the blocks came from), so importing a newer export into a calendar
//! updates the events instead of adding copies. Actual time exports as its own calendar.
//!
//! Import: events become fixed blocks; events are rounded outward to whole blocks, and
//! re-importing an event (by UID) moves its blocks to where it is now. Blocks before a day's
//! re-plan are history: an import leaves them as they were planned.

mod export;
mod import;
mod lines;
mod parse;
mod zone;

pub use self::export::{PlanDay, UID_DOMAIN, actual_calendar, plan_calendar};
pub use self::import::{Import, Placement, Written};
pub use self::parse::{ImportedEvent, Parsed, parse};

#[cfg(test)]
mod tests;
