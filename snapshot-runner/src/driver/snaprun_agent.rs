//! The driver of snaprun's own agent (`snaprun-agent`, see [`crate::agent`]): wait for `Ready`
//! (unless the VM was restored from a warm state, saved after it), send the job, collect the
//! streamed output until the `Exit` frame.

use std::path::Path;
use std::time::Instant;

use super::job::{Driver, Drove, Job, Stream, elapsed_ms, gone, panicked};
use crate::agent::{self, AgentError, BoundedOutput, Decoder, Exit, Frame, Kind};
use crate::classify::{Observed, Phase};
use crate::codesnap::CODE_LABEL;
use crate::error::{Error, IoContext, Result};
use crate::qemu::Vm;

pub(super) struct SnaprunAgent;

/// How waiting for a booting guest's agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    Ready,
    Cancelled,
    /// QEMU exited or the channel broke.
    Gone,
    TimedOut,
    /// The agent speaks another protocol version.
    WrongVersion(u32),
}

/// Waits for the agent's `Ready` until `deadline` (also used by `image warm`).
pub fn await_ready(
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

impl Driver for SnaprunAgent {
    fn drive(&self, vm: &mut Vm, job: &Job, output: &mut BoundedOutput) -> Result<Drove> {
        let mut decoder = Decoder::default();
        if !job.restored {
            let deadline = job.boot_started + job.boot_timeout;
            match await_ready(vm, &mut decoder, deadline, job.cancelled)? {
                Boot::Ready => {}
                Boot::Cancelled => return Ok(Drove::at_boot(Observed::Cancelled)),
                Boot::Gone => return Ok(Drove::at_boot(gone(vm, job.console, Phase::Boot))),
                Boot::TimedOut => {
                    return Ok(Drove::at_boot(Observed::NotReady {
                        phase: Phase::Boot,
                        boot_timeout: job.boot_timeout,
                        panicked: panicked(vm, job.console),
                    }));
                }
                Boot::WrongVersion(v) => {
                    return Err(Error::ImageCorrupt {
                        name: job.image.to_string(),
                        detail: format!(
                            "its guest agent speaks protocol {v}, this snaprun speaks {}",
                            agent::PROTOCOL_VERSION
                        ),
                    });
                }
            }
        }
        let frame = agent::Job {
            command: job.command.to_string(),
            env: job.env.to_vec(),
            iteration: job.iteration,
            seed: job.seed,
            code_label: job.code.then(|| CODE_LABEL.to_string()),
            workdir: agent::WORKDIR.to_string(),
            clock_ms: Some(crate::results::now_ms()),
        };
        Frame::json(Kind::Job, &frame)
            .write_to(vm.agent())
            .ctx("sending the job to the guest", job.overlay)?;
        run_job(vm, job, &mut decoder, output)
    }
}

/// Reads the job's frames until it ends, the deadline passes or the VM goes.
fn run_job(
    vm: &mut Vm,
    job: &Job,
    decoder: &mut Decoder,
    output: &mut BoundedOutput,
) -> Result<Drove> {
    let job_started = Instant::now();
    let deadline = job.timeout.map(|t| job_started + t);
    // A restored guest that never starts the command is as stuck as one that never boots.
    let start_deadline = job_started + job.boot_timeout;
    let mut boot_ms = None;
    let ended = |observed, boot_ms| Drove {
        observed,
        duration_ms: elapsed_ms(job_started),
        boot_ms,
    };
    loop {
        if (job.cancelled)() {
            return Ok(ended(Observed::Cancelled, boot_ms));
        }
        if let (Some(d), Some(limit)) = (deadline, job.timeout)
            && Instant::now() > d
        {
            return Ok(ended(Observed::TimedOut { limit }, boot_ms));
        }
        if boot_ms.is_none() && Instant::now() > start_deadline {
            return Ok(Drove {
                duration_ms: 0,
                ..ended(
                    Observed::NotStarted {
                        boot_timeout: job.boot_timeout,
                    },
                    None,
                )
            });
        }
        let frame = match decoder.read_frame(vm.agent()) {
            Ok(Some(f)) => f,
            Ok(None) if vm.exited().is_none() && !vm.guest_panicked() => continue,
            Ok(None) | Err(_) => {
                let duration_ms = elapsed_ms(job_started);
                return Ok(Drove {
                    observed: gone(vm, job.console, Phase::Command),
                    duration_ms,
                    boot_ms,
                });
            }
        };
        match frame.kind {
            Kind::Started => boot_ms = Some(elapsed_ms(job.boot_started)),
            Kind::Stdout | Kind::Stderr => {
                output.push(&frame.payload);
                if let Some(echo) = job.echo {
                    let stream = if frame.kind == Kind::Stdout {
                        Stream::Stdout
                    } else {
                        Stream::Stderr
                    };
                    echo(stream, &frame.payload);
                }
            }
            Kind::Exit => {
                let exit: Exit = frame
                    .parse()
                    .ctx("reading the guest's result", job.overlay)?;
                return Ok(Drove {
                    observed: Observed::Exited {
                        code: exit.code,
                        signal: exit.signal,
                    },
                    duration_ms: exit.duration_ms,
                    boot_ms,
                });
            }
            Kind::Error => {
                let e: AgentError = frame
                    .parse()
                    .ctx("reading the guest's error", job.overlay)?;
                return Ok(ended(
                    Observed::AgentRefused { message: e.message },
                    boot_ms,
                ));
            }
            Kind::Ready | Kind::Job => {}
        }
    }
}
