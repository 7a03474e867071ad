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
  /** A desktop notification when a planned run of blocks starts (off by default). */
  notifyBlocks?: boolean;
  /** The workspace selected last in the Stress tests view. */
  stressWorkspace?: string | null;
  /** The command that opens a terminal running the words after it (Stress tests' repro). */
  terminal?: string | null;
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

/** What the tree's layout needs of a node. */
export interface NodeView {
  id: number;
  parent: number | null;
  /** Relative to the workspace root when inside it. */
  path: string;
  children: number[];
}

/** A tree row in the app (nav::NavRow): what the view draws of a node, its line's text, the
 *  editors whose cursor is on it. Empty fields are left out of the JSON. */
export interface NodeRow extends NodeView {
  lineNumber: number;
  text?: string;
  reason: string;
  visitedMs: number;
  visits: number;
  gone?: boolean;
  cursors?: { session: string; editor: string }[];
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

// --- the Today view: the planner's own reports (snake_case, as `blocks show --json`) ---------

/** What a block is planned to hold (the planner's Cell). */
export interface Cell {
  label: string;
  category?: string;
  color?: string;
  /** Set for a calendar event's block: locked, moved only in its calendar. */
  fixed_uid?: string;
}

/** What a block actually held (the planner's ActualCell). */
export interface ActualCell {
  label: string;
  category?: string;
  /** "manual", "lsp" or "snaprun". */
  source: string;
  seconds: number;
}

export type Outcome = "matched" | "different" | "missed" | "unplanned" | "pending" | "free";

export interface BlockView {
  index: number;
  start: string;
  end: string;
  local: string;
  offset: string;
  repeated: boolean;
  key: string;
  planned: Cell | null;
  actual: ActualCell | null;
  outcome: Outcome;
}

export interface RevisionInfo {
  number: number;
  created_at: string;
  from: string | null;
}

export interface Adherence {
  matched: number;
  due: number;
  ratio: number | null;
}

export interface Tally {
  name: string;
  planned: number;
  actual: number;
  matched: number;
  due: number;
}

/** One day as the Today view shows it: the planner's DayView plus the planner's today. */
export interface TodayDay {
  today: string;
  date: string;
  tz: string;
  wake: string;
  sleep: string;
  block_minutes: number;
  now: string;
  current_block: number | null;
  revision: number | null;
  revisions: RevisionInfo[];
  blocks: BlockView[];
  adherence: Adherence;
  by_label: Tally[];
  by_category: Tally[];
  notes: string[];
}

/** Blocks start..end of a day (end exclusive). */
export interface Span {
  start: number;
  end: number;
}

export interface Stroke {
  date: string;
  span: Span;
  label: string;
  category?: string | null;
  color?: string | null;
}

/** A change's report and the day as it now stands. */
export interface Edited<T> {
  done: T;
  day: TodayDay;
}

export interface Planned {
  range: string;
  changed: number;
}
export interface Cleared {
  range: string;
  count: number;
}
export interface Moved {
  from_range: string;
  to_range: string;
}
export interface Replanned {
  revision: number;
  from: string;
  from_block: number;
}
export interface Recorded {
  range: string;
}
export interface TemplateApplied {
  date: string;
  placed: number;
  kept_fixed: number;
  not_on_day: number;
  before_revision: number;
}
export interface TemplateSaved {
  name: string;
  blocks: number;
  fixed_left_out: number;
}
export interface TemplateInfo {
  name: string;
  blocks: number;
  labels: string[];
}
export interface LabelUse {
  label: string;
  category: string | null;
  color: string;
  chosen: boolean;
  blocks: number;
}
export interface Palette {
  labels: LabelUse[];
  categories: string[];
  colors: string[];
  named_colors: string[];
}
/** One day of the week strip: its adherence, flattened beside its date. */
export interface DayAdherence extends Adherence {
  date: string;
}
export interface WeekReport {
  week_start: string;
  days: DayAdherence[];
  adherence: Adherence;
}
export interface Exported {
  path: string;
  events: number;
}
export type Imported =
  | { kind: "calendar"; file: string; imported: number; dates: string[]; notes: string[] }
  | { kind: "backup"; file: string; days: number; templates: number; entries: number };

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  appPainted: (view: string) => invoke<void>("app_painted", { view }),
  prefsGet: () => invoke<Prefs>("prefs_get"),
  prefsSet: (prefs: Prefs) => invoke<void>("prefs_set", { prefs }),
  navWorkspaces: () => invoke<WorkspaceSummary[]>("nav_workspaces"),
  navOpen: (database: string) => invoke<NavTree>("nav_open", { database }),
  navClose: () => invoke<void>("nav_close"),
  navJump: (socket: string | null, workspace: string, node: number) =>
    invoke<JumpReply>("nav_jump", { socket, workspace, node }),
  todayDay: (date: string | null, revision: number | null) =>
    invoke<TodayDay>("today_day", { date, revision }),
  todayPaint: (stroke: Stroke) => invoke<Edited<Planned>>("today_paint", { stroke }),
  todayClear: (date: string, span: Span, actual: boolean) =>
    invoke<Edited<Cleared>>("today_clear", { date, span, actual }),
  todayMove: (date: string, from: Span, to: Span) => invoke<Edited<Moved>>("today_move", { date, from, to }),
  todayReplan: (date: string, from: number | null, clearRest: boolean) =>
    invoke<Edited<Replanned>>("today_replan", { date, from, clearRest }),
  todayDid: (date: string, span: Span, label: string, category: string | null) =>
    invoke<Edited<Recorded>>("today_did", { date, span, label, category }),
  todayPalette: () => invoke<Palette>("today_palette"),
  todayTemplates: () => invoke<TemplateInfo[]>("today_templates"),
  todayTemplateSave: (name: string, date: string, overwrite: boolean) =>
    invoke<TemplateSaved>("today_template_save", { name, date, overwrite }),
  todayTemplateApply: (name: string, date: string, weekdays: string | null, weeks: number | null, replace: boolean) =>
    invoke<Edited<TemplateApplied[]>>("today_template_apply", { name, date, weekdays, weeks, replace }),
  todayWeek: (date: string) => invoke<WeekReport>("today_week", { date }),
  todayExport: (date: string, week: boolean, actual: boolean, path: string) =>
    invoke<Exported>("today_export", { date, week, actual, path }),
  todayImport: (path: string, replace: boolean, date: string) =>
    invoke<Edited<Imported>>("today_import", { path, replace, date }),
};

let earlyWorkspaces: { asked: number; answer: Promise<WorkspaceSummary[]> } | null = null;
/** How long the start-up's answer stands in for asking again. */
const EARLY_FOR_MS = 3000;
/** Asks for the Navigation view's workspaces at start-up, beside the preferences rather than
 *  after them (one round trip fewer before the first tree). */
export function prefetchWorkspaces(): void {
  earlyWorkspaces ??= { asked: performance.now(), answer: api.navWorkspaces() };
  // Not waited for when another view opens first; its error is the view's to show.
  earlyWorkspaces.answer.catch(() => {});
}

/** The workspaces: the start-up's answer once if it is fresh, else asked anew. */
export function workspacesNow(): Promise<WorkspaceSummary[]> {
  const early = earlyWorkspaces;
  earlyWorkspaces = null;
  return early && performance.now() - early.asked < EARLY_FOR_MS ? early.answer : api.navWorkspaces();
}

let paintedTold = false;
/** Tells the app, once, that its first view is painted: its log notes the start-up time
 * (the start-up benchmark reads that line). Called two frames after the render, when it is
 * on the screen. */
export function notePainted(view: string): void {
  if (paintedTold) return;
  paintedTold = true;
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      api.appPainted(view).catch(() => {});
    }),
  );
}

export function onNavDelta(handler: (delta: NavDelta) => void): Promise<UnlistenFn> {
  return listen<NavDelta>("nav:delta", (event) => handler(event.payload));
}

export function onNavError(handler: (e: { database: string; error: AppError }) => void): Promise<UnlistenFn> {
  return listen<{ database: string; error: AppError }>("nav:error", (event) => handler(event.payload));
}

export function onNavWorkspaces(handler: (list: WorkspaceSummary[]) => void): Promise<UnlistenFn> {
  return listen<WorkspaceSummary[]>("nav:workspaces", (event) => handler(event.payload));
}

/** The planner's data or the activity changed, or a block ended: redraw the day. */
export function onTodayChanged(handler: () => void): Promise<UnlistenFn> {
  return listen<null>("today:changed", () => handler());
}
