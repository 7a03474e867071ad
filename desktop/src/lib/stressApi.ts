// Typed calls into the Stress tests view's commands (desktop/src-tauri/src/commands.rs,
// `stress_*`) and its events. snaprun's own types keep their serde form (snake_case, the same
// as `snaprun ... --json` prints); the app's wrappers are camelCase.
//
// A seed is a u64, which a JavaScript number cannot hold: the `seed` numbers of snaprun's
// types below are approximate. Show the `seed` strings of BatchDetail and IterationDetail.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppError } from "./api";

export type IterationStatus = "pass" | "fail" | "timeout" | "crashed" | "infra-error" | "interrupted";
export type BatchStatus = "running" | "finished" | "interrupted" | "aborted" | "abandoned";
export type Direction = "rose" | "fell" | "same";

export interface Batch {
  id: string;
  workspace: string;
  image_name: string;
  image_hash: string;
  code_hash: string;
  command: string;
  iterations: number;
  jobs: number;
  timeout_ms: number | null;
  /** Approximate (a u64). */
  seed: number;
  start_ms: number;
  end_ms: number | null;
  host: string;
  pid: number;
  accel: string;
  status: BatchStatus;
  partition: string | null;
  warm_hash: string | null;
}

export interface Iteration {
  batch_id: string;
  iteration: number;
  status: IterationStatus;
  exit_code: number | null;
  signal: number | null;
  duration_ms: number;
  boot_ms: number | null;
  /** Approximate (a u64). */
  seed: number;
  detail: string | null;
  kept_overlay: string | null;
  start_ms: number;
}

/** A failure rate with its 95% Wilson interval. */
export interface Rate {
  failures: number;
  trials: number;
  estimate: number;
  low: number;
  high: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface Summary {
  total: number;
  passed: number;
  failed: number;
  timeout: number;
  crashed: number;
  infra_error: number;
  interrupted: number;
  failure_rate: Rate;
  duration_ms: Percentiles | null;
}

export interface Change {
  change: "added" | "modified" | "removed";
  path: string;
}

export interface BatchListItem {
  batch: Batch;
  summary: Summary;
  /** `abandoned` when its snaprun is gone though it says running. */
  status: BatchStatus;
  warm: boolean;
  /** The code snapshot's hash, short. */
  code: string;
  previous_code: string | null;
  /** What changed since the batch before it, when both snapshots are in the store. */
  changed: Change[] | null;
}

export interface WorkspaceBatches {
  workspace: string;
  batches: number;
  last_start_ms: number;
}

export interface Overview {
  store: string;
  workspaces: WorkspaceBatches[];
  watching: string | null;
}

export interface BatchPage {
  workspace: string;
  batches: BatchListItem[];
  workspaces: WorkspaceBatches[];
}

export interface BatchReport {
  batch: Batch;
  iterations: Iteration[];
  summary: Summary;
}

export interface BatchDetail {
  report: BatchReport;
  numbers: number[];
  seed: string;
}

export interface IterationDetail {
  logs: { batch: Batch; iteration: Iteration; output: string; console: string | null };
  seed: string;
  repro: string;
}

export interface Side {
  batch_id: string;
  code_hash: string;
  failure_rate: Rate;
  median_ms: number | null;
  p90_ms: number | null;
  durations: number;
}

export interface Comparison {
  a: Side;
  b: Side;
  fisher_p: number;
  failure_rate: Direction;
  duration: { median_change: number; mann_whitney: { u: number; p: number }; direction: Direction } | null;
  verdict: string[];
}

export interface StoredObject {
  sha256: string;
  size: number;
  mtime_ns: number;
}

export interface Manifest {
  name: string;
  hash: string;
  disk: StoredObject;
  kernel: StoredObject | null;
  initrd: StoredObject | null;
  memory_mib: number;
  cpus: number;
  created: string;
  origin: string | null;
  agent?: "snaprun" | "qga";
  warm?: {
    hash: string;
    state: StoredObject;
    layer: StoredObject;
    qemu_version: string;
    accel: string;
    created: string;
  };
}

export interface ImageList {
  images: Manifest[];
  retired: number;
}

export type StartMode = "auto" | "warm" | "cold";
export type Accel = "kvm" | "tcg";

export interface StartRequest {
  workspace: string;
  command: string;
  iterations: number;
  jobs: number;
  image: string;
  timeout: string | null;
  seed: string | null;
  start: StartMode;
  accel: Accel | null;
}

export interface Started {
  run: number;
  batchId: string;
  numbers: number[];
}

export type Stopped =
  | { stopped: "in-process"; batch_id: string }
  | { stopped: "signalled"; batch_id: string; pid: number }
  | { stopped: "not-running"; batch_id: string; status: BatchStatus };

export interface CodeSnapshot {
  hash: string;
  files: number;
  bytes: number;
}

export type BatchEvent =
  | { event: "building"; command: string }
  | { event: "note"; message: string }
  | { event: "snapshotted"; batch: Batch; code: CodeSnapshot; numbers: number[] }
  | { event: "iteration-started"; batch_id: string; iteration: number }
  | ({ event: "iteration-finished" } & Iteration)
  | { event: "finished"; batch: Batch; summary: Summary; aborted: string | null };

/** A batch started from the app reports (`stress:batch`). */
export type BatchUpdate = BatchEvent & { run: number; sentMs: number };

export interface RunEnded {
  run: number;
  batchId: string | null;
  error: AppError | null;
}

export type ImageEvent =
  | { event: "step"; image: string; message: string }
  | { event: "built"; image: string; hash: string }
  | { event: "warming"; image: string };

export type ImageUpdate = ImageEvent & { sentMs: number };

export interface WatchedBatch {
  batch: Batch;
  changed: Change[];
  code: string;
  summary: Summary;
  superseded: boolean;
}

export type WatchEvent =
  | { watch: "watching"; root: string }
  | { watch: "unchanged" }
  | { watch: "starting"; code: CodeSnapshot; changed: Change[] }
  | ({ watch: "batch" } & BatchEvent)
  | ({ watch: "finished" } & WatchedBatch);

export type WatchUpdate = WatchEvent & { workspace: string; sentMs: number };

export interface WatchEnded {
  workspace: string;
  error: AppError | null;
}

/** What was written to the results since the last one (`stress:changed`). */
export interface Changed {
  sentMs: number;
  revision: number;
  workspaces: WorkspaceBatches[] | null;
  workspace: string | null;
  batches: BatchListItem[];
  iterations: Iteration[];
  error: AppError | null;
  reload: boolean;
}

export const stressApi = {
  open: () => invoke<Overview>("stress_open"),
  close: () => invoke<void>("stress_close"),
  batches: (workspace: string) => invoke<BatchPage>("stress_batches", { workspace }),
  batch: (id: string) => invoke<BatchDetail>("stress_batch", { id }),
  iteration: (batch: string, iteration: number) => invoke<IterationDetail>("stress_iteration", { batch, iteration }),
  compare: (a: string, b: string) => invoke<Comparison>("stress_compare", { a, b }),
  images: () => invoke<ImageList>("stress_images"),
  start: (request: StartRequest) => invoke<Started>("stress_start", { request }),
  stop: (batch: string) => invoke<Stopped>("stress_stop", { batch }),
  watchStart: (request: StartRequest) => invoke<void>("stress_watch_start", { request }),
  watchStop: () => invoke<boolean>("stress_watch_stop"),
  prepareImage: (image: string) => invoke<ImageList>("stress_prepare_image", { image }),
  cancelImage: () => invoke<boolean>("stress_cancel_image"),
  pickFolder: () => invoke<string | null>("stress_pick_folder"),
  openTerminal: (batch: string, iteration: number) => invoke<void>("stress_open_terminal", { batch, iteration }),
};

export interface StressEvents {
  changed: (c: Changed) => void;
  batch: (u: BatchUpdate) => void;
  runEnded: (r: RunEnded) => void;
  image: (u: ImageUpdate) => void;
  watch: (u: WatchUpdate) => void;
  watchEnded: (e: WatchEnded) => void;
}

/** Listens to every event of the view; the returned function stops listening. */
export async function listenStress(on: StressEvents): Promise<UnlistenFn> {
  const offs = await Promise.all([
    listen<Changed>("stress:changed", (e) => on.changed(e.payload)),
    listen<BatchUpdate>("stress:batch", (e) => on.batch(e.payload)),
    listen<RunEnded>("stress:run-ended", (e) => on.runEnded(e.payload)),
    listen<ImageUpdate>("stress:image", (e) => on.image(e.payload)),
    listen<WatchUpdate>("stress:watch", (e) => on.watch(e.payload)),
    listen<WatchEnded>("stress:watch-ended", (e) => on.watchEnded(e.payload)),
  ]);
  return () => offs.forEach((off) => off());
}
