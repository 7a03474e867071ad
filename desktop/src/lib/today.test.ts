import { describe, expect, it } from "vitest";
import type { BlockView, Cell, RevisionInfo } from "./api";
import {
  adherenceLevel,
  adherenceText,
  blocksTime,
  cellColor,
  dateTitle,
  dragged,
  moveSpan,
  nowFraction,
  resizeSpan,
  revisionName,
  rowAt,
  rowTime,
  runIndex,
  runs,
  selection,
  shiftDate,
  spanText,
  stepRevision,
} from "./today";

const deep: Cell = { label: "deep work", category: "focus" };
const mail: Cell = { label: "email" };
const standup: Cell = { label: "standup", fixed_uid: "ev-1" };

function day(cells: (Cell | null)[]): Pick<BlockView, "planned">[] {
  return cells.map((planned) => ({ planned }));
}

describe("runs", () => {
  it("groups consecutive blocks holding one cell", () => {
    const blocks = day([null, deep, deep, { ...deep }, mail, null, standup, standup, deep]);
    const rs = runs(blocks);
    expect(rs.map((r) => [r.start, r.end, r.cell.label])).toEqual([
      [1, 4, "deep work"],
      [4, 5, "email"],
      [6, 8, "standup"],
      [8, 9, "deep work"],
    ]);
    expect(Array.from(runIndex(rs, blocks.length))).toEqual([-1, 0, 0, 0, 1, -1, 2, 2, 3]);
  });

  it("tells cells apart by category, colour and calendar uid, not only by label", () => {
    const blocks = day([deep, { ...deep, category: "other" }, { ...deep, color: "teal" }, { ...deep, fixed_uid: "x" }]);
    expect(runs(blocks)).toHaveLength(4);
  });
});

describe("painting selection", () => {
  it("spans the anchor and the cursor whichever way the drag went", () => {
    expect(selection(12, 17)).toEqual({ start: 12, end: 18 });
    expect(selection(17, 12)).toEqual({ start: 12, end: 18 });
    expect(selection(5, 5)).toEqual({ start: 5, end: 6 });
  });

  it("maps a pointer's height to a row, inside the day", () => {
    expect(rowAt(0, 24, 102)).toBe(0);
    expect(rowAt(24 * 12 + 23, 24, 102)).toBe(12);
    expect(rowAt(-40, 24, 102)).toBe(0);
    expect(rowAt(99_999, 24, 102)).toBe(101);
  });
});

describe("move and resize", () => {
  const run = { start: 12, end: 18 };
  it("moves a run whole and keeps it inside the day", () => {
    expect(moveSpan(run, 3, 102)).toEqual({ start: 15, end: 21 });
    expect(moveSpan(run, -20, 102)).toEqual({ start: 0, end: 6 });
    expect(moveSpan(run, 200, 102)).toEqual({ start: 96, end: 102 });
  });

  it("resizes by an edge, never below one block", () => {
    expect(resizeSpan(run, "end", 19, 102)).toEqual({ start: 12, end: 20 });
    expect(resizeSpan(run, "start", 10, 102)).toEqual({ start: 10, end: 18 });
    expect(resizeSpan(run, "end", 3, 102)).toEqual({ start: 12, end: 13 });
    expect(resizeSpan(run, "start", 40, 102)).toEqual({ start: 17, end: 18 });
    expect(resizeSpan(run, "end", 500, 102)).toEqual({ start: 12, end: 102 });
  });

  it("turns a drag into a move or a resize by what was grabbed", () => {
    expect(dragged(run, "body", 14, 16, 102)).toEqual({ start: 14, end: 20 });
    expect(dragged(run, "end", 17, 19, 102)).toEqual({ start: 12, end: 20 });
    expect(dragged(run, "start", 12, 13, 102)).toEqual({ start: 13, end: 18 });
  });
});

describe("times", () => {
  const block = (local: string, offset = "-04:00", repeated = false) => ({ local, offset, repeated });
  it("shows the offset of a clock time that occurs twice", () => {
    expect(rowTime(block("01:10"))).toBe("01:10");
    expect(rowTime(block("01:10", "-04:00", true))).toBe("01:10 -04:00");
    expect(rowTime(block("01:10", "-05:00", true))).toBe("01:10 -05:00");
  });

  it("names a span by its first block and the start of the next, or the day's end", () => {
    const blocks = [block("23:30"), block("23:40"), block("23:50")];
    expect(spanText(blocks, { start: 0, end: 2 }, "24:00")).toBe("23:30–23:50");
    expect(spanText(blocks, { start: 1, end: 3 }, "24:00")).toBe("23:40–24:00");
  });

  it("steps dates across months and leap days", () => {
    expect(shiftDate("2026-03-05", 1)).toBe("2026-03-06");
    expect(shiftDate("2026-03-01", -1)).toBe("2026-02-28");
    expect(shiftDate("2028-02-28", 1)).toBe("2028-02-29");
    expect(shiftDate("2026-12-31", 1)).toBe("2027-01-01");
    expect(dateTitle("2026-11-01")).toBe("Sun 1 Nov 2026");
  });

  it("places now inside its block", () => {
    const d = {
      now: "2026-03-05T09:05:00+00:00",
      current_block: 0,
      blocks: [{ start: "2026-03-05T09:00:00+00:00", end: "2026-03-05T09:10:00+00:00" }] as BlockView[],
    };
    expect(nowFraction(d)).toBe(0.5);
    expect(nowFraction({ ...d, current_block: null })).toBeNull();
  });
});

describe("revisions", () => {
  const revs: RevisionInfo[] = [
    { number: 1, created_at: "2026-03-05T07:00:00+00:00", from: null },
    { number: 2, created_at: "2026-03-05T10:43:00+00:00", from: "10:40" },
    { number: 3, created_at: "2026-03-05T13:02:00+00:00", from: "13:00" },
  ];
  it("steps from the one in force back and forth, stopping at the ends", () => {
    expect(stepRevision(revs, null, -1)).toBe(2);
    expect(stepRevision(revs, 2, -1)).toBe(1);
    expect(stepRevision(revs, 1, -1)).toBe(1);
    expect(stepRevision(revs, 2, 1)).toBe(3);
    expect(stepRevision(revs, 3, 1)).toBe(3);
    expect(stepRevision([], null, 1)).toBeNull();
  });

  it("names a revision by where it started and whether it is in force", () => {
    expect(revisionName(revs[1]!, 3)).toBe("Revision 2 from 10:40, made 10:43 UTC");
    expect(revisionName(revs[2]!, 3)).toBe("Revision 3 from 13:00, made 13:02 UTC (in force)");
    expect(revisionName(revs[0]!, 3)).toBe("Revision 1, made 07:00 UTC");
  });
});

describe("adherence", () => {
  it("reads as matched of due, with a level", () => {
    expect(adherenceText({ matched: 6, due: 10, ratio: 0.6 })).toBe("6/10 (60%)");
    expect(adherenceText({ matched: 0, due: 0, ratio: null })).toBe("–");
    expect(adherenceLevel({ matched: 9, due: 10, ratio: 0.9 })).toBe("good");
    expect(adherenceLevel({ matched: 6, due: 10, ratio: 0.6 })).toBe("fair");
    expect(adherenceLevel({ matched: 1, due: 10, ratio: 0.1 })).toBe("poor");
    expect(adherenceLevel({ matched: 0, due: 0, ratio: null })).toBe("none");
  });

  it("reads blocks as time", () => {
    expect(blocksTime(4)).toBe("40 min");
    expect(blocksTime(6)).toBe("1 h");
    expect(blocksTime(8)).toBe("1 h 20 min");
  });

  it("colours a cell by its own colour, then the palette's", () => {
    const palette = new Map([["email", "#336699"]]);
    expect(cellColor({ label: "x", color: "teal" }, palette)).toBe("teal");
    expect(cellColor({ label: "email" }, palette)).toBe("#336699");
    expect(cellColor({ label: "new" }, palette)).toBe("gray");
  });
});
