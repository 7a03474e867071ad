// The Today view's pure part: runs of painted blocks, the selection a drag or shift+arrows
// makes, the arithmetic of moving and resizing a run, revision picking, date stepping, and
// how adherence and blocks read. No DOM, no IPC: tested by vitest.
import type { Adherence, BlockView, Cell, RevisionInfo, Span, TodayDay } from "./api";

/** The height of a block's row, in CSS pixels (the grid maps the pointer with it). */
export const ROW_HEIGHT = 22;

/** A run of consecutive blocks planned with one cell. */
export interface Run {
  start: number;
  /** Exclusive. */
  end: number;
  cell: Cell;
}

export function sameCell(a: Cell | null | undefined, b: Cell | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return (
    a.label === b.label &&
    (a.category ?? null) === (b.category ?? null) &&
    (a.color ?? null) === (b.color ?? null) &&
    (a.fixed_uid ?? null) === (b.fixed_uid ?? null)
  );
}

/** The painted runs of a day, in order; a block outside every run is free. */
export function runs(blocks: readonly Pick<BlockView, "planned">[]): Run[] {
  const out: Run[] = [];
  blocks.forEach((b, i) => {
    if (!b.planned) return;
    const last = out[out.length - 1];
    if (last && last.end === i && sameCell(last.cell, b.planned)) last.end = i + 1;
    else out.push({ start: i, end: i + 1, cell: b.planned });
  });
  return out;
}

/** For each block, the index of its run in `rs` (or -1). */
export function runIndex(rs: readonly Run[], count: number): Int32Array {
  const at = new Int32Array(count).fill(-1);
  rs.forEach((r, k) => at.fill(k, r.start, r.end));
  return at;
}

export function clamp(i: number, count: number): number {
  return Math.max(0, Math.min(count - 1, i));
}

/** The blocks between the anchor and the cursor, both included, as a span. */
export function selection(anchor: number, cursor: number): Span {
  return { start: Math.min(anchor, cursor), end: Math.max(anchor, cursor) + 1 };
}

export function inSpan(s: Span, i: number): boolean {
  return i >= s.start && i < s.end;
}

/** The span `s` moved by `by` blocks, kept whole inside the day. */
export function moveSpan(s: Span, by: number, count: number): Span {
  const len = s.end - s.start;
  const start = Math.max(0, Math.min(count - len, s.start + by));
  return { start, end: start + len };
}

/** The span `s` with one edge dragged to block `to` (the edge's block: the first block for
 * "start", the last for "end"); at least one block long, inside the day. */
export function resizeSpan(s: Span, edge: "start" | "end", to: number, count: number): Span {
  const at = clamp(to, count);
  if (edge === "start") return { start: Math.min(at, s.end - 1), end: s.end };
  return { start: s.start, end: Math.max(at + 1, s.start + 1) };
}

/** What a drag that grabbed block `grabbed` of run `s` and is now over block `over` makes of
 * it, by what was grabbed. */
export type Grab = "body" | "start" | "end";
export function dragged(s: Span, grab: Grab, grabbed: number, over: number, count: number): Span {
  if (grab === "body") return moveSpan(s, over - grabbed, count);
  return resizeSpan(s, grab, over, count);
}

export function sameSpan(a: Span, b: Span): boolean {
  return a.start === b.start && a.end === b.end;
}

/** The block under a vertical position in a grid of rows `rowHeight` high. */
export function rowAt(y: number, rowHeight: number, count: number): number {
  return clamp(Math.floor(y / rowHeight), count);
}

/** A block's time as a row shows it; a clock time that occurs twice on the day (the clocks
 * went back) carries its offset, so the two are told apart. */
export function rowTime(b: Pick<BlockView, "local" | "offset" | "repeated">): string {
  return b.repeated ? `${b.local} ${b.offset}` : b.local;
}

/** A span as clock times, `09:00–10:20`; a span to the day's end ends at `sleep`. */
export function spanText(
  blocks: readonly Pick<BlockView, "local" | "offset" | "repeated">[],
  s: Span,
  sleep: string,
): string {
  const first = blocks[s.start];
  if (!first || s.end <= s.start) return "";
  const end = blocks[s.end];
  return `${rowTime(first)}–${end ? rowTime(end) : sleep}`;
}

/** The revision the picker steps to from `shown` by `by` (−1 earlier, +1 later), or null to
 * stay. `null` as `shown` is the one in force. */
export function stepRevision(revisions: readonly RevisionInfo[], shown: number | null, by: number): number | null {
  if (revisions.length === 0) return null;
  const numbers = revisions.map((r) => r.number);
  const inForce = numbers[numbers.length - 1] ?? null;
  const at = numbers.indexOf(shown ?? inForce ?? -1);
  const next = numbers[Math.max(0, Math.min(numbers.length - 1, at + by))];
  return next ?? null;
}

/** How a revision is named in the picker. */
export function revisionName(r: RevisionInfo, inForce: number | null): string {
  const from = r.from ? ` from ${r.from}` : "";
  const time = r.created_at.slice(11, 16);
  return `Revision ${r.number}${from}, made ${time} UTC${r.number === inForce ? " (in force)" : ""}`;
}

export function inForce(day: Pick<TodayDay, "revisions">): number | null {
  return day.revisions[day.revisions.length - 1]?.number ?? null;
}

/** `2026-03-05` moved by `days`. */
export function shiftDate(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number);
  const t = new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1) + days * 86_400_000);
  return t.toISOString().slice(0, 10);
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** `Thu 5 Mar 2026`. */
export function dateTitle(date: string): string {
  const [y, m, d] = date.split("-").map(Number);
  const t = new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1));
  const month = t.toLocaleString("en", { month: "short", timeZone: "UTC" });
  return `${WEEKDAYS[t.getUTCDay()]} ${t.getUTCDate()} ${month} ${t.getUTCFullYear()}`;
}

/** `Mon`, for the week strip. */
export function weekday(date: string): string {
  const [y, m, d] = date.split("-").map(Number);
  return WEEKDAYS[new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1)).getUTCDay()] ?? "";
}

/** `6/10 (60%)`, or a dash while no planned block is over. */
export function adherenceText(a: Adherence): string {
  if (a.due === 0 || a.ratio === null) return "–";
  return `${a.matched}/${a.due} (${Math.round(a.ratio * 100)}%)`;
}

/** A class for colouring an adherence: good, fair, poor, or none yet. */
export function adherenceLevel(a: Adherence): "good" | "fair" | "poor" | "none" {
  if (a.ratio === null || a.due === 0) return "none";
  if (a.ratio >= 0.8) return "good";
  if (a.ratio >= 0.5) return "fair";
  return "poor";
}

/** Blocks as time: `1 h 20 min`, `40 min`. */
export function blocksTime(blocks: number, minutes = 10): string {
  const total = blocks * minutes;
  const h = Math.floor(total / 60);
  const m = total % 60;
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/** The CSS colour a cell is drawn in: its own, else the one the palette derived for its label,
 * else a neutral one. The planner's colour names are CSS names. */
export function cellColor(cell: Cell, palette: ReadonlyMap<string, string>): string {
  return cell.color ?? palette.get(cell.label) ?? "gray";
}

/** Where "now" falls inside its block, 0..1. */
export function nowFraction(day: Pick<TodayDay, "now" | "blocks" | "current_block">): number | null {
  if (day.current_block === null) return null;
  const b = day.blocks[day.current_block];
  if (!b) return null;
  const start = Date.parse(b.start);
  const end = Date.parse(b.end);
  const now = Date.parse(day.now);
  if (!(end > start)) return null;
  return Math.max(0, Math.min(1, (now - start) / (end - start)));
}

/** A short mark for how a block went. */
export function outcomeMark(o: BlockView["outcome"]): string {
  switch (o) {
    case "matched":
      return "✓";
    case "different":
      return "≠";
    case "missed":
      return "✗";
    case "unplanned":
      return "+";
    default:
      return "";
  }
}
