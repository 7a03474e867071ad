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

/// The content lines of `data`: a line that starts with a space or a tab continues the one
/// before it (the line break and that one character go). Lines are unfolded as bytes and only
/// then decoded, since a fold may split a UTF-8 character (RFC 5545 3.1: "implementations
/// need to unfold lines in such a way to properly restore the original sequence").
fn content_lines(data: &[u8]) -> Result<Vec<ContentLine>, String> {
    let mut raw: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match (line.first(), raw.last_mut()) {
            (Some(b' ' | b'\t'), Some((_, last))) => last.extend_from_slice(&line[1..]),
            _ => raw.push((i + 1, line.to_vec())),
        }
    }
    raw.into_iter()
        .map(|(number, bytes)| match String::from_utf8(bytes) {
            Ok(text) => Ok(ContentLine { number, text }),
            Err(e) => Err(format!(
                "line {number} is not UTF-8 text (byte {} of the line); save the file as UTF-8",
                e.utf8_error().valid_up_to() + 1
            )),
        })
        .collect()
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

/// The calendar as the parser reads it: content lines unfolded and decoded, names
/// upper-cased, nesting checked to be no deeper than [`MAX_DEPTH`]. Errors name the line.
pub(super) fn normalize(data: &[u8]) -> Result<String, String> {
    let data = data.strip_prefix("\u{feff}".as_bytes()).unwrap_or(data);
    let mut out = String::with_capacity(data.len());
    let mut depth = 0usize;
    let mut closed = false;
    for line in content_lines(data)? {
        if line.text.trim().is_empty() {
            continue;
        }
        let (line_text, name) = normalized(&line.text);
        if out.is_empty() && line_text != "BEGIN:VCALENDAR" {
            return Err("it does not start with BEGIN:VCALENDAR".into());
        }
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
            closed |= line_text == "END:VCALENDAR";
        }
        out.push_str(&line_text);
        out.push_str("\r\n");
    }
    if out.is_empty() {
        return Err("it does not start with BEGIN:VCALENDAR".into());
    }
    if !closed {
        return Err("it has no END:VCALENDAR (is the file cut short?)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_join_and_keep_the_first_line_number() {
        let lines =
            content_lines(b"BEGIN:VCALENDAR\r\nSUMMARY:a\r\n  b\r\n\tc\r\nEND:VCALENDAR").unwrap();
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
        assert!(normalize(nested(MAX_DEPTH - 1).as_bytes()).is_ok());
        let e = normalize(nested(MAX_DEPTH).as_bytes()).unwrap_err();
        assert_eq!(
            e,
            "line 17: BEGIN:X-A is nested 17 components deep, past the 16 a calendar may have"
        );
        // Siblings do not add up.
        let wide = "BEGIN:VCALENDAR\r\n".to_owned()
            + &"BEGIN:VEVENT\r\nEND:VEVENT\r\n".repeat(1000)
            + "END:VCALENDAR\r\n";
        assert!(normalize(wide.as_bytes()).is_ok());
    }

    #[test]
    fn names_and_the_values_that_are_not_text_are_upper_cased() {
        let text = "begin:vcalendar\r\nbegin:vevent\r\n\
            dtStart;tzid=Europe/Berlin;value=date-time:20260305t090000\r\n\
            summary;language=de;x-note=\"a:b\":Mixed Case: kept\r\n\
            status:cancelled\r\nrrule:freq=yearly\r\nend:vevent\r\nend:vcalendar\r\n";
        assert_eq!(
            normalize(text.as_bytes()).unwrap(),
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n\
             DTSTART;TZID=Europe/Berlin;VALUE=DATE-TIME:20260305T090000\r\n\
             SUMMARY;LANGUAGE=de;X-NOTE=\"a:b\":Mixed Case: kept\r\n\
             STATUS:CANCELLED\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn a_fold_may_split_a_utf8_character() {
        let line = "SUMMARY:Réunion 会議".as_bytes();
        let cut = line.len() - 4; // inside the three bytes of 会
        let mut data = b"BEGIN:VCALENDAR\r\n".to_vec();
        data.extend_from_slice(&line[..cut]);
        data.extend_from_slice(b"\r\n ");
        data.extend_from_slice(&line[cut..]);
        data.extend_from_slice(b"\r\nEND:VCALENDAR\r\n");
        assert!(
            std::str::from_utf8(&data).is_err(),
            "the file as a whole is not UTF-8"
        );
        assert_eq!(
            normalize(&data).unwrap(),
            "BEGIN:VCALENDAR\r\nSUMMARY:Réunion 会議\r\nEND:VCALENDAR\r\n"
        );
        let e = normalize(b"BEGIN:VCALENDAR\r\nSUMMARY:caf\xe9\r\nEND:VCALENDAR\r\n").unwrap_err();
        assert_eq!(
            e,
            "line 2 is not UTF-8 text (byte 12 of the line); save the file as UTF-8"
        );
    }
}
