//! The LSP server: tower-lsp-server handlers in front of one history owner.
//!
//! The tree depends on the order of messages, and tower-lsp-server may run handlers
//! concurrently. So: the server runs with a concurrency level of 1 (each handler finishes
//! before the next message is dispatched), and a single thread, the [`Owner`], holds the
//! [`History`] and does all its blocking SQLite work. Handlers only send it jobs and await
//! its reply; they never await a reply from the client (`window/showDocument` is sent from
//! a spawned task), which could otherwise deadlock against the one-at-a-time dispatch.
//! File watcher events enter the same queue, so they are ordered with the editor's
//! messages.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::history::{self, FsChange, History, HistoryError, Outcome, Status};
use crate::protocol::{self, InitOptions, TreeChanged, VisitArgs};
use crate::store::{self, SessionInfo};
use crate::tree::{NodeId, Precision, Reason};
use crate::watch::Watcher;
use crate::workspace::{Workspace, path_for_uri};

/// Where the database lives when not derived from the workspace root.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `--db PATH`: use this file for whatever workspace the client opens.
    pub db: Option<PathBuf>,
}

/// Serves LSP on stdin/stdout until the client exits or closes the stream.
pub async fn serve_stdio(config: Config) {
    let (jobs, receiver) = mpsc::channel();
    let client_slot = Arc::new(OnceLock::new());
    let owner = std::thread::Builder::new()
        .name("history-owner".into())
        .spawn({
            let owner = Owner::new(config, jobs.clone(), client_slot.clone());
            move || owner.run(receiver)
        })
        .expect("spawning the history thread");
    let (service, socket) = LspService::build(|client| {
        let _ = client_slot.set(client.clone());
        Backend {
            client,
            jobs: jobs.clone(),
            settings: OnceLock::new(),
            saw_visit: AtomicBool::new(false),
        }
    })
    .custom_method(protocol::VISIT_NOTIFICATION, Backend::visit_notification)
    .finish();
    let (input, output) = crate::transport::guard(tokio::io::stdin(), tokio::io::stdout());
    Server::new(input, output, socket)
        .concurrency_level(1)
        .serve(service)
        .await;
    // The stream ended (exit, or the editor went away): end the session cleanly.
    let _ = jobs.send(Job::Close);
    drop(jobs);
    let _ = tokio::task::spawn_blocking(move || owner.join()).await;
}

#[derive(Clone, Debug, Default)]
struct Settings {
    options: InitOptions,
    client_shows_documents: bool,
}

struct Backend {
    client: Client,
    jobs: mpsc::Sender<Job>,
    /// Set once, by `initialize`.
    settings: OnceLock<Settings>,
    saw_visit: AtomicBool,
}

impl Backend {
    fn send(&self, job: Job) -> Result<()> {
        self.jobs
            .send(job)
            .map_err(|_| failed("the history thread has stopped; restart the language server"))
    }

    fn settings(&self) -> Settings {
        self.settings.get().cloned().unwrap_or_default()
    }

    async fn visit_notification(&self, params: Value) {
        self.saw_visit.store(true, Ordering::Relaxed);
        let args: std::result::Result<VisitArgs, String> =
            protocol::parse_arg(protocol::VISIT_NOTIFICATION, &params, protocol::VISIT_SHAPE);
        match args {
            Ok(args) => self.record_visit(args, Precision::Line).await,
            Err(message) => self.client.show_message(MessageType::ERROR, message).await,
        }
    }

    /// Records a visit and waits until it is committed: the next message is dispatched
    /// only then (concurrency 1), so it finds the visit on disk.
    async fn record_visit(&self, args: VisitArgs, precision: Precision) {
        let (reply, done) = oneshot::channel();
        if self
            .send(Job::Visit {
                args,
                precision,
                reply,
            })
            .is_err()
        {
            return;
        }
        if let Ok(Err(e)) = done.await {
            // Notifications have no reply: tell the client's log what was refused and why.
            self.client
                .log_message(MessageType::WARNING, e.message.to_string())
                .await;
        }
    }

    fn show_document(&self, location: Location) {
        let settings = self.settings();
        if !(settings.options.show_document && settings.client_shows_documents) {
            return;
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            let params = ShowDocumentParams {
                uri: location.uri,
                external: Some(false),
                take_focus: Some(true),
                selection: Some(location.range),
            };
            if let Err(e) = client.show_document(params).await {
                tracing::warn!("window/showDocument failed: {e}");
            }
        });
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let (options, options_error) = match params.initialization_options.clone() {
            None | Some(Value::Null) => (InitOptions::default(), None),
            Some(v) => match serde_json::from_value::<InitOptions>(v) {
                Ok(o) => (o, None),
                Err(e) => (
                    InitOptions::default(),
                    Some(format!(
                        "retrace: ignoring invalid initializationOptions ({e}); see PROTOCOL.md for the options"
                    )),
                ),
            },
        };
        let shows = params
            .capabilities
            .window
            .as_ref()
            .and_then(|w| w.show_document.as_ref())
            .is_some_and(|s| s.support);
        if options.sends_visits {
            self.saw_visit.store(true, Ordering::Relaxed);
        }
        let _ = self.settings.set(Settings {
            options: options.clone(),
            client_shows_documents: shows,
        });
        let root = workspace_root(&params);
        let client_name = params
            .client_info
            .as_ref()
            .map(|c| format!("{} {}", c.name, c.version.clone().unwrap_or_default()))
            .unwrap_or_else(|| "unknown client".into());
        // The history loads in the background; the reply does not wait for it.
        self.send(Job::Open {
            root,
            client: client_name.trim().to_owned(),
            server_moves_editor: options.show_document && shows,
            options,
            warning: options_error,
        })?;
        let file_ops = FileOperationRegistrationOptions {
            filters: vec![FileOperationFilter {
                scheme: Some("file".into()),
                pattern: FileOperationPattern {
                    glob: "**/*".into(),
                    matches: None,
                    options: None,
                },
            }],
        };
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(PositionEncodingKind::UTF16),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::NONE),
                        ..Default::default()
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: protocol::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..Default::default()
                }),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: None,
                    file_operations: Some(WorkspaceFileOperationsServerCapabilities {
                        did_rename: Some(file_ops.clone()),
                        did_delete: Some(file_ops),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "retrace-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.send(Job::Shutdown { reply })?;
        let _ = done.await;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        // A client that reports visits itself knows better where the user is.
        if self.saw_visit.load(Ordering::Relaxed) {
            return;
        }
        let args = VisitArgs {
            uri: params.text_document.uri.as_str().to_owned(),
            position: protocol::PositionArg {
                line: 0,
                character: 0,
            },
            reason: Some("open".into()),
        };
        self.record_visit(args, Precision::File).await;
    }

    async fn did_rename_files(&self, params: RenameFilesParams) {
        let changes = params
            .files
            .iter()
            .filter_map(|f| {
                Some(FsChange::Renamed {
                    from: path_for_uri(&f.old_uri)?,
                    to: path_for_uri(&f.new_uri)?,
                })
            })
            .collect();
        let _ = self.send(Job::Fs(changes));
    }

    async fn did_delete_files(&self, params: DeleteFilesParams) {
        let changes = params
            .files
            .iter()
            .filter_map(|f| Some(FsChange::Removed(path_for_uri(&f.uri)?)))
            .collect();
        let _ = self.send(Job::Fs(changes));
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Command {
            name: params.command,
            arguments: params.arguments,
            policy: self.settings().options.forward_policy,
            reply,
        })?;
        let (value, show) = answer.await.map_err(|_| {
            failed("retrace-lsp could not answer (an internal error; see its log)")
        })??;
        if let Some(location) = show {
            self.show_document(location);
        }
        Ok(Some(value))
    }
}

/// The workspace root the client names: its first workspace folder, else `rootUri`,
/// else the deprecated `rootPath`.
#[allow(deprecated)]
fn workspace_root(params: &InitializeParams) -> Option<Workspace> {
    if let Some(folder) = params.workspace_folders.as_ref().and_then(|f| f.first()) {
        return Workspace::from_uri(folder.uri.as_str()).ok();
    }
    if let Some(uri) = &params.root_uri {
        return Workspace::from_uri(uri.as_str()).ok();
    }
    params.root_path.as_ref().map(Workspace::new)
}

fn failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(protocol::REQUEST_FAILED),
        message: message.into().into(),
        data: None,
    }
}

fn invalid_params(message: String) -> Error {
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into(),
        data: None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How long the owner waits without a job before doing housekeeping.
const IDLE: std::time::Duration = std::time::Duration::from_millis(500);

/// A command's answer: the JSON result, and where to send the editor, if anywhere.
type CommandReply = Result<(Value, Option<Location>)>;

enum Job {
    Open {
        root: Option<Workspace>,
        client: String,
        server_moves_editor: bool,
        options: InitOptions,
        warning: Option<String>,
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
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    Close,
}

/// The one owner of the history: runs jobs in arrival order on its own thread.
struct Owner {
    config: Config,
    jobs: mpsc::Sender<Job>,
    runtime: tokio::runtime::Handle,
    client: Arc<OnceLock<Client>>,
    history: std::result::Result<History, String>,
    watcher: Option<Watcher>,
    watched_files: usize,
    notify_changes: bool,
}

impl Owner {
    fn new(config: Config, jobs: mpsc::Sender<Job>, client: Arc<OnceLock<Client>>) -> Owner {
        Owner {
            config,
            jobs,
            runtime: tokio::runtime::Handle::current(),
            client,
            history: Err("the client has not sent `initialize` yet".into()),
            watcher: None,
            watched_files: usize::MAX,
            notify_changes: false,
        }
    }

    fn run(mut self, jobs: mpsc::Receiver<Job>) {
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
                server_moves_editor,
                options,
                warning,
            } => {
                if let Some(w) = warning {
                    self.show(MessageType::WARNING, w);
                }
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
            Job::Shutdown { reply } => {
                self.close();
                let _ = reply.send(());
            }
            Job::Close => self.close(),
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

    /// Sends something to the client from this thread, without waiting for it.
    fn with_client<F, Fut>(&self, f: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(client) = self.client.get() {
            self.runtime.spawn(f(client.clone()));
        }
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
        root: Option<Workspace>,
        client: String,
        options: InitOptions,
        server_moves_editor: bool,
    ) {
        self.notify_changes = options.notify_changes;
        let Some(ws) = root else {
            self.history = Err("no workspace folder: the client sent neither workspaceFolders nor rootUri; start the editor in your project (or open a folder) so retrace knows which history to use".into());
            self.show(MessageType::ERROR, self.unavailable());
            return;
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
        let info = session_info(client);
        let opts = history::Options {
            limit: options.node_limit.unwrap_or(crate::tree::DEFAULT_LIMIT),
            record_outside_workspace: options.record_outside_workspace,
            absorb_arrivals: server_moves_editor,
        };
        let mut opened = History::open(&db, ws.clone(), &info, opts.clone(), now_ms());
        if let Err(e) = &opened
            && e.is_corrupt()
        {
            // Keep the damaged file for the user; start a new history beside it.
            let aside = db.with_extension(format!("corrupt-{}", now_ms()));
            match std::fs::rename(&db, &aside) {
                Ok(()) => {
                    for suffix in ["-wal", "-shm"] {
                        let mut side = db.clone().into_os_string();
                        side.push(suffix);
                        let _ = std::fs::remove_file(side);
                    }
                    self.show(
                        MessageType::WARNING,
                        format!(
                            "{e}\nretrace moved it to {} and started a new history.",
                            aside.display()
                        ),
                    );
                    opened = History::open(&db, ws, &info, opts, now_ms());
                }
                Err(rename_err) => {
                    tracing::error!("cannot move the damaged database aside: {rename_err}")
                }
            }
        }
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
                self.update_watches();
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
        Ok((json!(outcome), None))
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
                if !matches!(arguments, [] | [Value::Null]) && arguments != [json!({})] {
                    return Err(invalid_params(format!(
                        "retrace.back takes no arguments, got {}",
                        Value::Array(arguments.to_vec())
                    )));
                }
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
                let status = self.history()?.status().map_err(history_error)?;
                return Ok((json!(status), None));
            }
            // A fault the real server cannot be made to produce, for the recovery test.
            "retrace.debug.panic" if std::env::var_os("RETRACE_LSP_TEST_FAULTS").is_some() => {
                panic!("fault injected by retrace.debug.panic")
            }
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
        let show = outcome.location.clone();
        Ok((json!(outcome), show))
    }

    fn fs(&mut self, changes: &[FsChange]) {
        let Ok(h) = &mut self.history else { return };
        match h.apply_fs(changes) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!("followed {n} renamed or deleted files");
                self.watched_files = usize::MAX; // paths changed: recompute the watches
                self.update_watches();
                self.notify_tree_changed();
            }
            Err(e) => self.log(MessageType::WARNING, e.to_string()),
        }
    }

    /// Keeps the watcher on the directories of the recorded files.
    fn update_watches(&mut self) {
        let (Some(w), Ok(h)) = (&mut self.watcher, &self.history) else {
            return;
        };
        let files = h.tree().files().count();
        if files == self.watched_files {
            return;
        }
        self.watched_files = files;
        w.watch_only(h.watched_dirs());
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
        self.with_client(|c| async move {
            c.send_notification::<TreeChangedNotification>(params).await
        });
    }

    fn close(&mut self) {
        self.watcher = None;
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

fn history_error(e: HistoryError) -> Error {
    match e {
        HistoryError::Uri(_) | HistoryError::OutsideWorkspace { .. } => {
            invalid_params(e.to_string())
        }
        _ => failed(e.to_string()),
    }
}

fn session_info(client: String) -> SessionInfo {
    let pid = std::process::id();
    let started_ms = now_ms();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    SessionInfo {
        id: Arc::from(format!("{host}:{pid}:{started_ms}")),
        pid,
        host,
        client,
        started_ms,
    }
}
