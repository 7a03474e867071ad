//! `image warm`: boot an image once, wait for its agent, and save the running VM so that
//! iterations restore it instead of booting.
//!
//! The saved state is two files that are only valid together:
//! - the device and memory state, written by QEMU migration to a file (`exec:cat > FILE` before
//!   QEMU 8.2, `file:FILE` after), taken while the guest is stopped, and read back by
//!   `-incoming` (`fd:0` with the file on QEMU's stdin before 8.2, `file:FILE` after);
//! - the disk as it was at that instant: the qcow2 layer the guest booted on, whose backing file
//!   is the image's disk. Every iteration's overlay sits on this layer.
//!
//! The guest is saved with an empty *code slot* (a fixed-size read-only disk, see
//! [`crate::overlay::code_slot`]); a restored iteration gets the same slot filled with its
//! batch's code snapshot, and the agent drops the kernel's cache of the old content when it
//! looks for the disk. (Hot-plugging the code disk instead costs 300-500 ms of guest-side PCI
//! hot-plug under TCG, more than the rest of a restore together.)

use std::time::{Duration, Instant};

use crate::agent::{Decoder, PROTOCOL_VERSION};
use crate::driver::{Boot, DEFAULT_BOOT_TIMEOUT, await_ready};
use crate::error::{Error, IoContext, Result};
use crate::overlay;
use crate::qemu::{self, Accel, Console, Vm, VmSpec};
use crate::results::images_to_retain;
use crate::store::{AgentKind, Image, Manifest, SavedState, Store, WarmFiles};

/// How iterations get a running VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Restore the image's warm state when it has one usable here, else boot.
    #[default]
    Auto,
    /// Restore the warm state; an error if there is none usable.
    Warm,
    /// Boot, even if the image has a warm state.
    Cold,
}

/// The warm state to restore for `start` on `accel`, or `None` to boot. `note` hears why an
/// existing warm state is not used.
pub fn choose_start<'a>(
    image: &'a Image,
    accel: Accel,
    start: Start,
    note: &mut dyn FnMut(String),
) -> Result<Option<&'a WarmFiles>> {
    let name = &image.manifest.name;
    if start == Start::Cold {
        return Ok(None);
    }
    let Some(warm) = &image.warm else {
        return match start {
            Start::Warm => Err(Error::Usage(format!(
                "image `{name}` has no warm state; save one with `snaprun image warm {name}`, or \
                 leave out --warm"
            ))),
            _ => Ok(None),
        };
    };
    let here = qemu_version()?;
    let unusable = if warm.meta.accel != accel.as_str() {
        Some(format!(
            "it was saved under {} and this batch runs under {}",
            warm.meta.accel,
            accel.as_str()
        ))
    } else if warm.meta.qemu_version != here {
        Some(format!(
            "it was saved by QEMU {} and this is QEMU {here}",
            warm.meta.qemu_version
        ))
    } else {
        None
    };
    match (unusable, start) {
        (None, _) => Ok(Some(warm)),
        (Some(why), Start::Warm) => Err(Error::Usage(format!(
            "the warm state of image `{name}` cannot be restored here: {why}; save a new one with \
             `snaprun image warm {name}`{}, or use --cold",
            if warm.meta.accel != accel.as_str() {
                format!(" --accel {}", accel.as_str())
            } else {
                String::new()
            }
        ))),
        (Some(why), _) => {
            note(format!(
                "not restoring the warm state of image `{name}` ({why}); booting every \
                 iteration instead (save a new state with `snaprun image warm {name}`)"
            ));
            Ok(None)
        }
    }
}

/// This QEMU's version as a warm state records it (`major.minor.micro`).
fn qemu_version() -> Result<String> {
    let v = qemu::version()?;
    Ok(format!("{}.{}.{}", v.0, v.1, v.2))
}

/// What [`warm`] did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Warmed {
    /// The image already had a warm state that is valid here.
    Cached { manifest: Manifest },
    /// A new state was saved; the boot to the agent took `boot_ms`.
    Fresh { manifest: Manifest, boot_ms: u64 },
}

impl Warmed {
    pub fn manifest(&self) -> &Manifest {
        match self {
            Warmed::Cached { manifest } | Warmed::Fresh { manifest, .. } => manifest,
        }
    }
}

/// What `image warm` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmOptions {
    /// The image to boot.
    pub image: String,
    /// Register the warm image under this name instead (`--as`); `image` stays as it is.
    pub as_name: Option<String>,
    /// A warm state restores only under the accelerator that saved it; `None` chooses.
    pub accel: Option<Accel>,
    pub boot_timeout: Duration,
    /// Save a new state even if a valid one exists.
    pub force: bool,
}

impl WarmOptions {
    pub fn new(image: &str) -> WarmOptions {
        WarmOptions {
            image: image.to_string(),
            as_name: None,
            accel: None,
            boot_timeout: DEFAULT_BOOT_TIMEOUT,
            force: false,
        }
    }

    /// The name the warm image is registered under.
    pub fn target(&self) -> &str {
        self.as_name.as_deref().unwrap_or(&self.image)
    }
}

/// Saves a warm state of image `opts.image`, registered under [`WarmOptions::target`]. Unless
/// `force`, an existing warm state for the same image, QEMU version and accelerator is kept.
/// `step` hears what is going on (the boot takes a while); `cancelled` stops the boot, and
/// nothing is saved.
pub fn warm(
    store: &Store,
    opts: &WarmOptions,
    step: &mut dyn FnMut(&str),
    cancelled: &dyn Fn() -> bool,
) -> Result<Warmed> {
    let (name, target, boot_timeout) = (opts.image.as_str(), opts.target(), opts.boot_timeout);
    let image = store.image(name, false)?;
    if image.manifest.agent != AgentKind::Snaprun {
        return Err(Error::Usage(format!(
            "image `{name}` is driven through qemu-guest-agent; a warm state needs snaprun's own \
             agent in the image (see \"Your own image\" in the README), so its iterations boot"
        )));
    }
    let accel = qemu::choose_accel(opts.accel, &store.kvm_probe_cache())?;
    let qemu_version = qemu_version()?;
    if !opts.force
        && let Ok(existing) = store.image(target, false)
        && let Some(w) = &existing.warm
        && w.meta.image_hash == image.manifest.hash
        && w.meta.accel == accel.as_str()
        && w.meta.qemu_version == qemu_version
    {
        return Ok(Warmed::Cached {
            manifest: existing.manifest,
        });
    }

    let work = tempfile::Builder::new()
        .prefix("warm-")
        .tempdir_in(store.tmp_dir())
        .ctx("creating a working directory", &store.tmp_dir())?;
    let layer = work.path().join("layer.qcow2");
    let slot = work.path().join("code-slot.qcow2");
    let state = work.path().join("state");
    let console = work.path().join("console.log");
    let qemu_log = work.path().join("qemu.log");
    overlay::create(&image.disk, &layer)?;
    overlay::empty_code_slot(&slot)?;
    let spec = VmSpec {
        image: image.clone(),
        root_disk: layer.clone(),
        code_disk: Some(slot),
        accel,
        console: Console::File(console.clone()),
        extra_append: None,
        qemu_log: qemu_log.clone(),
        incoming: None,
    };
    step(&format!("booting image `{name}` under {}", accel.as_str()));
    let started = Instant::now();
    let mut vm = Vm::start(&spec, Duration::from_secs(30))?;
    vm.agent()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ctx("configuring the agent channel", &layer)?;
    let mut decoder = Decoder::default();
    let boot = await_ready(&mut vm, &mut decoder, started + boot_timeout, cancelled)?;
    let boot_ms = started.elapsed().as_millis() as u64;
    let failed = |what: String| {
        Error::Qemu(format!(
            "{what}; the guest console ended with:\n{}",
            qemu::log_tail(&console, 20)
        ))
    };
    match boot {
        Boot::Ready => {}
        Boot::Cancelled => {
            return Err(Error::Interrupted(format!(
                "no warm state of image `{name}` was saved"
            )));
        }
        Boot::Gone => {
            return Err(failed(format!(
                "image `{name}` stopped before its agent was ready ({})",
                qemu::log_tail(&qemu_log, 5)
            )));
        }
        Boot::TimedOut => {
            return Err(failed(format!(
                "the agent of image `{name}` was not ready {}s after boot started (raise \
                 --boot-timeout)",
                boot_timeout.as_secs()
            )));
        }
        Boot::WrongVersion(got) => {
            return Err(Error::ImageCorrupt {
                name: name.to_string(),
                detail: format!(
                    "its guest agent speaks protocol {got}, this snaprun speaks {PROTOCOL_VERSION}"
                ),
            });
        }
    }
    step("saving the running VM");
    vm.save_state(&state, Duration::from_secs(120))?;
    vm.stop();
    // The layer's backing file becomes the image's disk object by its name beside it, so the
    // layer works wherever the store is (and from hard-linked copies of it).
    overlay::rebase_unsafe(&layer, &image.manifest.disk.sha256)?;
    let saved = SavedState {
        state: &state,
        layer: &layer,
        qemu_version: &qemu_version,
        accel: accel.as_str(),
    };
    step("storing the warm state");
    let manifest = store.add_warm(
        &image.manifest,
        target,
        &saved,
        &images_to_retain(&store.results_db()),
    )?;
    Ok(Warmed::Fresh { manifest, boot_ms })
}
