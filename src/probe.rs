//! `iphttps probe`: a one-shot, stage-by-stage diagnosis of any IP-HTTPS endpoint.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use iphttps_sim::client::{self, IphttpsUrl};
use iphttps_sim::tls::NullCipher;

use crate::parse::parse_null_cipher;

/// The arguments of `iphttps probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The server URL, e.g. https://da.contoso.com/IPHTTPS
    url: IphttpsUrl,
    /// PEM file of the root CA(s) to trust (default: the system store).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Resolve NAME to ADDR without DNS (as curl's --resolve); repeatable.
    #[arg(long, value_name = "NAME:ADDR", value_parser = client::parse_resolve)]
    resolve: Vec<(String, std::net::IpAddr)>,
    /// Go through this web proxy: http://[USER:PASSWORD@]HOST[:PORT].
    #[arg(long, value_name = "URL")]
    proxy: Option<client::ProxyUrl>,
    /// Deadline of each stage, in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Also check this CRL distribution point (repeatable).
    #[arg(long, value_name = "URL")]
    crl_url: Vec<String>,
    /// Count revocation in the verdict, as a Windows 7 client does.
    #[arg(long)]
    check_revocation: bool,
    /// Offer the NULL-encryption suites (`prefer`, `only`) as a Windows 8+ client;
    /// needs `--features null-cipher`.
    #[arg(long, default_value = "off", value_parser = parse_null_cipher)]
    null_cipher: NullCipher,
    /// Present this client certificate chain (PEM), for a server in AuthMode
    /// Certificates (with --client-key).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

impl ProbeArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            url,
            ca,
            resolve,
            proxy,
            timeout,
            crl_url,
            check_revocation,
            null_cipher,
            client_cert,
            client_key,
            json,
        } = self;
        let read = |p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        let ca_pem = ca.as_deref().map(read).transpose()?;
        let client_cert = match (client_cert, client_key) {
            (Some(c), Some(k)) => Some((read(&c)?, read(&k)?)),
            _ => None,
        };
        let config = iphttps_sim::probe::ProbeConfig {
            ca_pem,
            resolve,
            proxy,
            stage_timeout: Duration::from_secs_f64(timeout.max(0.001)),
            crl_urls: crl_url,
            check_revocation,
            null_cipher,
            client_cert,
            ..iphttps_sim::probe::ProbeConfig::new(url)
        };
        let report = iphttps_sim::probe::probe(&config).await;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{report}");
        }
        Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
