//! Files changing under the tree: renames, deletions and restores, and lines moved by edits
//! (from the editor or from outside; see [`crate::anchor`]). None of these is a visit: no
//! cursor moves and no node is added or removed.

use std::sync::Arc;

use super::{Change, FileId, NodeId, Tree};

impl Tree {
    /// Follows a rename of a file, or of a directory (every file under it). Nodes keep their
    /// place in the tree under the new path. Returns how many files were renamed.
    pub fn rename(&mut self, from_uri: &str, to_uri: &str) -> usize {
        if from_uri == to_uri {
            return 0;
        }
        let moved: Vec<(FileId, String)> = self
            .files
            .values()
            .filter_map(|f| {
                let rest = under(&f.uri, from_uri)?;
                Some((f.id, format!("{to_uri}{rest}")))
            })
            .collect();
        for (id, new_uri) in &moved {
            let new_uri: Arc<str> = Arc::from(new_uri.as_str());
            match self.file_by_uri.get(&new_uri).copied() {
                // The new path is already known: its history and the renamed file's merge.
                Some(existing) if existing != *id => {
                    let ids: Vec<NodeId> = self.nodes_in(*id).map(|n| n.id).collect();
                    for n in ids {
                        self.nodes.set_file(&n, existing);
                        self.changes.push(Change::Node(n));
                    }
                    let target = self.files.get_mut(&existing).expect("indexed");
                    target.gone = false;
                    self.changes.push(Change::File(existing));
                    // The old entry keeps no nodes; mark it gone so it is never shown.
                    let old = self.files.get_mut(id).expect("listed");
                    old.gone = true;
                    self.changes.push(Change::File(*id));
                }
                _ => {
                    let file = self.files.get_mut(id).expect("listed");
                    self.file_by_uri.remove(&file.uri);
                    file.uri = new_uri.clone();
                    file.gone = false;
                    self.file_by_uri.insert(new_uri, *id);
                    self.changes.push(Change::File(*id));
                }
            }
        }
        moved.len()
    }

    /// Marks a file, or every file under a directory, as deleted (or back again).
    /// Returns how many files changed.
    pub fn set_gone(&mut self, uri: &str, gone: bool) -> usize {
        let mut changed = 0;
        for f in self.files.values_mut() {
            if f.gone != gone && under(&f.uri, uri).is_some() {
                f.gone = gone;
                self.changes.push(Change::File(f.id));
                changed += 1;
            }
        }
        changed
    }

    /// Moves the nodes of a file whose lines changed: `map` gives each node's line its new
    /// place ([`crate::anchor`]). A node once approximate stays so until visited again. Not a
    /// visit: no cursor moves, no arrival is recorded. Returns how many nodes changed.
    pub fn move_lines(
        &mut self,
        file: FileId,
        map: impl Fn(u32) -> crate::anchor::Anchored,
    ) -> usize {
        let mut moved = Vec::new();
        self.shift_lines(file, map, |id, _, _| moved.push(id));
        let changed = moved.len();
        self.changes.extend(moved.into_iter().map(Change::Node));
        changed
    }

    /// [`Tree::move_lines`] without recording a [`Change`]: the caller keeps the moves
    /// (`moved` is told each node's id, its line and flag before, and after) and stores
    /// them later with [`Tree::set_lines`]. Touches only the file's nodes. Returns how many
    /// changed.
    pub fn shift_lines(
        &mut self,
        file: FileId,
        map: impl Fn(u32) -> crate::anchor::Anchored,
        mut moved: impl FnMut(NodeId, (u32, bool), (u32, bool)),
    ) -> usize {
        let mut changed = 0;
        self.nodes.for_file_mut(file, |node| {
            let to = map(node.line);
            let approximate = node.approximate || !to.exact;
            if to.line != node.line || approximate != node.approximate {
                let from = (node.line, node.approximate);
                node.line = to.line;
                node.approximate = approximate;
                moved(node.id, from, (to.line, approximate));
                changed += 1;
            }
        });
        changed
    }

    /// Puts nodes on the given lines (moves made earlier by [`Tree::shift_lines`], or read
    /// back from the store); `record` says whether to record them as changes to store.
    /// Nodes no longer in the tree are skipped. Returns how many changed.
    pub fn set_lines(
        &mut self,
        lines: impl IntoIterator<Item = (NodeId, u32, bool)>,
        record: bool,
    ) -> usize {
        let mut changed = 0;
        for (id, line, approximate) in lines {
            let Some(node) = self.nodes.get_mut(&id) else {
                continue;
            };
            if node.line != line || node.approximate != approximate {
                node.line = line;
                node.approximate = approximate;
                changed += 1;
            }
            if record {
                self.changes.push(Change::Node(id));
            }
        }
        changed
    }
}

/// The rest of `uri` after `prefix` when `uri` is `prefix` itself or lies under it as a
/// directory (`file:///a/b` is under `file:///a`, `file:///ab` is not).
fn under<'a>(uri: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = uri.strip_prefix(prefix.trim_end_matches('/'))?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}
