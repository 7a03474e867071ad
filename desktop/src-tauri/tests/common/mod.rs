//! What the command tests share: a command invoked through Tauri's real IPC path.

use serde_json::Value;
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response};
use tauri::webview::{InvokeRequest, WebviewWindow};

/// Invokes `cmd` with `args` as the page would; the reply, or the error's JSON.
pub fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
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
