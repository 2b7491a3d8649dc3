//! `/metrics` (parsed as the Prometheus text format) and `/status` on the admin endpoint
//! of a running lab: what a monitoring system scrapes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{WAIT, test_pki};
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_sim::api;
use iphttps_sim::link::router::DropReason;
use prometheus_parse::{Sample, Scrape, Value};

fn find<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(k).is_some_and(|l| l == *v))
    })
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match find(scrape, name, labels).map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        other => panic!(
            "{name}{labels:?}: {other:?} in {:?}",
            scrape
                .samples
                .iter()
                .filter(|s| s.metric == name)
                .collect::<Vec<_>>()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_status_describe_the_running_server() {
    let lab = Arc::new(
        Lab::start(LabConfig {
            clients: 2,
            ..LabConfig::default()
        })
        .await
        .unwrap(),
    );
    lab.wait_all_active(WAIT).await.unwrap();
    let intranet = lab.server.intranet_address();
    for c in lab.clients() {
        c.ping(intranet, 1000, WAIT).await.unwrap();
    }
    // a client that does not trust the server's root: the server sees its unknown_ca alert
    let other = test_pki();
    let bad = lab
        .add_client(|c| c.trust_pem = other.root_ca.clone())
        .unwrap();
    lab.client(bad)
        .wait_until(WAIT, |s| s.failures > 0)
        .await
        .unwrap();
    let ctl = api::serve(lab.clone(), "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();

    // the client gives up when it sends its alert; the server counts it when it reads it
    let deadline = tokio::time::Instant::now() + WAIT;
    let (text, scrape) = loop {
        let text = api::client::get_text(ctl.local_addr(), "/metrics")
            .await
            .unwrap();
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let failed = find(
            &scrape,
            "iphttps_connections_failed_total",
            &[("reason", "tls_handshake")],
        );
        if failed.is_some() || tokio::time::Instant::now() > deadline {
            break (text, scrape);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    // every family has its HELP text (OpenMetrics names a counter's family without the
    // `_total` its samples carry), and the exposition is whole
    for family in [
        "iphttps_clients_connected",
        "iphttps_connections_failed",
        "iphttps_packets_dropped",
        "iphttps_handshake_duration_seconds",
    ] {
        assert!(scrape.docs.contains_key(family), "no HELP for {family}");
    }
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert_eq!(value(&scrape, "iphttps_clients_connected", &[]), 2.0);
    assert!(value(&scrape, "iphttps_connections_accepted_total", &[]) >= 3.0);
    assert_eq!(
        value(&scrape, "iphttps_tunnels_established_total", &[]),
        2.0
    );
    assert!(
        value(
            &scrape,
            "iphttps_connections_failed_total",
            &[("code", "0x800b0109"), ("symbol", "CERT_E_UNTRUSTEDROOT")]
        ) >= 1.0,
        "the untrusted-root client is counted under its Last Error Code:\n{text}"
    );
    for dir in ["from_clients", "to_clients"] {
        assert!(value(&scrape, "iphttps_bytes_total", &[("direction", dir)]) > 2000.0);
    }
    for dir in ["from_clients", "to_clients", "from_intranet", "to_intranet"] {
        assert!(value(&scrape, "iphttps_packets_total", &[("direction", dir)]) >= 2.0);
    }
    assert!(value(&scrape, "iphttps_router_advertisements_sent_total", &[]) >= 2.0);
    // every drop reason is a series from the start (dashboards and alerts rely on it)
    for reason in DropReason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(["client_queue_full"])
    {
        assert!(
            value(
                &scrape,
                "iphttps_packets_dropped_total",
                &[("reason", reason)]
            ) >= 0.0,
            "{reason}"
        );
    }
    assert_eq!(value(&scrape, "iphttps_deframer_errors_total", &[]), 0.0);
    // a client came up, so the server took its core lock; contention cannot exceed it
    let taken = value(&scrape, "iphttps_core_lock_acquisitions_total", &[]);
    assert!(taken > 0.0);
    assert!(value(&scrape, "iphttps_core_lock_contended_total", &[]) <= taken);
    match &find(&scrape, "iphttps_handshake_duration_seconds", &[])
        .expect("histogram")
        .value
    {
        Value::Histogram(buckets) => {
            let inf = buckets.last().unwrap();
            assert!(inf.less_than.is_infinite());
            assert_eq!(inf.count, 2.0, "two tunnels came up");
            assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert_eq!(
        value(
            &scrape,
            "iphttps_component_healthy",
            &[("component", "IP-HTTPS")]
        ),
        1.0
    );

    let status = api::client::get(ctl.local_addr(), "/status").await.unwrap();
    assert_eq!(status["clients_connected"], 2);
    assert!(status["uptime_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(status["operations_status"]["Server"], "OK");
    let owned: HashMap<String, u64> = status["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            let bytes = c["bytes_in"].as_u64().unwrap();
            c["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |a| (a.as_str().unwrap().to_string(), bytes))
        })
        .collect();
    for c in lab.clients().iter().take(2) {
        let global = c.status().global.unwrap().to_string();
        let bytes = owned
            .get(&global)
            .unwrap_or_else(|| panic!("{global} not in /status: {status}"));
        assert!(*bytes > 1000, "the ping's bytes are counted for its client");
    }
    lab.shutdown().await;
}
