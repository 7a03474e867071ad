//! The accelerator: KVM when it really runs guest code here, else TCG.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{QEMU, dies_with_snaprun};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Accel, String> {
        match s {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            _ => Err(format!("unknown accelerator `{s}`; use kvm or tcg")),
        }
    }
}

/// Picks the accelerator: `requested` if given (KVM is still checked to exist), otherwise KVM
/// when a probe VM actually runs guest code under it within a few seconds, else TCG. Nested KVM
/// can open /dev/kvm and then hang, so only running code counts. The answer is cached per host
/// boot in `cache`.
pub fn choose_accel(requested: Option<Accel>, cache: &Path) -> Result<Accel> {
    match requested {
        Some(Accel::Tcg) => Ok(Accel::Tcg),
        Some(Accel::Kvm) => {
            if kvm_works(cache) {
                Ok(Accel::Kvm)
            } else {
                Err(Error::Usage(
                    "--accel kvm: KVM is not usable here (/dev/kvm missing, not accessible, or a \
                     probe VM hung); use --accel tcg or leave --accel out"
                        .into(),
                ))
            }
        }
        None => Ok(if kvm_works(cache) {
            Accel::Kvm
        } else {
            Accel::Tcg
        }),
    }
}

fn kvm_works(cache: &Path) -> bool {
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let key = boot_id.trim().to_string();
    if let Ok(text) = fs::read_to_string(cache)
        && let Some((k, v)) = text.trim().rsplit_once(' ')
        && k == key
    {
        return v == "yes";
    }
    let ok = probe_kvm(Duration::from_secs(3)).unwrap_or(false);
    let _ = fs::write(cache, format!("{key} {}\n", if ok { "yes" } else { "no" }));
    ok
}

/// Boots a 64 KiB "BIOS" whose reset vector writes to QEMU's isa-debug-exit port under KVM.
/// QEMU then exits with status (0x2a << 1) | 1 = 85; anything else, or no exit within
/// `timeout`, means KVM does not work here.
pub fn probe_kvm(timeout: Duration) -> std::io::Result<bool> {
    let dir = tempfile::tempdir()?;
    let bios = dir.path().join("probe.bin");
    let mut image = vec![0xf4u8; 64 << 10];
    // mov al, 0x2a; out 0xf4, al; hlt; jmp $-1
    image[0xfff0..0xfff8].copy_from_slice(&[0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0xf4]);
    fs::write(&bios, image)?;
    let mut cmd = Command::new(QEMU);
    // A probe that hangs (as nested KVM can) must not outlive a snaprun killed meanwhile.
    dies_with_snaprun(&mut cmd, false);
    let mut child = cmd
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "pc",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "16",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-bios"])
        .arg(&bios)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code() == Some(85));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools;

    #[test]
    fn the_kvm_probe_answers_within_its_timeout() {
        if !crate::testenv::require(
            tools::exists(QEMU),
            "QEMU (`apt-get install qemu-system-x86`, or scripts/setup)",
        ) {
            return;
        }
        let started = Instant::now();
        probe_kvm(Duration::from_secs(3)).expect("the probe starts");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Issue 15: without QEMU this test passed without a word.
    #[test]
    fn without_qemu_the_probe_test_is_skipped_visibly() {
        crate::testenv::assert_skips_visibly(
            "qemu::accel::tests::the_kvm_probe_answers_within_its_timeout",
            &[("PATH", "/nonexistent")],
        );
    }

    #[test]
    fn accelerators_parse() {
        assert_eq!("kvm".parse::<Accel>(), Ok(Accel::Kvm));
        assert!("hvf".parse::<Accel>().is_err());
    }
}
