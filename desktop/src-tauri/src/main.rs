// No console window on Windows release builds; on Linux this changes nothing.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use retrace_desktop::rendering;

fn main() {
    let switches = rendering::software_switches(
        rendering::has_render_node(std::path::Path::new("/dev/dri")),
        |k| std::env::var_os(k).is_some(),
    );
    for (key, value) in &switches {
        // SAFETY: the first thing the process does, before any thread exists (nothing else
        // reads or writes the environment concurrently); WebKit reads these when it starts.
        unsafe { std::env::set_var(key, value) };
    }
    std::process::exit(retrace_desktop::run_with(&switches));
}
