//! snaprun's guest agent. Runs inside the VM (started by the image's init): announces itself on
//! the virtio-serial port, takes a job, mounts the code snapshot at /work, runs the command under
//! /bin/sh, streams its output and reports how it ended. The protocol is in `snaprun::agent`.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use snaprun::agent::{
    AgentError, Decoder, Exit, Frame, Job, Kind, PORT_NAME, PROTOCOL_VERSION, Ready, Started,
};

fn main() {
    // `--mount-code DIR`: only mount the code snapshot (the image's init uses it for a shell).
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--mount-code" {
        if let Err(e) = mount_code(
            snaprun::codesnap::CODE_LABEL,
            &args[2],
            Duration::from_secs(5),
        ) {
            eprintln!("snaprun-agent: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() > 1 {
        eprintln!(
            "usage: snaprun-agent [--mount-code DIR]  (runs inside a snaprun guest as its init)"
        );
        std::process::exit(2);
    }
    if let Err(e) = serve() {
        eprintln!("snaprun-agent: {e}");
    }
    // As the guest's init, exiting would panic the kernel; the host stops the VM instead.
    if std::process::id() == 1 {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Where the code disk is mounted, and the overlay's writable layer on the root disk.
const LOWER: &str = "/run/snaprun/code";
const UPPER: &str = "/var/lib/snaprun/upper";
const OVERLAY_WORK: &str = "/var/lib/snaprun/work";

fn serve() -> io::Result<()> {
    // Made before Ready, so a warm state already has them and a restored job does less.
    for d in [LOWER, UPPER, OVERLAY_WORK] {
        let _ = fs::create_dir_all(d);
    }
    let port = find_port(Duration::from_secs(30))?;
    let mut reader = OpenOptions::new().read(true).write(true).open(&port)?;
    let writer = Arc::new(Mutex::new(reader.try_clone()?));
    send(
        &writer,
        &Frame::json(
            Kind::Ready,
            &Ready {
                version: PROTOCOL_VERSION,
            },
        ),
    )?;
    let mut decoder = Decoder::default();
    loop {
        let frame = match decoder.read_frame(&mut reader) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            // The host side is not connected (yet, or any more): wait for it.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e),
        };
        if frame.kind != Kind::Job {
            continue;
        }
        let reply = match frame.parse::<Job>().and_then(|job| run_job(&job, &writer)) {
            Ok(exit) => Frame::json(Kind::Exit, &exit),
            Err(e) => Frame::json(
                Kind::Error,
                &AgentError {
                    message: e.to_string(),
                },
            ),
        };
        // Whatever the command wrote reaches the disk before the host may stop the VM, so a
        // kept overlay shows the state the failure left.
        unsafe { libc::sync() };
        send(&writer, &reply)?;
    }
}

fn send(writer: &Mutex<File>, frame: &Frame) -> io::Result<()> {
    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
    frame.write_to(&mut *w)
}

/// `/dev/vportNpM` whose name is [`PORT_NAME`].
fn find_port(wait: Duration) -> io::Result<PathBuf> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(entries) = fs::read_dir("/sys/class/virtio-ports") {
            for e in entries.flatten() {
                let name = fs::read_to_string(e.path().join("name")).unwrap_or_default();
                if name.trim() == PORT_NAME {
                    return Ok(Path::new("/dev").join(e.file_name()));
                }
            }
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "virtio-serial port {PORT_NAME} not found"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_job(job: &Job, writer: &Arc<Mutex<File>>) -> io::Result<Exit> {
    // A restored VM wakes with the clock and the RNG state of the moment its warm state was
    // saved, the same for every iteration: set the one and reseed the other first.
    if let Some(ms) = job.clock_ms {
        set_clock(ms)?;
    }
    reseed_rng(job.seed, job.iteration);
    if let Some(label) = &job.code_label {
        mount_code(label, &job.workdir, Duration::from_secs(30))?;
    } else {
        fs::create_dir_all(&job.workdir)?;
    }
    send(
        writer,
        &Frame::json(
            Kind::Started,
            &Started {
                clock_ms: wall_clock_ms(),
            },
        ),
    )?;
    let started = Instant::now();
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&job.command)
        .current_dir(&job.workdir)
        .env_clear()
        .envs(snaprun::agent::command_env(
            job.iteration,
            job.seed,
            &job.env,
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Output pumps report on `done` when their pipe closes.
    let (done, finished) = std::sync::mpsc::channel::<io::Result<()>>();
    let outputs = [
        (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            Kind::Stdout,
        ),
        (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            Kind::Stderr,
        ),
    ];
    let mut pumps = 0;
    for (reader, kind) in outputs {
        let Some(mut r) = reader else { continue };
        let (writer, done) = (Arc::clone(writer), done.clone());
        pumps += 1;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 << 10];
            let result = loop {
                match r.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        let frame = Frame {
                            kind,
                            payload: buf[..n].to_vec(),
                        };
                        if let Err(e) = send(&writer, &frame) {
                            break Err(e);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            let _ = done.send(result);
        });
    }
    let status = wait_reaping(child.id())?;
    // A background process the command started may hold its output open for ever; the command
    // has ended, so give the pipes a moment to drain and then report.
    let drain_until = Instant::now() + Duration::from_secs(2);
    for _ in 0..pumps {
        let left = drain_until.saturating_duration_since(Instant::now());
        match finished.recv_timeout(left) {
            Ok(result) => result?,
            Err(_) => break,
        }
    }
    Ok(Exit {
        code: status.code(),
        signal: status.signal(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Waits for the command's own process `pid` and returns how it ended. As PID 1 the agent also
/// inherits every process the command orphans (a daemon's child, a pipeline's stragglers); each
/// one that ends meanwhile is reaped here, or it would stay a zombie for as long as the VM runs.
/// Nothing else in the agent waits for a child, so no other wait can take the command's status.
fn wait_reaping(pid: u32) -> io::Result<ExitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer to write the status to.
        let got = unsafe { libc::waitpid(-1, &mut status, 0) };
        if got == pid as libc::pid_t {
            return Ok(ExitStatus::from_raw(status));
        }
        if got < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn set_clock(ms: i64) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: ms.div_euclid(1000) as libc::time_t,
        tv_nsec: (ms.rem_euclid(1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: a plain system call with a valid timespec.
    if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("setting the clock: {e}")))
    }
}

/// `RNDADDENTROPY` and `RNDRESEEDCRNG` from `<linux/random.h>`.
const RNDADDENTROPY: libc::c_ulong = 0x4008_5203;
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;

/// Mixes the iteration's seed into the kernel's entropy pool and forces the kernel RNG to
/// reseed, so two VMs restored from one memory state stop producing the same random numbers.
/// (The kernel also mixes in the CPU's RDRAND and cycle counter when it reseeds, so
/// /dev/urandom is fresh for every iteration, never replayed; what a seed reproduces is what the
/// command derives from SNAPRUN_SEED.) Best effort: a kernel without these ioctls is left as is.
fn reseed_rng(seed: u64, iteration: u32) {
    #[repr(C)]
    struct RandPoolInfo {
        entropy_count: libc::c_int,
        buf_size: libc::c_int,
        buf: [u8; 16],
    }
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&seed.to_le_bytes());
    buf[8..12].copy_from_slice(&iteration.to_le_bytes());
    let info = RandPoolInfo {
        entropy_count: 128,
        buf_size: 16,
        buf,
    };
    let Ok(f) = OpenOptions::new().write(true).open("/dev/urandom") else {
        return;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: ioctls on an open descriptor with a correctly laid out argument.
    unsafe {
        libc::ioctl(f.as_raw_fd(), RNDADDENTROPY as _, &info);
        libc::ioctl(f.as_raw_fd(), RNDRESEEDCRNG as _);
    }
}

/// Mounts the ext4 disk labelled `label` read-only, with a writable overlay on top at
/// `workdir` (writes land on the iteration's own disk and vanish with it).
fn mount_code(label: &str, workdir: &str, wait: Duration) -> io::Result<()> {
    let dev = find_by_label(label, wait)?;
    let lower = LOWER;
    for d in [lower, UPPER, OVERLAY_WORK, workdir] {
        fs::create_dir_all(d)?;
    }
    mount(&dev.to_string_lossy(), lower, "ext4", libc::MS_RDONLY, "")?;
    let opts = format!("lowerdir={lower},upperdir={UPPER},workdir={OVERLAY_WORK}");
    if mount("overlay", workdir, "overlay", 0, &opts).is_err() {
        // Without overlayfs the snapshot is still there, read-only.
        mount(lower, workdir, "", libc::MS_BIND, "")?;
        mount(
            "",
            workdir,
            "",
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            "",
        )?;
        return Ok(());
    }
    // mke2fs always makes lost+found; it is not part of the snapshot. snaprun removes it from
    // the code disks it makes; one made before that is hidden in the overlay here.
    let _ = fs::remove_dir(Path::new(workdir).join("lost+found"));
    Ok(())
}

fn mount(
    src: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(io::Error::other);
    let (src_c, target_c, fs_c, data_c) = (c(src)?, c(target)?, c(fstype)?, c(data)?);
    let rc = unsafe {
        libc::mount(
            src_c.as_ptr(),
            target_c.as_ptr(),
            if fstype.is_empty() {
                std::ptr::null()
            } else {
                fs_c.as_ptr()
            },
            flags,
            if data.is_empty() {
                std::ptr::null()
            } else {
                data_c.as_ptr().cast()
            },
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("mounting {src} at {target}: {e}"),
        ))
    }
}

/// The virtio disk whose ext4 superblock carries `label`.
fn find_by_label(label: &str, wait: Duration) -> io::Result<PathBuf> {
    let deadline = Instant::now() + wait;
    use std::os::unix::fs::MetadataExt;
    let root_dev = fs::metadata("/").map(|m| m.dev()).unwrap_or(0);
    loop {
        if let Ok(entries) = fs::read_dir("/sys/class/block") {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Whole virtio disks only (vda, vdb), not partitions (vda1).
                if !name.starts_with("vd") || name.ends_with(|c: char| c.is_ascii_digit()) {
                    continue;
                }
                let dev = Path::new("/dev").join(&name);
                if ext4_label(&dev, false).is_ok_and(|l| l == label) {
                    return Ok(dev);
                }
                // In a VM restored from a warm state, the code slot held an empty placeholder
                // when the state was saved and holds this batch's code now: drop what the
                // kernel cached of the old content and look again (never on the root disk,
                // whose cache is in use).
                let is_root = fs::metadata(&dev).is_ok_and(|m| m.rdev() == root_dev);
                if !is_root && ext4_label(&dev, true).is_ok_and(|l| l == label) {
                    return Ok(dev);
                }
            }
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "no disk labelled {label} appeared"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `BLKFLSBUF` from `<linux/fs.h>`.
const BLKFLSBUF: libc::c_ulong = 0x1261;

/// The ext4 label on `dev`; with `flush`, after dropping the kernel's cached blocks of it (so
/// this read, and ext4's when mounting, see what the disk holds now).
fn ext4_label(dev: &Path, flush: bool) -> io::Result<String> {
    let mut f = File::open(dev)?;
    if flush {
        use std::os::fd::AsRawFd;
        // SAFETY: an ioctl without an argument on an open block device.
        unsafe { libc::ioctl(f.as_raw_fd(), BLKFLSBUF as _, 0) };
    }
    let mut sb = [0u8; 136];
    f.seek(SeekFrom::Start(1024))?;
    f.read_exact(&mut sb)?;
    if sb[0x38..0x3a] != [0x53, 0xef] {
        return Err(io::Error::other("not ext4"));
    }
    let raw = &sb[0x78..0x88];
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
}
