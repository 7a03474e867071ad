//! A visit to a file the history has not seen yet, as the server handles it: the visit
//! (its SQLite commit included) and the file watcher following the new file's directory.
//! At 10k and 100k recorded files; the goal is flat, under 200 µs.
//!
//! The directories exist (a temporary workspace of 100 of them), so the watches are real.

mod common;

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use retrace_lsp::history::{History, Options, Status};
use retrace_lsp::tree::{Precision, Reason};
use retrace_lsp::watch::Watcher;
use retrace_lsp::workspace::Workspace;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("new-file visit");
    for files in [10_000u64, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        for d in 0..100 {
            std::fs::create_dir_all(root.join(format!("src/d{d}"))).unwrap();
        }
        let db = dir.path().join("bench.sqlite3");
        common::build_files(&db, &root, files);
        let options = Options {
            limit: 10_000_000,
            ..Options::default()
        };
        let mut h = History::open(
            &db,
            Workspace::new(&root),
            &common::session("bench"),
            options,
            1,
        )
        .unwrap();
        assert_eq!(h.tree().files().count() as u64, files);
        let mut watcher = Watcher::new(|_| {}).unwrap();
        watcher.refollow(&h);
        let mut next = files;
        group.bench_function(BenchmarkId::from_parameter(files), |b| {
            b.iter(|| {
                next += 1;
                visit_new_file(&mut h, &mut watcher, &root, next);
            })
        });
    }
    group.finish();
}

fn visit_new_file(h: &mut History, watcher: &mut Watcher, root: &Path, i: u64) {
    let p = common::file_place(root, i);
    let out = h
        .visit(&p.uri, 0, 0, Reason::Definition, Precision::Line, i as i64)
        .unwrap();
    assert_eq!(out.status, Status::Added);
    watcher.follow(h);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
