//! Follows files renamed, deleted or written outside the editor (notify, debounced).
//!
//! Only the directories that hold recorded files are watched, non-recursively, with their
//! ancestors up to the workspace root: a few watches instead of one per directory of the
//! whole tree (a `target/` of build output can hold tens of thousands).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::history::{FsChange, History};
use crate::tree::FileId;

/// Events closer together than this arrive as one batch (a save-by-rename is several).
const DEBOUNCE: Duration = Duration::from_millis(250);

pub struct Watcher {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    watched: BTreeSet<PathBuf>,
    /// Files from this id on are new since the watches were last set (file ids only grow).
    next_file: i64,
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
            next_file: 0,
        })
    }

    /// After a visit: also watches what the files new since the last call need (recorded
    /// here or synced from another process). Costs as much as the new files, not as the
    /// history: a visit to a new file stays as fast at 100,000 files as at 10.
    pub fn follow(&mut self, history: &History) {
        let (_, next_file) = history.tree().next_ids();
        if next_file <= self.next_file {
            return;
        }
        let mut new = BTreeSet::new();
        for id in self.next_file..next_file {
            if let Some(file) = history.tree().file(FileId(id))
                && !file.gone
            {
                let mut dirs = BTreeSet::new();
                history.add_dirs_of(&file.uri, &mut dirs);
                new.extend(dirs.into_iter().filter(|d| !self.watched.contains(d)));
            }
        }
        self.next_file = next_file;
        for dir in new {
            watch(&mut self.debouncer, &dir);
            self.watched.insert(dir);
        }
    }

    /// Watches exactly what the history's files need (after files were renamed or deleted).
    pub fn refollow(&mut self, history: &History) {
        self.next_file = history.tree().next_ids().1;
        self.watch_only(history.watched_dirs());
    }

    /// Watches exactly these directories from now on.
    pub fn watch_only(&mut self, dirs: BTreeSet<PathBuf>) {
        for gone in self.watched.difference(&dirs) {
            let _ = self.debouncer.unwatch(gone);
        }
        for new in dirs.difference(&self.watched) {
            watch(&mut self.debouncer, new);
        }
        self.watched = dirs;
    }
}

fn watch(debouncer: &mut Debouncer<RecommendedWatcher, RecommendedCache>, dir: &Path) {
    if let Err(e) = debouncer.watch(dir, RecursiveMode::NonRecursive) {
        tracing::debug!("not watching {}: {e}", dir.display());
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
        // Written in place: its nodes follow its lines.
        (EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any), _)
        | (EventKind::Access(AccessKind::Close(AccessMode::Write)), _) => {
            paths.iter().cloned().map(FsChange::Modified).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::history::Options;
    use crate::store::SessionInfo;
    use crate::tree::{Precision, Reason};
    use crate::workspace::{Workspace, uri_for_path};

    #[test]
    fn the_directory_of_a_new_file_is_watched_after_its_visit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        for d in ["a", "b/c"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join("f.rs"), "x\n").unwrap();
        }
        let session = SessionInfo::named("s", "test");
        let mut h = History::open(
            &dir.path().join("h.sqlite3"),
            Workspace::new(&root),
            &session,
            Options::default(),
            0,
        )
        .unwrap();
        let visit = |h: &mut History, rel: &str| {
            let uri = uri_for_path(&root.join(rel));
            h.visit(&uri, 0, 0, Reason::Jump, Precision::Line, 1)
                .unwrap();
        };
        visit(&mut h, "a/f.rs");
        let (tx, changes) = mpsc::channel();
        let mut w = Watcher::new(move |c| {
            let _ = tx.send(c);
        })
        .unwrap();
        w.refollow(&h);
        assert_eq!(w.watched, [root.clone(), root.join("a")].into());
        visit(&mut h, "b/c/f.rs");
        w.follow(&h);
        assert_eq!(
            w.watched,
            [
                root.clone(),
                root.join("a"),
                root.join("b"),
                root.join("b/c")
            ]
            .into()
        );
        // A visit of a known file changes nothing; the watch on b/c is a real one.
        visit(&mut h, "a/f.rs");
        w.follow(&h);
        assert_eq!(w.watched.len(), 4);
        std::fs::remove_file(root.join("b/c/f.rs")).unwrap();
        let got = changes.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            got.contains(&FsChange::Removed(root.join("b/c/f.rs"))),
            "{got:?}"
        );
    }
}
