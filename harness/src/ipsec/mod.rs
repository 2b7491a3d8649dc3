//! IPsec inside the IP-HTTPS tunnel (Linux, root): the server and each client in network
//! namespaces with kernel TUN devices on both ends, a strongSwan charon per namespace
//! (IKEv2, ESP in userspace through the `kernel-libipsec` plugin, because kernel XFRM is
//! not everywhere), configured from the lab's PKI, with DirectAccess' two tunnels as two
//! CHILD_SAs. IKEv2 is not Windows' AuthIP; it authenticates with the same machine
//! certificates and fails for the same certificate reasons.

use std::path::Path;

pub mod agent;
pub mod charon;
pub mod config;
#[cfg(target_os = "linux")]
pub mod lab;
pub mod vici;

/// The prefix of every network namespace an IPsec lab creates: `iphs-PID-N-s` (the
/// intranet), `iphs-PID-N-cK` (client K).
pub const PREFIX: &str = "iphs-";

/// Why the IPsec lab could not run.
#[derive(Debug, thiserror::Error)]
pub enum IpsecError {
    /// Namespaces, TUN devices and mounts need root.
    #[error("the IPsec lab needs root (network and mount namespaces, TUN devices)")]
    NotRoot,
    /// Not Linux.
    #[error("the IPsec lab needs Linux (network namespaces, kernel TUN devices, strongSwan)")]
    NotLinux,
    /// Tools are missing.
    #[error("the IPsec lab needs {}; install them with: apt-get install {}", .tools.join(", "), .packages.join(" "))]
    Missing {
        /// The missing commands or files.
        tools: Vec<String>,
        /// The Debian packages that have them.
        packages: Vec<String>,
    },
    /// A step failed.
    #[error("{what}: {detail}")]
    Command {
        /// The step.
        what: String,
        /// What it said.
        detail: String,
    },
    /// A TUN device could not be made.
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Tun(#[from] iphttps_sim::tun::TunError),
    /// Talking to charon failed.
    #[error(transparent)]
    Vici(#[from] vici::ViciError),
}

impl From<crate::system::Failed> for IpsecError {
    fn from(f: crate::system::Failed) -> Self {
        Self::Command {
            what: f.what,
            detail: f.detail,
        }
    }
}

impl IpsecError {
    pub(crate) fn command(what: &str, detail: impl Into<String>) -> Self {
        Self::Command {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Self::command(
            "write a configuration file",
            format!("{}: {e}", path.display()),
        )
    }
}

/// What the IPsec lab runs, and the Debian package of each.
pub const TOOLS: [(&str, &str); 11] = [
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("nft", "nftables"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    (charon::CHARON, "strongswan-charon"),
    ("swanctl", "strongswan-swanctl"),
    (
        "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so",
        "libcharon-extra-plugins",
    ),
    (
        "/usr/lib/ipsec/plugins/libstrongswan-kdf.so",
        "libstrongswan-standard-plugins",
    ),
    ("/etc/strongswan.conf", "strongswan-charon"),
    ("/etc/swanctl", "strongswan-swanctl"),
];

/// Checks privileges and tools; the error names everything that is missing.
pub fn check() -> Result<(), IpsecError> {
    if !cfg!(target_os = "linux") {
        return Err(IpsecError::NotLinux);
    }
    if !crate::system::is_root() {
        return Err(IpsecError::NotRoot);
    }
    match crate::system::missing(&TOOLS) {
        Some((tools, packages)) => Err(IpsecError::Missing { tools, packages }),
        None => Ok(()),
    }
}
