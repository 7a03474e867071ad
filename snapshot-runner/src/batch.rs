//! A batch: snapshot the code, then run its iterations `jobs` at a time, each in a fresh VM on
//! its own overlay (see [`crate::iteration`]), worker threads sending outcomes to the one thread
//! that records them, as they come. Progress is reported as [`BatchEvent`]s; a batch is stopped
//! by its [`Cancel`] token (or [`stop`] by id), `--fail-fast`, or infrastructure errors.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use serde::Serialize;

use crate::cancel::Cancel;
use crate::codesnap::{self, Selection, Tree};
use crate::error::{Error, IoContext, Result};
use crate::iteration::{IterationContext, run_iteration};
use crate::overlay;
use crate::plan::{Partition, Plan, batch_id_at, iteration_seed};
use crate::qemu::{self, Accel};
use crate::results::{
    Batch, BatchReport, BatchStatus, Iteration, Results, Status, Summary, host_name, is_abandoned,
    now_ms,
};
use crate::store::Store;
use crate::tools;
use crate::warm::{Start, choose_start};

pub use crate::driver::DEFAULT_BOOT_TIMEOUT;
/// Bytes of output kept per iteration, unless told otherwise (`--output-limit`).
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 << 10;
/// Consecutive infrastructure errors, before any iteration ran to an outcome, that abort a batch.
const ABORT_AFTER_INFRA_ERRORS: u32 = 3;
/// The batch's code slot in its run directory (see [`overlay::code_slot`]).
const CODE_SLOT_FILE: &str = "code.qcow2";

/// Everything `snaprun run` takes.
#[derive(Debug, Clone)]
pub struct Options {
    pub workspace: PathBuf,
    pub image: String,
    /// Run by `/bin/sh -c` in the guest's `/work`.
    pub command: String,
    pub iterations: u32,
    pub jobs: u32,
    /// Per iteration, from the moment the command starts.
    pub timeout: Option<Duration>,
    /// How long a guest may take to boot to its agent.
    pub boot_timeout: Duration,
    pub fail_fast: bool,
    pub accel: Option<Accel>,
    /// A host command run in the workspace before the snapshot.
    pub build: Option<String>,
    pub selection: Selection,
    /// Re-hash the image before the batch instead of the size+mtime check.
    pub verify: bool,
    /// Bytes of output kept per iteration.
    pub output_limit: usize,
    /// Extra environment for the command.
    pub env: Vec<(String, String)>,
    /// The batch seed (every iteration's seed derives from it); random when `None`.
    pub seed: Option<u64>,
    /// Run only this slice of the batch's iterations (CI sharding).
    pub partition: Option<Partition>,
    /// Boot every iteration, or restore it from the image's warm state.
    pub start: Start,
    /// A code snapshot already taken (watch mode); `None` snapshots the workspace.
    pub snapshot: Option<Tree>,
}

impl Options {
    /// Options for `command` on `image` in `workspace` with every other setting at its default.
    pub fn new(workspace: &Path, image: &str, command: &str) -> Options {
        Options {
            workspace: workspace.to_path_buf(),
            image: image.to_string(),
            command: command.to_string(),
            iterations: 10,
            jobs: 1,
            timeout: None,
            boot_timeout: DEFAULT_BOOT_TIMEOUT,
            fail_fast: false,
            accel: None,
            build: None,
            selection: Selection::default(),
            verify: false,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            env: Vec::new(),
            seed: None,
            partition: None,
            start: Start::Auto,
            snapshot: None,
        }
    }
}

/// The code snapshot a batch runs against, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeSnapshot {
    pub hash: String,
    pub files: usize,
    pub bytes: u64,
    /// Symlinks left out because they point out of the workspace.
    pub skipped_links: Vec<String>,
}

impl CodeSnapshot {
    pub fn of(tree: &Tree) -> CodeSnapshot {
        CodeSnapshot {
            hash: tree.hash.clone(),
            files: tree.entries.len(),
            bytes: tree.bytes(),
            skipped_links: tree.skipped_links.clone(),
        }
    }
}

/// What a running batch reports, in this order: maybe `Building` and `Note`s, `Snapshotted`,
/// then per iteration `IterationStarted` before its `IterationFinished` (iterations overlap
/// with `-j` above 1), and `Finished` last. A batch that fails before its snapshot reports
/// no `Snapshotted` and no `Finished`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum BatchEvent {
    /// The build step (`--build`) starts.
    Building {
        command: String,
    },
    /// Something the user should know that does not stop the batch.
    Note {
        message: String,
    },
    /// The code was snapshotted and the batch recorded as running; `numbers` are the
    /// iterations it will run (a partition runs some of them).
    Snapshotted {
        batch: Batch,
        code: CodeSnapshot,
        numbers: Vec<u32>,
    },
    IterationStarted {
        batch_id: String,
        iteration: u32,
    },
    /// An iteration ended; it is in the results database already.
    IterationFinished(Iteration),
    /// The batch ended and is recorded as such. `aborted` says why infrastructure errors
    /// stopped it.
    Finished {
        batch: Batch,
        summary: Summary,
        aborted: Option<String>,
    },
}

/// How a batch ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: BatchReport,
    /// Set when the batch stopped early because of infrastructure errors.
    pub aborted: Option<String>,
}

/// The batches this process runs, so [`stop`] finds them by id.
static RUNNING: Mutex<Vec<(String, Cancel)>> = Mutex::new(Vec::new());

/// Keeps a batch in [`RUNNING`] while it runs.
struct Running(String);

impl Running {
    fn register(id: &str, stop: &Cancel) -> Running {
        if let Ok(mut running) = RUNNING.lock() {
            running.push((id.to_string(), stop.clone()));
        }
        Running(id.to_string())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut running) = RUNNING.lock() {
            running.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Stops batch `id` if this process runs it, as its [`Cancel`] token would; says whether it did.
pub fn stop(id: &str) -> bool {
    let found = RUNNING
        .lock()
        .ok()
        .and_then(|r| r.iter().find(|(b, _)| b == id).map(|(_, c)| c.clone()));
    found.map(|c| c.cancel()).is_some()
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        return now_ms() as u64 ^ u64::from(std::process::id()) << 32;
    }
    u64::from_le_bytes(b)
}

/// Messages from the workers to the thread that records results.
enum Message {
    Started(u32),
    Done(Box<Iteration>),
}

/// Runs a batch to the end, or until `cancel` is triggered (Ctrl-C, the app's Stop),
/// `--fail-fast` trips, or infrastructure errors make going on pointless. Every iteration is
/// written to the results database as it ends.
pub fn run(
    store: &Store,
    opts: &Options,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(BatchEvent),
) -> Result<Outcome> {
    let plan = Plan::new(opts.iterations, opts.jobs, opts.partition)?;
    // A cancellation reaches the programs run before the batch too (the build step, git,
    // mke2fs): an error they end with then is the interruption, not a failure.
    let stopped = |e: Error| {
        if cancel.is_cancelled() {
            Error::Interrupted("no batch was started".into())
        } else {
            e
        }
    };
    if let Some(build) = &opts.build {
        on_event(BatchEvent::Building {
            command: build.clone(),
        });
        tools::run_shell(build, &opts.workspace).map_err(stopped)?;
    }
    // Held until the batch is recorded as running with its code slot: `gc` then keeps what it
    // uses, and does not run in between (see `store::StoreLock`).
    let setting_up = store.lock_shared()?;
    let image = store.image(&opts.image, opts.verify)?;
    let accel = qemu::choose_accel(opts.accel, &store.kvm_probe_cache())?;
    let warm = choose_start(&image, accel, opts.start, &mut |message| {
        on_event(BatchEvent::Note { message })
    })?;
    let tree = match &opts.snapshot {
        Some(t) => t.clone(),
        None => codesnap::snapshot(store, &opts.workspace, &opts.selection).map_err(stopped)?,
    };
    let code_disk = codesnap::disk(store, &tree).map_err(stopped)?;
    let results = Results::open(&store.results_db())?;
    reap_abandoned(store, &results)?;
    let seed = opts.seed.unwrap_or_else(random_u64);
    let mut batch = Batch {
        // Not from the seed: batches with the same --seed (CI partitions) start the same second.
        id: batch_id_at(now_ms(), random_u64()),
        workspace: tree.workspace.clone(),
        image_name: opts.image.clone(),
        image_hash: image.manifest.hash.clone(),
        code_hash: tree.hash.clone(),
        command: opts.command.clone(),
        iterations: opts.iterations,
        jobs: opts.jobs,
        timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
        seed,
        start_ms: now_ms(),
        end_ms: None,
        host: host_name(),
        pid: std::process::id(),
        accel: accel.as_str().to_string(),
        status: BatchStatus::Running,
        partition: opts.partition.map(|p| p.to_string()),
        warm_hash: warm.map(|w| w.meta.hash.clone()),
    };
    results.insert_batch(&batch)?;
    let stop = cancel.child();
    let _running = Running::register(&batch.id, &stop);
    let run_dir = store.runs_dir().join(&batch.id);
    fs::create_dir_all(&run_dir).ctx("creating the batch's run directory", &run_dir)?;
    let code_slot = run_dir.join(CODE_SLOT_FILE);
    if let Err(e) = overlay::code_slot(&code_disk, &code_slot) {
        let _ = fs::remove_dir(&run_dir);
        results.finish_batch(&batch.id, BatchStatus::Aborted, now_ms())?;
        return Err(e);
    }
    drop(setting_up);
    on_event(BatchEvent::Snapshotted {
        batch: batch.clone(),
        code: CodeSnapshot::of(&tree),
        numbers: plan.numbers.clone(),
    });

    let ctx = IterationContext {
        image: &image,
        warm,
        code_disk: Some(&code_slot),
        accel,
        command: &opts.command,
        env: &opts.env,
        timeout: opts.timeout,
        boot_timeout: opts.boot_timeout,
        output_limit: opts.output_limit,
        run_dir: &run_dir,
        batch_id: &batch.id,
        echo: None,
    };
    let next = AtomicU32::new(0);
    // Set to stop the workers for the batch's own reasons (`--fail-fast`, infrastructure
    // errors, a failed write); `stop` is the user's.
    let halt = AtomicBool::new(false);
    let halted = || halt.load(Ordering::SeqCst) || stop.is_cancelled();
    let mut iterations = Vec::new();
    let mut aborted = None;
    let mut write_error = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Message>();
        for _ in 0..plan.workers {
            let tx = tx.clone();
            let (ctx, next, halt, halted, numbers) = (&ctx, &next, &halt, &halted, &plan.numbers);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    if i >= numbers.len() || halted() {
                        return;
                    }
                    let n = numbers[i];
                    let _ = tx.send(Message::Started(n));
                    let it = run_iteration(ctx, n, iteration_seed(seed, n), halted);
                    // Here rather than in the recording thread, so this worker does not
                    // start another iteration before that thread has seen the failure.
                    if opts.fail_fast && it.status.is_test_failure() {
                        halt.store(true, Ordering::SeqCst);
                    }
                    let _ = tx.send(Message::Done(Box::new(it)));
                }
            });
        }
        drop(tx);
        let mut infra_streak = 0;
        let mut any_outcome = false;
        while let Ok(message) = rx.recv() {
            let it = match message {
                Message::Started(n) => {
                    on_event(BatchEvent::IterationStarted {
                        batch_id: batch.id.clone(),
                        iteration: n,
                    });
                    continue;
                }
                Message::Done(it) => *it,
            };
            if let Err(e) = results.insert_iteration(&it)
                && write_error.is_none()
            {
                write_error = Some(e);
                halt.store(true, Ordering::SeqCst);
            }
            match it.status {
                Status::InfraError => infra_streak += 1,
                Status::Interrupted => {}
                _ => {
                    any_outcome = true;
                    infra_streak = 0;
                }
            }
            if !any_outcome && infra_streak >= ABORT_AFTER_INFRA_ERRORS && aborted.is_none() {
                aborted = Some(
                    it.detail
                        .clone()
                        .unwrap_or_else(|| "infrastructure errors".into()),
                );
                halt.store(true, Ordering::SeqCst);
            }
            on_event(BatchEvent::IterationFinished(it.clone()));
            iterations.push(it);
        }
    });
    // An empty run directory (nothing kept) goes away with the batch.
    let _ = fs::remove_file(&code_slot);
    let _ = fs::remove_dir(&run_dir);
    iterations.sort_by_key(|i| i.iteration);
    batch.status = if stop.is_cancelled() {
        BatchStatus::Interrupted
    } else if aborted.is_some() || write_error.is_some() {
        BatchStatus::Aborted
    } else {
        BatchStatus::Finished
    };
    let end_ms = now_ms();
    batch.end_ms = Some(end_ms);
    results.finish_batch(&batch.id, batch.status, end_ms)?;
    if let Some(e) = write_error {
        return Err(e);
    }
    let report = BatchReport::new(batch, iterations);
    on_event(BatchEvent::Finished {
        batch: report.batch.clone(),
        summary: report.summary.clone(),
        aborted: aborted.clone(),
    });
    Ok(Outcome { report, aborted })
}

/// Batches whose snaprun was killed outright (SIGKILL, power loss) stay `running` with their
/// overlays on disk; their QEMUs died with snaprun (PR_SET_PDEATHSIG). Mark them `abandoned`
/// and delete their files, except the overlays of failures they recorded as kept.
pub fn reap_abandoned(store: &Store, results: &Results) -> Result<Vec<String>> {
    let host = host_name();
    let mut reaped = Vec::new();
    for b in results.running_batches()? {
        if !is_abandoned(&b, &host) {
            continue;
        }
        let its = results.iterations_without_output(&b.id)?;
        let kept: Vec<PathBuf> = its.iter().filter_map(|i| i.kept_overlay.clone()).collect();
        let dir = store.runs_dir().join(&b.id);
        for f in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = f.path();
            // A kept overlay `iter-3.qcow2` keeps `iter-3.console.log` too.
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let keep = kept.iter().any(|k| {
                let stem = k.file_stem().unwrap_or_default().to_string_lossy();
                name.starts_with(&format!("{stem}."))
            });
            if !keep {
                let _ = fs::remove_file(&p);
            }
        }
        let _ = fs::remove_dir(&dir);
        let end = its
            .iter()
            .map(|i| i.start_ms + i.duration_ms as i64)
            .max()
            .unwrap_or(b.start_ms);
        results.finish_batch(&b.id, BatchStatus::Abandoned, end)?;
        reaped.push(b.id);
    }
    Ok(reaped)
}
