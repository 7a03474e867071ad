//! Sorts a message body into what the server can decode (a request, a notification, a
//! response) and what gets an error reply instead, without building more than a bounded
//! JSON tree: a body of more than [`MAX_VALUES`] values is refused before it is parsed.

use serde::de::IgnoredAny;
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Request, Response};

/// The most JSON values (numbers, strings, arrays, objects...) one message may hold. A
/// real client's largest (`initialize`, a rename of many files) holds a few thousand; a
/// parsed value takes tens of bytes whatever its text took.
pub const MAX_VALUES: usize = 100_000;

/// A message the server can take.
#[derive(Debug, PartialEq)]
pub enum Message {
    Request { id: Value, method: String },
    Notification { method: String },
    Response { id: Value },
}

/// A body the server cannot take, and why.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// Not JSON at all (perhaps cut out of the stream wrongly).
    NotJson(String),
    /// JSON, but not a JSON-RPC message the server can take; `id` when one could be read.
    Invalid { id: Value, message: String },
}

pub fn classify(body: &[u8]) -> Result<Message, Refused> {
    let values = count_values(body);
    if values > MAX_VALUES {
        return Err(Refused::Invalid {
            id: top_level_id(body),
            message: format!(
                "message holds more than {MAX_VALUES} JSON values ({values}); the server ignored it"
            ),
        });
    }
    // The syntax first, without building anything.
    serde_json::from_slice::<IgnoredAny>(body).map_err(|e| Refused::NotJson(e.to_string()))?;
    // As tower-lsp-server decodes: a response, else a request or notification.
    if let Ok(response) = serde_json::from_slice::<Response>(body) {
        let (id, _) = response.into_parts();
        return Ok(Message::Response {
            id: serde_json::to_value(id).unwrap_or(Value::Null),
        });
    }
    if let Ok(request) = serde_json::from_slice::<Request>(body) {
        let (method, id, _) = request.into_parts();
        let method = method.into_owned();
        return Ok(match id {
            Some(id) => Message::Request {
                id: serde_json::to_value(id).unwrap_or(Value::Null),
                method,
            },
            None => Message::Notification { method },
        });
    }
    Err(Refused::Invalid {
        id: top_level_id(body),
        message: "message is JSON but not a JSON-RPC 2.0 request, notification or response (it needs \"jsonrpc\": \"2.0\" and a \"method\" or a \"result\"/\"error\"); the server ignored it".into(),
    })
}

/// About how many values a JSON text holds: its commas and opening brackets outside
/// strings, plus one. Linear, allocates nothing, never recurses.
fn count_values(body: &[u8]) -> usize {
    let mut count = 1;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => count += 1,
            _ => {}
        }
    }
    count
}

/// The `id` of a message's top-level object when it is a number or a short string, read
/// without parsing the rest (for the error reply to a message that is refused whole).
fn top_level_id(body: &[u8]) -> Value {
    let mut depth = 0usize;
    let mut i = 0;
    // The last string seen at depth 1, and whether it was followed by `:` (a key).
    let mut key: Option<(usize, usize)> = None;
    while i < body.len() {
        match body[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 {
                    key = Some((start, (i + 1).min(body.len())));
                }
            }
            b':' if depth == 1 && key.is_some_and(|(s, e)| &body[s..e] == b"\"id\"") => {
                return id_value(&body[i + 1..]);
            }
            b',' => key = None,
            _ => {}
        }
        i += 1;
    }
    Value::Null
}

/// A number or a string of at most 256 bytes at the start of `rest`, else null.
fn id_value(rest: &[u8]) -> Value {
    let rest = rest.trim_ascii_start();
    let end = match rest.first() {
        Some(b'"') => rest[1..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
            .filter(|&n| rest[1 + n] == b'"')
            .map(|n| n + 2),
        Some(b) if b.is_ascii_digit() || *b == b'-' => Some(
            rest.iter()
                .position(|b| !(b.is_ascii_digit() || *b == b'-'))
                .unwrap_or(rest.len()),
        ),
        _ => None,
    };
    end.filter(|&n| n <= 256)
        .and_then(|n| serde_json::from_slice::<Value>(&rest[..n]).ok())
        .filter(|v| v.is_number() || v.is_string())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_sorted_as_the_server_decodes_them() {
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#),
            Ok(Message::Request {
                id: json!(1),
                method: "shutdown".into()
            })
        );
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","method":"exit"}"#),
            Ok(Message::Notification {
                method: "exit".into()
            })
        );
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":"retrace:1","result":null}"#),
            Ok(Message::Response {
                id: json!("retrace:1")
            })
        );
        assert!(matches!(classify(b"{nope"), Err(Refused::NotJson(_))));
        assert!(matches!(classify(b"{} x"), Err(Refused::NotJson(_))));
        assert_eq!(
            classify(br#"{"id": 7, "hello": 1}"#),
            Err(Refused::Invalid {
                id: json!(7),
                message: classify(br#"{"hello": 1}"#)
                    .err()
                    .map(|r| match r {
                        Refused::Invalid { message, .. } => message,
                        Refused::NotJson(m) => m,
                    })
                    .unwrap_or_default()
            })
        );
    }

    #[test]
    fn a_body_of_too_many_values_is_refused_unparsed_with_its_id() {
        let zeros = vec!["0"; MAX_VALUES + 1].join(",");
        let body = format!(
            r#"{{"jsonrpc":"2.0","method":"workspace/executeCommand","params":{{"command":"retrace.status","arguments":[{zeros}]}},"id":42}}"#
        );
        let Err(Refused::Invalid { id, message }) = classify(body.as_bytes()) else {
            panic!("refused")
        };
        assert_eq!(id, json!(42));
        assert!(
            message.contains("more than 100000 JSON values"),
            "{message}"
        );
        // Values inside strings do not count.
        let text = format!(r#"{{"jsonrpc":"2.0","method":"x","params":["{zeros}"]}}"#);
        assert!(classify(text.as_bytes()).is_ok());
    }

    #[test]
    fn the_id_is_read_only_at_the_top_level() {
        assert_eq!(
            top_level_id(br#"{"params":{"id":1},"id":"a\"b"}"#),
            Value::Null
        );
        assert_eq!(
            top_level_id(br#"{"params":{"id":1},"id":"ab"}"#),
            json!("ab")
        );
        assert_eq!(
            top_level_id(br#"{"params":[1,{"id":1}], "id" : -3}"#),
            json!(-3)
        );
        assert_eq!(top_level_id(br#"{"id":[1]}"#), Value::Null);
        assert_eq!(top_level_id(br#"["id", 1]"#), Value::Null);
        assert_eq!(top_level_id(br#"{"x":"id","id":5"#), json!(5));
    }
}
