// snaprun's comparison of two batches (rates with intervals, Fisher's exact test, the shift of
// durations) in plain words. The numbers and the verdict are the library's; this only says
// what they mean.
import type { Comparison, Side } from "./stressApi";
import { duration, intervalText, percent } from "./stressList";

export interface ComparisonWords {
  /** One sentence: better, worse, or no real change. */
  headline: string;
  /** "Before" and "after", one line each. */
  sides: [string, string];
  /** What the p-values mean. */
  evidence: string[];
  /** snaprun's own verdict, as `snaprun compare` prints it. */
  verdict: string[];
}

function sideText(label: string, s: Side): string {
  const r = s.failure_rate;
  const rate =
    r.trials === 0
      ? "no iteration reached an outcome"
      : `${r.failures} of ${r.trials} failed: ${percent(r.estimate)} (${intervalText(r)})`;
  const time = s.median_ms === null ? "" : `; median ${duration(s.median_ms)}`;
  return `${label} (batch ${s.batch_id}, code ${s.code_hash.slice(0, 12)}): ${rate}${time}`;
}

/** "p = 0.003", "p < 0.001": as snaprun writes it. */
export function pText(p: number): string {
  if (p < 0.001) return "p < 0.001";
  if (p < 0.01) return `p = ${p.toFixed(3)}`;
  return `p = ${p.toFixed(2)}`;
}

function chance(p: number): string {
  if (p < 0.001) return "less than 1 time in 1000";
  const times = Math.max(1, Math.round(1 / p));
  return times <= 1 ? "most of the time" : `about 1 time in ${times}`;
}

export function comparisonWords(c: Comparison): ComparisonWords {
  const headline =
    c.failure_rate === "rose"
      ? "Worse: the failure rate rose, by more than chance would explain."
      : c.failure_rate === "fell"
        ? "Better: the failure rate fell, by more than chance would explain."
        : c.a.failure_rate.trials === 0 || c.b.failure_rate.trials === 0
          ? "Nothing to compare yet: a batch has no iteration with an outcome."
          : "No real change in the failure rate: the difference is within what chance gives.";
  const evidence = [
    `Fisher's exact test, ${pText(c.fisher_p)}: two batches of the same code would differ this much ${chance(c.fisher_p)}.`,
  ];
  if (c.duration) {
    const change = c.duration.median_change * 100;
    const how =
      c.duration.direction === "rose"
        ? `Commands got slower: the median moved ${change >= 0 ? "+" : ""}${change.toFixed(1)}%`
        : c.duration.direction === "fell"
          ? `Commands got faster: the median moved ${change.toFixed(1)}%`
          : "Commands took about as long as before";
    evidence.push(`${how} (Mann-Whitney, ${pText(c.duration.mann_whitney.p)}).`);
  } else {
    evidence.push("No duration to compare: a batch has no finished command.");
  }
  return {
    headline,
    sides: [sideText("Before", c.a), sideText("After", c.b)],
    evidence,
    verdict: c.verdict,
  };
}
