//! `iphttps`: argument parsing and dispatch only. The work is in `iphttps-sim` and
//! `iphttps-harness`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use iphttps_sim::capture::Capture;
use iphttps_sim::client::{self, ClientConfig, IphttpsUrl};
use iphttps_sim::pki::{self, Pki, PkiOptions};
use iphttps_sim::server::{self, ServerConfig};

/// A simulator and test harness for Microsoft's IP-HTTPS tunnel (IPv6 over HTTPS).
#[derive(Parser)]
#[command(name = "iphttps", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a PKI set (root CA, intermediate CA, server and client certificates) as PEM.
    Pki {
        /// Folder to write into (created if missing).
        dir: PathBuf,
        /// The IP-HTTPS server's name (certificate Subject CN and SAN).
        #[arg(long, default_value = pki::DEFAULT_NAME)]
        name: String,
    },
    /// Run an IP-HTTPS server with a built-in intranet host behind it.
    Serve {
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
    },
    /// Connect to an IP-HTTPS server as a client.
    Connect {
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
    },
    /// Start a server, N clients and the intranet host on loopback, and ping across them.
    Lab {
        /// Number of clients.
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Write every tunnelled IPv6 packet to FILE (pcap, raw IPv6).
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Pki { dir, name } => {
            let pki = Pki::generate(&PkiOptions::new(&name, time_now()))?;
            pki.write(&dir)?;
            println!("wrote a PKI set for {name} in {}", dir.display());
            for f in [
                pki::files::ROOT_CA,
                pki::files::INTERMEDIATE_CA,
                pki::files::SERVER,
                pki::files::SERVER_CHAIN,
                pki::files::SERVER_KEY,
                pki::files::CLIENT,
                pki::files::CLIENT_KEY,
            ] {
                println!("  {}", dir.join(f).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            listen,
            name,
            pki,
            pcap,
            path,
        } => serve(listen, name, pki, pcap, path).await,
        Command::Connect {
            url,
            ca,
            resolve,
            once,
            timeout,
            pcap,
        } => connect(url, &ca, resolve, once, timeout, pcap).await,
        Command::Lab { clients, pcap } => {
            let report = iphttps_harness::lab_run::run(&iphttps_harness::lab_run::LabRun {
                clients,
                pcap,
                ..Default::default()
            })
            .await?;
            println!("{report}");
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn time_now() -> iphttps_sim::time::OffsetDateTime {
    iphttps_sim::time::OffsetDateTime::now_utc()
}

fn capture(path: Option<&Path>) -> Result<Option<Capture>> {
    path.map(|p| Capture::create(p).with_context(|| format!("cannot create {}", p.display())))
        .transpose()
}

async fn serve(
    listen: SocketAddr,
    name: String,
    pki_dir: Option<PathBuf>,
    pcap: Option<PathBuf>,
    path: String,
) -> Result<ExitCode> {
    if !path.starts_with('/') {
        bail!("--path must start with '/'");
    }
    // without --pki the set lives in a temporary folder for the life of the server
    let (dir, _temp) = match pki_dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new().prefix("iphttps-pki-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let pki = Pki::load_or_generate(&dir, &PkiOptions::new(&name, time_now()))?;
    let mut cfg = ServerConfig::new(listen, &name, pki);
    cfg.path = path;
    cfg.pcap = capture(pcap.as_deref())?;
    let client_prefix = cfg.router.client_prefix;
    let handle = server::start(cfg).await?;
    println!("IP-HTTPS server {}", handle.url());
    println!(
        "Root CA (clients must trust it): {}",
        dir.join(pki::files::ROOT_CA).display()
    );
    println!("Listening on: {}", handle.local_addr());
    println!("ClientIPv6Prefix: {client_prefix}");
    println!("Intranet host: {}", handle.intranet_address());
    shutdown_signal().await?;
    eprintln!("shutting down");
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn connect(
    url: IphttpsUrl,
    ca: &Path,
    resolve: Vec<(String, std::net::IpAddr)>,
    once: bool,
    timeout: f64,
    pcap: Option<PathBuf>,
) -> Result<ExitCode> {
    let trust =
        std::fs::read_to_string(ca).with_context(|| format!("cannot read {}", ca.display()))?;
    let mut cfg = ClientConfig::new(url, trust);
    cfg.resolve = resolve;
    cfg.pcap = capture(pcap.as_deref())?;
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
        } else if status.global.is_none() {
            eprintln!(
                "detail: no global address within {timeout} s (no Router Advertisement with a prefix)"
            );
        }
        let ok = status.is_active_with_address();
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

/// Ctrl-C, or SIGTERM where there is one.
async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}
