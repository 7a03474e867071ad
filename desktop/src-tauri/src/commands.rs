//! The commands the frontend calls. Each is a thin call into a library (or into the app's
//! own `prefs`), logging a failure before it returns it, so the log has what the UI showed.

use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::{AppError, ErrorKind, Result};
use crate::{AppState, live, nav, prefs};

/// Logs a failed command's error; the frontend shows the same message.
fn logged<T>(command: &str, result: Result<T>) -> Result<T> {
    if let Err(e) = &result {
        log::warn!("{command}: {}", e.message);
    }
    result
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: &'static str,
    pub data_dir: Option<String>,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        data_dir: state
            .paths
            .retrace_data
            .as_ref()
            .map(|p| p.display().to_string()),
    }
}

#[tauri::command]
pub fn prefs_get(state: State<'_, AppState>) -> prefs::Prefs {
    state.prefs.lock().map(|p| p.clone()).unwrap_or_default()
}

#[tauri::command]
pub fn prefs_set(state: State<'_, AppState>, prefs: prefs::Prefs) -> Result<()> {
    let result = prefs::save(&state.paths.prefs, &prefs);
    if result.is_ok()
        && let Ok(mut current) = state.prefs.lock()
    {
        *current = prefs;
    }
    logged("prefs_set", result)
}

fn data_dir(state: &AppState) -> Result<&std::path::Path> {
    state.paths.retrace_data.as_deref().ok_or_else(|| {
        AppError::new(
            ErrorKind::Failed,
            "cannot find retrace's data directory: set XDG_DATA_HOME or HOME and restart the app",
        )
    })
}

#[tauri::command]
pub fn nav_workspaces(state: State<'_, AppState>) -> Result<Vec<nav::WorkspaceEntry>> {
    logged("nav_workspaces", data_dir(&state).and_then(nav::workspaces))
}

/// Opens a workspace's tree and keeps it live: `nav:changed` carries the new tree after
/// every commit by any writer.
#[tauri::command]
pub fn nav_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    database: String,
    root: String,
) -> Result<retrace_lsp::render::TreeView> {
    let result = (|| {
        let db = std::path::PathBuf::from(&database);
        let view = nav::tree(&db, &root)?;
        let files = [db.clone(), db.with_extension("sqlite3-wal")];
        let watch = live::Watch::start(&files, move || match nav::tree(&db, &root) {
            Ok(view) => {
                let _ = app.emit("nav:changed", view);
            }
            Err(e) => log::warn!("refreshing the navigation tree: {}", e.message),
        })?;
        if let Ok(mut slot) = state.nav_watch.lock() {
            *slot = Some(watch);
        }
        Ok(view)
    })();
    logged("nav_open", result)
}

#[tauri::command]
pub fn nav_close(state: State<'_, AppState>) {
    if let Ok(mut slot) = state.nav_watch.lock() {
        slot.take();
    }
}
