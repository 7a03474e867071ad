//! What was actually done: entries recorded by hand (`blocks did`) and activity spans from
//! the other tools, joined across short gaps and laid onto the day's blocks.
//!
//! Actual time is kept as UTC instants plus the IANA zone it was recorded in. This module
//! defines the activity it accepts ([`Activity`]); turning another tool's records into
//! activity happens at the edge (`sources`), so the core depends on no other crate.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::grid::Grid;

/// A span of time spent on something, from any source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Where it came from: `manual`, `lsp`, `snaprun`.
    pub source: String,
    /// What it counts as when compared with the plan.
    pub label: String,
    /// The workspace it happened in, when a tool knows one.
    pub workspace: Option<String>,
}

/// Source name of entries recorded with `blocks did`.
pub const MANUAL: &str = "manual";

/// An entry recorded by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualEntry {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The IANA zone the entry was recorded in.
    pub tz: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl ManualEntry {
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.start < end && start < self.end
    }

    /// What is left of this entry once `[start, end)` is cut out of it: none, one or two
    /// pieces.
    pub fn without(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<ManualEntry> {
        if !self.overlaps(start, end) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        if self.start < start {
            out.push(ManualEntry {
                end: start,
                ..self.clone()
            });
        }
        if end < self.end {
            out.push(ManualEntry {
                start: end,
                ..self.clone()
            });
        }
        out
    }
}

/// Joins spans of the same source, label and workspace whose gap is at most `gap`; the rest
/// stay apart. The result is sorted by start.
pub fn join(mut spans: Vec<Activity>, gap: Duration) -> Vec<Activity> {
    spans.retain(|a| a.end > a.start);
    let mut by_key: BTreeMap<(String, String, Option<String>), Vec<Activity>> = BTreeMap::new();
    for a in spans {
        by_key
            .entry((a.source.clone(), a.label.clone(), a.workspace.clone()))
            .or_default()
            .push(a);
    }
    let mut out = Vec::new();
    for (_, mut group) in by_key {
        group.sort_by_key(|a| a.start);
        let mut cur: Option<Activity> = None;
        for a in group {
            cur = match cur {
                Some(mut c) if a.start <= c.end + gap => {
                    c.end = c.end.max(a.end);
                    Some(c)
                }
                Some(c) => {
                    out.push(c);
                    Some(a)
                }
                None => Some(a),
            };
        }
        out.extend(cur);
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.label.cmp(&b.label)));
    out
}

/// What a block actually held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActualCell {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub source: String,
    /// Seconds of the block it covered.
    pub seconds: i64,
}

/// Lays actual time onto the blocks of `grid`. A block takes the entry that covers most of
/// it; entries made by hand win over automatic activity, since the person knows better.
pub fn fill(grid: &Grid, manual: &[ManualEntry], activity: &[Activity]) -> Vec<Option<ActualCell>> {
    grid.blocks
        .iter()
        .map(|b| {
            let block = (b.start, b.end());
            if let Some((seconds, m)) = most_covering(manual, block, |m| (m.start, m.end)) {
                return Some(ActualCell {
                    label: m.label.clone(),
                    category: m.category.clone(),
                    source: MANUAL.into(),
                    seconds,
                });
            }
            most_covering(activity, block, |a| (a.start, a.end)).map(|(seconds, a)| ActualCell {
                label: a.label.clone(),
                category: None,
                source: a.source.clone(),
                seconds,
            })
        })
        .collect()
}

/// The item whose span covers most of `[start, end)`, with the seconds it covers; on a tie,
/// the one that started first.
fn most_covering<T>(
    items: &[T],
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    span: impl Fn(&T) -> (DateTime<Utc>, DateTime<Utc>),
) -> Option<(i64, &T)> {
    items
        .iter()
        .map(|x| {
            let (s, e) = span(x);
            ((e.min(end) - s.max(start)).num_seconds(), s, x)
        })
        .filter(|(seconds, _, _)| *seconds > 0)
        .max_by_key(|(seconds, s, _)| (*seconds, std::cmp::Reverse(*s)))
        .map(|(seconds, _, x)| (seconds, x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{DaySpan, parse_tz};

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-03-05T{s}Z").parse().unwrap()
    }

    fn act(start: &str, end: &str, source: &str, label: &str) -> Activity {
        Activity {
            start: t(start),
            end: t(end),
            source: source.into(),
            label: label.into(),
            workspace: Some(format!("/src/{label}")),
        }
    }

    #[test]
    fn joins_spans_closer_than_the_gap() {
        let spans = vec![
            act("09:00:00", "09:02:00", "lsp", "retrace"),
            act("09:10:00", "09:12:00", "lsp", "retrace"),
            act("09:40:00", "09:42:00", "lsp", "retrace"),
            act("09:05:00", "09:30:00", "snaprun", "retrace"),
        ];
        let joined = join(spans, Duration::minutes(15));
        let got: Vec<String> = joined
            .iter()
            .map(|a| {
                format!(
                    "{} {}-{}",
                    a.source,
                    a.start.format("%H:%M"),
                    a.end.format("%H:%M")
                )
            })
            .collect();
        assert_eq!(
            got,
            ["lsp 09:00-09:12", "snaprun 09:05-09:30", "lsp 09:40-09:42"]
        );
        // With a 5-minute timeout the 8-minute gap splits them.
        assert_eq!(
            join(
                vec![
                    act("09:00:00", "09:02:00", "lsp", "a"),
                    act("09:10:00", "09:12:00", "lsp", "a")
                ],
                Duration::minutes(5)
            )
            .len(),
            2
        );
    }

    #[test]
    fn activity_fills_blocks_and_manual_entries_win() {
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::default(),
        );
        let activity = join(
            vec![
                act("09:00:00", "09:03:00", "lsp", "retrace"),
                act("09:14:00", "09:31:00", "lsp", "retrace"),
            ],
            Duration::minutes(15),
        );
        let manual = vec![ManualEntry {
            start: t("09:20:00"),
            end: t("09:30:00"),
            tz: "UTC".into(),
            label: "review".into(),
            category: Some("code".into()),
        }];
        let cells = fill(&g, &manual, &activity);
        let at = |i: usize| {
            cells[i]
                .as_ref()
                .map(|c| format!("{}/{}", c.label, c.source))
        };
        assert_eq!(at(12).as_deref(), Some("retrace/lsp")); // 09:00
        assert_eq!(at(13).as_deref(), Some("retrace/lsp")); // 09:10, joined across the gap
        assert_eq!(at(14).as_deref(), Some("review/manual")); // 09:20
        assert_eq!(at(15).as_deref(), Some("retrace/lsp")); // 09:30, one minute of it
        assert_eq!(cells[15].as_ref().unwrap().seconds, 60);
        assert_eq!(at(16), None);
        assert_eq!(cells.iter().flatten().count(), 4);
    }

    #[test]
    fn cutting_a_range_out_of_an_entry() {
        let e = ManualEntry {
            start: t("09:00:00"),
            end: t("10:00:00"),
            tz: "UTC".into(),
            label: "x".into(),
            category: None,
        };
        let pieces = e.without(t("09:20:00"), t("09:30:00"));
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            (pieces[0].end, pieces[1].start),
            (t("09:20:00"), t("09:30:00"))
        );
        assert!(e.without(t("08:00:00"), t("11:00:00")).is_empty());
        assert_eq!(e.without(t("10:00:00"), t("11:00:00")), vec![e.clone()]);
    }
}
