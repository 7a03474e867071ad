//! How numbers, hashes and outcomes read on a terminal. Strings that come from users, files or
//! guests pass through [`terminal`](super::terminal) here.

use std::borrow::Cow;

use snaprun::codesnap::Change;
use snaprun::results::{Iteration, Status};
use snaprun::stats::Rate;

pub use super::terminal::line;

/// The first 12 characters of a hash (a hash read from a results file can be anything).
pub fn short(hash: &str) -> Cow<'_, str> {
    let end = hash.char_indices().nth(12).map_or(hash.len(), |(i, _)| i);
    line(&hash[..end])
}

pub fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `failure rate 4.5% (9/200), 95% CI 2.4% to 8.4%`
pub fn describe_rate(r: &Rate) -> String {
    format!(
        "failure rate {} ({}/{}), 95% CI {} to {}",
        pct(r.estimate),
        r.failures,
        r.trials,
        pct(r.low),
        pct(r.high)
    )
}

pub fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// ` exit 3` for a failure, ` signal 9` for a kill, else nothing.
pub fn describe_exit(it: &Iteration) -> String {
    match (it.exit_code, it.signal) {
        (Some(c), _) if it.status == Status::Fail => format!(" exit {c}"),
        (None, Some(s)) => format!(" signal {s}"),
        _ => String::new(),
    }
}

/// ` (detail)` or nothing.
pub fn describe_detail(it: &Iteration) -> String {
    it.detail
        .as_deref()
        .map(|d| format!(" ({})", line(d)))
        .unwrap_or_default()
}

/// `2 changed: src/a.c, +new.txt, -old.txt`, or `first snapshot`.
pub fn describe_changes(changed: &[Change]) -> String {
    if changed.is_empty() {
        return "first snapshot".into();
    }
    let shown: Vec<String> = changed
        .iter()
        .take(5)
        .map(|c| line(&c.to_string()).into_owned())
        .collect();
    let more = if changed.len() > 5 {
        format!(", and {} more", changed.len() - 5)
    } else {
        String::new()
    };
    format!("{} changed: {}{more}", changed.len(), shown.join(", "))
}
