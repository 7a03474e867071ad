//! What a day is planned to hold: labels, categories and colours over blocks, and the
//! revisions a day's plan goes through when it is re-planned.
//!
//! Plans are kept as local date + wall-clock key ([`WallTime`]) so 09:00 stays 09:00 in
//! whatever zone the day is shown. Re-planning works the way Cal Newport's time-block planning
//! does: when the day goes off plan, the rest of it is planned again in a new revision, and
//! the earlier revision is kept, so "what was planned at 9:00" can still be shown.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::WallTime;
use crate::error::{PlannerError, Result};
use crate::grid::Grid;

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

/// A block colour: one of a few names, or `#rrggbb`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Color(String);

/// The named colours and the RGB the terminal shows them in.
const NAMED: &[(&str, (u8, u8, u8))] = &[
    ("red", (205, 49, 49)),
    ("green", (13, 160, 90)),
    ("yellow", (200, 170, 20)),
    ("blue", (36, 114, 200)),
    ("magenta", (188, 63, 188)),
    ("cyan", (17, 168, 205)),
    ("white", (229, 229, 229)),
    ("black", (40, 40, 40)),
    ("gray", (128, 128, 128)),
    ("orange", (230, 126, 34)),
    ("purple", (128, 70, 190)),
    ("pink", (230, 110, 160)),
    ("brown", (150, 95, 50)),
    ("teal", (0, 128, 128)),
];

impl Color {
    pub fn parse(input: &str) -> Result<Color> {
        let s = input.trim().to_ascii_lowercase();
        let s = if s == "grey" { "gray".to_owned() } else { s };
        let ok = NAMED.iter().any(|(n, _)| *n == s)
            || (s.len() == 7
                && s.starts_with('#')
                && s[1..].bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            Ok(Color(s))
        } else {
            Err(PlannerError::BadColor {
                input: input.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A colour name from CSS (RFC 7986's `COLOR` property takes only those).
    pub fn is_named(&self) -> bool {
        !self.0.starts_with('#')
    }

    pub fn rgb(&self) -> (u8, u8, u8) {
        if let Some(hex) = self.0.strip_prefix('#') {
            let p = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
            return (p(0), p(2), p(4));
        }
        NAMED
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, rgb)| *rgb)
            .unwrap_or((128, 128, 128))
    }

    /// A stable colour for a label that has none, so the same task looks the same every day.
    pub fn for_label(label: &str) -> Color {
        const PALETTE: &[&str] = &[
            "blue", "green", "orange", "purple", "teal", "magenta", "brown", "cyan", "pink", "red",
        ];
        let h = label
            .to_lowercase()
            .bytes()
            .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
        Color(PALETTE[h as usize % PALETTE.len()].to_owned())
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Color::parse(&s).map_err(serde::de::Error::custom)
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
        if range.start < first {
            let rev = self.current().expect("a revision with a start exists");
            return Err(PlannerError::BeforeRevision {
                at: grid.describe(range.start..first.min(range.end)),
                date: self.date.to_string(),
                from: rev.from.map(|w| w.to_string()).unwrap_or_default(),
                revision: rev.number,
            });
        }
        Ok(())
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
        self.revisions.last_mut().expect("just ensured")
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
        if conflict == Conflict::Refuse {
            self.refuse_overlap(grid, &range, in_the_way)?;
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
        let Some(first) = range.clone().find(|&i| blocking(i).is_some()) else {
            return Ok(());
        };
        let label = blocking(first).expect("found").label.clone();
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
        Ok(self.revisions.last().expect("just pushed"))
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
mod tests {
    use super::*;
    use crate::clock::Rounding;
    use crate::grid::{DaySpan, parse_tz};

    fn grid() -> Grid {
        Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::default(),
        )
    }

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-03-05T{s}:00Z").parse().unwrap()
    }

    fn r(g: &Grid, s: &str) -> Range<usize> {
        g.range(s.parse().unwrap(), Rounding::Strict).unwrap()
    }

    fn labels(plan: &DayPlan, g: &Grid, rev: Option<&Revision>) -> String {
        plan.runs(g, rev)
            .into_iter()
            .map(|(range, c)| format!("{} {}", g.describe(range), c.label))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn assign_refuses_overlaps_and_names_them() {
        let g = grid();
        let mut p = DayPlan::new(g.date);
        let email = Cell::new("email").unwrap();
        let deep = Cell::new("deep work").unwrap().with_category(Some("focus"));
        assert_eq!(
            p.assign(
                &g,
                r(&g, "10:00-10:30"),
                &email,
                Conflict::Refuse,
                at("08:00")
            )
            .unwrap(),
            3
        );
        let e = p
            .assign(
                &g,
                r(&g, "09:00-11:30"),
                &deep,
                Conflict::Refuse,
                at("08:00"),
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "09:00-11:30 overlaps the planned `email` at 10:00-10:30 on 2026-03-05; clear it first \
             (`blocks clear 10:00-10:30 --date 2026-03-05`) or pass --replace"
        );
        // Nothing was half-written.
        assert_eq!(labels(&p, &g, None), "10:00-10:30 email");
        p.assign(
            &g,
            r(&g, "09:00-11:30"),
            &deep,
            Conflict::Replace,
            at("08:00"),
        )
        .unwrap();
        assert_eq!(labels(&p, &g, None), "09:00-11:30 deep work");
        // Planning the same thing again is not a conflict.
        assert_eq!(
            p.assign(
                &g,
                r(&g, "09:00-10:00"),
                &deep,
                Conflict::Refuse,
                at("08:00")
            )
            .unwrap(),
            0
        );
        assert_eq!(p.revisions.len(), 1);
    }

    #[test]
    fn replan_keeps_the_earlier_revisions() {
        let g = grid();
        let mut p = DayPlan::new(g.date);
        let deep = Cell::new("deep work").unwrap();
        let email = Cell::new("email").unwrap();
        let review = Cell::new("review").unwrap();
        p.assign(
            &g,
            r(&g, "09:00-12:00"),
            &deep,
            Conflict::Refuse,
            at("07:30"),
        )
        .unwrap();
        p.assign(
            &g,
            r(&g, "14:00-15:00"),
            &email,
            Conflict::Refuse,
            at("07:35"),
        )
        .unwrap();

        // At 10:40 the morning went off plan: re-plan from the current block.
        let now = at("10:40");
        let from = g.index_at(now).unwrap();
        let rev = p.replan(&g, from, true, now).unwrap();
        assert_eq!(
            (rev.number, rev.from),
            (2, Some(WallTime::new(10 * 60 + 40)))
        );
        p.assign(&g, r(&g, "10:40-12:00"), &review, Conflict::Refuse, now)
            .unwrap();
        let e = p
            .assign(&g, r(&g, "09:00-09:30"), &review, Conflict::Replace, now)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("09:00-09:30 on 2026-03-05 is before 10:40"),
            "{e}"
        );

        assert_eq!(
            labels(&p, &g, None),
            "09:00-10:40 deep work, 10:40-12:00 review"
        );
        let at_nine = p.as_of(at("09:00")).unwrap();
        assert_eq!(at_nine.number, 1);
        assert_eq!(
            labels(&p, &g, Some(at_nine)),
            "09:00-12:00 deep work, 14:00-15:00 email"
        );
        assert_eq!(p.as_of(at("14:00")).unwrap().number, 2);
        assert!(p.as_of(at("07:00")).is_none());
    }

    #[test]
    fn replan_needs_a_plan() {
        let g = grid();
        let mut p = DayPlan::new(g.date);
        assert!(matches!(
            p.replan(&g, 3, false, at("08:00")),
            Err(PlannerError::NothingToReplan { .. })
        ));
    }

    #[test]
    fn fixed_blocks_update_by_uid() {
        let g = grid();
        let mut p = DayPlan::new(g.date);
        let standup = Cell::new("standup").unwrap().fixed("ev-1");
        p.place_fixed(
            &g,
            r(&g, "09:00-09:30"),
            &standup,
            Conflict::Refuse,
            at("07:00"),
        )
        .unwrap();
        assert_eq!(p.remove_fixed(&g, &["ev-1".to_owned()], at("07:00")), 3);
        p.place_fixed(
            &g,
            r(&g, "10:00-10:20"),
            &standup,
            Conflict::Refuse,
            at("07:00"),
        )
        .unwrap();
        assert_eq!(labels(&p, &g, None), "10:00-10:20 standup");
    }

    #[test]
    fn calendar_blocks_before_a_replan_stay_as_planned() {
        let g = grid();
        let mut p = DayPlan::new(g.date);
        let standup = Cell::new("standup").unwrap().fixed("ev-1");
        let review = Cell::new("review").unwrap().fixed("ev-2");
        for (range, cell) in [("09:00-09:30", &standup), ("13:30-15:00", &review)] {
            p.place_fixed(&g, r(&g, range), cell, Conflict::Refuse, at("07:00"))
                .unwrap();
        }
        let wide = Grid::new(g.date, g.tz, DaySpan::parse("06:00", "01:00").unwrap());
        let early = Cell::new("early").unwrap().fixed("ev-3");
        p.place_fixed(
            &wide,
            r(&wide, "06:00-06:10"),
            &early,
            Conflict::Refuse,
            at("05:00"),
        )
        .unwrap();
        let now = at("14:05");
        p.replan(&g, g.index_at(now).unwrap(), false, now).unwrap();

        // The calendar's part before 14:00 is history; only the rest may change.
        let (before, after) = p.split_at_revision(&g, r(&g, "13:30-15:00"));
        assert_eq!(
            (g.describe(before), g.describe(after)),
            ("13:30-14:00".into(), "14:00-15:00".into())
        );
        let (before, after) = p.split_at_revision(&g, r(&g, "09:00-09:30"));
        assert_eq!((before, after.is_empty()), (r(&g, "09:00-09:30"), true));
        let e = p
            .place_fixed(&g, r(&g, "09:00-09:30"), &review, Conflict::Replace, now)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("09:00-09:30 on 2026-03-05 is before 14:00"),
            "{e}"
        );

        // Blocks placed under a wider waking span, outside this grid, go by their clock time.
        let late = Cell::new("late").unwrap().fixed("ev-4");
        p.place_fixed(&wide, r(&wide, "00:20-00:40"), &late, Conflict::Refuse, now)
            .unwrap();

        // A re-import removes the events' blocks from 14:00 on, and no earlier.
        let uids = ["ev-1", "ev-2", "ev-3", "ev-4"].map(str::to_owned);
        assert_eq!(p.remove_fixed(&g, &uids, now), 6 + 2);
        assert_eq!(
            labels(&p, &g, None),
            "09:00-09:30 standup, 13:30-14:00 review"
        );
        assert_eq!(p.off_grid(&g), 1, "06:00 `early` stays");
        assert_eq!(p.remove_fixed(&g, &uids, now), 0);
        assert_eq!(
            labels(&p, &g, p.revision(1).ok()),
            "09:00-09:30 standup, 13:30-15:00 review"
        );
    }

    #[test]
    fn colours() {
        assert_eq!(Color::parse("Grey").unwrap().as_str(), "gray");
        assert_eq!(Color::parse("#FF8000").unwrap().rgb(), (255, 128, 0));
        assert!(Color::parse("chartreuse-ish").is_err());
        assert_eq!(Color::for_label("deep work"), Color::for_label("Deep Work"));
    }
}
