//! Places follow the code (issue 13), through the library on a real file and a real SQLite
//! database: re-anchoring a 10,000-line file holding 100 nodes after a change from outside
//! (read, hash, diff, move, commit), and the editor's `didChange` in a file holding 1,000
//! nodes (held in memory: see `history::follow`), and storing those held moves when idle.
//! Targets: a one-line didChange under 100 µs; the pure diff for reference. The whole
//! server's handling of a didChange is measured by `--bench server -- didchange`.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use retrace_lsp::anchor::{LineMap, Pos, TextEdit, line_hashes};
use retrace_lsp::history::{FsChange, History, Options};
use retrace_lsp::store::SessionInfo;
use retrace_lsp::tree::{Precision, Reason};
use retrace_lsp::workspace::{Workspace, uri_for_path};

const LINES: usize = 10_000;

fn text(top: usize, rewritten: bool) -> String {
    let mut out: String = (0..top).map(|i| format!("// inserted {i}\n")).collect();
    for i in 0..LINES {
        if rewritten && (5_000..5_050).contains(&i) {
            out.push_str(&format!("    rewritten({i});\n"));
        } else {
            out.push_str(&format!("    let value_{i} = compute({i}, \"line\");\n"));
        }
    }
    out
}

fn open(root: &Path, db: &Path) -> History {
    let session = SessionInfo {
        id: "bench".into(),
        pid: std::process::id(),
        host: "bench".into(),
        client: "bench".into(),
        started_ms: 0,
    };
    History::open(db, Workspace::new(root), &session, Options::default(), 0).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    std::fs::create_dir(&root).unwrap();
    let outside = root.join("outside.rs");
    let edited = root.join("edited.rs");
    std::fs::write(&outside, text(0, false)).unwrap();
    std::fs::write(&edited, text(0, false)).unwrap();
    let mut h = open(&root, &dir.path().join("h.sqlite3"));
    let (outside_uri, edited_uri) = (uri_for_path(&outside), uri_for_path(&edited));
    let mut now = 1;
    for line in (0..LINES as u32).step_by(100) {
        h.visit(&outside_uri, line, 0, Reason::Jump, Precision::Line, now)
            .unwrap();
        now += 1;
    }
    for line in (0..LINES as u32).step_by(10) {
        h.visit(&edited_uri, line, 0, Reason::Jump, Precision::Line, now)
            .unwrap();
        now += 1;
    }
    let versions = [text(0, false), text(20, true)];

    // Criterion calls each closure more than once: the alternations count across calls.
    let mut n = 0;
    let mut group = c.benchmark_group("anchor");
    group.bench_function(
        "outside change, 10k lines, 100 nodes (read+diff+commit)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    std::fs::write(&outside, &versions[n % 2]).unwrap();
                    let t = Instant::now();
                    let moved = h
                        .follow_contents(&[FsChange::Modified(outside.clone())])
                        .unwrap();
                    total += t.elapsed();
                    assert!(moved > 0);
                }
                total
            })
        },
    );
    h.open_document(&edited_uri, &versions[0]).unwrap();
    let at = |line, character| Pos { line, character };
    group.bench_function(
        "didChange: a character typed, 1,000 nodes in the file",
        |b| {
            // Typed, then deleted: the line stays as long as it was.
            b.iter(|| {
                n += 1;
                let end = at(5, 4 + (n % 2 == 0) as u32);
                let edit = TextEdit {
                    range: Some((at(5, 4), end)),
                    text: if n % 2 == 1 {
                        "x".into()
                    } else {
                        String::new()
                    },
                };
                h.change_document(&edited_uri, &[edit]).unwrap();
            })
        },
    );
    group.bench_function("didChange: a line inserted above 1,000 nodes", |b| {
        b.iter(|| {
            n += 1;
            let edit = if n % 2 == 1 {
                TextEdit {
                    range: Some((at(0, 0), at(0, 0))),
                    text: "// new\n".into(),
                }
            } else {
                TextEdit {
                    range: Some((at(0, 0), at(1, 0))),
                    text: String::new(),
                }
            };
            assert!(h.change_document(&edited_uri, &[edit]).unwrap() > 0);
        })
    });
    // Off the path of a didChange: storing what was held, when the server is idle.
    group.bench_function("idle: storing 1,000 held moves (one transaction)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let edit = if n % 2 == 1 {
                    TextEdit {
                        range: Some((at(0, 0), at(0, 0))),
                        text: "// new\n".into(),
                    }
                } else {
                    TextEdit {
                        range: Some((at(0, 0), at(1, 0))),
                        text: String::new(),
                    }
                };
                h.change_document(&edited_uri, &[edit]).unwrap();
                let t = Instant::now();
                h.store_documents().unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    let (old, new) = (line_hashes(&versions[0]), line_hashes(&versions[1]));
    group.bench_function("pure: diff of 10k line hashes, 100 lines mapped", |b| {
        b.iter(|| {
            let map = LineMap::diff(&old, &new);
            (0..LINES as u32)
                .step_by(100)
                .map(|l| map.map(l).line)
                .sum::<u32>()
        })
    });
    group.bench_function("pure: hashing 10k lines", |b| {
        b.iter(|| line_hashes(&versions[1]).len())
    });
    group.finish();
    checkout(c);
}

/// A `git checkout` as the watcher reports it: 1,000 files holding 10,000 nodes all written
/// at once, re-anchored in one call (one transaction). Target: under 1 s.
fn checkout(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    std::fs::create_dir(&root).unwrap();
    let small = |top: usize, i: usize| -> String {
        let mut out: String = (0..top).map(|j| format!("// branch line {j}\n")).collect();
        out.extend((0..200).map(|j| format!("fn f{i}_{j}() {{}}\n")));
        out
    };
    let paths: Vec<_> = (0..1_000)
        .map(|i| {
            let path = root.join(format!("m{}/f{i}.rs", i % 50));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, small(0, i)).unwrap();
            path
        })
        .collect();
    let mut h = open(&root, &dir.path().join("h.sqlite3"));
    let mut now = 1;
    for path in &paths {
        let uri = uri_for_path(path);
        for line in (0..200).step_by(20) {
            h.visit(&uri, line, 0, Reason::Jump, Precision::Line, now)
                .unwrap();
            now += 1;
        }
    }
    assert!(h.tree().len() >= 10_000);
    let changes: Vec<FsChange> = paths.iter().cloned().map(FsChange::Modified).collect();
    let mut n = 0;
    let mut group = c.benchmark_group("anchor");
    group.sample_size(10);
    group.bench_function("git checkout: 1,000 files, 10,000 nodes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                for (i, path) in paths.iter().enumerate() {
                    std::fs::write(path, small(3 * (n % 2), i)).unwrap();
                }
                let t = Instant::now();
                let moved = h.follow_contents(&changes).unwrap();
                total += t.elapsed();
                assert_eq!(moved, 10_000);
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
