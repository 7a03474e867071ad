//! The store's lock (`<store>/store.lock`, flock): work that adds to the store and is about to
//! use what it added holds it shared (a batch until it is recorded as running, an image build,
//! `image add` or `image warm`, `repro` until its VM has its disks); `gc` holds it exclusive,
//! so it never removes a blob, a code disk or an image file that such work has just made or
//! found but not yet recorded. Readers need no lock. A running batch is protected by its
//! record instead (`gc` keeps whatever a running batch uses), so `gc` runs during batches.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::Store;
use crate::error::{Error, IoContext, Result};

/// A held lock of the store; released when dropped (or when the process ends, however).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    fn lock_file(&self) -> Result<File> {
        let path = self.root().join("store.lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx("opening the store's lock", &path)
    }

    /// Holds the store shared (waits while `gc` runs).
    pub fn lock_shared(&self) -> Result<StoreLock> {
        let file = self.lock_file()?;
        loop {
            // SAFETY: flock on a file this process owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) } == 0 {
                return Ok(StoreLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io("locking the store", self.root(), e));
            }
        }
    }

    /// Holds the store exclusive, waiting up to `wait` for work that holds it shared.
    pub fn lock_exclusive(&self, wait: Duration) -> Result<StoreLock> {
        let file = self.lock_file()?;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: flock on a file this process owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(StoreLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Some(libc::EWOULDBLOCK) => {
                    return Err(Error::Usage(format!(
                        "the store {} stayed busy for {}s (an image being built or warmed, or \
                         a batch being set up); try again when it is done",
                        self.root().display(),
                        wait.as_secs()
                    )));
                }
                Some(libc::EINTR) => {}
                _ => return Err(Error::io("locking the store", self.root(), e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_keep_the_exclusive_one_out_until_they_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        let a = store.lock_shared().unwrap();
        let b = store.lock_shared().unwrap();
        let busy = store
            .lock_exclusive(Duration::from_millis(200))
            .unwrap_err();
        assert!(busy.to_string().contains("busy"), "{busy}");
        drop(a);
        drop(b);
        let gc = store.lock_exclusive(Duration::ZERO).unwrap();
        // A shared holder waits for it.
        let waited = std::thread::scope(|s| {
            let h = s.spawn(|| {
                let t = Instant::now();
                store.lock_shared().map(|_| t.elapsed())
            });
            std::thread::sleep(Duration::from_millis(300));
            drop(gc);
            h.join().unwrap().unwrap()
        });
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
    }
}
