//! Places follow the code: where a node's line goes when its file changes. Pure: no I/O.
//!
//! Two kinds of change, one answer ([`Anchored`]: the new line, and whether it is exact):
//! - **Edits in the editor** (LSP `didChange`): a [`Document`] applies each change (UTF-16
//!   positions, as the protocol says) and returns a [`LineChange::Edit`]. Lines inserted or
//!   deleted above a node move it; an edit inside its line keeps it there; when its line is
//!   deleted it goes to the nearest surviving line, not exact.
//! - **Changes from outside** (git, formatters, other editors): the hashes of a file's lines
//!   at the last known state ([`line_hashes`]) and its lines now are diffed (`imara-diff`,
//!   histogram) into a [`LineMap`]: a line that survived lands on its new place; a line that
//!   is gone maps to the nearest line of its hunk, not exact.
//!
//! Lines end at `\n`; a `\r` before it belongs to no line's hash, so CRLF and LF files
//! compare equal. A lone `\r` is not a line break here.

use imara_diff::{Algorithm, Diff, Token};
use sha2::{Digest, Sha256};

/// Where a node's line is after a change.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Anchored {
    pub line: u32,
    /// The node's own line (moved or edited inside); false when it was deleted and this is
    /// the nearest line that survived.
    pub exact: bool,
}

/// A position in a document: zero-based line, UTF-16 character.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub character: u32,
}

/// One LSP content change: a range and its new text, or the whole text (`range: None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub range: Option<(Pos, Pos)>,
    pub text: String,
}

/// The hash of one line as stored for re-anchoring (a trailing `\r` is not part of it): 16
/// bits of its SHA-256. Stored for every line of every file holding nodes, so it is short
/// (see [`hashes_to_bytes`]); a diff only compares the lines of one file, where two
/// different lines share a hash with odds of about one in 65,536 per pair (such a pair
/// counts as the same line, which at worst maps a node to the other one of the two).
pub fn line_hash(line: &str) -> u32 {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let digest = Sha256::digest(line.as_bytes());
    u32::from(u16::from_le_bytes([digest[0], digest[1]]))
}

/// The hashes of every line of `text` (a text ending in `\n` has a last, empty line, as
/// LSP counts them).
pub fn line_hashes(text: &str) -> Vec<u32> {
    text.split('\n').map(line_hash).collect()
}

/// The format byte of stored hashes: 2 bytes per line follow. (Schema 3 first stored 4
/// bytes per line with no format byte: always an even length, told apart by this odd one.)
const HASHES_16: u8 = 2;

/// Hashes as stored: [`HASHES_16`], then 2 bytes each, little-endian.
pub fn hashes_to_bytes(hashes: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 2 * hashes.len());
    out.push(HASHES_16);
    out.extend(hashes.iter().flat_map(|h| (*h as u16).to_le_bytes()));
    out
}

/// Stored hashes back, in either format (the first format's 4-byte hashes are cut to the
/// 16 bits [`line_hash`] keeps now: the same bits); a trailing partial entry is ignored.
pub fn hashes_from_bytes(bytes: &[u8]) -> Vec<u32> {
    match bytes.split_first() {
        Some((&HASHES_16, rest)) if bytes.len() % 2 == 1 => rest
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
    }
}

/// Old lines to new lines, from a diff of two versions of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineMap {
    /// Changed ranges (old lines, new lines), in order, with the line delta before each.
    hunks: Vec<(std::ops::Range<u32>, std::ops::Range<u32>, i64)>,
    new_len: u32,
}

impl LineMap {
    /// Diffs the line hashes of the old and the new version.
    pub fn diff(old: &[u32], new: &[u32]) -> LineMap {
        let mut interner = imara_diff::Interner::new(old.len() + new.len());
        let before: Vec<Token> = old.iter().map(|h| interner.intern(*h)).collect();
        let after: Vec<Token> = new.iter().map(|h| interner.intern(*h)).collect();
        let mut diff = Diff::default();
        diff.compute_with(Algorithm::Histogram, &before, &after, interner.num_tokens());
        let mut delta = 0i64;
        let hunks = diff
            .hunks()
            .map(|h| {
                let at = delta;
                delta += i64::from(h.after.end - h.after.start)
                    - i64::from(h.before.end - h.before.start);
                (h.before, h.after, at)
            })
            .collect();
        LineMap {
            hunks,
            new_len: u32::try_from(new.len()).unwrap_or(u32::MAX),
        }
    }

    /// Whether nothing changed.
    pub fn is_identity(&self) -> bool {
        self.hunks.is_empty()
    }

    pub fn map(&self, line: u32) -> Anchored {
        // The last hunk starting at or before `line`.
        let i = self
            .hunks
            .partition_point(|(before, _, _)| before.start <= line);
        let last = self.new_len.saturating_sub(1);
        let Some((before, after, at)) = i.checked_sub(1).map(|i| &self.hunks[i]) else {
            return Anchored {
                line: line.min(last),
                exact: line <= last,
            };
        };
        if line < before.end {
            // Deleted or rewritten: the same place in what replaced it, or the line after.
            let offset = line - before.start;
            let line = match after.end - after.start {
                0 => after.start,
                n => after.start + offset.min(n - 1),
            };
            return Anchored {
                line: line.min(last),
                exact: false,
            };
        }
        let moved = i64::from(line) + at + i64::from(after.end - after.start)
            - i64::from(before.end - before.start);
        let moved = u32::try_from(moved.max(0)).unwrap_or(u32::MAX);
        Anchored {
            line: moved.min(last),
            exact: moved <= last,
        }
    }
}

/// What one change did to a document's lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineChange {
    /// `start..end` (clamped to the document as it was) replaced by text holding
    /// `inserted_lines` line breaks.
    Edit {
        start: Pos,
        end: Pos,
        inserted_lines: u32,
        /// `end` was at the end of its line: nothing of that line is left after it.
        end_at_line_end: bool,
        /// Lines in the document after the change.
        new_len: u32,
    },
    /// The whole text replaced: a diff.
    Map(LineMap),
}

impl LineChange {
    /// Whether every line stays where it was (an edit inside one line, no line break added
    /// or removed): then [`LineChange::map`] is the identity, exact.
    pub fn keeps_lines(&self) -> bool {
        matches!(self, LineChange::Edit { start, end, inserted_lines: 0, .. } if start.line == end.line)
    }

    pub fn map(&self, line: u32) -> Anchored {
        match self {
            LineChange::Map(map) => map.map(line),
            LineChange::Edit {
                start: s,
                end: e,
                inserted_lines: k,
                end_at_line_end,
                new_len,
            } => {
                let last = new_len.saturating_sub(1);
                let (n, k) = (i64::from(line), i64::from(*k));
                let (sl, el) = (i64::from(s.line), i64::from(e.line));
                let (line, exact) = if el < n || (el == n && e.character == 0) {
                    // Wholly after the change: moved by the lines it added or removed.
                    (n + k - (el - sl), true)
                } else if sl > n {
                    (n, true)
                } else if sl == n && s.character > 0 {
                    // The start of the line survives where it was.
                    (n, true)
                } else if el == n && (sl == n || !end_at_line_end) {
                    // The end of the line survives after the inserted text (or the line
                    // was rewritten whole, in place).
                    (sl + k, true)
                } else {
                    // The whole line was deleted: the line that now follows the change.
                    (if s.character > 0 { sl } else { sl + k }, false)
                };
                let line = u32::try_from(line.max(0)).unwrap_or(u32::MAX);
                Anchored {
                    line: line.min(last),
                    exact: exact && line <= last,
                }
            }
        }
    }
}

/// An open document's lines and their hashes, kept current by the editor's changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    lines: Vec<String>,
    hashes: Vec<u32>,
}

impl Document {
    pub fn new(text: &str) -> Document {
        let lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        let hashes = lines.iter().map(|l| line_hash(l)).collect();
        Document { lines, hashes }
    }

    pub fn hashes(&self) -> &[u32] {
        &self.hashes
    }

    pub fn line(&self, line: u32) -> Option<&str> {
        let line = self.lines.get(usize::try_from(line).ok()?)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    pub fn len(&self) -> u32 {
        u32::try_from(self.lines.len()).unwrap_or(u32::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.lines.len() == 1 && self.lines[0].is_empty()
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Applies one change. Positions past the end of a line or of the document are clamped
    /// to it (as LSP asks of clients reading positions); a range given backwards is read
    /// forwards.
    pub fn apply(&mut self, edit: &TextEdit) -> LineChange {
        let Some((a, b)) = edit.range else {
            let old = std::mem::take(&mut self.hashes);
            *self = Document::new(&edit.text);
            return LineChange::Map(LineMap::diff(&old, &self.hashes));
        };
        let (start, end) = (self.clamp(a.min(b)), self.clamp(a.max(b)));
        let (sl, el) = (start.line as usize, end.line as usize);
        let head = &self.lines[sl][..utf16_to_byte(&self.lines[sl], start.character)];
        let tail = &self.lines[el][utf16_to_byte(&self.lines[el], end.character)..];
        let end_at_line_end = tail.is_empty() || tail == "\r";
        let joined = format!("{head}{}{tail}", edit.text);
        let new: Vec<String> = joined.split('\n').map(str::to_owned).collect();
        let inserted_lines = u32::try_from(new.len() - 1).unwrap_or(u32::MAX);
        let hashes: Vec<u32> = new.iter().map(|l| line_hash(l)).collect();
        self.lines.splice(sl..=el, new);
        self.hashes.splice(sl..=el, hashes);
        LineChange::Edit {
            start,
            end,
            inserted_lines,
            end_at_line_end,
            new_len: self.len(),
        }
    }

    /// The position clamped to the document, its character to a UTF-16 boundary.
    fn clamp(&self, p: Pos) -> Pos {
        let last = self.len().saturating_sub(1);
        if p.line > last {
            let len = utf16_len(&self.lines[last as usize]);
            return Pos {
                line: last,
                character: len,
            };
        }
        let text = &self.lines[p.line as usize];
        let byte = utf16_to_byte(text, p.character);
        Pos {
            line: p.line,
            character: utf16_len(&text[..byte]),
        }
    }
}

fn utf16_len(s: &str) -> u32 {
    u32::try_from(s.encode_utf16().count()).unwrap_or(u32::MAX)
}

/// The byte offset of UTF-16 offset `units` in `s`: clamped to its end, and back to the
/// start of a character split in two.
fn utf16_to_byte(s: &str, units: u32) -> usize {
    let mut seen = 0u32;
    for (byte, c) in s.char_indices() {
        let next = seen + u32::try_from(c.len_utf16()).unwrap_or(2);
        if next > units {
            return byte;
        }
        seen = next;
    }
    s.len()
}

#[cfg(test)]
mod tests;
