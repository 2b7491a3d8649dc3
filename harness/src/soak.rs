//! `iphttps soak`: many clients with mixed traffic for a long time while faults are
//! injected and cleared and the server is restarted; at the end, checks that nothing
//! panicked, memory came back, every client is LinkUp again, no packet reached the wrong
//! client, and the router's counters reconcile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::lab::{Lab, LabConfig, LabError};
use iphttps_sim::fault::Fault;
use iphttps_sim::link::router::DropReason;
use serde::Serialize;

static PANICS: AtomicU64 = AtomicU64::new(0);

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Clients.
    pub clients: usize,
    /// How long.
    pub duration: Duration,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Clients.
    pub clients: usize,
    /// Seconds run.
    pub seconds: f64,
    /// Process resident memory after warm-up, KiB.
    pub rss_after_warmup_kib: Option<u64>,
    /// Process resident memory at the end, KiB.
    pub rss_end_kib: Option<u64>,
    /// Resident memory after each fault was cleared, KiB: growth that flattens is the
    /// allocator's high-water mark, growth that does not is a leak.
    pub rss_samples_kib: Vec<u64>,
    /// Pings sent and answered.
    pub pings_sent: u64,
    /// Pings answered.
    pub pings_answered: u64,
    /// UDP datagrams handed to clients to send.
    pub udp_sent: u64,
    /// UDP datagrams the intranet sink received.
    pub udp_delivered: u64,
    /// Faults injected (and cleared), in order.
    pub faults: Vec<String>,
    /// Server restarts.
    pub restarts: u64,
    /// Packets from clients: received, forwarded, consumed by the router, dropped (each
    /// packet counted once, where its handling ends).
    pub from_clients: [u64; 4],
    /// Drops by reason.
    pub drops: Vec<(String, u64)>,
    /// Packets queued toward clients that did not fit.
    pub queue_drops: u64,
    /// Packets toward clients whose session had ended.
    pub to_ended_sessions: u64,
    /// Packets that arrived at a client not owning their destination.
    pub misdelivered: u64,
    /// Clients LinkUp with an address at the end.
    pub linkup_at_end: usize,
    /// Panics seen.
    pub panics: u64,
    /// Every check passed.
    pub passed: bool,
    /// What failed.
    pub failures: Vec<String>,
}

fn rss_self() -> Option<u64> {
    crate::bench::rss_kib(std::process::id())
}

/// Runs the soak.
/// Why a soak could not run.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// The lab, a client or a fault failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// Not every client reached LinkUp with an address before the faults began.
    #[error("not every client came up")]
    NotUp,
}

/// Runs the soak.
pub async fn run(cfg: &SoakConfig) -> Result<SoakReport, SoakError> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        prev(info);
    }));
    let lab = Arc::new(
        Lab::start(LabConfig {
            clients: 0,
            check_revocation: false,
            reconnect_initial: Duration::from_millis(500),
            ..LabConfig::default()
        })
        .await?,
    );
    for i in 0..cfg.clients {
        lab.add_client(|c| {
            c.host = crate::perf::instant_host(i as u64);
            c.connect_timeout = Duration::from_secs(20);
        })?;
    }
    let t0 = Instant::now();
    lab.wait_all_active(Duration::from_secs(120))
        .await
        .map_err(|_| SoakError::NotUp)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (pings, answered, udp) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let intranet = lab.server.intranet_address();
    let mut traffic = tokio::task::JoinSet::new();
    for (i, c) in lab.clients().into_iter().enumerate() {
        let (stop, pings, answered, udp, lab) = (
            stop.clone(),
            pings.clone(),
            answered.clone(),
            udp.clone(),
            lab.clone(),
        );
        traffic.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1000 + (i as u64 * 7) % 300)).await;
                n += 1;
                // mixed traffic: a ping to the intranet, a burst of UDP, now and then a peer
                let dst = if n.is_multiple_of(10) {
                    lab.clients()
                        .get((i + 1) % lab.clients().len())
                        .and_then(|p| p.status().global)
                        .unwrap_or(intranet)
                } else {
                    intranet
                };
                pings.fetch_add(1, Ordering::Relaxed);
                if c.ping(dst, 56, Duration::from_secs(1)).await.is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                if c.status().global.is_some() {
                    for _ in 0..5 {
                        c.send_udp(intranet, 40000, 9, vec![0u8; 500]).await;
                        udp.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    // warm-up: traffic, then one full round of every fault and a restart, so every path
    // (mass reconnects included) has run once before memory is measured
    tokio::time::sleep(Duration::from_secs(20).min(cfg.duration / 4)).await;
    let mut rss_warm = None;
    let mut samples = Vec::new();
    let faults = [
        Fault::ForwardingDisabled,
        Fault::IphlpsvcStopped,
        Fault::AdvertisingDisabled,
        Fault::ExpiredCert,
        Fault::RouteNotPublished,
    ];
    let mut injected = Vec::new();
    let mut restarts = 0;
    let mut k = 0;
    let end = t0 + cfg.duration;
    while Instant::now() + Duration::from_secs(40) < end {
        let f = faults[k % faults.len()];
        k += 1;
        lab.set_fault(f, true).await?;
        injected.push(f.name().to_string());
        tokio::time::sleep(Duration::from_secs(10)).await;
        lab.set_fault(f, false).await?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        if k.is_multiple_of(3) {
            lab.restart_server(Duration::from_secs(1)).await;
            restarts += 1;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        samples.extend(rss_self());
        if rss_warm.is_none() && k >= faults.len() && restarts > 0 {
            rss_warm = rss_self();
        }
    }
    let rss_warm = rss_warm.or_else(|| samples.first().copied());
    // recovery: every client back up; then traffic stops
    let recovered = lab.wait_all_active(Duration::from_secs(120)).await;
    stop.store(true, Ordering::Relaxed);
    while traffic.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = rss_self();
    let stats = lab.server.with_router(|r| r.stats().clone());
    let statuses: Vec<_> = lab.clients().iter().map(|c| c.status()).collect();
    let misdelivered: u64 = statuses.iter().map(|s| s.misdelivered).sum();
    let linkup_at_end = statuses
        .iter()
        .filter(|s| s.is_active_with_address())
        .count();
    let mut failures = Vec::new();
    let panics = PANICS.load(Ordering::SeqCst);
    if panics > 0 {
        failures.push(format!("{panics} panic(s)"));
    }
    if recovered.is_err() || linkup_at_end != cfg.clients {
        failures.push(format!(
            "{linkup_at_end} of {} clients LinkUp at the end",
            cfg.clients
        ));
    }
    if misdelivered > 0 {
        failures.push(format!(
            "{misdelivered} packet(s) reached a client that does not own their destination"
        ));
    }
    let shell = lab.server.stats();
    if let Err(e) = stats.reconcile() {
        failures.push(format!(
            "the router's packet ledger does not reconcile: {e}"
        ));
    }
    if let Err(e) = shell.reconcile(&stats) {
        failures.push(format!(
            "the server's packet ledger does not reconcile: {e}"
        ));
    }
    if let (Some(w), Some(e)) = (rss_warm, rss_end)
        && e as f64 > w as f64 * 1.10
    {
        failures.push(format!(
            "resident memory grew from {w} KiB to {e} KiB (more than 10%)"
        ));
    }
    let report = SoakReport {
        clients: cfg.clients,
        seconds: t0.elapsed().as_secs_f64(),
        rss_after_warmup_kib: rss_warm,
        rss_end_kib: rss_end,
        rss_samples_kib: samples,
        pings_sent: pings.load(Ordering::Relaxed),
        pings_answered: answered.load(Ordering::Relaxed),
        udp_sent: udp.load(Ordering::Relaxed),
        udp_delivered: lab.server.intranet_stats().discarded_packets,
        faults: injected,
        restarts,
        from_clients: [
            stats.from_clients,
            stats.forwarded_from_clients,
            stats.local_from_clients,
            stats.client_drops_total(),
        ],
        drops: DropReason::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), stats.dropped(*r)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        queue_drops: shell.queue_drops,
        to_ended_sessions: shell.to_ended_sessions,
        misdelivered,
        linkup_at_end,
        panics,
        passed: failures.is_empty(),
        failures,
    };
    lab.shutdown().await;
    Ok(report)
}
