//! retrace-lsp: file-navigation history kept as a tree, served over LSP.
//!
//! Layers, innermost first (see ARCHITECTURE.md):
//! - [`tree`]: the navigation tree, pure logic;
//! - [`render`]: its text and JSON forms, pure;
//! - [`workspace`]: workspace roots and URI normalisation;
//! - [`store`]: SQLite persistence and cross-process sync;
//! - [`history`]: the tree and the store together, one transaction per operation;
//! - [`server`]: the LSP server (tower-lsp-server) around one history owner;
//! - [`transport`]: guards the stdio stream against malformed messages;
//! - [`watch`]: follows files renamed or deleted outside the editor;
//! - [`activity`]: read access for other tools (when the user was where).

pub mod activity;
pub mod history;
pub mod protocol;
pub mod render;
pub mod server;
pub mod store;
pub mod transport;
pub mod tree;
pub mod watch;
pub mod workspace;
