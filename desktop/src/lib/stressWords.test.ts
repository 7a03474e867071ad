import { describe, expect, it } from "vitest";
import { comparisonWords, pText } from "./stressWords";
import { comparison, rate } from "./stressFixtures";

describe("comparisonWords", () => {
  it("says worse when the rate rose, with both sides and what the test means", () => {
    const w = comparisonWords(comparison());
    expect(w.headline).toMatch(/^Worse: the failure rate rose/);
    expect(w.sides[0]).toBe("Before (batch A, code code-A-01234): 0 of 200 failed: 0% (95% CI 0%–1.9%); median 1.20 s");
    expect(w.sides[1]).toContain("9 of 200 failed: 4.5% (95% CI 2.4%–8.3%)");
    expect(w.evidence[0]).toBe(
      "Fisher's exact test, p = 0.004: two batches of the same code would differ this much about 1 time in 278.",
    );
    expect(w.evidence[1]).toBe("Commands took about as long as before (Mann-Whitney, p = 0.40).");
    expect(w.verdict).toEqual(comparison().verdict);
  });

  it("says better, or no real change, or that there is nothing to compare", () => {
    expect(comparisonWords(comparison({ failure_rate: "fell" })).headline).toMatch(/^Better/);
    expect(comparisonWords(comparison({ failure_rate: "same", fisher_p: 0.72 })).headline).toMatch(/^No real change/);
    const empty = comparison({ failure_rate: "same", duration: null });
    empty.a.failure_rate = rate(0, 0);
    const w = comparisonWords(empty);
    expect(w.headline).toMatch(/^Nothing to compare yet/);
    expect(w.sides[0]).toContain("no iteration reached an outcome");
    expect(w.evidence[1]).toMatch(/^No duration to compare/);
  });

  it("names the direction of a duration shift", () => {
    const slower = comparison({
      duration: { median_change: 0.123, mann_whitney: { u: 10, p: 0.0004 }, direction: "rose" },
    });
    expect(comparisonWords(slower).evidence[1]).toBe(
      "Commands got slower: the median moved +12.3% (Mann-Whitney, p < 0.001).",
    );
  });

  it("writes p as snaprun does", () => {
    expect(pText(0.0004)).toBe("p < 0.001");
    expect(pText(0.0036)).toBe("p = 0.004");
    expect(pText(0.72)).toBe("p = 0.72");
  });
});
