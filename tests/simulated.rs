//! The simulated mode: the whole shipped suite runs on the in-memory network in virtual
//! time with Windows' own timers, every run of it gives the same digests (step results,
//! log, report, pcap), a file can ask for the mode itself, and the command line proves
//! determinism with `--repeat` and refuses it without `--simulated`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use iphttps_harness::runner::{self, RunOptions};
use iphttps_harness::scenario::{self, model::Timers};
use iphttps_harness::{repeat, suite};

fn shipped() -> PathBuf {
    common::shipped_scenarios()
}

fn opts() -> RunOptions {
    common::suite_options()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_suite_passes_simulated_and_every_run_is_the_same() {
    let all = suite::load(&[shipped()]).expect("the shipped scenarios are valid");
    let total = all.len();
    let reps = repeat::repeat(all, &opts(), 3, None, |_, _| {})
        .await
        .expect("a folder for the runs");
    assert_eq!(reps.len(), total);
    let mut wrong = Vec::new();
    for r in &reps {
        assert_eq!(r.results.len(), 3, "{}", r.name);
        for (k, x) in r.results.iter().enumerate() {
            assert!(x.simulated, "{}: run {} was not simulated", r.name, k + 1);
            if !x.passed {
                wrong.push(format!(
                    "{} (run {}): step {:?}: {:?}\n{}",
                    r.name,
                    k + 1,
                    x.failed_step,
                    x.message,
                    x.log
                ));
            }
        }
        if let Some(d) = &r.difference {
            wrong.push(format!("{}: {d}", r.name));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // the suite's virtual time is far longer than its wall time: Windows' own timers ran
    let virtual_secs: f64 = reps.iter().map(|r| r.results[0].seconds).sum();
    assert!(
        virtual_secs > 3600.0,
        "only {virtual_secs:.0} virtual seconds: were Windows' timers in force?"
    );
}

#[test]
fn windows_timers_are_the_simulated_default_and_a_file_can_set_its_own() {
    let s = scenario::parse(Path::new("t.toml"), "[clients]\ncount = 1\n").unwrap();
    assert_eq!(s.timers(true), Timers::windows());
    let w = Timers::windows();
    assert_eq!(
        (
            w.reconnect_initial_ms,
            w.reconnect_cap_ms,
            w.ops_refresh_ms,
            w.ra_interval_ms,
            w.idle_timeout_ms,
            w.nud_interval_ms
        ),
        (30_000, 900_000, 300_000, 200_000, 120_000, 30_000)
    );
    assert!(w.rfc_host_timers);
    assert_eq!(s.timers(false), Timers::loopback());
    let own = scenario::parse(
        Path::new("t.toml"),
        "[timers]\nreconnect_initial_ms = 200\nops_refresh_ms = { loopback = 500, simulated = 60000 }\n",
    )
    .unwrap();
    assert_eq!(own.timers(true).reconnect_initial_ms, 200);
    assert_eq!(own.timers(true).ops_refresh_ms, 60_000);
    assert_eq!(own.timers(false).ops_refresh_ms, 500);
}

/// A file that asks for the simulated mode gets it in an ordinary run, with virtual time:
/// a 20-minute sleep passes in well under the real minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_can_ask_to_be_simulated() {
    let text = "[lab]\nnetwork = \"simulated\"\n\n[clients]\ncount = 1\n\n\
                [[step]]\nname = \"up\"\nexpect = { state = \"LinkUp\", global_address = true }\n\n\
                [[step]]\nname = \"twenty minutes\"\ndeadline = \"21m\"\nsleep = \"20m\"\n\n\
                [[step]]\nname = \"still up: NUD kept the idle tunnel open\"\n\
                expect = { state = \"LinkUp\", failures_at_most = 0, connects_at_least = 1 }\n";
    let s = scenario::parse(Path::new("sim.toml"), text).unwrap();
    assert!(s.simulated);
    let r = runner::run_all(vec![s], &opts(), |_, _, _| {}).await;
    assert!(r[0].passed, "{}", r[0].log);
    assert!(r[0].simulated);
    assert!(r[0].seconds >= 1200.0, "{} virtual seconds", r[0].seconds);
    assert!(
        r[0].wall_seconds < 60.0,
        "{} wall seconds",
        r[0].wall_seconds
    );
    let bad = scenario::parse(Path::new("bad.toml"), "[lab]\nnetwork = \"simulted\"\n")
        .expect_err("an unknown mode");
    let msg = bad.to_string();
    assert!(
        msg.starts_with("bad.toml:2:11:") && msg.contains("simulated"),
        "{msg}"
    );
}

#[test]
fn the_command_line_repeats_and_compares() {
    let bin = env!("CARGO_BIN_EXE_iphttps");
    let file = shipped().join("outage-reconnect-timer.toml");
    let out = Command::new(bin)
        .args(["run", "--simulated", "--repeat", "3"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SAME server outage"), "{text}");
    assert!(text.contains("3 runs, one digest"), "{text}");
    assert!(text.contains("0 with differences between runs"), "{text}");
    let refused = Command::new(bin)
        .args(["run", "--repeat", "3"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--simulated"));
}

#[test]
fn a_bad_network_step_names_its_place() {
    let text =
        "[clients]\ncount = 1\n\n[[step]]\nname = \"x\"\nnetwork = { partition = 1, heal = 1 }\n";
    let e = scenario::parse(Path::new("n.toml"), text).expect_err("two changes at once");
    let msg = e.to_string();
    assert!(
        msg.starts_with("n.toml:6:11:") && msg.contains("a network step is one of"),
        "{msg}"
    );
    let text = "[clients]\ncount = 1\n\n[[step]]\nname = \"x\"\nnetwork = { partition = 3 }\n";
    let msg = scenario::parse(Path::new("n.toml"), text)
        .expect_err("no client 3")
        .to_string();
    assert!(msg.starts_with("n.toml:6:"), "{msg}");
    let text =
        "[clients]\ncount = 1\n\n[[step]]\nname = \"x\"\nnetwork = { client = 1, loss = 1.5 }\n";
    let msg = scenario::parse(Path::new("n.toml"), text)
        .expect_err("loss above 1")
        .to_string();
    assert!(msg.contains("loss is a share"), "{msg}");
}

#[test]
fn a_bad_per_mode_value_names_its_place() {
    for (text, at) in [
        (
            "[clients]\ncount = 1\n[[step]]\nname = \"x\"\nsleep = { loopback = \"1s\" }\n",
            "m.toml:5:9:",
        ),
        (
            "[timers]\nops_refresh_ms = { loopback = 5, simulated = 6, x = 1 }\n",
            "m.toml:2:18:",
        ),
    ] {
        let msg = scenario::parse(Path::new("m.toml"), text)
            .expect_err("a half per-mode value")
            .to_string();
        assert!(
            msg.starts_with(at) && msg.contains("{ loopback = ..., simulated = ... }"),
            "{msg}"
        );
    }
}
