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
//!
//! Only this module knows LSP's types: the history returns its own, and [`to_proto`]
//! converts them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::oneshot;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::history::FsChange;
use crate::protocol::{self, InitOptions, VisitArgs};
use crate::transport::{Answer, Ended, Link};
use crate::tree::Precision;
use crate::workspace::{Workspace, path_for_uri};
use owner::{Document, Job, Owner};

mod control;
mod owner;
pub mod to_proto;

/// LSP's request to move the editor.
const SHOW_DOCUMENT: &str = "window/showDocument";

/// Where the database lives when not derived from the workspace root.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `--db PATH`: use this file for whatever workspace the client opens.
    pub db: Option<PathBuf>,
}

/// Runs the server on stdin/stdout in its own async runtime, until the client exits or
/// closes the stream. A panic's message goes to the log (stderr) only: stdout carries the
/// protocol.
pub fn run_stdio(config: Config) -> std::io::Result<Ended> {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("internal error (a bug in retrace-lsp, please report it): {info}");
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ended = runtime.block_on(serve_stdio(config));
    // Stdin may be a terminal still open; do not wait on it at exit.
    runtime.shutdown_background();
    Ok(ended)
}

/// Serves LSP on stdin/stdout until the client exits or closes the stream, and says how
/// it ended (`exit` without `shutdown` is an error exit for LSP).
pub async fn serve_stdio(config: Config) -> Ended {
    let guarded = crate::transport::guard(tokio::io::stdin(), tokio::io::stdout());
    let link = guarded.link.clone();
    let (jobs, receiver) = mpsc::channel();
    let client_slot = Arc::new(OnceLock::new());
    let owner = std::thread::Builder::new()
        .name("history-owner".into())
        .spawn({
            let owner = Owner::new(config, jobs.clone(), client_slot.clone(), link.clone());
            move || owner.run(receiver)
        });
    let owner = match owner {
        Ok(owner) => owner,
        Err(e) => {
            tracing::error!("cannot start the history thread: {e}");
            return Ended::EndOfInput;
        }
    };
    let (service, socket) = LspService::build(|client| {
        let _ = client_slot.set(client.clone());
        Backend {
            client,
            link: link.clone(),
            jobs: jobs.clone(),
            settings: OnceLock::new(),
            saw_visit: AtomicBool::new(false),
        }
    })
    .custom_method(protocol::VISIT_NOTIFICATION, Backend::visit_notification)
    .finish();
    Server::new(guarded.input, guarded.output, socket)
        .concurrency_level(1)
        .serve(service)
        .await;
    // The stream ended (exit, or the editor went away): end the session cleanly.
    let _ = jobs.send(Job::Close);
    drop(jobs);
    let _ = tokio::task::spawn_blocking(move || owner.join()).await;
    link.ended()
}

#[derive(Clone, Debug, Default)]
struct Settings {
    options: InitOptions,
    client_shows_documents: bool,
}

struct Backend {
    client: Client,
    /// The server's own requests to the client, in order with its replies.
    link: Link,
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

    /// Sends `window/showDocument` before the command's reply (both go through one queue,
    /// in order), without waiting for the editor's answer.
    async fn show_document(&self, location: Location) {
        let settings = self.settings();
        if !(settings.options.show_document && settings.client_shows_documents) {
            return;
        }
        let Ok(params) = serde_json::to_value(to_proto::show_document(location)) else {
            return;
        };
        let Ok(answer) = self.link.request(SHOW_DOCUMENT, params).await else {
            return;
        };
        tokio::spawn(async move {
            match answer.await {
                Ok(Answer::Result(r)) if r["success"] == true => {}
                Ok(Answer::Result(r)) => tracing::info!("the editor declined to show it: {r}"),
                Ok(Answer::Error { message, .. }) => {
                    tracing::warn!("window/showDocument failed: {message}")
                }
                Err(_) => tracing::info!("window/showDocument got no answer"),
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
        let (root, passed_over) = workspace_root(&params);
        let warning = options_error.into_iter().chain(
            passed_over
                .into_iter()
                .map(|why| format!("retrace: {why}; using the next root the editor named")),
        );
        let client_name = params
            .client_info
            .as_ref()
            .map(|c| format!("{} {}", c.name, c.version.clone().unwrap_or_default()))
            .map(|name| crate::safe_text::sanitize(&name, 128))
            .unwrap_or_else(|| "unknown client".into());
        let editor = params
            .client_info
            .as_ref()
            .map(|c| crate::safe_text::sanitize(&c.name, 64))
            .unwrap_or_default();
        // The history loads in the background; the reply does not wait for it.
        self.send(Job::Open {
            root,
            client: client_name.trim().to_owned(),
            editor,
            client_shows_documents: shows,
            server_moves_editor: options.show_document && shows,
            options,
            warnings: warning.collect(),
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
                        // The nodes of an edited file follow their lines.
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
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
        let _ = self.send(Job::Document(Document::Open {
            uri: params.text_document.uri.as_str().to_owned(),
            text: params.text_document.text,
        }));
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

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let edits = params
            .content_changes
            .into_iter()
            .map(to_proto::text_edit)
            .collect();
        let _ = self.send(Job::Document(Document::Change {
            uri: params.text_document.uri.as_str().to_owned(),
            edits,
        }));
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let _ = self.send(Job::Document(Document::Close {
            uri: params.text_document.uri.as_str().to_owned(),
        }));
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
        if let Some(location) = show.as_ref().and_then(to_proto::location) {
            self.show_document(location).await;
        }
        Ok(Some(value))
    }
}

/// The workspace root the client names: its first workspace folder, else `rootUri`,
/// else the deprecated `rootPath`; one that cannot be used gives way to the next. Also
/// what was passed over, for the user; when none can be used, why each was refused.
#[allow(deprecated)]
fn workspace_root(
    params: &InitializeParams,
) -> (std::result::Result<Workspace, String>, Vec<String>) {
    let mut refused = Vec::new();
    if let Some(folder) = params.workspace_folders.as_ref().and_then(|f| f.first()) {
        match Workspace::from_uri(folder.uri.as_str()) {
            Ok(ws) => return (Ok(ws), refused),
            Err(e) => refused.push(format!("the first workspace folder: {e}")),
        }
    }
    if let Some(uri) = &params.root_uri {
        match Workspace::from_uri(uri.as_str()) {
            Ok(ws) => return (Ok(ws), refused),
            Err(e) => refused.push(format!("rootUri: {e}")),
        }
    }
    if let Some(path) = &params.root_path {
        return (Ok(Workspace::new(path)), refused);
    }
    if refused.is_empty() {
        let why = "no workspace folder: the client sent neither workspaceFolders nor rootUri; start the editor in your project (or open a folder) so retrace knows which history to use";
        return (Err(why.into()), refused);
    }
    let why = format!(
        "no usable workspace folder ({}); open a folder on this machine so retrace knows which history to use",
        refused.join("; ")
    );
    (Err(why), Vec::new())
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
