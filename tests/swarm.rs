//! `iphttps swarm` against `iphttps serve` in another process on loopback: what it reports
//! (JSON), its exit codes, and what the server saw of it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Served, serve};

/// `iphttps swarm` against `served`, trusting the root in `pki`.
fn swarm(served: &Served, pki: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iphttps"));
    c.arg("swarm")
        .arg(format!("https://da.contoso.com:{}/IPHTTPS", served.port))
        .arg("--ca")
        .arg(pki.join("root-ca.pem"))
        .args(["--resolve", "da.contoso.com:127.0.0.1"])
        .args(args);
    c
}

fn report(out: &Output, json: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(json).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn status(served: &Served) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(iphttps_sim::api::client::get(
        served.admin.parse().unwrap(),
        "/status",
    ))
    .unwrap()
}

/// The tests here load the machine (2,000 clients and more): one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn two_thousand_clients_with_pings_all_come_up_and_hold_for_30_s() {
    let _alone = alone();
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = swarm(
        &served,
        pki.path(),
        &[
            "--clients",
            "2000",
            "--rate",
            "500",
            "--duration",
            "30",
            "--ping",
            "2001:db8:1::10",
            "--source",
            "127.0.0.2,127.0.0.3",
            "--json",
        ],
    )
    .arg(&json)
    .output()
    .unwrap();
    let r = report(&out, &json);
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["started"], 2000);
    assert_eq!(r["linkup"], 2000);
    assert_eq!(r["held"], 2000);
    assert_eq!(r["with_global_address"], 2000);
    assert_eq!(r["ra_prefixes"]["2001:db8:1:1000::/64"], 2000);
    assert!(r["failures"].as_array().unwrap().is_empty(), "{r:#}");
    let p = &r["ping"];
    // a ping a second from each, once it has its address
    assert!(p["sent"].as_u64().unwrap() >= 2000 * 25, "{r:#}");
    assert_eq!(p["loss"], 0.0, "{r:#}");
    assert!(r["linkup_seconds"]["p99"].as_f64().unwrap() > 0.0);
    assert!(r["swarm_process"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    // the text report says the same in words
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reached LinkUp    2000"), "{text}");
}

#[test]
fn an_unpublished_route_gives_linkup_without_an_address_and_says_so() {
    let _alone = alone();
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), &["--fault", "route-not-published"]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = swarm(
        &served,
        pki.path(),
        &["--clients", "20", "--duration", "3", "--json"],
    )
    .arg(&json)
    .output()
    .unwrap();
    let r = report(&out, &json);
    // every client reached LinkUp: the swarm passes, and reports no address
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["linkup"], 20);
    assert_eq!(r["with_global_address"], 0, "{r:#}");
    assert_eq!(r["ra_prefixes"]["(none)"], 20, "{r:#}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("with a global address       0"), "{text}");
    assert!(text.contains("prefixes: (none) (20)"), "{text}");
}

#[test]
fn an_untrusted_server_fails_every_client_with_0x800b0109() {
    let _alone = alone();
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), &[]);
    let other = tempfile::tempdir().unwrap();
    common::test_pki().write(other.path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    // the clients trust another organisation's root
    let out = swarm(
        &served,
        other.path(),
        &[
            "--clients",
            "10",
            "--duration",
            "1",
            "--no-reconnect",
            "--json",
        ],
    )
    .arg(&json)
    .output()
    .unwrap();
    let r = report(&out, &json);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["linkup"], 0);
    let f = &r["failures"][0];
    assert_eq!(f["code"], "0x800b0109", "{r:#}");
    assert_eq!(f["symbol"], "CERT_E_UNTRUSTEDROOT");
    assert_eq!(f["count"], 10, "one attempt each: {r:#}");
    assert!(!f["first_detail"].as_str().unwrap().is_empty());
}

#[test]
fn two_swarms_with_their_own_offsets_share_one_server() {
    let _alone = alone();
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let start = |offset: &str, json: &Path| {
        swarm(
            &served,
            pki.path(),
            &[
                "--clients",
                "100",
                "--duration",
                "6",
                "--id-offset",
                offset,
                "--admin",
                "127.0.0.1:0",
                "--json",
            ],
        )
        .arg(json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (mut ca, cb) = (start("0", &a), start("100000", &b));
    // the swarm says where its figures are, first thing
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(ca.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let metrics_at = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    // while both hold their tunnels (each has its address after DAD: a second or two),
    // the swarm's figures say so and the server has every client of both
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let scrape = || {
        rt.block_on(iphttps_sim::api::client::get_text(
            metrics_at.parse().unwrap(),
            "/metrics",
        ))
        .unwrap()
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut text = scrape();
    while !text.contains("iphttps_swarm_clients_with_address 100")
        && std::time::Instant::now() < until
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
        text = scrape();
    }
    assert!(
        text.contains("iphttps_swarm_clients_started_total 100"),
        "{text}"
    );
    assert!(
        text.contains("iphttps_swarm_clients_with_address 100"),
        "{text}"
    );
    assert!(
        text.contains("iphttps_swarm_linkup_seconds_count 100"),
        "{text}"
    );
    let s = status(&served);
    assert_eq!(s["clients_connected"], 200, "{s:#}");
    // the same offset twice would give the same interface identifiers: the server's DAD
    // defence would count conflicts
    let dad = iphttps_sim::link::router::DropReason::ALL
        .iter()
        .position(|r| *r == iphttps_sim::link::router::DropReason::DadConflict)
        .unwrap();
    assert_eq!(s["router"]["drops"][dad].as_u64(), Some(0), "{s:#}");
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    for (out, json) in [(oa, &a), (ob, &b)] {
        let r = report(&out, json);
        assert!(out.status.success(), "{r:#}");
        assert_eq!(r["with_global_address"], 100, "{r:#}");
    }
}

#[test]
fn bad_arguments_exit_2_with_a_clear_error() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_iphttps"))
            .arg("swarm")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["http://da.contoso.com/IPHTTPS"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("must start with https://"), "{err}");
    let (code, err) = run(&["https://da.contoso.com/IPHTTPS", "--ca", "/nonexistent.pem"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cannot read the CA file /nonexistent.pem"),
        "{err}"
    );
    let (code, err) = run(&["https://x/IPHTTPS", "--clients", "100000000"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("open files"), "{err}");
    let (code, err) = run(&["https://x/IPHTTPS", "--rate", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--rate"), "{err}");
}

fn ctl(served: &Served, line: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_iphttps"))
        .args(["ctl", "--admin", &served.admin, "--"])
        .args(line.split_whitespace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_certificate_that_expires_then_a_restart_are_counted_and_the_clients_come_back() {
    let _alone = alone();
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let child = swarm(
        &served,
        pki.path(),
        &[
            "--clients",
            "20",
            "--duration",
            "14",
            "--reconnect-initial",
            "1",
            "--json",
        ],
    )
    .arg(&json)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    // the certificate expires, and the server restarts: every tunnel is rebuilt against it
    ctl(&served, "fault add expired-cert");
    ctl(&served, "Restart-Service iphlpsvc");
    std::thread::sleep(std::time::Duration::from_secs(4));
    // renewed
    ctl(&served, "fault clear expired-cert");
    let out = child.wait_with_output().unwrap();
    let r = report(&out, &json);
    assert!(out.status.success(), "{r:#}");
    let expired = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "0x800b0101")
        .unwrap_or_else(|| panic!("no 0x800b0101: {r:#}"));
    assert_eq!(expired["symbol"], "CERT_E_EXPIRED");
    assert!(expired["count"].as_u64().unwrap() >= 20, "{r:#}");
    // back after the renewal, each on its reconnect timer
    assert_eq!(r["held"], 20, "{r:#}");
    assert!(r["reconnects"].as_u64().unwrap() >= 20, "{r:#}");
}
