//! `iphttps bench`: measures tunnel packet handling beside baselines from the same run.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

/// The arguments of `iphttps bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Tunnel/baseline pairs per figure (at least; each figure is their median).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pairs: u32,
    /// Seconds per figure at least: more pairs are run until they have passed.
    #[arg(long, default_value_t = 0.0)]
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
        } = self;
        use iphttps_harness::bench;
        let figures = match clients {
            Some(n) => {
                let bin = bench::this_binary().context("cannot find this executable")?;
                bench::clients(&bin, n).await?
            }
            None => {
                let plan = bench::Plan {
                    pairs: pairs as usize,
                    duration: Duration::from_secs_f64(duration.max(0.0)),
                    only,
                };
                bench::figures(&plan).await?
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
            println!(
                "{:<36} {:>10} {:>10} {:>8} {:>13}  unit",
                "figure", "value", "baseline", "ratio", "spread"
            );
            for f in &report.figures {
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
                    "{:<36} {:>10.1} {:>10} {:>8} {:>13}  {}",
                    f.name,
                    f.value,
                    f.baseline.map_or("-".into(), |b| format!("{b:.1}")),
                    ratio,
                    spread,
                    f.unit
                );
            }
            if report.figures.iter().any(|f| f.pairs > 0) {
                println!(
                    "each figure: the median of {} or more interleaved tunnel/baseline pairs; \
                     spread: the lowest and highest pair's ratio",
                    pairs
                );
            }
            if report.figures.iter().any(|f| f.baseline_suspect) {
                println!(
                    "suspect: the tunnel beat a baseline that should be its limit; \
                     the ratio is withheld"
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
