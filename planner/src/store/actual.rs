//! Time recorded by hand (`blocks did`).

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{At, Txn, from_ms, ms};
use crate::actual::ManualEntry;
use crate::error::Result;

impl Txn<'_> {
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
}
