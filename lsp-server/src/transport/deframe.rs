//! Cuts a byte stream into message bodies (LSP's base protocol: `Content-Length: N`, other
//! headers, a blank line, then N bytes), and finds its feet again after a broken frame.
//!
//! Pure: bytes in ([`Deframer::push`]), items out ([`Deframer::next`]), no I/O. Bounded:
//! a header line is at most [`MAX_HEADER_LINE`] bytes and a header [`MAX_HEADER`]; a body
//! over [`MAX_BODY`] is skipped as it streams by, never held. So what the deframer holds is
//! at most one header and one body.
//!
//! After a broken frame (a header line that is not `Name: value`, a `Content-Length` that
//! is not a number, a header that never ends) reading resumes at the next
//! `Content-Length:` in the stream, from the byte after the start of the broken frame: a
//! header line that ran on into its body, or a `Content-Length` a few bytes off, costs only
//! that message, not the ones after it.

/// Longest header line accepted.
pub const MAX_HEADER_LINE: usize = 1024;
/// Longest header (all its lines) accepted.
pub const MAX_HEADER: usize = 8 * 1024;
/// Largest body accepted; a larger one is skipped, unread.
pub const MAX_BODY: usize = 16 << 20;

/// What starts a frame (matched without regard to case).
const MARK: &[u8] = b"content-length:";

/// What the stream yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Body(Vec<u8>),
    /// A broken frame (what was wrong); reading goes on at the next `Content-Length:`.
    Broken(String),
    /// A frame whose body is over [`MAX_BODY`]: its bytes are skipped as they come.
    TooLarge(usize),
}

#[derive(Debug)]
pub struct Deframer {
    /// Bytes not parsed yet.
    buf: Vec<u8>,
    /// Looking for the next `Content-Length:` after a broken frame.
    resync: bool,
    /// Bytes of a too large body still to skip.
    skip: usize,
    max_body: usize,
}

impl Default for Deframer {
    /// For the client's messages: bodies up to [`MAX_BODY`].
    fn default() -> Self {
        Deframer {
            buf: Vec::new(),
            resync: false,
            skip: 0,
            max_body: MAX_BODY,
        }
    }
}

impl Deframer {
    /// For a trusted stream (the server's own output): bodies of any size.
    pub fn unbounded() -> Deframer {
        Deframer {
            max_body: usize::MAX,
            ..Deframer::default()
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        let skipped = self.skip.min(bytes.len());
        self.skip -= skipped;
        self.buf.extend_from_slice(&bytes[skipped..]);
    }

    /// Whether bytes of an incomplete frame are held (at the end of the stream: it was cut).
    pub fn holds_partial_frame(&self) -> bool {
        !self.resync && self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// The next item, or `None` until more bytes come.
    pub fn next_item(&mut self) -> Option<Item> {
        if self.skip > 0 {
            return None;
        }
        if self.resync {
            match find_mark(&self.buf) {
                Some(at) => {
                    self.buf.drain(..at);
                    self.resync = false;
                }
                None => {
                    // Keep what could be the start of a mark cut by the read.
                    let keep = MARK.len() - 1;
                    if self.buf.len() > keep {
                        self.buf.drain(..self.buf.len() - keep);
                    }
                    return None;
                }
            }
        }
        // Blank lines between frames are harmless.
        let blank = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
            .count();
        self.buf.drain(..blank);
        if self.buf.is_empty() {
            return None;
        }
        match parse_header(&self.buf) {
            Header::Incomplete => None,
            Header::Broken(why) => {
                self.buf.drain(..1);
                self.resync = true;
                Some(Item::Broken(why))
            }
            Header::Done { length, body_at } if length > self.max_body => {
                self.buf.drain(..body_at);
                let skipped = length.min(self.buf.len());
                self.buf.drain(..skipped);
                self.skip = length - skipped;
                Some(Item::TooLarge(length))
            }
            Header::Done { length, body_at } => {
                let end = body_at + length;
                if self.buf.len() < end {
                    return None;
                }
                let body = self.buf[body_at..end].to_vec();
                self.buf.drain(..end);
                Some(Item::Body(body))
            }
        }
    }

    /// A body that turned out not to be JSON was probably cut out wrongly (its
    /// `Content-Length` was off): read its bytes again as part of the stream, looking for
    /// the next `Content-Length:` from its start.
    pub fn reframe(&mut self, mut body: Vec<u8>) {
        body.extend_from_slice(&self.buf);
        self.buf = body;
        self.resync = true;
    }
}

enum Header {
    Incomplete,
    Broken(String),
    Done { length: usize, body_at: usize },
}

fn find_mark(buf: &[u8]) -> Option<usize> {
    buf.windows(MARK.len())
        .position(|w| w.eq_ignore_ascii_case(MARK))
}

/// Reads the header at the start of `buf`: its `Content-Length` and where the body starts.
/// A broken line is reported as soon as it is seen, without waiting for its end.
fn parse_header(buf: &[u8]) -> Header {
    let mut pos = 0;
    let mut length: Option<usize> = None;
    loop {
        let rest = &buf[pos..];
        let newline = rest.iter().position(|&b| b == b'\n');
        let line = match newline {
            Some(n) => &rest[..n],
            None => rest,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if newline.is_some() && line.is_empty() {
            return match length {
                Some(length) => Header::Done {
                    length,
                    body_at: pos + newline.map_or(0, |n| n + 1),
                },
                None => Header::Broken(broken("there is no `Content-Length` header")),
            };
        }
        if line.len() > MAX_HEADER_LINE {
            return Header::Broken(broken(&format!(
                "a header line is longer than {MAX_HEADER_LINE} bytes (`{}…`)",
                shown(line)
            )));
        }
        if pos + line.len() > MAX_HEADER {
            return Header::Broken(broken(&format!(
                "the header is longer than {MAX_HEADER} bytes"
            )));
        }
        match header_line(line, newline.is_some()) {
            Err(why) => return Header::Broken(broken(&why)),
            Ok(Some(n)) if length.is_some_and(|l| l != n) => {
                return Header::Broken(broken("two `Content-Length` headers disagree"));
            }
            Ok(Some(n)) => length = Some(n),
            Ok(None) => {}
        }
        match newline {
            Some(n) => pos += n + 1,
            None => return Header::Incomplete,
        }
    }
}

/// Checks one header line (or the part of it read so far): `Some(n)` for a complete
/// `Content-Length: n`.
fn header_line(line: &[u8], complete: bool) -> Result<Option<usize>, String> {
    let not_a_header = || format!("`{}` is not a `Name: value` header line", shown(line));
    let colon = line.iter().position(|&b| b == b':');
    let name = &line[..colon.unwrap_or(line.len())];
    if !name.iter().all(|&b| is_token(b)) || (colon.is_some() && name.is_empty()) {
        return Err(not_a_header());
    }
    let Some(colon) = colon else {
        return if complete {
            Err(not_a_header())
        } else {
            Ok(None)
        };
    };
    let value = &line[colon + 1..];
    if !name.eq_ignore_ascii_case(b"content-length") {
        // Other headers (Content-Type) are allowed and ignored, but not control bytes.
        return match value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            true => Err(not_a_header()),
            false => Ok(None),
        };
    }
    let bad = || {
        format!(
            "the `Content-Length` value `{}` is not a number of bytes",
            shown(value.trim_ascii())
        )
    };
    let digits = value.trim_ascii();
    if !value
        .iter()
        .all(|&b| b.is_ascii_digit() || b == b' ' || b == b'\t')
        || (digits.contains(&b' ') || digits.contains(&b'\t'))
    {
        return Err(bad());
    }
    if !complete {
        return Ok(None);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .map(Some)
        .ok_or_else(bad)
}

/// RFC 9110's token characters: what a header name is made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header's bytes as a message can show them: escaped, cut to 80 bytes.
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(80)];
    let mut out = cut.escape_ascii().to_string();
    if cut.len() < bytes.len() {
        out.push('…');
    }
    out
}

fn broken(why: &str) -> String {
    format!(
        "malformed message header: {why}; each message needs a `Content-Length: N` header (N: the body's length in bytes), a blank line, then the N bytes of JSON. The server skipped to the next `Content-Length` header"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn items(bytes: &[u8]) -> Vec<Item> {
        let mut d = Deframer::default();
        d.push(bytes);
        std::iter::from_fn(|| d.next_item()).collect()
    }

    fn body(b: &[u8]) -> Item {
        Item::Body(b.to_vec())
    }

    #[test]
    fn frames_are_read_whole_in_any_cut_and_other_headers_ignored() {
        let mut stream = b"Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}".to_vec();
        stream.extend(b"content-length:3\n\n[1]\r\n");
        stream.extend(frame(b"{\"a\":1}"));
        let whole = items(&stream);
        assert_eq!(whole, vec![body(b"{}"), body(b"[1]"), body(b"{\"a\":1}")]);
        // Byte by byte gives the same.
        let mut d = Deframer::default();
        let mut got = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            got.extend(std::iter::from_fn(|| d.next_item()));
        }
        assert_eq!(got, whole);
        assert!(!d.holds_partial_frame());
    }

    #[test]
    fn a_broken_header_costs_only_its_own_frame() {
        for bad in [
            &b"X-\xff: 1\r\n"[..],
            b"Content-Length: 7\x00\r\n\r\n{\"a\":1}",
            b"Content-Length: 7{\"a\":1}",
            b"Content-Length: 7\r\n{\"a\":1}",
            b"\x00\x01garbage\r\n\r\nmore",
            b"Content-Length: 1 2\r\n\r\n",
            b"Content-Length: 99999999999999999999999\r\n\r\n",
            b"Content-Type: x\r\n\r\n{}",
        ] {
            let mut stream = bad.to_vec();
            stream.extend(frame(b"{\"next\":1}"));
            let got = items(&stream);
            assert!(
                matches!(&got[..], [Item::Broken(_), Item::Body(b)] if b == b"{\"next\":1}"),
                "{:?}: {got:?}",
                bad.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn broken_lines_are_reported_before_their_end_and_named() {
        // No newline ever comes: the error is known from the bytes so far.
        let got = items(b"Content-Length: 12{\"jsonrpc\"");
        let [Item::Broken(why)] = &got[..] else {
            panic!("{got:?}")
        };
        assert!(
            why.contains(r#"`Content-Length` value `12{\"jsonrpc\"` is not a number"#),
            "{why}"
        );
        let got = items(b"X-\xff: 1");
        let [Item::Broken(why)] = &got[..] else {
            panic!("{got:?}")
        };
        assert!(
            why.contains(r"`X-\xff: 1` is not a `Name: value` header line"),
            "{why}"
        );
        // An incomplete good line waits.
        assert_eq!(items(b"Content-Len"), vec![]);
        assert_eq!(items(b"Content-Length: 1"), vec![]);
    }

    #[test]
    fn headers_are_bounded_and_a_long_line_is_not_held() {
        let mut d = Deframer::default();
        d.push(b"X-Long: ");
        for _ in 0..1000 {
            d.push(&[b'a'; 1024]);
            if let Some(item) = d.next_item() {
                assert!(matches!(item, Item::Broken(ref w) if w.contains("longer than 1024")));
            }
            assert!(d.buf.len() <= 2 * 1024, "{}", d.buf.len());
        }
        d.push(b"\r\n\r\n");
        d.push(&frame(b"{}"));
        assert_eq!(d.next_item(), Some(body(b"{}")));
        let many_lines = "X-A: 1\r\n".repeat(2000);
        let got = items(many_lines.as_bytes());
        assert!(
            matches!(&got[..], [Item::Broken(w)] if w.contains("longer than 8192")),
            "{got:?}"
        );
    }

    #[test]
    fn a_too_large_body_is_skipped_as_it_streams_by() {
        let mut d = Deframer::default();
        let n = MAX_BODY + 10;
        d.push(format!("Content-Length: {n}\r\n\r\n").as_bytes());
        assert_eq!(d.next_item(), Some(Item::TooLarge(n)));
        let chunk = vec![b'x'; 1 << 20];
        let mut left = n;
        while left > 0 {
            let k = left.min(chunk.len());
            d.push(&chunk[..k]);
            left -= k;
            assert_eq!(d.next_item(), None);
            assert!(d.buf.is_empty());
        }
        d.push(&frame(b"{}"));
        assert_eq!(d.next_item(), Some(body(b"{}")));
    }

    #[test]
    fn a_misframed_body_is_read_again_from_its_start() {
        // Content-Length 3 bytes too long: the body takes the start of the next header.
        let first = b"{\"a\":1}";
        let mut stream = format!("Content-Length: {}\r\n\r\n", first.len() + 3).into_bytes();
        stream.extend(first);
        stream.extend(frame(b"{\"next\":1}"));
        let mut d = Deframer::default();
        d.push(&stream);
        let Some(Item::Body(wrong)) = d.next_item() else {
            panic!()
        };
        assert_eq!(wrong, b"{\"a\":1}Con");
        d.reframe(wrong);
        assert_eq!(d.next_item(), Some(body(b"{\"next\":1}")));
        // Too short (characters counted, not bytes): the rest of the body is skipped.
        let first = "{\"p\":\"ö\"}";
        let mut stream = format!("Content-Length: {}\r\n\r\n", first.chars().count()).into_bytes();
        stream.extend(first.as_bytes());
        stream.extend(frame(b"{\"next\":2}"));
        let mut d = Deframer::default();
        d.push(&stream);
        let Some(Item::Body(wrong)) = d.next_item() else {
            panic!()
        };
        d.reframe(wrong);
        assert_eq!(d.next_item(), Some(body(b"{\"next\":2}")));
    }

    #[test]
    fn a_cut_stream_is_told_from_a_clean_end() {
        let mut d = Deframer::default();
        d.push(b"Content-Length: 10\r\n\r\n{\"a\"");
        assert_eq!(d.next_item(), None);
        assert!(d.holds_partial_frame());
        let mut d = Deframer::default();
        d.push(b"\r\n");
        assert_eq!(d.next_item(), None);
        assert!(!d.holds_partial_frame());
    }
}
