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
        "mke2fs" => "e2fsprogs",
        "git" => "git",
        "qemu-system-x86_64" => "qemu-system-x86",
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
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let output = output_of(Command::new(tool).args(&args).stdin(Stdio::null()), tool)?;
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
    cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::ToolMissing {
                tool: tool.to_string(),
                package: package_of(tool).to_string(),
            }
        } else {
            Error::io(format!("starting {tool}"), tool, e)
        }
    })
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
