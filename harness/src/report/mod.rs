//! Reports: a line per scenario and a summary table for people, JUnit XML and JSON for CI,
//! and a self-contained HTML page ([`html`]) for people who open CI's artifacts.

pub mod html;
mod junit;

pub use junit::junit;

use std::fmt::Write as _;

use serde_json::json;

use crate::runner::ScenarioResult;

/// The one line printed when a scenario finishes.
pub fn line(r: &ScenarioResult, n: usize, total: usize) -> String {
    match (&r.failed_step, &r.message) {
        (Some(step), Some(m)) if !r.passed => format!(
            "[{n}/{total}] FAIL {} ({:.1}s)\n      step '{step}': {m}",
            r.name, r.seconds
        ),
        _ => format!("[{n}/{total}] PASS {} ({:.1}s)", r.name, r.seconds),
    }
}

/// The summary table.
pub fn summary(results: &[ScenarioResult]) -> String {
    let w = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!(
        "\n{:<w$}  {:<6}  {:>7}  {}\n",
        "scenario", "result", "seconds", "failed step"
    );
    out += &format!(
        "{}  {}  {}  {}\n",
        "-".repeat(w),
        "-".repeat(6),
        "-".repeat(7),
        "-".repeat(11)
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<w$}  {:<6}  {:>7.1}  {}",
            r.name,
            if r.passed { "PASS" } else { "FAIL" },
            r.seconds,
            r.failed_step.as_deref().unwrap_or("")
        );
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let _ = writeln!(
        out,
        "\n{} passed, {} failed",
        passed,
        results.len() - passed
    );
    out
}

/// The JSON report: `{"summary": {...}, "scenarios": [...]}`.
pub fn json(results: &[ScenarioResult]) -> serde_json::Value {
    let passed = results.iter().filter(|r| r.passed).count();
    json!({
        "summary": {
            "total": results.len(),
            "passed": passed,
            "failed": results.len() - passed,
            "seconds": results.iter().map(|r| r.seconds).sum::<f64>(),
        },
        "scenarios": results,
    })
}
