// The wire vocabulary of retrace-lsp (lsp-server/PROTOCOL.md), for the extension and its
// tests. Pure: no `vscode`, no I/O.

/** Server commands, reached through `workspace/executeCommand`. */
export const SERVER_COMMANDS = {
  back: 'retrace.back',
  forward: 'retrace.forward',
  jump: 'retrace.jump',
  tree: 'retrace.tree',
  visit: 'retrace.visit',
  status: 'retrace.status',
} as const;

export const VISIT_NOTIFICATION = 'retrace/visit';
export const TREE_CHANGED_NOTIFICATION = 'retrace/treeChanged';

/** The oldest retrace-lsp with everything this extension uses. */
export const MINIMUM_SERVER_VERSION = '0.1.0';

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface Location {
  uri: string;
  range: Range;
}

export type Reason =
  | 'definition'
  | 'declaration'
  | 'implementation'
  | 'type-definition'
  | 'reference'
  | 'open'
  | 'switch'
  | 'jump'
  | 'tag'
  | 'manual';

export interface NodeView {
  id: number;
  parent: number | null;
  uri: string;
  /** Relative to the workspace root when inside it. */
  path: string;
  /** Zero-based. */
  line: number;
  character: number;
  reason: string;
  createdMs: number;
  visitedMs: number;
  visits: number;
  /** The file was deleted outside the editor. */
  gone: boolean;
  children: number[];
}

export type OutcomeStatus =
  | 'moved'
  | 'at-root'
  | 'at-leaf'
  | 'empty'
  | 'choose'
  | 'added'
  | 'revisited'
  | 'unchanged'
  | 'arrived';

export interface Outcome {
  status: OutcomeStatus;
  message: string;
  node: NodeView | null;
  location: Location | null;
  /** For `choose`: the branches, most recently visited first. */
  choices?: NodeView[];
}

export interface TreeView {
  workspace: string;
  root: number | null;
  current: number | null;
  /** In id order: a parent before its children. */
  nodes: NodeView[];
}

export interface StatusView {
  workspace: string;
  database: string;
  nodes: number;
  node: NodeView | null;
  depth: number;
  branches: number;
  sessions: number;
}

export interface TreeChanged {
  current: number | null;
  nodes: number;
}

export interface VisitParams {
  uri: string;
  position: Position;
  reason: Reason;
}

export type ForwardPolicy = 'ask' | 'latest';

export interface InitializationOptions {
  sendsVisits: boolean;
  notifyChanges: boolean;
  forwardPolicy: ForwardPolicy;
  /** The server moves the editor itself (`window/showDocument`) after each command. */
  showDocument?: boolean;
  /** More of PROTOCOL.md's options (`recordOutsideWorkspace`, `nodeLimit`...), from the user. */
  [option: string]: unknown;
}

/**
 * What the extension tells the server at `initialize`: the user's `retrace.serverOptions`
 * (anything but an object is ignored), then the extension's own options.
 */
export function initializationOptions(forwardPolicy: ForwardPolicy, serverOptions: unknown = {}): InitializationOptions {
  const extra = typeof serverOptions === 'object' && serverOptions !== null && !Array.isArray(serverOptions) ? serverOptions : {};
  return {
    ...extra,
    // The extension reports visits itself, so opening a document is not one.
    sendsVisits: true,
    // The tree view and the status bar follow the history.
    notifyChanges: true,
    forwardPolicy,
  };
}

export function visitParams(uri: string, line: number, character: number, reason: Reason): VisitParams {
  return { uri, position: { line, character }, reason };
}

/** [major, minor, patch] from "0.1.0", "retrace-lsp 0.1.0" or "0.2.0-dev"; undefined if none. */
export function parseVersion(text: string | undefined): [number, number, number] | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** Whether `text` names a version at least `minimum` (false when it names none). */
export function versionAtLeast(text: string | undefined, minimum: string = MINIMUM_SERVER_VERSION): boolean {
  const have = parseVersion(text);
  const want = parseVersion(minimum);
  if (!have || !want) {
    return false;
  }
  for (let i = 0; i < 3; i++) {
    if (have[i] !== want[i]) {
      return have[i]! > want[i]!;
    }
  }
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Checks the shape of a command's Outcome, so a wrong server fails loudly, not oddly. */
export function asOutcome(value: unknown, command: string): Outcome {
  if (!isObject(value) || typeof value.status !== 'string' || typeof value.message !== 'string') {
    throw new Error(`${command} returned ${JSON.stringify(value)}, not an Outcome; is retrace-lsp up to date?`);
  }
  return value as unknown as Outcome;
}

export function asTree(value: unknown): TreeView {
  if (!isObject(value) || !Array.isArray(value.nodes)) {
    throw new Error(`retrace.tree returned ${JSON.stringify(value)}, not a tree; is retrace-lsp up to date?`);
  }
  return value as unknown as TreeView;
}

export function asStatus(value: unknown): StatusView {
  if (!isObject(value) || typeof value.depth !== 'number' || typeof value.branches !== 'number') {
    throw new Error(`retrace.status returned ${JSON.stringify(value)}, not a status; is retrace-lsp up to date?`);
  }
  return value as unknown as StatusView;
}
