import { describe, expect, it } from "vitest";
import { trend } from "./stressChart";
import { item, rate } from "./stressFixtures";

function withRate(id: string, start: number, failures: number, trials: number, low: number, high: number) {
  const base = item(id, start);
  return { ...base, summary: { ...base.summary, failure_rate: rate(failures, trials, low, high) } };
}

describe("trend", () => {
  it("draws the oldest batch on the left and scales to the widest interval", () => {
    const items = [withRate("new", 2, 2, 20, 0.03, 0.3), withRate("old", 1, 0, 20, 0, 0.16)];
    const t = trend(items, 240, 50);
    expect(t.top).toBe(0.5);
    expect(t.bars.map((b) => b.id)).toEqual(["old", "new"]);
    const [old, recent] = t.bars;
    expect(old?.y).toBe(50);
    expect(recent?.y).toBeCloseTo(50 - (0.1 / 0.5) * 50);
    expect(recent?.high).toBeCloseTo(50 - (0.3 / 0.5) * 50);
    expect(recent?.low).toBeCloseTo(50 - (0.03 / 0.5) * 50);
    expect((recent?.x ?? 0) > (old?.x ?? 0)).toBe(true);
    expect(recent?.title).toBe("new: 10% (2/20), 95% CI 3%–30%");
  });

  it("shows at most `max` batches, and nothing for a batch without outcomes", () => {
    const items = Array.from({ length: 100 }, (_, i) => withRate(`b${i}`, 100 - i, 0, i === 0 ? 0 : 10, 0, 0.03));
    const t = trend(items, 600, 40, 60);
    expect(t.bars).toHaveLength(60);
    expect(t.top).toBe(0.05);
    expect(t.bars[59]?.id).toBe("b0");
    expect(t.bars[59]?.empty).toBe(true);
    expect(t.bars[59]?.title).toBe("b0: no outcome yet");
  });

  it("keeps bars narrow when there are few batches", () => {
    const t = trend([withRate("a", 1, 1, 2, 0.1, 0.9)], 240, 40);
    expect(t.bars[0]?.width).toBeCloseTo((240 / 12) * 0.7);
    expect(t.top).toBe(1);
  });
});
