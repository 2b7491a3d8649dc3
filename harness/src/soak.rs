//! `iphttps soak`: `iphttps serve` in a process of its own, many clients in this one with
//! mixed traffic for a long time while faults are injected and cleared and the IP Helper
//! service is restarted (all through the server's admin endpoint, as an operator would);
//! at the end, checks that nothing panicked, the server's live heap did not keep growing,
//! every client is LinkUp again, no packet reached the wrong client, and both packet
//! ledgers (the router's and the shell's) reconcile.

use crate::progress::Progress;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iphttps_sim::api::client::{self as admin, RequestError};
use iphttps_sim::client::{self, ClientHandle};
use iphttps_sim::fault::Fault;
use iphttps_sim::link::router::{DropReason, RouterStats};
use iphttps_sim::server::ToClients;
use serde::Serialize;

use crate::bench::rss_kib;
use crate::fixtures::served::{Served, ServedError};

static PANICS: AtomicU64 = AtomicU64::new(0);

/// The largest growth of the server's live heap the soak accepts, in percent of the heap
/// per 10 minutes, fitted over the second half of the rounds.
pub const MAX_HEAP_GROWTH_PERCENT_PER_10_MIN: f64 = 1.0;

/// glibc's per-thread cache off in the server process: freed chunks held in a thread's
/// cache count as in use in the allocator's statistics, so with it on the "live heap"
/// creeps up as the caches fill; with it off the statistics are the live heap.
const HEAP_EXACT: (&str, &str) = ("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0");

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Clients.
    pub clients: usize,
    /// How long.
    pub duration: Duration,
    /// The `iphttps` binary whose `serve` is soaked (default: this executable).
    pub server_bin: PathBuf,
}

/// The server process's memory at the end of one round (fault injected, cleared, clients
/// back): the same point of every round, so rounds compare.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryRound {
    /// Seconds since the soak started.
    pub seconds: f64,
    /// Live heap (allocated, not freed), from the server's allocator statistics.
    pub heap_bytes: Option<u64>,
    /// Resident memory, KiB (the allocator keeps freed pages: a high-water mark).
    pub rss_kib: Option<u64>,
}

/// A least-squares line through heap samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Growth {
    /// Samples fitted.
    pub points: usize,
    /// The slope, in bytes per 10 minutes.
    pub bytes_per_10_min: f64,
    /// The slope, in percent of the samples' mean per 10 minutes.
    pub percent_per_10_min: f64,
}

/// The least-squares slope of the second half of `samples` (seconds, bytes); `None` with
/// fewer than three points there.
pub fn heap_growth(samples: &[(f64, f64)]) -> Option<Growth> {
    let half = &samples[samples.len() / 2..];
    let n = half.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = half.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = half.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = half.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = half.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 || my <= 0.0 {
        return None;
    }
    let per_10_min = sxy / sxx * 600.0;
    Some(Growth {
        points: n,
        bytes_per_10_min: per_10_min,
        percent_per_10_min: per_10_min / my * 100.0,
    })
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Clients.
    pub clients: usize,
    /// Seconds run.
    pub seconds: f64,
    /// The server's memory after each round.
    pub rounds: Vec<MemoryRound>,
    /// The server's heap growth, fitted over the second half of the rounds.
    pub heap_growth: Option<Growth>,
    /// Pings sent.
    pub pings_sent: u64,
    /// Pings answered.
    pub pings_answered: u64,
    /// UDP datagrams handed to clients to send.
    pub udp_sent: u64,
    /// UDP datagrams the intranet sink received.
    pub udp_delivered: u64,
    /// Faults injected (and cleared), in order.
    pub faults: Vec<String>,
    /// IP Helper service restarts (every tunnel dropped).
    pub restarts: u64,
    /// Packets from clients: received, forwarded, consumed by the router, dropped (each
    /// packet counted once, where its handling ends).
    pub from_clients: [u64; 4],
    /// Drops by reason.
    pub drops: Vec<(String, u64)>,
    /// What became of the packets the router sent toward clients.
    pub to_clients: ToClients,
    /// Packets that arrived at a client not owning their destination.
    pub misdelivered: u64,
    /// Clients LinkUp with an address at the end.
    pub linkup_at_end: usize,
    /// Panics seen in this process (the clients).
    pub panics: u64,
    /// Every check passed.
    pub passed: bool,
    /// What failed.
    pub failures: Vec<String>,
}

/// Why a soak could not run.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// The server process did not start.
    #[error(transparent)]
    Served(#[from] ServedError),
    /// A client's configuration was refused.
    #[error(transparent)]
    Client(#[from] iphttps_sim::tls::TlsError),
    /// The admin endpoint did not answer.
    #[error(transparent)]
    Admin(#[from] RequestError),
    /// A command the soak sent was refused.
    #[error("the server refused `{line}`: {answer}")]
    Refused {
        /// The line.
        line: String,
        /// The endpoint's answer.
        answer: String,
    },
    /// `/status` lacked what the soak reads.
    #[error("/status: {0}")]
    Status(String),
    /// Not every client reached LinkUp with an address before the faults began.
    #[error("not every client came up")]
    NotUp,
}

/// The server process, driven through its admin endpoint.
struct Server {
    served: Served,
}

impl Server {
    async fn run(&self, line: &str) -> Result<(), SoakError> {
        let v = admin::run(self.served.admin, None, &[line.to_string()]).await?;
        if v["ok"] != true {
            return Err(SoakError::Refused {
                line: line.into(),
                answer: v.to_string(),
            });
        }
        Ok(())
    }

    async fn status(&self) -> Result<serde_json::Value, SoakError> {
        Ok(admin::get(self.served.admin, "/status").await?)
    }

    /// Heap (the median of five readings 200 ms apart) and resident memory now.
    async fn quiet_memory(&self, since: Instant) -> Result<MemoryRound, SoakError> {
        let mut heap = Vec::new();
        for _ in 0..5 {
            heap.extend(self.status().await?["heap_in_use_bytes"].as_u64());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        heap.sort_unstable();
        Ok(MemoryRound {
            seconds: since.elapsed().as_secs_f64(),
            heap_bytes: heap.get(heap.len() / 2).copied(),
            rss_kib: rss_kib(self.served.pid()),
        })
    }
}

async fn wait_all_active(clients: &[Arc<ClientHandle>], limit: Duration) -> bool {
    let end = Instant::now() + limit;
    for c in clients {
        let left = end.saturating_duration_since(Instant::now());
        if c.wait_active(left).await.is_err() {
            return false;
        }
    }
    true
}

/// Mixed traffic from client `i` until `stop`: a ping a second (now and then to a peer),
/// and a burst of UDP to the intranet host.
struct Traffic {
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Set while the server's memory is read: every round is sampled quiet.
    pause: Arc<std::sync::atomic::AtomicBool>,
    pings: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    udp: Arc<AtomicU64>,
}

impl Traffic {
    fn spawn(
        &self,
        set: &mut tokio::task::JoinSet<()>,
        clients: &Arc<Vec<Arc<ClientHandle>>>,
        i: usize,
        intranet: std::net::Ipv6Addr,
    ) {
        let (stop, pause, pings, answered, udp) = (
            self.stop.clone(),
            self.pause.clone(),
            self.pings.clone(),
            self.answered.clone(),
            self.udp.clone(),
        );
        let clients = clients.clone();
        set.spawn(async move {
            let c = &clients[i];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1000 + (i as u64 * 7) % 300)).await;
                if pause.load(Ordering::Relaxed) {
                    continue;
                }
                n += 1;
                let dst = if n.is_multiple_of(10) {
                    clients[(i + 1) % clients.len()]
                        .status()
                        .global
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
}

/// Runs the soak.
pub async fn run(cfg: &SoakConfig, progress: &dyn Progress) -> Result<SoakReport, SoakError> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        prev(info);
    }));
    let server = Server {
        served: Served::start(&cfg.server_bin, &["--ops-refresh", "1"], &[HEAP_EXACT])?,
    };
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(cfg.clients);
    for i in 0..cfg.clients {
        let c = server.served.client(
            i as u64,
            Duration::from_millis(500),
            Duration::from_secs(20),
        );
        handles.push(Arc::new(client::start(c)?));
    }
    let clients = Arc::new(handles);
    if !wait_all_active(&clients, Duration::from_secs(120)).await {
        return Err(SoakError::NotUp);
    }
    let intranet = server.served.intranet;
    let traffic = Traffic {
        stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        pause: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        pings: Arc::new(AtomicU64::new(0)),
        answered: Arc::new(AtomicU64::new(0)),
        udp: Arc::new(AtomicU64::new(0)),
    };
    let mut set = tokio::task::JoinSet::new();
    for i in 0..clients.len() {
        traffic.spawn(&mut set, &clients, i, intranet);
    }
    tokio::time::sleep(Duration::from_secs(10).min(cfg.duration / 8)).await;
    // rounds: a fault in for 4 s, cleared for 4 s, then a restart of the IP Helper service
    // (every tunnel dropped and rebuilt), so that every round ends in the same state; then,
    // with traffic paused and every client back up, the server's memory is read (the
    // median of five readings): what a round leaves behind shows as growth
    let faults = [
        Fault::ForwardingDisabled,
        Fault::IphlpsvcStopped,
        Fault::AdvertisingDisabled,
        Fault::ExpiredCert,
        Fault::RouteNotPublished,
    ];
    let (mut injected, mut rounds, mut restarts) = (Vec::new(), Vec::new(), 0);
    let end = t0 + cfg.duration;
    let mut k = 0;
    progress.begin(cfg.duration.as_secs(), "s");
    while Instant::now() + Duration::from_secs(20) < end {
        let f = faults[k % faults.len()];
        k += 1;
        progress.started(&format!("round {k}: {f}"));
        server.run(&format!("fault add {f}")).await?;
        injected.push(f.name().to_string());
        tokio::time::sleep(Duration::from_secs(4)).await;
        server.run(&format!("fault clear {f}")).await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        server.run("Restart-Service iphlpsvc").await?;
        restarts += 1;
        traffic.pause.store(true, Ordering::Relaxed);
        wait_all_active(&clients, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        rounds.push(server.quiet_memory(t0).await?);
        traffic.pause.store(false, Ordering::Relaxed);
        progress.advanced(t0.elapsed().as_secs(), &format!("round {k}"), None);
    }
    progress.started("recovery and counters");
    // recovery: every client back up; then traffic stops and the counters settle
    let recovered = wait_all_active(&clients, Duration::from_secs(120)).await;
    traffic.stop.store(true, Ordering::Relaxed);
    while set.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = server.status().await?;
    let router: RouterStats = serde_json::from_value(status["router"].clone())
        .map_err(|e| SoakError::Status(format!("router: {e}")))?;
    let to_clients: ToClients = serde_json::from_value(status["to_clients"].clone())
        .map_err(|e| SoakError::Status(format!("to_clients: {e}")))?;
    let statuses: Vec<_> = clients.iter().map(|c| c.status()).collect();
    let misdelivered: u64 = statuses.iter().map(|s| s.misdelivered).sum();
    let linkup_at_end = statuses
        .iter()
        .filter(|s| s.is_active_with_address())
        .count();
    let heap: Vec<(f64, f64)> = rounds
        .iter()
        .filter_map(|r| r.heap_bytes.map(|h| (r.seconds, h as f64)))
        .collect();
    let growth = heap_growth(&heap);
    let mut failures = Vec::new();
    let panics = PANICS.load(Ordering::SeqCst);
    if panics > 0 {
        failures.push(format!("{panics} panic(s) in the clients' process"));
    }
    if server.served.stderr_text().contains("panicked at") {
        failures.push("the server process panicked (see its standard error)".into());
    }
    if !recovered || linkup_at_end != cfg.clients {
        let stuck: Vec<String> = statuses
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_active_with_address())
            .take(3)
            .map(|(i, s)| {
                format!(
                    "client {}: {:?}, {} ({}), {} connects, {} failures, link-local {:?}, RA {}",
                    i + 1,
                    s.state,
                    s.last_error,
                    s.last_error_detail.as_deref().unwrap_or("-"),
                    s.connects,
                    s.failures,
                    s.link_local,
                    s.router_advert.is_some()
                )
            })
            .collect();
        failures.push(format!(
            "{linkup_at_end} of {} clients LinkUp with an address at the end; {}",
            cfg.clients,
            stuck.join("; ")
        ));
    }
    if misdelivered > 0 {
        failures.push(format!(
            "{misdelivered} packet(s) reached a client that does not own their destination"
        ));
    }
    if let Err(e) = router.reconcile() {
        failures.push(format!(
            "the router's packet ledger does not reconcile: {e}"
        ));
    }
    if let Err(e) = to_clients.reconcile(&router) {
        failures.push(format!(
            "the server's packet ledger does not reconcile: {e}"
        ));
    }
    if let Some(why) = heap_verdict(growth, heap.len()) {
        failures.push(why);
    }
    for c in clients.iter() {
        c.shutdown().await;
    }
    let report = SoakReport {
        clients: cfg.clients,
        seconds: t0.elapsed().as_secs_f64(),
        rounds,
        heap_growth: growth,
        pings_sent: traffic.pings.load(Ordering::Relaxed),
        pings_answered: traffic.answered.load(Ordering::Relaxed),
        udp_sent: traffic.udp.load(Ordering::Relaxed),
        udp_delivered: status["intranet_discarded_packets"].as_u64().unwrap_or(0),
        faults: injected,
        restarts,
        from_clients: [
            router.from_clients,
            router.forwarded_from_clients,
            router.local_from_clients,
            router.client_drops_total(),
        ],
        drops: DropReason::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), router.dropped(*r)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        to_clients,
        misdelivered,
        linkup_at_end,
        panics,
        passed: failures.is_empty(),
        failures,
    };
    Ok(report)
}

/// Why the heap series fails, if it does: growth beyond the limit, or too few samples to
/// tell (a soak too short, or no allocator statistics on this system).
pub fn heap_verdict(growth: Option<Growth>, samples: usize) -> Option<String> {
    match growth {
        Some(g) if g.percent_per_10_min >= MAX_HEAP_GROWTH_PERCENT_PER_10_MIN => Some(format!(
            "the server's live heap grows by {:.2}% per 10 minutes over the second half of the \
             rounds ({:.0} bytes per 10 minutes, {} rounds; the limit is {MAX_HEAP_GROWTH_PERCENT_PER_10_MIN}%)",
            g.percent_per_10_min, g.bytes_per_10_min, g.points
        )),
        Some(_) => None,
        None => Some(format!(
            "{samples} heap sample(s): too few to fit a slope over the second half (a longer \
             soak, or a system whose allocator reports no statistics)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(leak_per_s: f64, noise: f64) -> Vec<(f64, f64)> {
        (0..40)
            .map(|i| {
                let t = 20.0 + i as f64 * 14.0;
                let wobble = if i % 2 == 0 { noise } else { -noise };
                (t, 80e6 + leak_per_s * t + wobble)
            })
            .collect()
    }

    #[test]
    fn a_steady_leak_fails_and_a_flat_heap_passes() {
        // 2 KB/s on an 80 MB heap: 1.2 MB per 10 minutes, 1.5%
        let leak = heap_growth(&series(2000.0, 50_000.0)).unwrap();
        assert!(leak.percent_per_10_min > 1.4, "{leak:?}");
        assert!(heap_verdict(Some(leak), 40).is_some());
        // flat with noise of 50 KB either way
        let flat = heap_growth(&series(0.0, 50_000.0)).unwrap();
        assert!(flat.percent_per_10_min.abs() < 0.2, "{flat:?}");
        assert!(heap_verdict(Some(flat), 40).is_none());
        // a leak only in the first half (warm-up) does not count
        let mut warm = series(0.0, 0.0);
        for (i, p) in warm.iter_mut().enumerate().take(20) {
            p.1 -= (20 - i) as f64 * 1e6;
        }
        assert!(heap_verdict(heap_growth(&warm), 40).is_none());
        // too few samples cannot pass
        assert!(heap_verdict(heap_growth(&series(0.0, 0.0)[..4]), 4).is_some());
    }
}
