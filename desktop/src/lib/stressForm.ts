// The Start form: what a person types, checked field by field so each mistake is named where
// it was made (the app's backend checks again and has the last word), and turned into a
// StartRequest.
import type { Accel, StartMode, StartRequest } from "./stressApi";

export interface FormValues {
  command: string;
  iterations: string;
  jobs: string;
  image: string;
  /** `90s`, `5m`; empty: none. */
  timeout: string;
  /** Empty: a random seed. */
  seed: string;
  start: StartMode;
  accel: Accel | "auto";
}

export type FormErrors = Partial<Record<keyof FormValues, string>>;

export const DEFAULT_FORM: FormValues = {
  command: "",
  iterations: "20",
  jobs: "2",
  image: "default",
  timeout: "",
  seed: "",
  start: "auto",
  accel: "auto",
};

const U64_MAX = 18446744073709551615n;

function count(text: string, what: string, errors: FormErrors, key: keyof FormValues): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > 1_000_000) {
    errors[key] = `${what} must be a whole number from 1 to 1000000`;
    return 0;
  }
  return Number(t);
}

/** The request, or what is wrong with each field. */
export function toRequest(
  workspace: string,
  v: FormValues,
): { request: StartRequest; errors?: undefined } | { request?: undefined; errors: FormErrors } {
  const errors: FormErrors = {};
  const command = v.command.trim();
  if (!command) errors.command = "type the command to run in the guest, e.g. ./stress.sh";
  const iterations = count(v.iterations, "iterations", errors, "iterations");
  const jobs = count(v.jobs, "parallel VMs", errors, "jobs");
  if (!v.image.trim()) errors.image = "choose an image";
  const timeout = v.timeout.trim();
  // humantime's form: numbers with units, e.g. "90s", "1m 30s", "2h".
  if (timeout && !/^(\d+\s*[a-zµ]+\s*)+$/i.test(timeout))
    errors.timeout = "a duration such as 90s, 5m or 1h; empty for none";
  const seed = v.seed.trim();
  if (seed && (!/^\d{1,20}$/.test(seed) || BigInt(seed) > U64_MAX))
    errors.seed = "a whole number from 0 to 18446744073709551615; empty for a random one";
  if (Object.keys(errors).length > 0) return { errors };
  return {
    request: {
      workspace,
      command,
      iterations,
      jobs,
      image: v.image.trim(),
      timeout: timeout || null,
      seed: seed || null,
      start: v.start,
      accel: v.accel === "auto" ? null : v.accel,
    },
  };
}

/** The form filled in from a batch, to run it again (the seed is left for a new one). */
export function formFrom(batch: {
  command: string;
  iterations: number;
  jobs: number;
  image_name: string;
  timeout_ms: number | null;
}): FormValues {
  return {
    ...DEFAULT_FORM,
    command: batch.command,
    iterations: String(batch.iterations),
    jobs: String(batch.jobs),
    image: batch.image_name,
    timeout: batch.timeout_ms === null ? "" : `${Math.round(batch.timeout_ms / 1000)}s`,
  };
}
