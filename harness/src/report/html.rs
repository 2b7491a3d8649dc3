//! The HTML report of a run (`iphttps run --html FILE`): one self-contained file (styles
//! inline, no script, nothing fetched) that a person opens from CI's artifacts. A summary,
//! then one section per scenario: its steps, the failing step's expected and seen values
//! side by side, each client's states and Last Error Codes over time, the Operations
//! Status when it failed, links to its pcap and log. What is long is collapsed.

use std::path::{Path, PathBuf};

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::runner::{ScenarioResult, StepResult, artifact};
use crate::timeline::ClientTimeline;

/// Clients whose timeline is shown open; the rest are in a collapsed block.
const TIMELINES_OPEN: usize = 8;

/// Steps shown open in a passing scenario; longer lists are collapsed.
const STEPS_OPEN: usize = 30;

/// What the report says about where it ran.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The machine (CPU, cores, memory, system, host name).
    pub machine: String,
    /// When the report was written (UTC, RFC 3339).
    pub written: String,
    /// Where each scenario's pcap and log are, when `--artifacts` was given.
    pub artifacts: Option<PathBuf>,
    /// The folder the HTML file is written in (links to artifacts are made relative to it).
    pub report_dir: PathBuf,
}

impl RunInfo {
    /// This machine, now, for a report written to `report` with artifacts in `artifacts`.
    pub fn here(report: &Path, artifacts: Option<PathBuf>) -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        let written = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self {
            machine: format!("{}, host {host}", crate::bench::machine()),
            written,
            artifacts,
            report_dir: report.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }
}

/// The whole report.
pub fn render(results: &[ScenarioResult], info: &RunInfo) -> String {
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    let seconds: f64 = results.iter().map(|r| r.seconds).sum();
    let wall: f64 = results.iter().map(|r| r.wall_seconds).sum();
    let simulated = results.iter().filter(|r| r.simulated).count();
    let mut seeds: Vec<u64> = results.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let title = if failed == 0 {
        format!("iphttps: {passed} passed")
    } else {
        format!("iphttps: {failed} failed, {passed} passed")
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "IP-HTTPS scenario report" }
                    div.summary {
                        span.badge.pass id="passed" { (passed) " passed" }
                        span.badge.(if failed > 0 { "fail" } else { "none" }) id="failed" {
                            (failed) " failed"
                        }
                        span { (results.len()) " scenarios" }
                        span { "time " (secs(seconds)) " on the scenarios' clocks (" (secs(wall)) " of real time)" }
                        span { (mode_words(simulated, results.len())) }
                        span { "seed " (seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) }
                    }
                    p.machine { "machine " (info.machine) " · written " (info.written) }
                }
                nav {
                    table.index {
                        thead { tr { th { "result" } th { "scenario" } th.num { "seconds" } th { "failed step" } } }
                        tbody {
                            @for (i, r) in results.iter().enumerate() {
                                tr.(row_class(r.passed)) {
                                    td { (verdict(r.passed)) }
                                    td { a href=(format!("#s{i}")) { (r.name) } }
                                    td.num { (format!("{:.1}", r.seconds)) }
                                    td { (r.failed_step.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
                main {
                    @for (i, r) in results.iter().enumerate() {
                        (scenario(i, r, info))
                    }
                }
            }
        }
    };
    page.into_string()
}

fn mode_words(simulated: usize, total: usize) -> String {
    match simulated {
        0 => "loopback, real time".into(),
        n if n == total => "simulated, virtual time".into(),
        n => format!("{n} simulated, {} on loopback", total - n),
    }
}

fn secs(s: f64) -> String {
    if s >= 120.0 {
        format!("{:.0} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn verdict(passed: bool) -> Markup {
    html! { span.badge.(if passed { "pass" } else { "fail" }) { (if passed { "PASS" } else { "FAIL" }) } }
}

fn row_class(passed: bool) -> &'static str {
    if passed { "passed" } else { "failed" }
}

fn scenario(i: usize, r: &ScenarioResult, info: &RunInfo) -> Markup {
    let links = info.artifacts.as_ref().map(|dir| {
        [("pcap", "pcap"), ("log", "log")]
            .into_iter()
            .map(|(label, ext)| (label, link(&artifact(dir, &r.name, ext), &info.report_dir)))
            .collect::<Vec<_>>()
    });
    html! {
        section.scenario.(row_class(r.passed)) id=(format!("s{i}")) data-scenario=(r.name) {
            details open[!r.passed] {
                summary {
                    (verdict(r.passed)) " "
                    span.name { (r.name) }
                    span.meta { (format!("{:.1} s", r.seconds)) @if r.simulated { " virtual" } }
                }
                p.meta {
                    "file " code { (r.file) }
                    " · seed " (r.seed)
                    " · " (if r.simulated { "simulated" } else { "loopback" })
                    " · " (r.steps.len()) " step(s) run"
                    @if let Some(links) = &links {
                        @for (label, href) in links {
                            " · " a.artifact href=(href) { (label) }
                        }
                    }
                }
                @if let (Some(step), Some(msg)) = (&r.failed_step, &r.message) {
                    (failure(step, msg, r.operations_status_at_failure.as_deref()))
                }
                (steps(&r.steps, r.passed))
                @if !r.timeline.is_empty() {
                    (timelines(&r.timeline, r.seconds))
                }
                details.log {
                    summary { "log (" (r.log.lines().count()) " lines)" }
                    pre { (r.log) }
                }
            }
        }
    }
}

/// A link to `target` from a page in `from`: relative when `target` lies under `from`,
/// else as given (absolute when it was).
fn link(target: &Path, from: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (t, f) = (abs(target), abs(from));
    let rel = t.strip_prefix(&f).map(Path::to_path_buf).unwrap_or(t);
    rel.to_string_lossy().replace('\\', "/")
}

fn failure(step: &str, msg: &str, ops: Option<&str>) -> Markup {
    let split = expected_seen(msg);
    html! {
        div.failure {
            h3 { "failed at step: " span.step { (step) } }
            @match &split {
                Some((who, expected, seen)) => {
                    @if !who.is_empty() { p.who { (who) } }
                    div.sides {
                        div.side.expected { h4 { "expected" } pre { (expected) } }
                        div.side.seen { h4 { "seen" } pre { (seen) } }
                    }
                }
                None => { pre.message { (msg) } }
            }
            @if let Some(ops) = ops {
                details.ops open {
                    summary { "Operations Status at the failure" }
                    pre { (ops) }
                }
            }
        }
    }
}

/// Splits a step's failure `who: expected X, saw Y` into its parts (the runner's
/// conditions all say it that way); `None` when the message is of another form.
pub fn expected_seen(msg: &str) -> Option<(String, String, String)> {
    let start = msg.find("expected ")?;
    let rest = &msg[start + "expected ".len()..];
    let (expected, seen) = rest
        .split_once(", saw ")
        .or_else(|| rest.split_once("; saw "))
        .or_else(|| rest.split_once("; "))?;
    let who = msg[..start].trim().trim_end_matches(':').to_string();
    Some((who, expected.to_string(), seen.to_string()))
}

fn steps(steps: &[StepResult], passed: bool) -> Markup {
    let table = html! {
        table.steps {
            thead { tr { th.num { "#" } th { "step" } th { "action" } th.num { "seconds" } th { "result" } th { "what happened" } } }
            tbody {
                @for (k, s) in steps.iter().enumerate() {
                    tr.(row_class(s.passed)) {
                        td.num { (k + 1) }
                        td { (s.name) }
                        td { code { (s.action) } }
                        td.num { (format!("{:.2}", s.seconds)) }
                        td { (verdict(s.passed)) }
                        td.msg {
                            @if s.message.len() > 160 {
                                details { summary { (s.message.chars().take(120).collect::<String>()) "…" } (s.message) }
                            } @else {
                                (s.message)
                            }
                        }
                    }
                }
            }
        }
    };
    html! {
        @if passed && steps.len() > STEPS_OPEN {
            details.steps { summary { (steps.len()) " steps" } (table) }
        } @else {
            (table)
        }
    }
}

fn timelines(lines: &[ClientTimeline], total: f64) -> Markup {
    let end = lines
        .iter()
        .filter_map(|l| l.points.last().map(|p| p.at))
        .fold(total, f64::max)
        .max(1e-9);
    let (open, rest) = lines.split_at(lines.len().min(TIMELINES_OPEN));
    let up = lines
        .iter()
        .filter(|l| l.points.last().is_some_and(|p| p.state == "LinkUp"))
        .count();
    html! {
        div.timeline {
            h4 { "clients over time" span.meta { " · " (lines.len()) " client(s), " (up) " LinkUp at the end · 0 to " (secs(end)) } }
            div.legend {
                @for st in ["Enabled", "LinkDown", "Established", "LinkUp", "Disabled"] {
                    span.key { span.(format!("seg {st}")) {} (st) }
                }
            }
            @for l in open { (timeline_row(l, end)) }
            @if !rest.is_empty() {
                details.more {
                    summary { (rest.len()) " more client(s)" }
                    @for l in rest { (timeline_row(l, end)) }
                }
            }
        }
    }
}

fn timeline_row(l: &ClientTimeline, end: f64) -> Markup {
    html! {
        div.row data-client=(l.client) {
            span.label { "client " (l.client) }
            div.bar {
                @if let Some(first) = l.points.first() {
                    span.seg.before style=(format!("width:{:.3}%", first.at / end * 100.0)) {}
                }
                @for (k, p) in l.points.iter().enumerate() {
                    @let until = l.points.get(k + 1).map_or(end, |n| n.at);
                    @let width = ((until - p.at) / end * 100.0).max(0.0);
                    span class=(format!("seg {}", p.state))
                        style=(format!("width:{width:.3}%"))
                        title=(format!("{} · Last Error Code {} · {:.2} s to {:.2} s", p.state, p.last_error, p.at, until)) {
                        @if p.last_error != "0x0" && width > 8.0 { (p.last_error) }
                    }
                }
            }
            span.codes {
                @let codes = distinct_codes(l);
                @if !codes.is_empty() { (codes.join(" ")) }
                @if l.dropped > 0 { " (+" (l.dropped) " changes not kept)" }
            }
        }
    }
}

fn distinct_codes(l: &ClientTimeline) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in &l.points {
        if p.last_error != "0x0" && !out.contains(&p.last_error) {
            out.push(p.last_error.clone());
        }
    }
    out
}

const STYLE: &str = r#"
:root { --pass: #107c10; --fail: #c50f1f; --muted: #5f6b7a; --line: #d8dde3; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "Segoe UI", system-ui, -apple-system, sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
header { background: #0f2a47; color: #fff; padding: 16px 24px; }
header h1 { margin: 0 0 8px; font-size: 20px; font-weight: 600; }
.summary { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; }
.machine { margin: 8px 0 0; color: #c9d4e0; font-size: 12px; }
nav, main { padding: 12px 24px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.failed td { background: #fdf0f1; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; }
.badge.pass { background: #dff6dd; color: var(--pass); }
.badge.fail { background: #fde7e9; color: var(--fail); }
.badge.none { background: #e8ebef; color: var(--muted); }
section.scenario { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--pass); margin: 10px 0; padding: 6px 12px; }
section.scenario.failed { border-left-color: var(--fail); }
section.scenario > details > summary { cursor: pointer; font-size: 15px; }
.name { font-weight: 600; }
.meta { color: var(--muted); font-size: 12px; margin-left: 8px; }
p.meta { margin: 6px 0; margin-left: 0; }
.failure { border: 1px solid #f1b8be; background: #fff8f8; padding: 8px 12px; margin: 8px 0; }
.failure h3 { margin: 0 0 6px; font-size: 14px; color: var(--fail); }
.sides { display: flex; gap: 12px; }
.side { flex: 1; min-width: 0; }
.side h4 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; color: var(--muted); }
.side pre { background: #fff; border: 1px solid var(--line); padding: 6px 8px; white-space: pre-wrap; word-break: break-word; margin: 0; }
.side.expected pre { border-color: #9fd89f; }
.side.seen pre { border-color: #f1b8be; }
pre { font: 12px/1.4 ui-monospace, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
table.steps { margin: 8px 0; font-size: 13px; }
td.msg { max-width: 520px; word-break: break-word; }
.timeline { margin: 10px 0; }
.timeline h4 { margin: 0 0 4px; font-size: 13px; }
.legend { display: flex; gap: 12px; font-size: 12px; color: var(--muted); margin-bottom: 4px; }
.legend .key { display: inline-flex; align-items: center; gap: 4px; }
.legend .seg { display: inline-block; width: 14px; height: 10px; }
.row { display: flex; align-items: center; gap: 8px; margin: 2px 0; font-size: 12px; }
.row .label { width: 70px; flex: none; color: var(--muted); }
.row .bar { flex: 1; display: flex; height: 16px; background: #eef1f4; overflow: hidden; }
.row .codes { width: 180px; flex: none; font-family: ui-monospace, Consolas, monospace; color: var(--fail); }
.seg { display: inline-block; height: 100%; min-width: 1px; color: #fff; font-size: 10px; overflow: hidden; white-space: nowrap; padding-left: 2px; }
.seg.Enabled { background: #8a96a3; }
.seg.LinkDown { background: var(--fail); }
.seg.Established { background: #c19c00; }
.seg.LinkUp { background: var(--pass); }
.seg.Disabled { background: #3b4450; }
.seg.before { background: transparent; min-width: 0; padding: 0; }
details.log pre, details.ops pre { background: #f6f8fa; border: 1px solid var(--line); padding: 6px 8px; max-height: 420px; overflow: auto; }
a { color: #0b5cad; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::StepResult;
    use crate::timeline::StatePoint;

    #[test]
    fn a_failure_splits_into_expected_and_seen() {
        let (who, expected, seen) = expected_seen(
            "client 2: expected state LinkUp, saw state LinkDown, Last Error Code 0x800b0109",
        )
        .unwrap();
        assert_eq!(who, "client 2");
        assert_eq!(expected, "state LinkUp");
        assert_eq!(seen, "state LinkDown, Last Error Code 0x800b0109");
        assert!(expected_seen("`Set-NetRoute` failed: no such route").is_none());
    }

    fn many_clients(n: usize) -> ScenarioResult {
        let point = |at: f64, state: &str, code: &str| StatePoint {
            at,
            state: state.into(),
            last_error: code.into(),
        };
        ScenarioResult {
            name: "200 <clients>".into(),
            file: "scenarios/clients-200.toml".into(),
            simulated: false,
            seed: 200,
            passed: false,
            seconds: 3.0,
            wall_seconds: 3.0,
            failed_step: Some("up".into()),
            message: Some("client 7: expected state LinkUp, saw state LinkDown".into()),
            steps: (0..40)
                .map(|k| StepResult {
                    name: format!("step {k}"),
                    action: "expect".into(),
                    passed: k < 39,
                    seconds: 0.1,
                    message: "as expected".into(),
                })
                .collect(),
            timeline: (1..=n)
                .map(|client| ClientTimeline {
                    client,
                    points: vec![
                        point(0.1, "LinkDown", "0x0"),
                        point(0.2, "LinkDown", "0x800b0109"),
                        point(1.0, "LinkUp", "0x0"),
                    ],
                    dropped: 0,
                })
                .collect(),
            operations_status_at_failure: Some("Operations Status\n  Server  OK".into()),
            log: "scenario 200 clients\n".into(),
        }
    }

    #[test]
    fn two_hundred_clients_stay_readable_and_names_are_escaped() {
        let info = RunInfo {
            machine: "test".into(),
            written: "now".into(),
            artifacts: None,
            report_dir: PathBuf::new(),
        };
        let page = render(&[many_clients(200)], &info);
        // the first clients open, the rest in one collapsed block
        assert_eq!(page.matches("data-client=").count(), 200);
        let more = page.find("192 more client(s)").expect("the rest collapsed");
        assert!(page[..more].matches("data-client=").count() == TIMELINES_OPEN);
        // each client's codes, once
        assert!(page.contains("<span class=\"codes\">0x800b0109</span>"));
        // text from files and clients is escaped, never markup
        assert!(page.contains("200 &lt;clients&gt;"));
        assert!(!page.contains("200 <clients>"));
        // the failing scenario is open, its failure split
        assert!(page.contains("<details open>"));
        assert!(page.contains("<h4>expected</h4><pre>state LinkUp</pre>"));
    }
}
