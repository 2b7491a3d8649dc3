//! `iphttps run`: runs scenario files and writes their reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

/// The arguments of `iphttps run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
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
}

impl RunArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            paths,
            jobs,
            junit,
            json,
            list,
            filter,
            partition,
            fail_fast,
            keep_going,
            artifacts,
        } = self;
        let _ = keep_going;
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
}
