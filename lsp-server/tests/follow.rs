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
    // A binary file changed outside: not read; its node keeps its line, approximate (where
    // its line went cannot be told).
    std::fs::write(&bin, b"\0\0\0").unwrap();
    assert_eq!(h.follow_contents(&[FsChange::Modified(bin)]).unwrap(), 1);
    assert_eq!(place(&mut h, 2).0, 0);
    assert_eq!(place(&mut h, 2).1, Anchor::Approximate);
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

/// The line of node `id` as stored in the database, and whether approximate.
fn stored_line(db: &Path, id: i64) -> (u32, bool) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT line, approximate FROM nodes WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn insert_at(line: u32, text: &str) -> TextEdit {
    TextEdit {
        range: Some((at(line, 0), at(line, 0))),
        text: text.into(),
    }
}

#[test]
fn moves_are_held_in_memory_and_every_server_sees_them_once_stored() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(100));
    let mut h = f.open("s1");
    let mut other = f.open("s2");
    let db = h.database().to_owned();
    h.visit(&a, 50, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    h.open_document(&a, &numbered(100)).unwrap();
    assert_eq!(h.change_document(&a, &[insert_at(0, "x\ny\n")]).unwrap(), 1);
    // This server answers with the move at once; nothing is written yet.
    assert_eq!(place(&mut h, 1).0, 52);
    assert_eq!(stored_line(&db, 1), (50, false));
    assert_eq!(place(&mut other, 1).0, 50);
    // Idle: stored, with the buffer's hashes, and the other server sees it.
    h.idle().unwrap();
    assert_eq!(stored_line(&db, 1), (52, false));
    assert_eq!(place(&mut other, 1).0, 52);
    // Any other write stores what is held first, in its own transaction.
    h.change_document(&a, &[insert_at(0, "z\n")]).unwrap();
    assert_eq!(stored_line(&db, 1), (52, false));
    h.visit(&a, 90, 0, Reason::Jump, Precision::Line, 2)
        .unwrap();
    assert_eq!(stored_line(&db, 1), (53, false));
    // (The other server reads the line's text from the disk, which has not been saved.)
    assert_eq!(place(&mut other, 1).0, 53);
}

#[test]
fn a_crash_before_the_moves_are_stored_loses_nothing() {
    let f = Fixture::new();
    let (path, a) = f.write("a.rs", &numbered(100));
    let mut h = f.open("s");
    let db = h.database().to_owned();
    h.visit(&a, 50, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    h.open_document(&a, &numbered(100)).unwrap();
    let ten: String = (0..10).map(|i| format!("new {i}\n")).collect();
    h.change_document(&a, &[insert_at(3, &ten)]).unwrap();
    // The editor saves; the server dies before storing the move (no idle, no close).
    let saved = format!(
        "line 0\nline 1\nline 2\n{ten}{}",
        numbered(100)
            .split_once("line 3\n")
            .map(|(_, rest)| format!("line 3\n{rest}"))
            .unwrap()
    );
    std::fs::write(&path, &saved).unwrap();
    drop(h);
    // The database holds the old line with the old hashes: consistent.
    assert_eq!(stored_line(&db, 1), (50, false));
    // Restarted: the editor opens the file again, and the diff brings the node to its line.
    let mut h = f.open("s");
    assert_eq!(h.open_document(&a, &saved).unwrap(), 1);
    assert_eq!(
        place(&mut h, 1),
        (60, Anchor::Exact, Some("line 50".into()))
    );
    // The same after a crash with the file closed: the watcher's next event, or the restart
    // without the editor, re-anchors from the stored state too.
    h.change_document(&a, &[insert_at(0, "top\n")]).unwrap();
    std::fs::write(&path, format!("top\n{saved}")).unwrap();
    drop(h);
    let mut h = f.open("s");
    assert_eq!(h.follow_contents(&[FsChange::Modified(path)]).unwrap(), 1);
    assert_eq!(
        place(&mut h, 1),
        (61, Anchor::Exact, Some("line 50".into()))
    );
}

#[test]
fn overlapping_changes_in_one_did_change_apply_in_order() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(20));
    let mut h = f.open("s");
    h.visit(&a, 2, 0, Reason::Jump, Precision::Line, 1).unwrap();
    h.visit(&a, 10, 0, Reason::Jump, Precision::Line, 2)
        .unwrap();
    h.open_document(&a, &numbered(20)).unwrap();
    let changes = [
        // Three lines inserted above line 2: `line 2` is now line 5, `line 10` line 13.
        insert_at(2, "a\nb\nc\n"),
        // Lines 1..4 of that (`line 1`, `a`, `b`) deleted: overlapping the insertion.
        TextEdit {
            range: Some((at(1, 0), at(4, 0))),
            text: String::new(),
        },
        // From inside line 1 (`c`, past its end: clamped) to inside line 2 (`line 2`).
        TextEdit {
            range: Some((at(1, 2), at(2, 3))),
            text: "X".into(),
        },
    ];
    h.change_document(&a, &changes).unwrap();
    assert_eq!(h.document_line(&a, 1), Some("cXe 2"));
    // `line 2` was edited, its end kept: it is that line, exact; `line 10` moved up by one.
    assert_eq!(place(&mut h, 1), (1, Anchor::Exact, Some("cXe 2".into())));
    assert_eq!(place(&mut h, 2), (9, Anchor::Exact, Some("line 10".into())));
    // The same changes sent backwards (a range given end first) are read forwards.
    let back = TextEdit {
        range: Some((at(9, 0), at(8, 0))),
        text: String::new(),
    };
    h.change_document(&a, &[back]).unwrap();
    assert_eq!(place(&mut h, 2), (8, Anchor::Exact, Some("line 10".into())));
}

#[test]
fn a_file_over_the_limit_is_not_followed_and_its_places_say_so() {
    let f = Fixture::new();
    // 50 MB: about 1.2 million lines.
    let line = "    let value = compute(index, \"some text\");\n";
    let big: String = line.repeat(50_000_000 / line.len());
    let (path, a) = f.write("big.rs", &big);
    let (_, b) = f.write("b.rs", &numbered(10));
    let mut h = f.open("s");
    let db = h.database().to_owned();
    h.visit(&a, 600_000, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    h.visit(&b, 5, 0, Reason::Jump, Precision::Line, 2).unwrap();
    // Not read to follow: no anchoring data stored for it.
    assert_eq!(rows(&db), 1);
    // Opened in the editor: its lines are not kept; typing in a line changes nothing, the
    // first change of lines marks its places approximate; nothing moves elsewhere.
    assert_eq!(h.open_document(&a, &big).unwrap(), 0);
    let typed = TextEdit {
        range: Some((at(3, 0), at(3, 0))),
        text: "x".into(),
    };
    assert_eq!(h.change_document(&a, &[typed]).unwrap(), 0);
    assert_eq!(place(&mut h, 1).1, Anchor::Exact);
    assert_eq!(h.change_document(&a, &[insert_at(0, "x\n")]).unwrap(), 1);
    assert_eq!(place(&mut h, 1).0, 600_000);
    assert_eq!(place(&mut h, 1).1, Anchor::Approximate);
    assert_eq!(place(&mut h, 2), (5, Anchor::Exact, Some("line 5".into())));
    h.close_document(&a).unwrap();
    // Changed outside while closed: not read (over 8 MiB), its place keeps its line.
    std::fs::write(&path, format!("x\n{big}")).unwrap();
    h.follow_contents(&[FsChange::Modified(path)]).unwrap();
    assert_eq!(place(&mut h, 1).0, 600_000);
    assert_eq!(place(&mut h, 1).1, Anchor::Approximate);
    // A visit there makes it exact again.
    h.back(3).unwrap();
    h.visit(&a, 600_001, 0, Reason::Jump, Precision::Line, 4)
        .unwrap();
    assert_eq!(place(&mut h, 1).1, Anchor::Exact);
}

#[test]
fn a_change_without_did_open_is_reported_once_per_document() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(10));
    let mut h = f.open("s");
    h.visit(&a, 5, 0, Reason::Jump, Precision::Line, 1).unwrap();
    let edit = insert_at(0, "x\n");
    assert!(h.change_document(&a, std::slice::from_ref(&edit)).is_err());
    assert_eq!(
        h.change_document(&a, std::slice::from_ref(&edit)).unwrap(),
        0
    );
    assert_eq!(place(&mut h, 1).0, 5);
}

#[test]
fn two_editors_the_open_buffer_wins_over_a_rewrite_on_disk() {
    let f = Fixture::new();
    let (path, a) = f.write("a.rs", &numbered(20));
    let mut editing = f.open("s1");
    let mut other = f.open("s2");
    let db = editing.database().to_owned();
    editing
        .visit(&a, 10, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    // The first editor inserts 3 lines on top and does not save; the moves are stored.
    editing.open_document(&a, &numbered(20)).unwrap();
    editing
        .change_document(&a, &[insert_at(0, "u0\nu1\nu2\n")])
        .unwrap();
    editing.idle().unwrap();
    assert_eq!(stored_line(&db, 1), (13, false));
    // The file is rewritten on disk (5 other lines on top): the second server, without the
    // file open, re-anchors to the disk from the stored state (the first editor's buffer).
    let disk = format!("d0\nd1\nd2\nd3\nd4\n{}", numbered(20));
    std::fs::write(&path, &disk).unwrap();
    assert_eq!(
        other
            .follow_contents(&[FsChange::Modified(path.clone())])
            .unwrap(),
        1
    );
    assert_eq!(stored_line(&db, 1), (15, false));
    // The first server's watcher leaves a file open in its editor alone; at its next write
    // (here: idle) it re-anchors the file from the stored state to its buffer, which is
    // what its user sees.
    assert_eq!(
        editing
            .follow_contents(&[FsChange::Modified(path.clone())])
            .unwrap(),
        0
    );
    editing.idle().unwrap();
    assert_eq!(stored_line(&db, 1), (13, false));
    assert_eq!(
        place(&mut editing, 1),
        (13, Anchor::Exact, Some("line 10".into()))
    );
    // The editor reloads the file from disk (a full-text change): the node follows the disk.
    let reload = TextEdit {
        range: None,
        text: disk.clone(),
    };
    assert_eq!(editing.change_document(&a, &[reload]).unwrap(), 1);
    editing.close_document(&a).unwrap();
    assert_eq!(stored_line(&db, 1), (15, false));
    assert_eq!(
        place(&mut other, 1),
        (15, Anchor::Exact, Some("line 10".into()))
    );
}

#[test]
fn a_document_closed_without_saving_follows_the_disk_again() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(20));
    let mut h = f.open("s");
    h.visit(&a, 10, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    h.open_document(&a, &numbered(20)).unwrap();
    h.change_document(&a, &[insert_at(0, "x\ny\n")]).unwrap();
    assert_eq!(place(&mut h, 1).0, 12);
    // `:bd!`: the changes are thrown away; the disk never had them.
    assert_eq!(h.close_document(&a).unwrap(), 1);
    assert_eq!(
        place(&mut h, 1),
        (10, Anchor::Exact, Some("line 10".into()))
    );
}

#[test]
fn a_document_opened_again_follows_from_the_text_it_had() {
    let f = Fixture::new();
    let (_, a) = f.write("a.rs", &numbered(20));
    let mut h = f.open("s");
    h.visit(&a, 10, 0, Reason::Jump, Precision::Line, 1)
        .unwrap();
    h.open_document(&a, &numbered(20)).unwrap();
    h.change_document(&a, &[insert_at(0, "x\ny\n")]).unwrap();
    // A second didOpen with other text (no didClose between): the held move is stored
    // with the text it was made in, then the new text is diffed from that.
    let again = format!("t0\nt1\nt2\nt3\nt4\n{}", numbered(20));
    assert_eq!(h.open_document(&a, &again).unwrap(), 1);
    assert_eq!(
        place(&mut h, 1),
        (15, Anchor::Exact, Some("line 10".into()))
    );
}
