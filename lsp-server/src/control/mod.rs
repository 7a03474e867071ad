//! The control socket: how the desktop app reaches the editor behind a running
//! retrace-lsp. Each server process listens on one Unix socket in a private directory
//! ([`socket`]), registered with its session in the database; the app asks it to jump the
//! session to a node, and the server moves its editor with `window/showDocument`.
//!
//! - [`wire`]: the protocol (one JSON object per line, versioned), pure;
//! - [`socket`]: the directory, the socket's mode, the peer's uid;
//! - [`listener`]: the server side, threads and bounds, around a handler;
//! - [`client`]: the blocking client the app calls.
//!
//! The LSP side (what a request does to the session) is in `server`; nothing here knows
//! LSP or needs an async runtime.

use std::path::PathBuf;
use std::time::Duration;

pub mod client;
pub mod listener;
pub mod socket;
pub mod wire;

pub use client::{Client, jump, status};
pub use listener::{Handler, Listener};
pub use wire::{
    ControlNode, EditorAnswer, ErrorCode, JumpReply, Method, PROTOCOL_VERSION, ServerStatus,
    WireError,
};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "no editor session listens at {socket}: its language server has ended; pick another session, or open the workspace in an editor"
    )]
    NoSuchSession { socket: PathBuf },
    #[error("the session at {socket} refused: {reason}")]
    Refused { socket: PathBuf, reason: String },
    #[error(
        "the session at {socket} did not answer within {}s; its editor may be busy, try again",
        .after.as_secs()
    )]
    Timeout { socket: PathBuf, after: Duration },
    #[error("the editor cannot be moved: {reason}")]
    EditorCannotMove { reason: String },
    /// Any other refusal; `code` says which (no such node, wrong workspace...).
    #[error("{message}")]
    Server { code: ErrorCode, message: String },
    #[error(
        "the session at {socket} answered with {detail}; are retrace-lsp and the app of the same version?"
    )]
    Protocol { socket: PathBuf, detail: String },
    #[error("talking to the session at {socket}: {source}")]
    Io {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir} is no place for control sockets: {why}")]
    UnsafeDirectory { dir: PathBuf, why: String },
}

#[cfg(test)]
mod tests;
