//! `iphttps soak`: many clients, faults in rounds, server restarts; memory, recovery and counters checked.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

/// The arguments of `iphttps soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Seconds.
    #[arg(long, default_value_t = 600.0)]
    duration: f64,
}

impl SoakArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self { clients, duration } = self;
        let cfg = iphttps_harness::soak::SoakConfig {
            clients,
            duration: Duration::from_secs_f64(duration.max(10.0)),
            server_bin: std::env::current_exe()?,
        };
        let progress = crate::progress::Shown::quiet();
        let report = iphttps_harness::soak::run(&cfg, &progress).await;
        iphttps_harness::progress::Progress::end(&progress);
        let report = report?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(if report.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
