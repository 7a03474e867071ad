//! How an iteration ended, judged: what a driver observed (the command's exit, a deadline
//! passing, the VM going away, the agent never answering) becomes the iteration's [`Status`]
//! and the sentence that explains it. This is the one place where, for example, a timeout
//! becomes `timeout`. Pure: the drivers gather the facts (is QEMU gone? did the guest panic?).

use std::time::Duration;

use crate::results::Status;

/// Which part of an iteration was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Booting until snaprun's agent says it is ready.
    Boot,
    /// Booting until qemu-guest-agent answers.
    BootQga,
    /// Mounting the code snapshot in the guest (qemu-guest-agent).
    Mount,
    /// The command runs.
    Command,
}

impl Phase {
    fn when(self) -> &'static str {
        match self {
            Phase::Boot => "before its agent was ready",
            Phase::BootQga => "before qemu-guest-agent was ready",
            Phase::Mount => "while mounting the code snapshot",
            Phase::Command => "while the command ran",
        }
    }
}

/// What a driver saw at the end of an iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The command ended with an exit code, or was killed by a signal.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The iteration was cancelled (Ctrl-C, a cancellation handle, `--fail-fast`).
    Cancelled,
    /// The command was still running when its `limit` (`--timeout`) passed.
    TimedOut { limit: Duration },
    /// The guest's agent had not answered `boot_timeout` after QEMU started.
    NotReady {
        phase: Phase,
        boot_timeout: Duration,
        panicked: bool,
    },
    /// QEMU ended, or its channel broke, during `phase`. `exit` is QEMU's exit status if it
    /// ended; `panicked` says whether the guest kernel panicked.
    VmGone {
        phase: Phase,
        panicked: bool,
        exit: Option<String>,
    },
    /// A restored guest took the job but did not start the command within `boot_timeout`.
    NotStarted { boot_timeout: Duration },
    /// The guest's agent refused or could not run the job.
    AgentRefused { message: String },
    /// Mounting the code snapshot in the guest failed with this error output.
    MountFailed { stderr: String },
    /// Mounting the code snapshot in the guest did not end.
    MountHung,
    /// snaprun's side failed (an overlay could not be made, QEMU would not start, the guest
    /// spoke another protocol version): `message` says what.
    HostError { message: String },
}

/// The status of an iteration that ended as `observed`, and what to tell the user about it.
pub fn classify(observed: &Observed) -> (Status, Option<String>) {
    match observed {
        Observed::Exited { code: Some(0), .. } => (Status::Pass, None),
        Observed::Exited { .. } => (Status::Fail, None),
        Observed::Cancelled => (Status::Interrupted, None),
        Observed::TimedOut { limit } => (
            Status::Timeout,
            Some(format!(
                "still running after {}",
                humantime::format_duration(*limit)
            )),
        ),
        Observed::NotReady { panicked: true, .. } => (
            Status::Crashed,
            Some("the guest kernel panicked while booting".into()),
        ),
        Observed::NotReady {
            phase,
            boot_timeout,
            ..
        } => (
            Status::InfraError,
            Some(match phase {
                Phase::BootQga => format!(
                    "qemu-guest-agent did not answer {}s after boot started (is it installed \
                     and enabled in the image?)",
                    boot_timeout.as_secs()
                ),
                _ => format!(
                    "the guest agent was not ready {}s after boot started",
                    boot_timeout.as_secs()
                ),
            }),
        ),
        Observed::VmGone {
            phase,
            panicked: true,
            ..
        } => (
            Status::Crashed,
            Some(format!("the guest kernel panicked {}", phase.when())),
        ),
        Observed::VmGone { phase, exit, .. } => {
            let how = exit.as_ref().map_or_else(
                || "closed its agent channel".to_string(),
                |s| format!("exited ({s})"),
            );
            (
                Status::InfraError,
                Some(format!("QEMU {how} {}", phase.when())),
            )
        }
        Observed::NotStarted { boot_timeout } => (
            Status::InfraError,
            Some(format!(
                "the guest agent did not start the command within {}s",
                boot_timeout.as_secs()
            )),
        ),
        Observed::AgentRefused { message } => (
            Status::InfraError,
            Some(format!("the guest agent could not run the job: {message}")),
        ),
        Observed::MountFailed { stderr } => (
            Status::InfraError,
            Some(format!(
                "could not mount the code snapshot in the guest: {}",
                stderr.trim()
            )),
        ),
        Observed::MountHung => (
            Status::InfraError,
            Some("mounting the code snapshot in the guest hung".into()),
        ),
        Observed::HostError { message } => (Status::InfraError, Some(message.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(o: Observed) -> Status {
        classify(&o).0
    }

    fn detail(o: Observed) -> String {
        classify(&o).1.unwrap_or_default()
    }

    #[test]
    fn the_command_s_exit_decides_pass_or_fail() {
        let exited = |code, signal| Observed::Exited { code, signal };
        assert_eq!(classify(&exited(Some(0), None)), (Status::Pass, None));
        assert_eq!(classify(&exited(Some(3), None)), (Status::Fail, None));
        assert_eq!(classify(&exited(None, Some(9))), (Status::Fail, None));
        assert_eq!(classify(&Observed::Cancelled), (Status::Interrupted, None));
    }

    #[test]
    fn a_timeout_is_the_test_s_fault_and_says_how_long() {
        let limit = Duration::from_secs(90);
        assert_eq!(status(Observed::TimedOut { limit }), Status::Timeout);
        assert_eq!(
            detail(Observed::TimedOut { limit }),
            "still running after 1m 30s"
        );
    }

    #[test]
    fn a_guest_panic_is_crashed_whenever_it_happens() {
        for phase in [Phase::Boot, Phase::BootQga, Phase::Mount, Phase::Command] {
            let gone = Observed::VmGone {
                phase,
                panicked: true,
                exit: Some("exit status: 0".into()),
            };
            assert_eq!(status(gone.clone()), Status::Crashed);
            assert!(detail(gone).starts_with("the guest kernel panicked "));
        }
        let boot = Observed::NotReady {
            phase: Phase::Boot,
            boot_timeout: Duration::from_secs(5),
            panicked: true,
        };
        assert_eq!(
            classify(&boot),
            (
                Status::Crashed,
                Some("the guest kernel panicked while booting".into())
            )
        );
    }

    #[test]
    fn anything_else_going_wrong_is_an_infrastructure_error_that_names_it() {
        let cases = [
            (
                Observed::VmGone {
                    phase: Phase::Command,
                    panicked: false,
                    exit: Some("signal: 9 (SIGKILL)".into()),
                },
                "QEMU exited (signal: 9 (SIGKILL)) while the command ran",
            ),
            (
                Observed::VmGone {
                    phase: Phase::Boot,
                    panicked: false,
                    exit: None,
                },
                "QEMU closed its agent channel before its agent was ready",
            ),
            (
                Observed::NotReady {
                    phase: Phase::Boot,
                    boot_timeout: Duration::from_secs(180),
                    panicked: false,
                },
                "the guest agent was not ready 180s after boot started",
            ),
            (
                Observed::NotReady {
                    phase: Phase::BootQga,
                    boot_timeout: Duration::from_secs(60),
                    panicked: false,
                },
                "qemu-guest-agent did not answer 60s after boot started",
            ),
            (
                Observed::NotStarted {
                    boot_timeout: Duration::from_secs(180),
                },
                "did not start the command within 180s",
            ),
            (
                Observed::AgentRefused {
                    message: "no code disk".into(),
                },
                "could not run the job: no code disk",
            ),
            (
                Observed::MountFailed {
                    stderr: "mount: no such device\n".into(),
                },
                "in the guest: mount: no such device",
            ),
            (Observed::MountHung, "hung"),
            (
                Observed::HostError {
                    message: "QEMU: cannot start".into(),
                },
                "QEMU: cannot start",
            ),
        ];
        for (observed, says) in cases {
            let (status, detail) = classify(&observed);
            assert_eq!(status, Status::InfraError, "{observed:?}");
            let detail = detail.unwrap_or_default();
            assert!(detail.contains(says), "{detail:?} lacks {says:?}");
        }
    }
}
