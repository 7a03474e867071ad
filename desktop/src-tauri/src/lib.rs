//! retrace-desktop: the Retrace app (Tauri 2). The frontend (`desktop/src`, TypeScript) calls
//! the commands in [`commands`], each a thin call into one tool's library; views that change
//! while the app is open are kept live by [`live`] watches that emit events.
//!
//! Modules: [`error`] (what a failed command returns), [`prefs`] (what survives a restart),
//! [`nav`] (the Navigation view over retrace-lsp), [`today`] (the Today view over the
//! planner's ops), [`current`] (the current block: window title, notifications, redraws),
//! [`live`] (file watches behind live views), [`stress`] (the Stress tests view over snaprun).

pub mod commands;
pub mod current;
pub mod error;
pub mod live;
pub mod nav;
pub mod prefs;
pub mod rendering;
pub mod stress;
pub mod today;

use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use tauri::{Manager, RunEvent, Runtime, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

/// How long a resize or move must rest before the window's state is written.
const WINDOW_SAVE_QUIET: Duration = Duration::from_millis(400);
/// How long the app waits at exit for its batches to stop their VMs and clean up.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Where things are, fixed at start.
#[derive(Clone, Debug)]
pub struct Paths {
    /// retrace's data directory (`$XDG_DATA_HOME/retrace`), shared with the tools. None when
    /// neither XDG_DATA_HOME nor HOME is set: the views say so.
    pub retrace_data: Option<PathBuf>,
    /// The app's own preferences file.
    pub prefs: PathBuf,
}

/// Shared by all commands.
pub struct AppState {
    pub paths: Paths,
    prefs: Mutex<prefs::Prefs>,
    /// The live reader of the workspace open in the Navigation view.
    nav_live: Mutex<Option<nav::LiveReader>>,
    /// Opens and closes of the Navigation view's tree so far: an open (which runs off the main
    /// thread) keeps its live reader only if nothing was opened or closed after it began.
    nav_opens: std::sync::atomic::AtomicU64,
    /// Watches for workspaces that get their first history (set once the app runs).
    workspaces_watch: Mutex<Option<live::Watch>>,
    /// The planner behind the Today view.
    pub today: today::Today,
    /// The watch of the planner's data and the activity, alive as long as the app.
    today_watch: Mutex<Option<live::Watch>>,
}

impl AppState {
    pub fn new(paths: Paths, today: today::TodayConfig) -> AppState {
        let prefs = prefs::load(&paths.prefs);
        AppState {
            paths,
            prefs: Mutex::new(prefs),
            nav_live: Mutex::new(None),
            nav_opens: std::sync::atomic::AtomicU64::new(0),
            workspaces_watch: Mutex::new(None),
            today: today::Today::new(today),
            today_watch: Mutex::new(None),
        }
    }

    /// Starts following the planner's data and the activity for the current block (window
    /// title, notifications) and the Today view's redraws.
    pub fn follow_today<R: Runtime>(&self, app: tauri::AppHandle<R>) -> error::Result<()> {
        let (tx, rx) = mpsc::channel::<()>();
        let config = self.today.config.clone();
        let watch = live::Watch::targets(&config.watched(), move || {
            let _ = tx.send(());
        })?;
        std::thread::Builder::new()
            .name("current-block".into())
            .spawn(move || current::follow(app, config, rx))
            .map_err(|e| {
                error::AppError::failed(format!("cannot start the current-block thread: {e}"))
            })?;
        if let Ok(mut slot) = self.today_watch.lock() {
            *slot = Some(watch);
        }
        Ok(())
    }
}

/// The app's commands on any runtime (the real one, or tests' MockRuntime).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::app_info,
        commands::app_painted,
        commands::prefs_get,
        commands::prefs_set,
        commands::nav_workspaces,
        commands::nav_open,
        commands::nav_close,
        commands::nav_jump,
        commands::today_day,
        commands::today_paint,
        commands::today_clear,
        commands::today_move,
        commands::today_replan,
        commands::today_did,
        commands::today_palette,
        commands::today_templates,
        commands::today_template_save,
        commands::today_template_apply,
        commands::today_week,
        commands::today_export,
        commands::today_import,
        commands::stress_open,
        commands::stress_close,
        commands::stress_batches,
        commands::stress_batch,
        commands::stress_iteration,
        commands::stress_compare,
        commands::stress_images,
        commands::stress_start,
        commands::stress_stop,
        commands::stress_watch_start,
        commands::stress_watch_stop,
        commands::stress_prepare_image,
        commands::stress_cancel_image,
        commands::stress_pick_folder,
        commands::stress_open_terminal,
    ])
}

/// Runs the app; returns the process exit code.
/// When the app started: the first thing [`run`] does (the process itself started a few
/// milliseconds earlier, loading its libraries).
pub fn started() -> std::time::Instant {
    *STARTED.get_or_init(std::time::Instant::now)
}

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub fn run() -> i32 {
    run_with(&[])
}

/// [`run`], told which of [`rendering::SOFTWARE`]'s switches `main` set (they are logged).
pub fn run_with(software: &[(&'static str, &'static str)]) -> i32 {
    started();
    let software: Vec<String> = software.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let log = tauri_plugin_log::Builder::new()
        .level(log::LevelFilter::Info)
        .targets([
            tauri_plugin_log::Target::new(tauri_plugin_log::TargetKind::Stderr),
            tauri_plugin_log::Target::new(tauri_plugin_log::TargetKind::LogDir { file_name: None }),
        ])
        .build();
    // The window-state plugin saves on a clean exit only; the app is also ended by logout,
    // a signal or a crash, so the size and place are written when they settle.
    let (moved, moves) = mpsc::channel::<()>();
    let builder = with_commands(tauri::Builder::default())
        .plugin(log)
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .on_window_event(move |_, event| {
            if matches!(event, WindowEvent::Resized(_) | WindowEvent::Moved(_)) {
                let _ = moved.send(());
            }
        })
        .setup(move |app| {
            if !software.is_empty() {
                log::info!(
                    "no GPU render node in /dev/dri: the webview draws with the CPU ({})",
                    software.join(" ")
                );
            }
            let handle = app.handle().clone();
            std::thread::Builder::new()
                .name("window-state".into())
                .spawn(move || {
                    live::coalesced(&moves, WINDOW_SAVE_QUIET, || {
                        if let Err(e) = handle.save_window_state(StateFlags::all()) {
                            log::warn!("could not save the window's size and place: {e}");
                        }
                    })
                })?;
            let config = app.path().app_config_dir()?;
            let paths = Paths {
                retrace_data: retrace_lsp::store::data_dir(),
                prefs: prefs::path_in(&config),
            };
            log::info!(
                "retrace data: {}; preferences: {}",
                paths
                    .retrace_data
                    .as_deref()
                    .map_or("(none: set XDG_DATA_HOME or HOME)".into(), |p| p
                        .display()
                        .to_string()),
                paths.prefs.display()
            );
            let watch = match &paths.retrace_data {
                Some(dir) => commands::watch_workspaces(app.handle(), dir)
                    .inspect_err(|e| log::warn!("{}", e.message))
                    .ok(),
                None => None,
            };
            let today = today::TodayConfig::from_env()?;
            log::info!(
                "planner: {}; clock: {:?}",
                today
                    .db
                    .as_deref()
                    .map_or("(none: set XDG_DATA_HOME or HOME)".into(), |p| p
                        .display()
                        .to_string()),
                today.clock
            );
            let state = AppState::new(paths, today);
            if let Ok(mut slot) = state.workspaces_watch.lock() {
                *slot = watch;
            }
            app.manage(state);
            app.manage(stress::StressState::new(stress::store_root_from_env()));
            if let Err(e) = app.state::<AppState>().follow_today(app.handle().clone()) {
                log::warn!("{}", e.message);
            }
            Ok(())
        });
    match builder.build(tauri::generate_context!()) {
        Ok(app) => {
            app.run(|app, event| {
                // Batches started here stop as Ctrl-C stops `snaprun`: VMs stopped, overlays
                // removed but for kept failures, recorded as interrupted.
                if let RunEvent::Exit = event
                    && let Some(stress) = app.try_state::<stress::StressState>()
                {
                    stress.work.shutdown(STOP_GRACE);
                }
            });
            0
        }
        Err(e) => {
            eprintln!("retrace-desktop: error: {e}");
            1
        }
    }
}
