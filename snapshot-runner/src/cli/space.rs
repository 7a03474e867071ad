//! `gc` and `store`: the store's disk space.

use std::time::Duration;

use anyhow::Result;
use snaprun::ops::{self, GcOptions, Keep};
use snaprun::store::Store;

use super::EXIT_PASSED;
use super::report::print_json;
use super::text::{human_bytes, line};

pub fn gc(
    store: &Store,
    dry_run: bool,
    keep: Option<u32>,
    older_than: Option<Duration>,
    json: bool,
) -> Result<i32> {
    let keep = match (keep, older_than) {
        (Some(n), _) => Keep::Newest(n),
        (None, Some(d)) => Keep::Younger(d),
        (None, None) => Keep::All,
    };
    let report = ops::gc(store, &GcOptions { keep, dry_run })?;
    if json {
        print_json(&report)?;
        return Ok(EXIT_PASSED);
    }
    for id in &report.reaped {
        eprintln!(
            "snaprun: batch {} was abandoned (its snaprun was killed); cleaned up its overlays",
            line(id)
        );
    }
    let released = report.released_batches.len();
    println!(
        "{} the files of {} batch(es){}",
        if dry_run { "would keep" } else { "kept" },
        report.kept_batches,
        if released > 0 {
            format!(
                "; {} go of those of {released} older one(s) (their results stay)",
                if dry_run { "would let" } else { "let" }
            )
        } else {
            String::new()
        }
    );
    for t in &report.totals {
        println!(
            "  {:<20} {:>7} {:>11}",
            t.kind.describe(),
            t.count,
            human_bytes(t.bytes)
        );
    }
    println!(
        "{} {}",
        if dry_run { "would free" } else { "freed" },
        human_bytes(report.bytes)
    );
    Ok(EXIT_PASSED)
}

pub fn usage(store: &Store, json: bool) -> Result<i32> {
    let usage = ops::store_usage(store)?;
    if json {
        print_json(&usage)?;
        return Ok(EXIT_PASSED);
    }
    println!(
        "store {} ({} batches)",
        line(&usage.root.to_string_lossy()),
        usage.batches
    );
    println!("  {:<20} {:>7} {:>11}", "PART", "FILES", "SIZE");
    for p in &usage.parts {
        println!(
            "  {:<20} {:>7} {:>11}",
            p.part.describe(),
            p.files,
            human_bytes(p.bytes)
        );
    }
    println!(
        "  {:<20} {:>7} {:>11}",
        "total",
        "",
        human_bytes(usage.bytes)
    );
    println!(
        "`snaprun gc` would free {} now; `--keep N` or `--older-than AGE` also lets go of the \
         files of older batches",
        human_bytes(usage.reclaimable)
    );
    Ok(EXIT_PASSED)
}
