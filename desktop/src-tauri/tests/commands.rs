//! The app's commands through Tauri's real IPC path (capabilities included), on the mock
//! runtime: no display needed. The end-to-end tests in tests/desktop drive the real webview.

use std::path::Path;

use retrace_desktop::{AppState, Paths, with_commands};
use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::{InvokeRequest, WebviewWindow};

struct TestApp {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn app(data: &Path, config: &Path) -> TestApp {
    let paths = Paths {
        retrace_data: Some(data.to_owned()),
        prefs: retrace_desktop::prefs::path_in(config),
    };
    let app = with_commands(mock_builder())
        .manage(AppState::new(paths))
        .build(tauri::generate_context!())
        .expect("building the app");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("opening the window");
    TestApp { _app: app, window }
}

fn invoke(app: &TestApp, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        &app.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().expect("a url"),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("a JSON reply"))
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
    let prefs = json!({"view": "navigation", "navWorkspace": "/home/me/shop"});
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

#[test]
fn an_unknown_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("data"), &dir.path().join("config"));
    assert!(invoke(&app, "no_such_command", json!({})).is_err());
}
