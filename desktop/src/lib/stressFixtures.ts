// Batches, iterations and comparisons as the commands return them, for the view's tests.
import type { Batch, BatchListItem, Comparison, Iteration, IterationStatus, Rate } from "./stressApi";

export function batch(id: string, start_ms: number, over: Partial<Batch> = {}): Batch {
  return {
    id,
    workspace: "/w",
    image_name: "default",
    image_hash: "img",
    code_hash: `code-${id}`,
    command: "./stress.sh",
    iterations: 4,
    jobs: 2,
    timeout_ms: null,
    seed: 1,
    start_ms,
    end_ms: null,
    host: "h",
    pid: 1,
    accel: "tcg",
    status: "finished",
    partition: null,
    warm_hash: null,
    ...over,
  };
}

export function rate(failures: number, trials: number, low = 0, high = 1): Rate {
  return { failures, trials, estimate: trials ? failures / trials : 0, low, high };
}

export function item(id: string, start_ms: number, over: Partial<BatchListItem> = {}): BatchListItem {
  return {
    batch: batch(id, start_ms),
    summary: {
      total: 4,
      passed: 3,
      failed: 1,
      timeout: 0,
      crashed: 0,
      infra_error: 0,
      interrupted: 0,
      failure_rate: rate(1, 4, 0.046, 0.699),
      duration_ms: { p50: 1200, p90: 1500, p99: 1500, max: 2000 },
    },
    status: "finished",
    warm: true,
    code: `code-${id}`.slice(0, 12),
    previous_code: null,
    changed: null,
    ...over,
  };
}

export function iteration(batch_id: string, n: number, status: IterationStatus): Iteration {
  return {
    batch_id,
    iteration: n,
    status,
    exit_code: status === "pass" ? 0 : 1,
    signal: null,
    duration_ms: 1000 + n,
    boot_ms: 170,
    seed: n,
    detail: null,
    kept_overlay: null,
    start_ms: 0,
  };
}

export function comparison(over: Partial<Comparison> = {}): Comparison {
  const side = (id: string, r: Rate) => ({
    batch_id: id,
    code_hash: `code-${id}-0123456789`,
    failure_rate: r,
    median_ms: 1200,
    p90_ms: 1500,
    durations: r.trials,
  });
  return {
    a: side("A", rate(0, 200, 0, 0.019)),
    b: side("B", rate(9, 200, 0.024, 0.083)),
    fisher_p: 0.0036,
    failure_rate: "rose",
    duration: { median_change: 0.01, mann_whitney: { u: 19000, p: 0.4 }, direction: "same" },
    verdict: ["failure rate rose from 0/200 to 9/200, p = 0.004", "no significant change in duration"],
    ...over,
  };
}
