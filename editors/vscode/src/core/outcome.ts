// What an Outcome asks the editor to do, and how branches are offered. Pure.
import { Location, NodeView, Outcome } from './protocol';

export type Action =
  /** Go there (the server's cursor already moved). */
  | { kind: 'move'; location: Location; label: string }
  /** Several branches lead on: ask which, then `retrace.forward {node}`. */
  | { kind: 'choose'; choices: NodeView[] }
  /** Nothing moved: at the root, at a leaf, or no history yet. */
  | { kind: 'inform'; message: string }
  /** The cursor moved to a place whose file was deleted: nothing to open. */
  | { kind: 'warn'; message: string };

export function actionFor(outcome: Outcome): Action {
  switch (outcome.status) {
    case 'moved':
      return outcome.location
        ? { kind: 'move', location: outcome.location, label: outcome.message }
        : { kind: 'warn', message: outcome.message };
    case 'choose':
      return { kind: 'choose', choices: outcome.choices ?? [] };
    default:
      return { kind: 'inform', message: outcome.message };
  }
}

export interface ChoiceItem {
  /** "src/a.ts:42" */
  label: string;
  /** The reason it was visited, and when. */
  description: string;
  /** The text of that line. */
  detail?: string;
  node: number;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago". */
export function ago(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 60) {
    return 'just now';
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * QuickPick items for nodes, in the order given (the server lists branches most recent first).
 * `preview` returns the text of a node's line, when it can be read.
 */
export function choiceItems(
  nodes: NodeView[],
  preview: (node: NodeView) => string | undefined,
  nowMs: number,
): ChoiceItem[] {
  return nodes.map((node) => {
    const text = node.gone ? undefined : preview(node)?.trim();
    const item: ChoiceItem = {
      label: `${node.path}:${node.line + 1}`,
      description: `${node.reason}${node.gone ? ' [deleted]' : ''}, ${ago(node.visitedMs, nowMs)}`,
      node: node.id,
    };
    if (text) {
      item.detail = text.length > 120 ? `${text.slice(0, 117)}...` : text;
    }
    return item;
  });
}

/** Every node of a tree, most recently visited first (for the jump picker). */
export function byRecency(nodes: NodeView[]): NodeView[] {
  return [...nodes].sort((a, b) => b.visitedMs - a.visitedMs || b.id - a.id);
}
