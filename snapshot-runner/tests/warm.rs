//! End-to-end tests of warm restore, watch mode and CI sharding, with real QEMU under TCG and
//! the built-in image saved warm once (`default-warm` in the shared image cache).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use common::*;
use snaprun::results::{BatchStatus, Status};
use snaprun::store::{Store, sha256_file};

fn run_args<'a>(ws: &'a str, extra: &[&'a str], cmd: &'a str) -> Vec<&'a str> {
    let mut v = vec!["run", "-C", ws, "--accel", "tcg", "--image", WARM_IMAGE];
    v.extend_from_slice(extra);
    v.extend_from_slice(&["--", cmd]);
    v
}

#[test]
fn warm_restore_gives_the_same_results_as_cold_boot() {
    let t = TestStore::with_warm_image();
    let check = include_str!("../../examples/isolation/check.sh");
    let ws = t.workspace(&[("check.sh", check, true), ("data.txt", "frozen\n", false)]);
    let ws = ws.to_str().unwrap();
    let store = Store::open(Some(&t.path())).unwrap();
    let image = store.image(WARM_IMAGE, false).unwrap();
    let warm = image.warm.clone().expect("the warm image has a warm state");
    let frozen = [&image.disk, &warm.layer, &warm.state].map(|p| sha256_file(p).unwrap());

    let mut by_mode = BTreeMap::new();
    for mode in ["--warm", "--cold"] {
        let out = t.run(&run_args(ws, &["-n", "2", mode], "./check.sh"));
        out.expect_code(0)
            .expect_stdout("passed 2, failed 0")
            .expect_stdout(if mode == "--warm" {
                "(warm restore)"
            } else {
                "(cold boot)"
            });
        // A command that fails the same way each time: same status, exit code and output.
        let out = t.run(&run_args(
            ws,
            &["-n", "2", mode],
            "cat data.txt; ls; echo i=$SNAPRUN_ITERATION; exit 3",
        ));
        out.expect_code(1).expect_stdout("failed 2");
        let results = t.results();
        let batch = results.batch("last").unwrap();
        assert_eq!(batch.warm_hash.is_some(), mode == "--warm");
        let its = results.iterations(&batch.id).unwrap();
        let seen: Vec<_> = its
            .iter()
            .map(|i| {
                (
                    i.status,
                    i.exit_code,
                    String::from_utf8_lossy(&i.output).into_owned(),
                )
            })
            .collect();
        let boot: Vec<u64> = its.iter().map(|i| i.boot_ms.unwrap()).collect();
        by_mode.insert(mode, (seen, boot));
    }
    let (warm_seen, warm_boot) = &by_mode["--warm"];
    let (cold_seen, cold_boot) = &by_mode["--cold"];
    assert_eq!(warm_seen, cold_seen);
    assert_eq!(warm_seen[0].0, Status::Fail);
    assert_eq!(warm_seen[0].1, Some(3));
    assert_eq!(warm_seen[1].2, "frozen\ncheck.sh\ndata.txt\ni=2\n");
    // Not a benchmark (the bench measures), but a restore that boots would show here.
    assert!(
        warm_boot.iter().max() < cold_boot.iter().min(),
        "warm {warm_boot:?} vs cold {cold_boot:?}"
    );
    let after = [&image.disk, &warm.layer, &warm.state].map(|p| sha256_file(p).unwrap());
    assert_eq!(frozen, after, "the image or its warm state was written");
    t.run(&["image", "verify", WARM_IMAGE]).expect_code(0);
    assert!(
        !t.run_files().iter().any(|f| f.ends_with("code.qcow2")),
        "the batch's code slot outlived it: {:?}",
        t.run_files()
    );
}

/// Prints 16 bytes of the kernel RNG, what the command derives from its seed, and the clock.
const RANDOM_CMD: &str = r#"echo urandom=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo derived=$(awk -v s="$SNAPRUN_SEED" 'BEGIN { srand(substr(s, length(s) - 8) + 0); print rand() }')
echo clock=$(date +%s)"#;

fn values(output: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn restored_iterations_get_their_own_random_numbers_and_the_host_clock() {
    let t = TestStore::with_warm_image();
    let ws = t.workspace(&[("x", "", false)]);
    let ws = ws.to_str().unwrap();
    let mut batches = Vec::new();
    for _ in 0..2 {
        t.run(&run_args(
            ws,
            &["-n", "2", "--warm", "--seed", "424242"],
            RANDOM_CMD,
        ))
        .expect_code(0);
        let results = t.results();
        let batch = results.batch("last").unwrap();
        let its = results.iterations(&batch.id).unwrap();
        batches.push(
            its.iter()
                .map(|i| (i.seed, values(&i.output)))
                .collect::<Vec<_>>(),
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for b in &batches {
        // One warm state, two seeds: the kernel RNG was reseeded, not copied.
        assert_ne!(b[0].1["urandom"], b[1].1["urandom"], "{b:?}");
        assert_eq!(b[0].1["urandom"].len(), 32);
        assert_ne!(b[0].1["derived"], b[1].1["derived"]);
        for (_, v) in b {
            let clock: i64 = v["clock"].parse().unwrap();
            assert!(
                (clock - now).abs() < 120,
                "guest clock {clock} vs host {now}: not set from the host"
            );
        }
    }
    // The same batch seed gives the same iteration seeds, and what derives from them.
    for (n, (a, b)) in batches[0].iter().zip(&batches[1]).enumerate() {
        assert_eq!(a.0, b.0);
        assert_eq!(a.0, snaprun::plan::iteration_seed(424242, n as u32 + 1));
        assert_eq!(a.1["derived"], b.1["derived"]);
        // The kernel mixes the CPU's own randomness in when it reseeds: never a replay.
        assert_ne!(a.1["urandom"], b.1["urandom"]);
    }
}

#[test]
fn sigint_during_warm_iterations_leaves_no_qemu_and_no_overlay() {
    let t = TestStore::with_warm_image();
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
    std::thread::sleep(Duration::from_secs(1));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_child(child).expect_code(130);
    t.assert_nothing_left();
}

#[test]
fn interrupting_image_warm_exits_130_and_saves_nothing() {
    let t = TestStore::with_default_image();
    let child = t.spawn(&["image", "warm", "default", "--as", "w", "--accel", "tcg"]);
    assert!(
        wait_until(Duration::from_secs(60), || !t.qemu_pids().is_empty()),
        "QEMU never started"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_child(child)
        .expect_code(130)
        .expect_stderr("interrupted; no warm state of image `default` was saved");
    t.assert_no_qemu();
    assert!(!t.path().join("images/w.json").exists());
    let scratch: Vec<_> = fs::read_dir(t.path().join("tmp")).unwrap().collect();
    assert!(scratch.is_empty(), "left in the store: {scratch:?}");
}

#[test]
fn warm_needs_a_warm_state_and_says_how_to_make_one() {
    let t = TestStore::with_warm_image();
    let ws = t.workspace(&[("x", "", false)]);
    t.run(&[
        "run",
        "-C",
        ws.to_str().unwrap(),
        "--image",
        "default",
        "--warm",
        "--",
        "true",
    ])
    .expect_code(2)
    .expect_stderr("has no warm state")
    .expect_stderr("snaprun image warm default");
}

#[test]
fn partitions_merged_are_the_whole_batch_and_the_gate_reads_the_upper_bound() {
    let t = TestStore::with_warm_image();
    let ws = t.workspace(&[("x", "", false)]);
    let ws = ws.to_str().unwrap();
    let dir = t.dir.path();
    let db = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // Iteration 1 fails; the others pass.
    let cmd = r#"echo seed=$SNAPRUN_SEED; [ "$SNAPRUN_ITERATION" != 1 ]"#;
    let common = ["-n", "6", "--seed", "42"];
    let mut slices = Vec::new();
    for k in 1..=3 {
        let (part, file) = (format!("{k}/3"), db(&format!("part{k}.db")));
        let mut extra = common.to_vec();
        extra.extend_from_slice(&["--partition", &part, "--results", &file]);
        let out = t.run(&run_args(ws, &extra, cmd));
        out.expect_code(if k == 1 { 1 } else { 0 })
            .expect_stdout(&format!("partition {k}/3"));
        slices.push(file);
    }
    let mut whole = common.to_vec();
    let whole_db = db("whole.db");
    whole.extend_from_slice(&["--results", &whole_db]);
    t.run(&run_args(ws, &whole, cmd)).expect_code(1);

    let merged_db = db("merged.db");
    let junit = db("merged.xml");
    let mut merge = vec!["merge"];
    merge.extend(slices.iter().map(String::as_str));
    merge.extend_from_slice(&["--into", &merged_db, "--junit", &junit]);
    t.run(&merge)
        .expect_code(1)
        .expect_stdout("6 iterations: passed 5, failed 1");
    let read = |file: &str| {
        let r = snaprun::results::Results::open(std::path::Path::new(file)).unwrap();
        let b = r.batch("last").unwrap();
        let its: Vec<(u32, u64, Status)> = r
            .iterations(&b.id)
            .unwrap()
            .iter()
            .map(|i| {
                assert!(String::from_utf8_lossy(&i.output).contains(&format!("seed={}", i.seed)));
                (i.iteration, i.seed, i.status)
            })
            .collect();
        (b, its)
    };
    let (merged, merged_its) = read(&merged_db);
    let (_, whole_its) = read(&whole_db);
    assert_eq!(merged_its, whole_its);
    assert_eq!(merged.partition, None, "all slices are there");
    assert_eq!(merged.seed, 42);
    let xml = fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"tests="6""#) && xml.contains(r#"failures="1""#),
        "{xml}"
    );
    // Merged into the store by default, where show and compare find it.
    let mut into_store = vec!["merge"];
    into_store.extend(slices.iter().map(String::as_str));
    t.run(&into_store).expect_code(1);
    t.run(&["show", &merged.id])
        .expect_code(0)
        .expect_stdout("passed 5");

    // A slice twice, or slices of another seed, are refused.
    t.run(&["merge", &slices[0], &slices[0]])
        .expect_code(2)
        .expect_stderr("given twice");
    t.run(&["merge", &slices[0], &whole_db])
        .expect_code(2)
        .expect_stderr("partition");

    // 1 failure in 6: the 95% upper bound is 56%. A 60% limit passes, 20% fails.
    t.run(&["merge", &whole_db, "--max-failure-rate", "60%"])
        .expect_code(0)
        .expect_stderr("at most");
    t.run(&["merge", &whole_db, "--max-failure-rate", "0.2"])
        .expect_code(1)
        .expect_stderr("above the 20.0% allowed");
}

#[test]
fn watch_runs_a_new_batch_on_every_settled_change() {
    let t = TestStore::with_warm_image();
    let ws = t.workspace(&[("data.txt", "one\n", false)]);
    let scratch = Store::open(Some(&t.dir.path().join("scratch"))).unwrap();
    let snap = || {
        snaprun::codesnap::snapshot(&scratch, &ws, &Default::default())
            .unwrap()
            .hash
    };
    let short = |h: &str| h[..12].to_string();
    let (child, lines) = t.spawn_lines(&[
        "watch",
        "-n",
        "1",
        "-C",
        ws.to_str().unwrap(),
        "--accel",
        "tcg",
        "--image",
        WARM_IMAGE,
        "--",
        "cat data.txt",
    ]);
    let next_line = || {
        lines
            .recv_timeout(Duration::from_secs(90))
            .expect("watch printed no batch line")
    };
    let first = next_line();
    assert!(
        first.contains(&format!("code {} (first snapshot)", short(&snap()))),
        "{first}"
    );
    assert!(first.contains("failure rate 0.0% (0/1)"), "{first}");

    fs::write(ws.join("data.txt"), "two\n").unwrap();
    let second = next_line();
    let h2 = snap();
    assert!(
        second.contains(&format!("code {} (1 changed: data.txt)", short(&h2))),
        "{second}"
    );

    fs::write(ws.join("new.txt"), "three\n").unwrap();
    let third = next_line();
    let h3 = snap();
    assert!(
        third.contains(&format!("code {} (1 changed: +new.txt)", short(&h3))),
        "{third}"
    );

    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_child(child).expect_code(130);
    t.assert_no_qemu();
    let results = t.results();
    let batches = results.batches(10).unwrap();
    let codes: Vec<&str> = batches.iter().rev().map(|b| b.code_hash.as_str()).collect();
    assert_eq!(codes.len(), 3, "{codes:?}");
    assert_eq!(&codes[1..], [h2.as_str(), h3.as_str()]);
    let last = results.iterations(&batches[0].id).unwrap();
    assert_eq!(String::from_utf8_lossy(&last[0].output), "two\n");
}

#[test]
fn compare_tells_whether_the_failure_rate_changed() {
    use snaprun::results::{Batch, Iteration};
    let t = TestStore::empty();
    let results = snaprun::results::Results::open(&{
        fs::create_dir_all(t.path()).unwrap();
        t.path().join("results.db")
    })
    .unwrap();
    for (id, failed) in [("20260101-000000-00000a", 0), ("20260101-000100-00000b", 9)] {
        results
            .insert_batch(&Batch {
                code_hash: format!("{id}-code"),
                iterations: 200,
                jobs: 2,
                ..batch(id)
            })
            .unwrap();
        for n in 1..=200u32 {
            let status = if n <= failed {
                Status::Fail
            } else {
                Status::Pass
            };
            results
                .insert_iteration(&Iteration {
                    duration_ms: 1000 + u64::from(n % 7),
                    ..iteration(id, n, status)
                })
                .unwrap();
        }
    }
    t.run(&["compare", "20260101-000000", "last"])
        .expect_code(0)
        .expect_stdout("failure rate rose from 0/200 to 9/200, p = 0.004")
        .expect_stdout("no significant change in duration");
    let json = t.run(&["compare", "20260101-000000", "last", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.expect_code(0).stdout()).unwrap();
    assert_eq!(v["failure_rate"], "rose");
    assert!((v["fisher_p"].as_f64().unwrap() - 0.003_563_049_434_584_15).abs() < 1e-9);
    t.run(&["compare", "nope", "last"])
        .expect_code(2)
        .expect_stderr("snaprun ls");
}

#[test]
fn watch_restart_stops_a_running_batch_for_newer_code() {
    let t = TestStore::with_warm_image();
    let ws = t.workspace(&[("data.txt", "one\n", false)]);
    let (child, lines) = t.spawn_lines(&[
        "watch",
        "-n",
        "1",
        "--on-change",
        "restart",
        "-C",
        ws.to_str().unwrap(),
        "--accel",
        "tcg",
        "--image",
        WARM_IMAGE,
        "--",
        "grep -q two data.txt || sleep 600",
    ]);
    assert!(
        wait_until(Duration::from_secs(60), || !t.qemu_pids().is_empty()),
        "the first batch never started"
    );
    std::thread::sleep(Duration::from_millis(500));
    fs::write(ws.join("data.txt"), "two\n").unwrap();
    let next_line = || {
        lines
            .recv_timeout(Duration::from_secs(90))
            .expect("watch printed no batch line")
    };
    let first = next_line();
    assert!(first.contains("[restarted: the code changed]"), "{first}");
    let second = next_line();
    assert!(
        second.contains("(1 changed: data.txt) failure rate 0.0% (0/1)"),
        "{second}"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_child(child).expect_code(130);
    t.assert_no_qemu();
    let results = t.results();
    let statuses: Vec<BatchStatus> = results
        .batches(10)
        .unwrap()
        .iter()
        .rev()
        .map(|b| b.status)
        .collect();
    assert_eq!(statuses, [BatchStatus::Interrupted, BatchStatus::Finished]);
}

/// Issue 14: `gc` while a batch runs takes only what no kept batch needs (here, with
/// `--keep 0`, the older batches' files) and the batch finishes as if nothing happened; its
/// code snapshot stays, so it can be reproduced.
#[test]
fn gc_during_a_batch_leaves_the_batch_alone() {
    let t = TestStore::with_warm_image();
    let ws = t.workspace(&[("data.txt", "one\n", false)]);
    let ws = ws.to_str().unwrap();
    t.run(&run_args(ws, &["-n", "1"], "exit 3")).expect_code(1);
    let old_overlay = t.last_iteration(1).kept_overlay.expect("a kept failure");
    fs::write(std::path::Path::new(ws).join("data.txt"), "two\n").unwrap();

    let child = t.spawn(&run_args(ws, &["-n", "6"], "sleep 1; cat data.txt"));
    let started = wait_until(Duration::from_secs(120), || {
        let results = t.results();
        let b = results.batch("last").unwrap();
        b.status == BatchStatus::Running && !results.iterations(&b.id).unwrap().is_empty()
    });
    assert!(started, "the batch never got going");
    let running = t.results().batch("last").unwrap();
    t.run(&["gc", "--keep", "0"])
        .expect_code(0)
        .expect_stdout("kept the files of 1 batch")
        .expect_stdout("let go of those of 1 older one(s)");
    assert!(!old_overlay.exists(), "the older batch's kept overlay goes");
    let out = wait_child(child);
    out.expect_code(0)
        .expect_stdout("6 iterations: passed 6, failed 0");
    let results = t.results();
    for it in results.iterations(&running.id).unwrap() {
        assert_eq!(String::from_utf8_lossy(&it.output), "two\n");
    }
    t.run(&["repro", &running.id, "3"])
        .expect_code(0)
        .expect_stdout("two");
    t.assert_nothing_left();
}

/// Issue 14: CI jobs that each build the built-in image in their own store run slices of one
/// batch: eight slices of uneven sizes (2, 2, 2, 1, 1, 1, 1, 1 of 11 iterations), half run in
/// one store and half in another, merge into exactly the batch run at once with the same seed.
#[test]
fn eight_uneven_slices_from_two_stores_merge_into_the_whole_batch() {
    let t = TestStore::empty();
    let stores = [t.dir.path().join("job-a"), t.dir.path().join("job-b")];
    let snaprun = |store: &std::path::Path, args: &[&str]| {
        Run(std::process::Command::new(SNAPRUN)
            .arg("--store")
            .arg(store)
            .args(args)
            .output()
            .unwrap())
    };
    for store in &stores {
        snaprun(store, &["image", "build-default"]).expect_code(0);
        snaprun(store, &["image", "warm", "default", "--accel", "tcg"]).expect_code(0);
    }
    let hash = |store: &std::path::Path| {
        Store::open(Some(store))
            .unwrap()
            .manifest("default")
            .unwrap()
            .hash
    };
    assert_eq!(hash(&stores[0]), hash(&stores[1]), "two builds, one image");
    let ws = t.workspace(&[("x", "", false)]);
    let cmd = r#"echo seed=$SNAPRUN_SEED; [ $((SNAPRUN_ITERATION % 3)) -ne 0 ] || exit 4"#;
    let db = |name: &str| t.dir.path().join(name).to_str().unwrap().to_string();
    let run = |store: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["run", "-C", ws.to_str().unwrap(), "--accel", "tcg"];
        args.extend_from_slice(&["-n", "11", "--seed", "7"]);
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", cmd]);
        snaprun(store, &args)
    };
    let mut slices = Vec::new();
    for k in 1..=8 {
        let (part, file) = (format!("{k}/8"), db(&format!("part{k}.db")));
        let out = run(
            &stores[(k + 1) % 2],
            &["--partition", &part, "--results", &file],
        );
        // Slices 1, 3 and 6 hold iterations 9, 3 and 6: the failing ones.
        out.expect_code(if [1, 3, 6].contains(&k) { 1 } else { 0 })
            .expect_stdout(&format!("partition {k}/8"));
        slices.push(file);
    }
    let whole_db = db("whole.db");
    run(&stores[0], &["--results", &whole_db]).expect_code(1);

    let merged_db = db("merged.db");
    let mut merge = vec!["merge"];
    merge.extend(slices.iter().map(String::as_str));
    merge.extend_from_slice(&["--into", &merged_db]);
    snaprun(&stores[1], &merge)
        .expect_code(1)
        .expect_stdout("11 iterations: passed 8, failed 3");
    let read = |file: &str| {
        let r = snaprun::results::Results::open(std::path::Path::new(file)).unwrap();
        let b = r.batch("last").unwrap();
        let its: Vec<_> = r
            .iterations(&b.id)
            .unwrap()
            .into_iter()
            .map(|i| (i.iteration, i.seed, i.status, i.exit_code, i.output))
            .collect();
        (b, its)
    };
    let (merged, merged_its) = read(&merged_db);
    let (whole, whole_its) = read(&whole_db);
    assert_eq!(merged_its.len(), 11);
    assert_eq!(merged_its, whole_its);
    assert_eq!(merged.partition, None, "all eight slices are there");
    assert_eq!(
        (
            merged.seed,
            merged.image_hash,
            merged.code_hash,
            merged.iterations
        ),
        (
            whole.seed,
            whole.image_hash,
            whole.code_hash,
            whole.iterations
        )
    );
}
