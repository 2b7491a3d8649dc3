//! `iphttps serve`: an IP-HTTPS server (a deployment) with its admin endpoint, until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use iphttps_sim::api::{self, DEFAULT_ADMIN};
use iphttps_sim::deployment::{Deployment, DeploymentConfig};
use iphttps_sim::fault::{Fault, Side};
use iphttps_sim::pki;

use crate::signal::shutdown_signal;

/// The arguments of `iphttps serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "[::]:443")]
    listen: SocketAddr,
    /// The server's name, as in the URL and the certificate.
    #[arg(long, default_value = pki::DEFAULT_NAME)]
    name: String,
    /// Use the PKI set in DIR, or generate one there if DIR is empty.
    #[arg(long, value_name = "DIR")]
    pki: Option<PathBuf>,
    /// Write every tunnelled IPv6 packet to FILE (pcap, raw IPv6).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// The IP-HTTPS URI path (the spec's example uses /IPTLS).
    #[arg(long, default_value = "/IPHTTPS")]
    path: String,
    /// A fault present from the start (repeatable; `iphttps faults` lists them).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// The admin endpoint (loopback unless --admin-token is given).
    #[arg(long, default_value = DEFAULT_ADMIN)]
    admin: SocketAddr,
    /// A token the admin endpoint requires (Authorization: Bearer TOKEN); needed to bind
    /// it to a non-loopback address. ctl and diagnose send $IPHTTPS_ADMIN_TOKEN.
    #[arg(long, env = "IPHTTPS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Close a tunnel that receives nothing for this many seconds (HTTP.sys: 120).
    #[arg(long, default_value_t = 120.0)]
    idle_timeout: f64,
    /// Operations Status refresh interval in seconds (Windows: 300).
    #[arg(long, default_value_t = 300.0)]
    ops_refresh: f64,
    /// Route the intranet into a kernel TUN device NAME instead of the built-in
    /// intranet host (Linux, root or CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME")]
    intranet_tun: Option<String>,
    /// TLS over OpenSSL, offering TLS_RSA_WITH_NULL_SHA256 and TLS_RSA_WITH_NULL_SHA
    /// first (Windows Server 2012+), AES-GCM after them; the server's certificate gets an
    /// RSA key. Needs a build with `--features null-cipher`.
    #[arg(long)]
    null_cipher: bool,
    /// Clients the server's table holds; one more is disconnected ([MS-IPHTTPS] 3.2.5.1).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_clients: usize,
    /// With --intranet-tun: the kernel's address on the device, in the internal prefix.
    #[arg(long, value_name = "ADDR", default_value_t = iphttps_sim::server::DEFAULT_INTRANET_HOST)]
    intranet_address: std::net::Ipv6Addr,
}

impl ServeArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            listen,
            name,
            pki,
            pcap,
            path,
            faults,
            admin,
            admin_token,
            idle_timeout,
            ops_refresh,
            intranet_tun,
            null_cipher,
            max_clients,
            intranet_address,
        } = self;
        let idle_timeout = Duration::from_secs_f64(idle_timeout.max(0.001));
        let intranet_tun = intranet_tun.map(|n| (n, intranet_address));
        let pki_dir = pki;
        if !path.starts_with('/') {
            bail!("--path must start with '/'");
        }
        if let Some(f) = faults.iter().find(|f| f.info().side == Side::Client) {
            bail!("{f} acts on clients, not on the server; use it with `iphttps lab --fault {f}`");
        }
        if !admin.ip().is_loopback() && admin_token.is_none() {
            bail!(
                "--admin must be a loopback address (127.0.0.1 or ::1) unless --admin-token is given, not {admin}"
            );
        }
        let (deployment, _) = Deployment::start(
            DeploymentConfig {
                name: name.clone(),
                listen,
                pki_dir,
                pcap,
                faults,
                ops_refresh: Duration::from_secs_f64(ops_refresh.max(0.0)),
                path,
                idle_timeout: Some(idle_timeout),
                null_cipher,
                max_clients: Some(max_clients),
                ..DeploymentConfig::default()
            },
            |_| Vec::new(),
        )
        .await?;
        let deployment = Arc::new(deployment);
        let _tun = match &intranet_tun {
            Some((dev, address)) => Some(intranet_tun_device(&deployment, dev, *address)?),
            None => None,
        };
        let ctl = api::serve(deployment.clone(), admin, admin_token).await?;
        let ra = deployment.admin().await.remote_access;
        say(format_args!("IP-HTTPS server {}", deployment.server.url()));
        say(format_args!(
            "Root CA (clients must trust it): {}",
            deployment.pki_dir().join(pki::files::ROOT_CA).display()
        ));
        say(format_args!(
            "Listening on: {}",
            deployment.server.local_addr()
        ));
        say(format_args!("ClientIPv6Prefix: {}", ra.client_prefix));
        match &intranet_tun {
            Some((dev, address)) => say(format_args!(
                "Intranet: TUN device {dev} (the kernel at {address})"
            )),
            None => say(format_args!(
                "Intranet host: {}",
                deployment.server.intranet_address()
            )),
        }
        say(format_args!("Admin endpoint: {}", ctl.local_addr()));
        if null_cipher {
            say(format_args!(
                "TLS: OpenSSL, TLS 1.2, TLS_RSA_WITH_NULL_SHA256 and TLS_RSA_WITH_NULL_SHA first (RSA server key)"
            ));
        }
        for f in deployment.faults() {
            say(format_args!("Fault in force: {f}"));
        }
        // the last line of the banner: scripts may stop reading here
        say(format_args!(
            "CRL distribution point: {}",
            deployment.cdp_url()
        ));
        shutdown_signal().await?;
        tracing::info!("shutting down");
        deployment.shutdown().await;
        Ok(ExitCode::SUCCESS)
    }
}

/// The intranet TUN of `serve --intranet-tun`.
#[cfg(target_os = "linux")]
fn intranet_tun_device(
    deployment: &Deployment,
    dev: &str,
    address: std::net::Ipv6Addr,
) -> Result<iphttps_sim::tun::Tun> {
    let server = &deployment.server;
    let (internal, clients) =
        server.with_router(|r| (r.config().intranet_prefix, r.config().client_prefix));
    let (from_router, to_router) = server.divert_intranet(iphttps_sim::tun::QUEUE);
    Ok(iphttps_sim::tun::intranet(
        dev,
        address,
        internal,
        clients,
        (from_router, move |p| to_router.send(p)),
    )?)
}

#[cfg(not(target_os = "linux"))]
fn intranet_tun_device(_: &Deployment, _: &str, _: std::net::Ipv6Addr) -> Result<()> {
    bail!("--intranet-tun needs Linux (kernel TUN devices); run serve without it on this system")
}

/// Prints one line on standard output; a reader that went away (a closed pipe) is not an
/// error for a server that outlives it.
fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}
