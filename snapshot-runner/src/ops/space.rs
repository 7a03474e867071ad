//! The store's disk space: where it goes ([`store_usage`]) and getting it back ([`gc`]).

use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
pub use crate::gc::{GcOptions, GcReport, Keep, Kind, KindTotal, Removed};
use crate::results::Results;
use crate::store::Store;
pub use crate::store::{Part, PartUsage};

/// Where the store's space goes.
#[derive(Debug, Clone, Serialize)]
pub struct StoreUsage {
    pub root: PathBuf,
    /// Every part, in [`Part`] order.
    pub parts: Vec<PartUsage>,
    pub bytes: u64,
    /// Batches in the results.
    pub batches: usize,
    /// What `gc` would free now keeping every batch (`--keep N` and `--older-than D` free more).
    pub reclaimable: u64,
}

/// Removes what no kept batch needs and says what (see [`crate::gc`]); safe while batches run.
pub fn gc(store: &Store, opts: &GcOptions) -> Result<GcReport> {
    crate::gc::collect(store, opts)
}

/// Where the store's space goes, part by part, and what `gc` would free.
pub fn store_usage(store: &Store) -> Result<StoreUsage> {
    let parts = store.usage()?;
    let batches = match Results::open_existing(&store.results_db())? {
        Some(r) => r.all_batches()?.len(),
        None => 0,
    };
    let reclaimable = gc(
        store,
        &GcOptions {
            keep: Keep::All,
            dry_run: true,
        },
    )?
    .bytes;
    Ok(StoreUsage {
        root: store.root().to_path_buf(),
        bytes: parts.iter().map(|p| p.bytes).sum(),
        parts,
        batches,
        reclaimable,
    })
}
