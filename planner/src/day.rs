//! One day as a person looks at it: its blocks with the plan of one revision, what was done,
//! how the two compare, the revisions the day went through and the block that is "now".
//!
//! [`DayView`] is what `blocks show --json` prints and what the desktop app draws. Pure: it is
//! built from a grid, a plan, the actual cells and `now`, which the caller reads.

use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::actual::ActualCell;
use crate::clock::{BLOCK_MINUTES, WallTime, hhmm, rfc3339};
use crate::compare::{Adherence, Outcome, Tally, compare_day};
use crate::grid::Grid;
use crate::plan::{Cell, DayPlan, Revision};

/// One day: grid, plan, actual time and comparison, ready to show or to serialise.
#[derive(Clone, Debug, Serialize)]
pub struct DayView {
    /// The blocks as the grid computed them (local times, offsets); not serialised, since
    /// `blocks` carries what a reader needs.
    #[serde(skip)]
    pub grid: Grid,
    pub date: chrono::NaiveDate,
    /// IANA name of the zone the day is shown in.
    pub tz: String,
    /// The waking span, `HH:MM` (a sleep time past midnight reads 25:00).
    pub wake: String,
    pub sleep: String,
    pub block_minutes: u16,
    #[serde(serialize_with = "rfc3339")]
    pub now: DateTime<Utc>,
    /// The block that holds `now`, if it is on this day.
    pub current_block: Option<usize>,
    /// The plan revision shown; `None` when nothing was planned (yet, at the time asked for).
    pub revision: Option<u32>,
    /// Every revision of the day, oldest first; the last one is in force.
    pub revisions: Vec<RevisionInfo>,
    pub blocks: Vec<BlockView>,
    pub adherence: Adherence,
    pub by_label: Vec<Tally>,
    pub by_category: Vec<Tally>,
    /// Warnings (an activity source that could not be read, planned blocks outside the span).
    pub notes: Vec<String>,
}

/// One 10-minute block of a [`DayView`].
#[derive(Clone, Debug, Serialize)]
pub struct BlockView {
    pub index: usize,
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub end: DateTime<Utc>,
    /// Local clock time the block starts at, `HH:MM`.
    pub local: String,
    /// Its UTC offset, `+01:00`.
    pub offset: String,
    /// The clock time occurs twice on this day (the clocks went back).
    pub repeated: bool,
    /// The key the plan is stored under.
    pub key: WallTime,
    pub planned: Option<Cell>,
    pub actual: Option<ActualCell>,
    pub outcome: Outcome,
}

impl BlockView {
    /// The block holds a calendar event's block: shown locked, moved only in the calendar.
    pub fn is_fixed(&self) -> bool {
        self.planned.as_ref().is_some_and(Cell::is_fixed)
    }
}

/// One version of a day's plan, without its cells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevisionInfo {
    /// 1 for the first plan, one more per re-plan.
    pub number: u32,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The block a re-plan started from; `None` for the first revision.
    pub from: Option<WallTime>,
}

impl From<&Revision> for RevisionInfo {
    fn from(r: &Revision) -> Self {
        RevisionInfo {
            number: r.number,
            created_at: r.created_at,
            from: r.from,
        }
    }
}

impl DayView {
    /// The day `grid` with the plan of revision `shown` of `day` (nothing planned when
    /// `None`), the actual cell of each block, and `notes` to pass on.
    pub fn new(
        grid: Grid,
        day: &DayPlan,
        shown: Option<&Revision>,
        actual: Vec<Option<ActualCell>>,
        now: DateTime<Utc>,
        mut notes: Vec<String>,
    ) -> DayView {
        let planned: Vec<Option<&Cell>> = match shown {
            Some(rev) => day.per_block(&grid, Some(rev)),
            None => vec![None; grid.len()],
        };
        let cmp = compare_day(&grid, &planned, &actual, now);
        notes.extend(day.off_grid_note(&grid));
        let blocks = grid
            .blocks
            .iter()
            .zip(planned)
            .zip(actual)
            .zip(&cmp.outcomes)
            .enumerate()
            .map(|(index, (((b, planned), actual), outcome))| BlockView {
                index,
                start: b.start,
                end: b.end(),
                local: b.label(),
                offset: b.offset.to_string(),
                repeated: b.repeated,
                key: b.wall,
                planned: planned.cloned(),
                actual,
                outcome: *outcome,
            })
            .collect();
        DayView {
            date: grid.date,
            tz: grid.tz.name().to_owned(),
            wake: hhmm(grid.span.wake),
            sleep: hhmm(grid.span.sleep),
            block_minutes: BLOCK_MINUTES,
            now,
            current_block: grid.index_at(now),
            revision: shown.map(|r| r.number),
            revisions: day.revisions.iter().map(RevisionInfo::from).collect(),
            blocks,
            adherence: cmp.adherence,
            by_label: cmp.by_label,
            by_category: cmp.by_category,
            notes,
            grid,
        }
    }

    /// The revision in force (the latest), if the day has a plan.
    pub fn in_force(&self) -> Option<u32> {
        self.revisions.last().map(|r| r.number)
    }

    /// The revision shown.
    pub fn shown(&self) -> Option<&RevisionInfo> {
        let n = self.revision?;
        self.revisions.iter().find(|r| r.number == n)
    }

    /// The block that holds `now`.
    pub fn current(&self) -> Option<&BlockView> {
        self.blocks.get(self.current_block?)
    }

    /// Each block's planned cell, in grid order.
    pub fn planned(&self) -> Vec<Option<&Cell>> {
        self.blocks.iter().map(|b| b.planned.as_ref()).collect()
    }

    /// Runs of consecutive blocks holding one calendar event: the locked parts of the day.
    pub fn fixed_runs(&self) -> Vec<(Range<usize>, &Cell)> {
        let fixed: Vec<Option<&Cell>> = self
            .blocks
            .iter()
            .map(|b| b.planned.as_ref().filter(|c| c.is_fixed()))
            .collect();
        crate::plan::runs(&fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Rounding;
    use crate::grid::{DaySpan, parse_tz};
    use crate::plan::Conflict;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-03-05T{s}:00Z").parse().unwrap()
    }

    #[test]
    fn a_view_of_an_earlier_revision_keeps_the_list_of_all() {
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::parse("08:00", "12:00").unwrap(),
        );
        let mut day = DayPlan::new(g.date);
        let r = |s: &str| g.range(s.parse().unwrap(), Rounding::Strict).unwrap();
        let deep = Cell::new("deep work").unwrap();
        let standup = Cell::new("standup").unwrap().fixed("ev-1");
        day.assign(&g, r("09:00-11:00"), &deep, Conflict::Refuse, at("07:00"))
            .unwrap();
        day.place_fixed(
            &g,
            r("08:00-08:20"),
            &standup,
            Conflict::Refuse,
            at("07:00"),
        )
        .unwrap();
        day.replan(&g, r("10:00-10:10").start, true, at("10:05"))
            .unwrap();
        let first = day.revision(1).unwrap().clone();
        let v = DayView::new(
            g.clone(),
            &day,
            Some(&first),
            vec![None; g.len()],
            at("10:05"),
            vec![],
        );
        assert_eq!((v.revision, v.in_force()), (Some(1), Some(2)));
        assert_eq!(v.shown().unwrap().from, None);
        assert_eq!(v.revisions[1].from, Some(WallTime::new(600)));
        assert_eq!(v.current().unwrap().local, "10:00");
        assert_eq!(v.blocks[r("10:00-10:10").start].planned, Some(deep));
        let fixed: Vec<_> = v
            .fixed_runs()
            .into_iter()
            .map(|(range, c)| (range, c.label.clone()))
            .collect();
        assert_eq!(fixed, [(0..2, "standup".to_owned())]);
        assert!(v.blocks[0].is_fixed() && !v.blocks[6].is_fixed());

        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["blocks"][0]["start"], "2026-03-05T08:00:00+00:00");
        assert_eq!(json["revisions"][1]["from"], "10:00");
        assert_eq!(json["revisions"][0]["from"], serde_json::Value::Null);
        // At 10:05 the standup's two blocks and deep work's six are over, with nothing done.
        assert_eq!(json["adherence"]["due"], 8);
        assert_eq!(json["adherence"]["ratio"], 0.0);
        assert!(json.get("grid").is_none());
    }
}
