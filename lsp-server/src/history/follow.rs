//! Places follow the code: the documents the editor has open and their changes, and files
//! changed outside the editor, re-anchored by a diff of the stored line hashes and the file
//! now ([`crate::anchor`]). Moves made here are not visits and move no cursor.
//!
//! The stored hashes of a file always describe the state its nodes' lines refer to: the
//! editor's buffer while it is open here, the disk otherwise. They are written in the same
//! transaction as the moves; typing inside lines (no node moves) stores them when the
//! server is idle or the document closes, so a keystroke costs no write.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use super::{FsChange, History, HistoryError};
use crate::anchor::{Document, LineChange, LineMap, TextEdit, line_hashes};
use crate::store::{FileLines, StoreError};
use crate::tree::{FileId, Tree};
use crate::workspace::{normalize_uri, uri_for_path};

/// Files larger than this are not read to re-anchor (their nodes stay where they are).
pub const MAX_ANCHOR_BYTES: u64 = 8 << 20;

/// The documents the editor has open, by normalised URI.
pub(super) type Documents = HashMap<String, Document>;
/// Open documents whose line hashes changed since they were stored.
pub(super) type Unstored = HashSet<String>;

impl History {
    /// `didOpen`: the editor shows `text`. When it differs from what the file's nodes refer
    /// to, they follow it. Returns how many nodes moved.
    pub fn open_document(&mut self, uri: &str, text: &str) -> Result<usize, HistoryError> {
        let uri = normalize_uri(uri)?;
        let doc = Document::new(text);
        let hashes = doc.hashes().to_vec();
        self.docs.insert(uri.clone(), doc);
        self.reanchor(&uri, hashes)
    }

    /// `didChange`: the changes, in order; the file's nodes follow their lines. Returns how
    /// many nodes moved.
    pub fn change_document(
        &mut self,
        uri: &str,
        edits: &[TextEdit],
    ) -> Result<usize, HistoryError> {
        let uri = normalize_uri(uri)?;
        let Some(doc) = self.docs.get_mut(&uri) else {
            return Err(HistoryError::NotOpen {
                path: self.ws.display(&uri),
            });
        };
        let changes: Vec<LineChange> = edits.iter().map(|e| doc.apply(e)).collect();
        // Typing inside lines moves no node: the hashes are stored when idle, not per key.
        if changes.iter().all(LineChange::keeps_lines) {
            self.unstored.insert(uri);
            return Ok(0);
        }
        self.refresh()?; // another process may have recorded the file
        let Some(file) = self.tree.file_id(&uri) else {
            return Ok(0);
        };
        // Nor do line breaks below every node.
        let moves = |line: u32| {
            let mut at = line;
            changes.iter().any(|c| {
                let to = c.map(at);
                at = to.line;
                !to.exact
            }) || at != line
        };
        if !self.tree.nodes().any(|n| n.file == file && moves(n.line)) {
            self.unstored.insert(uri);
            return Ok(0);
        }
        let hashes = self.docs.get(&uri).map(|d| d.hashes().to_vec());
        let moved = self.store.write_with_lines(&mut self.tree, |t, lines| {
            let moved = changes
                .iter()
                .map(|c| t.move_lines(file, |l| c.map(l)))
                .sum();
            if let Some(hashes) = hashes {
                lines.set(file, hashes);
            }
            moved
        })?;
        self.unstored.remove(&uri);
        Ok(moved)
    }

    /// Stores the line hashes of the open documents changed since they were last stored
    /// (typing that moved no node). Called when idle, and when a document closes.
    pub fn store_documents(&mut self) -> Result<(), HistoryError> {
        if self.unstored.is_empty() {
            return Ok(());
        }
        let pending: Vec<(String, Vec<u32>)> = std::mem::take(&mut self.unstored)
            .into_iter()
            .filter_map(|uri| {
                let hashes = self.docs.get(&uri)?.hashes().to_vec();
                Some((uri, hashes))
            })
            .collect();
        self.store.write_with_lines(&mut self.tree, |t, lines| {
            for (uri, hashes) in pending {
                if let Some(file) = t.file_id(&uri) {
                    lines.set(file, hashes);
                }
            }
        })?;
        Ok(())
    }

    /// `didClose`: the disk is the file's truth again (the watcher follows it).
    pub fn close_document(&mut self, uri: &str) -> Result<(), HistoryError> {
        let uri = normalize_uri(uri)?;
        let stored = self.store_documents();
        self.docs.remove(&uri);
        stored
    }

    /// The text of a line as the editor shows it, for documents open here.
    pub fn document_line(&self, uri: &str, line: u32) -> Option<&str> {
        self.docs.get(uri)?.line(line)
    }

    /// Files created, renamed into place or written outside the editor: the nodes of each
    /// follow its lines, all in one transaction (a `git checkout` of many files is one
    /// step). Files open in this editor are left to its own changes; files that cannot be
    /// read as text are left as they are. Returns how many nodes moved.
    pub fn follow_contents(&mut self, changes: &[FsChange]) -> Result<usize, HistoryError> {
        self.refresh()?; // another process may have recorded the files
        let mut pending: HashMap<FileId, Vec<u32>> = HashMap::new();
        for change in changes {
            let path = match change {
                FsChange::Created(p) | FsChange::Modified(p) => p,
                FsChange::Renamed { to, .. } => to,
                FsChange::Removed(_) => continue,
            };
            let uri = uri_for_path(path);
            if self.docs.contains_key(&uri) {
                continue;
            }
            let Some(file) = self.tree.file_id(&uri) else {
                continue;
            };
            if pending.contains_key(&file) {
                continue; // the file is read as it is now: once is enough
            }
            if let Some(text) = read_text(path) {
                pending.insert(file, line_hashes(&text));
            }
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let moved = self.store.write_with_lines(&mut self.tree, |t, lines| {
            let mut moved = 0;
            for (file, hashes) in pending {
                moved += reanchor(t, lines, file, hashes)?;
            }
            Ok::<_, StoreError>(moved)
        })??;
        Ok(moved)
    }

    /// The file's nodes follow from the stored state to `hashes`, which becomes the stored
    /// state.
    fn reanchor(&mut self, uri: &str, hashes: Vec<u32>) -> Result<usize, HistoryError> {
        self.refresh()?;
        let Some(file) = self.tree.file_id(uri) else {
            return Ok(0);
        };
        let moved = self
            .store
            .write_with_lines(&mut self.tree, |t, lines| reanchor(t, lines, file, hashes))??;
        Ok(moved)
    }
}

/// Moves a file's nodes by a diff of its stored line hashes and `hashes`, and stores these.
fn reanchor(
    tree: &mut Tree,
    lines: &mut FileLines<'_>,
    file: FileId,
    hashes: Vec<u32>,
) -> Result<usize, StoreError> {
    let old = lines.get(file)?;
    let moved = match &old {
        Some(old) if *old != hashes => {
            let map = LineMap::diff(old, &hashes);
            tree.move_lines(file, |l| map.map(l))
        }
        _ => 0,
    };
    if old.as_ref() != Some(&hashes) {
        lines.set(file, hashes);
    }
    Ok(moved)
}

/// The line hashes of a file that has none stored yet: the open document's, else the
/// disk's.
pub(super) fn current_hashes(docs: &Documents, uri: &str) -> Option<Vec<u32>> {
    if let Some(doc) = docs.get(uri) {
        return Some(doc.hashes().to_vec());
    }
    let path = crate::workspace::path_for_uri(uri)?;
    read_text(&path).map(|t| line_hashes(&t))
}

/// A text file's content: none for one too large, unreadable or binary (a NUL byte).
fn read_text(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_ANCHOR_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_ANCHOR_BYTES || bytes.contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
