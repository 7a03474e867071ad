//! Watch mode: follow the workspace (notify, debounced) and run a new batch against a new code
//! snapshot every time a change settles.
//!
//! A change is judged by its snapshot, not by the file events: events from files the snapshot
//! leaves out (git-ignored build output, `.git` itself) make a snapshot with the same hash, and
//! no batch. While a batch runs, a change either waits for it to end (`queue`) or stops it and
//! starts over (`restart`); either way only the newest code is run next.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::batch::{self, Options, Outcome, Progress};
use crate::codesnap::{self, Change, Tree};
use crate::error::{Error, Result};
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

/// What watch mode reports.
#[derive(Debug)]
pub enum Event<'a> {
    /// Waiting for the workspace to change.
    Watching(&'a Path),
    /// A change settled but the snapshot is the one already run.
    Unchanged,
    /// A batch starts on a new snapshot; `changed` is empty for the first one.
    Starting {
        tree: &'a Tree,
        changed: &'a [Change],
    },
    /// Progress of the running batch.
    Batch(Progress<'a>),
    /// A batch ended. `superseded` when `restart` stopped it for newer code.
    Finished {
        outcome: &'a Outcome,
        tree: &'a Tree,
        changed: &'a [Change],
        superseded: bool,
    },
}

/// Runs batches of `opts` until `interrupt` is set (Ctrl-C): one at once, then one per settled
/// change of the workspace.
pub fn watch(
    store: &Store,
    opts: &Options,
    on_change: OnChange,
    interrupt: &AtomicBool,
    report: &mut dyn FnMut(Event),
) -> Result<()> {
    let root = std::fs::canonicalize(&opts.workspace)
        .map_err(|e| Error::io("opening the workspace", &opts.workspace, e))?;
    let changed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let ignore = std::fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().into());
    let mut debouncer = {
        let (changed, stop) = (Arc::clone(&changed), Arc::clone(&stop));
        new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            let relevant = events.iter().any(|e| {
                counts(&e.event.kind) && e.event.paths.iter().any(|p| !p.starts_with(&ignore))
            });
            if relevant {
                changed.store(true, Ordering::SeqCst);
                if on_change == OnChange::Restart {
                    stop.store(true, Ordering::SeqCst);
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

    let mut last: Option<Tree> = None;
    let mut pending = true;
    while !interrupt.load(Ordering::SeqCst) {
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
            report(Event::Batch(Progress::Building(build)));
            if let Err(e) = tools::run_shell(build, &root) {
                // A broken build is a state of the code, not the end of watching.
                report(Event::Batch(Progress::Note(format!(
                    "{e}; waiting for the next change"
                ))));
                report(Event::Watching(&root));
                continue;
            }
            // What the build wrote is not a change of the code.
            std::thread::sleep(DEBOUNCE * 2);
            changed.store(false, Ordering::SeqCst);
        }
        let tree = codesnap::snapshot(store, &root, &opts.selection)?;
        if last.as_ref().is_some_and(|l| l.hash == tree.hash) {
            report(Event::Unchanged);
            continue;
        }
        let diff = last
            .as_ref()
            .map(|l| codesnap::diff(l, &tree))
            .unwrap_or_default();
        report(Event::Starting {
            tree: &tree,
            changed: &diff,
        });
        stop.store(false, Ordering::SeqCst);
        let batch_opts = Options {
            workspace: root.clone(),
            build: None,
            snapshot: Some(tree.clone()),
            ..opts.clone()
        };
        // The batch stops for Ctrl-C, or for newer code with `restart`.
        let done = AtomicBool::new(false);
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if interrupt.load(Ordering::SeqCst) {
                        stop.store(true, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let r = batch::run(store, &batch_opts, &stop, &mut |p| report(Event::Batch(p)));
            done.store(true, Ordering::SeqCst);
            r
        })?;
        let superseded = !interrupt.load(Ordering::SeqCst) && stop.load(Ordering::SeqCst);
        report(Event::Finished {
            outcome: &outcome,
            tree: &tree,
            changed: &diff,
            superseded,
        });
        last = Some(tree);
        if superseded {
            pending = true;
        } else if !interrupt.load(Ordering::SeqCst) {
            report(Event::Watching(&root));
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
