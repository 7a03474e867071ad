//! A batch: snapshot the code, then run N iterations, each in a fresh VM on its own overlay,
//! `jobs` at a time, recording every outcome. Also `repro`, which re-runs one iteration.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use crate::agent::{self, AgentError, BoundedOutput, Decoder, Exit, Frame, Job, Kind};
use crate::codesnap::{self, CODE_LABEL, Selection, Tree};
use crate::error::{Error, IoContext, Result};
use crate::overlay;
use crate::qemu::{self, Accel, Console, Vm, VmSpec};
use crate::qga;
use crate::results::{Batch, BatchStatus, Iteration, Results, Status, Summary};
pub use crate::results::{host_name, now_ms};
use crate::store::{AgentKind, Image, Store, WarmFiles};
use crate::tools;

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

/// How iterations get a running VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Restore the image's warm state when it has one usable here, else boot.
    #[default]
    Auto,
    /// Restore the warm state; an error if there is none usable.
    Warm,
    /// Boot, even if the image has a warm state.
    Cold,
}

/// Slice `index` (1-based) of `count`: the iterations n with (n - 1) mod count = index - 1, so
/// the slices are disjoint, cover the batch and are equally long to within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl Partition {
    pub fn contains(&self, n: u32) -> bool {
        n >= 1 && (n - 1) % self.count == self.index - 1
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Partition, String> {
        let bad = || format!("partition `{s}` is not K/N with 1 <= K <= N (e.g. 2/3)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

/// The iteration numbers a batch of `total` runs in `partition` (all of them without one).
pub fn iteration_numbers(total: u32, partition: Option<Partition>) -> Vec<u32> {
    (1..=total)
        .filter(|n| partition.is_none_or(|p| p.contains(*n)))
        .collect()
}

pub const DEFAULT_OUTPUT_LIMIT: usize = 64 << 10;
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// Consecutive infrastructure errors, before any iteration ran to an outcome, that abort a batch.
const ABORT_AFTER_INFRA_ERRORS: u32 = 3;

/// What a running batch reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The build step is running.
    Building(&'a str),
    /// Something the user should know that does not stop the batch.
    Note(String),
    /// The code was snapshotted and the batch recorded; iterations start.
    Started {
        batch: &'a Batch,
        tree: &'a Tree,
    },
    IterationStarted(u32),
    IterationDone(&'a Iteration),
}

/// How a batch ended.
#[derive(Debug)]
pub struct Outcome {
    pub batch: Batch,
    pub iterations: Vec<Iteration>,
    pub summary: Summary,
    /// Set when the batch stopped early because of infrastructure errors.
    pub aborted: Option<String>,
}

/// The seed of iteration `n` of a batch seeded `batch_seed` (splitmix64): distinct per
/// iteration, and the same for the same batch seed, so a seed reproduces an iteration.
pub fn iteration_seed(batch_seed: u64, n: u32) -> u64 {
    let mut z = batch_seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(u64::from(n)));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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

/// `20261127-071630-3fa2c1`: sortable by start time, short enough to type.
fn new_batch_id(seed: u64) -> String {
    batch_id_at(now_ms(), seed)
}

/// The id of a batch started at `start_ms` with `seed`.
pub fn batch_id_at(start_ms: i64, seed: u64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms.max(0) as u64);
    let t = humantime::format_rfc3339_seconds(at).to_string();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    format!(
        "{}-{}-{:06x}",
        &digits[..8],
        &digits[8..14],
        seed & 0xff_ffff
    )
}

/// Runs a batch to the end, or until `interrupt` is set (Ctrl-C), `--fail-fast` trips, or
/// infrastructure errors make going on pointless.
pub fn run(
    store: &Store,
    opts: &Options,
    interrupt: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome> {
    if opts.iterations == 0 || opts.jobs == 0 {
        return Err(Error::Usage("-n and -j must be at least 1".into()));
    }
    let numbers = iteration_numbers(opts.iterations, opts.partition);
    if numbers.is_empty() {
        return Err(Error::Usage(format!(
            "partition {} of a batch of {} iterations is empty; use at least as many \
             iterations as partitions",
            opts.partition.map(|p| p.to_string()).unwrap_or_default(),
            opts.iterations
        )));
    }
    // Ctrl-C reaches the programs run before the batch too (the build step, git, mke2fs): an
    // error they end with then is the interruption, not a failure.
    let stopped = |e: Error| {
        if interrupt.load(Ordering::SeqCst) {
            Error::Interrupted("no batch was started".into())
        } else {
            e
        }
    };
    if let Some(build) = &opts.build {
        progress(Progress::Building(build));
        tools::run_shell(build, &opts.workspace).map_err(stopped)?;
    }
    let image = store.image(&opts.image, opts.verify)?;
    let accel = qemu::choose_accel(opts.accel, &store.kvm_probe_cache())?;
    let warm = choose_start(&image, accel, opts.start, &mut |note| {
        progress(Progress::Note(note))
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
        id: new_batch_id(random_u64()),
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
    let run_dir = store.runs_dir().join(&batch.id);
    fs::create_dir_all(&run_dir).ctx("creating the batch's run directory", &run_dir)?;
    let code_slot = run_dir.join(CODE_SLOT_FILE);
    if let Err(e) = overlay::code_slot(&code_disk, &code_slot) {
        let _ = fs::remove_dir(&run_dir);
        results.finish_batch(&batch.id, BatchStatus::Aborted, now_ms())?;
        return Err(e);
    }
    progress(Progress::Started {
        batch: &batch,
        tree: &tree,
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
        echo: false,
    };
    let next = AtomicU32::new(0);
    let cancel = AtomicBool::new(false);
    let mut iterations = Vec::new();
    let mut aborted = None;
    let mut write_error = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Message>();
        for _ in 0..(opts.jobs as usize).min(numbers.len()) {
            let tx = tx.clone();
            let (ctx, next, cancel, numbers) = (&ctx, &next, &cancel, &numbers);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    if i >= numbers.len() || cancel.load(Ordering::SeqCst) {
                        return;
                    }
                    let n = numbers[i];
                    let _ = tx.send(Message::Started(n));
                    let it = run_iteration(ctx, n, iteration_seed(seed, n), &|| {
                        cancel.load(Ordering::SeqCst)
                    });
                    // Here rather than in the collecting thread, so this worker does not
                    // start another iteration before that thread has seen the failure.
                    if opts.fail_fast && it.status.is_test_failure() {
                        cancel.store(true, Ordering::SeqCst);
                    }
                    let _ = tx.send(Message::Done(Box::new(it)));
                }
            });
        }
        drop(tx);
        let mut infra_streak = 0;
        let mut any_outcome = false;
        loop {
            if interrupt.load(Ordering::SeqCst) {
                cancel.store(true, Ordering::SeqCst);
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Message::Started(n)) => progress(Progress::IterationStarted(n)),
                Ok(Message::Done(it)) => {
                    if let Err(e) = results.insert_iteration(&it)
                        && write_error.is_none()
                    {
                        write_error = Some(e);
                        cancel.store(true, Ordering::SeqCst);
                    }
                    match it.status {
                        Status::InfraError => infra_streak += 1,
                        Status::Interrupted => {}
                        _ => {
                            any_outcome = true;
                            infra_streak = 0;
                        }
                    }
                    if !any_outcome && infra_streak >= ABORT_AFTER_INFRA_ERRORS && aborted.is_none()
                    {
                        aborted = Some(
                            it.detail
                                .clone()
                                .unwrap_or_else(|| "infrastructure errors".into()),
                        );
                        cancel.store(true, Ordering::SeqCst);
                    }
                    progress(Progress::IterationDone(&it));
                    iterations.push(*it);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    // An empty run directory (nothing kept) goes away with the batch.
    let _ = fs::remove_file(&code_slot);
    let _ = fs::remove_dir(&run_dir);
    iterations.sort_by_key(|i| i.iteration);
    batch.status = if interrupt.load(Ordering::SeqCst) {
        BatchStatus::Interrupted
    } else if aborted.is_some() || write_error.is_some() {
        BatchStatus::Aborted
    } else {
        BatchStatus::Finished
    };
    batch.end_ms = Some(now_ms());
    results.finish_batch(&batch.id, batch.status, batch.end_ms.unwrap_or_default())?;
    if let Some(e) = write_error {
        return Err(e);
    }
    let summary = Summary::of(&iterations);
    Ok(Outcome {
        batch,
        iterations,
        summary,
        aborted,
    })
}

/// Batches whose snaprun was killed outright (SIGKILL, power loss) stay `running` with their
/// overlays on disk; their QEMUs died with snaprun (PR_SET_PDEATHSIG). Mark them `abandoned`
/// and delete their files, except the overlays of failures they recorded as kept.
pub fn reap_abandoned(store: &Store, results: &Results) -> Result<Vec<String>> {
    let host = host_name();
    let mut reaped = Vec::new();
    for b in results.running_batches()? {
        if !crate::results::is_abandoned(&b, &host) {
            continue;
        }
        let its = results.iterations(&b.id)?;
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

/// The batch's code slot in its run directory (see [`overlay::code_slot`]).
const CODE_SLOT_FILE: &str = "code.qcow2";

/// The warm state to restore for `start` on `accel`, or `None` to boot. `note` hears why an
/// existing warm state is not used.
pub fn choose_start<'a>(
    image: &'a Image,
    accel: Accel,
    start: Start,
    note: &mut dyn FnMut(String),
) -> Result<Option<&'a WarmFiles>> {
    let name = &image.manifest.name;
    if start == Start::Cold {
        return Ok(None);
    }
    let Some(warm) = &image.warm else {
        return match start {
            Start::Warm => Err(Error::Usage(format!(
                "image `{name}` has no warm state; save one with `snaprun image warm {name}`, or \
                 leave out --warm"
            ))),
            _ => Ok(None),
        };
    };
    let version = qemu::version()?;
    let here = format!("{}.{}.{}", version.0, version.1, version.2);
    let unusable = if warm.meta.accel != accel.as_str() {
        Some(format!(
            "it was saved under {} and this batch runs under {}",
            warm.meta.accel,
            accel.as_str()
        ))
    } else if warm.meta.qemu_version != here {
        Some(format!(
            "it was saved by QEMU {} and this is QEMU {here}",
            warm.meta.qemu_version
        ))
    } else {
        None
    };
    match (unusable, start) {
        (None, _) => Ok(Some(warm)),
        (Some(why), Start::Warm) => Err(Error::Usage(format!(
            "the warm state of image `{name}` cannot be restored here: {why}; save a new one with \
             `snaprun image warm {name}`{}, or use --cold",
            if warm.meta.accel != accel.as_str() {
                format!(" --accel {}", accel.as_str())
            } else {
                String::new()
            }
        ))),
        (Some(why), _) => {
            note(format!(
                "not restoring the warm state of image `{name}` ({why}); booting every \
                 iteration instead (save a new state with `snaprun image warm {name}`)"
            ));
            Ok(None)
        }
    }
}

enum Message {
    Started(u32),
    Done(Box<Iteration>),
}

/// What every iteration of a batch shares.
pub struct IterationContext<'a> {
    pub image: &'a Image,
    /// Restore this state instead of booting.
    pub warm: Option<&'a WarmFiles>,
    /// The code slot (see [`overlay::code_slot`]).
    pub code_disk: Option<&'a Path>,
    pub accel: Accel,
    pub command: &'a str,
    pub env: &'a [(String, String)],
    pub timeout: Option<Duration>,
    pub boot_timeout: Duration,
    pub output_limit: usize,
    /// Where overlays and logs of this batch live; kept failures stay here.
    pub run_dir: &'a Path,
    pub batch_id: &'a str,
    /// Copy the command's output to snaprun's stdout/stderr as it arrives (`repro`).
    pub echo: bool,
}

/// The files of one iteration.
struct IterationFiles {
    overlay: PathBuf,
    console: PathBuf,
    qemu_log: PathBuf,
}

impl IterationFiles {
    fn new(run_dir: &Path, name: &str) -> IterationFiles {
        IterationFiles {
            overlay: run_dir.join(format!("{name}.qcow2")),
            console: run_dir.join(format!("{name}.console.log")),
            qemu_log: run_dir.join(format!("{name}.qemu.log")),
        }
    }
    fn remove(&self) {
        for p in [&self.overlay, &self.console, &self.qemu_log] {
            let _ = fs::remove_file(p);
        }
    }
}

/// Runs iteration `n` in its own VM and says how it ended. Never fails: whatever goes wrong is
/// the iteration's status. `cancelled` is polled; when it turns true the VM is stopped and the
/// iteration is `interrupted`.
pub fn run_iteration(
    ctx: &IterationContext,
    n: u32,
    seed: u64,
    cancelled: &dyn Fn() -> bool,
) -> Iteration {
    run_iteration_named(ctx, n, seed, &format!("iter-{n}"), cancelled)
}

pub fn run_iteration_named(
    ctx: &IterationContext,
    n: u32,
    seed: u64,
    name: &str,
    cancelled: &dyn Fn() -> bool,
) -> Iteration {
    let start_ms = now_ms();
    let files = IterationFiles::new(ctx.run_dir, name);
    let mut it = Iteration {
        batch_id: ctx.batch_id.to_string(),
        iteration: n,
        status: Status::InfraError,
        exit_code: None,
        signal: None,
        duration_ms: 0,
        boot_ms: None,
        seed,
        output: Vec::new(),
        detail: None,
        kept_overlay: None,
        start_ms,
    };
    let mut output = BoundedOutput::new(ctx.output_limit);
    let ended = drive(ctx, &files, &mut it, &mut output, cancelled);
    if let Err(e) = ended {
        it.status = Status::InfraError;
        it.detail = Some(e.to_string());
    }
    let mut bytes = output.into_bytes();
    if matches!(it.status, Status::Crashed | Status::InfraError) && files.console.exists() {
        bytes.extend_from_slice(b"\n--- guest console (last 40 lines) ---\n");
        bytes.extend_from_slice(qemu::log_tail(&files.console, 40).as_bytes());
        bytes.push(b'\n');
    }
    it.output = bytes;
    if it.status.is_test_failure() && files.overlay.exists() {
        it.kept_overlay = Some(files.overlay.clone());
        let _ = fs::remove_file(&files.qemu_log);
    } else {
        files.remove();
    }
    it
}

/// Boots (or restores), runs the job, and fills `it`; errors are infrastructure errors.
fn drive(
    ctx: &IterationContext,
    files: &IterationFiles,
    it: &mut Iteration,
    output: &mut BoundedOutput,
    cancelled: &dyn Fn() -> bool,
) -> Result<()> {
    let base = ctx.warm.map_or(&ctx.image.disk, |w| &w.layer);
    overlay::create(base, &files.overlay)?;
    let spec = VmSpec {
        image: ctx.image.clone(),
        root_disk: files.overlay.clone(),
        code_disk: ctx.code_disk.map(Path::to_path_buf),
        accel: ctx.accel,
        console: Console::File(files.console.clone()),
        extra_append: None,
        qemu_log: files.qemu_log.clone(),
        incoming: ctx.warm.map(|w| w.state.clone()),
    };
    let boot_started = Instant::now();
    let mut vm = Vm::start(&spec, Duration::from_secs(30))?;
    vm.agent()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ctx("configuring the agent channel", &files.overlay)?;
    if ctx.image.manifest.agent == AgentKind::Qga {
        return drive_qga(ctx, files, &mut vm, boot_started, it, output, cancelled);
    }
    let mut decoder = Decoder::default();

    // A restored guest's agent said Ready when the state was saved and waits for its job.
    if ctx.warm.is_none() {
        let deadline = boot_started + ctx.boot_timeout;
        match await_ready(&mut vm, &mut decoder, deadline, cancelled)? {
            Boot::Ready => {}
            Boot::Cancelled => {
                it.status = Status::Interrupted;
                vm.stop();
                return Ok(());
            }
            Boot::Gone => {
                vm_gone(&mut vm, it, &files.console, "before its agent was ready");
                return Ok(());
            }
            Boot::TimedOut => {
                let not_ready = format!(
                    "the guest agent was not ready {}s after boot started",
                    ctx.boot_timeout.as_secs()
                );
                boot_timed_out(&mut vm, it, &files.console, not_ready);
                return Ok(());
            }
            Boot::WrongVersion(v) => {
                vm.stop();
                return Err(Error::ImageCorrupt {
                    name: ctx.image.manifest.name.clone(),
                    detail: format!(
                        "its guest agent speaks protocol {v}, this snaprun speaks {}",
                        agent::PROTOCOL_VERSION
                    ),
                });
            }
        }
    }

    let job = Job {
        command: ctx.command.to_string(),
        env: ctx.env.to_vec(),
        iteration: it.iteration,
        seed: it.seed,
        code_label: ctx.code_disk.map(|_| CODE_LABEL.to_string()),
        workdir: agent::WORKDIR.to_string(),
        clock_ms: Some(now_ms()),
    };
    Frame::json(Kind::Job, &job)
        .write_to(vm.agent())
        .ctx("sending the job to the guest", &files.overlay)?;
    let job_started = Instant::now();
    let deadline = ctx.timeout.map(|t| job_started + t);
    // A restored guest that never starts the command is as stuck as one that never boots.
    let start_deadline = job_started + ctx.boot_timeout;
    loop {
        if cancelled() {
            it.status = Status::Interrupted;
            it.duration_ms = job_started.elapsed().as_millis() as u64;
            vm.stop();
            return Ok(());
        }
        if let Some(d) = deadline
            && Instant::now() > d
        {
            it.status = Status::Timeout;
            it.duration_ms = job_started.elapsed().as_millis() as u64;
            it.detail = Some(format!(
                "still running after {}",
                humantime::format_duration(ctx.timeout.unwrap_or_default())
            ));
            vm.stop();
            return Ok(());
        }
        if it.boot_ms.is_none() && Instant::now() > start_deadline {
            it.status = Status::InfraError;
            it.detail = Some(format!(
                "the guest agent did not start the command within {}s",
                ctx.boot_timeout.as_secs()
            ));
            vm.stop();
            return Ok(());
        }
        let frame = match decoder.read_frame(vm.agent()) {
            Ok(Some(f)) => f,
            Ok(None) => {
                if vm.exited().is_some() || vm.guest_panicked() {
                    it.duration_ms = job_started.elapsed().as_millis() as u64;
                    vm_gone(&mut vm, it, &files.console, "while the command ran");
                    return Ok(());
                }
                continue;
            }
            Err(_) => {
                it.duration_ms = job_started.elapsed().as_millis() as u64;
                vm_gone(&mut vm, it, &files.console, "while the command ran");
                return Ok(());
            }
        };
        match frame.kind {
            Kind::Started => {
                it.boot_ms = Some(boot_started.elapsed().as_millis() as u64);
            }
            Kind::Stdout | Kind::Stderr => {
                output.push(&frame.payload);
                if ctx.echo {
                    let _ = if frame.kind == Kind::Stdout {
                        std::io::stdout().write_all(&frame.payload)
                    } else {
                        std::io::stderr().write_all(&frame.payload)
                    };
                }
            }
            Kind::Exit => {
                let exit: Exit = frame
                    .parse()
                    .ctx("reading the guest's result", &files.overlay)?;
                it.exit_code = exit.code;
                it.signal = exit.signal;
                it.duration_ms = exit.duration_ms;
                it.status = if exit.code == Some(0) {
                    Status::Pass
                } else {
                    Status::Fail
                };
                vm.stop();
                return Ok(());
            }
            Kind::Error => {
                let e: AgentError = frame
                    .parse()
                    .ctx("reading the guest's error", &files.overlay)?;
                it.status = Status::InfraError;
                it.detail = Some(format!(
                    "the guest agent could not run the job: {}",
                    e.message
                ));
                it.duration_ms = job_started.elapsed().as_millis() as u64;
                vm.stop();
                return Ok(());
            }
            Kind::Ready | Kind::Job => {}
        }
    }
}

/// How waiting for a booting guest's agent ended.
pub(crate) enum Boot {
    Ready,
    Cancelled,
    /// QEMU exited or the channel broke.
    Gone,
    TimedOut,
    /// The agent speaks another protocol version.
    WrongVersion(u32),
}

/// Waits for the agent's `Ready` until `deadline`.
pub(crate) fn await_ready(
    vm: &mut Vm,
    decoder: &mut Decoder,
    deadline: Instant,
    cancelled: &dyn Fn() -> bool,
) -> Result<Boot> {
    loop {
        if cancelled() {
            return Ok(Boot::Cancelled);
        }
        match decoder.read_frame(vm.agent()) {
            Ok(Some(f)) if f.kind == Kind::Ready => {
                let ready: agent::Ready = f
                    .parse()
                    .ctx("reading the agent's greeting", Path::new("agent"))?;
                return Ok(if ready.version == agent::PROTOCOL_VERSION {
                    Boot::Ready
                } else {
                    Boot::WrongVersion(ready.version)
                });
            }
            Ok(_) => {}
            Err(_) => return Ok(Boot::Gone),
        }
        if vm.exited().is_some() {
            return Ok(Boot::Gone);
        }
        if Instant::now() > deadline {
            return Ok(Boot::TimedOut);
        }
    }
}

/// The guest did not become ready in time: a panic while booting is `crashed`, anything else
/// an infrastructure error that `not_ready` describes.
fn boot_timed_out(vm: &mut Vm, it: &mut Iteration, console: &Path, not_ready: String) {
    let crashed = vm.guest_panicked() || qemu::console_shows_panic(console);
    vm.quit();
    if crashed {
        it.status = Status::Crashed;
        it.detail = Some("the guest kernel panicked while booting".into());
    } else {
        it.status = Status::InfraError;
        it.detail = Some(not_ready);
    }
}

/// Runs the job through qemu-guest-agent: mount the code slot, `guest-exec` the command with
/// its output captured, poll `guest-exec-status`. QGA returns the output when the command has
/// ended (no streaming), and the duration is measured on the host to within the polling step.
fn drive_qga(
    ctx: &IterationContext,
    files: &IterationFiles,
    vm: &mut Vm,
    boot_started: Instant,
    it: &mut Iteration,
    output: &mut BoundedOutput,
    cancelled: &dyn Fn() -> bool,
) -> Result<()> {
    let deadline = boot_started + ctx.boot_timeout;
    let ready = {
        let mut agent = qga::Client::new(vm.agent());
        agent.wait_ready(deadline, cancelled)
    };
    match ready {
        Ok(true) => {}
        Ok(false) => {
            if cancelled() {
                it.status = Status::Interrupted;
                vm.quit();
                return Ok(());
            }
            if vm.exited().is_some() {
                vm_gone(vm, it, &files.console, "before qemu-guest-agent was ready");
                return Ok(());
            }
            let not_ready = format!(
                "qemu-guest-agent did not answer {}s after boot started (is it installed and \
                 enabled in the image?)",
                ctx.boot_timeout.as_secs()
            );
            boot_timed_out(vm, it, &files.console, not_ready);
            return Ok(());
        }
        Err(_) => {
            vm_gone(vm, it, &files.console, "before qemu-guest-agent was ready");
            return Ok(());
        }
    }
    let env = qga::command_env(it.iteration, it.seed, ctx.env);
    if ctx.code_disk.is_some() {
        let mount = {
            let mut agent = qga::Client::new(vm.agent());
            agent.run_to_end(
                &qga::mount_code_command(CODE_LABEL, agent::WORKDIR),
                &env,
                Instant::now() + Duration::from_secs(60),
                cancelled,
            )
        };
        match mount {
            Ok(Some(st)) if st.exitcode == Some(0) => {}
            Ok(Some(st)) => {
                vm.quit();
                it.status = Status::InfraError;
                it.detail = Some(format!(
                    "could not mount the code snapshot in the guest: {}",
                    String::from_utf8_lossy(&st.err).trim()
                ));
                return Ok(());
            }
            Ok(None) => {
                it.status = if cancelled() {
                    Status::Interrupted
                } else {
                    it.detail = Some("mounting the code snapshot in the guest hung".into());
                    Status::InfraError
                };
                vm.quit();
                return Ok(());
            }
            Err(_) => {
                vm_gone(vm, it, &files.console, "while mounting the code snapshot");
                return Ok(());
            }
        }
    }
    it.boot_ms = Some(boot_started.elapsed().as_millis() as u64);
    let job_started = Instant::now();
    let limit = ctx
        .timeout
        .map_or(Instant::now() + Duration::from_secs(365 * 86_400), |t| {
            job_started + t
        });
    let ran = {
        let mut agent = qga::Client::new(vm.agent());
        agent.run_to_end(
            &qga::job_command(ctx.command, agent::WORKDIR),
            &env,
            limit,
            cancelled,
        )
    };
    it.duration_ms = job_started.elapsed().as_millis() as u64;
    match ran {
        Ok(Some(st)) => {
            output.push(&st.out);
            output.push(&st.err);
            if ctx.echo {
                let _ = std::io::stdout().write_all(&st.out);
                let _ = std::io::stderr().write_all(&st.err);
            }
            it.exit_code = st.exitcode;
            it.signal = st.signal;
            it.status = if st.exitcode == Some(0) {
                Status::Pass
            } else {
                Status::Fail
            };
            // Whatever the command wrote reaches the overlay before QEMU goes.
            let mut agent = qga::Client::new(vm.agent());
            let _ = agent.run_to_end(
                &["/bin/sync".to_string()],
                &env,
                Instant::now() + Duration::from_secs(10),
                cancelled,
            );
            vm.quit();
        }
        Ok(None) if cancelled() => {
            it.status = Status::Interrupted;
            vm.quit();
        }
        Ok(None) if vm.exited().is_some() || vm.guest_panicked() => {
            vm_gone(vm, it, &files.console, "while the command ran");
        }
        Ok(None) => {
            it.status = Status::Timeout;
            it.detail = Some(format!(
                "still running after {}",
                humantime::format_duration(ctx.timeout.unwrap_or_default())
            ));
            vm.quit();
        }
        Err(_) => vm_gone(vm, it, &files.console, "while the command ran"),
    }
    Ok(())
}

/// The VM ended on its own (or its channel broke): a guest panic is `crashed`, anything else
/// (QEMU killed or crashed) is an infrastructure error.
fn vm_gone(vm: &mut Vm, it: &mut Iteration, console: &Path, when: &str) {
    let status = vm.wait_exit(Duration::from_secs(2));
    if vm.guest_panicked() || qemu::console_shows_panic(console) {
        it.status = Status::Crashed;
        it.detail = Some(format!("the guest kernel panicked {when}"));
    } else {
        it.status = Status::InfraError;
        let how = status.map_or_else(
            || "closed its agent channel".to_string(),
            |s| format!("exited ({s})"),
        );
        it.detail = Some(format!("QEMU {how} {when}"));
    }
}

/// Finds the image a batch ran on by its content hash (the name may point elsewhere now).
pub fn image_of(store: &Store, batch: &Batch) -> Result<Image> {
    store.image_by_hash(&batch.image_hash)?.ok_or_else(|| {
        Error::Usage(format!(
            "the image batch {} ran on (`{}`, {}) is no longer in the store, so it cannot be \
             reproduced",
            batch.id,
            batch.image_name,
            &batch.image_hash[..12.min(batch.image_hash.len())]
        ))
    })
}

/// Re-runs iteration `n` of `batch` from the same image, code snapshot and seed, echoing its
/// output. With `shell`, boots the same state with a shell on the terminal instead.
pub fn repro(
    store: &Store,
    batch: &Batch,
    n: u32,
    shell: bool,
    interrupt: &AtomicBool,
) -> Result<Iteration> {
    let results = Results::open(&store.results_db())?;
    let original = results.iteration(&batch.id, n)?;
    let mut image = image_of(store, batch)?;
    // Restore the same warm state if the batch did and it is still there; else boot.
    if let Some(wanted) = &batch.warm_hash
        && !shell
        && let Some(m) = store
            .list()?
            .into_iter()
            .find(|m| m.warm.as_ref().is_some_and(|w| &w.hash == wanted))
    {
        image = store.image(&m.name, false)?;
    }
    let tree = codesnap::load_tree(store, &batch.code_hash)?;
    let code_disk = codesnap::disk(store, &tree)?;
    let accel = qemu::choose_accel(
        Some(batch.accel.parse().unwrap_or(Accel::Tcg)),
        &store.kvm_probe_cache(),
    )
    .or_else(|_| qemu::choose_accel(None, &store.kvm_probe_cache()))?;
    let run_dir = store.runs_dir().join(&batch.id);
    fs::create_dir_all(&run_dir).ctx("creating the run directory", &run_dir)?;
    let name = format!("repro-{n}-{}", now_ms());
    let slot = run_dir.join(format!("{name}.code.qcow2"));
    overlay::code_slot(&code_disk, &slot)?;
    let _slot_guard = RemoveOnDrop(slot.clone());
    let cancelled = || interrupt.load(Ordering::SeqCst);
    if shell {
        let files = IterationFiles::new(&run_dir, &name);
        overlay::create(&image.disk, &files.overlay)?;
        let spec = VmSpec {
            image,
            root_disk: files.overlay.clone(),
            code_disk: Some(slot.clone()),
            accel,
            console: Console::Terminal,
            extra_append: Some(format!(
                "snaprun.shell snaprun.iteration={n} snaprun.seed={}",
                original.seed
            )),
            qemu_log: files.qemu_log.clone(),
            incoming: None,
        };
        let ran = qemu::run_interactive(&spec, &cancelled);
        files.remove();
        ran?;
        if cancelled() {
            return Err(Error::Interrupted("the VM of the shell was stopped".into()));
        }
        return Ok(Iteration {
            status: Status::Pass,
            ..original
        });
    }
    let warm = choose_start(&image, accel, Start::Auto, &mut |note| {
        eprintln!("snaprun: {note}")
    })?;
    let ctx = IterationContext {
        image: &image,
        warm,
        code_disk: Some(&slot),
        accel,
        command: &batch.command,
        env: &[],
        timeout: batch.timeout_ms.map(Duration::from_millis),
        boot_timeout: DEFAULT_BOOT_TIMEOUT,
        output_limit: DEFAULT_OUTPUT_LIMIT,
        run_dir: &run_dir,
        batch_id: &batch.id,
        echo: true,
    };
    Ok(run_iteration_named(
        &ctx,
        n,
        original.seed,
        &name,
        &cancelled,
    ))
}

/// Deletes a file when dropped (on every way out of a function), and its directory with it if
/// nothing else is left there.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_seeds_are_distinct_and_reproducible() {
        let seeds: Vec<u64> = (1..=1000).map(|n| iteration_seed(42, n)).collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len());
        assert_eq!(iteration_seed(42, 7), seeds[6]);
        assert_ne!(iteration_seed(43, 7), seeds[6]);
    }

    #[test]
    fn batch_ids_sort_by_time() {
        let id = new_batch_id(0x12_abcd);
        assert_eq!(id.len(), "20261127-071630-12abcd".len());
        assert!(id.ends_with("-12abcd"));
        assert_eq!(
            batch_id_at(1_795_766_190_000, 0xff_0012_abcd),
            "20261127-075630-12abcd"
        );
    }

    #[test]
    fn partitions_are_disjoint_slices_that_cover_the_batch() {
        let parts: Vec<Partition> = ["1/3", "2/3", "3/3"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let mut all: Vec<u32> = parts
            .iter()
            .flat_map(|p| iteration_numbers(10, Some(*p)))
            .collect();
        assert_eq!(iteration_numbers(10, Some(parts[0])), [1, 4, 7, 10]);
        all.sort_unstable();
        assert_eq!(all, iteration_numbers(10, None));
        for bad in ["0/3", "4/3", "1/0", "x", "1/"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }
}
