//! `snaprun bisect`: which commit made a test flakier. The commits between a good and a bad
//! one (first-parent history, see [`crate::history`]) are probed one batch at a time, each
//! probe a recorded batch of the commit's tree frozen from git (plus the build step) run in
//! VMs exactly like `snaprun run`; the Bayesian core in [`crate::bisect`] chooses the next
//! commit and says when it is sure.
//!
//! What a bisection has learned is the batches it ran: their ids are kept in a state file,
//! `<store>/bisect/<key>.json`, the key a hash of the repository, the two commits, the
//! command, the build step, the image, the environment and `--include`/`--exclude`. Running the same bisection again (after Ctrl-C, or
//! after it ended) reads the counts back from the results database and goes on from there.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::batch::{self, BatchEvent, Options};
use crate::bisect::{Bisection, Counts, Prior, RateEstimate, Verdict};
use crate::cancel::Cancel;
use crate::codesnap::{self, Tree};
use crate::error::{Error, IoContext, Result};
use crate::history::{Commit, Repo};
use crate::results::{BatchStatus, Results, Status};
use crate::store::{Store, hex, write_atomically};
use crate::tools;

/// The default `--confidence`.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
/// The default `--max-iterations`.
pub const DEFAULT_MAX_ITERATIONS: u32 = 300;

/// Everything `snaprun bisect` takes.
#[derive(Debug, Clone)]
pub struct BisectOptions {
    /// How every probe runs: `workspace` is any directory in the repository; `image`,
    /// `command`, `jobs`, `timeout`, `build`, `selection`, `env`, `accel`, `start` and the
    /// other settings are those of `snaprun run`. `iterations`, `seed`, `partition` and
    /// `snapshot` are set per probe.
    pub batch: Options,
    pub good: String,
    pub bad: String,
    /// Iterations in all, those of an earlier interrupted session included.
    pub max_iterations: u32,
    /// Iterations per probe; 0 for twice `jobs`.
    pub per_probe: u32,
    /// Posterior mass at which a commit (or "no change") is the answer.
    pub confidence: f64,
    /// Forget what an earlier session with the same arguments learned.
    pub fresh: bool,
}

impl BisectOptions {
    pub fn new(batch: Options, good: &str, bad: &str) -> BisectOptions {
        BisectOptions {
            batch,
            good: good.to_string(),
            bad: bad.to_string(),
            max_iterations: DEFAULT_MAX_ITERATIONS,
            per_probe: 0,
            confidence: DEFAULT_CONFIDENCE,
            fresh: false,
        }
    }
}

/// What a bisection reports as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum BisectEvent {
    /// The range is known; `resumed_runs` iterations of an earlier session count.
    Started {
        commits: Vec<Commit>,
        resumed_runs: u64,
        state_file: PathBuf,
    },
    /// Commit `index` is about to be frozen (and built) and run `iterations` times.
    Probing {
        index: usize,
        commit: Commit,
        iterations: u32,
    },
    /// An event of the probe's batch.
    Batch(Box<BatchEvent>),
    /// A probe ended: its counts, and the commit now most likely to be the culprit.
    Probed {
        index: usize,
        runs: u64,
        failures: u64,
        best: Candidate,
        no_change: f64,
    },
}

/// A commit and its posterior mass as the culprit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub index: usize,
    pub commit: Commit,
    pub mass: f64,
}

/// Runs and failures at one probed commit, and the batches that ran them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probed {
    pub index: usize,
    pub commit: Commit,
    pub runs: u64,
    pub failures: u64,
    pub batches: Vec<String>,
}

/// How a bisection ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum BisectVerdict {
    /// This commit raised the failure rate, with at least the wanted confidence.
    Culprit {
        culprit: Candidate,
        before: RateEstimate,
        after: RateEstimate,
    },
    /// No commit changed the rate, with at least the wanted confidence.
    NoChange { mass: f64, rate: RateEstimate },
    /// `--max-iterations` were spent before anything held the wanted confidence: the most
    /// likely culprit so far, and its rates, for what they are worth.
    BudgetRanOut {
        best: Candidate,
        before: RateEstimate,
        after: RateEstimate,
    },
}

/// What `snaprun bisect` found.
#[derive(Debug, Clone, Serialize)]
pub struct BisectReport {
    pub workspace: PathBuf,
    pub good: Commit,
    pub bad: Commit,
    /// Commits in the range, the good one included.
    pub commits: usize,
    pub verdict: BisectVerdict,
    pub confidence: f64,
    /// Iterations spent in all, and those an earlier session had spent.
    pub runs: u64,
    pub resumed_runs: u64,
    pub max_iterations: u32,
    /// The probed commits in history order.
    pub probed: Vec<Probed>,
    /// The posterior's most likely culprits, most likely first.
    pub top: Vec<Candidate>,
    /// The posterior mass of "no commit changed the rate".
    pub no_change: f64,
    pub state_file: PathBuf,
    /// Wall time of this session, in ms.
    pub wall_ms: u64,
}

/// The state file: what identifies the bisection, and the batches it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    repo: PathBuf,
    good: String,
    bad: String,
    command: String,
    build: Option<String>,
    image: String,
    commits: Vec<Commit>,
    /// (commit index, batch id), in the order they ran.
    probes: Vec<(usize, String)>,
}

fn state_key(repo: &Repo, good: &str, bad: &str, opts: &Options) -> String {
    let mut h = Sha256::new();
    for part in [
        repo.root.to_string_lossy().as_ref(),
        good,
        bad,
        &opts.command,
        opts.build.as_deref().unwrap_or(""),
        &opts.image,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    // What else changes what a probe runs: its environment and the snapshot's selection.
    let sel = &opts.selection;
    for part in opts
        .env
        .iter()
        .flat_map(|(k, v)| [k, v])
        .chain(&sel.include)
        .chain(&sel.exclude)
    {
        h.update(part.as_bytes());
        h.update([1]);
    }
    hex(&h.finalize())[..16].to_string()
}

fn save(store: &Store, path: &std::path::Path, state: &State) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::Internal(format!("cannot serialise the bisect state: {e}")))?;
    fs::create_dir_all(store.tmp_dir()).ctx("creating scratch space", &store.tmp_dir())?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ctx("creating the bisect state directory", dir)?;
    }
    write_atomically(path, &bytes, &store.tmp_dir())
}

fn load(path: &std::path::Path) -> Option<State> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Runs and test failures of a recorded batch: iterations that ran to an outcome.
fn counts_of(results: &Results, batch_id: &str) -> Result<Counts> {
    let mut c = Counts::default();
    let its = match results.iterations_without_output(batch_id) {
        Ok(its) => its,
        Err(Error::BatchNotFound(_)) => return Ok(c),
        Err(e) => return Err(e),
    };
    for it in its {
        if it.status == Status::Pass || it.status.is_test_failure() {
            c.runs += 1;
            c.failures += u64::from(it.status.is_test_failure());
        }
    }
    Ok(c)
}

/// Writes commit `commit` out of git, runs the build step in it, and snapshots it, as the
/// repository's code (the batch is recorded against the repository).
fn freeze(
    store: &Store,
    repo: &Repo,
    commit: &Commit,
    opts: &Options,
    key: &str,
    on_event: &mut dyn FnMut(BisectEvent),
) -> Result<Tree> {
    let scratch = store.tmp_dir().join(format!("bisect-{key}"));
    let dir = scratch.join("tree");
    repo.write_tree(&commit.sha, &dir, &scratch)?;
    // A repository of its own, empty: the snapshot takes what git would (the commit's
    // .gitignore applies to build outputs, and --include adds them, as with `run`), and git
    // does not look further up for a repository the store may be in.
    tools::run(
        "git",
        ["init", "-q", dir.to_str().unwrap_or(".")],
        Some(&dir),
    )?;
    if let Some(build) = &opts.build {
        on_event(BisectEvent::Batch(Box::new(BatchEvent::Building {
            command: build.clone(),
        })));
        tools::run_shell(build, &dir)?;
    }
    let mut tree = codesnap::snapshot(store, &dir, &opts.selection)?;
    tree.workspace = repo.root.clone();
    Ok(tree)
}

fn candidate(commits: &[Commit], (index, mass): (usize, f64)) -> Candidate {
    Candidate {
        index,
        commit: commits[index].clone(),
        mass,
    }
}

/// Finds the commit between `opts.good` and `opts.bad` that made `opts.batch.command` fail
/// more often, running probes until one commit (or "no change") holds `opts.confidence` of
/// the posterior or `opts.max_iterations` are spent. Ctrl-C (`cancel`) stops the running
/// probe like a batch and returns [`Error::Interrupted`]; what was learned stays for the next
/// run with the same arguments. The user's checkout is never touched.
pub fn bisect(
    store: &Store,
    opts: &BisectOptions,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(BisectEvent),
) -> Result<BisectReport> {
    let started = Instant::now();
    let (repo, good, bad) = check(opts)?;
    let key = state_key(&repo, &good, &bad, &opts.batch);
    let state_file = store.root().join("bisect").join(format!("{key}.json"));
    let mut state = match load(&state_file).filter(|_| !opts.fresh) {
        Some(s) => s,
        None => State {
            repo: repo.root.clone(),
            commits: repo.first_parent_range(&good, &bad)?,
            good,
            bad,
            command: opts.batch.command.clone(),
            build: opts.batch.build.clone(),
            image: opts.batch.image.clone(),
            probes: Vec::new(),
        },
    };
    let commits = state.commits.clone();
    let n = commits.len();
    let mut bisection = Bisection::new(n, Prior::default())?;
    let results = Results::open(&store.results_db())?;
    let mut batches: HashMap<usize, Vec<String>> = HashMap::new();
    for (index, id) in &state.probes {
        let c = counts_of(&results, id)?;
        bisection.record(*index, c.runs, c.failures)?;
        batches.entry(*index).or_default().push(id.clone());
    }
    let spent = |b: &Bisection| b.counts().iter().map(|c| c.runs).sum::<u64>();
    let resumed_runs = spent(&bisection);
    on_event(BisectEvent::Started {
        commits: commits.clone(),
        resumed_runs,
        state_file: state_file.clone(),
    });
    let per_probe = if opts.per_probe == 0 {
        2 * opts.batch.jobs.max(1)
    } else {
        opts.per_probe
    };
    let mut frozen: HashMap<usize, Tree> = HashMap::new();
    let verdict = loop {
        let post = bisection.posterior();
        match bisection.verdict(opts.confidence) {
            Verdict::Culprit { commit, mass } => {
                let r = bisection.rates(commit);
                break BisectVerdict::Culprit {
                    culprit: candidate(&commits, (commit, mass)),
                    before: r.before,
                    after: r.after,
                };
            }
            Verdict::NoChange { mass } => {
                let all = bisection
                    .counts()
                    .iter()
                    .fold(Counts::default(), |a, c| Counts {
                        runs: a.runs + c.runs,
                        failures: a.failures + c.failures,
                    });
                break BisectVerdict::NoChange {
                    mass,
                    rate: bisection.rate_of(all),
                };
            }
            Verdict::Undecided => {}
        }
        let used = spent(&bisection);
        if used >= u64::from(opts.max_iterations) {
            let best = post.best();
            let r = bisection.rates(best.0);
            break BisectVerdict::BudgetRanOut {
                best: candidate(&commits, best),
                before: r.before,
                after: r.after,
            };
        }
        if cancel.is_cancelled() {
            return Err(interrupted(&state_file));
        }
        let index = bisection.next_probe();
        let iterations = per_probe.min((u64::from(opts.max_iterations) - used) as u32);
        on_event(BisectEvent::Probing {
            index,
            commit: commits[index].clone(),
            iterations,
        });
        let tree = match frozen.get(&index) {
            Some(t) => t.clone(),
            None => {
                let t = freeze(store, &repo, &commits[index], &opts.batch, &key, on_event)
                    .map_err(|e| {
                        if cancel.is_cancelled() {
                            interrupted(&state_file)
                        } else {
                            Error::Context {
                                what: format!(
                                    "freezing commit {} ({})",
                                    &commits[index].sha[..12],
                                    commits[index].subject
                                ),
                                error: Box::new(e),
                            }
                        }
                    })?;
                frozen.insert(index, t.clone());
                t
            }
        };
        let probe = Options {
            workspace: repo.root.clone(),
            iterations,
            build: None,
            seed: None,
            partition: None,
            snapshot: Some(tree),
            ..opts.batch.clone()
        };
        let mut save_error = None;
        let outcome = batch::run(store, &probe, cancel, &mut |e| {
            if let BatchEvent::Snapshotted { batch, .. } = &e {
                state.probes.push((index, batch.id.clone()));
                batches.entry(index).or_default().push(batch.id.clone());
                if let Err(err) = save(store, &state_file, &state) {
                    save_error = Some(err);
                }
            }
            on_event(BisectEvent::Batch(Box::new(e)));
        })
        .map_err(|e| {
            // Stopped while the probe was set up: nothing of it ran, the rest is kept.
            if cancel.is_cancelled() {
                interrupted(&state_file)
            } else {
                e
            }
        })?;
        if let Some(e) = save_error {
            return Err(e);
        }
        let c = counts_of(&results, &outcome.report.batch.id)?;
        bisection.record(index, c.runs, c.failures)?;
        if outcome.report.batch.status == BatchStatus::Interrupted {
            return Err(interrupted(&state_file));
        }
        if let Some(why) = outcome.aborted {
            return Err(Error::Usage(format!(
                "probe batch {} of commit {} was aborted: {why}; see `snaprun show {}`, fix \
                 the cause and run the same bisect again to go on",
                outcome.report.batch.id,
                &commits[index].sha[..12],
                outcome.report.batch.id
            )));
        }
        let post = bisection.posterior();
        on_event(BisectEvent::Probed {
            index,
            runs: c.runs,
            failures: c.failures,
            best: candidate(&commits, post.best()),
            no_change: post.no_change,
        });
    };
    let _ = fs::remove_dir_all(store.tmp_dir().join(format!("bisect-{key}")));
    let post = bisection.posterior();
    let probed = bisection
        .counts()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.runs > 0)
        .map(|(index, c)| Probed {
            index,
            commit: commits[index].clone(),
            runs: c.runs,
            failures: c.failures,
            batches: batches.get(&index).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(BisectReport {
        workspace: repo.root.clone(),
        good: commits[0].clone(),
        bad: commits[n - 1].clone(),
        commits: n,
        verdict,
        confidence: opts.confidence,
        runs: spent(&bisection),
        resumed_runs,
        max_iterations: opts.max_iterations,
        probed,
        top: post
            .top(5)
            .into_iter()
            .map(|c| candidate(&commits, c))
            .collect(),
        no_change: post.no_change,
        state_file,
        wall_ms: started.elapsed().as_millis() as u64,
    })
}

/// The bisection's settings, repository and the two commits, checked.
fn check(opts: &BisectOptions) -> Result<(Repo, String, String)> {
    if !(opts.confidence > 0.5 && opts.confidence < 1.0) {
        return Err(Error::Usage(format!(
            "--confidence {} is out of range; give a probability above 0.5 and below 1, e.g. 0.95",
            opts.confidence
        )));
    }
    if opts.max_iterations == 0 {
        return Err(Error::Usage(
            "--max-iterations 0 leaves nothing to run; give at least 1".into(),
        ));
    }
    let repo = Repo::open(&opts.batch.workspace)?;
    let good = repo.resolve(&opts.good)?;
    let bad = repo.resolve(&opts.bad)?;
    Ok((repo, good, bad))
}

/// The commits [`bisect`] would search (the good one first), or why it would refuse: cheap
/// (git only), for a caller to check its input before it builds an image.
pub fn bisect_range(opts: &BisectOptions) -> Result<Vec<Commit>> {
    let (repo, good, bad) = check(opts)?;
    repo.first_parent_range(&good, &bad)
}

fn interrupted(state_file: &std::path::Path) -> Error {
    Error::Interrupted(format!(
        "what the bisection learned is kept in {}; run the same command again to go on from \
         there",
        state_file.display()
    ))
}
