//! One iteration: its overlay on the image (or on the warm state's disk layer), one VM booted
//! or restored on it, a [`driver`](crate::driver) through the job, the observation judged by
//! [`classify`], and the iteration's files kept (a test failure, for `repro`) or removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::agent::BoundedOutput;
use crate::classify::{Observed, classify};
use crate::driver::{self, Drove, Echo, Job};
use crate::error::{IoContext, Result};
use crate::overlay;
use crate::qemu::{self, Accel, Console, Vm, VmSpec};
use crate::results::{Iteration, Status, now_ms};
use crate::store::{Image, WarmFiles};

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
    /// Hears the command's output as it arrives (`repro`).
    pub echo: Option<Echo<'a>>,
}

/// The files of one iteration.
pub(crate) struct IterationFiles {
    pub overlay: PathBuf,
    pub console: PathBuf,
    pub qemu_log: PathBuf,
}

impl IterationFiles {
    pub fn new(run_dir: &Path, name: &str) -> IterationFiles {
        IterationFiles {
            overlay: run_dir.join(format!("{name}.qcow2")),
            console: run_dir.join(format!("{name}.console.log")),
            qemu_log: run_dir.join(format!("{name}.qemu.log")),
        }
    }

    pub fn remove(&self) {
        for p in [&self.overlay, &self.console, &self.qemu_log] {
            let _ = fs::remove_file(p);
        }
    }
}

/// The console log kept beside a kept overlay (`iter-3.qcow2` keeps `iter-3.console.log`).
pub fn kept_console(kept_overlay: &Path) -> PathBuf {
    kept_overlay.with_extension("console.log")
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

/// [`run_iteration`] with its files named `name` (`repro` keeps its own beside the batch's).
pub fn run_iteration_named(
    ctx: &IterationContext,
    n: u32,
    seed: u64,
    name: &str,
    cancelled: &dyn Fn() -> bool,
) -> Iteration {
    let start_ms = now_ms();
    let files = IterationFiles::new(ctx.run_dir, name);
    let mut output = BoundedOutput::new(ctx.output_limit);
    let drove = drive(ctx, &files, n, seed, &mut output, cancelled).unwrap_or_else(|e| Drove {
        observed: Observed::HostError {
            message: e.to_string(),
        },
        duration_ms: 0,
        boot_ms: None,
    });
    let (status, detail) = classify(&drove.observed);
    let (exit_code, signal) = match drove.observed {
        Observed::Exited { code, signal } => (code, signal),
        _ => (None, None),
    };
    let mut bytes = output.into_bytes();
    if matches!(status, Status::Crashed | Status::InfraError) && files.console.exists() {
        let (tail, lines) = qemu::console_tail(&files.console);
        let header = format!("\n--- guest console (last {} lines) ---\n", lines.max(40));
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(tail.as_bytes());
        bytes.push(b'\n');
    }
    let kept_overlay = if status.is_test_failure() && files.overlay.exists() {
        let _ = fs::remove_file(&files.qemu_log);
        Some(files.overlay.clone())
    } else {
        files.remove();
        None
    };
    Iteration {
        batch_id: ctx.batch_id.to_string(),
        iteration: n,
        status,
        exit_code,
        signal,
        duration_ms: drove.duration_ms,
        boot_ms: drove.boot_ms,
        seed,
        output: bytes,
        detail,
        kept_overlay,
        start_ms,
    }
}

/// Makes the overlay, starts (or restores) the VM, hands it to the image's driver, and stops
/// it when the driver returns. Errors are snaprun's own failures.
fn drive(
    ctx: &IterationContext,
    files: &IterationFiles,
    n: u32,
    seed: u64,
    output: &mut BoundedOutput,
    cancelled: &dyn Fn() -> bool,
) -> Result<Drove> {
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
    let job = Job {
        command: ctx.command,
        env: ctx.env,
        iteration: n,
        seed,
        code: ctx.code_disk.is_some(),
        timeout: ctx.timeout,
        boot_timeout: ctx.boot_timeout,
        restored: ctx.warm.is_some(),
        image: &ctx.image.manifest.name,
        console: &files.console,
        overlay: &files.overlay,
        boot_started,
        cancelled,
        echo: ctx.echo,
    };
    let drove = driver::for_agent(ctx.image.manifest.agent).drive(&mut vm, &job, output);
    vm.stop();
    drove
}
