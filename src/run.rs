//! `iphttps run`: runs scenario files and writes their reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use iphttps_harness::progress::Progress;

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
    /// Write a self-contained HTML report (steps, expected and seen, each client's states
    /// over time, Operations Status at the failure, links to `--artifacts`).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
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
    /// Run every scenario simulated: an in-memory network in virtual time, with
    /// Windows' own timers where the file sets none (as `[lab] network = "simulated"`).
    #[arg(long)]
    simulated: bool,
    /// Run the simulated suite N times and compare each scenario's runs (step results,
    /// log, JSON report without wall-clock time, pcap) by digest; exit 1 on any difference.
    #[arg(long, value_name = "N", requires = "simulated")]
    repeat: Option<usize>,
}

impl RunArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            paths,
            jobs,
            junit,
            json,
            html,
            list,
            filter,
            partition,
            fail_fast,
            keep_going,
            artifacts,
            simulated,
            repeat,
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
        if repeat == Some(0) {
            return bad_input("--repeat takes at least 1".into());
        }
        let opts = runner::RunOptions {
            jobs,
            artifacts: artifacts.clone(),
            iphttps_bin: std::env::current_exe().ok(),
            fail_fast,
            simulated,
        };
        let reports = Reports { junit, json, html };
        if let Some(n) = repeat {
            return repeated(chosen, &opts, n, artifacts, reports).await;
        }
        let progress = std::sync::Arc::new(crate::progress::Shown::lines());
        progress.begin(chosen.len() as u64, "scenarios");
        let (p1, p2) = (progress.clone(), progress.clone());
        let results = crate::signal::unless_interrupted(runner::run_all_with(
            chosen,
            &opts,
            move |name| p1.started(name),
            move |r, n, total| p2.advanced(n as u64, &r.name, Some(&report::line(r, n, total))),
        ))
        .await?;
        progress.end();
        print!("{}", report::summary(&results));
        reports.write(&results, artifacts)?;
        Ok(if results.iter().all(|r| r.passed) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// `--repeat N`: the suite N times, simulated, compared run by run; the reports are the
/// first run's.
async fn repeated(
    chosen: Vec<iphttps_harness::scenario::Scenario>,
    opts: &iphttps_harness::runner::RunOptions,
    n: usize,
    artifacts: Option<PathBuf>,
    reports: Reports,
) -> Result<ExitCode> {
    use iphttps_harness::repeat;
    let total = chosen.len();
    let reps = repeat::repeat(chosen, opts, n, artifacts.clone(), |k, results| {
        let passed = results.iter().filter(|r| r.passed).count();
        println!("run {k}/{n}: {passed}/{total} passed");
    })
    .await
    .context("cannot make the runs' artifacts folder")?;
    let mut ok = true;
    for r in &reps {
        let passed = r.results.iter().all(|x| x.passed);
        ok &= passed && r.stable();
        match &r.difference {
            None => println!(
                "{} {}: {} runs, one digest {}",
                if passed { "SAME" } else { "FAIL" },
                r.name,
                r.digests.len(),
                &r.digests[0][..16]
            ),
            Some(d) => {
                let distinct: std::collections::BTreeSet<&String> = r.digests.iter().collect();
                println!(
                    "DIFF {}: {} digests over {} runs; {d}",
                    r.name,
                    distinct.len(),
                    r.digests.len()
                );
            }
        }
    }
    let first: Vec<_> = reps.iter().map(|r| r.results[0].clone()).collect();
    reports.write(&first, artifacts.map(|d| repeat::run_dir(&d, 1)))?;
    let diff = reps.iter().filter(|r| !r.stable()).count();
    println!(
        "\n{} scenarios, {} runs each: {} with differences between runs",
        reps.len(),
        n,
        diff
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The report files asked for.
struct Reports {
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    html: Option<PathBuf>,
}

impl Reports {
    /// Writes them; the HTML one links to the scenarios' files in `artifacts`.
    fn write(
        self,
        results: &[iphttps_harness::runner::ScenarioResult],
        artifacts: Option<PathBuf>,
    ) -> Result<()> {
        use iphttps_harness::report;
        let write = |p: &PathBuf, text: String| {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))
        };
        if let Some(p) = &self.junit {
            write(p, report::junit(results))?;
        }
        if let Some(p) = &self.json {
            write(p, serde_json::to_string_pretty(&report::json(results))?)?;
        }
        if let Some(p) = &self.html {
            let info = report::html::RunInfo::here(p, artifacts);
            write(p, report::html::render(results, &info))?;
        }
        Ok(())
    }
}
