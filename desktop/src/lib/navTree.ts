// The navigation tree as rows on screen. Pure: no DOM, no Tauri, tested by vitest.
//
// The layout is the one `retrace-lsp tree` prints: a chain of single children stays in one
// column (a jumplist reads top to bottom), and only where the history branches are the
// branches indented, one level each. A collapsed node hides its branches. A filter keeps the
// nodes whose file matches and, dimmed, the ancestors that lead to them.
import type { NavDelta, NodeRow, NodeView, SessionView } from "./api";

export interface Row<N extends NodeView = NodeView> {
  node: N;
  /** Indentation level: the number of branch points above this row. */
  depth: number;
  /** "first"..."last" when this row starts one branch of a branch point. */
  branch: "mid" | "last" | null;
  /** The node has two or more children (it can be collapsed). */
  forks: boolean;
  collapsed: boolean;
  /** Shown only because a filtered descendant is below it. */
  dim: boolean;
}

export interface Layout<N extends NodeView = NodeView> {
  rows: Row<N>[];
  /** Node id -> index in rows. */
  index: Map<number, number>;
}

export function byId<N extends NodeView>(nodes: N[]): Map<number, N> {
  return new Map(nodes.map((n) => [n.id, n]));
}

/** Nodes whose path contains `filter` (case-insensitive), and their ancestors. */
function kept<N extends NodeView>(nodes: Map<number, N>, filter: string): { keep: Set<number>; hit: Set<number> } | null {
  const needle = filter.trim().toLowerCase();
  if (needle === "") return null;
  const keep = new Set<number>();
  const hit = new Set<number>();
  for (const node of nodes.values()) {
    if (!node.path.toLowerCase().includes(needle)) continue;
    hit.add(node.id);
    let at: N | undefined = node;
    while (at && !keep.has(at.id)) {
      keep.add(at.id);
      at = at.parent === null ? undefined : nodes.get(at.parent);
    }
  }
  return { keep, hit };
}

export function layout<N extends NodeView>(
  root: number | null,
  nodes: Map<number, N>,
  collapsed: ReadonlySet<number>,
  filter = "",
): Layout<N> {
  const rows: Row<N>[] = [];
  const index = new Map<number, number>();
  const filtered = kept(nodes, filter);
  if (root === null) return { rows, index };
  // An explicit stack: histories are deep chains, far deeper than the JS call stack.
  const stack: { id: number; depth: number; branch: Row<N>["branch"] }[] = [{ id: root, depth: 0, branch: null }];
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    const node = nodes.get(top.id);
    if (!node || (filtered && !filtered.keep.has(node.id))) continue;
    const forks = node.children.length > 1;
    const isCollapsed = forks && collapsed.has(node.id);
    index.set(node.id, rows.length);
    rows.push({
      node,
      depth: top.depth,
      branch: top.branch,
      forks,
      collapsed: isCollapsed,
      dim: filtered !== null && !filtered.hit.has(node.id),
    });
    if (isCollapsed) continue;
    const children = node.children.filter((c) => nodes.has(c) && (!filtered || filtered.keep.has(c)));
    if (!forks) {
      for (const c of children) stack.push({ id: c, depth: top.depth, branch: null });
      continue;
    }
    // Pushed in reverse so the oldest branch is drawn first, as the text tree does.
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i];
      if (c === undefined) continue;
      stack.push({ id: c, depth: top.depth + 1, branch: i === children.length - 1 ? "last" : "mid" });
    }
  }
  return { rows, index };
}

/** The nearest node with branches at or above `id`: what "collapse" acts on from a row. */
export function forkAbove<N extends NodeView>(nodes: Map<number, N>, id: number): number | null {
  let at = nodes.get(id);
  while (at) {
    if (at.children.length > 1) return at.id;
    at = at.parent === null ? undefined : nodes.get(at.parent);
  }
  return null;
}

/** The tree the view holds: rows by id, the root, the editor sessions. */
export interface LiveTree {
  nodes: Map<number, NodeRow>;
  root: number | null;
  sessions: SessionView[];
}

/** The tree after a `nav:delta`: a new value (the view re-renders), the old one unchanged. */
export function applyDelta(tree: LiveTree, delta: NavDelta): LiveTree {
  const nodes = delta.reloaded ? new Map<number, NodeRow>() : new Map(tree.nodes);
  for (const id of delta.removed) nodes.delete(id);
  for (const row of delta.added) nodes.set(row.id, row);
  for (const row of delta.updated) nodes.set(row.id, row);
  return { nodes, root: delta.root, sessions: delta.sessions ?? tree.sessions };
}

/** The session a jump goes to: the one picked if it is still there, else the most
 *  recently active one that can be reached (sessions come most recent first). */
export function jumpTarget(sessions: SessionView[], picked: string | null): SessionView | null {
  return sessions.find((s) => s.id === picked) ?? sessions.find((s) => s.socket !== null) ?? null;
}
