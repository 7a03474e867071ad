//! `blocks`: the planner's command line. `cli` parses and prints; everything it does is a
//! call into `retrace_planner::ops`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use clap::Parser;
use retrace_planner::error::exit;
use retrace_planner::terminal::sanitize;

mod cli;

fn main() -> ExitCode {
    // `blocks report | head`: end quietly when the reader goes away, as other Unix tools do.
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors name labels and file contents: sanitized like everything else printed.
            let message = format!("{e:#}");
            eprintln!("blocks: error: {}", sanitize(&message));
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
