//! The IPsec lab (Linux, root, strongSwan, nftables): IKEv2 and ESP inside the IP-HTTPS
//! tunnel. The two tunnels come up as two quick mode SAs, traffic goes through ESP (the
//! SAs' counters move), the Windows views show them (and their `--json` twins), the
//! intranet tunnel's rule can be disabled while the infrastructure tunnel keeps
//! working, and the namespaces are gone afterwards. The shipped IPsec scenarios' negative
//! steps are run where the behaviour they rule out is present, and must fail there.
//! Without root or the packages the tests say why they skip; under CI=true they fail.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use iphttps_harness::ipsec;
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_harness::runner::{self, RunOptions};
use iphttps_harness::scenario::{self, Scenario};
use iphttps_sim::api::Managed;
use iphttps_sim::windows::command::Session;
use iphttps_sim::windows::ipsec::{IpsecAgent, Tunnel};

/// One IPsec lab at a time: each runs three or more charons on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn runnable(test: &str) -> bool {
    match ipsec::check() {
        Ok(()) => true,
        Err(e) => {
            common::skip(test, &e.to_string());
            false
        }
    }
}

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn until_both_tunnels(agent: &Arc<dyn IpsecAgent>) {
    let end = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let s = agent.snapshot();
        if s.da_status().0 == "ConnectedRemotely"
            && Tunnel::ALL.iter().all(|t| s.installed(*t).is_some())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the two tunnels did not come up: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tunnels_carry_the_traffic_through_esp_and_the_views_show_them() {
    if !runnable("two_tunnels_carry_the_traffic_through_esp_and_the_views_show_them") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = Lab::start(LabConfig {
        clients: 1,
        ipsec: true,
        ..LabConfig::default()
    })
    .await
    .expect("the IPsec lab starts");
    let x = lab.ipsec().expect("an IPsec side");
    let ns = x.server_namespace().to_string();
    assert!(namespaces().contains(&ns));
    lab.wait_all_active(Duration::from_secs(20))
        .await
        .expect("the IP-HTTPS tunnel is up");
    let agent = lab.fleet().ipsec(1).expect("client 1's IPsec");
    until_both_tunnels(&agent).await;

    // Windows' views, from charon through vici
    let mut session = Session::default();
    let qm = lab
        .run(Some(1), "Get-NetIPsecQuickModeSA", &mut session)
        .await
        .unwrap();
    let rows = qm.value.as_array().expect("rows").clone();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let names: Vec<&str> = rows.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"DirectAccess Policy-ClientToDnsDc"),
        "{names:?}"
    );
    assert!(
        names.contains(&"DirectAccess Policy-ClientToCorp"),
        "{names:?}"
    );
    for r in &rows {
        assert_eq!(r["CipherAlgorithm"], "AES_GCM_16-128");
        assert_eq!(r["EncapsulationMode"], "TUNNEL-in-UDP");
    }
    let text = qm.to_text();
    assert!(text.contains("RemoteEndpoint"), "{text}");
    assert!(text.contains("2001:db8:1::/64"), "{text}");
    let mm = lab
        .run(Some(1), "Get-NetIPsecMainModeSA", &mut session)
        .await
        .unwrap();
    let m = &mm.value[0];
    assert_eq!(m["RemoteEndpoint"], x.addresses().endpoint.to_string());
    assert_eq!(m["RemoteFirstId.Identity"], "da.contoso.com");
    assert_eq!(m["LocalFirstId.AuthenticationMethod"], "MachineCert");
    assert_eq!(m["State"], "ESTABLISHED");
    let da = lab
        .run(Some(1), "Get-DAConnectionStatus", &mut session)
        .await
        .unwrap();
    assert_eq!(da.value["Status"], "ConnectedRemotely");

    // traffic to the intranet goes through the intranet tunnel's ESP
    let a = *x.addresses();
    let (in0, out0) = x.packets(0, Tunnel::Intranet).await.unwrap();
    for _ in 0..3 {
        let rtt = x
            .ping(0, a.application, 56, Duration::from_secs(3))
            .await
            .unwrap();
        assert!(rtt.is_some(), "the application server answers");
    }
    let (in1, out1) = x.packets(0, Tunnel::Intranet).await.unwrap();
    assert!(
        in1 >= in0 + 3 && out1 >= out0 + 3,
        "ESP counters: in {in0}->{in1}, out {out0}->{out1}"
    );

    // the intranet tunnel down: the infrastructure tunnel still carries its traffic
    lab.run(
        Some(1),
        "Disable-NetIPsecRule -DisplayName \"DirectAccess Policy-ClientToCorp\"",
        &mut session,
    )
    .await
    .unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while agent.snapshot().installed(Tunnel::Intranet).is_some() {
        assert!(tokio::time::Instant::now() < end, "the intranet SA stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        x.ping(0, a.application, 56, Duration::from_secs(2))
            .await
            .unwrap()
            .is_none(),
        "without the intranet tunnel nothing reaches the application server"
    );
    let (i0, _) = x.packets(0, Tunnel::Infrastructure).await.unwrap();
    assert!(
        x.ping(0, a.infrastructure, 56, Duration::from_secs(3))
            .await
            .unwrap()
            .is_some(),
        "the infrastructure server answers"
    );
    let (i1, _) = x.packets(0, Tunnel::Infrastructure).await.unwrap();
    assert!(i1 > i0, "through the infrastructure tunnel: {i0}->{i1}");
    let rules = lab
        .run(Some(1), "Get-NetIPsecRule", &mut session)
        .await
        .unwrap();
    assert_eq!(rules.value[1]["Enabled"], "False");
    // a bad rule name changes nothing
    assert!(
        lab.run(
            Some(1),
            "Enable-NetIPsecRule -DisplayName \"DirectAccess Policy-Nothing\"",
            &mut session
        )
        .await
        .is_err()
    );
    assert!(!agent.snapshot().enabled[1]);

    drop(x);
    lab.shutdown().await;
    assert!(
        !namespaces().contains(&ns),
        "the namespaces are removed: {}",
        namespaces()
    );
}

#[tokio::test]
async fn the_views_say_when_no_ipsec_runs() {
    let lab = Lab::start(LabConfig {
        clients: 1,
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let mut session = Session::default();
    let e = lab
        .run(Some(1), "Get-NetIPsecQuickModeSA", &mut session)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--ipsec"), "{e}");
    lab.shutdown().await;
}

fn shipped(file: &str) -> Scenario {
    let path = common::shipped_scenarios().join("ipsec").join(file);
    scenario::load(&path).expect("a shipped scenario loads")
}

fn opts() -> RunOptions {
    RunOptions {
        jobs: 1,
        ..common::suite_options()
    }
}

/// `file` with the steps named in `keep` (in order), then `target`: the target must fail
/// because of `because`.
async fn must_fail(file: &str, healthy: bool, keep: &[&str], target: &str, because: &str) {
    let mut s = shipped(file);
    if healthy {
        s.faults.clear();
    }
    let steps = std::mem::take(&mut s.steps);
    for name in keep.iter().chain([&target]) {
        let step = steps
            .iter()
            .find(|p| p.name == *name)
            .unwrap_or_else(|| panic!("{file} has a step '{name}'"))
            .clone();
        s.steps.push(step);
    }
    let r = runner::run_scenario(&s, &opts()).await;
    assert!(!r.passed, "{file}: '{target}' passed where it must fail");
    assert_eq!(r.failed_step.as_deref(), Some(target), "{r:?}");
    let m = r.message.unwrap_or_default();
    assert!(m.contains(because), "{file}: {m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipsec_scenarios_negative_steps_fail_where_the_behaviour_is_there() {
    if !runnable("the_ipsec_scenarios_negative_steps_fail_where_the_behaviour_is_there") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    // without the fault the SAs come up and the intranet answers through them
    must_fail(
        "fault-ipsec-cert-expired.toml",
        true,
        &["the IP-HTTPS tunnel itself stays up"],
        "IKE fails, for IKE's own reason",
        "expected Get-DAConnectionStatus Error",
    )
    .await;
    must_fail(
        "fault-ipsec-cert-no-client-auth.toml",
        true,
        &[
            "the IP-HTTPS tunnel itself stays up",
            "the clients' charons take the new certificate: both tunnels come up",
        ],
        "the intranet does not answer: nothing reaches it without IPsec",
        "expected no reply",
    )
    .await;
    // the intranet tunnel's rule left enabled: the intranet answers client 1
    must_fail(
        "00-two-tunnels.toml",
        false,
        &["both IPsec tunnels come up on every client"],
        "without the intranet tunnel, the intranet does not answer client 1",
        "expected no reply",
    )
    .await;
    // with the fault, nothing goes through the intranet tunnel: `through` sees it
    must_fail(
        "fault-ipsec-cert-wrong-root.toml",
        false,
        &["the IP-HTTPS tunnel itself stays up"],
        "the intranet answers every client, through the intranet tunnel",
        "through the intranet tunnel",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_ipsec_measures_iperf3_through_esp_inside_the_tunnel() {
    if !runnable("bench_ipsec_measures_iperf3_through_esp_inside_the_tunnel") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let r = tokio::task::spawn_blocking(|| common::bench_report(&["--ipsec", "--duration", "1"]))
        .await
        .unwrap();
    let aes = &r["suites"][0];
    assert_eq!(aes["suites"], "aes_gcm", "{r}");
    for k in ["upload_mbps", "download_mbps"] {
        assert!(aes[k].as_f64().unwrap() > 1.0, "{k}: {r}");
    }
    for k in ["client_cpu_s_per_gb_upload", "server_cpu_s_per_gb_download"] {
        assert!(aes[k].as_f64().unwrap() > 0.0, "{k}: {r}");
    }
    // the bytes went through the intranet tunnel's ESP, not around it
    assert!(aes["esp_bytes_out"].as_u64().unwrap() > 1_000_000, "{r}");
    // a default build says why it measured no NULL suites; a null-cipher build measures them
    if cfg!(feature = "null-cipher") {
        assert_eq!(r["suites"][1]["suites"], "null", "{r}");
        assert_eq!(r["figures"].as_array().unwrap().len(), 6, "{r}");
    } else {
        assert!(r["note"].as_str().unwrap().contains("null-cipher"), "{r}");
    }
    assert!(
        !namespaces().contains("iphp-"),
        "its namespaces are removed: {}",
        namespaces()
    );
}
