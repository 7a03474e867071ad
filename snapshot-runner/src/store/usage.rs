//! Where the store's space goes, part by part (`snaprun store`).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Store, objects_of};
use crate::error::Result;

/// The parts of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// The images' disks, kernels, initrds and warm states, and their manifests.
    Images,
    /// Replaced images kept for the failures of batches that ran on them.
    RetiredImages,
    /// Image files no image uses (an interrupted `image add`).
    UnusedImageFiles,
    /// Files of workspaces' snapshots.
    CodeBlobs,
    /// Snapshots (the list of a snapshot's files) and the stat caches that speed them up.
    CodeSnapshots,
    /// Snapshots as ext4 disks.
    CodeDisks,
    /// Kept overlays and console logs of failed iterations (and of running ones).
    Runs,
    /// The results database.
    Results,
    /// Work in progress, or leftovers of interrupted work.
    Scratch,
    /// Everything else (caches, the lock).
    Other,
}

impl Part {
    pub fn describe(self) -> &'static str {
        match self {
            Part::Images => "images",
            Part::RetiredImages => "retired images",
            Part::UnusedImageFiles => "unused image files",
            Part::CodeBlobs => "code blobs",
            Part::CodeSnapshots => "code snapshots",
            Part::CodeDisks => "code disks",
            Part::Runs => "kept overlays",
            Part::Results => "results",
            Part::Scratch => "scratch",
            Part::Other => "other",
        }
    }
}

/// One part's files and disk space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartUsage {
    pub part: Part,
    pub files: u64,
    pub bytes: u64,
}

/// The disk space `path` takes, with everything under it for a directory (allocated blocks, so
/// a sparse file counts for what it holds).
pub fn allocated(path: &Path) -> u64 {
    tally(path).1
}

/// Files and allocated bytes under `path` (itself, if it is a file).
fn tally(path: &Path) -> (u64, u64) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return (0, 0);
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return (1, own);
    }
    fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| tally(&e.path()))
        .fold((0, own), |(f, b), (f2, b2)| (f + f2, b + b2))
}

impl Store {
    /// Every part of the store with its files and disk space, in [`Part`] order (empty ones
    /// too).
    pub fn usage(&self) -> Result<Vec<PartUsage>> {
        let mut parts: Vec<PartUsage> = [
            Part::Images,
            Part::RetiredImages,
            Part::UnusedImageFiles,
            Part::CodeBlobs,
            Part::CodeSnapshots,
            Part::CodeDisks,
            Part::Runs,
            Part::Results,
            Part::Scratch,
            Part::Other,
        ]
        .into_iter()
        .map(|part| PartUsage {
            part,
            files: 0,
            bytes: 0,
        })
        .collect();
        let mut add = |part: Part, path: &Path| {
            let (files, bytes) = tally(path);
            if let Some(p) = parts.iter_mut().find(|p| p.part == part) {
                p.files += files;
                p.bytes += bytes;
            }
        };
        let current: BTreeSet<String> = self
            .list()?
            .iter()
            .flat_map(|m| objects_of(m).into_iter().map(|o| o.sha256.clone()))
            .collect();
        let retired = self.retired_files()?;
        let kept: BTreeSet<String> = retired
            .iter()
            .flat_map(|(m, _)| objects_of(m).into_iter().map(|o| o.sha256.clone()))
            .collect();
        for (name, path) in self.objects()? {
            let part = if current.contains(&name) {
                Part::Images
            } else if kept.contains(&name) {
                Part::RetiredImages
            } else {
                Part::UnusedImageFiles
            };
            add(part, &path);
        }
        for (_, path) in &retired {
            add(Part::RetiredImages, path);
        }
        for path in entries(&self.images_dir()) {
            if path.extension().is_some_and(|e| e == "json") {
                add(Part::Images, &path);
            }
        }
        let code = self.code_dir();
        add(Part::CodeBlobs, &code.join("blobs"));
        add(Part::CodeSnapshots, &code.join("trees"));
        add(Part::CodeSnapshots, &code.join("index"));
        add(Part::CodeDisks, &code.join("disks"));
        add(Part::Runs, &self.runs_dir());
        add(Part::Scratch, &self.tmp_dir());
        for path in entries(self.root()) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if ["images", "code", "runs", "tmp"].contains(&name.as_ref()) {
                continue;
            }
            let part = if name.starts_with("results.db") {
                Part::Results
            } else {
                Part::Other
            };
            add(part, &path);
        }
        Ok(parts)
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}
