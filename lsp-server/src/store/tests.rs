use std::sync::Arc;

use super::schema::MIGRATIONS;
use super::*;
use crate::render::tree_text;
use crate::tree::{Place, Precision, Reason};
use crate::workspace::{Workspace, uri_for_path};

fn place(i: u32) -> Place {
    Place {
        uri: uri_for_path(Path::new(&format!("/ws/f{}.rs", i % 7))),
        line: i * 10,
        character: 0,
    }
}

/// Two stores on one new database file, as two server processes would have.
fn two_stores(dir: &Path) -> (Store, Store, Workspace) {
    let db = dir.join("h.sqlite3");
    let ws = Workspace::new("/ws");
    let a = Store::open(&db, ws.root()).unwrap();
    let b = Store::open(&db, ws.root()).unwrap();
    (a, b, ws)
}

fn session(store: &mut Store, id: &str) -> SessionId {
    let info = SessionInfo {
        id: Arc::from(id),
        pid: std::process::id(),
        host: "test".into(),
        client: "test".into(),
        started_ms: 0,
    };
    store.add_session(&info, 0).unwrap();
    info.id
}

#[test]
fn a_second_store_on_the_same_file_follows_visits_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, ws) = two_stores(dir.path());
    let sa = session(&mut a, "a");
    let sb = session(&mut b, "b");
    let mut ta = a.load(20).unwrap();
    let mut tb = b.load(20).unwrap();
    for i in 0..60 {
        a.write(&mut ta, |t| {
            t.visit(&sa, &place(i), Reason::Jump, Precision::Line, i64::from(i))
        })
        .unwrap();
        if i % 9 == 0 {
            // B moves too, so its cursor pins a node that A must not prune.
            b.write(&mut tb, |t| t.back(&sb, 1000 + i64::from(i)))
                .unwrap();
        }
    }
    assert!(ta.len() <= 20, "{} nodes", ta.len());
    b.refresh(&mut tb).unwrap();
    tb.check().unwrap();
    assert_eq!(tree_text(&tb, None, &ws), tree_text(&ta, None, &ws));
    assert_eq!(tb.cursor("a"), ta.cursor("a"));
    assert!(
        ta.node(tb.cursor("b").unwrap()).is_some(),
        "b's cursor node survived"
    );
    // And a fresh load agrees with both.
    let fresh = Store::open(&dir.path().join("h.sqlite3"), ws.root())
        .unwrap()
        .load(20)
        .unwrap();
    assert_eq!(tree_text(&fresh, None, &ws), tree_text(&ta, None, &ws));
}

#[test]
fn a_reader_behind_the_forgotten_removals_reloads_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, ws) = two_stores(dir.path());
    let sa = session(&mut a, "a");
    let mut ta = a.load(10).unwrap();
    let mut tb = b.load(10).unwrap();
    a.write(&mut ta, |t| {
        t.visit(&sa, &place(0), Reason::Jump, Precision::Line, 0)
    })
    .unwrap();
    b.refresh(&mut tb).unwrap();
    for i in 1..40 {
        a.write(&mut ta, |t| {
            t.visit(&sa, &place(i), Reason::Jump, Precision::Line, i64::from(i))
        })
        .unwrap();
    }
    // Pretend the log of removals was trimmed past what b has seen.
    a.conn
        .execute("UPDATE revision SET removed_floor = rev", [])
        .unwrap();
    a.conn.execute("DELETE FROM removed", []).unwrap();
    b.refresh(&mut tb).unwrap();
    tb.check().unwrap();
    assert_eq!(tree_text(&tb, None, &ws), tree_text(&ta, None, &ws));
}

#[test]
fn ids_are_never_reused_after_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite3");
    let ws = Workspace::new("/ws");
    let mut a = Store::open(&db, ws.root()).unwrap();
    let sa = session(&mut a, "a");
    let mut ta = a.load(5).unwrap();
    let mut max_seen = 0;
    for i in 0..30 {
        let out = a
            .write(&mut ta, |t| {
                t.visit(&sa, &place(i), Reason::Jump, Precision::Line, i64::from(i))
            })
            .unwrap();
        assert!(out.node().0 > max_seen);
        max_seen = out.node().0;
        // Reopening loads the next id from the database, not from the surviving nodes.
        if i % 10 == 9 {
            a = Store::open(&db, ws.root()).unwrap();
            ta = a.load(5).unwrap();
        }
    }
}

#[test]
fn database_paths_are_per_workspace_and_readable() {
    let a = database_path(Path::new("/data"), Path::new("/home/me/my project"));
    let b = database_path(Path::new("/data"), Path::new("/home/you/my project"));
    assert_ne!(a, b);
    let name = a.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("my_project-") && name.ends_with(".sqlite3"),
        "{name}"
    );
    assert!(a.starts_with("/data/history"));
}

#[test]
fn a_read_only_store_reads_an_older_schema_without_migrating_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.sqlite3");
    {
        let mut conn = Connection::open(&db).unwrap();
        MIGRATIONS.to_version(&mut conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO meta VALUES ('workspace_root', '/ws');
             INSERT INTO sessions VALUES ('s', NULL, 1, 'elsewhere', 'Neovim 0.7', 5);",
        )
        .unwrap();
    }
    let store = Store::open_read_only(&db).unwrap();
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].endpoint, Endpoint::default());
    assert_eq!(
        sessions[0].active_ms, 5,
        "an older row is active since its start"
    );
    drop(store);
    let conn = Connection::open(&db).unwrap();
    assert_eq!(schema_version(&conn).unwrap(), 1, "not migrated");
}

#[test]
fn stores_opening_a_new_database_at_once_all_get_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    for trial in 0..40 {
        let db = dir.path().join(format!("h{trial}.sqlite3"));
        let start = Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (db, start) = (db.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(&db, Path::new("/ws")).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            let opened = opener.join().unwrap();
            assert!(opened.is_ok(), "trial {trial}: {}", opened.unwrap_err());
        }
        let conn = Connection::open(&db).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }
}
