//! `iphttps run --simulated --repeat N`: the same simulated scenarios run N times, each
//! run reduced to a digest of what it produced (the step results and log, the JSON
//! report without its wall-clock field, the pcap), and every scenario whose digests
//! differ between runs reported with where its runs first part.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::runner::{self, RunOptions, ScenarioResult};
use crate::scenario::Scenario;

/// One scenario's results over the runs.
#[derive(Debug, Clone)]
pub struct Repeated {
    /// Its name.
    pub name: String,
    /// Each run's result, in run order.
    pub results: Vec<ScenarioResult>,
    /// Each run's digest (hex SHA-256), in run order.
    pub digests: Vec<String>,
    /// Where the first run that differs from run 1 parts from it; `None` when every run
    /// gave the same digest.
    pub difference: Option<String>,
}

impl Repeated {
    /// Whether every run gave the same digest.
    pub fn stable(&self) -> bool {
        self.difference.is_none()
    }
}

/// What a scenario run produced, as the digest covers it: the result as the JSON report
/// has it, without the wall-clock seconds, and the pcap's bytes.
pub fn canonical(r: &ScenarioResult) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("wall_seconds");
    }
    v.to_string()
}

/// The digest of a run: SHA-256 over [`canonical`] and the pcap (empty without one).
pub fn digest(r: &ScenarioResult, pcap: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(canonical(r).as_bytes());
    ctx.update(&(pcap.len() as u64).to_be_bytes());
    ctx.update(pcap);
    ctx.finish()
        .as_ref()
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where run `b` first parts from run `a`: a step's verdict or message, the log, the
/// pcap, or another field.
pub fn first_difference(
    a: &ScenarioResult,
    pcap_a: &[u8],
    b: &ScenarioResult,
    pcap_b: &[u8],
) -> String {
    for (i, (x, y)) in a.steps.iter().zip(&b.steps).enumerate() {
        if x.passed != y.passed || x.message != y.message || x.seconds != y.seconds {
            return format!(
                "step {} '{}': {} in {:.3}s ({}) against {} in {:.3}s ({})",
                i + 1,
                x.name,
                verdict(x.passed),
                x.seconds,
                x.message,
                verdict(y.passed),
                y.seconds,
                y.message
            );
        }
    }
    if a.steps.len() != b.steps.len() {
        return format!("{} steps ran against {}", a.steps.len(), b.steps.len());
    }
    if let Some((n, (x, y))) = a
        .log
        .lines()
        .zip(b.log.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
    {
        return format!("log line {}: '{x}' against '{y}'", n + 1);
    }
    if pcap_a != pcap_b {
        let at = pcap_a
            .iter()
            .zip(pcap_b)
            .position(|(x, y)| x != y)
            .unwrap_or(pcap_a.len().min(pcap_b.len()));
        return format!(
            "pcap: {} against {} bytes, first different byte at offset {at}",
            pcap_a.len(),
            pcap_b.len()
        );
    }
    format!("report: {} against {}", canonical(a), canonical(b))
}

fn verdict(passed: bool) -> &'static str {
    if passed { "passed" } else { "failed" }
}

/// The pcap a run wrote for `s` into `dir` (empty when there is none).
fn pcap_of(dir: &Path, s: &ScenarioResult) -> Vec<u8> {
    std::fs::read(runner::artifact(dir, &s.name, "pcap")).unwrap_or_default()
}

/// Where run `k` (from 1) of a repetition writes its artifacts under `root`.
pub fn run_dir(root: &Path, k: usize) -> PathBuf {
    root.join(format!("run-{k}"))
}

/// Runs `scenarios` simulated `n` times (each run writes its artifacts into `run-K`
/// under `artifacts`, or a temporary folder), and compares every scenario's runs.
/// `progress` is called after each run with its number.
pub async fn repeat(
    scenarios: Vec<Scenario>,
    opts: &RunOptions,
    n: usize,
    artifacts: Option<PathBuf>,
    progress: impl Fn(usize, &[ScenarioResult]),
) -> std::io::Result<Vec<Repeated>> {
    let temp = match &artifacts {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("iphttps-repeat-")
                .tempdir()?,
        ),
    };
    let root = artifacts.unwrap_or_else(|| temp.as_ref().expect("made").path().to_path_buf());
    let mut out: Vec<Repeated> = scenarios
        .iter()
        .map(|s| Repeated {
            name: s.name.clone(),
            results: Vec::new(),
            digests: Vec::new(),
            difference: None,
        })
        .collect();
    let mut first_pcaps: Vec<Vec<u8>> = Vec::new();
    for k in 1..=n.max(1) {
        let dir = run_dir(&root, k);
        let run_opts = RunOptions {
            simulated: true,
            artifacts: Some(dir.clone()),
            ..opts.clone()
        };
        let results = runner::run_all(scenarios.clone(), &run_opts, |_, _, _| {}).await;
        progress(k, &results);
        for (i, r) in results.into_iter().enumerate() {
            let pcap = pcap_of(&dir, &r);
            let rep = &mut out[i];
            rep.digests.push(digest(&r, &pcap));
            if k == 1 {
                first_pcaps.push(pcap);
            } else if rep.difference.is_none() && rep.digests[k - 1] != rep.digests[0] {
                rep.difference = Some(format!(
                    "run {k} differs from run 1: {}",
                    first_difference(&rep.results[0], &first_pcaps[i], &r, &pcap)
                ));
            }
            rep.results.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::StepResult;

    fn result() -> ScenarioResult {
        ScenarioResult {
            name: "s".into(),
            file: "s.toml".into(),
            simulated: true,
            seed: 1,
            passed: true,
            seconds: 62.5,
            wall_seconds: 0.1,
            failed_step: None,
            message: None,
            steps: vec![StepResult {
                name: "up".into(),
                action: "expect".into(),
                passed: true,
                seconds: 2.76,
                message: "as expected".into(),
            }],
            timeline: Vec::new(),
            operations_status_at_failure: None,
            log: "scenario s\n  [ok] up (2.76s): as expected\n".into(),
        }
    }

    #[test]
    fn the_digest_ignores_wall_time_and_nothing_else() {
        let a = result();
        let mut b = result();
        b.wall_seconds = 7.0;
        assert_eq!(digest(&a, b"pcap"), digest(&b, b"pcap"));
        // a pcap byte
        assert_ne!(digest(&a, b"pcap"), digest(&a, b"pcaq"));
        assert!(first_difference(&a, b"pcap", &a, b"pcaq").contains("offset 3"));
        // a step's timing in virtual time
        let mut c = result();
        c.steps[0].seconds = 2.77;
        assert_ne!(digest(&a, b""), digest(&c, b""));
        let d = first_difference(&a, b"", &c, b"");
        assert!(d.starts_with("step 1 'up'"), "{d}");
        // the log alone
        let mut e = result();
        e.log.push_str("PASS\n");
        assert_ne!(digest(&a, b""), digest(&e, b""));
    }
}
