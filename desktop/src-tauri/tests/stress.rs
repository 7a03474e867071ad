//! The Stress tests view's commands through Tauri's real IPC path (capabilities included), on
//! the mock runtime, over a real snaprun store whose results are written through snaprun's
//! library. Batches in real VMs are tests/desktop/test_stress.py's.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use retrace_desktop::stress::StressState;
use retrace_desktop::with_commands;
use serde_json::{Value, json};
use snaprun::results::{BatchStatus, Results, Status, fixtures};
use snaprun::store::{ImageSpec, Store};
use tauri::Listener;
use tauri::test::{MockRuntime, mock_builder};
use tauri::webview::WebviewWindow;

const STRESS_COMMANDS: &[&str] = &[
    "stress_open",
    "stress_close",
    "stress_batches",
    "stress_batch",
    "stress_iteration",
    "stress_compare",
    "stress_images",
    "stress_start",
    "stress_stop",
    "stress_watch_start",
    "stress_watch_stop",
    "stress_prepare_image",
    "stress_cancel_image",
    "stress_pick_folder",
    "stress_open_terminal",
];

struct TestApp {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn app(store: &Path) -> TestApp {
    let app = with_commands(mock_builder())
        .manage(StressState::new(Some(store.to_owned())))
        .build(tauri::generate_context!())
        .expect("building the app");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("opening the window");
    TestApp { app, window }
}

fn invoke(app: &TestApp, cmd: &str, args: Value) -> Result<Value, Value> {
    common::invoke(&app.window, cmd, args)
}

/// A store with the batches `(id, start_ms, statuses)` of workspace `ws`, written through
/// snaprun's library as a batch would write them.
fn fill(store: &Path, ws: &Path, batches: &[(&str, i64, &[Status])]) {
    let store = Store::open(Some(store)).unwrap();
    let results = Results::open(&store.results_db()).unwrap();
    for (id, start, statuses) in batches {
        let mut b = fixtures::batch(id);
        b.workspace = ws.to_owned();
        b.start_ms = *start;
        b.iterations = statuses.len() as u32;
        b.seed = u64::MAX - 1;
        b.command = "./stress.sh".into();
        results.insert_batch(&b).unwrap();
        for (i, s) in statuses.iter().enumerate() {
            let mut it = fixtures::iteration(id, i as u32 + 1, *s);
            it.seed = u64::MAX - i as u64;
            it.output = format!("iteration {} says {s}\n", i + 1).into_bytes();
            results.insert_iteration(&it).unwrap();
        }
    }
}

fn workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::canonicalize(ws).unwrap()
}

#[test]
fn every_stress_command_is_granted_to_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("store"));
    for cmd in STRESS_COMMANDS {
        if let Err(e) = invoke(&app, cmd, json!({})) {
            let text = e.to_string();
            assert!(!text.contains("not allowed"), "{cmd} is refused: {text}");
        }
    }
}

#[test]
fn an_ungranted_command_is_refused_in_the_words_the_test_above_looks_for() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("store"));
    let e = invoke(&app, "stress_not_a_command", json!({})).unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
}

#[test]
fn an_empty_store_has_no_workspace_and_no_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let app = app(&root);
    let overview = invoke(&app, "stress_open", json!({})).unwrap();
    assert_eq!(overview["workspaces"], json!([]));
    assert_eq!(overview["store"], root.display().to_string());
    assert_eq!(overview["watching"], Value::Null);
    let images = invoke(&app, "stress_images", json!({})).unwrap();
    assert_eq!(images["images"], json!([]));
    assert_eq!(
        invoke(&app, "stress_watch_stop", json!({})),
        Ok(json!(false))
    );
    assert_eq!(
        invoke(&app, "stress_cancel_image", json!({})),
        Ok(json!(false))
    );
}

#[test]
fn batches_are_listed_newest_first_with_what_the_view_shows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let ws = workspace(dir.path());
    use Status::*;
    fill(
        &root,
        &ws,
        &[
            ("20260101-000000-aaaaaa", 1_000, &[Pass, Fail, Pass, Pass]),
            (
                "20260101-000100-bbbbbb",
                2_000,
                &[Pass, Pass, Timeout, Crashed],
            ),
        ],
    );
    let app = app(&root);
    let overview = invoke(&app, "stress_open", json!({})).unwrap();
    assert_eq!(
        overview["workspaces"][0]["workspace"],
        ws.display().to_string()
    );
    assert_eq!(overview["workspaces"][0]["batches"], 2);

    // A typed path with a trailing slash and spaces is the same workspace.
    let typed = format!(" {}/ ", ws.display());
    let page = invoke(&app, "stress_batches", json!({ "workspace": typed })).unwrap();
    assert_eq!(page["workspace"], ws.display().to_string());
    let batches = page["batches"].as_array().unwrap();
    assert_eq!(batches[0]["batch"]["id"], "20260101-000100-bbbbbb");
    assert_eq!(batches[0]["summary"]["failure_rate"]["failures"], 2);
    assert_eq!(batches[1]["summary"]["failure_rate"]["failures"], 1);
    assert_eq!(batches[1]["status"], "finished");

    let detail = invoke(&app, "stress_batch", json!({"id": "20260101-000100"})).unwrap();
    assert_eq!(detail["numbers"], json!([1, 2, 3, 4]));
    assert_eq!(
        detail["seed"],
        (u64::MAX - 1).to_string(),
        "the seed, exactly"
    );
    assert_eq!(detail["report"]["iterations"][2]["status"], "timeout");

    let it = invoke(
        &app,
        "stress_iteration",
        json!({"batch": "20260101-000000-aaaaaa", "iteration": 2}),
    )
    .unwrap();
    assert_eq!(it["logs"]["output"], "iteration 2 says fail\n");
    assert_eq!(it["seed"], (u64::MAX - 1).to_string());
    assert_eq!(
        it["repro"],
        format!(
            "snaprun --store {} repro 20260101-000000-aaaaaa 2",
            root.display()
        )
    );
    let missing = invoke(
        &app,
        "stress_iteration",
        json!({"batch": "20260101-000000-aaaaaa", "iteration": 9}),
    )
    .unwrap_err();
    assert_eq!(missing["kind"], "not-found");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("iteration 9 of batch")
    );

    let c = invoke(
        &app,
        "stress_compare",
        json!({"a": "20260101-000000-aaaaaa", "b": "20260101-000100-bbbbbb"}),
    )
    .unwrap();
    assert_eq!(c["a"]["failure_rate"]["failures"], 1);
    assert!(
        c["verdict"][0].as_str().unwrap().contains("1/4 vs 2/4"),
        "{c}"
    );
}

#[test]
fn a_batch_written_by_another_process_reaches_the_view_live() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let ws = workspace(dir.path());
    fill(
        &root,
        &ws,
        &[("20260101-000000-aaaaaa", 1_000, &[Status::Pass])],
    );
    let app = app(&root);
    let (tx, rx) = mpsc::channel::<Value>();
    app.app.listen_any("stress:changed", move |e| {
        let _ = tx.send(serde_json::from_str(e.payload()).unwrap());
    });
    invoke(&app, "stress_open", json!({})).unwrap();
    invoke(&app, "stress_batches", json!({"workspace": ws})).unwrap();

    // "Another process": a second connection writing as `snaprun run` does.
    let results = Results::open(&root.join("results.db")).unwrap();
    let mut b = fixtures::batch("20260101-000500-cccccc");
    b.workspace = ws.clone();
    b.start_ms = 5_000;
    b.status = BatchStatus::Running;
    b.pid = std::process::id();
    b.host = snaprun::results::host_name();
    results.insert_batch(&b).unwrap();
    let changed = next_with(&rx, |c| !c["batches"].as_array().unwrap().is_empty());
    assert_eq!(
        changed["batches"][0]["batch"]["id"],
        "20260101-000500-cccccc"
    );
    assert_eq!(changed["batches"][0]["status"], "running");
    assert_eq!(changed["workspaces"][0]["batches"], 2);

    results
        .insert_iteration(&fixtures::iteration(
            "20260101-000500-cccccc",
            1,
            Status::Fail,
        ))
        .unwrap();
    let changed = next_with(&rx, |c| !c["iterations"].as_array().unwrap().is_empty());
    assert_eq!(changed["iterations"][0]["status"], "fail");
    assert_eq!(changed["batches"][0]["summary"]["failed"], 1);
    assert!(changed["sentMs"].as_i64().unwrap() > 0);
    invoke(&app, "stress_close", json!({})).unwrap();
}

fn next_with(rx: &mpsc::Receiver<Value>, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a stress:changed event");
        if wanted(&v) {
            return v;
        }
    }
}

#[test]
fn a_corrupt_results_database_shows_snaprun_s_message_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir_all(&root).unwrap();
    let db = root.join("results.db");
    let junk = b"this is not a database".repeat(300);
    std::fs::write(&db, &junk).unwrap();
    let app = app(&root);
    let e = invoke(&app, "stress_open", json!({})).unwrap_err();
    assert_eq!(e["kind"], "unreadable");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("results database {} is unreadable", db.display())),
        "{message}"
    );
    assert!(message.contains("move it aside"), "{message}");
    assert_eq!(std::fs::read(&db).unwrap(), junk);
}

fn start_request(ws: &Path, image: &str) -> Value {
    json!({"request": {
        "workspace": ws, "command": "./stress.sh", "iterations": 4, "jobs": 2,
        "image": image, "timeout": "", "seed": null, "start": "auto", "accel": "tcg",
    }})
}

#[test]
fn a_batch_on_a_missing_or_modified_image_is_refused_with_snaprun_s_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let ws = workspace(dir.path());
    let app = app(&root);

    let e = invoke(&app, "stress_start", start_request(&ws, "nope")).unwrap_err();
    assert_eq!(e["kind"], "not-found");
    assert_eq!(
        e["message"],
        snaprun::Error::ImageNotFound {
            name: "nope".into(),
            built_in: false
        }
        .to_string()
    );

    // An image whose disk changed after it was frozen.
    let disk = dir.path().join("disk.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("16M")
        .status()
        .expect("qemu-img");
    assert!(made.success());
    let store = Store::open(Some(&root)).unwrap();
    let spec = ImageSpec {
        disk,
        ..ImageSpec::default()
    };
    let manifest = snaprun::ops::add_image(&store, "tiny", &spec).unwrap();
    let object = root.join("images/objects").join(&manifest.disk.sha256);
    let mut perms = std::fs::metadata(&object).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&object, perms).unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&object, &bytes).unwrap();
    let e = invoke(&app, "stress_start", start_request(&ws, "tiny")).unwrap_err();
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("image `tiny` was modified behind snaprun's back"),
        "{message}"
    );
    // Nothing was recorded, and the image is left for the user to deal with.
    let overview = invoke(&app, "stress_open", json!({})).unwrap();
    assert_eq!(overview["workspaces"], json!([]));
    assert_eq!(std::fs::read(&object).unwrap(), bytes);
}

#[test]
fn a_bad_start_form_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let app = app(&dir.path().join("store"));
    let mut request = start_request(&ws, "default");
    request["request"]["seed"] = json!("twelve");
    let e = invoke(&app, "stress_start", request).unwrap_err();
    assert_eq!(e["kind"], "invalid");
    assert!(e["message"].as_str().unwrap().contains("seed `twelve`"));
    let mut request = start_request(&ws, "default");
    request["request"]["workspace"] = json!(dir.path().join("gone"));
    let e = invoke(&app, "stress_watch_start", request).unwrap_err();
    assert_eq!(e["kind"], "not-found");
}
