//! The results database, followed live: whoever writes it (a batch from this app, `snaprun run`
//! in a terminal, watch mode), the view hears of each batch and iteration as it is recorded.
//!
//! A thread sleeps on the database and its WAL (inotify); on a commit, the [`Cursor`] asks
//! `ops::changes` what was written since the revision it last saw, and re-lists only the
//! batches that changed (the newest ones, almost always) with `ops::batch_list`, so a new
//! iteration costs a few indexed reads, not a re-read of the workspace's history. What it finds
//! is emitted as [`EVENT`] ([`Changed`]).
//!
//! Only writes count ([`is_write`]): SQLite's readers open and chmod the WAL, and the last one
//! to close deletes it (the first to open creates it), so counting those would make every read
//! of the feed wake the feed again, in a loop. A commit always writes WAL frames, a checkpoint
//! writes the database, and a database moved aside or replaced is created or removed itself.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};

use serde::Serialize;
use snaprun::ops::{self, BatchListItem, BatchListOptions, ResultsFiles};
use snaprun::results::{Iteration, WorkspaceBatches, now_ms};
use snaprun::store::Store;
use tauri::{AppHandle, Emitter, Runtime};

use super::app_error;
use crate::error::{AppError, Result};
use crate::live::coalesced;

/// The event that carries a [`Changed`].
pub const EVENT: &str = "stress:changed";
/// After a first write, how long to wait for more before reading (a commit is several writes).
const COALESCE: Duration = Duration::from_millis(15);

/// Whether `event` is a write to the results: data written to the database or its WAL, or the
/// database file itself created, removed or renamed. Never what readers do (see the module).
pub fn is_write(event: &notify::Event, files: &ResultsFiles) -> bool {
    let is = |p: &PathBuf, f: &PathBuf| p == f;
    match event.kind {
        EventKind::Modify(ModifyKind::Data(_)) | EventKind::Modify(ModifyKind::Any) => event
            .paths
            .iter()
            .any(|p| is(p, &files.database) || is(p, &files.wal)),
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => {
            event.paths.iter().any(|p| is(p, &files.database))
        }
        _ => false,
    }
}

/// What was written to the results since the last [`Changed`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    /// When the app sent it (ms since the epoch), to measure how late a cell turns.
    pub sent_ms: i64,
    pub revision: i64,
    /// Every workspace with batches, when batches were started or finished.
    pub workspaces: Option<Vec<WorkspaceBatches>>,
    /// The workspace followed, whose batches and iterations follow.
    pub workspace: Option<PathBuf>,
    /// Its batches that changed, as the list shows them, newest first.
    pub batches: Vec<BatchListItem>,
    /// Iterations recorded in those batches.
    pub iterations: Vec<Iteration>,
    /// The results could not be read (snaprun's message).
    pub error: Option<AppError>,
    /// The database was replaced (moved aside, restored): read everything again.
    pub reload: bool,
}

impl Changed {
    fn new(revision: i64) -> Changed {
        Changed {
            sent_ms: now_ms(),
            revision,
            workspaces: None,
            workspace: None,
            batches: Vec::new(),
            iterations: Vec::new(),
            error: None,
            reload: false,
        }
    }
}

/// Where the feed is: the revision it has seen, and the workspace it follows with its batch
/// ids, newest first.
#[derive(Debug, Default)]
pub struct Cursor {
    revision: i64,
    workspace: Option<PathBuf>,
    order: Vec<String>,
    /// The last read failed; the next one that works says so with `reload`.
    failing: bool,
}

impl Cursor {
    /// A cursor at the results' current revision (0 when they cannot be read yet).
    pub fn now(store: &Store) -> Cursor {
        Cursor {
            revision: ops::changes(store, i64::MAX).map_or(0, |c| c.revision),
            ..Cursor::default()
        }
    }

    /// From now on, changes to `workspace` (whose list is `batches`, newest first) are followed.
    pub fn follow(&mut self, workspace: &Path, batches: &[BatchListItem]) {
        self.workspace = Some(workspace.to_path_buf());
        self.order = batches.iter().map(|b| b.batch.id.clone()).collect();
    }

    /// What was written since the last call; `None` when nothing was.
    pub fn catch_up(&mut self, store: &Store) -> Result<Option<Changed>> {
        let changes = match ops::changes(store, self.revision) {
            Ok(c) => c,
            Err(e) => {
                self.failing = true;
                return Err(app_error(e));
            }
        };
        let reload = std::mem::take(&mut self.failing) || changes.revision < self.revision;
        if reload {
            // A database that was replaced starts its revisions again: all of it is new.
            self.revision = changes.revision;
            let mut changed = Changed::new(changes.revision);
            changed.reload = true;
            return Ok(Some(changed));
        }
        if changes.revision == self.revision {
            return Ok(None);
        }
        self.revision = changes.revision;
        let mut changed = Changed::new(changes.revision);
        if !changes.batches.is_empty() {
            changed.workspaces = Some(ops::workspaces(store).map_err(app_error)?);
        }
        let Some(ws) = self.workspace.clone() else {
            return Ok(Some(changed));
        };
        // The list is newest first: a batch not in it yet is newer than all of it, and one
        // that changed at position i is re-read with the i newer ones above it.
        let (mut fresh, mut depth) = (0usize, 0usize);
        let position = |id: &str| self.order.iter().position(|o| o == id);
        for b in changes.batches.iter().filter(|b| b.workspace == ws) {
            match position(&b.id) {
                Some(i) => depth = depth.max(i + 1),
                None => fresh += 1,
            }
        }
        for it in &changes.iterations {
            if let Some(i) = position(&it.batch_id) {
                depth = depth.max(i + 1);
            }
        }
        let limit = fresh + depth;
        if limit > 0 {
            changed.batches = ops::batch_list(
                store,
                &BatchListOptions {
                    workspace: ws.clone(),
                    limit: u32::try_from(limit).unwrap_or(u32::MAX),
                    // Which files changed is read for new batches only: a batch's code does not
                    // change after it starts.
                    changes: fresh > 0,
                },
            )
            .map_err(app_error)?;
        }
        let listed: HashSet<&str> = changed
            .batches
            .iter()
            .map(|b| b.batch.id.as_str())
            .collect();
        let mut order: Vec<String> = changed.batches.iter().map(|b| b.batch.id.clone()).collect();
        order.extend(
            self.order
                .iter()
                .filter(|id| !listed.contains(id.as_str()))
                .cloned(),
        );
        self.order = order;
        changed.iterations = changes
            .iterations
            .into_iter()
            .filter(|it| listed.contains(it.batch_id.as_str()))
            .collect();
        changed.workspace = Some(ws);
        Ok(Some(changed))
    }
}

/// The live feed of one store's results; dropping it stops it.
pub struct Feed {
    cursor: Arc<Mutex<Cursor>>,
    // Dropping the watcher closes the channel, which ends the thread.
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// Emits [`EVENT`] to `app` after every commit to the results that changed something.
    pub fn start<R: Runtime>(app: AppHandle<R>, store: Store) -> Result<Feed> {
        let files = ops::results_files(&store);
        let cursor = Arc::new(Mutex::new(Cursor::now(&store)));
        let shared = Arc::clone(&cursor);
        let (tx, rx) = mpsc::channel::<()>();
        let watched = files.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| is_write(&e, &watched)) {
                    let _ = tx.send(());
                }
            })
            .map_err(|e| AppError::failed(format!("cannot watch snaprun's results: {e}")))?;
        watcher
            .watch(&files.dir, RecursiveMode::NonRecursive)
            .map_err(|e| {
                AppError::failed(format!(
                    "cannot watch {} for new results ({e}); the view will not update by itself",
                    files.dir.display()
                ))
            })?;
        let refresh = move || {
            let Ok(mut cursor) = shared.lock() else {
                return;
            };
            let changed = match cursor.catch_up(&store) {
                Ok(Some(changed)) => changed,
                Ok(None) => return,
                Err(e) => {
                    log::warn!("reading snaprun's results: {}", e.message);
                    let mut changed = Changed::new(cursor.revision);
                    changed.error = Some(e);
                    changed
                }
            };
            let _ = app.emit(EVENT, changed);
        };
        let thread = std::thread::Builder::new()
            .name("stress-feed".into())
            .spawn(move || coalesced(&rx, COALESCE, refresh))
            .map_err(|e| AppError::failed(format!("cannot start the results thread: {e}")))?;
        Ok(Feed {
            cursor,
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }

    /// See [`Cursor::follow`].
    pub fn follow(&self, workspace: &Path, batches: &[BatchListItem]) {
        if let Ok(mut cursor) = self.cursor.lock() {
            cursor.follow(workspace, batches);
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use snaprun::results::{Results, Status, fixtures};

    use super::*;

    fn batch(store: &Store, id: &str, ws: &Path, start_ms: i64) {
        let results = Results::open(&store.results_db()).unwrap();
        let mut b = fixtures::batch(id);
        b.workspace = ws.to_path_buf();
        b.start_ms = start_ms;
        b.iterations = 3;
        results.insert_batch(&b).unwrap();
    }

    fn iteration(store: &Store, id: &str, n: u32, status: Status) {
        let results = Results::open(&store.results_db()).unwrap();
        results
            .insert_iteration(&fixtures::iteration(id, n, status))
            .unwrap();
    }

    fn ids(c: &Changed) -> Vec<&str> {
        c.batches.iter().map(|b| b.batch.id.as_str()).collect()
    }

    #[test]
    fn only_what_changed_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(&dir.path().join("store"))).unwrap();
        let ws = std::fs::canonicalize(dir.path()).unwrap();
        let other = Path::new("/elsewhere");
        for (i, id) in ["b1", "b2", "b3"].iter().enumerate() {
            batch(&store, id, &ws, 1000 * i as i64);
        }
        let mut cursor = Cursor::now(&store);
        assert!(cursor.catch_up(&store).unwrap().is_none(), "nothing new");
        let list = ops::batch_list(
            &store,
            &BatchListOptions {
                workspace: ws.clone(),
                limit: 100,
                changes: false,
            },
        )
        .unwrap();
        cursor.follow(&ws, &list);

        // An iteration of the second newest batch: it and the one above it are re-listed.
        iteration(&store, "b2", 1, Status::Fail);
        let c = cursor.catch_up(&store).unwrap().unwrap();
        assert_eq!(ids(&c), ["b3", "b2"]);
        assert_eq!(c.iterations.len(), 1);
        assert!(c.workspaces.is_none(), "no batch started or finished");
        assert_eq!(c.batches[1].summary.failed, 1);

        // A new batch here and one elsewhere: the workspaces are listed again, and only the
        // new batch of this workspace is.
        batch(&store, "b4", &ws, 9000);
        batch(&store, "x1", other, 9500);
        iteration(&store, "x1", 1, Status::Pass);
        let c = cursor.catch_up(&store).unwrap().unwrap();
        assert_eq!(ids(&c), ["b4"]);
        assert!(
            c.iterations.is_empty(),
            "the other workspace's iteration is not ours"
        );
        assert_eq!(c.workspaces.as_ref().map(Vec::len), Some(2));
        assert_eq!(cursor.order, ["b4", "b3", "b2", "b1"]);
    }

    #[test]
    fn a_replaced_or_broken_database_asks_for_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(&dir.path().join("store"))).unwrap();
        batch(&store, "b1", dir.path(), 1);
        batch(&store, "b2", dir.path(), 2);
        let mut cursor = Cursor::now(&store);
        std::fs::remove_file(store.results_db()).unwrap();
        std::fs::write(store.results_db(), b"not a database".repeat(100)).unwrap();
        let e = cursor.catch_up(&store).unwrap_err();
        assert!(e.message.contains("is unreadable"), "{}", e.message);
        std::fs::remove_file(store.results_db()).unwrap();
        batch(&store, "b9", dir.path(), 3);
        assert!(cursor.catch_up(&store).unwrap().unwrap().reload);
        batch(&store, "b10", dir.path(), 4);
        let c = cursor.catch_up(&store).unwrap().unwrap();
        assert!(!c.reload);
    }

    /// Real inotify events of real SQLite reads and writes: reads never count, writes do.
    #[test]
    fn reads_of_the_results_are_not_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(&dir.path().join("store"))).unwrap();
        let files = ops::results_files(&store);
        let (tx, rx) = mpsc::channel::<notify::Event>();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            let _ = tx.send(e.unwrap());
        })
        .unwrap();
        watcher
            .watch(&files.dir, RecursiveMode::NonRecursive)
            .unwrap();
        let writes = |rx: &mpsc::Receiver<notify::Event>| {
            std::thread::sleep(Duration::from_millis(300));
            rx.try_iter().filter(|e| is_write(e, &files)).count()
        };
        batch(&store, "b1", dir.path(), 1);
        assert!(writes(&rx) > 0, "creating the database and a batch");
        // Reads alone create and delete the WAL and its index: not writes.
        ops::changes(&store, 0).unwrap();
        ops::workspaces(&store).unwrap();
        assert_eq!(writes(&rx), 0);
        // Reads beside an open writer chmod the WAL: not writes either.
        let writer = Results::open(&store.results_db()).unwrap();
        writes(&rx);
        ops::changes(&store, 0).unwrap();
        assert_eq!(writes(&rx), 0);
        writer.insert_batch(&fixtures::batch("b2")).unwrap();
        assert!(writes(&rx) > 0, "a commit");
    }
}
