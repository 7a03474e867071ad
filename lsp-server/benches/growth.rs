//! How much the anchoring data (table `file_lines`, issue 13) adds to a history database:
//! a 100k-node history over 2,000 files of realistic lengths (log-normal, median about 250
//! lines, mean about 370, as source trees have), built like real use (chains, a branch every
//! few steps), every file's line hashes stored. The database's size after `VACUUM`, with and
//! without the `file_lines` rows. Target: growth under 10 %.
//!
//! Prints its numbers; run with `cargo bench -p retrace-lsp --bench growth`.

mod common;

use std::path::Path;

use retrace_lsp::anchor::line_hashes;
use retrace_lsp::store::Store;
use retrace_lsp::tree::{FileId, Place, Precision, Reason, SessionId};
use retrace_lsp::workspace::uri_for_path;

const NODES: usize = 100_000;
const FILES: u64 = 2_000;

/// A small deterministic generator (xorshift), so every run measures the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn uri(i: u64) -> String {
    uri_for_path(Path::new(&format!(
        "{}/src/module{}/file_{i}.rs",
        common::WORKSPACE,
        i % 60
    )))
}

/// A file's text: `lines` lines of code-like text.
fn text(rng: &mut Rng, lines: u32) -> String {
    (0..lines)
        .map(|_| match rng.next() % 8 {
            0 => "\n".to_owned(),
            1 => "    }\n".to_owned(),
            n => format!(
                "    let v{} = call_{}(x, {n});\n",
                rng.next() % 1000,
                rng.next() % 97
            ),
        })
        .collect()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite3");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let lengths: Vec<u32> = (0..FILES)
        .map(|_| (5.5 + 0.9 * rng.normal()).exp().clamp(5.0, 20_000.0) as u32)
        .collect();
    let mut store = Store::open(&db, Path::new(common::WORKSPACE)).unwrap();
    let info = common::session("builder");
    store.add_session(&info, 0).unwrap();
    let mut tree = store.load(NODES * 2).unwrap();
    let s: SessionId = info.id.clone();
    store
        .write(&mut tree, |t| {
            let mut i = 0u64;
            while t.len() < NODES {
                if i % 7 == 6 {
                    t.back(&s, i as i64);
                    t.back(&s, i as i64);
                }
                let file = rng.next() % FILES;
                let place = Place {
                    uri: uri(file),
                    line: (rng.next() % u64::from(lengths[file as usize])) as u32,
                    character: 4,
                };
                t.visit(
                    &s,
                    &place,
                    Reason::Definition,
                    Precision::Line,
                    1_700_000_000_000 + i as i64 * 1500,
                );
                i += 1;
            }
        })
        .unwrap();
    let files: Vec<(FileId, usize)> = (0..FILES)
        .filter_map(|i| Some((tree.file_id(&uri(i))?, i as usize)))
        .collect();
    let mut lines_stored = 0u64;
    store
        .write_with_lines(&mut tree, |_, lines| {
            for (id, i) in &files {
                let hashes = line_hashes(&text(&mut rng, lengths[*i]));
                lines_stored += hashes.len() as u64;
                lines.set(*id, hashes);
            }
        })
        .unwrap();
    store.remove_session("builder").unwrap();
    drop(store);

    let with = dir.path().join("with.sqlite3");
    let without = dir.path().join("without.sqlite3");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM file_lines", [], |r| r.get(0))
        .unwrap();
    let blob: i64 = conn
        .query_row("SELECT sum(length(hashes)) FROM file_lines", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute("VACUUM INTO ?1", [with.to_str().unwrap()])
        .unwrap();
    conn.execute("DELETE FROM file_lines", []).unwrap();
    conn.execute("VACUUM INTO ?1", [without.to_str().unwrap()])
        .unwrap();
    let (a, b) = (size(&with), size(&without));
    let growth = (a as f64 - b as f64) / b as f64 * 100.0;
    println!(
        "history: {} nodes over {rows} files holding {lines_stored} lines",
        tree.len()
    );
    println!(
        "  database without file_lines (after VACUUM): {:>10} bytes",
        b
    );
    println!(
        "  database with file_lines    (after VACUUM): {:>10} bytes",
        a
    );
    println!(
        "  file_lines: {} bytes on disk, {blob} bytes of hashes ({:.2} bytes per line)",
        a - b,
        blob as f64 / lines_stored as f64
    );
    println!("  growth: {growth:.1} % (target < 10 %)");
}
