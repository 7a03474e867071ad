//! The schema: its migrations, and bringing a database up to date safely when several
//! processes create or open it at the same moment (the first-use race of every store).

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use rusqlite_migration::{M, Migrations};

use super::rows::schema_version;
use super::{BUSY_TIMEOUT, StoreError};

/// Schema versions, oldest first. Never edit a released entry: add a new one.
pub(super) static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
         -- One row: the last committed revision, and the next ids to hand out (ids are
         -- never reused, so a pruned id cannot come back as another node).
         CREATE TABLE revision (
             id INTEGER PRIMARY KEY CHECK (id = 0),
             rev INTEGER NOT NULL,
             next_node INTEGER NOT NULL,
             next_file INTEGER NOT NULL,
             -- Pruned ids older than this were forgotten; a reader behind it reloads.
             removed_floor INTEGER NOT NULL
         ) STRICT;
         INSERT INTO revision VALUES (0, 0, 1, 1, 0);
         CREATE TABLE files (
             id INTEGER PRIMARY KEY,
             uri TEXT NOT NULL UNIQUE,
             gone INTEGER NOT NULL,
             rev INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX files_rev ON files (rev);
         CREATE TABLE nodes (
             id INTEGER PRIMARY KEY,
             parent INTEGER,
             file INTEGER NOT NULL,
             line INTEGER NOT NULL,
             character INTEGER NOT NULL,
             reason TEXT NOT NULL,
             created_ms INTEGER NOT NULL,
             visited_ms INTEGER NOT NULL,
             visits INTEGER NOT NULL,
             rev INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX nodes_rev ON nodes (rev);
         CREATE TABLE removed (node INTEGER PRIMARY KEY, rev INTEGER NOT NULL) STRICT;
         CREATE INDEX removed_rev ON removed (rev);
         CREATE TABLE sessions (
             id TEXT PRIMARY KEY,
             node INTEGER,
             pid INTEGER NOT NULL,
             host TEXT NOT NULL,
             client TEXT NOT NULL,
             started_ms INTEGER NOT NULL
         ) STRICT;
         -- Every arrival at a node, for activity reports (the planner's actual time).
         CREATE TABLE events (
             id INTEGER PRIMARY KEY,
             at_ms INTEGER NOT NULL,
             session TEXT NOT NULL,
             kind TEXT NOT NULL,
             node INTEGER NOT NULL,
             uri TEXT NOT NULL,
             line INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX events_at ON events (at_ms);",
        ),
        // 2: what the desktop app needs to reach a session's editor: the editor's name,
        // the server's control socket, and when the session last moved.
        M::up(
            "ALTER TABLE sessions ADD COLUMN editor TEXT NOT NULL DEFAULT '';
             ALTER TABLE sessions ADD COLUMN socket TEXT;
             ALTER TABLE sessions ADD COLUMN active_ms INTEGER NOT NULL DEFAULT 0;",
        ),
        // 3: places follow the code. A node whose line was deleted is approximate; per file
        // that holds nodes, the hashes of its lines at the last known state (at first 4
        // bytes each; now a format byte and 2 bytes each, both read: see
        // `anchor::hashes_to_bytes`), to diff against what the file holds when it changes outside the
        // editor. Rows of files without nodes are deleted with their last node.
        M::up(
            "ALTER TABLE nodes ADD COLUMN approximate INTEGER NOT NULL DEFAULT 0;
             CREATE INDEX nodes_file ON nodes (file);
             CREATE TABLE file_lines (
                 file INTEGER PRIMARY KEY,
                 hashes BLOB NOT NULL
             ) STRICT;",
        ),
    ])
});

/// The schema version this build writes: the number of entries in [`MIGRATIONS`].
pub const SCHEMA_VERSION: usize = 3;
/// The oldest schema a read-only store can read (the columns it lacks read as defaults).
pub(super) const OLDEST_READABLE: usize = 1;

/// Switches the database to WAL. SQLite answers BUSY at once, without waiting for the busy
/// timeout, when another connection holds a lock at that moment (as when several processes
/// create the database together): so this waits and tries again, up to the busy timeout.
pub(super) fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(())) {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

/// Brings the schema up to date, safely when other processes open the same new database at
/// the same moment. The migration runs in an IMMEDIATE transaction (a second process waits
/// for the first one's commit, up to the busy timeout, instead of failing at once), but
/// `rusqlite_migration` reads the schema version before it takes the lock: so when a
/// migration fails, the version is read again. If another process brought it up to date
/// meanwhile, there is nothing left to do; if it got part of the way, the migration goes on
/// from there; if nobody moved it, the failure is real.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    let mut outcome = Ok(());
    for _ in 0..=SCHEMA_VERSION {
        let before = schema_version(conn).map_err(sqlite)?;
        outcome = MIGRATIONS.to_latest(conn);
        let Err(e) = &outcome else { break };
        let now = schema_version(conn).map_err(sqlite)?;
        if now >= SCHEMA_VERSION {
            tracing::debug!("another process brought the schema up to date first ({e})");
            outcome = Ok(());
            break;
        }
        if now == before {
            break;
        }
    }
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Deferred);
    outcome.map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => StoreError::from_sqlite(path, err),
        other => StoreError::Other {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    })
}
