//! `gc`: removes what no kept batch needs, and says what and how many bytes.
//!
//! Kept batches are every batch (the default), the newest N, or those younger than a duration;
//! running batches always. A kept batch keeps its code snapshot (the tree and its blobs, for
//! `repro`), its code disk, its kept overlays and console logs, and the image it ran on while
//! it has kept failures (a replaced image stays as a *retired* one). The batches that are not
//! kept lose those files but keep their results (`ls`, `show`, `compare` still know them; their
//! kept overlays are recorded as gone). Whatever nothing needs goes too: image files no image
//! uses, retired images no kept failure needs, code disks and blobs of no kept batch, the
//! store's scratch space, files of iterations and `repro`s whose snaprun is gone, and the
//! socket directories (`$TMPDIR/snaprun-<pid>-*`) killed snaprun processes left.
//!
//! Safe while batches run: `gc` holds the store's lock exclusive (see
//! [`crate::store::StoreLock`]), so no batch is between making its code snapshot and being
//! recorded as running, and no image is half added; and it keeps everything a running batch
//! uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::batch::reap_abandoned;
use crate::codesnap;
use crate::error::{Error, IoContext, Result};
use crate::results::{Batch, BatchStatus, Results, host_name, is_abandoned};
use crate::store::{Store, allocated, objects_of};

/// How long `gc` waits for work that holds the store (an image build, a batch being set up).
const LOCK_WAIT: Duration = Duration::from_secs(120);
/// An old-style socket directory (no pid in its name) this old is nobody's any more.
const OLD_SOCKETS_AGE: Duration = Duration::from_secs(600);

/// Which batches keep their files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "keep", content = "value", rename_all = "kebab-case")]
pub enum Keep {
    /// Every batch: only what no batch needs goes.
    #[default]
    All,
    /// The newest N batches.
    Newest(u32),
    /// Batches started less than this long ago.
    Younger(Duration),
}

/// What `gc` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcOptions {
    pub keep: Keep,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
}

/// The kinds of things `gc` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Files of workspaces' snapshots.
    CodeBlob,
    /// Snapshots (the list of a snapshot's files).
    CodeTree,
    /// Snapshots as ext4 disks.
    CodeDisk,
    /// The disks and console logs of failed iterations.
    KeptOverlay,
    /// Other files of iterations or `repro`s whose snaprun is gone.
    RunFile,
    /// Replaced images no kept failure needs (their manifests).
    RetiredImage,
    /// Disks, kernels, initrds and warm states no image uses.
    ImageFile,
    /// Leftovers of interrupted work in the store's scratch directory.
    Scratch,
    /// Socket directories killed snaprun processes left in the temporary directory.
    SocketDir,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::CodeBlob => "code blobs",
            Kind::CodeTree => "code snapshots",
            Kind::CodeDisk => "code disks",
            Kind::KeptOverlay => "kept overlays",
            Kind::RunFile => "run files",
            Kind::RetiredImage => "retired images",
            Kind::ImageFile => "image files",
            Kind::Scratch => "scratch",
            Kind::SocketDir => "socket directories",
        }
    }
}

/// One thing removed (or, in a dry run, to be removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub kind: Kind,
    pub path: PathBuf,
    /// Disk space it takes (allocated blocks, so sparse files count for what they hold).
    pub bytes: u64,
}

/// How much of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindTotal {
    pub kind: Kind,
    pub count: usize,
    pub bytes: u64,
}

/// What `gc` did.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub keep: Keep,
    /// Batches whose files are kept (running ones among them).
    pub kept_batches: usize,
    /// Batches whose files were let go (their results stay), newest first.
    pub released_batches: Vec<String>,
    /// Batches found abandoned (their snaprun was killed) and cleaned up first.
    pub reaped: Vec<String>,
    /// Per kind, in [`Kind`] order; kinds with nothing removed are left out.
    pub totals: Vec<KindTotal>,
    /// Everything removed.
    pub removed: Vec<Removed>,
    pub bytes: u64,
}

/// The ids of the batches that keep their files under `keep`, at `now_ms`: the chosen ones and
/// every batch still running. `batches` newest first.
pub fn kept_batches(batches: &[Batch], keep: Keep, now_ms: i64) -> BTreeSet<String> {
    let running = |b: &Batch| b.status == BatchStatus::Running;
    batches
        .iter()
        .enumerate()
        .filter(|(i, b)| {
            running(b)
                || match keep {
                    Keep::All => true,
                    Keep::Newest(n) => *i < n as usize,
                    Keep::Younger(d) => b.start_ms >= now_ms - d.as_millis() as i64,
                }
        })
        .map(|(_, b)| b.id.clone())
        .collect()
}

/// Removes what no kept batch needs (see the module's documentation).
///
/// A dry run holds the store only shared: it removes nothing, so it need not wait for work in
/// progress (what it counts may then include a snapshot a batch is about to record).
pub fn collect(store: &Store, opts: &GcOptions) -> Result<GcReport> {
    let _lock = if opts.dry_run {
        store.lock_shared()?
    } else {
        store.lock_exclusive(LOCK_WAIT)?
    };
    let results = Results::open_existing(&store.results_db())?;
    let reaped = match (&results, opts.dry_run) {
        (Some(r), false) => reap_abandoned(store, r)?,
        _ => Vec::new(),
    };
    let host = host_name();
    let mut batches = match &results {
        Some(r) => r.all_batches()?,
        None => Vec::new(),
    };
    // In a dry run nothing was reaped: an abandoned batch is not running, whatever it says.
    for b in &mut batches {
        if b.status == BatchStatus::Running && is_abandoned(b, &host) {
            b.status = BatchStatus::Abandoned;
        }
    }
    let kept = kept_batches(&batches, opts.keep, crate::results::now_ms());
    let overlays = match &results {
        Some(r) => r.kept_overlays()?,
        None => Vec::new(),
    };
    let mut plan = Plan::default();
    let by_id: BTreeMap<&str, &Batch> = batches.iter().map(|b| (b.id.as_str(), b)).collect();

    // Images: what current images use, and retired ones a kept failure or a running batch needs.
    let mut needed_images: BTreeSet<&str> = BTreeSet::new();
    for (id, _) in &overlays {
        if kept.contains(id)
            && let Some(b) = by_id.get(id.as_str())
        {
            needed_images.insert(&b.image_hash);
        }
    }
    for b in batches.iter().filter(|b| b.status == BatchStatus::Running) {
        needed_images.insert(&b.image_hash);
    }
    let mut used_objects: BTreeSet<String> = BTreeSet::new();
    for m in store.list()? {
        used_objects.extend(objects_of(&m).iter().map(|o| o.sha256.clone()));
    }
    for (m, path) in store.retired_files()? {
        if needed_images.contains(m.hash.as_str()) {
            used_objects.extend(objects_of(&m).iter().map(|o| o.sha256.clone()));
        } else {
            plan.add(Kind::RetiredImage, path);
        }
    }
    for (name, path) in store.objects()? {
        if !used_objects.contains(&name) {
            plan.add(Kind::ImageFile, path);
        }
    }

    // Code: the snapshots of kept batches, their blobs and disks.
    let kept_trees: BTreeSet<&str> = batches
        .iter()
        .filter(|b| kept.contains(&b.id))
        .map(|b| b.code_hash.as_str())
        .collect();
    let mut kept_blobs = BTreeSet::new();
    for hash in &kept_trees {
        // A snapshot already gone (or damaged) keeps nothing.
        if let Ok(tree) = codesnap::load_tree(store, hash) {
            kept_blobs.extend(codesnap::blob_paths(store, &tree));
        }
    }
    let code = store.code_dir();
    for path in files_in(&code.join("trees"))? {
        let hash = stem_before(&path, ".json");
        if !kept_trees.contains(hash.as_str()) {
            plan.add(Kind::CodeTree, path);
        }
    }
    for path in files_in(&code.join("disks"))? {
        let hash = stem_before(&path, ".");
        let current = path.to_string_lossy().ends_with(codesnap::DISK_SUFFIX);
        if !(current && kept_trees.contains(hash.as_str())) {
            plan.add(Kind::CodeDisk, path);
        }
    }
    for dir in files_in(&code.join("blobs"))? {
        for path in files_in(&dir)? {
            if !kept_blobs.contains(&path) {
                plan.add(Kind::CodeBlob, path);
            }
        }
    }

    // Runs: a kept batch keeps its kept overlays (with their console logs), a running one
    // everything; what a live `repro` is using stays.
    let mut kept_files: BTreeSet<PathBuf> = BTreeSet::new();
    for (id, overlay) in &overlays {
        if kept.contains(id) {
            kept_files.insert(overlay.clone());
            kept_files.insert(crate::iteration::kept_console(overlay));
        }
    }
    let mut released = BTreeSet::new();
    for (id, _) in &overlays {
        if !kept.contains(id) {
            released.insert(id.clone());
        }
    }
    for dir in files_in(&store.runs_dir())? {
        let id = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let running = by_id
            .get(id.as_str())
            .is_some_and(|b| b.status == BatchStatus::Running);
        if running || !dir.is_dir() {
            continue;
        }
        if !kept.contains(&id) && by_id.contains_key(id.as_str()) {
            released.insert(id.clone());
        }
        for path in files_in(&dir)? {
            if kept_files.contains(&path) || in_use_by_repro(&path) {
                continue;
            }
            let kind = if overlays
                .iter()
                .any(|(_, o)| *o == path || crate::iteration::kept_console(o) == path)
            {
                Kind::KeptOverlay
            } else {
                Kind::RunFile
            };
            plan.add(kind, path);
        }
    }

    // Leftovers: the store's scratch space (nobody else holds the lock), and socket
    // directories of snaprun processes that are gone.
    for path in files_in(&store.tmp_dir())? {
        plan.add(Kind::Scratch, path);
    }
    for path in stale_socket_dirs(&std::env::temp_dir())? {
        plan.add(Kind::SocketDir, path);
    }

    let released: Vec<String> = batches
        .iter()
        .filter(|b| released.contains(&b.id))
        .map(|b| b.id.clone())
        .collect();
    if !opts.dry_run {
        if let Some(r) = &results {
            r.forget_kept_overlays(&released)?;
        }
        plan.remove()?;
        // Run directories left empty go too.
        for dir in files_in(&store.runs_dir())? {
            let _ = fs::remove_dir(dir);
        }
    }
    Ok(plan.report(opts, kept.len(), released, reaped))
}

/// What to remove, measured.
#[derive(Default)]
struct Plan {
    removed: Vec<Removed>,
}

impl Plan {
    fn add(&mut self, kind: Kind, path: PathBuf) {
        let bytes = allocated(&path);
        self.removed.push(Removed { kind, path, bytes });
    }

    fn remove(&self) -> Result<()> {
        for r in &self.removed {
            let gone = match fs::symlink_metadata(&r.path) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&r.path),
                Ok(_) => fs::remove_file(&r.path),
                Err(_) => Ok(()),
            };
            match gone {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", &r.path, e)),
            }
        }
        Ok(())
    }

    fn report(
        mut self,
        opts: &GcOptions,
        kept_batches: usize,
        released_batches: Vec<String>,
        reaped: Vec<String>,
    ) -> GcReport {
        self.removed
            .sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
        let mut totals: Vec<KindTotal> = Vec::new();
        for r in &self.removed {
            match totals.last_mut() {
                Some(t) if t.kind == r.kind => {
                    t.count += 1;
                    t.bytes += r.bytes;
                }
                _ => totals.push(KindTotal {
                    kind: r.kind,
                    count: 1,
                    bytes: r.bytes,
                }),
            }
        }
        GcReport {
            dry_run: opts.dry_run,
            keep: opts.keep,
            kept_batches,
            released_batches,
            reaped,
            bytes: totals.iter().map(|t| t.bytes).sum(),
            totals,
            removed: self.removed,
        }
    }
}

/// The entries of `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        out.push(e.ctx("listing", dir)?.path());
    }
    out.sort();
    Ok(out)
}

/// The file name of `path` up to the first `end`.
fn stem_before(path: &Path, end: &str) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.split(end).next().unwrap_or_default().to_string()
}

/// Whether a process with this pid is alive.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Whether `path` is a file of a `repro` whose snaprun is alive (`repro-N-PID-MS.*`).
fn in_use_by_repro(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.strip_prefix("repro-")
        .and_then(|rest| rest.split('-').nth(1))
        .and_then(|pid| pid.parse::<i32>().ok())
        .is_some_and(alive)
}

/// Socket directories in `tmp` that no live snaprun uses: `snaprun-<pid>-*` whose process is
/// gone, and older ones without a pid (`snaprun-XXXXXX`) holding only sockets, untouched for
/// [`OLD_SOCKETS_AGE`].
fn stale_socket_dirs(tmp: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in files_in(tmp)? {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(rest) = name.strip_prefix("snaprun-") else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        // Only this user's own directories, and only directories.
        // SAFETY: a plain query.
        if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } {
            continue;
        }
        let stale = match rest.split_once('-') {
            Some((pid, _)) if pid.chars().all(|c| c.is_ascii_digit()) => {
                pid.parse::<i32>().is_ok_and(|p| !alive(p))
            }
            _ => {
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > OLD_SOCKETS_AGE);
                old && rest.len() == 6
                    && rest.chars().all(|c| c.is_ascii_alphanumeric())
                    && only_sockets(&path)
            }
        };
        if stale {
            out.push(path);
        }
    }
    Ok(out)
}

/// Whether `dir` holds nothing but the `qmp` and `agent` sockets a VM used.
fn only_sockets(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name();
            name == "qmp" || name == "agent"
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures;

    #[test]
    fn kept_batches_are_the_chosen_ones_and_every_running_one() {
        let b = |id: &str, start_ms: i64, status: BatchStatus| Batch {
            start_ms,
            status,
            ..fixtures::batch(id)
        };
        // Newest first, as the results list them.
        let batches = [
            b("d", 4_000, BatchStatus::Finished),
            b("c", 3_000, BatchStatus::Running),
            b("b", 2_000, BatchStatus::Finished),
            b("a", 1_000, BatchStatus::Interrupted),
        ];
        let ids = |keep| {
            kept_batches(&batches, keep, 5_000)
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(Keep::All), ["a", "b", "c", "d"]);
        assert_eq!(ids(Keep::Newest(1)), ["c", "d"]);
        assert_eq!(ids(Keep::Newest(0)), ["c"]);
        assert_eq!(
            ids(Keep::Younger(Duration::from_millis(3_000))),
            ["b", "c", "d"]
        );
        assert_eq!(ids(Keep::Younger(Duration::ZERO)), ["c"]);
    }

    #[test]
    fn socket_directories_of_gone_processes_are_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp
            .path()
            .join(format!("snaprun-{}-abc123", std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let gone = tmp.path().join(format!("snaprun-{dead_pid}-xyz789"));
        let unrelated = tmp.path().join("snaprun-test-x");
        for d in [&mine, &gone, &unrelated] {
            fs::create_dir(d).unwrap();
        }
        // An old-style one, just made: someone may be starting a VM in it.
        let fresh_old_style = tmp.path().join("snaprun-Ab12Cd");
        fs::create_dir(&fresh_old_style).unwrap();
        fs::write(fresh_old_style.join("qmp"), "").unwrap();
        assert_eq!(stale_socket_dirs(tmp.path()).unwrap(), [gone]);
    }

    #[test]
    fn repro_files_of_live_processes_are_in_use() {
        let me = std::process::id();
        assert!(in_use_by_repro(Path::new(&format!(
            "/r/repro-3-{me}-1700000000000.qcow2"
        ))));
        assert!(!in_use_by_repro(Path::new(
            "/r/repro-3-1700000000000.qcow2"
        )));
        assert!(!in_use_by_repro(Path::new("/r/iter-3.qcow2")));
    }
}
