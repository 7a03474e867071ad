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

export interface WorkspaceEntry {
  root: string;
  database: string;
  nodes: number;
  lastVisitMs: number | null;
  sessions: string[];
  error: string | null;
}

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

export interface TreeView {
  workspace: string;
  root: number | null;
  current: number | null;
  nodes: NodeView[];
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  prefsGet: () => invoke<Prefs>("prefs_get"),
  prefsSet: (prefs: Prefs) => invoke<void>("prefs_set", { prefs }),
  navWorkspaces: () => invoke<WorkspaceEntry[]>("nav_workspaces"),
  navOpen: (database: string, root: string) => invoke<TreeView>("nav_open", { database, root }),
  navClose: () => invoke<void>("nav_close"),
};

export function onNavChanged(handler: (tree: TreeView) => void): Promise<UnlistenFn> {
  return listen<TreeView>("nav:changed", (event) => handler(event.payload));
}
