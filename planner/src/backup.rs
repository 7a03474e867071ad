//! A versioned JSON export of everything the planner stores, meant to be read by a person:
//! plans are written as ranges (`"from": "09:00", "to": "11:30"`), not block by block.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::actual::ManualEntry;
use crate::clock::{BLOCK_MINUTES, WallTime};
use crate::error::{PlannerError, Result};
use crate::plan::{Cell, DayPlan, Revision};
use crate::settings::Settings;
use crate::store::Txn;
use crate::template::Template;

/// The `format` field of every backup.
pub const FORMAT: &str = "retrace-blocks-backup";
/// The backup version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    pub format: String,
    pub version: u32,
    pub exported_at: DateTime<Utc>,
    pub settings: BTreeMap<String, String>,
    pub days: Vec<BackupDay>,
    pub templates: Vec<BackupTemplate>,
    /// Time recorded by hand with `blocks did`.
    pub actual: Vec<ManualEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupDay {
    pub date: NaiveDate,
    pub revisions: Vec<BackupRevision>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupRevision {
    pub number: u32,
    pub created_at: DateTime<Utc>,
    /// The block this revision re-planned from; absent for a day's first plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<WallTime>,
    pub blocks: Vec<BlockRange>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupTemplate {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub blocks: Vec<BlockRange>,
}

/// Consecutive blocks holding one cell: `from` inclusive, `to` exclusive, both wall-clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRange {
    pub from: WallTime,
    pub to: WallTime,
    #[serde(flatten)]
    pub cell: Cell,
}

fn to_ranges<'a>(cells: impl Iterator<Item = (WallTime, &'a Cell)>) -> Vec<BlockRange> {
    let mut out: Vec<BlockRange> = Vec::new();
    for (w, c) in cells {
        match out.last_mut() {
            Some(r) if r.to == w && r.cell == *c => r.to = w.next(),
            _ => out.push(BlockRange {
                from: w,
                to: w.next(),
                cell: c.clone(),
            }),
        }
    }
    out
}

fn from_ranges(ranges: &[BlockRange], path: &str) -> Result<BTreeMap<WallTime, Cell>> {
    let mut cells = BTreeMap::new();
    for r in ranges {
        if r.to.fold != r.from.fold
            || r.to.minute <= r.from.minute
            || r.from.minute % BLOCK_MINUTES != 0
            || r.to.minute % BLOCK_MINUTES != 0
        {
            return Err(PlannerError::MalformedBackup {
                path: path.to_owned(),
                reason: format!(
                    "block range {}-{} is not a run of 10-minute blocks",
                    r.from, r.to
                ),
            });
        }
        let mut w = r.from;
        while w < r.to {
            cells.insert(w, r.cell.clone());
            w = w.next();
        }
    }
    Ok(cells)
}

impl Backup {
    /// Everything in the database.
    pub fn collect(txn: &Txn<'_>, now: DateTime<Utc>) -> Result<Backup> {
        let mut days = Vec::new();
        for date in txn.planned_dates()? {
            let plan = txn.day_plan(date)?;
            days.push(BackupDay {
                date,
                revisions: plan
                    .revisions
                    .iter()
                    .map(|r| BackupRevision {
                        number: r.number,
                        created_at: r.created_at,
                        from: r.from,
                        blocks: to_ranges(r.cells.iter().map(|(w, c)| (*w, c))),
                    })
                    .collect(),
            });
        }
        let templates = txn
            .templates()?
            .into_iter()
            .map(|t| BackupTemplate {
                blocks: to_ranges(t.cells.iter().map(|(m, c)| (WallTime::new(*m), c))),
                name: t.name,
                created_at: t.created_at,
            })
            .collect();
        Ok(Backup {
            format: FORMAT.into(),
            version: VERSION,
            exported_at: now,
            settings: txn.setting_pairs()?,
            days,
            templates,
            actual: txn.all_manual()?,
        })
    }

    /// The backup as pretty JSON, ending in a newline.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map(|json| json + "\n")
            .map_err(PlannerError::BackupJson)
    }

    /// Reads a backup, refusing other files and newer versions with a message that says so.
    pub fn from_json(text: &str, path: &str) -> Result<Backup> {
        let bad = |reason: String| PlannerError::MalformedBackup {
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(bad(format!(
                "it is not a blocks backup (no \"format\": \"{FORMAT}\")"
            )));
        }
        let version = value
            .get("version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad("it has no version".into()))?;
        if version > VERSION as u64 {
            return Err(PlannerError::NewerBackup {
                path: path.to_owned(),
                found: version.min(u32::MAX as u64) as u32,
                supported: VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))
    }

    /// Writes the backup into an empty database (the caller clears it first). What the
    /// database would refuse (a date or revision twice, two templates of one name, a bad
    /// setting) is refused as a malformed backup, naming the entry.
    pub fn restore(&self, txn: &Txn<'_>, path: &str) -> Result<()> {
        let bad = |reason: String| PlannerError::MalformedBackup {
            path: path.to_owned(),
            reason,
        };
        Settings::from_pairs(&self.settings).map_err(|e| bad(format!("settings: {e}")))?;
        txn.replace_settings(&self.settings)?;
        let mut dates = BTreeSet::new();
        for d in &self.days {
            if !dates.insert(d.date) {
                return Err(bad(format!("day {} is there twice", d.date)));
            }
            let mut revisions = Vec::new();
            for r in &d.revisions {
                revisions.push(Revision {
                    number: r.number,
                    created_at: r.created_at,
                    from: r.from,
                    cells: from_ranges(&r.blocks, path)?,
                });
            }
            revisions.sort_by_key(|r| r.number);
            if let Some(w) = revisions.windows(2).find(|w| w[0].number == w[1].number) {
                return Err(bad(format!(
                    "day {} has revision {} twice",
                    d.date, w[0].number
                )));
            }
            txn.save_day_plan(&DayPlan {
                date: d.date,
                revisions,
            })?;
        }
        let mut names = BTreeSet::new();
        for t in &self.templates {
            let cells = from_ranges(&t.blocks, path)?
                .into_iter()
                .map(|(w, c)| (w.minute, c))
                .collect();
            let name = crate::template::validate_name(&t.name).map_err(|e| bad(e.to_string()))?;
            // Template names are unique ignoring ASCII case, as the database compares them.
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(bad(format!("two templates are named `{name}`")));
            }
            txn.save_template(
                &Template {
                    name,
                    created_at: t.created_at,
                    cells,
                },
                false,
            )?;
        }
        for e in &self.actual {
            if e.end <= e.start {
                return Err(PlannerError::MalformedBackup {
                    path: path.to_owned(),
                    reason: format!("actual entry `{}` ends before it starts", e.label),
                });
            }
            txn.insert_manual(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn ranges_round_trip() {
        let deep = Cell::new("deep work").unwrap();
        let mut cells = BTreeMap::new();
        for m in (540..690).step_by(10) {
            cells.insert(WallTime::new(m), deep.clone());
        }
        cells.insert(WallTime::with_fold(90, 1), deep.clone());
        let ranges = to_ranges(cells.iter().map(|(w, c)| (*w, c)));
        assert_eq!(ranges.len(), 2);
        let json = serde_json::to_string(&ranges[1]).unwrap();
        assert_eq!(json, r#"{"from":"09:00","to":"11:30","label":"deep work"}"#);
        assert_eq!(
            serde_json::to_string(&ranges[0]).unwrap(),
            r#"{"from":"01:30#2","to":"01:40#2","label":"deep work"}"#
        );
        assert_eq!(from_ranges(&ranges, "b").unwrap(), cells);
    }

    #[test]
    fn refuses_other_files_and_newer_versions() {
        let e = Backup::from_json("{}", "b.json").unwrap_err().to_string();
        assert!(e.contains("not a blocks backup"), "{e}");
        let e = Backup::from_json(
            r#"{"format":"retrace-blocks-backup","version":7}"#,
            "b.json",
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                PlannerError::NewerBackup {
                    found: 7,
                    supported: 1,
                    ..
                }
            ),
            "{e}"
        );
        let e = Backup::from_json("BEGIN:VCALENDAR", "b.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn restore_names_what_the_database_would_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-03-05T08:00:00Z".parse().unwrap();
        let block = BlockRange {
            from: WallTime::new(540),
            to: WallTime::new(600),
            cell: Cell::new("a").unwrap(),
        };
        let revision = BackupRevision {
            number: 1,
            created_at: now,
            from: None,
            blocks: vec![block.clone()],
        };
        let day = BackupDay {
            date: "2026-03-05".parse().unwrap(),
            revisions: vec![revision.clone()],
        };
        let template = |name: &str| BackupTemplate {
            name: name.into(),
            created_at: now,
            blocks: vec![block.clone()],
        };
        let empty = Backup {
            format: FORMAT.into(),
            version: VERSION,
            exported_at: now,
            settings: BTreeMap::new(),
            days: vec![],
            templates: vec![],
            actual: vec![],
        };
        let cases = [
            (
                Backup {
                    days: vec![day.clone(), day.clone()],
                    ..empty.clone()
                },
                "day 2026-03-05 is there twice",
            ),
            (
                Backup {
                    days: vec![BackupDay {
                        revisions: vec![revision.clone(), revision.clone()],
                        ..day.clone()
                    }],
                    ..empty.clone()
                },
                "day 2026-03-05 has revision 1 twice",
            ),
            (
                Backup {
                    templates: vec![template("Work"), template("work")],
                    ..empty.clone()
                },
                "two templates are named `work`",
            ),
            (
                Backup {
                    settings: BTreeMap::from([("wake".into(), "7".into())]),
                    ..empty.clone()
                },
                "`7` is not a time",
            ),
        ];
        for (i, (backup, want)) in cases.into_iter().enumerate() {
            let mut store = Store::open(&dir.path().join(format!("{i}.db"))).unwrap();
            let e = store
                .write(|t| backup.restore(t, "b.json"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("malformed backup file b.json: "), "{e}");
            assert!(e.contains(want), "{e} should say {want}");
            assert!(store.read().is_empty().unwrap(), "nothing half-written");
        }
    }

    #[test]
    fn whole_database_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-03-05T08:00:00Z".parse().unwrap();
        let mut a = Store::open(&dir.path().join("a.db")).unwrap();
        let date: NaiveDate = "2026-03-05".parse().unwrap();
        let mut cells = BTreeMap::new();
        cells.insert(WallTime::new(540), Cell::new("x").unwrap().fixed("uid-1"));
        let day = DayPlan {
            date,
            revisions: vec![
                Revision {
                    number: 1,
                    created_at: now,
                    from: None,
                    cells: cells.clone(),
                },
                Revision {
                    number: 2,
                    created_at: now,
                    from: Some(WallTime::new(600)),
                    cells: BTreeMap::new(),
                },
            ],
        };
        a.write(|t| {
            t.save_day_plan(&day)?;
            t.set_setting("wake", "06:00")?;
            t.save_template(
                &Template {
                    name: "t".into(),
                    created_at: now,
                    cells: BTreeMap::from([(600, Cell::new("y").unwrap())]),
                },
                false,
            )?;
            t.insert_manual(&ManualEntry {
                start: now,
                end: now + chrono::Duration::minutes(10),
                tz: "UTC".into(),
                label: "z".into(),
                category: None,
            })
        })
        .unwrap();
        let backup = Backup::collect(&a.read(), now).unwrap();
        assert_eq!(
            (
                backup.days.len(),
                backup.templates.len(),
                backup.actual.len()
            ),
            (1, 1, 1)
        );
        assert_eq!(
            backup.settings.get("wake").map(String::as_str),
            Some("06:00")
        );
        let text = backup.to_json().unwrap();
        let back = Backup::from_json(&text, "b.json").unwrap();
        assert_eq!(back, backup);
        let mut b = Store::open(&dir.path().join("b.db")).unwrap();
        b.write(|t| back.restore(t, "b.json")).unwrap();
        assert_eq!(Backup::collect(&b.read(), now).unwrap(), backup);
        assert_eq!(b.read().day_plan(date).unwrap(), day);
    }
}
