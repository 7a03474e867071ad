//! The driver of qemu-guest-agent (images built with `image build --debian`, cloud images):
//! wait until it answers, mount the code slot, `guest-exec` the command with its output
//! captured, and poll `guest-exec-status`. QGA returns the output when the command has ended
//! (no streaming), and the duration is measured on the host to within the polling step.

use std::time::{Duration, Instant};

use super::job::{Driver, Drove, Job, Stream, elapsed_ms, gone, panicked};
use crate::agent::{self, BoundedOutput};
use crate::classify::{Observed, Phase};
use crate::codesnap::CODE_LABEL;
use crate::error::Result;
use crate::qemu::Vm;
use crate::qga;

pub(super) struct QemuGuestAgent;

/// Effectively no limit, for a command without `--timeout`.
const NO_LIMIT: Duration = Duration::from_secs(365 * 86_400);

impl Driver for QemuGuestAgent {
    fn drive(&self, vm: &mut Vm, job: &Job, output: &mut BoundedOutput) -> Result<Drove> {
        let deadline = job.boot_started + job.boot_timeout;
        let ready = qga::Client::new(vm.agent()).wait_ready(deadline, job.cancelled);
        match ready {
            Ok(true) => {}
            Ok(false) if (job.cancelled)() => return Ok(Drove::at_boot(Observed::Cancelled)),
            Ok(false) if vm.exited().is_some() => {
                return Ok(Drove::at_boot(gone(vm, job.console, Phase::BootQga)));
            }
            Ok(false) => {
                return Ok(Drove::at_boot(Observed::NotReady {
                    phase: Phase::BootQga,
                    boot_timeout: job.boot_timeout,
                    panicked: panicked(vm, job.console),
                }));
            }
            Err(_) => return Ok(Drove::at_boot(gone(vm, job.console, Phase::BootQga))),
        }
        let env = qga::command_env(job.iteration, job.seed, job.env);
        if job.code {
            let mount = qga::Client::new(vm.agent()).run_to_end(
                &qga::mount_code_command(CODE_LABEL, agent::WORKDIR),
                &env,
                Instant::now() + Duration::from_secs(60),
                job.cancelled,
            );
            let failed = match mount {
                Ok(Some(st)) if st.exitcode == Some(0) => None,
                Ok(Some(st)) => Some(Observed::MountFailed {
                    stderr: String::from_utf8_lossy(&st.err).into_owned(),
                }),
                Ok(None) if (job.cancelled)() => Some(Observed::Cancelled),
                Ok(None) => Some(Observed::MountHung),
                Err(_) => Some(gone(vm, job.console, Phase::Mount)),
            };
            if let Some(observed) = failed {
                return Ok(Drove::at_boot(observed));
            }
        }
        let boot_ms = Some(elapsed_ms(job.boot_started));
        let job_started = Instant::now();
        let limit = job_started + job.timeout.unwrap_or(NO_LIMIT);
        let ran = qga::Client::new(vm.agent()).run_to_end(
            &qga::job_command(job.command, agent::WORKDIR),
            &env,
            limit,
            job.cancelled,
        );
        let duration_ms = elapsed_ms(job_started);
        let observed = match ran {
            Ok(Some(st)) => {
                output.push(&st.out);
                output.push(&st.err);
                if let Some(echo) = job.echo {
                    echo(Stream::Stdout, &st.out);
                    echo(Stream::Stderr, &st.err);
                }
                // Whatever the command wrote reaches the overlay before QEMU goes.
                let _ = qga::Client::new(vm.agent()).run_to_end(
                    &["/bin/sync".to_string()],
                    &env,
                    Instant::now() + Duration::from_secs(10),
                    job.cancelled,
                );
                Observed::Exited {
                    code: st.exitcode,
                    signal: st.signal,
                }
            }
            Ok(None) if (job.cancelled)() => Observed::Cancelled,
            Ok(None) if vm.exited().is_some() || vm.guest_panicked() => {
                gone(vm, job.console, Phase::Command)
            }
            Ok(None) => Observed::TimedOut {
                limit: job.timeout.unwrap_or(NO_LIMIT),
            },
            Err(_) => gone(vm, job.console, Phase::Command),
        };
        Ok(Drove {
            observed,
            duration_ms,
            boot_ms,
        })
    }
}
