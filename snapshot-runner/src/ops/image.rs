//! Images: build the built-in one or a Debian one, add one, save a warm state, list, remove,
//! verify. Building and warming report [`ImageEvent`]s and stop when cancelled. What adds to
//! the store holds it shared meanwhile (see [`crate::store::StoreLock`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cancel::Cancel;
use crate::debian::{self, DebianSpec};
use crate::error::{Error, Result};
use crate::image_build::{self, Built};
use crate::results::images_to_retain;
use crate::store::{DEFAULT_IMAGE, ImageSpec, Manifest, Store};
use crate::warm::{self, WarmOptions, Warmed};

/// Progress of building or warming an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ImageEvent {
    /// A step of the work on `image` begins (a sentence for a person).
    Step { image: String, message: String },
    /// `image` was built anew (before a batch: see [`super::ensure_default`]).
    Built { image: String, hash: String },
    /// Saving a new warm state of `image` begins.
    Warming { image: String },
}

/// The images in the store.
#[derive(Debug, Clone, Serialize)]
pub struct ImageList {
    /// Sorted by name, each with its size (`disk.size`) and warm state (`warm`).
    pub images: Vec<Manifest>,
    /// How many replaced images are kept to reproduce the failures of batches that ran on them.
    pub retired: usize,
}

/// The guest agent that goes into the built-in image: `SNAPRUN_AGENT`, or `snaprun-agent`
/// beside the program `exe` (snaprun installs them together).
pub fn agent_beside(exe: &Path) -> PathBuf {
    match std::env::var_os("SNAPRUN_AGENT") {
        Some(p) => PathBuf::from(p),
        None => exe.with_file_name("snaprun-agent"),
    }
}

/// Builds the built-in image `default` from the host's kernel, busybox, glibc and `agent`,
/// unless an intact one made from the same ingredients is there (or `force`).
pub fn build_default(
    store: &Store,
    agent: &Path,
    force: bool,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(ImageEvent),
) -> Result<Built> {
    let _lock = store.lock_shared()?;
    let built = image_build::build_default(
        store,
        agent,
        force,
        &images_to_retain(&store.results_db()),
        &mut |message| {
            on_event(ImageEvent::Step {
                image: DEFAULT_IMAGE.into(),
                message: message.into(),
            })
        },
        &|| cancel.is_cancelled(),
    )
    // Ctrl-C reaches the tools the build runs too: whatever they ended with, it was that.
    .map_err(|e| match e {
        Error::Interrupted(_) => e,
        _ if cancel.is_cancelled() => Error::Interrupted("the built-in image was not built".into()),
        _ => e,
    })?;
    if let Built::Fresh(m) = &built {
        on_event(ImageEvent::Built {
            image: m.name.clone(),
            hash: m.hash.clone(),
        });
    }
    Ok(built)
}

/// Builds image `name` from a Debian release with debootstrap (minutes; needs root and the
/// archive), unless an intact image built from the same spec is there (or `force`).
pub fn build_debian(
    store: &Store,
    name: &str,
    spec: &DebianSpec,
    force: bool,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(ImageEvent),
) -> Result<Built> {
    let _lock = store.lock_shared()?;
    debian::build(
        store,
        name,
        spec,
        force,
        &images_to_retain(&store.results_db()),
        &mut |message| {
            on_event(ImageEvent::Step {
                image: name.into(),
                message: message.into(),
            })
        },
        &|| cancel.is_cancelled(),
    )
}

/// Copies a qcow2 disk (and a kernel and initrd) into the store as image `name`, replacing an
/// image of that name (kept, by hash, while failures that ran on it await `repro`).
pub fn add_image(store: &Store, name: &str, spec: &ImageSpec) -> Result<Manifest> {
    let _lock = store.lock_shared()?;
    store.add(name, spec, &images_to_retain(&store.results_db()))
}

/// Boots an image once and saves the running VM, so iterations restore it instead of booting.
pub fn warm_image(
    store: &Store,
    opts: &WarmOptions,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(ImageEvent),
) -> Result<Warmed> {
    let _lock = store.lock_shared()?;
    let target = opts.target().to_string();
    warm::warm(
        store,
        opts,
        &mut |message| {
            on_event(ImageEvent::Step {
                image: target.clone(),
                message: message.into(),
            })
        },
        &|| cancel.is_cancelled(),
    )
}

/// The images, with sizes and warm states.
pub fn images(store: &Store) -> Result<ImageList> {
    Ok(ImageList {
        images: store.list()?,
        retired: store.retired()?.len(),
    })
}

/// Removes image `name` (files another image uses stay).
pub fn remove_image(store: &Store, name: &str) -> Result<()> {
    store.remove(name)
}

/// Re-hashes image `name`'s files and checks its disk; its manifest if it is intact.
pub fn verify_image(store: &Store, name: &str) -> Result<Manifest> {
    Ok(store.verify(name)?.manifest)
}
