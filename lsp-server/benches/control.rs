//! The desktop app's click path: a `jump` on the control socket -> the server (owner job,
//! one transaction) -> `window/showDocument` received by the editor, a real LSP client over
//! stdio that answers it. Target: < 50 ms median for the whole click path.
//!
//! Measured two ways: until the editor receives `window/showDocument`, and until the app
//! has the reply (which carries the editor's answer). Run with
//! `cargo bench -p retrace-lsp --bench control`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use retrace_lsp::control::{Client, EditorAnswer};
use retrace_lsp::tree::NodeId;
use serde_json::{Value, json};

/// retrace-lsp with an editor attached: this thread writes, a reader thread answers
/// `window/showDocument` at once and says when each one arrived.
struct Editor {
    child: Child,
    input: Arc<Mutex<ChildStdin>>,
    shown: mpsc::Receiver<Instant>,
    replies: mpsc::Receiver<Value>,
}

fn send(input: &Mutex<ChildStdin>, message: &Value) {
    let body = message.to_string();
    let mut input = input.lock().unwrap();
    write!(input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    input.flush().unwrap();
}

fn read_message(output: &mut impl BufRead) -> Option<Value> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if output.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    output.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Editor {
    fn start(workspace: &Path, data: &Path, run: &Path) -> Editor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_retrace-lsp"))
            .arg("--stdio")
            .env("XDG_DATA_HOME", data)
            .env("XDG_RUNTIME_DIR", run)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn retrace-lsp");
        let input = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let (shown_tx, shown) = mpsc::channel();
        let (replies_tx, replies) = mpsc::channel();
        let writer = input.clone();
        std::thread::spawn(move || {
            while let Some(m) = read_message(&mut output) {
                if m["method"] == "window/showDocument" {
                    let arrived = Instant::now();
                    send(
                        &writer,
                        &json!({"jsonrpc": "2.0", "id": m["id"], "result": {"success": true}}),
                    );
                    let _ = shown_tx.send(arrived);
                } else if m.get("method").is_none() {
                    let _ = replies_tx.send(m);
                }
            }
        });
        let editor = Editor {
            child,
            input,
            shown,
            replies,
        };
        send(
            &editor.input,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "capabilities": {"window": {"showDocument": {"support": true}}},
                "clientInfo": {"name": "bench"},
                "rootUri": format!("file://{}", workspace.display()),
                "initializationOptions": {"sendsVisits": true}}}),
        );
        editor.replies.recv().unwrap();
        send(
            &editor.input,
            &json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        );
        editor
    }

    fn visit(&self, path: &Path, line: u32) {
        send(
            &self.input,
            &json!({"jsonrpc": "2.0", "method": "retrace/visit", "params": {
                "uri": format!("file://{}", path.display()),
                "position": {"line": line, "character": 0}, "reason": "definition"}}),
        );
    }

    fn status(&self) -> Value {
        send(
            &self.input,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
                    "params": {"command": "retrace.status", "arguments": []}}),
        );
        self.replies.recv().unwrap()["result"].clone()
    }

    fn stop(mut self) {
        send(
            &self.input,
            &json!({"jsonrpc": "2.0", "id": 3, "method": "shutdown"}),
        );
        let _ = self.replies.recv_timeout(Duration::from_secs(5));
        send(&self.input, &json!({"jsonrpc": "2.0", "method": "exit"}));
        let _ = self.child.wait();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    let files: Vec<_> = (0..2)
        .map(|i| {
            let f = workspace.join(format!("f{i}.rs"));
            std::fs::write(&f, "fn main() {}\n".repeat(100)).unwrap();
            f
        })
        .collect();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let editor = Editor::start(&workspace, &dir.path().join("data"), &run);
    editor.visit(&files[0], 10);
    editor.visit(&files[1], 20);
    let nodes = editor.status()["nodes"].as_u64().unwrap();
    assert_eq!(nodes, 2);
    let socket = std::fs::read_dir(run.join("retrace"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sock"))
        .expect("the server's control socket");
    let mut app = Client::connect(&socket, Duration::from_secs(10)).unwrap();
    let mut target = 0;
    let mut next = || {
        target = 3 - target.max(1); // 1, 2, 1, 2...
        NodeId(target)
    };

    let mut group = c.benchmark_group("control");
    group.sample_size(200);
    group.bench_function("jump -> showDocument received", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let node = next();
                let sent = Instant::now();
                let reply = app.jump(node, Some(&workspace)).unwrap();
                let arrived = editor.shown.recv().unwrap();
                assert_eq!(reply.node.id, node);
                total += arrived - sent;
            }
            total
        })
    });
    group.bench_function("jump -> reply with the editor's answer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let node = next();
                let sent = Instant::now();
                let reply = app.jump(node, Some(&workspace)).unwrap();
                total += sent.elapsed();
                assert_eq!(reply.answer, EditorAnswer::Shown);
                editor.shown.recv().unwrap();
            }
            total
        })
    });
    group.finish();
    drop(app);
    editor.stop();
}

criterion_group!(benches, bench);
criterion_main!(benches);
