//! What a swarm reports: at the end (a text table, or JSON) and while it runs (`/status`
//! as JSON, `/metrics` in the OpenMetrics format, one family per figure, so Prometheus can
//! sum the figures of many swarms).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use iphttps_sim::client::ClientState;
use iphttps_sim::metrics::{counter, family, gauge, labels};
use iphttps_sim::winerr::LastErrorCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::SwarmConfig;
use super::tally::Tally;

/// Upper bounds of the LinkUp-time histogram on `/metrics`, in seconds.
pub const LINKUP_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];

/// Percentiles of a set of times, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Spread {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((p / 100.0) * (v.len() - 1) as f64).round() as usize];
        Some(Self {
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: v[v.len() - 1],
        })
    }
}

/// Failures of one Last Error Code, in Windows' words.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Failures {
    /// The code as Windows prints it (`0x800b0109`).
    pub code: String,
    /// Its symbol (`CERT_E_UNTRUSTEDROOT`).
    pub symbol: String,
    /// How many.
    pub count: u64,
    /// The first one's description.
    pub first_detail: String,
}

/// Pings through the tunnels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pings {
    /// Where to.
    pub to: String,
    /// Echo Requests sent from an address over a tunnel that was up.
    pub sent: u64,
    /// Answered.
    pub answered: u64,
    /// Share unanswered, 0 to 1.
    pub loss: f64,
    /// Round trips, milliseconds (`None` without answers).
    pub rtt_p50_ms: Option<f64>,
    /// 99th percentile round trip, milliseconds.
    pub rtt_p99_ms: Option<f64>,
}

/// The swarm process's own cost, to tell whether the generator or the server was the
/// limit (Linux: from `/proc/self`; elsewhere absent).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Usage {
    /// CPU seconds (user and system) since the swarm started.
    pub cpu_seconds: f64,
    /// That as a share of one core over the swarm's time, in percent.
    pub cpu_percent_of_one_core: f64,
    /// Resident memory now, bytes.
    pub rss_bytes: u64,
}

impl Usage {
    /// CPU seconds used so far by this process and its resident memory (Linux; zeros
    /// elsewhere). `/proc/self/stat` counts in USER_HZ, 100 per second on Linux.
    pub fn now() -> (f64, u64) {
        let cpu = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1;
                let f: Vec<&str> = after.split_whitespace().collect();
                let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
                Some(ticks / 100.0)
            })
            .unwrap_or(0.0);
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(0, |kib| kib * 1024);
        (cpu, rss)
    }

    fn since(start: &(f64, u64), wall: Duration) -> Self {
        let (cpu, rss) = Self::now();
        let cpu_seconds = (cpu - start.0).max(0.0);
        Self {
            cpu_seconds,
            cpu_percent_of_one_core: 100.0 * cpu_seconds / wall.as_secs_f64().max(1e-9),
            rss_bytes: rss,
        }
    }
}

/// What a swarm saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SwarmReport {
    /// The server's URL.
    pub url: String,
    /// Seconds since the first client started.
    pub seconds: f64,
    /// Clients started.
    pub started: usize,
    /// Clients that reached LinkUp at least once.
    pub linkup: usize,
    /// Clients LinkUp now (at the end: held to the end).
    pub held: usize,
    /// Clients LinkUp now with a global address.
    pub with_global_address: usize,
    /// Seconds from a client's start (its first TCP connect) to its first LinkUp.
    pub linkup_seconds: Option<Spread>,
    /// Every LinkUp time, for the histogram (not in the JSON).
    #[serde(skip)]
    pub linkup_all: Vec<f64>,
    /// Failures by Last Error Code.
    pub failures: Vec<Failures>,
    /// Clients that received a Router Advertisement.
    pub with_router_advertisement: u64,
    /// Clients by the prefixes their first RA carried (`(none)`: an RA without one).
    pub ra_prefixes: BTreeMap<String, u64>,
    /// Reconnections: connections after a client's first.
    pub reconnects: u64,
    /// Pings, when asked for.
    pub ping: Option<Pings>,
    /// The swarm process's CPU and memory.
    pub swarm_process: Usage,
}

impl SwarmReport {
    /// The report as of now.
    pub fn now(cfg: &SwarmConfig, tally: &Tally, elapsed: Duration, usage0: &(f64, u64)) -> Self {
        let statuses: Vec<_> = tally.clients().iter().map(|c| c.status()).collect();
        let seen = tally.seen();
        let held = statuses
            .iter()
            .filter(|s| s.state == ClientState::LinkUp)
            .count();
        let with_global_address = statuses
            .iter()
            .filter(|s| s.is_active_with_address())
            .count();
        let failures = seen
            .failures
            .iter()
            .map(|(code, f)| {
                let code = LastErrorCode(*code);
                Failures {
                    code: code.to_string(),
                    symbol: code.symbol().unwrap_or("unknown").to_string(),
                    count: f.count,
                    first_detail: f.first_detail.clone(),
                }
            })
            .collect();
        let ping = cfg.ping.map(|(dst, _)| {
            let answered = seen.rtts.len() as u64;
            let spread = Spread::of(&seen.rtts);
            Pings {
                to: dst.to_string(),
                sent: seen.pings_sent,
                answered,
                loss: if seen.pings_sent == 0 {
                    0.0
                } else {
                    1.0 - answered as f64 / seen.pings_sent as f64
                },
                rtt_p50_ms: spread.map(|s| s.p50 * 1000.0),
                rtt_p99_ms: spread.map(|s| s.p99 * 1000.0),
            }
        });
        Self {
            url: cfg.url.to_string(),
            seconds: elapsed.as_secs_f64(),
            started: statuses.len(),
            linkup: seen.linkup_seconds.len(),
            held,
            with_global_address,
            linkup_seconds: Spread::of(&seen.linkup_seconds),
            linkup_all: seen.linkup_seconds.clone(),
            failures,
            with_router_advertisement: seen.with_ra,
            ra_prefixes: seen.prefixes.clone(),
            reconnects: statuses.iter().map(|s| s.connects.saturating_sub(1)).sum(),
            ping,
            swarm_process: Usage::since(usage0, elapsed),
        }
    }

    /// Whether the swarm did what it was asked: every client started reached LinkUp, and
    /// with pings the loss stayed at or under `max_loss`.
    pub fn passed(&self, max_loss: f64) -> bool {
        self.started > 0
            && self.linkup == self.started
            && self.ping.as_ref().is_none_or(|p| p.loss <= max_loss)
    }

    /// The text a person reads.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "swarm against {} for {:.1} s", self.url, self.seconds);
        let _ = writeln!(
            t,
            "  clients started {:>7}   reached LinkUp {:>7}   held to the end {:>7}   with a global address {:>7}",
            self.started, self.linkup, self.held, self.with_global_address
        );
        match &self.linkup_seconds {
            Some(s) => {
                let _ = writeln!(
                    t,
                    "  start to LinkUp   p50 {:.3} s   p90 {:.3} s   p99 {:.3} s   max {:.3} s",
                    s.p50, s.p90, s.p99, s.max
                );
            }
            None => t += "  start to LinkUp   no client reached LinkUp\n",
        }
        if self.failures.is_empty() {
            t += "  failures          none\n";
        } else {
            t += "  failures by Last Error Code:\n";
            for f in &self.failures {
                let _ = writeln!(
                    t,
                    "    {:<11} {:<32} {:>7}   first: {}",
                    f.code, f.symbol, f.count, f.first_detail
                );
            }
        }
        let prefixes: Vec<String> = self
            .ra_prefixes
            .iter()
            .map(|(p, n)| format!("{p} ({n})"))
            .collect();
        let _ = writeln!(
            t,
            "  Router Advertisements received by {} client(s); prefixes: {}",
            self.with_router_advertisement,
            if prefixes.is_empty() {
                "-".to_string()
            } else {
                prefixes.join(", ")
            }
        );
        let _ = writeln!(t, "  reconnections     {}", self.reconnects);
        if let Some(p) = &self.ping {
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} ms"));
            let _ = writeln!(
                t,
                "  pings to {}: {} sent, {} answered, loss {:.2}%, RTT p50 {}, p99 {}",
                p.to,
                p.sent,
                p.answered,
                p.loss * 100.0,
                ms(p.rtt_p50_ms),
                ms(p.rtt_p99_ms)
            );
        }
        let u = &self.swarm_process;
        let _ = writeln!(
            t,
            "  the swarm itself  CPU {:.1} s ({:.0}% of one core), resident memory {:.1} MB",
            u.cpu_seconds,
            u.cpu_percent_of_one_core,
            u.rss_bytes as f64 / 1e6
        );
        t
    }

    /// The OpenMetrics text of the report (`/metrics` while the swarm runs).
    pub fn metrics(&self) -> String {
        iphttps_sim::metrics::render(Box::new(self.clone()))
    }
}

impl Collector for SwarmReport {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        counter(
            &mut e,
            "iphttps_swarm_clients_started",
            "Clients this swarm started.",
            self.started as u64,
        )?;
        counter(
            &mut e,
            "iphttps_swarm_clients_linkup",
            "Clients that reached LinkUp at least once.",
            self.linkup as u64,
        )?;
        gauge(
            &mut e,
            "iphttps_swarm_clients_held",
            "Clients LinkUp now.",
            self.held as i64,
        )?;
        gauge(
            &mut e,
            "iphttps_swarm_clients_with_address",
            "Clients LinkUp now with a global address.",
            self.with_global_address as i64,
        )?;
        family(
            &mut e,
            "iphttps_swarm_failures",
            "Failed attempts and lost links, by Last Error Code.",
            MetricType::Counter,
            self.failures.iter().map(|x| {
                (
                    labels(&[("code", &x.code), ("symbol", &x.symbol)]),
                    ConstCounter::new(x.count),
                )
            }),
        )?;
        counter(
            &mut e,
            "iphttps_swarm_reconnects",
            "Connections after a client's first.",
            self.reconnects,
        )?;
        let mut buckets: Vec<(f64, u64)> = LINKUP_BUCKETS.iter().map(|b| (*b, 0)).collect();
        let mut over = 0;
        for v in &self.linkup_all {
            match buckets.iter_mut().find(|(le, _)| v <= le) {
                Some(b) => b.1 += 1,
                None => over += 1,
            }
        }
        buckets.push((f64::INFINITY, over));
        e.encode_descriptor(
            "iphttps_swarm_linkup_seconds",
            "Time from a client's start (its first TCP connect) to its first LinkUp.",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(
            self.linkup_all.iter().sum(),
            self.linkup_all.len() as u64,
            &buckets,
            None,
        )?;
        if let Some(p) = &self.ping {
            counter(
                &mut e,
                "iphttps_swarm_pings_sent",
                "Echo Requests sent through the tunnels.",
                p.sent,
            )?;
            counter(
                &mut e,
                "iphttps_swarm_pings_answered",
                "Echo Replies received.",
                p.answered,
            )?;
        }
        gauge(
            &mut e,
            "iphttps_swarm_cpu_seconds",
            "CPU seconds the swarm process used.",
            self.swarm_process.cpu_seconds,
        )?;
        gauge(
            &mut e,
            "iphttps_swarm_resident_bytes",
            "The swarm process's resident memory.",
            self.swarm_process.rss_bytes as i64,
        )?;
        Ok(())
    }
}
