//! The current block, app-wide: one thread that wakes when the planner's data or the activity
//! changes (a [`live::Watch`](crate::live::Watch) sends it a message) and when the current
//! block ends, and then
//! - tells the Today view to redraw (`today:changed`),
//! - names the window after the current block's planned label,
//! - announces a planned run as it starts, with a desktop notification, when the person
//!   turned that on (prefs `notifyBlocks`, off by default).
//!
//! It waits on a channel with a timeout at the next block boundary: no polling. With a fixed
//! clock (`RETRACE_NOW`) time does not pass, so only changes wake it.

use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use retrace_planner::ops::Clock;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

use crate::AppState;
use crate::today::{self, Now, TodayConfig};

/// The event the Today view redraws on.
pub const CHANGED: &str = "today:changed";

/// When nothing is planned or the day is over, look again after this long (a day starting,
/// the date changing).
const IDLE: Duration = Duration::from_secs(60);

/// Runs until every sender of `changes` is gone. The app's state must be managed already:
/// the planner is the Today view's own (one open database per app: two opening a new file at
/// once would both try to create its tables).
pub fn follow<R: Runtime>(app: AppHandle<R>, config: TodayConfig, changes: mpsc::Receiver<()>) {
    let mut announced: Option<(chrono::NaiveDate, usize)> = None;
    let mut title = String::new();
    loop {
        let _ = app.emit(CHANGED, ());
        // The database is made by the view (or `blocks`), never by this thread.
        let exists = config.db.as_ref().is_some_and(|d| d.exists());
        let now = match app.try_state::<AppState>() {
            Some(state) if exists => Some(state.today.with(today::now)),
            _ => None,
        };
        let mut wait = IDLE;
        match now {
            Some(Ok(now)) => {
                let t = today::title(&now);
                if t != title {
                    if let Some(w) = app.get_webview_window("main") {
                        let _ = w.set_title(&t);
                    }
                    title = t;
                }
                announce(&app, &now, &mut announced);
                if let Some(b) = &now.block {
                    let left = (b.end - Utc::now()).to_std().unwrap_or_default();
                    wait = left.max(Duration::from_millis(200)).min(IDLE * 10);
                }
            }
            Some(Err(e)) => log::warn!("the current block is unknown: {}", e.message),
            None => {}
        }
        let fixed = matches!(config.clock, Clock::Fixed(_));
        let woke = if fixed {
            changes
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            changes.recv_timeout(wait)
        };
        if woke == Err(mpsc::RecvTimeoutError::Disconnected) {
            return;
        }
        // A commit is several file events; they are one change.
        while changes.try_recv().is_ok() {}
    }
}

/// A notification for a planned run that starts in the current block, once per block, when
/// the person asked for them.
fn announce<R: Runtime>(
    app: &AppHandle<R>,
    now: &Now,
    announced: &mut Option<(chrono::NaiveDate, usize)>,
) {
    let Some(block) = now.block.as_ref().filter(|_| now.starts_run) else {
        return;
    };
    let key = (block.date, block.index);
    if *announced == Some(key) {
        return;
    }
    let wanted = app
        .try_state::<AppState>()
        .and_then(|s| s.prefs.lock().ok().map(|p| p.notify_blocks))
        .unwrap_or(false);
    if !wanted {
        return;
    }
    *announced = Some(key);
    let label = block.label().unwrap_or_default();
    log::info!("notification: {label} starts at {}", block.local);
    let shown = app
        .notification()
        .builder()
        .title(label)
        .body(format!("Planned from {}", block.local))
        .show();
    if let Err(e) = shown {
        log::warn!("could not show the notification for {label}: {e}");
    }
}
