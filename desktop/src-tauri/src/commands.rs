//! The commands the frontend calls. Each is a thin call into a library (or into the app's
//! own `prefs`), logging a failure before it returns it, so the log has what the UI showed.

use retrace_planner::ops::edit::{Cleared, Moved, Planned, Recorded, Replanned};
use retrace_planner::ops::exchange::Imported;
use retrace_planner::ops::report::WeekReport;
use retrace_planner::ops::templates::{TemplateApplied, TemplateSaved};
use retrace_planner::ops::view::Palette;
use retrace_planner::store::TemplateInfo;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::{AppError, ErrorKind, Result};
use crate::today::{self, Edited, Span, Stroke, TodayDay};
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

// --- the Today view: thin calls into the planner's ops (see `today`) -----------------------
// Async, so a database another writer holds locked (the planner waits up to its busy
// timeout) never blocks the window's thread.

/// One day (today when `date` is absent) with the plan of `revision` (the one in force when
/// absent), its actual time and adherence: the planner's `DayView`, as `blocks show --json`.
#[tauri::command]
pub async fn today_day(
    state: State<'_, AppState>,
    date: Option<String>,
    revision: Option<u32>,
) -> Result<TodayDay> {
    logged(
        "today_day",
        state
            .today
            .with(|p| today::day(p, date.as_deref(), revision)),
    )
}

/// Paints a label over blocks, replacing what was painted by hand; a calendar block refuses.
#[tauri::command]
pub async fn today_paint(state: State<'_, AppState>, stroke: Stroke) -> Result<Edited<Planned>> {
    let on = stroke.date.clone();
    logged(
        "today_paint",
        state
            .today
            .with(|p| today::edit(p, &on, |p| today::paint(p, &stroke))),
    )
}

/// Clears the plan over `span`, or with `actual` the time recorded by hand there.
#[tauri::command]
pub async fn today_clear(
    state: State<'_, AppState>,
    date: String,
    span: Span,
    actual: bool,
) -> Result<Edited<Cleared>> {
    logged(
        "today_clear",
        state
            .today
            .with(|p| today::edit(p, &date, |p| today::clear(p, &date, span, actual))),
    )
}

/// Moves or resizes the painted run `from` to `to`.
#[tauri::command]
pub async fn today_move(
    state: State<'_, AppState>,
    date: String,
    from: Span,
    to: Span,
) -> Result<Edited<Moved>> {
    logged(
        "today_move",
        state
            .today
            .with(|p| today::edit(p, &date, |p| today::move_run(p, &date, from, to))),
    )
}

/// A new plan revision from block `from` (from "now" when absent), keeping the earlier ones.
#[tauri::command]
pub async fn today_replan(
    state: State<'_, AppState>,
    date: String,
    from: Option<usize>,
    clear_rest: bool,
) -> Result<Edited<Replanned>> {
    logged(
        "today_replan",
        state
            .today
            .with(|p| today::edit(p, &date, |p| today::replan(p, &date, from, clear_rest))),
    )
}

/// Records what was done over `span`.
#[tauri::command]
pub async fn today_did(
    state: State<'_, AppState>,
    date: String,
    span: Span,
    label: String,
    category: Option<String>,
) -> Result<Edited<Recorded>> {
    logged(
        "today_did",
        state.today.with(|p| {
            today::edit(p, &date, |p| {
                today::did(p, &date, span, &label, category.as_deref())
            })
        }),
    )
}

#[tauri::command]
pub async fn today_palette(state: State<'_, AppState>) -> Result<Palette> {
    logged("today_palette", state.today.with(today::palette))
}

#[tauri::command]
pub async fn today_templates(state: State<'_, AppState>) -> Result<Vec<TemplateInfo>> {
    logged("today_templates", state.today.with(today::templates))
}

#[tauri::command]
pub async fn today_template_save(
    state: State<'_, AppState>,
    name: String,
    date: String,
    overwrite: bool,
) -> Result<TemplateSaved> {
    logged(
        "today_template_save",
        state
            .today
            .with(|p| today::save_template(p, &name, &date, overwrite)),
    )
}

/// Applies a template to `date`, or with `weekdays` to those days of its week (and the
/// `weeks - 1` after it).
#[tauri::command]
pub async fn today_template_apply(
    state: State<'_, AppState>,
    name: String,
    date: String,
    weekdays: Option<String>,
    weeks: Option<u32>,
    replace: bool,
) -> Result<Edited<Vec<TemplateApplied>>> {
    logged(
        "today_template_apply",
        state.today.with(|p| {
            today::edit(p, &date, |p| {
                today::apply_template(p, &name, &date, weekdays.as_deref(), weeks, replace)
            })
        }),
    )
}

/// The week strip: each day's adherence in the week that holds `date`, and the totals.
#[tauri::command]
pub async fn today_week(state: State<'_, AppState>, date: String) -> Result<WeekReport> {
    logged("today_week", state.today.with(|p| today::week(p, &date)))
}

/// Writes the day (or its week) as an `.ics` file.
#[tauri::command]
pub async fn today_export(
    state: State<'_, AppState>,
    date: String,
    week: bool,
    actual: bool,
    path: String,
) -> Result<today::Exported> {
    logged(
        "today_export",
        state
            .today
            .with(|p| today::export(p, &date, week, actual, &path)),
    )
}

/// Imports an `.ics` file (or a `blocks` backup); `date` is the day to show afterwards.
#[tauri::command]
pub async fn today_import(
    state: State<'_, AppState>,
    path: String,
    replace: bool,
    date: String,
) -> Result<Edited<Imported>> {
    logged(
        "today_import",
        state
            .today
            .with(|p| today::edit(p, &date, |p| today::import(p, &path, replace))),
    )
}
