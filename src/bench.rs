//! `iphttps bench`: measures tunnel packet handling beside baselines from the same run.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

/// The arguments of `iphttps bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
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
}

impl BenchArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
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
                bench::figures(Duration::from_secs_f64(duration.max(0.1)), only.as_deref()).await?
            }
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
}
