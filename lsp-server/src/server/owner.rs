//! The one owner of the history: a thread that runs jobs (the editor's messages, file
//! watcher events, control socket requests) in arrival order, one transaction each.

use std::sync::{Arc, OnceLock, mpsc};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot, watch};
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::MessageType;
use tower_lsp_server::ls_types::notification::Notification;

use super::control::{ControlAnswer, control_node, same_root};
use super::{Config, failed, invalid_params, now_ms, to_proto};
use crate::anchor::TextEdit;
use crate::control::wire::PROTOCOL_VERSION;
use crate::control::{
    EditorAnswer, ErrorCode as Code, JumpReply, Listener, Method, ServerStatus, WireError,
};
use crate::history::{self, FsChange, History, HistoryError, Outcome, Status, Target};
use crate::protocol::{self, InitOptions, TreeChanged, VisitArgs};
use crate::store::{self, Endpoint, SessionInfo};
use crate::transport::{Answer, Link};
use crate::tree::{NodeId, Precision, Reason};
use crate::watch::Watcher;
use crate::workspace::Workspace;

/// Messages to the client (`window/showMessage`, `window/logMessage`) that may wait for it
/// to read at once.
const NOTICES_IN_FLIGHT: usize = 32;

/// How long the owner waits without a job before doing housekeeping.
const IDLE: std::time::Duration = std::time::Duration::from_millis(500);

/// A command's answer: the JSON result, and where to send the editor, if anywhere.
pub(super) type CommandReply = Result<(Value, Option<Target>)>;

pub(super) enum Job {
    Open {
        /// The workspace, or why there is none.
        root: std::result::Result<Workspace, String>,
        client: String,
        /// The editor's name (`clientInfo.name`), for the app.
        editor: String,
        client_shows_documents: bool,
        server_moves_editor: bool,
        options: InitOptions,
        warnings: Vec<String>,
    },
    Visit {
        args: VisitArgs,
        precision: Precision,
        reply: oneshot::Sender<CommandReply>,
    },
    Command {
        name: String,
        arguments: Vec<Value>,
        policy: crate::tree::ForwardPolicy,
        reply: oneshot::Sender<CommandReply>,
    },
    Fs(Vec<FsChange>),
    /// Document sync: what the editor shows of a file.
    Document(Document),
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    Close,
    /// A request on the control socket.
    Control {
        method: Method,
        reply: mpsc::Sender<ControlAnswer>,
    },
}

pub(super) enum Document {
    Open { uri: String, text: String },
    Change { uri: String, edits: Vec<TextEdit> },
    Close { uri: String },
}

/// The one owner of the history: runs jobs in arrival order on its own thread.
pub(super) struct Owner {
    config: Config,
    jobs: mpsc::Sender<Job>,
    runtime: tokio::runtime::Handle,
    client: Arc<OnceLock<Client>>,
    /// The server's own requests to the client (`window/showDocument`).
    link: Link,
    /// Room for notifications waiting for the client ([`NOTICES_IN_FLIGHT`]).
    notices: Arc<Semaphore>,
    /// The latest `retrace/treeChanged`, for the task that sends them.
    tree_changed: OnceLock<watch::Sender<TreeChanged>>,
    history: std::result::Result<History, String>,
    watcher: Option<Watcher>,
    notify_changes: bool,
    /// The client announced `window.showDocument.support`.
    client_shows_documents: bool,
    editor: String,
    /// The control socket, while the history is open.
    control: Option<Listener>,
}

impl Owner {
    pub(super) fn new(
        config: Config,
        jobs: mpsc::Sender<Job>,
        client: Arc<OnceLock<Client>>,
        link: Link,
    ) -> Owner {
        Owner {
            config,
            jobs,
            runtime: tokio::runtime::Handle::current(),
            client,
            link,
            notices: Arc::new(Semaphore::new(NOTICES_IN_FLIGHT)),
            tree_changed: OnceLock::new(),
            history: Err("the client has not sent `initialize` yet".into()),
            watcher: None,
            notify_changes: false,
            client_shows_documents: false,
            editor: String::new(),
            control: None,
        }
    }

    pub(super) fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let mut dirty = false;
        loop {
            let job = match jobs.recv_timeout(IDLE) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if std::mem::take(&mut dirty)
                        && let Ok(h) = &mut self.history
                        && let Err(e) = h.idle()
                    {
                        tracing::warn!("checkpointing the history database: {e}");
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            dirty = true;
            let last = matches!(job, Job::Close);
            // A bug in one job must not take the history down with it: the job's reply is
            // dropped (its handler answers with an error), and the tree is reloaded from the
            // database, which the unwound transaction left as it was.
            let handled =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(job)));
            if handled.is_err() {
                self.recover();
            }
            // The editor's held changes, stored once due even if the server is never idle.
            if let Ok(h) = &mut self.history
                && let Err(e) = h.store_documents_if_due()
            {
                tracing::warn!("storing the editor's changes: {e}");
            }
            if last {
                break;
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Open {
                root,
                client,
                editor,
                client_shows_documents,
                server_moves_editor,
                options,
                warnings,
            } => {
                for w in warnings {
                    self.show(MessageType::WARNING, w);
                }
                self.client_shows_documents = client_shows_documents;
                self.editor = editor;
                self.open(root, client, options, server_moves_editor);
            }
            Job::Visit {
                args,
                precision,
                reply,
            } => {
                let _ = reply.send(self.visit(args, precision));
            }
            Job::Command {
                name,
                arguments,
                policy,
                reply,
            } => {
                let _ = reply.send(self.command(&name, &arguments, policy));
            }
            Job::Fs(changes) => self.fs(&changes),
            Job::Document(doc) => self.document(doc),
            Job::Shutdown { reply } => {
                self.close();
                let _ = reply.send(());
            }
            Job::Close => self.close(),
            Job::Control { method, reply } => {
                let _ = reply.send(self.control(method));
            }
        }
    }

    fn recover(&mut self) {
        let outcome = match &mut self.history {
            Ok(h) => h.reload().map_err(|e| e.to_string()),
            Err(_) => Ok(()),
        };
        let message = match outcome {
            Ok(()) => "retrace-lsp hit an internal error (a bug: please report it with the log); the step was not recorded and the history was reloaded from disk".to_owned(),
            Err(e) => {
                let message = format!("retrace-lsp hit an internal error and could not reload the history ({e}); restart the language server");
                self.history = Err(message.clone());
                message
            }
        };
        self.show(MessageType::ERROR, message);
    }

    /// Sends something to the client from this thread, without waiting for it. A client
    /// that does not read has at most [`NOTICES_IN_FLIGHT`] of them waiting; more are
    /// only logged.
    fn with_client<F, Fut>(&self, f: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(client) = self.client.get() else {
            return;
        };
        let Ok(permit) = self.notices.clone().try_acquire_owned() else {
            tracing::warn!("the client is not reading its messages: one was dropped");
            return;
        };
        let sent = f(client.clone());
        self.runtime.spawn(async move {
            sent.await;
            drop(permit);
        });
    }

    fn show(&self, kind: MessageType, message: String) {
        tracing::warn!("{message}");
        self.with_client(|c| async move { c.show_message(kind, message).await });
    }

    fn log(&self, kind: MessageType, message: String) {
        tracing::info!("{message}");
        self.with_client(|c| async move { c.log_message(kind, message).await });
    }

    fn open(
        &mut self,
        root: std::result::Result<Workspace, String>,
        client: String,
        options: InitOptions,
        server_moves_editor: bool,
    ) {
        self.notify_changes = options.notify_changes;
        let ws = match root {
            Ok(ws) => ws,
            Err(why) => {
                self.history = Err(why);
                self.show(MessageType::ERROR, self.unavailable());
                return;
            }
        };
        let db = match &self.config.db {
            Some(db) => db.clone(),
            None => match store::data_dir() {
                Some(dir) => store::database_path(&dir, ws.root()),
                None => {
                    self.history = Err("cannot find a data directory (HOME and XDG_DATA_HOME are unset); set one, or pass --db PATH".into());
                    self.show(MessageType::ERROR, self.unavailable());
                    return;
                }
            },
        };
        let info = SessionInfo::this_process(client, now_ms());
        let opts = history::Options {
            limit: options.node_limit.unwrap_or(crate::tree::DEFAULT_LIMIT),
            record_outside_workspace: options.record_outside_workspace,
            absorb_arrivals: server_moves_editor,
            ..history::Options::default()
        };
        let control = self.start_control();
        let endpoint = Endpoint {
            editor: self.editor.clone(),
            socket: control.as_ref().map(|l| l.path().to_owned()),
        };
        let opened = History::open_quarantining(&db, ws, &info, &endpoint, opts, now_ms());
        if let Ok(history::Opened {
            quarantined: Some(q),
            ..
        }) = &opened
        {
            self.show(MessageType::WARNING, q.to_string());
        }
        let opened = opened.map(|o| o.history);
        match opened {
            Ok(h) => {
                tracing::info!(
                    "history of {} ({} nodes) in {}",
                    h.workspace().root().display(),
                    h.tree().len(),
                    h.database().display()
                );
                let jobs = self.jobs.clone();
                match Watcher::new(move |changes| {
                    let _ = jobs.send(Job::Fs(changes));
                }) {
                    Ok(w) => self.watcher = Some(w),
                    Err(e) => self.log(
                        MessageType::WARNING,
                        format!("not watching files for renames and deletions: {e}"),
                    ),
                }
                self.history = Ok(h);
                self.control = control;
                self.rewatch();
            }
            Err(e) => {
                self.history = Err(e.to_string());
                self.show(MessageType::ERROR, self.unavailable());
            }
        }
    }

    fn unavailable(&self) -> String {
        match &self.history {
            Ok(_) => String::new(),
            Err(why) => format!("retrace: history unavailable: {why}"),
        }
    }

    fn history(&mut self) -> Result<&mut History> {
        match &mut self.history {
            Ok(h) => Ok(h),
            Err(why) => Err(failed(format!("history unavailable: {why}"))),
        }
    }

    fn visit(&mut self, args: VisitArgs, precision: Precision) -> CommandReply {
        let reason = args
            .reason
            .as_deref()
            .map_or(Reason::Other, Reason::from_name);
        let outcome = self.history()?.visit(
            &args.uri,
            args.position.line,
            args.position.character,
            reason,
            precision,
            now_ms(),
        );
        let outcome = outcome.map_err(history_error)?;
        if outcome.status == Status::Added {
            self.update_watches();
        }
        self.changed(&outcome);
        Ok((to_proto::outcome(&outcome), None))
    }

    fn command(
        &mut self,
        name: &str,
        arguments: &[Value],
        policy: crate::tree::ForwardPolicy,
    ) -> CommandReply {
        use protocol::*;
        let now = now_ms();
        let outcome = match name {
            BACK => {
                no_arguments(name, arguments)?;
                self.history()?.back(now)
            }
            FORWARD => {
                let args: ForwardArgs =
                    parse_args(name, arguments, FORWARD_SHAPE).map_err(invalid_params)?;
                let policy = args.policy.unwrap_or(policy);
                self.history()?.forward(args.node.map(NodeId), policy, now)
            }
            JUMP => {
                let args: JumpArgs =
                    parse_required(name, arguments, JUMP_SHAPE).map_err(invalid_params)?;
                self.history()?.jump(NodeId(args.node), now)
            }
            VISIT => {
                let args: VisitArgs =
                    parse_required(name, arguments, VISIT_SHAPE).map_err(invalid_params)?;
                return self.visit(args, Precision::Line);
            }
            TREE => {
                let args: TreeArgs =
                    parse_args(name, arguments, TREE_SHAPE).map_err(invalid_params)?;
                let h = self.history()?;
                let value = match args.format {
                    TreeFormat::Text => h.text().map(Value::String),
                    TreeFormat::Json => h.json().map(|t| json!(t)),
                };
                return value.map(|v| (v, None)).map_err(history_error);
            }
            STATUS => {
                no_arguments(name, arguments)?;
                let status = self.history()?.status().map_err(history_error)?;
                return Ok((json!(status), None));
            }
            // A fault the real server cannot be made to produce, for the recovery test; only
            // in the test binary (feature `debug-commands`).
            #[cfg(feature = "debug-commands")]
            "retrace.debug.panic" => panic!("fault injected by retrace.debug.panic"),
            other => {
                return Err(Error {
                    code: ErrorCode::InvalidParams,
                    message: format!(
                        "unknown command `{other}`; retrace-lsp knows {}",
                        COMMANDS.join(", ")
                    )
                    .into(),
                    data: None,
                });
            }
        };
        let outcome = outcome.map_err(history_error)?;
        self.changed(&outcome);
        let show = outcome.target.clone();
        Ok((to_proto::outcome(&outcome), show))
    }

    fn fs(&mut self, changes: &[FsChange]) {
        let Ok(h) = &mut self.history else { return };
        match h.apply_fs(changes) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!("followed {n} renamed or deleted files");
                self.rewatch(); // paths changed: recompute the watches
                self.notify_tree_changed();
            }
            Err(e) => self.log(MessageType::WARNING, e.to_string()),
        }
        let Ok(h) = &mut self.history else { return };
        match h.follow_contents(changes) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!("{n} places followed their lines in files changed outside");
                self.notify_tree_changed();
            }
            Err(e) => self.log(MessageType::WARNING, e.to_string()),
        }
    }

    /// Document sync: the nodes of the file follow what the editor does to it.
    fn document(&mut self, doc: Document) {
        let Ok(h) = &mut self.history else { return };
        let moved = match doc {
            Document::Open { uri, text } => h.open_document(&uri, &text),
            Document::Change { uri, edits } => h.change_document(&uri, &edits),
            Document::Close { uri } => h.close_document(&uri),
        };
        match moved {
            Ok(0) => {}
            Ok(_) => self.notify_tree_changed(),
            Err(e) => self.log(MessageType::WARNING, e.to_string()),
        }
    }

    /// Keeps the watcher on the directories of the recorded files, after a visit.
    fn update_watches(&mut self) {
        if let (Some(w), Ok(h)) = (&mut self.watcher, &self.history) {
            w.follow(h);
        }
    }

    /// Watches the directories of the recorded files anew (after renames and deletions).
    fn rewatch(&mut self) {
        if let (Some(w), Ok(h)) = (&mut self.watcher, &self.history) {
            w.refollow(h);
        }
    }

    fn changed(&self, outcome: &Outcome) {
        if matches!(
            outcome.status,
            Status::Added | Status::Revisited | Status::Moved
        ) {
            self.notify_tree_changed();
        }
    }

    fn notify_tree_changed(&self) {
        if !self.notify_changes {
            return;
        }
        let Ok(h) = &self.history else { return };
        let params = TreeChanged {
            current: h.current().map(|n| n.0),
            nodes: h.tree().len(),
        };
        let Some(client) = self.client.get() else {
            return;
        };
        // Only the latest state matters: one notification in flight, and what changed
        // meanwhile is sent as one (a client that does not read holds up one, not one
        // per change).
        let latest = self.tree_changed.get_or_init(|| {
            let (latest, mut changes) = watch::channel(params.clone());
            let client = client.clone();
            self.runtime.spawn(async move {
                while changes.changed().await.is_ok() {
                    let params = changes.borrow_and_update().clone();
                    client
                        .send_notification::<TreeChangedNotification>(params)
                        .await;
                }
            });
            latest
        });
        latest.send_replace(params);
    }

    /// Listens on this process's control socket; without one (no safe directory) the
    /// editor works as before, and the app cannot move it.
    fn start_control(&self) -> Option<Listener> {
        let started = crate::control::socket::socket_dir()
            .and_then(|dir| Listener::start(&dir, super::control::handler(self.jobs.clone())));
        match started {
            Ok(listener) => {
                tracing::info!("control socket: {}", listener.path().display());
                Some(listener)
            }
            Err(e) => {
                self.log(
                    MessageType::WARNING,
                    format!("no control socket (the desktop app cannot move this editor): {e}"),
                );
                None
            }
        }
    }

    fn control(&mut self, method: Method) -> ControlAnswer {
        match method {
            Method::Hello { protocol, .. } if protocol != PROTOCOL_VERSION => {
                ControlAnswer::Done(Err(WireError::new(
                    Code::UnsupportedVersion,
                    format!(
                        "this retrace-lsp speaks control protocol {PROTOCOL_VERSION}, the client {protocol}; use an app and a server of the same release"
                    ),
                )))
            }
            Method::Hello { .. } | Method::Status => {
                ControlAnswer::Done(Ok(json!(self.control_status())))
            }
            Method::Jump { node, workspace } => {
                match self.control_jump(NodeId(node.0), workspace) {
                    Ok(answer) => answer,
                    Err(e) => ControlAnswer::Done(Err(e)),
                }
            }
        }
    }

    fn control_status(&mut self) -> ServerStatus {
        let cannot_move = self.cannot_move();
        let mut status = ServerStatus {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            session: None,
            editor: self.editor.clone(),
            workspace: None,
            database: None,
            node: None,
            can_move_editor: cannot_move.is_none(),
            cannot_move,
            history_problem: None,
        };
        match &mut self.history {
            Ok(h) => {
                let _ = h.refresh();
                status.session = Some(h.session().to_string());
                status.workspace = Some(h.workspace().root().to_owned());
                status.database = Some(h.database().to_owned());
                status.node = h
                    .current()
                    .and_then(|n| h.view(n))
                    .map(|v| control_node(&v));
            }
            Err(why) => status.history_problem = Some(why.clone()),
        }
        status
    }

    fn cannot_move(&self) -> Option<String> {
        (!self.client_shows_documents).then(|| {
            let editor = if self.editor.is_empty() { "the editor" } else { &self.editor };
            format!(
                "{editor} did not announce `window.showDocument` support when it started, so retrace-lsp cannot move it; jump from the editor instead (e.g. :RetraceJump)"
            )
        })
    }

    /// Jumps the cursor (one transaction, recorded as a jump) and sends the editor there.
    fn control_jump(
        &mut self,
        node: NodeId,
        workspace: Option<std::path::PathBuf>,
    ) -> std::result::Result<ControlAnswer, WireError> {
        let cannot_move = self.cannot_move();
        let h = match &mut self.history {
            Ok(h) => h,
            Err(why) => {
                return Err(WireError::new(
                    Code::HistoryUnavailable,
                    format!("this session has no history: {why}"),
                ));
            }
        };
        let root = h.workspace().root().to_owned();
        if let Some(asked) = workspace
            && !same_root(&asked, &root)
        {
            return Err(WireError::new(
                Code::WrongWorkspace,
                format!(
                    "this session serves {}, not {}; send the jump to a session of that workspace",
                    root.display(),
                    asked.display()
                ),
            ));
        }
        if let Some(why) = cannot_move {
            return Err(WireError::new(Code::EditorCannotMove, why));
        }
        let unavailable = |e: HistoryError| WireError::new(Code::HistoryUnavailable, e.to_string());
        h.refresh().map_err(unavailable)?;
        let Some(view) = h.view(node) else {
            return Err(WireError::new(
                Code::NoSuchNode,
                format!(
                    "there is no node {node} in the history of {} (pruned, or of another workspace); refresh the tree",
                    root.display()
                ),
            ));
        };
        if view.gone {
            return Err(WireError::new(
                Code::FileGone,
                format!(
                    "{} was deleted; the history keeps its place, but there is no file to show",
                    view.path
                ),
            ));
        }
        let now = now_ms();
        let outcome = h.jump(node, now).map_err(|e| match e {
            HistoryError::Tree(crate::tree::TreeError::UnknownNode(_)) => {
                WireError::new(Code::NoSuchNode, e.to_string())
            }
            e => unavailable(e),
        })?;
        h.expect_arrival();
        self.changed(&outcome);
        let params = outcome
            .target
            .as_ref()
            .and_then(to_proto::location)
            .and_then(|l| serde_json::to_value(to_proto::show_document(l)).ok());
        let Some(params) = params else {
            return Err(WireError::new(
                Code::Internal,
                "the cursor moved, but the editor could not be sent there",
            ));
        };
        let (tell, shown) = mpsc::channel();
        let link = self.link.clone();
        self.runtime.spawn(async move {
            let Ok(answer) = link.request(super::SHOW_DOCUMENT, params).await else {
                return;
            };
            let answer = match answer.await {
                Ok(Answer::Result(r)) if r["success"] == true => EditorAnswer::Shown,
                Ok(Answer::Result(_)) => EditorAnswer::Declined,
                Ok(Answer::Error { message, .. }) => EditorAnswer::Failed { message },
                // Given up (the editor never answered): the connection's wait says so.
                Err(_) => return,
            };
            let _ = tell.send(answer);
        });
        Ok(ControlAnswer::Jumped {
            reply: JumpReply {
                node: outcome
                    .node
                    .as_ref()
                    .map_or_else(|| control_node(&view), control_node),
                editor: self.editor.clone(),
                answer: EditorAnswer::NoAnswerYet { waited_ms: 0 },
            },
            shown,
        })
    }

    fn close(&mut self) {
        self.watcher = None;
        self.control = None;
        let history =
            std::mem::replace(&mut self.history, Err("the server is shutting down".into()));
        if let Ok(h) = history
            && let Err(e) = h.close()
        {
            tracing::warn!("closing the session: {e}");
        }
    }
}

enum TreeChangedNotification {}

impl Notification for TreeChangedNotification {
    type Params = TreeChanged;
    const METHOD: &'static str = protocol::TREE_CHANGED_NOTIFICATION;
}

/// Commands without arguments accept none, `null` or `{}`, and refuse anything else.
fn no_arguments(command: &str, arguments: &[Value]) -> Result<()> {
    if matches!(arguments, [] | [Value::Null]) || arguments == [json!({})] {
        return Ok(());
    }
    let mut shown = Value::Array(arguments.to_vec()).to_string();
    if shown.len() > 200 {
        shown = format!("{}…", crate::safe_text::sanitize(&shown, 200));
    }
    Err(invalid_params(format!(
        "{command} takes no arguments, got {shown}"
    )))
}

fn history_error(e: HistoryError) -> Error {
    match e {
        HistoryError::Uri(_) | HistoryError::OutsideWorkspace { .. } => {
            invalid_params(e.to_string())
        }
        _ => failed(e.to_string()),
    }
}
