//! The settings: wake, sleep, week-start, join-gap, tz.

use std::path::PathBuf;

use serde::Serialize;

use super::{Planner, choose_tz};
use crate::error::Result;
use crate::settings::{KEYS, Settings};

/// One setting as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    /// The value in effect; `None` for a `tz` left to the system.
    pub value: Option<String>,
    /// Not stored: the default is in effect.
    pub default: bool,
    pub help: &'static str,
}

/// Every setting, the database file, and the zone this planner works in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigView {
    pub settings: Vec<Setting>,
    pub database: PathBuf,
    pub zone: String,
}

impl Planner {
    pub fn config(&self) -> Result<ConfigView> {
        let stored = self.store.read().setting_pairs()?;
        let effective = self.settings.to_pairs();
        Ok(ConfigView {
            settings: KEYS
                .iter()
                .map(|(key, help)| Setting {
                    key,
                    value: effective.get(*key).cloned(),
                    default: !stored.contains_key(*key),
                    help,
                })
                .collect(),
            database: self.store.path().to_owned(),
            zone: self.tz.name().to_owned(),
        })
    }

    /// Checks and stores one setting; the planner uses it from then on.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.change_settings(|t| t.set_setting(key, value).map(|()| true))?;
        Ok(())
    }

    /// Goes back to a setting's default; `false` when it was not set.
    pub fn unset_setting(&mut self, key: &str) -> Result<bool> {
        self.change_settings(|t| t.unset_setting(key))
    }

    /// Changes the stored settings and takes them up, refusing (and storing nothing) when
    /// they do not work with the planner's own zone and span options.
    fn change_settings(
        &mut self,
        change: impl FnOnce(&crate::store::Txn<'_>) -> Result<bool>,
    ) -> Result<bool> {
        let changed = self.store.write(|t| {
            let changed = change(t)?;
            let settings: Settings = t.settings()?;
            choose_tz(self.options.tz.as_deref(), settings.tz.as_deref())?;
            settings
                .span
                .with(self.options.wake.as_deref(), self.options.sleep.as_deref())?;
            Ok(changed)
        })?;
        self.refresh()?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn settings_are_shown_changed_and_taken_up() {
        let mut f = planner("UTC", "2026-03-05T08:00:00Z");
        let p = &mut f.planner;
        let c = p.config().unwrap();
        assert_eq!(c.zone, "UTC");
        let wake = c.settings.iter().find(|s| s.key == "wake").unwrap();
        assert_eq!((wake.value.as_deref(), wake.default), (Some("07:00"), true));
        p.set_setting("wake", "06:00").unwrap();
        assert_eq!(p.grid(date("2026-03-05")).len(), 108);
        let c = p.config().unwrap();
        let wake = c.settings.iter().find(|s| s.key == "wake").unwrap();
        assert_eq!(
            (wake.value.as_deref(), wake.default),
            (Some("06:00"), false)
        );
        assert!(p.set_setting("wake", "6").is_err());
        assert!(p.unset_setting("wake").unwrap());
        assert!(!p.unset_setting("wake").unwrap());
        assert_eq!(p.grid(date("2026-03-05")).len(), 102);
        assert!(p.set_setting("colour", "x").is_err());
    }
}
