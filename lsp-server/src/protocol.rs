//! The wire vocabulary of retrace-lsp beyond plain LSP: command names, their arguments,
//! the `retrace/visit` notification and the initialization options. Documented for client
//! authors in `lsp-server/PROTOCOL.md`; keep the two in step.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tree::ForwardPolicy;

pub const VISIT_NOTIFICATION: &str = "retrace/visit";
pub const TREE_CHANGED_NOTIFICATION: &str = "retrace/treeChanged";

pub const BACK: &str = "retrace.back";
pub const FORWARD: &str = "retrace.forward";
pub const JUMP: &str = "retrace.jump";
pub const TREE: &str = "retrace.tree";
pub const VISIT: &str = "retrace.visit";
pub const STATUS: &str = "retrace.status";

/// Every command, as advertised in `executeCommandProvider`.
pub const COMMANDS: [&str; 6] = [BACK, FORWARD, JUMP, TREE, VISIT, STATUS];

/// LSP's `RequestFailed`: the request was valid but could not be carried out.
pub const REQUEST_FAILED: i64 = -32803;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct InitOptions {
    /// Send `window/showDocument` after each move (when the client supports it).
    pub show_document: bool,
    /// What `retrace.forward` does at a branch when not told: ask, or take the latest.
    pub forward_policy: ForwardPolicy,
    pub record_outside_workspace: bool,
    /// The client sends `retrace/visit`; `didOpen` is then never a visit.
    pub sends_visits: bool,
    /// Send `retrace/treeChanged` after every change to the tree.
    pub notify_changes: bool,
    pub node_limit: Option<usize>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PositionArg {
    pub line: u32,
    pub character: u32,
}

/// `retrace/visit` params and `retrace.visit` argument.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VisitArgs {
    pub uri: String,
    pub position: PositionArg,
    /// `definition`, `reference`, `open`, `switch`, `jump`... (unknown names are `other`).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ForwardArgs {
    pub node: Option<i64>,
    pub policy: Option<ForwardPolicy>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JumpArgs {
    pub node: i64,
}

#[derive(Copy, Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TreeFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TreeArgs {
    #[serde(default)]
    pub format: TreeFormat,
}

/// Payload of `retrace/treeChanged`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeChanged {
    pub current: Option<i64>,
    pub nodes: usize,
}

/// Parses a command's single optional argument object, with an error a client author can
/// act on: which command, what was wrong, what shape was expected.
pub fn parse_args<T: DeserializeOwned + Default>(
    command: &str,
    arguments: &[Value],
    expected: &str,
) -> Result<T, String> {
    match arguments {
        [] | [Value::Null] => Ok(T::default()),
        [arg] => parse_arg(command, arg, expected),
        _ => Err(format!(
            "{command} takes one argument object, got {}; expected {expected}",
            arguments.len()
        )),
    }
}

/// Like [`parse_args`] for commands whose argument is required.
pub fn parse_required<T: DeserializeOwned>(
    command: &str,
    arguments: &[Value],
    expected: &str,
) -> Result<T, String> {
    match arguments {
        [arg] => parse_arg(command, arg, expected),
        _ => Err(format!(
            "{command} takes exactly one argument object, got {}; expected {expected}",
            arguments.len()
        )),
    }
}

pub fn parse_arg<T: DeserializeOwned>(
    command: &str,
    arg: &Value,
    expected: &str,
) -> Result<T, String> {
    serde_json::from_value(arg.clone())
        .map_err(|e| format!("invalid argument for {command}: {e}; expected {expected}"))
}

pub const VISIT_SHAPE: &str =
    r#"{"uri": "file:///...", "position": {"line": 0, "character": 0}, "reason": "definition"}"#;
pub const FORWARD_SHAPE: &str = r#"{} or {"node": ID} or {"policy": "latest"}"#;
pub const JUMP_SHAPE: &str = r#"{"node": ID}"#;
pub const TREE_SHAPE: &str = r#"{"format": "text"} or {"format": "json"}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_errors_name_the_command_and_the_expected_shape() {
        let err =
            parse_required::<JumpArgs>(JUMP, &[json!({"node": "three"})], JUMP_SHAPE).unwrap_err();
        assert!(
            err.starts_with("invalid argument for retrace.jump: invalid type"),
            "{err}"
        );
        assert!(err.ends_with(r#"expected {"node": ID}"#), "{err}");
        let err = parse_required::<JumpArgs>(JUMP, &[], JUMP_SHAPE).unwrap_err();
        assert!(err.contains("exactly one argument object, got 0"), "{err}");
        let err =
            parse_args::<ForwardArgs>(FORWARD, &[json!({"nod": 3})], FORWARD_SHAPE).unwrap_err();
        assert!(err.contains("unknown field `nod`"), "{err}");
    }

    #[test]
    fn optional_arguments_default() {
        let args: ForwardArgs = parse_args(FORWARD, &[], FORWARD_SHAPE).unwrap();
        assert_eq!(args, ForwardArgs::default());
        let args: ForwardArgs =
            parse_args(FORWARD, &[json!({"policy": "latest"})], FORWARD_SHAPE).unwrap();
        assert_eq!(args.policy, Some(ForwardPolicy::Latest));
        let args: TreeArgs = parse_args(TREE, &[json!({"format": "json"})], TREE_SHAPE).unwrap();
        assert_eq!(args.format, TreeFormat::Json);
    }

    #[test]
    fn init_options_are_lenient_about_what_they_do_not_know() {
        let opts: InitOptions =
            serde_json::from_value(json!({"showDocument": true, "somethingNew": 1})).unwrap();
        assert!(opts.show_document);
        assert_eq!(opts.forward_policy, ForwardPolicy::Ask);
    }
}
