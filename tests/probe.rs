//! `iphttps probe` against `iphttps serve`: healthy, every IP-HTTPS certificate fault,
//! client certificates required, the route and advertising faults, and a web proxy in
//! the path. Each case checks the stage that failed, the Last Error Code a Windows
//! client would show, the diagnosis and the exit code.

mod common;

use std::process::Command;

use common::Served;
use serde_json::Value;

fn serve(pki: &std::path::Path, fault: Option<&str>) -> Served {
    match fault {
        Some(f) => common::serve(pki, &["--fault", f]),
        None => common::serve(pki, &[]),
    }
}

/// Runs `iphttps probe --json` against `served` with `extra` arguments.
fn probe(served: &Served, pki: &std::path::Path, extra: &[&str]) -> (bool, Value) {
    let cdp = served
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("CRL distribution point: "))
        .unwrap()
        .to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iphttps"));
    cmd.arg("probe")
        .arg(format!("https://da.contoso.com:{}/IPHTTPS", served.port))
        .args([
            "--resolve",
            "da.contoso.com:127.0.0.1",
            "--timeout",
            "2",
            "--json",
        ])
        .args(["--crl-url", &cdp]);
    if !extra.contains(&"--system-store") {
        cmd.arg("--ca")
            .arg(pki.join(iphttps_sim::pki::files::ROOT_CA));
    }
    cmd.args(extra.iter().filter(|a| **a != "--system-store"));
    let out = cmd.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        v["ok"] == true,
        out.status.success(),
        "exit code follows ok"
    );
    (out.status.success(), v)
}

fn failed_stage(v: &Value) -> Option<String> {
    v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ok"] == false)
        .map(|s| s["name"].as_str().unwrap().to_string())
}

#[test]
fn a_healthy_server_passes_every_stage() {
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), None);
    let (ok, v) = probe(&served, pki.path(), &["--check-revocation"]);
    assert!(ok, "{v:#}");
    let names: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "name resolution",
            "TCP connect",
            "TLS handshake",
            "revocation check",
            "HTTP exchange",
            "router discovery"
        ]
    );
    let tls = &v["tls"];
    assert!(tls["protocol"].as_str().unwrap().starts_with("TLSv1_"));
    assert!(!tls["cipher_suite"].as_str().unwrap().is_empty());
    let leaf = &tls["chain"][0];
    assert!(
        leaf["subject"]
            .as_str()
            .unwrap()
            .contains("CN=da.contoso.com")
    );
    assert_eq!(leaf["eku"], serde_json::json!(["serverAuth"]));
    assert_eq!(leaf["san"], serde_json::json!(["DNS:da.contoso.com"]));
    assert_eq!(leaf["valid_now"], true);
    assert_eq!(tls["revocation"][0]["reachable"], true);
    assert_eq!(tls["revocation"][0]["leaf_revoked"], false);
    assert_eq!(v["http"]["status_line"], "HTTP/1.1 200 OK");
    assert_eq!(v["http"]["server"], "Microsoft-HTTPAPI/2.0");
    let ra = &v["router_advertisement"];
    assert_eq!(ra["prefixes"][0]["prefix"], "2001:db8:1:1000::/64");
    assert_eq!(ra["prefixes"][0]["autonomous"], true);
    assert_eq!(ra["mtu"], 1280);
    assert_eq!(ra["router_lifetime"], 1800);
    assert_eq!(v["verdict"]["last_error_code"], "0x0");
    assert_eq!(v["verdict"]["interface_status"], "IPHTTPS interface active");
    assert_eq!(v["diagnosis"]["healthy"], true);
}

#[test]
fn faults_get_the_code_windows_shows() {
    // (fault, extra arguments, failing stage, Last Error Code)
    let cases: &[(&str, &[&str], &str, &str)] = &[
        ("expired-cert", &[], "TLS handshake", "0x800b0101"),
        ("not-yet-valid-cert", &[], "TLS handshake", "0x800b0101"),
        ("untrusted-root", &[], "TLS handshake", "0x800b0109"),
        ("name-mismatch", &[], "TLS handshake", "0x800b010f"),
        (
            "revoked-cert",
            &["--check-revocation"],
            "revocation check",
            "0x80092010",
        ),
        (
            "crl-offline",
            &["--check-revocation"],
            "revocation check",
            "0x80092013",
        ),
        ("client-cert-required", &[], "HTTP exchange", "0x90320"),
        // not certificates: the stage that times out or is refused is named
        // a firewall that drops: the SYN is never answered
        ("server-timeout", &[], "TCP connect", "0x274c"),
        ("server-refused", &[], "TCP connect", "0x274d"),
    ];
    for (fault, extra, stage, code) in cases {
        let pki = tempfile::tempdir().unwrap();
        let served = serve(pki.path(), Some(fault));
        let (ok, v) = probe(&served, pki.path(), extra);
        assert!(!ok, "{fault}");
        assert_eq!(failed_stage(&v).as_deref(), Some(*stage), "{fault}: {v:#}");
        assert_eq!(v["verdict"]["last_error_code"], *code, "{fault}");
        assert_eq!(
            v["verdict"]["interface_status"],
            "Failed to connect to the IPHTTPS server. Waiting to reconnect",
            "{fault}"
        );
        let summary = v["diagnosis"]["summary"].as_str().unwrap();
        assert!(summary.contains(code), "{fault}: {summary}");
        assert!(!v["diagnosis"]["steps"].as_array().unwrap().is_empty());
    }
}

#[test]
fn revocation_is_reported_but_not_enforced_as_windows_8_does() {
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), Some("revoked-cert"));
    let (ok, v) = probe(&served, pki.path(), &[]);
    assert!(!ok, "the revocation stage is shown failed: {v:#}");
    assert_eq!(v["verdict"]["last_error_code"], "0x0");
    assert_eq!(v["tls"]["revocation"][0]["leaf_revoked"], true);
    assert!(
        v["verdict"]["windows7"]
            .as_str()
            .unwrap()
            .contains("0x80092010")
    );
}

#[test]
fn the_system_store_does_not_trust_a_private_root() {
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), None);
    let (ok, v) = probe(&served, pki.path(), &["--system-store"]);
    assert!(!ok);
    assert_eq!(v["verdict"]["last_error_code"], "0x800b0109");
    assert!(
        v["tls"]["trust_anchors"]
            .as_str()
            .unwrap()
            .starts_with("the system store")
    );
    // the probe still looked behind the certificate
    assert_eq!(v["http"]["status_line"], "HTTP/1.1 200 OK");
}

#[test]
fn route_and_advertising_faults_show_in_router_discovery() {
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), Some("route-not-published"));
    let (ok, v) = probe(&served, pki.path(), &[]);
    assert!(!ok);
    assert_eq!(failed_stage(&v).as_deref(), Some("router discovery"));
    assert_eq!(v["verdict"]["last_error_code"], "0x0");
    assert_eq!(v["router_advertisement"]["prefixes"], serde_json::json!([]));
    let detail = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "router discovery")
        .unwrap()["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("carries no prefix"), "{detail}");
    let steps = v["diagnosis"]["steps"].to_string();
    assert!(
        steps.contains("(Get-RemoteAccess).ClientIPv6Prefix"),
        "{steps}"
    );

    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), Some("advertising-disabled"));
    let (ok, v) = probe(&served, pki.path(), &[]);
    assert!(!ok);
    assert_eq!(failed_stage(&v).as_deref(), Some("router discovery"));
    assert!(v["router_advertisement"].is_null());
    assert!(
        v["diagnosis"]["steps"]
            .to_string()
            .contains("advertise=enabled")
    );
}

#[test]
fn through_a_web_proxy() {
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = rt
        .block_on(iphttps_harness::fixtures::web_proxy::WebProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            iphttps_harness::fixtures::web_proxy::ProxyMode::Open,
            Vec::new(),
            iphttps_sim::net::tcp(),
        ))
        .unwrap();
    let url = proxy.url(None).to_string();
    let (ok, v) = probe(&served, pki.path(), &["--proxy", &url]);
    assert!(ok, "{v:#}");
    assert_eq!(v["proxy"], url);
    assert_eq!(proxy.stats().tunnels, 1);
    proxy.set_mode(iphttps_harness::fixtures::web_proxy::ProxyMode::Refuses);
    let (ok, v) = probe(&served, pki.path(), &["--proxy", &url]);
    assert!(!ok);
    assert_eq!(failed_stage(&v).as_deref(), Some("TCP connect"));
    assert_eq!(v["verdict"]["last_error_code"], "0x2afc");
}

#[test]
fn a_client_certificate_opens_a_server_in_authmode_certificates() {
    let pki = tempfile::tempdir().unwrap();
    let served = serve(pki.path(), Some("client-cert-required"));
    let read = |f: &str| std::fs::read_to_string(pki.path().join(f)).unwrap();
    let chain = pki.path().join("client-chain.pem");
    std::fs::write(
        &chain,
        read(iphttps_sim::pki::files::CLIENT) + &read(iphttps_sim::pki::files::INTERMEDIATE_CA),
    )
    .unwrap();
    let key = pki.path().join(iphttps_sim::pki::files::CLIENT_KEY);
    let (ok, v) = probe(
        &served,
        pki.path(),
        &[
            "--client-cert",
            chain.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(ok, "{v:#}");
    assert_eq!(v["verdict"]["last_error_code"], "0x0");
}
