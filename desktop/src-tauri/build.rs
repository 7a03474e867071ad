//! Tauri's build step: reads tauri.conf.json, generates the capability schemas, and declares
//! the app's commands, so that each one is allowed only where `capabilities/` grants it.

/// Every `#[tauri::command]` the frontend may call; each needs `allow-<name>` (with `_` as
/// `-`) in `capabilities/default.json`. A command missing here is refused at run time.
const COMMANDS: &[&str] = &[
    "app_info",
    "app_painted",
    "prefs_get",
    "prefs_set",
    "nav_workspaces",
    "nav_open",
    "nav_close",
    "nav_jump",
    "today_day",
    "today_paint",
    "today_clear",
    "today_move",
    "today_replan",
    "today_did",
    "today_palette",
    "today_templates",
    "today_template_save",
    "today_template_apply",
    "today_week",
    "today_export",
    "today_import",
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

fn main() {
    // tauri-codegen embeds the built frontend; without it the error is obscure, so say it here.
    let dist = std::path::Path::new("../dist/index.html");
    println!("cargo:rerun-if-changed=../dist");
    if !dist.exists() {
        println!(
            "cargo:warning=desktop/dist is missing: build the frontend first with `make frontend` (npm ci && npm run build in desktop/)"
        );
        std::process::exit(1);
    }
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        println!("cargo:warning=tauri build step failed: {e:#}");
        std::process::exit(1);
    }
}
