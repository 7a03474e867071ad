//! What a tree row shows in the app beyond the node itself: the text of the node's line,
//! read from disk (bounded, cleaned of control characters, cached per file), and which
//! sessions' cursors stand on it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::render::NodeView;
use crate::safe_text::sanitize;
use crate::tree::{Node, Tree};
use crate::workspace::{Workspace, path_for_uri};

/// A line's text is cut to this many characters (with `…`).
pub const MAX_TEXT_CHARS: usize = 200;
/// Only this much of a file is read for line texts; lines past it have none.
const MAX_FILE_BYTES: u64 = 8 << 20;

/// One node as the app's tree shows it: the node ([`NodeView`], whose JSON fields stay as
/// `retrace.tree` has them), plus its line's text and the cursors on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    #[serde(flatten)]
    pub node: NodeView,
    /// One-based, as editors show it (`node.line` is LSP's zero-based line).
    pub line_number: u32,
    /// The line as it is on disk now; `None` when the file or the line is missing.
    pub text: Option<String>,
    /// The sessions whose cursor is on this node, with their editors' names.
    pub cursors: Vec<CursorMark>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorMark {
    pub session: String,
    /// The editor's name (`clientInfo.name`), or the client string of older sessions.
    pub editor: String,
}

impl NodeRow {
    pub fn new(
        tree: &Tree,
        node: &Node,
        ws: &Workspace,
        lines: &mut LineCache,
        cursors: Vec<CursorMark>,
    ) -> NodeRow {
        let text = if tree.is_gone(node) {
            None
        } else {
            path_for_uri(tree.uri_of(node)).and_then(|p| lines.line(&p, node.line))
        };
        NodeRow {
            node: NodeView::new(tree, node, ws),
            line_number: node.line.saturating_add(1),
            text,
            cursors,
        }
    }
}

/// Line texts, read once per file and again when its size or modification time changes.
/// A file is checked against the disk at most once per [`LineCache::next_pass`].
#[derive(Default)]
pub struct LineCache {
    files: HashMap<PathBuf, CachedFile>,
    pass: u64,
}

struct CachedFile {
    /// Size and modification time when read; `None`: the file could not be read.
    stamp: Option<(u64, SystemTime)>,
    lines: Vec<Box<str>>,
    checked_in: u64,
}

impl LineCache {
    /// Starts a new pass over the rows: each file is checked against the disk again.
    pub fn next_pass(&mut self) {
        self.pass += 1;
    }

    /// The text of zero-based `line` of `path`, cleaned ([`sanitize`]); `None` when the
    /// file cannot be read or is shorter.
    pub fn line(&mut self, path: &Path, line: u32) -> Option<String> {
        let pass = self.pass;
        let stale = match self.files.get(path) {
            Some(f) => f.checked_in != pass && f.stamp != stamp(path),
            None => true,
        };
        if stale {
            let (stamp, lines) = read_lines(path);
            self.files.insert(
                path.to_owned(),
                CachedFile {
                    stamp,
                    lines,
                    checked_in: pass,
                },
            );
        }
        let file = self.files.get_mut(path)?;
        file.checked_in = pass;
        file.stamp?;
        let index = usize::try_from(line).ok()?;
        file.lines.get(index).map(|l| l.to_string())
    }
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

fn read_lines(path: &Path) -> (Option<(u64, SystemTime)>, Vec<Box<str>>) {
    let before = stamp(path);
    let Ok(file) = std::fs::File::open(path) else {
        return (None, Vec::new());
    };
    let mut bytes = Vec::new();
    if file.take(MAX_FILE_BYTES).read_to_end(&mut bytes).is_err() {
        return (None, Vec::new());
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines = text
        .split('\n')
        .map(|l| sanitize(l, MAX_TEXT_CHARS).into_boxed_str())
        .collect();
    (before, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_texts_follow_the_file_and_a_missing_file_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rs");
        std::fs::write(&path, "zero\n\tone\u{0}\ntwo").unwrap();
        let mut cache = LineCache::default();
        assert_eq!(cache.line(&path, 0).as_deref(), Some("zero"));
        assert_eq!(cache.line(&path, 1).as_deref(), Some(" one"));
        assert_eq!(cache.line(&path, 2).as_deref(), Some("two"));
        assert_eq!(cache.line(&path, 3), None);
        // Within a pass the file is not read again; in the next one a change is seen.
        std::fs::write(&path, "changed, and longer than before\n").unwrap();
        assert_eq!(cache.line(&path, 0).as_deref(), Some("zero"));
        cache.next_pass();
        assert_eq!(
            cache.line(&path, 0).as_deref(),
            Some("changed, and longer than before")
        );
        std::fs::remove_file(&path).unwrap();
        cache.next_pass();
        assert_eq!(cache.line(&path, 0), None);
        assert_eq!(cache.line(&dir.path().join("never.rs"), 0), None);
    }
}
