//! Files in and out: plans and actual time as iCalendar, calendars imported as fixed blocks
//! (never changing blocks before a day's re-plan, and saying what was left out), and the JSON
//! backup of everything.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

use super::Planner;
use crate::actual::ActualCell;
use crate::backup::Backup;
use crate::error::{PlannerError, Result};
use crate::grid::Grid;
use crate::ical;
use crate::plan::{Conflict, DayPlan};

/// A calendar made by [`Planner::export_calendar`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CalendarExport {
    /// The iCalendar text.
    pub text: String,
    pub events: usize,
    pub dates: Vec<NaiveDate>,
    /// What was done rather than the plan.
    pub actual: bool,
    /// Planned blocks left out, one line per day: those at clock times the day does not
    /// have (the clocks skipped them). Blocks outside the waking span are exported.
    pub notes: Vec<String>,
}

/// What importing a file did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Imported {
    Calendar(CalendarImported),
    Backup(BackupRestored),
}

/// What importing a calendar did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CalendarImported {
    /// The file as the caller named it.
    pub file: String,
    /// Events with blocks placed (all of them, or their part after a re-plan).
    pub imported: usize,
    /// The days whose plan changed.
    pub dates: Vec<NaiveDate>,
    /// What was skipped, cut, or left as planned before a re-plan, one line each.
    pub notes: Vec<String>,
}

/// What restoring a backup did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupRestored {
    pub file: String,
    pub days: usize,
    pub templates: usize,
    pub entries: usize,
}

impl Planner {
    /// The plan (or, with `actual`, what was done) of `dates` as an iCalendar file. A day's
    /// plan is exported whole, with the blocks planned under a wider waking span than this
    /// planner's.
    pub fn export_calendar(&self, dates: &[NaiveDate], actual: bool) -> Result<CalendarExport> {
        let now = self.now();
        let mut notes = Vec::new();
        let text = self.store.snapshot(|t| {
            if actual {
                let grids: Vec<Grid> = dates.iter().map(|d| self.grid(*d)).collect();
                let mut per_day = Vec::new();
                for g in &grids {
                    per_day.push(self.actual(t, g, now)?.0);
                }
                let days: Vec<(&Grid, &[Option<ActualCell>])> = grids
                    .iter()
                    .zip(per_day.iter())
                    .map(|(g, a)| (g, a.as_slice()))
                    .collect();
                return Ok(ical::actual_calendar(&days, now));
            }
            let plans: Vec<DayPlan> = dates
                .iter()
                .map(|d| t.day_plan(*d))
                .collect::<Result<_>>()?;
            let grids: Vec<Grid> = plans
                .iter()
                .map(|p| Grid::new(p.date, self.tz, p.span_holding_plan(self.span)))
                .collect();
            for (g, p) in grids.iter().zip(&plans) {
                let off = p.off_grid(g);
                if off > 0 {
                    notes.push(format!(
                        "{}: {off} planned blocks are at clock times {} does not have that day \
                         (the clocks skipped them), so they are not in the file",
                        p.date,
                        self.tz.name()
                    ));
                }
            }
            let days: Vec<ical::PlanDay> = grids
                .iter()
                .zip(plans.iter())
                .map(|(g, p)| ical::PlanDay {
                    grid: g,
                    planned: p.per_block(g, None),
                    revision: p.current().map_or(1, |r| r.number),
                })
                .collect();
            Ok(ical::plan_calendar(&days, now))
        })?;
        Ok(CalendarExport {
            events: text.matches("BEGIN:VEVENT").count(),
            text,
            dates: dates.to_vec(),
            actual,
            notes,
        })
    }

    /// Everything in the database, as the versioned JSON backup.
    pub fn backup(&self) -> Result<Backup> {
        let now = self.now();
        self.store.snapshot(|t| Backup::collect(t, now))
    }

    /// Imports a file: a JSON backup (it starts with `{`) or an iCalendar file. A backup
    /// goes only into an empty database unless `replace`, which replaces everything; a
    /// calendar's events become fixed blocks, and with `replace` overwrite planned blocks.
    pub fn import_file(&mut self, path: &Path, replace: bool) -> Result<Imported> {
        let data = std::fs::read(path).map_err(|source| PlannerError::Io {
            path: path.to_owned(),
            source,
        })?;
        let shown = path.display().to_string();
        if data.trim_ascii_start().starts_with(b"{") {
            let text = String::from_utf8(data).map_err(|e| PlannerError::MalformedBackup {
                path: shown.clone(),
                reason: format!("it is not UTF-8 text ({e})"),
            })?;
            return Ok(Imported::Backup(
                self.restore_backup(&text, &shown, replace)?,
            ));
        }
        let conflict = super::conflict(replace);
        Ok(Imported::Calendar(
            self.import_calendar(&data, &shown, conflict)?,
        ))
    }

    /// Imports the events of an iCalendar file's bytes (`&str` will do; `name` is the file in
    /// messages) as fixed blocks. Re-importing an event moves its blocks; blocks before a day's
    /// re-plan keep what was planned, and the notes say which events were left out there.
    pub fn import_calendar(
        &mut self,
        data: impl AsRef<[u8]>,
        name: &str,
        conflict: Conflict,
    ) -> Result<CalendarImported> {
        let now = self.now();
        let parsed = ical::parse(data, name, self.tz)?;
        let import = ical::Import::new(parsed, self.tz, self.span);
        let written = self.store.write(|t| import.write(t, conflict, now))?;
        Ok(CalendarImported {
            file: name.to_owned(),
            imported: written.imported,
            dates: written.dates,
            notes: import.notes.into_iter().chain(written.notes).collect(),
        })
    }

    /// Restores a JSON backup (`name` in messages) into this database: refused when the
    /// database holds anything unless `replace`, which replaces all of it.
    pub fn restore_backup(
        &mut self,
        text: &str,
        name: &str,
        replace: bool,
    ) -> Result<BackupRestored> {
        let backup = Backup::from_json(text, name)?;
        self.store.write(|t| {
            if !t.is_empty()? && !replace {
                return Err(PlannerError::NotEmpty);
            }
            t.wipe()?;
            backup.restore(t, name)
        })?;
        self.refresh()?;
        Ok(BackupRestored {
            file: name.to_owned(),
            days: backup.days.len(),
            templates: backup.templates.len(),
            entries: backup.actual.len(),
        })
    }
}

/// Writes `text` to `path` whole or not at all: beside it first, then renamed over it, so a
/// failed export never leaves half a file (nor the temporary one). Errors name `path`.
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let tmp: PathBuf = path.with_extension("blocks-tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            PlannerError::Io {
                path: path.to_owned(),
                source,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::day::DayView;
    use crate::ops::edit::{PlanRequest, ReplanFrom};
    use crate::ops::view::RevisionPick;

    const WORK: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
        BEGIN:VEVENT\r\nUID:lunch@example.com\r\nDTSTAMP:20260301T000000Z\r\n\
        DTSTART:20260305T100000Z\r\nDTEND:20260305T103000Z\r\nSUMMARY:lunch\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:review@example.com\r\nDTSTAMP:20260301T000000Z\r\n\
        DTSTART:20260305T150000Z\r\nDTEND:20260305T160000Z\r\nSUMMARY:review\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";

    #[test]
    fn a_calendar_import_after_a_replan_says_what_it_left_out() {
        let mut f = planner("UTC", "2026-03-05T14:05:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        p.plan(&PlanRequest {
            date: d,
            blocks: blocks("09:00-10:00"),
            label: "deep work".into(),
            category: None,
            color: None,
            conflict: Conflict::Refuse,
        })
        .unwrap();
        p.replan(d, ReplanFrom::Now, false).unwrap();
        let imported = p
            .import_calendar(WORK, "work.ics", Conflict::Refuse)
            .unwrap();
        assert_eq!(
            (imported.imported, imported.dates.as_slice()),
            (1, &[d][..])
        );
        assert_eq!(
            imported.notes,
            [
                "2026-03-05: 1 event before the re-plan at 14:00 left as it was planned: \
              `lunch` 10:00-10:30"
            ]
        );
        let v = p.day(d, RevisionPick::InForce).unwrap();
        assert!(v.blocks[18].planned.is_none(), "10:00 stays free");
        assert!(v.blocks[48].is_fixed(), "15:00 is the review");

        // Export the day and read it back into another database.
        let export = p.export_calendar(&[d], false).unwrap();
        assert_eq!(export.events, 2);
        let path = f.dir.path().join("day.ics");
        write_file(&path, &export.text).unwrap();
        let other_dir = tempfile::tempdir().unwrap();
        let mut other = open(other_dir.path(), "UTC", "2026-03-01T00:00:00Z");
        match other.import_file(&path, false).unwrap() {
            Imported::Calendar(c) => assert_eq!(c.imported, 2),
            Imported::Backup(_) => panic!("a calendar was read as a backup"),
        }
        let back = other.day(d, RevisionPick::InForce).unwrap();
        let labels = |v: &DayView| -> Vec<Option<String>> {
            v.blocks
                .iter()
                .map(|b| b.planned.as_ref().map(|c| c.label.clone()))
                .collect()
        };
        assert_eq!(labels(&back), labels(&v));
        assert!(
            back.blocks
                .iter()
                .filter(|b| b.planned.is_some())
                .all(|b| b.is_fixed())
        );

        let e = other.import_calendar(
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR",
            "x.ics",
            Conflict::Refuse,
        );
        assert!(e.is_ok(), "an empty calendar imports nothing");
        let e = other
            .import_calendar("not a calendar", "bad.ics", Conflict::Refuse)
            .unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::BAD_FILE);
    }

    #[test]
    fn an_export_holds_every_planned_block_and_says_what_it_cannot() {
        // Planned with an earlier wake and a later sleep than the span exported with: the
        // export wrote 1 event of 3, without a word.
        let mut f = planner("UTC", "2026-03-01T12:00:00Z");
        let p = &mut f.planner;
        let d = date("2026-03-05");
        let plan = |p: &mut Planner, range: &str, label: &str| {
            p.plan(&paint(d, blocks(range), label)).unwrap();
        };
        p.set_setting("wake", "05:00").unwrap();
        p.set_setting("sleep", "01:00").unwrap();
        plan(p, "05:00-06:00", "run");
        plan(p, "09:00-10:00", "work");
        plan(p, "23:30-00:30", "film");
        p.unset_setting("wake").unwrap();
        p.unset_setting("sleep").unwrap();
        let export = p.export_calendar(&[d], false).unwrap();
        assert_eq!(export.events, 3, "{}", export.text);
        assert!(export.text.contains("DTSTART:20260305T050000Z"));
        assert!(export.text.contains("DTEND:20260306T003000Z"));
        assert!(export.notes.is_empty());
        // The report leaves them out of adherence, and says so, as `show` does.
        let report = p.day_report(d).unwrap();
        assert_eq!(
            report.notes,
            [
                "9 planned blocks fall outside 07:00-24:00 on 2026-03-05; see them with --wake/--sleep"
            ]
        );

        // A day planned in UTC, exported in Berlin, where 02:00-03:00 does not exist that day.
        let spring = date("2026-03-29");
        let mut utc = open(f.dir.path(), "UTC", "2026-03-01T12:00:00Z");
        utc.set_setting("wake", "00:00").unwrap();
        utc.plan(&paint(spring, blocks("01:00-03:00"), "night"))
            .unwrap();
        let berlin = open(f.dir.path(), "Europe/Berlin", "2026-03-01T12:00:00Z");
        let export = berlin.export_calendar(&[spring], false).unwrap();
        assert_eq!(export.events, 1);
        assert_eq!(
            export.notes,
            [
                "2026-03-29: 6 planned blocks are at clock times Europe/Berlin does not have that \
              day (the clocks skipped them), so they are not in the file"
            ]
        );
    }

    #[test]
    fn a_backup_restores_only_into_an_empty_database_unless_replaced() {
        let mut f = planner("UTC", "2026-03-05T08:00:00Z");
        let p = &mut f.planner;
        p.plan(&PlanRequest {
            date: date("2026-03-05"),
            blocks: blocks("09:00-10:00"),
            label: "a".into(),
            category: None,
            color: None,
            conflict: Conflict::Refuse,
        })
        .unwrap();
        p.set_setting("join-gap", "5").unwrap();
        let text = p.backup().unwrap().to_json().unwrap();
        let other_dir = tempfile::tempdir().unwrap();
        let mut other = open(other_dir.path(), "UTC", "2026-03-05T08:00:00Z");
        let restored = other.restore_backup(&text, "b.json", false).unwrap();
        assert_eq!(
            (restored.days, restored.templates, restored.entries),
            (1, 0, 0)
        );
        assert_eq!(
            other.settings().join_gap_minutes,
            5,
            "the settings came along"
        );
        assert!(matches!(
            other.restore_backup(&text, "b.json", false),
            Err(PlannerError::NotEmpty)
        ));
        other.restore_backup(&text, "b.json", true).unwrap();
    }
}
