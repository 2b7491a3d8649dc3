//! Reports: a line per scenario and a summary table for people, JUnit XML and JSON for CI,
//! and a self-contained HTML page ([`html`]) for people who open CI's artifacts.

pub mod html;

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

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML: one testsuite, one testcase per scenario, failures with the step and the
/// message, the log as system-out.
pub fn junit(results: &[ScenarioResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let time: f64 = results.iter().map(|r| r.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"iphttps\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">",
        results.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"iphttps scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
        results.len()
    );
    for r in results {
        let class = std::path::Path::new(&r.file)
            .parent()
            .map(|p| p.display().to_string().replace(['/', '\\'], "."))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\">",
            xml(&r.name),
            xml(if class.is_empty() {
                "scenarios"
            } else {
                &class
            }),
            xml(&r.file),
            r.seconds
        );
        if !r.passed {
            let step = r.failed_step.clone().unwrap_or_default();
            let msg = r.message.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "      <failure message=\"step '{}': {}\" type=\"StepFailed\">step '{}': {}</failure>",
                xml(&step),
                xml(&msg),
                xml(&step),
                xml(&msg)
            );
        }
        let _ = writeln!(out, "      <system-out>{}</system-out>", xml(&r.log));
        out += "    </testcase>\n";
    }
    out += "  </testsuite>\n</testsuites>\n";
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
