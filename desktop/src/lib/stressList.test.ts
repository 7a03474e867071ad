import { describe, expect, it } from "vitest";
import {
  cells,
  changedText,
  duration,
  durationsText,
  folderName,
  gridOf,
  intervalText,
  mergeBatches,
  percent,
  plainText,
  progressText,
  rateText,
  withEnded,
  withFinished,
  withStarted,
} from "./stressList";
import { batch, item, iteration, rate } from "./stressFixtures";

describe("mergeBatches", () => {
  const list = [item("c", 3000), item("b", 2000), item("a", 1000)];

  it("replaces a batch in place and inserts a new one by start time", () => {
    const b = item("b", 2000, { status: "running" });
    const d = item("d", 4000);
    const merged = mergeBatches(list, [b, d]);
    expect(merged.map((x) => x.batch.id)).toEqual(["d", "c", "b", "a"]);
    expect(merged[2]?.status).toBe("running");
    expect(list[1]?.status).toBe("finished");
  });

  it("keeps the changed files an update did not re-read", () => {
    const changed = [{ change: "modified" as const, path: "src/lib.rs" }];
    const withFiles = mergeBatches(list, [item("c", 3000, { changed, previous_code: "p" })]);
    const updated = mergeBatches(withFiles, [item("c", 3000, { changed: null, previous_code: "p" })]);
    expect(updated[0]?.changed).toEqual(changed);
  });

  it("breaks ties of start time by id, newest id first, as snaprun does", () => {
    expect(mergeBatches([], [item("x1", 5), item("x2", 5)]).map((x) => x.batch.id)).toEqual(["x2", "x1"]);
  });

  it("leaves the list as it is without updates", () => {
    expect(mergeBatches(list, [])).toBe(list);
  });
});

describe("the grid of a batch", () => {
  const detail = {
    report: { batch: batch("b", 1), iterations: [iteration("b", 2, "fail")], summary: item("b", 1).summary },
    numbers: [1, 2, 3, 4],
    seed: "18446744073709551615",
  };

  it("turns cells as iterations start and finish", () => {
    let grid = gridOf(detail);
    expect(cells(grid).map((c) => c.state)).toEqual(["waiting", "fail", "waiting", "waiting"]);
    grid = withStarted(grid, "b", 1);
    grid = withStarted(grid, "b", 3);
    expect(cells(grid).map((c) => c.state)).toEqual(["running", "fail", "running", "waiting"]);
    grid = withFinished(grid, iteration("b", 1, "pass"), 500);
    expect(cells(grid)[0]).toEqual({ n: 1, state: "pass", durationMs: 1001, sentMs: 500 });
    // The same result again, from the results database: the first arrival's time stays.
    grid = withFinished(grid, iteration("b", 1, "pass"), 900);
    expect(cells(grid)[0]?.sentMs).toBe(500);
    grid = withEnded(grid, "b");
    expect(cells(grid).map((c) => c.state)).toEqual(["pass", "fail", "waiting", "waiting"]);
  });

  it("ignores other batches and a start reported after the finish", () => {
    const grid = gridOf(detail);
    expect(withFinished(grid, iteration("other", 1, "pass"))).toBe(grid);
    expect(withStarted(grid, "other", 1)).toBe(grid);
    expect(withStarted(grid, "b", 2)).toBe(grid);
  });

  it("adds an iteration it did not expect in its place", () => {
    const grid = withFinished(gridOf(detail), iteration("b", 9, "timeout"));
    expect(grid.numbers).toEqual([1, 2, 3, 4, 9]);
  });
});

describe("words and numbers", () => {
  it("rates", () => {
    expect(percent(0)).toBe("0%");
    expect(percent(1)).toBe("100%");
    expect(percent(0.025)).toBe("2.5%");
    expect(percent(0.15)).toBe("15%");
    expect(percent(0.05)).toBe("5%");
    expect(rateText(rate(3, 20))).toBe("15% (3/20)");
    expect(rateText(rate(0, 0))).toBe("no outcome yet");
    expect(intervalText(rate(3, 20, 0.052, 0.36))).toBe("95% CI 5.2%–36%");
    expect(intervalText(rate(0, 0))).toBe("");
  });

  it("durations", () => {
    expect(duration(850)).toBe("850 ms");
    expect(duration(1234)).toBe("1.23 s");
    expect(duration(125_000)).toBe("2 min 5 s");
    expect(durationsText({ p50: 1200, p90: 1500, p99: 1900, max: 2000 })).toBe("1.20 s / 1.50 s / 2.00 s");
    expect(durationsText(null)).toBe("–");
  });

  it("what changed in the code", () => {
    expect(changedText(item("a", 1))).toBe("first batch here");
    const changed = [
      { change: "modified" as const, path: "src/lib.rs" },
      { change: "added" as const, path: "new.txt" },
      { change: "removed" as const, path: "old.txt" },
      { change: "modified" as const, path: "x" },
    ];
    expect(changedText(item("a", 1, { previous_code: "p", changed }))).toBe(
      "4 changed: src/lib.rs, +new.txt, -old.txt +1 more",
    );
    expect(changedText(item("a", 1, { previous_code: "p", changed: [] }))).toBe("same code");
    expect(changedText(item("a", 1, { previous_code: "p", changed: null }))).toBe("");
  });

  it("progress", () => {
    expect(progressText(item("a", 1))).toBe("4/4");
  });

  it("output is shown without terminal escapes or control characters", () => {
    expect(plainText("\x1b[31mred\x1b[0m ok\r\nnext\rline\x07\x00\ttab")).toBe("red ok\nnext\nline\ttab");
    expect(plainText("\x1b]0;title\x07text")).toBe("text");
  });
});

describe("folderName", () => {
  it("is the last component, trailing slashes ignored", () => {
    expect(folderName("/home/me/proj")).toBe("proj");
    expect(folderName("/home/me/proj/")).toBe("proj");
    expect(folderName("/")).toBe("/");
  });
});
