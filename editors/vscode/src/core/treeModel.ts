// The history tree shaped for a tree view. Pure.
//
// Like the server's text form, a chain of single steps stays at one level and only branches
// nest, so a long history does not become a staircase:
//
//   #1 a.ts:1              (top level: the chain from the root)
//   #2 b.ts:20             (branches here: expandable)
//     #3 c.ts:30           (the head of a branch; expandable: the rest of its chain)
//       #4 d.ts:40
//     #5 e.ts:50
import { NodeView, TreeView } from './protocol';

export type Collapsible = 'none' | 'collapsed' | 'expanded';

export interface ItemView {
  id: number;
  label: string;
  description: string;
  tooltip: string;
  collapsible: Collapsible;
  current: boolean;
  gone: boolean;
  node: NodeView;
}

export class TreeModel {
  private readonly byId = new Map<number, NodeView>();
  private readonly ancestorsOfCurrent = new Set<number>();

  constructor(readonly tree: TreeView) {
    for (const node of tree.nodes) {
      this.byId.set(node.id, node);
    }
    let at = tree.current === null ? undefined : this.byId.get(tree.current);
    // Parents come before children, so a walk up is bounded by the node count.
    for (let guard = 0; at && at.parent !== null && guard < tree.nodes.length; guard++) {
      this.ancestorsOfCurrent.add(at.parent);
      at = this.byId.get(at.parent);
    }
  }

  get empty(): boolean {
    return this.tree.root === null || !this.byId.has(this.tree.root);
  }

  node(id: number): NodeView | undefined {
    return this.byId.get(id);
  }

  /** `id` and its single descendants, up to (and including) one that does not have one child. */
  private chain(id: number): number[] {
    const out: number[] = [];
    let at = this.byId.get(id);
    while (at && out.length <= this.tree.nodes.length) {
      out.push(at.id);
      if (at.children.length !== 1) {
        break;
      }
      at = this.byId.get(at.children[0]!);
    }
    return out;
  }

  private isBranchHead(node: NodeView): boolean {
    const parent = node.parent === null ? undefined : this.byId.get(node.parent);
    return parent !== undefined && parent.children.length > 1;
  }

  /** The top level of the view. */
  roots(): number[] {
    return this.empty ? [] : this.chain(this.tree.root!);
  }

  /** What a view item shows when expanded. */
  children(id: number): number[] {
    const node = this.byId.get(id);
    if (!node) {
      return [];
    }
    if (node.children.length > 1) {
      return [...node.children];
    }
    if (node.children.length === 1 && this.isBranchHead(node)) {
      return this.chain(node.children[0]!);
    }
    return [];
  }

  item(id: number): ItemView | undefined {
    const node = this.byId.get(id);
    if (!node) {
      return undefined;
    }
    const current = this.tree.current === id;
    const expandable = this.children(id).length > 0;
    const details = [
      `${node.path}:${node.line + 1}`,
      `reached by ${node.reason}, ${node.visits} visit${node.visits === 1 ? '' : 's'}`,
      `last visited ${new Date(node.visitedMs).toLocaleString()}`,
    ];
    if (node.gone) {
      details.push('the file was deleted');
    }
    return {
      id,
      label: `#${id} ${node.path}:${node.line + 1}`,
      description: `${node.reason}${node.gone ? ' [deleted]' : ''}${current ? '  ← current' : ''}`,
      tooltip: details.join('\n'),
      collapsible: !expandable ? 'none' : this.ancestorsOfCurrent.has(id) ? 'expanded' : 'collapsed',
      current,
      gone: node.gone,
      node,
    };
  }

  /** The view item whose children hold `id` (for revealing the current node). */
  parentItem(id: number): number | undefined {
    const node = this.byId.get(id);
    if (!node || node.parent === null) {
      return undefined;
    }
    const parent = this.byId.get(node.parent);
    if (!parent) {
      return undefined;
    }
    if (parent.children.length > 1) {
      return parent.id;
    }
    // A single child sits in a chain: the chain from the root (top level), or the chain
    // under the branch head it continues.
    let at: NodeView | undefined = parent;
    for (let guard = 0; at && guard <= this.tree.nodes.length; guard++) {
      if (this.isBranchHead(at)) {
        return at.id;
      }
      at = at.parent === null ? undefined : this.byId.get(at.parent);
    }
    return undefined;
  }
}
