//! The IP layer every simulated host shares, sans-IO: what it sends goes out in fragments
//! when the path MTU calls for it ([`super::path`]), and fragments addressed to it are
//! put back together before the host looks at them ([`super::reassembly`]).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Instant;

use super::path::{PathConfig, PathStats, Paths};
use super::reassembly::{Outcome, Reassembler, ReassemblyConfig, ReassemblyStats};
use crate::wire::frag;

/// Limits of a host's IP layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpConfig {
    /// Reassembly timeout and memory bound.
    pub reassembly: ReassemblyConfig,
    /// Path MTU aging and the destination cache's size.
    pub paths: PathConfig,
}

/// Counters of a host's IP layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IpStats {
    /// Receiving side.
    pub reassembly: ReassemblyStats,
    /// Sending side.
    pub paths: PathStats,
    /// Packets whose header chain could not be read (cut short, a fragmented jumbogram).
    pub bad_chain: u64,
    /// Bytes held now for incomplete datagrams (bounded by the reassembly limit).
    pub held_bytes: usize,
    /// Incomplete datagrams held now.
    pub pending: usize,
}

/// A host's IP layer.
#[derive(Debug)]
pub struct IpLayer {
    reassembly: Reassembler,
    paths: Paths,
    bad_chain: u64,
}

impl IpLayer {
    /// A layer on a link of `link_mtu`.
    pub fn new(config: IpConfig, link_mtu: usize, seed: u64) -> Self {
        Self {
            reassembly: Reassembler::new(config.reassembly),
            paths: Paths::new(config.paths, link_mtu, seed),
            bad_chain: 0,
        }
    }

    /// The counters.
    pub fn stats(&self) -> IpStats {
        IpStats {
            reassembly: self.reassembly.stats().clone(),
            paths: self.paths.stats().clone(),
            bad_chain: self.bad_chain,
            held_bytes: self.reassembly.held_bytes(),
            pending: self.reassembly.pending(),
        }
    }

    /// The destination cache (path MTUs, identifications).
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The destination cache, to change.
    pub fn paths_mut(&mut self) -> &mut Paths {
        &mut self.paths
    }

    /// The reassembly buffers.
    pub fn reassembly(&self) -> &Reassembler {
        &self.reassembly
    }

    /// A packet addressed to this host arrived: the packet to handle, whole (as it came,
    /// or put back together from its fragments), or `None` while fragments are held or
    /// when it was dropped. ICMPv6 errors it calls for are queued on `out`.
    pub fn receive<'a>(
        &mut self,
        packet: &'a [u8],
        now: Instant,
        out: &mut VecDeque<Vec<u8>>,
    ) -> Option<Cow<'a, [u8]>> {
        match frag::find(packet) {
            Ok(None) => Some(Cow::Borrowed(packet)),
            Ok(Some(f)) => match self.reassembly.push(packet, &f, now, out) {
                Outcome::Whole(p) => Some(Cow::Owned(p)),
                Outcome::Held | Outcome::Dropped => None,
            },
            Err(e) => {
                self.bad_chain += 1;
                tracing::debug!(error = %e, "host dropped a packet");
                None
            }
        }
    }

    /// Queues `packet` on `out`, in fragments if it exceeds the path MTU.
    pub fn send(&mut self, packet: Vec<u8>, now: Instant, out: &mut VecDeque<Vec<u8>>) {
        self.paths.send(packet, now, out);
    }

    /// When [`IpLayer::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reassembly.poll_timeout()
    }

    /// Gives up timed-out reassemblies (Time Exceeded queued on `out`).
    pub fn handle_timeout(&mut self, now: Instant, out: &mut VecDeque<Vec<u8>>) {
        self.reassembly.handle_timeout(now, out);
    }
}
