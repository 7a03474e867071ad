// Typed calls into the app's Rust commands (desktop/src-tauri/src/commands.rs) and the
// events they emit. The types mirror the Rust structs' serde form (camelCase fields).
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

export type ErrorKind = "empty" | "unreadable" | "not-found" | "invalid" | "failed";

/** What every failed command returns (AppError in error.rs). */
export interface AppError {
  kind: ErrorKind;
  message: string;
}

export function isAppError(e: unknown): e is AppError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { message?: unknown }).message === "string" &&
    typeof (e as { kind?: unknown }).kind === "string"
  );
}

/** A message for any rejection, typed or not. */
export function errorMessage(e: unknown): string {
  if (isAppError(e)) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export type ViewName = "navigation" | "today" | "stress";

export interface Prefs {
  view?: ViewName | null;
  navWorkspace?: string | null;
}

export interface AppInfo {
  version: string;
  dataDir: string | null;
}

/** An editor session on a workspace (retrace_lsp::reader::SessionView). */
export interface SessionView {
  id: string;
  /** The editor's name, e.g. "Neovim". */
  editor: string;
  pid: number;
  host: string;
  /** The session's control socket: where a jump is sent. */
  socket: string | null;
  node: number | null;
  startedMs: number;
  activeMs: number;
}

/** A workspace with a history (retrace_lsp::catalog::WorkspaceSummary). */
export interface WorkspaceSummary {
  root: string | null;
  database: string;
  nodes: number;
  lastVisitMs: number | null;
  lastUsedMs: number;
  sessions: SessionView[];
  problem: { kind: "corrupt" | "newer" | "unreadable"; message: string } | null;
}

/** A node as retrace.tree returns it (retrace_lsp::render::NodeView). */
export interface NodeView {
  id: number;
  parent: number | null;
  uri: string;
  path: string;
  line: number;
  character: number;
  reason: string;
  createdMs: number;
  visitedMs: number;
  visits: number;
  gone: boolean;
  children: number[];
}

/** A tree row in the app (retrace_lsp::rows::NodeRow): the node, its line's text, the
 *  editors whose cursor is on it. */
export interface NodeRow extends NodeView {
  lineNumber: number;
  text: string | null;
  cursors: { session: string; editor: string }[];
}

/** A workspace's tree as first shown (nav::NavTree). */
export interface NavTree {
  database: string;
  workspace: string;
  root: number | null;
  rows: NodeRow[];
  sessions: SessionView[];
}

/** What changed in the open workspace (the `nav:delta` event, nav::NavDelta). */
export interface NavDelta {
  database: string;
  reloaded: boolean;
  added: NodeRow[];
  updated: NodeRow[];
  removed: number[];
  root: number | null;
  sessions: SessionView[] | null;
}

export type EditorAnswer =
  | { status: "shown" }
  | { status: "declined" }
  | { status: "failed"; message: string }
  | { status: "no-answer-yet"; waitedMs: number };

/** The editor's reply to a jump (retrace_lsp::control::JumpReply). */
export interface JumpReply {
  node: { id: number; uri: string; path: string; line: number; character: number };
  editor: string;
  answer: EditorAnswer;
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  prefsGet: () => invoke<Prefs>("prefs_get"),
  prefsSet: (prefs: Prefs) => invoke<void>("prefs_set", { prefs }),
  navWorkspaces: () => invoke<WorkspaceSummary[]>("nav_workspaces"),
  navOpen: (database: string) => invoke<NavTree>("nav_open", { database }),
  navClose: () => invoke<void>("nav_close"),
  navJump: (socket: string | null, workspace: string, node: number) =>
    invoke<JumpReply>("nav_jump", { socket, workspace, node }),
};

export function onNavDelta(handler: (delta: NavDelta) => void): Promise<UnlistenFn> {
  return listen<NavDelta>("nav:delta", (event) => handler(event.payload));
}

export function onNavError(handler: (e: { database: string; error: AppError }) => void): Promise<UnlistenFn> {
  return listen<{ database: string; error: AppError }>("nav:error", (event) => handler(event.payload));
}

export function onNavWorkspaces(handler: (list: WorkspaceSummary[]) => void): Promise<UnlistenFn> {
  return listen<WorkspaceSummary[]>("nav:workspaces", (event) => handler(event.payload));
}
