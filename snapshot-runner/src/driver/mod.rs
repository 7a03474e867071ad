//! Driving a guest agent through one job on a started VM: one [`Driver`] per kind of agent
//! (snaprun's own, qemu-guest-agent), behind one interface. A driver only watches and reports
//! what it saw ([`Observed`](crate::classify::Observed)); [`crate::classify`] judges it, and
//! [`crate::iteration`] owns the VM around it (starting it, stopping it after the driver
//! returns, keeping its files).

mod job;
mod qemu_guest_agent;
mod snaprun_agent;

pub use self::job::{DEFAULT_BOOT_TIMEOUT, Driver, Drove, Echo, Job, Stream};
pub use self::snaprun_agent::{Boot, await_ready};
use crate::store::AgentKind;

/// The driver of images with `kind` of agent.
pub fn for_agent(kind: AgentKind) -> &'static dyn Driver {
    match kind {
        AgentKind::Snaprun => &snaprun_agent::SnaprunAgent,
        AgentKind::Qga => &qemu_guest_agent::QemuGuestAgent,
    }
}
