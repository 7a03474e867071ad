//! snaprun: re-runs a stress test many times, each iteration in a fresh QEMU VM on its own
//! copy-on-write overlay of a frozen image, against a frozen snapshot of the workspace.
//!
//! [`ops`] is the front door: every use case (run, stop, watch, compare, show, logs, repro,
//! images, merge) is one call there, with typed options and serialisable reports; the CLI and
//! the desktop app both call it. Below it, pure logic ([`plan`], [`classify`], [`stats`],
//! [`compare`], the [`agent`] frame codec) sits apart from the I/O around it: the image
//! [`store`], [`overlay`]s, [`codesnap`]shots, [`image_build`], [`qemu`] (the only module that
//! starts QEMU), the guest agent [`driver`]s, one [`iteration`], the [`batch`] orchestration
//! and [`results`] in SQLite.
//!
//! Cargo features: `cli` (the default; the `snaprun` binary's clap, indicatif and signal-hook,
//! plus `junit` and `watch`), `junit` (JUnit XML), `watch` (watch mode, notify). Readers of the
//! results, like the planner, use `default-features = false`.

pub mod activity;
pub mod agent;
pub mod batch;
pub mod bisect;
pub mod cancel;
pub mod ci;
pub mod classify;
pub mod codesnap;
pub mod compare;
pub mod debian;
pub mod driver;
pub mod error;
pub mod ext4;
pub mod gc;
pub mod history;
pub mod image_build;
pub mod iteration;
#[cfg(feature = "junit")]
pub mod junit;
pub mod ops;
pub mod overlay;
pub mod plan;
pub mod qemu;
pub mod qga;
pub mod repro;
pub mod results;
pub mod stats;
pub mod store;
#[doc(hidden)]
pub mod testenv;
pub mod tools;
pub mod warm;
#[cfg(feature = "watch")]
pub mod watch;

pub use cancel::Cancel;
pub use error::{Error, Result};
