//! Read access for other tools (the planner's actual time): when the user arrived where,
//! in every workspace, read through the store rather than its tables.

use std::path::{Path, PathBuf};

use crate::store::{self, Store, StoreError};
use crate::workspace::path_for_uri;

/// One arrival at a place: a visit, or a back/forward/jump move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    pub workspace_root: PathBuf,
    pub file: PathBuf,
    pub at_ms: i64,
}

/// Every arrival in `[from_ms, to_ms)` across all workspaces under `data_dir` (by default
/// retrace's data directory), oldest first. A database that cannot be read is skipped with
/// a warning, so one damaged history does not hide the others.
pub fn visits_between(
    data_dir: Option<&Path>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Visit>, StoreError> {
    let dir = match data_dir {
        Some(d) => d.to_owned(),
        None => match store::data_dir() {
            Some(d) => d,
            None => return Ok(Vec::new()),
        },
    };
    let mut visits = Vec::new();
    for path in store::history_files(&dir)? {
        match read_one(&path, from_ms, to_ms) {
            Ok(v) => visits.extend(v),
            Err(e) => tracing::warn!("skipping a history: {e}"),
        }
    }
    visits.sort_by_key(|v| v.at_ms);
    Ok(visits)
}

fn read_one(db: &Path, from_ms: i64, to_ms: i64) -> Result<Vec<Visit>, StoreError> {
    let store = Store::open_read_only(db)?;
    let root = PathBuf::from(store.workspace_root()?.unwrap_or_default());
    Ok(store
        .events(from_ms, to_ms)?
        .into_iter()
        .filter_map(|e| {
            Some(Visit {
                workspace_root: root.clone(),
                file: path_for_uri(&e.uri)?,
                at_ms: e.at_ms,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Options};
    use crate::store::SessionInfo;
    use crate::tree::{Precision, Reason};
    use crate::workspace::{Workspace, uri_for_path};
    use std::sync::Arc;

    #[test]
    fn arrivals_in_a_window_come_back_per_workspace() {
        let data = tempfile::tempdir().unwrap();
        for (root, base) in [("/w/one", 1_000), ("/w/two", 2_000)] {
            let db = store::database_path(data.path(), Path::new(root));
            let info = SessionInfo {
                id: Arc::from(root),
                pid: std::process::id(),
                host: "h".into(),
                client: "t".into(),
                started_ms: 0,
            };
            let mut h =
                History::open(&db, Workspace::new(root), &info, Options::default(), 0).unwrap();
            for i in 0..3 {
                let uri = uri_for_path(Path::new(&format!("{root}/f{i}.rs")));
                h.visit(&uri, 0, 0, Reason::Open, Precision::Line, base + i)
                    .unwrap();
            }
            h.back(base + 10).unwrap();
        }
        // A damaged file beside them is skipped, not fatal.
        std::fs::write(data.path().join("history/bad.sqlite3"), b"garbage").unwrap();
        let visits = visits_between(Some(data.path()), 1_001, 2_002).unwrap();
        let got: Vec<(String, String, i64)> = visits
            .iter()
            .map(|v| {
                (
                    v.workspace_root.display().to_string(),
                    v.file.display().to_string(),
                    v.at_ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("/w/one".into(), "/w/one/f1.rs".into(), 1_001),
                ("/w/one".into(), "/w/one/f2.rs".into(), 1_002),
                ("/w/one".into(), "/w/one/f1.rs".into(), 1_010),
                ("/w/two".into(), "/w/two/f0.rs".into(), 2_000),
                ("/w/two".into(), "/w/two/f1.rs".into(), 2_001),
            ]
        );
    }
}
