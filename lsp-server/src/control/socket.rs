//! Where control sockets live and who may use them: a directory only this user can enter
//! (`$XDG_RUNTIME_DIR/retrace`, else `$TMPDIR/retrace-<uid>`), mode 0700 and owned by the
//! user, checked every time; sockets of mode 0600 named after their server's pid; and the
//! peer's uid, asked of the kernel (`SO_PEERCRED`) for every connection.

use std::fs::DirBuilder;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::ControlError;

/// The directory for this user's control sockets, created if missing and checked.
pub fn socket_dir() -> Result<PathBuf, ControlError> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    socket_dir_in(runtime.as_deref(), &std::env::temp_dir(), effective_uid())
}

/// [`socket_dir`] for a given runtime directory (if any), temporary directory and user.
pub fn socket_dir_in(
    runtime_dir: Option<&Path>,
    temp_dir: &Path,
    uid: u32,
) -> Result<PathBuf, ControlError> {
    let dir = match runtime_dir {
        Some(runtime) => runtime.join("retrace"),
        // A shared directory: anyone could have made this name first, so the checks
        // below are what make it ours.
        None => temp_dir.join(format!("retrace-{uid}")),
    };
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(ControlError::UnsafeDirectory {
                dir,
                why: format!("cannot create it ({e}); set XDG_RUNTIME_DIR to a directory of yours"),
            });
        }
    }
    check_private(&dir, uid)?;
    Ok(dir)
}

/// A directory is private when it is a real directory (not a link), owned by `uid`, and
/// closed to group and others.
pub fn check_private(dir: &Path, uid: u32) -> Result<(), ControlError> {
    let unsafe_dir = |why: String| ControlError::UnsafeDirectory {
        dir: dir.to_owned(),
        why,
    };
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| unsafe_dir(format!("cannot read it ({e})")))?;
    if !meta.file_type().is_dir() {
        return Err(unsafe_dir(
            "it is not a directory (a link or a file); remove it, and retrace-lsp makes a new one"
                .into(),
        ));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not to you (uid {uid}); remove it (or set XDG_RUNTIME_DIR), and retrace-lsp makes a new one",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "its mode is {mode:o}, open to other users; `chmod 700 {}`",
            dir.display()
        )));
    }
    Ok(())
}

/// The socket of the server with process id `pid`.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// Binds this process's socket in `dir` (mode 0600), after removing the sockets of
/// servers that are gone (their pid no longer runs) and a leftover of this pid.
pub fn bind(dir: &Path) -> Result<(UnixListener, PathBuf), ControlError> {
    remove_stale(dir);
    let path = socket_path(dir, std::process::id());
    let io = |e| ControlError::Io {
        socket: path.clone(),
        source: e,
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io)?;
    // The directory already keeps others out; the socket's own mode says so too.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok((listener, path))
}

/// Removes sockets named after a pid that no longer runs (a server killed without its
/// goodbye). Anything else in the directory is left alone.
pub fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".sock"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let is_socket = entry
            .file_type()
            .is_ok_and(|t| std::os::unix::fs::FileTypeExt::is_socket(&t));
        if is_socket && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The uid of the process at the other end of a connection, from the kernel.
pub fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, and the fd is open
    // for as long as `stream` is borrowed.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn the_directory_is_made_private_and_the_socket_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let runtime = tmp.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        let uid = effective_uid();
        let dir = socket_dir_in(Some(&runtime), tmp.path(), uid).unwrap();
        assert_eq!(dir, runtime.join("retrace"));
        assert_eq!(mode(&dir), 0o700);
        let (listener, path) = bind(&dir).unwrap();
        assert_eq!(path, dir.join(format!("{}.sock", std::process::id())));
        assert_eq!(mode(&path), 0o600);
        // A connection from this process is from this uid.
        let client = UnixStream::connect(&path).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        assert_eq!(peer_uid(&server_side).unwrap(), uid);
        assert_eq!(peer_uid(&client).unwrap(), uid);
    }

    #[test]
    fn without_a_runtime_directory_a_per_user_one_is_made_in_the_temporary_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let uid = effective_uid();
        let dir = socket_dir_in(None, tmp.path(), uid).unwrap();
        assert_eq!(dir, tmp.path().join(format!("retrace-{uid}")));
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_directory_open_to_others_or_of_another_owner_or_a_link_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let uid = effective_uid();
        let open = tmp.path().join(format!("retrace-{uid}"));
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = socket_dir_in(None, tmp.path(), uid)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mode is 755") && err.contains("chmod 700"),
            "{err}"
        );
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Someone else's: the same directory seen as another user's.
        let err = socket_dir_in(None, tmp.path(), uid + 1).unwrap_err();
        assert!(
            err.to_string().contains(&format!("belongs to uid {uid}")),
            "{err}"
        );
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::remove_dir(&open).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &open).unwrap();
        let err = socket_dir_in(None, tmp.path(), uid)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn sockets_of_servers_that_are_gone_are_removed_and_others_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let _dead_listener = UnixListener::bind(socket_path(dir, dead)).unwrap();
        let _live = UnixListener::bind(socket_path(dir, 1)).unwrap();
        std::fs::write(dir.join("notes.sock"), b"").unwrap();
        std::fs::write(dir.join(format!("{dead}.txt")), b"").unwrap();
        remove_stale(dir);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = vec![format!("{dead}.txt"), "1.sock".into(), "notes.sock".into()];
        expected.sort();
        assert_eq!(names, expected);
    }
}
