use proptest::prelude::*;

use super::*;

fn pos(line: u32, character: u32) -> Pos {
    Pos { line, character }
}

fn edit(a: (u32, u32), b: (u32, u32), text: &str) -> TextEdit {
    TextEdit {
        range: Some((pos(a.0, a.1), pos(b.0, b.1))),
        text: text.to_owned(),
    }
}

fn exact(line: u32) -> Anchored {
    Anchored { line, exact: true }
}

fn near(line: u32) -> Anchored {
    Anchored { line, exact: false }
}

#[test]
fn lines_inserted_above_move_a_node_down() {
    let mut doc = Document::new("a\nb\nc\n");
    let change = doc.apply(&edit((1, 0), (1, 0), "x\ny\n"));
    assert_eq!(doc.text(), "a\nx\ny\nb\nc\n");
    assert_eq!(change.map(0), exact(0));
    assert_eq!(change.map(1), exact(3));
    assert_eq!(change.map(2), exact(4));
}

#[test]
fn an_edit_inside_a_line_keeps_it_and_a_deleted_line_goes_to_the_next() {
    let mut doc = Document::new("a\nbbb\nc");
    let change = doc.apply(&edit((1, 1), (1, 2), "XY"));
    assert_eq!(doc.text(), "a\nbXYb\nc");
    assert_eq!(change.map(1), exact(1));
    // `dd` on line 1.
    let change = doc.apply(&edit((1, 0), (2, 0), ""));
    assert_eq!(doc.text(), "a\nc");
    assert_eq!(change.map(1), near(1));
    assert_eq!(change.map(2), exact(1));
    // The last line deleted: the nearest line is the one before.
    let change = doc.apply(&edit((0, 1), (1, 1), ""));
    assert_eq!(doc.text(), "a");
    assert_eq!(change.map(1), near(0));
}

#[test]
fn positions_are_utf16_and_clamped_to_the_document() {
    let mut doc = Document::new("é😀x\nend");
    // 😀 is two UTF-16 units: character 3 is after it.
    doc.apply(&edit((0, 3), (0, 4), "y"));
    assert_eq!(doc.text(), "é😀y\nend");
    // Inside the surrogate pair: back to the start of the character.
    doc.apply(&edit((0, 2), (0, 2), "-"));
    assert_eq!(doc.text(), "é-😀y\nend");
    // Past the end of a line and of the document.
    let change = doc.apply(&edit((1, 99), (40, 7), "!"));
    assert_eq!(doc.text(), "é-😀y\nend!");
    assert_eq!(change.map(1), exact(1));
    // Backwards.
    doc.apply(&edit((1, 3), (1, 0), ""));
    assert_eq!(doc.text(), "é-😀y\n!");
}

#[test]
fn crlf_lines_hash_as_lf_lines() {
    assert_eq!(line_hashes("a\r\nb\r\n"), line_hashes("a\nb\n"));
    let map = LineMap::diff(&line_hashes("a\r\nb\r\nc"), &line_hashes("z\na\nb\nc"));
    assert_eq!(map.map(1), exact(2));
}

#[test]
fn a_full_change_is_a_diff() {
    let mut doc = Document::new("fn a() {}\nfn b() {}\nfn c() {}\n");
    let change = doc.apply(&TextEdit {
        range: None,
        text: "// head\nfn a() {}\nfn c() {}\n".into(),
    });
    assert_eq!(change.map(0), exact(1));
    assert_eq!(change.map(1), near(2));
    assert_eq!(change.map(2), exact(2));
}

#[test]
fn a_rewritten_block_maps_to_the_same_place_in_its_replacement() {
    let old = line_hashes("a\nb\nc\nd\ne");
    let new = line_hashes("a\nB\nC\nD\nX\nY\ne");
    let map = LineMap::diff(&old, &new);
    assert_eq!(map.map(0), exact(0));
    assert_eq!(map.map(2), near(2));
    assert_eq!(map.map(4), exact(6));
    let gone = LineMap::diff(&old, &[]);
    assert_eq!(gone.map(3), near(0));
    assert!(LineMap::diff(&old, &old).is_identity());
}

#[test]
fn hashes_round_trip_through_bytes() {
    let h = line_hashes("x\ny\n");
    assert_eq!(hashes_from_bytes(&hashes_to_bytes(&h)), h);
    // 2 bytes a line, and one for the format.
    assert_eq!(hashes_to_bytes(&h).len(), 1 + 2 * h.len());
    // Rows of the first format (4 bytes a line, no format byte) read as the same hashes.
    let first: Vec<u8> = h
        .iter()
        .flat_map(|x| (x | 0xabcd_0000).to_le_bytes())
        .collect();
    assert_eq!(hashes_from_bytes(&first), h);
}

// ----- properties ------------------------------------------------------------------------

/// The reference: the text as UTF-16 units, changed by offsets, no lines involved.
fn oracle_apply(text: &str, e: &TextEdit) -> String {
    let Some((a, b)) = e.range else {
        return e.text.clone();
    };
    let (a, b) = (a.min(b), a.max(b));
    let units: Vec<u16> = text.encode_utf16().collect();
    let offset = |p: Pos| {
        let mut line = 0;
        let mut i = 0;
        while line < p.line && i < units.len() {
            if units[i] == u16::from(b'\n') {
                line += 1;
            }
            i += 1;
        }
        if line < p.line {
            return units.len();
        }
        let mut col = 0;
        while col < p.character && i < units.len() && units[i] != u16::from(b'\n') {
            i += 1;
            col += 1;
        }
        // Never between the halves of a surrogate pair.
        if i > 0 && i < units.len() && (0xDC00..0xE000).contains(&units[i]) {
            i -= 1;
        }
        i
    };
    let (s, t) = (offset(a), offset(b).max(offset(a)));
    let mut out = units[..s].to_vec();
    out.extend(e.text.encode_utf16());
    out.extend_from_slice(&units[t..]);
    String::from_utf16(&out).unwrap()
}

/// Inserted text never holds `#` or digits: the original lines (`#<n>#`) stay unique, and
/// one that any change touched can never come back.
fn insert_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("\n"),
            Just("é"),
            Just("😀"),
            Just("\r\n"),
            Just(" ")
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn change() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        8 => ((0u32..14, 0u32..6), (0u32..14, 0u32..6), insert_text())
            .prop_map(|(a, b, text)| edit(a, b, &text)),
        // A whole new text: see `full_text`.
        1 => "[kda]{0,16}".prop_map(|plan| TextEdit { range: None, text: plan }),
    ]
}

/// A full change's plan (`k` keep the next line, `d` drop it, `a` add a new one, unique; the
/// rest kept) turned into the new text, so that no line comes back from nowhere and the
/// lines kept are the longest common subsequence.
fn full_text(text: &str, c: &TextEdit, step: usize) -> TextEdit {
    if c.range.is_some() {
        return c.clone();
    }
    let mut old = text.split('\n');
    let mut new: Vec<String> = Vec::new();
    for (i, what) in c.text.chars().enumerate() {
        match what {
            'k' => new.extend(old.next().map(str::to_owned)),
            'd' => {
                old.next();
            }
            _ => new.push(format!("added {step}.{i}")),
        }
    }
    new.extend(old.map(str::to_owned));
    TextEdit {
        range: None,
        text: new.join("\n"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random editor changes on a random file: whenever a node's line survives, the node
    /// ends on it; every node stays inside the file; the document is the text the
    /// changes make.
    #[test]
    fn nodes_follow_their_lines_through_editor_changes(
        lines in 1usize..12,
        changes in proptest::collection::vec(change(), 1..12),
    ) {
        let original: Vec<String> = (0..lines).map(|n| format!("#{n}#")).collect();
        let mut text = original.join("\n");
        let mut doc = Document::new(&text);
        let mut nodes: Vec<Anchored> = (0..lines as u32).map(exact).collect();
        for (step, c) in changes.iter().enumerate() {
            let c = &full_text(&text, c, step);
            text = oracle_apply(&text, c);
            let change = doc.apply(c);
            prop_assert_eq!(doc.text(), text.clone());
            prop_assert_eq!(doc.hashes().to_vec(), line_hashes(&text));
            for n in &mut nodes {
                let a = change.map(n.line);
                if change.keeps_lines() {
                    prop_assert_eq!(a, exact(n.line));
                }
                *n = Anchored { line: a.line, exact: n.exact && a.exact };
                prop_assert!(n.line < doc.len());
            }
        }
        let now: Vec<&str> = text.split('\n').collect();
        for (i, n) in nodes.iter().enumerate() {
            if let Some(at) = now.iter().position(|l| *l == original[i]) {
                prop_assert_eq!(n.line as usize, at, "node of {} is not on it", &original[i]);
                prop_assert!(n.exact);
            }
        }
    }

    /// Random insertions, deletions and rewrites of whole lines, seen only as the texts
    /// before and after: every line that survived maps to its new place, exactly.
    #[test]
    fn a_diff_maps_every_surviving_line_to_its_new_place(
        lines in 0usize..40,
        ops in proptest::collection::vec((0u8..3, 0usize..50, 0usize..5), 0..10),
    ) {
        let old: Vec<String> = (0..lines).map(|n| format!("line {n}")).collect();
        let mut new = old.clone();
        for (fresh, (kind, at, count)) in ops.into_iter().enumerate() {
            let at = at.min(new.len());
            let end = (at + count).min(new.len());
            match kind {
                0 => drop(new.splice(at..at, (0..count).map(|i| format!("new {fresh}.{i}")))),
                1 => drop(new.drain(at..end)),
                _ => drop(new.splice(at..end, (0..count).map(|i| format!("rewritten {fresh}.{i}")))),
            }
        }
        let map = LineMap::diff(
            &line_hashes(&old.join("\n")),
            &line_hashes(&new.join("\n")),
        );
        for (i, line) in old.iter().enumerate() {
            let a = map.map(i as u32);
            prop_assert!((a.line as usize) < new.len().max(1));
            if let Some(at) = new.iter().position(|l| l == line) {
                prop_assert_eq!(a, exact(at as u32), "{} moved wrong", line);
            }
        }
    }
}
