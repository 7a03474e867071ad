//! The server's side of the control socket: what `hello`, `status` and `jump` do to this
//! session. A request enters the owner's job queue like the editor's messages (so a jump
//! is one transaction, ordered with them); the connection's thread waits for the owner's
//! answer, then, for a jump, briefly for the editor's answer to `window/showDocument`.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::owner::Job;
use crate::control::{ControlNode, EditorAnswer, ErrorCode, Handler, JumpReply, Method, WireError};
use crate::render::NodeView;

/// How long a request waits for the owner to get to it (it may be in a long write).
const OWNER_WAIT: Duration = Duration::from_secs(5);
/// How long a jump waits for the editor to answer `window/showDocument`.
const SHOW_WAIT: Duration = Duration::from_secs(1);

/// What the owner answers a control request with.
pub(super) enum ControlAnswer {
    Done(Result<Value, WireError>),
    /// The cursor moved and `window/showDocument` was sent; the editor's answer comes on
    /// `shown`.
    Jumped {
        reply: JumpReply,
        shown: mpsc::Receiver<EditorAnswer>,
    },
}

/// The listener's handler: hands each request to the owner and waits for its answer.
pub(super) fn handler(jobs: mpsc::Sender<Job>) -> Handler {
    Arc::new(move |method: Method| {
        let ending = || WireError::new(ErrorCode::Refused, "the language server is ending");
        let (reply, answer) = mpsc::channel();
        jobs.send(Job::Control { method, reply })
            .map_err(|_| ending())?;
        match answer.recv_timeout(OWNER_WAIT) {
            Ok(ControlAnswer::Done(result)) => result,
            Ok(ControlAnswer::Jumped { mut reply, shown }) => {
                let started = Instant::now();
                reply.answer = shown
                    .recv_timeout(SHOW_WAIT)
                    .unwrap_or(EditorAnswer::NoAnswerYet {
                        waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
                    });
                Ok(json!(reply))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(WireError::new(
                ErrorCode::Busy,
                format!(
                    "the session did not get to the request within {}s (it is busy); try again",
                    OWNER_WAIT.as_secs()
                ),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ending()),
        }
    })
}

pub(super) fn control_node(view: &NodeView) -> ControlNode {
    ControlNode {
        id: view.id,
        uri: view.uri.clone(),
        path: view.path.clone(),
        line: view.line,
        character: view.character,
    }
}

/// Whether a root a client names is this session's (spelled differently, or through a
/// link, it is still the same directory).
pub(super) fn same_root(asked: &Path, ours: &Path) -> bool {
    asked == ours
        || match (asked.canonicalize(), ours.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}
