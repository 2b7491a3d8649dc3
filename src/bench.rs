//! `iphttps bench`: measures tunnel packet handling beside baselines from the same run.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use iphttps_harness::bench::{self, Figure};

/// The arguments of `iphttps bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Tunnel/baseline pairs per figure (at least; each figure is their median). With
    /// --peers: rounds, each measuring every path once each way [default: 5, with --peers 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pairs: Option<u32>,
    /// Seconds per figure at least: more pairs are run until they have passed. With
    /// --peers: seconds per iperf3 test [default: 0, with --peers 10].
    #[arg(long)]
    duration: Option<f64>,
    /// As one JSON object.
    #[arg(long)]
    json: bool,
    /// Instead: start N clients against a server in its own process and report the time
    /// to LinkUp and the server's memory per client.
    #[arg(long, value_name = "N", conflicts_with = "peers")]
    clients: Option<usize>,
    /// Only the figures whose name starts with this (e.g. tunnel_throughput), for
    /// profiling; a trailing $ takes the whole name only ('tunnel_throughput$': the upload).
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// Instead (Linux, root): the kernel-TUN tunnel beside the bare veth, openconnect with
    /// ocserv and wireguard-go, in two network namespaces, with iperf3 and ping.
    #[arg(long)]
    peers: bool,
    /// Instead (Linux, root, strongSwan): iperf3 through ESP (IKEv2, kernel-libipsec)
    /// inside the kernel-TUN tunnel, with the AES-GCM TLS suites and with the NULL suites
    /// (a --features null-cipher build), and each end's CPU seconds per GB.
    #[arg(long, conflicts_with_all = ["peers", "clients"])]
    ipsec: bool,
}

impl BenchArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            pairs,
            duration,
            json,
            clients,
            only,
            peers,
            ipsec,
        } = self;
        if ipsec {
            return run_ipsec(pairs.unwrap_or(1), duration.unwrap_or(10.0), json).await;
        }
        if peers {
            return run_peers(pairs.unwrap_or(1), duration.unwrap_or(10.0), json).await;
        }
        let pairs = pairs.unwrap_or(5);
        let figures = match clients {
            Some(n) => {
                let bin = bench::this_binary().context("cannot find this executable")?;
                bench::clients(&bin, n, &crate::progress::Shown::quiet()).await?
            }
            None => {
                let plan = bench::Plan {
                    pairs: pairs as usize,
                    duration: Duration::from_secs_f64(duration.unwrap_or(0.0).max(0.0)),
                    only,
                };
                bench::figures(&plan, &crate::progress::Shown::quiet()).await?
            }
        };
        let report = bench::Report {
            machine: bench::machine(),
            figures,
        };
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report.machine);
            print_figures(&report.figures);
            if report.figures.iter().any(|f| f.pairs > 0) {
                println!(
                    "each figure: the median of {pairs} or more interleaved tunnel/baseline pairs; \
                     spread: the lowest and highest pair's ratio"
                );
                if report.figures.iter().any(|f| f.stolen.is_some()) {
                    println!(
                        "stolen: the share of this machine's CPU time its hypervisor gave to \
                         other guests during the figure (steal); rates move with it"
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The figure table.
fn print_figures(figures: &[Figure]) {
    let width = figures
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(0)
        .max(36);
    println!(
        "{:<width$} {:>10} {:>10} {:>8} {:>13} {:>7}  unit",
        "figure", "value", "baseline", "ratio", "spread", "stolen"
    );
    for f in figures {
        let ratio = match (f.ratio, f.baseline_suspect) {
            (Some(r), _) => format!("{r:.2}x"),
            (None, true) => "suspect".into(),
            (None, false) => "-".into(),
        };
        let spread = match (f.ratio_low, f.ratio_high) {
            (Some(l), Some(h)) => {
                format!("{l:.2}-{h:.2}{}", if f.noisy { " noisy" } else { "" })
            }
            _ => "-".into(),
        };
        println!(
            "{:<width$} {:>10} {:>10} {:>8} {:>13} {:>7}  {}",
            f.name,
            number(f.value),
            f.baseline.map_or("-".into(), number),
            ratio,
            spread,
            percent(f.stolen),
            f.unit
        );
    }
    if figures.iter().any(|f| f.baseline_suspect) {
        println!(
            "suspect: the tunnel beat a baseline that should be its limit; \
             the ratio is withheld"
        );
    }
}

/// A share as a whole percentage, or "-".
fn percent(share: Option<f64>) -> String {
    share.map_or("-".into(), |s| format!("{:.0}%", s * 100.0))
}

/// A value with three significant digits at least (round trips are fractions of a
/// millisecond).
fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Runs a measurement in network namespaces on its own thread: the namespaces and
/// processes are removed when it returns; an interrupt removes them here instead.
#[cfg(target_os = "linux")]
async fn in_namespaces<T: Send + 'static>(
    measure: impl FnOnce() -> Result<T, iphttps_harness::peers::PeersError> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(measure());
    });
    tokio::select! {
        r = rx => Ok(r.context("the measurement thread ended")??),
        r = crate::signal::shutdown_signal() => {
            r?;
            iphttps_harness::peers::netns::remove_left_over(Some(std::process::id()));
            anyhow::bail!("interrupted; its namespaces and processes are removed");
        }
    }
}

#[cfg(target_os = "linux")]
async fn run_peers(rounds: u32, seconds: f64, json: bool) -> Result<ExitCode> {
    use iphttps_harness::peers;
    let seconds = seconds.max(1.0).round() as u64;
    let plan = peers::PeersPlan {
        bin: bench::this_binary().context("cannot find this executable")?,
        seconds,
        rounds: rounds as usize,
        pings: 50,
    };
    let report = in_namespaces(move || peers::run(&plan)).await?;
    let machine = bench::machine();
    if json {
        let out = serde_json::json!({
            "machine": machine,
            "figures": report.figures,
            "paths": report.paths,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{machine}");
    println!(
        "{:<14} {:>6} {:>14} {:>16} {:>10} {:>5} {:>7}  target",
        "path", "MTU", "upload Mbit/s", "download Mbit/s", "ping p50", "lost", "stolen"
    );
    for p in &report.paths {
        println!(
            "{:<14} {:>6} {:>14.0} {:>16.0} {:>8.3}ms {:>5} {:>7}  {}",
            serde_json::to_value(p.path)?.as_str().unwrap_or("?"),
            p.mtu.map_or("-".into(), |m| m.to_string()),
            p.upload_mbps,
            p.download_mbps,
            p.ping_p50_ms,
            p.ping_lost,
            percent(p.stolen),
            p.target
        );
    }
    println!();
    print_figures(&report.figures);
    println!(
        "value: iphttps; baseline: the other path; {rounds} round(s) of iperf3 -t {seconds} each way"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(target_os = "linux")]
async fn run_ipsec(rounds: u32, seconds: f64, json: bool) -> Result<ExitCode> {
    use iphttps_harness::peers;
    let seconds = seconds.max(1.0).round() as u64;
    let bin = bench::this_binary().context("cannot find this executable")?;
    let null_build = cfg!(feature = "null-cipher");
    let report =
        in_namespaces(move || peers::ipsec::run(&bin, seconds, rounds as usize, null_build))
            .await?;
    let machine = bench::machine();
    if json {
        let out = serde_json::json!({
            "machine": machine,
            "suites": report.suites,
            "figures": report.figures,
            "note": report.note,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{machine}");
    println!(
        "{:<10} {:>14} {:>16} {:>22} {:>22} {:>14}",
        "TLS suites",
        "upload Mbit/s",
        "download Mbit/s",
        "up CPU s/GB cl/srv",
        "down CPU s/GB cl/srv",
        "ESP bytes out"
    );
    for s in &report.suites {
        println!(
            "{:<10} {:>14.1} {:>16.1} {:>22} {:>22} {:>14}",
            serde_json::to_value(s.suites)?.as_str().unwrap_or("?"),
            s.upload_mbps,
            s.download_mbps,
            format!(
                "{:.1} / {:.1}",
                s.client_cpu_s_per_gb_upload, s.server_cpu_s_per_gb_upload
            ),
            format!(
                "{:.1} / {:.1}",
                s.client_cpu_s_per_gb_download, s.server_cpu_s_per_gb_download
            ),
            s.esp_bytes_out
        );
    }
    for s in &report.suites {
        println!(
            "{}: charon (userspace ESP) took {:.0}% of the client end's CPU and {:.0}% of the server end's, upload",
            serde_json::to_value(s.suites)?.as_str().unwrap_or("?"),
            s.client_charon_share_upload * 100.0,
            s.server_charon_share_upload * 100.0
        );
    }
    if !report.figures.is_empty() {
        println!();
        print_figures(&report.figures);
        println!(
            "value: NULL suites; baseline: AES-GCM suites; {rounds} round(s) of iperf3 -t {seconds} each way"
        );
    }
    if let Some(n) = &report.note {
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(target_os = "linux"))]
async fn run_ipsec(_rounds: u32, _seconds: f64, _json: bool) -> Result<ExitCode> {
    anyhow::bail!("bench --ipsec runs only on Linux (network namespaces, TUN devices, strongSwan)")
}

#[cfg(not(target_os = "linux"))]
async fn run_peers(_rounds: u32, _seconds: f64, _json: bool) -> Result<ExitCode> {
    anyhow::bail!(
        "bench --peers runs only on Linux (network namespaces, veth pairs and TUN devices)"
    )
}
