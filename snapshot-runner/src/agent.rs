//! The guest agent protocol, and its host side.
//!
//! One virtio-serial port (named [`PORT_NAME`]) carries typed, length-prefixed frames:
//! `[kind: u8][len: u32 big-endian][payload: len bytes]`. The command's output travels only
//! inside `Stdout`/`Stderr` frames, so nothing it prints can be mistaken for a result: the exit
//! status is its own frame kind, sent by the agent, never by the command.
//!
//! ```text
//! guest -> host  Ready {version}          the agent is up and waits for a job
//! host -> guest  Job {command, env, iteration, seed, code_label, clock_ms}
//! guest -> host  Started {}               clock set, RNG reseeded, code mounted: the command starts
//! guest -> host  Stdout bytes / Stderr bytes (any number)
//! guest -> host  Exit {code, signal, duration_ms}   or   Error {message}
//! ```
//!
//! A VM restored from a warm state (see `crate::warm`) said `Ready` once, when the state was
//! saved, and is restored waiting for its `Job`: the host sends the job at once. The agent then
//! sets the guest's wall clock from `clock_ms` and reseeds the kernel RNG with the iteration's
//! seed, because every restore starts from the same copied clock and RNG state.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The virtio-serial port name the agent looks for in `/sys/class/virtio-ports/*/name`.
pub const PORT_NAME: &str = "org.retrace.snaprun.0";
pub const PROTOCOL_VERSION: u32 = 2;
/// The virtio-serial port name of qemu-guest-agent (QGA), for images without snaprun's agent.
pub const QGA_PORT_NAME: &str = "org.qemu.guest_agent.0";
/// Frames larger than this are a protocol error (output is sent in smaller chunks).
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Ready = 1,
    Job = 2,
    Stdout = 3,
    Stderr = 4,
    Exit = 5,
    Error = 6,
    Started = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Ready,
            2 => Kind::Job,
            3 => Kind::Stdout,
            4 => Kind::Stderr,
            5 => Kind::Exit,
            6 => Kind::Error,
            7 => Kind::Started,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Run by `/bin/sh -c` in [`Job::workdir`].
    pub command: String,
    pub env: Vec<(String, String)>,
    pub iteration: u32,
    pub seed: u64,
    /// The ext4 label of the code disk to mount at `workdir`; `None` runs without code.
    pub code_label: Option<String>,
    pub workdir: String,
    /// The host's wall clock (ms since the epoch) when the job was sent; the agent sets the
    /// guest's clock to it before the command starts.
    #[serde(default)]
    pub clock_ms: Option<i64>,
}

/// Sent by the agent when the command starts (after the clock, the RNG and the code disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Guest wall clock (ms since the epoch) as the command starts.
    pub clock_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub message: String,
}

/// Where the guest sees the code snapshot, and where the command runs.
pub const WORKDIR: &str = "/work";

/// `PATH` in the guest, for the command.
const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The whole environment of the command, under snaprun's agent and under qemu-guest-agent
/// alike: a plain `PATH`, the iteration and its seed, then the job's own variables.
pub fn command_env(iteration: u32, seed: u64, extra: &[(String, String)]) -> Vec<(String, String)> {
    [
        ("PATH", GUEST_PATH.to_string()),
        ("HOME", "/root".to_string()),
        ("TERM", "dumb".to_string()),
        ("SNAPRUN_ITERATION", iteration.to_string()),
        ("SNAPRUN_SEED", seed.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra.iter().cloned())
    .collect()
}

impl Frame {
    pub fn json<T: Serialize>(kind: Kind, value: &T) -> Frame {
        Frame {
            kind,
            // The protocol's types always serialise; were one not to, the empty payload
            // fails to parse on the other side, as a frame of garbage would.
            payload: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn parse<T: for<'de> Deserialize<'de>>(&self) -> io::Result<T> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad {:?} frame: {e}", self.kind),
            )
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.payload.len());
        out.push(self.kind as u8);
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())?;
        w.flush()
    }
}

/// Splits a byte stream into frames; bytes arrive in any chunking.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let kind = Kind::from_u8(self.buf[0]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown frame kind {}", self.buf[0]),
            )
        })?;
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame of {len} bytes is too large"),
            ));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let payload = self.buf[5..5 + len].to_vec();
        self.buf.drain(..5 + len);
        Ok(Some(Frame { kind, payload }))
    }

    /// Reads from `r` until a whole frame is there. `Ok(None)` on a read timeout (set on the
    /// stream by the caller) so the caller can check its deadlines; EOF is an error.
    pub fn read_frame(&mut self, r: &mut impl Read) -> io::Result<Option<Frame>> {
        loop {
            if let Some(f) = self.next_frame()? {
                return Ok(Some(f));
            }
            let mut chunk = [0u8; 64 << 10];
            match r.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "agent channel closed",
                    ));
                }
                Ok(n) => self.push(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Output kept from one iteration: the first and the last `limit / 2` bytes, so both how it
/// started and how it ended survive a command that prints gigabytes.
#[derive(Debug)]
pub struct BoundedOutput {
    limit: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl BoundedOutput {
    pub fn new(limit: usize) -> BoundedOutput {
        BoundedOutput {
            limit,
            head: Vec::new(),
            tail: Default::default(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        let head_room = (self.limit / 2).saturating_sub(self.head.len());
        let take = head_room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        let tail_cap = self.limit - self.limit / 2;
        self.tail.extend(bytes);
        while self.tail.len() > tail_cap {
            let over = self.tail.len() - tail_cap;
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        if self.dropped > 0 {
            out.extend_from_slice(
                format!("\n[snaprun: {} bytes of output left out]\n", self.dropped).as_bytes(),
            );
        }
        out.extend(self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_chunking() {
        let frames = vec![
            Frame::json(Kind::Ready, &Ready { version: 1 }),
            Frame {
                kind: Kind::Stdout,
                payload: b"\x05\0\0\0\x10{\"code\":0}".to_vec(),
            },
            Frame::json(
                Kind::Exit,
                &Exit {
                    code: Some(3),
                    signal: None,
                    duration_ms: 9,
                },
            ),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        for chunk in [1, 2, 7, bytes.len()] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                d.push(c);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, frames, "chunk size {chunk}");
        }
    }

    #[test]
    fn output_that_looks_like_a_frame_stays_output() {
        // A command printing the bytes of an Exit frame produces a Stdout frame containing them.
        let forged = Frame::json(
            Kind::Exit,
            &Exit {
                code: Some(0),
                signal: None,
                duration_ms: 0,
            },
        )
        .encode();
        let f = Frame {
            kind: Kind::Stdout,
            payload: forged.clone(),
        };
        let mut d = Decoder::default();
        d.push(&f.encode());
        let got = d.next_frame().unwrap().unwrap();
        assert_eq!(got.kind, Kind::Stdout);
        assert_eq!(got.payload, forged);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut d = Decoder::default();
        d.push(&[99, 0, 0, 0, 0]);
        assert!(d.next_frame().is_err());
        let mut d = Decoder::default();
        d.push(&[3, 0xff, 0xff, 0xff, 0xff]);
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn the_command_gets_a_fixed_environment_then_the_jobs_own() {
        let env = command_env(3, 42, &[("FOO".into(), "bar".into())]);
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "PATH",
                "HOME",
                "TERM",
                "SNAPRUN_ITERATION",
                "SNAPRUN_SEED",
                "FOO"
            ]
        );
        assert_eq!(env[3].1, "3");
        assert_eq!(env[4].1, "42");
    }

    #[test]
    fn bounded_output_keeps_head_and_tail() {
        let mut o = BoundedOutput::new(10);
        o.push(b"abc");
        o.push(b"defghijklmnop");
        let s = String::from_utf8(o.into_bytes()).unwrap();
        assert!(s.starts_with("abcde"), "{s}");
        assert!(s.ends_with("lmnop"), "{s}");
        assert!(s.contains("6 bytes of output left out"), "{s}");
        let mut small = BoundedOutput::new(10);
        small.push(b"hi");
        assert_eq!(small.into_bytes(), b"hi");
    }
}
