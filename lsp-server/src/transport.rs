//! A guard on the stdio stream: malformed messages get a JSON-RPC error reply, and the
//! server keeps running.
//!
//! tower-lsp-server stops reading its input at the first message it cannot decode (the
//! framed reader ends after an error). So every frame is checked here first: a body that is
//! not JSON gets a parse error (-32700, id null), JSON that is not a JSON-RPC message gets
//! an invalid request error (-32600), a bad header gets a parse error, and only good frames
//! reach the server. Replies are interleaved with the server's output whole frame by whole
//! frame, through one writer.

use serde_json::{Value, json};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
    DuplexStream,
};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// Largest body accepted; beyond it the frame is refused (and skipped) as invalid.
const MAX_BODY: usize = 64 << 20;

/// Puts the guard between `input`/`output` and the server: returns the streams the server
/// reads from and writes to.
pub fn guard<I, O>(input: I, output: O) -> (DuplexStream, DuplexStream)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (server_in, mut to_server) = tokio::io::duplex(1 << 16);
    let (from_server, server_out) = tokio::io::duplex(1 << 16);
    let (frames, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();

    // Client -> server, checked.
    let errors = frames.clone();
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        loop {
            match read_frame(&mut input).await {
                Ok(Some(body)) => match check(&body) {
                    Ok(()) => {
                        let header = format!("Content-Length: {}\r\n\r\n", body.len());
                        if to_server.write_all(header.as_bytes()).await.is_err()
                            || to_server.write_all(&body).await.is_err()
                        {
                            break;
                        }
                    }
                    Err(reply) => {
                        tracing::warn!("refused a malformed message: {reply}");
                        let _ = errors.send(frame(&reply));
                    }
                },
                Ok(None) => break,
                Err(FrameError::Header(why)) => {
                    tracing::warn!("refused a malformed header: {why}");
                    let _ = errors.send(frame(&error_reply(
                        Value::Null,
                        -32700,
                        &format!("malformed message header: {why}; each message needs a `Content-Length: N` header, a blank line, then N bytes of JSON"),
                    )));
                }
                Err(FrameError::Io) => break,
            }
        }
        // Dropping `to_server` ends the server's input: it shuts down as on EOF.
    });

    // Server -> client, frame by frame.
    tokio::spawn(async move {
        let mut from_server = BufReader::new(from_server);
        while let Ok(Some(body)) = read_frame(&mut from_server).await {
            let mut whole = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            whole.extend_from_slice(&body);
            if frames.send(whole).is_err() {
                break;
            }
        }
    });

    // One writer, so replies and server messages never interleave mid-frame.
    tokio::spawn(async move {
        let mut output = output;
        while let Some(bytes) = outgoing.recv().await {
            if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });

    (server_in, server_out)
}

enum FrameError {
    Header(String),
    Io,
}

/// Reads one `Content-Length` framed body; `Ok(None)` at a clean end of input.
async fn read_frame<R: AsyncBufRead + Unpin>(input: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut length: Option<usize> = None;
    let mut bad: Option<String> = None;
    let mut line = String::new();
    let mut saw_any = false;
    loop {
        line.clear();
        let n = input
            .read_line(&mut line)
            .await
            .map_err(|_| FrameError::Io)?;
        if n == 0 {
            return if saw_any {
                Err(FrameError::Io)
            } else {
                Ok(None)
            };
        }
        saw_any = true;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        match trimmed.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(v) if v <= MAX_BODY => length = Some(v),
                    _ => bad = Some(format!("bad Content-Length `{}`", value.trim())),
                }
            }
            Some(_) => {} // Content-Type and other headers are allowed and ignored
            None => bad = Some(format!("`{trimmed}` is not a header line")),
        }
    }
    if let Some(why) = bad {
        return Err(FrameError::Header(why));
    }
    let Some(length) = length else {
        return Err(FrameError::Header("no Content-Length".into()));
    };
    let mut body = vec![0; length];
    input
        .read_exact(&mut body)
        .await
        .map_err(|_| FrameError::Io)?;
    Ok(Some(body))
}

/// Whether the server can decode this body; if not, the error reply to send instead.
fn check(body: &[u8]) -> Result<(), Value> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        error_reply(
            Value::Null,
            -32700,
            &format!("message is not valid JSON ({e}); the server ignored it"),
        )
    })?;
    if serde_json::from_value::<Request>(value.clone()).is_ok()
        || serde_json::from_value::<Response>(value.clone()).is_ok()
    {
        return Ok(());
    }
    let id = value
        .get("id")
        .filter(|id| id.is_number() || id.is_string())
        .cloned()
        .unwrap_or(Value::Null);
    Err(error_reply(
        id,
        -32600,
        "message is JSON but not a JSON-RPC 2.0 request, notification or response (it needs \"jsonrpc\": \"2.0\" and a \"method\" or a \"result\"/\"error\"); the server ignored it",
    ))
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn frame(value: &Value) -> Vec<u8> {
    let body = value.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_sorted_into_good_and_refused() {
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","method":"exit"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"result":null}"#).is_ok());
        let e = check(b"{nope").unwrap_err();
        assert_eq!(e["error"]["code"], -32700);
        assert_eq!(e["id"], Value::Null);
        let e = check(br#"{"id": 7, "hello": 1}"#).unwrap_err();
        assert_eq!(e["error"]["code"], -32600);
        assert_eq!(e["id"], 7);
    }

    #[tokio::test]
    async fn frames_are_read_and_bad_headers_named() {
        let mut input: &[u8] =
            b"Content-Length: 2\r\nContent-Type: x\r\n\r\n{}Content-Length: x\r\n\r\n";
        let mut input = BufReader::new(&mut input);
        assert_eq!(
            read_frame(&mut input).await.ok().flatten(),
            Some(b"{}".to_vec())
        );
        match read_frame(&mut input).await {
            Err(FrameError::Header(why)) => assert_eq!(why, "bad Content-Length `x`"),
            _ => panic!("expected a header error"),
        }
        assert!(matches!(read_frame(&mut input).await, Ok(None)));
    }
}
