//! Renders the tree for people (text) and for clients (JSON). Pure.
//!
//! The text form keeps a chain of single children in one column, as a jumplist reads, and
//! indents only where the history branches:
//!
//! ```text
//! #1 src/main.rs:1 (open)
//! #2 src/tree.rs:41 (definition)
//! ├─ #3 src/store.rs:88 (reference)
//! │  #4 src/store.rs:120 (definition)  <- current
//! └─ #5 src/render.rs:10 (definition)
//! ```
//!
//! Lines are one-based here (what an editor shows); JSON keeps LSP's zero-based lines. The
//! text form is for people, on terminals too: paths are shown [`printable`].

use serde::Serialize;

use crate::safe_text::printable;
use crate::tree::{Node, NodeId, Tree};
use crate::workspace::Workspace;

pub const CURRENT_MARK: &str = "<- current";

/// One node as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub id: NodeId,
    pub parent: Option<NodeId>,
    pub uri: String,
    /// Relative to the workspace root when inside it.
    pub path: String,
    pub line: u32,
    pub character: u32,
    pub reason: &'static str,
    pub created_ms: i64,
    pub visited_ms: i64,
    pub visits: u32,
    pub gone: bool,
    /// Whether `line` is the node's own line: `exact`, `approximate` (its line was deleted
    /// and this is the nearest line that survived) or `gone` (its file was deleted).
    pub anchor: Anchor,
    /// The text of the line as the editor or the disk has it now, cleaned and cut
    /// ([`crate::safe_text::sanitize`]); filled by the writer's `retrace.tree` and outcomes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_text: Option<String>,
    pub children: Vec<NodeId>,
}

/// How surely a node's line is its place ([`NodeView::anchor`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    Exact,
    Approximate,
    Gone,
}

impl NodeView {
    pub fn new(tree: &Tree, node: &Node, ws: &Workspace) -> NodeView {
        let uri = tree.uri_of(node).to_owned();
        NodeView {
            id: node.id,
            parent: node.parent,
            path: ws.display(&uri),
            uri,
            line: node.line,
            character: node.character,
            reason: node.reason.as_str(),
            created_ms: node.created_ms,
            visited_ms: node.visited_ms,
            visits: node.visits,
            gone: tree.is_gone(node),
            anchor: if tree.is_gone(node) {
                Anchor::Gone
            } else if node.approximate {
                Anchor::Approximate
            } else {
                Anchor::Exact
            },
            line_text: None,
            children: node.children().to_vec(),
        }
    }
}

/// The whole tree for clients: nodes in id order (parents before children).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeView {
    pub workspace: String,
    pub root: Option<NodeId>,
    pub current: Option<NodeId>,
    pub nodes: Vec<NodeView>,
}

pub fn tree_view(tree: &Tree, current: Option<NodeId>, ws: &Workspace) -> TreeView {
    let mut nodes: Vec<&Node> = tree.nodes().collect();
    nodes.sort_by_key(|n| n.id);
    TreeView {
        workspace: ws.root().display().to_string(),
        root: tree.root(),
        current,
        nodes: nodes.iter().map(|n| NodeView::new(tree, n, ws)).collect(),
    }
}

/// A zero-based line as people count it (one-based), for every line a `u32` can hold.
pub fn line_number(line: u32) -> u64 {
    u64::from(line) + 1
}

/// One line of the text form, without its tree prefix.
pub fn node_label(tree: &Tree, node: &Node, ws: &Workspace) -> String {
    let gone = if tree.is_gone(node) {
        " [deleted]"
    } else if node.approximate {
        " [line deleted: nearest line]"
    } else {
        ""
    };
    format!(
        "{} {}:{} ({}){gone}",
        node.id,
        printable(&ws.display(tree.uri_of(node))),
        line_number(node.line),
        node.reason.as_str()
    )
}

pub fn tree_text(tree: &Tree, current: Option<NodeId>, ws: &Workspace) -> String {
    let Some(root) = tree.root() else {
        return "(no history yet: visit a file)\n".to_owned();
    };
    let mut out = String::new();
    // (node, prefix of its first line, prefix of the lines that follow). An explicit stack:
    // histories are deep, and recursion per branch could still overflow.
    let mut stack = vec![(root, String::new(), String::new())];
    while let Some((start, first, rest)) = stack.pop() {
        let mut id = start;
        let mut prefix = first;
        loop {
            let node = tree.node(id).expect("listed nodes exist");
            out.push_str(&prefix);
            out.push_str(&node_label(tree, node, ws));
            if current == Some(id) {
                out.push_str("  ");
                out.push_str(CURRENT_MARK);
            }
            out.push('\n');
            prefix.clone_from(&rest);
            match node.children() {
                [] => break,
                [only] => id = *only,
                children => {
                    let last = children.len() - 1;
                    for (i, child) in children.iter().enumerate().rev() {
                        let (head, tail) = if i == last {
                            ("└─ ", "   ")
                        } else {
                            ("├─ ", "│  ")
                        };
                        stack.push((*child, format!("{rest}{head}"), format!("{rest}{tail}")));
                    }
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_hold_every_line() {
        assert_eq!(line_number(0), 1);
        assert_eq!(line_number(u32::MAX), 4_294_967_296);
    }
}
