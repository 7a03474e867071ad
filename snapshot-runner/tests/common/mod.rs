//! Helpers shared by snaprun's integration tests: the real `snaprun` binary, a built-in image
//! built once and shared, and a look at the host's process table.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use snaprun::results::Iteration;

pub const SNAPRUN: &str = env!("CARGO_BIN_EXE_snaprun");

/// Runs `snaprun --store CACHE ARGS` unless `done` says it has run in this test process (the
/// tests of one file share a cache store, and snaprun makes its images only when they changed).
pub fn prepare_once(done: &Mutex<bool>, cache: &Path, args: &[&str]) {
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if !*done {
        let out = Command::new(SNAPRUN)
            .arg("--store")
            .arg(cache)
            .args(args)
            .output()
            .expect("run snaprun");
        assert!(
            out.status.success(),
            "snaprun {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        *done = true;
    }
}

/// A store of the built-in image, built on first use and kept between test runs (build-default
/// only rebuilds when the agent, kernel or busybox changed).
fn image_cache() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("snaprun-image-cache");
    prepare_once(&BUILT, &cache, &["image", "build-default"]);
    cache
}

/// The warm image of the shared cache: `default` booted once and saved, as `default-warm`
/// (saved again only when `default` was rebuilt).
pub const WARM_IMAGE: &str = "default-warm";

fn warm_cache() -> PathBuf {
    static WARMED: Mutex<bool> = Mutex::new(false);
    let cache = image_cache();
    let args = [
        "image", "warm", "default", "--as", WARM_IMAGE, "--accel", "tcg",
    ];
    prepare_once(&WARMED, &cache, &args);
    cache
}

/// A fresh store for one test that already holds the built-in image (its files hard-linked
/// from the shared cache, so nothing is copied and the fast check still holds).
pub struct TestStore {
    pub dir: tempfile::TempDir,
}

impl TestStore {
    pub fn with_default_image() -> TestStore {
        TestStore::with_images(&image_cache(), &["default"])
    }

    /// The built-in image and its warm twin [`WARM_IMAGE`].
    pub fn with_warm_image() -> TestStore {
        TestStore::with_images(&warm_cache(), &["default", WARM_IMAGE])
    }

    /// A store with the images `names` of the cache store `cache`.
    pub fn with_images(cache: &Path, names: &[&str]) -> TestStore {
        let dir = tempfile::Builder::new()
            .prefix("snaprun-test-")
            .tempdir()
            .unwrap();
        let images = dir.path().join("store/images");
        fs::create_dir_all(images.join("objects")).unwrap();
        for e in fs::read_dir(cache.join("images/objects")).unwrap() {
            let e = e.unwrap();
            fs::hard_link(e.path(), images.join("objects").join(e.file_name())).unwrap();
        }
        for name in names {
            let manifest = format!("{name}.json");
            fs::copy(cache.join("images").join(&manifest), images.join(&manifest)).unwrap();
        }
        // The hashes of the image's ingredients, so `run` need not hash them again.
        let hashes = "build-default.cache.json";
        let _ = fs::copy(cache.join(hashes), dir.path().join("store").join(hashes));
        TestStore { dir }
    }

    /// Runs `snaprun` with `args` and a line reader on its stdout (for long-running commands).
    pub fn spawn_lines(&self, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn snaprun");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        (child, rx)
    }

    pub fn empty() -> TestStore {
        TestStore {
            dir: tempfile::Builder::new()
                .prefix("snaprun-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A workspace directory beside the store, filled with `files` (path, content, executable).
    pub fn workspace(&self, files: &[(&str, &str, bool)]) -> PathBuf {
        let ws = self.dir.path().join("ws");
        for (rel, content, exec) in files {
            let p = ws.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, content).unwrap();
            if *exec {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        ws
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SNAPRUN);
        c.arg("--store")
            .arg(self.path())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("run snaprun"))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn snaprun")
    }

    pub fn results(&self) -> snaprun::results::Results {
        snaprun::results::Results::open(&self.path().join("results.db")).unwrap()
    }

    /// QEMU processes working on this store.
    pub fn qemu_pids(&self) -> Vec<i32> {
        qemu_pids_for(&self.path())
    }

    #[track_caller]
    pub fn assert_no_qemu(&self) {
        let pids = self.qemu_pids();
        assert!(pids.is_empty(), "QEMU survived: {pids:?}");
    }

    /// No QEMU works on this store any more, and no overlay or log is left.
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        self.assert_no_qemu();
        assert!(
            self.run_files().is_empty(),
            "stray files: {:?}",
            self.run_files()
        );
    }

    /// Iteration `n` of the newest batch.
    pub fn last_iteration(&self, n: u32) -> Iteration {
        let results = self.results();
        let batch = results.batch("last").unwrap();
        results.iteration(&batch.id, n).unwrap()
    }

    /// Files left under runs/ (overlays, logs).
    pub fn run_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(dirs) = fs::read_dir(self.path().join("runs")) {
            for d in dirs.flatten() {
                for f in fs::read_dir(d.path()).into_iter().flatten().flatten() {
                    out.push(f.path());
                }
            }
        }
        out
    }
}

pub fn qemu_pids_for(marker: &Path) -> Vec<i32> {
    let marker = marker.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Zombies have an empty cmdline; only live QEMUs count.
        if cmdline.contains("qemu-system") && cmdline.contains(&marker) {
            pids.push(pid);
        }
    }
    pids
}

/// Polls `cond` every 100 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

pub fn wait_child(child: Child) -> Run {
    Run(child.wait_with_output().expect("wait for snaprun"))
}

/// A finished snaprun invocation, printed in full when an assertion about it fails.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) -> &Run {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n--- stderr\n{}",
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn expect_stdout(&self, needle: &str) -> &Run {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}",
            self.stdout()
        );
        self
    }
}

/// A plain finished batch and its iterations, for tests that write results themselves.
/// (Each test binary compiles this module; not all of them use these.)
#[allow(unused_imports)]
pub use snaprun::results::fixtures::{batch, iteration};

pub fn mtime_and_size(p: &Path) -> (i64, i64, u64) {
    let m = fs::metadata(p).unwrap();
    (m.mtime(), m.mtime_nsec(), m.size())
}
