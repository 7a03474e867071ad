//! Batch results in SQLite (WAL, migrations): one row per batch, one per iteration. Every write
//! bumps a revision number, so another process can ask what changed since the revision it saw
//! ([`Results::changes_since`]) instead of reading everything again.

mod record;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OptionalExtension, ToSql, params};
use serde::Serialize;

pub use self::record::{
    Batch, BatchReport, BatchStatus, Iteration, Status, Summary, finished_durations, fixtures,
    host_name, is_abandoned, now_ms,
};
use crate::error::{Error, Result};

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    workspace   TEXT NOT NULL,
    image_name  TEXT NOT NULL,
    image_hash  TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    command     TEXT NOT NULL,
    iterations  INTEGER NOT NULL,
    jobs        INTEGER NOT NULL,
    timeout_ms  INTEGER,
    seed        INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    accel       TEXT NOT NULL,
    status      TEXT NOT NULL
);
CREATE INDEX batches_start ON batches(start_ms);
CREATE TABLE iterations (
    batch_id     TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    iteration    INTEGER NOT NULL,
    status       TEXT NOT NULL,
    exit_code    INTEGER,
    signal       INTEGER,
    duration_ms  INTEGER NOT NULL,
    boot_ms      INTEGER,
    seed         INTEGER NOT NULL,
    output       BLOB NOT NULL,
    detail       TEXT,
    kept_overlay TEXT,
    start_ms     INTEGER NOT NULL,
    PRIMARY KEY (batch_id, iteration)
);
"#,
    r#"
ALTER TABLE batches ADD COLUMN partition TEXT;
ALTER TABLE batches ADD COLUMN warm_hash TEXT;
"#,
    // Revisions: triggers stamp every inserted or finished row with the next number, whoever
    // writes it. Rows from before are revision 1, so asking from 0 returns everything.
    r#"
CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT INTO revision (id, n) VALUES (1, 1);
ALTER TABLE batches ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE iterations ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
CREATE INDEX batches_revision ON batches(revision);
CREATE INDEX iterations_revision ON iterations(revision);
CREATE INDEX batches_workspace ON batches(workspace, start_ms);
CREATE TRIGGER batches_inserted AFTER INSERT ON batches BEGIN
    UPDATE revision SET n = n + 1;
    UPDATE batches SET revision = (SELECT n FROM revision) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER batches_finished AFTER UPDATE OF status, end_ms ON batches BEGIN
    UPDATE revision SET n = n + 1;
    UPDATE batches SET revision = (SELECT n FROM revision) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER iterations_inserted AFTER INSERT ON iterations BEGIN
    UPDATE revision SET n = n + 1;
    UPDATE iterations SET revision = (SELECT n FROM revision) WHERE rowid = NEW.rowid;
END;
"#,
];

/// The SQL edge of the statuses: stored as the same words as `as_str` and JSON.
macro_rules! sql_text {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<$t> {
                v.as_str()?
                    .parse()
                    .map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    )*};
}

sql_text!(Status, BatchStatus);

/// The workspaces that have batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceBatches {
    pub workspace: PathBuf,
    pub batches: u32,
    /// When its newest batch started (ms since the epoch).
    pub last_start_ms: i64,
}

/// What was written after a revision: see [`Results::changes_since`].
#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    /// The revision these changes bring the caller to; ask from it next time.
    pub revision: i64,
    /// Batches started, finished or replaced since, as they are now, oldest change first.
    pub batches: Vec<Batch>,
    /// Iterations recorded since, without their output, oldest first.
    pub iterations: Vec<Iteration>,
}

pub struct Results {
    conn: Connection,
    path: PathBuf,
}

fn db_err(path: &Path, e: impl std::fmt::Display) -> Error {
    let detail = e.to_string();
    if detail.contains("database or disk is full") {
        return Error::DiskFull {
            what: "writing results".into(),
            path: path.to_path_buf(),
        };
    }
    Error::Database {
        path: path.to_path_buf(),
        detail,
    }
}

/// Iterations by their batch's id.
pub type IterationsByBatch = HashMap<String, Vec<Iteration>>;

/// How long a process waits for others to finish with the database (their migration, their
/// writes) before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Switches the database to WAL. Many processes may open a new database at once (a batch
/// starting while the app or `snaprun ls` opens it): the switch takes a lock that SQLite does
/// not wait for when waiting could deadlock (two connections both moving from a read to a
/// write lock), so it is tried again until [`BUSY_TIMEOUT`].
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Brings the schema up to date in one immediate transaction: reading the schema's version
/// and migrating are one step under the write lock, so of many processes that open a new
/// database at once, one migrates and the others find it done. They wait by reading the
/// version again every few milliseconds (a read never waits for a writer in WAL mode) rather
/// than by queueing for the write lock one after the other. A database already up to date is
/// only read.
fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let err = |e: rusqlite::Error| db_err(path, e);
    let version = || -> Result<usize> {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)
    };
    let latest = MIGRATIONS.len();
    let newer = |v: usize| Error::Database {
        path: path.to_path_buf(),
        detail: format!(
            "its schema version {v} is newer than this snaprun's ({latest}); use the snaprun \
             that wrote it, or a newer one"
        ),
    };
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match version()? {
            v if v == latest => return Ok(()),
            v if v > latest => return Err(newer(v)),
            _ => {}
        }
        conn.busy_timeout(Duration::ZERO).map_err(err)?;
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        match begun {
            Ok(()) => break,
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => return Err(err(e)),
        }
    }
    let migrated = (|| {
        let v = version()?;
        if v > latest {
            return Err(newer(v));
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(v) {
            conn.execute_batch(sql)
                .map_err(|e| db_err(path, format!("migration {}: {e}", n + 1)))?;
        }
        conn.pragma_update(None, "user_version", latest)
            .map_err(err)
    })();
    let end = if migrated.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    conn.execute_batch(end).map_err(err)?;
    migrated
}

impl Results {
    /// Opens (creating and migrating) the results database at `path`.
    pub fn open(path: &Path) -> Result<Results> {
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_err(path, e))?;
        set_wal(&conn).map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| db_err(path, e))?;
        migrate(&conn, path)?;
        Ok(Results {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing database as [`Results::open`] does (migrating an older schema);
    /// `None`, and nothing created, if there is none yet.
    pub fn open_existing(path: &Path) -> Result<Option<Results>> {
        if !path.exists() {
            return Ok(None);
        }
        Results::open(path).map(Some)
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        db_err(&self.path, e)
    }

    pub fn insert_batch(&self, b: &Batch) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO batches (id, workspace, image_name, image_hash, code_hash, command, iterations,
                 jobs, timeout_ms, seed, start_ms, end_ms, host, pid, accel, status, partition, warm_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                params![
                    b.id,
                    b.workspace.to_string_lossy(),
                    b.image_name,
                    b.image_hash,
                    b.code_hash,
                    b.command,
                    b.iterations,
                    b.jobs,
                    b.timeout_ms.map(|t| t as i64),
                    b.seed as i64,
                    b.start_ms,
                    b.end_ms,
                    b.host,
                    b.pid,
                    b.accel,
                    b.status,
                    b.partition,
                    b.warm_hash
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes `batch` and its iterations in one transaction, replacing a batch of the same id
    /// (a merge done again).
    pub fn replace_batch(&self, batch: &Batch, iterations: &[Iteration]) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let done = (|| {
            self.conn
                .execute("DELETE FROM batches WHERE id = ?1", [&batch.id])
                .map_err(|e| self.err(e))?;
            self.insert_batch(batch)?;
            for it in iterations {
                self.insert_iteration(it)?;
            }
            Ok(())
        })();
        let end = if done.is_ok() { "COMMIT" } else { "ROLLBACK" };
        self.conn.execute_batch(end).map_err(|e| self.err(e))?;
        done
    }

    pub fn finish_batch(&self, id: &str, status: BatchStatus, end_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE batches SET status = ?2, end_ms = ?3 WHERE id = ?1",
                params![id, status, end_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn insert_iteration(&self, it: &Iteration) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO iterations (batch_id, iteration, status, exit_code, signal, duration_ms,
                 boot_ms, seed, output, detail, kept_overlay, start_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    it.batch_id,
                    it.iteration,
                    it.status,
                    it.exit_code,
                    it.signal,
                    it.duration_ms as i64,
                    it.boot_ms.map(|b| b as i64),
                    it.seed as i64,
                    it.output,
                    it.detail,
                    it.kept_overlay.as_ref().map(|p| p.to_string_lossy().into_owned()),
                    it.start_ms
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    const BATCH_COLUMNS: &str =
        "id, workspace, image_name, image_hash, code_hash, command, iterations, jobs,
        timeout_ms, seed, start_ms, end_ms, host, pid, accel, status, partition, warm_hash";

    fn batch_from_row(r: &rusqlite::Row) -> rusqlite::Result<Batch> {
        Ok(Batch {
            id: r.get(0)?,
            workspace: PathBuf::from(r.get::<_, String>(1)?),
            image_name: r.get(2)?,
            image_hash: r.get(3)?,
            code_hash: r.get(4)?,
            command: r.get(5)?,
            iterations: r.get(6)?,
            jobs: r.get(7)?,
            timeout_ms: r.get::<_, Option<i64>>(8)?.map(|t| t as u64),
            seed: r.get::<_, i64>(9)? as u64,
            start_ms: r.get(10)?,
            end_ms: r.get(11)?,
            host: r.get(12)?,
            pid: r.get(13)?,
            accel: r.get(14)?,
            status: r.get(15)?,
            partition: r.get(16)?,
            warm_hash: r.get(17)?,
        })
    }

    /// The batches `rest` (what follows `FROM batches` in the query) selects with `params`.
    fn select_batches(&self, rest: &str, params: impl rusqlite::Params) -> Result<Vec<Batch>> {
        let sql = format!("SELECT {} FROM batches {rest}", Self::BATCH_COLUMNS);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, Self::batch_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The newest `limit` batches, newest first.
    pub fn batches(&self, limit: u32) -> Result<Vec<Batch>> {
        self.select_batches("ORDER BY start_ms DESC, id DESC LIMIT ?1", [limit])
    }

    /// Batches that overlap [from_ms, to_ms), oldest first. A batch still running overlaps
    /// everything after its start.
    pub fn batches_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Batch>> {
        self.select_batches(
            "WHERE start_ms < ?2 AND COALESCE(end_ms, ?2) >= ?1 ORDER BY start_ms",
            [from_ms, to_ms],
        )
    }

    /// Content hashes of the images that batches with kept (failed) iterations ran on.
    pub fn images_with_kept_failures(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT b.image_hash FROM batches b JOIN iterations i ON i.batch_id = b.id
                 WHERE i.kept_overlay IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Every batch, newest first.
    pub fn all_batches(&self) -> Result<Vec<Batch>> {
        self.select_batches("ORDER BY start_ms DESC, id DESC", [])
    }

    /// Every kept overlay: the batch and the overlay's path.
    pub fn kept_overlays(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT batch_id, kept_overlay FROM iterations WHERE kept_overlay IS NOT NULL
                 ORDER BY batch_id, iteration",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    PathBuf::from(r.get::<_, String>(1)?),
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Records that the kept overlays of `batches` are gone (`gc` let them go), in one
    /// transaction; how many iterations had one.
    pub fn forget_kept_overlays(&self, batches: &[String]) -> Result<usize> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let mut n = 0;
        for id in batches {
            n += tx
                .execute(
                    "UPDATE iterations SET kept_overlay = NULL
                     WHERE batch_id = ?1 AND kept_overlay IS NOT NULL",
                    [id],
                )
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// Batches still marked running (by this or another snaprun, alive or not).
    pub fn running_batches(&self) -> Result<Vec<Batch>> {
        self.select_batches(
            "WHERE status = ?1 ORDER BY start_ms",
            [BatchStatus::Running],
        )
    }

    /// The batch `id`: a full id, a unique prefix of one, or `last`.
    pub fn batch(&self, id: &str) -> Result<Batch> {
        let found: Vec<Batch> = if id == "last" {
            self.batches(1)?
        } else {
            let like = format!(
                "{}%",
                id.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            self.select_batches(
                "WHERE id = ?1 OR id LIKE ?2 ESCAPE '\\' ORDER BY id",
                [id, &like],
            )?
        };
        if let Some(exact) = found.iter().find(|b| b.id == id) {
            return Ok(exact.clone());
        }
        match found.len() {
            n if n > 1 => Err(Error::Usage(format!(
                "`{id}` matches {n} batches; give more of the id (see `snaprun ls`)"
            ))),
            _ => found
                .into_iter()
                .next()
                .ok_or_else(|| Error::BatchNotFound(id.to_string())),
        }
    }

    fn iteration_from_row(r: &rusqlite::Row) -> rusqlite::Result<Iteration> {
        Ok(Iteration {
            batch_id: r.get(0)?,
            iteration: r.get(1)?,
            status: r.get(2)?,
            exit_code: r.get(3)?,
            signal: r.get(4)?,
            duration_ms: r.get::<_, i64>(5)? as u64,
            boot_ms: r.get::<_, Option<i64>>(6)?.map(|b| b as u64),
            seed: r.get::<_, i64>(7)? as u64,
            output: r.get(8)?,
            detail: r.get(9)?,
            kept_overlay: r.get::<_, Option<String>>(10)?.map(PathBuf::from),
            start_ms: r.get(11)?,
        })
    }

    const ITERATION_COLUMNS: &str = "batch_id, iteration, status, exit_code, signal, duration_ms,
        boot_ms, seed, output, detail, kept_overlay, start_ms";
    /// The same columns with an empty output: listings need no output and it is the bulk.
    const ITERATION_COLUMNS_NO_OUTPUT: &str = "batch_id, iteration, status, exit_code, signal,
        duration_ms, boot_ms, seed, x'' AS output, detail, kept_overlay, start_ms";

    /// The iterations `rest` (after `FROM iterations`) selects with `params`.
    fn select_iterations(
        &self,
        columns: &str,
        rest: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Iteration>> {
        let sql = format!("SELECT {columns} FROM iterations {rest}");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, Self::iteration_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The iterations of a batch with their output, in order.
    pub fn iterations(&self, batch_id: &str) -> Result<Vec<Iteration>> {
        self.select_iterations(
            Self::ITERATION_COLUMNS,
            "WHERE batch_id = ?1 ORDER BY iteration",
            [batch_id],
        )
    }

    /// The iterations of a batch without their output (enough for a [`Summary`]), in order.
    pub fn iterations_without_output(&self, batch_id: &str) -> Result<Vec<Iteration>> {
        self.select_iterations(
            Self::ITERATION_COLUMNS_NO_OUTPUT,
            "WHERE batch_id = ?1 ORDER BY iteration",
            [batch_id],
        )
    }

    pub fn iteration(&self, batch_id: &str, iteration: u32) -> Result<Iteration> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM iterations WHERE batch_id = ?1 AND iteration = ?2",
                    Self::ITERATION_COLUMNS
                ),
                params![batch_id, iteration],
                Self::iteration_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::IterationNotFound {
                batch: batch_id.to_string(),
                iteration,
            })
    }

    /// The workspaces that have batches, the one with the newest batch first.
    pub fn workspaces(&self) -> Result<Vec<WorkspaceBatches>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT workspace, COUNT(*), MAX(start_ms) FROM batches GROUP BY workspace
                 ORDER BY MAX(start_ms) DESC, workspace",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(WorkspaceBatches {
                    workspace: PathBuf::from(r.get::<_, String>(0)?),
                    batches: r.get(1)?,
                    last_start_ms: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The newest `limit` batches of `workspace` (as batches record it: canonical), newest first.
    pub fn workspace_batches(&self, workspace: &Path, limit: u32) -> Result<Vec<Batch>> {
        self.select_batches(
            "WHERE workspace = ?1 ORDER BY start_ms DESC, id DESC LIMIT ?2",
            params![workspace.to_string_lossy(), limit],
        )
    }

    /// [`Results::workspace_batches`] with the iterations (without their output) of the first
    /// `with_iterations` of them, by batch and in order, read as one consistent state: a list
    /// of many batches costs two queries, not one per batch.
    pub fn workspace_batches_with_iterations(
        &self,
        workspace: &Path,
        limit: u32,
        with_iterations: u32,
    ) -> Result<(Vec<Batch>, IterationsByBatch)> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let batches = self.workspace_batches(workspace, limit)?;
        let all = self.select_iterations(
            Self::ITERATION_COLUMNS_NO_OUTPUT,
            "WHERE batch_id IN (SELECT id FROM batches WHERE workspace = ?1
                                ORDER BY start_ms DESC, id DESC LIMIT ?2)
             ORDER BY batch_id, iteration",
            params![workspace.to_string_lossy(), with_iterations],
        )?;
        tx.commit().map_err(|e| self.err(e))?;
        let mut by_batch = IterationsByBatch::new();
        for it in all {
            by_batch.entry(it.batch_id.clone()).or_default().push(it);
        }
        Ok((batches, by_batch))
    }

    /// The revision of the newest write.
    pub fn revision(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT n FROM revision", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// What was written after `revision` (0 for everything), read as one consistent state: the
    /// batches started or finished and the iterations recorded since, by any process. A caller
    /// keeps the returned revision and asks from it next time.
    pub fn changes_since(&self, revision: i64) -> Result<Changes> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let now = self.revision()?;
        let batches = self.select_batches("WHERE revision > ?1 ORDER BY revision", [revision])?;
        let iterations = self.select_iterations(
            Self::ITERATION_COLUMNS_NO_OUTPUT,
            "WHERE revision > ?1 ORDER BY revision",
            [revision],
        )?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Changes {
            revision: now,
            batches,
            iterations,
        })
    }
}

/// Which images must outlive being replaced: those with batches whose failures are kept for
/// `repro`, by the results database at `db`. Without a readable database, every image is kept
/// (the safe answer); without one at all, none.
pub fn images_to_retain(db: &Path) -> impl Fn(&str) -> bool + use<> {
    let hashes = Results::open_existing(db)
        .ok()
        .map(|r| r.map(|r| r.images_with_kept_failures()));
    move |hash: &str| match &hashes {
        Some(Some(Ok(set))) => set.iter().any(|h| h == hash),
        Some(None) => false,
        _ => true,
    }
}

/// Writes `batch` and its `iterations` as a results database of their own at `dest` (a CI
/// artifact), replacing what was there. Written beside `dest` and renamed into place, so a
/// reader never sees half a database.
pub fn export(dest: &Path, batch: &Batch, iterations: &[Iteration]) -> Result<()> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".snaprun-results-")
        .suffix(".db")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("creating the results file", &dir, e))?;
    {
        let out = Results::open(tmp.path())?;
        out.conn.execute_batch("BEGIN").map_err(|e| out.err(e))?;
        out.insert_batch(batch)?;
        for it in iterations {
            out.insert_iteration(it)?;
        }
        out.conn.execute_batch("COMMIT").map_err(|e| out.err(e))?;
        // One self-contained file: no -wal beside it.
        out.conn
            .pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| out.err(e))?;
    }
    tmp.persist(dest)
        .map_err(|e| Error::io("writing the results file", dest, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests;
