//! The Navigation view's commands: thin calls into retrace-lsp's library.

use std::path::PathBuf;

use retrace_lsp::render::{TreeView, tree_view};
use retrace_lsp::store::{Store, StoreError};
use retrace_lsp::workspace::Workspace;
use serde::Serialize;

use crate::error::{AppError, ErrorKind, Result};

/// One workspace that has a history.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceEntry {
    pub root: String,
    pub database: String,
    pub nodes: usize,
    pub last_visit_ms: Option<i64>,
    pub sessions: Vec<String>,
    /// Set when the database cannot be read; the entry is listed anyway.
    pub error: Option<String>,
}

fn unreadable(e: StoreError) -> AppError {
    let kind = if e.is_corrupt() {
        ErrorKind::Unreadable
    } else {
        ErrorKind::Failed
    };
    AppError::new(kind, e.to_string())
}

pub fn workspaces(data_dir: &std::path::Path) -> Result<Vec<WorkspaceEntry>> {
    let dir = data_dir.join("history");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(AppError::failed(format!(
                "cannot list {}: {e}",
                dir.display()
            )));
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sqlite3") {
            continue;
        }
        out.push(read_entry(path));
    }
    out.sort_by_key(|w| std::cmp::Reverse(w.last_visit_ms));
    Ok(out)
}

fn read_entry(path: PathBuf) -> WorkspaceEntry {
    let mut entry = WorkspaceEntry {
        root: String::new(),
        database: path.display().to_string(),
        nodes: 0,
        last_visit_ms: None,
        sessions: Vec::new(),
        error: None,
    };
    let read = || -> std::result::Result<_, StoreError> {
        let mut store = Store::open_read_only(&path)?;
        let root = store.workspace_root()?;
        let tree = store.load(usize::MAX)?;
        let sessions = store.sessions()?;
        Ok((root, tree, sessions))
    };
    match read() {
        Ok((root, tree, sessions)) => {
            entry.root = root.unwrap_or_default();
            entry.nodes = tree.len();
            entry.last_visit_ms = tree.nodes().map(|n| n.visited_ms).max();
            entry.sessions = sessions.into_iter().map(|s| s.client).collect();
        }
        Err(e) => entry.error = Some(e.to_string()),
    }
    entry
}

pub fn tree(database: &std::path::Path, root: &str) -> Result<TreeView> {
    let mut store = Store::open_read_only(database).map_err(unreadable)?;
    let tree = store.load(usize::MAX).map_err(unreadable)?;
    Ok(tree_view(&tree, tree.most_recent(), &Workspace::new(root)))
}
