//! The commands the frontend calls. Each is a thin call into a library (or into the app's
//! own `prefs`), logging a failure before it returns it, so the log has what the UI showed.

use std::path::{Path, PathBuf};

use retrace_lsp::catalog::WorkspaceSummary;
use retrace_lsp::control::JumpReply;
use retrace_lsp::tree::NodeId;
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
pub fn nav_workspaces(state: State<'_, AppState>) -> Result<Vec<WorkspaceSummary>> {
    logged("nav_workspaces", data_dir(&state).and_then(nav::workspaces))
}

/// Opens a workspace's tree and keeps it live: `nav:delta` carries what any writer commits,
/// `nav:error` the error that stops it. Opening another workspace stops the previous one.
#[tauri::command]
pub fn nav_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    database: PathBuf,
) -> Result<nav::NavTree> {
    let errors = app.clone();
    let result = nav::open(
        &database,
        move |delta| {
            let _ = app.emit("nav:delta", delta);
        },
        move |error| {
            log::warn!("live navigation tree stopped: {}", error.error.message);
            let _ = errors.emit("nav:error", error);
        },
    );
    let result = result.map(|(tree, live)| {
        if let Ok(mut slot) = state.nav_live.lock() {
            *slot = Some(live);
        }
        tree
    });
    logged("nav_open", result)
}

#[tauri::command]
pub fn nav_close(state: State<'_, AppState>) {
    if let Ok(mut slot) = state.nav_live.lock() {
        slot.take();
    }
}

/// Moves the editor of the session listening at `socket` to `node`.
#[tauri::command]
pub async fn nav_jump(socket: Option<PathBuf>, workspace: PathBuf, node: i64) -> Result<JumpReply> {
    // The control call blocks (up to a second for the editor's answer): off the main thread.
    let result = tauri::async_runtime::spawn_blocking(move || {
        nav::jump(socket.as_deref(), &workspace, NodeId(node))
    })
    .await
    .unwrap_or_else(|e| Err(AppError::failed(format!("the jump did not finish: {e}"))));
    logged("nav_jump", result)
}

/// Watches retrace's history directory and emits `nav:workspaces` with the new list when a
/// workspace gets its first history or one is removed.
pub fn watch_workspaces<R: Runtime>(app: &AppHandle<R>, data_dir: &Path) -> Result<live::Watch> {
    let dir = data_dir.join("history");
    std::fs::create_dir_all(&dir).map_err(|e| {
        AppError::failed(format!(
            "cannot create {} to watch it ({e}); new workspaces appear after a restart",
            dir.display()
        ))
    })?;
    let app = app.clone();
    let data_dir = data_dir.to_owned();
    live::Watch::matching(
        &[dir],
        |event| {
            (event.kind.is_create() || event.kind.is_remove())
                && event
                    .paths
                    .iter()
                    .any(|p| p.extension().is_some_and(|e| e == "sqlite3"))
        },
        move || match nav::workspaces(&data_dir) {
            Ok(list) => {
                let _ = app.emit("nav:workspaces", list);
            }
            Err(e) => log::warn!("listing workspaces: {}", e.message),
        },
    )
}
