//! `iphttps bench --peers` (Linux, root): the iphttps kernel-TUN tunnel beside the bare
//! veth and two real peers, openconnect/ocserv and wireguard-go, all between the same
//! two network namespaces, measured with iperf3 (TCP, both directions) and ping.
//!
//! Every path runs at MTU 1280 where its software allows it (ocserv takes its TLS and
//! CSTP overhead off the 1280 it is given; the measured MTU is reported). ocserv carries
//! IPv4 (its IPv6 pool needs more than this measurement is about); the others carry IPv6
//! except the bare veth.

use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::bench::Figure;
use crate::perf::cpu::{MachineTime, machine_time, stolen_share};
use crate::perf::spread::{Bound, Pair, median};

pub mod ipsec;
pub mod measure;
pub mod netns;
pub mod paths;

use paths::Kind;

/// Why the peers could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// Namespaces and TUN devices need root.
    #[error("bench --peers needs root (network namespaces, veth and TUN devices)")]
    NotRoot,
    /// No TUN driver.
    #[error("bench --peers needs /dev/net/tun")]
    NoTun,
    /// Tools are missing.
    #[error("bench --peers needs {}; install them with: apt-get install {}", .tools.join(", "), .packages.join(" "))]
    Missing {
        /// The missing commands.
        tools: Vec<String>,
        /// The Debian packages that have them.
        packages: Vec<String>,
    },
    /// A step failed.
    #[error("{what}: {detail}")]
    Command {
        /// The step.
        what: String,
        /// What it said.
        detail: String,
    },
    /// The PKI could not be written.
    #[error(transparent)]
    Pki(#[from] iphttps_sim::pki::PkiError),
    /// A figure could not be formed.
    #[error(transparent)]
    Perf(#[from] crate::perf::PerfError),
}

impl From<crate::system::Failed> for PeersError {
    fn from(f: crate::system::Failed) -> Self {
        Self::Command {
            what: f.what,
            detail: f.detail,
        }
    }
}

impl PeersError {
    pub(crate) fn command(what: &str, detail: impl Into<String>) -> Self {
        Self::Command {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// The commands `bench --peers` runs, and the Debian package of each.
pub const TOOLS: [(&str, &str); 8] = [
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("iperf3", "iperf3"),
    ("ocserv", "ocserv"),
    ("ocpasswd", "ocserv"),
    ("openconnect", "openconnect"),
    ("wireguard-go", "wireguard-go"),
    ("wg", "wireguard-tools"),
];

/// Checks privileges and tools; the error names everything that is missing.
pub fn check() -> Result<(), PeersError> {
    if !netns::is_root() {
        return Err(PeersError::NotRoot);
    }
    if !FsPath::new("/dev/net/tun").exists() {
        return Err(PeersError::NoTun);
    }
    match crate::system::missing(&TOOLS) {
        Some((tools, packages)) => Err(PeersError::Missing { tools, packages }),
        None => Ok(()),
    }
}

/// How the peers are measured.
#[derive(Debug, Clone)]
pub struct PeersPlan {
    /// The iphttps executable.
    pub bin: PathBuf,
    /// Seconds per iperf3 test.
    pub seconds: u64,
    /// Rounds: each measures every path once each way.
    pub rounds: usize,
    /// Pings per path and round.
    pub pings: usize,
}

/// One path's results.
#[derive(Debug, Clone, Serialize)]
pub struct PathReport {
    /// Which.
    pub path: Kind,
    /// Where the traffic went.
    pub target: String,
    /// The client-side device's MTU.
    pub mtu: Option<u32>,
    /// Client to server, Mbit/s, the median of the rounds.
    pub upload_mbps: f64,
    /// Server to client, Mbit/s, the median of the rounds.
    pub download_mbps: f64,
    /// Ping round trip, the median of all replies, ms.
    pub ping_p50_ms: f64,
    /// Pings sent without a reply (within 2 s), over all rounds.
    pub ping_lost: usize,
    /// Each round's upload.
    pub upload_runs: Vec<f64>,
    /// Each round's download.
    pub download_runs: Vec<f64>,
    /// The share (0 to 1) of the machine's CPU time its hypervisor gave to other guests
    /// during this path's iperf3 tests (Linux's steal); `None` where it is not reported.
    pub stolen: Option<f64>,
}

/// The whole measurement.
#[derive(Debug, Clone, Serialize)]
pub struct PeersReport {
    /// Each path.
    pub paths: Vec<PathReport>,
    /// iphttps beside each other path, as figures (`value` iphttps, `baseline` the other).
    pub figures: Vec<Figure>,
}

/// One path's raw rounds.
#[derive(Debug, Default, Clone)]
struct Rounds {
    upload: Vec<f64>,
    download: Vec<f64>,
    /// Each round's ping median.
    ping: Vec<f64>,
    all_pings: Vec<f64>,
    lost: usize,
    /// The machine's ticks during the iperf3 tests.
    ticks: Option<MachineTime>,
}

impl Rounds {
    /// Adds the machine's ticks between two readings to this path's.
    fn count_ticks(&mut self, before: Option<MachineTime>, after: Option<MachineTime>) {
        let Some(t) = before.zip(after).and_then(|(a, b)| b.since(a)) else {
            return;
        };
        self.ticks = Some(self.ticks.map_or(t, |sum| sum.plus(t)));
    }
}

/// Sets up the namespaces and every path, measures, and removes everything.
pub fn run(plan: &PeersPlan) -> Result<PeersReport, PeersError> {
    check()?;
    netns::remove_left_over(None);
    let dir = tempfile::tempdir().map_err(|e| PeersError::command("tempdir", e.to_string()))?;
    let now = time::OffsetDateTime::now_utc();
    iphttps_sim::pki::Pki::generate(&iphttps_sim::pki::PkiOptions::new(
        iphttps_sim::pki::DEFAULT_NAME,
        now,
    ))?
    .write(&dir.path().join("pki"))?;
    let ns = netns::Namespaces::create()?;
    let mut iperf = measure::iperf_server(&ns, dir.path().join("iperf3.log"))?;
    let mut up = Vec::new();
    for kind in Kind::ALL {
        tracing::info!(path = kind.name(), "setting up");
        up.push(paths::up(kind, &ns, &plan.bin, dir.path())?);
    }
    let mut rounds: Vec<Rounds> = vec![Rounds::default(); up.len()];
    let since = machine_time();
    for r in 0..plan.rounds {
        // each round starts with another path, so none is always first
        for k in 0..up.len() {
            let i = (k + r) % up.len();
            let path = &mut up[i];
            path.alive()?;
            iperf.alive()?;
            let waited = measure::reachable(&ns, path.target, Duration::from_secs(90))?;
            if waited > Duration::from_secs(1) {
                tracing::info!(
                    path = path.kind.name(),
                    ?waited,
                    "answered again (it was reconnecting)"
                );
            }
            let pings = measure::ping(&ns, path.target, plan.pings)?;
            rounds[i].lost += plan.pings - pings.len();
            let before = machine_time();
            let upload = measure::iperf(&ns, path.target, plan.seconds, false)?;
            let download = measure::iperf(&ns, path.target, plan.seconds, true)?;
            tracing::info!(path = path.kind.name(), upload, download, "round {}", r + 1);
            let out = &mut rounds[i];
            out.count_ticks(before, machine_time());
            out.ping.push(median(&pings).unwrap_or(f64::NAN));
            out.all_pings.extend(pings);
            out.upload.push(upload);
            out.download.push(download);
        }
    }
    let reports: Vec<PathReport> = up
        .iter()
        .zip(&rounds)
        .map(|(p, r)| PathReport {
            path: p.kind,
            target: p.target.to_string(),
            mtu: paths::mtu(&ns.client, &p.device),
            upload_mbps: median(&r.upload).unwrap_or(f64::NAN),
            download_mbps: median(&r.download).unwrap_or(f64::NAN),
            ping_p50_ms: median(&r.all_pings).unwrap_or(f64::NAN),
            ping_lost: r.lost,
            upload_runs: r.upload.clone(),
            download_runs: r.download.clone(),
            stolen: r.ticks.and_then(MachineTime::stolen_share),
        })
        .collect();
    let stolen = stolen_share(since, machine_time());
    drop(up);
    drop(iperf);
    drop(ns);
    let mut figures = figures(&rounds)?;
    for f in &mut figures {
        f.stolen = stolen;
    }
    Ok(PeersReport {
        figures,
        paths: reports,
    })
}

/// iphttps beside each other path, round by round.
fn figures(rounds: &[Rounds]) -> Result<Vec<Figure>, PeersError> {
    let at = |k: Kind| {
        Kind::ALL
            .iter()
            .position(|&x| x == k)
            .map(|i| &rounds[i])
            .expect("every kind is measured")
    };
    let ours = at(Kind::Iphttps);
    let mut out = Vec::new();
    type Pick = fn(&Rounds) -> &Vec<f64>;
    let measures: [(&str, &str, Pick, Bound); 3] = [
        ("upload", "Mbit/s", |r| &r.upload, Bound::Ceiling),
        ("download", "Mbit/s", |r| &r.download, Bound::Ceiling),
        ("ping_p50", "ms", |r| &r.ping, Bound::Floor),
    ];
    for (what, unit, pick, limit) in measures {
        for other in [Kind::Veth, Kind::Ocserv, Kind::WireguardGo] {
            let pairs: Vec<Pair> = pick(ours)
                .iter()
                .zip(pick(at(other)))
                .map(|(&tunnel, &baseline)| Pair { tunnel, baseline })
                .collect();
            // only the bare veth is a limit; the peers are something to compare with
            let bound = if other == Kind::Veth {
                limit
            } else {
                Bound::Reference
            };
            out.push(Figure::from_pairs(
                &format!("peers_{what}_vs_{}", other.name()),
                unit,
                &pairs,
                bound,
            )?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paths_stolen_share_is_over_its_own_tests_only() {
        let at = |total, stolen| Some(MachineTime { total, stolen });
        let share = |r: &Rounds| r.ticks.and_then(MachineTime::stolen_share);
        let mut r = Rounds::default();
        assert_eq!(share(&r), None, "nothing counted yet");
        // two rounds of this path; what happened between them (other paths) is not its
        r.count_ticks(at(1000, 10), at(1200, 30));
        r.count_ticks(at(5000, 900), at(5200, 910));
        assert_eq!(r.ticks, at(400, 30));
        assert_eq!(share(&r), Some(0.075));
        // a platform without the figure adds nothing
        r.count_ticks(None, at(9000, 1000));
        assert_eq!(share(&r), Some(0.075));
    }
}
