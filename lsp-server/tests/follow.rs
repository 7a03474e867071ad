//! Places follow the code through the library, on real files and a real SQLite database:
//! edits in the editor (document sync) and changes from outside (the watcher's events).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use retrace_lsp::anchor::{Pos, TextEdit};
use retrace_lsp::history::{FsChange, History, HistoryError, Options};
use retrace_lsp::render::Anchor;
use retrace_lsp::store::SessionInfo;
use retrace_lsp::tree::{Precision, Reason};
use retrace_lsp::workspace::{Workspace, uri_for_path};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ws")).unwrap();
        Fixture { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    fn open(&self, session: &str) -> History {
        self.open_limited(session, retrace_lsp::tree::DEFAULT_LIMIT)
    }

    fn open_limited(&self, session: &str, limit: usize) -> History {
        let info = SessionInfo {
            id: Arc::from(session),
            pid: std::process::id(),
            host: "test".into(),
            client: "test".into(),
            started_ms: 0,
        };
        History::open(
            &self.dir.path().join("h.sqlite3"),
            Workspace::new(self.root()),
            &info,
            Options {
                limit,
                ..Options::default()
            },
            0,
        )
        .unwrap()
    }

    fn write(&self, name: &str, text: &str) -> (PathBuf, String) {
        let path = self.root().join(name);
        std::fs::write(&path, text).unwrap();
        let uri = uri_for_path(&path);
        (path, uri)
    }
}

/// `n` lines `line 0` .. `line n-1`.
fn numbered(n: usize) -> String {
    (0..n).map(|i| format!("line {i}\n")).collect()
}

/// The node's line and how it is anchored, and the text of its line in `retrace.tree`.
fn place(h: &mut History, line_of: u32) -> (u32, Anchor, Option<String>) {
    let view = h.json().unwrap();
    let n = view
        .nodes
        .iter()
        .find(|n| n.id.0 == i64::from(line_of))
        .unwrap();
    (n.line, n.anchor, n.line_text.clone())
}

fn at(line: u32, character: u32) -> Pos {
    Pos { line, character }
}

#[test]
fn ten_lines_inserted_above_in_the_editor_and_back_lands_on_the_same_code() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(100));
    let (_, b) = f.write("b.rs", &numbered(5));
    let mut h = f.open("s");
    h.visit(&a, 50, 4, Reason::Definition, Precision::Line, 1)
        .unwrap();
    h.visit(&b, 2, 0, Reason::Definition, Precision::Line, 2)
        .unwrap();
    h.open_document(&a, &numbered(100)).unwrap();
    let ten: String = (0..10).map(|i| format!("new {i}\n")).collect();
    let edit = TextEdit {
        range: Some((at(3, 0), at(3, 0))),
        text: ten,
    };
    assert_eq!(h.change_document(&a, &[edit]).unwrap(), 1);
    let back = h.back(3).unwrap();
    let target = back.target.unwrap();
    assert_eq!((target.line, target.character), (60, 4));
    assert_eq!(
        place(&mut h, 1),
        (60, Anchor::Exact, Some("line 50".into()))
    );
    // The move was no visit: the node was visited once, by the visit, and once by back.
    assert_eq!(back.node.unwrap().visits, 2);
}

#[test]
fn a_deleted_line_goes_to_the_nearest_line_and_is_approximate_until_visited() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(10));
    let mut h = f.open("s");
    h.visit(&a, 5, 0, Reason::Jump, Precision::Line, 1).unwrap();
    h.open_document(&a, &numbered(10)).unwrap();
    // `dd` on line 5, then two lines inserted above.
    let dd = TextEdit {
        range: Some((at(5, 0), at(6, 0))),
        text: String::new(),
    };
    let above = TextEdit {
        range: Some((at(0, 0), at(0, 0))),
        text: "x\ny\n".into(),
    };
    h.change_document(&a, &[dd, above]).unwrap();
    assert_eq!(
        place(&mut h, 1),
        (7, Anchor::Approximate, Some("line 6".into()))
    );
    // Stored when the server is idle; survives a restart, and a visit there makes it
    // exact again.
    h.idle().unwrap();
    drop(h);
    let mut h = f.open("s");
    assert_eq!(place(&mut h, 1).1, Anchor::Approximate);
    h.visit(&a, 7, 0, Reason::Jump, Precision::Line, 5).unwrap();
    assert_eq!(place(&mut h, 1).1, Anchor::Exact);
}

#[test]
fn a_change_from_outside_re_anchors_by_a_diff_for_every_server() {
    let f = Fixture::new();
    let (path, a) = f.write("a.rs", &numbered(30));
    let mut h = f.open("s1");
    let mut other = f.open("s2");
    for (i, line) in [3u32, 10, 20].into_iter().enumerate() {
        h.visit(&a, line, 0, Reason::Jump, Precision::Line, i as i64)
            .unwrap();
    }
    // Rewritten outside: 5 lines on top, line 10 gone, the rest kept.
    let mut lines: Vec<String> = numbered(30).lines().map(str::to_owned).collect();
    lines[10] = "rewritten".into();
    let mut text: String = (0..5).map(|i| format!("top {i}\n")).collect();
    text.push_str(&(lines.join("\n") + "\n"));
    std::fs::write(&path, &text).unwrap();
    assert_eq!(
        other
            .follow_contents(&[FsChange::Modified(path.clone())])
            .unwrap(),
        3
    );
    assert_eq!(place(&mut h, 1), (8, Anchor::Exact, Some("line 3".into())));
    assert_eq!(place(&mut h, 2).0, 15);
    assert_eq!(place(&mut h, 2).1, Anchor::Approximate);
    assert_eq!(
        place(&mut h, 3),
        (25, Anchor::Exact, Some("line 20".into()))
    );
    // The same content again moves nothing.
    assert_eq!(h.follow_contents(&[FsChange::Modified(path)]).unwrap(), 0);
}

#[test]
fn a_file_deleted_and_restored_comes_back_with_its_lines() {
    let f = Fixture::new();
    let (path, a) = f.write("a.rs", &numbered(20));
    let mut h = f.open("s");
    h.visit(&a, 12, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    h.apply_fs(&[FsChange::Removed(path.clone())]).unwrap();
    assert_eq!(place(&mut h, 1).1, Anchor::Gone);
    // Restored with two lines more on top.
    std::fs::write(&path, format!("a\nb\n{}", numbered(20))).unwrap();
    let changes = [FsChange::Created(path.clone())];
    h.apply_fs(&changes).unwrap();
    h.follow_contents(&changes).unwrap();
    assert_eq!(
        place(&mut h, 1),
        (14, Anchor::Exact, Some("line 12".into()))
    );
}

#[test]
fn bad_input_is_refused_or_harmless() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", "one\r\ntwo\r\nthree\r\n");
    let (bin, b) = f.write("b.bin", "");
    std::fs::write(&bin, b"\0\x01\x02garbage\n\0").unwrap();
    let mut h = f.open("s");
    h.visit(&a, 1, 0, Reason::Jump, Precision::Line, 1).unwrap();
    h.visit(&b, 0, 0, Reason::Jump, Precision::Line, 2).unwrap();
    // A change to a document never opened: an error naming the file, nothing moved.
    let edit = TextEdit {
        range: Some((at(0, 0), at(0, 0))),
        text: "x\n".into(),
    };
    let err = h
        .change_document(&a, std::slice::from_ref(&edit))
        .unwrap_err();
    assert!(matches!(err, HistoryError::NotOpen { .. }), "{err}");
    assert!(err.to_string().contains("a.rs"), "{err}");
    assert_eq!(place(&mut h, 1).0, 1);
    // CRLF: a line added on top moves the node down by one; ranges past the end clamp.
    h.open_document(&a, "one\r\ntwo\r\nthree\r\n").unwrap();
    h.change_document(&a, &[edit]).unwrap();
    let past = TextEdit {
        range: Some((at(900, 9), at(1000, 0))),
        text: "tail".into(),
    };
    h.change_document(&a, &[past]).unwrap();
    assert_eq!(place(&mut h, 1), (2, Anchor::Exact, Some("two".into())));
    // A binary file changed outside: not read, its node stays.
    std::fs::write(&bin, b"\0\0\0").unwrap();
    assert_eq!(h.follow_contents(&[FsChange::Modified(bin)]).unwrap(), 0);
    assert_eq!(place(&mut h, 2).0, 0);
}

#[test]
fn anchoring_data_is_kept_only_for_files_with_nodes() {
    let f = Fixture::new();
    let mut h = f.open_limited("s", 3);
    let db = h.database().to_owned();
    for i in 0..3 {
        let (_, uri) = f.write(&format!("f{i}.rs"), &numbered(3));
        h.visit(&uri, 1, 0, Reason::Jump, Precision::Line, i)
            .unwrap();
    }
    assert_eq!(rows(&db), 3);
    // Past the limit the oldest nodes go, and their files' anchoring data with them.
    for i in 3..8 {
        let (_, uri) = f.write(&format!("f{i}.rs"), &numbered(3));
        h.visit(&uri, 1, 0, Reason::Jump, Precision::Line, i)
            .unwrap();
    }
    let files_with_nodes: std::collections::HashSet<_> = h.tree().nodes().map(|n| n.file).collect();
    assert_eq!(rows(&db), files_with_nodes.len() as i64);
    assert!(rows(&db) <= 3);
}

fn rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM file_lines", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn typing_inside_a_line_is_stored_when_idle_and_saving_it_moves_nothing() {
    let f = Fixture::new();
    let (path, a) = f.write("a.rs", &numbered(10));
    let mut h = f.open("s");
    h.visit(&a, 5, 0, Reason::Jump, Precision::Line, 1).unwrap();
    h.open_document(&a, &numbered(10)).unwrap();
    let typed = TextEdit {
        range: Some((at(5, 4), at(5, 4))),
        text: "_typed".into(),
    };
    assert_eq!(h.change_document(&a, &[typed]).unwrap(), 0);
    h.idle().unwrap();
    // The editor saved, then closed: the disk is what the buffer was; the node is still
    // exact.
    std::fs::write(&path, numbered(10).replace("line 5\n", "line_typed 5\n")).unwrap();
    assert_eq!(h.close_document(&a).unwrap(), 0);
    assert_eq!(h.follow_contents(&[FsChange::Modified(path)]).unwrap(), 0);
    assert_eq!(
        place(&mut h, 1),
        (5, Anchor::Exact, Some("line_typed 5".into()))
    );
}
