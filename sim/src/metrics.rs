//! What `/metrics` and `/status` show: a snapshot of the server's counters, rendered in
//! the Prometheus text exposition format (version 0.0.4) or as JSON.

use std::fmt::Write as _;

use crate::link::router::DropReason;
use crate::server::{HANDSHAKE_BUCKETS, Snapshot};
use crate::windows::health::{HealthState, OperationsStatus};

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

/// Bytes this process's allocator has handed out and not had back (live heap), from the
/// allocator's own statistics: glibc's `mallinfo2` on Linux (arena and mmapped chunks in
/// use); `None` on other systems.
#[allow(unsafe_code)]
pub fn heap_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and returns a struct by value; it reads the
        // allocator's counters under the allocator's own locks (glibc 2.33 or later).
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks + m.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
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
    if let Some(h) = heap_in_use() {
        w.single(
            "iphttps_process_heap_bytes",
            "gauge",
            "Live heap of the server process (allocated and not freed), from the allocator's statistics.",
            h,
        );
    }
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
    for (reason, n) in [
        ("client_queue_full", s.server.to_clients.queue_full),
        ("client_session_ended", s.server.to_clients.session_ended),
        ("intranet_queue_full", s.server.intranet_queue_drops),
        ("intranet_fragment_filter", s.server.intranet_filtered),
    ] {
        w.sample("iphttps_packets_dropped_total", &[("reason", reason)], n);
    }
    w.family(
        "iphttps_intranet_fragments_total",
        "counter",
        "The built-in intranet host's IPv6 fragments and reassemblies, by event.",
    );
    let (r, p) = (&s.intranet.ip.reassembly, &s.intranet.ip.paths);
    for (event, n) in [
        ("received", r.fragments),
        ("reassembled", r.reassembled),
        ("atomic", r.atomic),
        ("timed_out", r.timed_out),
        ("time_exceeded_sent", r.time_exceeded_sent),
        ("overlapping", r.overlapping),
        ("duplicate", r.duplicates),
        ("incomplete_chain", r.incomplete_chain),
        ("invalid", r.invalid),
        ("evicted", r.evicted),
        ("sent", p.fragments_sent),
        ("path_mtu_lowered", p.pmtu_lowered),
    ] {
        w.sample("iphttps_intranet_fragments_total", &[("event", event)], n);
    }
    w.single(
        "iphttps_core_lock_acquisitions_total",
        "counter",
        "Times the server took the lock around its router, client table and intranet host.",
        s.core_lock.acquisitions,
    );
    w.single(
        "iphttps_core_lock_contended_total",
        "counter",
        "Times that lock was already held and the taker waited.",
        s.core_lock.contended,
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
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
