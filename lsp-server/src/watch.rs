//! Follows files renamed or deleted outside the editor (notify, debounced).
//!
//! Only the directories that hold recorded files are watched, non-recursively, with their
//! ancestors up to the workspace root: a few watches instead of one per directory of the
//! whole tree (a `target/` of build output can hold tens of thousands).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::history::FsChange;

/// Events closer together than this arrive as one batch (a save-by-rename is several).
const DEBOUNCE: Duration = Duration::from_millis(250);

pub struct Watcher {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    watched: BTreeSet<PathBuf>,
}

impl Watcher {
    /// `on_change` runs on the watcher's thread with each settled batch.
    pub fn new(
        on_change: impl Fn(Vec<FsChange>) + Send + 'static,
    ) -> Result<Watcher, notify::Error> {
        let debouncer =
            new_debouncer(
                DEBOUNCE,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) => {
                        let changes: Vec<FsChange> = events
                            .iter()
                            .flat_map(|e| fs_changes(&e.event.kind, &e.event.paths))
                            .collect();
                        if !changes.is_empty() {
                            on_change(changes);
                        }
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!("file watcher: {e}");
                        }
                    }
                },
            )?;
        Ok(Watcher {
            debouncer,
            watched: BTreeSet::new(),
        })
    }

    /// Watches exactly these directories from now on.
    pub fn watch_only(&mut self, dirs: BTreeSet<PathBuf>) {
        for gone in self.watched.difference(&dirs) {
            let _ = self.debouncer.unwatch(gone);
        }
        for new in dirs.difference(&self.watched) {
            if let Err(e) = self.debouncer.watch(new, RecursiveMode::NonRecursive) {
                tracing::debug!("not watching {}: {e}", new.display());
            }
        }
        self.watched = dirs;
    }
}

/// What one notify event means for the history.
fn fs_changes(kind: &EventKind, paths: &[PathBuf]) -> Vec<FsChange> {
    match (kind, paths) {
        (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), [from, to]) => {
            vec![FsChange::Renamed {
                from: from.clone(),
                to: to.clone(),
            }]
        }
        // Moved out of (or into) the watched directories: for us, deleted (or created).
        (EventKind::Modify(ModifyKind::Name(RenameMode::From)), _) | (EventKind::Remove(_), _) => {
            paths.iter().cloned().map(FsChange::Removed).collect()
        }
        (EventKind::Modify(ModifyKind::Name(RenameMode::To)), _) | (EventKind::Create(_), _) => {
            paths.iter().cloned().map(FsChange::Created).collect()
        }
        _ => Vec::new(),
    }
}
