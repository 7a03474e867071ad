//! The control protocol's messages: one JSON object per line (at most [`MAX_LINE`] bytes),
//! a request `{"id", "method", "params"}`, a response `{"id", "result"}` or
//! `{"id", "error": {"code", "message"}}`. Pure: no sockets here. Documented in
//! `lsp-server/PROTOCOL.md` ("Control socket").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::tree::NodeId;

/// Bumped when a request or a reply changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;
/// The longest line accepted, newline excluded; a longer one ends the connection.
pub const MAX_LINE: usize = 64 * 1024;

pub const HELLO: &str = "hello";
pub const STATUS: &str = "status";
pub const JUMP: &str = "jump";
pub const METHODS: [&str; 3] = [HELLO, STATUS, JUMP];

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The line is not JSON.
    ParseError,
    /// JSON, but not a request object with an `id` (number or string) and a `method`.
    InvalidRequest,
    /// A line longer than [`MAX_LINE`]: the connection is closed after this reply.
    LineTooLong,
    UnknownMethod,
    InvalidParams,
    /// `hello` from a client of another protocol version.
    UnsupportedVersion,
    /// No such node in this history: pruned, or of another workspace.
    NoSuchNode,
    /// The request named another workspace than the one this session serves.
    WrongWorkspace,
    /// The node's file was deleted: there is nothing to show.
    FileGone,
    /// The editor did not announce `window/showDocument` support.
    EditorCannotMove,
    /// The session has no history (not initialized yet, or its database cannot be used).
    HistoryUnavailable,
    /// Another user's connection, or the server is ending.
    Refused,
    /// Too many connections, or the session did not get to the request in time.
    Busy,
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> WireError {
        WireError {
            code,
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Opens a conversation: checks the protocol version; answers [`ServerStatus`].
    Hello {
        protocol: u32,
        client: Option<String>,
    },
    /// Answers [`ServerStatus`].
    Status,
    /// Moves the session's cursor to `node` (a jump) and its editor there; answers
    /// [`JumpReply`]. `workspace`, when given, must be the session's.
    Jump {
        node: NodeId,
        workspace: Option<PathBuf>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// A number or a string, echoed in the response.
    pub id: Value,
    pub method: Method,
}

#[derive(Deserialize)]
struct RawRequest {
    id: Option<Value>,
    method: Option<String>,
    #[serde(default)]
    params: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HelloParams {
    protocol: u32,
    #[serde(default)]
    client: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JumpParams {
    node: i64,
    #[serde(default)]
    workspace: Option<PathBuf>,
}

pub const HELLO_SHAPE: &str = r#"{"protocol": 1, "client": "retrace-desktop"}"#;
pub const JUMP_SHAPE: &str = r#"{"node": ID, "workspace": "/path/of/the/root"}"#;

/// Parses one line (without its newline). On error, the id to answer with (null when the
/// request's own could not be read) and why.
pub fn parse_request(line: &[u8]) -> Result<Request, (Value, WireError)> {
    let raw: Value = serde_json::from_slice(line).map_err(|e| {
        (
            Value::Null,
            WireError::new(
                ErrorCode::ParseError,
                format!("not JSON ({e}); send one JSON object per line"),
            ),
        )
    })?;
    let invalid = |id: Value, why: &str| {
        (
            id,
            WireError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "{why}; a request is {{\"id\": 1, \"method\": \"{JUMP}\", \"params\": {{...}}}}"
                ),
            ),
        )
    };
    let raw: RawRequest =
        serde_json::from_value(raw).map_err(|_| invalid(Value::Null, "not a JSON object"))?;
    let id = match raw.id {
        Some(id @ (Value::Number(_) | Value::String(_))) => id,
        _ => return Err(invalid(Value::Null, "`id` must be a number or a string")),
    };
    let Some(method) = raw.method else {
        return Err(invalid(id, "no `method`"));
    };
    let params = |shape: &'static str| {
        let id = id.clone();
        let method = method.clone();
        move |e: serde_json::Error| {
            (
                id,
                WireError::new(
                    ErrorCode::InvalidParams,
                    format!("invalid params for `{method}`: {e}; expected {shape}"),
                ),
            )
        }
    };
    let method = match method.as_str() {
        HELLO => {
            let p: HelloParams = serde_json::from_value(raw.params).map_err(params(HELLO_SHAPE))?;
            Method::Hello {
                protocol: p.protocol,
                client: p.client,
            }
        }
        STATUS => Method::Status,
        JUMP => {
            let p: JumpParams = serde_json::from_value(raw.params).map_err(params(JUMP_SHAPE))?;
            Method::Jump {
                node: NodeId(p.node),
                workspace: p.workspace,
            }
        }
        other => {
            return Err((
                id,
                WireError::new(
                    ErrorCode::UnknownMethod,
                    format!(
                        "unknown method `{}`; this server knows {}",
                        crate::safe_text::sanitize(other, 64),
                        METHODS.join(", ")
                    ),
                ),
            ));
        }
    };
    Ok(Request { id, method })
}

/// One response line, newline included.
pub fn response_line(id: &Value, result: Result<Value, WireError>) -> Vec<u8> {
    let message = match result {
        Ok(result) => json!({"id": id, "result": result}),
        Err(error) => json!({"id": id, "error": error}),
    };
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    line
}

/// A request line, newline included (for clients).
pub fn request_line(id: u64, method: &str, params: Value) -> Vec<u8> {
    let mut line = json!({"id": id, "method": method, "params": params})
        .to_string()
        .into_bytes();
    line.push(b'\n');
    line
}

/// A response as a client reads it.
#[derive(Clone, Debug, Deserialize)]
pub struct Response {
    pub id: Value,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<WireError>,
}

/// A node as the control protocol names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlNode {
    pub id: NodeId,
    pub uri: String,
    /// Relative to the workspace root when inside it.
    pub path: String,
    /// Zero-based, as LSP counts.
    pub line: u32,
    pub character: u32,
}

/// Which session a server serves, and where it is: the answer to `hello` and `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub protocol: u32,
    /// retrace-lsp's version.
    pub version: String,
    pub pid: u32,
    /// The session id, once the history is open.
    pub session: Option<String>,
    /// The editor's name (`clientInfo.name`).
    pub editor: String,
    pub workspace: Option<PathBuf>,
    pub database: Option<PathBuf>,
    /// The session's current node.
    pub node: Option<ControlNode>,
    /// Whether `jump` can move the editor; when not, `cannotMove` says why.
    pub can_move_editor: bool,
    pub cannot_move: Option<String>,
    /// Why the history cannot be used, when it cannot.
    pub history_problem: Option<String>,
}

/// The answer to `jump`: the session's cursor is on `node`, and `window/showDocument` was
/// sent to the editor; `answer` is what the editor said, if it said it quickly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JumpReply {
    pub node: ControlNode,
    pub editor: String,
    pub answer: EditorAnswer,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum EditorAnswer {
    /// The editor showed the place (`{"success": true}`).
    Shown,
    /// The editor answered `{"success": false}`.
    Declined,
    /// The editor answered with an error.
    Failed { message: String },
    /// No answer within `waitedMs`; the editor may still move.
    #[serde(rename_all = "camelCase")]
    NoAnswerYet { waited_ms: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: &str) -> (Value, ErrorCode, String) {
        let (id, e) = parse_request(line.as_bytes()).unwrap_err();
        (id, e.code, e.message)
    }

    #[test]
    fn requests_parse_into_methods() {
        let r = parse_request(br#"{"id": 7, "method": "jump", "params": {"node": 3}}"#).unwrap();
        assert_eq!(r.id, json!(7));
        assert_eq!(
            r.method,
            Method::Jump {
                node: NodeId(3),
                workspace: None
            }
        );
        let r = parse_request(br#"{"id": "a", "method": "status"}"#).unwrap();
        assert_eq!((r.id, r.method), (json!("a"), Method::Status));
        let r =
            parse_request(br#"{"id": 1, "method": "hello", "params": {"protocol": 1}}"#).unwrap();
        assert_eq!(
            r.method,
            Method::Hello {
                protocol: 1,
                client: None
            }
        );
    }

    #[test]
    fn bad_requests_get_the_code_that_names_what_is_wrong() {
        let (id, code, message) = error("jump 3");
        assert_eq!((id, code), (Value::Null, ErrorCode::ParseError));
        assert!(message.contains("one JSON object per line"), "{message}");
        assert_eq!(error("[1, 2]").1, ErrorCode::InvalidRequest);
        assert_eq!(
            error(r#"{"method": "status"}"#).1,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            error(r#"{"id": {}, "method": "status"}"#).1,
            ErrorCode::InvalidRequest
        );
        let (id, code, _) = error(r#"{"id": 4}"#);
        assert_eq!((id, code), (json!(4), ErrorCode::InvalidRequest));
        let (id, code, message) = error(r#"{"id": 5, "method": "rm -rf\u001b[2J"}"#);
        assert_eq!((id, code), (json!(5), ErrorCode::UnknownMethod));
        assert!(message.contains("`rm -rf[2J`") && message.contains("hello, status, jump"));
        let (_, code, message) = error(r#"{"id": 6, "method": "jump", "params": {"node": "x"}}"#);
        assert_eq!(code, ErrorCode::InvalidParams);
        assert!(message.contains(JUMP_SHAPE), "{message}");
        let (_, code, _) = error(r#"{"id": 6, "method": "jump", "params": {"nod": 1}}"#);
        assert_eq!(code, ErrorCode::InvalidParams);
    }

    #[test]
    fn replies_are_one_line_and_read_back() {
        let ok = response_line(&json!(1), Ok(json!({"a": 1})));
        let err = response_line(
            &json!("x"),
            Err(WireError::new(ErrorCode::NoSuchNode, "no node\n#9")),
        );
        for line in [&ok, &err] {
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            assert!(line.ends_with(b"\n"));
        }
        let back: Response = serde_json::from_slice(&err).unwrap();
        assert_eq!(back.error.unwrap().code, ErrorCode::NoSuchNode);
        let answer: EditorAnswer =
            serde_json::from_value(json!({"status": "no-answer-yet", "waitedMs": 5})).unwrap();
        assert_eq!(answer, EditorAnswer::NoAnswerYet { waited_ms: 5 });
    }
}
