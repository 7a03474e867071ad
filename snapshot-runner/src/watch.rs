//! Watch mode: follow the workspace (notify, debounced) and run a new batch against a new code
//! snapshot every time a change settles.
//!
//! A change is judged by its snapshot, not by the file events: events from files the snapshot
//! leaves out (git-ignored build output, `.git` itself) make a snapshot with the same hash, and
//! no batch. While a batch runs, a change either waits for it to end (`queue`) or stops it and
//! starts over (`restart`); either way only the newest code is run next.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use serde::Serialize;

use crate::batch::{self, BatchEvent, CodeSnapshot, Options};
use crate::cancel::Cancel;
use crate::codesnap::{self, Change, Tree};
use crate::error::{Error, Result};
use crate::results::{Batch, Summary};
use crate::store::Store;
use crate::tools;

/// Changes closer together than this are one change (an editor's save is several events).
pub const DEBOUNCE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnChange {
    /// Let the running batch finish, then run the newest code.
    #[default]
    Queue,
    /// Stop the running batch (recorded as interrupted) and run the newest code.
    Restart,
}

impl std::str::FromStr for OnChange {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<OnChange, String> {
        match s {
            "queue" => Ok(OnChange::Queue),
            "restart" => Ok(OnChange::Restart),
            _ => Err(format!("`{s}` is not queue or restart")),
        }
    }
}

/// One batch of watch mode as it ended: what `watch --json` prints, one line each.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedBatch {
    // In the order `--json` has always printed them (alphabetical).
    pub batch: Batch,
    /// The changes from the previous snapshot; empty for the first one.
    pub changed: Vec<Change>,
    /// The code snapshot's hash.
    pub code: String,
    pub summary: Summary,
    /// `restart` stopped it for newer code.
    pub superseded: bool,
}

/// What watch mode reports (in JSON, tagged `watch`; a batch's own events keep their `event`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "watch", rename_all = "kebab-case")]
pub enum WatchEvent {
    /// Waiting for the workspace to change.
    Watching { root: PathBuf },
    /// A change settled but the snapshot is the one already run.
    Unchanged,
    /// A batch starts on a new snapshot; `changed` is empty for the first one.
    Starting {
        code: CodeSnapshot,
        changed: Vec<Change>,
    },
    /// Progress of the running batch.
    Batch(BatchEvent),
    /// A batch ended.
    Finished(WatchedBatch),
}

/// Runs batches of `opts` until `cancel` is triggered (Ctrl-C, the app's Stop): one at once,
/// then one per settled change of the workspace.
pub fn watch(
    store: &Store,
    opts: &Options,
    on_change: OnChange,
    cancel: &Cancel,
    report: &mut dyn FnMut(WatchEvent),
) -> Result<()> {
    let root = std::fs::canonicalize(&opts.workspace)
        .map_err(|e| Error::io("opening the workspace", &opts.workspace, e))?;
    let changed = Arc::new(AtomicBool::new(false));
    // Set by a change under `restart`; the running batch's token follows it.
    let newer = Arc::new(AtomicBool::new(false));
    let ignore = std::fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().into());
    let mut debouncer = {
        let (changed, newer) = (Arc::clone(&changed), Arc::clone(&newer));
        new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            let relevant = events.iter().any(|e| {
                counts(&e.event.kind) && e.event.paths.iter().any(|p| !p.starts_with(&ignore))
            });
            if relevant {
                changed.store(true, Ordering::SeqCst);
                if on_change == OnChange::Restart {
                    newer.store(true, Ordering::SeqCst);
                }
            }
        })
        .map_err(|e| Error::Workspace(format!("cannot watch {}: {e}", root.display())))?
    };
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| {
            Error::Workspace(format!(
                "cannot watch {}: {e} (too many directories? raise \
                 fs.inotify.max_user_watches)",
                root.display()
            ))
        })?;

    let watching = || WatchEvent::Watching { root: root.clone() };
    let mut last: Option<Tree> = None;
    let mut pending = true;
    while !cancel.is_cancelled() {
        if !pending {
            if changed.swap(false, Ordering::SeqCst) {
                pending = true;
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        pending = false;
        changed.store(false, Ordering::SeqCst);
        if let Some(build) = &opts.build {
            report(WatchEvent::Batch(BatchEvent::Building {
                command: build.clone(),
            }));
            if let Err(e) = tools::run_shell(build, &root) {
                // A broken build is a state of the code, not the end of watching.
                report(WatchEvent::Batch(BatchEvent::Note {
                    message: format!("{e}; waiting for the next change"),
                }));
                report(watching());
                continue;
            }
            // What the build wrote is not a change of the code.
            std::thread::sleep(DEBOUNCE * 2);
            changed.store(false, Ordering::SeqCst);
        }
        // Held until the batch has recorded itself (its Snapshotted event): `gc` must not
        // take the new snapshot's blobs away before that.
        let mut snapshotting = Some(store.lock_shared()?);
        let tree = codesnap::snapshot(store, &root, &opts.selection)?;
        if last.as_ref().is_some_and(|l| l.hash == tree.hash) {
            report(WatchEvent::Unchanged);
            continue;
        }
        let diff = last
            .as_ref()
            .map(|l| codesnap::diff(l, &tree))
            .unwrap_or_default();
        report(WatchEvent::Starting {
            code: CodeSnapshot::of(&tree),
            changed: diff.clone(),
        });
        newer.store(false, Ordering::SeqCst);
        let batch_opts = Options {
            workspace: root.clone(),
            build: None,
            snapshot: Some(tree.clone()),
            ..opts.clone()
        };
        // The batch stops for `cancel`, or for newer code with `restart`.
        let stop = cancel.child();
        let done = AtomicBool::new(false);
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if newer.load(Ordering::SeqCst) {
                        stop.cancel();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let r = batch::run(store, &batch_opts, &stop, &mut |e| {
                if matches!(e, BatchEvent::Snapshotted { .. }) {
                    snapshotting = None;
                }
                report(WatchEvent::Batch(e))
            });
            done.store(true, Ordering::SeqCst);
            r
        })?;
        let superseded = !cancel.is_cancelled() && stop.is_cancelled();
        report(WatchEvent::Finished(WatchedBatch {
            batch: outcome.report.batch,
            changed: diff,
            code: tree.hash.clone(),
            summary: outcome.report.summary,
            superseded,
        }));
        last = Some(tree);
        if superseded {
            pending = true;
        } else if !cancel.is_cancelled() {
            report(watching());
        }
    }
    Ok(())
}

/// Whether a file event can change the code (reads and opens cannot).
fn counts(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}
