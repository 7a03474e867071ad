//! The app's commands through Tauri's real IPC path (capabilities included), on the mock
//! runtime: no display needed. The end-to-end tests in tests/desktop drive the real webview.

mod common;

use std::path::Path;

use retrace_desktop::today::TodayConfig;
use retrace_desktop::{AppState, Paths, with_commands};
use retrace_planner::ops::Clock;
use serde_json::{Value, json};
use tauri::test::{MockRuntime, mock_builder};
use tauri::webview::WebviewWindow;

struct TestApp {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn app(data: &Path, config: &Path) -> TestApp {
    let paths = Paths {
        retrace_data: Some(data.to_owned()),
        prefs: retrace_desktop::prefs::path_in(config),
    };
    let today = TodayConfig {
        db: Some(data.join("planner.sqlite3")),
        clock: Clock::Fixed("2026-03-05T09:05:00Z".parse().unwrap()),
        tz: Some("UTC".into()),
        activity: false,
    };
    let app = with_commands(mock_builder())
        .manage(AppState::new(paths, today))
        .build(tauri::generate_context!())
        .expect("building the app");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("opening the window");
    TestApp { _app: app, window }
}

fn invoke(app: &TestApp, cmd: &str, args: Value) -> Result<Value, Value> {
    common::invoke(&app.window, cmd, args)
}

#[test]
fn an_empty_data_directory_lists_no_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("data"), &dir.path().join("config"));
    assert_eq!(invoke(&app, "nav_workspaces", json!({})), Ok(json!([])));
}

#[test]
fn preferences_are_kept_in_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let app = app(&dir.path().join("data"), &config);
    let prefs = json!({"view": "today", "navWorkspace": "/home/me/shop", "notifyBlocks": true});
    assert_eq!(
        invoke(&app, "prefs_set", json!({ "prefs": prefs })),
        Ok(Value::Null)
    );
    assert_eq!(invoke(&app, "prefs_get", json!({})), Ok(prefs.clone()));
    let saved: Value =
        serde_json::from_slice(&std::fs::read(config.join("prefs.json")).unwrap()).unwrap();
    assert_eq!(saved, prefs);
}

#[test]
fn a_corrupt_history_is_listed_with_its_error_and_not_changed() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("data/history");
    std::fs::create_dir_all(&history).unwrap();
    let file = history.join("w-0011223344556677.sqlite3");
    let junk = b"not a database at all".repeat(200);
    std::fs::write(&file, &junk).unwrap();
    let app = app(&dir.path().join("data"), &dir.path().join("config"));
    let list = invoke(&app, "nav_workspaces", json!({})).unwrap();
    assert_eq!(list[0]["problem"]["kind"], "corrupt");
    let error = list[0]["problem"]["message"].as_str().unwrap();
    assert!(error.contains(&file.display().to_string()), "{error}");
    let opened = invoke(
        &app,
        "nav_open",
        json!({"database": file.display().to_string()}),
    );
    let err = opened.unwrap_err();
    assert_eq!(err["kind"], "unreadable");
    assert_eq!(std::fs::read(&file).unwrap(), junk);
}

/// A real history written by retrace-lsp's library, opened through `nav_open` (an async
/// command, off the main thread): each row carries what the tree draws, and only that.
#[test]
fn a_tree_opens_with_lean_rows() {
    use std::sync::Arc;

    use retrace_lsp::history::{History, Options};
    use retrace_lsp::store::{Endpoint, SessionInfo, database_path, this_host};
    use retrace_lsp::tree::{Precision, Reason};
    use retrace_lsp::workspace::{Workspace, uri_for_path};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    let text: String = (0..50).map(|i| format!("fn f{i}() {{}}\n")).collect();
    std::fs::write(root.join("src/a.rs"), text).unwrap();
    let db = database_path(&data, &root);
    let info = SessionInfo {
        id: Arc::from("s1"),
        pid: std::process::id(),
        host: this_host(),
        client: "Neovim 0.7".into(),
        started_ms: 0,
    };
    let endpoint = Endpoint {
        editor: "Neovim".into(),
        socket: None,
    };
    let mut history = History::open_quarantining(
        &db,
        Workspace::new(&root),
        &info,
        &endpoint,
        Options::default(),
        0,
    )
    .unwrap()
    .history;
    let uri = uri_for_path(&root.join("src/a.rs"));
    for line in [0, 30] {
        history
            .visit(&uri, line, 0, Reason::Definition, Precision::Line, 1000)
            .unwrap();
    }
    let app = app(&data, &dir.path().join("config"));
    let tree = invoke(
        &app,
        "nav_open",
        json!({"database": db.display().to_string()}),
    )
    .unwrap();
    let rows = tree["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (first, second) = (&rows[0], &rows[1]);
    assert_eq!(first["path"], "src/a.rs");
    assert_eq!(first["lineNumber"], 1);
    assert_eq!(first["text"], "fn f0() {}");
    assert_eq!(first["children"], json!([second["id"]]));
    assert_eq!(second["cursors"][0]["editor"], "Neovim");
    for absent in ["uri", "line", "character", "createdMs", "anchor", "gone"] {
        assert!(first.get(absent).is_none(), "{absent} in {first}");
    }
    assert!(first.get("cursors").is_none(), "no cursor: no field");
    drop(history);
}

#[test]
fn an_unknown_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("data"), &dir.path().join("config"));
    assert!(invoke(&app, "no_such_command", json!({})).is_err());
}

// --- the Today view ------------------------------------------------------------------------

fn labels(day: &Value) -> Vec<String> {
    day["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["planned"]["label"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_day_is_painted_moved_and_cleared_through_the_planner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = app(&data, &dir.path().join("config"));
    let day = invoke(&app, "today_day", json!({})).unwrap();
    assert_eq!(day["today"], "2026-03-05");
    assert_eq!(day["date"], "2026-03-05");
    assert_eq!(day["blocks"].as_array().unwrap().len(), 102);
    assert_eq!(day["current_block"], 12);
    assert!(!data.join("planner.sqlite3").exists() || day["revisions"] == json!([]));

    let stroke = json!({"date": "2026-03-05", "span": {"start": 12, "end": 18},
                        "label": "deep work", "category": "focus", "color": "teal"});
    let painted = invoke(&app, "today_paint", json!({ "stroke": stroke })).unwrap();
    assert_eq!(painted["done"]["range"], "09:00-10:00");
    let l = labels(&painted["day"]);
    assert_eq!(
        (l[12].as_str(), l[17].as_str(), l[18].as_str()),
        ("deep work", "deep work", "")
    );
    assert_eq!(painted["day"]["blocks"][12]["planned"]["color"], "teal");

    let moved = invoke(
        &app,
        "today_move",
        json!({"date": "2026-03-05", "from": {"start": 12, "end": 18}, "to": {"start": 12, "end": 20}}),
    )
    .unwrap();
    assert_eq!(moved["done"]["to_range"], "09:00-10:20");
    let cleared = invoke(
        &app,
        "today_clear",
        json!({"date": "2026-03-05", "span": {"start": 18, "end": 20}, "actual": false}),
    )
    .unwrap();
    assert_eq!(cleared["done"]["count"], 2);
    assert_eq!(
        labels(&cleared["day"])
            .iter()
            .filter(|l| !l.is_empty())
            .count(),
        6
    );
}

#[test]
fn replans_keep_the_earlier_revision_and_templates_apply() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("data"), &dir.path().join("config"));
    let stroke =
        json!({"date": "2026-03-05", "span": {"start": 12, "end": 24}, "label": "deep work"});
    invoke(&app, "today_paint", json!({ "stroke": stroke })).unwrap();
    let saved = invoke(
        &app,
        "today_template_save",
        json!({"name": "focus day", "date": "2026-03-05", "overwrite": false}),
    )
    .unwrap();
    assert_eq!(saved["blocks"], 12);
    let replanned = invoke(
        &app,
        "today_replan",
        json!({"date": "2026-03-05", "from": null, "clearRest": true}),
    )
    .unwrap();
    assert_eq!(replanned["done"]["revision"], 2);
    assert_eq!(replanned["done"]["from"], "09:00");
    let first = invoke(
        &app,
        "today_day",
        json!({"date": "2026-03-05", "revision": 1}),
    )
    .unwrap();
    assert_eq!(labels(&first)[20], "deep work");
    assert_eq!(labels(&replanned["day"])[20], "");

    let applied = invoke(
        &app,
        "today_template_apply",
        json!({"name": "focus day", "date": "2026-03-06", "weekdays": null, "weeks": null, "replace": false}),
    )
    .unwrap();
    assert_eq!(applied["done"][0]["placed"], 12);
    assert_eq!(applied["day"]["date"], "2026-03-06");
    let weekly = invoke(
        &app,
        "today_template_apply",
        json!({"name": "focus day", "date": "2026-03-05", "weekdays": "mon,wed", "weeks": 2, "replace": false}),
    )
    .unwrap();
    let dates: Vec<&str> = weekly["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        ["2026-03-02", "2026-03-04", "2026-03-09", "2026-03-11"]
    );
    let templates = invoke(&app, "today_templates", json!({})).unwrap();
    assert_eq!(templates[0]["name"], "focus day");
    let week = invoke(&app, "today_week", json!({"date": "2026-03-05"})).unwrap();
    assert_eq!(week["days"].as_array().unwrap().len(), 7);
}

#[test]
fn a_rejected_calendar_says_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("data"), &dir.path().join("config"));
    let bad = dir.path().join("bad.ics");
    std::fs::write(&bad, "BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n").unwrap();
    let err = invoke(
        &app,
        "today_import",
        json!({"path": bad.display().to_string(), "replace": false, "date": "2026-03-05"}),
    )
    .unwrap_err();
    assert_eq!(err["kind"], "invalid");
    assert!(
        err["message"].as_str().unwrap().contains("bad.ics"),
        "{err}"
    );
}
