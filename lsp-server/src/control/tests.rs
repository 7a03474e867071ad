//! The listener and the client together, over a real socket, with a handler in place of
//! the LSP server.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::tree::NodeId;

fn status() -> ServerStatus {
    ServerStatus {
        protocol: wire::PROTOCOL_VERSION,
        version: "test".into(),
        pid: std::process::id(),
        session: Some("s".into()),
        editor: "Neovim".into(),
        workspace: Some("/ws".into()),
        database: None,
        node: None,
        can_move_editor: true,
        cannot_move: None,
        history_problem: None,
    }
}

fn node(id: i64) -> ControlNode {
    ControlNode {
        id: NodeId(id),
        uri: format!("file:///ws/{id}.rs"),
        path: format!("{id}.rs"),
        line: 0,
        character: 0,
    }
}

/// A handler that jumps to nodes below 100, and cannot move the editor to 100 and above.
fn listener(dir: &std::path::Path) -> Listener {
    let handler: Handler = Arc::new(|method| match method {
        Method::Hello { .. } | Method::Status => Ok(json!(status())),
        Method::Jump { node: n, .. } if n.0 < 100 => Ok(json!(JumpReply {
            node: node(n.0),
            editor: "Neovim".into(),
            answer: EditorAnswer::Shown,
        })),
        Method::Jump { .. } => Err(WireError::new(
            ErrorCode::EditorCannotMove,
            "the editor did not announce window/showDocument support",
        )),
    });
    Listener::start(dir, handler).unwrap()
}

fn raw(path: &std::path::Path) -> (UnixStream, BufReader<UnixStream>) {
    let stream = UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

fn reply(reader: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

#[test]
fn the_client_jumps_and_typed_errors_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let l = listener(dir.path());
    let mut client = Client::connect(l.path(), client::DEFAULT_TIMEOUT).unwrap();
    assert_eq!(client.status().unwrap().editor, "Neovim");
    let jumped = client.jump(NodeId(7), Some("/ws".as_ref())).unwrap();
    assert_eq!(
        (jumped.node.id, jumped.answer),
        (NodeId(7), EditorAnswer::Shown)
    );
    let err = client.jump(NodeId(100), None).unwrap_err();
    assert!(
        matches!(err, ControlError::EditorCannotMove { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("showDocument"), "{err}");
    // The free function: one connection per call.
    let jumped = jump(l.path(), "/ws".as_ref(), NodeId(8)).unwrap();
    assert_eq!(jumped.node.id, NodeId(8));
}

#[test]
fn bad_input_gets_an_error_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let l = listener(dir.path());
    let (mut w, mut r) = raw(l.path());
    w.write_all(b"garbage\n\n{\"id\": 1, \"method\": \"reboot\"}\n")
        .unwrap();
    assert_eq!(reply(&mut r)["error"]["code"], "parse-error");
    assert_eq!(reply(&mut r)["error"]["code"], "unknown-method");
    w.write_all(b"{\"id\": 2, \"method\": \"jump\", \"params\": {\"node\": 3}}\n")
        .unwrap();
    let ok = reply(&mut r);
    assert_eq!(
        (ok["id"].clone(), ok["result"]["node"]["id"].clone()),
        (json!(2), json!(3))
    );
}

#[test]
fn a_line_past_the_bound_is_answered_then_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let l = listener(dir.path());
    let (mut w, mut r) = raw(l.path());
    // Far more than the bound, as a client that never ends its line would send.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            if w.write_all(&chunk).is_err() {
                return true;
            }
        }
        false
    });
    assert_eq!(reply(&mut r)["error"]["code"], "line-too-long");
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap_or(0), 0, "closed");
    assert!(
        writer.join().unwrap(),
        "the server stopped reading the 100 MB line"
    );
    // And it still serves others.
    let mut client = Client::connect(l.path(), client::DEFAULT_TIMEOUT).unwrap();
    assert!(client.status().is_ok());
}

#[test]
fn a_client_that_never_reads_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let l = listener(dir.path());
    let (mut w, _never_read) = raw(l.path());
    w.set_nonblocking(true).unwrap();
    let request = b"{\"id\": 1, \"method\": \"status\"}\n".repeat(1000);
    for _ in 0..200 {
        let _ = w.write(&request);
    }
    let mut client = Client::connect(l.path(), client::DEFAULT_TIMEOUT).unwrap();
    assert_eq!(client.jump(NodeId(1), None).unwrap().node.id, NodeId(1));
}

#[test]
fn no_socket_means_no_such_session_and_dropping_the_listener_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let l = listener(dir.path());
    let path = l.path().to_owned();
    drop(l);
    assert!(!path.exists());
    let err = Client::connect(&path, client::DEFAULT_TIMEOUT)
        .err()
        .unwrap();
    assert!(matches!(err, ControlError::NoSuchSession { .. }), "{err}");
}
