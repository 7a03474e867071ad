//! The one error type every command returns, as the frontend receives it.
//!
//! A command never panics and never returns a bare string: the frontend gets a `kind` it can
//! branch on (say, to show the "no history yet" help instead of an error) and a `message`
//! written for a person, naming the file or thing involved and what to do next. Every error is
//! also written to the log when it is returned (see `lib.rs`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Nothing recorded yet (no history, no batches, no plan): the view explains how to start.
    Empty,
    /// A database that cannot be read: corrupt, or written by a newer version.
    Unreadable,
    /// The editor, the server or a batch the request named is not there (any more).
    NotFound,
    /// The request itself was wrong (a bad range, an unknown view).
    Invalid,
    /// Anything else: the message says what failed.
    Failed,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> AppError {
        AppError {
            kind,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Failed, message)
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
