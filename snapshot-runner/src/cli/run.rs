//! `run`, `watch` and `repro`.

use std::io::Write;

use anyhow::{Context, Result};
use snaprun::batch::Options;
use snaprun::driver::Stream;
use snaprun::ops::{self, BatchEvent, ImageEvent, WatchEvent, WatchedBatch};
use snaprun::results::Status;
use snaprun::store::Store;
use snaprun::warm::Start;

use super::progress::Reporter;
use super::report::{exit_code, print_json, print_summary, write_junit};
use super::terminal::{self, Lines};
use super::text::{
    describe_changes, describe_detail, describe_exit, describe_rate, line, secs, short,
};
use super::{
    EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, RunArgs, WatchArgs, agent_path,
    interrupt_token,
};

fn batch_options(args: &RunArgs) -> Result<Options> {
    Ok(Options {
        iterations: args.iterations,
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        verify: args.verify,
        seed: args.seed,
        partition: args.partition,
        start: if args.warm {
            Start::Warm
        } else if args.cold {
            Start::Cold
        } else {
            Start::Auto
        },
        ..args.vm.options(&args.command)?
    })
}

/// What rebuilding the built-in image before a batch prints.
pub(super) fn on_default_image(e: ImageEvent) {
    match e {
        ImageEvent::Built { image, hash } => {
            eprintln!(
                "snaprun: built the built-in image `{}` ({})",
                line(&image),
                short(&hash)
            )
        }
        ImageEvent::Warming { image } => {
            eprintln!("snaprun: saving a new warm state of `{}`...", line(&image))
        }
        ImageEvent::Step { .. } => {}
    }
}

pub fn run(store: &Store, args: RunArgs) -> Result<i32> {
    let cancel = interrupt_token()?;
    let opts = batch_options(&args)?;
    ops::ensure_default(store, &opts, &agent_path()?, &cancel, &mut on_default_image)?;
    let mut reporter = Reporter::new(args.json);
    let outcome = ops::run_batch(store, &opts, &cancel, &mut |e| reporter.on(e))?;
    reporter.finish();
    let report = &outcome.report;
    if let Some(path) = &args.junit {
        write_junit(path, report)?;
    }
    if let Some(path) = &args.results {
        snaprun::results::export(path, &report.batch, &report.iterations)
            .with_context(|| format!("cannot write the results to {}", path.display()))?;
    }
    if args.json {
        print_json(report)?;
    } else {
        print_summary(report);
    }
    let verdict = ops::verdict(report, outcome.aborted.as_deref(), args.max_failure_rate);
    Ok(exit_code(&verdict, &report.batch.id))
}

pub fn watch(store: &Store, args: WatchArgs) -> Result<i32> {
    let run = &args.run;
    if run.partition.is_some() || run.results.is_some() || run.junit.is_some() {
        anyhow::bail!(
            "watch runs batch after batch; --partition, --results and --junit belong to \
             `snaprun run` (use `snaprun show BATCH --junit FILE` for one of them)"
        );
    }
    let cancel = interrupt_token()?;
    let opts = batch_options(run)?;
    ops::ensure_default(store, &opts, &agent_path()?, &cancel, &mut on_default_image)?;
    let quiet = run.json;
    let mut out = std::io::stdout();
    ops::watch(store, &opts, args.on_change, &cancel, &mut |e| match e {
        WatchEvent::Watching { root } => eprintln!(
            "snaprun: watching {} for changes (Ctrl-C stops)",
            line(&root.to_string_lossy())
        ),
        WatchEvent::Unchanged => {
            eprintln!("snaprun: the change left the code snapshot as it was; still watching")
        }
        WatchEvent::Starting { code, changed } => eprintln!(
            "snaprun: code {} ({}): running {} iteration(s)...",
            short(&code.hash),
            describe_changes(&changed),
            run.iterations
        ),
        WatchEvent::Batch(BatchEvent::IterationFinished(it)) if !quiet => {
            if it.status != Status::Pass {
                eprintln!(
                    "  iteration {}: {}{}",
                    it.iteration,
                    it.status.as_str(),
                    describe_exit(&it)
                );
            }
        }
        WatchEvent::Batch(BatchEvent::Note { message }) => {
            eprintln!("snaprun: {}", line(&message))
        }
        WatchEvent::Batch(BatchEvent::Building { command }) => {
            eprintln!("snaprun: build step: {}", line(&command))
        }
        WatchEvent::Batch(_) => {}
        WatchEvent::Finished(w) => {
            let line = if quiet {
                terminal::json(&serde_json::to_string(&w).unwrap_or_default()).into_owned()
            } else {
                watch_line(&w)
            };
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    })?;
    Ok(EXIT_INTERRUPTED)
}

/// One line per batch in watch mode.
fn watch_line(w: &WatchedBatch) -> String {
    let r = w.summary.failure_rate;
    let rate = if r.trials > 0 {
        describe_rate(&r)
    } else {
        "no iteration finished".into()
    };
    let status = if w.superseded {
        " [restarted: the code changed]".to_string()
    } else if w.batch.status != snaprun::results::BatchStatus::Finished {
        format!(" [{}]", w.batch.status)
    } else if w.summary.infra_error > 0 {
        format!(" [{} infra-error]", w.summary.infra_error)
    } else {
        String::new()
    };
    format!(
        "batch {} code {} ({}) {}{status}",
        line(&w.batch.id),
        short(&w.code),
        describe_changes(&w.changed),
        rate
    )
}

/// Runs iteration `n` of batch `id` again, printing its output as it comes (cleaned for the
/// terminal as `logs` does, or byte for byte with `raw`).
pub fn repro(store: &Store, id: &str, n: u32, shell: bool, raw: bool) -> Result<i32> {
    let cancel = interrupt_token()?;
    let logs = ops::iteration_logs(store, id, n)?;
    let (batch, original) = (&logs.batch, &logs.iteration);
    eprintln!(
        "snaprun: reproducing batch {} iteration {} (was {}), seed {}, image {} {}, code {}",
        line(&batch.id),
        n,
        original.status.as_str(),
        original.seed,
        line(&batch.image_name),
        short(&batch.image_hash),
        short(&batch.code_hash)
    );
    if shell {
        ops::repro_shell(store, &batch.id, n, &cancel)?;
        return Ok(EXIT_PASSED);
    }
    let streams = std::sync::Mutex::new((Lines::default(), Lines::default()));
    let write = |stream: Stream, bytes: &[u8]| {
        let _ = match stream {
            Stream::Stdout => std::io::stdout().write_all(bytes),
            Stream::Stderr => std::io::stderr().write_all(bytes),
        };
    };
    let echo = |stream: Stream, bytes: &[u8]| {
        if raw {
            return write(stream, bytes);
        }
        let mut lines = streams.lock().unwrap_or_else(|p| p.into_inner());
        let shown = match stream {
            Stream::Stdout => lines.0.feed(bytes),
            Stream::Stderr => lines.1.feed(bytes),
        };
        write(stream, shown.as_bytes());
    };
    let ran = ops::repro(store, &batch.id, n, &cancel, Some(&echo), &mut |note| {
        eprintln!("snaprun: {}", line(&note))
    });
    let mut lines = streams.lock().unwrap_or_else(|p| p.into_inner());
    write(Stream::Stdout, lines.0.finish().as_bytes());
    write(Stream::Stderr, lines.1.finish().as_bytes());
    let it = ran?;
    eprintln!(
        "snaprun: reproduced: {}{} in {}{}",
        it.status.as_str(),
        describe_exit(&it),
        secs(it.duration_ms),
        describe_detail(&it)
    );
    if let Some(p) = &it.kept_overlay {
        eprintln!(
            "snaprun: its disk is kept at {}",
            line(&p.to_string_lossy())
        );
    }
    Ok(match it.status {
        Status::Pass => EXIT_PASSED,
        Status::Interrupted => EXIT_INTERRUPTED,
        Status::InfraError => EXIT_ERROR,
        _ => EXIT_FAILED,
    })
}

#[cfg(test)]
mod tests {
    use snaprun::codesnap::Change;
    use snaprun::results::{Summary, fixtures};
    use snaprun::watch::WatchedBatch;

    use super::watch_line;

    /// Issue 15: file names from the workspace reached the terminal raw in watch lines.
    #[test]
    fn a_watch_line_shows_control_characters_in_file_names() {
        let w = WatchedBatch {
            batch: fixtures::batch("20260101-000000-00000a"),
            changed: vec![
                Change::Modified("src/\x1b[2Jlib.rs".into()),
                Change::Added("new\n\u{202e}.txt".into()),
            ],
            code: "3fa2c1d4e5f6a7b8".into(),
            summary: Summary::of(&[]),
            superseded: false,
        };
        let line = watch_line(&w);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.contains(r"src/\x1b[2Jlib.rs, +new\n\u{202e}.txt"),
            "{line}"
        );
    }
}
