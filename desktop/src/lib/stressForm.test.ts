import { describe, expect, it } from "vitest";
import { DEFAULT_FORM, formFrom, toRequest } from "./stressForm";
import { batch } from "./stressFixtures";

describe("toRequest", () => {
  it("turns a filled form into a request", () => {
    const r = toRequest("/w", {
      ...DEFAULT_FORM,
      command: " ./stress.sh ",
      iterations: "4",
      jobs: "2",
      timeout: "2m",
      seed: "18446744073709551615",
      start: "warm",
      accel: "tcg",
    });
    expect(r.request).toEqual({
      workspace: "/w",
      command: "./stress.sh",
      iterations: 4,
      jobs: 2,
      image: "default",
      timeout: "2m",
      seed: "18446744073709551615",
      start: "warm",
      accel: "tcg",
    });
  });

  it("leaves empty optional fields out and lets the accelerator be chosen", () => {
    const r = toRequest("/w", { ...DEFAULT_FORM, command: "true" });
    expect(r.request?.timeout).toBeNull();
    expect(r.request?.seed).toBeNull();
    expect(r.request?.accel).toBeNull();
  });

  it("names every wrong field", () => {
    const r = toRequest("/w", {
      ...DEFAULT_FORM,
      command: " ",
      iterations: "0",
      jobs: "two",
      image: "",
      timeout: "soon-ish!",
      seed: "18446744073709551616",
    });
    expect(Object.keys(r.errors ?? {}).sort()).toEqual(["command", "image", "iterations", "jobs", "seed", "timeout"]);
    expect(r.errors?.seed).toMatch(/18446744073709551615/);
  });

  it("accepts durations as snaprun writes them", () => {
    for (const timeout of ["90s", "1m 30s", "2h", "500ms"]) {
      expect(toRequest("/w", { ...DEFAULT_FORM, command: "x", timeout }).errors).toBeUndefined();
    }
  });
});

describe("formFrom", () => {
  it("fills the form from a batch to run it again", () => {
    const f = formFrom(batch("b", 1, { command: "make check", iterations: 50, jobs: 3, timeout_ms: 90_000 }));
    expect(f).toEqual({ ...DEFAULT_FORM, command: "make check", iterations: "50", jobs: "3", timeout: "90s" });
  });
});
