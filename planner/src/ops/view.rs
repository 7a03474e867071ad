//! Reading a day: the [`DayView`] of any revision, the list of revisions, the block at an
//! instant, the labels and colours in use, and what was recorded by hand.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::Planner;
use crate::actual::ManualEntry;
use crate::clock::{ClockTime, rfc3339};
use crate::day::{DayView, RevisionInfo};
use crate::error::Result;
use crate::grid::planning_date;
use crate::plan::{Cell, Color, Revision};

/// Which plan revision of a day to show.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum RevisionPick {
    /// The revision in force (the latest).
    #[default]
    InForce,
    /// Revision `n` (1 is the day's first plan).
    Number(u32),
    /// The plan as it stood at this clock time of the day (`blocks show --at 09:00`).
    At(ClockTime),
    /// The plan as it stood at this instant.
    AsOf(DateTime<Utc>),
}

/// A day's plan revisions, oldest first, and the one in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevisionList {
    pub date: NaiveDate,
    pub revisions: Vec<RevisionInfo>,
    /// The latest revision: the plan as it stands. `None` when nothing is planned.
    pub in_force: Option<u32>,
}

/// The block that holds an instant, and what is planned for it (window title, notification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CurrentBlock {
    /// The planning day it belongs to (a day running past midnight still holds 00:30).
    pub date: NaiveDate,
    pub index: usize,
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub end: DateTime<Utc>,
    /// `HH:MM`, with the UTC offset when the clock time occurs twice that day.
    pub local: String,
    /// What the plan in force holds there.
    pub planned: Option<Cell>,
}

impl CurrentBlock {
    /// The planned label, if any.
    pub fn label(&self) -> Option<&str> {
        self.planned.as_ref().map(|c| c.label.as_str())
    }
}

/// A label as it is used, with its category and the colour it shows in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelUse {
    pub label: String,
    pub category: Option<String>,
    /// The colour chosen for it, or the stable colour a label without one is drawn in.
    pub color: Color,
    /// Whether `color` was chosen (rather than derived from the label).
    pub chosen: bool,
    /// Blocks of current plans and templates that hold it.
    pub blocks: usize,
}

/// What a picker offers: the labels, categories and colours in use, most used first, and
/// every colour name there is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Palette {
    pub labels: Vec<LabelUse>,
    pub categories: Vec<String>,
    pub colors: Vec<Color>,
    pub named_colors: Vec<Color>,
}

impl Planner {
    /// The day `date` with the plan of the revision `pick` says, what was done, and how the
    /// two compare.
    pub fn day(&self, date: NaiveDate, pick: RevisionPick) -> Result<DayView> {
        let now = self.now();
        let grid = self.grid(date);
        self.store.snapshot(|t| {
            let day = t.day_plan(date)?;
            let shown: Option<&Revision> = match pick {
                RevisionPick::InForce => day.current(),
                RevisionPick::Number(n) => Some(day.revision(n)?),
                RevisionPick::At(time) => day.as_of(grid.resolve(time)?),
                RevisionPick::AsOf(instant) => day.as_of(instant),
            };
            let (actual, notes) = self.actual(t, &grid, now)?;
            Ok(DayView::new(grid.clone(), &day, shown, actual, now, notes))
        })
    }

    /// The plan revisions of `date` and the one in force.
    pub fn revisions(&self, date: NaiveDate) -> Result<RevisionList> {
        let day = self.store.read().day_plan(date)?;
        Ok(RevisionList {
            date,
            revisions: day.revisions.iter().map(RevisionInfo::from).collect(),
            in_force: day.current().map(|r| r.number),
        })
    }

    /// The block that holds `at` and its planned cell; `None` outside the waking span.
    pub fn block_at(&self, at: DateTime<Utc>) -> Result<Option<CurrentBlock>> {
        let date = planning_date(at, self.tz, self.span);
        let grid = self.grid(date);
        let Some(index) = grid.index_at(at) else {
            return Ok(None);
        };
        let day = self.store.read().day_plan(date)?;
        let block = &grid.blocks[index];
        Ok(Some(CurrentBlock {
            date,
            index,
            start: block.start,
            end: block.end(),
            local: block.label_with_offset(),
            planned: day.cells().get(&block.wall).cloned(),
        }))
    }

    /// The labels, categories and colours in use, for a picker.
    pub fn palette(&self) -> Result<Palette> {
        let styles = self.store.read().styles_in_use()?;
        let mut categories: Vec<String> = Vec::new();
        let mut colors: Vec<Color> = Vec::new();
        for s in &styles {
            if let Some(c) = &s.category
                && !categories.contains(c)
            {
                categories.push(c.clone());
            }
            if let Some(c) = &s.color
                && !colors.contains(c)
            {
                colors.push(c.clone());
            }
        }
        let labels = styles
            .into_iter()
            .map(|s| LabelUse {
                chosen: s.color.is_some(),
                color: s.color.unwrap_or_else(|| Color::for_label(&s.label)),
                label: s.label,
                category: s.category,
                blocks: s.blocks,
            })
            .collect();
        Ok(Palette {
            labels,
            categories,
            colors,
            named_colors: Color::named(),
        })
    }

    /// The entries recorded by hand that overlap `date`'s waking span.
    pub fn recorded(&self, date: NaiveDate) -> Result<Vec<ManualEntry>> {
        let grid = self.grid(date);
        Ok(self
            .store
            .read()
            .manual_between(grid.wake, grid.sleep)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::Blocks;
    use crate::ops::edit::{DidRequest, PlanRequest, ReplanFrom};
    use crate::plan::Conflict;

    fn paint(label: &str, range: &str, category: Option<&str>, color: Option<&str>) -> PlanRequest {
        PlanRequest {
            date: date("2026-03-05"),
            blocks: blocks(range),
            label: label.into(),
            category: category.map(Into::into),
            color: color.map(|c| Color::parse(c).unwrap()),
            conflict: Conflict::Refuse,
        }
    }

    #[test]
    fn any_revision_of_a_day_and_the_one_in_force() {
        let mut f = planner("UTC", "2026-03-05T07:30:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        assert_eq!(p.revisions(d).unwrap().in_force, None);
        assert_eq!(p.day(d, RevisionPick::InForce).unwrap().revision, None);
        p.plan(&paint("deep work", "09:00-12:00", None, None))
            .unwrap();
        p.set_clock(crate::ops::Clock::Fixed(at("2026-03-05T10:43:00Z")));
        let r = p.replan(d, ReplanFrom::Now, true).unwrap();
        assert_eq!((r.revision, r.from.as_str()), (2, "10:40"));
        p.plan(&paint("review", "10:40-12:00", None, None)).unwrap();

        let list = p.revisions(d).unwrap();
        assert_eq!(list.in_force, Some(2));
        assert_eq!(
            list.revisions.iter().map(|r| r.number).collect::<Vec<_>>(),
            [1, 2]
        );
        let label = |v: &DayView, i: usize| {
            v.blocks[i]
                .planned
                .as_ref()
                .map(|c| c.label.clone())
                .unwrap_or_default()
        };
        let now = p.day(d, RevisionPick::InForce).unwrap();
        assert_eq!(
            (label(&now, 20), label(&now, 24)),
            ("deep work".into(), "review".into())
        );
        let first = p.day(d, RevisionPick::Number(1)).unwrap();
        assert_eq!((first.revision, first.in_force()), (Some(1), Some(2)));
        assert_eq!(label(&first, 24), "deep work");
        let nine = p
            .day(d, RevisionPick::At("09:00".parse().unwrap()))
            .unwrap();
        assert_eq!(nine.revision, Some(1));
        let early = p
            .day(d, RevisionPick::AsOf(at("2026-03-05T07:00:00Z")))
            .unwrap();
        assert_eq!(early.revision, None);
        assert!(early.blocks.iter().all(|b| b.planned.is_none()));
        assert!(matches!(
            p.day(d, RevisionPick::Number(3)),
            Err(crate::PlannerError::UnknownRevision { count: 2, .. })
        ));
    }

    #[test]
    fn the_block_at_an_instant_and_its_label() {
        let mut f = planner("Europe/Berlin", "2026-03-05T07:30:00Z");
        let p = &mut f.planner;
        p.plan(&paint("deep work", "09:00-10:00", None, None))
            .unwrap();
        let b = p.block_at(at("2026-03-05T08:25:00Z")).unwrap().unwrap();
        assert_eq!(
            (b.index, b.local.as_str(), b.label()),
            (14, "09:20", Some("deep work"))
        );
        assert_eq!(b.start, at("2026-03-05T08:20:00Z"));
        let free = p.block_at(at("2026-03-05T10:00:00Z")).unwrap().unwrap();
        assert_eq!(free.label(), None);
        assert_eq!(p.block_at(at("2026-03-05T03:00:00Z")).unwrap(), None);
    }

    #[test]
    fn the_palette_lists_what_is_in_use_most_used_first() {
        let mut f = planner("UTC", "2026-03-05T07:30:00Z");
        let p = &mut f.planner;
        p.plan(&paint(
            "deep work",
            "09:00-11:00",
            Some("focus"),
            Some("blue"),
        ))
        .unwrap();
        p.plan(&paint("email", "11:00-11:30", Some("admin"), None))
            .unwrap();
        p.plan(&paint(
            "reading",
            "14:00-14:10",
            Some("focus"),
            Some("#102030"),
        ))
        .unwrap();
        let palette = p.palette().unwrap();
        let labels: Vec<(&str, &str, bool, usize)> = palette
            .labels
            .iter()
            .map(|l| (l.label.as_str(), l.color.as_str(), l.chosen, l.blocks))
            .collect();
        assert_eq!(
            labels,
            [
                ("deep work", "blue", true, 12),
                ("email", Color::for_label("email").as_str(), false, 3),
                ("reading", "#102030", true, 1)
            ]
        );
        assert_eq!(palette.categories, ["focus", "admin"]);
        assert_eq!(
            palette.colors,
            [
                Color::parse("blue").unwrap(),
                Color::parse("#102030").unwrap()
            ]
        );
        assert!(palette.named_colors.len() >= 14);
    }

    #[test]
    fn recorded_entries_of_a_day() {
        let mut f = planner("UTC", "2026-03-05T18:00:00Z");
        let p = &mut f.planner;
        p.did(&DidRequest {
            date: date("2026-03-05"),
            blocks: Blocks::Index(42..48),
            label: "review".into(),
            category: Some("code".into()),
            conflict: Conflict::Refuse,
        })
        .unwrap();
        let entries = p.recorded(date("2026-03-05")).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].start, entries[0].end),
            (at("2026-03-05T14:00:00Z"), at("2026-03-05T15:00:00Z"))
        );
        assert!(p.recorded(date("2026-03-06")).unwrap().is_empty());
    }
}
