//! `iphttps bench`: a quick report of tunnel packet handling, every figure beside its
//! baseline measured in the same run, as a ratio.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fixtures::served::{Served, ServedError};
use crate::perf::{self, Direction};
use serde::Serialize;

/// One figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Its name.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// The tunnel's value.
    pub value: f64,
    /// The baseline's value, when there is one.
    pub baseline: Option<f64>,
    /// value / baseline.
    pub ratio: Option<f64>,
}

impl Figure {
    fn new(name: &str, unit: &str, value: f64, baseline: Option<f64>) -> Self {
        Self {
            name: name.into(),
            unit: unit.into(),
            value,
            baseline,
            ratio: baseline.filter(|b| *b > 0.0).map(|b| value / b),
        }
    }
}

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// Total memory in bytes, where known.
    pub memory_bytes: Option<u64>,
    /// The operating system.
    pub os: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The figures.
    pub figures: Vec<Figure>,
}

/// This machine.
pub fn machine() -> Machine {
    let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<u64>().ok())
            .map(|k| k * 1024)
    });
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        os: std::env::consts::OS.into(),
    }
}

const MB: f64 = 1_000_000.0;

/// Throughput, latency and setup figures, each given about `duration`; `only` keeps the
/// figures whose name starts with it. Tunnel and baseline runs alternate, and the best
/// of each is kept, so a noisy neighbour hurts both alike.
pub async fn figures(
    duration: Duration,
    only: Option<&str>,
) -> Result<Vec<Figure>, perf::PerfError> {
    let want = |name: &str| only.is_none_or(|o| name.starts_with(o));
    let total = 64 * 1024 * 1024;
    let packet = 1280;
    let mut out = Vec::new();
    for (name, dir) in [
        ("tunnel_throughput", Direction::Upload),
        ("tunnel_throughput_reverse", Direction::Download),
        (
            "tunnel_throughput_client_to_client",
            Direction::ClientToClient,
        ),
    ] {
        if !want(name) {
            continue;
        }
        let t0 = Instant::now();
        let (mut t, mut b) = (Duration::MAX, Duration::MAX);
        while t == Duration::MAX || t0.elapsed() < duration {
            t = t.min(perf::tunnel_transfer(dir, total, packet).await?);
            b = b.min(perf::bare_transfer(dir, total, packet).await?);
        }
        let bytes = (total / packet * packet) as f64;
        out.push(Figure::new(
            name,
            "MB/s",
            bytes / t.as_secs_f64() / MB,
            Some(bytes / b.as_secs_f64() / MB),
        ));
    }
    if want("tunnel_latency") {
        let n = ((duration.as_secs_f64() * 1000.0) as usize).clamp(200, 5000);
        let t = perf::tunnel_rtts(n).await?;
        let b = perf::bare_rtts(n).await?;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        out.push(Figure::new(
            "tunnel_latency_p50",
            "us",
            us(perf::percentile(&t, 50.0)),
            Some(us(perf::percentile(&b, 50.0))),
        ));
        out.push(Figure::new(
            "tunnel_latency_p99",
            "us",
            us(perf::percentile(&t, 99.0)),
            Some(us(perf::percentile(&b, 99.0))),
        ));
    }
    if want("setup_rate") {
        let conns = 200;
        let t0 = Instant::now();
        let (mut t, mut b) = (0.0f64, 0.0f64);
        while t == 0.0 || t0.elapsed() < duration {
            t = t.max(perf::tunnel_setup_rate(conns).await?);
            b = b.max(perf::bare_setup_rate(conns).await?);
        }
        out.push(Figure::new("setup_rate", "per second", t, Some(b)));
    }
    #[cfg(feature = "null-cipher")]
    if want("tunnel_throughput_null") || want("cpu_per_gb") {
        out.extend(null_figures(duration).await?);
    }
    Ok(out)
}

/// NULL-SHA256 against AES-GCM on the same OpenSSL tunnel (upload, 1280-byte packets):
/// throughput, and CPU seconds per GB on the client and on the server. The best of the
/// runs is kept for each.
#[cfg(feature = "null-cipher")]
async fn null_figures(duration: Duration) -> Result<Vec<Figure>, perf::PerfError> {
    use crate::perf::null::null_transfer;
    use iphttps_sim::tls::NullCipher;
    let total = 256 * 1024 * 1024;
    let packet = 1280;
    let bytes = (total / packet * packet) as f64;
    let gb = bytes / 1e9;
    #[derive(Default)]
    struct Best {
        rate: f64,
        client: Option<f64>,
        server: Option<f64>,
    }
    let keep = |best: &mut Best, c: &perf::null::NullCost| {
        best.rate = best.rate.max(bytes / c.elapsed.as_secs_f64() / MB);
        let per_gb = |d: Option<Duration>| d.map(|d| d.as_secs_f64() / gb);
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        best.client = min(best.client, per_gb(c.client_cpu));
        best.server = min(best.server, per_gb(c.server_cpu));
    };
    let (mut null, mut aes) = (Best::default(), Best::default());
    let t0 = Instant::now();
    while null.rate == 0.0 || t0.elapsed() < duration {
        let n = null_transfer(NullCipher::Prefer, total, packet).await?;
        let a = null_transfer(NullCipher::Off, total, packet).await?;
        if !n.suite.contains("NULL") || a.suite.contains("NULL") {
            return Err(perf::PerfError::Stalled(format!(
                "unexpected suites: {} and {}",
                n.suite, a.suite
            )));
        }
        keep(&mut null, &n);
        keep(&mut aes, &a);
    }
    let mut out = vec![Figure::new(
        "tunnel_throughput_null",
        "MB/s",
        null.rate,
        Some(aes.rate),
    )];
    if let (Some(n), Some(a)) = (null.client, aes.client) {
        out.push(Figure::new(
            "cpu_per_gb_null_client",
            "CPU s/GB",
            n,
            Some(a),
        ));
    }
    if let (Some(n), Some(a)) = (null.server, aes.server) {
        out.push(Figure::new(
            "cpu_per_gb_null_server",
            "CPU s/GB",
            n,
            Some(a),
        ));
    }
    Ok(out)
}

/// The resident memory of process `pid` in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok())
}

/// Why the many-clients measurement could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// The server process did not start.
    #[error(transparent)]
    Served(#[from] ServedError),
    /// A client's configuration was refused.
    #[error(transparent)]
    Tls(#[from] iphttps_sim::tls::TlsError),
    /// A client did not reach LinkUp with an address in time.
    #[error("a client did not come up: {0}")]
    NotUp(String),
}

/// Starts `iphttps serve` (`bin`) in its own process on loopback, then `n` clients in this
/// one; measures the time until all are LinkUp with an address and the server's resident
/// memory per client.
pub async fn clients(bin: &Path, n: usize) -> Result<Vec<Figure>, ClientsError> {
    let served = Served::start(bin, &[], &[])?;
    let pid = served.pid();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let c = served.client(
            i as u64,
            Duration::from_millis(500),
            Duration::from_secs(30),
        );
        handles.push(iphttps_sim::client::start(c)?);
    }
    let deadline = t0 + Duration::from_secs(120);
    for h in &handles {
        let left = deadline.saturating_duration_since(Instant::now());
        h.wait_active(left)
            .await
            .map_err(|s| ClientsError::NotUp(format!("{:?} {}", s.state, s.last_error)))?;
    }
    let linkup = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    for h in &handles {
        h.shutdown().await;
    }
    drop(served);
    let mut figs = vec![Figure::new("clients_linkup_seconds", "s", linkup, None)];
    if let (Some(b), Some(a)) = (before, after) {
        figs.push(Figure::new(
            "server_rss_per_client_kib",
            "KiB",
            a.saturating_sub(b) as f64 / n as f64,
            None,
        ));
    }
    Ok(figs)
}

/// The binary to start for `--clients` (this executable).
pub fn this_binary() -> Option<PathBuf> {
    std::env::current_exe().ok()
}
