//! What may reach the terminal. Commands, details, paths, image names and iteration output come
//! from users, workspaces, guests and results files (a merged CI artifact is anyone's); printed
//! raw, an escape sequence in them could retitle the window, clear the screen, rewrite what
//! was printed before or hide text. Every such string goes through [`line`] (one-line fields)
//! or [`text`] (output and messages) on its way out.
//!
//! Control characters (C0, DEL, C1) become visible escapes (`\x1b`, `\x07`, `\x9b`), and so do
//! the bidirectional-text controls that could make a line read as something else (`\u{202e}`).
//! [`text`] keeps line breaks and tabs, reads `\r\n` as `\n`, and drops colour sequences
//! (`ESC [ ... m`), which only style text, so coloured test output stays readable; every other
//! sequence is shown, not obeyed. `snaprun logs --raw` prints the bytes as they are.

use std::borrow::Cow;
use std::fmt::Write;

/// A field printed on one line: every control character shown as an escape, line breaks too.
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Text printed as it is laid out (output, messages): line breaks and tabs kept, colours
/// dropped, every other control shown as an escape.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let mut len = c.len_utf8();
        match (c, sgr_len(rest)) {
            ('\n' | '\t', _) => out.push(c),
            ('\r', _) if rest[1..].starts_with('\n') => {}
            (_, Some(sgr)) => len = sgr,
            (c, None) => push_visible(&mut out, c),
        }
        rest = &rest[len..];
    }
    out
}

/// JSON as serde_json writes it, with the controls it leaves as they are (C1, DEL, bidi
/// controls) written as `\uXXXX` escapes: the same JSON value, inert on a terminal.
pub fn json(s: &str) -> Cow<'_, str> {
    // Below DEL, serde_json has escaped every control in strings already, and what is left is
    // the layout's white space.
    let left = |c: char| needs_escape(c) && c >= '\x7f';
    if !s.chars().any(left) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if left(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`text`] of bytes that should be UTF-8 (invalid sequences become U+FFFD).
pub fn text_bytes(b: &[u8]) -> String {
    text(&String::from_utf8_lossy(b))
}

/// Output that arrives in pieces (`repro` prints it as it comes): passed on a line at a time,
/// each through [`text`], so no escape sequence or character is ever cut in two.
#[derive(Default)]
pub struct Lines {
    pending: Vec<u8>,
}

/// A line this long is passed on even without its end.
const LONGEST_LINE: usize = 64 << 10;

impl Lines {
    /// What of `bytes` can be printed now.
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let cut = match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if self.pending.len() >= LONGEST_LINE => self.pending.len(),
            None => return String::new(),
        };
        let done: Vec<u8> = self.pending.drain(..cut).collect();
        text_bytes(&done)
    }

    /// Whatever is left at the end.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        text_bytes(&rest)
    }
}

/// The length of a colour (SGR) sequence at the start of `s`: `ESC [`, digits, `;` or `:`,
/// then `m`.
fn sgr_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b.starts_with(b"\x1b[") {
        return None;
    }
    let params = b[2..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b';' || **c == b':')
        .count();
    (b.get(2 + params) == Some(&b'm')).then_some(3 + params)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn push_visible(out: &mut String, c: char) {
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        c if c.is_control() => write!(out, "\\x{:02x}", c as u32),
        c if is_bidi_control(c) => write!(out, "\\u{{{:04x}}}", c as u32),
        c => {
            out.push(c);
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\u{9b}6n\r\nb\u{202e}c\x7f";

    fn controls(s: &str) -> Vec<char> {
        s.chars().filter(|c| needs_escape(*c)).collect()
    }

    #[test]
    fn a_line_shows_every_control_and_keeps_plain_text_as_it_is() {
        assert!(matches!(line("./stress.sh --n 3"), Cow::Borrowed(_)));
        let shown = line(HOSTILE);
        assert_eq!(
            shown,
            r"a\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\x9b6n\r\nb\u{202e}c\x7f"
        );
        assert!(controls(&shown).is_empty());
    }

    #[test]
    fn text_keeps_lines_and_tabs_drops_colours_and_shows_the_rest() {
        let shown = text(HOSTILE);
        assert_eq!(
            shown,
            "a\\x1b]0;pwned\\x07\\x1b[2Jred\\x9b6n\nb\\u{202e}c\\x7f"
        );
        assert_eq!(controls(&shown), ['\n']);
        assert_eq!(text("col\tumn\n"), "col\tumn\n");
        // A colour sequence cut short is shown, not dropped.
        assert_eq!(text("\x1b[31"), "\\x1b[31");
        assert_eq!(text_bytes(b"\xff\x1b[1mok"), "\u{fffd}ok");
    }

    #[test]
    fn json_keeps_its_value_and_loses_its_raw_controls() {
        let v = serde_json::json!({ "command": HOSTILE, "n": [1, 2] });
        let printed = serde_json::to_string_pretty(&v).unwrap();
        assert!(controls(&printed).len() > 4, "serde_json leaves some");
        let shown = json(&printed);
        assert!(
            controls(&shown).iter().all(|c| *c == '\n'),
            "only the layout's line breaks: {shown}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
            v
        );
        assert!(matches!(json("{\n  \"a\": 1\n}"), Cow::Borrowed(_)));
    }

    #[test]
    fn output_in_pieces_is_cleaned_a_line_at_a_time() {
        let mut lines = Lines::default();
        let mut out = String::new();
        // A sequence and a UTF-8 character split across pieces.
        for piece in [
            &b"one \x1b["[..],
            b"2J two \xc3",
            b"\xa9\nthree \x1b]0;t",
            b"\x07",
        ] {
            out.push_str(&lines.feed(piece));
        }
        assert_eq!(out, "one \\x1b[2J two \u{e9}\n");
        out.push_str(&lines.finish());
        assert_eq!(out, "one \\x1b[2J two \u{e9}\nthree \\x1b]0;t\\x07");
        assert_eq!(lines.finish(), "");
    }
}
