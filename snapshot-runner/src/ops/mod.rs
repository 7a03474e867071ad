//! The use cases: everything a person can do with snaprun is one call here, taking typed
//! options and returning typed, serialisable reports (what `--json` prints is one of them,
//! serialised). The `snaprun` command parses its arguments, calls these and prints; the
//! desktop app calls the same functions. Long work reports progress as events through a
//! callback and stops when its [`Cancel`](crate::cancel::Cancel) token is triggered.
//!
//! - batches ([`run`](run_batch), [`start_batch`], [`stop`], [`watch`], [`repro`],
//!   [`ensure_default`]);
//! - which commit made a test flakier ([`bisect`]);
//! - what the results say ([`ls`], [`show`], [`iteration_logs`], [`compare`], [`merge`],
//!   [`workspaces`], [`batch_list`], [`changes`], [`repro_command`]);
//! - images ([`build_default`], [`build_debian`], [`add_image`], [`warm_image`], [`images`],
//!   [`remove_image`], [`verify_image`]);
//! - the store's space ([`store_usage`], [`gc`]).

mod bisect;
mod image;
mod query;
mod run;
mod space;

pub use self::bisect::{
    BisectEvent, BisectOptions, BisectReport, BisectVerdict, Candidate, DEFAULT_CONFIDENCE,
    DEFAULT_MAX_ITERATIONS, Probed, bisect, bisect_range,
};
pub use self::image::{
    ImageEvent, ImageList, add_image, agent_beside, build_debian, build_default, images,
    remove_image, verify_image, warm_image,
};
pub use self::query::{
    BatchListItem, BatchListOptions, IterationLogs, ListedBatch, Listing, MergeReport,
    ResultsFiles, batch_list, changes, code_changes, compare, iteration_logs, ls, merge,
    repro_command, results_files, show, workspaces,
};
#[cfg(feature = "watch")]
pub use self::run::watch;
pub use self::run::{
    RunningBatch, Stopped, ensure_default, repro, repro_shell, run_batch, start_batch, stop,
};
pub use self::space::{
    GcOptions, GcReport, Keep, Kind, KindTotal, Part, PartUsage, Removed, StoreUsage, gc,
    store_usage,
};
pub use crate::batch::{BatchEvent, CodeSnapshot, Options, Outcome};
pub use crate::ci::{Verdict, verdict};
pub use crate::history::Commit;
#[cfg(feature = "watch")]
pub use crate::watch::{OnChange, WatchEvent, WatchedBatch};
