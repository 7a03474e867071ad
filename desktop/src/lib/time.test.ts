import { describe, expect, it } from "vitest";
import { age } from "./time";

describe("age", () => {
  const now = 1_000_000_000_000;
  it("rounds to the unit a person reads", () => {
    expect(age(now - 10_000, now)).toBe("just now");
    expect(age(now - 5 * 60_000, now)).toBe("5 min");
    expect(age(now - 3 * 3_600_000, now)).toBe("3 h");
    expect(age(now - 3 * 86_400_000, now)).toBe("3 d");
  });
  it("never shows a negative age for a clock that moved back", () => {
    expect(age(now + 60_000, now)).toBe("just now");
  });
});
