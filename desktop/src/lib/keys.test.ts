import { describe, expect, it } from "vitest";
import { find, keyName, showKey, type KeyGroup } from "./keys";

const ev = (key: string, mods: Partial<{ shiftKey: boolean; ctrlKey: boolean; altKey: boolean; metaKey: boolean }> = {}) => ({
  key,
  shiftKey: false,
  ctrlKey: false,
  altKey: false,
  metaKey: false,
  ...mods,
});

describe("keys", () => {
  it("names presses without doubling shift on printable keys", () => {
    expect(keyName(ev("?", { shiftKey: true }))).toBe("?");
    expect(keyName(ev("ArrowDown", { shiftKey: true }))).toBe("Shift+ArrowDown");
    expect(keyName(ev("f", { ctrlKey: true }))).toBe("Ctrl+f");
  });

  it("finds the first binding, in group order", () => {
    const hits: string[] = [];
    const groups: KeyGroup[] = [
      { title: "view", bindings: [{ keys: ["j", "ArrowDown"], does: "down", run: () => hits.push("view") }] },
      { title: "app", bindings: [{ keys: ["j"], does: "other", run: () => hits.push("app") }] },
    ];
    find(groups, "j")?.run();
    find(groups, "ArrowDown")?.run();
    expect(hits).toEqual(["view", "view"]);
    expect(find(groups, "x")).toBeUndefined();
  });

  it("shows arrows as arrows", () => {
    expect(showKey("Shift+ArrowDown")).toBe("Shift+↓");
    expect(showKey(" ")).toBe("Space");
  });
});
