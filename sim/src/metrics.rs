//! What `/metrics` and `/status` show: a snapshot of the server's counters, rendered in
//! the OpenMetrics text format by the official Prometheus client (`prometheus-client`,
//! one collector reading the snapshot on each scrape) or as JSON.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::link::router::DropReason;
use crate::server::{HANDSHAKE_BUCKETS, Snapshot};
use crate::windows::health::{HealthState, OperationsStatus};

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

/// The media type of [`prometheus`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders the snapshot in the OpenMetrics text format (which Prometheus scrapes), with
/// the Operations Status as `iphttps_component_healthy`.
pub fn prometheus(s: &Snapshot, ops: &OperationsStatus) -> String {
    render(Box::new(SnapshotCollector {
        snapshot: s.clone(),
        ops: ops.clone(),
    }))
}

/// The OpenMetrics text of what `collector` encodes.
pub fn render(collector: Box<dyn Collector>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(collector);
    let mut out = String::with_capacity(8192);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::warn!(error = %e, "metrics could not be encoded");
    }
    out
}

/// One scrape's view of the server.
#[derive(Debug)]
struct SnapshotCollector {
    snapshot: Snapshot,
    ops: OperationsStatus,
}

/// A family of constant samples: a counter (its samples are `NAME_total`) or a gauge,
/// one sample per label set.
pub fn family<M: EncodeMetric>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Vec<(&'static str, String)>, M)>,
) -> std::fmt::Result {
    let mut f = e.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in samples {
        m.encode(f.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A counter without labels (its sample is `NAME_total`).
pub fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let m = ConstCounter::new(v);
    m.encode(e.encode_descriptor(name, help, None, m.metric_type())?)
}

/// A gauge without labels (`f64` or `i64`).
pub fn gauge<V>(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: V) -> std::fmt::Result
where
    ConstGauge<V>: EncodeMetric,
{
    let m = ConstGauge::new(v);
    m.encode(e.encode_descriptor(name, help, None, m.metric_type())?)
}

/// Label pairs as a family's label set.
pub fn labels(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let (s, ops) = (&self.snapshot, &self.ops);
        gauge(
            &mut e,
            "iphttps_uptime_seconds",
            "Seconds since the server started.",
            s.uptime.as_secs_f64(),
        )?;
        if let Some(h) = heap_in_use() {
            gauge(
                &mut e,
                "iphttps_process_heap_bytes",
                "Live heap of the server process (allocated and not freed), from the allocator's statistics.",
                h as f64,
            )?;
        }
        gauge(
            &mut e,
            "iphttps_clients_connected",
            "Clients with a tunnel up (entries in the client table).",
            s.clients.len() as f64,
        )?;
        counter(
            &mut e,
            "iphttps_connections_accepted",
            "TCP connections accepted.",
            s.server.accepted,
        )?;
        counter(
            &mut e,
            "iphttps_tunnels_established",
            "Connections that got their 200 and became tunnels.",
            s.server.tunnels,
        )?;
        family(
            &mut e,
            "iphttps_connections_failed",
            "Connections that did not become tunnels, by the Last Error Code the client reports and the server's reason.",
            MetricType::Counter,
            s.server.failures.iter().map(|((code, reason), n)| {
                (
                    labels(&[
                        ("code", &code.to_string()),
                        ("symbol", code.symbol().unwrap_or("unknown")),
                        ("reason", reason),
                    ]),
                    ConstCounter::new(*n),
                )
            }),
        )?;
        family(
            &mut e,
            "iphttps_bytes",
            "Tunnel payload bytes (IPv6 packets inside TLS), by direction.",
            MetricType::Counter,
            [
                ("from_clients", s.server.bytes_in),
                ("to_clients", s.server.bytes_out),
            ]
            .map(|(d, n)| (labels(&[("direction", d)]), ConstCounter::new(n))),
        )?;
        family(
            &mut e,
            "iphttps_packets",
            "IPv6 packets through the router, by direction.",
            MetricType::Counter,
            [
                ("from_clients", s.router.from_clients),
                ("to_clients", s.router.to_clients),
                ("from_intranet", s.router.from_intranet),
                ("to_intranet", s.router.to_intranet),
            ]
            .map(|(d, n)| (labels(&[("direction", d)]), ConstCounter::new(n))),
        )?;
        counter(
            &mut e,
            "iphttps_router_advertisements_sent",
            "Router Advertisements sent (solicited and unsolicited).",
            s.router.ras_sent,
        )?;
        let router_drops = DropReason::ALL
            .iter()
            .map(|r| (r.as_str(), s.router.dropped(*r)));
        let shell_drops = [
            ("client_queue_full", s.server.to_clients.queue_full),
            ("client_session_ended", s.server.to_clients.session_ended),
            ("intranet_queue_full", s.server.intranet_queue_drops),
            ("intranet_fragment_filter", s.server.intranet_filtered),
        ];
        family(
            &mut e,
            "iphttps_packets_dropped",
            "Packets dropped, by reason (the router's reasons and full client queues).",
            MetricType::Counter,
            router_drops
                .chain(shell_drops)
                .map(|(r, n)| (labels(&[("reason", r)]), ConstCounter::new(n))),
        )?;
        let (r, p) = (&s.intranet.ip.reassembly, &s.intranet.ip.paths);
        family(
            &mut e,
            "iphttps_intranet_fragments",
            "The built-in intranet host's IPv6 fragments and reassemblies, by event.",
            MetricType::Counter,
            [
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
            ]
            .map(|(ev, n)| (labels(&[("event", ev)]), ConstCounter::new(n))),
        )?;
        counter(
            &mut e,
            "iphttps_core_lock_acquisitions",
            "Times the server took the lock around its router, client table and intranet host.",
            s.core_lock.acquisitions,
        )?;
        counter(
            &mut e,
            "iphttps_core_lock_contended",
            "Times that lock was already held and the taker waited.",
            s.core_lock.contended,
        )?;
        counter(
            &mut e,
            "iphttps_deframer_errors",
            "Sessions ended because their byte stream could not be delimited into IPv6 packets.",
            s.server.framing_errors,
        )?;
        counter(
            &mut e,
            "iphttps_idle_closed",
            "Tunnels closed after the idle timeout.",
            s.server.idle_closed,
        )?;
        let h = &s.server.handshake;
        let mut buckets: Vec<(f64, u64)> = HANDSHAKE_BUCKETS
            .iter()
            .zip(&h.counts)
            .map(|(le, n)| (*le, *n))
            .collect();
        let within: u64 = buckets.iter().map(|(_, n)| n).sum();
        buckets.push((f64::INFINITY, h.count().saturating_sub(within)));
        e.encode_descriptor(
            "iphttps_handshake_duration_seconds",
            "Time from TCP accept to the client-table entry (TLS handshake and HTTP head).",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(
            h.sum_micros as f64 / 1e6,
            h.count(),
            &buckets,
            None,
        )?;
        let server = std::iter::once(("Server", ops.server));
        let components = ops
            .components
            .iter()
            .map(|c| (c.component.as_str(), c.state));
        family(
            &mut e,
            "iphttps_component_healthy",
            "Operations Status per component (Get-RemoteAccessHealth): 1 when OK, 0 for Warning or Error (state in the label).",
            MetricType::Gauge,
            server.chain(components).map(|(component, state)| {
                (
                    labels(&[("component", component), ("state", state.as_str())]),
                    ConstGauge::new(i64::from(state == HealthState::Ok)),
                )
            }),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut e = String::new();
        let mut registry = Registry::default();
        #[derive(Debug)]
        struct One;
        impl Collector for One {
            fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
                family(
                    &mut e,
                    "x",
                    "h",
                    MetricType::Counter,
                    [(labels(&[("reason", "a\"b\\c\nd")]), ConstCounter::new(1u64))],
                )
            }
        }
        registry.register_collector(Box::new(One));
        prometheus_client::encoding::text::encode(&mut e, &registry).unwrap();
        assert!(e.contains(r#"x_total{reason="a\"b\\c\nd"} 1"#), "{e}");
    }
}
