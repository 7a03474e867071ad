//! What may reach a terminal. Labels, categories and summaries come from people and from
//! imported files, and are stored as they were given; anything that prints them for a
//! terminal passes them through [`sanitize`] first, so that no string can move the cursor,
//! clear the screen, set the window title, reverse the text's direction or break a line of
//! the grid. JSON output prints the stored strings exactly.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

/// Characters a terminal acts on rather than shows: C0 and C1 controls (ESC, BEL, newline,
/// CSI U+009B...), DEL, the bidirectional overrides and isolates, and the line and paragraph
/// separators.
fn acts_on(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with every character a terminal would act on written as a visible escape
/// (`\n`, `\t`, `\u{1b}`); unchanged, and not copied, when it has none.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if acts_on(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The columns a character takes on a terminal: 2 for wide ones (CJK, most emoji), 0 for
/// combining marks.
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// The columns a (sanitized) string takes on a terminal.
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// `text` followed by spaces up to `columns` columns.
pub fn pad(text: &str, columns: usize) -> String {
    let mut out = text.to_owned();
    out.extend(std::iter::repeat_n(
        ' ',
        columns.saturating_sub(width(text)),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on_and_nothing_else() {
        assert!(matches!(sanitize("deep work 会議 ✓"), Cow::Borrowed(_)));
        assert_eq!(
            sanitize("\x1b]0;owned\x07\x1b[2Jevil"),
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jevil"
        );
        assert_eq!(sanitize("two\nlines\r\tx"), "two\\nlines\\r\\tx");
        assert_eq!(sanitize("a\u{9b}31mb\u{7f}"), "a\\u{9b}31mb\\u{7f}");
        assert_eq!(sanitize("\u{202e}exe.txt"), "\\u{202e}exe.txt");
        assert!(!sanitize("\u{2066}x\u{2028}").chars().any(acts_on));
    }

    #[test]
    fn widths_count_terminal_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("会議"), 4);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(pad("会", 4), "会  ");
        assert_eq!(pad("toolong", 3), "toolong");
    }
}
