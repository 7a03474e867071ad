//! Batch results in SQLite (WAL, migrations): one row per batch, one per iteration.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::stats::{self, Percentiles, Rate};

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
];

/// How one iteration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The command exited 0.
    Pass,
    /// The command exited non-zero or was killed by a signal.
    Fail,
    /// The command ran longer than `--timeout`; the VM was killed.
    Timeout,
    /// The guest kernel panicked.
    Crashed,
    /// QEMU, the agent or the host failed; says nothing about the test.
    InfraError,
    /// snaprun was interrupted while the iteration ran.
    Interrupted,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pass,
        Status::Fail,
        Status::Timeout,
        Status::Crashed,
        Status::InfraError,
        Status::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Crashed => "crashed",
            Status::InfraError => "infra-error",
            Status::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the test itself went wrong (these count in the failure rate).
    pub fn is_test_failure(self) -> bool {
        matches!(self, Status::Fail | Status::Timeout | Status::Crashed)
    }
}

/// What a batch is, as recorded when it starts.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: String,
    pub workspace: PathBuf,
    pub image_name: String,
    pub image_hash: String,
    pub code_hash: String,
    pub command: String,
    pub iterations: u32,
    pub jobs: u32,
    pub timeout_ms: Option<u64>,
    pub seed: u64,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub host: String,
    pub pid: u32,
    pub accel: String,
    /// `running`, `finished`, `interrupted`, or `aborted` (stopped by an infrastructure error).
    pub status: String,
    /// `K/N` when this batch ran only slice K of N (`--partition`). A merge of every slice has
    /// `None`; a merge of some lists the slices it holds (`1/3,3/3`).
    pub partition: Option<String>,
    /// The warm state the iterations were restored from; `None` when they booted.
    pub warm_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Iteration {
    pub batch_id: String,
    pub iteration: u32,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub boot_ms: Option<u64>,
    pub seed: u64,
    #[serde(skip)]
    pub output: Vec<u8>,
    pub detail: Option<String>,
    pub kept_overlay: Option<PathBuf>,
    pub start_ms: i64,
}

/// Counts, failure rate and durations of a batch's iterations.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub total: u32,
    pub passed: u32,
    pub failed: u32,
    pub timeout: u32,
    pub crashed: u32,
    pub infra_error: u32,
    pub interrupted: u32,
    /// Test failures (fail, timeout, crashed) among iterations that ran to an outcome.
    pub failure_rate: Rate,
    /// Durations of the iterations whose command finished (pass or fail), in ms.
    pub duration_ms: Option<Percentiles>,
}

impl Summary {
    pub fn of(iterations: &[Iteration]) -> Summary {
        let count = |s: Status| iterations.iter().filter(|i| i.status == s).count() as u32;
        let (passed, failed, timeout, crashed) = (
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Timeout),
            count(Status::Crashed),
        );
        let failures = u64::from(failed + timeout + crashed);
        let durations = finished_durations(iterations);
        Summary {
            total: iterations.len() as u32,
            passed,
            failed,
            timeout,
            crashed,
            infra_error: count(Status::InfraError),
            interrupted: count(Status::Interrupted),
            failure_rate: stats::wilson(failures, failures + u64::from(passed)),
            duration_ms: stats::percentiles(&durations),
        }
    }

    pub fn test_failures(&self) -> u32 {
        self.failed + self.timeout + self.crashed
    }
}

/// The durations (ms) of the iterations whose command finished, passing or failing: the only
/// ones that say how long the command takes.
pub fn finished_durations(iterations: &[Iteration]) -> Vec<u64> {
    iterations
        .iter()
        .filter(|i| matches!(i.status, Status::Pass | Status::Fail))
        .map(|i| i.duration_ms)
        .collect()
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

impl Results {
    /// Opens (creating and migrating) the results database at `path`.
    pub fn open(path: &Path) -> Result<Results> {
        let mut conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| db_err(path, e))?;
        let migrations = Migrations::new(MIGRATIONS.iter().map(|m| M::up(m)).collect());
        migrations
            .to_latest(&mut conn)
            .map_err(|e| db_err(path, e))?;
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

    pub fn finish_batch(&self, id: &str, status: &str, end_ms: i64) -> Result<()> {
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
                    it.status.as_str(),
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
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
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

    /// Batches still marked running (by this or another snaprun, alive or not).
    pub fn running_batches(&self) -> Result<Vec<Batch>> {
        self.select_batches("WHERE status = 'running' ORDER BY start_ms", [])
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
            0 => Err(Error::BatchNotFound(id.to_string())),
            1 => Ok(found.into_iter().next().expect("one")),
            n => Err(Error::Usage(format!(
                "`{id}` matches {n} batches; give more of the id (see `snaprun ls`)"
            ))),
        }
    }

    fn iteration_from_row(r: &rusqlite::Row) -> rusqlite::Result<Iteration> {
        let status: String = r.get(2)?;
        Ok(Iteration {
            batch_id: r.get(0)?,
            iteration: r.get(1)?,
            status: Status::parse(&status).unwrap_or(Status::InfraError),
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

    pub fn iterations(&self, batch_id: &str) -> Result<Vec<Iteration>> {
        let sql = format!(
            "SELECT {} FROM iterations WHERE batch_id = ?1 ORDER BY iteration",
            Self::ITERATION_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([batch_id], Self::iteration_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
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

/// Whether the process that ran a `running` batch is gone (snaprun was killed), judged on the
/// same host only.
pub fn is_abandoned(b: &Batch, this_host: &str) -> bool {
    b.status == "running"
        && b.host == this_host
        && std::fs::metadata(format!("/proc/{}", b.pid)).is_err()
}

/// A plain finished batch and its iterations, for tests (this crate's, its integration
/// tests', the planner's) to change what they are about.
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    pub fn batch(id: &str) -> Batch {
        Batch {
            id: id.into(),
            workspace: "/ws".into(),
            image_name: "default".into(),
            image_hash: "i".into(),
            code_hash: "c".into(),
            command: "./stress.sh".into(),
            iterations: 1,
            jobs: 1,
            timeout_ms: None,
            seed: 1,
            start_ms: 0,
            end_ms: Some(1),
            host: "h".into(),
            pid: 1,
            accel: "tcg".into(),
            status: "finished".into(),
            partition: None,
            warm_hash: None,
        }
    }

    /// Iteration `n` with `status`; a failure exits 1.
    pub fn iteration(batch_id: &str, n: u32, status: Status) -> Iteration {
        Iteration {
            batch_id: batch_id.into(),
            iteration: n,
            status,
            exit_code: Some(i32::from(status != Status::Pass)),
            signal: None,
            duration_ms: 1000,
            boot_ms: None,
            seed: u64::from(n),
            output: Vec::new(),
            detail: None,
            kept_overlay: None,
            start_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str, start_ms: i64, end_ms: Option<i64>) -> Batch {
        Batch {
            seed: u64::MAX,
            start_ms,
            end_ms,
            status: "running".into(),
            ..fixtures::batch(id)
        }
    }

    fn iteration(n: u32, status: Status, duration_ms: u64) -> Iteration {
        Iteration {
            duration_ms,
            output: b"out".to_vec(),
            ..fixtures::iteration("b1", n, status)
        }
    }

    #[test]
    fn round_trip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let db = Results::open(&dir.path().join("r.db")).unwrap();
        db.insert_batch(&batch("20260101-000000-aaaa", 100, None))
            .unwrap();
        db.insert_batch(&batch("20260101-000001-bbbb", 200, None))
            .unwrap();
        db.insert_iteration(&iteration(1, Status::Pass, 10))
            .unwrap_err(); // no such batch
        let mut it = iteration(1, Status::Fail, 10);
        it.batch_id = "20260101-000000-aaaa".into();
        db.insert_iteration(&it).unwrap();
        assert_eq!(db.batch("last").unwrap().id, "20260101-000001-bbbb");
        assert_eq!(db.batch("20260101-000000").unwrap().seed, u64::MAX);
        assert!(matches!(db.batch("2026"), Err(Error::Usage(_))));
        assert!(matches!(db.batch("nope"), Err(Error::BatchNotFound(_))));
        let got = db.iteration("20260101-000000-aaaa", 1).unwrap();
        assert_eq!(
            (got.status, got.output.as_slice()),
            (Status::Fail, b"out".as_slice())
        );
        db.finish_batch("20260101-000000-aaaa", "finished", 150)
            .unwrap();
        let between = db.batches_between(120, 300).unwrap();
        let ids: Vec<_> = between.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["20260101-000000-aaaa", "20260101-000001-bbbb"]);
        // a ended at 150 and b starts at 200.
        assert!(db.batches_between(160, 190).unwrap().is_empty());
    }

    #[test]
    fn garbage_database_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Results::open(&path).err().expect("garbage must not open");
        assert!(matches!(err, Error::Database { .. }), "{err:?}");
        assert!(err.to_string().contains("move it aside"), "{err}");
    }

    #[test]
    fn summary_counts_and_rates() {
        let its = vec![
            iteration(1, Status::Pass, 10),
            iteration(2, Status::Fail, 30),
            iteration(3, Status::Timeout, 999),
            iteration(4, Status::InfraError, 1),
            iteration(5, Status::Pass, 20),
        ];
        let s = Summary::of(&its);
        assert_eq!((s.passed, s.failed, s.timeout, s.infra_error), (2, 1, 1, 1));
        assert_eq!((s.failure_rate.failures, s.failure_rate.trials), (2, 4));
        assert_eq!(s.duration_ms.unwrap().max, 30);
    }
}
