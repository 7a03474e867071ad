use std::sync::Arc;

use super::*;
use crate::history::{History, Options};
use crate::store::{Endpoint, SessionInfo, database_path};
use crate::tree::{Precision, Reason};
use crate::workspace::uri_for_path;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    for name in ["a", "b", "c", "d"] {
        let text: String = (0..50).map(|i| format!("{name} line {i}\n")).collect();
        std::fs::write(root.join(format!("src/{name}.rs")), text).unwrap();
    }
    let db = database_path(&dir.path().join("data"), &root);
    Fixture {
        _dir: dir,
        root,
        db,
    }
}

fn writer(f: &Fixture, id: &str, editor: &str, limit: usize) -> History {
    let info = SessionInfo {
        id: Arc::from(id),
        pid: std::process::id(),
        host: crate::store::this_host(),
        client: format!("{editor} 1.0"),
        started_ms: 0,
    };
    let endpoint = Endpoint {
        editor: editor.into(),
        socket: Some(PathBuf::from(format!("/run/test/{id}.sock"))),
    };
    let options = Options {
        limit,
        ..Options::default()
    };
    History::open_quarantining(&f.db, Workspace::new(&f.root), &info, &endpoint, options, 0)
        .unwrap()
        .history
}

fn visit(h: &mut History, f: &Fixture, file: &str, line: u32, at: i64) -> NodeId {
    let uri = uri_for_path(&f.root.join(file));
    let out = h
        .visit(&uri, line, 0, Reason::Definition, Precision::Line, at)
        .unwrap();
    out.node.unwrap().id
}

fn ids(rows: &[NodeRow]) -> Vec<i64> {
    rows.iter().map(|r| r.node.id.0).collect()
}

#[test]
fn refresh_reports_what_another_connection_committed() {
    let f = fixture();
    let mut h = writer(&f, "nvim", "Neovim", 100);
    let a = visit(&mut h, &f, "src/a.rs", 9, 1);
    let mut r = Reader::open(&f.db).unwrap();
    let rows = r.rows();
    assert_eq!(ids(&rows), vec![a.0]);
    assert_eq!(rows[0].text.as_deref(), Some("a line 9"));
    assert_eq!(rows[0].line_number, 10);
    assert_eq!(rows[0].node.path, "src/a.rs");
    assert_eq!(rows[0].cursors[0].editor, "Neovim");
    assert!(r.refresh().unwrap().is_empty(), "nothing committed yet");

    // A visit: the new row, and its parent (one child more, the cursor gone from it).
    let b = visit(&mut h, &f, "src/b.rs", 19, 2);
    let d = r.refresh().unwrap();
    assert_eq!(ids(&d.added), vec![b.0]);
    assert_eq!(d.added[0].text.as_deref(), Some("b line 19"));
    assert_eq!(d.added[0].cursors.len(), 1);
    assert_eq!(ids(&d.updated), vec![a.0]);
    assert_eq!(d.updated[0].node.children, vec![b]);
    assert!(d.updated[0].cursors.is_empty());
    assert!(d.removed.is_empty() && !d.reloaded);
    let sessions = d.sessions.expect("the session moved and was active");
    assert_eq!(sessions[0].node, Some(b));
    assert_eq!(sessions[0].active_ms, 2);
    assert_eq!(
        sessions[0].socket.as_deref(),
        Some(Path::new("/run/test/nvim.sock"))
    );

    // A second editor: its session appears, with its cursor on the newest node.
    let h2 = writer(&f, "code", "Visual Studio Code", 100);
    let d = r.refresh().unwrap();
    assert!(d.added.is_empty());
    assert_eq!(ids(&d.updated), vec![b.0]);
    let marks: Vec<&str> = d.updated[0]
        .cursors
        .iter()
        .map(|c| c.editor.as_str())
        .collect();
    assert_eq!(marks.len(), 2, "{marks:?}");
    assert!(marks.contains(&"Visual Studio Code") && marks.contains(&"Neovim"));

    // Back: only the cursor moves.
    h.back(3).unwrap();
    let d = r.refresh().unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty());
    assert_eq!(ids(&d.updated), vec![a.0, b.0]);

    // The second editor ends: its session goes.
    h2.close().unwrap();
    let d = r.refresh().unwrap();
    assert_eq!(d.sessions.map(|s| s.len()), Some(1));
    assert_eq!(ids(&d.updated), vec![b.0]);
}

#[test]
fn pruned_nodes_are_removed_and_their_neighbours_updated() {
    let f = fixture();
    let mut h = writer(&f, "nvim", "Neovim", 3);
    let first = visit(&mut h, &f, "src/a.rs", 0, 1);
    let second = visit(&mut h, &f, "src/b.rs", 0, 2);
    visit(&mut h, &f, "src/c.rs", 0, 3);
    let mut r = Reader::open(&f.db).unwrap();
    r.rows();
    let newest = visit(&mut h, &f, "src/d.rs", 0, 4);
    let d = r.refresh().unwrap();
    assert_eq!(ids(&d.added), vec![newest.0]);
    assert_eq!(d.removed, vec![first], "the oldest end of the chain goes");
    assert_eq!(d.root, Some(second));
    let second_row = d.updated.iter().find(|r| r.node.id == second).unwrap();
    assert_eq!(second_row.node.parent, None, "the next node took its place");
    // The reader's tree is the writer's.
    assert_eq!(
        crate::render::tree_text(r.tree(), None, r.workspace()),
        crate::render::tree_text(h.tree(), None, h.workspace())
    );
}

#[test]
fn a_renamed_file_updates_its_rows() {
    let f = fixture();
    let mut h = writer(&f, "nvim", "Neovim", 100);
    let a = visit(&mut h, &f, "src/a.rs", 3, 1);
    visit(&mut h, &f, "src/b.rs", 3, 2);
    let mut r = Reader::open(&f.db).unwrap();
    std::fs::rename(f.root.join("src/a.rs"), f.root.join("src/z.rs")).unwrap();
    h.apply_fs(&[crate::history::FsChange::Renamed {
        from: f.root.join("src/a.rs"),
        to: f.root.join("src/z.rs"),
    }])
    .unwrap();
    let d = r.refresh().unwrap();
    assert_eq!(ids(&d.updated), vec![a.0]);
    assert_eq!(d.updated[0].node.path, "src/z.rs");
    assert_eq!(d.updated[0].text.as_deref(), Some("a line 3"));
}

#[test]
fn wait_for_change_sleeps_until_another_thread_commits() {
    let f = fixture();
    let mut h = writer(&f, "nvim", "Neovim", 100);
    visit(&mut h, &f, "src/a.rs", 0, 1);
    let mut r = Reader::open(&f.db).unwrap();
    let started = Instant::now();
    assert_eq!(r.wait_for_change(Duration::from_millis(300)).unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let db = f.db.clone();
    let root = f.root.clone();
    let writer_thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let uri = uri_for_path(&root.join("src/c.rs"));
        h.visit(&uri, 7, 0, Reason::Definition, Precision::Line, 5)
            .unwrap();
        drop(db);
        h
    });
    let started = Instant::now();
    let d = r
        .wait_for_change(Duration::from_secs(10))
        .unwrap()
        .expect("woken by the commit");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.added[0].text.as_deref(), Some("c line 7"));
    writer_thread.join().unwrap();
}

#[test]
fn sessions_of_dead_processes_are_not_shown() {
    let f = fixture();
    let mut h = writer(&f, "nvim", "Neovim", 100);
    visit(&mut h, &f, "src/a.rs", 0, 1);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut store = Store::open(&f.db, &f.root).unwrap();
    let ghost = SessionInfo {
        id: Arc::from("ghost"),
        pid: dead_pid,
        host: crate::store::this_host(),
        client: "ghost".into(),
        started_ms: 0,
    };
    // Registered directly: a writer's own registration would clean it up at once.
    store
        .register_session(&ghost, &Endpoint::default(), 0)
        .unwrap();
    let r = Reader::open(&f.db).unwrap();
    let names: Vec<&str> = r.sessions().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(names, vec!["nvim"]);
}

#[test]
fn a_damaged_or_newer_database_is_an_error_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.sqlite3");
    std::fs::write(&bad, b"this is not a database at all, not even close.....").unwrap();
    let err = Reader::open(&bad).err().unwrap();
    assert!(err.is_corrupt(), "{err}");
    assert!(err.to_string().contains(&bad.display().to_string()));
    assert_eq!(
        std::fs::read(&bad).unwrap(),
        b"this is not a database at all, not even close....."
    );
    let missing = Reader::open(&dir.path().join("none.sqlite3"))
        .err()
        .unwrap();
    assert!(matches!(missing, StoreError::Missing { .. }), "{missing}");
    assert!(
        missing
            .to_string()
            .contains("open the workspace in an editor")
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("bad.sqlite3")]);
}

#[test]
fn a_reader_opened_while_no_writer_runs_creates_nothing_and_follows_the_next_writer() {
    let f = fixture();
    let mut h = writer(&f, "nvim", "Neovim", 100);
    let a = visit(&mut h, &f, "src/a.rs", 1, 1);
    h.close().unwrap();
    let dir = f.db.parent().unwrap().to_owned();
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let alone = files();
    assert_eq!(alone.len(), 1, "{alone:?}");
    let mut r = Reader::open(&f.db).unwrap();
    assert_eq!(ids(&r.rows()), vec![a.0]);
    assert!(r.refresh().unwrap().is_empty());
    assert_eq!(
        files(),
        alone,
        "reading created nothing beside the database"
    );

    // An editor starts: the reader goes on from what it read, without reloading.
    let mut h = writer(&f, "nvim2", "Neovim", 100);
    let b = visit(&mut h, &f, "src/b.rs", 2, 2);
    let d = r.refresh().unwrap();
    assert!(!d.reloaded);
    assert_eq!(ids(&d.added), vec![b.0]);
    assert_eq!(ids(&d.updated), vec![a.0]);
    drop(r);
    h.close().unwrap();
    assert_eq!(files(), alone, "nothing left behind");
}

#[test]
fn a_reader_and_a_control_client_can_live_on_a_plain_thread() {
    fn send<T: Send>() {}
    send::<Reader>();
    send::<crate::control::Client>();
    send::<TreeDelta>();
}
