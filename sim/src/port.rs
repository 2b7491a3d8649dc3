//! A packet port between a tunnel and an operating system's IPv6 stack (kernel TUN mode):
//! the client's link pumps packets through one side, a device (`crate::tun` on Linux)
//! the other. Portable: only the device behind it is Linux-only.
//!
//! Packets cross it in batches (the packets of one device read, or of one read of the
//! tunnel), so one wake-up and one hand-over carry many packets.

use std::net::Ipv6Addr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Mutex, mpsc, watch};

use crate::link::Frame;

/// Packets handed over together, in order.
pub type Batch = Vec<Bytes>;

/// A packet as it goes on the wire, in at most two pieces: a forwarded packet's first
/// bytes with its new hop limit, then the rest where it arrived (see [`Frame`]). A device
/// copies the pieces once, into its own buffer.
pub trait OnWire {
    /// The pieces, in order (the second may be empty).
    fn pieces(&self) -> [&[u8]; 2];
}

impl OnWire for Bytes {
    fn pieces(&self) -> [&[u8]; 2] {
        [self, &[]]
    }
}

impl OnWire for Frame {
    fn pieces(&self) -> [&[u8]; 2] {
        Frame::pieces(self)
    }
}

/// The client's side of a channel pair to an operating system's IPv6 stack.
pub struct KernelPort {
    pub(crate) to_kernel: mpsc::Sender<Batch>,
    pub(crate) from_kernel: Mutex<mpsc::Receiver<Batch>>,
    pub(crate) addresses: watch::Receiver<Vec<Ipv6Addr>>,
}

/// The device's side of a [`KernelPort`]: what the tunnel delivers and where the
/// kernel's packets go.
pub struct DeviceSide {
    /// Packets from the server, for the kernel.
    pub from_tunnel: mpsc::Receiver<Batch>,
    /// Packets from the kernel, for the server (dropped while the link is down and the
    /// queue is full).
    pub to_tunnel: mpsc::Sender<Batch>,
    /// The IPv6 addresses the kernel has on the device, as it reports them.
    pub addresses: watch::Sender<Vec<Ipv6Addr>>,
}

impl KernelPort {
    /// A port with queues of `capacity` batches each way, and the device's side of it.
    pub fn new(capacity: usize) -> (Arc<KernelPort>, DeviceSide) {
        let (to_kernel, from_tunnel) = mpsc::channel(capacity);
        let (to_tunnel, from_kernel) = mpsc::channel(capacity);
        let (addresses_tx, addresses) = watch::channel(Vec::new());
        (
            Arc::new(KernelPort {
                to_kernel,
                from_kernel: Mutex::new(from_kernel),
                addresses,
            }),
            DeviceSide {
                from_tunnel,
                to_tunnel,
                addresses: addresses_tx,
            },
        )
    }
}

impl std::fmt::Debug for KernelPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelPort")
    }
}
