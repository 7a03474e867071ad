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
use crate::results::{Batch, Iteration, Results, Status, Summary};
use crate::store::{Image, Store};
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

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `20261127-071630-3fa2c1`: sortable by start time, short enough to type.
fn new_batch_id(seed: u64) -> String {
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
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
    if let Some(build) = &opts.build {
        progress(Progress::Building(build));
        tools::run_shell(build, &opts.workspace)?;
    }
    let image = store.image(&opts.image, opts.verify)?;
    let accel = qemu::choose_accel(opts.accel, &store.root().join("kvm-probe"))?;
    let tree = codesnap::snapshot(store, &opts.workspace, &opts.selection)?;
    let code_disk = codesnap::disk(store, &tree)?;
    let results = Results::open(&store.results_db())?;
    reap_abandoned(store, &results)?;
    let seed = random_u64();
    let mut batch = Batch {
        id: new_batch_id(seed),
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
        status: "running".into(),
    };
    results.insert_batch(&batch)?;
    let run_dir = store.runs_dir().join(&batch.id);
    fs::create_dir_all(&run_dir).ctx("creating the batch's run directory", &run_dir)?;
    progress(Progress::Started {
        batch: &batch,
        tree: &tree,
    });

    let ctx = IterationContext {
        image: &image,
        code_disk: Some(&code_disk),
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
    let next = AtomicU32::new(1);
    let cancel = AtomicBool::new(false);
    let mut iterations = Vec::new();
    let mut aborted = None;
    let mut write_error = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Message>();
        for _ in 0..opts.jobs.min(opts.iterations) {
            let tx = tx.clone();
            let (ctx, next, cancel) = (&ctx, &next, &cancel);
            s.spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n > opts.iterations || cancel.load(Ordering::SeqCst) {
                        return;
                    }
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
                    if opts.fail_fast && it.status.is_test_failure() {
                        cancel.store(true, Ordering::SeqCst);
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
    let _ = fs::remove_dir(&run_dir);
    iterations.sort_by_key(|i| i.iteration);
    batch.status = if interrupt.load(Ordering::SeqCst) {
        "interrupted"
    } else if aborted.is_some() || write_error.is_some() {
        "aborted"
    } else {
        "finished"
    }
    .into();
    batch.end_ms = Some(now_ms());
    results.finish_batch(&batch.id, &batch.status, batch.end_ms.unwrap_or_default())?;
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
        results.finish_batch(&b.id, "abandoned", end)?;
        reaped.push(b.id);
    }
    Ok(reaped)
}

enum Message {
    Started(u32),
    Done(Box<Iteration>),
}

/// What every iteration of a batch shares.
pub struct IterationContext<'a> {
    pub image: &'a Image,
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

/// Boots, runs the job, and fills `it`; errors are infrastructure errors.
fn drive(
    ctx: &IterationContext,
    files: &IterationFiles,
    it: &mut Iteration,
    output: &mut BoundedOutput,
    cancelled: &dyn Fn() -> bool,
) -> Result<()> {
    overlay::create(&ctx.image.disk, &files.overlay)?;
    let spec = VmSpec {
        image: ctx.image.clone(),
        root_disk: files.overlay.clone(),
        code_disk: ctx.code_disk.map(Path::to_path_buf),
        accel: ctx.accel,
        console: Console::File(files.console.clone()),
        extra_append: None,
        qemu_log: files.qemu_log.clone(),
    };
    let boot_started = Instant::now();
    let mut vm = Vm::start(&spec, Duration::from_secs(30))?;
    vm.agent()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ctx("configuring the agent channel", &files.overlay)?;
    let mut decoder = Decoder::default();

    // Boot until the agent says it is ready.
    let boot_deadline = boot_started + ctx.boot_timeout;
    loop {
        if cancelled() {
            it.status = Status::Interrupted;
            vm.stop();
            return Ok(());
        }
        match decoder.read_frame(vm.agent()) {
            Ok(Some(f)) if f.kind == Kind::Ready => {
                let ready: agent::Ready = f
                    .parse()
                    .ctx("reading the agent's greeting", &files.overlay)?;
                if ready.version != agent::PROTOCOL_VERSION {
                    vm.stop();
                    return Err(Error::ImageCorrupt {
                        name: ctx.image.manifest.name.clone(),
                        detail: format!(
                            "its guest agent speaks protocol {}, this snaprun speaks {}",
                            ready.version,
                            agent::PROTOCOL_VERSION
                        ),
                    });
                }
                break;
            }
            Ok(_) => {}
            Err(_) => {
                vm_gone(&mut vm, it, &files.console, "before its agent was ready");
                return Ok(());
            }
        }
        if vm.exited().is_some() {
            vm_gone(&mut vm, it, &files.console, "before its agent was ready");
            return Ok(());
        }
        if Instant::now() > boot_deadline {
            let crashed = vm.guest_panicked() || qemu::console_shows_panic(&files.console);
            vm.stop();
            if crashed {
                it.status = Status::Crashed;
                it.detail = Some("the guest kernel panicked while booting".into());
            } else {
                it.status = Status::InfraError;
                it.detail = Some(format!(
                    "the guest agent was not ready {}s after boot started",
                    ctx.boot_timeout.as_secs()
                ));
            }
            return Ok(());
        }
    }
    it.boot_ms = Some(boot_started.elapsed().as_millis() as u64);

    let job = Job {
        command: ctx.command.to_string(),
        env: ctx.env.to_vec(),
        iteration: it.iteration,
        seed: it.seed,
        code_label: ctx.code_disk.map(|_| CODE_LABEL.to_string()),
        workdir: agent::WORKDIR.to_string(),
    };
    Frame::json(Kind::Job, &job)
        .write_to(vm.agent())
        .ctx("sending the job to the guest", &files.overlay)?;
    let job_started = Instant::now();
    let deadline = ctx.timeout.map(|t| job_started + t);
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

/// Which images must outlive being replaced: those with batches whose failures are kept for
/// `repro`. Without a readable results database, every image is kept (the safe answer).
pub fn images_to_retain(store: &Store) -> impl Fn(&str) -> bool + use<> {
    let hashes = Results::open_existing(&store.results_db())
        .ok()
        .map(|r| r.map(|r| r.images_with_kept_failures()));
    move |hash: &str| match &hashes {
        Some(Some(Ok(set))) => set.iter().any(|h| h == hash),
        Some(None) => false,
        _ => true,
    }
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
    let image = image_of(store, batch)?;
    let tree = codesnap::load_tree(store, &batch.code_hash)?;
    let code_disk = codesnap::disk(store, &tree)?;
    let accel = qemu::choose_accel(
        Some(batch.accel.parse().unwrap_or(Accel::Tcg)),
        &store.root().join("kvm-probe"),
    )
    .or_else(|_| qemu::choose_accel(None, &store.root().join("kvm-probe")))?;
    let run_dir = store.runs_dir().join(&batch.id);
    fs::create_dir_all(&run_dir).ctx("creating the run directory", &run_dir)?;
    let name = format!("repro-{n}-{}", now_ms());
    if shell {
        let files = IterationFiles::new(&run_dir, &name);
        overlay::create(&image.disk, &files.overlay)?;
        let spec = VmSpec {
            image,
            root_disk: files.overlay.clone(),
            code_disk: Some(code_disk),
            accel,
            console: Console::Terminal,
            extra_append: Some(format!(
                "snaprun.shell snaprun.iteration={n} snaprun.seed={}",
                original.seed
            )),
            qemu_log: files.qemu_log.clone(),
        };
        let ran = qemu::run_interactive(&spec);
        files.remove();
        let _ = fs::remove_dir(&run_dir);
        ran?;
        return Ok(Iteration {
            status: Status::Pass,
            ..original
        });
    }
    let ctx = IterationContext {
        image: &image,
        code_disk: Some(&code_disk),
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
    let it = run_iteration_named(&ctx, n, original.seed, &name, &|| {
        interrupt.load(Ordering::SeqCst)
    });
    let _ = fs::remove_dir(&run_dir);
    Ok(it)
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
    }
}
