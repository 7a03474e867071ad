//! Driving images that carry qemu-guest-agent (QGA), the standard agent of cloud images, instead
//! of snaprun's own: JSON commands, one per line, over the virtio-serial port
//! [`crate::agent::QGA_PORT_NAME`].
//!
//! ```text
//! host -> guest  {"execute":"guest-sync-delimited","arguments":{"id":N}}   until one is answered
//! host -> guest  {"execute":"guest-exec","arguments":{"path":..,"arg":[..],"env":[..],"capture-output":true}}
//! guest -> host  {"return":{"pid":P}}
//! host -> guest  {"execute":"guest-exec-status","arguments":{"pid":P}}    every 50 ms
//! guest -> host  {"return":{"exited":true,"exitcode":0,"out-data":BASE64,"err-data":BASE64}}
//! ```
//! QGA hands the output over when the command has ended, so nothing is streamed; the output is
//! inside JSON strings, so the command cannot forge a result here either.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How a command run by `guest-exec` ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecStatus {
    pub exitcode: Option<i32>,
    pub signal: Option<i32>,
    pub out: Vec<u8>,
    pub err: Vec<u8>,
}

/// The `guest-exec-status` reply: `None` while the command runs.
pub fn parse_exec_status(v: &Value) -> io::Result<Option<ExecStatus>> {
    if !v["exited"].as_bool().unwrap_or(false) {
        return Ok(None);
    }
    let data = |key: &str| -> io::Result<Vec<u8>> {
        match v[key].as_str() {
            Some(s) => base64_decode(s).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad base64 in {key}"))
            }),
            None => Ok(Vec::new()),
        }
    };
    let mut out = data("out-data")?;
    if v["out-truncated"].as_bool() == Some(true) {
        out.extend_from_slice(b"\n[snaprun: qemu-guest-agent cut the output short]\n");
    }
    Ok(Some(ExecStatus {
        exitcode: v["exitcode"].as_i64().map(|c| c as i32),
        signal: v["signal"].as_i64().map(|c| c as i32),
        out,
        err: data("err-data")?,
    }))
}

/// Standard base64 (RFC 4648, with padding), as QGA sends it; `None` if malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else { value(*c)? };
            n = n << 6 | v;
        }
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

/// [`crate::agent::command_env`] as `guest-exec` takes it (`KEY=VALUE`; it replaces the whole
/// environment).
pub fn command_env(iteration: u32, seed: u64, extra: &[(String, String)]) -> Vec<String> {
    crate::agent::command_env(iteration, seed, extra)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// The user's command, run by `/bin/sh -c` in `workdir` (its text is passed as `$0`, never
/// spliced into the script).
pub fn job_command(command: &str, workdir: &str) -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("cd '{workdir}' || exit 126\nexec /bin/sh -c \"$0\""),
        command.into(),
    ]
}

/// Mounts the ext4 disk labelled `label` read-only with a writable overlay at `workdir`, as
/// snaprun's own agent does.
pub fn mount_code_command(label: &str, workdir: &str) -> Vec<String> {
    let script = format!(
        r#"i=0
until dev=$(blkid -c /dev/null -L '{label}' 2>/dev/null); do
    i=$((i + 1))
    if [ $i -gt 600 ]; then echo "no disk labelled {label} appeared" >&2; exit 1; fi
    sleep 0.05
done
set -e
mkdir -p /run/snaprun/code /var/lib/snaprun/upper /var/lib/snaprun/work '{workdir}'
mount -t ext4 -o ro "$dev" /run/snaprun/code
if ! mount -t overlay overlay -o lowerdir=/run/snaprun/code,upperdir=/var/lib/snaprun/upper,workdir=/var/lib/snaprun/work '{workdir}' 2>/dev/null; then
    mount --bind /run/snaprun/code '{workdir}'
    mount -o remount,bind,ro '{workdir}'
    exit 0
fi
rmdir '{workdir}/lost+found' 2>/dev/null || true
"#
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// A QGA session on a stream that has a short read timeout set (so deadlines are checked).
pub struct Client<'a> {
    stream: &'a mut UnixStream,
    buf: Vec<u8>,
    next_id: u64,
}

/// How long one QGA command may take to be answered.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

impl<'a> Client<'a> {
    pub fn new(stream: &'a mut UnixStream) -> Client<'a> {
        Client {
            stream,
            buf: Vec::new(),
            next_id: 0x5a17_0000,
        }
    }

    /// Waits until the guest's agent answers (it starts late in a booting guest): sends
    /// `guest-sync-delimited` every second and, once one is answered, a last one whose answer
    /// leaves the channel in step. `Ok(false)` when `deadline` passed or `cancelled` turned true.
    pub fn wait_ready(
        &mut self,
        deadline: Instant,
        cancelled: &dyn Fn() -> bool,
    ) -> io::Result<bool> {
        let mut sent = Vec::new();
        while Instant::now() < deadline {
            if cancelled() {
                return Ok(false);
            }
            let id = self.sync_request()?;
            sent.push(id);
            let round = (Instant::now() + Duration::from_secs(1)).min(deadline);
            while let Some(v) = self.read_message(round)? {
                if v["return"].as_u64().is_some_and(|r| sent.contains(&r)) {
                    // In step from here: the answer to a fresh id is the last thing to come.
                    let last = self.sync_request()?;
                    let until = Instant::now() + REPLY_TIMEOUT;
                    while let Some(v) = self.read_message(until)? {
                        if v["return"].as_u64() == Some(last) {
                            return Ok(true);
                        }
                    }
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    fn sync_request(&mut self) -> io::Result<u64> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"execute": "guest-sync-delimited", "arguments": {"id": id}}))?;
        Ok(id)
    }

    fn send(&mut self, v: &Value) -> io::Result<()> {
        self.stream.write_all(format!("{v}\n").as_bytes())?;
        self.stream.flush()
    }

    /// The next JSON message, or `None` at `deadline`. The 0xFF bytes that delimit sync replies
    /// are dropped.
    fn read_message(&mut self, deadline: Instant) -> io::Result<Option<Value>> {
        loop {
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).filter(|b| *b != 0xff).collect();
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                if let Ok(v) = serde_json::from_str::<Value>(text.trim()) {
                    return Ok(Some(v));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "qemu-guest-agent channel closed",
                    ));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs one command and returns its `return` value.
    pub fn call(&mut self, command: &str, arguments: Value) -> io::Result<Value> {
        self.send(&json!({"execute": command, "arguments": arguments}))?;
        match self.read_message(Instant::now() + REPLY_TIMEOUT)? {
            Some(v) if v.get("return").is_some() => Ok(v["return"].clone()),
            Some(v) => Err(io::Error::other(format!(
                "qemu-guest-agent refused {command}: {}",
                v["error"]["desc"].as_str().unwrap_or("no reason given")
            ))),
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("qemu-guest-agent did not answer {command}"),
            )),
        }
    }

    /// Starts `argv` with `env`, capturing its output; returns the guest PID.
    pub fn exec(&mut self, argv: &[String], env: &[String]) -> io::Result<i64> {
        let (path, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::other("empty command"))?;
        let v = self.call(
            "guest-exec",
            json!({"path": path, "arg": args, "env": env, "capture-output": true}),
        )?;
        v["pid"]
            .as_i64()
            .ok_or_else(|| io::Error::other("guest-exec returned no pid"))
    }

    /// Runs `argv` to its end; `None` if `limit` passed or `cancelled` turned true first.
    pub fn run_to_end(
        &mut self,
        argv: &[String],
        env: &[String],
        limit: Instant,
        cancelled: &dyn Fn() -> bool,
    ) -> io::Result<Option<ExecStatus>> {
        let pid = self.exec(argv, env)?;
        loop {
            let v = self.call("guest-exec-status", json!({ "pid": pid }))?;
            if let Some(st) = parse_exec_status(&v)? {
                return Ok(Some(st));
            }
            if cancelled() || Instant::now() > limit {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        // RFC 4648 section 10 test vectors.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(
                base64_decode(enc).as_deref(),
                Some(plain.as_bytes()),
                "{enc}"
            );
        }
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Zg="), None);
    }

    #[test]
    fn exec_status_is_parsed() {
        let running = json!({"exited": false});
        assert_eq!(parse_exec_status(&running).unwrap(), None);
        let done =
            json!({"exited": true, "exitcode": 3, "out-data": "aGkK", "err-data": "b29wcwo="});
        let st = parse_exec_status(&done).unwrap().unwrap();
        assert_eq!(
            st,
            ExecStatus {
                exitcode: Some(3),
                signal: None,
                out: b"hi\n".to_vec(),
                err: b"oops\n".to_vec()
            }
        );
        let killed = json!({"exited": true, "signal": 9});
        assert_eq!(parse_exec_status(&killed).unwrap().unwrap().signal, Some(9));
    }

    #[test]
    fn the_command_is_an_argument_not_part_of_the_script() {
        let argv = job_command("echo 'a b'; exit 3", "/work");
        assert_eq!(argv[0], "/bin/sh");
        assert_eq!(argv[3], "echo 'a b'; exit 3");
        assert!(!argv[2].contains("echo"));
    }
}
