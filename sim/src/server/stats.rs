//! The server's counters and the snapshot `/metrics` and `/status` are rendered from.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::link::intranet::IntranetStats;
use crate::link::router::RouterStats;
use crate::winerr::LastErrorCode;

/// Counters of the shell (the router keeps its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// Connections that reached the tunnel (200 sent).
    pub tunnels: u64,
    /// Connections that failed the TLS handshake.
    pub tls_failures: u64,
    /// Connections closed because of their HTTP head.
    pub head_refused: u64,
    /// Sessions ended because their stream could not be delimited.
    pub framing_errors: u64,
    /// What became of the packets the router sent toward clients.
    pub to_clients: ToClients,
    /// Packets for the intranet dropped because the intranet link's queue was full.
    pub intranet_queue_drops: u64,
    /// Fragments the internal network's firewall dropped, both ways.
    pub intranet_filtered: u64,
    /// Bytes of tunnel payload received from clients.
    pub bytes_in: u64,
    /// Bytes of tunnel payload sent to clients.
    pub bytes_out: u64,
    /// Tunnels closed for being idle.
    pub idle_closed: u64,
    /// Connections closed because the TLS handshake and head did not finish in time.
    pub handshake_timeouts: u64,
    /// Connections refused because the client table was full.
    pub table_full: u64,
    /// Connections that did not become tunnels, by the Last Error Code the client
    /// reports for what the server saw, and the server's reason.
    pub failures: BTreeMap<(LastErrorCode, &'static str), u64>,
    /// Time from accept to the 200 response.
    pub handshake: Histogram,
}

/// What became of each packet the router sent toward a client, counted once where it
/// ends in the shell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClients {
    /// Put on the client's session queue.
    pub queued: u64,
    /// Dropped because the client's queue was full.
    pub queue_full: u64,
    /// Addressed to a session that had already ended.
    pub session_ended: u64,
}

/// Packets the router sent toward clients that the shell does not account for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the router sent {sent} packet(s) toward clients, but {} queued + {} lost to full queues + {} for ended sessions = {}",
    shell.queued, shell.queue_full, shell.session_ended, shell.total()
)]
pub struct ShellUnreconciled {
    /// Packets the router emitted toward clients.
    pub sent: u64,
    /// What the shell counted.
    pub shell: ToClients,
}

impl ToClients {
    /// Every disposition counted.
    pub fn total(&self) -> u64 {
        self.queued + self.queue_full + self.session_ended
    }

    /// Every packet the router sent toward a client was queued, lost to a full queue, or
    /// addressed to a session that had ended, once.
    pub fn reconcile(&self, router: &RouterStats) -> Result<(), ShellUnreconciled> {
        if router.to_clients == self.total() {
            Ok(())
        } else {
            Err(ShellUnreconciled {
                sent: router.to_clients,
                shell: *self,
            })
        }
    }
}

impl ServerStats {
    pub(super) fn fail(&mut self, code: LastErrorCode, reason: &'static str) {
        *self.failures.entry((code, reason)).or_default() += 1;
    }
}

/// Upper bounds (seconds) of the handshake latency histogram's buckets.
pub const HANDSHAKE_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A fixed-bucket histogram of durations (cumulative counts are made when rendering).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket of [`HANDSHAKE_BUCKETS`], plus one for `+Inf`.
    pub counts: [u64; HANDSHAKE_BUCKETS.len() + 1],
    /// Sum of the observations in microseconds.
    pub sum_micros: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let i = HANDSHAKE_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(HANDSHAKE_BUCKETS.len());
        self.counts[i] += 1;
        self.sum_micros += d.as_micros() as u64;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One connected client as `/status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClientInfo {
    /// The server's number for the client.
    pub id: u64,
    /// The client's TCP address (a proxy's, if it came through one).
    pub peer: SocketAddr,
    /// The negotiated TLS cipher suite (`TLS_RSA_WITH_NULL_SHA256` when NULL encryption
    /// is in use).
    pub cipher_suite: String,
    /// The IPv6 addresses the client owns on the link.
    pub addresses: Vec<Ipv6Addr>,
    /// Tunnel payload bytes received from the client.
    pub bytes_in: u64,
    /// Tunnel payload bytes sent to the client.
    pub bytes_out: u64,
    /// Seconds since the tunnel came up.
    pub connected_seconds: f64,
}

/// Everything `/metrics` and `/status` show, read under the server's lock at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The shell's counters.
    pub server: ServerStats,
    /// The router's counters.
    pub router: RouterStats,
    /// The built-in intranet host's counters.
    pub intranet: IntranetStats,
    /// The connected clients.
    pub clients: Vec<ClientInfo>,
    /// Time since the server started.
    pub uptime: Duration,
    /// How the lock around the router, the client table and the intranet host is taken.
    pub core_lock: LockStats,
}

/// How often the server's core lock was taken, and how often a taker found it held and
/// had to wait: the measure of whether the one lock on the per-packet path limits many
/// clients at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LockStats {
    /// Times the lock was taken.
    pub acquisitions: u64,
    /// Times it was already held and the taker waited.
    pub contended: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_bounds() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(1000));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        assert_eq!(h.counts[0], 1, "1 ms falls in le=0.001");
        assert_eq!(h.counts[2], 1, "3 ms falls in le=0.005");
        assert_eq!(h.counts[HANDSHAKE_BUCKETS.len()], 1, "60 s only in +Inf");
        assert_eq!(h.count(), 3);
    }
}
