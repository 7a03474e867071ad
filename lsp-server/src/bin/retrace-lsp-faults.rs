//! `retrace-lsp` for tests: the LSP server with the fault-injecting commands of the
//! `debug-commands` feature (`retrace.debug.panic`). Serves stdio; `--db PATH` as
//! `retrace-lsp --db`; other arguments (`--stdio`) are ignored. Never shipped.

use std::path::PathBuf;
use std::process::ExitCode;

use retrace_lsp::server::{self, Config};
use retrace_lsp::transport::Ended;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RETRACE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let mut db = None;
    while let Some(arg) = args.next() {
        if arg == "--db" {
            db = args.next().map(PathBuf::from);
        }
    }
    match server::run_stdio(Config { db }) {
        Ok(Ended::Exit | Ended::EndOfInput) => ExitCode::SUCCESS,
        Ok(Ended::ExitWithoutShutdown) => ExitCode::from(1),
        Err(e) => {
            eprintln!("retrace-lsp-faults: error: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}
