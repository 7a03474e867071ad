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
//!
//! No write may be missed, and two ways used to miss one:
//! - A commit's frames reach the WAL (the write inotify reports) before the commit can be read:
//!   the writer syncs the WAL first (`synchronous=FULL`), which takes long on a loaded disk, and
//!   then publishes the commit in the `-shm` index, which is shared memory (no event). A read
//!   right after the event can find nothing new, and the batch's only write stayed unseen. So
//!   after a burst of writes the feed reads again on a backoff ([`RECHECK`]) until the results
//!   have been quiet for a while, whatever each read found; a new write starts it over. These
//!   re-reads follow writes only: an idle store is never read.
//! - The list of a workspace is read by a command, the feed follows it after: whatever was
//!   committed in between was neither in the list nor sent for that workspace.
//!   [`Cursor::follow`] takes the revision read before the list, and the feed catches up from
//!   it at once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};

use serde::Serialize;
use snaprun::ops::{self, BatchListItem, BatchListOptions, ResultsFiles};
use snaprun::results::{Iteration, WorkspaceBatches, now_ms};
use snaprun::store::Store;
use tauri::{AppHandle, Emitter, Runtime};

use super::app_error;
use crate::error::{AppError, Result};

/// The event that carries a [`Changed`].
pub const EVENT: &str = "stress:changed";
/// After a first write, how long to wait for more before reading (a commit is several writes).
const COALESCE: Duration = Duration::from_millis(15);
/// After the reads of a burst of writes, the pauses before reading again (see the module): a
/// commit whose WAL sync takes up to their sum (about 12 s) is seen at most one pause after
/// it can be read.
const RECHECK: [Duration; 9] = [
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(7),
];

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

    /// From now on, changes to `workspace` (whose list is `batches`, newest first, read at
    /// `revision` or later) are followed. What was committed after `revision` is sent again by
    /// the next [`Cursor::catch_up`], as it may not be in the list.
    pub fn follow(&mut self, workspace: &Path, batches: &[BatchListItem], revision: i64) {
        self.workspace = Some(workspace.to_path_buf());
        self.order = batches.iter().map(|b| b.batch.id.clone()).collect();
        self.revision = self.revision.min(revision);
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

/// What wakes the feed's thread.
enum Wake {
    /// A write to the results.
    Write,
    /// A new workspace followed: catch up now.
    Follow,
}

/// The feed's thread: reads after each burst of writes and again on [`RECHECK`]'s backoff until
/// the results are quiet; `read` is called after a follow at once. Returns when every sender
/// is gone.
fn follow_writes(
    rx: &mpsc::Receiver<Wake>,
    coalesce: Duration,
    recheck: &[Duration],
    mut read: impl FnMut(),
) {
    // Where in the backoff the feed is; past the end, it sleeps until the next wake.
    let mut step = recheck.len();
    loop {
        let woke = match recheck.get(step) {
            Some(pause) => match rx.recv_timeout(*pause) {
                Ok(w) => Some(w),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(w) => Some(w),
                Err(_) => return,
            },
        };
        match woke {
            Some(Wake::Write) => {
                let deadline = Instant::now() + coalesce;
                while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                    match rx.recv_timeout(left) {
                        Ok(_) => {}
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                step = 0;
            }
            Some(Wake::Follow) => {}
            None => step += 1,
        }
        read();
    }
}

/// The live feed of one store's results; dropping it stops it.
pub struct Feed {
    cursor: Arc<Mutex<Cursor>>,
    wake: mpsc::Sender<Wake>,
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
        let (tx, rx) = mpsc::channel::<Wake>();
        let wake = tx.clone();
        let watched = files.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| is_write(&e, &watched)) {
                    let _ = tx.send(Wake::Write);
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
            .spawn(move || follow_writes(&rx, COALESCE, &RECHECK, refresh))
            .map_err(|e| AppError::failed(format!("cannot start the results thread: {e}")))?;
        Ok(Feed {
            cursor,
            wake,
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }

    /// See [`Cursor::follow`]; the feed catches up at once.
    pub fn follow(&self, workspace: &Path, batches: &[BatchListItem], revision: i64) {
        if let Ok(mut cursor) = self.cursor.lock() {
            cursor.follow(workspace, batches, revision);
        }
        let _ = self.wake.send(Wake::Follow);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Dropping the watcher and the feed's own sender closes the channel.
        drop(self.watcher.take());
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.wake, closed));
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
        cursor.follow(&ws, &list, cursor.revision);

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

    /// A batch committed after a workspace's list was read but before the feed follows that
    /// workspace (the feed caught up meanwhile, following another) is sent all the same.
    #[test]
    fn a_batch_committed_between_the_list_and_the_follow_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(&dir.path().join("store"))).unwrap();
        let ws = std::fs::canonicalize(dir.path()).unwrap();
        batch(&store, "b1", &ws, 1);
        let mut cursor = Cursor::now(&store);
        cursor.follow(Path::new("/elsewhere"), &[], cursor.revision);
        let before_list = ops::changes(&store, i64::MAX).unwrap().revision;
        let options = BatchListOptions {
            workspace: ws.clone(),
            limit: 100,
            changes: false,
        };
        let list = ops::batch_list(&store, &options).unwrap();
        batch(&store, "b2", &ws, 2);
        let seen = cursor.catch_up(&store).unwrap().unwrap();
        assert!(
            seen.batches.is_empty(),
            "b2 is not of the workspace followed"
        );
        cursor.follow(&ws, &list, before_list);
        let c = cursor.catch_up(&store).unwrap().unwrap();
        assert_eq!(ids(&c), ["b2"], "the batch the list missed");
        assert!(cursor.catch_up(&store).unwrap().is_none());
    }

    /// A commit that can be read only some time after its write woke the feed (its WAL sync
    /// took that long; no event marks its end) is read without another write, and once the
    /// backoff is over, the feed sleeps until the next wake. The delay is the fake: a real
    /// WAL sync cannot be slowed on demand.
    #[test]
    fn a_commit_readable_late_is_read_without_another_write() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (tx, rx) = mpsc::channel::<Wake>();
        let reads = Arc::new(AtomicUsize::new(0));
        let (seen_tx, seen_rx) = mpsc::channel::<Instant>();
        let woke = Instant::now();
        let readable = woke + Duration::from_millis(400);
        let counted = Arc::clone(&reads);
        let thread = std::thread::spawn(move || {
            follow_writes(&rx, COALESCE, &RECHECK, || {
                counted.fetch_add(1, Ordering::SeqCst);
                if Instant::now() >= readable {
                    let _ = seen_tx.send(Instant::now());
                }
            })
        });
        tx.send(Wake::Write).unwrap();
        let seen = seen_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the commit read without another write");
        // The pause in effect 400 ms after the write is 250 ms (one pause late at most).
        assert!(
            seen - readable < Duration::from_millis(400),
            "{:?} late",
            seen - readable
        );
        drop(tx);
        thread.join().unwrap();

        // A short backoff: reads stop when it is over, and a follow reads at once.
        let (tx, rx) = mpsc::channel::<Wake>();
        let counted = Arc::clone(&reads);
        reads.store(0, Ordering::SeqCst);
        let short = [Duration::from_millis(5), Duration::from_millis(10)];
        let thread = std::thread::spawn(move || {
            follow_writes(&rx, Duration::from_millis(1), &short, || {
                counted.fetch_add(1, Ordering::SeqCst);
            })
        });
        tx.send(Wake::Write).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            3,
            "the burst, then two re-reads"
        );
        tx.send(Wake::Follow).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            4,
            "a follow reads once, at once"
        );
        drop(tx);
        thread.join().unwrap();
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
