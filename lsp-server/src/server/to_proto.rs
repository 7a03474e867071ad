//! The history's own types in LSP's terms, as rust-analyzer's `to_proto` does: the history
//! layer returns [`Target`]s and [`Outcome`]s, and only this module turns them into
//! `Location`s and `ShowDocumentParams`.

use serde::Serialize;
use serde_json::Value;
use tower_lsp_server::ls_types::{
    Location, Position, Range, ShowDocumentParams, TextDocumentContentChangeEvent, Uri,
};

use crate::anchor::{Pos, TextEdit};

use crate::history::{Outcome, Status, Target};
use crate::render::NodeView;

/// An LSP content change in the history's terms (from LSP, the one conversion that way).
pub fn text_edit(change: TextDocumentContentChangeEvent) -> TextEdit {
    let pos = |p: Position| Pos {
        line: p.line,
        character: p.character,
    };
    TextEdit {
        range: change.range.map(|r| (pos(r.start), pos(r.end))),
        text: change.text,
    }
}

pub fn location(target: &Target) -> Option<Location> {
    let uri: Uri = target.uri.parse().ok()?;
    let at = Position::new(target.line, target.character);
    Some(Location::new(uri, Range::new(at, at)))
}

/// Moves the editor to `location` and gives it the focus.
pub fn show_document(location: Location) -> ShowDocumentParams {
    ShowDocumentParams {
        uri: location.uri,
        external: Some(false),
        take_focus: Some(true),
        selection: Some(location.range),
    }
}

/// An [`Outcome`] as `workspace/executeCommand` returns it (PROTOCOL.md, "Outcome").
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutcomeProto<'a> {
    status: Status,
    message: &'a str,
    node: &'a Option<NodeView>,
    location: Option<Location>,
    #[serde(skip_serializing_if = "<[NodeView]>::is_empty")]
    choices: &'a [NodeView],
}

pub fn outcome(outcome: &Outcome) -> Value {
    let proto = OutcomeProto {
        status: outcome.status,
        message: &outcome.message,
        node: &outcome.node,
        location: outcome.target.as_ref().and_then(location),
        choices: &outcome.choices,
    };
    serde_json::to_value(proto).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_outcome_keeps_its_wire_shape() {
        let out = Outcome {
            status: Status::Moved,
            message: "src/a.rs:3".into(),
            node: None,
            target: Some(Target {
                uri: "file:///ws/src/a.rs".into(),
                line: 2,
                character: 4,
            }),
            choices: Vec::new(),
        };
        assert_eq!(
            outcome(&out),
            json!({"status": "moved", "message": "src/a.rs:3", "node": null,
                   "location": {"uri": "file:///ws/src/a.rs",
                                "range": {"start": {"line": 2, "character": 4},
                                          "end": {"line": 2, "character": 4}}}})
        );
    }
}
