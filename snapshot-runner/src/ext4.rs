//! ext4 file systems made from a directory with `mke2fs -d` (no mounts, no loop devices, no
//! root), the same bytes from the same directory wherever and whenever they are made: so two
//! machines that build an image from the same inputs get the same image hash, and CI jobs that
//! each build it run slices of one batch.
//!
//! What would differ, and what pins it:
//! - the file system's UUID and directory hash seed (random): derived from a description of the
//!   inputs ([`Identity::derived`]);
//! - the superblock's and new inodes' times (now): `E2FSPROGS_FAKE_TIME`;
//! - the files' times (when they were staged): modification and access times newer than the
//!   epoch are clamped to it before `mke2fs` copies them; the change time, which only the
//!   kernel sets and `mke2fs` 1.47.0 copies too, is set to the epoch afterwards with `debugfs`;
//! - owners (whoever staged them): root's, when they were staged by another user;
//! - the order of directory entries: `mke2fs -d` reads directories sorted (e2fsprogs 1.47.0
//!   and later), whatever order the staging file system lists them in.
//!
//! `qemu-img convert` to qcow2 writes clusters in order and no time, so it keeps this.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::store::hex;
use crate::tools;

/// What makes a file system made from a directory the same bytes every time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Seconds since the epoch: the file system's times, and the latest time a file keeps.
    pub epoch: u64,
    pub uuid: String,
    pub hash_seed: String,
}

impl Identity {
    /// The identity of a file system made from the inputs `inputs` describes (a recipe and the
    /// hashes of what goes in), at `epoch`.
    pub fn derived(inputs: &str, epoch: u64) -> Identity {
        let uuid = |what: &str| {
            let mut b: [u8; 16] = Sha256::digest(format!("snaprun-ext4 {what}\n{inputs}"))[..16]
                .try_into()
                .unwrap_or_default();
            // A version 4 (random) UUID's layout: nobody can tell these from random ones.
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h = hex(&b);
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        };
        Identity {
            epoch: epoch.max(1),
            uuid: uuid("uuid"),
            hash_seed: uuid("hash_seed"),
        }
    }
}

/// `SOURCE_DATE_EPOCH` (the reproducible-builds convention for "the time of the inputs"), if
/// it is set to a number.
pub fn source_date_epoch() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// Makes `raw` an ext4 file system of `size` (`2G`) labelled `label` holding the directory
/// `dir`, as [`Identity`] `id` says. `dir`'s files get their times clamped to the epoch.
pub fn make(dir: &Path, raw: &Path, size: &str, label: &str, id: &Identity) -> Result<()> {
    let paths = clamp_times(dir, id.epoch)?;
    let epoch = id.epoch.to_string();
    let env = [("E2FSPROGS_FAKE_TIME", epoch.as_str())];
    let extended = format!("root_owner=0:0,hash_seed={}", id.hash_seed);
    tools::run_with_env(
        "mke2fs",
        [
            "-q".as_ref(),
            "-F".as_ref(),
            "-t".as_ref(),
            "ext4".as_ref(),
            "-L".as_ref(),
            label.as_ref(),
            "-U".as_ref(),
            id.uuid.as_ref(),
            "-E".as_ref(),
            extended.as_ref(),
            "-d".as_ref(),
            dir.as_os_str(),
            raw.as_os_str(),
            size.as_ref(),
        ],
        &env,
        Some(raw),
    )?;
    // SAFETY: a plain query.
    let chown = unsafe { libc::geteuid() } != 0;
    let script = raw.with_extension("debugfs");
    fs::write(&script, settle_script(&paths, id.epoch, chown)?)
        .ctx("writing the file system's last touches", &script)?;
    let settled = tools::run_with_env(
        "debugfs",
        [
            "-w".as_ref(),
            "-f".as_ref(),
            script.as_os_str(),
            raw.as_os_str(),
        ],
        &env,
        Some(raw),
    );
    let _ = fs::remove_file(&script);
    settled?;
    Ok(())
}

/// Converts the raw image `raw` to the qcow2 `qcow2`.
pub fn to_qcow2(raw: &Path, qcow2: &Path) -> Result<()> {
    tools::run(
        "qemu-img",
        [
            "convert".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "raw".as_ref(),
            "-O".as_ref(),
            "qcow2".as_ref(),
            raw.as_os_str(),
            qcow2.as_os_str(),
        ],
        Some(qcow2),
    )?;
    Ok(())
}

/// Sets the modification and access times of everything under `dir` (and `dir`) that is newer
/// than `epoch` to `epoch`, links themselves rather than what they point to. Returns every
/// path, relative to `dir` (`""` for `dir` itself), sorted.
fn clamp_times(dir: &Path, epoch: u64) -> Result<Vec<PathBuf>> {
    let mut paths = vec![PathBuf::new()];
    let mut i = 0;
    while i < paths.len() {
        let rel = paths[i].clone();
        let abs = dir.join(&rel);
        let meta = fs::symlink_metadata(&abs).ctx("staging the file system", &abs)?;
        if meta.is_dir() {
            for e in fs::read_dir(&abs).ctx("staging the file system", &abs)? {
                paths.push(rel.join(e.ctx("staging the file system", &abs)?.file_name()));
            }
        }
        i += 1;
    }
    for rel in &paths {
        let abs = dir.join(rel);
        let meta = fs::symlink_metadata(&abs).ctx("staging the file system", &abs)?;
        use std::os::unix::fs::MetadataExt;
        let clamp = |secs: i64, nsecs: i64| {
            if secs < 0 || secs as u64 >= epoch {
                libc::timespec {
                    tv_sec: epoch as libc::time_t,
                    tv_nsec: 0,
                }
            } else {
                libc::timespec {
                    tv_sec: secs as libc::time_t,
                    tv_nsec: nsecs as libc::c_long,
                }
            }
        };
        let times = [
            clamp(meta.atime(), meta.atime_nsec()),
            clamp(meta.mtime(), meta.mtime_nsec()),
        ];
        let c = CString::new(abs.as_os_str().as_bytes())
            .map_err(|_| Error::ImageBuild(format!("{} has a NUL in its name", abs.display())))?;
        // SAFETY: a valid path and two timespecs.
        let r = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 {
            return Err(Error::io(
                "setting a staged file's times",
                &abs,
                std::io::Error::last_os_error(),
            ));
        }
    }
    paths.sort();
    Ok(paths)
}

/// The `debugfs` commands that set every inode's change time to `epoch` (and with `chown` its
/// owner to root), one path at a time, quoted as debugfs reads them.
fn settle_script(paths: &[PathBuf], epoch: u64, chown: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for rel in paths {
        let mut quoted = b"\"/".to_vec();
        for &b in rel.as_os_str().as_bytes() {
            match b {
                b'\n' | b'\r' => {
                    return Err(Error::ImageBuild(format!(
                        "`{}` has a line break in its name, which debugfs cannot take; leave it \
                         out of the image",
                        rel.display()
                    )));
                }
                b'"' => quoted.extend_from_slice(b"\"\""),
                b => quoted.push(b),
            }
        }
        quoted.push(b'"');
        let mut field = |name: &str, value: &str| {
            out.extend_from_slice(b"sif ");
            out.extend_from_slice(&quoted);
            out.extend_from_slice(format!(" {name} {value}\n").as_bytes());
        };
        field("ctime", &format!("@{epoch}"));
        if chown {
            field("uid", "0");
            field("gid", "0");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_follow_the_inputs() {
        let a = Identity::derived("recipe v1; kernel 1", 1_700_000_000);
        assert_eq!(a, Identity::derived("recipe v1; kernel 1", 1_700_000_000));
        assert_ne!(a.uuid, Identity::derived("recipe v1; kernel 2", 1).uuid);
        assert_ne!(a.uuid, a.hash_seed);
        assert_eq!(a.uuid.len(), 36);
        assert_eq!(&a.uuid[14..15], "4");
        assert_eq!(
            Identity::derived("x", 0).epoch,
            1,
            "0 would mean now to mke2fs"
        );
    }

    #[test]
    fn the_script_quotes_names_as_debugfs_reads_them() {
        let paths = [PathBuf::new(), PathBuf::from("a b/q\"uote")];
        let script = String::from_utf8(settle_script(&paths, 7, true).unwrap()).unwrap();
        assert_eq!(
            script,
            "sif \"/\" ctime @7\nsif \"/\" uid 0\nsif \"/\" gid 0\n\
             sif \"/a b/q\"\"uote\" ctime @7\nsif \"/a b/q\"\"uote\" uid 0\n\
             sif \"/a b/q\"\"uote\" gid 0\n"
        );
        assert!(settle_script(&[PathBuf::from("a\nb")], 7, false).is_err());
    }

    /// The same directory staged twice, a second apart, with files listed in another order,
    /// makes the same bytes.
    #[test]
    fn the_same_directory_makes_the_same_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let stage = |name: &str, reversed: bool| {
            let root = dir.path().join(name);
            let mut files = vec!["bin/sh", "etc/hosts", "etc/passwd", "usr/lib/libc.so.6"];
            if reversed {
                files.reverse();
            }
            for f in files {
                let p = root.join(f);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, f.as_bytes()).unwrap();
            }
            std::os::unix::fs::symlink("sh", root.join("bin/busybox")).unwrap();
            root
        };
        let id = Identity::derived("test", 1_700_000_000);
        let a = stage("a", false);
        let raw_a = dir.path().join("a.ext4");
        make(&a, &raw_a, "16M", "test", &id).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = stage("b", true);
        let raw_b = dir.path().join("b.ext4");
        make(&b, &raw_b, "16M", "test", &id).unwrap();
        assert!(fs::read(&raw_a).unwrap() == fs::read(&raw_b).unwrap());
        let (qa, qb) = (dir.path().join("a.qcow2"), dir.path().join("b.qcow2"));
        to_qcow2(&raw_a, &qa).unwrap();
        to_qcow2(&raw_b, &qb).unwrap();
        assert!(fs::read(&qa).unwrap() == fs::read(&qb).unwrap());
    }
}
