//! One session's view of a workspace history: the tree and its store together.
//!
//! Every operation is one store transaction (sync with other processes, apply, commit), so
//! a visit is on disk before the next message is handled. This layer also owns the rules
//! that need a session's recent past rather than the tree: which URIs are accepted, and
//! the *arrival* after a move the server made (the editor reporting where we sent it is
//! not a new visit). Its timing reads a [`Clock`], which tests replace.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::render::{NodeView, TreeView, tree_text, tree_view};
use crate::rows::{LineCache, MAX_TEXT_CHARS};
use crate::safe_text::sanitize;
use crate::store::{Endpoint, SessionInfo, Store, StoreError};
use crate::tree::{
    BackOutcome, ForwardOutcome, ForwardPolicy, NodeId, Place, Precision, Reason, SessionId, Tree,
    TreeError, VisitOutcome,
};
use crate::workspace::{UriError, Workspace, normalize_uri, path_for_uri, uri_for_path};

mod follow;
pub use follow::MAX_ANCHOR_BYTES;

/// How long after a move the editor's report of arriving there is still expected.
pub const ARRIVAL_WINDOW: Duration = Duration::from_secs(2);

/// Where a history reads the time its timing rules need (the arrival window). Monotonic: a
/// wall clock set back or forward changes nothing. The times recorded in the tree are the
/// callers' (`now_ms` arguments), not this clock's.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The time since some fixed moment; never goes back.
    fn elapsed(&self) -> Duration;
}

/// The machine's monotonic clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to, for tests of timing rules without sleeping.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub limit: usize,
    /// Record places outside the workspace root (e.g. a dependency's source) instead of
    /// refusing them.
    pub record_outside_workspace: bool,
    /// The server moves the editor itself (`window/showDocument`) after every move, so the
    /// editor's report of getting there is expected and is not a visit. Clients that
    /// navigate themselves (pull style) do not report their own moves.
    pub absorb_arrivals: bool,
    /// The clock of the arrival window.
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limit: crate::tree::DEFAULT_LIMIT,
            record_outside_workspace: false,
            absorb_arrivals: false,
            clock: Arc::new(SystemClock::default()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Uri(#[from] UriError),
    #[error(
        "the editor changed {path} without opening it first (no didOpen); reopen the file in the editor"
    )]
    NotOpen { path: String },
    #[error(
        "{path} is outside the workspace {root}; retrace keeps one history per workspace (set the initialization option `recordOutsideWorkspace: true` to record such places too)"
    )]
    OutsideWorkspace { path: String, root: String },
}

/// A file system event, as the watcher or the editor reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsChange {
    Renamed {
        from: PathBuf,
        to: PathBuf,
    },
    Removed(PathBuf),
    Created(PathBuf),
    /// Written in place.
    Modified(PathBuf),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// visit: a new node.
    Added,
    /// visit: an existing child was the same place.
    Revisited,
    /// visit: already there.
    Unchanged,
    /// visit: the editor arrived where the server sent it.
    Arrived,
    /// back/forward/jump: the cursor moved.
    Moved,
    AtRoot,
    AtLeaf,
    /// forward: several branches; pick one with `{node}`.
    Choose,
    /// No history yet.
    Empty,
}

/// A place to move an editor to: a file and a zero-based line and UTF-16 character.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub uri: String,
    pub line: u32,
    pub character: u32,
}

/// What a command returns: where the cursor is now and how to get the editor there.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub status: Status,
    pub message: String,
    pub node: Option<NodeView>,
    /// Where to move the editor; absent when nothing moved or the file is gone.
    pub target: Option<Target>,
    /// For `choose`: the branches, most recently visited first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<NodeView>,
}

/// The cursor's surroundings, for status bars.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub workspace: String,
    pub database: String,
    pub nodes: usize,
    pub node: Option<NodeView>,
    pub depth: usize,
    pub branches: usize,
    pub sessions: usize,
}

/// Where the server sent the editor, and until when its report of arriving is expected.
struct Arrival {
    uri: String,
    line: u32,
    until: Duration,
}

/// A damaged database that a writer moved aside to start a new history in its place.
#[derive(Debug)]
pub struct Quarantined {
    /// Why the file could not be used.
    pub error: StoreError,
    /// Where the damaged file is now (`<name>.corrupt-<ms>`), kept for the user.
    pub moved_to: PathBuf,
}

impl std::fmt::Display for Quarantined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\nretrace moved it to {} and started a new history.",
            self.error,
            self.moved_to.display()
        )
    }
}

/// A writer's history, and the damaged file it had to move aside first, if any.
pub struct Opened {
    pub history: History,
    pub quarantined: Option<Quarantined>,
}

pub struct History {
    tree: Tree,
    store: Store,
    ws: Workspace,
    session: SessionId,
    options: Options,
    arrival: Option<Arrival>,
    /// What the editor shows of the files it has open.
    docs: follow::Documents,
    /// The editor's changes not stored yet.
    held: follow::Held,
    untracked: follow::Untracked,
}

impl History {
    /// Opens (creating or migrating) a workspace's history as a writer, with one session.
    pub fn open(
        db: &Path,
        ws: Workspace,
        session: &SessionInfo,
        options: Options,
        now_ms: i64,
    ) -> Result<History, StoreError> {
        History::open_with(db, ws, session, &Endpoint::default(), options, now_ms)
    }

    /// [`History::open`] for a server: the session is registered with how to reach its
    /// editor, and a damaged database is moved aside (kept for the user) and a new history
    /// started in its place. A database of a newer schema is left untouched (an error).
    pub fn open_quarantining(
        db: &Path,
        ws: Workspace,
        session: &SessionInfo,
        endpoint: &Endpoint,
        options: Options,
        now_ms: i64,
    ) -> Result<Opened, StoreError> {
        let error =
            match History::open_with(db, ws.clone(), session, endpoint, options.clone(), now_ms) {
                Ok(history) => {
                    return Ok(Opened {
                        history,
                        quarantined: None,
                    });
                }
                Err(e) if e.is_corrupt() => e,
                Err(e) => return Err(e),
            };
        let aside = db.with_extension(format!("corrupt-{now_ms}"));
        if let Err(rename) = std::fs::rename(db, &aside) {
            tracing::error!("cannot move the damaged database aside: {rename}");
            return Err(error);
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(crate::store::side_file(db, suffix));
        }
        let history = History::open_with(db, ws, session, endpoint, options, now_ms)?;
        Ok(Opened {
            history,
            quarantined: Some(Quarantined {
                error,
                moved_to: aside,
            }),
        })
    }

    fn open_with(
        db: &Path,
        ws: Workspace,
        session: &SessionInfo,
        endpoint: &Endpoint,
        options: Options,
        now_ms: i64,
    ) -> Result<History, StoreError> {
        let mut store = Store::open(db, ws.root())?;
        store.register_session(session, endpoint, now_ms)?;
        let mut tree = store.load(options.limit)?;
        let id = session.id.clone();
        store.write(&mut tree, |t| t.open_session(&id))?;
        Ok(History {
            tree,
            store,
            ws,
            session: session.id.clone(),
            options,
            arrival: None,
            docs: follow::Documents::new(),
            held: follow::Held::default(),
            untracked: follow::Untracked::default(),
        })
    }

    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    pub fn database(&self) -> &Path {
        self.store.path()
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn current(&self) -> Option<NodeId> {
        self.tree.cursor(&self.session)
    }

    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The node as clients see it (its line's text only in [`History::json`]: a visit
    /// reads no file).
    pub fn view(&self, id: NodeId) -> Option<NodeView> {
        self.tree
            .node(id)
            .map(|n| NodeView::new(&self.tree, n, &self.ws))
    }

    /// The text of a node's line: as the editor shows it if the file is open here, else as
    /// the disk holds it.
    fn line_text(&self, view: &NodeView, disk: &mut LineCache) -> Option<String> {
        if view.gone {
            return None;
        }
        match self.document_line(&view.uri, view.line) {
            Some(text) => Some(sanitize(text, MAX_TEXT_CHARS)),
            None => disk.line(&path_for_uri(&view.uri)?, view.line),
        }
    }

    /// Records that the user reached `uri` at `line` (zero-based) by a jump.
    pub fn visit(
        &mut self,
        uri: &str,
        line: u32,
        character: u32,
        reason: Reason,
        precision: Precision,
        now_ms: i64,
    ) -> Result<Outcome, HistoryError> {
        let uri = normalize_uri(uri)?;
        if !self.options.record_outside_workspace && !self.ws.contains(&uri) {
            return Err(HistoryError::OutsideWorkspace {
                path: self.ws.display(&uri),
                root: self.ws.root().display().to_string(),
            });
        }
        // The editor's report of arriving where the server sent it is not a visit. Only
        // that report: any other place, even in the same file and at once, is the user's
        // own jump (an editor that does not report the server's moves must not lose it).
        if let Some(a) = self.arrival.take()
            && self.options.clock.elapsed() <= a.until
            && a.uri == uri
        {
            match precision {
                // The file opened (`didOpen`): the line may still be reported.
                Precision::File => {
                    self.arrival = Some(a);
                    return Ok(self.outcome(Status::Arrived, self.current(), "arrived"));
                }
                Precision::Line if a.line.abs_diff(line) <= crate::tree::LINE_WINDOW => {
                    return Ok(self.outcome(Status::Arrived, self.current(), "arrived"));
                }
                Precision::Line => {}
            }
        }
        let place = Place {
            uri,
            line,
            character,
        };
        let session = self.session.clone();
        let out = self.write(|t, lines, docs| {
            let out = t.visit(&session, &place, reason, precision, now_ms);
            // The first node in a file: what its lines are now, to follow them from.
            if let Some(file) = t.file_id(&place.uri)
                && lines.get(file)?.is_none()
                && let Some(hashes) = follow::current_hashes(docs, &place.uri)
            {
                lines.set(file, hashes);
            }
            Ok::<_, StoreError>(out)
        })??;
        Ok(match out {
            VisitOutcome::Added(n) => self.outcome(Status::Added, Some(n), "recorded a new place"),
            VisitOutcome::Revisited(n) => self.outcome(
                Status::Revisited,
                Some(n),
                "moved to a place already recorded here",
            ),
            VisitOutcome::Unchanged(n) => {
                self.outcome(Status::Unchanged, Some(n), "already at this place")
            }
        })
    }

    pub fn back(&mut self, now_ms: i64) -> Result<Outcome, HistoryError> {
        let session = self.session.clone();
        let out = self.write(|t, _, _| t.back(&session, now_ms))?;
        Ok(match out {
            BackOutcome::Moved(n) => self.moved(n),
            BackOutcome::AtRoot(n) => self.outcome(
                Status::AtRoot,
                Some(n),
                "already at the oldest place of this history; nothing to go back to",
            ),
            BackOutcome::Empty => self.empty(),
        })
    }

    pub fn forward(
        &mut self,
        choice: Option<NodeId>,
        policy: ForwardPolicy,
        now_ms: i64,
    ) -> Result<Outcome, HistoryError> {
        let session = self.session.clone();
        let out = self.write(|t, _, _| t.forward(&session, choice, policy, now_ms))??;
        Ok(match out {
            ForwardOutcome::Moved(n) => self.moved(n),
            ForwardOutcome::AtLeaf(n) => self.outcome(
                Status::AtLeaf,
                Some(n),
                "nothing forward of this place: it is the newest on its branch",
            ),
            ForwardOutcome::Choose(children) => {
                let mut out = self.outcome(
                    Status::Choose,
                    self.current(),
                    &format!(
                        "{} branches lead on from here; choose one with {{\"node\": ID}}",
                        children.len()
                    ),
                );
                out.choices = children.iter().filter_map(|c| self.view(*c)).collect();
                out
            }
            ForwardOutcome::Empty => self.empty(),
        })
    }

    pub fn jump(&mut self, node: NodeId, now_ms: i64) -> Result<Outcome, HistoryError> {
        let session = self.session.clone();
        let n = self.write(|t, _, _| t.jump(&session, node, now_ms))??;
        Ok(self.moved(n))
    }

    /// The server is moving the editor to the cursor's node (whatever the options say):
    /// the editor's report of arriving there, within [`ARRIVAL_WINDOW`], is not a visit.
    pub fn expect_arrival(&mut self) {
        let until = self.options.clock.elapsed() + ARRIVAL_WINDOW;
        let node = self.current().and_then(|n| self.tree.node(n));
        self.arrival = node.map(|node| Arrival {
            uri: self.tree.uri_of(node).to_owned(),
            line: node.line,
            until,
        });
    }

    /// Catches up with other processes' writes, for reads.
    pub fn refresh(&mut self) -> Result<(), HistoryError> {
        let synced = self.store.refresh(&mut self.tree)?;
        follow::absorb(
            &mut self.tree,
            &self.docs,
            &mut self.held,
            (synced.reloaded, &synced.nodes),
            self.options.clock.elapsed(),
        );
        Ok(())
    }

    pub fn text(&mut self) -> Result<String, HistoryError> {
        self.refresh()?;
        Ok(tree_text(&self.tree, self.current(), &self.ws))
    }

    pub fn json(&mut self) -> Result<TreeView, HistoryError> {
        self.refresh()?;
        let mut view = tree_view(&self.tree, self.current(), &self.ws);
        let mut disk = LineCache::default();
        for node in &mut view.nodes {
            node.line_text = self.line_text(node, &mut disk);
        }
        Ok(view)
    }

    pub fn status(&mut self) -> Result<StatusView, HistoryError> {
        self.refresh()?;
        let current = self.current();
        Ok(StatusView {
            workspace: self.ws.root().display().to_string(),
            database: self.store.path().display().to_string(),
            nodes: self.tree.len(),
            node: current.and_then(|n| self.view(n)),
            depth: current.map_or(0, |n| self.tree.depth(n)),
            branches: current
                .and_then(|n| self.tree.node(n))
                .map_or(0, |n| n.children().len()),
            sessions: self.tree.cursors().count(),
        })
    }

    /// Follows renames and deletions. Each event is checked against the disk as it is now,
    /// because editors save by renaming (`a` to `a~`, then a new `a`): a rename whose
    /// source exists again is a save, not a move. Returns how many files changed.
    pub fn apply_fs(&mut self, changes: &[FsChange]) -> Result<usize, HistoryError> {
        let mut ops: Vec<(String, Option<String>, bool)> = Vec::new();
        for change in changes {
            match change {
                FsChange::Renamed { from, to } => {
                    if from.exists() {
                        continue;
                    }
                    let from = uri_for_path(from);
                    if to.exists() {
                        ops.push((from, Some(uri_for_path(to)), false));
                    } else {
                        ops.push((from, None, true));
                    }
                }
                FsChange::Removed(p) if !p.exists() => ops.push((uri_for_path(p), None, true)),
                FsChange::Created(p) if p.exists() => ops.push((uri_for_path(p), None, false)),
                _ => {}
            }
        }
        if ops.is_empty() {
            return Ok(0);
        }
        let changed = self.write(|t, _, _| {
            ops.iter()
                .map(|(uri, to, gone)| match to {
                    Some(to) => t.rename(uri, to),
                    None => t.set_gone(uri, *gone),
                })
                .sum()
        })?;
        Ok(changed)
    }

    /// Directories to watch for renames and deletions: those holding a recorded file,
    /// and their ancestors up to the workspace root (a renamed directory moves its files).
    pub fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        for f in self.tree.files().filter(|f| !f.gone) {
            self.add_dirs_of(&f.uri, &mut dirs);
        }
        dirs
    }

    /// Adds to `dirs` what [`History::watched_dirs`] holds for one file (nothing for a file
    /// outside the workspace), stopping at the first directory already there.
    pub fn add_dirs_of(&self, uri: &str, dirs: &mut BTreeSet<PathBuf>) {
        let root = self.ws.root();
        let Some(path) = path_for_uri(uri) else {
            return;
        };
        if !path.starts_with(root) {
            return;
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            if !dirs.insert(d.to_owned()) || d == root {
                break;
            }
            dir = d.parent();
        }
    }

    /// Replaces the in-memory tree with what the database holds (after an internal error).
    pub fn reload(&mut self) -> Result<(), HistoryError> {
        self.tree = self.store.load(self.options.limit)?;
        let now = self.options.clock.elapsed();
        follow::absorb(&mut self.tree, &self.docs, &mut self.held, (true, &[]), now);
        self.arrival = None;
        let session = self.session.clone();
        self.write(|t, _, _| t.open_session(&session))?;
        Ok(())
    }

    /// Housekeeping for idle moments: store the open documents' line hashes, checkpoint
    /// the database's write-ahead log.
    pub fn idle(&mut self) -> Result<(), HistoryError> {
        self.store_documents()?;
        Ok(self.store.checkpoint()?)
    }

    /// Ends this session: its cursor no longer pins nodes against pruning.
    pub fn close(mut self) -> Result<(), HistoryError> {
        let session = self.session.clone();
        self.write(|t, _, _| t.close_session(&session))?;
        self.store.remove_session(&session)?;
        Ok(())
    }

    // ----- results ---------------------------------------------------------------------

    /// Where the editor goes for a node; none when its file was deleted.
    pub fn target(&self, id: NodeId) -> Option<Target> {
        let node = self.tree.node(id)?;
        if self.tree.is_gone(node) {
            return None;
        }
        Some(Target {
            uri: self.tree.uri_of(node).to_owned(),
            line: node.line,
            character: node.character,
        })
    }

    /// The outcome of a move to `id`; the arrival there is expected when the server moves
    /// the editor itself, and an earlier expectation is dropped otherwise.
    fn moved(&mut self, id: NodeId) -> Outcome {
        self.arrival = None;
        let Some(node) = self.tree.node(id) else {
            return self.empty();
        };
        if self.tree.is_gone(node) {
            let path = self.ws.display(self.tree.uri_of(node));
            return self.outcome(
                Status::Moved,
                Some(id),
                &format!(
                    "{path} was deleted; the history still holds its place, but there is no file to open"
                ),
            );
        }
        let label = format!(
            "{}:{}",
            self.ws.display(self.tree.uri_of(node)),
            crate::render::line_number(node.line)
        );
        if self.options.absorb_arrivals {
            self.expect_arrival();
        }
        let mut out = self.outcome(Status::Moved, Some(id), &label);
        out.target = self.target(id);
        out
    }

    fn empty(&self) -> Outcome {
        self.outcome(
            Status::Empty,
            None,
            "no history yet in this workspace: visit a file first",
        )
    }

    fn outcome(&self, status: Status, node: Option<NodeId>, message: &str) -> Outcome {
        Outcome {
            status,
            message: message.to_owned(),
            node: node.and_then(|n| self.view(n)),
            target: None,
            choices: Vec::new(),
        }
    }
}
