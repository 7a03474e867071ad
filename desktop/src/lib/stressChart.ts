// The trend of a workspace's failure rates: one bar per batch, oldest on the left, each with
// its 95% interval as a whisker, so whether a change made things better or worse shows at a
// glance and a difference inside the noise looks like one. Pure geometry for an SVG.
import type { BatchListItem } from "./stressApi";
import { intervalText, rateText } from "./stressList";

export interface Bar {
  id: string;
  /** Left edge and width of the bar. */
  x: number;
  width: number;
  /** Top of the bar (the estimate) and the whisker's ends, in SVG units (0 is the top). */
  y: number;
  low: number;
  high: number;
  /** No iteration reached an outcome: nothing is known, no bar is drawn. */
  empty: boolean;
  running: boolean;
  title: string;
}

export interface Trend {
  bars: Bar[];
  /** The rate at the top of the chart (the scale runs from 0 to it). */
  top: number;
}

/** The smallest of these that holds every interval's upper end. */
const TOPS = [0.05, 0.1, 0.2, 0.5, 1];

/**
 * Bars for the newest `max` of `items` (newest first, as listed) in a `width` x `height` box.
 * The scale stops at the smallest of 5%, 10%, 20%, 50% or 100% that holds every interval.
 */
export function trend(items: BatchListItem[], width: number, height: number, max = 60): Trend {
  const shown = items.slice(0, max).reverse();
  const known = shown.filter((b) => b.summary.failure_rate.trials > 0);
  const highest = Math.max(0, ...known.map((b) => b.summary.failure_rate.high));
  const top = TOPS.find((t) => highest <= t) ?? 1;
  const slot = shown.length > 0 ? width / Math.max(shown.length, 12) : width;
  const y = (rate: number) => height - (Math.min(rate, top) / top) * height;
  const bars = shown.map((b, i) => {
    const r = b.summary.failure_rate;
    const empty = r.trials === 0;
    return {
      id: b.batch.id,
      x: i * slot + slot * 0.15,
      width: slot * 0.7,
      y: empty ? height : y(r.estimate),
      low: empty ? height : y(r.low),
      high: empty ? height : y(r.high),
      empty,
      running: b.status === "running",
      title: empty ? `${b.batch.id}: no outcome yet` : `${b.batch.id}: ${rateText(r)}, ${intervalText(r)}`,
    };
  });
  return { bars, top };
}
