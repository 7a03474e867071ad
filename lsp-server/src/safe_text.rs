//! Text from clients and files made safe for a terminal or a one-line view: control
//! characters (C0, DEL, C1: escape sequences, new lines) and the bidirectional overrides that
//! could make text read as something else are either escaped ([`printable`], for the text
//! form, where nothing may be hidden) or dropped ([`sanitize`], for labels and messages).
//! Pure; every crate module that shows such text goes through here.

use std::borrow::Cow;

/// Whether a character must not reach a terminal as it is: a control character (C0, DEL,
/// C1: escape sequences, new lines) or a bidirectional override.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Text from a client or a file as the text form shows it, safe on a terminal: control
/// characters (escape sequences, new lines) and the bidirectional overrides that could
/// make it read as something else are written as `\u{..}` escapes.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Makes text from a file or a client safe to show: control characters (C0, DEL, C1) and
/// the bidirectional overrides that could make it read as something else are dropped, a
/// tab becomes a space, trailing white space goes, and it is cut to `max_chars` (`…`).
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut count = 0;
    for c in text.chars() {
        let c = match c {
            '\t' => ' ',
            c if is_unprintable(c) => continue,
            c => c,
        };
        if count == max_chars {
            out.truncate(out.trim_end().len());
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_a_terminal_would_obey() {
        assert_eq!(printable("src/a.rs"), Cow::Borrowed("src/a.rs"));
        assert_eq!(
            printable("a\u{1b}]0;x\u{7}\u{1b}[2Jb\nc\u{202E}d\u{9b}"),
            "a\\u{1b}]0;x\\u{7}\\u{1b}[2Jb\\u{a}c\\u{202e}d\\u{9b}"
        );
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_dropped_and_long_lines_cut() {
        assert_eq!(sanitize("\tfn main() {\r", 200), " fn main() {");
        assert_eq!(sanitize("a\u{1b}[31mred\u{7}\u{9b}", 200), "a[31mred");
        assert_eq!(sanitize("x\u{202E}gnp.exe", 200), "xgnp.exe");
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("ab  cdef", 3), "ab…");
        assert_eq!(sanitize("abc", 3), "abc");
    }
}
