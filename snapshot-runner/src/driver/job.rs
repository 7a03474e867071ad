//! What a driver is given (a [`Job`] on a started VM) and what it hands back ([`Drove`]), and
//! the facts every driver gathers the same way.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::agent::BoundedOutput;
use crate::classify::{Observed, Phase};
use crate::error::Result;
use crate::qemu::{self, Vm};

/// How long a guest may take to boot to its agent, unless told otherwise (`--boot-timeout`).
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// Which of the command's streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives the command's output as it arrives (`repro` shows it live).
pub type Echo<'a> = &'a (dyn Fn(Stream, &[u8]) + Sync);

/// One job on a started VM.
pub struct Job<'a> {
    /// Run by `/bin/sh -c` in the guest's `/work`.
    pub command: &'a str,
    pub env: &'a [(String, String)],
    pub iteration: u32,
    pub seed: u64,
    /// Whether the code slot is attached (the agent mounts it at `/work`).
    pub code: bool,
    pub timeout: Option<Duration>,
    pub boot_timeout: Duration,
    /// The VM was restored from a warm state, whose agent said it was ready when it was saved.
    pub restored: bool,
    /// The image's name, for errors about it.
    pub image: &'a str,
    /// The guest console's log, which may show a kernel panic.
    pub console: &'a Path,
    /// The iteration's overlay, named in errors about the channel to the guest.
    pub overlay: &'a Path,
    /// When QEMU was started.
    pub boot_started: Instant,
    pub cancelled: &'a dyn Fn() -> bool,
    pub echo: Option<Echo<'a>>,
}

/// What a driver saw, with the times it measured.
#[derive(Debug)]
pub struct Drove {
    pub observed: Observed,
    /// How long the command ran (as the guest measured it, when it says).
    pub duration_ms: u64,
    /// QEMU start to command start, when the command started.
    pub boot_ms: Option<u64>,
}

impl Drove {
    pub(super) fn at_boot(observed: Observed) -> Drove {
        Drove {
            observed,
            duration_ms: 0,
            boot_ms: None,
        }
    }
}

/// Runs a job through one kind of guest agent. Errors are snaprun's own failures (the
/// iteration becomes an infrastructure error); everything the guest does is an [`Observed`].
/// The VM may still run when the driver returns: its caller stops it.
pub trait Driver: Sync {
    fn drive(&self, vm: &mut Vm, job: &Job, output: &mut BoundedOutput) -> Result<Drove>;
}

/// Whether the guest kernel panicked: QEMU said so, or the console shows it.
pub(super) fn panicked(vm: &mut Vm, console: &Path) -> bool {
    vm.guest_panicked() || qemu::console_shows_panic(console)
}

/// How long a guest that reported a panic may take to write it to its console and reboot
/// (which ends QEMU, `-no-reboot`): seconds under TCG on a loaded host.
const PANIC_FLUSH: Duration = Duration::from_secs(15);

/// The VM ended on its own (or its channel broke) during `phase`: what QEMU's exit and the
/// console say about it.
pub(super) fn gone(vm: &mut Vm, console: &Path, phase: Phase) -> Observed {
    let wait = if vm.guest_panicked() {
        PANIC_FLUSH
    } else {
        Duration::from_secs(2)
    };
    let exit = vm.wait_exit(wait);
    Observed::VmGone {
        phase,
        panicked: panicked(vm, console),
        exit: exit.map(|s| s.to_string()),
    }
}

pub(super) fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}
