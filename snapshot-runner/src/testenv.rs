//! For tests (this crate's and its integration tests'): whether what a test needs is on this
//! machine, and a skip that shows when it is not.
//!
//! A test that needs something a machine may lack (QEMU, git, root to mount a file system, the
//! Debian archive) starts with `if !require(available, "what it needs") { return; }`. When the
//! need is met the test runs. When it is not, the test is reported on the terminal as
//! `SKIPPED <test>: needs <what>` (written past the test harness's capture, so it shows even
//! though the test then passes) and counted in the file `$RETRACE_SKIP_LOG` if that is set;
//! and with `RETRACE_REQUIRE_ALL=1` (which `make test` sets) it fails instead, so on a machine
//! set up as the README says nothing is skipped.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// Set (to anything but `0`) to make every unmet need a failure.
pub const REQUIRE_ALL: &str = "RETRACE_REQUIRE_ALL";
/// A file each skip appends its line to.
pub const SKIP_LOG: &str = "RETRACE_SKIP_LOG";

/// Whether the calling test may run: `available` says whether `needs` is met here.
///
/// # Panics
/// When it is not met and [`REQUIRE_ALL`] is set: that is the test failing.
pub fn require(available: bool, needs: &str) -> bool {
    if available {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("SKIPPED {test}: needs {needs}");
    let required = std::env::var_os(REQUIRE_ALL).is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{line}; {REQUIRE_ALL} is set, so every test must run here (run scripts/setup, or \
         unset {REQUIRE_ALL} to let it be skipped)"
    );
    // Straight to the process's stderr: the harness captures only `print!` and `eprint!`.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(log) = std::env::var_os(SKIP_LOG)
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(&log))
    {
        let _ = writeln!(f, "{line}");
    }
    false
}

/// Runs the test `name` alone in this very test binary, with `env` set and
/// [`REQUIRE_ALL`] and [`SKIP_LOG`] unset unless `env` sets them: how a test of a skip sees
/// what a person running `cargo test` would.
pub fn run_alone(name: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--test-threads", "1"])
        .env_remove(REQUIRE_ALL)
        .env_remove(SKIP_LOG);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run the test binary again: {e}"))
}

/// Checks that test `name`, run alone with `env` making its need unmet, is skipped visibly
/// (and counted), and fails when [`REQUIRE_ALL`] is set.
pub fn assert_skips_visibly(name: &str, env: &[(&str, &str)]) {
    let dir = std::env::temp_dir().join(format!("snaprun-skips-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join(name.replace("::", "-"));
    let _ = std::fs::remove_file(&log);
    let log_str = log.to_string_lossy().into_owned();
    let mut with_log = env.to_vec();
    with_log.push((SKIP_LOG, &log_str));
    let out = run_alone(name, &with_log);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} without its need should be skipped, not fail:\n{stderr}"
    );
    let short = name.rsplit("::").next().unwrap_or(name);
    assert!(
        stderr.contains("SKIPPED") && stderr.contains(short),
        "{name} was skipped silently:\n{stderr}"
    );
    let counted = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(counted.lines().count(), 1, "{counted}");
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_dir(&dir);

    let mut required = env.to_vec();
    required.push((REQUIRE_ALL, "1"));
    let out = run_alone(name, &required);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "{name} without its need passed under {REQUIRE_ALL}=1:\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains(REQUIRE_ALL) || stderr.contains(REQUIRE_ALL),
        "the failure names {REQUIRE_ALL}:\n{stdout}{stderr}"
    );
}
