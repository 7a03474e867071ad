//! Keeping the tree within its limit: which nodes may go, and removing them (see the rules
//! at the top of `tree`).

use std::collections::{BinaryHeap, HashSet};

use super::{Change, Node, NodeId, Tree};

impl Tree {
    pub(super) fn prune_if_over_limit(&mut self) {
        if self.nodes.len() > self.limit {
            // Prune a little below the limit, so the scan runs once per many visits.
            let target = self.limit - self.limit / 20;
            self.prune(target);
        }
    }

    /// Removes the least recently visited removable nodes until at most `target` remain.
    /// Removable: a node with at most one child that no cursor stands on. A leaf just goes;
    /// a node with one child is spliced out (the child takes its place), so a long chain
    /// loses its oldest end, as a jumplist does. Nodes that hold branches together stay
    /// until their branches are gone. Returns the removed ids.
    pub fn prune(&mut self, target: usize) -> Vec<NodeId> {
        let pinned: HashSet<NodeId> = self.cursors.values().copied().collect();
        let mut heap: BinaryHeap<std::cmp::Reverse<(i64, NodeId)>> = self
            .nodes
            .values()
            .filter(|n| self.is_removable(n, &pinned))
            .map(|n| std::cmp::Reverse((n.visited_ms, n.id)))
            .collect();
        let mut removed = Vec::new();
        while self.nodes.len() > target {
            let Some(std::cmp::Reverse((_, id))) = heap.pop() else {
                break; // everything left is pinned by a cursor or holds branches together
            };
            let Some(node) = self.nodes.get(&id) else {
                continue;
            };
            if !self.is_removable(node, &pinned) {
                continue;
            }
            let parent = node.parent;
            let was_leaf = node.children.is_empty();
            if removed.is_empty() {
                self.shape_changed();
            }
            self.remove_node(id);
            removed.push(id);
            // A parent that lost its last child may now go too.
            if was_leaf
                && let Some(p) = parent.and_then(|p| self.nodes.get(&p))
                && self.is_removable(p, &pinned)
            {
                heap.push(std::cmp::Reverse((p.visited_ms, p.id)));
            }
        }
        removed
    }

    fn is_removable(&self, node: &Node, pinned: &HashSet<NodeId>) -> bool {
        node.children.len() <= 1 && !pinned.contains(&node.id)
    }

    /// Removes a node with at most one child; the child, if any, takes its place.
    fn remove_node(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("caller checked");
        let child = node.children.first().copied();
        if let Some(c) = child {
            self.nodes.get_mut(&c).expect("child exists").parent = node.parent;
            self.changes.push(Change::Node(c));
        }
        match node.parent {
            Some(parent) => {
                let p = self.nodes.get_mut(&parent).expect("parent exists");
                p.children.retain(|c| *c != id);
                if let Some(c) = child {
                    let pos = p.children.partition_point(|x| *x < c);
                    p.children.insert(pos, c);
                }
            }
            None => self.root = child,
        }
        self.changes.push(Change::NodeRemoved(id));
    }
}
