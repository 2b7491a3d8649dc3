//! `iphttps`: argument parsing and dispatch only. The work is in `iphttps-sim` and
//! `iphttps-harness`.

use iphttps_sim::tls::NullCipher;
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use iphttps_sim::api::{self, DEFAULT_ADMIN};
use iphttps_sim::capture::Capture;
use iphttps_sim::client::{self, ClientConfig, IphttpsUrl};
use iphttps_sim::client_state::transition::NetworkSituation;
use iphttps_sim::deployment::{Deployment, DeploymentConfig};
use iphttps_sim::fault::{self, Fault, Side};
use iphttps_sim::pki::{self, Pki, PkiOptions};

/// A simulator and test harness for Microsoft's IP-HTTPS tunnel (IPv6 over HTTPS).
#[derive(Parser)]
#[command(name = "iphttps", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a PKI set (root CA, intermediate CA, server, client and machine certificates) as PEM.
    Pki {
        /// Folder to write into (created if missing).
        dir: PathBuf,
        /// The IP-HTTPS server's name (certificate Subject CN and SAN).
        #[arg(long, default_value = pki::DEFAULT_NAME)]
        name: String,
        /// Write the set of a certificate fault instead of a healthy one.
        #[arg(long, value_name = "NAME")]
        fault: Option<Fault>,
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
        /// With --intranet-tun: the kernel's address on the device, in the internal prefix.
        #[arg(long, value_name = "ADDR", default_value_t = iphttps_sim::server::DEFAULT_INTRANET_HOST)]
        intranet_address: std::net::Ipv6Addr,
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
    },
    /// Start a server, N clients and the intranet host on loopback, and ping across them.
    Lab {
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
        proxy: Option<iphttps_harness::fixtures::web_proxy::ProxyMode>,
    },
    /// Diagnose any IP-HTTPS endpoint once: DNS, TCP, TLS (chain, trust, revocation),
    /// the POST exchange, a Router Solicitation and its Advertisement; exit 0 only when
    /// every stage succeeded and the RA carries a prefix.
    Probe {
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
    },
    /// List the fault catalogue.
    Faults {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run Windows-style admin commands against a running serve or lab.
    Ctl {
        /// The admin endpoint.
        #[arg(long, default_value = DEFAULT_ADMIN)]
        admin: SocketAddr,
        /// Run on lab client N (from 1) instead of the server.
        #[arg(long, value_name = "N")]
        client: Option<usize>,
        /// Print the JSON twin of every view.
        #[arg(long)]
        json: bool,
        /// The command line; without it, lines are read from standard input as one session.
        #[arg(last = true)]
        line: Vec<String>,
    },
    /// Run scenario files (default: scenarios/); exit 0 when all pass, 1 when any fail,
    /// 2 on bad input.
    Run {
        /// Scenario files or folders.
        paths: Vec<PathBuf>,
        /// Scenarios at once (default: the number of cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Write a JUnit XML report.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write a JSON report.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// List the scenarios and exit.
        #[arg(long)]
        list: bool,
        /// Only scenarios whose name, file or tag contains TEXT.
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// Only partition K of N (for a CI matrix).
        #[arg(long, value_name = "K/N")]
        partition: Option<String>,
        /// Stop after the first failing scenario.
        #[arg(long, conflicts_with = "keep_going")]
        fail_fast: bool,
        /// Run every scenario whatever fails (the default).
        #[arg(long)]
        keep_going: bool,
        /// Write each scenario's pcap and log into DIR.
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
    },
    /// Measure tunnel packet handling beside baselines from the same run.
    Bench {
        /// Seconds spent on each figure.
        #[arg(long, default_value_t = 4.0)]
        duration: f64,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
        /// Instead: start N clients against a server in its own process and report the time
        /// to LinkUp and the server's memory per client.
        #[arg(long, value_name = "N")]
        clients: Option<usize>,
        /// Only the figures whose name starts with this (e.g. tunnel_throughput), for profiling.
        #[arg(long, value_name = "NAME")]
        only: Option<String>,
    },
    /// Soak: N clients with mixed traffic while faults come and go and the server
    /// restarts; checks memory, recovery, delivery and the counters at the end.
    Soak {
        /// Clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Seconds.
        #[arg(long, default_value_t = 600.0)]
        duration: f64,
    },
    /// Print the server's Operations Status; exit non-zero when any component is in Error.
    Diagnose {
        /// The admin endpoint.
        #[arg(long, default_value = DEFAULT_ADMIN)]
        admin: SocketAddr,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        // a scenario run reports through its results; the simulator's warnings are expected
        Command::Run { .. }
        | Command::Lab { .. }
        | Command::Bench { .. }
        | Command::Soak { .. } => "error",
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
        Command::Pki { dir, name, fault } => write_pki(&dir, &name, fault),
        Command::Serve {
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
            intranet_address,
            null_cipher,
        } => {
            let idle = Duration::from_secs_f64(idle_timeout.max(0.001));
            serve(
                listen,
                name,
                pki,
                pcap,
                path,
                faults,
                (admin, admin_token),
                idle,
                ops_refresh,
                intranet_tun.map(|n| (n, intranet_address)),
                null_cipher,
            )
            .await
        }
        Command::Connect {
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
        } => {
            connect(
                url,
                &ca,
                resolve,
                (once, timeout),
                pcap,
                crl_url,
                network,
                proxy,
                null_cipher,
                tun.as_deref(),
            )
            .await
        }
        Command::Lab {
            clients,
            pcap,
            faults,
            admin,
            proxy,
        } => {
            let run = iphttps_harness::lab_run::LabRun {
                clients,
                pcap,
                faults,
                proxy,
                ..Default::default()
            };
            let lab = Arc::new(iphttps_harness::lab_run::start(&run).await?);
            let report = iphttps_harness::lab_run::report(&lab, &run).await;
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
        Command::Probe {
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
        } => {
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
        Command::Faults { json } => {
            let cat = fault::catalogue();
            if json {
                println!("{}", serde_json::to_string_pretty(&cat)?);
            } else {
                for f in cat {
                    println!(
                        "{}\n  {}\n  mechanism:    {}\n  client shows: {}\n  server shows: {}\n  fix:          {}",
                        f.name, f.description, f.mechanism, f.client_shows, f.server_shows, f.fix
                    );
                    for c in f.fix_commands {
                        println!("                {c}");
                    }
                    println!();
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ctl {
            admin,
            client,
            json,
            line,
        } => ctl(admin, client, json, line).await,
        Command::Run {
            paths,
            jobs,
            junit,
            json,
            list,
            filter,
            partition,
            fail_fast,
            keep_going: _,
            artifacts,
        } => {
            run_suite(
                paths, jobs, junit, json, list, filter, partition, fail_fast, artifacts,
            )
            .await
        }
        Command::Bench {
            duration,
            json,
            clients,
            only,
        } => bench(duration, json, clients, only).await,
        Command::Soak { clients, duration } => {
            let cfg = iphttps_harness::soak::SoakConfig {
                clients,
                duration: Duration::from_secs_f64(duration.max(10.0)),
            };
            let report = iphttps_harness::soak::run(&cfg).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Diagnose { admin, json } => {
            let v = api::client::get(admin, "/operations-status").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v["status"])?);
            } else {
                print!("{}", v["text"].as_str().unwrap_or_default());
            }
            let error = v["status"]["Components"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["HealthState"] == "Error"));
            Ok(if error {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_suite(
    paths: Vec<PathBuf>,
    jobs: usize,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    list: bool,
    filter: Option<String>,
    partition: Option<String>,
    fail_fast: bool,
    artifacts: Option<PathBuf>,
) -> Result<ExitCode> {
    use iphttps_harness::{report, runner, suite};
    let bad_input = |msg: String| {
        eprintln!("{msg}");
        Ok(ExitCode::from(2))
    };
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    };
    let part = match partition.as_deref().map(suite::parse_partition).transpose() {
        Ok(p) => p,
        Err(e) => return bad_input(e.to_string()),
    };
    let all = match suite::load(&paths) {
        Ok(a) => a,
        Err(e) => return bad_input(e.to_string()),
    };
    let chosen = suite::select(all, filter.as_deref(), part);
    if list {
        for s in &chosen {
            println!("{}	{}", s.name, s.path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let opts = runner::RunOptions {
        jobs,
        artifacts,
        iphttps_bin: std::env::current_exe().ok(),
        fail_fast,
    };
    let results = runner::run_all(chosen, &opts, |r, n, total| {
        println!("{}", report::line(r, n, total))
    })
    .await;
    print!("{}", report::summary(&results));
    if let Some(p) = junit {
        std::fs::write(&p, report::junit(&results))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = json {
        std::fs::write(&p, serde_json::to_string_pretty(&report::json(&results))?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(if results.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn time_now() -> iphttps_sim::time::OffsetDateTime {
    iphttps_sim::time::OffsetDateTime::now_utc()
}

fn write_pki(dir: &Path, name: &str, fault: Option<Fault>) -> Result<ExitCode> {
    let now = time_now();
    let opts = match fault {
        None => PkiOptions::new(name, now),
        Some(f) => match f.pki_options(name, now) {
            Some(o) => o,
            None => {
                let certs: Vec<&str> = fault::catalogue()
                    .iter()
                    .filter(|i| i.certificate)
                    .map(|i| i.name)
                    .collect();
                bail!(
                    "{f} is not a certificate fault; certificate faults: {}",
                    certs.join(", ")
                );
            }
        },
    };
    let pki = Pki::generate(&opts)?;
    pki.write(dir)?;
    let mut files = vec![
        pki::files::ROOT_CA,
        pki::files::INTERMEDIATE_CA,
        pki::files::SERVER,
        pki::files::SERVER_CHAIN,
        pki::files::SERVER_KEY,
        pki::files::CLIENT,
        pki::files::CLIENT_KEY,
        pki::files::MACHINE,
    ];
    if pki.machine_key.is_some() {
        files.push(pki::files::MACHINE_KEY);
    }
    if pki.issuing_root_ca.is_some() {
        files.push(pki::files::ISSUING_ROOT_CA);
    }
    if fault
        .and_then(Fault::certificate_set)
        .is_some_and(|set| set.revoke_server)
    {
        let serial = pki::serial_of(&pki.server).context("server certificate serial")?;
        std::fs::write(dir.join("crl.pem"), pki.crls(&[serial], now)?.concat())?;
        files.push("crl.pem");
    }
    match fault {
        Some(f) => println!(
            "wrote the {f} certificate set for {name} in {}",
            dir.display()
        ),
        None => println!("wrote a PKI set for {name} in {}", dir.display()),
    }
    for f in files {
        println!("  {}", dir.join(f).display());
    }
    Ok(ExitCode::SUCCESS)
}

fn capture(path: Option<&Path>) -> Result<Option<Capture>> {
    path.map(|p| Capture::create(p).with_context(|| format!("cannot create {}", p.display())))
        .transpose()
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    listen: SocketAddr,
    name: String,
    pki_dir: Option<PathBuf>,
    pcap: Option<PathBuf>,
    path: String,
    faults: Vec<Fault>,
    (admin, admin_token): (SocketAddr, Option<String>),
    idle_timeout: Duration,
    ops_refresh: f64,
    intranet_tun: Option<(String, std::net::Ipv6Addr)>,
    null_cipher: bool,
) -> Result<ExitCode> {
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

async fn ctl(
    admin: SocketAddr,
    client: Option<usize>,
    json: bool,
    line: Vec<String>,
) -> Result<ExitCode> {
    let lines: Vec<String> = if line.is_empty() {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("reading command lines from standard input; end with Ctrl-D");
        }
        stdin.lock().lines().collect::<std::io::Result<_>>()?
    } else {
        vec![line.join(" ")]
    };
    let v = api::client::run(admin, client, &lines).await?;
    if let Some(e) = v["error"].as_str() {
        bail!("{e}");
    }
    for r in v["results"].as_array().into_iter().flatten() {
        if r["ok"] == true {
            if json {
                println!("{}", serde_json::to_string_pretty(&r["value"])?);
            } else {
                print!("{}", r["text"].as_str().unwrap_or_default());
            }
        } else {
            eprintln!("{}", r["line"].as_str().unwrap_or_default());
            eprintln!("error: {}", r["error"].as_str().unwrap_or_default());
        }
    }
    Ok(if v["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_proxy_mode(s: &str) -> Result<iphttps_harness::fixtures::web_proxy::ProxyMode, String> {
    iphttps_harness::fixtures::web_proxy::ProxyMode::named(s).ok_or_else(|| {
        format!(
            "'{s}': expected {}",
            iphttps_harness::fixtures::web_proxy::ProxyMode::NAMES.join(", ")
        )
    })
}

fn parse_null_cipher(s: &str) -> Result<NullCipher, String> {
    NullCipher::named(s).ok_or_else(|| format!("'{s}': expected off, prefer or only"))
}

fn parse_network(s: &str) -> Result<NetworkSituation, String> {
    NetworkSituation::named(s)
        .ok_or_else(|| format!("unknown network '{s}': hotel, nat, public-ipv4 or force-tunnel"))
}

#[allow(clippy::too_many_arguments)]
async fn connect(
    url: IphttpsUrl,
    ca: &Path,
    resolve: Vec<(String, std::net::IpAddr)>,
    (once, timeout): (bool, f64),
    pcap: Option<PathBuf>,
    crl_url: Option<String>,
    network: NetworkSituation,
    proxy: Option<client::ProxyUrl>,
    null_cipher: NullCipher,
    tun: Option<&str>,
) -> Result<ExitCode> {
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

/// The client TUN of `connect --tun`.
#[cfg(target_os = "linux")]
fn kernel_tun(dev: &str) -> Result<(iphttps_sim::tun::Tun, Arc<iphttps_sim::client::KernelPort>)> {
    Ok(iphttps_sim::tun::client(dev)?)
}

#[cfg(not(target_os = "linux"))]
fn kernel_tun(_: &str) -> Result<((), Arc<iphttps_sim::client::KernelPort>)> {
    bail!("--tun needs Linux (kernel TUN devices); run connect without it on this system")
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

/// Many clients need many sockets: raise the soft limit on open files to the hard limit.
fn raise_fd_limit() {
    #[cfg(unix)]
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(error = %e, "cannot raise the open-file limit");
    }
}

async fn bench(
    duration: f64,
    json: bool,
    clients: Option<usize>,
    only: Option<String>,
) -> Result<ExitCode> {
    use iphttps_harness::bench;
    let figures = match clients {
        Some(n) => {
            let bin = bench::this_binary().context("cannot find this executable")?;
            bench::clients(&bin, n).await?
        }
        None => bench::figures(Duration::from_secs_f64(duration.max(0.1)), only.as_deref()).await?,
    };
    let report = bench::Report {
        machine: bench::machine(),
        figures,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let m = &report.machine;
        println!(
            "machine: {} cores, {} memory, {}",
            m.cores,
            m.memory_bytes.map_or("unknown".into(), |b| format!(
                "{:.1} GiB",
                b as f64 / (1u64 << 30) as f64
            )),
            m.os
        );
        println!(
            "{:<36} {:>12} {:>12} {:>8}  unit",
            "figure", "value", "baseline", "ratio"
        );
        for f in &report.figures {
            println!(
                "{:<36} {:>12.1} {:>12} {:>8}  {}",
                f.name,
                f.value,
                f.baseline.map_or("-".into(), |b| format!("{b:.1}")),
                f.ratio.map_or("-".into(), |r| format!("{r:.2}x")),
                f.unit
            );
        }
    }
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
