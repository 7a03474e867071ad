//! Planned against actual, per label and per category with adherence, for a day or a week
//! (the week strip of daily adherence is [`WeekReport`]'s `days`).

use chrono::NaiveDate;
use serde::Serialize;

use super::Planner;
use crate::compare::{self, DayComparison, Summary};
use crate::error::Result;
use crate::settings::weekday_name;
use crate::template::week_of;

/// One day's report: the current plan against what was done.
#[derive(Clone, Debug, Serialize)]
pub struct DayReport {
    #[serde(flatten)]
    pub comparison: DayComparison,
    pub tz: String,
    /// Warnings from activity sources that could not be read.
    pub notes: Vec<String>,
}

/// A week's report: each day's adherence, and the totals per label and category.
#[derive(Clone, Debug, Serialize)]
pub struct WeekReport {
    /// The first day of the week (the `week-start` setting), `mon` to `sun`.
    pub week_start: &'static str,
    #[serde(flatten)]
    pub summary: Summary,
    pub tz: String,
    pub notes: Vec<String>,
}

impl Planner {
    pub fn day_report(&self, date: NaiveDate) -> Result<DayReport> {
        let (comparison, notes) = self.compare(date, self.now())?;
        Ok(DayReport {
            comparison,
            tz: self.tz.name().to_owned(),
            notes,
        })
    }

    /// The week (by the `week-start` setting) that holds `date`.
    pub fn week(&self, date: NaiveDate) -> [NaiveDate; 7] {
        week_of(date, self.settings.week_start)
    }

    pub fn week_report(&self, date: NaiveDate) -> Result<WeekReport> {
        let now = self.now();
        let mut days = Vec::new();
        let mut notes = Vec::new();
        for d in self.week(date) {
            let (cmp, w) = self.compare(d, now)?;
            days.push(cmp);
            notes.extend(w);
        }
        Ok(WeekReport {
            week_start: weekday_name(self.settings.week_start),
            summary: compare::summarize(&days),
            tz: self.tz.name().to_owned(),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ops::edit::{DidRequest, PlanRequest};
    use crate::plan::Conflict;

    #[test]
    fn adherence_per_label_category_and_a_week_strip() {
        // Thursday 2026-03-05, 10:47 UTC.
        let mut f = planner("UTC", "2026-03-05T10:47:00Z");
        let p = &mut f.planner;
        let thu = date("2026-03-05");
        let wed = date("2026-03-04");
        for (d, range, label, category) in [
            (thu, "09:00-10:00", "deep work", Some("focus")),
            (thu, "10:00-10:30", "email", Some("admin")),
            (wed, "09:00-10:00", "deep work", Some("focus")),
        ] {
            p.plan(&PlanRequest {
                date: d,
                blocks: blocks(range),
                label: label.into(),
                category: category.map(Into::into),
                color: None,
                conflict: Conflict::Refuse,
            })
            .unwrap();
        }
        for (d, range, label) in [
            (thu, "09:00-09:40", "deep work"),
            (wed, "09:00-10:00", "deep work"),
        ] {
            p.did(&DidRequest {
                date: d,
                blocks: blocks(range),
                label: label.into(),
                category: None,
                conflict: Conflict::Refuse,
            })
            .unwrap();
        }
        let day = p.day_report(thu).unwrap();
        assert_eq!(
            (
                day.comparison.adherence.matched,
                day.comparison.adherence.due
            ),
            (4, 9)
        );
        let email = day
            .comparison
            .by_label
            .iter()
            .find(|t| t.name == "email")
            .unwrap();
        assert_eq!((email.planned, email.matched, email.due), (3, 0, 3));
        let focus = &day.comparison.by_category[0];
        assert_eq!(
            (focus.name.as_str(), focus.matched, focus.due),
            ("focus", 4, 6)
        );

        let week = p.week_report(thu).unwrap();
        let strip: Vec<(String, u32, u32)> = week
            .summary
            .days
            .iter()
            .map(|d| (d.date.to_string(), d.adherence.matched, d.adherence.due))
            .collect();
        assert_eq!(strip.len(), 7);
        assert_eq!(strip[0].0, "2026-03-02");
        assert_eq!(strip[2], ("2026-03-04".into(), 6, 6));
        assert_eq!(strip[3], ("2026-03-05".into(), 4, 9));
        assert_eq!(strip[4], ("2026-03-06".into(), 0, 0));
        assert_eq!(
            (week.summary.adherence.matched, week.summary.adherence.due),
            (10, 15)
        );
        let json = serde_json::to_value(&week).unwrap();
        assert_eq!(json["week_start"], "mon");
        assert_eq!(json["days"][2]["ratio"], 1.0);
        assert_eq!(json["days"][4]["ratio"], serde_json::Value::Null);
        assert!(json["days"][0].get("outcomes").is_none());
    }
}
