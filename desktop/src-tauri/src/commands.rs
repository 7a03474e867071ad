//! The commands the frontend calls. Each is a thin call into a library (or into the app's
//! own `prefs`), logging a failure before it returns it, so the log has what the UI showed.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use retrace_lsp::catalog::WorkspaceSummary;
use retrace_lsp::control::JumpReply;
use retrace_lsp::tree::NodeId;
use retrace_planner::ops::edit::{Cleared, Moved, Planned, Recorded, Replanned};
use retrace_planner::ops::exchange::Imported;
use retrace_planner::ops::report::WeekReport;
use retrace_planner::ops::templates::{TemplateApplied, TemplateSaved};
use retrace_planner::ops::view::Palette;
use retrace_planner::store::TemplateInfo;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::error::{AppError, ErrorKind, Result};
use crate::stress::{self, StressState};
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

/// The frontend's word that its first view is painted. Logged once, with the time since the
/// app started, so a slow start shows in the log (the start-up benchmark reads that line).
#[tauri::command]
pub fn app_painted(view: String) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let view: String = view
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(32)
            .collect();
        log::info!(
            "first view painted ({view}) {} ms after start",
            crate::started().elapsed().as_millis()
        );
    });
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

/// The workspaces with a history (each database opened and read): async, off the main thread.
#[tauri::command]
pub async fn nav_workspaces(state: State<'_, AppState>) -> Result<Vec<WorkspaceSummary>> {
    logged("nav_workspaces", data_dir(&state).and_then(nav::workspaces))
}

/// Opens a workspace's tree and keeps it live: `nav:delta` carries what any writer commits,
/// `nav:error` the error that stops it. Opening another workspace stops the previous one.
#[tauri::command]
pub async fn nav_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    database: PathBuf,
) -> Result<nav::NavTree> {
    // Reading the tree and its lines takes a while on a big history: off the main thread,
    // which draws the window and carries the IPC.
    let ticket = state.nav_opens.fetch_add(1, Ordering::SeqCst) + 1;
    let errors = app.clone();
    let result = tauri::async_runtime::spawn_blocking(move || {
        nav::open(
            &database,
            move |delta| {
                let _ = app.emit("nav:delta", delta);
            },
            move |error| {
                log::warn!("live navigation tree stopped: {}", error.error.message);
                let _ = errors.emit("nav:error", error);
            },
        )
    })
    .await
    .unwrap_or_else(|e| {
        Err(AppError::failed(format!(
            "opening the tree did not finish: {e}"
        )))
    });
    let result = result.map(|(tree, live)| {
        if let Ok(mut slot) = state.nav_live.lock()
            && state.nav_opens.load(Ordering::SeqCst) == ticket
        {
            *slot = Some(live);
        }
        // Otherwise another workspace was opened (or the view closed) meanwhile: this
        // reader stops as it drops.
        tree
    });
    logged("nav_open", result)
}

#[tauri::command]
pub fn nav_close(state: State<'_, AppState>) {
    state.nav_opens.fetch_add(1, Ordering::SeqCst);
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
    // The directory need not exist yet: the watch follows it once it appears.
    let dir = data_dir.join("history");
    let app = app.clone();
    let data_dir = data_dir.to_owned();
    // Every write to any history passes here: only a change in the set of databases
    // (a workspace's first history, or one removed) re-reads the list.
    let mut known = retrace_lsp::store::history_files(&data_dir).unwrap_or_default();
    live::Watch::targets(&[live::Target::Dir(dir)], move || {
        let now = retrace_lsp::store::history_files(&data_dir).unwrap_or_default();
        if now == known {
            return;
        }
        known = now;
        match nav::workspaces(&data_dir) {
            Ok(list) => {
                let _ = app.emit("nav:workspaces", list);
            }
            Err(e) => log::warn!("listing workspaces: {}", e.message),
        }
    })
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

// --- The Stress tests view: snaprun's batches, through `snaprun::ops` (see `stress`) ---------
// Async, so reads of a long history and waits for a batch to start stay off the main thread.

/// Opens the view: follows the results live (`stress:changed`) and lists the workspaces.
#[tauri::command]
pub async fn stress_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, StressState>,
) -> Result<stress::Overview> {
    logged("stress_open", state.open(app))
}

/// The view was left: stop following the results.
#[tauri::command]
pub fn stress_close(state: State<'_, StressState>) {
    state.close();
}

/// A workspace's batches, newest first; its changes follow as `stress:changed`.
#[tauri::command]
pub async fn stress_batches(
    state: State<'_, StressState>,
    workspace: String,
) -> Result<stress::BatchPage> {
    logged("stress_batches", state.batches(&workspace))
}

#[tauri::command]
pub async fn stress_batch(
    state: State<'_, StressState>,
    id: String,
) -> Result<stress::BatchDetail> {
    logged(
        "stress_batch",
        state.store().and_then(|s| stress::batch(&s, &id)),
    )
}

#[tauri::command]
pub async fn stress_iteration(
    state: State<'_, StressState>,
    batch: String,
    iteration: u32,
) -> Result<stress::IterationDetail> {
    let result = state
        .store()
        .and_then(|s| stress::iteration(&s, &batch, iteration));
    logged("stress_iteration", result)
}

/// Batch `a` (the earlier) against batch `b`.
#[tauri::command]
pub async fn stress_compare(
    state: State<'_, StressState>,
    a: String,
    b: String,
) -> Result<snaprun::compare::Comparison> {
    logged(
        "stress_compare",
        state.store().and_then(|s| stress::compare(&s, &a, &b)),
    )
}

#[tauri::command]
pub async fn stress_images(state: State<'_, StressState>) -> Result<snaprun::ops::ImageList> {
    logged(
        "stress_images",
        state.store().and_then(|s| stress::images(&s)),
    )
}

/// Starts a batch; answers once it runs (`stress:batch` events follow) or with why it did not.
#[tauri::command]
pub async fn stress_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, StressState>,
    request: stress::request::StartRequest,
) -> Result<stress::work::Started> {
    let begun = (|| {
        let (store, opts) = (state.store()?, request.options()?);
        state
            .work
            .start_batch(app, store, opts, state.agent().to_path_buf())
    })();
    let result = match begun {
        Ok(rx) => waited(tauri::async_runtime::spawn_blocking(move || rx.recv()).await),
        Err(e) => Err(e),
    };
    logged("stress_start", result)
}

/// The answer of long work waited for off the async runtime's threads.
fn waited<T>(
    answer: std::result::Result<
        std::result::Result<Result<T>, std::sync::mpsc::RecvError>,
        tauri::Error,
    >,
) -> Result<T> {
    match answer {
        Ok(Ok(result)) => result,
        _ => Err(AppError::failed(
            "the work ended without an answer; see the app's log",
        )),
    }
}

/// Stops a batch wherever it runs on this host (this app, or a `snaprun` in a terminal).
#[tauri::command]
pub async fn stress_stop(
    state: State<'_, StressState>,
    batch: String,
) -> Result<snaprun::ops::Stopped> {
    let result = state
        .store()
        .and_then(|s| snaprun::ops::stop(&s, &batch).map_err(stress::app_error));
    logged("stress_stop", result)
}

/// Turns watch mode on (`stress:watch` events, `stress:watch-ended` at the end).
#[tauri::command]
pub async fn stress_watch_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, StressState>,
    request: stress::request::StartRequest,
) -> Result<()> {
    let result = (|| {
        let (store, opts) = (state.store()?, request.options()?);
        state
            .work
            .start_watch(app, store, opts, state.agent().to_path_buf())
    })();
    logged("stress_watch_start", result)
}

/// Turns watch mode off; false if it was off.
#[tauri::command]
pub fn stress_watch_stop(state: State<'_, StressState>) -> bool {
    state.work.stop_watch()
}

/// Builds the default image if needed and saves a warm state of `image`, reporting
/// `stress:image` events; answers with the images as they are after.
#[tauri::command]
pub async fn stress_prepare_image<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, StressState>,
    image: String,
) -> Result<snaprun::ops::ImageList> {
    let begun = state.store().and_then(|store| {
        state
            .work
            .prepare_image(app, store, image, state.agent().to_path_buf())
    });
    let result = match begun {
        Ok(rx) => waited(tauri::async_runtime::spawn_blocking(move || rx.recv()).await),
        Err(e) => Err(e),
    };
    logged("stress_prepare_image", result)
}

#[tauri::command]
pub fn stress_cancel_image(state: State<'_, StressState>) -> bool {
    state.work.cancel_image()
}

/// The native folder picker; `None` when cancelled.
#[tauri::command]
pub async fn stress_pick_folder<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
        return Err(AppError::failed(
            "the folder picker is not available; type the folder's path instead",
        ));
    }
    let picked = tauri::async_runtime::spawn_blocking(move || {
        app.dialog()
            .file()
            .set_title("Choose a workspace folder")
            .blocking_pick_folder()
    })
    .await
    .map_err(|e| AppError::failed(format!("the folder picker failed: {e}")))?;
    Ok(picked
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string()))
}

/// Opens iteration `iteration` of `batch`'s repro command in the terminal the preferences name.
#[tauri::command]
pub async fn stress_open_terminal(
    app_state: State<'_, AppState>,
    state: State<'_, StressState>,
    batch: String,
    iteration: u32,
) -> Result<()> {
    let setting = app_state
        .prefs
        .lock()
        .ok()
        .and_then(|p| p.terminal.clone())
        .unwrap_or_default();
    let result = state
        .store()
        .and_then(|s| stress::iteration(&s, &batch, iteration))
        .and_then(|detail| stress::terminal::open(&setting, &detail.repro));
    logged("stress_open_terminal", result)
}
