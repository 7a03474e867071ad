import { describe, expect, it } from "vitest";
import type { NodeRow } from "./api";
import { applyDelta, byId, forkAbove, jumpTarget, layout } from "./navTree";

function node(id: number, parent: number | null, path: string, children: number[] = []): NodeRow {
  return {
    id,
    parent,
    path,
    lineNumber: id + 1,
    reason: "definition",
    visitedMs: id,
    visits: 1,
    children,
  };
}

// #1 main.rs
// #2 server.rs
// ├─ #3 history.rs
// │  #4 store.rs
// └─ #5 tree.rs
const nodes = byId([
  node(1, null, "main.rs", [2]),
  node(2, 1, "server.rs", [3, 5]),
  node(3, 2, "history.rs", [4]),
  node(4, 3, "store.rs"),
  node(5, 2, "tree.rs"),
]);

const shape = (rows: ReturnType<typeof layout>["rows"]) =>
  rows.map((r) => `${"  ".repeat(r.depth)}${r.branch === "mid" ? "├" : r.branch === "last" ? "└" : ""}${r.node.id}${r.dim ? "~" : ""}`);

describe("layout", () => {
  it("keeps chains in one column and indents branches, oldest first", () => {
    expect(shape(layout(1, nodes, new Set()).rows)).toEqual(["1", "2", "  ├3", "  4", "  └5"]);
  });

  it("hides the branches of a collapsed fork", () => {
    const { rows } = layout(1, nodes, new Set([2]));
    expect(shape(rows)).toEqual(["1", "2"]);
    expect(rows[1]?.collapsed).toBe(true);
  });

  it("filters by file name, keeping dimmed ancestors", () => {
    expect(shape(layout(1, nodes, new Set(), "STORE").rows)).toEqual(["1~", "2~", "  └3~", "  4"]);
  });

  it("survives a chain far deeper than the call stack", () => {
    const deep: NodeRow[] = [];
    for (let i = 1; i <= 50_000; i++) deep.push(node(i, i === 1 ? null : i - 1, "a.rs", i < 50_000 ? [i + 1] : []));
    const { rows, index } = layout(1, byId(deep), new Set());
    expect(rows.length).toBe(50_000);
    expect(index.get(50_000)).toBe(49_999);
  });

  it("has no rows without a root", () => {
    expect(layout(null, nodes, new Set()).rows).toEqual([]);
  });
});

describe("forkAbove", () => {
  it("finds the nearest branch point", () => {
    expect(forkAbove(nodes, 4)).toBe(2);
    expect(forkAbove(nodes, 1)).toBe(null);
  });
});

describe("applyDelta", () => {
  const row = (id: number, parent: number | null, children: number[] = [], editor?: string) => ({
    ...node(id, parent, `f${id}.rs`, children),
    lineNumber: id + 1,
    text: `line ${id}`,
    cursors: editor ? [{ session: "s1", editor }] : [],
  });
  const session = (id: string, socket: string | null, activeMs: number) => ({
    id,
    editor: "Neovim",
    pid: 1,
    host: "h",
    socket,
    node: null,
    startedMs: 0,
    activeMs,
  });
  const base = { nodes: new Map([[1, row(1, null, [2])], [2, row(2, 1)]]), root: 1, sessions: [session("s1", "/run/a", 5)] };

  it("adds, updates and removes rows without touching the old tree", () => {
    const next = applyDelta(base, {
      database: "db",
      reloaded: false,
      added: [row(3, 1)],
      updated: [row(1, null, [2, 3])],
      removed: [2],
      root: 1,
      sessions: null,
    });
    expect([...next.nodes.keys()].sort()).toEqual([1, 3]);
    expect(next.nodes.get(1)?.children).toEqual([2, 3]);
    expect(next.sessions).toBe(base.sessions);
    expect([...base.nodes.keys()].sort()).toEqual([1, 2]);
  });

  it("replaces everything on a reload", () => {
    const next = applyDelta(base, { database: "db", reloaded: true, added: [row(7, null)], updated: [], removed: [], root: 7, sessions: [] });
    expect([...next.nodes.keys()]).toEqual([7]);
    expect(next.root).toBe(7);
    expect(next.sessions).toEqual([]);
  });
});

describe("jumpTarget", () => {
  const s = (id: string, socket: string | null) => ({ id, editor: "e", pid: 1, host: "h", socket, node: null, startedMs: 0, activeMs: 0 });
  it("keeps the picked session while it exists, else takes the most recent reachable one", () => {
    const sessions = [s("old-server", null), s("b", "/b"), s("c", "/c")];
    expect(jumpTarget(sessions, "c")?.id).toBe("c");
    expect(jumpTarget(sessions, "gone")?.id).toBe("b");
    expect(jumpTarget([], null)).toBeNull();
  });
});
