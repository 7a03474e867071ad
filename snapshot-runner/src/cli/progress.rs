//! The terminal's view of a running batch: one consumer of [`BatchEvent`]s (the desktop app
//! is another). A progress bar on a terminal, one plain line per iteration otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use snaprun::ops::BatchEvent;
use snaprun::results::Status;

use super::text::{human_bytes, line, secs, short};

pub struct Reporter {
    bar: Option<ProgressBar>,
    total: usize,
    /// `--json`: only what stdout's JSON does not say.
    quiet: bool,
    passed: u32,
    failed: u32,
    other: u32,
}

impl Reporter {
    pub fn new(quiet: bool) -> Reporter {
        Reporter {
            bar: None,
            total: 0,
            quiet,
            passed: 0,
            failed: 0,
            other: 0,
        }
    }

    pub fn on(&mut self, e: BatchEvent) {
        match e {
            BatchEvent::Building { command } => {
                eprintln!("snaprun: build step: {}", line(&command))
            }
            BatchEvent::Note { message } => eprintln!("snaprun: {}", line(&message)),
            BatchEvent::Snapshotted {
                batch,
                code,
                numbers,
            } => {
                self.total = numbers.len();
                if !self.quiet {
                    eprintln!(
                        "snaprun: batch {} | image {} | code {} ({} files, {}) | {} {} | -j {}{}",
                        line(&batch.id),
                        line(&batch.image_name),
                        short(&code.hash),
                        code.files,
                        human_bytes(code.bytes),
                        line(&batch.accel),
                        if batch.warm_hash.is_some() {
                            "warm restore"
                        } else {
                            "cold boot"
                        },
                        batch.jobs,
                        batch
                            .partition
                            .as_deref()
                            .map(|p| format!(" | partition {p} (seed {})", batch.seed))
                            .unwrap_or_default()
                    );
                    for l in &code.skipped_links {
                        eprintln!(
                            "snaprun: left out symlink {}: it points out of the workspace",
                            line(l)
                        );
                    }
                }
                if std::io::stderr().is_terminal() {
                    let bar = ProgressBar::new(self.total as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (ETA {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bar = Some(bar);
                    self.update();
                }
            }
            BatchEvent::IterationStarted { .. } | BatchEvent::Finished { .. } => {}
            BatchEvent::IterationFinished(it) => {
                match it.status {
                    Status::Pass => self.passed += 1,
                    s if s.is_test_failure() => self.failed += 1,
                    _ => self.other += 1,
                }
                let line = format!(
                    "iteration {}/{}: {}{} in {}",
                    it.iteration,
                    self.total,
                    it.status.as_str(),
                    it.exit_code
                        .filter(|c| *c != 0)
                        .map(|c| format!(" (exit {c})"))
                        .unwrap_or_default(),
                    secs(it.duration_ms)
                );
                match &self.bar {
                    Some(bar) => {
                        if it.status != Status::Pass {
                            bar.println(line);
                        }
                        bar.inc(1);
                        self.update();
                    }
                    None if !self.quiet => eprintln!("{line}"),
                    None => {}
                }
            }
        }
    }

    fn update(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "passed {} failed {} other {}",
                self.passed, self.failed, self.other
            ));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
