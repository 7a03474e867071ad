//! The planner's SQLite file: plans and their revisions, templates, actual time recorded by
//! hand, and settings. Every change runs in one immediate transaction, so a refused or failed
//! command leaves nothing half-written and two `blocks` processes never interleave a
//! read-modify-write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};

use crate::actual::ManualEntry;
use crate::clock::WallTime;
use crate::error::{PlannerError, Result};
use crate::plan::{Cell, Color, DayPlan, Revision};
use crate::settings::Settings;
use crate::template::Template;

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
        conn.busy_timeout(StdDuration::from_secs(5)).at(path)?;
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
        conn.pragma_update(None, "journal_mode", "WAL").at(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL").at(path)?;
        conn.pragma_update(None, "foreign_keys", "ON").at(path)?;
        let migrations = Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect());
        migrations
            .to_latest(&mut conn)
            .map_err(|source| PlannerError::Migration {
                path: path.to_owned(),
                source,
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

    /// Runs `f` in one immediate transaction: everything it writes lands together, or, when
    /// it returns an error, nothing does.
    pub fn write<T>(&mut self, f: impl FnOnce(&Txn<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&self.path)?;
        let out = f(&Txn {
            conn: &tx,
            path: &self.path,
        })?;
        tx.commit().at(&self.path)?;
        Ok(out)
    }
}

/// Reads and writes against the database, inside [`Store::write`] or from [`Store::read`].
pub struct Txn<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

/// A template's name, size and when it was saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    pub name: String,
    pub blocks: usize,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
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

    // --- plans -----------------------------------------------------------------------------

    pub fn day_plan(&self, date: NaiveDate) -> Result<DayPlan> {
        let mut st = self
            .conn
            .prepare("SELECT id, number, created_at_ms, from_wall FROM revisions WHERE date = ?1 ORDER BY number")
            .at(self.path)?;
        let heads: Vec<(i64, u32, i64, Option<String>)> = st
            .query_map([date.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .at(self.path)?
            .collect::<rusqlite::Result<_>>()
            .at(self.path)?;
        let mut cells_st = self
            .conn
            .prepare(
                "SELECT minute, fold, label, category, color, fixed_uid FROM plan_cells
                 WHERE revision_id = ?1",
            )
            .at(self.path)?;
        let mut revisions = Vec::with_capacity(heads.len());
        for (id, number, created, from) in heads {
            let rows: Vec<CellRow> = cells_st
                .query_map([id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .at(self.path)?
                .collect::<rusqlite::Result<_>>()
                .at(self.path)?;
            let mut cells = BTreeMap::new();
            for (minute, fold, label, category, color, fixed_uid) in rows {
                cells.insert(
                    WallTime::with_fold(minute, fold),
                    stored_cell(label, category, color, fixed_uid),
                );
            }
            revisions.push(Revision {
                number,
                created_at: from_ms(created),
                from: from.and_then(|f| f.parse().ok()),
                cells,
            });
        }
        Ok(DayPlan { date, revisions })
    }

    /// Writes a day's plan with all its revisions, replacing what was stored for the date.
    pub fn save_day_plan(&self, day: &DayPlan) -> Result<()> {
        let date = day.date.to_string();
        self.conn
            .execute("DELETE FROM revisions WHERE date = ?1", [&date])
            .at(self.path)?;
        let mut rev_st = self
            .conn
            .prepare("INSERT INTO revisions(date, number, created_at_ms, from_wall) VALUES (?1, ?2, ?3, ?4)")
            .at(self.path)?;
        let mut cell_st = self
            .conn
            .prepare(
                "INSERT INTO plan_cells(revision_id, minute, fold, label, category, color, fixed_uid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .at(self.path)?;
        for rev in &day.revisions {
            rev_st
                .execute(params![
                    date,
                    rev.number,
                    ms(rev.created_at),
                    rev.from.map(|w| w.to_string())
                ])
                .at(self.path)?;
            let id = self.conn.last_insert_rowid();
            for (w, c) in &rev.cells {
                cell_st
                    .execute(params![
                        id,
                        w.minute,
                        w.fold,
                        c.label,
                        c.category,
                        c.color.as_ref().map(Color::as_str),
                        c.fixed_uid
                    ])
                    .at(self.path)?;
            }
        }
        Ok(())
    }

    /// Dates whose current plan holds blocks from any of these calendar events.
    pub fn dates_with_uids(&self, uids: &[String]) -> Result<Vec<NaiveDate>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT r.date FROM plan_cells c JOIN revisions r ON r.id = c.revision_id
                 WHERE c.fixed_uid = ?1
                   AND r.number = (SELECT max(number) FROM revisions WHERE date = r.date)",
            )
            .at(self.path)?;
        let mut dates = Vec::new();
        for uid in uids {
            let rows: Vec<String> = st
                .query_map([uid], |r| r.get(0))
                .at(self.path)?
                .collect::<rusqlite::Result<_>>()
                .at(self.path)?;
            dates.extend(rows.iter().filter_map(|d| d.parse::<NaiveDate>().ok()));
        }
        dates.sort();
        dates.dedup();
        Ok(dates)
    }

    /// Every date that has a plan, oldest first.
    pub fn planned_dates(&self) -> Result<Vec<NaiveDate>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT date FROM revisions ORDER BY date")
            .at(self.path)?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .at(self.path)?
            .collect::<rusqlite::Result<_>>()
            .at(self.path)?;
        Ok(rows.iter().filter_map(|d| d.parse().ok()).collect())
    }

    // --- templates -------------------------------------------------------------------------

    pub fn template_names(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM templates ORDER BY name COLLATE NOCASE")
            .at(self.path)?;
        let rows = st.query_map([], |r| r.get(0)).at(self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(self.path)
    }

    fn unknown_template(&self, name: &str) -> Result<PlannerError> {
        let names = self.template_names()?;
        let known = if names.is_empty() {
            "there are no templates yet; save one with `blocks template save NAME`".to_owned()
        } else {
            format!(
                "the templates are: {} (`blocks template ls`)",
                names.join(", ")
            )
        };
        Ok(PlannerError::UnknownTemplate {
            name: name.to_owned(),
            known,
        })
    }

    pub fn template(&self, name: &str) -> Result<Template> {
        let head: Option<(i64, String, i64)> = self
            .conn
            .query_row(
                "SELECT id, name, created_at_ms FROM templates WHERE name = ?1",
                [name.trim()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .at(self.path)?;
        let Some((id, name, created)) = head else {
            return Err(self.unknown_template(name)?);
        };
        let mut st = self
            .conn
            .prepare(
                "SELECT minute, label, category, color FROM template_cells WHERE template_id = ?1",
            )
            .at(self.path)?;
        let rows: Vec<(u16, String, Option<String>, Option<String>)> = st
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .at(self.path)?
            .collect::<rusqlite::Result<_>>()
            .at(self.path)?;
        let cells = rows
            .into_iter()
            .map(|(m, label, category, color)| (m, stored_cell(label, category, color, None)))
            .collect();
        Ok(Template {
            name,
            created_at: from_ms(created),
            cells,
        })
    }

    pub fn templates(&self) -> Result<Vec<Template>> {
        self.template_names()?
            .iter()
            .map(|n| self.template(n))
            .collect()
    }

    pub fn template_infos(&self) -> Result<Vec<TemplateInfo>> {
        Ok(self
            .templates()?
            .into_iter()
            .map(|t| {
                let mut labels: Vec<String> = Vec::new();
                for c in t.cells.values() {
                    if !labels.contains(&c.label) {
                        labels.push(c.label.clone());
                    }
                }
                TemplateInfo {
                    name: t.name,
                    blocks: t.cells.len(),
                    labels,
                    created_at: t.created_at,
                }
            })
            .collect())
    }

    /// Saves a template; an existing one of the same name is replaced only with `overwrite`.
    pub fn save_template(&self, t: &Template, overwrite: bool) -> Result<()> {
        let exists: Option<i64> = self
            .conn
            .query_row("SELECT id FROM templates WHERE name = ?1", [&t.name], |r| {
                r.get(0)
            })
            .optional()
            .at(self.path)?;
        if let Some(id) = exists {
            if !overwrite {
                return Err(PlannerError::TemplateExists {
                    name: t.name.clone(),
                });
            }
            self.conn
                .execute("DELETE FROM templates WHERE id = ?1", [id])
                .at(self.path)?;
        }
        self.conn
            .execute(
                "INSERT INTO templates(name, created_at_ms) VALUES (?1, ?2)",
                params![t.name, ms(t.created_at)],
            )
            .at(self.path)?;
        let id = self.conn.last_insert_rowid();
        let mut st = self
            .conn
            .prepare(
                "INSERT INTO template_cells(template_id, minute, label, category, color)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .at(self.path)?;
        for (m, c) in &t.cells {
            st.execute(params![
                id,
                m,
                c.label,
                c.category,
                c.color.as_ref().map(Color::as_str)
            ])
            .at(self.path)?;
        }
        Ok(())
    }

    pub fn rename_template(&self, old: &str, new: &str) -> Result<()> {
        let new = crate::template::validate_name(new)?;
        let t = self.template(old)?;
        let clash: Option<String> = self
            .conn
            .query_row("SELECT name FROM templates WHERE name = ?1", [&new], |r| {
                r.get(0)
            })
            .optional()
            .at(self.path)?;
        // Renaming to a different case of the same name is allowed.
        if clash.is_some_and(|c| !c.eq_ignore_ascii_case(&t.name)) {
            return Err(PlannerError::TemplateExists { name: new });
        }
        self.conn
            .execute(
                "UPDATE templates SET name = ?1 WHERE name = ?2",
                params![new, t.name],
            )
            .at(self.path)?;
        Ok(())
    }

    pub fn remove_template(&self, name: &str) -> Result<()> {
        if self
            .conn
            .execute("DELETE FROM templates WHERE name = ?1", [name.trim()])
            .at(self.path)?
            == 0
        {
            return Err(self.unknown_template(name)?);
        }
        Ok(())
    }

    // --- actual time -----------------------------------------------------------------------

    /// Entries recorded by hand that overlap `[from, to)`, with their row ids.
    pub fn manual_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, ManualEntry)>> {
        self.manual_where("start_ms < ?2 AND end_ms > ?1", params![ms(from), ms(to)])
    }

    pub fn all_manual(&self) -> Result<Vec<ManualEntry>> {
        let rows = self.manual_where("true", [])?;
        Ok(rows.into_iter().map(|(_, e)| e).collect())
    }

    fn manual_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(i64, ManualEntry)>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT id, start_ms, end_ms, tz, label, category FROM actual_entries
                 WHERE {condition} ORDER BY start_ms, id"
            ))
            .at(self.path)?;
        let rows = st
            .query_map(params, |r| {
                Ok((
                    r.get(0)?,
                    ManualEntry {
                        start: from_ms(r.get(1)?),
                        end: from_ms(r.get(2)?),
                        tz: r.get(3)?,
                        label: r.get(4)?,
                        category: r.get(5)?,
                    },
                ))
            })
            .at(self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(self.path)
    }

    pub fn insert_manual(&self, e: &ManualEntry) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO actual_entries(start_ms, end_ms, tz, label, category) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ms(e.start), ms(e.end), e.tz, e.label, e.category],
            )
            .at(self.path)?;
        Ok(())
    }

    pub fn delete_manual(&self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM actual_entries WHERE id = ?1", [id])
            .at(self.path)?;
        Ok(())
    }

    /// Cuts `[from, to)` out of the entries recorded by hand, keeping what lies outside it.
    /// Returns the number of entries it touched.
    pub fn cut_manual(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<usize> {
        let existing = self.manual_between(from, to)?;
        for (id, entry) in &existing {
            self.delete_manual(*id)?;
            for piece in entry.without(from, to) {
                self.insert_manual(&piece)?;
            }
        }
        Ok(existing.len())
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
mod tests {
    use super::*;
    use crate::clock::Rounding;
    use crate::grid::{DaySpan, Grid, parse_tz};
    use crate::plan::Conflict;

    fn now() -> DateTime<Utc> {
        "2026-03-05T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn plans_and_revisions_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/planner.sqlite3");
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("Europe/Berlin").unwrap(),
            DaySpan::default(),
        );
        let mut day = DayPlan::new(g.date);
        let r = g
            .range("09:00-10:00".parse().unwrap(), Rounding::Strict)
            .unwrap();
        let cell = Cell::new("deep work")
            .unwrap()
            .with_category(Some("focus"))
            .with_color(Some(Color::parse("#112233").unwrap()));
        day.assign(&g, r, &cell, Conflict::Refuse, now()).unwrap();
        day.replan(&g, 20, true, now()).unwrap();
        {
            let mut s = Store::open(&path).unwrap();
            s.write(|t| t.save_day_plan(&day)).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.read().day_plan(g.date).unwrap(), day);
        assert_eq!(s.read().planned_dates().unwrap(), vec![g.date]);
        let mode: String = s
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn calendar_events_are_found_in_current_plans_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("p.db")).unwrap();
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::default(),
        );
        let mut day = DayPlan::new(g.date);
        let r = g
            .range("14:00-15:00".parse().unwrap(), Rounding::Strict)
            .unwrap();
        let review = Cell::new("review").unwrap().fixed("ev-1");
        day.place_fixed(&g, r, &review, Conflict::Refuse, now())
            .unwrap();
        s.write(|t| t.save_day_plan(&day)).unwrap();
        let uids = ["ev-1".to_owned()];
        assert_eq!(s.read().dates_with_uids(&uids).unwrap(), [g.date]);
        // A re-plan that clears the rest of the day leaves the event only in revision 1.
        day.replan(&g, 0, true, now()).unwrap();
        s.write(|t| t.save_day_plan(&day)).unwrap();
        assert_eq!(s.read().dates_with_uids(&uids).unwrap(), []);
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("p.db")).unwrap();
        let e = ManualEntry {
            start: now(),
            end: now() + chrono::Duration::minutes(10),
            tz: "UTC".into(),
            label: "x".into(),
            category: None,
        };
        let r: Result<()> = s.write(|t| {
            t.insert_manual(&e)?;
            Err(PlannerError::EmptyLabel)
        });
        assert!(r.is_err());
        assert!(s.read().is_empty().unwrap());
    }

    #[test]
    fn refuses_a_newer_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = Store::open(&path).err().unwrap();
        assert!(matches!(e, PlannerError::NewerDatabase { found: 99, .. }));
        assert!(
            e.to_string()
                .contains("written by a newer blocks (schema version 99"),
            "{e}"
        );
    }

    #[test]
    fn templates_save_rename_remove() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("p.db")).unwrap();
        let mut cells = BTreeMap::new();
        cells.insert(540, Cell::new("deep work").unwrap());
        let t = Template {
            name: "workday".into(),
            created_at: now(),
            cells,
        };
        s.write(|x| x.save_template(&t, false)).unwrap();
        assert!(matches!(
            s.write(|x| x.save_template(&t, false)),
            Err(PlannerError::TemplateExists { .. })
        ));
        assert_eq!(s.read().template("WORKDAY").unwrap().cells.len(), 1);
        s.write(|x| x.rename_template("workday", "weekday"))
            .unwrap();
        let e = s.read().template("workday").unwrap_err().to_string();
        assert_eq!(
            e,
            "no template named `workday`; the templates are: weekday (`blocks template ls`)"
        );
        s.write(|x| x.remove_template("weekday")).unwrap();
        let e = s.read().template("weekday").unwrap_err().to_string();
        assert!(e.contains("there are no templates yet"), "{e}");
    }

    #[test]
    fn settings_are_checked_before_they_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("p.db")).unwrap();
        s.write(|x| x.set_setting("wake", "06:00")).unwrap();
        assert!(s.write(|x| x.set_setting("wake", "6")).is_err());
        assert_eq!(s.read().settings().unwrap().span.wake, 360);
        s.write(|x| x.unset_setting("wake")).unwrap();
        assert_eq!(s.read().settings().unwrap().span.wake, 420);
    }
}
