//! Places follow the code: the documents the editor has open and their changes, and files
//! changed outside the editor, re-anchored by a diff of the stored line hashes and the file
//! now ([`crate::anchor`]). Moves made here are not visits and move no cursor.
//!
//! What is stored for a file is always consistent: its nodes' stored lines refer to its
//! stored line hashes (the editor's buffer as last stored, or the disk). Both change in the
//! same transaction.
//!
//! The editor's changes are *held*: a `didChange` moves the nodes in memory only (this
//! server's answers use them at once) and keeps, per file, its nodes' lines as stored, taken
//! at its first change ([`Held`]). They are stored, with the buffer's hashes, by the next write of
//! this server, whatever it is (every write goes through [`History::write`], which stores
//! them first, in its own transaction), or when the server is idle, when the document
//! closes, or once they are [`MAX_HELD`] old. So a keystroke costs no write, and a crash
//! before they are stored loses nothing: the database still holds the old lines with the
//! old hashes, and the next `didOpen` re-anchors them to the text by the diff.
//!
//! Another process writing the nodes of a file open here (a second editor's visit, a
//! re-anchoring to a file rewritten on disk): the buffer is what this editor's user sees,
//! so this server puts that file's nodes back on their stored lines, drops its held moves
//! there, and re-anchors the file from the stored hashes to its buffer at its next write.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::{FsChange, History, HistoryError};
use crate::anchor::{Anchored, Document, LineChange, LineMap, TextEdit, line_hashes};
use crate::store::{FileLines, StoreError};
use crate::tree::{FileId, NodeId, Tree};
use crate::workspace::{normalize_uri, path_for_uri, uri_for_path};

/// Files larger than this are not read to re-anchor (their nodes stay where they are).
pub const MAX_ANCHOR_BYTES: u64 = 8 << 20;

/// Held moves are stored at the latest this long after the first of them, even while the
/// editor never lets the server be idle.
pub const MAX_HELD: Duration = Duration::from_secs(2);

/// The documents the editor has open, by normalised URI.
pub(super) type Documents = HashMap<String, Document>;

/// What the editor changed and this server has not stored yet (see the module's doc).
#[derive(Clone, Debug, Default)]
pub(super) struct Held {
    /// Open documents whose line hashes changed since they were stored, by URI.
    docs: HashSet<String>,
    /// Files whose nodes the editor's changes moved: each of their nodes' line and flag
    /// as stored, taken at the first change (the tree holds them as they are now).
    files: FxHashMap<FileId, Vec<(NodeId, u32, bool)>>,
    /// Open files whose nodes another process wrote: re-anchored from the stored state to
    /// the buffer at the next write.
    foreign: HashSet<FileId>,
    /// When the first held change was made (the history's clock).
    since: Option<Duration>,
}

/// Documents the editor changes that this server does not follow.
#[derive(Clone, Debug, Default)]
pub(super) struct Untracked {
    /// Opened with a text over [`MAX_ANCHOR_BYTES`] (whose lines are not kept): true once
    /// their nodes were marked approximate by a change of lines.
    large: HashMap<String, bool>,
    /// Changed without a `didOpen` (or one the transport refused as too large): reported
    /// once each, at most [`MAX_UNKNOWN`] remembered.
    unknown: HashSet<String>,
}

/// How many never-opened documents are remembered, so their error is reported once.
const MAX_UNKNOWN: usize = 1024;

impl Held {
    pub(super) fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.files.is_empty() && self.foreign.is_empty()
    }
}

impl History {
    /// `didOpen`: the editor shows `text`. When it differs from what the file's nodes refer
    /// to, they follow it. Returns how many nodes moved.
    /// A text over [`MAX_ANCHOR_BYTES`] is not followed (see [`Untracked`]).
    pub fn open_document(&mut self, uri: &str, text: &str) -> Result<usize, HistoryError> {
        let uri = normalize_uri(uri)?;
        if self.docs.contains_key(&uri) {
            // Opened again: what the old text held is stored with the old text's hashes.
            self.store_documents()?;
        }
        self.untracked.unknown.remove(&uri);
        if text.len() as u64 > MAX_ANCHOR_BYTES {
            self.docs.remove(&uri);
            self.untracked.large.insert(uri, false);
            return Ok(0);
        }
        self.untracked.large.remove(&uri);
        let doc = Document::new(text);
        let hashes = doc.hashes().to_vec();
        self.docs.insert(uri.clone(), doc);
        self.reanchor(&uri, hashes)
    }

    /// `didChange`: the changes, in order; the file's nodes follow their lines. The moves
    /// are held in memory and stored later (see the module's doc). Returns how many nodes
    /// moved.
    pub fn change_document(
        &mut self,
        uri: &str,
        edits: &[TextEdit],
    ) -> Result<usize, HistoryError> {
        let uri = normalize_uri(uri)?;
        let Some(doc) = self.docs.get_mut(&uri) else {
            return self.change_untracked(uri, edits);
        };
        let changes: Vec<LineChange> = edits.iter().map(|e| doc.apply(e)).collect();
        self.held.since.get_or_insert(self.options.clock.elapsed());
        self.held.docs.insert(uri.clone());
        // Typing inside lines moves no node.
        let moved = if changes.iter().all(LineChange::keeps_lines) {
            0
        } else {
            // Another process may have recorded the file, or moved its nodes.
            if let Err(e) = self.refresh() {
                // The buffer changed, its nodes did not: diffed from the stored state later.
                let file = self.tree.file_id(&uri);
                self.held.foreign.extend(file);
                return Err(e);
            }
            match self.tree.file_id(&uri) {
                Some(file) => self.hold_moves(file, &changes),
                None => 0,
            }
        };
        self.store_documents_if_due()?;
        Ok(moved)
    }

    /// A change to a document not followed: too large (its nodes become approximate at
    /// the first change of its lines), or never opened (an error, once per document).
    fn change_untracked(&mut self, uri: String, edits: &[TextEdit]) -> Result<usize, HistoryError> {
        if let Some(lost) = self.untracked.large.get_mut(&uri) {
            let lines_change = edits.iter().any(|e| match e.range {
                None => true,
                Some((a, b)) => a.line != b.line || e.text.contains('\n'),
            });
            if *lost || !lines_change {
                return Ok(0);
            }
            *lost = true;
            self.refresh()?;
            let Some(file) = self.tree.file_id(&uri) else {
                return Ok(0);
            };
            return Ok(self.write(|t, lines, _| lose_track(t, lines, file))?);
        }
        if self.untracked.unknown.len() >= MAX_UNKNOWN {
            self.untracked.unknown.clear();
        }
        if !self.untracked.unknown.insert(uri.clone()) {
            return Ok(0);
        }
        Err(HistoryError::NotOpen {
            path: self.ws.display(&uri),
        })
    }

    /// Moves the file's nodes by the changes, in memory, and holds the moves.
    fn hold_moves(&mut self, file: FileId, changes: &[LineChange]) -> usize {
        if !self.held.files.contains_key(&file) {
            let stored = self.tree.nodes_in(file);
            let stored = stored.map(|n| (n.id, n.line, n.approximate)).collect();
            self.held.files.insert(file, stored);
        }
        let map = |line: u32| {
            changes
                .iter()
                .fold(Anchored { line, exact: true }, |at, change| {
                    let to = change.map(at.line);
                    Anchored {
                        line: to.line,
                        exact: at.exact && to.exact,
                    }
                })
        };
        self.tree.shift_lines(file, map, |_, _, _| {})
    }

    /// Stores what is held: the moves of nodes and the line hashes of the open documents
    /// the editor changed. Called when idle, when a document closes, and when they have
    /// waited [`MAX_HELD`]; any other write stores them too.
    pub fn store_documents(&mut self) -> Result<(), HistoryError> {
        if self.held.is_empty() {
            return Ok(());
        }
        self.write(|_, _, _| ())?;
        Ok(())
    }

    /// Stores what is held once it has waited [`MAX_HELD`] (the server calls this after
    /// every job, so a client that never lets it be idle does not keep other servers behind).
    pub fn store_documents_if_due(&mut self) -> Result<(), HistoryError> {
        match self.held.since {
            Some(since) if self.options.clock.elapsed().saturating_sub(since) >= MAX_HELD => {
                self.store_documents()
            }
            _ => Ok(()),
        }
    }

    /// One write of this history: its sync, the held changes stored, then `op`, in one
    /// transaction. Every write of the history goes through here, so no node row is ever
    /// stored in a buffer's lines without that buffer's hashes.
    pub(super) fn write<T>(
        &mut self,
        op: impl FnOnce(&mut Tree, &mut FileLines<'_>, &Documents) -> T,
    ) -> Result<T, StoreError> {
        let docs = &self.docs;
        let held = &self.held;
        let now = self.options.clock.elapsed();
        let result = self.store.write_with_lines(&mut self.tree, |t, lines| {
            let mut next = held.clone();
            let synced = lines.synced();
            let (reloaded, nodes) = (synced.reloaded, synced.nodes.clone());
            absorb(t, docs, &mut next, (reloaded, &nodes), now);
            store_held(t, lines, docs, &next)?;
            Ok::<_, StoreError>(op(t, lines, docs))
        });
        match result {
            Ok(Ok(out)) => {
                self.held = Held::default();
                Ok(out)
            }
            Ok(Err(e)) | Err(e) => {
                // Back to what is stored: the held nodes on their stored lines, the tree
                // read again, and every open file re-anchored from its stored state to its
                // buffer at the next write.
                for (_, stored) in self.held.files.drain() {
                    self.tree.set_lines(stored, false);
                }
                match self.store.load(self.options.limit) {
                    Ok(tree) => self.tree = tree,
                    Err(load) => tracing::error!("reading the history again: {load}"),
                }
                let open = self.docs.keys().filter_map(|u| self.tree.file_id(u));
                self.held.foreign.extend(open.collect::<Vec<_>>());
                Err(e)
            }
        }
    }

    /// `didClose`: what was held is stored, and the disk is the file's truth again: when
    /// the editor closed it without saving, the nodes follow the disk (the watcher follows
    /// it from then on). Returns how many nodes moved to the disk's lines.
    pub fn close_document(&mut self, uri: &str) -> Result<usize, HistoryError> {
        let uri = normalize_uri(uri)?;
        let stored = self.store_documents();
        self.docs.remove(&uri);
        self.untracked.large.remove(&uri);
        self.untracked.unknown.remove(&uri);
        stored?;
        match path_for_uri(&uri) {
            Some(path) => self.follow_contents(&[FsChange::Modified(path)]),
            None => Ok(0),
        }
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
        let mut pending: HashMap<FileId, Option<Vec<u32>>> = HashMap::new();
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
            match read_text(path) {
                Content::Text(text) => {
                    pending.insert(file, Some(line_hashes(&text)));
                }
                Content::NotText => {
                    pending.insert(file, None);
                }
                Content::Unreadable => {}
            }
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let moved = self.write(|t, lines, _| {
            let mut moved = 0;
            for (file, hashes) in pending {
                moved += match hashes {
                    Some(hashes) => reanchor(t, lines, file, hashes)?,
                    None => lose_track(t, lines, file),
                };
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
        let moved = self.write(|t, lines, _| reanchor(t, lines, file, hashes))??;
        Ok(moved)
    }
}

/// After a sync brought in other processes' rows: open files whose nodes were written
/// (every open file when the tree was reloaded) become foreign. Their held moves are
/// dropped, and their nodes not re-read put back on their stored lines, so the file is
/// wholly in its stored state, ready to be re-anchored to the buffer.
pub(super) fn absorb(
    tree: &mut Tree,
    docs: &Documents,
    held: &mut Held,
    (reloaded, nodes): (bool, &[NodeId]),
    now: Duration,
) {
    if docs.is_empty() || (!reloaded && nodes.is_empty()) {
        return;
    }
    let open: HashSet<FileId> = docs.keys().filter_map(|u| tree.file_id(u)).collect();
    let written: HashSet<FileId> = if reloaded {
        open
    } else {
        nodes
            .iter()
            .filter_map(|id| tree.node(*id).map(|n| n.file))
            .filter(|f| open.contains(f))
            .collect()
    };
    if written.is_empty() {
        return;
    }
    let reread: HashSet<NodeId> = nodes.iter().copied().collect();
    for file in &written {
        if let Some(stored) = held.files.remove(file)
            && !reloaded
        {
            tree.set_lines(stored.into_iter().filter(|n| !reread.contains(&n.0)), false);
        }
    }
    held.foreign.extend(written);
    held.since.get_or_insert(now);
}

/// Stores what is held, in the write's transaction: foreign files re-anchored from their
/// stored state to the buffer, the held moves, the changed documents' hashes.
fn store_held(
    tree: &mut Tree,
    lines: &mut FileLines<'_>,
    docs: &Documents,
    held: &Held,
) -> Result<(), StoreError> {
    for file in &held.foreign {
        // Moves held since it became foreign: back to the stored state the diff starts from.
        if let Some(stored) = held.files.get(file) {
            tree.set_lines(stored.iter().copied(), false);
        }
        let Some(uri) = tree.file(*file).map(|f| f.uri.clone()) else {
            continue;
        };
        if let Some(doc) = docs.get(&*uri) {
            reanchor(tree, lines, *file, doc.hashes().to_vec())?;
        }
    }
    for (file, stored) in &held.files {
        if held.foreign.contains(file) {
            continue;
        }
        let moved: Vec<(NodeId, u32, bool)> = stored
            .iter()
            .filter_map(|&(id, line, approximate)| {
                let n = tree.node(id)?;
                ((n.line, n.approximate) != (line, approximate)).then_some((
                    id,
                    n.line,
                    n.approximate,
                ))
            })
            .collect();
        tree.set_lines(moved, true);
    }
    for uri in &held.docs {
        if let (Some(file), Some(doc)) = (tree.file_id(uri), docs.get(uri))
            && !held.foreign.contains(&file)
        {
            lines.set(file, doc.hashes().to_vec());
        }
    }
    Ok(())
}

/// A file that became binary or larger than [`MAX_ANCHOR_BYTES`] changed: where its lines
/// went cannot be told, so its nodes keep their lines but are marked approximate, and its
/// stored hashes, which no longer describe it, are dropped. Returns how many nodes changed.
fn lose_track(tree: &mut Tree, lines: &mut FileLines<'_>, file: FileId) -> usize {
    lines.remove(file);
    tree.move_lines(file, |line| Anchored { line, exact: false })
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
    let path = path_for_uri(uri)?;
    match read_text(&path) {
        Content::Text(text) => Some(line_hashes(&text)),
        Content::NotText | Content::Unreadable => None,
    }
}

/// What a changed file holds, for re-anchoring.
enum Content {
    Text(String),
    /// Larger than [`MAX_ANCHOR_BYTES`], or binary (a NUL byte).
    NotText,
    /// Gone, not a regular file, or not readable (the watcher's deletions handle it).
    Unreadable,
}

/// A file's content; at most [`MAX_ANCHOR_BYTES`] + 1 bytes are read.
fn read_text(path: &Path) -> Content {
    let Ok(file) = std::fs::File::open(path) else {
        return Content::Unreadable;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Content::Unreadable;
    }
    let mut bytes = Vec::new();
    if file
        .take(MAX_ANCHOR_BYTES + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Content::Unreadable;
    }
    if bytes.len() as u64 > MAX_ANCHOR_BYTES || bytes.contains(&0) {
        return Content::NotText;
    }
    Content::Text(String::from_utf8_lossy(&bytes).into_owned())
}
