//! snaprun: re-runs a stress test many times, each iteration in a fresh QEMU VM on its own
//! copy-on-write overlay of a frozen image, against a frozen snapshot of the workspace.
//!
//! Pure logic ([`stats`], the [`agent`] frame codec) sits apart from the I/O around it: the
//! image [`store`], [`overlay`]s, [`codesnap`]shots, [`image_build`], [`qemu`] (the only module
//! that starts QEMU), [`results`] in SQLite, `junit` reports and the [`batch`] orchestration.
//!
//! Cargo features: `cli` (the default; the `snaprun` binary's clap, indicatif and signal-hook,
//! plus `junit` and `watch`), `junit` (JUnit XML), `watch` (watch mode, notify). Readers of the
//! results, like the planner, use `default-features = false`.

pub mod activity;
pub mod agent;
pub mod batch;
pub mod ci;
pub mod codesnap;
pub mod compare;
pub mod debian;
pub mod error;
pub mod image_build;
#[cfg(feature = "junit")]
pub mod junit;
pub mod overlay;
pub mod qemu;
pub mod qga;
pub mod results;
pub mod stats;
pub mod store;
pub mod tools;
pub mod warm;
#[cfg(feature = "watch")]
pub mod watch;

pub use error::{Error, Result};
