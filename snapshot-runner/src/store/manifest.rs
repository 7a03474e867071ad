//! What an image is: its [`Manifest`] (objects by content hash, how it boots, its agent, its
//! warm state) and the content hashes that say when two are the same. Plain data, no files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The built-in image (`image build-default`), and the default of `run --image`.
pub const DEFAULT_IMAGE: &str = "default";

/// One immutable file in the store, with what the fast check compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub sha256: String,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch, as it was when the object was stored.
    pub mtime_ns: i64,
}

/// A named frozen image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// Content hash of the whole image: its objects and how it boots.
    pub hash: String,
    pub disk: Object,
    pub kernel: Option<Object>,
    pub initrd: Option<Object>,
    /// Kernel command line; only meaningful with `kernel`.
    pub append: Option<String>,
    pub memory_mib: u32,
    pub cpus: u32,
    /// RFC 3339.
    pub created: String,
    /// Free text on where the image came from (e.g. what `build-default` used).
    #[serde(default)]
    pub origin: Option<String>,
    /// Which guest agent runs the commands.
    #[serde(default, skip_serializing_if = "AgentKind::is_snaprun")]
    pub agent: AgentKind,
    /// A saved running state of this image to restore instead of booting (`image warm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<Warm>,
}

/// The agent in the guest that snaprun talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    /// `snaprun-agent` (see [`crate::agent`]): streamed output, warm restore.
    #[default]
    Snaprun,
    /// qemu-guest-agent, the standard agent of cloud images (see [`crate::qga`]).
    Qga,
}

impl AgentKind {
    pub fn is_snaprun(&self) -> bool {
        *self == AgentKind::Snaprun
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Snaprun => "snaprun",
            AgentKind::Qga => "qga",
        }
    }
    /// The virtio-serial port name the agent opens.
    pub fn port_name(self) -> &'static str {
        match self {
            AgentKind::Snaprun => crate::agent::PORT_NAME,
            AgentKind::Qga => crate::agent::QGA_PORT_NAME,
        }
    }
}

impl std::str::FromStr for AgentKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<AgentKind, String> {
        match s {
            "snaprun" => Ok(AgentKind::Snaprun),
            "qga" => Ok(AgentKind::Qga),
            _ => Err(format!("unknown agent `{s}`; use snaprun or qga")),
        }
    }
}

/// A warm state: the guest's device and memory state saved right after its agent became ready,
/// and the disk as it was at that instant (a qcow2 layer whose backing file is the image's disk).
/// Only valid together, and only for the QEMU version and accelerator that saved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warm {
    /// Content hash of the state, the layer, the image and what restoring depends on.
    pub hash: String,
    /// The image (by content hash) the state was booted from.
    pub image_hash: String,
    pub state: Object,
    pub layer: Object,
    /// `major.minor.micro` of the QEMU that saved it; another version is not trusted to load it.
    pub qemu_version: String,
    /// `kvm` or `tcg`: the CPU model differs, so a state restores only under the same one.
    pub accel: String,
    /// RFC 3339.
    pub created: String,
}

/// The content hash of a warm state.
pub fn warm_hash(w: &Warm) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "snaprun-warm-v1\nimage={}\nstate={}\nlayer={}\nqemu={}\naccel={}\n",
        w.image_hash, w.state.sha256, w.layer.sha256, w.qemu_version, w.accel
    ));
    hex(&h.finalize())
}

/// A freshly saved warm state, before it goes into the store.
#[derive(Debug, Clone, Copy)]
pub struct SavedState<'a> {
    /// The device and memory state file QEMU wrote.
    pub state: &'a Path,
    /// The disk layer of that instant (qcow2, backing file: the image's disk object).
    pub layer: &'a Path,
    pub qemu_version: &'a str,
    pub accel: &'a str,
}

/// A warm state checked and ready to restore.
#[derive(Debug, Clone)]
pub struct WarmFiles {
    pub meta: Warm,
    pub state: PathBuf,
    pub layer: PathBuf,
}

/// What an image boots from, as `image add` takes it.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    pub disk: PathBuf,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub append: Option<String>,
    pub memory_mib: Option<u32>,
    pub cpus: Option<u32>,
    pub origin: Option<String>,
    pub agent: AgentKind,
}

pub const DEFAULT_MEMORY_MIB: u32 = 512;
pub const DEFAULT_CPUS: u32 = 1;

/// An image checked and ready to boot: the paths of its objects inside the store.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Manifest,
    pub disk: PathBuf,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub warm: Option<WarmFiles>,
}

/// The content hash of an image: everything that decides what a boot of it does.
pub fn image_hash(m: &Manifest) -> String {
    let mut h = Sha256::new();
    let opt = |o: &Option<Object>| o.as_ref().map(|o| o.sha256.clone()).unwrap_or_default();
    h.update(format!(
        "snaprun-image-v1\ndisk={}\nkernel={}\ninitrd={}\nappend={}\nmemory={}\ncpus={}\n",
        m.disk.sha256,
        opt(&m.kernel),
        opt(&m.initrd),
        m.append.as_deref().unwrap_or(""),
        m.memory_mib,
        m.cpus
    ));
    // Added after v1; left out for snaprun's own agent so existing hashes stay valid.
    if m.agent != AgentKind::Snaprun {
        h.update(format!("agent={}\n", m.agent.as_str()));
    }
    hex(&h.finalize())
}

pub(super) fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "image name `{name}` is not valid; use letters, digits, `-`, `_` and `.` (at most 64)"
        )))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("default").is_ok());
        assert!(validate_name("debian-ci_1.2").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_hash_covers_boot_parameters() {
        let obj = Object {
            sha256: "ab".into(),
            size: 1,
            mtime_ns: 1,
        };
        let mut m = Manifest {
            name: "x".into(),
            hash: String::new(),
            disk: obj.clone(),
            kernel: None,
            initrd: None,
            append: None,
            memory_mib: 512,
            cpus: 1,
            created: String::new(),
            origin: None,
            agent: AgentKind::Snaprun,
            warm: None,
        };
        let a = image_hash(&m);
        m.append = Some("quiet".into());
        let b = image_hash(&m);
        m.name = "other".into();
        assert_ne!(a, b);
        assert_eq!(b, image_hash(&m), "the name is not part of the content");
        m.agent = AgentKind::Qga;
        assert_ne!(b, image_hash(&m), "the agent decides how commands run");
    }
}
