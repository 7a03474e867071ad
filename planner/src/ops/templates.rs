//! Templates ("common models"): save a day's plan as one, apply one to a date or to the days
//! of a weekday pattern, list, remove and rename them.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::Planner;
use crate::error::Result;
use crate::grid::Grid;
use crate::plan::Conflict;
use crate::store::TemplateInfo;
use crate::template::{Applied, Template, Weekdays};

/// Where a template goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ApplyTo {
    Date(NaiveDate),
    /// The days of `pattern` in the week that holds `week_of` and the `weeks - 1` after it
    /// (at least one week).
    Weekdays {
        pattern: Weekdays,
        week_of: NaiveDate,
        weeks: u32,
    },
}

/// What saving a template did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateSaved {
    pub name: String,
    /// The day it was saved from.
    pub date: NaiveDate,
    pub blocks: usize,
    /// Blocks from calendar events, which belong to their day and were left out.
    pub fixed_left_out: usize,
}

/// What applying a template did to one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateApplied {
    pub date: NaiveDate,
    pub template: String,
    #[serde(flatten)]
    pub applied: Applied,
}

impl Planner {
    /// Saves the current plan of `from` as template `name`; an existing template of that name
    /// is replaced only with `overwrite`.
    pub fn save_template(
        &mut self,
        name: &str,
        from: NaiveDate,
        overwrite: bool,
    ) -> Result<TemplateSaved> {
        let now = self.now();
        self.store.write(|t| {
            let day = t.day_plan(from)?;
            let template = Template::from_day(name, &day, now)?;
            t.save_template(&template, overwrite)?;
            Ok(TemplateSaved {
                blocks: template.cells.len(),
                name: template.name,
                date: from,
                fixed_left_out: day.cells().values().filter(|c| c.is_fixed()).count(),
            })
        })
    }

    /// The dates `to` names, in order.
    pub fn dates_of(&self, to: &ApplyTo) -> Vec<NaiveDate> {
        match *to {
            ApplyTo::Date(d) => vec![d],
            ApplyTo::Weekdays {
                pattern,
                week_of,
                weeks,
            } => (0..weeks.max(1))
                .flat_map(|w| {
                    pattern.dates_in_week(
                        week_of + Duration::weeks(w as i64),
                        self.settings.week_start,
                    )
                })
                .collect(),
        }
    }

    /// Applies template `name` to the days `to` names, all in one transaction: with
    /// `Conflict::Refuse` one day that holds something else in the way refuses the lot;
    /// `Replace` replaces the days' plans (calendar blocks stay). Blocks before a day's
    /// re-plan are left alone.
    pub fn apply_template(
        &mut self,
        name: &str,
        to: &ApplyTo,
        conflict: Conflict,
    ) -> Result<Vec<TemplateApplied>> {
        let now = self.now();
        let grids: Vec<Grid> = self
            .dates_of(to)
            .into_iter()
            .map(|d| self.grid(d))
            .collect();
        self.store.write(|t| {
            let template = t.template(name)?;
            let mut results = Vec::new();
            for g in &grids {
                let mut day = t.day_plan(g.date)?;
                let applied = template.apply(&mut day, g, conflict, now)?;
                t.save_day_plan(&day)?;
                results.push(TemplateApplied {
                    date: g.date,
                    template: template.name.clone(),
                    applied,
                });
            }
            Ok(results)
        })
    }

    /// Every template, by name.
    pub fn templates(&self) -> Result<Vec<TemplateInfo>> {
        self.store.read().template_infos()
    }

    pub fn remove_template(&mut self, name: &str) -> Result<()> {
        self.store.write(|t| t.remove_template(name))
    }

    pub fn rename_template(&mut self, old: &str, new: &str) -> Result<()> {
        self.store.write(|t| t.rename_template(old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::view::RevisionPick;

    #[test]
    fn save_apply_to_a_weekday_pattern_list_rename_remove() {
        let mut f = planner("UTC", "2026-03-01T20:00:00Z");
        let p = &mut f.planner;
        let monday = date("2026-03-02");
        for (range, label) in [("09:00-11:00", "deep work"), ("14:00-15:00", "email")] {
            p.plan(&paint(monday, blocks(range), label)).unwrap();
        }
        let saved = p.save_template("workday", monday, false).unwrap();
        assert_eq!((saved.blocks, saved.fixed_left_out), (18, 0));
        assert!(p.save_template("workday", monday, false).is_err());

        let to = ApplyTo::Weekdays {
            pattern: Weekdays::parse("mon-wed").unwrap(),
            week_of: date("2026-03-11"),
            weeks: 2,
        };
        let applied = p.apply_template("WORKDAY", &to, Conflict::Refuse).unwrap();
        let dates: Vec<String> = applied.iter().map(|a| a.date.to_string()).collect();
        assert_eq!(
            dates,
            [
                "2026-03-09",
                "2026-03-10",
                "2026-03-11",
                "2026-03-16",
                "2026-03-17",
                "2026-03-18"
            ]
        );
        assert!(applied.iter().all(|a| a.applied.placed == 18));
        let json = serde_json::to_value(&applied[0]).unwrap();
        assert_eq!(json["placed"], 18);
        assert_eq!(json["template"], "workday");
        let wed = p.day(date("2026-03-18"), RevisionPick::InForce).unwrap();
        assert_eq!(wed.blocks[42].planned.as_ref().unwrap().label, "email");

        p.rename_template("workday", "office").unwrap();
        let infos = p.templates().unwrap();
        assert_eq!((infos[0].name.as_str(), infos[0].blocks), ("office", 18));
        assert_eq!(infos[0].labels, ["deep work", "email"]);
        p.remove_template("office").unwrap();
        assert!(p.templates().unwrap().is_empty());
    }
}
