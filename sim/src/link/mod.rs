//! The IP-HTTPS link as state machines, sans-IO.
//!
//! Time comes in as an argument (`now`), never from a clock; each machine says what to
//! send and when it next needs to be called (`poll_timeout`). The tokio shells in
//! [`crate::server`] and [`crate::client`] drive them.
//!
//! - [`router`]: the server side, a router for the clients ([MS-IPHTTPS] 3.2.5.2).
//! - [`host`]: the client side, an IPv6 host doing ND and SLAAC over the tunnel.
//! - [`intranet`]: a host on the internal network behind the server.
//! - [`filter`]: a firewall on the internal network that drops fragments.
//! - [`ip`]: the IP layer both hosts share: [`path`] (path MTU, fragmenting at the source)
//!   and [`reassembly`] (fragments put back together at the destination).
//! - [`reconnect`]: the client's reconnect timer ([MS-IPHTTPS] 3.1.2.1).

pub mod filter;
pub mod host;
pub mod intranet;
pub mod ip;
pub mod path;
pub mod reassembly;
pub mod reconnect;
pub mod router;

use bytes::Bytes;

/// A packet on its way out, shared with the buffer it arrived in where possible.
///
/// A forwarded packet keeps its received bytes and carries its first eight bytes, with
/// the decremented hop limit, separately; [`Frame::write_to`] and [`Frame::pieces`] put
/// them in front of the rest, so forwarding costs one copy, the one into the TLS write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: Bytes,
    /// The first eight bytes as they go on the wire (the Hop Limit is the eighth), or
    /// fewer for a runt: `head_len` of them.
    head: [u8; HEAD],
    head_len: u8,
}

/// Bytes up to and including the IPv6 Hop Limit field.
const HEAD: usize = 8;

impl Frame {
    /// A packet sent as it is.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let hop_limit = bytes.get(HEAD - 1).copied().unwrap_or(0);
        Self::forwarded(bytes, hop_limit)
    }

    /// A packet forwarded with a new hop limit.
    pub fn forwarded(bytes: Bytes, hop_limit: u8) -> Self {
        let mut head = [0u8; HEAD];
        let head_len = bytes.len().min(HEAD);
        head[..head_len].copy_from_slice(&bytes[..head_len]);
        if head_len == HEAD {
            head[HEAD - 1] = hop_limit;
        }
        Self {
            bytes,
            head,
            head_len: head_len as u8,
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the frame is empty (never true for a valid packet).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes as received, without the hop-limit change.
    pub fn raw(&self) -> &Bytes {
        &self.bytes
    }

    /// Appends the packet as it goes on the wire to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for p in self.pieces() {
            out.extend_from_slice(p);
        }
    }

    /// The packet as it goes on the wire in two pieces, for a vectored write without a
    /// copy: the first eight bytes with the new hop limit, and the bytes after them.
    pub fn pieces(&self) -> [&[u8]; 2] {
        let n = usize::from(self.head_len);
        [&self.head[..n], &self.bytes[n..]]
    }

    /// The packet as it goes on the wire.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write_to(&mut v);
        v
    }
}

/// Keeps a table that sees steady insert-and-remove churn (clients coming and going) at
/// most half full of live entries and deleted slots, rebuilding it when it gets fuller.
/// A hash table reuses deleted slots only after a rehash, and a rehash more than half full
/// doubles the table: without this, the table doubles once after enough churn, long after
/// the load it serves was reached (the soak saw that as a step in the server's live heap).
/// With it the table's size depends only on how many entries it holds.
pub fn reserve_for_churn<K, V, S>(table: &mut std::collections::HashMap<K, V, S>)
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher,
{
    // `capacity` is the live entries plus the slots still free: deleted ones count as used
    if table.len() * 2 >= table.capacity() {
        table.shrink_to(0);
        table.reserve(table.len() + 1);
    }
}

#[cfg(test)]
mod tests;
