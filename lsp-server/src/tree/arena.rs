//! Node storage: a dense `Vec` of nodes, an id -> slot map, and the slots of each file's
//! nodes.
//!
//! A `HashMap<NodeId, Node>` spends a whole node's size on every empty bucket; with a
//! million nodes that is hundreds of megabytes. Here the map holds only slot numbers and the
//! nodes sit packed in a `Vec` (removal swaps the last node into the hole). The index by
//! file holds slots, not ids, so following a file's lines reads its nodes without a lookup
//! each: kept true by `insert`, `remove` (the swapped node's slot too) and `set_file`, the
//! only ways a node enters, leaves or changes file.

use rustc_hash::FxHashMap;

use super::{FileId, Node, NodeId};

#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    /// Node ids are the database's row ids: a fast hash suits them.
    slots: FxHashMap<NodeId, u32>,
    nodes: Vec<Node>,
    by_file: FxHashMap<FileId, Vec<u32>>,
}

impl Arena {
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.nodes.reserve(additional);
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn contains_key(&self, id: &NodeId) -> bool {
        self.slots.contains_key(id)
    }

    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        self.slots.get(id).map(|&s| &self.nodes[s as usize])
    }

    /// A node to change in place: not its id (the slots map by it) nor its file (see
    /// [`Arena::set_file`]).
    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Node> {
        self.slots.get(id).map(|&s| &mut self.nodes[s as usize])
    }

    /// Inserts or replaces the node with this id.
    pub fn insert(&mut self, id: NodeId, node: Node) {
        match self.slots.get(&id) {
            Some(&s) => {
                let old = self.nodes[s as usize].file;
                if old != node.file {
                    self.unindex(old, s);
                    self.by_file.entry(node.file).or_default().push(s);
                }
                self.nodes[s as usize] = node;
            }
            None => {
                let slot = u32::try_from(self.nodes.len()).expect("fewer than 4 billion nodes");
                self.slots.insert(id, slot);
                self.by_file.entry(node.file).or_default().push(slot);
                self.nodes.push(node);
            }
        }
    }

    pub fn remove(&mut self, id: &NodeId) -> Option<Node> {
        let slot = self.slots.remove(id)?;
        self.unindex(self.nodes[slot as usize].file, slot);
        let node = self.nodes.swap_remove(slot as usize);
        if let Some(moved) = self.nodes.get(slot as usize) {
            // It was the last node: its old slot is the length now.
            let from = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
            self.slots.insert(moved.id, slot);
            if let Some(slots) = self.by_file.get_mut(&moved.file)
                && let Some(s) = slots.iter_mut().find(|s| **s == from)
            {
                *s = slot;
            }
        }
        Some(node)
    }

    /// Moves a node to another file.
    pub fn set_file(&mut self, id: &NodeId, file: FileId) {
        let Some(&slot) = self.slots.get(id) else {
            return;
        };
        let old = self.nodes[slot as usize].file;
        if old != file {
            self.unindex(old, slot);
            self.by_file.entry(file).or_default().push(slot);
            self.nodes[slot as usize].file = file;
        }
    }

    fn unindex(&mut self, file: FileId, slot: u32) {
        if let Some(slots) = self.by_file.get_mut(&file) {
            slots.retain(|s| *s != slot);
            if slots.is_empty() {
                self.by_file.remove(&file);
            }
        }
    }

    /// The nodes of one file.
    pub fn in_file(&self, file: FileId) -> impl Iterator<Item = &Node> {
        let slots = self.by_file.get(&file).map_or(&[][..], Vec::as_slice);
        slots.iter().map(|s| &self.nodes[*s as usize])
    }

    /// Calls `f` on each node of one file, to change in place (not its id nor its file).
    pub fn for_file_mut(&mut self, file: FileId, mut f: impl FnMut(&mut Node)) {
        let Some(slots) = self.by_file.get(&file) else {
            return;
        };
        for s in slots {
            f(&mut self.nodes[*s as usize]);
        }
    }

    /// The index by file is true: every node indexed once, under its own file.
    pub fn check_files(&self) -> Result<(), String> {
        let indexed: usize = self.by_file.values().map(Vec::len).sum();
        if indexed != self.nodes.len() {
            return Err(format!(
                "the index by file holds {indexed} nodes, the tree {}",
                self.nodes.len()
            ));
        }
        for (file, slots) in &self.by_file {
            for s in slots {
                match self.nodes.get(*s as usize) {
                    Some(n) if n.file == *file => {}
                    _ => {
                        return Err(format!(
                            "slot {s} is indexed under file {} but is not in it",
                            file.0
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn values(&self) -> std::slice::Iter<'_, Node> {
        self.nodes.iter()
    }
}

impl std::ops::Index<&NodeId> for Arena {
    type Output = Node;

    fn index(&self, id: &NodeId) -> &Node {
        self.get(id).expect("node id is in the tree")
    }
}
