//! `iphttps swarm`: many full IP-HTTPS clients against any server, with what they went
//! through reported at the end and on `/metrics` while they run.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use iphttps_harness::progress::Progress;
use iphttps_harness::swarm::{self, SwarmConfig, tally::Tally};
use iphttps_sim::client::{self, IphttpsUrl};
use iphttps_sim::tls::NullCipher;

use crate::parse::parse_null_cipher;
use crate::progress::Shown;

/// The arguments of `iphttps swarm`.
#[derive(Debug, clap::Args)]
pub struct SwarmArgs {
    /// The server's IP-HTTPS URL, e.g. https://da.contoso.com/IPHTTPS
    url: IphttpsUrl,
    /// Clients to start.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// New connections per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds every tunnel is held once all have started (default: until interrupted).
    #[arg(long)]
    duration: Option<f64>,
    /// PEM file of the root CA(s) to trust (default: the system's store).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Resolve NAME to ADDR without DNS (as curl's --resolve); repeatable.
    #[arg(long, value_name = "NAME:ADDR", value_parser = client::parse_resolve)]
    resolve: Vec<(String, IpAddr)>,
    /// Reach the server through this web proxy with CONNECT.
    #[arg(long, value_name = "URL")]
    proxy: Option<client::ProxyUrl>,
    /// Machine certificate (PEM, with its chain) for AuthMode Certificates.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The machine certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Offer the NULL-encryption suites: prefer or only (a `--features null-cipher` build).
    #[arg(long, default_value = "off", value_parser = parse_null_cipher)]
    null_cipher: NullCipher,
    /// Each client pings this address through its tunnel.
    #[arg(long, value_name = "ADDR")]
    ping: Option<Ipv6Addr>,
    /// Seconds between a client's pings.
    #[arg(long, default_value_t = 1.0, requires = "ping")]
    ping_interval: f64,
    /// Largest ping loss that still passes, 0 to 1.
    #[arg(long, default_value_t = 0.01)]
    max_loss: f64,
    /// Source addresses to spread the clients over (comma-separated), past one address's
    /// ephemeral ports.
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    source: Vec<IpAddr>,
    /// Client numbering and seeds start here (several swarms at once: give each its own).
    #[arg(long, default_value_t = 0)]
    id_offset: u64,
    /// Serve /metrics and /status on ADDR while the swarm runs (loopback unless a token is
    /// set in IPHTTPS_ADMIN_TOKEN).
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Measure first attempts only: a client that fails does not try again.
    #[arg(long, conflicts_with = "reconnect_initial")]
    no_reconnect: bool,
    /// Seconds the reconnect timer waits after a first failure (Windows and the default:
    /// 30; later waits follow the spec from there, capped at 15 minutes).
    #[arg(long, value_name = "S")]
    reconnect_initial: Option<f64>,
}

/// Bad input: said plainly, exit 2.
fn bad(msg: impl std::fmt::Display) -> Result<ExitCode> {
    eprintln!("error: {msg}");
    Ok(ExitCode::from(2))
}

impl SwarmArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        if self.clients == 0 {
            return bad("--clients must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad("--rate must be a positive number of connections per second");
        }
        if !(0.0..1.0).contains(&self.max_loss) {
            return bad("--max-loss is a share from 0 up to (not including) 1");
        }
        if !(self.ping_interval.is_finite() && self.ping_interval > 0.0) {
            return bad("--ping-interval must be a positive number of seconds");
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && d >= 0.0)
        {
            return bad("--duration must be a number of seconds");
        }
        if let Some(r) = self.reconnect_initial
            && !(r.is_finite() && r > 0.0)
        {
            return bad("--reconnect-initial must be a positive number of seconds");
        }
        if let Err(e) = fits_open_files(self.clients) {
            return bad(e);
        }
        if let Err(e) = swarm::fits_ports(self.clients, self.source.len().max(1)) {
            return bad(e);
        }
        let trust = match &self.ca {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => return bad(format!("cannot read the CA file {}: {e}", p.display())),
            },
            None => {
                let (pem, n) = iphttps_sim::tls::system_roots_pem();
                if n == 0 {
                    return bad("the system's certificate store is empty: give --ca FILE");
                }
                pem
            }
        };
        if let Err(e) = iphttps_sim::tls::root_store(&trust) {
            return bad(format!("the trusted roots are unusable: {e}"));
        }
        let client_cert = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => {
                let read = |p: &PathBuf| {
                    std::fs::read_to_string(p)
                        .map_err(|e| format!("cannot read {}: {e}", p.display()))
                };
                match (read(c), read(k)) {
                    (Ok(c), Ok(k)) => Some((c, k)),
                    (Err(e), _) | (_, Err(e)) => return bad(e),
                }
            }
            _ => None,
        };
        let cfg = SwarmConfig {
            url: self.url,
            trust_pem: trust,
            resolve: self.resolve,
            proxy: self.proxy,
            client_cert,
            null_cipher: self.null_cipher,
            clients: self.clients,
            rate: self.rate,
            duration: self.duration.map(Duration::from_secs_f64),
            ping: self
                .ping
                .map(|a| (a, Duration::from_secs_f64(self.ping_interval))),
            sources: self.source,
            id_offset: self.id_offset,
            reconnect: !self.no_reconnect,
            reconnect_initial: Duration::from_secs_f64(self.reconnect_initial.unwrap_or(30.0)),
        };
        let tally = Tally::default();
        let _endpoint = match self.admin {
            Some(addr) => {
                let token = std::env::var("IPHTTPS_ADMIN_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty());
                match swarm::endpoint(addr, token, cfg.clone(), tally.clone()).await {
                    Ok(e) => {
                        eprintln!(
                            "swarm figures on http://{}/metrics and /status",
                            e.local_addr()
                        );
                        Some(e)
                    }
                    Err(e) => return bad(e),
                }
            }
            None => None,
        };
        let progress = Arc::new(Shown::quiet());
        let ticker = tokio::spawn(live_line(progress.clone(), tally.clone(), cfg.clients));
        let stop = async {
            let _ = crate::signal::shutdown_signal().await;
        };
        let report = swarm::run(&cfg, &tally, progress.as_ref(), stop).await;
        ticker.abort();
        progress.end();
        let report = match report {
            Ok(r) => r,
            Err(e) => return bad(format!("the clients cannot be configured: {e}")),
        };
        print!("{}", report.text());
        if let Some(p) = &self.json {
            std::fs::write(p, serde_json::to_string_pretty(&report)?)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
        }
        Ok(if report.passed(self.max_loss) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Keeps the bar's message on what the clients have reached.
async fn live_line(progress: Arc<Shown>, tally: Tally, total: usize) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (up, failures) = {
            let seen = tally.seen();
            (
                seen.linkup_seconds.len(),
                seen.failures.values().map(|f| f.count).sum::<u64>(),
            )
        };
        progress.note(&format!("LinkUp {up} of {total}, {failures} failure(s)"));
    }
}

/// Whether this process may open a socket per client (the soft limit was raised to the
/// hard one at start).
fn fits_open_files(clients: usize) -> Result<(), String> {
    #[cfg(unix)]
    {
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
        let need = clients as u64 + 64;
        if need > soft {
            return Err(format!(
                "{clients} clients need about {need} open files; this process may open {soft} \
                 (its soft limit, raised to the hard limit {hard}): raise the hard limit \
                 (ulimit -Hn, or LimitNOFILE for a service) or start fewer clients"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = clients;
    Ok(())
}
