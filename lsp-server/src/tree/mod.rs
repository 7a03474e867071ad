//! The navigation tree: every place the user reached by a jump, kept as a tree.
//!
//! This module is pure: no I/O, no clock, no LSP, no SQLite. Callers pass the time in and
//! drain [`Change`]s out (the store persists them). Each editor connection is a *session*
//! with its own cursor in the shared tree.
//!
//! The rules, in one place:
//! - **visit(place)** from the cursor's node N: a place that is N itself (see
//!   [`Tree::is_same_place`]) changes nothing (but an approximate N, whose line was
//!   deleted, takes the visited line and is exact again); a child of N at the same place is moved to;
//!   anything else becomes a new child of N.
//! - **back** moves to the parent; **forward** moves to the only child, or returns the
//!   choices, most recently visited first; **jump** moves to any node.
//! - The tree holds at most `limit` nodes; past that, [`Tree::prune`] drops the least
//!   recently visited nodes that no cursor stands on and that hold no branches together
//!   (leaves go; a node in a chain is spliced out, as a jumplist drops its oldest entry).
//! - **move_lines**: when a file changes, its nodes follow their lines (see
//!   [`crate::anchor`]); not a visit: no cursor moves, nothing is added or removed.
//!   It touches only that file's nodes: the node storage (`arena`) keeps the slots of each
//!   file's nodes, and every node enters, leaves or changes file through it (`add_node`,
//!   prune's `remove_node`, `load_node`, `unload_node`, a rename that merges two files), so
//!   the index is true after every operation; [`Tree::check`] verifies it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use smallvec::SmallVec;

use serde::{Deserialize, Serialize};

/// Lines within this distance (inclusive) of a node's line, in the same file, are the same
/// place: jumping to `fn foo` and landing one line lower must not fork the history. Kept
/// well below the 10-line jump that editor plugins report as a new visit.
pub const LINE_WINDOW: u32 = 5;

/// Default node limit per workspace.
pub const DEFAULT_LIMIT: usize = 50_000;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub i64);

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub i64);

/// An editor connection. Each has its own cursor.
pub type SessionId = Arc<str>;

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How the user got to a place. Unknown names from newer clients become `Other`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Definition,
    Declaration,
    Implementation,
    TypeDefinition,
    Reference,
    Open,
    Switch,
    Jump,
    Tag,
    Manual,
    #[serde(other)]
    Other,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::Definition,
        Reason::Declaration,
        Reason::Implementation,
        Reason::TypeDefinition,
        Reason::Reference,
        Reason::Open,
        Reason::Switch,
        Reason::Jump,
        Reason::Tag,
        Reason::Manual,
        Reason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Definition => "definition",
            Reason::Declaration => "declaration",
            Reason::Implementation => "implementation",
            Reason::TypeDefinition => "type-definition",
            Reason::Reference => "reference",
            Reason::Open => "open",
            Reason::Switch => "switch",
            Reason::Jump => "jump",
            Reason::Tag => "tag",
            Reason::Manual => "manual",
            Reason::Other => "other",
        }
    }

    /// Parses a stored or client-sent name; unknown names are `Other`.
    pub fn from_name(name: &str) -> Reason {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .unwrap_or(Reason::Other)
    }
}

/// A place in a file. Lines and characters are zero-based, as in LSP (UTF-16 columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub uri: String,
    pub line: u32,
    pub character: u32,
}

/// How precisely a visit names its place: `didOpen` knows the file but not the line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Precision {
    Line,
    File,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub id: FileId,
    pub uri: Arc<str>,
    /// Deleted outside the editor; its nodes stay, and moving to one says so.
    pub gone: bool,
}

/// A node as stored: everything but the links to its children, which follow from the
/// `parent` fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: NodeId,
    pub parent: Option<NodeId>,
    pub file: FileId,
    pub line: u32,
    pub character: u32,
    pub reason: Reason,
    pub created_ms: i64,
    pub visited_ms: i64,
    pub visits: u32,
    /// Its line was deleted (in the editor or outside) and `line` is the nearest line that
    /// survived; a visit there makes it exact again.
    pub approximate: bool,
}

/// A node in the tree: its stored record (read through `Deref`), and its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    record: NodeRecord,
    /// In creation order (ascending id). Most nodes have one child: kept inline.
    children: Children,
}

type Children = SmallVec<[NodeId; 2]>;

impl std::ops::Deref for Node {
    type Target = NodeRecord;

    fn deref(&self) -> &NodeRecord {
        &self.record
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut NodeRecord {
        &mut self.record
    }
}

impl Node {
    pub fn children(&self) -> &[NodeId] {
        &self.children
    }

    pub fn record(&self) -> &NodeRecord {
        &self.record
    }
}

/// What happened to the tree, for the store to persist. Removing a node and moving a cursor
/// are their own entries; `Node` and `File` mean "write the current state of this row".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    Node(NodeId),
    NodeRemoved(NodeId),
    File(FileId),
    Cursor(SessionId),
    /// A session arrived at a node (for activity reports).
    Arrived {
        session: SessionId,
        node: NodeId,
        how: Move,
        at_ms: i64,
    },
}

/// How a session arrived at a node.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Move {
    Visit,
    Back,
    Forward,
    Jump,
}

impl Move {
    pub fn as_str(self) -> &'static str {
        match self {
            Move::Visit => "visit",
            Move::Back => "back",
            Move::Forward => "forward",
            Move::Jump => "jump",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VisitOutcome {
    /// The place is the cursor's own node: nothing changed.
    Unchanged(NodeId),
    /// An existing child was the same place; the cursor moved there.
    Revisited(NodeId),
    /// A new node was added (the first one becomes the root).
    Added(NodeId),
}

impl VisitOutcome {
    pub fn node(&self) -> NodeId {
        match *self {
            VisitOutcome::Unchanged(n) | VisitOutcome::Revisited(n) | VisitOutcome::Added(n) => n,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackOutcome {
    Moved(NodeId),
    AtRoot(NodeId),
    Empty,
}

/// Whether `forward` asks which branch to take or takes the most recently visited one.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardPolicy {
    #[default]
    Ask,
    Latest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardOutcome {
    Moved(NodeId),
    /// Several branches: the children, most recently visited first. Nothing moved.
    Choose(Vec<NodeId>),
    AtLeaf(NodeId),
    Empty,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("there is no node {0} in this history; run `retrace.tree` to see the nodes")]
    UnknownNode(NodeId),
    #[error(
        "node {chosen} is not a branch forward from the current node {current}; pick one of the choices `retrace.forward` returned"
    )]
    NotAChild { current: NodeId, chosen: NodeId },
}

#[derive(Clone, Debug)]
pub struct Tree {
    nodes: Arena,
    files: HashMap<FileId, File>,
    file_by_uri: HashMap<Arc<str>, FileId>,
    root: Option<NodeId>,
    cursors: HashMap<SessionId, NodeId>,
    next_node: i64,
    next_file: i64,
    limit: usize,
    changes: Vec<Change>,
    /// Depths computed so far; cleared when a removal changes the shape. Adding a node
    /// changes no existing depth.
    depths: RefCell<HashMap<NodeId, usize>>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new(DEFAULT_LIMIT)
    }
}

impl Tree {
    pub fn new(limit: usize) -> Tree {
        Tree {
            nodes: Arena::default(),
            files: HashMap::new(),
            file_by_uri: HashMap::new(),
            root: None,
            cursors: HashMap::new(),
            next_node: 1,
            next_file: 1,
            limit: limit.max(2),
            changes: Vec::new(),
            depths: RefCell::default(),
        }
    }

    /// Makes room for `nodes` more nodes at once (before loading a large history).
    pub fn reserve(&mut self, nodes: usize) {
        self.nodes.reserve(nodes);
    }

    // ----- reading -------------------------------------------------------------------

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn root(&self) -> Option<NodeId> {
        self.root
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The nodes of one file, in no particular order.
    pub fn nodes_in(&self, file: FileId) -> impl Iterator<Item = &Node> {
        self.nodes.in_file(file)
    }

    pub fn file(&self, id: FileId) -> Option<&File> {
        self.files.get(&id)
    }

    pub fn files(&self) -> impl Iterator<Item = &File> {
        self.files.values()
    }

    pub fn file_id(&self, uri: &str) -> Option<FileId> {
        self.file_by_uri.get(uri).copied()
    }

    pub fn uri_of(&self, node: &Node) -> &str {
        self.files.get(&node.file).map_or("", |f| &f.uri)
    }

    pub fn is_gone(&self, node: &Node) -> bool {
        self.files.get(&node.file).is_some_and(|f| f.gone)
    }

    pub fn cursor(&self, session: &str) -> Option<NodeId> {
        self.cursors.get(session).copied()
    }

    pub fn cursors(&self) -> impl Iterator<Item = (&SessionId, &NodeId)> {
        self.cursors.iter()
    }

    pub fn next_ids(&self) -> (i64, i64) {
        (self.next_node, self.next_file)
    }

    /// Number of edges from the root to `id`. Histories are deep (a jumplist is one long
    /// chain), so depths are cached: a walk stops at the first ancestor already known.
    pub fn depth(&self, id: NodeId) -> usize {
        let mut depths = self.depths.borrow_mut();
        let mut path = Vec::new();
        let mut cur = Some(id);
        let mut base = 0;
        while let Some(n) = cur {
            if let Some(&d) = depths.get(&n) {
                base = d + 1;
                break;
            }
            path.push(n);
            cur = self.nodes.get(&n).and_then(|node| node.parent);
        }
        // `path` runs from `id` up to just below the known ancestor (or the root).
        for (depth, n) in (base..).zip(path.iter().rev()) {
            depths.insert(*n, depth);
        }
        depths.get(&id).copied().unwrap_or(0)
    }

    fn shape_changed(&mut self) {
        self.depths.get_mut().clear();
    }

    /// The children of `id`, most recently visited first (ties: newest node first).
    pub fn children_by_recency(&self, id: NodeId) -> Vec<NodeId> {
        let Some(node) = self.nodes.get(&id) else {
            return Vec::new();
        };
        let mut children = node.children.to_vec();
        children.sort_by_key(|c| {
            let n = &self.nodes[c];
            std::cmp::Reverse((n.visited_ms, n.id))
        });
        children
    }

    /// The most recently visited node, where a new session starts.
    pub fn most_recent(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .max_by_key(|n| (n.visited_ms, n.id))
            .map(|n| n.id)
    }

    /// Same file, and the line within [`LINE_WINDOW`] (any line for [`Precision::File`]).
    pub fn is_same_place(&self, node: &Node, uri: &str, line: u32, precision: Precision) -> bool {
        self.uri_of(node) == uri
            && (precision == Precision::File || node.line.abs_diff(line) <= LINE_WINDOW)
    }

    /// Drains what changed since the last call, without duplicates, in first-seen order.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut seen = HashSet::new();
        std::mem::take(&mut self.changes)
            .into_iter()
            .filter(|c| matches!(c, Change::Arrived { .. }) || seen.insert(c.clone()))
            .collect()
    }

    // ----- sessions ------------------------------------------------------------------

    /// Places a new session's cursor on the most recently visited node, so a restarted
    /// editor continues where the history left off.
    pub fn open_session(&mut self, session: &SessionId) -> Option<NodeId> {
        if let Some(cur) = self.cursor(session) {
            return Some(cur);
        }
        let start = self.most_recent()?;
        self.set_cursor(session, start);
        Some(start)
    }

    pub fn close_session(&mut self, session: &SessionId) {
        if self.cursors.remove(session).is_some() {
            self.changes.push(Change::Cursor(session.clone()));
        }
    }

    fn set_cursor(&mut self, session: &SessionId, node: NodeId) {
        if self.cursors.insert(session.clone(), node) != Some(node) {
            self.changes.push(Change::Cursor(session.clone()));
        }
    }

    // ----- the operations --------------------------------------------------------------

    pub fn visit(
        &mut self,
        session: &SessionId,
        place: &Place,
        reason: Reason,
        precision: Precision,
        now_ms: i64,
    ) -> VisitOutcome {
        let file = self.intern_file(&place.uri);
        let Some(current) = self.open_session(session) else {
            let id = self.add_node(None, file, place, reason, now_ms);
            self.arrive(session, id, Move::Visit, now_ms);
            return VisitOutcome::Added(id);
        };
        let cur = &self.nodes[&current];
        if self.is_same_place(cur, &place.uri, place.line, precision) {
            // Except that a place whose line was deleted is where the user is now.
            if cur.approximate && precision == Precision::Line {
                let node = self
                    .nodes
                    .get_mut(&current)
                    .expect("the cursor's node exists");
                node.line = place.line;
                node.character = place.character;
                node.approximate = false;
                self.changes.push(Change::Node(current));
            }
            return VisitOutcome::Unchanged(current);
        }
        // Among children at the same place, the nearest line wins, then the most recent.
        let existing = cur
            .children
            .iter()
            .map(|c| &self.nodes[c])
            .filter(|c| self.is_same_place(c, &place.uri, place.line, precision))
            .min_by_key(|c| {
                (
                    c.line.abs_diff(place.line),
                    std::cmp::Reverse((c.visited_ms, c.id)),
                )
            })
            .map(|c| c.id);
        if let Some(id) = existing {
            if precision == Precision::Line {
                let node = self.nodes.get_mut(&id).expect("child exists");
                node.line = place.line;
                node.character = place.character;
                node.approximate = false;
            }
            self.arrive(session, id, Move::Visit, now_ms);
            return VisitOutcome::Revisited(id);
        }
        let id = self.add_node(Some(current), file, place, reason, now_ms);
        self.arrive(session, id, Move::Visit, now_ms);
        self.prune_if_over_limit();
        VisitOutcome::Added(id)
    }

    pub fn back(&mut self, session: &SessionId, now_ms: i64) -> BackOutcome {
        let Some(current) = self.open_session(session) else {
            return BackOutcome::Empty;
        };
        match self.nodes[&current].parent {
            Some(parent) => {
                self.arrive(session, parent, Move::Back, now_ms);
                BackOutcome::Moved(parent)
            }
            None => BackOutcome::AtRoot(current),
        }
    }

    /// `choice` names the branch to take (it must be a child of the cursor's node).
    pub fn forward(
        &mut self,
        session: &SessionId,
        choice: Option<NodeId>,
        policy: ForwardPolicy,
        now_ms: i64,
    ) -> Result<ForwardOutcome, TreeError> {
        let Some(current) = self.open_session(session) else {
            return Ok(ForwardOutcome::Empty);
        };
        let target = match choice {
            Some(chosen) => {
                if !self.nodes.contains_key(&chosen) {
                    return Err(TreeError::UnknownNode(chosen));
                }
                if !self.nodes[&current].children.contains(&chosen) {
                    return Err(TreeError::NotAChild { current, chosen });
                }
                chosen
            }
            None => {
                let children = self.children_by_recency(current);
                match (children.as_slice(), policy) {
                    ([], _) => return Ok(ForwardOutcome::AtLeaf(current)),
                    ([only], _) => *only,
                    ([latest, ..], ForwardPolicy::Latest) => *latest,
                    (_, ForwardPolicy::Ask) => return Ok(ForwardOutcome::Choose(children)),
                }
            }
        };
        self.arrive(session, target, Move::Forward, now_ms);
        Ok(ForwardOutcome::Moved(target))
    }

    pub fn jump(
        &mut self,
        session: &SessionId,
        node: NodeId,
        now_ms: i64,
    ) -> Result<NodeId, TreeError> {
        if !self.nodes.contains_key(&node) {
            return Err(TreeError::UnknownNode(node));
        }
        self.arrive(session, node, Move::Jump, now_ms);
        Ok(node)
    }

    // ----- building blocks -----------------------------------------------------------------

    fn intern_file(&mut self, uri: &str) -> FileId {
        if let Some(&id) = self.file_by_uri.get(uri) {
            let file = self.files.get_mut(&id).expect("indexed");
            if file.gone {
                // Visiting it again means it is back.
                file.gone = false;
                self.changes.push(Change::File(id));
            }
            return id;
        }
        let id = FileId(self.next_file);
        self.next_file += 1;
        let uri: Arc<str> = Arc::from(uri);
        self.files.insert(
            id,
            File {
                id,
                uri: uri.clone(),
                gone: false,
            },
        );
        self.file_by_uri.insert(uri, id);
        self.changes.push(Change::File(id));
        id
    }

    fn add_node(
        &mut self,
        parent: Option<NodeId>,
        file: FileId,
        place: &Place,
        reason: Reason,
        now_ms: i64,
    ) -> NodeId {
        let id = NodeId(self.next_node);
        self.next_node += 1;
        self.nodes.insert(
            id,
            Node {
                record: NodeRecord {
                    id,
                    parent,
                    file,
                    line: place.line,
                    character: place.character,
                    reason,
                    created_ms: now_ms,
                    visited_ms: now_ms,
                    // `arrive` counts the first visit.
                    visits: 0,
                    approximate: false,
                },
                children: Children::new(),
            },
        );
        match parent {
            Some(p) => self
                .nodes
                .get_mut(&p)
                .expect("parent exists")
                .children
                .push(id),
            None => self.root = Some(id),
        }
        self.changes.push(Change::Node(id));
        id
    }

    fn arrive(&mut self, session: &SessionId, id: NodeId, how: Move, now_ms: i64) {
        let node = self.nodes.get_mut(&id).expect("caller checked");
        node.visited_ms = now_ms;
        node.visits = node.visits.saturating_add(1);
        self.changes.push(Change::Node(id));
        self.set_cursor(session, id);
        self.changes.push(Change::Arrived {
            session: session.clone(),
            node: id,
            how,
            at_ms: now_ms,
        });
    }
}

mod arena;
mod files;
mod load;
mod prune;
use arena::Arena;

#[cfg(test)]
mod tests;
