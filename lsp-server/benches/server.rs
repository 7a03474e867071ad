//! The server as an editor meets it, over stdio, with the release binary:
//! - executeCommand round trip (target < 1 ms median, < 5 ms p99);
//! - start to `initialize` reply with a 100k-node history (target < 100 ms);
//! - resident memory with 1M nodes loaded (target < 300 MB);
//! - `didChange` inserting or deleting a line above 1,000 nodes of a 10,000-line file, the
//!   whole server-side handling (framing, JSON, the owner's job, any write): batches of
//!   notifications ended by a request, less that request's own round trip (target < 100 µs).
//!
//! Prints its numbers; run with `cargo bench -p retrace-lsp --bench server`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: i64,
}

impl Server {
    /// Starts the server and returns it with the time to the `initialize` reply.
    fn start(db: &Path, node_limit: usize) -> (Server, Duration) {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_retrace-lsp"))
            .args(["--stdio", "--db"])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn retrace-lsp");
        let mut server = Server {
            input: child.stdin.take().unwrap(),
            output: BufReader::new(child.stdout.take().unwrap()),
            child,
            next_id: 0,
        };
        server.request(
            "initialize",
            json!({"capabilities": {}, "rootUri": format!("file://{}", common::WORKSPACE),
                   "initializationOptions": {"nodeLimit": node_limit}}),
        );
        let ready = started.elapsed();
        server.notify("initialized", json!({}));
        (server, ready)
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.input.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.read();
            if m.get("id") == Some(&json!(id)) && m.get("method").is_none() {
                assert!(m.get("error").is_none(), "{m}");
                return m["result"].clone();
            }
        }
    }

    fn command(&mut self, name: &str, args: Value) -> Value {
        self.request(
            "workspace/executeCommand",
            json!({"command": name, "arguments": [args]}),
        )
    }

    fn read(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.output.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.output.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<46} median {:>9.3?}  p90 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}  (n={})",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples.last().unwrap(),
        samples.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one part.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let dir = tempfile::tempdir().unwrap();

    let db100k = dir.path().join("100k.sqlite3");
    let built = Instant::now();
    common::build(&db100k, 100_000);
    println!("built a 100k-node history in {:.1?}", built.elapsed());

    if wants("startup") {
        let mut init = Vec::new();
        let mut loaded = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            let (mut s, ready) = Server::start(&db100k, 1_000_000);
            init.push(ready);
            s.command("retrace.status", json!({}));
            loaded.push(start.elapsed());
            s.stop();
        }
        report("start -> initialize reply (100k nodes)", init);
        report("start -> first command answered (100k loaded)", loaded);
    }

    if wants("roundtrip") {
        let (mut s, _) = Server::start(&db100k, 1_000_000);
        s.command("retrace.status", json!({}));
        let mut moves = Vec::new();
        let mut status = Vec::new();
        for i in 0..3000 {
            let t = Instant::now();
            let out = if i % 2 == 0 {
                s.command("retrace.back", json!({}))
            } else {
                s.command("retrace.forward", json!({"policy": "latest"}))
            };
            moves.push(t.elapsed());
            assert_eq!(out["status"], "moved");
            let t = Instant::now();
            s.command("retrace.status", json!({}));
            status.push(t.elapsed());
        }
        let mut visits = Vec::new();
        for i in 0..2000u64 {
            let p = common::place(10_000_000 + i);
            let t = Instant::now();
            s.command(
                "retrace.visit",
                json!({"uri": p.uri, "position": {"line": p.line, "character": 0}, "reason": "definition"}),
            );
            visits.push(t.elapsed());
        }
        report("executeCommand back/forward (100k, committed)", moves);
        report("executeCommand visit (100k, committed)", visits);
        report("executeCommand status (100k)", status);
        s.stop();
    }

    if wants("didchange") {
        did_change(&db100k);
    }

    if wants("memory") {
        let db1m = dir.path().join("1m.sqlite3");
        let built = Instant::now();
        common::build(&db1m, 1_000_000);
        println!("built a 1M-node history in {:.1?}", built.elapsed());
        let (mut s, ready) = Server::start(&db1m, 2_000_000);
        let t = Instant::now();
        let status = s.command("retrace.status", json!({}));
        assert_eq!(status["nodes"], 1_000_000);
        println!(
            "1M nodes: initialize reply {:.1?}, loaded in {:.1?}, RSS {} MiB (peak {} MiB)",
            ready,
            t.elapsed(),
            s.rss_kib("VmRSS:") / 1024,
            s.rss_kib("VmHWM:") / 1024
        );
        s.stop();
    }
}

/// Server-side cost of a `didChange` that moves 1,000 nodes: a notification has no reply, so
/// batches of them are sent and ended by a `retrace.status` request, whose reply comes once
/// the owner has handled every one before it (one job at a time, in order).
fn did_change(db: &Path) {
    let (mut s, _) = Server::start(db, 1_000_000);
    let uri = format!("file://{}/src/edited.rs", common::WORKSPACE);
    for line in (0..10_000).step_by(10) {
        s.command(
            "retrace.visit",
            json!({"uri": uri, "position": {"line": line, "character": 0}, "reason": "jump"}),
        );
    }
    let text: String = (0..10_000)
        .map(|i| format!("    let value_{i} = compute({i}, \"line\");\n"))
        .collect();
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "rust", "version": 1, "text": text}}),
    );
    let mut alone = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        s.command("retrace.status", json!({}));
        alone.push(t.elapsed());
    }
    alone.sort();
    let status = percentile(&alone, 0.5);
    let mut version = 1;
    let line_above = |v: i32| {
        let (end, text) = if v % 2 == 0 { (0, "// new\n") } else { (1, "") };
        json!([{"range": {"start": {"line": 0, "character": 0},
                          "end": {"line": end, "character": 0}}, "text": text}])
    };
    // For comparison: what any notification costs the server, with no node to move.
    let typed = |v: i32| {
        let (end, text) = if v % 2 == 0 { (4, "x") } else { (5, "") };
        json!([{"range": {"start": {"line": 5, "character": 4},
                          "end": {"line": 5, "character": end}}, "text": text}])
    };
    let moved = batches(&mut s, &uri, &mut version, status, line_above);
    let inside = batches(&mut s, &uri, &mut version, status, typed);
    let tree = s.command("retrace.tree", json!({"format": "json"}));
    let lines: Vec<u64> = tree["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["path"] == "src/edited.rs")
        .filter_map(|n| n["line"].as_u64())
        .collect();
    assert_eq!(lines.len(), 1_000);
    assert!(
        lines.iter().all(|l| l % 10 == 0),
        "every node back on its line"
    );
    report("didChange: a line above 1,000 nodes (server)", moved);
    report("didChange: a character typed (server)", inside);
    s.stop();
}

/// 30 batches of 500 `didChange`s made by `change`, each ended by a request: the time per
/// change, less the request's own round trip (`status`).
fn batches(
    s: &mut Server,
    uri: &str,
    version: &mut i32,
    status: Duration,
    change: impl Fn(i32) -> Value,
) -> Vec<Duration> {
    const BATCH: u32 = 500;
    let mut per_change = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        for _ in 0..BATCH {
            *version += 1;
            s.notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": uri, "version": *version},
                       "contentChanges": change(*version)}),
            );
        }
        s.command("retrace.status", json!({}));
        per_change.push(t.elapsed().saturating_sub(status) / BATCH);
    }
    per_change
}
