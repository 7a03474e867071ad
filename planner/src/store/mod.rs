//! The planner's SQLite file: plans and their revisions, templates, actual time recorded by
//! hand, and settings. Every change runs in one immediate transaction, so a refused or failed
//! command leaves nothing half-written and two `blocks` processes never interleave a
//! read-modify-write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;

use crate::error::{PlannerError, Result};
use crate::plan::{Cell, Color};
use crate::settings::Settings;

mod actual;
mod plans;
mod templates;

/// The schema, one migration per version. Append only: a released migration never changes.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE revisions (
    id            INTEGER PRIMARY KEY,
    date          TEXT NOT NULL,              -- local date, YYYY-MM-DD
    number        INTEGER NOT NULL,           -- 1, 2, ... per date
    created_at_ms INTEGER NOT NULL,           -- UTC
    from_wall     TEXT,                       -- first re-planned block (HH:MM[#2]); NULL = whole day
    UNIQUE (date, number)
) STRICT;

CREATE TABLE plan_cells (
    revision_id INTEGER NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,
    minute      INTEGER NOT NULL,             -- wall-clock minutes after the date's midnight
    fold        INTEGER NOT NULL,             -- 1 for the repeat of a time when clocks go back
    label       TEXT NOT NULL,
    category    TEXT,
    color       TEXT,
    fixed_uid   TEXT,                         -- calendar event UID for imported blocks
    PRIMARY KEY (revision_id, minute, fold)
) STRICT;
CREATE INDEX plan_cells_fixed_uid ON plan_cells(fixed_uid) WHERE fixed_uid IS NOT NULL;

CREATE TABLE templates (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE template_cells (
    template_id INTEGER NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    minute      INTEGER NOT NULL,
    label       TEXT NOT NULL,
    category    TEXT,
    color       TEXT,
    PRIMARY KEY (template_id, minute)
) STRICT;

CREATE TABLE actual_entries (
    id       INTEGER PRIMARY KEY,
    start_ms INTEGER NOT NULL,                -- UTC
    end_ms   INTEGER NOT NULL,                -- UTC, exclusive
    tz       TEXT NOT NULL,                   -- IANA zone it was recorded in
    label    TEXT NOT NULL,
    category TEXT,
    CHECK (end_ms > start_ms)
) STRICT;
CREATE INDEX actual_entries_start ON actual_entries(start_ms);
"#];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Where the database lives by default: `$XDG_DATA_HOME/retrace/planner.sqlite3`
/// (`~/.local/share/retrace/planner.sqlite3` when XDG_DATA_HOME is unset).
pub fn default_path() -> Result<PathBuf> {
    let dirs = directories::BaseDirs::new().ok_or(PlannerError::NoDataDir)?;
    Ok(dirs.data_dir().join("retrace").join("planner.sqlite3"))
}

/// A `plan_cells` row: minute, fold, label, category, colour, calendar UID.
type CellRow = (
    u16,
    u8,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

trait At<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> At<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| PlannerError::Database {
            path: path.to_owned(),
            source,
        })
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A cell as stored; a colour this build cannot read is dropped rather than failing the read.
fn stored_cell(
    label: String,
    category: Option<String>,
    color: Option<String>,
    fixed_uid: Option<String>,
) -> Cell {
    Cell {
        label,
        category,
        color: color.and_then(|c| Color::parse(&c).ok()),
        fixed_uid,
    }
}

/// An open planner database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// A database written by a newer schema is refused rather than touched.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| PlannerError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).at(path)?;
        conn.busy_timeout(BUSY_TIMEOUT).at(path)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .at(path)?;
        if found > schema_version() {
            return Err(PlannerError::NewerDatabase {
                path: path.to_owned(),
                found,
                supported: schema_version(),
            });
        }
        use_wal(&conn).at(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL").at(path)?;
        conn.pragma_update(None, "foreign_keys", "ON").at(path)?;
        let migrations = Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect());
        migrate(&mut conn, &migrations).map_err(|e| PlannerError::Migration {
            path: path.to_owned(),
            reason: match e {
                // Its message holds the whole migration's SQL: the SQLite error says enough.
                rusqlite_migration::Error::RusqliteError { err, .. } => err.to_string(),
                e => e.to_string(),
            },
        })?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads outside a transaction (each statement sees a consistent snapshot).
    pub fn read(&self) -> Txn<'_> {
        Txn {
            conn: &self.conn,
            path: &self.path,
        }
    }

    /// Runs reads in one (deferred) transaction, so they see one state of the database even
    /// while another process writes.
    pub fn snapshot<T>(&self, f: impl FnOnce(&Txn<'_>) -> Result<T>) -> Result<T> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        run_in(tx, &self.path, f)
    }

    /// Runs `f` in one immediate transaction: everything it writes lands together, or, when
    /// it returns an error, nothing does.
    pub fn write<T>(&mut self, f: impl FnOnce(&Txn<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&self.path)?;
        run_in(tx, &self.path, f)
    }
}

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// Puts the database in WAL mode. On a new file that other connections are opening at the
/// same moment, SQLite answers the switch with "database is locked" at once, without waiting
/// as the busy timeout says: so it is tried again, every 10 ms, for as long.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(StdDuration::from_millis(10));
            }
            done => return done,
        }
    }
}

/// Brings `conn`'s schema to the latest of `migrations`, safely when other processes open the
/// same new database at the same moment (20 `blocks` on a new file lost 43 of 200 runs to
/// "table settings already exists").
///
/// `rusqlite_migration` reads the schema version and then begins the migration's
/// transaction, so two connections can both see version 0 and both run the first migration.
/// Here the transaction is immediate, so it takes the write lock as it begins (waiting, up
/// to the busy timeout, for another connection's migration to commit), and when the
/// migration fails the version is read again: another connection having migrated in the
/// meantime is success, and a schema still behind (a connection of an older build migrated
/// part of the way) is migrated again from there. The same function serves any store that
/// uses `rusqlite_migration`.
fn migrate(
    conn: &mut Connection,
    migrations: &Migrations<'_>,
) -> std::result::Result<(), rusqlite_migration::Error> {
    const ATTEMPTS: usize = 3;
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    let mut result = Ok(());
    for _ in 0..ATTEMPTS {
        result = migrations.to_latest(conn);
        if result.is_ok() || migrations.pending_migrations(conn).is_ok_and(|n| n == 0) {
            result = Ok(());
            break;
        }
    }
    conn.set_transaction_behavior(TransactionBehavior::Deferred);
    result
}

/// Runs `f` in `tx` and commits; an error from `f` drops `tx`, which rolls it back.
fn run_in<T>(
    tx: rusqlite::Transaction<'_>,
    path: &Path,
    f: impl FnOnce(&Txn<'_>) -> Result<T>,
) -> Result<T> {
    let out = f(&Txn { conn: &tx, path })?;
    tx.commit().at(path)?;
    Ok(out)
}

/// A template's name, size and when it was saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateInfo {
    pub name: String,
    pub blocks: usize,
    /// Its labels, in clock order of their first block.
    pub labels: Vec<String>,
    #[serde(serialize_with = "crate::clock::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// A label with its category and colour, and how many blocks hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StyleUse {
    pub label: String,
    pub category: Option<String>,
    pub color: Option<Color>,
    pub blocks: usize,
}

/// Reads and writes against the database, inside [`Store::write`] or from [`Store::read`].
pub struct Txn<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl Txn<'_> {
    // --- settings --------------------------------------------------------------------------

    pub fn settings(&self) -> Result<Settings> {
        Settings::from_pairs(&self.setting_pairs()?)
    }

    pub fn setting_pairs(&self) -> Result<BTreeMap<String, String>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value FROM settings")
            .at(self.path)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .at(self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(self.path)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let mut s = self.settings()?;
        s.set(key, value)?;
        let stored = s.to_pairs();
        self.conn
            .execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![
                    key,
                    stored.get(key).cloned().unwrap_or_else(|| value.to_owned())
                ],
            )
            .at(self.path)?;
        Ok(())
    }

    pub fn unset_setting(&self, key: &str) -> Result<bool> {
        crate::settings::check_key(key)?;
        Ok(self
            .conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])
            .at(self.path)?
            > 0)
    }

    pub fn replace_settings(&self, pairs: &BTreeMap<String, String>) -> Result<()> {
        Settings::from_pairs(pairs)?;
        self.conn
            .execute("DELETE FROM settings", [])
            .at(self.path)?;
        for (k, v) in pairs {
            self.conn
                .execute(
                    "INSERT INTO settings(key, value) VALUES (?1, ?2)",
                    params![k, v],
                )
                .at(self.path)?;
        }
        Ok(())
    }

    // --- whole database --------------------------------------------------------------------

    /// Whether anything but settings is stored.
    pub fn is_empty(&self) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM revisions) + (SELECT count(*) FROM templates)
                      + (SELECT count(*) FROM actual_entries)",
                [],
                |r| r.get(0),
            )
            .at(self.path)?;
        Ok(n == 0)
    }

    /// Removes everything, settings included.
    pub fn wipe(&self) -> Result<()> {
        self.conn
            .execute_batch(
                "DELETE FROM plan_cells; DELETE FROM revisions; DELETE FROM template_cells;
                 DELETE FROM templates; DELETE FROM actual_entries; DELETE FROM settings;",
            )
            .at(self.path)
    }
}

#[cfg(test)]
mod tests;
