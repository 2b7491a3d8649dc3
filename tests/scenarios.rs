//! The scenario harness through the library: the shipped suite passes, the reports have
//! the structure CI systems read, a failing scenario names its step, partitions cover the
//! suite exactly once, and every class of bad file is refused with its location (exit 2).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use iphttps_harness::runner::{self, RunOptions};
use iphttps_harness::{report, scenario, suite};

fn shipped() -> PathBuf {
    common::shipped_scenarios()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn opts() -> RunOptions {
    common::suite_options()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_suite_passes_and_its_reports_have_the_required_structure() {
    let all = suite::load(&[shipped()]).expect("the shipped scenarios are valid");
    assert!(all.len() >= 30, "{} scenarios", all.len());
    // one scenario per catalogue fault
    for f in iphttps_sim::fault::Fault::ALL {
        assert!(
            all.iter().any(|s| s.tags.iter().any(|t| t == f.name())),
            "no scenario for {f}"
        );
    }
    let results = runner::run_all(all, &opts(), |_, _, _| {}).await;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {:?} {:?}", r.name, r.failed_step, r.message))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");

    // JUnit: testsuites > testsuite > testcase, with the counts CI systems read
    let xml = report::junit(&results);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite_el = root
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    for attr in ["name", "tests", "failures", "errors", "time"] {
        assert!(suite_el.attribute(attr).is_some(), "testsuite@{attr}");
    }
    assert_eq!(
        suite_el.attribute("tests"),
        Some(results.len().to_string().as_str())
    );
    let cases: Vec<_> = suite_el
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), results.len());
    for c in &cases {
        for attr in ["name", "classname", "time"] {
            assert!(c.attribute(attr).is_some(), "testcase@{attr}");
        }
        assert!(c.children().any(|n| n.has_tag_name("system-out")));
    }

    // JSON: summary and one object per scenario
    let v = report::json(&results);
    assert_eq!(v["summary"]["total"], results.len());
    assert_eq!(v["summary"]["failed"], 0);
    for s in v["scenarios"].as_array().unwrap() {
        for key in ["name", "file", "passed", "seconds", "steps"] {
            assert!(!s[key].is_null(), "scenario.{key}");
        }
        for st in s["steps"].as_array().unwrap() {
            for key in ["name", "passed", "seconds", "message"] {
                assert!(!st[key].is_null(), "step.{key}");
            }
        }
    }
}

#[tokio::test]
async fn a_failing_scenario_fails_at_the_right_step_and_junit_says_so() {
    let s = scenario::load(&fixtures().join("failing.toml")).unwrap();
    let r = runner::run_scenario(&s, &opts()).await;
    assert!(!r.passed);
    assert_eq!(r.failed_step.as_deref(), Some("this step cannot pass"));
    let msg = r.message.clone().unwrap();
    assert!(
        msg.contains("expected state LinkUp") && msg.contains("0x800b0101"),
        "{msg}"
    );
    assert_eq!(r.steps.len(), 2, "the step after the failure is not run");
    let xml = report::junit(std::slice::from_ref(&r));
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("this step cannot pass")
    );
}

#[test]
fn partitions_cover_the_suite_exactly_once() {
    let all = suite::load(&[shipped()]).unwrap();
    let mut seen: Vec<PathBuf> = Vec::new();
    for k in 1..=3 {
        let part = suite::select(all.clone(), None, Some((k, 3)));
        assert!(!part.is_empty());
        seen.extend(part.into_iter().map(|s| s.path));
    }
    seen.sort();
    let mut want: Vec<PathBuf> = all.into_iter().map(|s| s.path).collect();
    want.sort();
    assert_eq!(seen, want);
    assert!(suite::parse_partition("0/3").is_err());
    assert!(suite::parse_partition("4/3").is_err());
}

#[test]
fn every_class_of_bad_file_is_refused_with_its_location() {
    let bad = fixtures().join("bad");
    let cases: &[(&str, usize, &str)] = &[
        ("syntax.toml", 1, "string"),
        ("unknown-key.toml", 5, "unknown field `colour`"),
        ("wrong-type.toml", 4, "invalid type"),
        ("unknown-fault.toml", 2, "did you mean expired-cert"),
        (
            "unknown-command.toml",
            5,
            "'Restart-Servise' is not a supported command",
        ),
        ("never-evaluable.toml", 8, "there is no client 5"),
        (
            "proxy-without-proxy.toml",
            5,
            "a proxy step needs a proxy in the clients' path",
        ),
        ("unknown-proxy-mode.toml", 3, "did you mean refuses"),
        (
            "only-negative.toml",
            6,
            "every condition here is also true before anything happened",
        ),
        ("ping-too-big.toml", 4, "beyond the IPv6 maximum"),
    ];
    for (file, line, text) in cases {
        let e = scenario::load(&bad.join(file)).expect_err(file);
        assert_eq!(e.line, *line, "{file}: {e}");
        assert!(e.column >= 1);
        assert!(e.message.contains(text), "{file}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:{line}:", bad.join(file).display())),
            "{e}"
        );
        // and the command line exits 2 before running anything
        let out = Command::new(env!("CARGO_BIN_EXE_iphttps"))
            .arg("run")
            .arg(bad.join(file))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(text),
            "{file}"
        );
    }
    // expectations with nothing to check, or about clients in a world without any
    for (text, want) in [
        ("[[step]]\nname = \"x\"\nexpect = {}\n", "no condition"),
        (
            "[clients]\ncount = 0\n[[step]]\nname = \"x\"\nexpect = { state = \"LinkUp\" }\n",
            "can never be evaluated",
        ),
        (
            "[[step]]\nname = \"x\"\ninject = \"expired-cert\"\nsleep = \"1s\"\n",
            "exactly one action",
        ),
        (
            "[[step]]\nname = \"x\"\nexpect = { ops = { component = \"IP-HTTPZ\", state = \"OK\" } }\n",
            "did you mean IP-HTTPS",
        ),
        (
            "[[step]]\nname = \"x\"\ndeadline = \"soon\"\nsleep = \"1s\"\n",
            "not a duration",
        ),
    ] {
        let e = scenario::parse(Path::new("inline.toml"), text).expect_err(text);
        assert!(e.message.contains(want), "{e}");
    }
}

/// Ping and datagram sizes up to the IPv6 maximum without a jumbogram load; one byte more
/// is an error at the value; the fragment keys name what they accept.
#[test]
fn sizes_and_fragment_keys_are_checked_where_they_stand() {
    let step = |body: &str| format!("[clients]\ncount = 2\n\n[[step]]\nname = \"x\"\n{body}\n");
    for body in [
        "ping = { from = 1, to = \"intranet\", size = 65527 }",
        "udp = { from = 1, count = 1, size = 65527, max_loss = 0.0 }",
        "fragment_filter = \"last-fragment\"",
        "expect = { icmp_error = { type = \"time-exceeded\", code = 1 } }",
    ] {
        let text = step(body);
        scenario::parse(Path::new("inline.toml"), &text).unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    for (body, column, want) in [
        (
            "ping = { from = 1, to = \"intranet\", size = 65528 }",
            44,
            "65528 is beyond the IPv6 maximum: 65527",
        ),
        (
            "udp = { from = 1, count = 1, size = 100000, max_loss = 0.0 }",
            37,
            "beyond the IPv6 maximum",
        ),
        (
            "fragment_filter = \"last\"",
            19,
            "did you mean last-fragment",
        ),
        (
            "expect = { icmp_error = { type = \"time-exceded\" } }",
            34,
            "did you mean time-exceeded",
        ),
        (
            "expect = { icmp_error = { type = \"time-exceeded\", at_least = 0 } }",
            25,
            "cannot fail",
        ),
    ] {
        let e = scenario::parse(Path::new("inline.toml"), &step(body)).expect_err(body);
        assert!(e.message.contains(want), "{body}: {e}");
        assert_eq!((e.line, e.column), (6, column), "{body}: {e}");
    }
}

#[test]
fn conditions_that_cannot_fail_are_refused_where_they_stand() {
    let step = |body: &str| format!("[clients]\ncount = 2\n\n[[step]]\nname = \"x\"\n{body}\n");
    for (body, line, want) in [
        (
            "expect = { connects_at_least = 0, state = \"LinkUp\" }",
            6,
            "cannot fail",
        ),
        ("expect = { failures_at_least = 0 }", 6, "cannot fail"),
        (
            "expect = { state = \"LinkUp\", detail = \"\" }",
            6,
            "cannot fail",
        ),
        (
            "expect = { dropped = { reason = \"no_route\", at_least = 0 } }",
            6,
            "cannot fail",
        ),
        (
            "expect = { ops = { component = \"IPsec\", state = \"OK\", text = \"\" } }",
            6,
            "cannot fail",
        ),
        (
            "ping = { from = 1, to = \"intranet\", max_loss = 1.0 }",
            6,
            "cannot fail at 1.0",
        ),
        (
            "ping = { from = 1, to = \"intranet\", count = 0 }",
            6,
            "count = 0",
        ),
        (
            "ping = { from = 1, to = \"intranet\", reply = false, max_loss = 0.5 }",
            6,
            "leave max_loss out",
        ),
        (
            "ping = { from = 1, to = \"intranet\", dropped_by = \"no_route\" }",
            6,
            "goes with reply = false",
        ),
        (
            "ping = { from = 1, to = \"intranet\", reply = false, dropped_by = \"no_rout\" }",
            6,
            "did you mean no_route",
        ),
        (
            "udp = { from = 1, count = 10, size = 10, max_loss = 1.0 }",
            5,
            "cannot fail at 1.0",
        ),
        (
            "udp = { from = 1, count = 0, size = 10, max_loss = 0.0 }",
            5,
            "count = 0",
        ),
        (
            "udp = { from = 1, count = 10, size = 10 }",
            5,
            "needs something to check",
        ),
        (
            "udp = { from = 1, count = 10, size = 10, min_kbps = 0 }",
            5,
            "0 cannot fail",
        ),
        (
            "exec = { command = [\"true\"], output_contains = \"\" }",
            5,
            "cannot fail",
        ),
        // negatives alone, with neither a state nor a hold
        ("expect = { global_address = false }", 6, "name a `state`"),
        ("expect = { server_clients = 1 }", 6, "name a `state`"),
        (
            "expect = { ra_mtu = 1280, hold = \"0s\" }",
            6,
            "longer than 0s",
        ),
        (
            "deadline = \"1s\"\nexpect = { global_address = false, hold = \"2s\" }",
            7,
            "shorter than the step's deadline",
        ),
    ] {
        let text = step(body);
        let e = scenario::parse(Path::new("inline.toml"), &text).expect_err(body);
        assert!(e.message.contains(want), "{body}: {e}");
        assert_eq!(e.line, line, "{body}: {e}");
    }
    // and the same conditions, made meaningful, load
    for body in [
        "expect = { global_address = false, hold = \"1s\" }",
        "expect = { global_address = false, state = \"LinkUp\" }",
        "expect = { failures_at_most = 2, failures_at_least = 1 }",
        "ping = { from = 1, to = \"intranet\", reply = false, dropped_by = \"forwarding_disabled\" }",
        "udp = { from = 1, count = 10, size = 10, dropped_by = \"forwarding_disabled\" }",
    ] {
        scenario::parse(Path::new("inline.toml"), &step(body))
            .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
}

#[test]
fn run_lists_filters_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_iphttps");
    let out = Command::new(bin)
        .args(["run", "--list", "--filter", "seed"])
        .arg(shipped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert_eq!(text.lines().count(), 4, "{text}");
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let out = Command::new(bin)
        .args(["run", "--filter", "baseline", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .arg("--artifacts")
        .arg(dir.path().join("artifacts"))
        .arg(shipped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(roxmltree::Document::parse(&std::fs::read_to_string(&junit).unwrap()).is_ok());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["summary"]["passed"], 1);
    assert!(dir.path().join("artifacts/baseline.pcap").exists());
    assert!(dir.path().join("artifacts/baseline.log").exists());
    let out = Command::new(bin)
        .arg("run")
        .arg(fixtures().join("failing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("step 'this step cannot pass'"));
}

/// A build without the OpenSSL backend refuses a file that asks for the NULL suites, at
/// the line that asks, saying how to build one that can.
#[cfg(not(feature = "null-cipher"))]
#[test]
fn null_cipher_scenarios_need_the_feature_and_say_so_where_they_ask() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/null-cipher");
    let err = suite::load(&[dir]).unwrap_err().to_string();
    assert!(err.contains("null-encryption.toml:11:15"), "{err}");
    assert!(err.contains("null-only-client.toml:11:15"), "{err}");
    assert!(err.contains("--features null-cipher"), "{err}");
    // and a bad mode is named whatever the build
    let e = scenario::parse(
        Path::new("x.toml"),
        "[clients]\nnull_cipher = \"sometimes\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not off, prefer or only"), "{e}");
    assert_eq!((e.line, e.column), (2, 15));
}
