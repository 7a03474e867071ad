//! What the results database records: batches, iterations, their statuses, and the summary of
//! a batch. Each status has one spelling, used in SQL and in JSON alike (`as_str`/`FromStr`,
//! and serde's renaming to the same words).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::stats::{self, Percentiles, Rate};

/// `FromStr` and `Display` of a status through its `ALL` and `as_str`, its one spelling.
macro_rules! spelled {
    ($t:ty, $what:literal) => {
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<$t, String> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " `{}`"), s))
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// How one iteration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The command exited 0.
    Pass,
    /// The command exited non-zero or was killed by a signal.
    Fail,
    /// The command ran longer than `--timeout`; the VM was killed.
    Timeout,
    /// The guest kernel panicked.
    Crashed,
    /// QEMU, the agent or the host failed; says nothing about the test.
    InfraError,
    /// snaprun was interrupted while the iteration ran.
    Interrupted,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pass,
        Status::Fail,
        Status::Timeout,
        Status::Crashed,
        Status::InfraError,
        Status::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Crashed => "crashed",
            Status::InfraError => "infra-error",
            Status::Interrupted => "interrupted",
        }
    }

    /// Whether the test itself went wrong (these count in the failure rate).
    pub fn is_test_failure(self) -> bool {
        matches!(self, Status::Fail | Status::Timeout | Status::Crashed)
    }
}

spelled!(Status, "iteration status");

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Iterations are running (or its snaprun was killed and nobody noticed yet).
    Running,
    /// Every iteration it was to run ran (or `--fail-fast` stopped it).
    Finished,
    /// Ctrl-C, SIGTERM or a cancellation handle stopped it.
    Interrupted,
    /// Stopped by infrastructure errors, or results could not be written.
    Aborted,
    /// Its snaprun was killed outright; cleaned up by a later one.
    Abandoned,
}

impl BatchStatus {
    pub const ALL: [BatchStatus; 5] = [
        BatchStatus::Running,
        BatchStatus::Finished,
        BatchStatus::Interrupted,
        BatchStatus::Aborted,
        BatchStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Running => "running",
            BatchStatus::Finished => "finished",
            BatchStatus::Interrupted => "interrupted",
            BatchStatus::Aborted => "aborted",
            BatchStatus::Abandoned => "abandoned",
        }
    }
}

spelled!(BatchStatus, "batch status");

/// What a batch is, as recorded when it starts.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: String,
    pub workspace: PathBuf,
    pub image_name: String,
    pub image_hash: String,
    pub code_hash: String,
    pub command: String,
    pub iterations: u32,
    pub jobs: u32,
    pub timeout_ms: Option<u64>,
    pub seed: u64,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub host: String,
    pub pid: u32,
    pub accel: String,
    pub status: BatchStatus,
    /// `K/N` when this batch ran only slice K of N (`--partition`). A merge of every slice has
    /// `None`; a merge of some lists the slices it holds (`1/3,3/3`).
    pub partition: Option<String>,
    /// The warm state the iterations were restored from; `None` when they booted.
    pub warm_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Iteration {
    pub batch_id: String,
    pub iteration: u32,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub boot_ms: Option<u64>,
    pub seed: u64,
    #[serde(skip)]
    pub output: Vec<u8>,
    pub detail: Option<String>,
    pub kept_overlay: Option<PathBuf>,
    pub start_ms: i64,
}

/// Counts, failure rate and durations of a batch's iterations.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub total: u32,
    pub passed: u32,
    pub failed: u32,
    pub timeout: u32,
    pub crashed: u32,
    pub infra_error: u32,
    pub interrupted: u32,
    /// Test failures (fail, timeout, crashed) among iterations that ran to an outcome.
    pub failure_rate: Rate,
    /// Durations of the iterations whose command finished (pass or fail), in ms.
    pub duration_ms: Option<Percentiles>,
}

impl Summary {
    pub fn of(iterations: &[Iteration]) -> Summary {
        let count = |s: Status| iterations.iter().filter(|i| i.status == s).count() as u32;
        let (passed, failed, timeout, crashed) = (
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Timeout),
            count(Status::Crashed),
        );
        let failures = u64::from(failed + timeout + crashed);
        let durations = finished_durations(iterations);
        Summary {
            total: iterations.len() as u32,
            passed,
            failed,
            timeout,
            crashed,
            infra_error: count(Status::InfraError),
            interrupted: count(Status::Interrupted),
            failure_rate: stats::wilson(failures, failures + u64::from(passed)),
            duration_ms: stats::percentiles(&durations),
        }
    }

    pub fn test_failures(&self) -> u32 {
        self.failed + self.timeout + self.crashed
    }
}

/// The durations (ms) of the iterations whose command finished, passing or failing: the only
/// ones that say how long the command takes.
pub fn finished_durations(iterations: &[Iteration]) -> Vec<u64> {
    iterations
        .iter()
        .filter(|i| matches!(i.status, Status::Pass | Status::Fail))
        .map(|i| i.duration_ms)
        .collect()
}

/// A batch with its iterations and their summary: what `snaprun show --json` prints (and
/// `run --json`, `merge --json`).
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    // In the order `--json` has always printed them (alphabetical).
    pub batch: Batch,
    pub iterations: Vec<Iteration>,
    pub summary: Summary,
}

impl BatchReport {
    pub fn new(batch: Batch, iterations: Vec<Iteration>) -> BatchReport {
        let summary = Summary::of(&iterations);
        BatchReport {
            batch,
            iterations,
            summary,
        }
    }
}

/// Whether the process that ran a `running` batch is gone (snaprun was killed), judged on the
/// same host only.
pub fn is_abandoned(b: &Batch, this_host: &str) -> bool {
    b.status == BatchStatus::Running
        && b.host == this_host
        && std::fs::metadata(format!("/proc/{}", b.pid)).is_err()
}

/// Now, in milliseconds since the epoch: the clock of every time the results record.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The name of this host, as batches record it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// A plain finished batch and its iterations, for tests (this crate's, its integration
/// tests', the planner's) to change what they are about.
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    pub fn batch(id: &str) -> Batch {
        Batch {
            id: id.into(),
            workspace: "/ws".into(),
            image_name: "default".into(),
            image_hash: "i".into(),
            code_hash: "c".into(),
            command: "./stress.sh".into(),
            iterations: 1,
            jobs: 1,
            timeout_ms: None,
            seed: 1,
            start_ms: 0,
            end_ms: Some(1),
            host: "h".into(),
            pid: 1,
            accel: "tcg".into(),
            status: BatchStatus::Finished,
            partition: None,
            warm_hash: None,
        }
    }

    /// Iteration `n` with `status`; a failure exits 1.
    pub fn iteration(batch_id: &str, n: u32, status: Status) -> Iteration {
        Iteration {
            batch_id: batch_id.into(),
            iteration: n,
            status,
            exit_code: Some(i32::from(status != Status::Pass)),
            signal: None,
            duration_ms: 1000,
            boot_ms: None,
            seed: u64::from(n),
            output: Vec::new(),
            detail: None,
            kept_overlay: None,
            start_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_one_spelling_in_sql_and_json() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        for s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("pass".parse::<BatchStatus>().is_err());
        assert!("infra_error".parse::<Status>().is_err());
    }
}
