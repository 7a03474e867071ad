//! Node storage: a dense `Vec` of nodes and an id -> slot map.
//!
//! A `HashMap<NodeId, Node>` spends a whole node's size on every empty bucket; with a
//! million nodes that is hundreds of megabytes. Here the map holds only slot numbers and the
//! nodes sit packed in a `Vec` (removal swaps the last node into the hole).

use rustc_hash::FxHashMap;

use super::{Node, NodeId};

#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    /// Node ids are the database's row ids: a fast hash suits them.
    slots: FxHashMap<NodeId, u32>,
    nodes: Vec<Node>,
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

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Node> {
        self.slots.get(id).map(|&s| &mut self.nodes[s as usize])
    }

    /// Inserts or replaces the node with this id.
    pub fn insert(&mut self, id: NodeId, node: Node) {
        match self.slots.get(&id) {
            Some(&s) => self.nodes[s as usize] = node,
            None => {
                let slot = u32::try_from(self.nodes.len()).expect("fewer than 4 billion nodes");
                self.slots.insert(id, slot);
                self.nodes.push(node);
            }
        }
    }

    pub fn remove(&mut self, id: &NodeId) -> Option<Node> {
        let slot = self.slots.remove(id)? as usize;
        let node = self.nodes.swap_remove(slot);
        if let Some(moved) = self.nodes.get(slot) {
            self.slots.insert(moved.id, slot as u32);
        }
        Some(node)
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
