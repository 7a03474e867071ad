//! `image build-default`: the built-in image, made locally from what the host already has.
//!
//! - kernel: the host's Debian kernel (`/boot/vmlinuz-<ver>`, with `/lib/modules/<ver>`);
//! - initrd: a small cpio (newc, written here) with busybox and the modules needed to reach the
//!   root disk (virtio, ext4), the agent's port (virtio_console), overlayfs and pvpanic;
//! - root disk: an ext4 file system made with `mke2fs -d` from a staging directory (no mounts,
//!   no loop devices, no root needed) holding busybox, the host's glibc loader and libraries (so
//!   binaries built on the host run in the guest) and the agent, converted to qcow2.
//!
//! The same ingredients make the same bytes on any machine (see [`crate::ext4`]; the initramfs
//! carries no times, owners or inode numbers of the host), so CI jobs that each build the image
//! agree on its hash.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::ext4::{self, Identity};
pub use crate::store::DEFAULT_IMAGE;
use crate::store::{ImageSpec, Manifest, Store, sha256_file};
use crate::tools;
/// Bump when what the recipe puts into the image changes, so cached images are rebuilt.
const RECIPE: &str = "build-default v3";
pub const ROOT_LABEL: &str = "snaprun-root";
/// Kernel command line of the built-in image. `panic=-1` reboots at once on a panic, which with
/// QEMU's `-no-reboot` ends the VM; `init_on_free=1` zeroes freed memory, so a saved warm state
/// (whose zero pages cost nothing) stays small; the rest trims boot time under TCG.
pub const DEFAULT_APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=4 tsc=reliable \
     no_timer_check rcupdate.rcu_expedited=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd \
     8250.nr_uarts=1 mitigations=off random.trust_cpu=on init_on_free=1";
const ROOT_SIZE: &str = "2G";

/// Modules the initramfs loads, dependencies resolved from `modules.dep`.
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_console",
    "crc32c_generic",
    "ext4",
    "overlay",
    "pvpanic_pci",
];

/// Shared libraries copied from the host (those that exist there).
const LIBS: &[&str] = &[
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libanl.so.1",
    "libnss_files.so.2",
    "libnss_dns.so.2",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libz.so.1",
    "libcrypt.so.1",
];
const LIB_DIRS: &[&str] = &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"];

/// What the built-in image is made of on this host.
#[derive(Debug, Clone)]
pub struct Ingredients {
    pub kernel: PathBuf,
    pub modules: PathBuf,
    pub busybox: PathBuf,
    pub agent: PathBuf,
}

impl Ingredients {
    /// Finds the newest `/boot/vmlinuz-*` with matching modules, and busybox.
    pub fn find(agent: &Path) -> Result<Ingredients> {
        let mut kernels: Vec<(String, PathBuf)> = fs::read_dir("/boot")
            .ctx("looking for the host kernel", Path::new("/boot"))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let ver = name.strip_prefix("vmlinuz-")?.to_string();
                Path::new("/lib/modules")
                    .join(&ver)
                    .join("modules.dep")
                    .exists()
                    .then(|| (ver, e.path()))
            })
            .collect();
        kernels.sort_by_key(|a| version_key(&a.0));
        let (ver, kernel) = kernels.pop().ok_or_else(|| {
            Error::ImageBuild(
                "no /boot/vmlinuz-* with modules in /lib/modules was found; install the Debian \
                 kernel with `apt-get install linux-image-amd64` (or run scripts/setup)"
                    .into(),
            )
        })?;
        if fs::File::open(&kernel).is_err() {
            return Err(Error::ImageBuild(format!(
                "cannot read {}; Debian may keep it readable by root only: run build-default as \
                 root once, or `sudo chmod 0644 {}`",
                kernel.display(),
                kernel.display()
            )));
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| Error::ToolMissing {
                tool: "busybox".into(),
                package: "busybox-static".into(),
            })?;
        if !agent.is_file() {
            return Err(Error::ImageBuild(format!(
                "the guest agent {} was not found; build it with `cargo build -p snaprun` (it is \
                 installed beside the snaprun binary)",
                agent.display()
            )));
        }
        Ok(Ingredients {
            kernel,
            modules: Path::new("/lib/modules").join(ver),
            busybox,
            agent: agent.to_path_buf(),
        })
    }

    /// The time the image's files and file system carry: `SOURCE_DATE_EPOCH`, or the newest
    /// modification time of the kernel and busybox. They come from Debian packages, which keep
    /// their files' times, so machines with the same packages agree; the agent's time is when it
    /// was built, so it is left out.
    pub fn epoch(&self) -> Result<u64> {
        if let Some(e) = ext4::source_date_epoch() {
            return Ok(e);
        }
        let mut newest = 0;
        for p in [&self.kernel, &self.busybox] {
            let meta = fs::metadata(p).ctx("reading", p)?;
            newest = newest.max(crate::store::mtime_ns(&meta) / 1_000_000_000);
        }
        Ok(newest.max(1) as u64)
    }

    /// A fingerprint of everything the image is made from: equal fingerprints, equal images.
    /// File hashes are cached in `cache` by path, size and mtime, so checking that `default`
    /// is up to date before every batch costs a few `stat`s.
    pub fn origin(&self, cache: &Path) -> Result<String> {
        let mut known: BTreeMap<String, (u64, i64, String)> = fs::read(cache)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let before = known.clone();
        let mut hash = |p: &Path| -> Result<String> {
            let meta = fs::metadata(p).ctx("reading", p)?;
            let key = p.to_string_lossy().into_owned();
            let stamp = (meta.len(), crate::store::mtime_ns(&meta));
            if let Some((len, mtime, h)) = known.get(&key)
                && (*len, *mtime) == stamp
            {
                return Ok(h.clone());
            }
            let h = sha256_file(p)?[..16].to_string();
            known.insert(key, (stamp.0, stamp.1, h.clone()));
            Ok(h)
        };
        let origin = format!(
            "{RECIPE}; kernel {} {}; busybox {}; agent {}; epoch {}",
            self.modules
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            hash(&self.kernel)?,
            hash(&self.busybox)?,
            hash(&self.agent)?,
            self.epoch()?,
        );
        if known != before {
            // Only a cache: if it cannot be written, the next check hashes again.
            if let Ok(bytes) = serde_json::to_vec(&known) {
                let _ = fs::write(cache, bytes);
            }
        }
        Ok(origin)
    }
}

/// `6.1.0-10-amd64` as numbers, so kernel versions sort as versions.
pub(crate) fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The outcome of [`build_default`] (and of `image build --debian`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "outcome", content = "manifest", rename_all = "lowercase")]
pub enum Built {
    /// An intact image made from the same ingredients was there already.
    Cached(Manifest),
    Fresh(Manifest),
}

impl Built {
    pub fn manifest(&self) -> &Manifest {
        match self {
            Built::Cached(m) | Built::Fresh(m) => m,
        }
    }
}

/// Builds the built-in image and registers it as `default`, unless an intact `default` made
/// from the same ingredients is already there (or `force`). `retain` is passed on to
/// [`Store::add`]: whether the image it replaces must stay for reproducing old batches.
/// `step` hears each step; `cancelled` is checked between them (then nothing is stored).
pub fn build_default(
    store: &Store,
    agent: &Path,
    force: bool,
    retain: &dyn Fn(&str) -> bool,
    step: &mut dyn FnMut(&str),
    cancelled: &dyn Fn() -> bool,
) -> Result<Built> {
    let ing = Ingredients::find(agent)?;
    let origin = ing.origin(&store.root().join("build-default.cache.json"))?;
    if !force
        && let Ok(m) = store.manifest(DEFAULT_IMAGE)
        && m.origin.as_deref() == Some(origin.as_str())
        && store.image(DEFAULT_IMAGE, false).is_ok()
    {
        return Ok(Built::Cached(m));
    }
    let mut next = |what: &str| {
        if cancelled() {
            return Err(Error::Interrupted(
                "the built-in image was not built".into(),
            ));
        }
        step(what);
        Ok(())
    };
    let work = tempfile::Builder::new()
        .prefix("build-default-")
        .tempdir_in(store.tmp_dir())
        .ctx("creating a build directory", &store.tmp_dir())?;
    next("writing the initramfs (busybox, kernel modules)")?;
    let initrd = work.path().join("initrd.cpio");
    write_initramfs(&ing, &initrd)?;
    next("staging the root file system (busybox, glibc, the agent)")?;
    let root = work.path().join("root");
    stage_root(&ing, &root)?;
    next("making the root disk")?;
    let id = Identity::derived(&origin, ing.epoch()?);
    let disk = root_disk(&root, ROOT_SIZE, work.path(), &id)?;
    next("storing the image")?;
    let spec = ImageSpec {
        disk,
        kernel: Some(ing.kernel.clone()),
        initrd: Some(initrd),
        append: Some(DEFAULT_APPEND.to_string()),
        memory_mib: None,
        cpus: None,
        origin: Some(origin),
        agent: crate::store::AgentKind::Snaprun,
    };
    Ok(Built::Fresh(store.add(DEFAULT_IMAGE, &spec, retain)?))
}

/// The root file system `root` as a qcow2 disk in `work`: an ext4 of `size` labelled
/// [`ROOT_LABEL`], made with `mke2fs -d` (no mounts, no loop devices) as `id` says, then
/// converted.
pub(crate) fn root_disk(root: &Path, size: &str, work: &Path, id: &Identity) -> Result<PathBuf> {
    let raw = work.join("root.ext4");
    ext4::make(root, &raw, size, ROOT_LABEL, id)?;
    let disk = work.join("root.qcow2");
    ext4::to_qcow2(&raw, &disk)?;
    // The qcow2 holds it all now; the raw image is as big as the file system.
    let _ = fs::remove_file(&raw);
    Ok(disk)
}

const INITRAMFS_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules); do insmod "/lib/modules/$m" 2>/dev/null; done
i=0
until root=$(findfs LABEL=snaprun-root 2>/dev/null); do
    i=$((i + 1))
    if [ $i -gt 200 ]; then
        echo "snaprun-initramfs: no disk labelled snaprun-root appeared" >/dev/console
        poweroff -f
    fi
    sleep 0.05
done
mkdir -p /newroot
if ! mount -t ext4 "$root" /newroot; then
    echo "snaprun-initramfs: cannot mount the root disk $root" >/dev/console
    poweroff -f
fi
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
"#;

/// The root's init: mounts the basics, then hands PID 1 to the agent, or with `snaprun.shell`
/// on the kernel command line gives a shell on the console (`snaprun repro --shell`).
const ROOT_INIT: &str = r#"#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
hostname snaprun
ip link set lo up 2>/dev/null
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        snaprun.shell) shell=1 ;;
        snaprun.iteration=*) export SNAPRUN_ITERATION="${arg#*=}" ;;
        snaprun.seed=*) export SNAPRUN_SEED="${arg#*=}" ;;
    esac
done
if [ -n "$shell" ]; then
    /usr/sbin/snaprun-agent --mount-code /work || echo "snaprun: no code snapshot mounted"
    cd /work 2>/dev/null || cd /
    echo "snaprun: shell in the guest (SNAPRUN_ITERATION=$SNAPRUN_ITERATION SNAPRUN_SEED=$SNAPRUN_SEED); exit to stop the VM"
    setsid cttyhack sh -l
    sync
    poweroff -f
fi
exec /usr/sbin/snaprun-agent
"#;

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).ctx("staging the image", parent)?;
    }
    fs::write(path, bytes).ctx("staging the image", path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).ctx("staging the image", path)
}

fn symlink(target: &str, link: &Path) -> Result<()> {
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent).ctx("staging the image", parent)?;
    }
    std::os::unix::fs::symlink(target, link).ctx("staging the image", link)
}

fn stage_root(ing: &Ingredients, root: &Path) -> Result<()> {
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib64",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "var/tmp",
        "root",
        "work",
    ] {
        fs::create_dir_all(root.join(d)).ctx("staging the image", &root.join(d))?;
    }
    for d in ["tmp", "var/tmp"] {
        fs::set_permissions(root.join(d), fs::Permissions::from_mode(0o1777))
            .ctx("staging the image", &root.join(d))?;
    }
    symlink("usr/lib", &root.join("lib"))?;
    symlink("usr/lib64", &root.join("lib64"))?;
    write_file(
        &root.join("bin/busybox"),
        &fs::read(&ing.busybox).ctx("reading", &ing.busybox)?,
        0o755,
    )?;
    let list = tools::run(
        ing.busybox.to_str().unwrap_or("busybox"),
        ["--list-full"],
        None,
    )?;
    for applet in String::from_utf8_lossy(&list).lines() {
        let link = root.join(applet);
        if applet != "bin/busybox" && !link.exists() && applet != "sbin/init" {
            symlink("/bin/busybox", &link)?;
        }
    }
    for lib in LIBS {
        let Some(src) = LIB_DIRS
            .iter()
            .map(|d| Path::new(d).join(lib))
            .find(|p| p.exists())
        else {
            if *lib == "libc.so.6" || *lib == "ld-linux-x86-64.so.2" {
                return Err(Error::ImageBuild(format!(
                    "the host has no {lib}; is this a glibc system?"
                )));
            }
            continue;
        };
        // fs::read follows the soname link to the real library.
        write_file(
            &root.join("usr/lib/x86_64-linux-gnu").join(lib),
            &fs::read(&src).ctx("reading", &src)?,
            0o755,
        )?;
    }
    symlink(
        "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        &root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )?;
    write_file(
        &root.join("usr/sbin/snaprun-agent"),
        &fs::read(&ing.agent).ctx("reading", &ing.agent)?,
        0o755,
    )?;
    write_file(&root.join("sbin/init"), ROOT_INIT.as_bytes(), 0o755)?;
    write_file(
        &root.join("etc/passwd"),
        b"root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    write_file(&root.join("etc/group"), b"root:x:0:\n", 0o644)?;
    write_file(&root.join("etc/hostname"), b"snaprun\n", 0o644)?;
    write_file(
        &root.join("etc/hosts"),
        b"127.0.0.1 localhost snaprun\n",
        0o644,
    )?;
    write_file(
        &root.join("etc/profile"),
        b"export PS1='snaprun:\\w# '\n",
        0o644,
    )?;
    Ok(())
}

/// The module files to load, dependencies first, as paths relative to the modules directory.
pub fn module_load_order(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<String>> {
    let dep_path = modules_dir.join("modules.dep");
    let text = fs::read_to_string(&dep_path).ctx("reading the kernel's module list", &dep_path)?;
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in text.lines() {
        let Some((path, rest)) = line.split_once(':') else {
            continue;
        };
        let name = module_name(path);
        deps.insert(
            name,
            (
                path.to_string(),
                rest.split_whitespace().map(module_name).collect(),
            ),
        );
    }
    fn visit(
        name: &str,
        deps: &BTreeMap<String, (String, Vec<String>)>,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) -> Result<()> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let (path, needs) = deps.get(name).ok_or_else(|| {
            Error::ImageBuild(format!("kernel module {name} is not in modules.dep"))
        })?;
        for n in needs {
            visit(n, deps, seen, out)?;
        }
        out.push(path.clone());
        Ok(())
    }
    let (mut seen, mut out) = (HashSet::new(), Vec::new());
    for w in wanted {
        visit(&w.replace('-', "_"), &deps, &mut seen, &mut out)?;
    }
    if let Some(p) = out.iter().find(|p| !p.ends_with(".ko")) {
        return Err(Error::ImageBuild(format!(
            "kernel module {p} is compressed; busybox insmod needs plain .ko files"
        )));
    }
    Ok(out)
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

fn write_initramfs(ing: &Ingredients, dest: &Path) -> Result<()> {
    let mut cpio = Cpio::default();
    for d in [
        "bin",
        "dev",
        "etc",
        "lib",
        "lib/modules",
        "newroot",
        "proc",
        "sys",
    ] {
        cpio.dir(d);
    }
    // The kernel opens /dev/console for init before anything is mounted.
    cpio.node("dev/console", libc::S_IFCHR | 0o600, 5, 1);
    cpio.file("init", 0o755, INITRAMFS_INIT.as_bytes());
    cpio.file(
        "bin/busybox",
        0o755,
        &fs::read(&ing.busybox).ctx("reading", &ing.busybox)?,
    );
    let order = module_load_order(&ing.modules, MODULES)?;
    let mut names = Vec::new();
    for rel in &order {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let src = ing.modules.join(rel);
        cpio.file(
            &format!("lib/modules/{name}"),
            0o644,
            &fs::read(&src).ctx("reading a kernel module", &src)?,
        );
        names.push(name);
    }
    cpio.file(
        "etc/modules",
        0o644,
        format!("{}\n", names.join("\n")).as_bytes(),
    );
    fs::write(dest, cpio.finish()).ctx("writing the initramfs", dest)
}

/// A minimal writer of the "newc" cpio format the kernel unpacks as an initramfs.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
    fn dir(&mut self, name: &str) {
        self.entry(name, libc::S_IFDIR | 0o755, (0, 0), &[]);
    }
    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, libc::S_IFREG | perm, (0, 0), data);
    }
    fn node(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.entry(name, mode, (major, minor), &[]);
    }
    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_load_after_their_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("modules.dep"),
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n\
             kernel/fs/jbd2/jbd2.ko:\nkernel/lib/crc16.ko:\nkernel/drivers/virtio_blk.ko: kernel/virtio.ko\nkernel/virtio.ko:\n",
        )
        .unwrap();
        let order = module_load_order(dir.path(), &["ext4", "virtio_blk"]).unwrap();
        assert_eq!(
            order,
            [
                "kernel/lib/crc16.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/virtio.ko",
                "kernel/drivers/virtio_blk.ko"
            ]
        );
        assert!(module_load_order(dir.path(), &["nope"]).is_err());
    }

    #[test]
    fn cpio_entries_are_aligned_and_terminated() {
        let mut c = Cpio::default();
        c.file("a", 0o644, b"xyz");
        let out = c.finish();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn kernel_versions_sort_numerically() {
        assert!(version_key("6.1.0-10-amd64") > version_key("6.1.0-9-amd64"));
    }
}
