//! A workspace's history opened read-only and kept live, for the desktop app: it never
//! writes, creates or migrates the database. The tree stays in memory; [`Reader::refresh`]
//! brings in what any writer committed since (the store's incremental sync: revisions and
//! `PRAGMA data_version`) and says which rows changed, and [`Reader::wait_for_change`]
//! sleeps on a file watch of the database until there is something to bring in.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use serde::Serialize;

use crate::render::{TreeView, tree_view};
use crate::rows::{CursorMark, LineCache, NodeRow};
use crate::store::{self, SessionRecord, Store, StoreError};
use crate::tree::{FileId, NodeId, Tree};
use crate::workspace::Workspace;

/// An editor session on the workspace, as the app shows it (alive sessions only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    /// The editor's name (`clientInfo.name`, e.g. "Neovim"); for sessions of older servers,
    /// the client string they registered.
    pub editor: String,
    pub pid: u32,
    pub host: String,
    /// The server's control socket: where to send a `jump` (see `control`).
    pub socket: Option<PathBuf>,
    /// Where its cursor is.
    pub node: Option<NodeId>,
    pub started_ms: i64,
    /// Its last arrival at a node.
    pub active_ms: i64,
}

impl SessionView {
    fn new(record: SessionRecord, cursor: Option<NodeId>) -> SessionView {
        let editor = if record.endpoint.editor.is_empty() {
            record.info.client.clone()
        } else {
            record.endpoint.editor
        };
        SessionView {
            id: record.info.id.to_string(),
            editor,
            pid: record.info.pid,
            host: record.info.host,
            socket: record.endpoint.socket,
            node: cursor.or(record.node),
            started_ms: record.info.started_ms,
            active_ms: record.active_ms,
        }
    }
}

/// The sessions of a store that are alive, most recently active first.
pub(crate) fn alive_sessions(store: &Store) -> Result<Vec<SessionView>, StoreError> {
    let mut sessions: Vec<SessionView> = store
        .sessions()?
        .into_iter()
        .filter(|s| s.info.is_alive())
        .map(|s| SessionView::new(s, None))
        .collect();
    sessions.sort_by_key(|s| std::cmp::Reverse((s.active_ms, s.started_ms)));
    Ok(sessions)
}

/// What changed since the last [`Reader::refresh`] (or since [`Reader::rows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeDelta {
    /// The tree was read anew (this reader fell too far behind): `added` holds every row,
    /// and rows not in it are gone.
    pub reloaded: bool,
    pub added: Vec<NodeRow>,
    /// Rows whose content changed: moved, revisited, renamed or deleted file, a child added
    /// or removed, a cursor arrived or left.
    pub updated: Vec<NodeRow>,
    pub removed: Vec<NodeId>,
    pub root: Option<NodeId>,
    /// The sessions, when they changed (came, went, moved, were active).
    pub sessions: Option<Vec<SessionView>>,
}

impl TreeDelta {
    pub fn is_empty(&self) -> bool {
        !self.reloaded
            && self.added.is_empty()
            && self.updated.is_empty()
            && self.removed.is_empty()
            && self.sessions.is_none()
    }
}

pub struct Reader {
    store: Store,
    tree: Tree,
    ws: Workspace,
    sessions: Vec<SessionView>,
    /// Each node's parent as last reported, to say which parents a change touched.
    parents: HashMap<NodeId, Option<NodeId>>,
    lines: LineCache,
    watch: Option<DatabaseWatch>,
    /// Where the reader is in [`RECHECK`] since the last write it was told of; `None` once
    /// the writes have been quiet for all of it.
    recheck: Option<usize>,
}

/// After a write event, the pauses before reading again, whatever each read found. A commit's
/// frames reach the write-ahead log (the event) before the writer's sync lets a reader see
/// them, and the commit is then published in the `-shm` index, which is shared memory and
/// sends no event: on a loaded disk a read right after the event finds nothing new, and
/// without these re-reads that commit stayed unseen until the next write. A commit whose sync
/// takes up to their sum (about 8 s) is seen at most one pause after it can be read. They
/// follow writes only: a quiet database is never read.
const RECHECK: [Duration; 9] = [
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
    Duration::from_millis(4000),
];

impl Reader {
    /// Opens the history in `db` read-only. A damaged file or one of a newer schema is an
    /// error that names the file and what to do; nothing is written to it.
    pub fn open(db: &Path) -> Result<Reader, StoreError> {
        let mut store = Store::open_read_only(db)?;
        let root = store.workspace_root()?.unwrap_or_default();
        let tree = store.load(usize::MAX)?;
        let mut reader = Reader {
            store,
            tree,
            ws: Workspace::new(root),
            sessions: Vec::new(),
            parents: HashMap::new(),
            lines: LineCache::default(),
            watch: None,
            recheck: None,
        };
        reader.sessions = reader.current_sessions()?;
        reader.remember_parents();
        Ok(reader)
    }

    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    pub fn database(&self) -> &Path {
        self.store.path()
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The alive sessions, most recently active first.
    pub fn sessions(&self) -> &[SessionView] {
        &self.sessions
    }

    /// The tree as `retrace.tree` returns it; without a session of its own, the reader
    /// marks the most recently visited node as current.
    pub fn tree_view(&self) -> TreeView {
        tree_view(&self.tree, self.tree.most_recent(), &self.ws)
    }

    /// Every row, in id order (a parent before its children).
    pub fn rows(&mut self) -> Vec<NodeRow> {
        self.lines.next_pass();
        let mut ids: Vec<NodeId> = self.tree.nodes().map(|n| n.id).collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.row(id)).collect()
    }

    /// One row, if the node exists.
    pub fn row(&mut self, id: NodeId) -> Option<NodeRow> {
        let node = self.tree.node(id)?;
        let cursors = self
            .sessions
            .iter()
            .filter(|s| s.node == Some(id))
            .map(|s| CursorMark {
                session: s.id.clone(),
                editor: s.editor.clone(),
            })
            .collect();
        Some(NodeRow::new(
            &self.tree,
            node,
            &self.ws,
            &mut self.lines,
            cursors,
        ))
    }

    /// Brings in what writers committed since the last call and says what changed. When
    /// nobody committed it costs one `PRAGMA data_version`.
    pub fn refresh(&mut self) -> Result<TreeDelta, StoreError> {
        let synced = self.store.refresh(&mut self.tree)?;
        // A session killed without a goodbye leaves its row until a writer cleans it up.
        let one_died = self
            .sessions
            .iter()
            .any(|s| !store::is_alive(&s.host, s.pid));
        if !synced.committed && !one_died {
            return Ok(TreeDelta::default());
        }
        self.lines.next_pass();
        let old_sessions = std::mem::take(&mut self.sessions);
        self.sessions = self.current_sessions()?;
        let sessions_changed = self.sessions != old_sessions;
        if synced.reloaded {
            let rows = self.rows();
            self.remember_parents();
            return Ok(TreeDelta {
                reloaded: true,
                added: rows,
                root: self.tree.root(),
                sessions: Some(self.sessions.clone()),
                ..TreeDelta::default()
            });
        }
        let mut added = BTreeSet::new();
        let mut touched = BTreeSet::new();
        for &id in &synced.nodes {
            let Some(node) = self.tree.node(id) else {
                continue;
            };
            let parent = node.parent;
            match self.parents.insert(id, parent) {
                None => {
                    added.insert(id);
                    touched.extend(parent);
                }
                Some(old) => {
                    touched.insert(id);
                    if old != parent {
                        touched.extend(old);
                        touched.extend(parent);
                    }
                }
            }
        }
        for id in &synced.removed {
            if let Some(old) = self.parents.remove(id) {
                touched.extend(old);
            }
        }
        if !synced.files.is_empty() {
            let files: BTreeSet<FileId> = synced.files.iter().copied().collect();
            touched.extend(
                self.tree
                    .nodes()
                    .filter(|n| files.contains(&n.file))
                    .map(|n| n.id),
            );
        }
        if sessions_changed {
            let marks = |sessions: &[SessionView]| -> BTreeSet<(NodeId, String, String)> {
                sessions
                    .iter()
                    .filter_map(|s| Some((s.node?, s.id.clone(), s.editor.clone())))
                    .collect()
            };
            let (old, new) = (marks(&old_sessions), marks(&self.sessions));
            touched.extend(old.symmetric_difference(&new).map(|(n, _, _)| *n));
        }
        let removed: Vec<NodeId> = synced
            .removed
            .iter()
            .copied()
            .filter(|id| self.tree.node(*id).is_none())
            .collect();
        let added_rows = added.iter().filter_map(|id| self.row(*id)).collect();
        let updated_rows = touched
            .difference(&added)
            .filter_map(|id| self.row(*id))
            .collect();
        Ok(TreeDelta {
            reloaded: false,
            added: added_rows,
            updated: updated_rows,
            removed,
            root: self.tree.root(),
            sessions: sessions_changed.then(|| self.sessions.clone()),
        })
    }

    /// Blocks (a plain thread, no busy polling) until a writer commits something that
    /// changes what the reader shows, and returns it; `None` after `timeout` without one.
    /// The wait is a file watch on the database's directory (its file and write-ahead log),
    /// each event checked with the store's cheap `data_version` test, and read again on
    /// [`RECHECK`]'s pauses after it (a commit can become readable after its event).
    pub fn wait_for_change(&mut self, timeout: Duration) -> Result<Option<TreeDelta>, StoreError> {
        let deadline = Instant::now() + timeout;
        if self.watch.is_none() {
            self.watch = Some(DatabaseWatch::new(self.store.path())?);
        }
        // Whatever was committed before the watch started.
        let delta = self.refresh()?;
        if !delta.is_empty() {
            return Ok(Some(delta));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(watch) = &self.watch else {
                return Ok(None);
            };
            let pause = self.recheck.and_then(|i| RECHECK.get(i)).copied();
            if watch.wait(pause.map_or(left, |p| p.min(left))) {
                self.recheck = Some(0);
            } else if pause.is_some_and(|p| p <= left) {
                let next = self.recheck.map_or(0, |i| i + 1);
                self.recheck = (next < RECHECK.len()).then_some(next);
            } else {
                return Ok(None);
            }
            let delta = self.refresh()?;
            if !delta.is_empty() {
                return Ok(Some(delta));
            }
        }
    }

    fn current_sessions(&self) -> Result<Vec<SessionView>, StoreError> {
        let mut sessions = alive_sessions(&self.store)?;
        // The tree's cursors are the ones synced with the nodes the reader holds.
        for s in &mut sessions {
            s.node = self.tree.cursor(&s.id);
        }
        Ok(sessions)
    }

    fn remember_parents(&mut self) {
        self.parents = self.tree.nodes().map(|n| (n.id, n.parent)).collect();
    }
}

/// A watch on a database's directory that wakes a waiting thread when the database or its
/// write-ahead log changes.
struct DatabaseWatch {
    _watcher: RecommendedWatcher,
    events: mpsc::Receiver<()>,
}

impl DatabaseWatch {
    fn new(db: &Path) -> Result<DatabaseWatch, StoreError> {
        let fail = |e: notify::Error| StoreError::Other {
            path: db.to_owned(),
            detail: format!("cannot watch it for changes: {e}"),
        };
        let name = db.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let mut wal = name.clone();
        wal.push("-wal");
        let (tx, events) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| n == name || n == wal));
                if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
                    let _ = tx.send(());
                }
            })
            .map_err(fail)?;
        let dir = db.parent().unwrap_or(Path::new("."));
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(fail)?;
        Ok(DatabaseWatch {
            _watcher: watcher,
            events,
        })
    }

    /// Waits up to `timeout` for a change; takes every change already queued with it.
    fn wait(&self, timeout: Duration) -> bool {
        if self.events.recv_timeout(timeout).is_err() {
            return false;
        }
        while self.events.try_recv().is_ok() {}
        true
    }
}

#[cfg(test)]
mod tests;
