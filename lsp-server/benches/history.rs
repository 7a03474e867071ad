//! visit / back / forward on a 100k-node history, each including its SQLite commit.
//! Target: < 200 µs median.

mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use retrace_lsp::history::{History, Options};
use retrace_lsp::tree::{ForwardPolicy, Precision, Reason};
use retrace_lsp::workspace::Workspace;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.sqlite3");
    common::build(&db, 100_000);
    let options = Options {
        limit: 1_000_000,
        ..Options::default()
    };
    let mut h = History::open(
        &db,
        Workspace::new(common::WORKSPACE),
        &common::session("bench"),
        options,
        1,
    )
    .unwrap();
    assert!(h.tree().len() >= 100_000);
    let mut group = c.benchmark_group("history-100k");
    let mut i = 1_000_000u64;
    group.bench_function("visit (new node, committed)", |b| {
        b.iter(|| visit_new(&mut h, &mut i))
    });
    // Back and forward need a fresh leaf to stand on each time: set that up untimed.
    group.bench_function("back (committed)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                visit_new(&mut h, &mut i);
                let t = Instant::now();
                h.back(i as i64).unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    group.bench_function("forward (one child, committed)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new node with one new child; stand on the node.
                visit_new(&mut h, &mut i);
                visit_new(&mut h, &mut i);
                h.back(i as i64).unwrap();
                let t = Instant::now();
                let out = h.forward(None, ForwardPolicy::Ask, i as i64).unwrap();
                total += t.elapsed();
                assert_eq!(out.status, retrace_lsp::history::Status::Moved);
            }
            total
        })
    });
    group.finish();
}

/// Visits a place not seen before: a new child of the current node.
fn visit_new(h: &mut History, i: &mut u64) {
    *i += 1;
    let p = common::place(*i);
    h.visit(
        &p.uri,
        p.line,
        0,
        Reason::Definition,
        Precision::Line,
        *i as i64,
    )
    .unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(200).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
