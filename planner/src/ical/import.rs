//! Laying imported events onto days as fixed blocks, and writing them.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::parse::Parsed;
use crate::error::Result;
use crate::grid::{DaySpan, Grid};
use crate::plan::{Cell, Conflict, DayPlan};
use crate::store::Txn;

/// Where an imported event goes: a run of blocks on one day.
#[derive(Clone, Debug)]
pub struct Placement {
    pub grid: Grid,
    pub blocks: Range<usize>,
    pub cell: Cell,
}

/// A calendar's events laid onto days, ready to write.
#[derive(Clone, Debug)]
pub struct Import {
    /// Every event's UID, placed or not, cancelled ones too: blocks from earlier imports of
    /// these events are removed before the events are placed again.
    pub uids: Vec<String>,
    pub placements: Vec<Placement>,
    /// What was skipped or cut, and why.
    pub notes: Vec<String>,
    /// The zone and waking span the events were laid out in.
    tz: Tz,
    span: DaySpan,
}

/// What writing an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The dates whose plan changed.
    pub dates: Vec<NaiveDate>,
    /// Events with blocks placed (all of them, or their part after a re-plan).
    pub imported: usize,
    /// One line per day with events before a re-plan, which were left as planned.
    pub notes: Vec<String>,
}

/// An event (or its start) that fell before its day's re-plan, and was not imported there.
struct LeftAlone<'a> {
    placement: &'a Placement,
    before: Range<usize>,
    /// The rest of the event, after the re-plan, was imported.
    rest_imported: bool,
}

impl Import {
    /// Lays the events onto days of `tz` with the waking span `span`. Each event goes to the
    /// day whose waking span holds its start (or, failing that, any of it): the day before its
    /// local date when that day runs past midnight. Events of the file that overlap share
    /// their blocks (see [`without_overlaps`]).
    pub fn new(parsed: Parsed, tz: Tz, span: DaySpan) -> Import {
        let mut notes = parsed.warnings;
        let mut placed = Vec::new();
        let mut grids: BTreeMap<NaiveDate, Grid> = BTreeMap::new();
        for ev in &parsed.events {
            let d = ev.start.with_timezone(&tz).date_naive();
            let candidates = [d - Duration::days(1), d];
            for c in candidates {
                grids.entry(c).or_insert_with(|| Grid::new(c, tz, span));
            }
            let holds_start = |c: &&NaiveDate| {
                let g = &grids[*c];
                ev.start >= g.wake && ev.start < g.sleep
            };
            let found = candidates
                .iter()
                .filter(holds_start)
                .chain(&candidates)
                .find_map(|c| Some((&grids[c], grids[c].touching(ev.start, ev.end)?)));
            let Some((grid, blocks)) = found else {
                notes.push(format!(
                    "skipped `{}` at {}: outside the waking span {span}",
                    ev.summary,
                    ev.start.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                ));
                continue;
            };
            let (start, end) = grid.instants(blocks.clone());
            if start > ev.start || end < ev.end {
                notes.push(format!(
                    "`{}` was cut to the waking span: {}",
                    ev.summary,
                    grid.describe(blocks.clone())
                ));
            }
            let placement = Placement {
                grid: grid.clone(),
                blocks,
                cell: ev.cell(),
            };
            placed.push((ev.start, placement));
        }
        let placements = without_overlaps(placed, &mut notes);
        Import {
            uids: parsed
                .events
                .into_iter()
                .map(|e| e.uid)
                .chain(parsed.cancelled)
                .collect(),
            placements,
            notes,
            tz,
            span,
        }
    }

    /// Writes the events as fixed blocks, after removing the blocks earlier imports of the
    /// same events left. A day's blocks before its re-plan are history: they keep what was
    /// planned, so events (or the parts of events) there are left out, and earlier blocks of
    /// these events there stay.
    pub fn write(&self, txn: &Txn<'_>, conflict: Conflict, now: DateTime<Utc>) -> Result<Written> {
        let mut days: BTreeMap<NaiveDate, (DayPlan, DayPlan)> = BTreeMap::new();
        for d in txn.dates_with_uids(&self.uids)? {
            let stored = txn.day_plan(d)?;
            let mut day = stored.clone();
            day.remove_fixed(&Grid::new(d, self.tz, self.span), &self.uids, now);
            days.insert(d, (stored, day));
        }
        let mut written = Written::default();
        let mut imported = BTreeSet::new();
        let mut left: BTreeMap<NaiveDate, Vec<LeftAlone>> = BTreeMap::new();
        for p in &self.placements {
            let (_, day) = match days.entry(p.grid.date) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => {
                    let stored = txn.day_plan(p.grid.date)?;
                    v.insert((stored.clone(), stored))
                }
            };
            let (before, after) = day.split_at_revision(&p.grid, p.blocks.clone());
            if !before.is_empty() {
                left.entry(p.grid.date).or_default().push(LeftAlone {
                    placement: p,
                    before,
                    rest_imported: !after.is_empty(),
                });
            }
            if !after.is_empty() {
                day.place_fixed(&p.grid, after, &p.cell, conflict, now)?;
                imported.insert(&p.cell.fixed_uid);
            }
        }
        written.imported = imported.len();
        for (date, (stored, day)) in &days {
            if day != stored {
                txn.save_day_plan(day)?;
                written.dates.push(*date);
            }
        }
        for (date, events) in left {
            let (_, day) = &days[&date];
            written.notes.push(left_alone_note(day, &events));
        }
        Ok(written)
    }
}

/// Events of one file never overwrite each other: where two touch the same block (two
/// meetings at 10:00-10:25 and 10:25-11:00 both touch 10:20), the one that starts first (the
/// earlier in the file on a tie) keeps it, and the other is placed on the blocks left to it,
/// or not at all. A note says which.
fn without_overlaps(
    mut placed: Vec<(DateTime<Utc>, Placement)>,
    notes: &mut Vec<String>,
) -> Vec<Placement> {
    placed.sort_by_key(|(start, _)| *start);
    let mut held: HashMap<(NaiveDate, usize), &Cell> = HashMap::new();
    let mut out = Vec::new();
    for (_, p) in &placed {
        let date = p.grid.date;
        let holder = |i: usize| {
            held.get(&(date, i))
                .copied()
                .filter(|c| c.fixed_uid != p.cell.fixed_uid)
        };
        let taken: Vec<usize> = p.blocks.clone().filter(|&i| holder(i).is_some()).collect();
        let (Some(&first), Some(&last)) = (taken.first(), taken.last()) else {
            out.push(p.clone());
            for i in p.blocks.clone() {
                held.insert((date, i), &p.cell);
            }
            continue;
        };
        let other = holder(first).map_or("", |c| c.label.as_str());
        let free = crate::plan::runs(
            &p.blocks
                .clone()
                .map(|i| holder(i).is_none().then_some(&()))
                .collect::<Vec<_>>(),
        );
        let what = format!(
            "`{}` {} on {date} overlaps `{other}`, another event of this file, at {}",
            p.cell.label,
            p.grid.describe(p.blocks.clone()),
            p.grid.describe(first..last + 1),
        );
        if free.is_empty() {
            notes.push(format!("{what}: not imported"));
            continue;
        }
        let parts: Vec<String> = free
            .iter()
            .map(|(r, _)| {
                p.grid
                    .describe(r.start + p.blocks.start..r.end + p.blocks.start)
            })
            .collect();
        notes.push(format!("{what}: imported {}", parts.join(", ")));
        for (r, _) in free {
            let blocks = r.start + p.blocks.start..r.end + p.blocks.start;
            for i in blocks.clone() {
                held.insert((date, i), &p.cell);
            }
            out.push(Placement {
                blocks,
                ..p.clone()
            });
        }
    }
    out
}

/// `2026-03-05: 2 events before the re-plan at 14:00 left as they were planned: ...`
fn left_alone_note(day: &DayPlan, events: &[LeftAlone]) -> String {
    let from = day
        .current()
        .and_then(|r| r.from)
        .map(|w| w.to_string())
        .unwrap_or_default();
    let what: Vec<String> = events
        .iter()
        .map(|e| {
            let p = e.placement;
            let rest = if e.rest_imported {
                " (the rest was imported)"
            } else {
                ""
            };
            format!(
                "`{}` {}{rest}",
                p.cell.label,
                p.grid.describe(e.before.clone())
            )
        })
        .collect();
    let (n, were) = match events.len() {
        1 => ("1 event".to_owned(), "it was"),
        n => (format!("{n} events"), "they were"),
    };
    format!(
        "{}: {n} before the re-plan at {from} left as {were} planned: {}",
        day.date,
        what.join(", ")
    )
}
