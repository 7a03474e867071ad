//! SQLite persistence of one workspace's tree, and sync between processes sharing it.
//!
//! One database file per workspace root (see [`database_path`]). Every write is one
//! `BEGIN IMMEDIATE` transaction: sync the in-memory tree with what other processes wrote,
//! apply the operation, write its [`Change`]s, commit. In WAL mode a deferred transaction
//! that reads and then writes fails with SQLITE_BUSY at once, ignoring the busy timeout;
//! taking the write lock first makes concurrent writers wait their turn instead.
//!
//! Sync is incremental: every committed write bumps a revision number, and every row
//! written carries the revision that wrote it. A process that saw revision `r` reads only
//! rows with `rev > r`, plus the ids of nodes pruned since. `PRAGMA data_version` tells,
//! without reading any table, whether anyone else committed at all.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, params};
use rusqlite_migration::{M, Migrations};
use sha2::{Digest, Sha256};

use crate::tree::{Change, File, FileId, NodeId, NodeRecord, Reason, SessionId, Tree};

/// Schema versions, oldest first. Never edit a released entry: add a new one.
static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![M::up(
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
    )])
});

/// The schema version this build writes: the number of entries in [`MIGRATIONS`].
const SCHEMA_VERSION: usize = 1;

/// Ids of pruned nodes kept for other processes to catch up with; past this many, the
/// oldest are forgotten and a reader that far behind reloads everything.
const REMOVED_KEEP: i64 = 100_000;
/// Arrival events older than this are dropped when a database is opened.
const EVENTS_KEEP_MS: i64 = 400 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the history database {path} is damaged ({detail}); move it aside (`mv {path} {path}.bad`) and retrace starts a new history"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the history database {path} was written by a newer retrace-lsp (schema {found}, this one knows up to {known}); upgrade retrace-lsp"
    )]
    Newer {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error(
        "no space left on the disk of {path}: nothing was recorded for this step; free some space and go on"
    )]
    DiskFull { path: PathBuf },
    #[error(
        "the history database {path} stayed locked by another process for {}s; try again",
        BUSY_TIMEOUT.as_secs()
    )]
    Busy { path: PathBuf },
    #[error("cannot use the history database {path}: {detail}")]
    Other { path: PathBuf, detail: String },
}

impl StoreError {
    fn from_sqlite(path: &Path, err: rusqlite::Error) -> StoreError {
        let path = path.to_owned();
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: err.to_string(),
            },
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
            _ => StoreError::Other {
                path,
                detail: err.to_string(),
            },
        }
    }

    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL size (pages) at which a commit checkpoints by itself.
const WAL_BACKSTOP_PAGES: i64 = 20_000;

/// Where retrace keeps its data: `$XDG_DATA_HOME/retrace` (by default
/// `~/.local/share/retrace`).
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "retrace").map(|d| d.data_dir().to_owned())
}

/// The database of one workspace: `<data dir>/history/<name>-<hash of the root path>.sqlite3`.
pub fn database_path(data_dir: &Path, workspace_root: &Path) -> PathBuf {
    let digest = Sha256::digest(workspace_root.as_os_str().as_encoded_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name: String = workspace_root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_owned())
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir
        .join("history")
        .join(format!("{name}-{hash}.sqlite3"))
}

/// A session row: whose cursor it is.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub id: SessionId,
    pub pid: u32,
    pub host: String,
    pub client: String,
    pub started_ms: i64,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The revision the in-memory tree reflects.
    rev: i64,
    /// `PRAGMA data_version` when last synced: unchanged means nobody else committed.
    data_version: i64,
}

impl Store {
    /// Opens (creating if needed) a workspace database and brings its schema up to date.
    pub fn open(path: &Path, workspace_root: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Other {
                path: path.to_owned(),
                detail: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let sqlite = |e| StoreError::from_sqlite(path, e);
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Before changing anything (even the journal mode): a newer schema is not ours to touch.
        let found = schema_version(&conn).map_err(sqlite)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: path.to_owned(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        // WAL: readers never block the writer. synchronous=NORMAL: a commit survives the
        // process being killed (kill -9); only a power cut can lose the last commits.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        // Checkpoints (copying the WAL back, with fsyncs) run when the server is idle, see
        // `checkpoint`; this is only the backstop for a server that is never idle.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)
            .map_err(sqlite)?;
        MIGRATIONS.to_latest(&mut conn).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => {
                StoreError::from_sqlite(path, err)
            }
            other => StoreError::Other {
                path: path.to_owned(),
                detail: other.to_string(),
            },
        })?;
        let root = workspace_root.display().to_string();
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('workspace_root', ?1)",
            [&root],
        )
        .map_err(sqlite)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
            rev: -1,
            data_version: -1,
        })
    }

    /// Opens an existing database without creating or changing anything (for reports).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Other {
                path: path.to_owned(),
                detail: "no such file: no history was recorded for this workspace yet".into(),
            });
        }
        let sqlite = |e| StoreError::from_sqlite(path, e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        let known = SCHEMA_VERSION;
        let found = schema_version(&conn).map_err(sqlite)?;
        if found > known {
            return Err(StoreError::Newer {
                path: path.to_owned(),
                found,
                known,
            });
        }
        if found < known {
            return Err(StoreError::Other {
                path: path.to_owned(),
                detail: format!(
                    "schema {found} is older than {known}; open the workspace in an editor once so retrace-lsp upgrades it"
                ),
            });
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
            rev: -1,
            data_version: -1,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, e)
    }

    /// Loads the whole tree, with every session's cursor.
    pub fn load(&mut self, limit: usize) -> Result<Tree, StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        let mut tree = Tree::new(limit);
        let (rev, dv) =
            load_all(&tx, &mut tree).map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        tree.check().map_err(|detail| StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        })?;
        self.rev = rev;
        self.data_version = dv;
        Ok(tree)
    }

    /// Brings `tree` up to date with what other processes committed (read only).
    pub fn refresh(&mut self, tree: &mut Tree) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        let synced = sync(&tx, tree, self.rev, self.data_version);
        let (rev, dv) = synced.map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        self.rev = rev;
        self.data_version = dv;
        Ok(())
    }

    /// Runs one operation on `tree` as one write transaction: sync, `op`, persist, commit.
    /// If persisting fails, the tree is reloaded from the database, so memory never runs
    /// ahead of disk; the error says what was not recorded.
    pub fn write<T>(
        &mut self,
        tree: &mut Tree,
        op: impl FnOnce(&mut Tree) -> T,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let tx =
            rusqlite::Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(sqlite)?;
        let (rev, dv) = sync(&tx, tree, self.rev, self.data_version).map_err(sqlite)?;
        self.rev = rev;
        self.data_version = dv;
        tree.take_changes(); // nothing from before this operation is pending
        let out = op(tree);
        let changes = tree.take_changes();
        if changes.is_empty() {
            tx.commit().map_err(sqlite)?;
            return Ok(out);
        }
        let new_rev = rev + 1;
        let result = persist(&tx, tree, &changes, new_rev).and_then(|()| tx.commit());
        match result {
            Ok(()) => {
                self.rev = new_rev;
                Ok(out)
            }
            Err(e) => {
                let err = StoreError::from_sqlite(&self.path, e);
                tracing::error!("{err}; reloading the history from disk");
                *tree = self.load(tree.limit())?;
                Err(err)
            }
        }
    }

    /// Copies committed pages from the WAL into the database, without waiting for
    /// readers. Called when the server is idle, so commits stay fast.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    /// Registers a session and forgets sessions of processes on this host that are gone.
    pub fn add_session(&mut self, info: &SessionInfo, now_ms: i64) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let tx =
            rusqlite::Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(sqlite)?;
        let stale: Vec<(String, u32)> = {
            let mut stmt = tx
                .prepare("SELECT id, pid FROM sessions WHERE host = ?1")
                .map_err(sqlite)?;
            stmt.query_map([&info.host], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sqlite)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite)?
        };
        for (id, pid) in stale {
            if !process_alive(pid) {
                tx.execute("DELETE FROM sessions WHERE id = ?1", [&id])
                    .map_err(sqlite)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO sessions (id, node, pid, host, client, started_ms)
             VALUES (?1, NULL, ?2, ?3, ?4, ?5)",
            params![&*info.id, info.pid, info.host, info.client, info.started_ms],
        )
        .map_err(sqlite)?;
        tx.execute(
            "DELETE FROM events WHERE at_ms < ?1",
            [now_ms - EVENTS_KEEP_MS],
        )
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        // Other processes see the session table anew at their next sync.
        Ok(())
    }

    pub fn remove_session(&mut self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pid, host, client, started_ms FROM sessions ORDER BY started_ms")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            Ok(SessionInfo {
                id: Arc::from(r.get::<_, String>(0)?),
                pid: r.get(1)?,
                host: r.get(2)?,
                client: r.get(3)?,
                started_ms: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    pub fn workspace_root(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'workspace_root'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Arrival events in `[from_ms, to_ms)`, oldest first.
    pub fn events(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at_ms, session, kind, node, uri, line FROM events
                 WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms, id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([from_ms, to_ms], |r| {
            Ok(Event {
                at_ms: r.get(0)?,
                session: r.get(1)?,
                kind: r.get(2)?,
                node: NodeId(r.get(3)?),
                uri: r.get(4)?,
                line: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }
}

/// One arrival at a node, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at_ms: i64,
    pub session: String,
    pub kind: String,
    pub node: NodeId,
    pub uri: String,
    pub line: u32,
}

fn schema_version(conn: &Connection) -> rusqlite::Result<usize> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn data_version(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.pragma_query_value(None, "data_version", |r| r.get(0))
}

fn revision(tx: &Transaction) -> rusqlite::Result<(i64, i64, i64, i64)> {
    tx.query_row(
        "SELECT rev, next_node, next_file, removed_floor FROM revision WHERE id = 0",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

fn load_all(tx: &Transaction, tree: &mut Tree) -> rusqlite::Result<(i64, i64)> {
    let (rev, next_node, next_file, _) = revision(tx)?;
    let count: i64 = tx.query_row("SELECT count(*) FROM nodes", [], |r| r.get(0))?;
    tree.reserve(usize::try_from(count).unwrap_or(0));
    load_files(tx, tree, -1)?;
    load_nodes(tx, tree, -1)?;
    load_cursors(tx, tree)?;
    tree.reserve_ids(next_node, next_file);
    Ok((rev, data_version(tx)?))
}

/// Applies what others committed since `rev`; returns the new (rev, data_version).
fn sync(tx: &Transaction, tree: &mut Tree, rev: i64, dv: i64) -> rusqlite::Result<(i64, i64)> {
    let now_dv = data_version(tx)?;
    if now_dv == dv && rev >= 0 {
        return Ok((rev, dv));
    }
    let (db_rev, next_node, next_file, floor) = revision(tx)?;
    if rev < 0 || rev < floor {
        *tree = Tree::new(tree.limit());
        return load_all(tx, tree);
    }
    if db_rev != rev {
        load_files(tx, tree, rev)?;
        load_nodes(tx, tree, rev)?;
        let mut stmt = tx.prepare_cached("SELECT node FROM removed WHERE rev > ?1")?;
        let removed = stmt
            .query_map([rev], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for id in removed {
            tree.unload_node(NodeId(id));
        }
        tree.repair_root();
        tree.reserve_ids(next_node, next_file);
    }
    load_cursors(tx, tree)?;
    Ok((db_rev, now_dv))
}

fn load_files(tx: &Transaction, tree: &mut Tree, since: i64) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("SELECT id, uri, gone FROM files WHERE rev > ?1")?;
    let rows = stmt.query_map([since], |r| {
        Ok(File {
            id: FileId(r.get(0)?),
            uri: Arc::from(r.get::<_, String>(1)?),
            gone: r.get(2)?,
        })
    })?;
    for f in rows {
        tree.load_file(f?);
    }
    Ok(())
}

fn load_nodes(tx: &Transaction, tree: &mut Tree, since: i64) -> rusqlite::Result<()> {
    // Ascending ids: parents come before their children.
    let mut stmt = tx.prepare_cached(
        "SELECT id, parent, file, line, character, reason, created_ms, visited_ms, visits
         FROM nodes WHERE rev > ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([since], |r| {
        Ok(NodeRecord {
            id: NodeId(r.get(0)?),
            parent: r.get::<_, Option<i64>>(1)?.map(NodeId),
            file: FileId(r.get(2)?),
            line: r.get(3)?,
            character: r.get(4)?,
            reason: Reason::from_name(&r.get::<_, String>(5)?),
            created_ms: r.get(6)?,
            visited_ms: r.get(7)?,
            visits: r.get(8)?,
        })
    })?;
    for n in rows {
        tree.load_node(n?);
    }
    Ok(())
}

fn load_cursors(tx: &Transaction, tree: &mut Tree) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("SELECT id, node FROM sessions WHERE node IS NOT NULL")?;
    let cursors = stmt
        .query_map([], |r| {
            Ok((Arc::from(r.get::<_, String>(0)?), NodeId(r.get(1)?)))
        })?
        .collect::<rusqlite::Result<Vec<(SessionId, NodeId)>>>()?;
    tree.load_cursors(cursors);
    Ok(())
}

fn persist(tx: &Transaction, tree: &Tree, changes: &[Change], rev: i64) -> rusqlite::Result<()> {
    let mut node_stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO nodes
           (id, parent, file, line, character, reason, created_ms, visited_ms, visits, rev)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut file_stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO files (id, uri, gone, rev) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut removed_stmt = tx.prepare_cached("DELETE FROM nodes WHERE id = ?1")?;
    let mut removed_log =
        tx.prepare_cached("INSERT OR REPLACE INTO removed (node, rev) VALUES (?1, ?2)")?;
    let mut cursor_stmt = tx.prepare_cached("UPDATE sessions SET node = ?2 WHERE id = ?1")?;
    let mut event_stmt = tx.prepare_cached(
        "INSERT INTO events (at_ms, session, kind, node, uri, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut pruned = 0;
    for change in changes {
        match change {
            Change::Node(id) => {
                // Added and pruned in one operation: its removal follows.
                let Some(n) = tree.node(*id) else { continue };
                node_stmt.execute(params![
                    n.id.0,
                    n.parent.map(|p| p.0),
                    n.file.0,
                    n.line,
                    n.character,
                    n.reason.as_str(),
                    n.created_ms,
                    n.visited_ms,
                    n.visits,
                    rev
                ])?;
            }
            Change::File(id) => {
                let Some(f) = tree.file(*id) else { continue };
                file_stmt.execute(params![f.id.0, &*f.uri, f.gone, rev])?;
            }
            Change::NodeRemoved(id) => {
                removed_stmt.execute([id.0])?;
                removed_log.execute([id.0, rev])?;
                pruned += 1;
            }
            Change::Cursor(session) => {
                cursor_stmt.execute(params![&**session, tree.cursor(session).map(|n| n.0)])?;
            }
            Change::Arrived {
                session,
                node,
                how,
                at_ms,
            } => {
                let Some(n) = tree.node(*node) else { continue };
                event_stmt.execute(params![
                    at_ms,
                    &**session,
                    how.as_str(),
                    node.0,
                    tree.uri_of(n),
                    n.line
                ])?;
            }
        }
    }
    let (next_node, next_file) = tree.next_ids();
    tx.execute(
        "UPDATE revision SET rev = ?1, next_node = max(next_node, ?2), next_file = max(next_file, ?3)
         WHERE id = 0",
        params![rev, next_node, next_file],
    )?;
    if pruned > 0 {
        forget_old_removals(tx)?;
    }
    Ok(())
}

/// Keeps the pruned-ids log bounded; readers behind the floor reload in full.
fn forget_old_removals(tx: &Transaction) -> rusqlite::Result<()> {
    let count: i64 = tx.query_row("SELECT count(*) FROM removed", [], |r| r.get(0))?;
    if count <= REMOVED_KEEP {
        return Ok(());
    }
    let floor: i64 = tx.query_row(
        "SELECT rev FROM removed ORDER BY rev DESC LIMIT 1 OFFSET ?1",
        [REMOVED_KEEP / 2],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM removed WHERE rev <= ?1", [floor])?;
    tx.execute(
        "UPDATE revision SET removed_floor = ?1 WHERE id = 0",
        [floor],
    )?;
    Ok(())
}

/// Whether a process with this id runs on this host.
fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
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
}
