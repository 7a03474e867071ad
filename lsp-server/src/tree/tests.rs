//! Tree behaviour, as data: a script of operations and the rendered tree after it.

use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::render::tree_text;
use crate::workspace::{Workspace, uri_for_path};

fn ws() -> Workspace {
    Workspace::new("/repo")
}

fn place(file: &str, line: u32) -> Place {
    Place {
        uri: uri_for_path(std::path::Path::new(&format!("/repo/{file}"))),
        line,
        character: 0,
    }
}

/// Runs a small script against a fresh tree, one session `s`, a clock ticking by 1 ms:
/// `visit FILE LINE [REASON]`, `open FILE`, `back`, `forward [ID|latest]`, `jump ID`,
/// `rename FROM TO`, `rm FILE`. Each step's outcome is appended to the transcript, then the
/// final tree.
fn run(script: &str) -> String {
    let mut tree = Tree::new(1000);
    let s: SessionId = Arc::from("s");
    let mut log = String::new();
    for (clock, line) in script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let now = clock as i64;
        let words: Vec<&str> = line.split_whitespace().collect();
        let outcome = match words.as_slice() {
            ["visit", file, l, rest @ ..] => {
                let reason = rest
                    .first()
                    .map_or(Reason::Definition, |r| Reason::from_name(r));
                let p = place(file, l.parse::<u32>().unwrap() - 1);
                format!("{:?}", tree.visit(&s, &p, reason, Precision::Line, now))
            }
            ["open", file] => {
                format!(
                    "{:?}",
                    tree.visit(&s, &place(file, 0), Reason::Open, Precision::File, now)
                )
            }
            ["back"] => format!("{:?}", tree.back(&s, now)),
            ["forward"] => format!("{:?}", tree.forward(&s, None, ForwardPolicy::Ask, now)),
            ["forward", "latest"] => {
                format!("{:?}", tree.forward(&s, None, ForwardPolicy::Latest, now))
            }
            ["forward", id] => format!(
                "{:?}",
                tree.forward(
                    &s,
                    Some(NodeId(id.parse().unwrap())),
                    ForwardPolicy::Ask,
                    now
                )
            ),
            ["jump", id] => format!("{:?}", tree.jump(&s, NodeId(id.parse().unwrap()), now)),
            ["rename", from, to] => {
                let (f, t) = (place(from, 0).uri, place(to, 0).uri);
                format!("renamed {}", tree.rename(&f, &t))
            }
            ["rm", file] => format!("gone {}", tree.set_gone(&place(file, 0).uri, true)),
            _ => panic!("bad script line: {line}"),
        };
        log.push_str(&format!("{line:<24} => {outcome}\n"));
        tree.check().unwrap();
    }
    log.push('\n');
    log.push_str(&tree_text(&tree, tree.cursor("s"), &ws()));
    log
}

fn check(script: &str, expected: Expect) {
    expected.assert_eq(&run(script));
}

#[test]
fn the_seed_scenario_branches_instead_of_forgetting() {
    // A→B→C, back, back, visit D: D is a second branch under A; forward offers D then B.
    check(
        "visit a.rs 1
         visit b.rs 10
         visit c.rs 20
         back
         back
         visit d.rs 30
         back
         forward
         forward 2
         forward
         jump 3",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit b.rs 10            => Added(NodeId(2))
            visit c.rs 20            => Added(NodeId(3))
            back                     => Moved(NodeId(2))
            back                     => Moved(NodeId(1))
            visit d.rs 30            => Added(NodeId(4))
            back                     => Moved(NodeId(1))
            forward                  => Ok(Choose([NodeId(4), NodeId(2)]))
            forward 2                => Ok(Moved(NodeId(2)))
            forward                  => Ok(Moved(NodeId(3)))
            jump 3                   => Ok(NodeId(3))

            #1 a.rs:1 (definition)
            ├─ #2 b.rs:10 (definition)
            │  #3 c.rs:20 (definition)  <- current
            └─ #4 d.rs:30 (definition)
        "#]],
    );
}

#[test]
fn revisiting_a_child_moves_there_and_nearby_lines_are_the_same_place() {
    check(
        "visit a.rs 1
         visit b.rs 10
         back
         visit b.rs 14
         visit b.rs 12
         back
         visit b.rs 16
         back
         visit b.rs 18",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit b.rs 10            => Added(NodeId(2))
            back                     => Moved(NodeId(1))
            visit b.rs 14            => Revisited(NodeId(2))
            visit b.rs 12            => Unchanged(NodeId(2))
            back                     => Moved(NodeId(1))
            visit b.rs 16            => Revisited(NodeId(2))
            back                     => Moved(NodeId(1))
            visit b.rs 18            => Revisited(NodeId(2))

            #1 a.rs:1 (definition)
            #2 b.rs:18 (definition)  <- current
        "#]],
    );
}

#[test]
fn a_jump_beyond_the_window_in_the_same_file_is_a_new_place() {
    check(
        "visit a.rs 1
         visit a.rs 7
         visit a.rs 8",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit a.rs 7             => Added(NodeId(2))
            visit a.rs 8             => Unchanged(NodeId(2))

            #1 a.rs:1 (definition)
            #2 a.rs:7 (definition)  <- current
        "#]],
    );
}

#[test]
fn back_and_forward_at_the_ends_say_so_and_change_nothing() {
    check(
        "back
         forward
         visit a.rs 1
         back
         forward",
        expect![[r#"
            back                     => Empty
            forward                  => Ok(Empty)
            visit a.rs 1             => Added(NodeId(1))
            back                     => AtRoot(NodeId(1))
            forward                  => Ok(AtLeaf(NodeId(1)))

            #1 a.rs:1 (definition)  <- current
        "#]],
    );
}

#[test]
fn forward_latest_takes_the_most_recently_visited_branch() {
    check(
        "visit a.rs 1
         visit b.rs 1
         back
         visit c.rs 1
         back
         forward 2
         back
         forward latest
         forward 9",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit b.rs 1             => Added(NodeId(2))
            back                     => Moved(NodeId(1))
            visit c.rs 1             => Added(NodeId(3))
            back                     => Moved(NodeId(1))
            forward 2                => Ok(Moved(NodeId(2)))
            back                     => Moved(NodeId(1))
            forward latest           => Ok(Moved(NodeId(2)))
            forward 9                => Err(UnknownNode(NodeId(9)))

            #1 a.rs:1 (definition)
            ├─ #2 b.rs:1 (definition)  <- current
            └─ #3 c.rs:1 (definition)
        "#]],
    );
}

#[test]
fn forward_to_a_node_that_is_not_a_child_is_refused() {
    check(
        "visit a.rs 1
         visit b.rs 1
         visit c.rs 1
         back
         back
         forward 3",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit b.rs 1             => Added(NodeId(2))
            visit c.rs 1             => Added(NodeId(3))
            back                     => Moved(NodeId(2))
            back                     => Moved(NodeId(1))
            forward 3                => Err(NotAChild { current: NodeId(1), chosen: NodeId(3) })

            #1 a.rs:1 (definition)  <- current
            #2 b.rs:1 (definition)
            #3 c.rs:1 (definition)
        "#]],
    );
}

#[test]
fn did_open_matches_a_file_on_any_line() {
    check(
        "visit a.rs 1
         visit b.rs 40
         open b.rs
         back
         open b.rs
         open c.rs",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit b.rs 40            => Added(NodeId(2))
            open b.rs                => Unchanged(NodeId(2))
            back                     => Moved(NodeId(1))
            open b.rs                => Revisited(NodeId(2))
            open c.rs                => Added(NodeId(3))

            #1 a.rs:1 (definition)
            #2 b.rs:40 (definition)
            #3 c.rs:1 (open)  <- current
        "#]],
    );
}

#[test]
fn renames_keep_nodes_and_deletions_are_marked() {
    check(
        "visit src/a.rs 1
         visit src/b.rs 5
         visit lib/c.rs 9
         rename src/a.rs src/z.rs
         rename src lib2
         rm lib/c.rs
         visit lib/c.rs 30",
        expect![[r#"
            visit src/a.rs 1         => Added(NodeId(1))
            visit src/b.rs 5         => Added(NodeId(2))
            visit lib/c.rs 9         => Added(NodeId(3))
            rename src/a.rs src/z.rs => renamed 1
            rename src lib2          => renamed 2
            rm lib/c.rs              => gone 1
            visit lib/c.rs 30        => Added(NodeId(4))

            #1 lib2/z.rs:1 (definition)
            #2 lib2/b.rs:5 (definition)
            #3 lib/c.rs:9 (definition)
            #4 lib/c.rs:30 (definition)  <- current
        "#]],
    );
}

#[test]
fn a_deleted_file_shows_in_the_tree() {
    check(
        "visit a.rs 1
         visit b.rs 1
         rm b.rs",
        expect![[r#"
            visit a.rs 1             => Added(NodeId(1))
            visit b.rs 1             => Added(NodeId(2))
            rm b.rs                  => gone 1

            #1 a.rs:1 (definition)
            #2 b.rs:1 (definition) [deleted]  <- current
        "#]],
    );
}

#[test]
fn renaming_onto_a_known_file_merges_their_history() {
    let mut tree = Tree::new(100);
    let s: SessionId = Arc::from("s");
    tree.visit(&s, &place("a.rs", 0), Reason::Open, Precision::Line, 1);
    tree.visit(&s, &place("b.rs", 0), Reason::Open, Precision::Line, 2);
    assert_eq!(tree.rename(&place("a.rs", 0).uri, &place("b.rs", 0).uri), 1);
    tree.check().unwrap();
    let b = tree.file_id(&place("b.rs", 0).uri).unwrap();
    assert!(tree.nodes().all(|n| n.file == b));
    assert!(
        tree.file(tree.file_id(&place("a.rs", 0).uri).unwrap())
            .unwrap()
            .gone
    );
}

#[test]
fn each_session_has_its_own_cursor_and_a_new_one_starts_at_the_latest_node() {
    let mut tree = Tree::new(100);
    let (s1, s2): (SessionId, SessionId) = (Arc::from("nvim"), Arc::from("vscode"));
    tree.visit(&s1, &place("a.rs", 0), Reason::Open, Precision::Line, 1);
    tree.visit(&s1, &place("b.rs", 0), Reason::Open, Precision::Line, 2);
    assert_eq!(tree.open_session(&s2), Some(NodeId(2)));
    assert_eq!(tree.back(&s2, 3), BackOutcome::Moved(NodeId(1)));
    assert_eq!(tree.cursor("nvim"), Some(NodeId(2)));
    tree.visit(&s2, &place("c.rs", 0), Reason::Open, Precision::Line, 4);
    assert_eq!(tree.node(NodeId(3)).unwrap().parent, Some(NodeId(1)));
    assert_eq!(tree.cursor("nvim"), Some(NodeId(2)));
    tree.close_session(&s2);
    assert_eq!(tree.cursor("vscode"), None);
    tree.check().unwrap();
}

#[test]
fn changes_list_what_the_store_must_write() {
    let mut tree = Tree::new(100);
    let s: SessionId = Arc::from("s");
    tree.visit(&s, &place("a.rs", 0), Reason::Open, Precision::Line, 7);
    let changes = tree.take_changes();
    assert_eq!(
        changes,
        vec![
            Change::File(FileId(1)),
            Change::Node(NodeId(1)),
            Change::Cursor(s.clone()),
            Change::Arrived {
                session: s.clone(),
                node: NodeId(1),
                how: Move::Visit,
                at_ms: 7
            },
        ]
    );
    assert!(tree.take_changes().is_empty());
}

#[test]
fn pruning_drops_the_oldest_leaves_and_the_oldest_end_of_a_chain() {
    let mut tree = Tree::new(10);
    let s: SessionId = Arc::from("s");
    for i in 0..30u32 {
        tree.visit(
            &s,
            &place(&format!("f{i}.rs"), 0),
            Reason::Open,
            Precision::Line,
            i64::from(i),
        );
        tree.check().unwrap();
        assert!(tree.len() <= 10, "{} nodes", tree.len());
    }
    // A chain keeps its newest end: the cursor's node and those just before it.
    let cur = tree.cursor("s").unwrap();
    assert_eq!(cur, NodeId(30));
    assert_eq!(tree.depth(cur), tree.len() - 1);
    let removed = tree
        .take_changes()
        .iter()
        .filter(|c| matches!(c, Change::NodeRemoved(_)))
        .count();
    assert_eq!(removed, 30 - tree.len());
}

#[test]
fn pruning_never_removes_a_node_under_a_cursor() {
    let mut tree = Tree::new(4);
    let (a, b): (SessionId, SessionId) = (Arc::from("a"), Arc::from("b"));
    tree.visit(&a, &place("root.rs", 0), Reason::Open, Precision::Line, 0);
    tree.visit(&a, &place("old.rs", 0), Reason::Open, Precision::Line, 1);
    tree.open_session(&b); // b stands on old.rs, the oldest leaf
    tree.back(&a, 2);
    for i in 0..10 {
        tree.back(&a, 3 + i * 2);
        tree.visit(
            &a,
            &place(&format!("n{i}.rs"), 0),
            Reason::Open,
            Precision::Line,
            4 + i * 2,
        );
        tree.check().unwrap();
    }
    assert_eq!(tree.cursor("b"), Some(NodeId(2)));
    assert!(tree.node(NodeId(2)).is_some());
}

// ----- property tests: random operation sequences keep the invariants ------------------

#[derive(Clone, Debug)]
enum Op {
    Visit {
        session: u8,
        file: u8,
        line: u8,
    },
    Open {
        session: u8,
        file: u8,
    },
    Back {
        session: u8,
    },
    Forward {
        session: u8,
        pick: Option<u8>,
        latest: bool,
    },
    Jump {
        session: u8,
        node: u8,
    },
    Rename {
        from: u8,
        to: u8,
    },
    Gone {
        file: u8,
    },
    Close {
        session: u8,
    },
    /// `removed` lines at `at` replaced by `added` lines, in the editor.
    Lines {
        file: u8,
        at: u8,
        removed: u8,
        added: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0u8..3;
    prop_oneof![
        6 => (s.clone(), 0u8..6, 0u8..40).prop_map(|(session, file, line)| Op::Visit { session, file, line }),
        1 => (s.clone(), 0u8..6).prop_map(|(session, file)| Op::Open { session, file }),
        3 => s.clone().prop_map(|session| Op::Back { session }),
        2 => (s.clone(), proptest::option::of(0u8..8), any::<bool>())
            .prop_map(|(session, pick, latest)| Op::Forward { session, pick, latest }),
        1 => (s.clone(), 0u8..60).prop_map(|(session, node)| Op::Jump { session, node }),
        1 => (0u8..6, 0u8..6).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => (0u8..6).prop_map(|file| Op::Gone { file }),
        1 => s.prop_map(|session| Op::Close { session }),
        2 => (0u8..6, 0u8..40, 0u8..4, 0u8..4)
            .prop_map(|(file, at, removed, added)| Op::Lines { file, at, removed, added }),
    ]
}

/// The change of `removed` whole lines at `at` replaced by `added` lines, in a long file.
fn lines_change(at: u8, removed: u8, added: u8) -> crate::anchor::LineChange {
    let (at, removed, added) = (u32::from(at), u32::from(removed), u32::from(added));
    crate::anchor::LineChange::Edit {
        start: crate::anchor::Pos {
            line: at,
            character: 0,
        },
        end: crate::anchor::Pos {
            line: at + removed,
            character: 0,
        },
        inserted_lines: added,
        end_at_line_end: false,
        new_len: 1000,
    }
}

fn file_uri(f: u8) -> String {
    place(&format!("f{f}.rs"), 0).uri
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_over_random_operations(ops in proptest::collection::vec(op(), 1..200), limit in 3usize..40) {
        let mut tree = Tree::new(limit);
        let sessions: Vec<SessionId> = (0..3).map(|i| Arc::from(format!("s{i}"))).collect();
        let mut created: HashSet<NodeId> = HashSet::new();
        let mut pruned: HashSet<NodeId> = HashSet::new();
        for (now, op) in ops.iter().enumerate() {
            let now = now as i64;
            let before = tree.len();
            match op {
                Op::Visit { session, file, line } => {
                    let s = &sessions[*session as usize];
                    let p = Place { uri: file_uri(*file), line: u32::from(*line), character: 0 };
                    let out = tree.visit(s, &p, Reason::Definition, Precision::Line, now);
                    prop_assert_eq!(tree.cursor(s), Some(out.node()));
                    let node = tree.node(out.node()).unwrap();
                    prop_assert!(tree.is_same_place(node, &p.uri, p.line, Precision::Line));
                }
                Op::Open { session, file } => {
                    let s = &sessions[*session as usize];
                    let p = Place { uri: file_uri(*file), line: 0, character: 0 };
                    let out = tree.visit(s, &p, Reason::Open, Precision::File, now);
                    prop_assert_eq!(tree.uri_of(tree.node(out.node()).unwrap()), p.uri.as_str());
                }
                Op::Back { session } => {
                    let s = &sessions[*session as usize];
                    let from = tree.cursor(s).or_else(|| tree.most_recent());
                    let out = tree.back(s, now);
                    // Back never creates or deletes anything, and goes to the parent.
                    prop_assert_eq!(tree.len(), before);
                    match out {
                        BackOutcome::Moved(to) => {
                            prop_assert_eq!(from.and_then(|f| tree.node(f).unwrap().parent), Some(to));
                        }
                        BackOutcome::AtRoot(at) => prop_assert_eq!(Some(at), tree.root()),
                        BackOutcome::Empty => prop_assert!(tree.is_empty()),
                    }
                }
                Op::Forward { session, pick, latest } => {
                    let s = &sessions[*session as usize];
                    let policy = if *latest { ForwardPolicy::Latest } else { ForwardPolicy::Ask };
                    let choice = pick.map(|p| NodeId(i64::from(p)));
                    let from = tree.cursor(s);
                    let out = tree.forward(s, choice, policy, now);
                    prop_assert_eq!(tree.len(), before);
                    match out {
                        Ok(ForwardOutcome::Moved(to)) => {
                            let parent = tree.node(to).unwrap().parent;
                            prop_assert!(from.is_none() || parent == from);
                        }
                        Ok(ForwardOutcome::Choose(choices)) => {
                            prop_assert!(choices.len() >= 2);
                            prop_assert_eq!(tree.cursor(s), from.or_else(|| tree.cursor(s)));
                            let times: Vec<i64> = choices.iter().map(|c| tree.node(*c).unwrap().visited_ms).collect();
                            prop_assert!(times.windows(2).all(|w| w[0] >= w[1]));
                        }
                        _ => {}
                    }
                }
                Op::Jump { session, node } => {
                    let s = &sessions[*session as usize];
                    let id = NodeId(i64::from(*node));
                    let out = tree.jump(s, id, now);
                    prop_assert_eq!(out.is_ok(), tree.node(id).is_some());
                    prop_assert_eq!(tree.len(), before);
                }
                Op::Rename { from, to } => {
                    tree.rename(&file_uri(*from), &file_uri(*to));
                    prop_assert_eq!(tree.len(), before);
                }
                Op::Gone { file } => {
                    tree.set_gone(&file_uri(*file), true);
                    prop_assert_eq!(tree.len(), before);
                }
                Op::Close { session } => {
                    tree.close_session(&sessions[*session as usize]);
                }
                Op::Lines { file, at, removed, added } => {
                    let cursors: Vec<_> = tree.cursors().map(|(s, n)| (s.clone(), *n)).collect();
                    if let Some(f) = tree.file_id(&file_uri(*file)) {
                        let change = lines_change(*at, *removed, *added);
                        let before: Vec<(NodeId, u32)> = tree.nodes().filter(|n| n.file == f).map(|n| (n.id, n.line)).collect();
                        tree.move_lines(f, |l| change.map(l));
                        // Lines above stay, lines below move by the difference.
                        for (id, line) in before {
                            let now = tree.node(id).unwrap();
                            if line < u32::from(*at) {
                                prop_assert_eq!(now.line, line);
                            } else if line >= u32::from(*at) + u32::from(*removed) {
                                prop_assert_eq!(now.line + u32::from(*removed), line + u32::from(*added));
                            } else {
                                prop_assert!(now.approximate);
                            }
                        }
                    }
                    // Not a visit: nothing added or removed, no cursor moved, no arrival.
                    prop_assert_eq!(tree.len(), before);
                    let after: Vec<_> = tree.cursors().map(|(s, n)| (s.clone(), *n)).collect();
                    prop_assert_eq!(after, cursors);
                    prop_assert!(tree.take_changes().iter().all(|c| matches!(c, Change::Node(_))));
                }
            }
            for c in tree.take_changes() {
                match c {
                    Change::Node(id) => { created.insert(id); }
                    Change::NodeRemoved(id) => { pruned.insert(id); }
                    _ => {}
                }
            }
            // Three cursors pin at most three leaves and two branch points between them.
            prop_assert!(tree.len() <= limit.max(5), "{} nodes over limit {}", tree.len(), limit);
            if let Err(e) = tree.check() {
                prop_assert!(false, "invariant broken after {:?}: {}", op, e);
            }
            // The cached depth agrees with a walk to the root.
            for (_, &n) in tree.cursors() {
                let mut walked = 0;
                let mut cur = tree.node(n).unwrap().parent;
                while let Some(p) = cur {
                    walked += 1;
                    cur = tree.node(p).unwrap().parent;
                }
                prop_assert_eq!(tree.depth(n), walked);
            }
        }
        // Nothing is lost except by pruning.
        for id in &created {
            prop_assert!(tree.node(*id).is_some() || pruned.contains(id), "{} vanished", id);
        }
        for id in &pruned {
            prop_assert!(tree.node(*id).is_none());
        }
    }

    /// Rebuilding from the persisted rows gives the same tree: what the store writes is
    /// enough to load it back (and to sync another process).
    #[test]
    fn the_tree_rebuilds_from_its_records(ops in proptest::collection::vec(op(), 1..120)) {
        let mut tree = Tree::new(25);
        let sessions: Vec<SessionId> = (0..3).map(|i| Arc::from(format!("s{i}"))).collect();
        let mut mirror = Tree::new(25);
        for (now, op) in ops.iter().enumerate() {
            let now = now as i64;
            match op {
                Op::Visit { session, file, line } => {
                    let p = Place { uri: file_uri(*file), line: u32::from(*line), character: 0 };
                    tree.visit(&sessions[*session as usize], &p, Reason::Jump, Precision::Line, now);
                }
                Op::Back { session } => { tree.back(&sessions[*session as usize], now); }
                Op::Rename { from, to } => { tree.rename(&file_uri(*from), &file_uri(*to)); }
                Op::Gone { file } => { tree.set_gone(&file_uri(*file), true); }
                _ => {}
            }
            // Apply this step's changes to the mirror the way a syncing store does.
            let changes = tree.take_changes();
            let mut nodes: Vec<NodeId> = Vec::new();
            for c in &changes {
                match c {
                    Change::File(f) => mirror.load_file(tree.file(*f).unwrap().clone()),
                    Change::Node(n) if tree.node(*n).is_some() => nodes.push(*n),
                    _ => {}
                }
            }
            nodes.sort();
            for n in nodes {
                mirror.load_node(tree.node(n).unwrap().record().clone());
            }
            for c in &changes {
                if let Change::NodeRemoved(n) = c { mirror.unload_node(*n); }
            }
            mirror.repair_root();
            mirror.load_cursors(tree.cursors().map(|(s, n)| (s.clone(), *n)));
            prop_assert!(mirror.check().is_ok(), "{:?}", mirror.check());
            prop_assert_eq!(tree_text(&mirror, None, &ws()), tree_text(&tree, None, &ws()));
        }
    }
}
