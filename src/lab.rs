//! `iphttps lab`: a lab (a deployment and N clients) on loopback, its report, and optionally its admin endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use iphttps_harness::fixtures::web_proxy::ProxyMode;
use iphttps_sim::api;
use iphttps_sim::fault::Fault;

use crate::parse::parse_proxy_mode;
use crate::signal::shutdown_signal;

/// The arguments of `iphttps lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    /// Number of clients.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Write every tunnelled IPv6 packet to FILE (pcap, raw IPv6).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// A fault present from the start (repeatable).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// Keep the lab running after the report, with its admin endpoint on ADDR.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Put the built-in web proxy in every client's path: open, refuses or requires-auth.
    #[arg(long, value_name = "MODE", value_parser = parse_proxy_mode)]
    proxy: Option<ProxyMode>,
    /// IPsec inside the tunnel (Linux, root, strongSwan): the clients' and the intranet's
    /// kernels in network namespaces, a charon in each, the infrastructure and intranet
    /// tunnels; the clients answer Get-NetIPsecMainModeSA, Get-NetIPsecQuickModeSA,
    /// Get-NetIPsecRule and Get-DAConnectionStatus.
    #[arg(long)]
    ipsec: bool,
}

impl LabArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            clients,
            pcap,
            faults,
            admin,
            proxy,
            ipsec,
        } = self;
        let run = iphttps_harness::lab_run::LabRun {
            clients,
            pcap,
            faults,
            proxy,
            ipsec,
            ..Default::default()
        };
        let lab = Arc::new(
            crate::signal::unless_interrupted(iphttps_harness::lab_run::start(&run)).await??,
        );
        let report =
            match crate::signal::unless_interrupted(iphttps_harness::lab_run::report(&lab, &run))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    lab.shutdown().await;
                    return Err(e);
                }
            };
        println!("{report}");
        if let Some(addr) = admin {
            let ctl = api::serve(lab.clone(), addr, None).await?;
            println!(
                "Admin endpoint: {} (iphttps ctl --admin {} [--client N] -- COMMAND)",
                ctl.local_addr(),
                ctl.local_addr()
            );
            shutdown_signal().await?;
        }
        lab.shutdown().await;
        Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
