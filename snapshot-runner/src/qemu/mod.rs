//! The only module that starts QEMU. A [`Vm`] is one `qemu-system-x86_64` process with its QMP
//! monitor and the agent's virtio-serial port, both Unix sockets that QEMU connects to. A `Vm`
//! kills its process when dropped, and the process also gets SIGKILL if snaprun's thread that
//! started it dies (PR_SET_PDEATHSIG), so no QEMU outlives snaprun.

mod accel;
mod migration;
mod process;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use self::accel::{Accel, choose_accel, probe_kvm};
use self::migration::has_file_migration;
pub use self::migration::{incoming_uri, outgoing_uri, parse_version, version};
pub use self::process::QEMU;
use self::process::dies_with_snaprun;
use crate::error::{Error, IoContext, Result};
use crate::store::Image;
use crate::tools;

/// Where the console goes.
#[derive(Debug, Clone)]
pub enum Console {
    /// Appended to a file (batch iterations).
    File(PathBuf),
    /// The user's terminal (`repro --shell`).
    Terminal,
}

/// Everything one VM boots with.
#[derive(Debug, Clone)]
pub struct VmSpec {
    pub image: Image,
    /// The iteration's overlay; QEMU writes only here.
    pub root_disk: PathBuf,
    /// The code slot: a qcow2 of fixed size over the code snapshot's ext4 disk (see
    /// [`crate::overlay::code_slot`]), attached read-only. A warm state is saved with an empty
    /// placeholder here, so restored VMs see this batch's code in the same slot.
    pub code_disk: Option<PathBuf>,
    pub accel: Accel,
    pub console: Console,
    /// Appended to the image's kernel command line.
    pub extra_append: Option<String>,
    /// Where QEMU's own stderr goes.
    pub qemu_log: PathBuf,
    /// A saved device and memory state to restore instead of booting (`-incoming`).
    pub incoming: Option<PathBuf>,
}

/// The QEMU command line for `spec` (without the sockets, which [`Vm::start`] adds).
pub fn command_line(spec: &VmSpec) -> Vec<String> {
    let m = &spec.image.manifest;
    let mut a: Vec<String> = [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        // On a guest panic QEMU only reports it (GUEST_PANICKED): the kernel then flushes the
        // panic to the console, which the iteration keeps, and reboots (`panic=-1`), which
        // `-no-reboot` turns into QEMU's exit. With `panic=shutdown` QEMU exited at the
        // pvpanic signal, before the message reached the console.
        "-action",
        "panic=none",
        "-machine",
        "pc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    match spec.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => push(&["-accel", "tcg", "-cpu", "max"]),
    }
    push(&["-m", &m.memory_mib.to_string(), "-smp", &m.cpus.to_string()]);
    if let Some(k) = &spec.image.kernel {
        push(&["-kernel", &k.to_string_lossy()]);
        if let Some(i) = &spec.image.initrd {
            push(&["-initrd", &i.to_string_lossy()]);
        }
        let append = [m.append.as_deref(), spec.extra_append.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        push(&["-append", &append]);
    }
    push(&[
        "-drive",
        &format!(
            "file={},if=none,id=root,format=qcow2,cache=unsafe,discard=unmap",
            qemu_path(&spec.root_disk)
        ),
        "-device",
        "virtio-blk-pci,drive=root",
    ]);
    if let Some(code) = &spec.code_disk {
        push(&[
            "-drive",
            &format!(
                "file={},if=none,id=code,format=qcow2,readonly=on",
                qemu_path(code)
            ),
            "-device",
            "virtio-blk-pci,drive=code",
        ]);
    }
    push(&["-device", "pvpanic-pci"]);
    match &spec.console {
        Console::File(p) => push(&["-chardev", &format!("file,id=con,path={}", qemu_path(p))]),
        Console::Terminal => push(&["-chardev", "stdio,id=con,signal=off"]),
    }
    push(&["-serial", "chardev:con"]);
    a
}

/// QEMU option values separate with `,`; a literal comma is written `,,`.
fn qemu_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The guest kernel reported a panic (pvpanic).
    Panicked,
    /// QEMU is shutting down; `reason` as QMP gives it (`guest-panic`, `guest-reset`, ...).
    Shutdown {
        reason: String,
    },
    Other(String),
}

/// One running QEMU.
pub struct Vm {
    child: Child,
    qmp: Option<UnixStream>,
    /// Replies to QMP commands, in order (QMP answers one command at a time).
    replies: Option<mpsc::Receiver<Value>>,
    agent: UnixStream,
    events: mpsc::Receiver<Event>,
    seen: Vec<Event>,
    log: PathBuf,
    _sockets: tempfile::TempDir,
}

impl Vm {
    /// Starts QEMU for `spec` and waits (up to `connect_timeout`) until it has connected to the
    /// QMP and agent sockets. The guest is booting when this returns; or, with
    /// [`VmSpec::incoming`], it has been restored from the saved state and is running again.
    pub fn start(spec: &VmSpec, connect_timeout: Duration) -> Result<Vm> {
        // Unix socket paths are limited to 108 bytes, so they live in a short temporary
        // directory rather than in the (possibly deep) store; named after this process, so
        // `gc` can tell when its owner is gone.
        let prefix = format!("snaprun-{}-", std::process::id());
        let sockets = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir()
            .map_err(|e| Error::io("creating a socket directory", std::env::temp_dir(), e))?;
        let qmp_path = sockets.path().join("qmp");
        let agent_path = sockets.path().join("agent");
        let qmp_listener =
            UnixListener::bind(&qmp_path).ctx("creating the QMP socket", &qmp_path)?;
        let agent_listener =
            UnixListener::bind(&agent_path).ctx("creating the agent socket", &agent_path)?;
        let log = fs::File::create(&spec.qemu_log).ctx("creating the QEMU log", &spec.qemu_log)?;
        let mut cmd = Command::new(QEMU);
        let port = spec.image.manifest.agent.port_name();
        cmd.args(command_line(spec))
            .args([
                "-chardev",
                &format!("socket,id=qmp,path={}", qemu_path(&qmp_path)),
                "-mon",
                "chardev=qmp,mode=control",
            ])
            .args([
                "-device",
                "virtio-serial-pci,id=vser",
                "-chardev",
                &format!("socket,id=agent,path={}", qemu_path(&agent_path)),
                "-device",
                &format!("virtserialport,bus=vser.0,chardev=agent,name={port}"),
            ])
            .stderr(log);
        let mut state_file = None;
        if let Some(state) = &spec.incoming {
            // Paused after loading (-S): the caller's QMP commands run before the guest does.
            let v = version()?;
            cmd.args(["-S", "-incoming", &incoming_uri(state, v)]);
            if !has_file_migration(v) {
                // `fd:0`: QEMU reads the state straight from the file on its stdin, with no
                // `cat` and no pipe in between (the fastest way in before `file:`).
                state_file = Some(fs::File::open(state).ctx("opening the warm state", state)?);
            }
        }
        let interactive = matches!(spec.console, Console::Terminal);
        if !interactive {
            cmd.stdin(Stdio::null()).stdout(Stdio::null());
        }
        if let Some(f) = state_file {
            cmd.stdin(f);
        }
        // Out of the terminal's process group, so Ctrl-C reaches snaprun (which stops the VMs
        // itself) rather than killing QEMU under it. A shell keeps the terminal.
        dies_with_snaprun(&mut cmd, !interactive);
        let child = cmd.spawn().map_err(|e| tools::start_failed(QEMU, e))?;
        let (tx, events) = mpsc::channel();
        let mut vm = Vm {
            child,
            qmp: None,
            replies: None,
            log: spec.qemu_log.clone(),
            // Replaced below once QEMU connects; a placeholder pair keeps the type simple.
            agent: UnixStream::pair()
                .ctx("creating a socket pair", Path::new("socketpair"))?
                .0,
            events,
            seen: Vec::new(),
            _sockets: sockets,
        };
        let deadline = Instant::now() + connect_timeout;
        let qmp = vm.accept(&qmp_listener, deadline, &spec.qemu_log)?;
        vm.agent = vm.accept(&agent_listener, deadline, &spec.qemu_log)?;
        match qmp_handshake(qmp, tx) {
            Ok((q, replies)) => {
                vm.qmp = Some(q);
                vm.replies = Some(replies);
            }
            Err(e) => {
                return Err(match vm.wait_exit(Duration::from_secs(2)) {
                    Some(status) => Error::Qemu(format!(
                        "QEMU exited at start ({status}): {}",
                        log_tail(&spec.qemu_log, 20)
                    )),
                    None => e,
                });
            }
        }
        if spec.incoming.is_some() {
            vm.finish_incoming(deadline.max(Instant::now() + Duration::from_secs(60)))?;
        }
        Ok(vm)
    }

    /// Waits until the incoming state has loaded, then lets the guest run.
    fn finish_incoming(&mut self, deadline: Instant) -> Result<()> {
        loop {
            let status = match self.qmp("query-migrate", json!({})) {
                Ok(v) => v["status"].as_str().unwrap_or("").to_string(),
                Err(e) => {
                    return Err(match self.wait_exit(Duration::from_secs(2)) {
                        Some(st) => Error::Qemu(format!(
                            "QEMU could not restore the warm state ({st}): {}",
                            log_tail(&self.log, 20)
                        )),
                        None => e,
                    });
                }
            };
            match status.as_str() {
                "completed" => break,
                "failed" | "cancelled" => {
                    return Err(Error::Qemu(format!(
                        "restoring the warm state failed: {}",
                        log_tail(&self.log, 20)
                    )));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(Error::Qemu("restoring the warm state took too long".into()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.qmp("cont", json!({}))?;
        Ok(())
    }

    /// Runs one QMP command and returns its `return` value.
    pub fn qmp(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let (Some(q), Some(replies)) = (&mut self.qmp, &self.replies) else {
            return Err(Error::Qemu("QMP is not connected".into()));
        };
        let mut msg = json!({ "execute": command });
        if arguments.as_object().is_some_and(|o| !o.is_empty()) {
            msg["arguments"] = arguments;
        }
        q.write_all(format!("{msg}\n").as_bytes())
            .map_err(|e| Error::io("talking to QEMU's QMP monitor", Path::new("qmp"), e))?;
        let reply = replies
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| Error::Qemu(format!("QEMU did not answer `{command}`")))?;
        if let Some(e) = reply.get("error") {
            return Err(Error::Qemu(format!(
                "`{command}` failed: {}",
                e["desc"].as_str().unwrap_or("unknown error")
            )));
        }
        Ok(reply["return"].clone())
    }

    /// Stops the guest and saves its device and memory state to `dest` (QEMU migration to a
    /// file). The disks are flushed and stay as they were at that instant; QEMU is still there
    /// (paused) afterwards.
    pub fn save_state(&mut self, dest: &Path, timeout: Duration) -> Result<()> {
        self.qmp("stop", json!({}))?;
        self.qmp("migrate", json!({ "uri": outgoing_uri(dest, version()?) }))?;
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.qmp("query-migrate", json!({}))?;
            match v["status"].as_str().unwrap_or("") {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    let why = v["error-desc"].as_str().unwrap_or("no reason given");
                    return Err(if why.contains("No space left") {
                        Error::DiskFull {
                            what: "saving the warm state".into(),
                            path: dest.to_path_buf(),
                        }
                    } else {
                        Error::Qemu(format!("saving the VM state failed: {why}"))
                    });
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(Error::Qemu("saving the VM state took too long".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn accept(
        &mut self,
        listener: &UnixListener,
        deadline: Instant,
        log: &Path,
    ) -> Result<UnixStream> {
        listener
            .set_nonblocking(true)
            .ctx("configuring a socket", Path::new("qmp"))?;
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .ctx("configuring a socket", Path::new("qmp"))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    return Err(Error::io(
                        "accepting QEMU's connection",
                        Path::new("socket"),
                        e,
                    ));
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Qemu(format!(
                    "QEMU exited at start ({status}): {}",
                    log_tail(log, 20)
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Qemu(format!(
                    "QEMU did not connect its sockets in time: {}",
                    log_tail(log, 20)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The agent's channel (see [`crate::agent`]).
    pub fn agent(&mut self) -> &mut UnixStream {
        &mut self.agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// QEMU's exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Every QMP event seen so far.
    pub fn events(&mut self) -> &[Event] {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }

    /// Whether the guest kernel reported a panic.
    pub fn guest_panicked(&mut self) -> bool {
        if self.exited().is_some() {
            // GUEST_PANICKED comes just before QEMU exits, and the QMP reader thread may not
            // have passed it on yet: take everything it still has, up to the socket's end
            // (the channel closes then), before answering.
            let deadline = Instant::now() + Duration::from_secs(1);
            while let Ok(e) = self
                .events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                self.seen.push(e);
            }
        }
        self.events().iter().any(|e| {
            matches!(e, Event::Panicked)
                || matches!(e, Event::Shutdown { reason } if reason == "guest-panic")
        })
    }

    /// Waits up to `timeout` for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the VM: QMP `quit`, then SIGKILL if it has not gone within a second.
    pub fn stop(mut self) {
        self.quit();
    }

    /// Like [`Vm::stop`], for a `Vm` that is only borrowed.
    pub fn quit(&mut self) {
        // A QEMU that has gone closed its socket: writing to it would raise SIGPIPE.
        if self.exited().is_some() {
            return;
        }
        if let Some(q) = &mut self.qmp {
            let _ = q.write_all(b"{\"execute\":\"quit\"}\n");
        }
        if self.wait_exit(Duration::from_secs(1)).is_none() {
            self.kill();
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill();
        }
    }
}

/// Completes the QMP greeting and capabilities negotiation on `stream`, then forwards events to
/// `tx` and command replies to the returned receiver from a reader thread. Returns the stream
/// for writing commands.
fn qmp_handshake(
    stream: UnixStream,
    tx: mpsc::Sender<Event>,
) -> Result<(UnixStream, mpsc::Receiver<Value>)> {
    let io_err = |e| Error::io("talking to QEMU's QMP monitor", Path::new("qmp"), e);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io_err)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(io_err)?);
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).map_err(io_err)?;
    let greeting: Value =
        serde_json::from_str(&line).map_err(|e| Error::Qemu(format!("bad QMP greeting: {e}")))?;
    if greeting.get("QMP").is_none() {
        return Err(Error::Qemu(format!("unexpected QMP greeting: {line}")));
    }
    writer
        .write_all(format!("{}\n", json!({"execute": "qmp_capabilities"})).as_bytes())
        .map_err(io_err)?;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io_err)? == 0 {
            return Err(Error::Qemu("QMP closed during negotiation".into()));
        }
        let v: Value =
            serde_json::from_str(&line).map_err(|e| Error::Qemu(format!("bad QMP reply: {e}")))?;
        if v.get("return").is_some() {
            break;
        }
        if let Some(e) = v.get("error") {
            return Err(Error::Qemu(format!("QMP refused qmp_capabilities: {e}")));
        }
        if let Some(ev) = parse_event(&v) {
            let _ = tx.send(ev);
        }
    }
    reader.get_ref().set_read_timeout(None).map_err(io_err)?;
    let (reply_tx, replies) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(ev) = parse_event(&v) {
                    let _ = tx.send(ev);
                } else if v.get("return").is_some() || v.get("error").is_some() {
                    let _ = reply_tx.send(v);
                }
            }
            line.clear();
        }
    });
    Ok((writer, replies))
}

fn parse_event(v: &Value) -> Option<Event> {
    let name = v.get("event")?.as_str()?;
    Some(match name {
        "GUEST_PANICKED" => Event::Panicked,
        "SHUTDOWN" => Event::Shutdown {
            reason: v["data"]["reason"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
        },
        other => Event::Other(other.to_string()),
    })
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    if tail.trim().is_empty() {
        "(no output)".to_string()
    } else {
        tail
    }
}

/// The end of a guest console's log to show with a crashed or failed iteration: the last 40
/// lines, or more when the kernel's panic message lies further up (a call trace can be longer),
/// up to 200. Returns the text and how many lines it has.
pub fn console_tail(console: &Path) -> (String, usize) {
    let text = log_tail(console, 200);
    let lines: Vec<&str> = text.lines().collect();
    let last40 = lines.len().saturating_sub(40);
    let from = lines
        .iter()
        .position(|l| l.contains("Kernel panic - not syncing"))
        .map_or(last40, |i| i.min(last40));
    (lines[from..].join("\n"), lines.len() - from)
}

/// Whether `console` shows a guest kernel panic.
pub fn console_shows_panic(console: &Path) -> bool {
    fs::read(console).is_ok_and(|b| {
        let text = String::from_utf8_lossy(&b);
        text.contains("Kernel panic - not syncing") || text.contains("---[ end Kernel panic")
    })
}

/// Runs an interactive VM in the foreground until it exits (`repro --shell`), or stops it when
/// `cancelled` turns true.
pub fn run_interactive(spec: &VmSpec, cancelled: &dyn Fn() -> bool) -> Result<ExitStatus> {
    let mut vm = Vm::start(spec, Duration::from_secs(30))?;
    loop {
        if let Some(s) = vm.exited() {
            return Ok(s);
        }
        if cancelled() {
            vm.quit();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Manifest, Object};

    #[test]
    fn the_console_tail_reaches_back_to_the_panic_message() {
        let dir = tempfile::tempdir().unwrap();
        let console = dir.path().join("console.log");
        let mut log: Vec<String> = (0..30).map(|i| format!("boot {i}")).collect();
        log.push("Kernel panic - not syncing: sysrq triggered crash".into());
        log.extend((0..60).map(|i| format!(" ? frame{i}+0x10/0x20")));
        fs::write(&console, log.join("\n")).unwrap();
        let (tail, lines) = console_tail(&console);
        assert!(tail.starts_with("Kernel panic"), "{tail}");
        assert_eq!(lines, 61);
        fs::write(
            &console,
            (0..100).map(|i| format!("line {i}\n")).collect::<String>(),
        )
        .unwrap();
        let (tail, lines) = console_tail(&console);
        assert_eq!((lines, tail.lines().next()), (40, Some("line 60")));
    }

    #[test]
    fn the_command_line_boots_the_image_on_the_overlay_with_the_code_read_only() {
        let obj = |h: &str| Object {
            sha256: h.into(),
            size: 1,
            mtime_ns: 1,
        };
        let spec = VmSpec {
            image: Image {
                manifest: Manifest {
                    name: "default".into(),
                    hash: "h".into(),
                    disk: obj("d"),
                    kernel: Some(obj("k")),
                    initrd: Some(obj("i")),
                    append: Some("console=ttyS0".into()),
                    memory_mib: 512,
                    cpus: 1,
                    created: String::new(),
                    origin: None,
                    agent: Default::default(),
                    warm: None,
                },
                disk: "/s/objects/d".into(),
                kernel: Some("/s/objects/k".into()),
                initrd: Some("/s/objects/i".into()),
                warm: None,
            },
            root_disk: "/s/runs/b/iter-1.qcow2".into(),
            code_disk: Some("/s/code/disks/c,1.ext4".into()),
            accel: Accel::Tcg,
            console: Console::File("/s/runs/b/iter-1.console.log".into()),
            extra_append: Some("snaprun.seed=7".into()),
            qemu_log: "/s/runs/b/iter-1.qemu.log".into(),
            incoming: None,
        };
        expect_test::expect![[r#"
            -nodefaults -no-user-config -display none -no-reboot -action panic=none -machine pc
            -accel tcg -cpu max -m 512 -smp 1 -kernel /s/objects/k -initrd /s/objects/i
            -append console=ttyS0 snaprun.seed=7 -drive file=/s/runs/b/iter-1.qcow2,if=none,id=root,format=qcow2,cache=unsafe,discard=unmap
            -device virtio-blk-pci,drive=root -drive file=/s/code/disks/c,,1.ext4,if=none,id=code,format=qcow2,readonly=on
            -device virtio-blk-pci,drive=code -device pvpanic-pci -chardev file,id=con,path=/s/runs/b/iter-1.console.log
            -serial chardev:con"#]]
        .assert_eq(&wrap(&command_line(&spec)));
    }

    /// One option and its value per line-ish, for a readable snapshot.
    fn wrap(args: &[String]) -> String {
        let mut out = String::new();
        let mut line = String::new();
        for a in args {
            if a.starts_with('-') && line.len() + a.len() > 80 {
                out.push_str(line.trim_end());
                out.push('\n');
                line.clear();
            }
            line.push_str(a);
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out
    }
}
