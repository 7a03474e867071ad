//! CI at scale: joining the results of a batch that ran in slices (`--partition K/N`, one CI job
//! each, every slice written to its own database with `--results FILE`) into one batch, and the
//! `--max-failure-rate` gate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plan::{Partition, batch_id_at};
use crate::results::{Batch, BatchReport, BatchStatus, Iteration, Results};
use crate::stats::{self, Rate};

/// What a batch's result says, for a person or a CI job: the exit code of `snaprun run` and
/// `merge` follows from it, and the message the CLI prints with it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// No iteration failed (with `--max-failure-rate`: and enough passed to show the rate is
    /// below it).
    Passed,
    /// Iterations failed, but the failure rate is at most `rate.high` (95% upper bound), within
    /// the `max` allowed.
    WithinMaxRate { rate: Rate, max: f64 },
    /// Iterations failed (fail, timeout or crashed).
    Failed,
    /// The failure rate may be as high as `rate.high`, above the `max` allowed; with no failures
    /// at all, `needed` iterations would show it below `max`.
    AboveMaxRate {
        rate: Rate,
        max: f64,
        needed: Option<u64>,
    },
    /// The batch was interrupted.
    Interrupted,
    /// Infrastructure errors stopped the batch.
    Aborted { why: String },
    /// `count` iterations hit infrastructure errors: the result says nothing about them.
    InfraErrors { count: u32 },
}

/// The verdict on `report` (`aborted`: why infrastructure errors stopped it), gated by
/// `--max-failure-rate` when given.
pub fn verdict(
    report: &BatchReport,
    aborted: Option<&str>,
    max_failure_rate: Option<f64>,
) -> Verdict {
    let s = &report.summary;
    if report.batch.status == BatchStatus::Interrupted {
        return Verdict::Interrupted;
    }
    if let Some(why) = aborted {
        return Verdict::Aborted {
            why: why.to_string(),
        };
    }
    if s.infra_error > 0 {
        return Verdict::InfraErrors {
            count: s.infra_error,
        };
    }
    let rate = s.failure_rate;
    match max_failure_rate {
        None if s.test_failures() > 0 => Verdict::Failed,
        None => Verdict::Passed,
        Some(max) if within_max_failure_rate(&rate, max) => {
            if s.test_failures() > 0 {
                Verdict::WithinMaxRate { rate, max }
            } else {
                Verdict::Passed
            }
        }
        Some(max) => Verdict::AboveMaxRate {
            rate,
            max,
            needed: if rate.failures == 0 {
                iterations_needed(max)
            } else {
                None
            },
        },
    }
}

/// Whether a batch with failure rate `rate` passes `--max-failure-rate max`: only when the upper
/// bound of its 95% Wilson interval is at most `max`, so one unlucky failure among many runs does
/// not fail CI, and too few runs to tell do not pass it.
pub fn within_max_failure_rate(rate: &Rate, max: f64) -> bool {
    rate.high <= max
}

/// The fewest iterations, all passing, whose interval's upper bound is at most `max`: what a
/// batch must run for `--max-failure-rate max` to be able to pass at all.
pub fn iterations_needed(max: f64) -> Option<u64> {
    if max <= 0.0 {
        return None;
    }
    // Upper bound for 0/n is z²/(n + z²): solve for n, then step to the exact integer.
    let z2 = stats::Z95 * stats::Z95;
    let mut n = ((z2 * (1.0 - max) / max).floor() as u64).max(1);
    while !within_max_failure_rate(&stats::wilson(0, n), max) {
        n += 1;
    }
    Some(n)
}

/// Parses `5%` or `0.05`.
pub fn parse_rate(s: &str) -> std::result::Result<f64, String> {
    let bad = || format!("`{s}` is not a failure rate; write it as 0.05 or 5%");
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.trim().parse::<f64>().map_err(|_| bad())?,
    };
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(bad())
    }
}

/// A merged batch.
#[derive(Debug)]
pub struct Merged {
    pub batch: Batch,
    pub iterations: Vec<Iteration>,
    /// The slices it holds, and of how many.
    pub partitions: Vec<Partition>,
    pub of: u32,
}

impl Merged {
    /// Whether every slice of the batch is there.
    pub fn complete(&self) -> bool {
        self.partitions.len() as u32 == self.of
    }
}

fn parse_partitions(b: &Batch, file: &Path) -> Result<Vec<Partition>> {
    match &b.partition {
        None => Ok(vec![Partition { index: 1, count: 1 }]),
        Some(s) => s
            .split(',')
            .map(|p| {
                p.parse::<Partition>()
                    .map_err(|e| Error::Usage(format!("{}: batch {}: {e}", file.display(), b.id)))
            })
            .collect(),
    }
}

/// Reads one batch (with its iterations) from each results file and joins them into one batch.
/// They must be slices of the same batch: the same seed, command, image, code snapshot and
/// iteration count, and no iteration twice.
pub fn merge(files: &[PathBuf]) -> Result<Merged> {
    if files.is_empty() {
        return Err(Error::Usage(
            "nothing to merge; pass the results files written by `snaprun run --results FILE`"
                .into(),
        ));
    }
    let mut parts: Vec<(PathBuf, Batch, Vec<Iteration>)> = Vec::new();
    for f in files {
        let results = Results::open_existing(f)?.ok_or_else(|| {
            Error::Usage(format!(
                "{} does not exist; pass the files written by `snaprun run --results FILE`",
                f.display()
            ))
        })?;
        let mut batches = results.batches(2)?;
        if batches.len() > 1 {
            return Err(Error::Usage(format!(
                "{} holds several batches; pass the files written by `snaprun run --results \
                 FILE`, one batch each",
                f.display()
            )));
        }
        let batch = batches.pop().ok_or_else(|| {
            Error::Usage(format!(
                "{} holds no batch; was its `snaprun run` interrupted before it started?",
                f.display()
            ))
        })?;
        let its = results.iterations(&batch.id)?;
        parts.push((f.clone(), batch, its));
    }
    let Some((first_file, first, _)) = parts.first() else {
        return Err(Error::Usage("nothing to merge".into()));
    };
    let mut of = None;
    let mut partitions = Vec::new();
    for (f, b, _) in &parts {
        let differ = |what: &str, x: &dyn std::fmt::Display, y: &dyn std::fmt::Display| {
            Error::Usage(format!(
                "{} and {} are not slices of one batch: {what} {x} vs {y} (run every partition \
                 with the same --seed, command, image and code)",
                first_file.display(),
                f.display()
            ))
        };
        if b.seed != first.seed {
            return Err(differ("seed", &b.seed, &first.seed));
        }
        if b.command != first.command {
            return Err(differ("command", &b.command, &first.command));
        }
        if b.image_hash != first.image_hash {
            return Err(differ("image", &b.image_hash, &first.image_hash));
        }
        if b.code_hash != first.code_hash {
            return Err(differ("code snapshot", &b.code_hash, &first.code_hash));
        }
        if b.iterations != first.iterations {
            return Err(differ("iterations", &b.iterations, &first.iterations));
        }
        for p in parse_partitions(b, f)? {
            if *of.get_or_insert(p.count) != p.count {
                return Err(Error::Usage(format!(
                    "{} is partition {p} but another file is a partition of {}; merge slices of \
                     one split",
                    f.display(),
                    of.unwrap_or_default()
                )));
            }
            if partitions.contains(&p) {
                return Err(Error::Usage(format!(
                    "partition {p} is given twice ({}); pass each slice once",
                    f.display()
                )));
            }
            partitions.push(p);
        }
    }
    partitions.sort_by_key(|p| p.index);
    let of = of.unwrap_or(1);
    let mut iterations = Vec::new();
    let mut seen = BTreeSet::new();
    let start_ms = parts.iter().map(|p| p.1.start_ms).min().unwrap_or(0);
    let id = batch_id_at(start_ms, first.seed);
    for (f, _, its) in &parts {
        for it in its {
            if !seen.insert(it.iteration) {
                return Err(Error::Usage(format!(
                    "iteration {} is in more than one file ({} among them); pass each slice once",
                    it.iteration,
                    f.display()
                )));
            }
            let mut it = it.clone();
            it.batch_id = id.clone();
            iterations.push(it);
        }
    }
    iterations.sort_by_key(|i| i.iteration);
    let unique = |f: &dyn Fn(&Batch) -> String| {
        let set: BTreeSet<String> = parts.iter().map(|p| f(&p.1)).collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    };
    // The merge is only as done as its least done slice.
    let status = [
        BatchStatus::Interrupted,
        BatchStatus::Aborted,
        BatchStatus::Running,
    ]
    .into_iter()
    .find(|s| parts.iter().any(|p| p.1.status == *s))
    .unwrap_or(BatchStatus::Finished);
    let warm: BTreeSet<Option<String>> = parts.iter().map(|p| p.1.warm_hash.clone()).collect();
    let complete = partitions.len() as u32 == of;
    let batch = Batch {
        id,
        workspace: first.workspace.clone(),
        image_name: first.image_name.clone(),
        image_hash: first.image_hash.clone(),
        code_hash: first.code_hash.clone(),
        command: first.command.clone(),
        iterations: first.iterations,
        jobs: parts.iter().map(|p| p.1.jobs).sum(),
        timeout_ms: first.timeout_ms,
        seed: first.seed,
        start_ms,
        end_ms: parts.iter().filter_map(|p| p.1.end_ms).max(),
        host: unique(&|b| b.host.clone()),
        pid: 0,
        accel: unique(&|b| b.accel.clone()),
        status,
        partition: (!complete).then(|| {
            partitions
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }),
        warm_hash: if warm.len() == 1 {
            warm.into_iter().next().flatten()
        } else {
            None
        },
    };
    Ok(Merged {
        batch,
        iterations,
        partitions,
        of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_puts_interruptions_and_infrastructure_before_the_rate() {
        use crate::results::{Status, fixtures};
        let report = |statuses: &[Status], status: BatchStatus| {
            let its = statuses
                .iter()
                .enumerate()
                .map(|(i, s)| fixtures::iteration("b", i as u32 + 1, *s))
                .collect();
            BatchReport::new(
                Batch {
                    status,
                    ..fixtures::batch("b")
                },
                its,
            )
        };
        let done = BatchStatus::Finished;
        let passed = report(&[Status::Pass; 3], done);
        assert_eq!(verdict(&passed, None, None), Verdict::Passed);
        let failed = report(&[Status::Pass, Status::Timeout], done);
        assert_eq!(verdict(&failed, None, None), Verdict::Failed);
        let stopped = report(&[Status::Fail], BatchStatus::Interrupted);
        assert_eq!(verdict(&stopped, Some("x"), None), Verdict::Interrupted);
        assert_eq!(
            verdict(&failed, Some("QEMU exited"), None),
            Verdict::Aborted {
                why: "QEMU exited".into()
            }
        );
        let infra = report(&[Status::Fail, Status::InfraError], done);
        assert_eq!(
            verdict(&infra, None, None),
            Verdict::InfraErrors { count: 1 }
        );
        // Three passes cannot show a rate below 5%; with no failures, it says how many could.
        match verdict(&passed, None, Some(0.05)) {
            Verdict::AboveMaxRate { needed, .. } => assert_eq!(needed, Some(73)),
            v => panic!("{v:?}"),
        }
        let one_in_many = report(
            &[[Status::Pass; 199].as_slice(), &[Status::Fail]].concat(),
            done,
        );
        assert!(matches!(
            verdict(&one_in_many, None, Some(0.05)),
            Verdict::WithinMaxRate { .. }
        ));
    }

    #[test]
    fn rates_parse_as_fractions_or_percentages() {
        assert_eq!(parse_rate("0.05"), Ok(0.05));
        assert_eq!(parse_rate("5%"), Ok(0.05));
        assert!(parse_rate("120%").is_err());
        assert!(parse_rate("often").is_err());
    }

    #[test]
    fn the_gate_looks_at_the_upper_bound() {
        // 1 failure in 200: estimate 0.5%, upper bound 2.8%.
        assert!(within_max_failure_rate(&stats::wilson(1, 200), 0.05));
        // 0 failures in 10: upper bound 27.8%, too few runs to say it is below 5%.
        assert!(!within_max_failure_rate(&stats::wilson(0, 10), 0.05));
        // 9 failures in 200: 4.5%, but the upper bound is 8.4%.
        assert!(!within_max_failure_rate(&stats::wilson(9, 200), 0.05));
        assert_eq!(iterations_needed(0.05), Some(73));
        assert!(within_max_failure_rate(&stats::wilson(0, 73), 0.05));
        assert!(!within_max_failure_rate(&stats::wilson(0, 72), 0.05));
        assert_eq!(iterations_needed(0.0), None);
    }
}
