//! Every way a user can get it wrong, or the machine can: each says what happened and what to
//! do, with exit code 2 (130 for an interruption). None of them boots a VM.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use snaprun::store::Store;
use snaprun::testenv::{assert_skips_visibly, require};

fn qcow2(dir: &std::path::Path, name: &str, data_mib: u64) -> std::path::PathBuf {
    let raw = dir.join(format!("{name}.raw"));
    // Random content, so qcow2 cannot store it as zeros.
    let mut bytes = vec![0u8; (data_mib << 20) as usize];
    let mut x = 0x1234_5678_9abc_def0u64;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fs::write(&raw, bytes).unwrap();
    let out = dir.join(format!("{name}.qcow2"));
    let st = Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    out
}

#[test]
fn a_missing_image_says_how_to_get_one() {
    let t = TestStore::empty();
    let ws = t.workspace(&[("x", "", false)]);
    t.run(&[
        "run",
        "-C",
        ws.to_str().unwrap(),
        "--image",
        "nope",
        "--",
        "true",
    ])
    .expect_code(2)
    .expect_stderr("image `nope` not found")
    .expect_stderr("snaprun image add nope");
    t.run(&["image", "verify", "default"])
        .expect_code(2)
        .expect_stderr("snaprun image build-default");
}

#[test]
fn image_add_refuses_what_is_not_a_sound_standalone_qcow2() {
    let t = TestStore::empty();
    let garbage = t.dir.path().join("garbage.qcow2");
    fs::write(&garbage, b"this is not a disk image").unwrap();
    t.run(&["image", "add", "bad", garbage.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("raw image, not qcow2");
    let base = qcow2(t.dir.path(), "base", 1);
    let over = t.dir.path().join("over.qcow2");
    snaprun::overlay::create(&base, &over).unwrap();
    t.run(&["image", "add", "layered", over.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("flatten it");
    // A truncated qcow2 (its header promises clusters that are not there).
    let broken = t.dir.path().join("broken.qcow2");
    let bytes = fs::read(&base).unwrap();
    fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    t.run(&["image", "add", "broken", broken.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("broken.qcow2");
    t.run(&["image", "ls"])
        .expect_code(0)
        .expect_stdout("no images");
}

#[test]
fn a_base_modified_behind_snaprun_s_back_is_refused() {
    let t = TestStore::empty();
    let disk = qcow2(t.dir.path(), "disk", 1);
    t.run(&["image", "add", "mine", disk.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("added image `mine`");
    t.run(&["image", "ls"]).expect_code(0).expect_stdout("mine");
    let store = Store::open(Some(&t.path())).unwrap();
    let object = store.image("mine", false).unwrap().disk;
    assert_eq!(
        fs::metadata(&object).unwrap().permissions().mode() & 0o777,
        0o444
    );

    // Same size and mtime, one byte flipped: only the full hash (--verify) can see it.
    let (secs, nsecs, _) = mtime_and_size(&object);
    fs::set_permissions(&object, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&object).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&object, &bytes).unwrap();
    fs::set_permissions(&object, fs::Permissions::from_mode(0o444)).unwrap();
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsecs,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsecs,
        },
    ];
    let c = std::ffi::CString::new(object.to_str().unwrap()).unwrap();
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) },
        0
    );
    assert!(
        store.image("mine", false).is_ok(),
        "the fast check trusts size and mtime"
    );
    t.run(&["image", "verify", "mine"])
        .expect_code(2)
        .expect_stderr("modified behind snaprun's back")
        .expect_stderr("hashes to");
    let ws = t.workspace(&[("x", "", false)]);
    t.run(&[
        "run",
        "-C",
        ws.to_str().unwrap(),
        "--image",
        "mine",
        "--verify",
        "--accel",
        "tcg",
        "--",
        "true",
    ])
    .expect_code(2)
    .expect_stderr("modified behind snaprun's back");

    // An ordinary write changes the mtime: the fast check alone refuses it.
    fs::set_permissions(&object, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&object, b"overwritten").unwrap();
    t.run(&[
        "run",
        "-C",
        ws.to_str().unwrap(),
        "--image",
        "mine",
        "--accel",
        "tcg",
        "--",
        "true",
    ])
    .expect_code(2)
    .expect_stderr("modified behind snaprun's back")
    .expect_stderr("snaprun image rm mine");
    t.run(&["image", "rm", "mine"]).expect_code(0);
    assert!(!object.exists(), "an object no image uses is removed");
}

#[test]
fn a_corrupt_results_database_is_named() {
    let t = TestStore::empty();
    fs::create_dir_all(t.path()).unwrap();
    fs::write(t.path().join("results.db"), vec![0x5au8; 4096]).unwrap();
    t.run(&["ls"])
        .expect_code(2)
        .expect_stderr("results.db")
        .expect_stderr("move it aside");
}

#[test]
fn unknown_batches_and_bad_usage_exit_2() {
    let t = TestStore::empty();
    t.run(&["show", "nope"])
        .expect_code(2)
        .expect_stderr("batch `nope` not found");
    t.run(&["run"]).expect_code(2);
    t.run(&["run", "--accel", "warp", "--", "true"])
        .expect_code(2)
        .expect_stderr("unknown accelerator");
    t.run(&["ls"])
        .expect_code(0)
        .expect_stdout("no batches yet");
    let help = t.run(&["run", "--help"]);
    help.expect_code(0)
        .expect_stdout("Exit codes:")
        .expect_stdout("130");
}

#[test]
fn partition_auto_outside_an_indexed_job_names_the_variables() {
    let t = TestStore::empty();
    let ws = t.workspace(&[("x", "", false)]);
    let ws = ws.to_str().unwrap();
    let args = [
        "run",
        "-C",
        ws,
        "--image",
        "nope",
        "--seed",
        "7",
        "--partition",
        "auto",
        "--",
        "true",
    ];
    let with_env = |vars: &[(&str, &str)]| {
        let mut c = t.command(&args);
        c.env_remove("JOB_COMPLETION_INDEX")
            .env_remove("JOB_COMPLETIONS")
            .envs(vars.iter().copied());
        Run(c.output().unwrap())
    };
    with_env(&[])
        .expect_code(2)
        .expect_stderr("JOB_COMPLETION_INDEX is not set")
        .expect_stderr("JOB_COMPLETIONS");
    with_env(&[("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "x")])
        .expect_code(2)
        .expect_stderr("JOB_COMPLETIONS=\"x\" is not a whole number");
    with_env(&[("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "2")])
        .expect_code(2)
        .expect_stderr("not an index of JOB_COMPLETIONS=2 partitions");
    // In a pod of the Job it is a slice like any other: the run gets past the arguments.
    with_env(&[("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "3")])
        .expect_code(2)
        .expect_stderr("image `nope` not found");
}

#[test]
fn ctrl_c_during_the_build_step_is_an_interruption() {
    use std::os::unix::process::CommandExt;
    let t = TestStore::empty();
    let ws = t.workspace(&[("x", "", false)]);
    let args = [
        "run",
        "-C",
        ws.to_str().unwrap(),
        "--image",
        "nope",
        "--build",
        "sleep 30",
        "--",
        "true",
    ];
    // A process group of its own, so the SIGINT goes to it and its build step as Ctrl-C would.
    let child = t
        .command(&args)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    wait_child(child)
        .expect_code(130)
        .expect_stderr("interrupted; no batch was started");
}

/// A real small file system (tmpfs, size-limited) that fills up: the store on it reports a
/// full disk as such. Needs root to mount; skipped visibly otherwise (see `snaprun::testenv`).
#[test]
fn a_full_store_disk_is_reported_as_a_full_disk() {
    let t = TestStore::empty();
    let mnt = t.dir.path().join("small");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !require(ok, "root, to mount a small tmpfs (run the tests as root)") {
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let store = mnt.join("store");
    let small = qcow2(t.dir.path(), "small", 1);
    let big = qcow2(t.dir.path(), "big", 8);
    let snaprun = |args: &[&str]| {
        Run(Command::new(SNAPRUN)
            .arg("--store")
            .arg(&store)
            .args(args)
            .output()
            .unwrap())
    };
    snaprun(&["image", "add", "small", small.to_str().unwrap()]).expect_code(0);
    snaprun(&["image", "add", "big", big.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("no space left on device")
        .expect_stderr("--store");
    // Nothing half-written is left behind, and the image that fit is intact.
    snaprun(&["image", "verify", "small"]).expect_code(0);
    assert!(fs::read_dir(store.join("tmp")).unwrap().next().is_none());

    // Fill what is left; a batch then fails at its code snapshot with the same clear message.
    let filler = mnt.join("filler");
    let _ = fs::write(&filler, vec![1u8; 8 << 20]);
    let ws = t.workspace(&[("data.bin", &"x".repeat(1 << 20), false)]);
    snaprun(&[
        "run",
        "-C",
        ws.to_str().unwrap(),
        "--image",
        "small",
        "--accel",
        "tcg",
        "--",
        "true",
    ])
    .expect_code(2)
    .expect_stderr("no space left on device");
}

/// Issue 15: where a tmpfs could not be mounted, the test above passed without a word.
#[test]
fn without_a_mount_the_full_disk_test_is_skipped_visibly() {
    assert_skips_visibly(
        "a_full_store_disk_is_reported_as_a_full_disk",
        &[("PATH", "/nonexistent")],
    );
}

#[test]
fn replacing_an_image_drops_files_no_other_image_uses() {
    let t = TestStore::empty();
    let one = qcow2(t.dir.path(), "one", 1);
    let two = qcow2(t.dir.path(), "two", 2);
    t.run(&["image", "add", "a", one.to_str().unwrap()])
        .expect_code(0);
    t.run(&["image", "add", "shared", one.to_str().unwrap()])
        .expect_code(0);
    let store = Store::open(Some(&t.path())).unwrap();
    let first = store.image("a", false).unwrap().disk;
    t.run(&["image", "add", "a", two.to_str().unwrap()])
        .expect_code(0);
    assert!(first.exists(), "image `shared` still uses it");
    t.run(&["image", "rm", "shared"]).expect_code(0);
    assert!(!first.exists());
    let second = store.image("a", true).unwrap().disk;
    t.run(&["image", "add", "a", one.to_str().unwrap()])
        .expect_code(0);
    assert!(!second.exists(), "nothing uses the replaced disk any more");
    assert!(store.image("a", true).is_ok());
}

#[test]
fn a_replaced_image_with_kept_failures_stays_reproducible() {
    let t = TestStore::empty();
    let one = qcow2(t.dir.path(), "one", 1);
    let two = qcow2(t.dir.path(), "two", 2);
    t.run(&["image", "add", "a", one.to_str().unwrap()])
        .expect_code(0);
    let store = Store::open(Some(&t.path())).unwrap();
    let old = store.image("a", false).unwrap();
    // A batch ran on it and kept a failing iteration.
    let results = t.results();
    let id = "20260101-000000-000001";
    results
        .insert_batch(&snaprun::results::Batch {
            image_name: "a".into(),
            image_hash: old.manifest.hash.clone(),
            command: "false".into(),
            ..batch(id)
        })
        .unwrap();
    results
        .insert_iteration(&snaprun::results::Iteration {
            kept_overlay: Some("/kept.qcow2".into()),
            ..iteration(id, 1, snaprun::results::Status::Fail)
        })
        .unwrap();
    t.run(&["image", "add", "a", two.to_str().unwrap()])
        .expect_code(0);
    assert!(old.disk.exists(), "the old disk is kept for reproduction");
    let found = store
        .image_by_hash(&old.manifest.hash)
        .unwrap()
        .expect("retired image found");
    assert_eq!(found.disk, old.disk);
    assert_ne!(
        store.image("a", false).unwrap().manifest.hash,
        old.manifest.hash
    );
}

/// What a results file, a workspace or a guest can put in a string to drive a terminal: set
/// the window title, clear the screen, a C1 CSI, a carriage return, a bidi override.
const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J\u{9b}31m\r\u{202e}";

/// Bytes that would be obeyed rather than shown: C0 controls but line feed and tab, DEL, and
/// C1 controls (UTF-8 `c2 80` to `c2 9f`), and the bidi override.
#[track_caller]
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<char> = text
        .chars()
        .filter(|c| (c.is_control() && *c != '\n' && *c != '\t') || *c == '\u{202e}')
        .collect();
    assert!(
        bad.is_empty(),
        "{what} printed {bad:?} raw:\n{}",
        text.escape_debug()
    );
}

/// Issue 15: commands, details, output, paths and image names were printed raw by `ls`,
/// `show`, `logs`, `compare`, `merge`, `image ls` and error messages.
#[test]
fn escape_sequences_in_results_and_images_never_reach_the_terminal() {
    use snaprun::results::{Batch, Iteration, Status};
    let t = TestStore::empty();
    fs::create_dir_all(t.path()).unwrap();
    let results = t.results();
    let hostile_batch = |id: &str| Batch {
        command: format!("./stress.sh {HOSTILE}"),
        image_name: format!("img{HOSTILE}"),
        image_hash: format!("{HOSTILE}0123456789abcdef"),
        workspace: format!("/ws/{HOSTILE}").into(),
        accel: format!("tcg{HOSTILE}"),
        host: format!("host{HOSTILE}"),
        iterations: 2,
        ..batch(id)
    };
    let hostile_iteration = |id: &str, n: u32| Iteration {
        detail: Some(format!("guest said {HOSTILE}")),
        output: format!("out {HOSTILE}\n\x1b[31mred\x1b[0m\n").into_bytes(),
        kept_overlay: Some(format!("/kept/{HOSTILE}.qcow2").into()),
        ..iteration(id, n, Status::Fail)
    };
    let (a, b) = ("20260101-000000-00000a", "20260101-000001-00000b");
    for (id, start) in [(a, 10), (b, 20)] {
        results
            .insert_batch(&Batch {
                start_ms: start,
                ..hostile_batch(id)
            })
            .unwrap();
        results.insert_iteration(&hostile_iteration(id, 1)).unwrap();
        results
            .insert_iteration(&iteration(id, 2, Status::Pass))
            .unwrap();
    }
    let file = t.dir.path().join("artifact.db");
    let exported = Batch {
        partition: Some("1/1".into()),
        ..hostile_batch("20260101-000002-00000c")
    };
    snaprun::results::export(
        &file,
        &exported,
        &[hostile_iteration("20260101-000002-00000c", 1)],
    )
    .unwrap();
    // An image whose manifest was edited to carry the same.
    let disk = qcow2(t.dir.path(), "disk", 1);
    t.run(&["image", "add", "mine", disk.to_str().unwrap()])
        .expect_code(0);
    let manifest = t.path().join("images/mine.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    m["name"] = format!("mine{HOSTILE}").into();
    m["created"] = HOSTILE.into();
    fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();

    let file = file.to_str().unwrap();
    let evil_arg = format!("nope{HOSTILE}");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("ls", vec!["ls"]),
        ("show", vec!["show", a]),
        ("show --json", vec!["show", a, "--json"]),
        ("logs", vec!["logs", a, "1"]),
        ("compare", vec!["compare", a, b]),
        ("merge", vec!["merge", file]),
        ("image ls", vec!["image", "ls"]),
        ("an unknown batch", vec!["show", &evil_arg]),
    ];
    for (what, args) in runs {
        let out = t.run(&args);
        assert!(out.code() <= 2, "{what}: {}", out.stderr());
        assert_inert(what, &out.0.stdout);
        assert_inert(what, &out.0.stderr);
    }
    // --json stays JSON, with the same strings.
    let json: serde_json::Value =
        serde_json::from_str(&t.run(&["show", a, "--json"]).stdout()).unwrap();
    assert_eq!(json["batch"]["command"], format!("./stress.sh {HOSTILE}"));
    // What is shown instead: the escapes, visibly; colours are dropped from output.
    t.run(&["show", a])
        .expect_stdout(r"./stress.sh \x1b]0;pwned\x07\x1b[2J\x9b31m\r\u{202e}");
    t.run(&["logs", a, "1"])
        .expect_stdout("out \\x1b]0;pwned\\x07")
        .expect_stdout("\nred\n");
    // --raw is the one way to get the bytes as they are.
    let raw = t.run(&["logs", a, "1", "--raw"]);
    raw.expect_code(0);
    assert!(
        raw.0
            .stdout
            .starts_with(format!("out {HOSTILE}").as_bytes())
    );
    assert_inert("logs --raw (its header)", &raw.0.stderr);
    t.run(&["logs", "--help"]).expect_stdout("--raw");
}
