//! Command-line definition and output. Everything else is in the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use snaprun::batch::{self, Outcome, Partition, Progress, Start};
use snaprun::codesnap::Selection;
use snaprun::image_build::{self, Built, DEFAULT_IMAGE};
use snaprun::qemu::Accel;
use snaprun::results::{Batch, BatchStatus, Iteration, Results, Status, Summary};
use snaprun::stats::Rate;
use snaprun::store::{AgentKind, ImageSpec, Manifest, Store};
use snaprun::watch::OnChange;
use snaprun::{ci, compare, debian, junit, watch};

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
    /// Print the output an iteration produced
    Logs { batch: String, iteration: u32 },
    /// Re-run one iteration from the same image, code snapshot and seed
    #[command(after_help = EXIT_CODES)]
    Repro {
        batch: String,
        iteration: u32,
        /// Boot that state with a shell on this terminal instead of running the command
        #[arg(long)]
        shell: bool,
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

#[derive(Args, Debug)]
struct RunArgs {
    /// Iterations
    #[arg(short = 'n', long = "iterations", default_value_t = 10)]
    iterations: u32,
    /// Iterations run in parallel, each in its own VM
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    jobs: u32,
    /// The frozen image to boot
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// Per-iteration limit on the command (e.g. 90s, 5m); the VM is killed and the iteration
    /// recorded as `timeout`
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Limit on booting to the guest agent (an infra-error past it)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "180s")]
    boot_timeout: Duration,
    /// Write JUnit XML here
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    /// Stop at the first failing iteration (running ones are interrupted)
    #[arg(long)]
    fail_fast: bool,
    /// kvm or tcg [default: kvm when a probe VM runs under it, else tcg]
    #[arg(long)]
    accel: Option<Accel>,
    /// Run this shell command in the workspace before the snapshot (e.g. 'cargo build --release')
    #[arg(long, value_name = "CMD")]
    build: Option<String>,
    /// Also snapshot files matching GLOB even if git ignores them (e.g. 'target/release/app')
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave files matching GLOB out of the snapshot
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Re-hash the image before the batch (default: size and mtime only)
    #[arg(long)]
    verify: bool,
    /// The workspace to snapshot
    #[arg(long, short = 'C', default_value = ".", value_name = "DIR")]
    workspace: PathBuf,
    /// Output bytes kept per iteration (the start and the end)
    #[arg(long, default_value_t = batch::DEFAULT_OUTPUT_LIMIT)]
    output_limit: usize,
    /// Extra environment for the command, KEY=VALUE
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The batch seed; every iteration's SNAPRUN_SEED derives from it [default: random]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Run only slice K of N of the batch's iterations (needs --seed, so the slices are parts
    /// of one batch); join the slices with `snaprun merge`
    #[arg(long, value_name = "K/N", requires = "seed")]
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

pub fn main() -> Result<i32> {
    let cli = Cli::parse();
    let store = || Store::open(cli.store.as_deref()).context("cannot open the snaprun store");
    match cli.command {
        Command::Run(args) => run(&store()?, args),
        Command::Ls { limit, json } => ls(&store()?, limit, json),
        Command::Show { batch, json, junit } => show(&store()?, &batch, json, junit.as_deref()),
        Command::Logs { batch, iteration } => logs(&store()?, &batch, iteration),
        Command::Repro {
            batch,
            iteration,
            shell,
        } => repro(&store()?, &batch, iteration, shell),
        Command::Image(cmd) => image(&store()?, cmd),
        Command::Watch(args) => watch_cmd(&store()?, args),
        Command::Compare { a, b, json, db } => compare_cmd(&store()?, &a, &b, json, db.as_deref()),
        Command::Merge {
            files,
            into,
            junit,
            json,
            max_failure_rate,
        } => merge_cmd(
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
    if matches!(
        e.downcast_ref::<snaprun::Error>(),
        Some(snaprun::Error::Interrupted(_))
    ) {
        eprintln!("snaprun: {e:#}");
        EXIT_INTERRUPTED
    } else {
        eprintln!("snaprun: error: {e:#}");
        EXIT_ERROR
    }
}

/// The guest agent binary that goes into the built-in image: `SNAPRUN_AGENT`, or the one
/// installed beside this binary.
fn agent_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SNAPRUN_AGENT") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot find the snaprun binary's own path")?;
    Ok(exe.with_file_name("snaprun-agent"))
}

fn build_default(store: &Store, force: bool) -> Result<Manifest> {
    eprintln!(
        "snaprun: building the built-in image `default` (host kernel, busybox, glibc, agent)..."
    );
    let retain = snaprun::results::images_to_retain(&store.results_db());
    let built = image_build::build_default(store, &agent_path()?, force, &retain)?;
    Ok(match built {
        Built::Cached(m) => {
            eprintln!(
                "snaprun: image `default` is up to date ({})",
                short(&m.hash)
            );
            m
        }
        Built::Fresh(m) => {
            eprintln!("snaprun: image `default` built ({})", short(&m.hash));
            m
        }
    })
}

/// Ctrl-C and SIGTERM set the flag (the batch stops its VMs and records the interruption); a
/// second one exits at once (QEMU children die with snaprun through PR_SET_PDEATHSIG).
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, Arc::clone(&flag))?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// `["cargo", "test", "-p", "a b"]` as one shell command line; a single argument is taken as
/// a shell command line already.
fn shell_command(words: &[String]) -> String {
    if words.len() == 1 {
        return words[0].clone();
    }
    words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The built-in image carries the agent: keep it in step with this snaprun's agent (a cheap
/// check when nothing changed), and build it on first use.
fn ensure_default(store: &Store, args: &RunArgs, interrupt: &AtomicBool) -> Result<()> {
    if args.image == DEFAULT_IMAGE {
        let before = store.manifest(DEFAULT_IMAGE).ok();
        let have = before.is_some();
        let agent = agent_path()?;
        if (!have || agent.is_file())
            && let Built::Fresh(m) = image_build::build_default(
                store,
                &agent,
                false,
                &snaprun::results::images_to_retain(&store.results_db()),
            )?
        {
            eprintln!(
                "snaprun: built the built-in image `default` ({})",
                short(&m.hash)
            );
            // The old image had a warm state: the new one gets one too, or every batch would
            // quietly fall back to booting.
            if let Some(w) = before.and_then(|b| b.warm)
                && !args.cold
            {
                eprintln!("snaprun: saving a new warm state of `default`...");
                let accel = w.accel.parse::<Accel>().ok();
                snaprun::warm::warm(
                    store,
                    DEFAULT_IMAGE,
                    DEFAULT_IMAGE,
                    accel,
                    args.boot_timeout,
                    false,
                    &|| interrupt.load(Ordering::SeqCst),
                )?;
            }
        }
    }
    Ok(())
}

fn batch_options(args: &RunArgs) -> Result<batch::Options> {
    let env = args
        .env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--env `{kv}` is not KEY=VALUE"))
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = batch::Options {
        workspace: args.workspace.clone(),
        image: args.image.clone(),
        command: shell_command(&args.command),
        iterations: args.iterations,
        jobs: args.jobs,
        timeout: args.timeout,
        boot_timeout: args.boot_timeout,
        fail_fast: args.fail_fast,
        accel: args.accel,
        build: args.build.clone(),
        selection: Selection {
            include: args.include.clone(),
            exclude: args.exclude.clone(),
        },
        verify: args.verify,
        output_limit: args.output_limit,
        env,
        seed: args.seed,
        partition: args.partition,
        start: if args.warm {
            Start::Warm
        } else if args.cold {
            Start::Cold
        } else {
            Start::Auto
        },
        snapshot: None,
    };
    Ok(opts)
}

fn run(store: &Store, args: RunArgs) -> Result<i32> {
    let interrupt = interrupt_flag()?;
    ensure_default(store, &args, &interrupt)?;
    let opts = batch_options(&args)?;
    let total = batch::iteration_numbers(args.iterations, args.partition).len() as u32;
    let mut reporter = Reporter::new(total, args.json);
    let outcome = batch::run(store, &opts, &interrupt, &mut |p| reporter.on(p))?;
    reporter.finish();
    if let Some(path) = &args.junit {
        write_junit(path, &outcome.batch, &outcome.iterations)?;
    }
    if let Some(path) = &args.results {
        snaprun::results::export(path, &outcome.batch, &outcome.iterations)
            .with_context(|| format!("cannot write the results to {}", path.display()))?;
    }
    if args.json {
        print_json(&outcome.batch, &outcome.summary, &outcome.iterations)?;
    } else {
        print_summary(&outcome.batch, &outcome.summary, &outcome.iterations);
    }
    Ok(exit_code(&outcome, args.max_failure_rate))
}

fn exit_code(o: &Outcome, max_failure_rate: Option<f64>) -> i32 {
    if o.batch.status == BatchStatus::Interrupted {
        EXIT_INTERRUPTED
    } else if let Some(why) = &o.aborted {
        eprintln!("snaprun: error: the batch was stopped by infrastructure errors: {why}");
        EXIT_ERROR
    } else if o.summary.infra_error > 0 {
        eprintln!(
            "snaprun: error: {} iteration(s) hit infrastructure errors (see `snaprun show {}`)",
            o.summary.infra_error, o.batch.id
        );
        EXIT_ERROR
    } else {
        failure_exit_code(&o.summary, max_failure_rate)
    }
}

/// 1 on any test failure; with `--max-failure-rate R`, only when the failure rate's upper bound
/// is above R (and then the message says how many runs would be needed).
fn failure_exit_code(s: &Summary, max_failure_rate: Option<f64>) -> i32 {
    let r = s.failure_rate;
    match max_failure_rate {
        None if s.test_failures() > 0 => EXIT_FAILED,
        None => EXIT_PASSED,
        Some(max) if ci::within_max_failure_rate(&r, max) => {
            if s.test_failures() > 0 {
                eprintln!(
                    "snaprun: {} of {} iterations failed, but the failure rate is at most {} \
                     (95% upper bound) <= {} allowed",
                    r.failures,
                    r.trials,
                    pct(r.high),
                    pct(max)
                );
            }
            EXIT_PASSED
        }
        Some(max) => {
            let more = if r.failures == 0 {
                ci::iterations_needed(max)
                    .map(|n| {
                        format!(
                            "; with no failures it takes {n} iterations to show a rate below {}",
                            pct(max)
                        )
                    })
                    .unwrap_or_default()
            } else {
                String::new()
            };
            eprintln!(
                "snaprun: the failure rate may be as high as {} (95% upper bound, {}/{}), above \
                 the {} allowed by --max-failure-rate{more}",
                pct(r.high),
                r.failures,
                r.trials,
                pct(max)
            );
            EXIT_FAILED
        }
    }
}

/// Progress on stderr: a bar on a terminal, one plain line per iteration otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    total: u32,
    quiet: bool,
    passed: u32,
    failed: u32,
    other: u32,
}

impl Reporter {
    fn new(total: u32, quiet: bool) -> Reporter {
        Reporter {
            bar: None,
            total,
            quiet,
            passed: 0,
            failed: 0,
            other: 0,
        }
    }

    fn on(&mut self, p: Progress) {
        match p {
            Progress::Building(cmd) => eprintln!("snaprun: build step: {cmd}"),
            Progress::Note(note) => eprintln!("snaprun: {note}"),
            Progress::Started { batch, tree } => {
                if !self.quiet {
                    eprintln!(
                        "snaprun: batch {} | image {} | code {} ({} files, {}) | {} {} | -j {}{}",
                        batch.id,
                        batch.image_name,
                        short(&tree.hash),
                        tree.entries.len(),
                        human_bytes(tree.bytes()),
                        batch.accel,
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
                    for l in &tree.skipped_links {
                        eprintln!("snaprun: left out symlink {l}: it points out of the workspace");
                    }
                }
                if std::io::stderr().is_terminal() {
                    let bar = ProgressBar::new(u64::from(self.total));
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
            Progress::IterationStarted(_) => {}
            Progress::IterationDone(it) => {
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

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `failure rate 4.5% (9/200), 95% CI 2.4% to 8.4%`
fn describe_rate(r: &Rate) -> String {
    format!(
        "failure rate {} ({}/{}), 95% CI {} to {}",
        pct(r.estimate),
        r.failures,
        r.trials,
        pct(r.low),
        pct(r.high)
    )
}

fn write_junit(path: &Path, batch: &Batch, iterations: &[Iteration]) -> Result<()> {
    std::fs::write(path, junit::report(batch, iterations))
        .with_context(|| format!("cannot write the JUnit report to {}", path.display()))
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn print_summary(batch: &Batch, s: &Summary, iterations: &[Iteration]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "batch {} ({}): `{}`",
        batch.id, batch.status, batch.command
    );
    let _ = writeln!(
        out,
        "  image {} {} | code {} | accel {} {} | seed {}{} | workspace {}",
        batch.image_name,
        short(&batch.image_hash),
        short(&batch.code_hash),
        batch.accel,
        if batch.warm_hash.is_some() {
            "(warm restore)"
        } else {
            "(cold boot)"
        },
        batch.seed,
        batch
            .partition
            .as_deref()
            .map(|p| format!(" | partition {p}"))
            .unwrap_or_default(),
        batch.workspace.display()
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
    let bad: Vec<&Iteration> = iterations
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
            it.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    if bad.len() > 10 {
        let _ = writeln!(
            out,
            "  ... and {} more (snaprun show {})",
            bad.len() - 10,
            batch.id
        );
    }
    if let Some(first) = bad.first() {
        let _ = writeln!(
            out,
            "  output: snaprun logs {} {}   reproduce: snaprun repro {} {}",
            batch.id, first.iteration, batch.id, first.iteration
        );
    }
}

fn describe_exit(it: &Iteration) -> String {
    match (it.exit_code, it.signal) {
        (Some(c), _) if it.status == Status::Fail => format!(" exit {c}"),
        (None, Some(s)) => format!(" signal {s}"),
        _ => String::new(),
    }
}

fn print_json(batch: &Batch, s: &Summary, iterations: &[Iteration]) -> Result<()> {
    let v = serde_json::json!({ "batch": batch, "summary": s, "iterations": iterations });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn open_results(store: &Store) -> Result<Results> {
    Ok(Results::open(&store.results_db())?)
}

fn ls(store: &Store, limit: u32, json: bool) -> Result<i32> {
    let results = open_results(store)?;
    for id in batch::reap_abandoned(store, &results)? {
        eprintln!(
            "snaprun: batch {id} was abandoned (its snaprun was killed); cleaned up its overlays"
        );
    }
    let batches = results.batches(limit)?;
    let host = batch::host_name();
    if json {
        let rows: Vec<_> = batches
            .iter()
            .map(|b| {
                let s = Summary::of(&results.iterations(&b.id).unwrap_or_default());
                serde_json::json!({ "batch": b, "summary": s, "abandoned": snaprun::results::is_abandoned(b, &host) })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(EXIT_PASSED);
    }
    if batches.is_empty() {
        println!("no batches yet; start one with `snaprun run -- CMD`");
        return Ok(EXIT_PASSED);
    }
    println!(
        "{:<23} {:<11} {:<20} {:>5} {:>5} {:>5}  {:<8} COMMAND",
        "BATCH", "STATUS", "STARTED", "RUN", "PASS", "FAIL", "IMAGE"
    );
    for b in &batches {
        let s = Summary::of(&results.iterations(&b.id)?);
        let status = if snaprun::results::is_abandoned(b, &host) {
            "abandoned"
        } else {
            b.status.as_str()
        };
        let started = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_millis(b.start_ms.max(0) as u64),
        );
        println!(
            "{:<23} {:<11} {:<20} {:>5} {:>5} {:>5}  {:<8} {}",
            b.id,
            status,
            started.to_string(),
            s.total,
            s.passed,
            s.test_failures(),
            b.image_name,
            b.command
        );
    }
    Ok(EXIT_PASSED)
}

fn show(store: &Store, id: &str, json: bool, junit_path: Option<&Path>) -> Result<i32> {
    let results = open_results(store)?;
    let batch = results.batch(id)?;
    let iterations = results.iterations(&batch.id)?;
    let summary = Summary::of(&iterations);
    if let Some(path) = junit_path {
        write_junit(path, &batch, &iterations)?;
    }
    if json {
        print_json(&batch, &summary, &iterations)?;
        return Ok(EXIT_PASSED);
    }
    print_summary(&batch, &summary, &iterations);
    println!(
        "\n  {:>5}  {:<12} {:>6} {:>9} {:>8}  {:<20}  KEPT OVERLAY",
        "ITER", "STATUS", "EXIT", "DURATION", "BOOT", "SEED"
    );
    for it in &iterations {
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
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    Ok(EXIT_PASSED)
}

fn logs(store: &Store, id: &str, n: u32) -> Result<i32> {
    let results = open_results(store)?;
    let batch = results.batch(id)?;
    let it = results.iteration(&batch.id, n)?;
    eprintln!(
        "snaprun: batch {} iteration {}: {}{} seed {} in {}{}",
        batch.id,
        n,
        it.status.as_str(),
        describe_exit(&it),
        it.seed,
        secs(it.duration_ms),
        it.detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    std::io::stdout().write_all(&it.output)?;
    Ok(EXIT_PASSED)
}

fn repro(store: &Store, id: &str, n: u32, shell: bool) -> Result<i32> {
    let interrupt = interrupt_flag()?;
    let results = open_results(store)?;
    let batch = results.batch(id)?;
    let original = results.iteration(&batch.id, n)?;
    eprintln!(
        "snaprun: reproducing batch {} iteration {} (was {}), seed {}, image {} {}, code {}",
        batch.id,
        n,
        original.status.as_str(),
        original.seed,
        batch.image_name,
        short(&batch.image_hash),
        short(&batch.code_hash)
    );
    let it = batch::repro(store, &batch, n, shell, &interrupt)?;
    if shell {
        return Ok(EXIT_PASSED);
    }
    eprintln!(
        "snaprun: reproduced: {}{} in {}{}",
        it.status.as_str(),
        describe_exit(&it),
        secs(it.duration_ms),
        it.detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    if let Some(p) = &it.kept_overlay {
        eprintln!("snaprun: its disk is kept at {}", p.display());
    }
    Ok(match it.status {
        Status::Pass => EXIT_PASSED,
        Status::Interrupted => EXIT_INTERRUPTED,
        Status::InfraError => EXIT_ERROR,
        _ => EXIT_FAILED,
    })
}

fn image(store: &Store, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::BuildDefault { force } => {
            build_default(store, force)?;
        }
        ImageCommand::Add {
            name,
            disk,
            kernel,
            initrd,
            append,
            memory,
            cpus,
            agent,
        } => {
            let spec = ImageSpec {
                disk,
                kernel,
                initrd,
                append,
                memory_mib: Some(memory),
                cpus: Some(cpus),
                origin: None,
                agent,
            };
            let m = store.add(
                &name,
                &spec,
                &snaprun::results::images_to_retain(&store.results_db()),
            )?;
            println!("added image `{}` ({})", m.name, short(&m.hash));
        }
        ImageCommand::Ls { json } => {
            let images = store.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&images)?);
            } else if images.is_empty() {
                println!("no images; build the built-in one with `snaprun image build-default`");
            } else {
                println!(
                    "{:<16} {:<13} {:>10} {:>6} {:>5}  {:<20} {:<8} {:<18} KERNEL",
                    "NAME", "HASH", "DISK", "MEM", "CPUS", "CREATED", "AGENT", "WARM"
                );
                for m in images {
                    println!(
                        "{:<16} {:<13} {:>10} {:>6} {:>5}  {:<20} {:<8} {:<18} {}",
                        m.name,
                        short(&m.hash),
                        human_bytes(m.disk.size),
                        format!("{}M", m.memory_mib),
                        m.cpus,
                        m.created,
                        m.agent.as_str(),
                        m.warm
                            .as_ref()
                            .map(|w| format!("{} {}", w.accel, human_bytes(w.state.size)))
                            .unwrap_or_else(|| "-".into()),
                        if m.kernel.is_some() {
                            "yes"
                        } else {
                            "(boots from disk)"
                        }
                    );
                }
            }
            let retired = store.retired()?.len();
            if retired > 0 && !json {
                println!(
                    "({retired} replaced image(s) kept to reproduce the failures of batches that ran on them)"
                );
            }
        }
        ImageCommand::Warm {
            name,
            as_name,
            accel,
            force,
            boot_timeout,
        } => {
            let interrupt = interrupt_flag()?;
            let target = as_name.as_deref().unwrap_or(&name);
            eprintln!("snaprun: booting image `{name}` to save its running state...");
            let warmed =
                snaprun::warm::warm(store, &name, target, accel, boot_timeout, force, &|| {
                    interrupt.load(Ordering::SeqCst)
                })?;
            match warmed {
                snaprun::warm::Warmed::Cached(m) => println!(
                    "image `{target}` already has a valid warm state ({}); --force saves a new one",
                    short(&m.warm.map(|w| w.hash).unwrap_or_default())
                ),
                snaprun::warm::Warmed::Fresh { manifest, boot_ms } => {
                    let w = manifest.warm.as_ref().expect("a fresh warm state");
                    println!(
                        "image `{target}` is warm ({}): booted in {}, state {} + disk layer {}; \
                         `snaprun run --image {target}` restores it for every iteration",
                        short(&w.hash),
                        secs(boot_ms),
                        human_bytes(w.state.size),
                        human_bytes(w.layer.size)
                    );
                }
            }
        }
        ImageCommand::Build {
            name,
            debian: suite,
            packages,
            mirror,
            size,
            memory,
            cpus,
            force,
        } => {
            let interrupt = interrupt_flag()?;
            let spec = debian::DebianSpec {
                suite,
                packages: packages.into_iter().filter(|p| !p.is_empty()).collect(),
                mirror,
                size,
                memory_mib: memory,
                cpus,
            };
            let built = debian::build(
                store,
                &name,
                &spec,
                force,
                &snaprun::results::images_to_retain(&store.results_db()),
                &mut |msg| eprintln!("snaprun: {msg}"),
                &|| interrupt.load(Ordering::SeqCst),
            )?;
            match built {
                Built::Cached(m) => println!(
                    "image `{name}` is up to date ({}); --force rebuilds it",
                    short(&m.hash)
                ),
                Built::Fresh(m) => println!(
                    "built image `{name}` ({}, {}): Debian {}, driven through qemu-guest-agent",
                    short(&m.hash),
                    human_bytes(m.disk.size),
                    spec.suite
                ),
            }
        }
        ImageCommand::Verify { name } => {
            let img = store.verify(&name)?;
            println!("image `{name}` is intact ({})", short(&img.manifest.hash));
        }
        ImageCommand::Rm { name } => {
            store.remove(&name)?;
            println!("removed image `{name}`");
        }
    }
    Ok(EXIT_PASSED)
}

fn watch_cmd(store: &Store, args: WatchArgs) -> Result<i32> {
    let run = &args.run;
    if run.partition.is_some() || run.results.is_some() || run.junit.is_some() {
        anyhow::bail!(
            "watch runs batch after batch; --partition, --results and --junit belong to \
             `snaprun run` (use `snaprun show BATCH --junit FILE` for one of them)"
        );
    }
    let interrupt = interrupt_flag()?;
    ensure_default(store, run, &interrupt)?;
    let opts = batch_options(run)?;
    let quiet = run.json;
    let mut out = std::io::stdout();
    watch::watch(store, &opts, args.on_change, &interrupt, &mut |e| match e {
        watch::Event::Watching(root) => {
            eprintln!(
                "snaprun: watching {} for changes (Ctrl-C stops)",
                root.display()
            )
        }
        watch::Event::Unchanged => {
            eprintln!("snaprun: the change left the code snapshot as it was; still watching")
        }
        watch::Event::Starting { tree, changed } => eprintln!(
            "snaprun: code {} ({}): running {} iteration(s)...",
            short(&tree.hash),
            describe_changes(changed),
            run.iterations
        ),
        watch::Event::Batch(Progress::IterationDone(it)) if !quiet => {
            if it.status != Status::Pass {
                eprintln!(
                    "  iteration {}: {}{}",
                    it.iteration,
                    it.status.as_str(),
                    describe_exit(it)
                );
            }
        }
        watch::Event::Batch(Progress::Note(n)) => eprintln!("snaprun: {n}"),
        watch::Event::Batch(Progress::Building(b)) => eprintln!("snaprun: build step: {b}"),
        watch::Event::Batch(_) => {}
        watch::Event::Finished {
            outcome,
            tree,
            changed,
            superseded,
        } => {
            let line = watch_line(outcome, &tree.hash, changed, superseded);
            if quiet {
                let v = serde_json::json!({
                    "batch": outcome.batch, "summary": outcome.summary,
                    "code": tree.hash, "changed": changed, "superseded": superseded,
                });
                let _ = writeln!(out, "{v}");
            } else {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
    })?;
    Ok(EXIT_INTERRUPTED)
}

/// `2 changed: src/a.c, +new.txt, -old.txt`, or `first snapshot`.
fn describe_changes(changed: &[snaprun::codesnap::Change]) -> String {
    if changed.is_empty() {
        return "first snapshot".into();
    }
    let shown: Vec<String> = changed.iter().take(5).map(|c| c.to_string()).collect();
    let more = if changed.len() > 5 {
        format!(", and {} more", changed.len() - 5)
    } else {
        String::new()
    };
    format!("{} changed: {}{more}", changed.len(), shown.join(", "))
}

/// One line per batch in watch mode.
fn watch_line(
    o: &Outcome,
    code: &str,
    changed: &[snaprun::codesnap::Change],
    superseded: bool,
) -> String {
    let r = o.summary.failure_rate;
    let rate = if r.trials > 0 {
        describe_rate(&r)
    } else {
        "no iteration finished".into()
    };
    let status = if superseded {
        " [restarted: the code changed]".to_string()
    } else if o.batch.status != BatchStatus::Finished {
        format!(" [{}]", o.batch.status)
    } else if o.summary.infra_error > 0 {
        format!(" [{} infra-error]", o.summary.infra_error)
    } else {
        String::new()
    };
    format!(
        "batch {} code {} ({}) {}{status}",
        o.batch.id,
        short(code),
        describe_changes(changed),
        rate
    )
}

fn compare_cmd(store: &Store, a: &str, b: &str, json: bool, db: Option<&Path>) -> Result<i32> {
    let results = match db {
        Some(path) => Results::open_existing(path)?
            .with_context(|| format!("results file {} does not exist", path.display()))?,
        None => open_results(store)?,
    };
    let (ba, bb) = (results.batch(a)?, results.batch(b)?);
    let (ia, ib) = (results.iterations(&ba.id)?, results.iterations(&bb.id)?);
    let c = compare::compare(&ba, &ia, &bb, &ib);
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(EXIT_PASSED);
    }
    let side = |label: &str, s: &compare::Side| {
        println!(
            "{label} {} code {}: {}; duration median {} p90 {} ({} runs)",
            s.batch_id,
            short(&s.code_hash),
            describe_rate(&s.failure_rate),
            s.median_ms.map(secs).unwrap_or_else(|| "-".into()),
            s.p90_ms.map(secs).unwrap_or_else(|| "-".into()),
            s.durations
        );
    };
    side("A", &c.a);
    side("B", &c.b);
    for v in &c.verdict {
        println!("{v}");
    }
    Ok(EXIT_PASSED)
}

fn merge_cmd(
    store: &Store,
    files: &[PathBuf],
    into: Option<&Path>,
    junit_path: Option<&Path>,
    json: bool,
    max_failure_rate: Option<f64>,
) -> Result<i32> {
    let merged = ci::merge(files)?;
    if !merged.complete() {
        let have: Vec<String> = merged.partitions.iter().map(|p| p.to_string()).collect();
        eprintln!(
            "snaprun: warning: only partitions {} of {} are here; the merged batch is incomplete",
            have.join(", "),
            merged.of
        );
    }
    match into {
        Some(path) => snaprun::results::export(path, &merged.batch, &merged.iterations)
            .with_context(|| format!("cannot write the merged results to {}", path.display()))?,
        None => open_results(store)?.replace_batch(&merged.batch, &merged.iterations)?,
    }
    if let Some(path) = junit_path {
        write_junit(path, &merged.batch, &merged.iterations)?;
    }
    let summary = Summary::of(&merged.iterations);
    if json {
        print_json(&merged.batch, &summary, &merged.iterations)?;
    } else {
        print_summary(&merged.batch, &summary, &merged.iterations);
    }
    let o = Outcome {
        batch: merged.batch,
        iterations: merged.iterations,
        summary,
        aborted: None,
    };
    Ok(exit_code(&o, max_failure_rate))
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
