//! `iphttps lab`: start a server, N clients and the intranet host on loopback, ping the
//! intranet host from every client and every client from another, and report.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::lab::{Lab, LabConfig, LabError};
use iphttps_sim::client::PingError;
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::fault::Fault;

/// What to run.
#[derive(Debug, Clone)]
pub struct LabRun {
    /// Number of clients.
    pub clients: usize,
    /// Capture file.
    pub pcap: Option<PathBuf>,
    /// How long clients get to reach LinkUp with an address.
    pub linkup_timeout: Duration,
    /// How long each ping waits for its reply.
    pub ping_timeout: Duration,
    /// Faults present at start.
    pub faults: Vec<Fault>,
    /// The built-in web proxy in every client's path, in this mode.
    pub proxy: Option<crate::fixtures::web_proxy::ProxyMode>,
    /// IPsec inside the tunnel (see [`crate::ipsec`]).
    pub ipsec: bool,
}

impl Default for LabRun {
    fn default() -> Self {
        Self {
            clients: 2,
            pcap: None,
            linkup_timeout: Duration::from_secs(20),
            ping_timeout: Duration::from_secs(3),
            faults: Vec::new(),
            proxy: None,
            ipsec: false,
        }
    }
}

/// One ping's outcome.
#[derive(Debug, Clone)]
pub struct Ping {
    /// What was pinged, in words.
    pub target: String,
    /// Its address.
    pub address: Ipv6Addr,
    /// The round trip, or why there was none.
    pub result: Result<Duration, PingError>,
}

/// One client's line of the report.
#[derive(Debug, Clone)]
pub struct ClientReport {
    /// 1-based client number.
    pub number: usize,
    /// The client's netsh-style status.
    pub netsh: String,
    /// Its global address, if it got one.
    pub address: Option<Ipv6Addr>,
    /// Its pings.
    pub pings: Vec<Ping>,
    /// In an IPsec lab: Get-DAConnectionStatus, its quick mode SAs, IKE's reason.
    pub ipsec: Option<String>,
}

impl ClientReport {
    /// Client `i`'s (0-based) line from its status, pings and IPsec line.
    fn of(
        i: usize,
        s: &iphttps_sim::client::ClientStatus,
        pings: Vec<Ping>,
        ipsec: Option<String>,
    ) -> Self {
        Self {
            number: i + 1,
            netsh: s.netsh().to_string(),
            address: s.global,
            pings,
            ipsec,
        }
    }
}

/// The lab's report.
#[derive(Debug, Clone)]
pub struct LabReport {
    /// Server URL.
    pub url: String,
    /// Intranet host address.
    pub intranet: Ipv6Addr,
    /// Per client.
    pub clients: Vec<ClientReport>,
}

impl LabReport {
    /// Every client got an address and every ping was answered.
    pub fn ok(&self) -> bool {
        self.clients.iter().all(|c| {
            c.address.is_some() && !c.pings.is_empty() && c.pings.iter().all(|p| p.result.is_ok())
        })
    }
}

impl fmt::Display for LabReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "IP-HTTPS lab: server {} ; intranet host {}",
            self.url, self.intranet
        )?;
        for c in &self.clients {
            match c.address {
                Some(a) => writeln!(f, "client {}: address {a}", c.number)?,
                None => {
                    writeln!(f, "client {}: NO GLOBAL ADDRESS", c.number)?;
                    for line in c.netsh.lines() {
                        writeln!(f, "    {line}")?;
                    }
                }
            }
            if let Some(line) = &c.ipsec {
                writeln!(f, "  IPsec: {line}")?;
            }
            for p in &c.pings {
                match &p.result {
                    Ok(rtt) => writeln!(
                        f,
                        "  ping {} {}: reply in {:.3} ms",
                        p.target,
                        p.address,
                        rtt.as_secs_f64() * 1000.0
                    )?,
                    Err(e) => writeln!(f, "  ping {} {}: FAILED ({e})", p.target, p.address)?,
                }
            }
        }
        let pings: usize = self.clients.iter().map(|c| c.pings.len()).sum();
        let ok: usize = self
            .clients
            .iter()
            .map(|c| c.pings.iter().filter(|p| p.result.is_ok()).count())
            .sum();
        write!(
            f,
            "{ok}/{pings} pings answered: {}",
            if self.ok() { "PASS" } else { "FAIL" }
        )
    }
}

/// Starts the lab.
pub async fn start(cfg: &LabRun) -> Result<Lab, LabError> {
    Lab::start(LabConfig {
        clients: cfg.clients,
        proxy: cfg.proxy.clone(),
        ipsec: cfg.ipsec,
        deployment: DeploymentConfig {
            pcap: cfg.pcap.clone(),
            faults: cfg.faults.clone(),
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
}

/// Waits for the clients, pings the intranet host from every client and every client
/// from another, and reports.
pub async fn report(lab: &Lab, cfg: &LabRun) -> LabReport {
    let statuses = match lab.wait_all_active(cfg.linkup_timeout).await {
        Ok(s) | Err(s) => s,
    };
    let intranet = lab.server.intranet_address();
    #[cfg(target_os = "linux")]
    if let Some(x) = lab.ipsec() {
        return ipsec_report(lab, &x, &statuses, cfg).await;
    }
    let mut clients = Vec::new();
    for (i, (c, s)) in lab.clients().iter().zip(&statuses).enumerate() {
        let mut pings = Vec::new();
        if s.global.is_some() {
            let mut targets = vec![("intranet host".to_string(), intranet)];
            if statuses.len() > 1 {
                let j = (i + 1) % statuses.len();
                if let Some(peer) = statuses[j].global {
                    targets.push((format!("client {}", j + 1), peer));
                }
            }
            for (target, address) in targets {
                let result = c.ping(address, 56, cfg.ping_timeout).await;
                pings.push(Ping {
                    target,
                    address,
                    result,
                });
            }
        }
        clients.push(ClientReport::of(i, s, pings, None));
    }
    LabReport {
        url: lab.server.url(),
        intranet,
        clients,
    }
}

/// An IPsec lab's report: each client's tunnels once IKE has settled (up, or failed),
/// and pings from its kernel to the infrastructure and the application server.
#[cfg(target_os = "linux")]
async fn ipsec_report(
    lab: &Lab,
    x: &crate::ipsec::lab::IpsecLab,
    statuses: &[iphttps_sim::client::ClientStatus],
    cfg: &LabRun,
) -> LabReport {
    use iphttps_sim::api::Managed;
    use iphttps_sim::windows::ipsec::Tunnel;
    let a = *x.addresses();
    let mut clients = Vec::new();
    for (i, s) in statuses.iter().enumerate() {
        let agent = lab.fleet().ipsec(i + 1);
        let deadline = tokio::time::Instant::now() + cfg.linkup_timeout;
        let snapshot = loop {
            let now = agent.as_ref().map(|a| a.snapshot()).unwrap_or_default();
            if now.da_status().0 != "ConnectingRemotely" || tokio::time::Instant::now() > deadline {
                break now;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let (status, _) = snapshot.da_status();
        let sas: Vec<&str> = Tunnel::ALL
            .into_iter()
            .filter(|t| snapshot.installed(*t).is_some())
            .map(|t| t.name())
            .collect();
        let mut line = format!("{status}, quick mode SAs [{}]", sas.join(", "));
        if let Some(r) = &snapshot.failure {
            line.push_str(&format!(", IKE: {r}"));
        }
        let mut pings = Vec::new();
        if s.global.is_some() {
            for (target, address) in [
                ("infrastructure server", a.infrastructure),
                ("application server", a.application),
            ] {
                let result = match x.ping(i, address, 56, cfg.ping_timeout).await {
                    Ok(Some(rtt)) => Ok(rtt),
                    _ => Err(PingError::Timeout(cfg.ping_timeout)),
                };
                pings.push(Ping {
                    target: target.to_string(),
                    address,
                    result,
                });
            }
        }
        clients.push(ClientReport::of(i, s, pings, Some(line)));
    }
    LabReport {
        url: lab.server.url(),
        intranet: a.application,
        clients,
    }
}

/// Starts the lab, pings, shuts it down, and reports.
pub async fn run(cfg: &LabRun) -> Result<LabReport, LabError> {
    let lab = start(cfg).await?;
    let r = report(&lab, cfg).await;
    lab.shutdown().await;
    Ok(r)
}
