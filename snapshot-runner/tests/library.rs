//! The library as the desktop app uses it, with real QEMU under TCG and the built-in image:
//! batches started through `snaprun::ops`, their progress events, cancellation through the
//! handle, and what another reader of the results sees meanwhile.

mod common;

use std::time::Duration;

use common::*;
use snaprun::batch::Options;
use snaprun::ops::{self, BatchEvent, BatchListOptions, Stopped};
use snaprun::qemu::Accel;
use snaprun::results::{BatchStatus, Results, Status};
use snaprun::store::Store;

fn options(ws: &std::path::Path, n: u32, jobs: u32, cmd: &str) -> Options {
    Options {
        iterations: n,
        jobs,
        accel: Some(Accel::Tcg),
        timeout: Some(Duration::from_secs(120)),
        ..Options::new(ws, "default", cmd)
    }
}

/// A short name for each event, to compare sequences.
fn name(e: &BatchEvent) -> String {
    match e {
        BatchEvent::Building { .. } => "building".into(),
        BatchEvent::Note { .. } => "note".into(),
        BatchEvent::Snapshotted { .. } => "snapshotted".into(),
        BatchEvent::IterationStarted { iteration, .. } => format!("started {iteration}"),
        BatchEvent::IterationFinished(it) => format!("finished {} {}", it.iteration, it.status),
        BatchEvent::Finished { batch, .. } => format!("batch {}", batch.status),
    }
}

#[test]
fn a_batch_reports_every_event_in_order_and_a_cancelled_one_leaves_nothing() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let store = Store::open(Some(&t.path())).unwrap();
    let before = ops::changes(&store, 0).unwrap().revision;

    // One batch to the end: iteration 2 fails, the others pass, one VM at a time.
    let cmd = r#"echo "i=$SNAPRUN_ITERATION"; [ "$SNAPRUN_ITERATION" != 2 ]"#;
    let running = ops::start_batch(&store, &options(&ws, 3, 1, cmd));
    let reader = Results::open(&store.results_db()).unwrap();
    let mut events = Vec::new();
    for e in running.events() {
        // Each result is in the database when its event arrives, for any reader to see.
        if let BatchEvent::IterationFinished(it) = &e {
            let stored = reader.iteration(&it.batch_id, it.iteration).unwrap();
            assert_eq!(stored.status, it.status);
        }
        events.push(e);
    }
    let outcome = running.wait().unwrap();
    let names: Vec<String> = events.iter().map(name).collect();
    assert_eq!(
        names,
        [
            "snapshotted",
            "started 1",
            "finished 1 pass",
            "started 2",
            "finished 2 fail",
            "started 3",
            "finished 3 pass",
            "batch finished",
        ]
    );
    let BatchEvent::Snapshotted { batch, numbers, .. } = &events[0] else {
        unreachable!()
    };
    assert_eq!(numbers, &[1, 2, 3]);
    assert_eq!(batch.status, BatchStatus::Running);
    let BatchEvent::Finished { summary, .. } = &events[7] else {
        unreachable!()
    };
    assert_eq!((summary.passed, summary.failed), (2, 1));
    let id = outcome.report.batch.id.clone();
    assert_eq!(
        ops::verdict(&outcome.report, outcome.aborted.as_deref(), None),
        ops::Verdict::Failed
    );
    // Events serialise for the app as they are.
    let json = serde_json::to_value(&events[4]).unwrap();
    assert_eq!(json["event"], "iteration-finished");
    assert_eq!(json["status"], "fail");

    // What the app shows of it: the list, the failing iteration's output and console, repro.
    let list = ops::batch_list(
        &store,
        &BatchListOptions {
            workspace: ws.clone(),
            limit: 10,
            changes: true,
        },
    )
    .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].summary.failure_rate.failures, 1);
    assert_eq!(list[0].status, BatchStatus::Finished);
    let logs = ops::iteration_logs(&store, &id, 2).unwrap();
    assert!(logs.output.contains("i=2"), "{}", logs.output);
    assert!(
        logs.console.is_some_and(|c| !c.is_empty()),
        "a kept failure keeps its console log"
    );
    assert!(ops::repro_command(&store, &id, 2).ends_with(&format!("repro {id} 2")));
    let changes = ops::changes(&store, before).unwrap();
    assert_eq!(changes.batches.len(), 1);
    assert_eq!(changes.iterations.len(), 3);
    assert_eq!(
        ops::stop(&store, &id).unwrap(),
        Stopped::NotRunning {
            batch_id: id.clone(),
            status: BatchStatus::Finished
        }
    );

    // A second batch, cancelled through its handle while two VMs run.
    let running = ops::start_batch(&store, &options(&ws, 4, 2, "sleep 600"));
    let mut events = Vec::new();
    while events
        .iter()
        .filter(|e| matches!(e, BatchEvent::IterationStarted { .. }))
        .count()
        < 2
    {
        events.push(
            running
                .events()
                .recv_timeout(Duration::from_secs(120))
                .expect("two iterations started"),
        );
    }
    assert!(
        wait_until(Duration::from_secs(60), || t.qemu_pids().len() == 2),
        "two QEMUs never ran"
    );
    std::thread::sleep(Duration::from_secs(2));
    running.cancel().cancel();
    events.extend(running.events().iter());
    let outcome = running.wait().unwrap();
    let report = &outcome.report;
    t.assert_no_qemu();
    // The first batch's kept failure stays; the cancelled batch leaves nothing.
    let first_batch = t.path().join("runs").join(&id);
    assert!(
        t.run_files().iter().all(|f| f.starts_with(&first_batch)),
        "stray files: {:?}",
        t.run_files()
    );
    assert!(!t.path().join("runs").join(&report.batch.id).exists());
    assert_eq!(report.batch.status, BatchStatus::Interrupted);
    assert_eq!(
        report.iterations.len(),
        2,
        "no iteration starts after the cancel"
    );
    assert!(
        report
            .iterations
            .iter()
            .all(|i| i.status == Status::Interrupted)
    );
    assert_eq!(
        reader.batch(&report.batch.id).unwrap().status,
        BatchStatus::Interrupted
    );
    let names: Vec<String> = events.iter().map(name).collect();
    assert_eq!(names.first().map(String::as_str), Some("snapshotted"));
    assert_eq!(names.last().map(String::as_str), Some("batch interrupted"));
    assert_eq!(
        names.iter().filter(|n| n.ends_with("interrupted")).count(),
        3,
        "{names:?}"
    );
}
