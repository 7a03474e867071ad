// The Stress tests view's data as shown: a workspace's batch list kept up to date by live
// changes, the grid of one batch's iterations, and the words and numbers of each column.
// Pure: no Tauri, no DOM.
import type {
  BatchDetail,
  BatchListItem,
  Iteration,
  IterationStatus,
  Percentiles,
  Rate,
} from "./stressApi";

/** Newest first, as snaprun lists them. */
function newerFirst(a: BatchListItem, b: BatchListItem): number {
  return b.batch.start_ms - a.batch.start_ms || (a.batch.id < b.batch.id ? 1 : a.batch.id > b.batch.id ? -1 : 0);
}

/**
 * `list` with `updates` applied: a batch already there is replaced, a new one inserted in
 * order. An update that did not re-read the changed files (`changed: null`) keeps the ones the
 * list had, since a batch's code never changes after it starts.
 */
export function mergeBatches(list: BatchListItem[], updates: BatchListItem[]): BatchListItem[] {
  if (updates.length === 0) return list;
  const index = new Map(list.map((b, i) => [b.batch.id, i]));
  const next = list.slice();
  let added = false;
  for (const update of updates) {
    const at = index.get(update.batch.id);
    const old = at === undefined ? undefined : next[at];
    const item =
      update.changed === null && old && old.batch.code_hash === update.batch.code_hash
        ? { ...update, changed: old.changed }
        : update;
    if (at === undefined) {
      index.set(update.batch.id, next.length);
      next.push(item);
      added = true;
    } else {
      next[at] = item;
    }
  }
  return added ? next.sort(newerFirst) : next;
}

export type CellState = IterationStatus | "waiting" | "running";

export interface Cell {
  n: number;
  state: CellState;
  /** The command's duration, once finished. */
  durationMs: number | null;
  /** When the app's backend sent its result (ms since the epoch), if it came live. */
  sentMs: number | null;
}

/** One batch's iterations as the grid shows them. */
export interface Grid {
  batchId: string;
  numbers: number[];
  finished: ReadonlyMap<number, Iteration>;
  running: ReadonlySet<number>;
  /** When each live result was sent: the first arrival counts (it comes twice when the app
   *  started the batch: from the batch itself, and from the results database). */
  sent: ReadonlyMap<number, number>;
}

export function gridOf(detail: BatchDetail): Grid {
  return {
    batchId: detail.report.batch.id,
    numbers: detail.numbers,
    finished: new Map(detail.report.iterations.map((it) => [it.iteration, it])),
    running: new Set(),
    sent: new Map(),
  };
}

/** The grid with iteration `it` finished (a no-op for another batch's), sent at `sentMs`. */
export function withFinished(grid: Grid, it: Iteration, sentMs?: number): Grid {
  if (it.batch_id !== grid.batchId) return grid;
  const sent =
    sentMs === undefined || grid.sent.has(it.iteration)
      ? grid.sent
      : new Map([...grid.sent, [it.iteration, sentMs]]);
  const finished = new Map(grid.finished);
  finished.set(it.iteration, it);
  const running = new Set(grid.running);
  running.delete(it.iteration);
  const numbers = grid.numbers.includes(it.iteration) ? grid.numbers : [...grid.numbers, it.iteration].sort((a, b) => a - b);
  return { ...grid, numbers, finished, running, sent };
}

/** The grid with iteration `n` started, unless it has finished already. */
export function withStarted(grid: Grid, batchId: string, n: number): Grid {
  if (batchId !== grid.batchId || grid.finished.has(n)) return grid;
  const running = new Set(grid.running);
  running.add(n);
  return { ...grid, running };
}

/** The grid of a batch that has ended: nothing runs any more. */
export function withEnded(grid: Grid, batchId: string): Grid {
  return batchId === grid.batchId ? { ...grid, running: new Set() } : grid;
}

export function cells(grid: Grid): Cell[] {
  return grid.numbers.map((n) => {
    const it = grid.finished.get(n);
    const sentMs = grid.sent.get(n) ?? null;
    if (it) return { n, state: it.status, durationMs: it.duration_ms, sentMs };
    return { n, state: grid.running.has(n) ? "running" : "waiting", durationMs: null, sentMs };
  });
}

/** The failing iterations first to look at: fail, timeout, crashed, then the rest. */
export function isFailure(state: CellState): boolean {
  return state === "fail" || state === "timeout" || state === "crashed";
}

/** "0%", "2.5%", "15%", "100%": as precise as a rate of a few hundred runs deserves. */
export function percent(x: number): string {
  const p = x * 100;
  if (Number.isInteger(p)) return `${p}%`;
  if (p < 10) return `${p.toFixed(1)}%`;
  return `${p.toFixed(0)}%`;
}

/** "15% (3/20)", or "no outcome yet". */
export function rateText(r: Rate): string {
  if (r.trials === 0) return "no outcome yet";
  return `${percent(r.estimate)} (${r.failures}/${r.trials})`;
}

/** "95% CI 5.2%–36%". */
export function intervalText(r: Rate): string {
  if (r.trials === 0) return "";
  return `95% CI ${percent(r.low)}–${percent(r.high)}`;
}

/** "850 ms", "1.23 s", "2 min 5 s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** "1.20 s / 1.50 s / 2.00 s" (p50 / p90 / max), or "–" when no command finished. */
export function durationsText(p: Percentiles | null): string {
  if (!p) return "–";
  return `${duration(p.p50)} / ${duration(p.p90)} / ${duration(p.max)}`;
}

/** What changed in a batch's code since the batch before it, in a few words. */
export function changedText(item: BatchListItem, shown = 3): string {
  if (item.previous_code === null) return "first batch here";
  if (item.changed === null) return item.previous_code === item.batch.code_hash ? "same code" : "";
  if (item.changed.length === 0) return "same code";
  const mark = { added: "+", modified: "", removed: "-" } as const;
  const names = item.changed.slice(0, shown).map((c) => `${mark[c.change]}${c.path}`);
  const more = item.changed.length > shown ? ` +${item.changed.length - shown} more` : "";
  return `${item.changed.length} changed: ${names.join(", ")}${more}`;
}

/** "12/20": iterations with a result, of those the batch runs. */
export function progressText(item: BatchListItem): string {
  return `${item.summary.total}/${item.batch.iterations}`;
}

/**
 * Text from a program's output or a console, made safe and readable: terminal escape
 * sequences and control characters other than newline and tab removed, carriage returns made
 * newlines.
 */
export function plainText(s: string): string {
  return (
    s
      // CSI (colours, cursor moves), OSC (titles, links), and other two-byte escapes.
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g, "")
      .replace(/\r\n?/g, "\n")
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "")
  );
}

/** A folder's last path component (the path itself if it has none). */
export function folderName(path: string): string {
  return path.split("/").filter(Boolean).pop() ?? path;
}
