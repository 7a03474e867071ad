//! Live views without polling: a thread that sleeps until one of a few files changes (inotify
//! through `notify`), then calls the view's refresh. Used for every database another process
//! writes: retrace-lsp's history, the planner's store, snaprun's results.
//!
//! Events arriving close together are coalesced (a SQLite commit touches the WAL several
//! times), so one commit costs one refresh. Dropping the [`Watch`] stops the thread.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::error::{AppError, Result};

/// After the first event, how long to wait for more before refreshing.
const COALESCE: Duration = Duration::from_millis(15);

pub struct Watch {
    // Dropping the watcher closes the channel, which ends the thread.
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Calls `on_change` (on the watch's own thread) whenever one of `files` is created,
    /// written or removed. The files need not exist yet; their directories must.
    pub fn start(files: &[PathBuf], on_change: impl FnMut() + Send + 'static) -> Result<Watch> {
        let names: HashSet<OsString> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_owned()))
            .collect();
        let dirs: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_owned))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        Watch::matching(
            &dirs,
            move |event| {
                !event.kind.is_access()
                    && event
                        .paths
                        .iter()
                        .any(|p| p.file_name().is_some_and(|n| names.contains(n)))
            },
            on_change,
        )
    }

    /// Calls `on_change` (on the watch's own thread) after each burst of events in `dirs`
    /// (not recursive) that `wanted` accepts.
    pub fn matching(
        dirs: &[PathBuf],
        wanted: impl Fn(&notify::Event) -> bool + Send + 'static,
        on_change: impl FnMut() + Send + 'static,
    ) -> Result<Watch> {
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| wanted(&e)) {
                    let _ = tx.send(());
                }
            })
            .map_err(|e| AppError::failed(format!("cannot watch for changes: {e}")))?;
        for dir in dirs {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|e| {
                    AppError::failed(format!(
                        "cannot watch {} for changes ({e}); the view will not update by itself",
                        dir.display()
                    ))
                })?;
        }
        let thread = std::thread::Builder::new()
            .name("live-view".into())
            .spawn(move || coalesced(&rx, COALESCE, on_change))
            .map_err(|e| AppError::failed(format!("cannot start the live-view thread: {e}")))?;
        Ok(Watch {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

/// Calls `f` once per burst of messages on `rx`: after the first, what else arrives within
/// `window` joins it, so a steady stream still calls `f` every `window`. Returns when every
/// sender is gone.
pub fn coalesced(rx: &mpsc::Receiver<()>, window: Duration, mut f: impl FnMut()) {
    while rx.recv().is_ok() {
        let deadline = Instant::now() + window;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if rx.recv_timeout(left).is_err() {
                break;
            }
        }
        f();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
