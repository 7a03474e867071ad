//! Per-iteration copy-on-write disks on top of a frozen base.

use std::path::Path;

use crate::error::Result;
use crate::tools;

/// Creates `overlay` as a qcow2 whose backing file is `base`. QEMU writes only to the overlay,
/// so the base stays byte-for-byte frozen; creation costs O(1) whatever the base's size,
/// because only a header is written.
pub fn create(base: &Path, overlay: &Path) -> Result<()> {
    create_over(base, "qcow2", overlay, None)
}

/// The virtual size of the code slot. Fixed, because a VM restored from a warm state keeps the
/// disk size it saw when the state was saved; the code disks of all batches must fit it.
pub const CODE_SLOT_SIZE: &str = "256G";

/// The code slot of a batch: a qcow2 of [`CODE_SLOT_SIZE`] that reads the code snapshot's ext4
/// disk (and zeros past its end). Attached read-only, so nothing is ever written to it.
pub fn code_slot(code_disk: &Path, slot: &Path) -> Result<()> {
    create_over(code_disk, "raw", slot, Some(CODE_SLOT_SIZE))
}

/// An empty code slot, for saving a warm state before any code exists.
pub fn empty_code_slot(slot: &Path) -> Result<()> {
    tools::run(
        "qemu-img",
        [
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            slot.as_os_str(),
            CODE_SLOT_SIZE.as_ref(),
        ],
        Some(slot),
    )?;
    Ok(())
}

fn create_over(base: &Path, format: &str, overlay: &Path, size: Option<&str>) -> Result<()> {
    // An absolute backing path keeps the overlay usable when it is kept and opened later from
    // another directory (`snaprun repro`).
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "create".as_ref(),
        "-q".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        "-b".as_ref(),
        base.as_os_str(),
        "-F".as_ref(),
        format.as_ref(),
        overlay.as_os_str(),
    ];
    if let Some(size) = size {
        args.push(size.as_ref());
    }
    tools::run("qemu-img", args, Some(overlay))?;
    Ok(())
}

/// Points the qcow2 `layer` at the backing file `backing` (a name relative to the layer's own
/// directory) without touching its data: the warm layer's backing is the image's disk object
/// beside it in the store, wherever the store is.
pub fn rebase_unsafe(layer: &Path, backing: &str) -> Result<()> {
    tools::run(
        "qemu-img",
        [
            "rebase".as_ref(),
            "-u".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-b".as_ref(),
            backing.as_ref(),
            "-F".as_ref(),
            "qcow2".as_ref(),
            layer.as_os_str(),
        ],
        Some(layer),
    )?;
    Ok(())
}
