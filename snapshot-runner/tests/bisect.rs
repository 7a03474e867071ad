//! `snaprun bisect` end to end: a git repository of 32 commits made by the test, a real
//! lost-update race whose window a commit widens, probes run in VMs under TCG restored from
//! the built-in image's warm state (`-j 2`).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Two writers add 1 to a counter; the first holds the value it read for `$HOLD` seconds
/// before writing it back (with `LOCK=yes`, under a lock), the second arrives 0 to 0.5 s
/// later (from SNAPRUN_SEED). An arrival inside the first one's window loses an update.
const RACE: &str = r#"#!/bin/sh
set -eu
. ./settings.sh
seed=${SNAPRUN_SEED:-$$}
delay=$(echo "$seed" | awk '{ printf "%.3f", (substr($0, length($0) - 2) % 500) / 1000 }')
c=$(mktemp -d)
echo 0 >"$c/n"
add() {
    if [ "$LOCK" = yes ]; then
        until mkdir "$c/lock" 2>/dev/null; do sleep 0.01; done
    fi
    read -r v <"$c/n"
    [ "$1" = 0 ] || sleep "$1"
    echo $((v + 1)) >"$c/n"
    if [ "$LOCK" = yes ]; then rmdir "$c/lock"; fi
}
add "$HOLD" &
sleep "$delay"
add 0
wait
read -r total <"$c/n"
rm -rf "$c"
if [ "$total" -ne 2 ]; then
    echo "lost update: counter is $total, expected 2"
    exit 1
fi
echo "ok"
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn settings(hold: &str, lock: &str) -> String {
    format!("HOLD={hold}\nLOCK={lock}\n")
}

/// A repository of 32 commits (0 to 31, one a line in `log.txt`), where commit `culprit`
/// (if any) changes `settings.sh` from `before` to `after`. Returns its path.
fn repository(t: &TestStore, before: &str, after: &str, culprit: Option<usize>) -> PathBuf {
    let repo = t.dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    fs::write(repo.join("race.sh"), RACE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(repo.join("race.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut log = String::new();
    for k in 0..32 {
        let now = if culprit.is_some_and(|c| k >= c) {
            after
        } else {
            before
        };
        fs::write(repo.join("settings.sh"), now).unwrap();
        log.push_str(&format!("change {k}\n"));
        fs::write(repo.join("log.txt"), &log).unwrap();
        git(&repo, &["add", "-A"]);
        let subject = if Some(k) == culprit {
            format!("commit {k}: write the counter back later")
        } else {
            format!("commit {k}")
        };
        git(&repo, &["commit", "-q", "-m", &subject]);
    }
    repo
}

fn bisect_args<'a>(repo: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "bisect",
        "-C",
        repo,
        "--good",
        "HEAD~31",
        "--bad",
        "main",
        "--image",
        WARM_IMAGE,
        "--accel",
        "tcg",
        "-j",
        "2",
        "--timeout",
        "60s",
    ];
    v.extend_from_slice(extra);
    v.extend_from_slice(&["--json", "--", "./race.sh"]);
    v
}

fn report(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

/// What `git status`, the index and the work tree files say, to compare before and after.
fn checkout_state(repo: &Path) -> (String, Vec<u8>, String) {
    (
        git(repo, &["status", "--porcelain"]),
        fs::read(repo.join(".git/index")).unwrap(),
        fs::read_to_string(repo.join("settings.sh")).unwrap(),
    )
}

#[test]
fn bisect_finds_the_commit_that_made_a_race_flakier_and_resumes_after_ctrl_c() {
    let t = TestStore::with_warm_image();
    let repo = repository(
        &t,
        &settings("0.01", "no"),
        &settings("0.15", "no"),
        Some(19),
    );
    // Uncommitted work: were it bisected, every commit would fail; it must stay as it is.
    fs::write(repo.join("settings.sh"), settings("5", "no")).unwrap();
    fs::write(repo.join("staged.txt"), "staged").unwrap();
    git(&repo, &["add", "staged.txt"]);
    fs::write(repo.join("untracked.txt"), "mine").unwrap();
    let before = checkout_state(&repo);
    let r = repo.to_str().unwrap();
    let args = bisect_args(r, &["--confidence", "0.99", "--max-iterations", "400"]);

    // Interrupted after two probes...
    let started = Instant::now();
    let child = t.spawn(&args);
    let state_dir = t.path().join("bisect");
    let probes = || -> usize {
        fs::read_dir(&state_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map(|v| v["probes"].as_array().map_or(0, |p| p.len()))
            .sum()
    };
    assert!(
        wait_until(Duration::from_secs(120), || probes() >= 3),
        "three probes never started"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let stopped = wait_child(child);
    stopped
        .expect_code(130)
        .expect_stderr("run the same command again");
    t.assert_no_qemu();
    let learned: u64 = t
        .results()
        .batches(100)
        .unwrap()
        .iter()
        .map(|b| {
            t.results()
                .iterations_without_output(&b.id)
                .unwrap()
                .iter()
                .filter(|i| i.status.as_str() == "pass" || i.status.is_test_failure())
                .count() as u64
        })
        .sum();
    assert!(
        learned >= 4,
        "the interrupted session ran {learned} iterations"
    );

    // ...and run again with the same arguments, it goes on from what it learned.
    let out = t.run(&args);
    out.expect_code(0);
    let elapsed = started.elapsed();
    let json = report(&out);
    assert_eq!(json["verdict"]["verdict"], "culprit", "{json:#}");
    assert_eq!(json["verdict"]["culprit"]["index"], 19, "{json:#}");
    assert_eq!(
        json["verdict"]["culprit"]["commit"]["subject"],
        "commit 19: write the counter back later"
    );
    assert_eq!(json["resumed_runs"].as_u64(), Some(learned), "{json:#}");
    let after = json["verdict"]["after"]["mean"].as_f64().unwrap();
    let before_rate = json["verdict"]["before"]["mean"].as_f64().unwrap();
    assert!(after > before_rate, "{json:#}");
    assert!(json["top"].as_array().unwrap().len() == 5);
    // Every probe is a recorded batch that `show` knows.
    let first = &json["probed"][0]["batches"][0];
    let shown = t.run(&["show", first.as_str().unwrap(), "--json"]);
    shown.expect_code(0);
    assert_eq!(
        report(&shown)["batch"]["workspace"].as_str(),
        Some(fs::canonicalize(&repo).unwrap().to_str().unwrap())
    );
    assert_eq!(checkout_state(&repo), before, "the checkout was touched");
    // Failing iterations keep their disks, as in any batch (`snaprun gc` frees them).
    t.assert_no_qemu();
    println!(
        "32-commit bisect, 2% -> 30%: {} iterations, {:.0} s wall time in all (-j 2, TCG)",
        json["runs"],
        elapsed.as_secs_f64()
    );
}

/// Bisects the repository to the end at `confidence` within `max` iterations; prints the
/// iterations and wall time spent, and returns the report.
fn bisect_to_the_end(
    t: &TestStore,
    repo: &Path,
    confidence: &str,
    max: &str,
    what: &str,
) -> serde_json::Value {
    let started = Instant::now();
    let out = t.run(&bisect_args(
        repo.to_str().unwrap(),
        &["--confidence", confidence, "--max-iterations", max],
    ));
    out.expect_code(0);
    let json = report(&out);
    println!(
        "32-commit bisect, {what}: {} iterations, {:.0} s",
        json["runs"],
        started.elapsed().as_secs_f64()
    );
    // Failing iterations keep their disks, as in any batch (`snaprun gc` frees them).
    t.assert_no_qemu();
    json
}

#[test]
fn bisect_finds_a_race_that_was_not_there_before() {
    let t = TestStore::with_warm_image();
    let repo = repository(
        &t,
        &settings("0.05", "yes"),
        &settings("0.05", "no"),
        Some(19),
    );
    let json = bisect_to_the_end(&t, &repo, "0.99", "600", "0% -> 10%");
    assert_eq!(json["verdict"]["verdict"], "culprit", "{json:#}");
    assert_eq!(json["verdict"]["culprit"]["index"], 19, "{json:#}");
}

#[test]
fn bisect_without_a_change_says_no_change_found() {
    let t = TestStore::with_warm_image();
    let repo = repository(&t, &settings("0.25", "no"), &settings("0.25", "no"), None);
    let json = bisect_to_the_end(&t, &repo, "0.9", "300", "about 50% throughout");
    assert_eq!(json["verdict"]["verdict"], "no-change", "{json:#}");
}

#[test]
fn bisect_refuses_bad_input_and_names_the_next_step() {
    let t = TestStore::empty();
    let plain = t.dir.path().join("plain");
    fs::create_dir_all(&plain).unwrap();
    let p = plain.to_str().unwrap();
    let run = |ws: &str, good: &str, bad: &str| {
        t.run(&[
            "bisect", "-C", ws, "--good", good, "--bad", bad, "--", "true",
        ])
    };
    run(p, "a", "b")
        .expect_code(2)
        .expect_stderr("not in a git repository")
        .expect_stderr("run it in a git checkout");
    let repo = t.dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for k in 0..3 {
        fs::write(repo.join("f"), format!("{k}")).unwrap();
        git(&repo, &["add", "f"]);
        git(&repo, &["commit", "-q", "-m", &format!("c{k}")]);
    }
    let r = repo.to_str().unwrap();
    run(r, "nope", "main")
        .expect_code(2)
        .expect_stderr("no commit `nope`")
        .expect_stderr("git log");
    run(r, "main", "HEAD~2")
        .expect_code(2)
        .expect_stderr("is not an ancestor")
        .expect_stderr("swap --good and --bad");
    run(r, "main", "main")
        .expect_code(2)
        .expect_stderr("the same");
    // Nothing was built or run for any of them.
    assert!(!t.path().join("images/default.json").exists());
    assert!(!t.path().join("bisect").exists());
}
