//! SLOW TIER: builds a real Debian image with debootstrap from the Debian archive (network,
//! root, about two minutes the first time; cached in `$CARGO_TARGET_TMPDIR/snaprun-debian-cache`
//! after that, rebuilt only when the recipe changes) and runs a command in it through
//! qemu-guest-agent (about 20 s under TCG: the image boots systemd).
//!
//! `make test` runs it with the rest. It needs root (debootstrap) and the Debian archive; set
//! SNAPRUN_SKIP_DEBIAN=1 to leave it out on a machine without them: it is then reported as
//! skipped (`SKIPPED ...` on the terminal), and fails under RETRACE_REQUIRE_ALL=1 as
//! `make test` sets it (see `snaprun::testenv`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use common::*;
use snaprun::results::Status;
use snaprun::testenv::{assert_skips_visibly, require};

const IMAGE: &str = "debian-ci";

fn debian_cache() -> Option<PathBuf> {
    let wanted = std::env::var_os("SNAPRUN_SKIP_DEBIAN").is_none_or(|v| v.is_empty() || v == "0");
    // SAFETY: a plain query.
    let root = unsafe { libc::geteuid() } == 0;
    let needs = if wanted {
        "root, for debootstrap (run the tests as root)"
    } else {
        "the Debian archive, left out with SNAPRUN_SKIP_DEBIAN"
    };
    if !require(wanted && root, needs) {
        return None;
    }
    static BUILT: Mutex<bool> = Mutex::new(false);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("snaprun-debian-cache");
    let args = ["image", "build", "--debian", "bookworm", IMAGE];
    prepare_once(&BUILT, &cache, &args);
    Some(cache)
}

#[test]
fn a_debian_image_built_with_debootstrap_runs_commands_through_qemu_guest_agent() {
    let Some(cache) = debian_cache() else { return };
    let t = TestStore::with_images(&cache, &[IMAGE]);
    t.run(&["image", "ls"]).expect_code(0).expect_stdout("qga");
    let ws = t.workspace(&[("data.txt", "from the code snapshot\n", false)]);
    let cmd = "cat data.txt; echo debian=$(cat /etc/debian_version); echo seed=$SNAPRUN_SEED; \
               echo iteration=$SNAPRUN_ITERATION; touch scratch && echo writable; \
               echo oops >&2; exit 3";
    let out = t.run(&[
        "run",
        "--image",
        IMAGE,
        "--accel",
        "tcg",
        "-n",
        "1",
        "-C",
        ws.to_str().unwrap(),
        "--",
        cmd,
    ]);
    out.expect_code(1).expect_stdout("failed 1");
    let results = t.results();
    let batch = results.batch("last").unwrap();
    let it = results.iteration(&batch.id, 1).unwrap();
    assert_eq!((it.status, it.exit_code), (Status::Fail, Some(3)));
    let text = String::from_utf8_lossy(&it.output);
    assert!(text.contains("from the code snapshot"), "{text}");
    assert!(text.contains("debian=12."), "a real Debian 12 root: {text}");
    assert!(text.contains(&format!("seed={}", it.seed)), "{text}");
    assert!(
        text.contains("iteration=1") && text.contains("writable"),
        "{text}"
    );
    assert!(text.contains("oops"), "stderr is kept too: {text}");
    assert!(!text.contains("lost+found"), "{text}");
    assert!(it.boot_ms.is_some());
    t.assert_no_qemu();
    assert!(
        !ws.join("scratch").exists(),
        "the guest never writes the workspace"
    );

    // A warm state needs snaprun's own agent: said plainly, before anything boots.
    t.run(&["image", "warm", IMAGE])
        .expect_code(2)
        .expect_stderr("qemu-guest-agent");
}

/// Issue 15: SNAPRUN_SKIP_DEBIAN made the test above pass without a word.
#[test]
fn skipping_the_debian_test_shows() {
    assert_skips_visibly(
        "a_debian_image_built_with_debootstrap_runs_commands_through_qemu_guest_agent",
        &[("SNAPRUN_SKIP_DEBIAN", "1")],
    );
}
