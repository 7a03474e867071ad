//! The library's error type. Every message names the problem and the next step.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `built_in`: the name is the built-in image's, which snaprun can build.
    #[error("image `{name}` not found; {hint}", hint = image_hint(name, *built_in))]
    ImageNotFound { name: String, built_in: bool },
    #[error(
        "image `{name}` was modified behind snaprun's back ({detail}); a frozen base that changed \
         cannot be trusted: remove it with `snaprun image rm {name}` and add it again"
    )]
    ImageModified { name: String, detail: String },
    #[error(
        "image `{name}` is unusable: {detail}; remove it with `snaprun image rm {name}` and add it again"
    )]
    ImageCorrupt { name: String, detail: String },
    #[error(
        "no space left on device while {what} ({path}); free some space, or put the store \
         elsewhere with --store DIR or SNAPRUN_STORE"
    )]
    DiskFull { what: String, path: PathBuf },
    // Not named `source`: the cause is part of the message, and as an error source too it would
    // print twice in `{:#}`.
    #[error("{what} ({path}): {error}")]
    Io {
        what: String,
        path: PathBuf,
        error: io::Error,
    },
    #[error("`{tool}` is not installed; run `scripts/setup` or `apt-get install {package}`")]
    ToolMissing { tool: String, package: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    ToolFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "results database {path} is unreadable ({detail}); move it aside and snaprun starts a new \
         one (the images and kept overlays are not affected)"
    )]
    Database { path: PathBuf, detail: String },
    #[error("{0}")]
    Usage(String),
    #[error("QEMU: {0}")]
    Qemu(String),
    #[error("workspace snapshot: {0}")]
    Workspace(String),
    #[error("image build: {0}")]
    ImageBuild(String),
    #[error("batch `{0}` not found; list batches with `snaprun ls`")]
    BatchNotFound(String),
    #[error("iteration {iteration} of batch `{batch}` not found; see `snaprun show {batch}`")]
    IterationNotFound { batch: String, iteration: u32 },
    /// `what` failed for the reason `error` gives.
    // Not named `source`, for the reason `Io` says.
    #[error("{what}: {error}")]
    Context { what: String, error: Box<Error> },
    /// A bug in snaprun (a thread of its own panicked).
    #[error("internal error: {0}; please report this at the Retrace issue tracker")]
    Internal(String),
    /// Ctrl-C, SIGTERM or a cancellation handle stopped the work; says what was left as it was.
    #[error("interrupted; {0}")]
    Interrupted(String),
}

fn image_hint(name: &str, built_in: bool) -> String {
    if built_in {
        "build it with `snaprun image build-default`".to_string()
    } else {
        format!("add it with `snaprun image add {name} DISK.qcow2`, or see `snaprun image ls`")
    }
}

impl Error {
    /// Wraps an I/O error, turning ENOSPC/EDQUOT into [`Error::DiskFull`] so a full disk reads
    /// as what it is wherever it happens.
    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: io::Error) -> Error {
        let what = what.into();
        let path = path.into();
        // Wrapped errors (tempfile adds the path) lose the raw code but keep the kind.
        let full = matches!(
            source.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT)
        ) || matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        );
        if full {
            Error::DiskFull { what, path }
        } else {
            Error::Io {
                what,
                path,
                error: source,
            }
        }
    }

    /// This error as the reason `what` failed.
    pub fn context(self, what: impl Into<String>) -> Error {
        Error::Context {
            what: what.into(),
            error: Box::new(self),
        }
    }

    /// Whether this is a problem with the machine or the store rather than with the test.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::DiskFull { .. })
    }
}

/// `.ctx("reading X", &path)` on any `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, what: &str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: &str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(what, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_says_its_cause_once() {
        let e = anyhow::Error::from(Error::io(
            "opening the workspace",
            "/nope",
            io::Error::from(io::ErrorKind::NotFound),
        ));
        assert_eq!(
            format!("{e:#}"),
            "opening the workspace (/nope): entity not found"
        );
    }
}
