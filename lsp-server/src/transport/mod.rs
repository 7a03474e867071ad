//! A guard on the stdio stream between the client and tower-lsp-server: framing, the
//! lifecycle rules LSP sets, bounded buffers, and the server's own requests to the client.
//!
//! - **Framing** ([`deframe`]): tower-lsp-server stops reading at the first frame it cannot
//!   decode, so every frame is cut out and checked here first ([`check`]). A broken frame
//!   gets a parse error (-32700, id null) and reading resumes at the next `Content-Length`
//!   header; a body that is JSON but not JSON-RPC gets -32600; only good frames reach the
//!   server.
//! - **Lifecycle**: before `initialize` every request gets -32002 (ServerNotInitialized)
//!   and notifications are dropped; after `shutdown`, requests get -32600; a request of an
//!   unknown `$/` method gets -32601 (tower-lsp-server would leave it unanswered); whether
//!   `exit` came after `shutdown` decides the exit code ([`Ended`]).
//! - **Backpressure**: what goes to the client waits in one queue of at most
//!   [`QUEUE_BYTES`]; while it is full nothing more is read from the client (a client that
//!   does not read its replies stops being read, instead of growing the server's memory).
//! - **The server's requests** ([`Link::request`]): `window/showDocument` goes out through
//!   the same queue, so it is on the wire before the reply of the command that caused it,
//!   and the client's answer is routed back here by its id.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

pub mod check;
pub mod deframe;

use check::{Message, Refused, classify};
use deframe::{Deframer, Item, MAX_BODY};

/// Most bytes of replies and notifications waiting for the client to read them.
pub const QUEUE_BYTES: usize = 4 << 20;
/// Most of the server's own requests waiting for the client's answer.
const PENDING_MAX: usize = 64;
/// The ids of the server's own requests: strings with this prefix (tower-lsp-server's
/// own are numbers).
const ID_PREFIX: &str = "retrace:";

/// How the client ended the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// `exit` after `shutdown`: exit code 0.
    Exit,
    /// `exit` without `shutdown`: LSP says exit code 1.
    ExitWithoutShutdown,
    /// The input ended without `exit` (the editor went away).
    EndOfInput,
}

/// The client's answer to one of the server's requests.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Result(Value),
    Error { code: i64, message: String },
}

/// The connection is gone (the client went away, or the server is ending).
#[derive(Debug, thiserror::Error)]
#[error("the connection to the client is closed")]
pub struct Closed;

/// The streams tower-lsp-server reads and writes, and the [`Link`] for everything else.
pub struct Guarded {
    pub input: DuplexStream,
    pub output: DuplexStream,
    pub link: Link,
}

/// The server's side of the guard: its own requests to the client, and how it ended.
#[derive(Clone)]
pub struct Link {
    queue: Queue,
    pending: Arc<Mutex<BTreeMap<u64, oneshot::Sender<Answer>>>>,
    next_id: Arc<AtomicU64>,
    state: Arc<AtomicU8>,
}

/// Lifecycle states, as the guard sees the client's messages.
const UNINITIALIZED: u8 = 0;
const RUNNING: u8 = 1;
const SHUT_DOWN: u8 = 2;
const EXITED_AFTER_SHUTDOWN: u8 = 3;
const EXITED_WITHOUT_SHUTDOWN: u8 = 4;

impl Link {
    /// Sends a request to the client (after what is queued before it) and returns where
    /// its answer will come. Waits while the queue is full.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<oneshot::Receiver<Answer>, Closed> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.insert(n, tx);
            // A client that never answers must not make this grow: the oldest request is
            // given up (its receiver sees the sender dropped).
            while pending.len() > PENDING_MAX {
                pending.pop_first();
            }
        }
        let message = json!({"jsonrpc": "2.0", "id": format!("{ID_PREFIX}{n}"), "method": method, "params": params});
        self.queue.send(frame(&message)).await?;
        Ok(rx)
    }

    /// How the connection ended (once the server stopped).
    pub fn ended(&self) -> Ended {
        match self.state.load(Ordering::SeqCst) {
            EXITED_AFTER_SHUTDOWN => Ended::Exit,
            EXITED_WITHOUT_SHUTDOWN => Ended::ExitWithoutShutdown,
            _ => Ended::EndOfInput,
        }
    }

    /// Routes the client's answer to one of our requests; false when it is not ours.
    fn answer(&self, id: &Value, body: &[u8]) -> bool {
        let Some(n) = id
            .as_str()
            .and_then(|s| s.strip_prefix(ID_PREFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return false;
        };
        let waiting = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&n);
        if let Some(waiting) = waiting {
            let answer = match serde_json::from_slice::<Value>(body) {
                Ok(v) if v.get("error").is_some() => Answer::Error {
                    code: v["error"]["code"].as_i64().unwrap_or(0),
                    message: v["error"]["message"]
                        .as_str()
                        .unwrap_or("no message")
                        .to_owned(),
                },
                Ok(mut v) => Answer::Result(v["result"].take()),
                Err(e) => Answer::Error {
                    code: -32700,
                    message: e.to_string(),
                },
            };
            let _ = waiting.send(answer);
        }
        true
    }
}

/// The one queue to the client: frames in order, at most [`QUEUE_BYTES`] of them.
#[derive(Clone)]
struct Queue {
    frames: mpsc::Sender<(Vec<u8>, OwnedSemaphorePermit)>,
    bytes: Arc<Semaphore>,
}

impl Queue {
    async fn send(&self, frame: Vec<u8>) -> Result<(), Closed> {
        // A frame larger than the whole budget takes all of it (and waits for an empty
        // queue).
        let cost = u32::try_from(frame.len().clamp(1, QUEUE_BYTES)).unwrap_or(u32::MAX);
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(cost)
            .await
            .map_err(|_| Closed)?;
        self.frames.send((frame, permit)).await.map_err(|_| Closed)
    }
}

/// Puts the guard between `input`/`output` and the server.
pub fn guard<I, O>(input: I, output: O) -> Guarded
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (server_in, to_server) = tokio::io::duplex(1 << 16);
    let (from_server, server_out) = tokio::io::duplex(1 << 16);
    let (frames, outgoing) = mpsc::channel(256);
    let queue = Queue {
        frames,
        bytes: Arc::new(Semaphore::new(QUEUE_BYTES)),
    };
    let link = Link {
        queue: queue.clone(),
        pending: Arc::default(),
        next_id: Arc::new(AtomicU64::new(1)),
        state: Arc::new(AtomicU8::new(UNINITIALIZED)),
    };
    tokio::spawn(read_client(input, to_server, link.clone()));
    tokio::spawn(read_server(from_server, queue));
    tokio::spawn(write_client(output, outgoing));
    Guarded {
        input: server_in,
        output: server_out,
        link,
    }
}

/// Client -> server: frames checked, lifecycle rules applied, errors answered here.
async fn read_client<I: AsyncRead + Unpin>(mut input: I, mut to_server: DuplexStream, link: Link) {
    let mut deframer = Deframer::default();
    let mut chunk = vec![0; 1 << 16];
    'read: loop {
        while let Some(item) = deframer.next_item() {
            let step = match item {
                Item::Body(body) => handle_body(body, &mut deframer, &mut to_server, &link).await,
                Item::Broken(why) => refuse(&link, Value::Null, -32700, why).await,
                Item::TooLarge(n) => {
                    let why = format!(
                        "message of {n} bytes is larger than the limit of {} MiB; the server skipped it",
                        MAX_BODY >> 20
                    );
                    refuse(&link, Value::Null, -32600, why).await
                }
            };
            match step {
                Step::Go => {}
                Step::Stop => break 'read,
            }
        }
        match input.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                if deframer.holds_partial_frame() {
                    tracing::warn!("the input ended in the middle of a message");
                }
                break;
            }
            Ok(n) => deframer.push(&chunk[..n]),
        }
    }
    // Dropping `to_server` ends the server's input: it stops as on EOF.
}

enum Step {
    Go,
    Stop,
}

async fn handle_body(
    body: Vec<u8>,
    deframer: &mut Deframer,
    to_server: &mut DuplexStream,
    link: &Link,
) -> Step {
    let message = match classify(&body) {
        Ok(message) => message,
        Err(Refused::NotJson(e)) => {
            // Probably cut out wrongly: look for the next frame from the body's start.
            deframer.reframe(body);
            let why = format!(
                "message body is not valid JSON ({e}); if its `Content-Length` was off, note that it counts bytes of the UTF-8 body, not characters. The server skipped to the next `Content-Length` header"
            );
            return refuse(link, Value::Null, -32700, why).await;
        }
        Err(Refused::Invalid { id, message }) => return refuse(link, id, -32600, message).await,
    };
    let state = link.state.load(Ordering::SeqCst);
    match message {
        Message::Response { id } => {
            if link.answer(&id, &body) {
                return Step::Go;
            }
        }
        Message::Request { id, method } => {
            let refusal = match state {
                UNINITIALIZED if method != "initialize" => Some((
                    -32002,
                    format!("the server is not initialized: send `initialize` before `{method}`"),
                )),
                SHUT_DOWN => Some((
                    -32600,
                    format!(
                        "the server is shutting down: after `shutdown` only `exit` is accepted, not `{method}`"
                    ),
                )),
                _ if method.starts_with("$/") => {
                    Some((-32601, format!("retrace-lsp does not implement `{method}`")))
                }
                _ => None,
            };
            if let Some((code, why)) = refusal {
                return refuse(link, id, code, why).await;
            }
            match method.as_str() {
                "initialize" => link.state.store(RUNNING, Ordering::SeqCst),
                "shutdown" => link.state.store(SHUT_DOWN, Ordering::SeqCst),
                _ => {}
            }
        }
        Message::Notification { method } if method == "exit" => {
            let ended = if state == SHUT_DOWN {
                EXITED_AFTER_SHUTDOWN
            } else {
                EXITED_WITHOUT_SHUTDOWN
            };
            link.state.store(ended, Ordering::SeqCst);
            let _ = forward(to_server, &body).await;
            return Step::Stop;
        }
        Message::Notification { method } if state != RUNNING => {
            tracing::debug!("dropped the notification `{method}`: the server is not running");
            return Step::Go;
        }
        Message::Notification { .. } => {}
    }
    match forward(to_server, &body).await {
        Ok(()) => Step::Go,
        Err(_) => Step::Stop,
    }
}

async fn forward(to_server: &mut DuplexStream, body: &[u8]) -> std::io::Result<()> {
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    to_server.write_all(header.as_bytes()).await?;
    to_server.write_all(body).await
}

/// Answers a message the server does not get, and goes on (or stops when the client is
/// gone).
async fn refuse(link: &Link, id: Value, code: i64, message: String) -> Step {
    tracing::warn!("refused a message: {message}");
    let reply = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    match link.queue.send(frame(&reply)).await {
        Ok(()) => Step::Go,
        Err(Closed) => Step::Stop,
    }
}

/// Server -> client, frame by frame into the queue.
async fn read_server(mut from_server: DuplexStream, queue: Queue) {
    let mut deframer = Deframer::unbounded();
    let mut chunk = vec![0; 1 << 16];
    loop {
        while let Some(item) = deframer.next_item() {
            match item {
                Item::Body(body) => {
                    let mut whole = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
                    whole.extend_from_slice(&body);
                    if queue.send(whole).await.is_err() {
                        return;
                    }
                }
                // The server's own output is well formed; nothing to do if not.
                Item::Broken(why) => tracing::error!("the server wrote a broken frame: {why}"),
                Item::TooLarge(n) => tracing::error!("the server wrote a frame of {n} bytes"),
            }
        }
        match from_server.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => deframer.push(&chunk[..n]),
        }
    }
}

/// One writer, so frames never interleave; a frame's budget is given back once written.
async fn write_client<O: AsyncWrite + Unpin>(
    mut output: O,
    mut outgoing: mpsc::Receiver<(Vec<u8>, OwnedSemaphorePermit)>,
) {
    while let Some((bytes, permit)) = outgoing.recv().await {
        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
            break;
        }
        drop(permit);
    }
}

fn frame(value: &Value) -> Vec<u8> {
    let body = value.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}
