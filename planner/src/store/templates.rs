//! Templates: named day shapes.

use rusqlite::{OptionalExtension, params};

use super::{At, TemplateInfo, Txn, from_ms, ms, stored_cell};
use crate::error::{PlannerError, Result};
use crate::plan::Color;
use crate::template::Template;

impl Txn<'_> {
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
}
