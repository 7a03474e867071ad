//! The arrival after a move the server made (PROTOCOL.md, "Arrivals are not visits"),
//! through the library with a manual clock: no sleeping, no wall clock.

use std::sync::Arc;
use std::time::Duration;

use retrace_lsp::history::{ARRIVAL_WINDOW, History, ManualClock, Options, Status};
use retrace_lsp::store::SessionInfo;
use retrace_lsp::tree::{Precision, Reason};
use retrace_lsp::workspace::Workspace;

const WS: &str = "/arrivals/ws";

struct Fixture {
    history: History,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// A history where the server moves the editor (`absorb_arrivals`), standing on `a.rs:10`
/// after `back` from `b.rs:100`: the server has just sent the editor to `a.rs:10`.
fn moved_back() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let options = Options {
        absorb_arrivals: true,
        clock: clock.clone(),
        ..Options::default()
    };
    let session = SessionInfo::named("s", "test");
    let history = History::open(
        &dir.path().join("h.sqlite3"),
        Workspace::new(WS),
        &session,
        options,
        0,
    )
    .unwrap();
    let mut f = Fixture {
        history,
        clock,
        _dir: dir,
    };
    assert_eq!(f.visit("a.rs", 10), Status::Added);
    assert_eq!(f.visit("b.rs", 100), Status::Added);
    assert_eq!(f.history.back(3).unwrap().status, Status::Moved);
    f
}

impl Fixture {
    fn visit(&mut self, file: &str, line: u32) -> Status {
        self.visit_with(file, line, Precision::Line)
    }

    fn visit_with(&mut self, file: &str, line: u32, precision: Precision) -> Status {
        let uri = format!("file://{WS}/{file}");
        self.history
            .visit(&uri, line, 0, Reason::Jump, precision, 10)
            .unwrap()
            .status
    }

    fn nodes(&self) -> usize {
        self.history.tree().len()
    }
}

#[test]
fn the_editors_report_of_arriving_is_not_a_visit() {
    let mut f = moved_back();
    assert_eq!(f.visit("a.rs", 12), Status::Arrived);
    assert_eq!(f.nodes(), 2);
    // Only once: the next report is the user's.
    assert_eq!(f.visit("a.rs", 80), Status::Added);
}

#[test]
fn a_jump_right_after_a_server_move_in_the_same_file_is_recorded() {
    // An editor that does not report the server's moves (the plugins do not): the user's
    // first jump in the moved-to file, at once, is a visit.
    let mut f = moved_back();
    assert_eq!(f.visit("a.rs", 80), Status::Added);
    assert_eq!(f.nodes(), 3);
    let current = f.history.current().unwrap();
    assert_eq!(f.history.view(current).unwrap().line, 80);
}

#[test]
fn the_file_opening_is_absorbed_and_its_line_still_expected() {
    let mut f = moved_back();
    assert_eq!(f.visit_with("a.rs", 0, Precision::File), Status::Arrived);
    assert_eq!(f.visit("a.rs", 10), Status::Arrived);
    assert_eq!(f.visit("a.rs", 10), Status::Unchanged);
    assert_eq!(f.nodes(), 2);
}

#[test]
fn the_expectation_ends_with_the_window() {
    let mut f = moved_back();
    f.clock.advance(ARRIVAL_WINDOW);
    assert_eq!(f.visit_with("a.rs", 0, Precision::File), Status::Arrived);
    f.clock.advance(Duration::from_millis(1));
    // Past the window the same report is an ordinary visit (of the place the cursor is on).
    assert_eq!(f.visit("a.rs", 10), Status::Unchanged);
}

#[test]
fn a_visit_elsewhere_ends_the_expectation() {
    let mut f = moved_back();
    assert_eq!(f.visit("c.rs", 5), Status::Added);
    // A late report of the old target is a visit now: a new place after c.rs.
    assert_eq!(f.visit("a.rs", 10), Status::Added);
    assert_eq!(f.nodes(), 4);
}

#[test]
fn a_move_the_editor_makes_itself_drops_an_earlier_expectation() {
    // A control-socket jump expects its arrival even for a pull-style session; a move the
    // editor then makes itself (absorb_arrivals off) must not leave it armed.
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let session = SessionInfo::named("s", "test");
    let mut h = History::open(
        &dir.path().join("h.sqlite3"),
        Workspace::new(WS),
        &session,
        Options {
            clock,
            ..Options::default()
        },
        0,
    )
    .unwrap();
    let uri = |f: &str| format!("file://{WS}/{f}");
    let visit = |h: &mut History, f: &str, line| {
        h.visit(&uri(f), line, 0, Reason::Jump, Precision::Line, 1)
            .unwrap()
            .status
    };
    visit(&mut h, "a.rs", 10);
    visit(&mut h, "b.rs", 10);
    h.expect_arrival(); // the app sent the editor to b.rs:10
    h.back(2).unwrap(); // the plugin moves to a.rs:10 itself
    assert_eq!(visit(&mut h, "b.rs", 10), Status::Revisited);
}
