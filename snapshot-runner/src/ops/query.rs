//! What the results say: the batch list (`ls`, and per workspace for the app), one batch
//! (`show`), one iteration's output and console (`logs`), comparisons, merges of partitions,
//! the changes since a revision another process holds, and the `repro` command to copy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::batch::reap_abandoned;
use crate::ci;
use crate::codesnap::{self, Change, Tree};
use crate::compare::{self, Comparison};
use crate::error::{Error, Result};
use crate::iteration::kept_console;
use crate::results::{
    self, Batch, BatchReport, BatchStatus, Changes, Iteration, Results, Summary, WorkspaceBatches,
    host_name, is_abandoned,
};
use crate::store::Store;
use crate::tools::shell_line;

fn open(store: &Store) -> Result<Results> {
    Results::open(&store.results_db())
}

/// One row of `snaprun ls --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ListedBatch {
    // In the order `--json` has always printed them (alphabetical).
    /// Its snaprun was killed and it was not cleaned up yet.
    pub abandoned: bool,
    pub batch: Batch,
    pub summary: Summary,
}

/// The newest batches.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// Batches found abandoned (their snaprun was killed) and cleaned up just now.
    pub reaped: Vec<String>,
    /// Newest first.
    pub batches: Vec<ListedBatch>,
}

/// The newest `limit` batches, after cleaning up those whose snaprun was killed.
pub fn ls(store: &Store, limit: u32) -> Result<Listing> {
    let results = open(store)?;
    let reaped = reap_abandoned(store, &results)?;
    let host = host_name();
    let batches = results
        .batches(limit)?
        .into_iter()
        .map(|b| {
            let summary = Summary::of(&results.iterations_without_output(&b.id)?);
            Ok(ListedBatch {
                abandoned: is_abandoned(&b, &host),
                batch: b,
                summary,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Listing { reaped, batches })
}

/// Batch `id` (an id, a unique prefix, or `last`) with its iterations and summary.
pub fn show(store: &Store, id: &str) -> Result<BatchReport> {
    let results = open(store)?;
    let batch = results.batch(id)?;
    let iterations = results.iterations(&batch.id)?;
    Ok(BatchReport::new(batch, iterations))
}

/// What one iteration left to read.
#[derive(Debug, Clone, Serialize)]
pub struct IterationLogs {
    pub batch: Batch,
    /// Its record; its raw output is `iteration.output` (not serialised).
    pub iteration: Iteration,
    /// The command's output (the start and the end, up to the batch's output limit), as
    /// text; a crash or an infrastructure error adds the guest console's last lines.
    pub output: String,
    /// The guest console's log, kept with the disk of a failing iteration.
    pub console: Option<String>,
}

/// Iteration `n` of batch `id`: its record, output and (for kept failures) console log.
pub fn iteration_logs(store: &Store, id: &str, n: u32) -> Result<IterationLogs> {
    let results = open(store)?;
    let batch = results.batch(id)?;
    let iteration = results.iteration(&batch.id, n)?;
    let console = iteration
        .kept_overlay
        .as_deref()
        .and_then(|o| std::fs::read(kept_console(o)).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(IterationLogs {
        output: String::from_utf8_lossy(&iteration.output).into_owned(),
        batch,
        iteration,
        console,
    })
}

/// Compares batch `a` (earlier) with batch `b`, from the store's results or from the results
/// file `db`.
pub fn compare(store: &Store, a: &str, b: &str, db: Option<&Path>) -> Result<Comparison> {
    let results = match db {
        Some(path) => Results::open_existing(path)?.ok_or_else(|| {
            Error::Usage(format!("results file {} does not exist", path.display()))
        })?,
        None => open(store)?,
    };
    let (ba, bb) = (results.batch(a)?, results.batch(b)?);
    let (ia, ib) = (results.iterations(&ba.id)?, results.iterations(&bb.id)?);
    Ok(compare::compare(&ba, &ia, &bb, &ib))
}

/// A merged partitioned batch.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    pub report: BatchReport,
    /// The slices it holds (`1/3`, ...), of `of`.
    pub partitions: Vec<String>,
    pub of: u32,
    pub complete: bool,
}

/// Joins the results files of a partitioned batch into one batch, written to `into` (a results
/// file) or into the store.
pub fn merge(store: &Store, files: &[PathBuf], into: Option<&Path>) -> Result<MergeReport> {
    let merged = ci::merge(files)?;
    match into {
        Some(path) => results::export(path, &merged.batch, &merged.iterations).map_err(|e| {
            e.context(format!(
                "cannot write the merged results to {}",
                path.display()
            ))
        })?,
        None => open(store)?.replace_batch(&merged.batch, &merged.iterations)?,
    }
    Ok(MergeReport {
        complete: merged.complete(),
        partitions: merged.partitions.iter().map(|p| p.to_string()).collect(),
        of: merged.of,
        report: BatchReport::new(merged.batch, merged.iterations),
    })
}

/// The workspaces that have batches, the most recently tested first.
pub fn workspaces(store: &Store) -> Result<Vec<WorkspaceBatches>> {
    open(store)?.workspaces()
}

/// Which batches [`batch_list`] returns.
#[derive(Debug, Clone)]
pub struct BatchListOptions {
    pub workspace: PathBuf,
    pub limit: u32,
    /// Also diff each batch's code snapshot against the previous batch's (reads both trees).
    pub changes: bool,
}

/// One batch in a workspace's list.
#[derive(Debug, Clone, Serialize)]
pub struct BatchListItem {
    pub batch: Batch,
    /// Counts, failure rate with its 95% Wilson interval, durations (p50/p90/p99/max).
    pub summary: Summary,
    /// The batch's status, `abandoned` when its snaprun is gone though it says `running`.
    pub status: BatchStatus,
    /// Restored from a warm state (else booted).
    pub warm: bool,
    /// The code snapshot's hash, short.
    pub code: String,
    /// The code snapshot of the batch before it in this workspace.
    pub previous_code: Option<String>,
    /// What changed from `previous_code` (with [`BatchListOptions::changes`], when both
    /// snapshots are still in the store).
    pub changed: Option<Vec<Change>>,
}

/// The newest batches of a workspace, newest first, each with its summary.
pub fn batch_list(store: &Store, opts: &BatchListOptions) -> Result<Vec<BatchListItem>> {
    let results = open(store)?;
    // Batches record the workspace as its snapshot saw it: canonical.
    let ws = std::fs::canonicalize(&opts.workspace).unwrap_or_else(|_| opts.workspace.clone());
    let (batches, mut iterations) =
        results.workspace_batches_with_iterations(&ws, opts.limit.saturating_add(1), opts.limit)?;
    let host = host_name();
    let mut trees: HashMap<String, Option<Tree>> = HashMap::new();
    let mut items = Vec::new();
    for (i, b) in batches.iter().enumerate().take(opts.limit as usize) {
        let summary = Summary::of(&iterations.remove(&b.id).unwrap_or_default());
        let previous_code = batches.get(i + 1).map(|p| p.code_hash.clone());
        let changed = match &previous_code {
            Some(prev) if opts.changes => diff_cached(store, &mut trees, prev, &b.code_hash),
            _ => None,
        };
        items.push(BatchListItem {
            status: if is_abandoned(b, &host) {
                BatchStatus::Abandoned
            } else {
                b.status
            },
            warm: b.warm_hash.is_some(),
            code: short(&b.code_hash).to_string(),
            previous_code,
            changed,
            summary,
            batch: b.clone(),
        });
    }
    Ok(items)
}

fn diff_cached(
    store: &Store,
    trees: &mut HashMap<String, Option<Tree>>,
    old: &str,
    new: &str,
) -> Option<Vec<Change>> {
    if old == new {
        return Some(Vec::new());
    }
    for h in [old, new] {
        if !trees.contains_key(h) {
            trees.insert(h.to_string(), codesnap::load_tree(store, h).ok());
        }
    }
    match (trees.get(old), trees.get(new)) {
        (Some(Some(a)), Some(Some(b))) => Some(codesnap::diff(a, b)),
        _ => None,
    }
}

/// What changed between two code snapshots (by hash).
pub fn code_changes(store: &Store, old: &str, new: &str) -> Result<Vec<Change>> {
    let (a, b) = (
        codesnap::load_tree(store, old)?,
        codesnap::load_tree(store, new)?,
    );
    Ok(codesnap::diff(&a, &b))
}

/// What any process wrote to the results after `revision` (0: everything): batches started or
/// finished, iterations recorded. Keep the returned revision for the next call; call again
/// when one of [`results_files`] changes.
pub fn changes(store: &Store, revision: i64) -> Result<Changes> {
    open(store)?.changes_since(revision)
}

/// The files a writer of results touches: watch `dir` (inotify) for changes to `database` or
/// `wal` to learn that [`changes`] has something new without polling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultsFiles {
    pub dir: PathBuf,
    pub database: PathBuf,
    /// SQLite's write-ahead log, where every commit lands first.
    pub wal: PathBuf,
}

pub fn results_files(store: &Store) -> ResultsFiles {
    let database = store.results_db();
    let mut wal = database.clone().into_os_string();
    wal.push("-wal");
    ResultsFiles {
        dir: store.root().to_path_buf(),
        wal: PathBuf::from(wal),
        database,
    }
}

/// The command that reproduces iteration `n` of batch `batch_id`, to copy into a shell (with
/// `--store` when the store is not the default one).
pub fn repro_command(store: &Store, batch_id: &str, n: u32) -> String {
    let mut words = vec!["snaprun".to_string()];
    if Store::default_root().ok().as_deref() != Some(store.root()) {
        words.push("--store".into());
        words.push(store.root().to_string_lossy().into_owned());
    }
    words.extend(["repro".to_string(), batch_id.to_string(), n.to_string()]);
    shell_line(&words)
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repro_command_names_a_store_that_is_not_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("my store");
        let store = Store::at(root.clone());
        assert_eq!(
            repro_command(&store, "20260101-000000-abcdef", 3),
            format!(
                "snaprun --store '{}' repro 20260101-000000-abcdef 3",
                root.display()
            )
        );
        if let Ok(default) = Store::default_root() {
            assert_eq!(
                repro_command(&Store::at(default), "b", 1),
                "snaprun repro b 1"
            );
        }
    }
}
