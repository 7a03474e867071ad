//! Painting by hand, as a painting view does it: a stroke replaces whatever was planned by
//! hand under it, and erasing clears it, but neither touches a calendar's fixed blocks. The
//! check and the write are one immediate transaction, so a calendar imported by another
//! process in between cannot be overwritten.

use std::ops::Range;

use chrono::NaiveDate;

use super::Planner;
use super::edit::{ClearTarget, Cleared, PlanRequest, Planned};
use crate::error::{PlannerError, Result};
use crate::grid::Grid;
use crate::plan::{Cell, Conflict, DayPlan};

/// Refuses `range` when it meets a calendar block, naming the first run of it.
fn refuse_fixed(day: &DayPlan, grid: &Grid, range: &Range<usize>) -> Result<()> {
    let cells = day.per_block(grid, None);
    let at = |i: usize| cells[i].filter(|c| c.is_fixed());
    let Some((first, held)) = range.clone().find_map(|i| at(i).map(|c| (i, c))) else {
        return Ok(());
    };
    let end = (first..range.end)
        .find(|&i| at(i) != Some(held))
        .unwrap_or(range.end);
    Err(PlannerError::FixedInTheWay {
        range: grid.describe(range.clone()),
        label: held.label.clone(),
        at: grid.describe(first..end),
        date: day.date.to_string(),
    })
}

impl Planner {
    /// Plans the request's label over its blocks, replacing what was planned there by hand
    /// (`req.conflict` is not consulted); a calendar block in the way refuses the stroke with
    /// [`PlannerError::FixedInTheWay`] and nothing changes.
    pub fn paint(&mut self, req: &PlanRequest) -> Result<Planned> {
        let now = self.now();
        let grid = self.grid(req.date);
        let blocks = req.blocks.resolve(&grid)?;
        let cell = Cell::new(&req.label)?
            .with_category(req.category.as_deref())
            .with_color(req.color.clone());
        let changed = self.store.write(|t| {
            let mut day = t.day_plan(req.date)?;
            refuse_fixed(&day, &grid, &blocks)?;
            let n = day.assign(&grid, blocks.clone(), &cell, Conflict::Replace, now)?;
            t.save_day_plan(&day)?;
            Ok(n)
        })?;
        Ok(Planned {
            date: req.date,
            range: grid.describe(blocks.clone()),
            blocks,
            cell,
            changed,
        })
    }

    /// Clears the plan over `blocks` (an eraser stroke); a calendar block in the way refuses
    /// it with [`PlannerError::FixedInTheWay`] and nothing changes.
    pub fn erase(&mut self, date: NaiveDate, blocks: &super::Blocks) -> Result<Cleared> {
        let now = self.now();
        let grid = self.grid(date);
        let range = blocks.resolve(&grid)?;
        let count = self.store.write(|t| {
            let mut day = t.day_plan(date)?;
            refuse_fixed(&day, &grid, &range)?;
            let n = day.clear(&grid, range.clone(), now)?;
            if n > 0 {
                t.save_day_plan(&day)?;
            }
            Ok(n)
        })?;
        Ok(Cleared {
            date,
            range: grid.describe(range.clone()),
            blocks: range,
            target: ClearTarget::Plan,
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::Blocks;
    use crate::ops::view::RevisionPick;

    fn stroke(range: &str, label: &str) -> PlanRequest {
        PlanRequest {
            date: date("2026-03-05"),
            blocks: blocks(range),
            label: label.into(),
            category: None,
            color: None,
            conflict: Conflict::Refuse,
        }
    }

    fn labels(p: &Planner) -> Vec<String> {
        let v = p.day(date("2026-03-05"), RevisionPick::InForce).unwrap();
        crate::plan::runs(&v.planned())
            .into_iter()
            .map(|(r, c)| format!("{} {}", v.grid.describe(r), c.label))
            .collect()
    }

    #[test]
    fn a_stroke_replaces_hand_painted_blocks_and_never_a_calendar_block() {
        let mut f = planner("UTC", "2026-03-05T07:00:00Z");
        let p = &mut f.planner;
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n\
                   UID:standup@example.com\r\nDTSTAMP:20260301T000000Z\r\n\
                   DTSTART:20260305T110000Z\r\nDTEND:20260305T113000Z\r\nSUMMARY:standup\r\n\
                   END:VEVENT\r\nEND:VCALENDAR\r\n";
        p.import_calendar(ics, "standup.ics", Conflict::Refuse)
            .unwrap();
        p.paint(&stroke("09:00-10:00", "deep work")).unwrap();
        let over = p.paint(&stroke("09:30-10:30", "email")).unwrap();
        assert_eq!(over.changed, 6);
        assert_eq!(
            labels(p),
            [
                "09:00-09:30 deep work",
                "09:30-10:30 email",
                "11:00-11:30 standup"
            ]
        );
        let e = p.paint(&stroke("10:20-11:20", "review")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "10:20-11:20 on 2026-03-05 meets `standup` at 11:00-11:20, a fixed block from a \
             calendar event; change the event in its calendar and import it again, or pick \
             other blocks"
        );
        let e = p
            .erase(date("2026-03-05"), &blocks("10:00-11:10"))
            .unwrap_err();
        assert!(matches!(e, PlannerError::FixedInTheWay { .. }), "{e}");
        assert_eq!(labels(p).len(), 3, "a refused stroke changes nothing");
        let cleared = p.erase(date("2026-03-05"), &Blocks::Index(12..15)).unwrap();
        assert_eq!((cleared.range.as_str(), cleared.count), ("09:00-09:30", 3));
        assert_eq!(labels(p), ["09:30-10:30 email", "11:00-11:30 standup"]);
    }
}
