//! Running batches: in the caller's thread ([`run_batch`]) or in one of their own
//! ([`start_batch`]), stopping one by id from anywhere ([`stop`]), watch mode, `repro`, and
//! keeping the built-in image in step with this snaprun before a batch ([`ensure_default`]).

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use serde::Serialize;

use super::image::{ImageEvent, build_default, warm_image};
use crate::batch::{self, BatchEvent, Options, Outcome};
use crate::cancel::Cancel;
use crate::driver::Echo;
use crate::error::{Error, Result};
use crate::image_build::Built;
use crate::repro;
use crate::results::{BatchStatus, Iteration, Results, host_name};
use crate::store::{DEFAULT_IMAGE, Manifest, Store};
use crate::warm::{Start, WarmOptions};

/// Runs a batch in this thread, reporting progress to `on_event`, until it ends or `cancel`
/// is triggered (then its VMs are stopped, its overlays removed but for kept failures, and it
/// is recorded as interrupted).
pub fn run_batch(
    store: &Store,
    opts: &Options,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(BatchEvent),
) -> Result<Outcome> {
    batch::run(store, opts, cancel, on_event)
}

/// A batch running in a thread of its own: its events arrive on [`RunningBatch::events`],
/// [`RunningBatch::cancel`] stops it, [`RunningBatch::wait`] says how it ended.
pub struct RunningBatch {
    events: mpsc::Receiver<BatchEvent>,
    cancel: Cancel,
    thread: JoinHandle<Result<Outcome>>,
}

impl RunningBatch {
    /// The batch's events, in order; the channel closes when the batch has ended.
    pub fn events(&self) -> &mpsc::Receiver<BatchEvent> {
        &self.events
    }

    /// The batch's cancellation token (clones stop it too).
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Waits for the batch to end.
    pub fn wait(self) -> Result<Outcome> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the batch's thread panicked".into())))
    }
}

/// Starts a batch in a thread of its own (see [`RunningBatch`]).
pub fn start_batch(store: &Store, opts: &Options) -> RunningBatch {
    let (tx, events) = mpsc::channel();
    let cancel = Cancel::new();
    let (store, opts, token) = (store.clone(), opts.clone(), cancel.clone());
    let thread = std::thread::spawn(move || {
        batch::run(&store, &opts, &token, &mut |e| {
            // The receiver may have gone; the batch goes on and is recorded all the same.
            let _ = tx.send(e);
        })
    });
    RunningBatch {
        events,
        cancel,
        thread,
    }
}

/// What [`stop`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stopped", rename_all = "kebab-case")]
pub enum Stopped {
    /// This process runs the batch: its token was triggered.
    InProcess { batch_id: String },
    /// Another snaprun on this host runs it: it was sent SIGINT, as Ctrl-C would.
    Signalled { batch_id: String, pid: u32 },
    /// The batch was not running (any more).
    NotRunning {
        batch_id: String,
        status: BatchStatus,
    },
}

/// Stops batch `id` (an id, a unique prefix, or `last`) wherever it runs on this host: in this
/// process through its token, in another `snaprun` through SIGINT. Either way it stops like
/// Ctrl-C: its VMs stop, its overlays go but for kept failures, it is recorded as interrupted.
pub fn stop(store: &Store, id: &str) -> Result<Stopped> {
    let results = Results::open(&store.results_db())?;
    let b = results.batch(id)?;
    if batch::stop(&b.id) {
        return Ok(Stopped::InProcess { batch_id: b.id });
    }
    if b.status != BatchStatus::Running {
        return Ok(Stopped::NotRunning {
            batch_id: b.id,
            status: b.status,
        });
    }
    if b.host != host_name() {
        return Err(Error::Usage(format!(
            "batch {} runs on host {}; stop it there",
            b.id, b.host
        )));
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", b.pid)).ok();
    match comm.as_deref().map(str::trim) {
        None => {
            // Its snaprun is gone: clean up after it as `ls` would.
            batch::reap_abandoned(store, &results)?;
            Ok(Stopped::NotRunning {
                batch_id: b.id,
                status: BatchStatus::Abandoned,
            })
        }
        Some("snaprun") => {
            // SAFETY: a signal to a process this user's snaprun started, checked by name.
            if unsafe { libc::kill(b.pid as libc::pid_t, libc::SIGINT) } != 0 {
                return Err(Error::io(
                    "signalling the snaprun that runs the batch",
                    format!("/proc/{}", b.pid),
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(Stopped::Signalled {
                batch_id: b.id,
                pid: b.pid,
            })
        }
        Some(other) => Err(Error::Usage(format!(
            "batch {} runs in process {} ({other}), not in a snaprun command; stop it from \
             that program",
            b.id, b.pid
        ))),
    }
}

/// Before a batch on the built-in image: keeps it in step with `agent` (this snaprun's guest
/// agent; a few `stat`s when nothing changed), and builds it on first use. When the image it
/// replaces had a warm state, a new one is saved too (unless the batch boots cold), or every
/// batch would quietly fall back to booting. Returns the new image if it was rebuilt.
pub fn ensure_default(
    store: &Store,
    opts: &Options,
    agent: &Path,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(ImageEvent),
) -> Result<Option<Manifest>> {
    if opts.image != DEFAULT_IMAGE {
        return Ok(None);
    }
    let before = store.manifest(DEFAULT_IMAGE).ok();
    // Without the agent beside this snaprun (an installed copy) an existing image stays.
    if before.is_some() && !agent.is_file() {
        return Ok(None);
    }
    let Built::Fresh(manifest) = build_default(store, agent, false, cancel, on_event)? else {
        return Ok(None);
    };
    if let Some(w) = before.and_then(|b| b.warm)
        && opts.start != Start::Cold
    {
        on_event(ImageEvent::Warming {
            image: DEFAULT_IMAGE.into(),
        });
        let warm_opts = WarmOptions {
            accel: w.accel.parse().ok(),
            boot_timeout: opts.boot_timeout,
            ..WarmOptions::new(DEFAULT_IMAGE)
        };
        warm_image(store, &warm_opts, cancel, on_event)?;
    }
    Ok(Some(manifest))
}

/// Runs batches of `opts` until `cancel` is triggered: one now, then one per settled change
/// of the workspace (see [`crate::watch`]).
#[cfg(feature = "watch")]
pub fn watch(
    store: &Store,
    opts: &Options,
    on_change: crate::watch::OnChange,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(crate::watch::WatchEvent),
) -> Result<()> {
    crate::watch::watch(store, opts, on_change, cancel, on_event)
}

/// Re-runs iteration `n` of batch `id` from the same image, code snapshot and seed; `echo`
/// hears its output as it comes, `note` why a warm state is not restored. A failing
/// reproduction keeps its disk (see the returned iteration's `kept_overlay`).
pub fn repro(
    store: &Store,
    id: &str,
    n: u32,
    cancel: &Cancel,
    echo: Option<Echo>,
    note: &mut dyn FnMut(String),
) -> Result<Iteration> {
    let batch = Results::open(&store.results_db())?.batch(id)?;
    repro::repro(store, &batch, n, cancel, echo, note)
}

/// Boots the state iteration `n` of batch `id` ran in, with a shell on this terminal.
pub fn repro_shell(store: &Store, id: &str, n: u32, cancel: &Cancel) -> Result<()> {
    let batch = Results::open(&store.results_db())?.batch(id)?;
    repro::shell(store, &batch, n, cancel)
}
