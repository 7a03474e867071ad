//! Builds a history database of a given size, shaped like real use: mostly chains, with a
//! branch every few steps (go back a little, jump somewhere new).

// Each benchmark uses a part of this.
#![allow(dead_code)]
use std::path::Path;
use std::sync::Arc;

use retrace_lsp::store::{SessionInfo, Store};
use retrace_lsp::tree::{Place, Precision, Reason, SessionId};
use retrace_lsp::workspace::uri_for_path;

pub const WORKSPACE: &str = "/bench/ws";

pub fn session(id: &str) -> SessionInfo {
    SessionInfo {
        id: Arc::from(id),
        pid: std::process::id(),
        host: "bench".into(),
        client: "bench".into(),
        started_ms: 0,
    }
}

pub fn place(i: u64) -> Place {
    Place {
        uri: uri_for_path(Path::new(&format!(
            "{WORKSPACE}/src/m{}/f{}.rs",
            i % 40,
            i % 997
        ))),
        line: ((i * 37) % 5000) as u32,
        character: 0,
    }
}

/// Writes `nodes` nodes into a new database at `db` (one transaction).
pub fn build(db: &Path, nodes: usize) {
    let mut store = Store::open(db, Path::new(WORKSPACE)).expect("open");
    let info = session("builder");
    store.add_session(&info, 0).expect("session");
    let mut tree = store.load(nodes * 2).expect("load");
    let s: SessionId = info.id.clone();
    store
        .write(&mut tree, |t| {
            let mut i = 0u64;
            while t.len() < nodes {
                if i % 7 == 6 {
                    t.back(&s, i as i64);
                    t.back(&s, i as i64);
                }
                t.visit(&s, &place(i), Reason::Definition, Precision::Line, i as i64);
                i += 1;
            }
        })
        .expect("write");
    store.remove_session("builder").expect("end session");
}

/// The file of the `i`th node of [`build_files`]: one file per node, in 100 directories.
pub fn file_place(root: &Path, i: u64) -> Place {
    Place {
        uri: uri_for_path(&root.join(format!("src/d{}/f{i}.rs", i % 100))),
        line: 0,
        character: 0,
    }
}

/// Writes a chain of `files` nodes, each in a file of its own, into a new database at `db`
/// (one transaction): a history that has seen many files.
pub fn build_files(db: &Path, root: &Path, files: u64) {
    let mut store = Store::open(db, root).expect("open");
    let info = session("builder");
    store.add_session(&info, 0).expect("session");
    let mut tree = store.load(files as usize * 2).expect("load");
    let s: SessionId = info.id.clone();
    store
        .write(&mut tree, |t| {
            for i in 0..files {
                t.visit(
                    &s,
                    &file_place(root, i),
                    Reason::Definition,
                    Precision::Line,
                    i as i64,
                );
            }
        })
        .expect("write");
    store.remove_session("builder").expect("end session");
}
