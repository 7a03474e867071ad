//! What the app remembers between runs besides the window's size and place (which
//! tauri-plugin-window-state keeps): the last view, the selected workspace, and whether planned
//! blocks are announced.
//!
//! One small JSON file in the app's config directory, replaced atomically, so a crash while
//! saving leaves the previous file. A file that does not parse is set aside, not trusted, and
//! the app starts from the defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

const FILE: &str = "prefs.json";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Prefs {
    /// The view shown last: "navigation", "today" or "stress".
    pub view: Option<String>,
    /// The workspace root selected last in the Navigation view.
    pub nav_workspace: Option<String>,
    /// A desktop notification when a planned run of blocks starts (off by default).
    pub notify_blocks: bool,
    /// The workspace selected last in the Stress tests view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stress_workspace: Option<String>,
    /// The command that runs the words after it in a new terminal window (`x-terminal-emulator
    /// -e`), for opening `repro` from the Stress tests view; unset: no such button.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
}

pub fn path_in(config_dir: &Path) -> PathBuf {
    config_dir.join(FILE)
}

/// Reads the preferences; a missing file gives the defaults, a broken one is renamed to
/// `prefs.json.broken` (kept for the curious) and gives the defaults too.
pub fn load(path: &Path) -> Prefs {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Prefs::default();
    };
    match serde_json::from_str(&text) {
        Ok(prefs) => prefs,
        Err(e) => {
            log::warn!(
                "{} does not parse ({e}); starting from the defaults and keeping it as prefs.json.broken",
                path.display()
            );
            let _ = std::fs::rename(path, path.with_extension("json.broken"));
            Prefs::default()
        }
    }
}

pub fn save(path: &Path, prefs: &Prefs) -> Result<()> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        AppError::failed(format!(
            "could not save the app's preferences to {} ({what}: {e}); check that the directory is writable",
            path.display()
        ))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail("creating its directory", &e))?;
    let text = serde_json::to_string_pretty(prefs).map_err(|e| fail("encoding", &e))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("creating", &e))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| fail("writing", &e))?;
    file.persist(path)
        .map_err(|e| fail("replacing", &e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        assert_eq!(load(&path), Prefs::default());
        let prefs = Prefs {
            view: Some("today".into()),
            nav_workspace: Some("/w".into()),
            notify_blocks: true,
            stress_workspace: Some("/s".into()),
            terminal: Some("xterm -e".into()),
        };
        save(&path, &prefs).unwrap();
        assert_eq!(load(&path), prefs);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path), Prefs::default());
        assert!(dir.path().join("prefs.json.broken").exists());
    }
}
