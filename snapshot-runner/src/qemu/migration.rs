//! QEMU's version and what follows from it: how a warm state is written and read back.

use std::path::Path;
use std::process::{Command, Stdio};

use super::process::QEMU;
use crate::error::{Error, Result};
use crate::tools;

/// QEMU's version as (major, minor, micro), asked once per process.
pub fn version() -> Result<(u32, u32, u32)> {
    static VERSION: std::sync::OnceLock<(u32, u32, u32)> = std::sync::OnceLock::new();
    if let Some(v) = VERSION.get() {
        return Ok(*v);
    }
    let out = Command::new(QEMU)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| tools::start_failed(QEMU, e))?;
    let v = parse_version(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| Error::Qemu(format!("cannot read `{QEMU} --version`")))?;
    Ok(*VERSION.get_or_init(|| v))
}

/// `QEMU emulator version 7.2.22 (Debian ...)` -> (7, 2, 22).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split("version ").nth(1)?.split_whitespace().next()?;
    let mut parts = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// QEMU 8.2 and newer migrate to a file directly (`file:`); before that, through a shell
/// command (`exec:`).
pub(super) fn has_file_migration(v: (u32, u32, u32)) -> bool {
    (v.0, v.1) >= (8, 2)
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

/// Where `migrate` writes the state.
pub fn outgoing_uri(dest: &Path, v: (u32, u32, u32)) -> String {
    if has_file_migration(v) {
        format!("file:{}", dest.to_string_lossy())
    } else {
        format!("exec:cat > {}", shell_quote(dest))
    }
}

/// Where `-incoming` reads the state from: the file itself from 8.2 on, before that the file
/// opened on QEMU's stdin (see [`Vm::start`]).
pub fn incoming_uri(state: &Path, v: (u32, u32, u32)) -> String {
    if has_file_migration(v) {
        format!("file:{}", state.to_string_lossy())
    } else {
        "fd:0".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_pick_the_migration_transport() {
        let v = parse_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n");
        assert_eq!(v, Some((7, 2, 22)));
        assert_eq!(
            parse_version("QEMU emulator version 8.2.0\n"),
            Some((8, 2, 0))
        );
        assert_eq!(parse_version("nonsense"), None);
        let p = Path::new("/s/it's.state");
        assert_eq!(
            outgoing_uri(p, (7, 2, 22)),
            r"exec:cat > '/s/it'\''s.state'"
        );
        assert_eq!(incoming_uri(p, (7, 2, 22)), "fd:0");
        assert_eq!(outgoing_uri(p, (8, 2, 0)), "file:/s/it's.state");
        assert_eq!(incoming_uri(p, (9, 0, 1)), "file:/s/it's.state");
    }
}
