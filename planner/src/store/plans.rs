//! Day plans and their revisions.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::params;

use super::{At, CellRow, StyleUse, Txn, from_ms, ms, stored_cell};
use crate::clock::WallTime;
use crate::error::Result;
use crate::plan::{Color, DayPlan, Revision};

impl Txn<'_> {
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

    /// The labels, categories and colours the current plans and the templates use, with how
    /// many blocks hold each combination, most used first.
    pub fn styles_in_use(&self) -> Result<Vec<StyleUse>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT label, category, color, count(*) AS n FROM (
                     SELECT c.label, c.category, c.color FROM plan_cells c
                       JOIN revisions r ON r.id = c.revision_id
                      WHERE r.number = (SELECT max(number) FROM revisions WHERE date = r.date)
                     UNION ALL
                     SELECT label, category, color FROM template_cells)
                 GROUP BY label, category, color
                 ORDER BY n DESC, label, category, color",
            )
            .at(self.path)?;
        let rows: Vec<(String, Option<String>, Option<String>, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .at(self.path)?
            .collect::<rusqlite::Result<_>>()
            .at(self.path)?;
        Ok(rows
            .into_iter()
            .map(|(label, category, color, n)| StyleUse {
                label,
                category,
                color: color.and_then(|c| Color::parse(&c).ok()),
                blocks: usize::try_from(n).unwrap_or(0),
            })
            .collect())
    }
}
