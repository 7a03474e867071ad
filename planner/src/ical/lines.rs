//! The content lines of an .ics file (RFC 5545 section 3.1), made ready for the `icalendar`
//! parser:
//! - names are upper-cased: RFC 5545 makes property, parameter and component names
//!   case-insensitive, and so the values that are dates, durations, rules or enumerations,
//!   where the parser and the rest of `ical` compare them as written in the RFC;
//! - components nest no deeper than [`MAX_DEPTH`]: the parser recurses once per nested
//!   component, so a file nested a few thousand deep overflowed the stack. Nesting is counted
//!   here, on the unfolded lines, and refused past that, naming the line that goes too deep.

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

/// Properties whose values RFC 5545 spells in letters that may come in either case (dates
/// `20260305T090000Z`, durations `PT1H`, rules `FREQ=YEARLY`, enumerations `CANCELLED`), and
/// which are read by comparing them with those spellings.
const CASELESS_VALUES: &[&str] = &[
    "BEGIN",
    "END",
    "DTSTART",
    "DTEND",
    "DUE",
    "DTSTAMP",
    "RECURRENCE-ID",
    "RDATE",
    "EXDATE",
    "DURATION",
    "RRULE",
    "STATUS",
    "TRANSP",
    "METHOD",
    "TZOFFSETFROM",
    "TZOFFSETTO",
];

/// Parameters whose values are enumerations (`VALUE=DATE`); other parameter values (a TZID)
/// stay as written.
const CASELESS_PARAMETERS: &[&str] = &["VALUE"];

/// A content line with its names (and the values that are not text) upper-cased, and its
/// name.
fn normalized(line: &str) -> (String, String) {
    // Where the value starts: the first `:` outside a quoted parameter value.
    let mut in_quotes = false;
    let value_at = line
        .char_indices()
        .find(|&(_, c)| {
            in_quotes ^= c == '"';
            c == ':' && !in_quotes
        })
        .map_or(line.len(), |(i, _)| i);
    let (head, value) = line.split_at(value_at);
    let mut parts = head.split(';');
    let name = parts.next().unwrap_or_default().trim().to_ascii_uppercase();
    let mut out = name.clone();
    for param in parts {
        out.push(';');
        match param.split_once('=') {
            Some((key, v)) => {
                let key = key.trim().to_ascii_uppercase();
                let v = if CASELESS_PARAMETERS.contains(&key.as_str()) {
                    v.to_ascii_uppercase()
                } else {
                    v.to_owned()
                };
                out.push_str(&key);
                out.push('=');
                out.push_str(&v);
            }
            None => out.push_str(param),
        }
    }
    if CASELESS_VALUES.contains(&name.as_str()) {
        out.push_str(&value.trim_end().to_ascii_uppercase());
    } else {
        out.push_str(value);
    }
    (out, name)
}

/// The calendar as the parser reads it: content lines unfolded, names upper-cased, nesting
/// checked to be no deeper than [`MAX_DEPTH`]. Errors name the line.
pub(super) fn normalize(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for line in content_lines(text) {
        if line.text.trim().is_empty() {
            continue;
        }
        let (line_text, name) = normalized(&line.text);
        if name == "BEGIN" {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(format!(
                    "line {}: {line_text} is nested {depth} components deep, past the \
                     {MAX_DEPTH} a calendar may have",
                    line.number,
                ));
            }
        } else if name == "END" {
            depth = depth.saturating_sub(1);
        }
        out.push_str(&line_text);
        out.push_str("\r\n");
    }
    Ok(out)
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
        assert!(normalize(&nested(MAX_DEPTH - 1)).is_ok());
        let e = normalize(&nested(MAX_DEPTH)).unwrap_err();
        assert_eq!(
            e,
            "line 17: BEGIN:X-A is nested 17 components deep, past the 16 a calendar may have"
        );
        // Siblings do not add up.
        let wide = "BEGIN:VCALENDAR\r\n".to_owned()
            + &"BEGIN:VEVENT\r\nEND:VEVENT\r\n".repeat(1000)
            + "END:VCALENDAR\r\n";
        assert!(normalize(&wide).is_ok());
    }

    #[test]
    fn names_and_the_values_that_are_not_text_are_upper_cased() {
        let text = "begin:vcalendar\r\nbegin:vevent\r\n\
            dtStart;tzid=Europe/Berlin;value=date-time:20260305t090000\r\n\
            summary;language=de;x-note=\"a:b\":Mixed Case: kept\r\n\
            status:cancelled\r\nrrule:freq=yearly\r\nend:vevent\r\nend:vcalendar\r\n";
        assert_eq!(
            normalize(text).unwrap(),
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n\
             DTSTART;TZID=Europe/Berlin;VALUE=DATE-TIME:20260305T090000\r\n\
             SUMMARY;LANGUAGE=de;X-NOTE=\"a:b\":Mixed Case: kept\r\n\
             STATUS:CANCELLED\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
    }
}
