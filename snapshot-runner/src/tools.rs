//! Runs the host's command-line tools (qemu-img, mke2fs, git). QEMU itself is started only by
//! [`crate::qemu`].

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// The Debian package that ships `tool`, for the "not installed" message.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "qemu-img" => "qemu-utils",
        "mke2fs" | "debugfs" => "e2fsprogs",
        "git" => "git",
        "qemu-system-x86_64" => "qemu-system-x86",
        "debootstrap" => "debootstrap",
        "umount" => "mount",
        _ => "the package that provides it",
    }
}

/// Runs `tool args...` to completion and returns its stdout; a non-zero exit is an error carrying
/// the tool's stderr, a missing tool says how to install it, and ENOSPC in the stderr of a
/// writing tool reads as a full disk at `writes_to`.
pub fn run<I, S>(tool: &str, args: I, writes_to: Option<&Path>) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_env(tool, args, &[], writes_to)
}

/// [`run`] with `env` added to the tool's environment.
pub fn run_with_env<I, S>(
    tool: &str,
    args: I,
    env: &[(&str, &str)],
    writes_to: Option<&Path>,
) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let mut cmd = Command::new(tool);
    cmd.args(&args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = output_of(&mut cmd, tool)?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if let Some(path) = writes_to
        && (stderr.contains("No space left on device") || stderr.contains("Could not allocate"))
    {
        return Err(Error::DiskFull {
            what: format!("running {tool}"),
            path: path.to_path_buf(),
        });
    }
    let command = std::iter::once(tool.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    Err(Error::ToolFailed {
        command,
        status: output.status.to_string(),
        stderr,
    })
}

fn output_of(cmd: &mut Command, tool: &str) -> Result<Output> {
    cmd.output().map_err(|e| start_failed(tool, e))
}

/// The error for `tool` that could not be started: a missing tool says how to install it.
pub(crate) fn start_failed(tool: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::ToolMissing {
            tool: tool.to_string(),
            package: package_of(tool).to_string(),
        }
    } else {
        Error::io(format!("starting {tool}"), tool, e)
    }
}

/// Like [`run`] for a long-running tool (debootstrap) that must not be left half-done: it runs
/// in its own process group, out of reach of the terminal's Ctrl-C, and when `cancelled` turns
/// true snaprun stops it (SIGTERM, then SIGKILL) and returns `Ok(None)` so the caller can clean
/// up after it. Its output goes to `log`.
pub fn run_cancellable(
    tool: &str,
    args: &[std::ffi::OsString],
    env: &[(&str, &str)],
    log: &Path,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<std::process::ExitStatus>> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(log).map_err(|e| Error::io("creating a log", log, e))?;
    let err = out
        .try_clone()
        .map_err(|e| Error::io("creating a log", log, e))?;
    let mut cmd = Command::new(tool);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| start_failed(tool, e))?;
    let pgid = child.id() as libc::pid_t;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for {tool}"), tool, e))?
        {
            return Ok(Some(status));
        }
        if cancelled() {
            // SAFETY: signals to the process group the child leads.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `word` as `/bin/sh` reads it back: as it is when it is plain, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `["cargo", "test", "-p", "a b"]` as one `/bin/sh` command line.
pub fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `tool` can be found on PATH.
pub fn exists(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Runs a user's shell command (`--build`) in `dir` with the terminal's stdout and stderr.
pub fn run_shell(command: &str, dir: &Path) -> Result<()> {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::io("starting the build step", dir, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "the build step `{command}` failed ({status}); fix the build, or run without --build"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let e = run("snaprun-no-such-tool", ["x"], None).unwrap_err();
        assert!(matches!(e, Error::ToolMissing { .. }), "{e:?}");
        let e = start_failed(
            crate::qemu::QEMU,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(
            e.to_string(),
            "`qemu-system-x86_64` is not installed; run `scripts/setup` or `apt-get install \
             qemu-system-x86`"
        );
    }
}
