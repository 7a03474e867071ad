//! Long work started from the app: batches, watch mode, and preparing an image (build the
//! default one, save a warm state). Each runs on a thread of its own with a `Cancel` token and
//! reports what happens as events; the app's exit stops them all, the way Ctrl-C stops
//! `snaprun` (VMs stopped, overlays removed but for kept failures, batches recorded as
//! interrupted).
//!
//! A batch's events come from `ops::start_batch`'s channel, read here on the batch's own
//! thread: the library sends them from the thread that writes the results, which must not
//! wait for the webview. Watch mode's callback is that thread too, so its events go through a
//! channel to a thread that emits them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use snaprun::Cancel;
use snaprun::batch::Options;
use snaprun::ops::{self, BatchEvent, ImageEvent, ImageList, OnChange, WatchEvent};
use snaprun::results::now_ms;
use snaprun::store::{DEFAULT_IMAGE, Store};
use snaprun::warm::WarmOptions;
use tauri::{AppHandle, Emitter, Runtime};

use super::app_error;
use crate::error::{AppError, ErrorKind, Result};

/// A batch started from the app reports ([`BatchUpdate`]).
pub const BATCH_EVENT: &str = "stress:batch";
/// A batch started from the app ended, or never started ([`RunEnded`]).
pub const RUN_ENDED: &str = "stress:run-ended";
/// Building or warming an image ([`ImageUpdate`]).
pub const IMAGE_EVENT: &str = "stress:image";
/// Watch mode reports ([`WatchUpdate`]).
pub const WATCH_EVENT: &str = "stress:watch";
/// Watch mode stopped ([`WatchEnded`]).
pub const WATCH_ENDED: &str = "stress:watch-ended";

/// One event of a batch started from the app (the library's [`BatchEvent`], tagged `event`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchUpdate {
    /// Which start of the app's this is (see [`Started::run`]).
    pub run: u64,
    /// When the app sent it (ms since the epoch), to measure how late a cell turns.
    pub sent_ms: i64,
    #[serde(flatten)]
    pub event: BatchEvent,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEnded {
    pub run: u64,
    /// `None` when it ended before its code was snapshotted.
    pub batch_id: Option<String>,
    /// snaprun's message, when the batch could not start or could not be recorded.
    pub error: Option<AppError>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdate {
    pub sent_ms: i64,
    #[serde(flatten)]
    pub event: ImageEvent,
}

/// One event of watch mode (the library's [`WatchEvent`], tagged `watch`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchUpdate {
    pub workspace: String,
    pub sent_ms: i64,
    #[serde(flatten)]
    pub event: WatchEvent,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchEnded {
    pub workspace: String,
    pub error: Option<AppError>,
}

/// A batch the app started, once its code is snapshotted and it is recorded as running.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The app's number for this start; its [`BatchUpdate`]s carry it.
    pub run: u64,
    pub batch_id: String,
    /// The iterations it runs, in order.
    pub numbers: Vec<u32>,
}

/// One piece of long work: its token, the tokens of what it started since, and its thread.
struct Job {
    cancel: Cancel,
    linked: Arc<Mutex<Vec<Cancel>>>,
    thread: JoinHandle<()>,
}

impl Job {
    fn spawn(
        name: &str,
        work: impl FnOnce(Cancel, Arc<Mutex<Vec<Cancel>>>) + Send + 'static,
    ) -> Result<Job> {
        let cancel = Cancel::new();
        let linked = Arc::new(Mutex::new(Vec::new()));
        let (token, links) = (cancel.clone(), Arc::clone(&linked));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(token, links))
            .map_err(|e| AppError::failed(format!("cannot start a thread for {name}: {e}")))?;
        Ok(Job {
            cancel,
            linked,
            thread,
        })
    }

    fn stop(&self) {
        self.cancel.cancel();
        if let Ok(linked) = self.linked.lock() {
            linked.iter().for_each(Cancel::cancel);
        }
    }

    fn done(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Ties `token` (a batch's own) to the job: stopping the job stops it too, also when the job
/// was stopped just before.
fn link(cancel: &Cancel, linked: &Mutex<Vec<Cancel>>, token: Cancel) {
    if let Ok(mut l) = linked.lock() {
        l.push(token.clone());
    }
    if cancel.is_cancelled() {
        token.cancel();
    }
}

/// An error from work that was cancelled is the cancellation, not a problem to show.
fn unless_cancelled(cancel: &Cancel, e: snaprun::Error) -> Option<AppError> {
    match e {
        snaprun::Error::Interrupted(_) if cancel.is_cancelled() => None,
        e => Some(app_error(e)),
    }
}

fn busy(what: String) -> AppError {
    AppError::new(ErrorKind::Invalid, what)
}

/// The app's long work.
#[derive(Default)]
pub struct Work {
    next_run: AtomicU64,
    runs: Mutex<Vec<Job>>,
    /// Watch mode, with the workspace it follows.
    watch: Mutex<Option<(String, Job)>>,
    image: Mutex<Option<Job>>,
}

impl Work {
    /// Starts a batch (after bringing the built-in image up to date, as `snaprun run` does);
    /// the receiver says when its code is snapshotted and it runs, or why it did not start.
    pub fn start_batch<R: Runtime>(
        &self,
        app: AppHandle<R>,
        store: Store,
        opts: Options,
        agent: PathBuf,
    ) -> Result<mpsc::Receiver<Result<Started>>> {
        let run = self.next_run.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = mpsc::channel();
        let job = Job::spawn("stress-batch", move |cancel, linked| {
            run_batch(&app, &store, &opts, &agent, run, &cancel, &linked, tx)
        })?;
        if let Ok(mut runs) = self.runs.lock() {
            runs.retain(|j| !j.done());
            runs.push(job);
        }
        Ok(rx)
    }

    /// Turns watch mode on for `opts.workspace`: a batch now, and one per change of the code.
    pub fn start_watch<R: Runtime>(
        &self,
        app: AppHandle<R>,
        store: Store,
        opts: Options,
        agent: PathBuf,
    ) -> Result<()> {
        let mut slot = self
            .watch
            .lock()
            .map_err(|_| AppError::failed("watch mode's state is unusable; restart the app"))?;
        if let Some((ws, job)) = slot.as_ref()
            && !job.done()
        {
            return Err(busy(format!(
                "watch mode is on already for {ws}; turn it off first"
            )));
        }
        let workspace = opts.workspace.display().to_string();
        let ws = workspace.clone();
        let job = Job::spawn("stress-watch", move |cancel, _| {
            let (tx, rx) = mpsc::channel::<WatchEvent>();
            let forward = {
                let (app, ws) = (app.clone(), ws.clone());
                std::thread::Builder::new()
                    .name("stress-watch-events".into())
                    .spawn(move || {
                        for event in rx {
                            let update = WatchUpdate {
                                workspace: ws.clone(),
                                sent_ms: now_ms(),
                                event,
                            };
                            let _ = app.emit(WATCH_EVENT, update);
                        }
                    })
            };
            let result =
                ops::ensure_default(&store, &opts, &agent, &cancel, &mut |e| emit_image(&app, e))
                    .and_then(|_| {
                        ops::watch(&store, &opts, OnChange::Queue, &cancel, &mut |e| {
                            let _ = tx.send(e);
                        })
                    });
            drop(tx);
            if let Ok(forward) = forward {
                let _ = forward.join();
            }
            let error = result.err().and_then(|e| unless_cancelled(&cancel, e));
            let _ = app.emit(
                WATCH_ENDED,
                WatchEnded {
                    workspace: ws,
                    error,
                },
            );
        })?;
        *slot = Some((workspace, job));
        Ok(())
    }

    /// Turns watch mode off (its batch stops as Ctrl-C would stop it); false if it was off.
    pub fn stop_watch(&self) -> bool {
        let Ok(slot) = self.watch.lock() else {
            return false;
        };
        match slot.as_ref() {
            Some((_, job)) if !job.done() => {
                job.stop();
                true
            }
            _ => false,
        }
    }

    /// The workspace watch mode follows, while it is on.
    pub fn watching(&self) -> Option<String> {
        let slot = self.watch.lock().ok()?;
        slot.as_ref()
            .filter(|(_, job)| !job.done())
            .map(|(ws, _)| ws.clone())
    }

    /// Builds the default image if it is missing or out of date, then saves a warm state of
    /// `image` (kept if it has a valid one); the receiver gets the images as they are after.
    pub fn prepare_image<R: Runtime>(
        &self,
        app: AppHandle<R>,
        store: Store,
        image: String,
        agent: PathBuf,
    ) -> Result<mpsc::Receiver<Result<ImageList>>> {
        let mut slot = self
            .image
            .lock()
            .map_err(|_| AppError::failed("the image work's state is unusable; restart the app"))?;
        if slot.as_ref().is_some_and(|j| !j.done()) {
            return Err(busy(
                "an image is being prepared already; wait for it or cancel it".into(),
            ));
        }
        let (tx, rx) = mpsc::channel();
        let job = Job::spawn("stress-image", move |cancel, _| {
            let mut on_event = |e| emit_image(&app, e);
            let result = (|| {
                if image == DEFAULT_IMAGE {
                    let opts = Options::new(store.root(), DEFAULT_IMAGE, "true");
                    ops::ensure_default(&store, &opts, &agent, &cancel, &mut on_event)?;
                }
                ops::warm_image(&store, &WarmOptions::new(&image), &cancel, &mut on_event)?;
                ops::images(&store)
            })();
            let _ = tx.send(result.map_err(app_error));
        })?;
        *slot = Some(job);
        Ok(rx)
    }

    /// Stops preparing an image (nothing is stored); false if nothing was being prepared.
    pub fn cancel_image(&self) -> bool {
        let Ok(slot) = self.image.lock() else {
            return false;
        };
        match slot.as_ref() {
            Some(job) if !job.done() => {
                job.stop();
                true
            }
            _ => false,
        }
    }

    /// Stops everything (the app is quitting) and waits up to `grace` for it to clean up.
    pub fn shutdown(&self, grace: Duration) {
        let mut jobs: Vec<Job> = Vec::new();
        if let Ok(mut runs) = self.runs.lock() {
            jobs.append(&mut runs);
        }
        if let Ok(mut watch) = self.watch.lock() {
            jobs.extend(watch.take().map(|(_, j)| j));
        }
        if let Ok(mut image) = self.image.lock() {
            jobs.extend(image.take());
        }
        jobs.iter().for_each(Job::stop);
        let deadline = Instant::now() + grace;
        while jobs.iter().any(|j| !j.done()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for job in jobs {
            if job.done() {
                let _ = job.thread.join();
            } else {
                log::warn!("a stress-test job did not stop within {grace:?}; leaving it");
            }
        }
    }
}

fn emit_image<R: Runtime>(app: &AppHandle<R>, event: ImageEvent) {
    let _ = app.emit(
        IMAGE_EVENT,
        ImageUpdate {
            sent_ms: now_ms(),
            event,
        },
    );
}

/// The thread of one batch started from the app: the built-in image brought up to date, the
/// batch started, its events passed on as they come, its end reported.
#[allow(clippy::too_many_arguments)]
fn run_batch<R: Runtime>(
    app: &AppHandle<R>,
    store: &Store,
    opts: &Options,
    agent: &std::path::Path,
    run: u64,
    cancel: &Cancel,
    linked: &Mutex<Vec<Cancel>>,
    started: mpsc::Sender<Result<Started>>,
) {
    let mut started = Some(started);
    let mut batch_id = None;
    let error = match ops::ensure_default(store, opts, agent, cancel, &mut |e| emit_image(app, e)) {
        Err(e) => Some(app_error(e)),
        Ok(_) => {
            let running = ops::start_batch(store, opts);
            link(cancel, linked, running.cancel().clone());
            for event in running.events() {
                if let BatchEvent::Snapshotted { batch, numbers, .. } = &event {
                    batch_id = Some(batch.id.clone());
                    if let Some(tx) = started.take() {
                        let _ = tx.send(Ok(Started {
                            run,
                            batch_id: batch.id.clone(),
                            numbers: numbers.clone(),
                        }));
                    }
                }
                let update = BatchUpdate {
                    run,
                    sent_ms: now_ms(),
                    event,
                };
                let _ = app.emit(BATCH_EVENT, update);
            }
            running.wait().err().map(app_error)
        }
    };
    if let Some(tx) = started.take() {
        let _ = tx.send(Err(error.clone().unwrap_or_else(|| {
            AppError::failed("the batch ended before it started; see the app's log")
        })));
    }
    let _ = app.emit(
        RUN_ENDED,
        RunEnded {
            run,
            batch_id,
            error,
        },
    );
}

#[cfg(test)]
mod tests {
    use snaprun::results::{Status, fixtures};

    use super::*;

    #[test]
    fn events_keep_the_library_s_tags_beside_the_app_s_fields() {
        let update = BatchUpdate {
            run: 3,
            sent_ms: 42,
            event: BatchEvent::IterationFinished(fixtures::iteration("b", 2, Status::Fail)),
        };
        let json = serde_json::to_value(&update).unwrap();
        assert_eq!(json["event"], "iteration-finished");
        assert_eq!(json["status"], "fail");
        assert_eq!(json["iteration"], 2);
        assert_eq!(
            (json["run"].clone(), json["sentMs"].clone()),
            (3.into(), 42.into())
        );
        let watch = WatchUpdate {
            workspace: "/w".into(),
            sent_ms: 1,
            event: WatchEvent::Batch(BatchEvent::Note {
                message: "hi".into(),
            }),
        };
        let json = serde_json::to_value(&watch).unwrap();
        assert_eq!(
            (json["watch"].as_str(), json["event"].as_str()),
            (Some("batch"), Some("note"))
        );
        let json = serde_json::to_value(WatchUpdate {
            workspace: "/w".into(),
            sent_ms: 1,
            event: WatchEvent::Unchanged,
        })
        .unwrap();
        assert_eq!(json["watch"], "unchanged");
    }

    #[test]
    fn a_job_stopped_before_it_links_a_token_stops_that_token_too() {
        let (cancel, linked) = (Cancel::new(), Mutex::new(Vec::new()));
        cancel.cancel();
        let token = Cancel::new();
        link(&cancel, &linked, token.clone());
        assert!(token.is_cancelled());
    }
}
