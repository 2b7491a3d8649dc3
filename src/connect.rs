//! `iphttps connect`: an IP-HTTPS client: once (print the status and exit) or until interrupted.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use iphttps_sim::capture::Capture;
use iphttps_sim::client::{self, ClientConfig, IphttpsUrl};
use iphttps_sim::client_state::transition::NetworkSituation;
use iphttps_sim::tls::NullCipher;

use crate::parse::{parse_network, parse_null_cipher};
use crate::signal::shutdown_signal;

/// The arguments of `iphttps connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The server URL, e.g. https://da.contoso.com/IPHTTPS
    url: IphttpsUrl,
    /// PEM file of the root CA(s) to trust.
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Resolve NAME to ADDR without DNS (as curl's --resolve); repeatable.
    #[arg(long, value_name = "NAME:ADDR", value_parser = client::parse_resolve)]
    resolve: Vec<(String, std::net::IpAddr)>,
    /// Connect, wait for a global address, print the status and exit
    /// (0 only when the interface is active with a global address).
    #[arg(long)]
    once: bool,
    /// How long --once waits, in seconds.
    #[arg(long, default_value_t = 15.0)]
    timeout: f64,
    /// Write every tunnelled IPv6 packet to FILE (pcap, raw IPv6).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Check revocation against the CRLs at URL before each attempt (Windows 7 behaviour).
    #[arg(long, value_name = "URL")]
    crl_url: Option<String>,
    /// The client's network: hotel (NAT, Teredo blocked: IP-HTTPS), nat (Teredo),
    /// public-ipv4 (6to4), force-tunnel (IP-HTTPS only).
    #[arg(long, default_value = "hotel", value_parser = parse_network)]
    network: NetworkSituation,
    /// Reach the server through this web proxy with CONNECT:
    /// http://[USER:PASSWORD@]HOST[:PORT] (Basic proxy authentication).
    #[arg(long, value_name = "URL")]
    proxy: Option<client::ProxyUrl>,
    /// Offer the NULL-encryption suites: `prefer` (first, then AES-GCM, as Windows 8+),
    /// `only` (nothing else), `off` (Windows 7; default). Needs `--features null-cipher`.
    #[arg(long, default_value = "off", value_parser = parse_null_cipher)]
    null_cipher: NullCipher,
    /// Create kernel TUN device NAME and let the kernel's IPv6 stack be the host
    /// behind the tunnel (Linux, root or CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME")]
    tun: Option<String>,
}

impl ConnectArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            url,
            ca,
            resolve,
            once,
            timeout,
            pcap,
            crl_url,
            network,
            proxy,
            null_cipher,
            tun,
        } = self;
        let ca = ca.as_path();
        let tun = tun.as_deref();
        let trust =
            std::fs::read_to_string(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        let mut cfg = ClientConfig::new(url, trust);
        cfg.resolve = resolve;
        cfg.pcap = capture(pcap.as_deref())?;
        cfg.crl_url = crl_url;
        cfg.network = network;
        cfg.proxy = proxy;
        cfg.null_cipher = null_cipher;
        let _tun = match tun {
            Some(dev) => {
                let (device, port) = kernel_tun(dev)?;
                cfg.kernel = Some(port);
                println!("TUN device {dev}: the kernel's IPv6 stack is the host behind the tunnel");
                Some(device)
            }
            None => None,
        };
        // a different interface ID on every run, as Windows does
        cfg.host.seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let chosen = iphttps_sim::client_state::transition::choose(&network);
        if chosen != iphttps_sim::client_state::transition::Transition::IpHttps {
            println!(
                "Transition technology: {chosen} (Windows would not use IP-HTTPS on this network)"
            );
            if once {
                return Ok(ExitCode::FAILURE);
            }
        }
        let client = client::start(cfg)?;
        if once {
            let wait = Duration::from_secs_f64(timeout.max(0.0));
            let status = match client
                .wait_until(wait, |s| s.is_active_with_address() || s.failures > 0)
                .await
            {
                Ok(s) | Err(s) => s,
            };
            print!("{}", status.netsh());
            println!();
            if let Some(a) = status.global {
                println!("{:<27}: {a}", "IPv6 Address");
            }
            if let Some(a) = status.link_local {
                println!("{:<27}: {a}", "Link-local IPv6 Address");
            }
            if let Some(d) = &status.last_error_detail {
                eprintln!("detail: {d}");
            }
            let ok = status.is_active_with_address();
            if !ok {
                println!();
                print!("{}", iphttps_sim::diag::diagnose(&status, None));
            }
            client.shutdown().await;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        let mut last = String::new();
        loop {
            let s = client.status();
            let view = format!(
                "{}{}",
                s.netsh(),
                s.global
                    .map(|a| format!("IPv6 Address               : {a}\n"))
                    .unwrap_or_default()
            );
            if view != last {
                println!("{view}");
                last = view;
            }
            tokio::select! {
                _ = shutdown_signal() => break,
                _ = client.wait_until(Duration::from_secs(3600), |n| n != &s) => {}
            }
        }
        client.shutdown().await;
        Ok(ExitCode::SUCCESS)
    }
}

fn capture(path: Option<&Path>) -> Result<Option<Capture>> {
    path.map(|p| {
        Capture::create(p, iphttps_sim::net::Clock::system())
            .with_context(|| format!("cannot create {}", p.display()))
    })
    .transpose()
}

/// The client TUN of `connect --tun`.
#[cfg(target_os = "linux")]
fn kernel_tun(dev: &str) -> Result<(iphttps_sim::tun::Tun, Arc<iphttps_sim::client::KernelPort>)> {
    Ok(iphttps_sim::tun::client(dev)?)
}

#[cfg(not(target_os = "linux"))]
fn kernel_tun(_: &str) -> Result<((), Arc<iphttps_sim::client::KernelPort>)> {
    anyhow::bail!("--tun needs Linux (kernel TUN devices); run connect without it on this system")
}
