//! Loading from, and syncing with, the store, and the structural check.
//!
//! These apply rows that are already persisted (by this or another process), so they record
//! no changes.

use super::{File, Node, NodeId, NodeRecord, SessionId, Tree};

impl Tree {
    /// Inserts or replaces a node as stored. Parent links are fixed up; apply nodes in
    /// ascending id order (parents before children) and removals after upserts.
    pub fn load_node(&mut self, record: NodeRecord) {
        let id = record.id;
        if let Some(old) = self.nodes.get(&id) {
            let old_parent = old.parent;
            if old_parent != record.parent {
                self.detach(id, old_parent);
                self.shape_changed();
            }
        }
        let children = self
            .nodes
            .get(&id)
            .map(|n| n.children.clone())
            .unwrap_or_default();
        let had_parent = self.nodes.get(&id).map(|n| n.parent);
        let parent = record.parent;
        self.nodes.insert(id, Node { record, children });
        if had_parent != Some(parent) {
            match parent {
                Some(p) => {
                    if let Some(parent) = self.nodes.get_mut(&p) {
                        let pos = parent.children.partition_point(|c| *c < id);
                        parent.children.insert(pos, id);
                    }
                }
                None => self.root = Some(id),
            }
        }
        self.next_node = self.next_node.max(id.0 + 1);
    }

    /// Removes a node that the store says is gone (pruned by another process).
    pub fn unload_node(&mut self, id: NodeId) {
        let Some(node) = self.nodes.remove(&id) else {
            return;
        };
        self.shape_changed();
        self.detach(id, node.parent);
        if self.root == Some(id) {
            self.root = None;
        }
        // Children still pointing here were removed too, or re-parented by an upsert that
        // has not been applied; either way they hang on as roots until the next rows say.
        for c in node.children {
            if let Some(child) = self.nodes.get_mut(&c)
                && child.parent == Some(id)
            {
                child.parent = None;
                self.root.get_or_insert(c);
            }
        }
        self.cursors.retain(|_, n| *n != id);
    }

    /// After applying a batch of stored rows: make `root` the node without a parent again,
    /// if the batch's order left it pointing elsewhere. O(1) when nothing is off.
    pub fn repair_root(&mut self) {
        let fine = match self.root {
            None => self.nodes.is_empty(),
            Some(r) => self.nodes.get(&r).is_some_and(|n| n.parent.is_none()),
        };
        if !fine {
            self.root = self
                .nodes
                .values()
                .find(|n| n.parent.is_none())
                .map(|n| n.id);
        }
    }

    fn detach(&mut self, id: NodeId, parent: Option<NodeId>) {
        if let Some(p) = parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.retain(|c| *c != id);
        }
    }

    pub fn load_file(&mut self, file: File) {
        if let Some(old) = self.files.get(&file.id)
            && self.file_by_uri.get(&old.uri) == Some(&file.id)
        {
            self.file_by_uri.remove(&old.uri);
        }
        self.file_by_uri.insert(file.uri.clone(), file.id);
        self.next_file = self.next_file.max(file.id.0 + 1);
        self.files.insert(file.id, file);
    }

    /// Replaces every cursor with the stored ones (sessions of all processes). Cursors on
    /// nodes this tree does not hold are dropped.
    pub fn load_cursors(&mut self, cursors: impl IntoIterator<Item = (SessionId, NodeId)>) {
        self.cursors = cursors
            .into_iter()
            .filter(|(_, n)| self.nodes.contains_key(n))
            .collect();
    }

    /// Never hand out an id below these (ids are not reused, even after pruning).
    pub fn reserve_ids(&mut self, next_node: i64, next_file: i64) {
        self.next_node = self.next_node.max(next_node);
        self.next_file = self.next_file.max(next_file);
    }

    /// Checks the structural invariants; used by tests and after loading.
    pub fn check(&self) -> Result<(), String> {
        let roots: Vec<_> = self.nodes.values().filter(|n| n.parent.is_none()).collect();
        match (roots.as_slice(), self.root) {
            ([], None) => {}
            ([r], Some(root)) if r.id == root => {}
            _ => {
                return Err(format!(
                    "expected one root ({:?}), found {:?}",
                    self.root,
                    roots.iter().map(|n| n.id).collect::<Vec<_>>()
                ));
            }
        }
        for node in self.nodes.values() {
            if let Some(p) = node.parent {
                let parent = self
                    .nodes
                    .get(&p)
                    .ok_or_else(|| format!("{} has a missing parent {p}", node.id))?;
                if !parent.children.contains(&node.id) {
                    return Err(format!("{p} does not list its child {}", node.id));
                }
            }
            for c in &node.children {
                let child = self
                    .nodes
                    .get(c)
                    .ok_or_else(|| format!("{} lists a missing child {c}", node.id))?;
                if child.parent != Some(node.id) {
                    return Err(format!(
                        "{c} is listed under {} but says otherwise",
                        node.id
                    ));
                }
            }
            if !node.children.is_sorted() {
                return Err(format!("children of {} are out of order", node.id));
            }
            if !self.files.contains_key(&node.file) {
                return Err(format!("{} points at a missing file", node.id));
            }
            if node.id.0 >= self.next_node {
                return Err(format!("{} is not below the next id", node.id));
            }
        }
        // No cycles: with parent and children links consistent, every node has one parent,
        // so a node on a cycle is unreachable from the root. Count what the root reaches.
        let mut reached = 0;
        let mut stack: Vec<NodeId> = self.root.into_iter().collect();
        while let Some(id) = stack.pop() {
            reached += 1;
            if reached > self.nodes.len() {
                break;
            }
            stack.extend_from_slice(&self.nodes[&id].children);
        }
        if reached != self.nodes.len() {
            return Err(format!(
                "{} of {} nodes are not reachable from the root (a cycle)",
                self.nodes.len().abs_diff(reached),
                self.nodes.len()
            ));
        }
        self.nodes.check_files()?;
        for (session, node) in &self.cursors {
            if !self.nodes.contains_key(node) {
                return Err(format!("cursor of {session} is on a missing node {node}"));
            }
        }
        Ok(())
    }
}
