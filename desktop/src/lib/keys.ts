// Keyboard first: every action has a key, and `?` lists them all. Each view declares its
// bindings as data; the help overlay and the dispatcher read the same list, so a key cannot
// work without being listed, or be listed without working.

export interface Binding {
  /** Keys as KeyboardEvent.key values, with "Shift+" / "Ctrl+" prefixes. The first is shown. */
  keys: string[];
  /** What it does, for the help overlay. */
  does: string;
  run: () => void;
}

export interface KeyGroup {
  title: string;
  bindings: Binding[];
}

/** "Shift+ArrowDown", "Ctrl+f", "?", "j": the name of a key press. */
export function keyName(e: Pick<KeyboardEvent, "key" | "shiftKey" | "ctrlKey" | "altKey" | "metaKey">): string {
  const mods: string[] = [];
  if (e.ctrlKey || e.metaKey) mods.push("Ctrl");
  if (e.altKey) mods.push("Alt");
  // Shift is part of printable keys already ("?" not "Shift+/"), so name it only for the rest.
  if (e.shiftKey && e.key.length > 1) mods.push("Shift");
  return [...mods, e.key].join("+");
}

/** The binding a key press triggers, first match wins (the active view's groups come first). */
export function find(groups: KeyGroup[], name: string): Binding | undefined {
  for (const group of groups) {
    for (const b of group.bindings) if (b.keys.includes(name)) return b;
  }
  return undefined;
}

/** How a key is shown: "↑" for ArrowUp, "Enter", "Shift+↓". */
export function showKey(name: string): string {
  const arrows: Record<string, string> = { ArrowUp: "↑", ArrowDown: "↓", ArrowLeft: "←", ArrowRight: "→" };
  return name
    .split("+")
    .map((part) => arrows[part] ?? (part === " " ? "Space" : part))
    .join("+");
}

/** True when a key press is meant for a text field rather than for the app's keys. */
export function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}
