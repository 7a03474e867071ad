//! `retrace-lsp`: the LSP server (default), and a small CLI over the same history.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};

use retrace_lsp::catalog;
use retrace_lsp::render::{tree_text, tree_view};
use retrace_lsp::safe_text::{is_unprintable, printable, sanitize};
use retrace_lsp::server::{self, Config};
use retrace_lsp::store::{self, Store};
use retrace_lsp::transport::Ended;
use retrace_lsp::workspace::Workspace;

/// Keeps your file-navigation history as a tree, per workspace, and serves it over LSP.
///
/// With no command (or with --stdio), speaks LSP on stdin/stdout; logs go to stderr.
/// History lives in $XDG_DATA_HOME/retrace/history (by default ~/.local/share/...).
///
/// Exit codes: 0 success; 1 the command failed (the message says why), or the LSP client
/// sent `exit` without `shutdown`; 2 usage error.
#[derive(Parser, Debug)]
#[command(name = "retrace-lsp", version, about, long_about)]
struct Cli {
    /// Serve LSP on stdin/stdout (the default; accepted because LSP clients pass it).
    #[arg(long, global = false)]
    stdio: bool,

    /// Use this database file instead of the one derived from the workspace root.
    #[arg(long, value_name = "PATH", global = true)]
    db: Option<PathBuf>,

    /// Log level for stderr: error, warn, info, debug, trace (or RETRACE_LOG).
    #[arg(
        long,
        value_name = "LEVEL",
        env = "RETRACE_LOG",
        default_value = "warn"
    )]
    log: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a workspace's navigation tree from its database.
    Tree {
        /// The workspace root (default: the current directory).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        /// Print the JSON form (as the `retrace.tree` command returns it).
        #[arg(long)]
        json: bool,
    },
    /// Print where a workspace's history database is.
    DbPath {
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
    /// List the workspaces that have a history, most recently used first, with their open
    /// editor sessions.
    Workspaces {
        /// Print the JSON form (what the desktop app reads).
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_some() {
        // `retrace-lsp tree | head`: end quietly when the reader goes away. The server keeps
        // Rust's default (a failed write is an error it handles), so it can end its session.
        // SAFETY: before any other thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        None => return serve(cli.db).unwrap_or_else(fail),
        Some(Command::Tree { workspace, json }) => print_tree(cli.db, workspace, json),
        Some(Command::DbPath { workspace }) => database(cli.db, workspace)
            .map(|(db, _)| println!("{}", terminal(&db.display().to_string()))),
        Some(Command::Workspaces { json }) => print_workspaces(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("retrace-lsp: error: {}", terminal(&format!("{e:#}")));
    ExitCode::from(1)
}

/// Text for a terminal: each line [`printable`] (the paths and names in it come from the
/// user's files and clients).
fn terminal(text: &str) -> String {
    text.split('\n')
        .map(|line| printable(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// JSON for a terminal: serde_json escapes the C0 controls in strings (those outside are
/// its own white space); this escapes the rest of what [`printable`] would (DEL, C1,
/// bidirectional overrides), which can only be inside strings.
fn terminal_json(json: String) -> String {
    let escape = |c: char| c >= '\u{7f}' && is_unprintable(c);
    if !json.chars().any(escape) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escape(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Serves LSP; `exit` without `shutdown` is exit code 1, as LSP says.
fn serve(db: Option<PathBuf>) -> Result<ExitCode> {
    let ended = server::run_stdio(Config { db }).context("starting the async runtime")?;
    Ok(match ended {
        Ended::ExitWithoutShutdown => ExitCode::from(1),
        Ended::Exit | Ended::EndOfInput => ExitCode::SUCCESS,
    })
}

fn database(db: Option<PathBuf>, workspace: Option<PathBuf>) -> Result<(PathBuf, Workspace)> {
    let root = match workspace {
        Some(dir) => dir,
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let root = root
        .canonicalize()
        .with_context(|| format!("workspace {} does not exist", root.display()))?;
    let ws = Workspace::new(root);
    let db = match db {
        Some(db) => db,
        None => {
            let dir = store::data_dir().ok_or_else(|| {
                anyhow!("cannot find a data directory: set XDG_DATA_HOME or HOME, or pass --db")
            })?;
            store::database_path(&dir, ws.root())
        }
    };
    Ok((db, ws))
}

fn print_tree(db: Option<PathBuf>, workspace: Option<PathBuf>, json: bool) -> Result<()> {
    let (db, ws) = database(db, workspace)?;
    if !db.exists() {
        return Err(anyhow!(
            "no history for {} yet (looked for {}); open the workspace in an editor with the retrace plugin",
            ws.root().display(),
            db.display()
        ));
    }
    let mut store = Store::open_read_only(&db)?;
    let tree = store.load(usize::MAX)?;
    // The CLI has no cursor of its own: mark where the history was last.
    let current = tree.most_recent();
    if json {
        let json = serde_json::to_string_pretty(&tree_view(&tree, current, &ws))?;
        println!("{}", terminal_json(json));
    } else {
        print!("{}", tree_text(&tree, current, &ws));
    }
    Ok(())
}

fn print_workspaces(json: bool) -> Result<()> {
    let dir = store::data_dir()
        .ok_or_else(|| anyhow!("cannot find a data directory: set XDG_DATA_HOME or HOME"))?;
    let list = catalog::workspaces(&dir)?;
    if json {
        println!("{}", terminal_json(serde_json::to_string_pretty(&list)?));
        return Ok(());
    }
    if list.is_empty() {
        println!(
            "no history yet in {}: open a workspace in an editor with the retrace plugin",
            terminal(&dir.display().to_string())
        );
    }
    let clean = |s: &str| sanitize(s, 200);
    for w in &list {
        let root = w.root.as_ref().map_or_else(
            || w.database.display().to_string(),
            |r| r.display().to_string(),
        );
        match &w.problem {
            Some(p) => println!("{}  ({})", clean(&root), clean(&p.message)),
            None => {
                let editors: Vec<String> = w
                    .sessions
                    .iter()
                    .map(|s| format!("{} (pid {})", clean(&s.editor), s.pid))
                    .collect();
                let editors = if editors.is_empty() {
                    "no editor open".to_owned()
                } else {
                    editors.join(", ")
                };
                println!("{}  {} nodes  {editors}", clean(&root), w.nodes);
            }
        }
    }
    Ok(())
}
