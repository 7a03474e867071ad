//! `repro`: one iteration of a recorded batch again, from the same image (by content hash, so
//! a replaced image still works while it is retained), the same code snapshot and the same
//! seed; or that state booted with a shell on the terminal.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::batch::{DEFAULT_BOOT_TIMEOUT, DEFAULT_OUTPUT_LIMIT};
use crate::cancel::Cancel;
use crate::codesnap;
use crate::driver::Echo;
use crate::error::{Error, IoContext, Result};
use crate::iteration::{IterationContext, IterationFiles, run_iteration_named};
use crate::overlay;
use crate::qemu::{self, Accel, Console, VmSpec};
use crate::results::{Batch, Iteration, Results, now_ms};
use crate::store::{Image, Store, StoreLock};
use crate::warm::{Start, choose_start};

/// Finds the image a batch ran on by its content hash (the name may point elsewhere now).
pub fn image_of(store: &Store, batch: &Batch) -> Result<Image> {
    store.image_by_hash(&batch.image_hash)?.ok_or_else(|| {
        Error::Usage(format!(
            "the image batch {} ran on (`{}`, {}) is no longer in the store, so it cannot be \
             reproduced",
            batch.id,
            batch.image_name,
            &batch.image_hash[..12.min(batch.image_hash.len())]
        ))
    })
}

/// What repro needs ready: the image, the accelerator, and the code slot in the batch's run
/// directory (removed when this is dropped), with the store held shared until then (`gc`
/// waits rather than take the code disk or the image away under the VM).
struct Prepared {
    image: Image,
    accel: Accel,
    run_dir: PathBuf,
    name: String,
    slot: RemoveOnDrop,
    original: Iteration,
    // Last: let go once the slot is removed.
    _lock: StoreLock,
}

/// The files it makes are named after this process, so `gc` leaves them alone while it lives.
fn prepare(store: &Store, batch: &Batch, n: u32, warm: bool) -> Result<Prepared> {
    let lock = store.lock_shared()?;
    let results = Results::open(&store.results_db())?;
    let original = results.iteration(&batch.id, n)?;
    let mut image = image_of(store, batch)?;
    // Restore the same warm state if the batch did and it is still there; else boot.
    if let Some(wanted) = &batch.warm_hash
        && warm
        && let Some(m) = store
            .list()?
            .into_iter()
            .find(|m| m.warm.as_ref().is_some_and(|w| &w.hash == wanted))
    {
        image = store.image(&m.name, false)?;
    }
    let tree = codesnap::load_tree(store, &batch.code_hash).map_err(|e| {
        Error::Usage(format!(
            "the code snapshot batch {} ran on ({}) is no longer in the store (`snaprun gc` \
             lets go of the files of batches it does not keep), so it cannot be reproduced: {e}",
            batch.id,
            &batch.code_hash[..12.min(batch.code_hash.len())]
        ))
    })?;
    let code_disk = codesnap::disk(store, &tree)?;
    let accel = qemu::choose_accel(
        Some(batch.accel.parse().unwrap_or(Accel::Tcg)),
        &store.kvm_probe_cache(),
    )
    .or_else(|_| qemu::choose_accel(None, &store.kvm_probe_cache()))?;
    let run_dir = store.runs_dir().join(&batch.id);
    fs::create_dir_all(&run_dir).ctx("creating the run directory", &run_dir)?;
    let name = format!("repro-{n}-{}-{}", std::process::id(), now_ms());
    let slot = run_dir.join(format!("{name}.code.qcow2"));
    overlay::code_slot(&code_disk, &slot)?;
    Ok(Prepared {
        image,
        accel,
        run_dir,
        name,
        slot: RemoveOnDrop(slot),
        original,
        _lock: lock,
    })
}

/// Re-runs iteration `n` of `batch` from the same image, code snapshot and seed. `echo` hears
/// the command's output as it comes, `note` why a warm state is not restored.
pub fn repro(
    store: &Store,
    batch: &Batch,
    n: u32,
    cancel: &Cancel,
    echo: Option<Echo>,
    note: &mut dyn FnMut(String),
) -> Result<Iteration> {
    let p = prepare(store, batch, n, true)?;
    let warm = choose_start(&p.image, p.accel, Start::Auto, note)?;
    let ctx = IterationContext {
        image: &p.image,
        warm,
        code_disk: Some(&p.slot.0),
        accel: p.accel,
        command: &batch.command,
        env: &[],
        timeout: batch.timeout_ms.map(Duration::from_millis),
        boot_timeout: DEFAULT_BOOT_TIMEOUT,
        output_limit: DEFAULT_OUTPUT_LIMIT,
        run_dir: &p.run_dir,
        batch_id: &batch.id,
        echo,
    };
    Ok(run_iteration_named(
        &ctx,
        n,
        p.original.seed,
        &p.name,
        &|| cancel.is_cancelled(),
    ))
}

/// Boots the state of iteration `n` of `batch` (image, code snapshot, seed on the kernel
/// command line) with a shell on this terminal, until it exits or `cancel` is triggered.
pub fn shell(store: &Store, batch: &Batch, n: u32, cancel: &Cancel) -> Result<()> {
    let p = prepare(store, batch, n, false)?;
    let files = IterationFiles::new(&p.run_dir, &p.name);
    overlay::create(&p.image.disk, &files.overlay)?;
    let spec = VmSpec {
        image: p.image.clone(),
        root_disk: files.overlay.clone(),
        code_disk: Some(p.slot.0.clone()),
        accel: p.accel,
        console: Console::Terminal,
        extra_append: Some(format!(
            "snaprun.shell snaprun.iteration={n} snaprun.seed={}",
            p.original.seed
        )),
        qemu_log: files.qemu_log.clone(),
        incoming: None,
    };
    let ran = qemu::run_interactive(&spec, &|| cancel.is_cancelled());
    files.remove();
    ran?;
    if cancel.is_cancelled() {
        return Err(Error::Interrupted("the VM of the shell was stopped".into()));
    }
    Ok(())
}

/// Deletes a file when dropped (on every way out of a function), and its directory with it if
/// nothing else is left there.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        if let Some(dir) = Path::new(&self.0).parent() {
            let _ = fs::remove_dir(dir);
        }
    }
}
