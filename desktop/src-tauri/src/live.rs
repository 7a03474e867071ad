//! Live views without polling: a thread that sleeps until one of a few files changes (inotify
//! through `notify`), then calls the view's refresh. Used for every database another process
//! writes: retrace-lsp's histories, the planner's store, snaprun's results.
//!
//! A [`Target`] is one file, or every file directly inside a directory (retrace-lsp keeps one
//! database per workspace). Neither needs to exist yet: while a directory is missing, its
//! nearest existing ancestor is watched, and the directory is watched as soon as it appears
//! (its creation counts as a change).
//!
//! Events arriving close together are coalesced (a SQLite commit touches the WAL several
//! times), so one commit costs one refresh. Dropping the [`Watch`] stops the thread.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::error::{AppError, Result};

/// After the first event, how long to wait for more before refreshing.
const COALESCE: Duration = Duration::from_millis(15);

/// What a [`Watch`] follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One file (created, written, removed).
    File(PathBuf),
    /// Any file directly inside this directory but a SQLite `-shm` index.
    Dir(PathBuf),
}

impl Target {
    /// The directory to watch for it.
    fn dir(&self) -> Option<&Path> {
        match self {
            Target::File(f) => f.parent(),
            Target::Dir(d) => Some(d),
        }
    }

    fn matches(&self, path: &Path) -> bool {
        match self {
            Target::File(f) => path == f,
            // SQLite's shared-memory index changes when a database is only read (the view's
            // own refresh reads it): never a change, and following it would loop.
            Target::Dir(d) => {
                (path.parent() == Some(d.as_path()) || path == d)
                    && !path.to_string_lossy().ends_with("-shm")
            }
        }
    }
}

enum Msg {
    Event(Vec<PathBuf>),
    Stop,
}

pub struct Watch {
    stop: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Calls `on_change` (on the watch's own thread) whenever one of `files` is created,
    /// written or removed.
    pub fn start(files: &[PathBuf], on_change: impl FnMut() + Send + 'static) -> Result<Watch> {
        let targets: Vec<Target> = files.iter().cloned().map(Target::File).collect();
        Watch::targets(&targets, on_change)
    }

    /// Calls `on_change` (on the watch's own thread) whenever something `targets` names
    /// changes.
    pub fn targets(targets: &[Target], on_change: impl FnMut() + Send + 'static) -> Result<Watch> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let events = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                // Reading a database opens, locks and chmods its files (access and metadata
                // events); only a write is a change, and following reads would loop.
                let metadata = matches!(
                    event.kind,
                    notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                );
                if !event.kind.is_access() && !metadata {
                    let _ = events.send(Msg::Event(event.paths));
                }
            })
            .map_err(|e| AppError::failed(format!("cannot watch for changes: {e}")))?;
        let mut armed = Armed::default();
        armed.arm(&mut watcher, targets)?;
        let targets = targets.to_vec();
        let thread = std::thread::Builder::new()
            .name("live-view".into())
            .spawn(move || follow(&rx, watcher, armed, &targets, on_change))
            .map_err(|e| AppError::failed(format!("cannot start the live-view thread: {e}")))?;
        Ok(Watch {
            stop: tx,
            thread: Some(thread),
        })
    }
}

/// The directories watched so far: the targets' own, or an ancestor while one is missing.
#[derive(Default)]
struct Armed {
    dirs: HashSet<PathBuf>,
    /// Some target's directory is still missing.
    waiting: bool,
}

impl Armed {
    fn arm(&mut self, watcher: &mut impl Watcher, targets: &[Target]) -> Result<()> {
        self.waiting = false;
        for dir in targets.iter().filter_map(Target::dir) {
            let at = if dir.is_dir() {
                dir
            } else {
                self.waiting = true;
                match dir.ancestors().find(|a| a.is_dir()) {
                    Some(a) => a,
                    None => continue,
                }
            };
            if self.dirs.contains(at) {
                continue;
            }
            watcher
                .watch(at, RecursiveMode::NonRecursive)
                .map_err(|e| {
                    AppError::failed(format!(
                        "cannot watch {} for changes ({e}); the view will not update by itself",
                        at.display()
                    ))
                })?;
            self.dirs.insert(at.to_owned());
        }
        Ok(())
    }
}

/// The watch's thread: one `on_change` per burst of relevant events, until stopped.
fn follow(
    rx: &mpsc::Receiver<Msg>,
    mut watcher: impl Watcher,
    mut armed: Armed,
    targets: &[Target],
    mut on_change: impl FnMut(),
) {
    let relevant = |paths: &[PathBuf]| paths.iter().any(|p| targets.iter().any(|t| t.matches(p)));
    loop {
        let mut changed = match rx.recv() {
            Ok(Msg::Event(paths)) => relevant(&paths),
            Ok(Msg::Stop) | Err(_) => return,
        };
        let deadline = Instant::now() + COALESCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(Msg::Event(paths)) => changed |= relevant(&paths),
                Ok(Msg::Stop) => return,
                Err(_) => break,
            }
        }
        if armed.waiting {
            let before = armed.dirs.len();
            if let Err(e) = armed.arm(&mut watcher, targets) {
                log::warn!("{}", e.message);
            }
            // A directory that appeared may already hold the file that made it.
            changed |= armed.dirs.len() > before;
        }
        if changed {
            on_change();
        }
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
        let _ = self.stop.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch on a directory that does not exist yet sees a file written in it once it
    /// appears, without polling.
    #[test]
    fn a_missing_directory_is_followed_once_it_appears() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("retrace/history");
        let file = root.path().join("snaprun/results.db");
        let (tx, rx) = mpsc::channel();
        let _watch = Watch::targets(
            &[Target::Dir(dir.clone()), Target::File(file.clone())],
            move || {
                let _ = tx.send(());
            },
        )
        .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the directory's creation is a change");
        while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
        std::fs::write(dir.join("w-1.sqlite3"), b"x").unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("a file written in it is a change");
        while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
        std::fs::write(root.path().join("unrelated"), b"x").unwrap();
        std::fs::write(dir.join("w-1.sqlite3-shm"), b"read").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"x").unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the other target's file is a change");
        while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
        // What a reader does to a database's files (SQLite sets their mode when it opens
        // them) is not a change.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::read(&file).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
