//! The workspaces that have a history: one summary per database in retrace's data
//! directory, read without writing anything (for the desktop app's list).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::reader::{SessionView, alive_sessions};
use crate::store::{self, Store, StoreError};

/// One workspace's history, as the app lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSummary {
    /// The workspace root; `None` when the database cannot be read (see `problem`).
    pub root: Option<PathBuf>,
    pub database: PathBuf,
    pub nodes: usize,
    /// The last arrival at a node, by any session.
    pub last_visit_ms: Option<i64>,
    /// What the list is sorted by: the last visit, the last session's activity, or for a
    /// database that cannot be read, its file's modification time.
    pub last_used_ms: i64,
    /// Editor sessions open on it (alive only), most recently active first.
    pub sessions: Vec<SessionView>,
    /// Why it cannot be read, when it cannot; it is listed anyway and left untouched.
    pub problem: Option<Problem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub kind: ProblemKind,
    /// Names the file and what to do.
    pub message: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// Damaged: the next editor session moves it aside and starts a new history.
    Corrupt,
    /// Written by a newer retrace-lsp.
    Newer,
    /// Locked, unreadable, or not a history.
    Unreadable,
}

impl From<&StoreError> for Problem {
    fn from(e: &StoreError) -> Problem {
        let kind = match e {
            StoreError::Corrupt { .. } => ProblemKind::Corrupt,
            StoreError::Newer { .. } => ProblemKind::Newer,
            _ => ProblemKind::Unreadable,
        };
        Problem {
            kind,
            message: e.to_string(),
        }
    }
}

/// Every workspace with a history under `data_dir` (retrace's data directory, see
/// [`crate::store::data_dir`]), most recently used first. A database that cannot be read is
/// listed with its problem rather than failing the list. No history yet: an empty list.
pub fn workspaces(data_dir: &Path) -> Result<Vec<WorkspaceSummary>, StoreError> {
    let mut list: Vec<WorkspaceSummary> = store::history_files(data_dir)?
        .iter()
        .map(|db| summary(db))
        .collect();
    list.sort_by(|a, b| {
        b.last_used_ms
            .cmp(&a.last_used_ms)
            .then_with(|| a.database.cmp(&b.database))
    });
    Ok(list)
}

/// One database's summary; never fails (a problem is part of the summary).
pub fn summary(db: &Path) -> WorkspaceSummary {
    match read(db) {
        Ok(s) => s,
        Err(e) => WorkspaceSummary {
            root: None,
            database: db.to_owned(),
            nodes: 0,
            last_visit_ms: None,
            last_used_ms: modified_ms(db),
            sessions: Vec::new(),
            problem: Some(Problem::from(&e)),
        },
    }
}

fn read(db: &Path) -> Result<WorkspaceSummary, StoreError> {
    let store = Store::open_read_only(db)?;
    let root = store.workspace_root()?.map(PathBuf::from);
    let (nodes, last_visit_ms) = store.summary()?;
    let sessions = alive_sessions(&store)?;
    let last_active = sessions.iter().map(|s| s.active_ms).max();
    let last_used_ms = last_visit_ms
        .max(last_active)
        .unwrap_or_else(|| modified_ms(db));
    Ok(WorkspaceSummary {
        root,
        database: db.to_owned(),
        nodes,
        last_visit_ms,
        last_used_ms,
        sessions,
        problem: None,
    })
}

fn modified_ms(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::history::{History, Options};
    use crate::store::{Endpoint, SessionInfo, database_path};
    use crate::tree::{Precision, Reason};
    use crate::workspace::{Workspace, uri_for_path};

    /// The names and sizes of the files that are not the open writers' own, and the bytes
    /// of the untouched ones (kept short, so a failure prints readably).
    fn untouched(dir: &Path) -> Vec<(String, usize, u64)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().starts_with("new-"))
            .map(|e| {
                let bytes = std::fs::read(e.path()).unwrap();
                let sum = bytes
                    .iter()
                    .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
                (
                    e.file_name().to_string_lossy().into_owned(),
                    bytes.len(),
                    sum,
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn workspaces_are_listed_most_recent_first_with_damaged_files_named() {
        let data = tempfile::tempdir().unwrap();
        assert_eq!(workspaces(data.path()).unwrap(), Vec::new());
        let mut open = Vec::new();
        for (root, at) in [("/w/old", 1_000), ("/w/new", 5_000)] {
            let db = database_path(data.path(), Path::new(root));
            let info = SessionInfo {
                id: Arc::from(root),
                pid: std::process::id(),
                host: crate::store::this_host(),
                client: "Neovim 0.9".into(),
                started_ms: 0,
            };
            let endpoint = Endpoint {
                editor: "Neovim".into(),
                socket: Some(PathBuf::from("/run/x.sock")),
            };
            let mut h = History::open_quarantining(
                &db,
                Workspace::new(root),
                &info,
                &endpoint,
                Options::default(),
                0,
            )
            .unwrap()
            .history;
            for i in 0..3 {
                let uri = uri_for_path(Path::new(&format!("{root}/f{i}.rs")));
                h.visit(&uri, 0, 0, Reason::Open, Precision::Line, at + i)
                    .unwrap();
            }
            open.push(h);
        }
        // The old workspace's editor goes away.
        open.remove(0).close().unwrap();
        let history = data.path().join("history");
        std::fs::write(history.join("bad.sqlite3"), b"garbage, not SQLite").unwrap();
        let newer = history.join("newer.sqlite3");
        {
            let conn = rusqlite::Connection::open(&newer).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .unwrap();
        }
        std::fs::write(history.join("notes.txt"), b"not a database").unwrap();
        let before = untouched(&history);

        let list = workspaces(data.path()).unwrap();
        assert_eq!(list.len(), 4, "{list:#?}");
        // (Unreadable files sort by their modification time: now, after these test times.)
        let readable: Vec<&WorkspaceSummary> =
            list.iter().filter(|w| w.problem.is_none()).collect();
        let roots: Vec<Option<&str>> = readable
            .iter()
            .map(|w| w.root.as_deref().and_then(Path::to_str))
            .collect();
        assert_eq!(roots, [Some("/w/new"), Some("/w/old")]);
        let new = readable[0];
        assert_eq!((new.nodes, new.last_visit_ms), (3, Some(5_002)));
        assert_eq!(new.sessions.len(), 1);
        assert_eq!(new.sessions[0].editor, "Neovim");
        assert_eq!(
            new.sessions[0].socket.as_deref(),
            Some(Path::new("/run/x.sock"))
        );
        assert!(readable[1].sessions.is_empty(), "its editor closed");
        let problem = |name: &str| {
            list.iter()
                .find(|w| w.database.ends_with(name))
                .and_then(|w| w.problem.clone())
                .unwrap()
        };
        let bad = problem("bad.sqlite3");
        assert_eq!(bad.kind, ProblemKind::Corrupt);
        assert!(bad.message.contains("bad.sqlite3"), "{}", bad.message);
        let newer = problem("newer.sqlite3");
        assert_eq!(newer.kind, ProblemKind::Newer);
        assert!(
            newer.message.contains("upgrade retrace-lsp"),
            "{}",
            newer.message
        );
        // Nothing was written, created or left behind.
        assert_eq!(untouched(&history), before);
        drop(open);
    }
}
