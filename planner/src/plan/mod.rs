//! What a day is planned to hold: labels, categories and colours over blocks, and the
//! revisions a day's plan goes through when it is re-planned.
//!
//! Plans are kept as local date + wall-clock key ([`WallTime`]) so 09:00 stays 09:00 in
//! whatever zone the day is shown. Re-planning works the way Cal Newport's time-block planning
//! does: when the day goes off plan, the rest of it is planned again in a new revision, and
//! the earlier revision is kept, so "what was planned at 9:00" can still be shown.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{BLOCK_MINUTES, WallTime};
pub use crate::color::Color;
use crate::error::{PlannerError, Result};
use crate::grid::{DaySpan, Grid};

/// What one block is planned to hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// The UID of the calendar event this block came from. Such blocks are fixed: templates
    /// leave them alone and re-importing the calendar updates them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_uid: Option<String>,
}

impl Cell {
    pub fn new(label: &str) -> Result<Cell> {
        let label = label.trim();
        if label.is_empty() {
            return Err(PlannerError::EmptyLabel);
        }
        Ok(Cell {
            label: label.to_owned(),
            category: None,
            color: None,
            fixed_uid: None,
        })
    }

    pub fn with_category(mut self, category: Option<&str>) -> Cell {
        self.category = category
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        self
    }

    pub fn with_color(mut self, color: Option<Color>) -> Cell {
        self.color = color;
        self
    }

    pub fn fixed(mut self, uid: &str) -> Cell {
        self.fixed_uid = Some(uid.to_owned());
        self
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed_uid.is_some()
    }
}

/// One version of a day's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// 1 for the first plan of the day, then one more for each re-plan.
    pub number: u32,
    pub created_at: DateTime<Utc>,
    /// The block this revision re-planned from; blocks before it kept the earlier plan.
    /// `None` for the first revision, which covers the whole day.
    pub from: Option<WallTime>,
    pub cells: BTreeMap<WallTime, Cell>,
}

/// What to do when a change meets blocks that already hold something else.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Conflict {
    /// Refuse the whole change and name what is in the way.
    #[default]
    Refuse,
    /// Overwrite.
    Replace,
    /// Overwrite what was planned by hand, but refuse the whole change when it meets a
    /// calendar event's fixed block ([`PlannerError::FixedInTheWay`]): a painting view's
    /// strokes.
    KeepFixed,
}

static NO_CELLS: BTreeMap<WallTime, Cell> = BTreeMap::new();

/// A day's plan and its revisions, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayPlan {
    pub date: NaiveDate,
    pub revisions: Vec<Revision>,
}

impl DayPlan {
    pub fn new(date: NaiveDate) -> DayPlan {
        DayPlan {
            date,
            revisions: Vec::new(),
        }
    }

    /// The plan as it stands.
    pub fn current(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    pub fn cells(&self) -> &BTreeMap<WallTime, Cell> {
        self.current().map_or(&NO_CELLS, |r| &r.cells)
    }

    pub fn is_empty(&self) -> bool {
        self.cells().is_empty()
    }

    /// The plan as it stood at `instant`: the latest revision made by then.
    pub fn as_of(&self, instant: DateTime<Utc>) -> Option<&Revision> {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.created_at <= instant)
    }

    pub fn revision(&self, number: u32) -> Result<&Revision> {
        self.revisions
            .iter()
            .find(|r| r.number == number)
            .ok_or_else(|| PlannerError::UnknownRevision {
                date: self.date.to_string(),
                number,
                count: self.revisions.len(),
            })
    }

    /// Each block's planned cell in `revision` (the current one when `None`).
    pub fn per_block<'a>(
        &'a self,
        grid: &Grid,
        revision: Option<&'a Revision>,
    ) -> Vec<Option<&'a Cell>> {
        let cells = revision.map_or_else(|| self.cells(), |r| &r.cells);
        grid.blocks.iter().map(|b| cells.get(&b.wall)).collect()
    }

    /// Planned cells whose clock times are not blocks of `grid` (outside its span, or in a
    /// skipped hour).
    pub fn off_grid(&self, grid: &Grid) -> usize {
        self.cells()
            .keys()
            .filter(|w| grid.index_of(**w).is_none())
            .count()
    }

    /// What every view of the day made with `grid` says when planned blocks are not on it, so
    /// that none leaves them out without a word.
    pub fn off_grid_note(&self, grid: &Grid) -> Option<String> {
        let off = self.off_grid(grid);
        (off > 0).then(|| {
            format!(
                "{off} planned blocks fall outside {} on {}; see them with --wake/--sleep",
                grid.span, self.date
            )
        })
    }

    /// `span` widened to hold every block of the current plan (a day planned with an earlier
    /// wake time, or a later sleep time, than `span`'s). The result may be longer than the
    /// 24 hours a typed span may have.
    pub fn span_holding_plan(&self, span: DaySpan) -> DaySpan {
        let cells = self.cells();
        let first = cells.keys().next().map_or(span.wake, |w| w.minute);
        let last = cells
            .keys()
            .map(|w| w.minute + BLOCK_MINUTES)
            .max()
            .unwrap_or(span.sleep);
        DaySpan {
            wake: span.wake.min(first),
            sleep: span.sleep.max(last),
        }
    }

    /// The first block index the current revision lets change: blocks before a re-plan keep
    /// the plan they had.
    pub fn first_editable(&self, grid: &Grid) -> usize {
        match self.current().and_then(|r| r.from) {
            None => 0,
            Some(from) => grid
                .index_of(from)
                .unwrap_or_else(|| grid.blocks.iter().take_while(|b| b.wall < from).count()),
        }
    }

    /// Splits `range` at the current revision's start: the blocks before it, which keep the
    /// plan they had, and the blocks that may change. Either part may be empty.
    pub fn split_at_revision(
        &self,
        grid: &Grid,
        range: Range<usize>,
    ) -> (Range<usize>, Range<usize>) {
        let at = self.first_editable(grid).clamp(range.start, range.end);
        (range.start..at, at..range.end)
    }

    fn check_editable(&self, grid: &Grid, range: &Range<usize>) -> Result<()> {
        let first = self.first_editable(grid);
        match self.current() {
            Some(rev) if range.start < first => Err(PlannerError::BeforeRevision {
                at: grid.describe(range.start..first.min(range.end)),
                date: self.date.to_string(),
                from: rev.from.map(|w| w.to_string()).unwrap_or_default(),
                revision: rev.number,
            }),
            _ => Ok(()),
        }
    }

    /// The revision edits go to, made on the first edit of the day.
    fn editable(&mut self, now: DateTime<Utc>) -> &mut Revision {
        if self.revisions.is_empty() {
            self.revisions.push(Revision {
                number: 1,
                created_at: now,
                from: None,
                cells: BTreeMap::new(),
            });
        }
        let last = self.revisions.len() - 1;
        &mut self.revisions[last]
    }

    /// Plans `cell` over `range`. Blocks that already hold something else are refused unless
    /// `conflict` is `Replace`. Returns the number of blocks that changed.
    pub fn assign(
        &mut self,
        grid: &Grid,
        range: Range<usize>,
        cell: &Cell,
        conflict: Conflict,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.check_editable(grid, &range)?;
        self.put(
            grid,
            range,
            cell,
            conflict,
            |existing| existing != cell,
            now,
        )
    }

    /// Writes `cell` over `range` of the current revision, first refusing (unless `conflict`
    /// is `Replace`) when a block holds a cell `in_the_way` says may not be overwritten.
    /// Returns the number of blocks that changed.
    fn put(
        &mut self,
        grid: &Grid,
        range: Range<usize>,
        cell: &Cell,
        conflict: Conflict,
        in_the_way: impl Fn(&Cell) -> bool,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        match conflict {
            Conflict::Refuse => self.refuse_overlap(grid, &range, in_the_way)?,
            Conflict::KeepFixed => self.refuse_fixed(grid, &range, &range)?,
            Conflict::Replace => {}
        }
        let rev = self.editable(now);
        Ok(grid.blocks[range]
            .iter()
            .filter(|b| rev.cells.insert(b.wall, cell.clone()).as_ref() != Some(cell))
            .count())
    }

    /// Names the first run of blocks in `range` whose cell `in_the_way` says is in the way.
    fn refuse_overlap(
        &self,
        grid: &Grid,
        range: &Range<usize>,
        in_the_way: impl Fn(&Cell) -> bool,
    ) -> Result<()> {
        let cells = self.cells();
        let blocking = |i: usize| cells.get(&grid.blocks[i].wall).filter(|c| in_the_way(c));
        let Some((first, label)) = range
            .clone()
            .find_map(|i| blocking(i).map(|c| (i, c.label.clone())))
        else {
            return Ok(());
        };
        let end = (first..range.end)
            .find(|&i| blocking(i).is_none_or(|c| c.label != label))
            .unwrap_or(range.end);
        Err(PlannerError::Overlap(Box::new(crate::error::Overlap {
            range: grid.describe(range.clone()),
            what: "the planned",
            label,
            at: grid.describe(first..end),
            date: self.date.to_string(),
            clear_flag: "",
        })))
    }

    /// Refuses a change of `range` (`asked`, named in the message: a move names where it
    /// goes) when `range` holds a calendar event's fixed block, naming the first run of it.
    pub fn refuse_fixed(
        &self,
        grid: &Grid,
        range: &Range<usize>,
        asked: &Range<usize>,
    ) -> Result<()> {
        let cells = self.cells();
        let at = |i: usize| cells.get(&grid.blocks[i].wall).filter(|c| c.is_fixed());
        let Some((first, held)) = range.clone().find_map(|i| at(i).map(|c| (i, c))) else {
            return Ok(());
        };
        let end = (first..range.end)
            .find(|&i| at(i) != Some(held))
            .unwrap_or(range.end);
        Err(PlannerError::FixedInTheWay {
            range: grid.describe(asked.clone()),
            label: held.label.clone(),
            at: grid.describe(first..end),
            date: self.date.to_string(),
        })
    }

    /// Clears the plan over `range`. Returns the number of blocks that held something.
    pub fn clear(&mut self, grid: &Grid, range: Range<usize>, now: DateTime<Utc>) -> Result<usize> {
        self.check_editable(grid, &range)?;
        if self.revisions.is_empty() {
            return Ok(0);
        }
        let rev = self.editable(now);
        Ok(grid.blocks[range]
            .iter()
            .filter(|b| rev.cells.remove(&b.wall).is_some())
            .count())
    }

    /// Moves or resizes the run of blocks `from`, which holds one planned cell, to `to`, as
    /// one edit: `from` is cleared, then `to` planned with that cell (the two may overlap, as
    /// dragging an edge does). A calendar event's blocks are not moved and not overwritten:
    /// either is refused with [`PlannerError::FixedInTheWay`]. Other cells in the way are
    /// refused unless `conflict` is `Replace`. Nothing changes when the move is refused.
    /// Returns the cell moved.
    pub fn move_run(
        &mut self,
        grid: &Grid,
        from: Range<usize>,
        to: Range<usize>,
        conflict: Conflict,
        now: DateTime<Utc>,
    ) -> Result<Cell> {
        for r in [&from, &to] {
            if r.start >= r.end || r.end > grid.len() {
                return Err(PlannerError::NoSuchBlocks {
                    start: r.start,
                    end: r.end,
                    date: self.date.to_string(),
                    count: grid.len(),
                });
            }
        }
        let cells = self.cells();
        let at = |i: usize| cells.get(&grid.blocks[i].wall);
        let cell = match at(from.start) {
            Some(c) if from.clone().all(|i| at(i) == Some(c)) => c.clone(),
            _ => {
                return Err(PlannerError::NotOneRun {
                    range: grid.describe(from),
                    date: self.date.to_string(),
                });
            }
        };
        // A calendar event's blocks are neither moved nor covered.
        let asked = if cell.is_fixed() { &from } else { &to };
        self.refuse_fixed(grid, &from, asked)?;
        self.refuse_fixed(grid, &to, asked)?;
        let mut moved = self.clone();
        moved.clear(grid, from, now)?;
        moved.assign(grid, to, &cell, conflict, now)?;
        *self = moved;
        Ok(cell)
    }

    /// Starts a new revision from block `from`: the blocks before it keep their plan, the
    /// rest start as they were (or empty with `clear_rest`) and are edited from now on.
    pub fn replan(
        &mut self,
        grid: &Grid,
        from: usize,
        clear_rest: bool,
        now: DateTime<Utc>,
    ) -> Result<&Revision> {
        let Some(current) = self.current() else {
            return Err(PlannerError::NothingToReplan {
                date: self.date.to_string(),
            });
        };
        let from_wall =
            grid.blocks
                .get(from)
                .map(|b| b.wall)
                .ok_or_else(|| PlannerError::OutsideSpan {
                    range: "the re-plan start".into(),
                    span: grid.span.to_string(),
                    date: self.date.to_string(),
                })?;
        let mut cells = current.cells.clone();
        if clear_rest {
            for b in &grid.blocks[from..] {
                cells.remove(&b.wall);
            }
        }
        let number = current.number + 1;
        self.revisions.push(Revision {
            number,
            created_at: now,
            from: Some(from_wall),
            cells,
        });
        Ok(&self.revisions[self.revisions.len() - 1])
    }

    /// Places a calendar event's blocks (see [`Cell::fixed`]). Blocks held by the same event
    /// are updated; anything else in the way is refused unless `conflict` is `Replace`. Blocks
    /// before a re-plan are refused as [`DayPlan::assign`] refuses them; an import places only
    /// the part [`DayPlan::split_at_revision`] says may change.
    pub fn place_fixed(
        &mut self,
        grid: &Grid,
        range: Range<usize>,
        cell: &Cell,
        conflict: Conflict,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.check_editable(grid, &range)?;
        self.put(
            grid,
            range,
            cell,
            conflict,
            |existing| existing != cell && existing.fixed_uid != cell.fixed_uid,
            now,
        )
    }

    /// Removes the blocks that came from one of these calendar events, so a re-import can put
    /// the events where they are now. Blocks before a re-plan stay: they are what was planned
    /// then. Returns the number of blocks removed.
    pub fn remove_fixed(&mut self, grid: &Grid, uids: &[String], now: DateTime<Utc>) -> usize {
        let from_these = |c: &Cell| c.fixed_uid.as_ref().is_some_and(|u| uids.contains(u));
        let first = self.first_editable(grid);
        let from = self.current().and_then(|r| r.from);
        // A cell that is not a block of `grid` (planned under another waking span) is placed
        // by its clock time.
        let editable = |w: WallTime| match grid.index_of(w) {
            Some(i) => i >= first,
            None => from.is_none_or(|from| w >= from),
        };
        let gone: Vec<WallTime> = self
            .cells()
            .iter()
            .filter(|(w, c)| from_these(c) && editable(**w))
            .map(|(w, _)| *w)
            .collect();
        if gone.is_empty() {
            return 0;
        }
        let rev = self.editable(now);
        for w in &gone {
            rev.cells.remove(w);
        }
        gone.len()
    }

    /// Runs of consecutive blocks holding the same cell, in grid order.
    pub fn runs<'a>(
        &'a self,
        grid: &Grid,
        revision: Option<&'a Revision>,
    ) -> Vec<(Range<usize>, &'a Cell)> {
        runs(&self.per_block(grid, revision))
    }
}

/// Runs of consecutive equal, non-empty entries.
pub fn runs<'a, T: PartialEq>(per_block: &[Option<&'a T>]) -> Vec<(Range<usize>, &'a T)> {
    let mut out: Vec<(Range<usize>, &T)> = Vec::new();
    for (i, c) in per_block.iter().enumerate() {
        let Some(c) = c else { continue };
        match out.last_mut() {
            Some((r, last)) if r.end == i && *last == *c => r.end = i + 1,
            _ => out.push((i..i + 1, c)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
