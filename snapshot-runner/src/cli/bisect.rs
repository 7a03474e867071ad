//! `bisect`: parses its arguments into [`BisectOptions`], prints a line per probe, then the
//! report (or its JSON).

use anyhow::Result;
use snaprun::bisect::RateEstimate;
use snaprun::ops::{self, BisectEvent, BisectOptions, BisectReport, BisectVerdict, Candidate};
use snaprun::store::Store;
use snaprun::warm::Start;

use super::report::print_json;
use super::run::on_default_image;
use super::text::{line, pct, secs, short};
use super::{BisectArgs, EXIT_FAILED, EXIT_PASSED, agent_path, interrupt_token};

fn options(args: &BisectArgs) -> Result<BisectOptions> {
    let mut batch = args.vm.options(&args.command)?;
    batch.jobs = args.jobs;
    batch.start = if args.cold { Start::Cold } else { Start::Auto };
    Ok(BisectOptions {
        max_iterations: args.max_iterations,
        per_probe: args.per_probe.unwrap_or(0),
        confidence: args.confidence,
        fresh: args.fresh,
        ..BisectOptions::new(batch, &args.good, &args.bad)
    })
}

fn commit_line(c: &Candidate) -> String {
    format!(
        "#{} {} {}",
        c.index,
        short(&c.commit.sha),
        line(&c.commit.subject)
    )
}

fn rate(r: &RateEstimate) -> String {
    format!(
        "{} (95% interval {} to {})",
        pct(r.mean),
        pct(r.low),
        pct(r.high)
    )
}

pub fn bisect(store: &Store, args: BisectArgs) -> Result<i32> {
    let cancel = interrupt_token()?;
    let opts = options(&args)?;
    // Bad input is refused before the built-in image is (re)built.
    ops::bisect_range(&opts)?;
    ops::ensure_default(
        store,
        &opts.batch,
        &agent_path()?,
        &cancel,
        &mut on_default_image,
    )?;
    let quiet = args.json;
    let report = ops::bisect(store, &opts, &cancel, &mut |e| match e {
        BisectEvent::Started {
            commits,
            resumed_runs,
            ..
        } => {
            eprintln!(
                "snaprun: bisecting {} commits (first-parent history) from {} to {}",
                commits.len(),
                short(&commits[0].sha),
                short(&commits[commits.len() - 1].sha)
            );
            if resumed_runs > 0 {
                eprintln!(
                    "snaprun: resuming: {resumed_runs} iterations of an earlier session count"
                );
            }
        }
        BisectEvent::Probing {
            index,
            commit,
            iterations,
        } if !quiet => eprintln!(
            "probe: #{index} {} {}: {iterations} iteration(s)...",
            short(&commit.sha),
            line(&commit.subject)
        ),
        BisectEvent::Batch(e) => match *e {
            ops::BatchEvent::Note { message } => eprintln!("snaprun: {}", line(&message)),
            ops::BatchEvent::Building { command } if !quiet => {
                eprintln!("  build step: {}", line(&command))
            }
            ops::BatchEvent::Snapshotted { batch, .. } if !quiet => {
                eprintln!("  batch {}", line(&batch.id))
            }
            _ => {}
        },
        BisectEvent::Probed {
            runs,
            failures,
            best,
            no_change,
            ..
        } if !quiet => eprintln!(
            "  {failures}/{runs} failed; most likely culprit now {} ({}), no change {}",
            commit_line(&best),
            pct(best.mass),
            pct(no_change)
        ),
        _ => {}
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(match report.verdict {
        BisectVerdict::BudgetRanOut { .. } => EXIT_FAILED,
        _ => EXIT_PASSED,
    })
}

fn print_report(r: &BisectReport) {
    match &r.verdict {
        BisectVerdict::Culprit {
            culprit,
            before,
            after,
        } => {
            println!(
                "culprit: {} ({} sure)",
                commit_line(culprit),
                pct(culprit.mass)
            );
            println!("  {}", culprit.commit.sha);
            println!("  failure rate before: {}", rate(before));
            println!("  failure rate after:  {}", rate(after));
        }
        BisectVerdict::NoChange { mass, rate: r0 } => {
            println!(
                "no change found: no commit changed the failure rate ({} sure); failure rate \
                 throughout {}",
                pct(*mass),
                rate(r0)
            );
        }
        BisectVerdict::BudgetRanOut {
            best,
            before,
            after,
        } => {
            println!(
                "budget ran out: {} iterations spent, nothing is {} sure yet; run again with a \
                 larger --max-iterations to go on",
                r.runs,
                pct(r.confidence)
            );
            println!("  most likely culprit so far: {}", commit_line(best));
            println!("  failure rate before: {}", rate(before));
            println!("  failure rate after:  {}", rate(after));
        }
    }
    println!("posterior:");
    for c in &r.top {
        println!("  {:>6}  {}", pct(c.mass), commit_line(c));
    }
    println!("  {:>6}  no change", pct(r.no_change));
    println!("iterations per commit:");
    for p in &r.probed {
        println!(
            "  #{:<3} {} {}/{} failed  {}",
            p.index,
            short(&p.commit.sha),
            p.failures,
            p.runs,
            line(&p.commit.subject)
        );
    }
    println!(
        "{} iterations ({} from an earlier session) over {} commits in {}",
        r.runs,
        r.resumed_runs,
        r.commits,
        secs(r.wall_ms)
    );
}
