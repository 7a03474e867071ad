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
use crate::batch::{Boot, await_ready};
use crate::error::{Error, IoContext, Result};
use crate::overlay;
use crate::qemu::{self, Accel, Console, Vm, VmSpec};
use crate::store::{AgentKind, Manifest, SavedState, Store};

/// What [`warm`] did.
#[derive(Debug)]
pub enum Warmed {
    /// The image already had a warm state that is valid here.
    Cached(Manifest),
    Fresh {
        manifest: Manifest,
        boot_ms: u64,
    },
}

/// Saves a warm state of image `name`, registered under `target` (`name` itself, or a new
/// image: `--as`). Unless `force`, an existing warm state for the same image, QEMU version and
/// accelerator is kept.
pub fn warm(
    store: &Store,
    name: &str,
    target: &str,
    accel: Option<Accel>,
    boot_timeout: Duration,
    force: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Warmed> {
    let image = store.image(name, false)?;
    if image.manifest.agent != AgentKind::Snaprun {
        return Err(Error::Usage(format!(
            "image `{name}` is driven through qemu-guest-agent; a warm state needs snaprun's own \
             agent in the image (see \"Your own image\" in the README), so its iterations boot"
        )));
    }
    let accel = qemu::choose_accel(accel, &store.kvm_probe_cache())?;
    let v = qemu::version()?;
    let qemu_version = format!("{}.{}.{}", v.0, v.1, v.2);
    if !force
        && let Ok(existing) = store.image(target, false)
        && let Some(w) = &existing.warm
        && w.meta.image_hash == image.manifest.hash
        && w.meta.accel == accel.as_str()
        && w.meta.qemu_version == qemu_version
    {
        return Ok(Warmed::Cached(existing.manifest));
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
    let manifest = store.add_warm(
        &image.manifest,
        target,
        &saved,
        &crate::results::images_to_retain(&store.results_db()),
    )?;
    Ok(Warmed::Fresh { manifest, boot_ms })
}
