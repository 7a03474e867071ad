//! retrace-lsp: file-navigation history kept as a tree, served over LSP.
//!
//! Layers, innermost first (see ARCHITECTURE.md):
//! - [`tree`]: the navigation tree, pure logic; [`anchor`]: where its places go when files
//!   change (editor edits and diffs), pure;
//! - [`render`]: its text and JSON forms, pure;
//! - [`workspace`]: workspace roots and URI normalisation;
//! - [`store`]: SQLite persistence and cross-process sync;
//! - [`history`]: a writer: the tree and the store together, one transaction per operation;
//! - [`reader`]: a history opened read-only and kept live (for the desktop app), and
//!   [`catalog`]: the list of workspaces that have one;
//! - [`rows`]: what the app's tree rows show (line texts, cursors);
//! - [`control`]: the control socket (protocol, listener, blocking client) through which
//!   the app moves an editor;
//! - [`activity`]: read access for other tools (when the user was where);
//! - [`watch`]: follows files renamed, deleted or written outside the editor;
//! - with the `server` feature (the default): [`server`], the LSP server
//!   (tower-lsp-server) around one history owner; [`protocol`], its commands and options;
//!   [`transport`], a guard on the stdio stream.
//!
//! Without the `server` feature the crate is a light library for other tools: no async
//! runtime, no LSP types.

pub mod activity;
pub mod anchor;
pub mod catalog;
pub mod control;
pub mod history;
#[cfg(feature = "server")]
pub mod protocol;
pub mod reader;
pub mod render;
pub mod rows;
pub mod safe_text;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
#[cfg(feature = "server")]
pub mod transport;
pub mod tree;
pub mod watch;
pub mod workspace;
