//! The image store: frozen disks, kernels and initrds kept by content hash, read-only, with a
//! manifest per image name. Also owns the store's directory layout.
//!
//! ```text
//! <root>/images/objects/<sha256>   disk, kernel and initrd files, mode 0444, never written again
//! <root>/images/<name>.json        manifest: which objects, kernel command line, memory, CPUs
//! <root>/code/                     code snapshots (see `codesnap`)
//! <root>/runs/<batch>/             per-iteration overlays; only kept failures outlive a batch
//! <root>/results.db                batches and iterations (see `results`)
//! <root>/kvm-probe                 whether KVM works here, per host boot (see `qemu::choose_accel`)
//! <root>/store.lock                held shared by work that adds to the store, exclusive by gc
//! <root>/tmp/                      scratch space of work in progress (gc empties it)
//! ```

mod lock;
mod manifest;
mod usage;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

pub use self::lock::StoreLock;
use self::manifest::validate_name;
pub use self::manifest::{
    AgentKind, DEFAULT_CPUS, DEFAULT_IMAGE, DEFAULT_MEMORY_MIB, Image, ImageSpec, Manifest, Object,
    SavedState, Warm, WarmFiles, hex, image_hash, warm_hash,
};
pub use self::usage::{Part, PartUsage, allocated};
use crate::error::{Error, IoContext, Result};
use crate::tools;

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The default store: `$XDG_DATA_HOME/snaprun` (usually `~/.local/share/snaprun`).
    pub fn default_root() -> Result<PathBuf> {
        directories::ProjectDirs::from("", "retrace", "snaprun")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or_else(|| {
                Error::Usage(
                    "cannot find a home directory for the snaprun store; pass --store DIR or set \
                     SNAPRUN_STORE"
                        .into(),
                )
            })
    }

    /// Opens (creating if needed) the store at `root`, or the default store.
    pub fn open(root: Option<&Path>) -> Result<Store> {
        let root = match root {
            Some(r) => r.to_path_buf(),
            None => Store::default_root()?,
        };
        let store = Store::at(root);
        for dir in [
            store.objects_dir(),
            store.code_dir(),
            store.runs_dir(),
            store.tmp_dir(),
        ] {
            fs::create_dir_all(&dir).ctx("creating the store directory", &dir)?;
        }
        Ok(store)
    }

    /// The store at `root` as it is, creating nothing (for tools that only read it).
    pub fn at(root: PathBuf) -> Store {
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub(crate) fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }
    fn objects_dir(&self) -> PathBuf {
        self.images_dir().join("objects")
    }
    pub fn code_dir(&self) -> PathBuf {
        self.root.join("code")
    }
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
    /// Scratch space on the store's own file system, so finished files can be renamed into place.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn results_db(&self) -> PathBuf {
        self.root.join("results.db")
    }
    pub fn kvm_probe_cache(&self) -> PathBuf {
        self.root.join("kvm-probe")
    }
    /// Replaced images kept by hash, for reproducing the batches that ran on them.
    fn retired_dir(&self) -> PathBuf {
        self.images_dir().join("retired")
    }
    fn manifest_path(&self, name: &str) -> PathBuf {
        self.images_dir().join(format!("{name}.json"))
    }
    pub(crate) fn object_path(&self, sha256: &str) -> PathBuf {
        self.objects_dir().join(sha256)
    }

    /// The files in the object store, by name (their content hash, for those snaprun stored).
    pub fn objects(&self) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.objects_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx("listing image files", &dir)? {
            let e = e.ctx("listing image files", &dir)?;
            out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
        out.sort();
        Ok(out)
    }

    /// The replaced images kept by hash, each with its manifest's path (see [`Store::retired`]).
    pub fn retired_files(&self) -> Result<Vec<(Manifest, PathBuf)>> {
        let dir = self.retired_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.ctx("listing retired images", &dir)?.path();
            let bytes = fs::read(&path).ctx("reading a retired image", &path)?;
            let m =
                serde_json::from_slice::<Manifest>(&bytes).map_err(|e| Error::ImageCorrupt {
                    name: path.display().to_string(),
                    detail: format!("its manifest is not valid: {e}"),
                })?;
            out.push((m, path));
        }
        Ok(out)
    }

    /// Registers `spec` as image `name`: copies its files in by content hash, read-only.
    /// An existing image of that name is replaced.
    ///
    /// `retain(hash)` says whether a replaced image must stay bootable by its hash (batches
    /// that ran on it have failures to reproduce): then it is kept as a retired image, else
    /// its files that no other image uses are removed.
    pub fn add(
        &self,
        name: &str,
        spec: &ImageSpec,
        retain: &dyn Fn(&str) -> bool,
    ) -> Result<Manifest> {
        validate_name(name)?;
        check_qcow2(&spec.disk)?;
        if spec.initrd.is_some() && spec.kernel.is_none() {
            return Err(Error::Usage("--initrd needs --kernel".into()));
        }
        if spec.append.is_some() && spec.kernel.is_none() {
            return Err(Error::Usage("--append needs --kernel".into()));
        }
        let disk = self.add_object(&spec.disk)?;
        let kernel = spec
            .kernel
            .as_deref()
            .map(|k| self.add_object(k))
            .transpose()?;
        let initrd = spec
            .initrd
            .as_deref()
            .map(|i| self.add_object(i))
            .transpose()?;
        let mut manifest = Manifest {
            name: name.to_string(),
            hash: String::new(),
            disk,
            kernel,
            initrd,
            append: spec.append.clone(),
            memory_mib: spec.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB),
            cpus: spec.cpus.unwrap_or(DEFAULT_CPUS),
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            origin: spec.origin.clone(),
            agent: spec.agent,
            warm: None,
        };
        manifest.hash = image_hash(&manifest);
        self.write_manifest(name, manifest, retain)
    }

    /// Writes `manifest` as image `name`, dealing with the image it replaces (see [`Store::add`]).
    fn write_manifest(
        &self,
        name: &str,
        manifest: Manifest,
        retain: &dyn Fn(&str) -> bool,
    ) -> Result<Manifest> {
        let json = manifest_json(&manifest)?;
        let replaced = self.manifest(name).ok();
        write_atomically(&self.manifest_path(name), &json, &self.tmp_dir())?;
        match replaced {
            Some(old) if old.hash != manifest.hash && retain(&old.hash) => {
                let dir = self.retired_dir();
                fs::create_dir_all(&dir).ctx("creating the retired images directory", &dir)?;
                let json = manifest_json(&old)?;
                write_atomically(
                    &dir.join(format!("{}.json", old.hash)),
                    &json,
                    &self.tmp_dir(),
                )?;
            }
            // Another image, or the same one with a new or no warm state: files the old one
            // had may be unused now.
            Some(old) => self.remove_unused_objects(&old)?,
            None => {}
        }
        Ok(manifest)
    }

    /// Registers a warm state of image `from` (saved by [`crate::warm`]) under `name`: `from`
    /// itself, or a new image that boots like `from` and also has the warm state. The state and
    /// layer files are moved into the object store, read-only.
    pub fn add_warm(
        &self,
        from: &Manifest,
        name: &str,
        saved: &SavedState,
        retain: &dyn Fn(&str) -> bool,
    ) -> Result<Manifest> {
        validate_name(name)?;
        let state = self.add_object(saved.state)?;
        let layer = self.add_object(saved.layer)?;
        let mut warm = Warm {
            hash: String::new(),
            image_hash: from.hash.clone(),
            state,
            layer,
            qemu_version: saved.qemu_version.to_string(),
            accel: saved.accel.to_string(),
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        warm.hash = warm_hash(&warm);
        let mut manifest = from.clone();
        manifest.name = name.to_string();
        manifest.warm = Some(warm);
        // `retain` matters only when `name` was another image (`--as` an existing name).
        self.write_manifest(name, manifest, retain)
    }

    /// Copies `src` into the object store (hashing on the way); a copy of content that is
    /// there already is dropped.
    fn add_object(&self, src: &Path) -> Result<Object> {
        let mut input = fs::File::open(src).ctx("opening", src)?;
        let tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())
            .ctx("creating a temporary file in the store", &self.tmp_dir())?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        loop {
            let n = input.read(&mut buf).ctx("reading", src)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .ctx("copying an image file into the store", tmp.path())?;
        }
        out.flush()
            .ctx("copying an image file into the store", tmp.path())?;
        drop(out);
        let sha256 = hex(&hasher.finalize());
        let dest = self.object_path(&sha256);
        if !dest.exists() {
            tmp.as_file()
                .sync_all()
                .ctx("copying an image file into the store", tmp.path())?;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444))
                .ctx("making an object read-only", tmp.path())?;
            tmp.persist(&dest)
                .map_err(|e| Error::io("storing", &dest, e.error))?;
        }
        let meta = fs::metadata(&dest).ctx("reading", &dest)?;
        Ok(Object {
            sha256,
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        })
    }

    /// Every image manifest, sorted by name.
    pub fn list(&self) -> Result<Vec<Manifest>> {
        let dir = self.images_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("listing images", &dir)? {
            let path = entry.ctx("listing images", &dir)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                out.push(self.manifest(&name)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The manifest of image `name`.
    pub fn manifest(&self, name: &str) -> Result<Manifest> {
        validate_name(name)?;
        let path = self.manifest_path(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::ImageNotFound {
                    name: name.to_string(),
                    built_in: name == DEFAULT_IMAGE,
                });
            }
            Err(e) => return Err(Error::io("reading the image manifest", &path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::ImageCorrupt {
            name: name.to_string(),
            detail: format!("its manifest {} is not valid: {e}", path.display()),
        })
    }

    /// Image `name`, checked: every object exists with its recorded size and mtime, and with
    /// `full` every object is re-hashed too. A base modified behind snaprun's back is refused.
    pub fn image(&self, name: &str, full: bool) -> Result<Image> {
        self.checked(self.manifest(name)?, full)
    }

    /// Replaced images kept for reproduction (see [`Store::add`]).
    pub fn retired(&self) -> Result<Vec<Manifest>> {
        let dir = self.retired_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.ctx("listing retired images", &dir)?.path();
            if let Ok(m) = fs::read(&path).map(|b| serde_json::from_slice::<Manifest>(&b)) {
                out.push(m.map_err(|e| Error::ImageCorrupt {
                    name: path.display().to_string(),
                    detail: format!("its manifest is not valid: {e}"),
                })?);
            }
        }
        Ok(out)
    }

    /// The image with content hash `hash`, current or retired, checked like [`Store::image`].
    pub fn image_by_hash(&self, hash: &str) -> Result<Option<Image>> {
        let found = self
            .list()?
            .into_iter()
            .chain(self.retired()?)
            .find(|m| m.hash == hash);
        found.map(|m| self.checked(m, false)).transpose()
    }

    fn checked(&self, manifest: Manifest, full: bool) -> Result<Image> {
        let name = manifest.name.clone();
        let name = name.as_str();
        if image_hash(&manifest) != manifest.hash {
            return Err(Error::ImageModified {
                name: name.to_string(),
                detail: "its manifest was edited".into(),
            });
        }
        let check = |obj: &Object| self.check_object(name, obj, full);
        let disk = check(&manifest.disk)?;
        let kernel = manifest.kernel.as_ref().map(check).transpose()?;
        let initrd = manifest.initrd.as_ref().map(check).transpose()?;
        let warm = match &manifest.warm {
            Some(w) => {
                if warm_hash(w) != w.hash || w.image_hash != manifest.hash {
                    return Err(Error::ImageModified {
                        name: name.to_string(),
                        detail: "its warm state's record was edited".into(),
                    });
                }
                Some(WarmFiles {
                    meta: w.clone(),
                    state: check(&w.state)?,
                    layer: check(&w.layer)?,
                })
            }
            None => None,
        };
        Ok(Image {
            manifest,
            disk,
            kernel,
            initrd,
            warm,
        })
    }

    fn check_object(&self, name: &str, obj: &Object, full: bool) -> Result<PathBuf> {
        let path = self.object_path(&obj.sha256);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::ImageCorrupt {
                    name: name.to_string(),
                    detail: format!("its file {} is missing", path.display()),
                });
            }
            Err(e) => return Err(Error::io("checking an image file", &path, e)),
        };
        let modified = |detail: String| Error::ImageModified {
            name: name.to_string(),
            detail,
        };
        if meta.len() != obj.size {
            return Err(modified(format!(
                "{} is {} bytes, was {}",
                path.display(),
                meta.len(),
                obj.size
            )));
        }
        if mtime_ns(&meta) != obj.mtime_ns {
            return Err(modified(format!(
                "{} has a new modification time",
                path.display()
            )));
        }
        if meta.permissions().mode() & 0o222 != 0 {
            return Err(modified(format!("{} was made writable", path.display())));
        }
        if full {
            let actual = sha256_file(&path)?;
            if actual != obj.sha256 {
                return Err(modified(format!(
                    "{} hashes to {actual}, expected {}",
                    path.display(),
                    obj.sha256
                )));
            }
        }
        Ok(path)
    }

    /// Re-hashes every object of image `name` and checks the disk's qcow2 structure.
    pub fn verify(&self, name: &str) -> Result<Image> {
        let image = self.image(name, true)?;
        check_qcow2(&image.disk).map_err(|e| Error::ImageCorrupt {
            name: name.to_string(),
            detail: e.to_string(),
        })?;
        if let Some(w) = &image.warm
            && !is_qemu_state_file(&w.state)
        {
            return Err(Error::ImageCorrupt {
                name: name.to_string(),
                detail: format!(
                    "its warm state {} is not a QEMU state file",
                    w.state.display()
                ),
            });
        }
        Ok(image)
    }

    /// Removes image `name`, and each of its objects that no other image uses.
    pub fn remove(&self, name: &str) -> Result<()> {
        let manifest = match self.manifest(name) {
            Ok(m) => Some(m),
            // A manifest that no longer parses can still be removed; which files it named is
            // unknown, so they stay.
            Err(Error::ImageCorrupt { .. }) => None,
            Err(e) => return Err(e),
        };
        let path = self.manifest_path(name);
        fs::remove_file(&path).ctx("removing the image manifest", &path)?;
        match manifest {
            Some(m) => self.remove_unused_objects(&m),
            None => Ok(()),
        }
    }

    /// Deletes each object of `old` that no image uses any more.
    fn remove_unused_objects(&self, old: &Manifest) -> Result<()> {
        let mut users = self.list()?;
        users.extend(self.retired()?);
        let still_used: Vec<String> = users
            .iter()
            .flat_map(objects_of)
            .map(|o| o.sha256.clone())
            .collect();
        for obj in objects_of(old) {
            if !obj.sha256.is_empty() && !still_used.contains(&obj.sha256) {
                let p = self.object_path(&obj.sha256);
                if let Err(e) = fs::remove_file(&p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(Error::io("removing an image file", &p, e));
                }
            }
        }
        Ok(())
    }
}

fn manifest_json(m: &Manifest) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(m).map_err(|e| Error::ImageCorrupt {
        name: m.name.clone(),
        detail: format!("its manifest cannot be written: {e}"),
    })
}

/// The objects image `m` is made of: disk, kernel, initrd, warm state and layer.
pub fn objects_of(m: &Manifest) -> Vec<&Object> {
    std::iter::once(&m.disk)
        .chain(m.kernel.as_ref())
        .chain(m.initrd.as_ref())
        .chain(m.warm.iter().flat_map(|w| [&w.state, &w.layer]))
        .collect()
}

/// Refuses anything but a self-contained, structurally sound qcow2 file.
pub fn check_qcow2(disk: &Path) -> Result<()> {
    if !disk.is_file() {
        return Err(Error::Usage(format!(
            "disk image {} does not exist",
            disk.display()
        )));
    }
    let info = tools::run(
        "qemu-img",
        ["info".as_ref(), "--output=json".as_ref(), disk.as_os_str()],
        None,
    )
    .map_err(|e| {
        Error::Usage(format!(
            "{} is not a disk image QEMU can read: {e}",
            disk.display()
        ))
    })?;
    let info: serde_json::Value = serde_json::from_slice(&info)
        .map_err(|e| Error::Qemu(format!("qemu-img info printed invalid JSON: {e}")))?;
    let format = info["format"].as_str().unwrap_or("unknown");
    if format != "qcow2" {
        return Err(Error::Usage(format!(
            "{} is a {format} image, not qcow2; convert it with `qemu-img convert -O qcow2 {} OUT.qcow2`",
            disk.display(),
            disk.display()
        )));
    }
    if let Some(backing) = info["backing-filename"].as_str() {
        return Err(Error::Usage(format!(
            "{} has a backing file ({backing}); flatten it with `qemu-img convert -O qcow2 {} OUT.qcow2`",
            disk.display(),
            disk.display()
        )));
    }
    tools::run(
        "qemu-img",
        [
            "check".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            disk.as_os_str(),
        ],
        None,
    )
    .map_err(|e| Error::Usage(format!("{} is a damaged qcow2 image: {e}", disk.display())))?;
    Ok(())
}

/// Whether `path` is a device and memory state QEMU wrote (it starts with the migration
/// stream's magic).
pub fn is_qemu_state_file(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"QEVM"
}

pub fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// The sha256 of a file's content, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).ctx("opening", path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ctx("reading", path)?;
        if n == 0 {
            return Ok(hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// Writes `bytes` to `dest` through a temporary file in `tmp_dir` and a rename, so a reader
/// never sees half a file and a full disk leaves the old one intact.
pub fn write_atomically(dest: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    let mut tmp =
        tempfile::NamedTempFile::new_in(tmp_dir).ctx("creating a temporary file", tmp_dir)?;
    tmp.write_all(bytes).ctx("writing", dest)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).ctx("writing", dest)?;
    tmp.as_file().sync_all().ctx("writing", dest)?;
    tmp.persist(dest)
        .map_err(|e| Error::io("writing", dest, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_whose_manifest_does_not_parse_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        let manifest = store.manifest_path("broken");
        fs::write(&manifest, b"{ not json").unwrap();
        assert!(matches!(
            store.image("broken", false),
            Err(Error::ImageCorrupt { .. })
        ));
        store.remove("broken").unwrap();
        assert!(!manifest.exists());
        assert!(matches!(
            store.remove("broken"),
            Err(Error::ImageNotFound { .. })
        ));
    }
}
