//! The server side of a control socket: an accept thread, and one thread per connection
//! (a few at most), each reading bounded lines and answering them through a handler. Bad
//! input gets an error reply; a line past the bound, another user, a client that sends
//! nothing or never reads its replies is cut off. None of it can stop the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use super::ControlError;
use super::socket::{bind, effective_uid, peer_uid};
use super::wire::{ErrorCode, MAX_LINE, Method, WireError, parse_request, response_line};

/// Answers one request (on the connection's thread; it may block).
pub type Handler = Arc<dyn Fn(Method) -> Result<Value, WireError> + Send + Sync>;

/// Connections served at once; more are told the server is busy.
const MAX_CONNECTIONS: usize = 8;
/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A reply that cannot be written for this long (the client does not read) ends the
/// connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound control socket; dropping it stops accepting and removes the socket file.
pub struct Listener {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds this process's socket in `dir` (see [`super::socket::bind`]) and serves it.
    pub fn start(dir: &Path, handler: Handler) -> Result<Listener, ControlError> {
        let (listener, path) = bind(dir)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("control-accept".into())
            .spawn({
                let stop = stop.clone();
                move || accept_loop(&listener, &stop, &handler)
            })
            .map_err(|e| ControlError::Io {
                socket: path.clone(),
                source: e,
            })?;
        Ok(Listener {
            path,
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread with a connection of our own.
        let _ = UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: &UnixListener, stop: &AtomicBool, handler: &Handler) {
    let open = Arc::new(AtomicUsize::new(0));
    let uid = effective_uid();
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        match peer_uid(&stream) {
            Ok(peer) if peer == uid => {}
            Ok(peer) => {
                tracing::warn!("control socket: refused a connection from uid {peer}");
                refuse(
                    &mut stream,
                    ErrorCode::Refused,
                    format!("this session belongs to uid {uid}; uid {peer} may not control it"),
                );
                continue;
            }
            Err(e) => {
                refuse(
                    &mut stream,
                    ErrorCode::Refused,
                    format!("cannot tell who is connecting ({e})"),
                );
                continue;
            }
        }
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            refuse(
                &mut stream,
                ErrorCode::Busy,
                format!("{MAX_CONNECTIONS} connections are open already; try again shortly"),
            );
            continue;
        }
        let handler = handler.clone();
        let done = open.clone();
        let spawned = std::thread::Builder::new()
            .name("control-connection".into())
            .spawn(move || {
                serve(stream, &handler);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn refuse(stream: &mut UnixStream, code: ErrorCode, message: String) {
    let _ = stream.write_all(&response_line(
        &Value::Null,
        Err(WireError::new(code, message)),
    ));
}

/// Serves one connection until the client closes it, goes quiet, or breaks the rules.
fn serve(stream: UnixStream, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut input = BufReader::new(read_half);
    let mut output = stream;
    loop {
        let line = match read_line(&mut input) {
            Ok(Some(line)) => line,
            Ok(None) | Err(LineError::Io) => return,
            Err(LineError::TooLong) => {
                let reply = response_line(
                    &Value::Null,
                    Err(WireError::new(
                        ErrorCode::LineTooLong,
                        format!(
                            "a request line is at most {MAX_LINE} bytes; closing this connection"
                        ),
                    )),
                );
                let _ = output.write_all(&reply);
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let reply = match parse_request(&line) {
            Ok(request) => response_line(&request.id, handler(request.method)),
            Err((id, error)) => response_line(&id, Err(error)),
        };
        if output.write_all(&reply).is_err() {
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum LineError {
    TooLong,
    Io,
}

/// Reads one line of at most [`MAX_LINE`] bytes (newline and a `\r` before it removed);
/// `None` at the end of the stream.
pub(super) fn read_line(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    // The line, and room for its `\r\n`.
    let limit = MAX_LINE as u64 + 2;
    let n = input
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|_| LineError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_up_to_the_bound_and_no_further() {
        let mut exact = vec![b'x'; MAX_LINE];
        exact.extend_from_slice(b"\r\nnext\nlast");
        let mut input = BufReader::new(exact.as_slice());
        assert_eq!(read_line(&mut input).unwrap().unwrap().len(), MAX_LINE);
        assert_eq!(read_line(&mut input).unwrap().unwrap(), b"next");
        assert_eq!(read_line(&mut input).unwrap().unwrap(), b"last");
        assert_eq!(read_line(&mut input).unwrap(), None);

        let long = vec![b'x'; MAX_LINE + 2];
        let mut input = BufReader::new(long.as_slice());
        assert_eq!(read_line(&mut input), Err(LineError::TooLong));
    }
}
