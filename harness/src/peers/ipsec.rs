//! `iphttps bench --ipsec` (Linux, root): double encryption measured. iperf3 runs from the
//! client namespace to the application server in the intranet namespace through ESP
//! (strongSwan, kernel-libipsec: ESP in userspace) inside the kernel-TUN IP-HTTPS tunnel,
//! once with the AES-GCM TLS suites and once with the NULL suites (a build with
//! `--features null-cipher`), each in its own pair of namespaces, rounds interleaved. Each
//! end's CPU time (iphttps and charon) over the bytes moved gives CPU seconds per GB:
//! what the NULL suites save is the TLS encryption of packets IPsec already protects.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::PeersError;
use super::measure;
use super::netns::{CLIENT_ADDR, Namespaces, SERVER_ADDR};
use super::paths::{self, Path as TunnelPath};
use crate::bench::Figure;
use crate::ipsec::charon::Charon;
use crate::ipsec::config::{self, Addresses, End};
use crate::perf::spread::{Bound, Pair, median};
use iphttps_sim::windows::ipsec::Tunnel;

/// Which TLS suites carry the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suites {
    /// The AES-GCM suites (rustls; what every build offers).
    AesGcm,
    /// TLS_RSA_WITH_NULL_SHA256 (the OpenSSL backend of the null-cipher build).
    Null,
}

impl Suites {
    fn name(self) -> &'static str {
        match self {
            Suites::AesGcm => "aes_gcm",
            Suites::Null => "null",
        }
    }
}

/// One suite's results.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// Which suites.
    pub suites: Suites,
    /// Client to intranet through ESP, Mbit/s (median of the rounds).
    pub upload_mbps: f64,
    /// Intranet to client, Mbit/s.
    pub download_mbps: f64,
    /// The client end's CPU seconds (iphttps connect + its charon) per GB moved, upload.
    pub client_cpu_s_per_gb_upload: f64,
    /// The server end's (iphttps serve + its charon), upload.
    pub server_cpu_s_per_gb_upload: f64,
    /// The client end's, download.
    pub client_cpu_s_per_gb_download: f64,
    /// The server end's, download.
    pub server_cpu_s_per_gb_download: f64,
    /// The share of the client end's CPU time that its charon (userspace ESP) took,
    /// upload.
    pub client_charon_share_upload: f64,
    /// The share of the server end's CPU time that its charon took, upload.
    pub server_charon_share_upload: f64,
    /// Bytes the intranet tunnel's quick mode SA carried out of the client over the whole
    /// measurement: the traffic really went through ESP.
    pub esp_bytes_out: u64,
}

/// The measurement.
#[derive(Debug, Clone, Serialize)]
pub struct IpsecBenchReport {
    /// Each suite measured.
    pub suites: Vec<SuiteReport>,
    /// NULL beside AES-GCM (`value` NULL, `baseline` AES-GCM), when both were measured.
    pub figures: Vec<Figure>,
    /// Why a suite was not measured, if one was not.
    pub note: Option<String>,
}

/// Both ends' processes of one suite's tunnel, and its namespaces.
struct Setup {
    suites: Suites,
    ns: Namespaces,
    tunnel: TunnelPath,
    server_charon: Charon,
    client_charon: Charon,
    target: std::net::IpAddr,
}

/// CPU time of processes `pids`, in seconds (utime + stime from /proc).
fn cpu_seconds(pids: &[u32]) -> f64 {
    let ticks = clock_ticks();
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            // the fields after the command name (which may hold spaces) in parentheses
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .sum()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn set_up(suites: Suites, bin: &Path, dir: &Path) -> Result<Setup, PeersError> {
    let pid = std::process::id();
    let tag = format!("{}{pid}-{}", super::netns::PREFIX, suites.name());
    let veth = format!("iphq{}{pid}", &suites.name()[..1]);
    let ns = Namespaces::create_as(&tag, &veth, (SERVER_ADDR, CLIENT_ADDR))?;
    let (serve_args, connect_args): (&[&str], &[&str]) = match suites {
        Suites::AesGcm => (&[], &[]),
        Suites::Null => (&["--null-cipher"], &["--null-cipher", "only"]),
    };
    let tunnel = paths::iphttps_with(&ns, bin, dir, serve_args, connect_args)?;
    let pki = iphttps_sim::pki::Pki::read(&dir.join("pki"))?;
    let a = Addresses::around(
        iphttps_sim::server::DEFAULT_INTRANET_HOST,
        iphttps_sim::server::DEFAULT_CLIENT_PREFIX
            .parse()
            .expect("a valid prefix"),
    );
    super::netns::run(
        Command::new("ip").args([
            "-n",
            &ns.server,
            "addr",
            "add",
            &format!("{}/128", a.application),
            "dev",
            "lo",
        ]),
        "ip addr add (the application server)",
    )?;
    let ipsec = |e: crate::ipsec::IpsecError| PeersError::command("IPsec", e.to_string());
    let sdir = dir.join("charon-server");
    config::write_end(&sdir, End::Server, &a, iphttps_sim::pki::DEFAULT_NAME).map_err(ipsec)?;
    config::write_credentials(&sdir, End::Server, &pki).map_err(ipsec)?;
    let server_charon = Charon::start(&ns.server, &sdir, "the server's charon").map_err(ipsec)?;
    crate::ipsec::lab::route_clients_into_ipsec(&ns.server, &a).map_err(ipsec)?;
    server_charon.swanctl(&["--load-all"]).map_err(ipsec)?;
    let cdir = dir.join("charon-client");
    config::write_end(&cdir, End::Client, &a, iphttps_sim::pki::DEFAULT_NAME).map_err(ipsec)?;
    config::write_credentials(&cdir, End::Client, &pki).map_err(ipsec)?;
    let client_charon = Charon::start(&ns.client, &cdir, "the client's charon").map_err(ipsec)?;
    client_charon.swanctl(&["--load-all"]).map_err(ipsec)?;
    client_charon
        .swanctl(&["--initiate", "--child", Tunnel::Intranet.name()])
        .map_err(ipsec)?;
    Ok(Setup {
        suites,
        ns,
        tunnel,
        server_charon,
        client_charon,
        target: std::net::IpAddr::V6(a.application),
    })
}

/// Bytes out of the client through the intranet tunnel's quick mode SA.
fn esp_bytes_out(charon: &Charon) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(rt) = rt else { return 0 };
    rt.block_on(crate::ipsec::lab::list_sas(&charon.vici()))
        .map(|events| {
            crate::ipsec::agent::read_sas(&events)
                .1
                .iter()
                .filter(|q| q.tunnel == Tunnel::Intranet)
                .map(|q| q.bytes_out)
                .sum()
        })
        .unwrap_or(0)
}

/// One iperf3 test through `s`: Mbit/s, and CPU seconds per GB of the client's iphttps,
/// the client's charon, the server's iphttps and the server's charon.
fn one(s: &Setup, seconds: u64, reverse: bool) -> Result<(f64, [f64; 4]), PeersError> {
    let pids = s.tunnel.pids();
    let procs = [
        pids[1],
        s.client_charon.pid(),
        pids[0],
        s.server_charon.pid(),
    ];
    let before = procs.map(|p| cpu_seconds(&[p]));
    let (mbps, bytes) = measure::iperf_bytes(&s.ns, s.target, seconds, reverse)?;
    let gb = (bytes / 1e9).max(1e-9);
    let mut per_gb = [0.0; 4];
    for (i, p) in procs.iter().enumerate() {
        per_gb[i] = (cpu_seconds(&[*p]) - before[i]) / gb;
    }
    Ok((mbps, per_gb))
}

/// Sets up each suite this build has, measures `rounds` rounds of iperf3 (`seconds`
/// each way), and removes everything.
pub fn run(
    bin: &Path,
    seconds: u64,
    rounds: usize,
    null_build: bool,
) -> Result<IpsecBenchReport, PeersError> {
    crate::ipsec::check().map_err(|e| PeersError::command("IPsec", e.to_string()))?;
    if !crate::system::present("iperf3") {
        return Err(PeersError::Missing {
            tools: vec!["iperf3".into()],
            packages: vec!["iperf3".into()],
        });
    }
    super::netns::remove_left_over(None);
    let dir = tempfile::tempdir().map_err(|e| PeersError::command("tempdir", e.to_string()))?;
    let now = time::OffsetDateTime::now_utc();
    let mut opts = iphttps_sim::pki::PkiOptions::new(iphttps_sim::pki::DEFAULT_NAME, now);
    opts.machine.validity = iphttps_sim::pki::Validity::around(now, 30);
    iphttps_sim::pki::Pki::generate(&opts)?.write(&dir.path().join("pki"))?;
    let mut wanted = vec![Suites::AesGcm];
    let note = if null_build {
        wanted.push(Suites::Null);
        None
    } else {
        Some(
            "the NULL suites need a build with --features null-cipher; only AES-GCM was measured"
                .to_string(),
        )
    };
    let mut setups = Vec::new();
    for s in wanted {
        let d = dir.path().join(s.name());
        std::fs::create_dir_all(&d).map_err(|e| PeersError::command("mkdir", e.to_string()))?;
        std::fs::create_dir_all(d.join("pki"))
            .map_err(|e| PeersError::command("mkdir", e.to_string()))?;
        for f in std::fs::read_dir(dir.path().join("pki"))
            .map_err(|e| PeersError::command("pki", e.to_string()))?
        {
            let f = f.map_err(|e| PeersError::command("pki", e.to_string()))?;
            std::fs::copy(f.path(), d.join("pki").join(f.file_name()))
                .map_err(|e| PeersError::command("pki", e.to_string()))?;
        }
        setups.push(set_up(s, bin, &d)?);
    }
    let mut iperfs = Vec::new();
    for s in &setups {
        iperfs.push(measure::iperf_server(
            &s.ns,
            dir.path().join(format!("iperf3-{}.log", s.suites.name())),
        )?);
    }
    // per suite: rounds of (up Mbit/s, up client, up server, down Mbit/s, down client,
    // down server, up client charon share, up server charon share)
    let mut results: Vec<Vec<[f64; 8]>> = vec![Vec::new(); setups.len()];
    for r in 0..rounds {
        for k in 0..setups.len() {
            let i = (k + r) % setups.len();
            let s = &setups[i];
            let (up, u) = one(s, seconds, false)?;
            let (down, d) = one(s, seconds, true)?;
            tracing::info!(suites = s.suites.name(), up, down, "round {}", r + 1);
            let (uc, us) = (u[0] + u[1], u[2] + u[3]);
            results[i].push([
                up,
                uc,
                us,
                down,
                d[0] + d[1],
                d[2] + d[3],
                u[1] / uc.max(1e-12),
                u[3] / us.max(1e-12),
            ]);
        }
    }
    let col = |rows: &[[f64; 8]], c: usize| {
        median(&rows.iter().map(|x| x[c]).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    let suites: Vec<SuiteReport> = setups
        .iter()
        .zip(&results)
        .map(|(s, rows)| SuiteReport {
            suites: s.suites,
            upload_mbps: col(rows, 0),
            client_cpu_s_per_gb_upload: col(rows, 1),
            server_cpu_s_per_gb_upload: col(rows, 2),
            download_mbps: col(rows, 3),
            client_cpu_s_per_gb_download: col(rows, 4),
            server_cpu_s_per_gb_download: col(rows, 5),
            client_charon_share_upload: col(rows, 6),
            server_charon_share_upload: col(rows, 7),
            esp_bytes_out: esp_bytes_out(&s.client_charon),
        })
        .collect();
    let mut figures = Vec::new();
    if results.len() == 2 {
        let names = [
            ("ipsec_null_vs_aes_upload", "Mbit/s", 0),
            ("ipsec_null_vs_aes_upload_client_cpu", "CPU s/GB", 1),
            ("ipsec_null_vs_aes_upload_server_cpu", "CPU s/GB", 2),
            ("ipsec_null_vs_aes_download", "Mbit/s", 3),
            ("ipsec_null_vs_aes_download_client_cpu", "CPU s/GB", 4),
            ("ipsec_null_vs_aes_download_server_cpu", "CPU s/GB", 5),
        ];
        for (name, unit, c) in names {
            let pairs: Vec<Pair> = results[1]
                .iter()
                .zip(&results[0])
                .map(|(n, a)| Pair {
                    tunnel: n[c],
                    baseline: a[c],
                })
                .collect();
            figures.push(Figure::from_pairs(name, unit, &pairs, Bound::Reference)?);
        }
    }
    drop(iperfs);
    drop(setups);
    Ok(IpsecBenchReport {
        suites,
        figures,
        note,
    })
}
