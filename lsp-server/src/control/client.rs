//! A blocking client of a control socket, for the desktop app: plain `std` sockets and
//! timeouts, no async runtime.

use std::io::{BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ControlError;
use super::listener::{LineError, read_line};
use super::wire::{
    ErrorCode, HELLO, JUMP, JumpReply, PROTOCOL_VERSION, Response, STATUS, ServerStatus,
    request_line,
};
use crate::tree::NodeId;

/// How long a call waits for its reply by default: longer than the server takes to reach
/// its history and hear back from the editor.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    socket: PathBuf,
    output: UnixStream,
    input: BufReader<UnixStream>,
    timeout: Duration,
    next_id: u64,
}

impl Client {
    /// Connects to the session's socket (see `SessionView::socket`) and says `hello`.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Client, ControlError> {
        let stream = UnixStream::connect(socket).map_err(|e| connect_error(socket, e))?;
        let io = |e| ControlError::Io {
            socket: socket.to_owned(),
            source: e,
        };
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let input = BufReader::new(stream.try_clone().map_err(io)?);
        let mut client = Client {
            socket: socket.to_owned(),
            output: stream,
            input,
            timeout,
            next_id: 0,
        };
        client.hello()?;
        Ok(client)
    }

    /// Checks the protocol version; says which session this is.
    pub fn hello(&mut self) -> Result<ServerStatus, ControlError> {
        self.call(
            HELLO,
            json!({"protocol": PROTOCOL_VERSION, "client": "retrace_lsp::control::Client"}),
        )
    }

    pub fn status(&mut self) -> Result<ServerStatus, ControlError> {
        self.call(STATUS, json!({}))
    }

    /// Jumps the session to `node` and moves its editor there. `workspace` (the root the
    /// node was read from) lets the server refuse a node of another workspace.
    pub fn jump(
        &mut self,
        node: NodeId,
        workspace: Option<&Path>,
    ) -> Result<JumpReply, ControlError> {
        let mut params = json!({"node": node.0});
        if let Some(root) = workspace {
            params["workspace"] = json!(root);
        }
        self.call(JUMP, params)
    }

    fn call<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<T, ControlError> {
        self.next_id += 1;
        let id = self.next_id;
        self.output
            .write_all(&request_line(id, method, params))
            .map_err(|e| self.io_error(e))?;
        let line = match read_line(&mut self.input) {
            Ok(Some(line)) => line,
            Ok(None) => {
                return Err(ControlError::Refused {
                    socket: self.socket.clone(),
                    reason: "it closed the connection without an answer".into(),
                });
            }
            Err(LineError::TooLong) => return Err(self.protocol("an answer over the line limit")),
            Err(LineError::Io) => {
                return Err(ControlError::Timeout {
                    socket: self.socket.clone(),
                    after: self.timeout,
                });
            }
        };
        let response: Response = serde_json::from_slice(&line)
            .map_err(|e| self.protocol(&format!("an answer that is not a response: {e}")))?;
        if let Some(error) = response.error {
            return Err(match error.code {
                ErrorCode::EditorCannotMove => ControlError::EditorCannotMove {
                    reason: error.message,
                },
                ErrorCode::Refused => ControlError::Refused {
                    socket: self.socket.clone(),
                    reason: error.message,
                },
                code => ControlError::Server {
                    code,
                    message: error.message,
                },
            });
        }
        if response.id != json!(id) {
            return Err(self.protocol(&format!("the answer to request {} for {id}", response.id)));
        }
        serde_json::from_value(response.result.unwrap_or(Value::Null))
            .map_err(|e| self.protocol(&format!("an answer to `{method}` of another shape: {e}")))
    }

    fn io_error(&self, e: std::io::Error) -> ControlError {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => ControlError::Timeout {
                socket: self.socket.clone(),
                after: self.timeout,
            },
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => ControlError::Refused {
                socket: self.socket.clone(),
                reason: "it closed the connection".into(),
            },
            _ => ControlError::Io {
                socket: self.socket.clone(),
                source: e,
            },
        }
    }

    fn protocol(&self, detail: &str) -> ControlError {
        ControlError::Protocol {
            socket: self.socket.clone(),
            detail: detail.to_owned(),
        }
    }
}

fn connect_error(socket: &Path, e: std::io::Error) -> ControlError {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => ControlError::NoSuchSession {
            socket: socket.to_owned(),
        },
        ErrorKind::PermissionDenied => ControlError::Refused {
            socket: socket.to_owned(),
            reason: "permission denied: it belongs to another user".into(),
        },
        _ => ControlError::Io {
            socket: socket.to_owned(),
            source: e,
        },
    }
}

/// Jumps the session listening at `socket` to `node` of `workspace` and moves its editor
/// there: one connection, `hello`, `jump`.
pub fn jump(socket: &Path, workspace: &Path, node: NodeId) -> Result<JumpReply, ControlError> {
    Client::connect(socket, DEFAULT_TIMEOUT)?.jump(node, Some(workspace))
}

/// Which session listens at `socket`, its editor and where its cursor is.
pub fn status(socket: &Path) -> Result<ServerStatus, ControlError> {
    Client::connect(socket, DEFAULT_TIMEOUT)?.status()
}
