//! The Navigation view over retrace-lsp's library: the catalog of workspaces, a live
//! [`Reader`] of the selected one, and jumps through a session's control socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use retrace_lsp::catalog::{self, WorkspaceSummary};
use retrace_lsp::control::{self, ControlError, JumpReply};
use retrace_lsp::reader::{Reader, SessionView, TreeDelta};
use retrace_lsp::rows::{CursorMark, NodeRow};
use retrace_lsp::store::StoreError;
use retrace_lsp::tree::NodeId;
use serde::Serialize;

use crate::error::{AppError, ErrorKind, Result};

/// How often a live reader wakes without a change: to see whether it was closed, and to
/// notice editors that ended without a goodbye (one cheap `data_version` check).
const IDLE_WAKE: Duration = Duration::from_secs(2);

/// One node as the view draws it: what the tree shows of a [`NodeRow`] and no more (no URI,
/// column or creation time, which the view never shows), and nothing for what is empty. A
/// 10,000-node tree is about half the JSON the full rows make, and half the time to parse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NavRow {
    pub id: NodeId,
    pub parent: Option<NodeId>,
    /// Relative to the workspace root when inside it.
    pub path: String,
    /// One-based.
    pub line_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub reason: &'static str,
    pub visited_ms: i64,
    pub visits: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
    pub children: Vec<NodeId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cursors: Vec<CursorMark>,
}

impl From<NodeRow> for NavRow {
    fn from(row: NodeRow) -> NavRow {
        NavRow {
            id: row.node.id,
            parent: row.node.parent,
            path: row.node.path,
            line_number: row.line_number,
            text: row.text,
            reason: row.node.reason,
            visited_ms: row.node.visited_ms,
            visits: row.node.visits,
            gone: row.node.gone,
            children: row.node.children,
            cursors: row.cursors,
        }
    }
}

fn nav_rows(rows: Vec<NodeRow>) -> Vec<NavRow> {
    rows.into_iter().map(NavRow::from).collect()
}

/// A workspace's tree as the view first shows it; `nav:delta` events follow.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NavTree {
    pub database: PathBuf,
    pub workspace: PathBuf,
    pub root: Option<NodeId>,
    pub rows: Vec<NavRow>,
    pub sessions: Vec<SessionView>,
}

/// What changed in the open workspace (the `nav:delta` event): a [`TreeDelta`] with
/// [`NavRow`]s.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NavDelta {
    pub database: PathBuf,
    pub reloaded: bool,
    pub added: Vec<NavRow>,
    pub updated: Vec<NavRow>,
    pub removed: Vec<NodeId>,
    pub root: Option<NodeId>,
    pub sessions: Option<Vec<SessionView>>,
}

impl NavDelta {
    fn new(database: PathBuf, delta: TreeDelta) -> NavDelta {
        NavDelta {
            database,
            reloaded: delta.reloaded,
            added: nav_rows(delta.added),
            updated: nav_rows(delta.updated),
            removed: delta.removed,
            root: delta.root,
            sessions: delta.sessions,
        }
    }
}

/// The live reader of the open workspace stopped (the `nav:error` event).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NavError {
    pub database: PathBuf,
    pub error: AppError,
}

fn store_error(e: StoreError) -> AppError {
    let kind = match e {
        StoreError::Corrupt { .. } | StoreError::Newer { .. } => ErrorKind::Unreadable,
        _ => ErrorKind::Failed,
    };
    AppError::new(kind, e.to_string())
}

fn control_error(e: ControlError) -> AppError {
    let kind = match e {
        ControlError::NoSuchSession { .. } => ErrorKind::NotFound,
        ControlError::Server { .. } => ErrorKind::Invalid,
        _ => ErrorKind::Failed,
    };
    AppError::new(kind, e.to_string())
}

pub fn workspaces(data_dir: &Path) -> Result<Vec<WorkspaceSummary>> {
    catalog::workspaces(data_dir).map_err(store_error)
}

/// Stops a live reader's thread (at its next wake) when dropped.
pub struct LiveReader {
    stop: Arc<AtomicBool>,
}

impl Drop for LiveReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Opens `database` read-only and keeps it live: `on_delta` gets each change committed by
/// any writer, `on_error` the error that ends the live reading.
pub fn open(
    database: &Path,
    on_delta: impl Fn(NavDelta) + Send + 'static,
    on_error: impl Fn(NavError) + Send + 'static,
) -> Result<(NavTree, LiveReader)> {
    let mut reader = Reader::open(database).map_err(store_error)?;
    let tree = NavTree {
        database: database.to_owned(),
        workspace: reader.workspace().root().to_owned(),
        root: reader.tree().root(),
        rows: nav_rows(reader.rows()),
        sessions: reader.sessions().to_vec(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let db = database.to_owned();
    std::thread::Builder::new()
        .name("nav-reader".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match reader.wait_for_change(IDLE_WAKE) {
                    Ok(Some(delta)) if !stopped.load(Ordering::Relaxed) => {
                        on_delta(NavDelta::new(db.clone(), delta))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        on_error(NavError {
                            database: db.clone(),
                            error: store_error(e),
                        });
                        return;
                    }
                }
            }
        })
        .map_err(|e| AppError::failed(format!("cannot start the live reader: {e}")))?;
    Ok((tree, LiveReader { stop }))
}

/// Asks the editor session listening at `socket` to show `node`. Without a session (no
/// editor open on the workspace), says how to get one.
pub fn jump(socket: Option<&Path>, workspace: &Path, node: NodeId) -> Result<JumpReply> {
    let Some(socket) = socket else {
        return Err(AppError::new(
            ErrorKind::NotFound,
            format!(
                "no editor is open on {}: open the workspace in an editor with the Retrace plugin, then click again",
                workspace.display()
            ),
        ));
    };
    control::jump(socket, workspace, node).map_err(control_error)
}
