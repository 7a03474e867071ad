//! `image build --debian SUITE`: a real Debian image, made with debootstrap from the Debian
//! archive, with qemu-guest-agent installed and enabled (snaprun drives it through
//! [`crate::qga`]).
//!
//! No mounts of our own and no loop devices: debootstrap installs into a directory (it needs
//! root for that, and mounts /proc and /sys inside the target only while it runs), `mke2fs -d`
//! turns the directory into an ext4 image, and `qemu-img convert` makes that a qcow2. The kernel
//! and initrd are the ones `linux-image-amd64` installed into the root.
//!
//! As reproducible as debootstrap allows: the file system is made as [`crate::ext4`] says, at
//! `SOURCE_DATE_EPOCH` or [`DEBIAN_EPOCH`], which debootstrap's package scripts see too (so
//! mkinitramfs writes the initrd with that time); what the installation stamps with the time
//! or the machine is removed or set to the epoch ([`make_reproducible`]). Two builds are the
//! same bytes only if they saw the same archive (the packages' versions): for that, point
//! `--mirror` at a snapshot (`https://snapshot.debian.org/archive/debian/20250101T000000Z/`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::image_build::Built;
use crate::store::{AgentKind, ImageSpec, Store};
use crate::tools;

pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Bump when what the recipe puts into the image changes, so cached images are rebuilt.
const RECIPE: &str = "debian v2";
/// The time of a Debian image's files when `SOURCE_DATE_EPOCH` is not set (2025-01-01): the
/// archive's own time is only known once debootstrap has run, after its scripts have used one.
pub const DEBIAN_EPOCH: u64 = 1_735_689_600;
/// What the installation leaves that records when or where it ran, not what was installed:
/// logs, caches, backups of files it edited, a catalog rebuilt at boot.
const STAMPED: &[&str] = &[
    "var/log",
    "var/cache/ldconfig/aux-cache",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/systemd/catalog/database",
    "etc/passwd-",
    "etc/group-",
    "etc/shadow-",
    "etc/gshadow-",
    "etc/subuid-",
    "etc/subgid-",
];
/// Always installed: an init, udev (which starts qemu-guest-agent when its port appears), the
/// agent and a kernel (its initrd is made in the root by initramfs-tools).
const BASE_PACKAGES: &[&str] = &[
    "systemd-sysv",
    "udev",
    "qemu-guest-agent",
    "linux-image-amd64",
];
pub const DEBIAN_APPEND: &str = "console=ttyS0 root=/dev/vda rw panic=-1 quiet";
pub const DEFAULT_DEBIAN_MEMORY_MIB: u32 = 1024;
pub const DEFAULT_DEBIAN_SIZE: &str = "4G";
const ROOT_LABEL: &str = crate::image_build::ROOT_LABEL;
/// Timers and services that only slow a test VM down.
const DISABLED_UNITS: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "e2scrub_reap.service",
    "getty@tty1.service",
];

/// What `image build --debian` takes.
#[derive(Debug, Clone)]
pub struct DebianSpec {
    /// bookworm, trixie, ...
    pub suite: String,
    /// Extra packages to install.
    pub packages: Vec<String>,
    pub mirror: String,
    /// Size of the root file system (`4G`).
    pub size: String,
    pub memory_mib: u32,
    pub cpus: u32,
}

impl DebianSpec {
    pub fn new(suite: &str) -> DebianSpec {
        DebianSpec {
            suite: suite.to_string(),
            packages: Vec::new(),
            mirror: DEFAULT_MIRROR.to_string(),
            size: DEFAULT_DEBIAN_SIZE.to_string(),
            memory_mib: DEFAULT_DEBIAN_MEMORY_MIB,
            cpus: 1,
        }
    }

    /// Every package debootstrap installs besides the minimal base, sorted.
    pub fn include(&self) -> Vec<String> {
        let mut all: Vec<String> = BASE_PACKAGES
            .iter()
            .map(|p| p.to_string())
            .chain(self.packages.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// What decides the image's content (the archive changes over time; this is what was asked).
    pub fn origin(&self) -> String {
        format!(
            "{RECIPE}; suite {}; packages {}; mirror {}; size {}; epoch {}",
            self.suite,
            self.include().join(","),
            self.mirror,
            self.size,
            epoch()
        )
    }

    fn validate(&self) -> Result<()> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-+.:_".contains(c))
        };
        if !ok(&self.suite) {
            return Err(Error::Usage(format!(
                "`{}` is not a Debian suite name (e.g. bookworm)",
                self.suite
            )));
        }
        if let Some(p) = self.packages.iter().find(|p| !ok(p)) {
            return Err(Error::Usage(format!(
                "`{p}` is not a Debian package name; separate packages with commas"
            )));
        }
        Ok(())
    }
}

/// Builds a Debian image and registers it as `name`, unless an intact image of that name was
/// built from the same spec (or `force`). `progress` hears what is going on (debootstrap takes
/// minutes); `cancelled` stops the build cleanly.
pub fn build(
    store: &Store,
    name: &str,
    spec: &DebianSpec,
    force: bool,
    retain: &dyn Fn(&str) -> bool,
    progress: &mut dyn FnMut(&str),
    cancelled: &dyn Fn() -> bool,
) -> Result<Built> {
    spec.validate()?;
    let origin = spec.origin();
    if !force
        && let Ok(m) = store.manifest(name)
        && m.origin.as_deref() == Some(origin.as_str())
        && store.image(name, false).is_ok()
    {
        return Ok(Built::Cached(m));
    }
    // SAFETY: a plain query.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::ImageBuild(
            "debootstrap installs packages as root: run this `snaprun image build --debian` with \
             sudo (the image it makes belongs to the store either way)"
                .into(),
        ));
    }
    if !tools::exists("debootstrap") {
        return Err(Error::ToolMissing {
            tool: "debootstrap".into(),
            package: "debootstrap".into(),
        });
    }
    let work = tempfile::Builder::new()
        .prefix("build-debian-")
        .tempdir_in(store.tmp_dir())
        .ctx("creating a build directory", &store.tmp_dir())?;
    let root = work.path().join("root");
    let result = build_in(
        store,
        name,
        spec,
        &origin,
        work.path(),
        &root,
        retain,
        progress,
        cancelled,
    );
    // debootstrap mounts /proc and /sys inside the target while it runs; never delete through
    // a mount that is still there.
    unmount_under(work.path());
    if mounts_under(work.path()).is_empty() {
        let _ = fs::remove_dir_all(work.path());
    } else {
        std::mem::forget(work);
    }
    result
}

/// The time of the image's files: `SOURCE_DATE_EPOCH`, else [`DEBIAN_EPOCH`].
fn epoch() -> u64 {
    crate::ext4::source_date_epoch().unwrap_or(DEBIAN_EPOCH)
}

#[allow(clippy::too_many_arguments)]
fn build_in(
    store: &Store,
    name: &str,
    spec: &DebianSpec,
    origin: &str,
    work: &Path,
    root: &Path,
    retain: &dyn Fn(&str) -> bool,
    progress: &mut dyn FnMut(&str),
    cancelled: &dyn Fn() -> bool,
) -> Result<Built> {
    progress(&format!(
        "debootstrap {} from {} with {} (a few minutes)",
        spec.suite,
        spec.mirror,
        spec.include().join(", ")
    ));
    let log = work.join("debootstrap.log");
    let args: Vec<std::ffi::OsString> = vec![
        "--variant=minbase".into(),
        format!("--include={}", spec.include().join(",")).into(),
        spec.suite.clone().into(),
        root.into(),
        spec.mirror.clone().into(),
    ];
    let epoch = epoch().to_string();
    let env = [("SOURCE_DATE_EPOCH", epoch.as_str())];
    match tools::run_cancellable("debootstrap", &args, &env, &log, cancelled)? {
        None => {
            return Err(Error::Interrupted(
                "debootstrap was stopped and its directory removed".into(),
            ));
        }
        Some(status) if !status.success() => {
            let mut tail = crate::qemu::log_tail(&log, 15);
            let inner = root.join("debootstrap/debootstrap.log");
            if inner.exists() {
                tail = format!("{tail}\n{}", crate::qemu::log_tail(&inner, 15));
            }
            let hint = if tail.contains("Failed getting release file")
                || tail.contains("Temporary failure resolving")
                || tail.contains("Could not resolve")
            {
                "; check that the mirror is reachable (--mirror URL) and the suite exists"
            } else if tail.contains("Couldn't find these debs") {
                "; check the package names given to --packages"
            } else {
                ""
            };
            return Err(Error::ImageBuild(format!(
                "debootstrap failed ({status}){hint}:\n{tail}"
            )));
        }
        Some(_) => {}
    }
    unmount_under(work);
    progress("configuring the root (fstab, qemu-guest-agent, console)");
    configure_root(root)?;
    make_reproducible(root, self::epoch())?;
    let (kernel, initrd) = kernel_and_initrd(root)?;
    // Outside the root, so the file system image does not hold them twice over.
    let kernel_copy = work.join("vmlinuz");
    let initrd_copy = work.join("initrd.img");
    fs::copy(&kernel, &kernel_copy).ctx("copying the kernel", &kernel)?;
    fs::copy(&initrd, &initrd_copy).ctx("copying the initrd", &initrd)?;
    progress("making the ext4 root and converting it to qcow2");
    let id = crate::ext4::Identity::derived(origin, self::epoch());
    let disk = crate::image_build::root_disk(root, &spec.size, work, &id)?;
    let image = ImageSpec {
        disk,
        kernel: Some(kernel_copy),
        initrd: Some(initrd_copy),
        append: Some(DEBIAN_APPEND.to_string()),
        memory_mib: Some(spec.memory_mib),
        cpus: Some(spec.cpus),
        origin: Some(origin.to_string()),
        agent: AgentKind::Qga,
    };
    Ok(Built::Fresh(store.add(name, &image, retain)?))
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ctx("configuring the image", dir)?;
    }
    fs::write(path, text).ctx("configuring the image", path)
}

/// Makes the debootstrapped root boot as a test VM: root by label, a hostname, root login on
/// the serial console without a password (for `repro --shell`; the VM has no network),
/// qemu-guest-agent enabled, periodic jobs off, no package cache.
pub fn configure_root(root: &Path) -> Result<()> {
    write(
        &root.join("etc/fstab"),
        &format!("LABEL={ROOT_LABEL} / ext4 rw,errors=remount-ro 0 1\n"),
    )?;
    write(&root.join("etc/hostname"), "snaprun\n")?;
    write(&root.join("etc/hosts"), "127.0.0.1 localhost snaprun\n")?;
    let shadow = root.join("etc/shadow");
    let text = fs::read_to_string(&shadow).ctx("reading", &shadow)?;
    let text: String = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some(("root", rest)) => {
                let rest = rest.split_once(':').map_or("", |r| r.1);
                format!("root::{rest}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    fs::write(&shadow, text).ctx("writing", &shadow)?;
    fs::set_permissions(&shadow, fs::Permissions::from_mode(0o640)).ctx("writing", &shadow)?;
    let units = root.join("etc/systemd/system");
    for entry in fs::read_dir(&units).into_iter().flatten().flatten() {
        if entry.path().is_dir() && entry.file_name().to_string_lossy().ends_with(".wants") {
            for unit in DISABLED_UNITS {
                let _ = fs::remove_file(entry.path().join(unit));
            }
        }
    }
    // udev starts the agent when its port appears; wanting it from multi-user makes that
    // explicit, and harmless without the port (the unit binds to the device).
    let wants = units.join("multi-user.target.wants");
    fs::create_dir_all(&wants).ctx("configuring the image", &wants)?;
    let link = wants.join("qemu-guest-agent.service");
    let unit = ["lib/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .map(|d| Path::new("/").join(d).join("qemu-guest-agent.service"))
        .find(|p| root.join(p.strip_prefix("/").unwrap_or(p)).exists())
        .ok_or_else(|| {
            Error::ImageBuild("qemu-guest-agent.service is missing from the built root".into())
        })?;
    if !link.exists() {
        std::os::unix::fs::symlink(&unit, &link).ctx("configuring the image", &link)?;
    }
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        for e in fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            if e.path().is_file() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Removes or evens out what the installation stamped with its time or machine ([`STAMPED`];
/// log directories are kept, empty), empties `/etc/machine-id` (systemd makes one at boot), and
/// sets the password-change day of every account to the `epoch`'s.
pub fn make_reproducible(root: &Path, epoch: u64) -> Result<()> {
    for rel in STAMPED {
        let p = root.join(rel);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => empty_files_under(&p)?,
            Ok(_) => fs::remove_file(&p).ctx("tidying the image", &p)?,
            Err(_) => {}
        }
    }
    let machine_id = root.join("etc/machine-id");
    if machine_id.exists() {
        fs::write(&machine_id, "").ctx("tidying the image", &machine_id)?;
    }
    let shadow = root.join("etc/shadow");
    if let Ok(text) = fs::read_to_string(&shadow) {
        let day = (epoch / 86_400).to_string();
        let text: String = text
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(':').collect();
                if f.len() > 2 && !f[2].is_empty() {
                    f[2] = &day;
                }
                format!("{}\n", f.join(":"))
            })
            .collect();
        fs::write(&shadow, text).ctx("tidying the image", &shadow)?;
    }
    Ok(())
}

/// Removes every file under `dir`, keeping the directories (a package may expect its log
/// directory to be there).
fn empty_files_under(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).ctx("tidying the image", dir)? {
        let p = e.ctx("tidying the image", dir)?.path();
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => empty_files_under(&p)?,
            _ => fs::remove_file(&p).ctx("tidying the image", &p)?,
        }
    }
    Ok(())
}

/// The newest `boot/vmlinuz-*` and its `boot/initrd.img-*` in the root.
fn kernel_and_initrd(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let boot = root.join("boot");
    let mut versions: Vec<String> = fs::read_dir(&boot)
        .ctx("looking for the kernel", &boot)?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("vmlinuz-")
                .map(str::to_string)
        })
        .filter(|v| boot.join(format!("initrd.img-{v}")).exists())
        .collect();
    versions.sort_by_key(|v| crate::image_build::version_key(v));
    let v = versions.pop().ok_or_else(|| {
        Error::ImageBuild(format!(
            "no kernel with an initrd in {} (did linux-image-amd64 install?)",
            boot.display()
        ))
    })?;
    Ok((
        boot.join(format!("vmlinuz-{v}")),
        boot.join(format!("initrd.img-{v}")),
    ))
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(&dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// Unmounts what debootstrap may have left mounted under `dir` (after an interruption).
fn unmount_under(dir: &Path) {
    for m in mounts_under(dir) {
        let _ = tools::run("umount", ["-l".as_ref(), m.as_os_str()], None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_names_what_goes_in() {
        let mut s = DebianSpec::new("bookworm");
        s.packages = vec!["stress-ng".into(), "udev".into()];
        assert_eq!(
            s.include(),
            [
                "linux-image-amd64",
                "qemu-guest-agent",
                "stress-ng",
                "systemd-sysv",
                "udev"
            ]
        );
        assert!(s.origin().contains("suite bookworm"));
        assert!(s.validate().is_ok());
        s.packages.push("a b".into());
        assert!(s.validate().is_err());
        assert!(DebianSpec::new("../x").validate().is_err());
    }

    #[test]
    fn what_records_when_and_where_the_root_was_made_is_evened_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("var/log/apt/history.log"), "Start-Date: today\n").unwrap();
        write(&root.join("var/log/dpkg.log"), "today\n").unwrap();
        write(&root.join("var/cache/ldconfig/aux-cache"), "inodes").unwrap();
        write(&root.join("etc/passwd-"), "old").unwrap();
        write(&root.join("etc/machine-id"), "0123abcd\n").unwrap();
        write(
            &root.join("etc/shadow"),
            "root::20100:0:99999:7:::\nnobody:*:20101::::::\nnew:!:::::::\n",
        )
        .unwrap();
        make_reproducible(root, 86_400 * 20_000 + 5).unwrap();
        assert!(root.join("var/log/apt").is_dir() && !root.join("var/log/dpkg.log").exists());
        assert!(!root.join("var/log/apt/history.log").exists());
        assert!(!root.join("var/cache/ldconfig/aux-cache").exists());
        assert!(!root.join("etc/passwd-").exists());
        assert_eq!(fs::read_to_string(root.join("etc/machine-id")).unwrap(), "");
        assert_eq!(
            fs::read_to_string(root.join("etc/shadow")).unwrap(),
            "root::20000:0:99999:7:::\nnobody:*:20000::::::\nnew:!:::::::\n"
        );
    }

    #[test]
    fn the_root_is_configured_for_a_test_vm() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            &root.join("etc/shadow"),
            "root:*:19000:0:99999:7:::\nnobody:*:1::::::\n",
        )
        .unwrap();
        write(
            &root.join("lib/systemd/system/qemu-guest-agent.service"),
            "[Unit]\n",
        )
        .unwrap();
        write(
            &root.join("etc/systemd/system/timers.target.wants/apt-daily.timer"),
            "",
        )
        .unwrap();
        configure_root(root).unwrap();
        let shadow = fs::read_to_string(root.join("etc/shadow")).unwrap();
        assert_eq!(shadow, "root::19000:0:99999:7:::\nnobody:*:1::::::\n");
        assert!(
            !root
                .join("etc/systemd/system/timers.target.wants/apt-daily.timer")
                .exists()
        );
        let link = fs::read_link(
            root.join("etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service"),
        )
        .unwrap();
        assert_eq!(
            link,
            Path::new("/lib/systemd/system/qemu-guest-agent.service")
        );
        assert!(
            fs::read_to_string(root.join("etc/fstab"))
                .unwrap()
                .contains("LABEL=snaprun-root")
        );
    }
}
