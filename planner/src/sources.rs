//! Automatic activity from the other Retrace tools, joined at the edge.
//!
//! The planner's core accepts [`Activity`] and nothing else. This module turns each tool's
//! records into activity: retrace-lsp navigation visits (instants in a workspace) and snaprun
//! test batches (spans on a workspace). The records are mirrored here as plain structs so the
//! planner depends on neither crate; a [`Fetcher`] reads them through the tool's own library
//! API (never its tables) and [`installed`] lists the fetchers this build has.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::actual::Activity;

/// Source name of retrace-lsp navigation activity.
pub const LSP: &str = "lsp";
/// Source name of snaprun test batches.
pub const SNAPRUN: &str = "snaprun";

/// How long one navigation visit counts on its own; visits closer than the join gap merge
/// into one span (see [`crate::actual::join`]).
pub fn visit_credit() -> Duration {
    Duration::minutes(2)
}

/// A retrace-lsp visit: which workspace, which file, when (`retrace_lsp::activity::Visit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitRecord {
    pub workspace_root: PathBuf,
    pub file: PathBuf,
    pub at_ms: i64,
}

/// A snaprun batch: which workspace, when it started and ended
/// (`snaprun::activity::BatchSpan`). A batch still running has no end yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    pub workspace: PathBuf,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
}

/// The label activity in a workspace counts as: the workspace directory's name, so a plan
/// labelled `retrace` matches work in `~/src/retrace`.
pub fn workspace_label(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| root.display().to_string())
}

fn instant(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// Each visit becomes a short span in its workspace; [`crate::actual::join`] then merges
/// visits closer than the join gap, as WakaTime's heartbeat timeout does.
pub fn activities_from_visits(visits: &[VisitRecord]) -> Vec<Activity> {
    visits
        .iter()
        .filter_map(|v| {
            let start = instant(v.at_ms)?;
            Some(Activity {
                start,
                end: start + visit_credit(),
                source: LSP.into(),
                label: workspace_label(&v.workspace_root),
                workspace: Some(v.workspace_root.display().to_string()),
            })
        })
        .collect()
}

/// Each batch becomes a span on its workspace, up to `now` while it is still running.
pub fn activities_from_batches(batches: &[BatchRecord], now: DateTime<Utc>) -> Vec<Activity> {
    batches
        .iter()
        .filter_map(|b| {
            let start = instant(b.started_ms)?;
            let end = match b.ended_ms {
                Some(ms) => instant(ms)?,
                None => now,
            };
            (end > start).then(|| Activity {
                start,
                end,
                source: SNAPRUN.into(),
                label: workspace_label(&b.workspace),
                workspace: Some(b.workspace.display().to_string()),
            })
        })
        .collect()
}

/// Reads one tool's activity between two instants (milliseconds since the epoch, UTC).
/// `Send + Sync` so a planner can live in another thread (the desktop app's state).
pub type Fetcher =
    Box<dyn Fn(i64, i64, DateTime<Utc>) -> anyhow::Result<Vec<Activity>> + Send + Sync>;

/// A named source of activity.
pub struct Source {
    pub name: &'static str,
    pub fetch: Fetcher,
}

/// Wraps a function returning retrace-lsp visits as a source.
pub fn lsp_source(
    visits_between: impl Fn(i64, i64) -> anyhow::Result<Vec<VisitRecord>> + Send + Sync + 'static,
) -> Source {
    Source {
        name: LSP,
        fetch: Box::new(move |from, to, _now| {
            Ok(activities_from_visits(&visits_between(from, to)?))
        }),
    }
}

/// Wraps a function returning snaprun batches as a source.
pub fn snaprun_source(
    batches_between: impl Fn(i64, i64) -> anyhow::Result<Vec<BatchRecord>> + Send + Sync + 'static,
) -> Source {
    Source {
        name: SNAPRUN,
        fetch: Box::new(move |from, to, now| {
            Ok(activities_from_batches(&batches_between(from, to)?, now))
        }),
    }
}

/// The activity sources this build reads: retrace-lsp visits and snaprun batches, each
/// through its tool's `activity` API, from the tools' default data directories.
pub fn installed() -> Vec<Source> {
    vec![
        lsp_source(|from, to| {
            Ok(retrace_lsp::activity::visits_between(None, from, to)?
                .into_iter()
                .map(|v| VisitRecord {
                    workspace_root: v.workspace_root,
                    file: v.file,
                    at_ms: v.at_ms,
                })
                .collect())
        }),
        snaprun_source(|from, to| {
            Ok(snaprun::activity::batches_between(None, from, to)?
                .into_iter()
                .map(|b| BatchRecord {
                    workspace: b.workspace,
                    started_ms: b.start_ms,
                    ended_ms: b.end_ms,
                })
                .collect())
        }),
    ]
}

/// Activity from every source between two instants. A source that fails does not stop the
/// others: its error comes back as a warning naming the source.
pub fn collect(
    sources: &[Source],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Vec<Activity>, Vec<String>) {
    let mut all = Vec::new();
    let mut warnings = Vec::new();
    for s in sources {
        match (s.fetch)(from.timestamp_millis(), to.timestamp_millis(), now) {
            Ok(mut a) => all.append(&mut a),
            Err(e) => warnings.push(format!("{} activity was not read: {e:#}", s.name)),
        }
    }
    (all, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actual::{fill, join};
    use crate::grid::{DaySpan, Grid, parse_tz};

    fn ms(s: &str) -> i64 {
        format!("2026-03-05T{s}Z")
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_millis()
    }

    fn visit(at: &str, ws: &str) -> VisitRecord {
        VisitRecord {
            workspace_root: PathBuf::from(ws),
            file: PathBuf::from(format!("{ws}/src/lib.rs")),
            at_ms: ms(at),
        }
    }

    #[test]
    fn visits_and_batches_fill_the_actual_blocks() {
        let visits = vec![
            visit("09:01:00", "/home/me/src/retrace"),
            visit("09:09:00", "/home/me/src/retrace"),
            visit("09:21:00", "/home/me/src/retrace"),
            visit("11:00:00", "/home/me/src/other"),
        ];
        let batches = vec![
            BatchRecord {
                workspace: "/home/me/src/retrace".into(),
                started_ms: ms("10:00:00"),
                ended_ms: Some(ms("10:25:00")),
            },
            BatchRecord {
                workspace: "/home/me/src/retrace".into(),
                started_ms: ms("12:00:00"),
                ended_ms: None,
            },
        ];
        let now: DateTime<Utc> = "2026-03-05T12:15:00Z".parse().unwrap();
        let sources = vec![
            lsp_source(move |_, _| Ok(visits.clone())),
            snaprun_source(move |_, _| Ok(batches.clone())),
            Source {
                name: "broken",
                fetch: Box::new(|_, _, _| anyhow::bail!("database is locked")),
            },
        ];
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::default(),
        );
        let (activity, warnings) = collect(&sources, g.wake, g.sleep, now);
        assert_eq!(
            warnings,
            ["broken activity was not read: database is locked"]
        );
        let joined = join(activity, Duration::minutes(15));
        let cells = fill(&g, &[], &joined);
        let at = |hhmm: &str| {
            let i = g.blocks.iter().position(|b| b.label() == hhmm).unwrap();
            cells[i]
                .as_ref()
                .map(|c| format!("{}/{}", c.label, c.source))
                .unwrap_or_default()
        };
        // 09:01-09:23 is one joined span of visits.
        assert_eq!(at("09:00"), "retrace/lsp");
        assert_eq!(at("09:10"), "retrace/lsp");
        assert_eq!(at("09:20"), "retrace/lsp");
        assert_eq!(at("09:30"), "");
        assert_eq!(at("10:20"), "retrace/snaprun");
        assert_eq!(at("10:30"), "");
        assert_eq!(at("11:00"), "other/lsp");
        // The running batch counts up to now.
        assert_eq!(at("12:10"), "retrace/snaprun");
        assert_eq!(at("12:20"), "");
    }

    #[test]
    fn labels_come_from_the_workspace_directory() {
        assert_eq!(
            workspace_label(Path::new("/home/me/src/retrace")),
            "retrace"
        );
        assert_eq!(workspace_label(Path::new("/")), "/");
        let names: Vec<&str> = installed().iter().map(|s| s.name).collect();
        assert_eq!(names, [LSP, SNAPRUN]);
    }
}
