//! SQLite persistence of one workspace's tree, and sync between processes sharing it.
//!
//! One database file per workspace root (see [`database_path`]). Every write is one
//! `BEGIN IMMEDIATE` transaction: sync the in-memory tree with what other processes wrote,
//! apply the operation, write its [`Change`](crate::tree::Change)s, commit. In WAL mode a deferred transaction
//! that reads and then writes fails with SQLITE_BUSY at once, ignoring the busy timeout;
//! taking the write lock first makes concurrent writers wait their turn instead.
//!
//! Sync is incremental: every committed write bumps a revision number, and every row
//! written carries the revision that wrote it. A process that saw revision `r` reads only
//! rows with `rev > r`, plus the ids of nodes pruned since. `PRAGMA data_version` tells,
//! without reading any table, whether anyone else committed at all.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::tree::{FileId, NodeId, SessionId, Tree};
use rows::{file_lines, load_all, persist, schema_version, set_file_lines, sync};
pub use schema::SCHEMA_VERSION;
use schema::{OLDEST_READABLE, migrate, use_wal};

mod rows;
mod schema;
#[cfg(test)]
mod tests;

/// The anchoring data of files, read and written inside one [`Store::write_with_lines`]
/// transaction. Writes apply after the operation's nodes are stored, and only to files that
/// then hold nodes.
pub struct FileLines<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
    /// `None`: the file's anchoring data is dropped.
    writes: Vec<(FileId, Option<Vec<u32>>)>,
    synced: Synced,
}

impl FileLines<'_> {
    /// What this transaction's sync brought in from other processes' commits, before the
    /// operation ran.
    pub fn synced(&self) -> &Synced {
        &self.synced
    }

    /// The hashes of the file's lines at its last known state, if stored.
    pub fn get(&self, file: FileId) -> Result<Option<Vec<u32>>, StoreError> {
        if let Some((_, h)) = self.writes.iter().rev().find(|(f, _)| *f == file) {
            return Ok(h.clone());
        }
        file_lines(self.tx, file).map_err(|e| StoreError::from_sqlite(self.path, e))
    }

    pub fn set(&mut self, file: FileId, hashes: Vec<u32>) {
        self.writes.push((file, Some(hashes)));
    }

    /// Drops the file's anchoring data (its content can no longer be followed).
    pub fn remove(&mut self, file: FileId) {
        self.writes.push((file, None));
    }
}

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
    #[error(
        "no history at {path} yet: open the workspace in an editor with the retrace plugin, and its visits are recorded there"
    )]
    Missing { path: PathBuf },
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

    /// The database file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            StoreError::Corrupt { path, .. }
            | StoreError::Newer { path, .. }
            | StoreError::DiskFull { path }
            | StoreError::Busy { path }
            | StoreError::Missing { path }
            | StoreError::Other { path, .. } => path,
        }
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

/// Every history database under `data_dir` (`<data dir>/history/*.sqlite3`); none when
/// there is no history directory yet.
pub fn history_files(data_dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let dir = data_dir.join("history");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StoreError::Other {
                path: dir,
                detail: format!("cannot list it: {e}"),
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite3"))
        .collect();
    files.sort();
    Ok(files)
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

impl SessionInfo {
    /// A session of this process on this host, named `host:pid:started_ms`.
    pub fn this_process(client: String, now_ms: i64) -> SessionInfo {
        let pid = std::process::id();
        let host = this_host();
        SessionInfo {
            id: Arc::from(format!("{host}:{pid}:{now_ms}")),
            pid,
            host,
            client,
            started_ms: now_ms,
        }
    }

    /// A session of this process with a chosen id and client name, started at time 0: for
    /// tests and tools that name their sessions themselves.
    pub fn named(id: &str, client: &str) -> SessionInfo {
        SessionInfo {
            id: Arc::from(id),
            pid: std::process::id(),
            host: this_host(),
            client: client.to_owned(),
            started_ms: 0,
        }
    }

    /// Whether the session's process still runs (as far as this host can tell: a session
    /// of another host counts as alive).
    pub fn is_alive(&self) -> bool {
        is_alive(&self.host, self.pid)
    }
}

/// Whether process `pid` of `host` still runs, as far as this host can tell: a process of
/// another host counts as alive.
pub fn is_alive(host: &str, pid: u32) -> bool {
    host != this_host() || process_alive(pid)
}

/// This machine's name, as sessions record it.
pub fn this_host() -> String {
    static HOST: LazyLock<String> = LazyLock::new(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into())
    });
    HOST.clone()
}

/// How the desktop app reaches a session's editor (schema 2; empty in older rows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The editor's name, as its `initialize` said (`clientInfo.name`, e.g. "Neovim").
    pub editor: String,
    /// The server's control socket, when it has one (see `control`).
    pub socket: Option<PathBuf>,
}

/// A session row as stored: who, where to reach it, where its cursor is, when it last moved.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub info: SessionInfo,
    pub endpoint: Endpoint,
    pub node: Option<NodeId>,
    /// The session's last arrival at a node (its start when it has not moved yet).
    pub active_ms: i64,
}

/// What a sync brought in from commits since the last one.
#[derive(Clone, Debug, Default)]
pub struct Synced {
    rev: i64,
    data_version: i64,
    /// The tree was loaded in full (the first sync, or too far behind the removals log):
    /// every node may have changed.
    pub reloaded: bool,
    /// Someone committed (`PRAGMA data_version` moved): cursors were re-read, and sessions
    /// may have come or gone.
    pub committed: bool,
    /// Nodes written since (added, or changed: moved, revisited, renamed...).
    pub nodes: Vec<NodeId>,
    /// Files written since (renamed, deleted, back again).
    pub files: Vec<FileId>,
    /// Nodes removed since (pruned) that the tree held.
    pub removed: Vec<NodeId>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The schema of the file (a read-only store may read an older one).
    schema: usize,
    /// A read-only store's connection to a database without a write-ahead log (no writer
    /// had it open) is `immutable`, so reading creates no `-wal` and `-shm` beside it: the
    /// file's size and modification time then, to notice a writer.
    immutable: Option<(u64, SystemTime)>,
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
        use_wal(&conn).map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        // Checkpoints (copying the WAL back, with fsyncs) run when the server is idle, see
        // `checkpoint`; this is only the backstop for a server that is never idle.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)
            .map_err(sqlite)?;
        migrate(&mut conn, path)?;
        let root = workspace_root.display().to_string();
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('workspace_root', ?1)",
            [&root],
        )
        .map_err(sqlite)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
            schema: SCHEMA_VERSION,
            immutable: None,
            rev: -1,
            data_version: -1,
        })
    }

    /// Opens an existing database without creating, migrating or changing anything (for
    /// readers: reports, the desktop app). An older schema is read as it is.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let sqlite = |e| StoreError::from_sqlite(path, e);
        let (conn, immutable) = open_reader(path).map_err(sqlite)?;
        let known = SCHEMA_VERSION;
        let found = schema_version(&conn).map_err(sqlite)?;
        if found > known {
            return Err(StoreError::Newer {
                path: path.to_owned(),
                found,
                known,
            });
        }
        if found < OLDEST_READABLE {
            return Err(StoreError::Other {
                path: path.to_owned(),
                detail: "it holds no retrace history (no schema); move it aside, and retrace starts a new history there".into(),
            });
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
            schema: found,
            immutable,
            rev: -1,
            data_version: -1,
        })
    }

    /// A read-only store opened while no writer had the database: once a writer came (its
    /// write-ahead log exists) or the file changed, read through a new connection, which
    /// goes on from the revision already read.
    fn reopen_if_written(&mut self) -> Result<(), StoreError> {
        let Some(stamp) = self.immutable else {
            return Ok(());
        };
        if !side_file(&self.path, "-wal").exists() && file_stamp(&self.path) == Some(stamp) {
            return Ok(());
        }
        let (conn, immutable) = open_reader(&self.path).map_err(|e| self.err(e))?;
        self.conn = conn;
        self.immutable = immutable;
        self.data_version = -1;
        Ok(())
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
        let loaded = load_all(&tx, &mut tree, self.schema)
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        tree.check().map_err(|detail| StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        })?;
        self.rev = loaded.rev;
        self.data_version = loaded.data_version;
        Ok(tree)
    }

    /// Brings `tree` up to date with what other processes committed (read only), and says
    /// what changed. Costs one `PRAGMA data_version` when nobody committed.
    pub fn refresh(&mut self, tree: &mut Tree) -> Result<Synced, StoreError> {
        self.reopen_if_written()?;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        let synced = sync(&tx, tree, self.rev, self.data_version, self.schema)
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| StoreError::from_sqlite(&self.path, e))?;
        if synced.reloaded {
            tree.check().map_err(|detail| StoreError::Corrupt {
                path: self.path.clone(),
                detail,
            })?;
        }
        self.rev = synced.rev;
        self.data_version = synced.data_version;
        Ok(synced)
    }

    /// Runs one operation on `tree` as one write transaction: sync, `op`, persist, commit.
    /// If persisting fails, the tree is reloaded from the database, so memory never runs
    /// ahead of disk; the error says what was not recorded.
    pub fn write<T>(
        &mut self,
        tree: &mut Tree,
        op: impl FnOnce(&mut Tree) -> T,
    ) -> Result<T, StoreError> {
        self.write_with_lines(tree, |t, _| op(t))
    }

    /// [`Store::write`] for an operation that also reads or writes the anchoring data of
    /// files (the hashes of their lines at the last known state), in the same transaction.
    pub fn write_with_lines<T>(
        &mut self,
        tree: &mut Tree,
        op: impl FnOnce(&mut Tree, &mut FileLines<'_>) -> T,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let tx =
            rusqlite::Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(sqlite)?;
        let synced = sync(&tx, tree, self.rev, self.data_version, self.schema).map_err(sqlite)?;
        let rev = synced.rev;
        self.rev = rev;
        self.data_version = synced.data_version;
        tree.take_changes(); // nothing from before this operation is pending
        let mut lines = FileLines {
            tx: &tx,
            path: &path,
            writes: Vec::new(),
            synced,
        };
        let out = op(tree, &mut lines);
        let writes = lines.writes;
        let changes = tree.take_changes();
        if changes.is_empty() && writes.is_empty() {
            tx.commit().map_err(sqlite)?;
            return Ok(out);
        }
        let new_rev = if changes.is_empty() { rev } else { rev + 1 };
        let result = (|| {
            if !changes.is_empty() {
                persist(&tx, tree, &changes, new_rev)?;
            }
            for (file, hashes) in &writes {
                set_file_lines(&tx, *file, hashes.as_deref())?;
            }
            tx.commit()
        })();
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
        self.register_session(info, &Endpoint::default(), now_ms)
    }

    /// [`Store::add_session`] with the editor's name and the control socket, for the app.
    pub fn register_session(
        &mut self,
        info: &SessionInfo,
        endpoint: &Endpoint,
        now_ms: i64,
    ) -> Result<(), StoreError> {
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
        let socket = endpoint
            .socket
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        tx.execute(
            "INSERT OR REPLACE INTO sessions
               (id, node, pid, host, client, started_ms, editor, socket, active_ms)
             VALUES (?1, NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?5)",
            params![
                &*info.id,
                info.pid,
                info.host,
                info.client,
                info.started_ms,
                endpoint.editor,
                socket
            ],
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

    /// Every session row, oldest first (stale ones included until a writer cleans them:
    /// see [`SessionInfo::is_alive`]).
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = if self.schema >= 2 {
            "SELECT id, pid, host, client, started_ms, node, editor, socket, active_ms
             FROM sessions ORDER BY started_ms, id"
        } else {
            "SELECT id, pid, host, client, started_ms, node, '', NULL, started_ms
             FROM sessions ORDER BY started_ms, id"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            Ok(SessionRecord {
                info: SessionInfo {
                    id: Arc::from(r.get::<_, String>(0)?),
                    pid: r.get(1)?,
                    host: r.get(2)?,
                    client: r.get(3)?,
                    started_ms: r.get(4)?,
                },
                node: r.get::<_, Option<i64>>(5)?.map(NodeId),
                endpoint: Endpoint {
                    editor: r.get(6)?,
                    socket: r.get::<_, Option<String>>(7)?.map(PathBuf::from),
                },
                active_ms: r.get(8)?,
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

    /// How many nodes the history holds, and the last time anyone arrived at one, without
    /// loading the tree (for lists of workspaces).
    pub fn summary(&self) -> Result<(usize, Option<i64>), StoreError> {
        self.conn
            .query_row("SELECT count(*), max(visited_ms) FROM nodes", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .map(|(n, last)| (usize::try_from(n).unwrap_or(0), last))
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

/// A read-only connection that leaves nothing beside the database: `immutable` when no
/// writer has it open (no write-ahead log), which SQLite would otherwise create files for.
/// Returns the file's stamp for an immutable connection.
fn open_reader(path: &Path) -> rusqlite::Result<(Connection, Option<(u64, SystemTime)>)> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let stamp = if side_file(path, "-wal").exists() {
        None
    } else {
        file_stamp(path)
    };
    let conn = match stamp {
        None => Connection::open_with_flags(path, flags)?,
        Some(_) => Connection::open_with_flags(
            format!("{}?immutable=1", crate::workspace::uri_for_path(path)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok((conn, stamp))
}

/// `<db>-wal` or `<db>-shm`.
pub fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut side = db.as_os_str().to_owned();
    side.push(suffix);
    PathBuf::from(side)
}

fn file_stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Whether a process with this id runs on this host.
fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
