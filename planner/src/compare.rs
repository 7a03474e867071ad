//! Planned against actual: per block, per label, per category, and adherence (the share of
//! planned blocks, already over, whose actual matched the plan) for a day and a week.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::actual::ActualCell;
use crate::grid::Grid;
use crate::plan::Cell;

/// How one block went.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as planned.
    Matched,
    /// Planned one thing, did another.
    Different,
    /// Planned, over, and nothing recorded.
    Missed,
    /// Not planned, something done.
    Unplanned,
    /// Planned and not over yet.
    Pending,
    /// Nothing planned, nothing done.
    Free,
}

/// Whether what was done counts as the plan: the same label (ignoring case and surrounding
/// space), or the same category when both have one.
pub fn matches(planned: &Cell, actual: &ActualCell) -> bool {
    let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
    same(&planned.label, &actual.label)
        || matches!((&planned.category, &actual.category), (Some(p), Some(a)) if same(p, a))
}

/// Counts for one label or category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub name: String,
    /// Blocks planned for it.
    pub planned: u32,
    /// Blocks actually spent on it.
    pub actual: u32,
    /// Planned blocks, over by now, where it was done.
    pub matched: u32,
    /// Planned blocks that are over by now.
    pub due: u32,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.planned += o.planned;
        self.actual += o.actual;
        self.matched += o.matched;
        self.due += o.due;
    }
}

/// Matched of due planned blocks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Adherence {
    pub matched: u32,
    pub due: u32,
}

impl Adherence {
    /// The share matched, when any planned block is over.
    pub fn ratio(&self) -> Option<f64> {
        (self.due > 0).then(|| self.matched as f64 / self.due as f64)
    }

    pub fn percent_text(&self) -> String {
        match self.ratio() {
            Some(r) => format!("{}/{} blocks ({:.0}%)", self.matched, self.due, r * 100.0),
            None => "no planned block is due yet".to_owned(),
        }
    }

    fn add(&mut self, o: Adherence) {
        self.matched += o.matched;
        self.due += o.due;
    }
}

/// `{"matched": 6, "due": 10, "ratio": 0.6}`; the ratio is `null` while nothing is due.
impl Serialize for Adherence {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Adherence", 3)?;
        st.serialize_field("matched", &self.matched)?;
        st.serialize_field("due", &self.due)?;
        st.serialize_field("ratio", &self.ratio())?;
        st.end()
    }
}

/// One day's adherence, as a week lists it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayAdherence {
    pub date: NaiveDate,
    #[serde(flatten)]
    pub adherence: Adherence,
}

/// Planned vs actual for one day.
#[derive(Clone, Debug, Serialize)]
pub struct DayComparison {
    pub date: NaiveDate,
    /// Each block's outcome; a day view shows them beside its blocks, a report leaves them out.
    #[serde(skip)]
    pub outcomes: Vec<Outcome>,
    pub by_label: Vec<Tally>,
    pub by_category: Vec<Tally>,
    pub adherence: Adherence,
}

/// Compares a day's plan with what was done, block by block, counting blocks that end by
/// `now` as over.
pub fn compare_day(
    grid: &Grid,
    planned: &[Option<&Cell>],
    actual: &[Option<ActualCell>],
    now: DateTime<Utc>,
) -> DayComparison {
    let mut labels: BTreeMap<String, Tally> = BTreeMap::new();
    let mut categories: BTreeMap<String, Tally> = BTreeMap::new();
    let mut adherence = Adherence::default();
    let mut outcomes = Vec::with_capacity(grid.len());
    for (i, b) in grid.blocks.iter().enumerate() {
        let p = planned.get(i).copied().flatten();
        let a = actual.get(i).and_then(Option::as_ref);
        let over = b.end() <= now;
        let outcome = match (p, a) {
            (Some(p), Some(a)) if matches(p, a) => Outcome::Matched,
            (Some(_), Some(_)) => Outcome::Different,
            (Some(_), None) if over => Outcome::Missed,
            (Some(_), None) => Outcome::Pending,
            (None, Some(_)) => Outcome::Unplanned,
            (None, None) => Outcome::Free,
        };
        outcomes.push(outcome);
        let hit = outcome == Outcome::Matched;
        let due = p.is_some() && (over || hit);
        if due {
            adherence.due += 1;
            adherence.matched += hit as u32;
        }
        if let Some(p) = p {
            let block = Tally {
                planned: 1,
                due: due as u32,
                matched: hit as u32,
                ..Tally::default()
            };
            tally(&mut labels, &p.label).add(&block);
            if let Some(c) = &p.category {
                tally(&mut categories, c).add(&block);
            }
        }
        if let Some(a) = a {
            tally(&mut labels, &a.label).actual += 1;
            if let Some(c) = &a.category {
                tally(&mut categories, c).actual += 1;
            }
        }
    }
    DayComparison {
        date: grid.date,
        outcomes,
        by_label: sorted(labels),
        by_category: sorted(categories),
        adherence,
    }
}

/// Tallies are keyed case-insensitively and named as first seen.
fn tally<'a>(m: &'a mut BTreeMap<String, Tally>, name: &str) -> &'a mut Tally {
    m.entry(name.trim().to_lowercase())
        .or_insert_with(|| Tally {
            name: name.trim().to_owned(),
            ..Tally::default()
        })
}

fn sorted(m: BTreeMap<String, Tally>) -> Vec<Tally> {
    let mut v: Vec<Tally> = m.into_values().collect();
    v.sort_by(|a, b| {
        (b.planned.max(b.actual))
            .cmp(&a.planned.max(a.actual))
            .then_with(|| a.name.cmp(&b.name))
    });
    v
}

/// Planned vs actual over several days (a week).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub days: Vec<DayAdherence>,
    pub by_label: Vec<Tally>,
    pub by_category: Vec<Tally>,
    pub adherence: Adherence,
}

pub fn summarize(days: &[DayComparison]) -> Summary {
    let mut labels: BTreeMap<String, Tally> = BTreeMap::new();
    let mut categories: BTreeMap<String, Tally> = BTreeMap::new();
    let mut adherence = Adherence::default();
    for d in days {
        adherence.add(d.adherence);
        for (src, dst) in [
            (&d.by_label, &mut labels),
            (&d.by_category, &mut categories),
        ] {
            for t in src {
                tally(dst, &t.name).add(t);
            }
        }
    }
    Summary {
        days: days
            .iter()
            .map(|d| DayAdherence {
                date: d.date,
                adherence: d.adherence,
            })
            .collect(),
        by_label: sorted(labels),
        by_category: sorted(categories),
        adherence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{DaySpan, parse_tz};

    fn cell(label: &str, cat: Option<&str>) -> Cell {
        Cell::new(label).unwrap().with_category(cat)
    }

    fn did(label: &str, cat: Option<&str>) -> Option<ActualCell> {
        Some(ActualCell {
            label: label.into(),
            category: cat.map(Into::into),
            source: "manual".into(),
            seconds: 600,
        })
    }

    #[test]
    fn per_block_label_category_and_adherence() {
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::default(),
        );
        let deep = cell("deep work", Some("focus"));
        let email = cell("email", Some("admin"));
        let mut planned: Vec<Option<&Cell>> = vec![None; g.len()];
        let mut actual: Vec<Option<ActualCell>> = vec![None; g.len()];
        for p in planned.iter_mut().take(18).skip(12) {
            *p = Some(&deep); // 09:00-10:00
        }
        planned[18] = Some(&email); // 10:00
        planned[19] = Some(&email); // 10:10, not over at 10:15
        actual[12] = did("Deep Work", None); // label match, any case
        actual[13] = did("reading", Some("focus")); // category match
        actual[14] = did("chat", None); // different
        actual[30] = did("lunch", None); // unplanned
        let now: DateTime<Utc> = "2026-03-05T10:15:00Z".parse().unwrap();
        let c = compare_day(&g, &planned, &actual, now);
        assert_eq!(
            &c.outcomes[12..20],
            &[
                Outcome::Matched,
                Outcome::Matched,
                Outcome::Different,
                Outcome::Missed,
                Outcome::Missed,
                Outcome::Missed,
                Outcome::Missed,
                Outcome::Pending,
            ]
        );
        assert_eq!(c.outcomes[30], Outcome::Unplanned);
        assert_eq!(c.adherence, Adherence { matched: 2, due: 7 });
        assert_eq!(c.adherence.percent_text(), "2/7 blocks (29%)");
        let deep_t = c.by_label.iter().find(|t| t.name == "deep work").unwrap();
        assert_eq!(
            (deep_t.planned, deep_t.actual, deep_t.matched, deep_t.due),
            (6, 1, 2, 6)
        );
        let focus = c.by_category.iter().find(|t| t.name == "focus").unwrap();
        assert_eq!((focus.planned, focus.actual, focus.matched), (6, 1, 2));

        let week = summarize(&[c.clone(), c]);
        assert_eq!(
            week.adherence,
            Adherence {
                matched: 4,
                due: 14
            }
        );
        assert_eq!(
            week.by_label
                .iter()
                .find(|t| t.name == "deep work")
                .unwrap()
                .planned,
            12
        );
    }
}
