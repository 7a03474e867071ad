//! `ls`, `show`, `logs`, `compare`, `merge`, and how a batch's result reads (the summary, the
//! verdict and its exit code).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use snaprun::ops::{self, Verdict};
use snaprun::results::{BatchReport, Iteration, Status};
use snaprun::store::Store;

use super::terminal;
use super::text::{describe_detail, describe_exit, describe_rate, line, pct, secs, short};
use super::{EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED};

pub fn write_junit(path: &Path, report: &BatchReport) -> Result<()> {
    std::fs::write(
        path,
        snaprun::junit::report(&report.batch, &report.iterations),
    )
    .with_context(|| format!("cannot write the JUnit report to {}", path.display()))
}

pub fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", terminal::json(&serde_json::to_string_pretty(value)?));
    Ok(())
}

/// The exit code for `verdict` on batch `batch_id`, with the message that goes with it.
pub fn exit_code(verdict: &Verdict, batch_id: &str) -> i32 {
    match verdict {
        Verdict::Passed => EXIT_PASSED,
        Verdict::Failed => EXIT_FAILED,
        Verdict::Interrupted => EXIT_INTERRUPTED,
        Verdict::Aborted { why } => {
            eprintln!(
                "snaprun: error: the batch was stopped by infrastructure errors: {}",
                line(why)
            );
            EXIT_ERROR
        }
        Verdict::InfraErrors { count } => {
            eprintln!(
                "snaprun: error: {count} iteration(s) hit infrastructure errors (see `snaprun \
                 show {}`)",
                line(batch_id)
            );
            EXIT_ERROR
        }
        Verdict::WithinMaxRate { rate, max } => {
            eprintln!(
                "snaprun: {} of {} iterations failed, but the failure rate is at most {} (95% \
                 upper bound) <= {} allowed",
                rate.failures,
                rate.trials,
                pct(rate.high),
                pct(*max)
            );
            EXIT_PASSED
        }
        Verdict::AboveMaxRate { rate, max, needed } => {
            let more = needed
                .map(|n| {
                    format!(
                        "; with no failures it takes {n} iterations to show a rate below {}",
                        pct(*max)
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "snaprun: the failure rate may be as high as {} (95% upper bound, {}/{}), above \
                 the {} allowed by --max-failure-rate{more}",
                pct(rate.high),
                rate.failures,
                rate.trials,
                pct(*max)
            );
            EXIT_FAILED
        }
    }
}

pub fn print_summary(report: &BatchReport) {
    let (batch, s) = (&report.batch, &report.summary);
    let id = line(&batch.id);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "batch {id} ({}): `{}`",
        batch.status,
        line(&batch.command)
    );
    let _ = writeln!(
        out,
        "  image {} {} | code {} | accel {} {} | seed {}{} | workspace {}",
        line(&batch.image_name),
        short(&batch.image_hash),
        short(&batch.code_hash),
        line(&batch.accel),
        if batch.warm_hash.is_some() {
            "(warm restore)"
        } else {
            "(cold boot)"
        },
        batch.seed,
        batch
            .partition
            .as_deref()
            .map(|p| format!(" | partition {}", line(p)))
            .unwrap_or_default(),
        line(&batch.workspace.to_string_lossy())
    );
    let _ = writeln!(
        out,
        "  {} iterations: passed {}, failed {}, timeout {}, crashed {}, infra-error {}, interrupted {}",
        s.total, s.passed, s.failed, s.timeout, s.crashed, s.infra_error, s.interrupted
    );
    let r = s.failure_rate;
    if r.trials > 0 {
        let _ = writeln!(out, "  {} (Wilson)", describe_rate(&r));
    }
    if let Some(d) = s.duration_ms {
        let _ = writeln!(
            out,
            "  duration p50 {} p90 {} p99 {} max {}",
            secs(d.p50),
            secs(d.p90),
            secs(d.p99),
            secs(d.max)
        );
    }
    let bad: Vec<&Iteration> = report
        .iterations
        .iter()
        .filter(|i| i.status != Status::Pass && i.status != Status::Interrupted)
        .collect();
    for it in bad.iter().take(10) {
        let _ = writeln!(
            out,
            "  iteration {}: {}{} seed {}{}",
            it.iteration,
            it.status.as_str(),
            describe_exit(it),
            it.seed,
            describe_detail(it)
        );
    }
    if bad.len() > 10 {
        let _ = writeln!(out, "  ... and {} more (snaprun show {id})", bad.len() - 10);
    }
    if let Some(first) = bad.first() {
        let n = first.iteration;
        let _ = writeln!(
            out,
            "  output: snaprun logs {id} {n}   reproduce: snaprun repro {id} {n}"
        );
    }
}

pub fn ls(store: &Store, limit: u32, json: bool) -> Result<i32> {
    let listing = ops::ls(store, limit)?;
    for id in &listing.reaped {
        eprintln!(
            "snaprun: batch {} was abandoned (its snaprun was killed); cleaned up its overlays",
            line(id)
        );
    }
    if json {
        print_json(&listing.batches)?;
        return Ok(EXIT_PASSED);
    }
    if listing.batches.is_empty() {
        println!("no batches yet; start one with `snaprun run -- CMD`");
        return Ok(EXIT_PASSED);
    }
    println!(
        "{:<23} {:<11} {:<20} {:>5} {:>5} {:>5}  {:<8} COMMAND",
        "BATCH", "STATUS", "STARTED", "RUN", "PASS", "FAIL", "IMAGE"
    );
    for row in &listing.batches {
        let (b, s) = (&row.batch, &row.summary);
        let status = if row.abandoned {
            "abandoned"
        } else {
            b.status.as_str()
        };
        let started = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_millis(b.start_ms.max(0) as u64),
        );
        println!(
            "{:<23} {:<11} {:<20} {:>5} {:>5} {:>5}  {:<8} {}",
            line(&b.id),
            status,
            started.to_string(),
            s.total,
            s.passed,
            s.test_failures(),
            line(&b.image_name),
            line(&b.command)
        );
    }
    Ok(EXIT_PASSED)
}

pub fn show(store: &Store, id: &str, json: bool, junit: Option<&Path>) -> Result<i32> {
    let report = ops::show(store, id)?;
    if let Some(path) = junit {
        write_junit(path, &report)?;
    }
    if json {
        print_json(&report)?;
        return Ok(EXIT_PASSED);
    }
    print_summary(&report);
    println!(
        "\n  {:>5}  {:<12} {:>6} {:>9} {:>8}  {:<20}  KEPT OVERLAY",
        "ITER", "STATUS", "EXIT", "DURATION", "BOOT", "SEED"
    );
    for it in &report.iterations {
        println!(
            "  {:>5}  {:<12} {:>6} {:>9} {:>8}  {:<20}  {}",
            it.iteration,
            it.status.as_str(),
            it.exit_code
                .map(|c| c.to_string())
                .or(it.signal.map(|s| format!("sig{s}")))
                .unwrap_or_else(|| "-".into()),
            secs(it.duration_ms),
            it.boot_ms.map(secs).unwrap_or_else(|| "-".into()),
            it.seed,
            it.kept_overlay
                .as_ref()
                .map(|p| line(&p.to_string_lossy()).into_owned())
                .unwrap_or_default()
        );
    }
    Ok(EXIT_PASSED)
}

/// The output iteration `n` produced: cleaned for the terminal (see [`terminal::text`]), or
/// byte for byte with `raw`.
pub fn logs(store: &Store, id: &str, n: u32, raw: bool) -> Result<i32> {
    let logs = ops::iteration_logs(store, id, n)?;
    let it = &logs.iteration;
    eprintln!(
        "snaprun: batch {} iteration {}: {}{} seed {} in {}{}",
        line(&logs.batch.id),
        n,
        it.status.as_str(),
        describe_exit(it),
        it.seed,
        secs(it.duration_ms),
        describe_detail(it)
    );
    if raw {
        std::io::stdout().write_all(&it.output)?;
    } else {
        std::io::stdout().write_all(terminal::text_bytes(&it.output).as_bytes())?;
    }
    Ok(EXIT_PASSED)
}

pub fn compare(store: &Store, a: &str, b: &str, json: bool, db: Option<&Path>) -> Result<i32> {
    let c = ops::compare(store, a, b, db)?;
    if json {
        print_json(&c)?;
        return Ok(EXIT_PASSED);
    }
    for (label, s) in [("A", &c.a), ("B", &c.b)] {
        println!(
            "{label} {} code {}: {}; duration median {} p90 {} ({} runs)",
            line(&s.batch_id),
            short(&s.code_hash),
            describe_rate(&s.failure_rate),
            s.median_ms.map(secs).unwrap_or_else(|| "-".into()),
            s.p90_ms.map(secs).unwrap_or_else(|| "-".into()),
            s.durations
        );
    }
    for v in &c.verdict {
        println!("{}", line(v));
    }
    Ok(EXIT_PASSED)
}

pub fn merge(
    store: &Store,
    files: &[PathBuf],
    into: Option<&Path>,
    junit: Option<&Path>,
    json: bool,
    max_failure_rate: Option<f64>,
) -> Result<i32> {
    let merged = ops::merge(store, files, into)?;
    if !merged.complete {
        eprintln!(
            "snaprun: warning: only partitions {} of {} are here; the merged batch is incomplete",
            line(&merged.partitions.join(", ")),
            merged.of
        );
    }
    let report = &merged.report;
    if let Some(path) = junit {
        write_junit(path, report)?;
    }
    if json {
        print_json(report)?;
    } else {
        print_summary(report);
    }
    let verdict = ops::verdict(report, None, max_failure_rate);
    Ok(exit_code(&verdict, &report.batch.id))
}
