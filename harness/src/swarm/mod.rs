//! `iphttps swarm`: load on any IP-HTTPS server from many full clients. Each is the
//! product's client as it is (TLS with the Windows certificate checks, the head exchange,
//! RS/RA, SLAAC with DAD on RFC 4861/4862 timing, the spec's reconnect timer), started at
//! a given rate, spread over source addresses, numbered from an offset so several swarms
//! (on several machines) never share an interface identifier. What they go through is
//! tallied as it happens ([`tally`]) and reported at the end and on `/metrics` and
//! `/status` while it runs ([`report`]).

pub mod report;
pub mod tally;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use iphttps_sim::client::{self, ClientConfig, ClientHandle, IphttpsUrl, PingError};
use iphttps_sim::dial::ProxyUrl;
use iphttps_sim::link::host::HostConfig;
use iphttps_sim::tls::NullCipher;
use tokio::time::Instant;

use crate::progress::Progress;
pub use report::SwarmReport;
use tally::Tally;

/// What to run.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// The server's IP-HTTPS URL.
    pub url: IphttpsUrl,
    /// Roots the clients trust (PEM).
    pub trust_pem: String,
    /// Names pinned to addresses (`--resolve NAME:ADDR`).
    pub resolve: Vec<(String, IpAddr)>,
    /// A web proxy the clients go through.
    pub proxy: Option<ProxyUrl>,
    /// A machine certificate chain and key (PEM) for AuthMode Certificates.
    pub client_cert: Option<(String, String)>,
    /// The NULL-encryption suites the clients offer.
    pub null_cipher: NullCipher,
    /// Clients.
    pub clients: usize,
    /// New clients per second.
    pub rate: f64,
    /// How long the tunnels are held once every client has started (`None`: until `stop`).
    pub duration: Option<Duration>,
    /// Where each client pings through its tunnel, and how often.
    pub ping: Option<(Ipv6Addr, Duration)>,
    /// Source addresses the clients are spread over (empty: the system's choice).
    pub sources: Vec<IpAddr>,
    /// The first client's number (interface identifiers and seeds start there).
    pub id_offset: u64,
    /// Whether a client that fails tries again on the spec's timer.
    pub reconnect: bool,
    /// The reconnect timer's first wait (Windows: 30 s; the cap stays Windows' 15 min).
    pub reconnect_initial: Duration,
}

/// Runs the swarm until `duration` has passed after the last start, or `stop` resolves;
/// the tally is shared so an endpoint can show it meanwhile. `progress` counts the clients
/// started (the caller ends it).
pub async fn run(
    cfg: &SwarmConfig,
    tally: &Tally,
    progress: &dyn Progress,
    stop: impl std::future::Future<Output = ()>,
) -> Result<SwarmReport, iphttps_sim::tls::TlsError> {
    let t0 = Instant::now();
    let usage0 = report::Usage::now();
    let mut watchers = Vec::with_capacity(cfg.clients);
    let mut pingers = Vec::new();
    let gap = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    progress.begin(cfg.clients as u64, "clients started");
    progress.started("starting clients");
    tokio::pin!(stop);
    let mut stopped = false;
    for i in 0..cfg.clients {
        let due = t0 + gap.mul_f64(i as f64);
        tokio::select! {
            biased;
            () = &mut stop => { stopped = true; break; }
            () = tokio::time::sleep_until(due) => {}
        }
        let c = Arc::new(client::start(client_config(cfg, i))?);
        watchers.push(tally.add(c.clone(), Instant::now()));
        if let Some((dst, every)) = cfg.ping {
            pingers.push(tokio::spawn(pinger(c, tally.clone(), dst, every)));
        }
        progress.advanced(i as u64 + 1, "starting clients", None);
    }
    if !stopped {
        match cfg.duration {
            Some(d) => {
                tokio::select! {
                    () = &mut stop => {}
                    () = tokio::time::sleep(d) => {}
                }
            }
            None => stop.await,
        }
    }
    for p in &pingers {
        p.abort();
    }
    let report = SwarmReport::now(cfg, tally, t0.elapsed(), &usage0);
    for w in &watchers {
        w.abort();
    }
    for h in tally.clients() {
        h.shutdown().await;
    }
    Ok(report)
}

/// Client `i`'s configuration: the full client, numbered from the offset.
fn client_config(cfg: &SwarmConfig, i: usize) -> ClientConfig {
    let id = cfg.id_offset + i as u64;
    let mut c = ClientConfig::new(cfg.url.clone(), cfg.trust_pem.clone());
    c.resolve = cfg.resolve.clone();
    c.proxy = cfg.proxy.clone();
    c.client_cert = cfg.client_cert.clone();
    c.null_cipher = cfg.null_cipher;
    c.host = HostConfig {
        seed: id,
        ..HostConfig::default()
    };
    c.reconnect_initial = cfg.reconnect_initial;
    if !cfg.reconnect {
        // one attempt: the timer's first wait outlasts any swarm
        c.reconnect_initial = NEVER;
        c.reconnect_cap = NEVER;
    }
    if !cfg.sources.is_empty() {
        let source = cfg.sources[i % cfg.sources.len()];
        c.transport = Arc::new(iphttps_sim::net::TcpFrom(source));
    }
    c
}

/// Whether `clients` spread over `sources` addresses fit the ephemeral ports each
/// address has toward one server (Linux: `net.ipv4.ip_local_port_range`; elsewhere not
/// checked).
pub fn fits_ports(clients: usize, sources: usize) -> Result<(), String> {
    let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return Ok(());
    };
    let mut it = range
        .split_whitespace()
        .filter_map(|v| v.parse::<usize>().ok());
    match (it.next(), it.next()) {
        (Some(lo), Some(hi)) => fits_range(clients, sources, (lo, hi)),
        _ => Ok(()),
    }
}

/// [`fits_ports`] for the ephemeral range `lo..=hi`.
fn fits_range(clients: usize, sources: usize, (lo, hi): (usize, usize)) -> Result<(), String> {
    let ports = hi.saturating_sub(lo) + 1;
    let per = clients.div_ceil(sources.max(1));
    if per > ports {
        return Err(format!(
            "{clients} clients over {sources} source address(es) is {per} per address, more \
             than the {ports} ephemeral ports each has ({lo}-{hi}): give more addresses with \
             --source (127.0.0.2,127.0.0.3,... on loopback)"
        ));
    }
    Ok(())
}

/// A wait longer than any swarm runs.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How long a ping waits for its answer (Windows' `ping -w` default, 4 s).
const PING_TIMEOUT: Duration = Duration::from_secs(4);

/// Pings `dst` through `client`'s tunnel every `every` (or when the last answer came, if
/// later), from when it first has an address.
async fn pinger(client: Arc<ClientHandle>, tally: Tally, dst: Ipv6Addr, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match client.ping(dst, 56, PING_TIMEOUT).await {
            Ok(rtt) => tally.ping(Some(rtt)),
            Err(PingError::Timeout(_)) => tally.ping(None),
            // no address or no tunnel: nothing was sent
            Err(PingError::NotUp | PingError::Stopped) => {}
        }
    }
}

/// Serves the swarm's figures while it runs: `GET /metrics` (OpenMetrics, for Prometheus)
/// and `GET /status` (the report so far, JSON). They only read, so the endpoint may listen
/// on any address (a pod's, for Prometheus to scrape); with a `token`, every request must
/// carry it.
pub async fn endpoint(
    addr: std::net::SocketAddr,
    token: Option<String>,
    cfg: SwarmConfig,
    tally: Tally,
) -> Result<iphttps_sim::api::AdminEndpoint, iphttps_sim::api::ApiError> {
    use iphttps_sim::api::{self, Handler};
    let t0 = Instant::now();
    let usage0 = report::Usage::now();
    let handler: Handler = Arc::new(move |req, token| {
        let r = SwarmReport::now(&cfg, &tally, t0.elapsed(), &usage0);
        Box::pin(async move {
            if token.is_some() && api::refused(&req, token.as_deref(), false).is_some() {
                return api::reply(
                    hyper::StatusCode::UNAUTHORIZED,
                    serde_json::json!({ "ok": false, "error": "a valid token is required (Authorization: Bearer TOKEN)" }),
                );
            }
            match req.uri().path() {
                "/metrics" => api::text_reply(r.metrics(), iphttps_sim::metrics::CONTENT_TYPE),
                "/status" => api::reply(
                    hyper::StatusCode::OK,
                    serde_json::to_value(&r).unwrap_or_default(),
                ),
                _ => api::reply(
                    hyper::StatusCode::NOT_FOUND,
                    serde_json::json!({ "ok": false, "error": "not found: use GET /metrics or /status" }),
                ),
            }
        })
    });
    api::serve_with(addr, token, handler, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_must_fit_the_ports_of_their_source_addresses() {
        let range = (32768, 60999); // 28,232 ports
        assert!(fits_range(28_232, 1, range).is_ok());
        let e = fits_range(28_233, 1, range).unwrap_err();
        assert!(
            e.contains("28233 per address") && e.contains("--source"),
            "{e}"
        );
        assert!(fits_range(50_000, 2, range).is_ok());
        assert!(fits_range(100_000, 3, range).is_err());
    }
}
