//! The day as text for a terminal: one row per local hour with six 10-minute cells, the plan
//! on the left and what was done on the right, the current block marked. Pure: it gets
//! `now` and whether to colour, and returns a string. Every label, category and note passes
//! through [`terminal::sanitize`], and cells are measured in terminal columns, so no string
//! breaks the grid.

use std::fmt::Write as _;

use chrono::{Datelike, Timelike};

use crate::actual::ActualCell;
use crate::compare::{DayComparison, Summary, Tally};
use crate::day::DayView;
use crate::plan::{Cell, Color};
use crate::terminal::{self, char_width, pad, sanitize};

const CELL: usize = 6;
const SLOTS: usize = 6;

/// `2h30` for a number of blocks.
pub fn duration_text(blocks: u32) -> String {
    let m = blocks * 10;
    format!("{}h{:02}", m / 60, m % 60)
}

#[derive(Clone, PartialEq)]
struct Item {
    label: String,
    rgb: (u8, u8, u8),
}

/// One side of one row: what each terminal column shows (a wide character fills its column
/// and leaves the next one empty), and the coloured stretches of columns.
struct Side {
    cols: Vec<String>,
    styles: Vec<(usize, usize, (u8, u8, u8))>,
}

impl Side {
    /// Writes `text` into the `width` columns from `from`, cut with `…` when it is wider.
    fn write(&mut self, from: usize, width: usize, text: &str) {
        let cut = terminal::width(text) > width;
        let limit = from + if cut { width.saturating_sub(1) } else { width };
        let mut c = from;
        for ch in text.chars() {
            let w = char_width(ch);
            if w == 0 {
                // A combining mark goes with the character before it.
                if c > from {
                    self.cols[c - 1].push(ch);
                }
                continue;
            }
            if c + w > limit {
                break;
            }
            self.cols[c] = ch.to_string();
            if w == 2 {
                self.cols[c + 1] = String::new();
            }
            c += w;
        }
        if cut && c < from + width {
            self.cols[c] = "…".into();
        }
    }

    /// Puts the current-block marker in column `c`, over whatever was there (a wide
    /// character it cuts gives up its other half to a space).
    fn mark(&mut self, c: usize) {
        if self.cols[c].is_empty() && c > 0 {
            self.cols[c - 1] = " ".into();
        } else if terminal::width(&self.cols[c]) == 2 && c + 1 < self.cols.len() {
            self.cols[c + 1] = " ".into();
        }
        self.cols[c] = "▶".into();
    }
}

fn side(slots: &[Option<Option<Item>>; SLOTS]) -> Side {
    let mut side = Side {
        cols: vec![" ".to_owned(); CELL * SLOTS],
        styles: Vec::new(),
    };
    let mut s = 0;
    while s < SLOTS {
        match &slots[s] {
            None => s += 1,
            Some(None) => {
                side.cols[s * CELL] = "·".into();
                s += 1;
            }
            Some(Some(item)) => {
                let mut n = 1;
                while s + n < SLOTS && slots[s + n].as_ref().and_then(Option::as_ref) == Some(item)
                {
                    n += 1;
                }
                let (a, b) = (s * CELL, (s + n) * CELL);
                side.cols[a] = "[".into();
                side.write(a + 1, CELL * n - 2, &item.label);
                side.cols[b - 1] = "]".into();
                side.styles.push((a, b, item.rgb));
                s += n;
            }
        }
    }
    side
}

fn paint(side: &Side, color: bool) -> String {
    if !color {
        return side.cols.concat();
    }
    let mut out = String::new();
    let mut i = 0;
    while i < side.cols.len() {
        if let Some(&(a, b, (r, g, bl))) = side.styles.iter().find(|(a, _, _)| *a == i) {
            let light = (r as u32 * 299 + g as u32 * 587 + bl as u32 * 114) / 1000 > 140;
            let fg = if light { "30" } else { "97" };
            let _ = write!(out, "\x1b[{fg};48;2;{r};{g};{bl}m");
            out.push_str(&side.cols[a..b].concat());
            out.push_str("\x1b[0m");
            i = b;
        } else {
            out.push_str(&side.cols[i]);
            i += 1;
        }
    }
    out
}

fn item_of_cell(c: &Cell) -> Item {
    let color = c
        .color
        .clone()
        .unwrap_or_else(|| Color::for_label(&c.label));
    Item {
        label: sanitize(&c.label).into_owned(),
        rgb: color.rgb(),
    }
}

fn item_of_actual(a: &ActualCell) -> Item {
    Item {
        label: sanitize(&a.label).into_owned(),
        rgb: Color::for_label(&a.label).rgb(),
    }
}

/// Which plan revision a view shows, e.g. `plan revision 2 of 2 (re-planned from 10:40, made
/// 2026-03-05 10:41)`.
pub fn revision_note(v: &DayView) -> String {
    let Some(rev) = v.shown() else {
        return if v.revisions.is_empty() {
            "no plan yet: plan blocks with `blocks plan 09:00-11:30 \"deep work\"`, or apply a template".to_owned()
        } else {
            "nothing was planned yet at that time".to_owned()
        };
    };
    let made = rev
        .created_at
        .with_timezone(&v.grid.tz)
        .format("%Y-%m-%d %H:%M");
    let count = v.revisions.len();
    match rev.from {
        None => format!("plan revision {} of {count} (made {made})", rev.number),
        Some(from) => format!(
            "plan revision {} of {count} (re-planned from {from}, made {made})",
            rev.number
        ),
    }
}

/// The day grid with planned and actual side by side.
pub fn render_day(v: &DayView, color: bool) -> String {
    let g = &v.grid;
    let mut out = String::new();
    let offset = g
        .blocks
        .first()
        .map(|b| b.offset.to_string())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} {}  {} (UTC{})  {}  {} blocks",
        g.date.weekday(),
        g.date,
        g.tz.name(),
        offset,
        g.span,
        g.len()
    );
    let _ = writeln!(out, "{}", revision_note(v));
    let _ = writeln!(out, "{:<6}{:<w$} │ actual", "", "planned", w = CELL * SLOTS);

    let current = v.current_block;
    // Rows: consecutive blocks with the same local date, hour and offset.
    let mut i = 0;
    while i < g.len() {
        let first = &g.blocks[i];
        let key = |b: &crate::grid::Block| (b.local.date(), b.local.hour(), b.offset);
        let mut j = i;
        while j < g.len() && key(&g.blocks[j]) == key(first) {
            j += 1;
        }
        let mut plan_slots: [Option<Option<Item>>; SLOTS] = Default::default();
        let mut act_slots: [Option<Option<Item>>; SLOTS] = Default::default();
        let mut marker = None;
        for k in i..j {
            let slot = (g.blocks[k].local.minute() as usize / 10).min(SLOTS - 1);
            let block = v.blocks.get(k);
            plan_slots[slot] = Some(block.and_then(|b| b.planned.as_ref()).map(item_of_cell));
            act_slots[slot] = Some(block.and_then(|b| b.actual.as_ref()).map(item_of_actual));
            if current == Some(k) {
                marker = Some(slot);
            }
        }
        let mut left = side(&plan_slots);
        let mut right = side(&act_slots);
        if let Some(s) = marker {
            left.mark(s * CELL);
            right.mark(s * CELL);
        }
        let row = format!(
            "{}:00 {} │ {}",
            first.local.format("%H"),
            paint(&left, color),
            paint(&right, color)
        );
        out.push_str(row.trim_end());
        if g.blocks[i..j].iter().any(|b| b.repeated) {
            let _ = write!(out, "  UTC{}", first.offset);
        }
        if marker.is_some() {
            let _ = write!(
                out,
                "  ◀ now {}",
                v.now.with_timezone(&g.tz).format("%H:%M")
            );
        }
        out.push('\n');
        i = j;
    }

    let _ = writeln!(out, "adherence: {}", v.adherence.percent_text());
    let list = |pick: fn(&Tally) -> u32| -> String {
        let parts: Vec<String> = v
            .by_label
            .iter()
            .filter(|t| pick(t) > 0)
            .map(|t| format!("{} {}", sanitize(&t.name), duration_text(pick(t))))
            .collect();
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(" · ")
        }
    };
    let _ = writeln!(out, "planned: {}", list(|t| t.planned));
    let _ = writeln!(out, "actual:  {}", list(|t| t.actual));
    for n in &v.notes {
        let _ = writeln!(out, "note: {}", sanitize(n));
    }
    out
}

/// The label table, then the category table when any block has a category.
fn tables(out: &mut String, by_label: &[Tally], by_category: &[Tally]) {
    out.push('\n');
    table(out, "label", by_label);
    if !by_category.is_empty() {
        out.push('\n');
        table(out, "category", by_category);
    }
}

fn table(out: &mut String, title: &str, rows: &[Tally]) {
    if rows.is_empty() {
        return;
    }
    let names: Vec<_> = rows.iter().map(|t| sanitize(&t.name)).collect();
    let w = names
        .iter()
        .map(|n| terminal::width(n))
        .max()
        .unwrap_or(0)
        .max(title.len());
    let _ = writeln!(out, "{title:<w$}  planned   actual  matched");
    for (t, name) in rows.iter().zip(&names) {
        let matched = if t.due > 0 {
            format!("{}/{}", t.matched, t.due)
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            out,
            "{}  {:>7}  {:>7}  {:>7}",
            pad(name, w),
            duration_text(t.planned),
            duration_text(t.actual),
            matched
        );
    }
}

/// Planned vs actual for one day, per label and per category.
pub fn render_day_report(c: &DayComparison, tz: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {} ({tz})", c.date.weekday(), c.date);
    let _ = writeln!(out, "adherence: {}", c.adherence.percent_text());
    tables(&mut out, &c.by_label, &c.by_category);
    out
}

/// Planned vs actual for a week: each day's adherence, then totals per label and category.
pub fn render_week_report(s: &Summary, tz: &str) -> String {
    let mut out = String::new();
    if let (Some(first), Some(last)) = (s.days.first(), s.days.last()) {
        let _ = writeln!(out, "week {} to {} ({tz})", first.date, last.date);
    }
    for d in &s.days {
        let (date, a) = (d.date, d.adherence);
        let _ = writeln!(out, "  {} {}  {}", date.weekday(), date, a.percent_text());
    }
    let _ = writeln!(out, "adherence: {}", s.adherence.percent_text());
    tables(&mut out, &s.by_label, &s.by_category);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    use crate::clock::Rounding;
    use crate::grid::{DaySpan, Grid, parse_tz};
    use crate::plan::{Conflict, DayPlan};
    use expect_test::expect;

    fn view_text(
        g: &Grid,
        day: &DayPlan,
        actual: &[Option<ActualCell>],
        now: &str,
        color: bool,
    ) -> String {
        let now: DateTime<Utc> = now.parse().unwrap();
        let view = DayView::new(g.clone(), day, day.current(), actual.to_vec(), now, vec![]);
        render_day(&view, color)
    }

    fn did(label: &str) -> Option<ActualCell> {
        Some(ActualCell {
            label: label.into(),
            category: None,
            source: "manual".into(),
            seconds: 600,
        })
    }

    #[test]
    fn planned_and_actual_side_by_side() {
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::parse("08:30", "12:00").unwrap(),
        );
        let mut day = DayPlan::new(g.date);
        let now: DateTime<Utc> = "2026-03-05T08:00:00Z".parse().unwrap();
        for (r, l) in [
            ("09:00-10:20", "deep work"),
            ("10:20-10:30", "email"),
            ("11:00-11:10", "a very long label"),
        ] {
            let r = g.range(r.parse().unwrap(), Rounding::Strict).unwrap();
            day.assign(&g, r, &Cell::new(l).unwrap(), Conflict::Refuse, now)
                .unwrap();
        }
        let mut actual = vec![None; g.len()];
        for a in actual.iter_mut().skip(3).take(5) {
            *a = did("deep work");
        }
        actual[8] = did("chat");
        let text = view_text(&g, &day, &actual, "2026-03-05T09:47:00Z", false);
        expect![[r#"
            Thu 2026-03-05  UTC (UTC+00:00)  08:30-12:00  21 blocks
            plan revision 1 of 1 (made 2026-03-05 08:00)
                  planned                              │ actual
            08:00                   ·     ·     ·      │                   ·     ·     ·
            09:00 [deep work              ▶          ] │ [deep work              ▶    ][chat]  ◀ now 09:47
            10:00 [deep work ][ema…]·     ·     ·      │ ·     ·     ·     ·     ·     ·
            11:00 [a v…]·     ·     ·     ·     ·      │ ·     ·     ·     ·     ·     ·
            adherence: 5/5 blocks (100%)
            planned: deep work 1h20 · a very long label 0h10 · email 0h10
            actual:  deep work 0h50 · chat 0h10
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn labels_cannot_drive_the_terminal_or_break_the_grid() {
        let g = Grid::new(
            "2026-03-05".parse().unwrap(),
            parse_tz("UTC").unwrap(),
            DaySpan::parse("09:00", "12:00").unwrap(),
        );
        let mut day = DayPlan::new(g.date);
        let now: DateTime<Utc> = "2026-03-05T08:00:00Z".parse().unwrap();
        for (r, l) in [
            ("09:00-09:30", "\x1b]0;owned\x07\x1b[2Jevil"),
            ("09:30-10:00", "two\nlines"),
            ("10:00-10:20", "会議会議会議会議"),
            ("10:20-10:40", "e\u{301}te\u{301}"),
            ("11:00-12:00", "\u{202e}gnp.exe"),
        ] {
            let r = g.range(r.parse().unwrap(), Rounding::Strict).unwrap();
            day.assign(&g, r, &Cell::new(l).unwrap(), Conflict::Refuse, now)
                .unwrap();
        }
        let mut actual = vec![None; g.len()];
        actual[6] = did("\x1b[31m会議");
        // The current block is in the middle of the wide label.
        let text = view_text(&g, &day, &actual, "2026-03-05T10:12:00Z", true);
        for bad in ["\x1b]", "\x1b[2J", "\x07", "\x1b[31m", "\u{202e}"] {
            assert!(!text.contains(bad), "{bad:?} in {text}");
        }
        let plain = view_text(&g, &day, &actual, "2026-03-05T10:12:00Z", false);
        expect![[r#"
            Thu 2026-03-05  UTC (UTC+00:00)  09:00-12:00  18 blocks
            plan revision 1 of 1 (made 2026-03-05 08:00)
                  planned                              │ actual
            09:00 [\u{1b}]0;owned\…][two\nlines      ] │ ·     ·     ·     ·     ·     ·
            10:00 [会議 ▶議… ][été       ]·     ·      │ [\u{…]▶     ·     ·     ·     ·  ◀ now 10:12
            11:00 [\u{202e}gnp.exe                   ] │ ·     ·     ·     ·     ·     ·
            adherence: 0/7 blocks (0%)
            planned: \u{202e}gnp.exe 1h00 · \u{1b}]0;owned\u{7}\u{1b}[2Jevil 0h30 · two\nlines 0h30 · été 0h20 · 会議会議会議会議 0h20
            actual:  \u{1b}[31m会議 0h10
        "#]]
        .assert_eq(&plain);
        let widths: Vec<usize> = plain
            .lines()
            .filter(|l| l.contains('│'))
            .map(|l| crate::terminal::width(l.split('│').next().unwrap()))
            .collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}");
    }

    #[test]
    fn both_rows_of_a_half_hour_fall_back_show_their_offset() {
        // Lord Howe goes back from 02:00 to 01:30: the first 01:00 row (+11:00) holds
        // 01:00-01:20, which happen once, and 01:30-01:50, which happen again (+10:30). The
        // first row showed no offset.
        let g = Grid::new(
            "2026-04-05".parse().unwrap(),
            parse_tz("Australia/Lord_Howe").unwrap(),
            DaySpan::parse("00:00", "04:00").unwrap(),
        );
        let day = DayPlan::new(g.date);
        let actual = vec![None; g.len()];
        let text = view_text(&g, &day, &actual, "2026-04-04T00:00:00Z", false);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("01:00")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].ends_with("UTC+11:00"), "{}", rows[0]);
        assert!(rows[1].ends_with("UTC+10:30"), "{}", rows[1]);
    }

    #[test]
    fn fall_back_rows_show_their_offset_and_colour_is_optional() {
        let g = Grid::new(
            "2026-11-01".parse().unwrap(),
            parse_tz("America/New_York").unwrap(),
            DaySpan::parse("00:00", "03:00").unwrap(),
        );
        let day = DayPlan::new(g.date);
        let actual = vec![None; g.len()];
        let text = view_text(&g, &day, &actual, "2026-11-01T06:15:00Z", false);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("01:00")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].ends_with("UTC-04:00"), "{}", rows[0]);
        assert!(
            rows[1].contains("UTC-05:00") && rows[1].contains("◀ now 01:15"),
            "{}",
            rows[1]
        );
        assert!(!text.contains('\x1b'));

        let mut day = DayPlan::new(g.date);
        let r = g
            .range("00:00-00:30".parse().unwrap(), Rounding::Strict)
            .unwrap();
        let cell = Cell::new("x")
            .unwrap()
            .with_color(Some(Color::parse("#ffffff").unwrap()));
        day.assign(&g, r, &cell, Conflict::Refuse, g.wake).unwrap();
        let coloured = view_text(&g, &day, &actual, "2026-11-01T06:15:00Z", true);
        assert!(
            coloured.contains("\x1b[30;48;2;255;255;255m[x"),
            "{coloured:?}"
        );
    }
}
