//! Changing a day: plan (paint) a range, clear it, move or resize a painted range, re-plan
//! from a block, and record what was done. Each change is one immediate transaction.

use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Blocks, Planner};
use crate::actual::ManualEntry;
use crate::clock::{ClockRange, ClockTime, Rounding, align};
use crate::error::{Overlap, PlannerError, Result};
use crate::grid::Grid;
use crate::plan::{Cell, Color, Conflict};

/// Plan one label over a run of blocks: `blocks plan`, or a paint stroke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRequest {
    pub date: NaiveDate,
    pub blocks: Blocks,
    pub label: String,
    pub category: Option<String>,
    pub color: Option<Color>,
    /// `Refuse` names what is in the way; `Replace` overwrites it.
    pub conflict: Conflict,
}

/// What a plan request did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub date: NaiveDate,
    pub blocks: Range<usize>,
    /// The blocks as clock times, `09:00-11:30`.
    pub range: String,
    pub cell: Cell,
    /// Blocks whose plan changed.
    pub changed: usize,
}

/// What `clear` clears.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearTarget {
    /// The plan of the blocks.
    Plan,
    /// The plan of the blocks, refusing the whole clear when it meets a calendar event's
    /// fixed block (a painting view's eraser).
    Painted,
    /// Time recorded by hand over them.
    Actual,
}

/// What a clear did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cleared {
    pub date: NaiveDate,
    pub blocks: Range<usize>,
    pub range: String,
    pub target: ClearTarget,
    /// Planned blocks cleared, or recorded entries cut.
    pub count: usize,
}

/// Move or resize a painted range: the blocks `from` (holding one planned cell) become `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveRequest {
    pub date: NaiveDate,
    pub from: Blocks,
    pub to: Blocks,
    /// What to do about other planned cells in the way; calendar blocks are always refused.
    pub conflict: Conflict,
}

/// What a move did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub date: NaiveDate,
    pub from: Range<usize>,
    pub to: Range<usize>,
    pub from_range: String,
    pub to_range: String,
    pub cell: Cell,
}

/// Where a re-plan starts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplanFrom {
    /// The block that holds the planner's "now" (the day's first block before it wakes).
    Now,
    /// The block that holds this instant (the day's first block before it wakes).
    Instant(DateTime<Utc>),
    /// The block starting at this clock time (`blocks replan --from 10:40`).
    Clock(ClockTime),
    /// This block of the day.
    Block(usize),
}

/// What a re-plan made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Replanned {
    pub date: NaiveDate,
    /// The new revision, now in force; the earlier ones are kept.
    pub revision: u32,
    /// Its first block, and that block's clock time (with its offset when repeated).
    pub from_block: usize,
    pub from: String,
    /// Whether the rest of the day started empty.
    pub cleared_rest: bool,
}

/// Record what was done over a run of blocks (`blocks did`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DidRequest {
    pub date: NaiveDate,
    pub blocks: Blocks,
    pub label: String,
    pub category: Option<String>,
    /// `Refuse` names a recorded entry in the way; `Replace` cuts it out first.
    pub conflict: Conflict,
}

/// What was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub date: NaiveDate,
    pub blocks: Range<usize>,
    pub range: String,
    pub entry: ManualEntry,
}

impl Planner {
    /// Plans `label` (with its category and colour) over the blocks of the request.
    pub fn plan(&mut self, req: &PlanRequest) -> Result<Planned> {
        let now = self.now();
        let grid = self.grid(req.date);
        let blocks = req.blocks.resolve(&grid)?;
        let cell = Cell::new(&req.label)?
            .with_category(req.category.as_deref())
            .with_color(req.color.clone());
        let changed = self.store.write(|t| {
            let mut day = t.day_plan(req.date)?;
            let n = day.assign(&grid, blocks.clone(), &cell, req.conflict, now)?;
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

    /// Clears the plan of the blocks, or the time recorded by hand over them.
    pub fn clear(
        &mut self,
        date: NaiveDate,
        blocks: &Blocks,
        target: ClearTarget,
    ) -> Result<Cleared> {
        let now = self.now();
        let grid = self.grid(date);
        let range = blocks.resolve(&grid)?;
        let count = match target {
            ClearTarget::Actual => {
                let (s, e) = grid.instants(range.clone());
                self.store.write(|t| t.cut_manual(s, e))?
            }
            ClearTarget::Plan | ClearTarget::Painted => self.store.write(|t| {
                let mut day = t.day_plan(date)?;
                if target == ClearTarget::Painted {
                    day.refuse_fixed(&grid, &range, &range)?;
                }
                let n = day.clear(&grid, range.clone(), now)?;
                if n > 0 {
                    t.save_day_plan(&day)?;
                }
                Ok(n)
            })?,
        };
        Ok(Cleared {
            date,
            range: grid.describe(range.clone()),
            blocks: range,
            target,
            count,
        })
    }

    /// Moves or resizes a painted range in one transaction; see [`crate::plan::DayPlan::move_run`]
    /// for what is refused ([`PlannerError::FixedInTheWay`] for a calendar block).
    pub fn move_blocks(&mut self, req: &MoveRequest) -> Result<Moved> {
        let now = self.now();
        let grid = self.grid(req.date);
        let from = req.from.resolve(&grid)?;
        let to = req.to.resolve(&grid)?;
        let cell = self.store.write(|t| {
            let mut day = t.day_plan(req.date)?;
            let cell = day.move_run(&grid, from.clone(), to.clone(), req.conflict, now)?;
            t.save_day_plan(&day)?;
            Ok(cell)
        })?;
        Ok(Moved {
            date: req.date,
            from_range: grid.describe(from.clone()),
            to_range: grid.describe(to.clone()),
            from,
            to,
            cell,
        })
    }

    /// Starts a new plan revision of `date` from a block, keeping the earlier revisions; with
    /// `clear_rest` the new revision starts empty from there on.
    pub fn replan(
        &mut self,
        date: NaiveDate,
        from: ReplanFrom,
        clear_rest: bool,
    ) -> Result<Replanned> {
        let now = self.now();
        let grid = self.grid(date);
        let start = self.replan_start(&grid, from, now)?;
        let revision = self.store.write(|t| {
            let mut day = t.day_plan(date)?;
            let number = day.replan(&grid, start, clear_rest, now)?.number;
            t.save_day_plan(&day)?;
            Ok(number)
        })?;
        Ok(Replanned {
            date,
            revision,
            from_block: start,
            from: grid.blocks[start].label_with_offset(),
            cleared_rest: clear_rest,
        })
    }

    /// The block a re-plan starts at.
    fn replan_start(&self, grid: &Grid, from: ReplanFrom, now: DateTime<Utc>) -> Result<usize> {
        let outside = |range: String| PlannerError::OutsideSpan {
            range,
            span: grid.span.to_string(),
            date: grid.date.to_string(),
        };
        let at_instant = |t: DateTime<Utc>, what: String| {
            if t < grid.wake {
                Ok(0)
            } else {
                grid.index_at(t).ok_or_else(|| outside(what))
            }
        };
        let local = |t: DateTime<Utc>| t.with_timezone(&self.tz).format("%H:%M").to_string();
        match from {
            ReplanFrom::Now => at_instant(now, format!("now ({})", local(now))),
            ReplanFrom::Instant(t) => at_instant(t, local(t)),
            ReplanFrom::Clock(t) => {
                align(ClockRange { start: t, end: t }, Rounding::Strict)?;
                grid.index_at(grid.resolve(t)?)
                    .ok_or_else(|| outside(t.to_string()))
            }
            ReplanFrom::Block(i) if i < grid.len() => Ok(i),
            ReplanFrom::Block(i) => Err(PlannerError::NoSuchBlocks {
                start: i,
                end: i + 1,
                date: grid.date.to_string(),
                count: grid.len(),
            }),
        }
    }

    /// Records what was done over the blocks. An entry already recorded there is refused
    /// (naming it) unless the request replaces it.
    pub fn did(&mut self, req: &DidRequest) -> Result<Recorded> {
        let grid = self.grid(req.date);
        let blocks = req.blocks.resolve(&grid)?;
        let cell = Cell::new(&req.label)?.with_category(req.category.as_deref());
        let (s, e) = grid.instants(blocks.clone());
        let entry = ManualEntry {
            start: s,
            end: e,
            tz: self.tz.name().to_owned(),
            label: cell.label,
            category: cell.category,
        };
        let range = grid.describe(blocks.clone());
        self.store.write(|t| {
            if req.conflict == Conflict::Replace {
                t.cut_manual(s, e)?;
            } else if let Some((_, other)) = t.manual_between(s, e)?.first() {
                let at = grid
                    .touching(other.start.max(s), other.end.min(e))
                    .map(|r| grid.describe(r))
                    .unwrap_or_default();
                return Err(PlannerError::Overlap(Box::new(Overlap {
                    range: range.clone(),
                    what: "the recorded",
                    label: other.label.clone(),
                    at,
                    date: req.date.to_string(),
                    clear_flag: " --actual",
                })));
            }
            t.insert_manual(&entry)
        })?;
        Ok(Recorded {
            date: req.date,
            blocks,
            range,
            entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::Clock;
    use crate::ops::view::RevisionPick;

    fn labels(p: &Planner, d: NaiveDate) -> String {
        let v = p.day(d, RevisionPick::InForce).unwrap();
        crate::plan::runs(&v.planned())
            .into_iter()
            .map(|(r, c)| format!("{} {}", v.grid.describe(r), c.label))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A calendar with one event on 2026-03-05, imported as fixed blocks.
    fn import_standup(p: &mut Planner, start: &str, end: &str) {
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n\
             UID:standup@example.com\r\nDTSTAMP:20260301T000000Z\r\n\
             DTSTART:20260305T{start}00Z\r\nDTEND:20260305T{end}00Z\r\nSUMMARY:standup\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        p.import_calendar(&ics, "standup.ics", Conflict::Refuse)
            .unwrap();
    }

    #[test]
    fn paint_move_resize_and_clear_by_block_index() {
        let mut f = planner("UTC", "2026-03-05T07:00:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        import_standup(p, "1100", "1130");
        // 09:00 is block 12.
        let planned = p
            .plan(&PlanRequest {
                category: Some("focus".into()),
                color: Some(Color::parse("teal").unwrap()),
                ..paint(d, Blocks::Index(12..18), "deep work")
            })
            .unwrap();
        assert_eq!(
            (planned.range.as_str(), planned.changed),
            ("09:00-10:00", 6)
        );

        // Drag the bottom edge down by two blocks, then the whole range up an hour.
        let resized = p
            .move_blocks(&MoveRequest {
                date: d,
                from: Blocks::Index(12..18),
                to: Blocks::Index(12..20),
                conflict: Conflict::Refuse,
            })
            .unwrap();
        assert_eq!(resized.to_range, "09:00-10:20");
        assert_eq!(resized.cell.category.as_deref(), Some("focus"));
        p.move_blocks(&MoveRequest {
            date: d,
            from: Blocks::Index(12..20),
            to: Blocks::Index(6..14),
            conflict: Conflict::Refuse,
        })
        .unwrap();
        assert_eq!(labels(p, d), "08:00-09:20 deep work, 11:00-11:30 standup");

        // Over the calendar block: refused, typed, and nothing changed on disk.
        let e = p
            .move_blocks(&MoveRequest {
                date: d,
                from: Blocks::Index(6..14),
                to: blocks("10:30-11:10"),
                conflict: Conflict::Replace,
            })
            .unwrap_err();
        assert!(
            matches!(&e, PlannerError::FixedInTheWay { label, at, .. }
                if label == "standup" && at == "11:00-11:10"),
            "{e}"
        );
        assert_eq!(e.exit_code(), crate::error::exit::CONFLICT);
        assert_eq!(labels(p, d), "08:00-09:20 deep work, 11:00-11:30 standup");
        // A paint over it is refused too, naming it.
        let e = p
            .plan(&paint(d, blocks("10:50-11:10"), "email"))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("overlaps the planned `standup` at 11:00-11:10"),
            "{e}"
        );
        // The calendar's own blocks are not moved by hand.
        assert!(matches!(
            p.move_blocks(&MoveRequest {
                date: d,
                from: blocks("11:00-11:30"),
                to: blocks("15:00-15:30"),
                conflict: Conflict::Refuse,
            }),
            Err(PlannerError::FixedInTheWay { .. })
        ));

        let cleared = p.clear(d, &Blocks::Index(6..8), ClearTarget::Plan).unwrap();
        assert_eq!((cleared.range.as_str(), cleared.count), ("08:00-08:20", 2));
        assert_eq!(labels(p, d), "08:20-09:20 deep work, 11:00-11:30 standup");
        assert_eq!(p.revisions(d).unwrap().in_force, Some(1));
    }

    #[test]
    fn a_stroke_replaces_hand_painted_blocks_and_never_a_calendar_block() {
        let mut f = planner("UTC", "2026-03-05T07:00:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        import_standup(p, "1100", "1130");
        let stroke = |range: &str, label: &str| PlanRequest {
            conflict: Conflict::KeepFixed,
            ..paint(d, blocks(range), label)
        };
        p.plan(&stroke("09:00-10:00", "deep work")).unwrap();
        let over = p.plan(&stroke("09:30-10:30", "email")).unwrap();
        assert_eq!(over.changed, 6);
        assert_eq!(
            labels(p, d),
            "09:00-09:30 deep work, 09:30-10:30 email, 11:00-11:30 standup"
        );
        let e = p.plan(&stroke("10:20-11:20", "review")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "10:20-11:20 on 2026-03-05 meets `standup` at 11:00-11:20, a fixed block from a \
             calendar event; change the event in its calendar and import it again, or pick \
             other blocks"
        );
        let e = p
            .clear(d, &blocks("10:00-11:10"), ClearTarget::Painted)
            .unwrap_err();
        assert!(matches!(e, PlannerError::FixedInTheWay { .. }), "{e}");
        assert_eq!(
            labels(p, d),
            "09:00-09:30 deep work, 09:30-10:30 email, 11:00-11:30 standup",
            "a refused stroke changes nothing"
        );
        let cleared = p
            .clear(d, &Blocks::Index(12..15), ClearTarget::Painted)
            .unwrap();
        assert_eq!((cleared.range.as_str(), cleared.count), ("09:00-09:30", 3));
        assert_eq!(labels(p, d), "09:30-10:30 email, 11:00-11:30 standup");
    }

    #[test]
    fn replan_from_a_given_instant_clock_time_or_block() {
        let mut f = planner("UTC", "2026-03-05T07:00:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        p.plan(&paint(d, blocks("09:00-12:00"), "deep work"))
            .unwrap();
        let r = p
            .replan(d, ReplanFrom::Instant(at("2026-03-05T10:43:00Z")), false)
            .unwrap();
        assert_eq!(
            (r.revision, r.from.as_str(), r.from_block),
            (2, "10:40", 22)
        );
        let r = p
            .replan(d, ReplanFrom::Clock("11:00".parse().unwrap()), true)
            .unwrap();
        assert_eq!((r.revision, r.from.as_str()), (3, "11:00"));
        assert_eq!(labels(p, d), "09:00-11:00 deep work");
        // Before the day wakes, a re-plan starts at its first block.
        p.set_clock(Clock::Fixed(at("2026-03-05T05:00:00Z")));
        assert_eq!(p.replan(d, ReplanFrom::Now, false).unwrap().from_block, 0);
        assert!(matches!(
            p.replan(d, ReplanFrom::Block(102), false),
            Err(PlannerError::NoSuchBlocks { .. })
        ));
        let e = p
            .replan(d, ReplanFrom::Clock("12:05".parse().unwrap()), false)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("12:05 is not on a 10-minute boundary"),
            "{e}"
        );
        assert_eq!(p.revisions(d).unwrap().in_force, Some(4));
    }

    #[test]
    fn recorded_time_refuses_overlaps_unless_replaced() {
        let mut f = planner("UTC", "2026-03-05T18:00:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        let did = |range: &str, label: &str, conflict| DidRequest {
            date: d,
            blocks: blocks(range),
            label: label.into(),
            category: None,
            conflict,
        };
        p.did(&did("14:00-15:00", "review", Conflict::Refuse))
            .unwrap();
        let e = p
            .did(&did("14:30-15:30", "chat", Conflict::Refuse))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "14:30-15:30 overlaps the recorded `review` at 14:30-15:00 on 2026-03-05; clear it \
             first (`blocks clear 14:30-15:00 --date 2026-03-05 --actual`) or pass --replace"
        );
        p.did(&did("14:30-15:30", "chat", Conflict::Replace))
            .unwrap();
        let entries: Vec<String> = p
            .recorded(d)
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.start.format("%H:%M"), e.label))
            .collect();
        assert_eq!(entries, ["14:00 review", "14:30 chat"]);
        let cleared = p
            .clear(d, &blocks("15:00-15:10"), ClearTarget::Actual)
            .unwrap();
        assert_eq!(cleared.count, 1);
        assert_eq!(p.recorded(d).unwrap().len(), 3);
    }

    /// Two planners on one file, as two processes would be, painting at the same time: every
    /// stroke lands.
    #[test]
    fn two_writers_on_one_file_lose_nothing() {
        let f = planner("UTC", "2026-03-05T07:00:00Z");
        let d = date("2026-03-05");
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let mut p = open(f.dir.path(), "UTC", "2026-03-05T07:00:00Z");
                std::thread::spawn(move || {
                    for k in 0..25 {
                        let i = w * 50 + k * 2;
                        p.plan(&paint(d, Blocks::Index(i..i + 1), &format!("w{w}-{k}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let v = f.planner.day(d, RevisionPick::InForce).unwrap();
        let painted = v.blocks.iter().filter(|b| b.planned.is_some()).count();
        assert_eq!(painted, 50);
        assert_eq!(v.revisions.len(), 1);
    }
}
