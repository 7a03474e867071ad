//! Per-iteration copy-on-write disks on top of a frozen base.

use std::path::Path;

use crate::error::Result;
use crate::tools;

/// Creates `overlay` as a qcow2 whose backing file is `base`. QEMU writes only to the overlay,
/// so the base stays byte-for-byte frozen; creation costs O(1) whatever the base's size,
/// because only a header is written.
pub fn create(base: &Path, overlay: &Path) -> Result<()> {
    // An absolute backing path keeps the overlay usable when it is kept and opened later from
    // another directory (`snaprun repro`).
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let mut backing = std::ffi::OsString::from("");
    backing.push(&base);
    tools::run(
        "qemu-img",
        [
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-b".as_ref(),
            backing.as_os_str(),
            "-F".as_ref(),
            "qcow2".as_ref(),
            overlay.as_os_str(),
        ],
        Some(overlay),
    )?;
    Ok(())
}
