//! How the webview draws on a machine without a GPU. WebKitGTK draws with Skia on the GPU and
//! composites its layers with OpenGL; without a GPU that OpenGL is Mesa's llvmpipe, which
//! compiles its shaders with LLVM at every start: on two loaded cores, half a second or more
//! before the first frame (measured: the app's start to its first painted tree took a median
//! 1.6 s, and 1.0 s with CPU drawing and no compositing). So when the machine has no GPU
//! render node, the app asks WebKit for CPU drawing and no compositing, unless the person set
//! either variable. With a GPU nothing changes.

use std::path::Path;

/// WebKit's switches: draw with the CPU, composite without OpenGL.
pub const SOFTWARE: [(&str, &str); 2] = [
    ("WEBKIT_SKIA_ENABLE_CPU_RENDERING", "1"),
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
];

/// Whether `dri` (`/dev/dri`) holds a GPU render node (`renderD128`, ...).
pub fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// The variables to set before the webview starts: [`SOFTWARE`] without a GPU, unless
/// `is_set` says the person chose either already.
pub fn software_switches(
    has_gpu: bool,
    is_set: impl Fn(&str) -> bool,
) -> Vec<(&'static str, &'static str)> {
    if has_gpu || SOFTWARE.iter().any(|(k, _)| is_set(k)) {
        return Vec::new();
    }
    SOFTWARE.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_machine_without_a_gpu_and_without_a_choice_gets_the_switches() {
        assert_eq!(software_switches(false, |_| false), SOFTWARE.to_vec());
        assert!(software_switches(true, |_| false).is_empty());
        assert!(software_switches(false, |k| k == "WEBKIT_DISABLE_COMPOSITING_MODE").is_empty());
    }

    #[test]
    fn a_render_node_is_found_in_dri() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_render_node(dir.path()));
        assert!(!has_render_node(&dir.path().join("missing")));
        std::fs::write(dir.path().join("card0"), b"").unwrap();
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("renderD128"), b"").unwrap();
        assert!(has_render_node(dir.path()));
    }
}
