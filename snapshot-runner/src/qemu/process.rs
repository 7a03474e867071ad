//! How snaprun starts a QEMU process: every one dies with snaprun.

use std::os::unix::process::CommandExt;
use std::process::Command;

pub const QEMU: &str = "qemu-system-x86_64";

/// Makes the QEMU that `cmd` starts get SIGKILL when the thread that starts it ends, however
/// snaprun ends (PR_SET_PDEATHSIG); with `own_group`, also in a process group of its own.
pub(super) fn dies_with_snaprun(cmd: &mut Command, own_group: bool) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            if own_group {
                libc::setpgid(0, 0);
            }
            Ok(())
        });
    }
}
