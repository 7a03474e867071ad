//! The Stress tests view: snaprun batches started, followed, stopped and compared from the
//! app, through snaprun's use-case layer (`snaprun::ops`): never its CLI's output, never its
//! SQL. The app and `snaprun` share one store (`SNAPRUN_STORE`, else `$XDG_DATA_HOME/snaprun`,
//! as the CLI resolves it), so each sees what the other runs.
//!
//! - here: the reads, one `ops` call each, with what the frontend needs beside them (seeds as
//!   text, since a JavaScript number cannot hold a `u64`);
//! - [`feed`]: the results database followed live, for batches any process runs;
//! - [`work`]: long work started from the app (batches, watch mode, preparing an image), each
//!   on threads of its own with a `Cancel` token, reporting events;
//! - [`request`]: what the Start form sends, checked and turned into `snaprun` options;
//! - [`terminal`]: `repro` opened in the terminal the user configured.

pub mod feed;
pub mod request;
pub mod terminal;
pub mod work;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use snaprun::compare::Comparison;
use snaprun::ops::{self, BatchListItem, BatchListOptions, ImageList, IterationLogs};
use snaprun::plan::{Partition, Plan};
use snaprun::results::{BatchReport, WorkspaceBatches};
use snaprun::store::Store;

use crate::error::{AppError, ErrorKind, Result};

/// The environment variable the `snaprun` command reads its store from.
pub const STORE_ENV: &str = "SNAPRUN_STORE";
/// The most batches of one workspace the list holds.
pub const LIST_LIMIT: u32 = 20_000;

/// snaprun's error as the frontend gets it: snaprun's own message, with a kind to branch on.
pub fn app_error(e: snaprun::Error) -> AppError {
    use snaprun::Error as E;
    let kind = match &e {
        E::Database { .. } => ErrorKind::Unreadable,
        E::BatchNotFound(_) | E::IterationNotFound { .. } | E::ImageNotFound { .. } => {
            ErrorKind::NotFound
        }
        E::Usage(_) => ErrorKind::Invalid,
        _ => ErrorKind::Failed,
    };
    AppError::new(kind, e.to_string())
}

/// The store the `snaprun` command would use here: `SNAPRUN_STORE`, else the default.
pub fn store_root_from_env() -> Option<PathBuf> {
    match std::env::var_os(STORE_ENV) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => Store::default_root().ok(),
    }
}

/// The Stress view's share of the app's state.
pub struct StressState {
    root: Option<PathBuf>,
    /// The guest agent built into the default image: `snaprun-agent` beside the app (they are
    /// built and installed together), or `SNAPRUN_AGENT`.
    agent: PathBuf,
    feed: Mutex<Option<feed::Feed>>,
    pub work: work::Work,
}

impl StressState {
    /// The view over the store at `root` (`None`: there is no home directory to find one in).
    pub fn new(root: Option<PathBuf>) -> StressState {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("retrace-desktop"));
        StressState {
            root,
            agent: ops::agent_beside(&exe),
            feed: Mutex::new(None),
            work: work::Work::default(),
        }
    }

    /// Opens (creating if needed) the store, as `snaprun` does.
    pub fn store(&self) -> Result<Store> {
        let root = self.root.as_deref().ok_or_else(|| {
            AppError::failed(
                "cannot find snaprun's store: set XDG_DATA_HOME or HOME (or SNAPRUN_STORE) and \
                 restart the app",
            )
        })?;
        Store::open(Some(root)).map_err(app_error)
    }

    pub fn agent(&self) -> &Path {
        &self.agent
    }

    /// Follows the results live (replacing an earlier feed) and says what is there now.
    pub fn open<R: tauri::Runtime>(&self, app: tauri::AppHandle<R>) -> Result<Overview> {
        let store = self.store()?;
        let feed = feed::Feed::start(app, store.clone())?;
        if let Ok(mut slot) = self.feed.lock() {
            *slot = Some(feed);
        }
        Ok(Overview {
            store: store.root().display().to_string(),
            watching: self.work.watching(),
            workspaces: ops::workspaces(&store).map_err(app_error)?,
        })
    }

    /// Stops following the results (the view was left).
    pub fn close(&self) {
        if let Ok(mut slot) = self.feed.lock() {
            slot.take();
        }
    }

    /// Workspace `folder`'s batches, newest first; live updates follow for it from now on.
    pub fn batches(&self, folder: &str) -> Result<BatchPage> {
        let store = self.store()?;
        let workspace = workspace_dir(folder)?;
        // The revision before the list: the feed sends again what is committed after it, as the
        // list may have been read before it (see `feed`).
        let revision = ops::changes(&store, i64::MAX).map_err(app_error)?.revision;
        let batches = ops::batch_list(
            &store,
            &BatchListOptions {
                workspace: workspace.clone(),
                limit: LIST_LIMIT,
                changes: true,
            },
        )
        .map_err(app_error)?;
        if let Ok(slot) = self.feed.lock()
            && let Some(feed) = slot.as_ref()
        {
            feed.follow(&workspace, &batches, revision);
        }
        Ok(BatchPage {
            workspace: workspace.display().to_string(),
            workspaces: ops::workspaces(&store).map_err(app_error)?,
            batches,
        })
    }
}

/// What the view starts from.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// The store's directory (what `snaprun --store` would name).
    pub store: String,
    /// The workspaces that have batches, most recently tested first.
    pub workspaces: Vec<WorkspaceBatches>,
    /// The workspace watch mode follows, when it is on.
    pub watching: Option<String>,
}

/// One workspace's batches.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPage {
    /// The workspace as batches record it (absolute, symlinks resolved).
    pub workspace: String,
    /// Newest first.
    pub batches: Vec<BatchListItem>,
    pub workspaces: Vec<WorkspaceBatches>,
}

/// A folder typed or picked by the user, as batches record it; `~/` is the home directory.
pub fn workspace_dir(folder: &str) -> Result<PathBuf> {
    let folder = folder.trim();
    let path = match folder.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from(folder), |h| PathBuf::from(h).join(rest)),
        None => PathBuf::from(folder),
    };
    if folder.is_empty() || !path.is_absolute() {
        return Err(AppError::new(
            ErrorKind::Invalid,
            format!(
                "`{folder}` is not an absolute path; type a folder such as /home/me/project, or \
                 choose one with Open folder"
            ),
        ));
    }
    if !path.is_dir() {
        return Err(AppError::new(
            ErrorKind::NotFound,
            format!(
                "folder {} does not exist; type another path, or choose one with Open folder",
                path.display()
            ),
        ));
    }
    std::fs::canonicalize(&path)
        .map_err(|e| AppError::failed(format!("cannot open folder {}: {e}", path.display())))
}

/// A batch with its iterations, for the grid of cells.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchDetail {
    pub report: BatchReport,
    /// The iterations it runs (a partition runs some of them), in order.
    pub numbers: Vec<u32>,
    /// The batch seed, exactly.
    pub seed: String,
}

pub fn batch(store: &Store, id: &str) -> Result<BatchDetail> {
    let report = ops::show(store, id).map_err(app_error)?;
    let b = &report.batch;
    let partition = b
        .partition
        .as_deref()
        .and_then(|p| p.parse::<Partition>().ok());
    let numbers = Plan::new(b.iterations, b.jobs.max(1), partition)
        .map(|p| p.numbers)
        .unwrap_or_else(|_| (1..=b.iterations).collect());
    Ok(BatchDetail {
        seed: b.seed.to_string(),
        numbers,
        report,
    })
}

/// What a failing (or any) iteration left: its output, console log, seed, and `repro`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IterationDetail {
    pub logs: IterationLogs,
    /// The iteration's seed, exactly.
    pub seed: String,
    /// The command that reproduces it, to copy into a shell.
    pub repro: String,
}

pub fn iteration(store: &Store, batch: &str, n: u32) -> Result<IterationDetail> {
    let logs = ops::iteration_logs(store, batch, n).map_err(app_error)?;
    Ok(IterationDetail {
        seed: logs.iteration.seed.to_string(),
        repro: ops::repro_command(store, &logs.batch.id, n),
        logs,
    })
}

pub fn compare(store: &Store, a: &str, b: &str) -> Result<Comparison> {
    ops::compare(store, a, b, None).map_err(app_error)
}

pub fn images(store: &Store) -> Result<ImageList> {
    ops::images(store).map_err(app_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_folder_must_exist_and_be_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            workspace_dir(&format!("  {}  ", dir.path().display())).unwrap(),
            canonical
        );
        let missing = workspace_dir(&dir.path().join("nope").display().to_string()).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NotFound);
        assert!(
            missing.message.contains("does not exist"),
            "{}",
            missing.message
        );
        assert_eq!(workspace_dir("src").unwrap_err().kind, ErrorKind::Invalid);
        assert_eq!(workspace_dir("").unwrap_err().kind, ErrorKind::Invalid);
    }

    #[test]
    fn snaprun_errors_keep_their_message() {
        let e = app_error(snaprun::Error::BatchNotFound("abc".into()));
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(
            e.message,
            snaprun::Error::BatchNotFound("abc".into()).to_string()
        );
    }
}
