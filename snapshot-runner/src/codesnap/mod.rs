//! Content-addressed snapshots of a workspace, handed to the guest as a read-only ext4 disk.
//!
//! ```text
//! <store>/code/blobs/<aa>/<sha256>[.x]   file contents, mode 0444 (0555 with `.x`)
//! <store>/code/trees/<hash>.json         one snapshot: every path with its blob or link target
//! <store>/code/disks/<hash>.v2.ext4      the snapshot as an ext4 file system (label snaprun-code)
//! <store>/code/index/<workspace>.json    stat cache, so an unchanged tree re-snapshots fast
//! ```
//! A snapshot never follows a symlink: links are stored as links, and a link that points out of
//! the workspace is left out (and reported).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::store::{Store, hex, write_atomically};
use crate::tools;

/// The label the guest agent looks for to find the code disk.
pub const CODE_LABEL: &str = "snaprun-code";
/// How the code disk of snapshot `<hash>` is named in `code/disks/` (`<hash>.v2.ext4`).
pub const DISK_SUFFIX: &str = ".v2.ext4";

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Globs (relative to the workspace) of files to add even if git ignores them, e.g. build
    /// outputs under `target/`.
    pub include: Vec<String>,
    /// Globs of files to leave out.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    File {
        sha256: String,
        size: u64,
        exec: bool,
    },
    Link {
        target: String,
    },
}

/// One frozen state of a workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tree {
    pub hash: String,
    pub workspace: PathBuf,
    pub entries: BTreeMap<String, Entry>,
    /// Symlinks left out because they point out of the workspace.
    #[serde(default)]
    pub skipped_links: Vec<String>,
}

impl Tree {
    pub fn bytes(&self) -> u64 {
        self.entries
            .values()
            .map(|e| {
                if let Entry::File { size, .. } = e {
                    *size
                } else {
                    0
                }
            })
            .sum()
    }
}

/// Stat data that, unchanged, lets a file's hash be reused without reading it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    sha256: String,
    exec: bool,
}

fn stamp_matches(s: &Stamp, m: &fs::Metadata) -> bool {
    s.size == m.len()
        && s.mtime_ns == m.mtime() * 1_000_000_000 + m.mtime_nsec()
        && s.ctime_ns == m.ctime() * 1_000_000_000 + m.ctime_nsec()
        && s.ino == m.ino()
        && s.exec == (m.mode() & 0o111 != 0)
}

/// Snapshots `workspace` into the store's blob store and returns its tree.
pub fn snapshot(store: &Store, workspace: &Path, selection: &Selection) -> Result<Tree> {
    let root = fs::canonicalize(workspace).ctx("opening the workspace", workspace)?;
    if !root.is_dir() {
        return Err(Error::Workspace(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let started = SystemTime::now();
    let code = store.code_dir();
    for d in ["blobs", "trees", "disks", "index"] {
        fs::create_dir_all(code.join(d)).ctx("creating the code store", &code.join(d))?;
    }
    let paths = select_paths(&root, selection)?;
    let index_path = code.join("index").join(format!(
        "{}.json",
        short_hash(root.as_os_str().as_encoded_bytes())
    ));
    let old_index: HashMap<String, Stamp> = fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();

    let mut entries = BTreeMap::new();
    let mut skipped_links = Vec::new();
    let mut to_hash = Vec::new();
    let mut index = HashMap::new();
    for rel in paths {
        let abs = root.join(&rel);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(m) => m,
            // Listed by git but deleted since: it is not part of the tree as it is now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("reading", &abs, e)),
        };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&abs).ctx("reading the symlink", &abs)?;
            if link_stays_inside(Path::new(&rel), &target) {
                entries.insert(
                    rel,
                    Entry::Link {
                        target: target.to_string_lossy().into_owned(),
                    },
                );
            } else {
                skipped_links.push(rel);
            }
        } else if meta.is_file() {
            let exec = meta.mode() & 0o111 != 0;
            match old_index.get(&rel) {
                Some(s)
                    if stamp_matches(s, &meta) && blob_path(store, &s.sha256, exec).exists() =>
                {
                    entries.insert(
                        rel.clone(),
                        Entry::File {
                            sha256: s.sha256.clone(),
                            size: s.size,
                            exec,
                        },
                    );
                    index.insert(rel, s.clone());
                }
                _ => to_hash.push((rel, meta)),
            }
        }
    }

    // Read and store changed files on a few threads: hashing dominates a cold snapshot.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let chunk = to_hash.len().div_ceil(workers).max(1);
    let hashed: Vec<Result<Vec<(String, Stamp)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = to_hash
            .chunks(chunk)
            .map(|files| {
                let root = &root;
                s.spawn(move || {
                    files
                        .iter()
                        .map(|(rel, meta)| {
                            let exec = meta.mode() & 0o111 != 0;
                            let sha256 = store_blob(store, &root.join(rel), exec)?;
                            Ok((rel.clone(), stamp(meta, sha256, exec)))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a snapshot worker panicked".into())))
            })
            .collect()
    });
    let racy_after = started
        .checked_sub(Duration::from_secs(2))
        .unwrap_or(started);
    let racy_ns = racy_after
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    for batch in hashed {
        for (rel, st) in batch? {
            entries.insert(
                rel.clone(),
                Entry::File {
                    sha256: st.sha256.clone(),
                    size: st.size,
                    exec: st.exec,
                },
            );
            // A file modified just before the snapshot could change again within the same
            // timestamp tick; only trust its stamp once it has been quiet for a while.
            if st.mtime_ns < racy_ns {
                index.insert(rel, st);
            }
        }
    }
    let hash = tree_hash(&entries);
    let tree = Tree {
        hash,
        workspace: root,
        entries,
        skipped_links,
    };
    let tree_path = code.join("trees").join(format!("{}.json", tree.hash));
    if !tree_path.exists() {
        write_atomically(
            &tree_path,
            &serde_json::to_vec(&tree)
                .map_err(|e| Error::Workspace(format!("cannot write the snapshot: {e}")))?,
            &store.tmp_dir(),
        )?;
    }
    // The index is only a cache: failing to write it costs speed next time, nothing else.
    if let Ok(bytes) = serde_json::to_vec(&index) {
        let _ = write_atomically(&index_path, &bytes, &store.tmp_dir());
    }
    Ok(tree)
}

fn stamp(m: &fs::Metadata, sha256: String, exec: bool) -> Stamp {
    Stamp {
        size: m.len(),
        mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        ino: m.ino(),
        sha256,
        exec,
    }
}

/// How a path differs between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", content = "path", rename_all = "lowercase")]
pub enum Change {
    Added(String),
    Modified(String),
    Removed(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(p) => write!(f, "+{p}"),
            Change::Modified(p) => write!(f, "{p}"),
            Change::Removed(p) => write!(f, "-{p}"),
        }
    }
}

/// The paths that differ from `old` to `new`, in path order.
pub fn diff(old: &Tree, new: &Tree) -> Vec<Change> {
    let mut out = Vec::new();
    for (path, e) in &new.entries {
        match old.entries.get(path) {
            None => out.push(Change::Added(path.clone())),
            Some(o) if o != e => out.push(Change::Modified(path.clone())),
            Some(_) => {}
        }
    }
    for path in old.entries.keys() {
        if !new.entries.contains_key(path) {
            out.push(Change::Removed(path.clone()));
        }
    }
    out.sort_by(|a, b| {
        let key = |c: &Change| match c {
            Change::Added(p) | Change::Modified(p) | Change::Removed(p) => p.clone(),
        };
        key(a).cmp(&key(b))
    });
    out
}

/// A previously taken snapshot.
pub fn load_tree(store: &Store, hash: &str) -> Result<Tree> {
    let path = store.code_dir().join("trees").join(format!("{hash}.json"));
    let bytes = fs::read(&path).ctx("reading the code snapshot", &path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Workspace(format!("snapshot {} is damaged: {e}", path.display())))
}

fn tree_hash(entries: &BTreeMap<String, Entry>) -> String {
    let mut h = Sha256::new();
    h.update(b"snaprun-tree-v1\n");
    for (path, e) in entries {
        match e {
            Entry::File { sha256, exec, .. } => {
                h.update(format!("F {} {sha256} {path}\0", u8::from(*exec)))
            }
            Entry::Link { target } => h.update(format!("L {target} {path}\0")),
        }
    }
    hex(&h.finalize())
}

fn short_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))[..16].to_string()
}

/// The blobs snapshot `tree` is made of.
pub fn blob_paths(store: &Store, tree: &Tree) -> Vec<PathBuf> {
    tree.entries
        .values()
        .filter_map(|e| match e {
            Entry::File { sha256, exec, .. } => Some(blob_path(store, sha256, *exec)),
            Entry::Link { .. } => None,
        })
        .collect()
}

fn blob_path(store: &Store, sha256: &str, exec: bool) -> PathBuf {
    let name = if exec {
        format!("{sha256}.x")
    } else {
        sha256.to_string()
    };
    store.code_dir().join("blobs").join(&sha256[..2]).join(name)
}

/// Files up to this size are read whole and hashed before anything is written, so one whose
/// content is stored already (its stat data changed, or the stat cache is gone) costs no write.
/// Larger ones are copied to a temporary file as they are hashed.
const READ_WHOLE: u64 = 1 << 20;

/// Stores `src` in the blob store and returns its hash. The blob is exactly the bytes hashed,
/// even if the file is being edited meanwhile.
fn store_blob(store: &Store, src: &Path, exec: bool) -> Result<String> {
    let mut input = fs::File::open(src).ctx("reading", src)?;
    let mut head = Vec::new();
    (&mut input)
        .take(READ_WHOLE + 1)
        .read_to_end(&mut head)
        .ctx("reading", src)?;
    let mut h = Sha256::new();
    h.update(&head);
    let mut copied = None;
    if head.len() as u64 > READ_WHOLE {
        let mut tmp = temp_blob(store, &head)?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = input.read(&mut buf).ctx("reading", src)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .ctx("storing a code blob", tmp.path())?;
        }
        copied = Some(tmp);
    }
    let sha256 = hex(&h.finalize());
    let dest = blob_path(store, &sha256, exec);
    if dest.exists() {
        return Ok(sha256);
    }
    let tmp = match copied {
        Some(tmp) => tmp,
        None => temp_blob(store, &head)?,
    };
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).ctx("creating the blob store", dir)?;
    }
    let mode = if exec { 0o555 } else { 0o444 };
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .ctx("storing a code blob", tmp.path())?;
    tmp.persist(&dest)
        .map_err(|e| Error::io("storing a code blob", &dest, e.error))?;
    Ok(sha256)
}

/// A temporary file in the store holding `bytes`, to be renamed into the blob store.
fn temp_blob(store: &Store, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::NamedTempFile::new_in(store.tmp_dir())
        .ctx("creating a temporary file", &store.tmp_dir())?;
    tmp.write_all(bytes)
        .ctx("storing a code blob", tmp.path())?;
    Ok(tmp)
}

/// Whether a link at `rel` (relative to the workspace) to `target` resolves inside it, judged
/// lexically: the link is never followed.
fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Relative paths of the files, links and (for walked trees) everything selected.
fn select_paths(root: &Path, sel: &Selection) -> Result<Vec<String>> {
    let glob_set = |globs: &[String]| -> Result<Option<globset::GlobSet>> {
        if globs.is_empty() {
            return Ok(None);
        }
        let mut b = globset::GlobSetBuilder::new();
        for g in globs {
            let glob = globset::GlobBuilder::new(g)
                .literal_separator(false)
                .build()
                .map_err(|e| Error::Usage(format!("bad glob `{g}`: {e}")))?;
            b.add(glob);
        }
        Ok(Some(
            b.build()
                .map_err(|e| Error::Usage(format!("bad globs: {e}")))?,
        ))
    };
    let include = glob_set(&sel.include)?;
    let exclude = glob_set(&sel.exclude)?;

    let mut paths = match git_files(root)? {
        Some(listed) => {
            // A listed directory is a submodule or nested repository: take its files too.
            let mut out = Vec::new();
            for rel in listed {
                let abs = root.join(&rel);
                match fs::symlink_metadata(&abs) {
                    Ok(m) if m.is_dir() => walk(root, &abs, &mut out)?,
                    _ => out.push(rel),
                }
            }
            out
        }
        None => {
            let mut out = Vec::new();
            walk(root, root, &mut out)?;
            out
        }
    };
    if let Some(inc) = &include {
        let mut all = Vec::new();
        walk(root, root, &mut all)?;
        paths.extend(all.into_iter().filter(|p| inc.is_match(p)));
    }
    if let Some(exc) = &exclude {
        paths.retain(|p| !exc.is_match(p));
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// `git ls-files -co --exclude-standard` when `root` is inside a git work tree, else `None`.
fn git_files(root: &Path) -> Result<Option<Vec<String>>> {
    if !tools::exists("git") {
        return Ok(None);
    }
    let inside = tools::run(
        "git",
        [
            "-C".as_ref(),
            root.as_os_str(),
            "rev-parse".as_ref(),
            "--is-inside-work-tree".as_ref(),
        ],
        None,
    );
    if !matches!(inside, Ok(ref out) if out.starts_with(b"true")) {
        return Ok(None);
    }
    let out = tools::run(
        "git",
        [
            "-C".as_ref(),
            root.as_os_str(),
            "ls-files".as_ref(),
            "-z".as_ref(),
            "-co".as_ref(),
            "--exclude-standard".as_ref(),
        ],
        None,
    )?;
    let mut paths = Vec::new();
    for raw in out.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let p = std::str::from_utf8(raw).map_err(|_| {
            Error::Workspace(format!(
                "path `{}` is not valid UTF-8; leave it out with --exclude",
                String::from_utf8_lossy(raw)
            ))
        })?;
        paths.push(p.to_string());
    }
    Ok(Some(paths))
}

/// Every file and symlink under `dir`, relative to `root`, without following links. `.git`
/// directories are skipped.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).ctx("listing", dir)? {
        let entry = entry.ctx("listing", dir)?;
        let ft = entry.file_type().ctx("reading", &entry.path())?;
        let path = entry.path();
        if ft.is_dir() {
            if entry.file_name() != ".git" {
                walk(root, &path, out)?;
            }
        } else if ft.is_file() || ft.is_symlink() {
            // Walked from `root`, so every path is under it.
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_str().ok_or_else(|| {
                Error::Workspace(format!(
                    "path {} is not valid UTF-8; leave it out with --exclude",
                    rel.display()
                ))
            })?;
            out.push(rel.to_string());
        }
    }
    Ok(())
}

/// The snapshot as a read-only ext4 disk image, built with `mke2fs -d` on first use and cached
/// by the snapshot's hash.
pub fn disk(store: &Store, tree: &Tree) -> Result<PathBuf> {
    let dest = store
        .code_dir()
        .join("disks")
        .join(format!("{}{DISK_SUFFIX}", tree.hash));
    if dest.exists() {
        return Ok(dest);
    }
    let staging = tempfile::Builder::new()
        .prefix("code-")
        .tempdir_in(store.tmp_dir())
        .ctx("creating a staging directory", &store.tmp_dir())?;
    let top = staging.path().join("root");
    fs::create_dir(&top).ctx("creating a staging directory", &top)?;
    let mut dirs = 1u64;
    for (rel, e) in &tree.entries {
        let path = top.join(rel);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            fs::create_dir_all(parent).ctx("staging the code snapshot", parent)?;
            dirs += Path::new(rel).components().count() as u64;
        }
        match e {
            // Hard links: the staging tree costs no copy, and mke2fs reads the blob itself.
            Entry::File { sha256, exec, .. } => {
                let blob = blob_path(store, sha256, *exec);
                fs::hard_link(&blob, &path).ctx("staging the code snapshot", &path)?;
            }
            Entry::Link { target } => {
                std::os::unix::fs::symlink(target, &path)
                    .ctx("staging the code snapshot", &path)?;
            }
        }
    }
    let blocks: u64 = tree
        .entries
        .values()
        .map(|e| {
            if let Entry::File { size, .. } = e {
                size.div_ceil(4096) + 1
            } else {
                1
            }
        })
        .sum();
    let inodes = tree.entries.len() as u64 + dirs + 64;
    let size_mib = ((blocks + inodes / 8 + dirs) * 4096 * 11 / 10).div_ceil(1 << 20) + 16;
    let tmp_img = staging.path().join("code.ext4");
    tools::run(
        "mke2fs",
        [
            "-q".as_ref(),
            "-F".as_ref(),
            "-t".as_ref(),
            "ext4".as_ref(),
            "-b".as_ref(),
            "4096".as_ref(),
            "-I".as_ref(),
            "256".as_ref(),
            "-N".as_ref(),
            inodes.to_string().as_ref(),
            "-m".as_ref(),
            "0".as_ref(),
            "-O".as_ref(),
            "^has_journal".as_ref(),
            "-E".as_ref(),
            "root_owner=0:0".as_ref(),
            "-L".as_ref(),
            CODE_LABEL.as_ref(),
            "-d".as_ref(),
            top.as_os_str(),
            tmp_img.as_os_str(),
            format!("{size_mib}M").as_ref(),
        ],
        Some(&tmp_img),
    )?;
    // lost+found is not part of the snapshot, and hiding it in the guest costs a write there.
    tools::run(
        "debugfs",
        [
            "-w".as_ref(),
            "-R".as_ref(),
            "rmdir lost+found".as_ref(),
            tmp_img.as_os_str(),
        ],
        Some(&tmp_img),
    )?;
    fs::set_permissions(&tmp_img, fs::Permissions::from_mode(0o444))
        .ctx("making the code disk read-only", &tmp_img)?;
    fs::rename(&tmp_img, &dest).ctx("storing the code disk", &dest)?;
    Ok(dest)
}

#[cfg(test)]
mod tests;
