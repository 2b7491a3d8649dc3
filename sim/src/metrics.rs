//! What `/metrics` and `/status` show: a snapshot of the server's counters, rendered in
//! the Prometheus text exposition format (version 0.0.4) or as JSON.

use std::fmt::Write as _;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::admin::health::{HealthState, OperationsStatus};
use crate::link::router::{DropReason, RouterStats};
use crate::server::ServerStats;

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
    /// The connected clients.
    pub clients: Vec<ClientInfo>,
    /// Time since the server started.
    pub uptime: Duration,
}

struct Writer(String);

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the snapshot in the Prometheus text format, with the Operations Status as
/// `iphttps_component_healthy`.
pub fn prometheus(s: &Snapshot, ops: &OperationsStatus) -> String {
    let mut w = Writer(String::with_capacity(4096));
    w.single(
        "iphttps_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        format!("{:.3}", s.uptime.as_secs_f64()),
    );
    w.single(
        "iphttps_clients_connected",
        "gauge",
        "Clients with a tunnel up (entries in the client table).",
        s.clients.len(),
    );
    w.single(
        "iphttps_connections_accepted_total",
        "counter",
        "TCP connections accepted.",
        s.server.accepted,
    );
    w.single(
        "iphttps_tunnels_established_total",
        "counter",
        "Connections that got their 200 and became tunnels.",
        s.server.tunnels,
    );
    w.family(
        "iphttps_connections_failed_total",
        "counter",
        "Connections that did not become tunnels, by the Last Error Code the client reports and the server's reason.",
    );
    for ((code, reason), n) in &s.server.failures {
        w.sample(
            "iphttps_connections_failed_total",
            &[
                ("code", &code.to_string()),
                ("symbol", code.symbol().unwrap_or("unknown")),
                ("reason", reason),
            ],
            n,
        );
    }
    w.family(
        "iphttps_bytes_total",
        "counter",
        "Tunnel payload bytes (IPv6 packets inside TLS), by direction.",
    );
    w.sample(
        "iphttps_bytes_total",
        &[("direction", "from_clients")],
        s.server.bytes_in,
    );
    w.sample(
        "iphttps_bytes_total",
        &[("direction", "to_clients")],
        s.server.bytes_out,
    );
    w.family(
        "iphttps_packets_total",
        "counter",
        "IPv6 packets through the router, by direction.",
    );
    for (dir, n) in [
        ("from_clients", s.router.from_clients),
        ("to_clients", s.router.to_clients),
        ("from_intranet", s.router.from_intranet),
        ("to_intranet", s.router.to_intranet),
    ] {
        w.sample("iphttps_packets_total", &[("direction", dir)], n);
    }
    w.single(
        "iphttps_router_advertisements_sent_total",
        "counter",
        "Router Advertisements sent (solicited and unsolicited).",
        s.router.ras_sent,
    );
    w.family(
        "iphttps_packets_dropped_total",
        "counter",
        "Packets dropped, by reason (the router's reasons and full client queues).",
    );
    for r in DropReason::ALL {
        w.sample(
            "iphttps_packets_dropped_total",
            &[("reason", r.as_str())],
            s.router.dropped(r),
        );
    }
    w.sample(
        "iphttps_packets_dropped_total",
        &[("reason", "client_queue_full")],
        s.server.queue_drops,
    );
    w.single(
        "iphttps_deframer_errors_total",
        "counter",
        "Sessions ended because their byte stream could not be delimited into IPv6 packets.",
        s.server.framing_errors,
    );
    w.single(
        "iphttps_idle_closed_total",
        "counter",
        "Tunnels closed after the idle timeout.",
        s.server.idle_closed,
    );
    let h = &s.server.handshake;
    let name = "iphttps_handshake_duration_seconds";
    w.family(
        name,
        "histogram",
        "Time from TCP accept to the client-table entry (TLS handshake and HTTP head).",
    );
    let mut cumulative = 0;
    for (i, le) in HANDSHAKE_BUCKETS.iter().enumerate() {
        cumulative += h.counts[i];
        w.sample(
            &format!("{name}_bucket"),
            &[("le", &le.to_string())],
            cumulative,
        );
    }
    w.sample(&format!("{name}_bucket"), &[("le", "+Inf")], h.count());
    w.sample(
        &format!("{name}_sum"),
        &[],
        format!("{:.6}", h.sum_micros as f64 / 1e6),
    );
    w.sample(&format!("{name}_count"), &[], h.count());
    w.family(
        "iphttps_component_healthy",
        "gauge",
        "Operations Status per component (Get-RemoteAccessHealth): 1 when OK, 0 for Warning or Error (state in the label).",
    );
    let server = std::iter::once(("Server", ops.server));
    let components = ops
        .components
        .iter()
        .map(|c| (c.component.as_str(), c.state));
    for (component, state) in server.chain(components) {
        w.sample(
            "iphttps_component_healthy",
            &[("component", component), ("state", state.as_str())],
            u8::from(state == HealthState::Ok),
        );
    }
    w.0
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

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
