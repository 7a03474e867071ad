//! The `snaprun` command: its definition (clap), and for each subcommand a call into
//! [`snaprun::ops`] and the printing of what it returns. Nothing here decides anything the
//! desktop app would need to decide too.

mod bisect;
mod image;
mod progress;
mod report;
mod run;
mod space;
mod terminal;
mod text;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use snaprun::Cancel;
use snaprun::batch;
use snaprun::ci;
use snaprun::debian;
use snaprun::plan::Partition;
use snaprun::qemu::Accel;
use snaprun::store::{AgentKind, DEFAULT_IMAGE, Store};
use snaprun::watch::OnChange;

pub const EXIT_PASSED: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_ERROR: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

const EXIT_CODES: &str = "\
Exit codes:
  0    every iteration passed
  1    some iterations failed (fail, timeout or crashed); with --max-failure-rate R,
       the upper bound of the failure rate's 95% interval is above R
  2    usage or infrastructure error (the message says which), including any
       iteration recorded as infra-error
  130  interrupted (Ctrl-C or SIGTERM); the batch is recorded as interrupted";

const BISECT_HELP: &str = "\
Each probed commit is written out of git (its tree, never the working directory: your checkout,
index and uncommitted work are not touched), built with --build in that copy, snapshotted and
run in VMs like `snaprun run`; every probe is a recorded batch (`snaprun show BATCH`). Commits
are those of BAD's first-parent history after GOOD, as `git bisect --first-parent` sees them: a
merge is probed as one commit, the commits it brought in are not. Submodules are left out.
Interrupted (Ctrl-C), a bisect keeps what it learned: run the same command again to go on.

Exit codes:
  0    a culprit, or no change, found with the wanted confidence
  1    the budget (--max-iterations) ran out first; the posterior is shown
  2    usage or infrastructure error
  130  interrupted; run the same command again to continue";

const GC_HELP: &str = "\
Kept batches (all, or --keep N, or those younger than --older-than AGE, and every running one)
keep their code snapshot, code disk, kept overlays and the image they ran on while they have
kept failures. The others lose those files but keep their results: ls, show, logs and compare
still know them; repro and their overlays are gone. Image files, retired images, code blobs
and disks that nothing kept needs go too, and so do leftovers: the store's scratch space, files
of killed runs, and the socket directories killed snaprun processes left in $TMPDIR.";

/// Re-runs a stress test many times, each iteration in a fresh QEMU VM booted from a frozen
/// image, against a frozen snapshot of your workspace, so you can keep editing meanwhile.
#[derive(Parser, Debug)]
#[command(name = "snaprun", version, after_help = EXIT_CODES)]
struct Cli {
    /// The store of images, code snapshots and results [default: $XDG_DATA_HOME/snaprun]
    #[arg(long, global = true, env = "SNAPRUN_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run CMD N times, each in a fresh VM, against a snapshot of the workspace
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Find the commit that made CMD fail more often (first-parent history from GOOD to BAD)
    #[command(after_help = BISECT_HELP)]
    Bisect(BisectArgs),
    /// List recent batches
    Ls {
        /// How many batches
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show a batch's summary and iterations (BATCH: an id, a unique prefix, or `last`)
    Show {
        batch: String,
        #[arg(long)]
        json: bool,
        /// Also write JUnit XML here
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Print the output an iteration produced (control characters shown as \xNN, colours
    /// dropped; --raw for the bytes as they are)
    Logs {
        batch: String,
        iteration: u32,
        /// Print the output byte for byte, escape sequences and all: only to a terminal you
        /// trust it with, or to a file
        #[arg(long)]
        raw: bool,
    },
    /// Re-run one iteration from the same image, code snapshot and seed (its output is shown
    /// as `logs` shows it; --raw for the bytes as they are)
    #[command(after_help = EXIT_CODES)]
    Repro {
        batch: String,
        iteration: u32,
        /// Boot that state with a shell on this terminal instead of running the command
        #[arg(long, conflicts_with = "raw")]
        shell: bool,
        /// Print the command's output byte for byte, escape sequences and all
        #[arg(long)]
        raw: bool,
    },
    /// Manage frozen images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run a batch now and a new one against a new code snapshot whenever the workspace changes
    #[command(after_help = "Stop with Ctrl-C (exit code 130); every VM is stopped.")]
    Watch(WatchArgs),
    /// Compare two batches: failure rates (Fisher's exact test) and durations (Mann-Whitney)
    Compare {
        /// The earlier batch (an id, a unique prefix, or `last`)
        a: String,
        /// The later batch
        b: String,
        #[arg(long)]
        json: bool,
        /// Read the batches from this results database instead of the store's
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
    /// Remove what no kept batch needs: code snapshots and disks, kept overlays, retired
    /// images, leftovers of killed runs (safe while batches run)
    #[command(after_help = GC_HELP)]
    Gc {
        /// Say what would go, remove nothing
        #[arg(long)]
        dry_run: bool,
        /// Keep the files of the newest N batches only
        #[arg(long, value_name = "N", conflicts_with = "older_than")]
        keep: Option<u32>,
        /// Let go of the files of batches started longer ago than AGE (30d, 12h, ...)
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: Option<Duration>,
        #[arg(long)]
        json: bool,
    },
    /// Where the store's disk space goes, and what `gc` would free
    Store {
        #[arg(long)]
        json: bool,
    },
    /// Join the results files of a partitioned batch (`run --partition K/N --results FILE`)
    #[command(after_help = EXIT_CODES)]
    Merge {
        /// Results files, one per partition
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write the merged batch to this results file [default: into the store]
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
        /// Write JUnit XML of the merged batch here
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Fail (exit 1) only when the failure rate's 95% upper bound is above R (0.05 or 5%)
        #[arg(long, value_name = "R", value_parser = ci::parse_rate)]
        max_failure_rate: Option<f64>,
    },
}

#[derive(Args, Debug)]
struct WatchArgs {
    /// When the code changes during a batch: queue a new batch after it, or restart at once
    #[arg(long, default_value = "queue", value_name = "queue|restart")]
    on_change: OnChange,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum ImageCommand {
    /// Build the built-in image `default` from the host's kernel, busybox and glibc
    BuildDefault {
        /// Rebuild even if an up-to-date `default` exists
        #[arg(long)]
        force: bool,
    },
    /// Copy a qcow2 disk (and optionally a kernel and initrd) into the store as NAME
    Add {
        name: String,
        disk: PathBuf,
        #[arg(long)]
        kernel: Option<PathBuf>,
        #[arg(long)]
        initrd: Option<PathBuf>,
        /// Kernel command line (with --kernel)
        #[arg(long)]
        append: Option<String>,
        /// Guest memory in MiB
        #[arg(long, default_value_t = snaprun::store::DEFAULT_MEMORY_MIB)]
        memory: u32,
        #[arg(long, default_value_t = snaprun::store::DEFAULT_CPUS)]
        cpus: u32,
        /// The guest agent in the image: snaprun (snaprun-agent) or qga (qemu-guest-agent)
        #[arg(long, default_value = "snaprun")]
        agent: AgentKind,
    },
    /// Boot an image once and save the running VM, so iterations restore it instead of booting
    Warm {
        name: String,
        /// Register the warm image under this name (NAME itself stays as it is)
        #[arg(long = "as", value_name = "NAME2")]
        as_name: Option<String>,
        /// kvm or tcg; a warm state restores only under the accelerator that saved it
        #[arg(long)]
        accel: Option<Accel>,
        /// Save a new state even if a valid one exists
        #[arg(long)]
        force: bool,
        #[arg(long, value_parser = humantime::parse_duration, default_value = "180s")]
        boot_timeout: Duration,
    },
    /// Build an image NAME from a real Debian release with debootstrap (needs root and the
    /// Debian archive); commands run through qemu-guest-agent
    Build {
        name: String,
        /// The Debian suite (bookworm, trixie, ...)
        #[arg(long, value_name = "SUITE", required = true)]
        debian: String,
        /// Extra packages, comma-separated (e.g. stress-ng,build-essential)
        #[arg(long, value_delimiter = ',', value_name = "PKG,...")]
        packages: Vec<String>,
        /// The Debian archive to install from
        #[arg(long, default_value = debian::DEFAULT_MIRROR, value_name = "URL")]
        mirror: String,
        /// Size of the root file system
        #[arg(long, default_value = debian::DEFAULT_DEBIAN_SIZE)]
        size: String,
        /// Guest memory in MiB
        #[arg(long, default_value_t = debian::DEFAULT_DEBIAN_MEMORY_MIB)]
        memory: u32,
        #[arg(long, default_value_t = 1)]
        cpus: u32,
        /// Rebuild even if an image built from the same recipe exists
        #[arg(long)]
        force: bool,
    },
    /// List images
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Re-hash an image's files and check its disk
    Verify { name: String },
    /// Remove an image (files still used by another image stay)
    Rm { name: String },
}

/// How each iteration runs, for `run`, `watch` and `bisect`.
#[derive(Args, Debug)]
struct VmArgs {
    /// The frozen image to boot
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// Per-iteration limit on the command (e.g. 90s, 5m); the VM is killed and the iteration
    /// recorded as `timeout` (a failure)
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Limit on booting to the guest agent (an infra-error past it)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "180s")]
    boot_timeout: Duration,
    /// kvm or tcg [default: kvm when a probe VM runs under it, else tcg]
    #[arg(long)]
    accel: Option<Accel>,
    /// Run this shell command in the code before the snapshot (the workspace; with bisect,
    /// each probed commit's copy), e.g. 'cargo build --release'
    #[arg(long, value_name = "CMD")]
    build: Option<String>,
    /// Also snapshot files matching GLOB even if git ignores them (e.g. 'target/release/app')
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave files matching GLOB out of the snapshot
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// The workspace to snapshot (with bisect: any directory in the git repository)
    #[arg(long, short = 'C', default_value = ".", value_name = "DIR")]
    workspace: PathBuf,
    /// Output bytes kept per iteration (the start and the end)
    #[arg(long, default_value_t = batch::DEFAULT_OUTPUT_LIMIT)]
    output_limit: usize,
    /// Extra environment for the command, KEY=VALUE
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
}

impl VmArgs {
    /// Batch options for `command` with these settings (the rest at their defaults).
    fn options(&self, command: &[String]) -> Result<batch::Options> {
        let mut o = batch::Options::new(&self.workspace, &self.image, &shell_command(command));
        o.timeout = self.timeout;
        o.boot_timeout = self.boot_timeout;
        o.accel = self.accel;
        o.build = self.build.clone();
        o.selection = snaprun::codesnap::Selection {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
        };
        o.output_limit = self.output_limit;
        o.env = parse_env(&self.env)?;
        Ok(o)
    }
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    vm: VmArgs,
    /// Iterations
    #[arg(short = 'n', long = "iterations", default_value_t = 10)]
    iterations: u32,
    /// Iterations run in parallel, each in its own VM
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    jobs: u32,
    /// Write JUnit XML here
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    /// Stop at the first failing iteration (running ones are interrupted)
    #[arg(long)]
    fail_fast: bool,
    /// Re-hash the image before the batch (default: size and mtime only)
    #[arg(long)]
    verify: bool,
    /// The batch seed; every iteration's SNAPRUN_SEED derives from it [default: random]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Run only slice K of N of the batch's iterations (needs --seed, so the slices are parts
    /// of one batch); join the slices with `snaprun merge`. `auto`: this pod's slice of a
    /// Kubernetes Indexed Job, from JOB_COMPLETION_INDEX (0-based) and JOB_COMPLETIONS
    #[arg(long, value_name = "K/N|auto", requires = "seed", value_parser = parse_partition)]
    partition: Option<Partition>,
    /// Also write this batch's results to FILE as a results database of its own (a CI artifact)
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Fail (exit 1) only when the upper bound of the failure rate's 95% interval is above R
    /// (0.05 or 5%), not on any failure
    #[arg(long, value_name = "R", value_parser = ci::parse_rate)]
    max_failure_rate: Option<f64>,
    /// Restore every iteration from the image's warm state (the default when it has one)
    #[arg(long, conflicts_with = "cold")]
    warm: bool,
    /// Boot every iteration, even if the image has a warm state
    #[arg(long)]
    cold: bool,
    /// The command, run by /bin/sh in the guest's /work (the snapshot) with SNAPRUN_ITERATION
    /// and SNAPRUN_SEED set
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct BisectArgs {
    #[command(flatten)]
    vm: VmArgs,
    /// A commit where the test fails at its old rate
    #[arg(long, value_name = "REV")]
    good: String,
    /// A later commit where it fails more often (BAD's first-parent history is searched)
    #[arg(long, value_name = "REV")]
    bad: String,
    /// Iterations in all (those of an interrupted earlier session count)
    #[arg(long, default_value_t = snaprun::ops::DEFAULT_MAX_ITERATIONS, value_name = "N")]
    max_iterations: u32,
    /// Stop when one commit (or "no change") holds this posterior probability
    #[arg(long, default_value_t = snaprun::ops::DEFAULT_CONFIDENCE, value_name = "P")]
    confidence: f64,
    /// Iterations run in parallel, each in its own VM
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    jobs: u32,
    /// Iterations per probed commit at a time [default: twice --jobs]
    #[arg(long, value_name = "N")]
    per_probe: Option<u32>,
    /// Forget what an earlier session of the same bisect learned
    #[arg(long)]
    fresh: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Boot every iteration, even if the image has a warm state
    #[arg(long)]
    cold: bool,
    /// The command, run by /bin/sh in the guest's /work (the commit's snapshot)
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `--partition K/N`, or `auto` from the environment of a Kubernetes Indexed Job's pod.
fn parse_partition(s: &str) -> std::result::Result<Partition, String> {
    if s.trim() == "auto" {
        Partition::from_job_env(|var| std::env::var(var).ok()).map_err(|e| e.to_string())
    } else {
        s.parse()
    }
}

pub fn main() -> Result<i32> {
    let cli = Cli::parse();
    let store = || Store::open(cli.store.as_deref()).context("cannot open the snaprun store");
    match cli.command {
        Command::Run(args) => run::run(&store()?, args),
        Command::Bisect(args) => bisect::bisect(&store()?, args),
        Command::Ls { limit, json } => report::ls(&store()?, limit, json),
        Command::Show { batch, json, junit } => {
            report::show(&store()?, &batch, json, junit.as_deref())
        }
        Command::Logs {
            batch,
            iteration,
            raw,
        } => report::logs(&store()?, &batch, iteration, raw),
        Command::Repro {
            batch,
            iteration,
            shell,
            raw,
        } => run::repro(&store()?, &batch, iteration, shell, raw),
        Command::Image(cmd) => image::image(&store()?, cmd),
        Command::Watch(args) => run::watch(&store()?, args),
        Command::Compare { a, b, json, db } => {
            report::compare(&store()?, &a, &b, json, db.as_deref())
        }
        Command::Gc {
            dry_run,
            keep,
            older_than,
            json,
        } => space::gc(&store()?, dry_run, keep, older_than, json),
        Command::Store { json } => space::usage(&store()?, json),
        Command::Merge {
            files,
            into,
            junit,
            json,
            max_failure_rate,
        } => report::merge(
            &store()?,
            &files,
            into.as_deref(),
            junit.as_deref(),
            json,
            max_failure_rate,
        ),
    }
}

/// Prints the error that ended snaprun and returns the exit code for it: 130 when it was
/// interrupted, else 2.
pub fn report(e: &anyhow::Error) -> i32 {
    // The message can quote anything: a batch id as typed, a path, a tool's stderr.
    let message = terminal::text(&format!("{e:#}"));
    if matches!(
        e.downcast_ref::<snaprun::Error>(),
        Some(snaprun::Error::Interrupted(_))
    ) {
        eprintln!("snaprun: {message}");
        EXIT_INTERRUPTED
    } else {
        eprintln!("snaprun: error: {message}");
        EXIT_ERROR
    }
}

/// Ctrl-C and SIGTERM trigger the token (the work stops its VMs, cleans up and records the
/// interruption); a second one exits at once (QEMU children die with snaprun through
/// PR_SET_PDEATHSIG).
fn interrupt_token() -> Result<Cancel> {
    let cancel = Cancel::new();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, cancel.flag())?;
        signal_hook::flag::register(sig, cancel.flag())?;
    }
    Ok(cancel)
}

/// The guest agent that goes into the built-in image: `SNAPRUN_AGENT`, or the one installed
/// beside this binary.
fn agent_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the snaprun binary's own path")?;
    Ok(snaprun::ops::agent_beside(&exe))
}

/// `--env KEY=VALUE` arguments as pairs.
fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--env `{kv}` is not KEY=VALUE"))
        })
        .collect()
}

/// `["cargo", "test", "-p", "a b"]` as one shell command line; a single argument is taken as
/// a shell command line already.
fn shell_command(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        _ => snaprun::tools::shell_line(words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_for_sh() {
        assert_eq!(
            shell_command(&["./stress.sh --x".into()]),
            "./stress.sh --x"
        );
        assert_eq!(
            shell_command(&["cargo".into(), "test".into(), "-p".into(), "foo".into()]),
            "cargo test -p foo"
        );
        assert_eq!(
            shell_command(&["echo".into(), "a b".into(), "it's".into()]),
            r"echo 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
