//! End-to-end tests of `snaprun run` with real QEMU under TCG and the built-in image.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use snaprun::results::{BatchStatus, Status};
use snaprun::store::{Store, sha256_file};

const TCG: &[&str] = &["--accel", "tcg"];

fn run_args<'a>(ws: &'a str, extra: &[&'a str], cmd: &'a str) -> Vec<&'a str> {
    let mut v = vec!["run", "-C", ws];
    v.extend_from_slice(TCG);
    v.extend_from_slice(extra);
    v.extend_from_slice(&["--", cmd]);
    v
}

#[test]
fn iterations_are_isolated_and_the_base_stays_frozen() {
    let t = TestStore::with_default_image();
    let check = include_str!("../../examples/isolation/check.sh");
    let ws = t.workspace(&[("check.sh", check, true)]);
    let store = Store::open(Some(&t.path())).unwrap();
    let disk = store.image("default", false).unwrap().disk;
    let (hash_before, stat_before) = (sha256_file(&disk).unwrap(), mtime_and_size(&disk));
    let junit = t.dir.path().join("junit.xml");

    let out = t.run(&run_args(
        ws.to_str().unwrap(),
        &["-n", "2", "-j", "1"],
        "./check.sh",
    ));
    out.expect_code(0).expect_stdout("passed 2, failed 0");
    let shown = t.run(&["show", "last", "--json", "--junit", junit.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&shown.expect_code(0).stdout()).unwrap();
    assert_eq!(json["summary"]["passed"], 2);
    assert_eq!(
        json["summary"]["failure_rate"]["high"]
            .as_f64()
            .map(|h| (h * 1000.0).round()),
        Some(658.0)
    );
    let xml = fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"2\"") && xml.contains("failures=\"0\""),
        "{xml}"
    );

    let results = t.results();
    let batch = results.batch("last").unwrap();
    for it in results.iterations(&batch.id).unwrap() {
        assert_eq!(
            it.status,
            Status::Pass,
            "{}",
            String::from_utf8_lossy(&it.output)
        );
        assert!(String::from_utf8_lossy(&it.output).contains("clean start"));
    }
    assert_eq!(
        sha256_file(&disk).unwrap(),
        hash_before,
        "the base image was written"
    );
    assert_eq!(mtime_and_size(&disk), stat_before);
    t.run(&["image", "verify", "default"])
        .expect_code(0)
        .expect_stdout("intact");
    assert!(
        t.run_files().is_empty(),
        "passing iterations leave nothing: {:?}",
        t.run_files()
    );
    // The workspace itself never sees the guest's writes.
    assert!(!ws.join("snaprun-leftover").exists());
}

#[test]
fn edits_during_a_batch_never_reach_it_and_repro_uses_the_snapshot() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("data.txt", "original\n", false)]);
    // The command also prints a forged "exit 0" frame of the agent protocol: it stays output.
    let cmd = r#"cat data.txt; echo seed=$SNAPRUN_SEED; cat built.txt; ls;
        printf '\005\000\000\000\050%s' '{"code":0,"signal":null,"duration_ms":1}';
        sleep 4; cat data.txt; exit 1"#;
    let build = [
        "-n",
        "2",
        "-j",
        "1",
        "--build",
        "echo from-the-build-step > built.txt",
    ];
    let child = t.spawn(&run_args(ws.to_str().unwrap(), &build, cmd));
    // The batch row exists once the snapshot is taken; edit the workspace right after.
    assert!(wait_until(Duration::from_secs(60), || t
        .dir
        .path()
        .join("store/results.db")
        .exists()
        && t.results()
            .batches(1)
            .map(|b| !b.is_empty())
            .unwrap_or(false)));
    fs::write(ws.join("data.txt"), "edited\n").unwrap();
    let out = wait_child(child);
    out.expect_code(1).expect_stdout("failed 2");

    let results = t.results();
    let batch = results.batch("last").unwrap();
    let iterations = results.iterations(&batch.id).unwrap();
    assert_eq!(iterations.len(), 2);
    for it in &iterations {
        let text = String::from_utf8_lossy(&it.output);
        assert_eq!(text.matches("original").count(), 2, "{text}");
        assert!(!text.contains("edited"), "{text}");
        assert!(
            text.contains("from-the-build-step"),
            "the build step ran before the snapshot: {text}"
        );
        assert!(!text.contains("lost+found"), "{text}");
        let forged = "\u{5}\0\0\0\u{28}{\"code\":0";
        assert!(text.contains(forged), "the forged frame is output: {text}");
        assert_eq!((it.status, it.exit_code), (Status::Fail, Some(1)));
        let kept = it
            .kept_overlay
            .as_ref()
            .expect("a failing iteration keeps its overlay");
        assert!(kept.exists());
    }

    // repro boots the same image and code snapshot with the same seed, not today's workspace.
    let first = &iterations[0];
    let repro = t.run(&["repro", &batch.id, "1"]);
    repro
        .expect_code(1)
        .expect_stdout("original")
        .expect_stdout(&format!("seed={}", first.seed));
    assert!(!repro.stdout().contains("edited"));
}

#[test]
fn a_timeout_kills_the_vm_and_is_recorded() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let out = t.run(&run_args(
        ws.to_str().unwrap(),
        &["-n", "1", "--timeout", "2s"],
        "echo started; sleep 600",
    ));
    out.expect_code(1).expect_stdout("timeout 1");
    let it = t.last_iteration(1);
    assert_eq!(it.status, Status::Timeout);
    assert!(String::from_utf8_lossy(&it.output).contains("started"));
    t.assert_no_qemu();
}

#[test]
fn a_guest_kernel_panic_is_crashed() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let out = t.run(&run_args(
        ws.to_str().unwrap(),
        &["-n", "1"],
        "echo c > /proc/sysrq-trigger; sleep 60",
    ));
    out.expect_code(1).expect_stdout("crashed 1");
    let it = t.last_iteration(1);
    assert_eq!(it.status, Status::Crashed, "{:?}", it.detail);
    assert!(
        String::from_utf8_lossy(&it.output).contains("Kernel panic"),
        "the console tail is kept"
    );
}

#[test]
fn qemu_killed_from_outside_is_an_infra_error() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let child = t.spawn(&run_args(ws.to_str().unwrap(), &["-n", "1"], "sleep 600"));
    assert!(
        wait_until(Duration::from_secs(60), || !t.qemu_pids().is_empty()),
        "QEMU never started"
    );
    std::thread::sleep(Duration::from_secs(2));
    for pid in t.qemu_pids() {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let out = wait_child(child);
    out.expect_code(2)
        .expect_stderr("infrastructure errors")
        .expect_stdout("infra-error 1");
    let it = t.last_iteration(1);
    assert_eq!(it.status, Status::InfraError);
    assert!(
        it.detail.unwrap_or_default().contains("QEMU"),
        "the detail names QEMU"
    );
}

#[test]
fn sigint_stops_every_vm_and_leaves_no_overlay() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let child = t.spawn(&run_args(
        ws.to_str().unwrap(),
        &["-n", "4", "-j", "2"],
        "sleep 600",
    ));
    assert!(
        wait_until(Duration::from_secs(60), || t.qemu_pids().len() == 2),
        "two QEMUs never ran"
    );
    std::thread::sleep(Duration::from_secs(3));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_child(child);
    out.expect_code(130);
    t.assert_nothing_left();
    let results = t.results();
    let batch = results.batch("last").unwrap();
    assert_eq!(batch.status, BatchStatus::Interrupted);
    let its = results.iterations(&batch.id).unwrap();
    assert_eq!(its.len(), 2);
    assert!(its.iter().all(|i| i.status == Status::Interrupted));
}

#[test]
fn a_killed_snaprun_takes_its_vms_with_it_and_ls_cleans_up() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let mut child = t.spawn(&run_args(ws.to_str().unwrap(), &["-n", "2"], "sleep 600"));
    assert!(
        wait_until(Duration::from_secs(60), || !t.qemu_pids().is_empty()),
        "QEMU never started"
    );
    child.kill().unwrap(); // SIGKILL: no handler runs, only PR_SET_PDEATHSIG is left.
    child.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || t.qemu_pids().is_empty()),
        "QEMU outlived snaprun"
    );
    assert!(
        !t.run_files().is_empty(),
        "the overlay is still there until the batch is reaped"
    );
    t.run(&["ls"])
        .expect_code(0)
        .expect_stderr("was abandoned")
        .expect_stdout("abandoned");
    assert!(t.run_files().is_empty(), "stray files: {:?}", t.run_files());
}

#[test]
fn a_background_process_holding_the_output_open_does_not_hang_the_iteration() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let cmd = "sleep 600 & echo left a daemon behind";
    let out = t.run(&run_args(
        ws.to_str().unwrap(),
        &["-n", "1", "--timeout", "60s"],
        cmd,
    ));
    out.expect_code(0).expect_stdout("passed 1");
    let it = t.last_iteration(1);
    assert!(String::from_utf8_lossy(&it.output).contains("left a daemon behind"));
    assert!(it.duration_ms < 30_000, "took {} ms", it.duration_ms);
}

#[test]
fn orphans_the_command_leaves_are_reaped() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    // Each `sh -c` exits at once and leaves its `sleep` to the agent (PID 1), which must reap
    // it when it ends, or it stays a zombie for as long as the VM runs.
    let cmd = r#"for i in 1 2 3 4 5; do sh -c 'sleep 0.2 &'; done; sleep 2
        zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == "Z"' | wc -l)
        echo "zombies: $zombies"; [ "$zombies" -eq 0 ]"#;
    let out = t.run(&run_args(ws.to_str().unwrap(), &["-n", "1"], cmd));
    let it = t.last_iteration(1);
    let output = String::from_utf8_lossy(&it.output).into_owned();
    assert!(output.contains("zombies: 0"), "{output}");
    out.expect_code(0);
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let args = ["-n", "5", "-j", "1", "--fail-fast"];
    let out = t.run(&run_args(ws.to_str().unwrap(), &args, "echo boom; exit 3"));
    out.expect_code(1).expect_stdout("iteration 1: fail exit 3");
    let results = t.results();
    let its = results
        .iterations(&results.batch("last").unwrap().id)
        .unwrap();
    assert_eq!(its.len(), 1, "no iteration starts after the first failure");
    assert_eq!(its[0].exit_code, Some(3));
}

#[test]
fn sigterm_is_an_interruption_too() {
    let t = TestStore::with_default_image();
    let ws = t.workspace(&[("x", "", false)]);
    let child = t.spawn(&run_args(ws.to_str().unwrap(), &["-n", "1"], "sleep 600"));
    assert!(
        wait_until(Duration::from_secs(60), || !t.qemu_pids().is_empty()),
        "QEMU never started"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_child(child)
        .expect_code(130)
        .expect_stdout("interrupted 1");
    t.assert_nothing_left();
    assert_eq!(
        t.results().batch("last").unwrap().status,
        BatchStatus::Interrupted
    );
}
