//! The content lines of an .ics file (RFC 5545 section 3.1), checked before the `icalendar`
//! parser sees them. That parser recurses once per nested component, so a file nested a few
//! thousand deep overflowed the stack: nesting is counted here, on the unfolded lines, and
//! refused past [`MAX_DEPTH`], naming the line that goes too deep.

/// Components nest at most this deep, VCALENDAR included. RFC 5545's deepest is 3 (VCALENDAR,
/// VEVENT, VALARM); RFC 9073's is 4.
pub(super) const MAX_DEPTH: usize = 16;

/// One unfolded content line and the line of the file it starts on (1-based).
struct ContentLine {
    number: usize,
    text: String,
}

/// The content lines of `text`: a line that starts with a space or a tab continues the one
/// before it (the fold and that one character go).
fn content_lines(text: &str) -> Vec<ContentLine> {
    let mut out: Vec<ContentLine> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match (line.as_bytes().first(), out.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.text.push_str(&line[1..]),
            _ => out.push(ContentLine {
                number: i + 1,
                text: line.to_owned(),
            }),
        }
    }
    out
}

/// The name of a content line (before its parameters and value), and its value.
fn name_and_value(line: &str) -> (&str, &str) {
    let name_end = line.find([';', ':']).unwrap_or(line.len());
    let value = line.find(':').map_or("", |i| &line[i + 1..]);
    (&line[..name_end], value)
}

/// Checks that components nest no deeper than [`MAX_DEPTH`]; the error names the line.
pub(super) fn check_depth(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for line in content_lines(text) {
        let (name, value) = name_and_value(&line.text);
        if name.eq_ignore_ascii_case("BEGIN") {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(format!(
                    "line {}: BEGIN:{} is nested {depth} components deep, past the \
                     {MAX_DEPTH} a calendar may have",
                    line.number,
                    value.trim()
                ));
            }
        } else if name.eq_ignore_ascii_case("END") {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_join_and_keep_the_first_line_number() {
        let lines = content_lines("BEGIN:VCALENDAR\r\nSUMMARY:a\r\n  b\r\n\tc\r\nEND:VCALENDAR");
        let got: Vec<(usize, &str)> = lines.iter().map(|l| (l.number, l.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "BEGIN:VCALENDAR"),
                (2, "SUMMARY:a bc"),
                (5, "END:VCALENDAR")
            ]
        );
    }

    #[test]
    fn nesting_is_bounded_and_the_line_named() {
        let nested = |n: usize| {
            "BEGIN:VCALENDAR\r\n".to_owned()
                + &"BEGIN:X-A\r\n".repeat(n)
                + &"END:X-A\r\n".repeat(n)
                + "END:VCALENDAR\r\n"
        };
        assert_eq!(check_depth(&nested(MAX_DEPTH - 1)), Ok(()));
        let e = check_depth(&nested(MAX_DEPTH)).unwrap_err();
        assert_eq!(
            e,
            "line 17: BEGIN:X-A is nested 17 components deep, past the 16 a calendar may have"
        );
        // Siblings do not add up.
        let wide = "BEGIN:VCALENDAR\r\n".to_owned()
            + &"BEGIN:VEVENT\r\nEND:VEVENT\r\n".repeat(1000)
            + "END:VCALENDAR\r\n";
        assert_eq!(check_depth(&wide), Ok(()));
    }
}
