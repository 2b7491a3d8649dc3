//! The measurements behind `iphttps bench` work end to end (no timing is asserted: speed
//! belongs in benches/ and `iphttps bench`), and `--json` has the documented shape.

mod common;

use std::process::Command;

use iphttps_harness::perf::{self, Direction};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transfer_and_its_baseline_move_all_the_bytes() {
    for dir in [
        Direction::Upload,
        Direction::Download,
        Direction::ClientToClient,
    ] {
        perf::tunnel_transfer(dir, 1 << 20, 1280)
            .await
            .unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        perf::bare_transfer(dir, 1 << 20, 1280)
            .await
            .unwrap_or_else(|e| panic!("{dir:?} baseline: {e}"));
    }
    assert_eq!(perf::tunnel_rtts(5).await.unwrap().len(), 5);
    assert_eq!(perf::bare_rtts(5).await.unwrap().len(), 5);
    // many streams at once, and setup to "ready", on both sides
    let tunnel = perf::Tunnel::start().await.unwrap();
    let bare = perf::Bare::start().await.unwrap();
    tunnel.upload(4, 1 << 20, 1280).await.unwrap();
    bare.upload(4, 1 << 20, 1280).await.unwrap();
    tunnel.setup(5).await.unwrap();
    bare.setup(5).await.unwrap();
    // the intranet host counted every packet of the four tunnels (and nothing is left
    // over from them): the clock stopped on arrival, not on the last write
    let before = tunnel.lab().server.intranet_stats().discarded_packets;
    tunnel.upload(2, 2 * 1280 * 10, 1280).await.unwrap();
    assert_eq!(
        tunnel.lab().server.intranet_stats().discarded_packets - before,
        20
    );
    tunnel.shutdown().await;
}

#[test]
fn bench_json_has_machine_and_figures_with_ratios() {
    let v = common::bench_json("tunnel_latency");
    assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(!v["machine"]["cpu"].as_str().unwrap().is_empty());
    let figs = v["figures"].as_array().unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["tunnel_latency_p50", "tunnel_latency_p99"]);
    for f in figs {
        for key in [
            "name",
            "unit",
            "value",
            "baseline",
            "ratio",
            "ratio_low",
            "ratio_high",
            "noisy",
            "baseline_suspect",
            "pairs",
        ] {
            assert!(f.get(key).is_some(), "{key}");
        }
        // the default is five interleaved pairs; the figure is their median
        assert_eq!(f["pairs"], 5);
        let (low, high) = (
            f["ratio_low"].as_f64().unwrap(),
            f["ratio_high"].as_f64().unwrap(),
        );
        assert!(low > 0.0 && low <= high);
        assert_eq!(f["noisy"], high > low * 1.25);
        let (value, baseline) = (
            f["value"].as_f64().unwrap(),
            f["baseline"].as_f64().unwrap(),
        );
        // a time the tunnel cannot beat: when it does, the ratio is withheld
        assert_eq!(f["baseline_suspect"], value < baseline);
        match f["ratio"].as_f64() {
            Some(r) => assert!(low <= r && r <= high, "{r} outside {low}-{high}"),
            None => assert_eq!(f["baseline_suspect"], true),
        }
        // what the hypervisor took from the machine meanwhile: a share, where Linux says
        if cfg!(target_os = "linux") {
            let stolen = f["stolen"].as_f64().expect("stolen");
            assert!((0.0..=1.0).contains(&stolen), "{stolen}");
        } else {
            assert!(f["stolen"].is_null());
        }
    }
}

#[test]
fn bench_clients_reports_linkup_time_and_memory_per_client() {
    let v = common::bench_report(&["--clients", "20"]);
    let names: Vec<&str> = v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"clients_linkup_seconds"));
    if cfg!(target_os = "linux") {
        assert!(names.contains(&"server_rss_per_client_kib"));
    }
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(names.contains(&"server_heap_per_client_kib"));
        // and where it goes, part by part
        for part in [
            "tls_session",
            "read_room",
            "client_queue",
            "router_entry",
            "rest",
        ] {
            let name = format!("server_heap_{part}_kib");
            assert!(names.contains(&name.as_str()), "{name} in {names:?}");
        }
    }
    assert!(v["figures"][0]["baseline"].is_null());
}

/// `bench --peers` (Linux, root, the peers' packages): every path carries iperf3 both
/// ways and answers pings, and nothing of the run is left behind. A short run: speed is
/// not asserted.
#[cfg(target_os = "linux")]
#[test]
fn bench_peers_measures_every_path_and_removes_its_namespaces() {
    if let Err(e) = iphttps_harness::peers::check() {
        return common::skip(
            "bench_peers_measures_every_path_and_removes_its_namespaces",
            &e.to_string(),
        );
    }
    let v = common::bench_report(&["--peers", "--duration", "1"]);
    let paths = v["paths"].as_array().unwrap();
    let names: Vec<&str> = paths.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["veth", "iphttps", "ocserv", "wireguard_go"]);
    for p in paths {
        for key in ["upload_mbps", "download_mbps", "ping_p50_ms"] {
            assert!(p[key].as_f64().unwrap() > 0.0, "{key} of {p}");
        }
        // what the hypervisor took during this path's iperf3 tests, a share
        let stolen = p["stolen"].as_f64().expect("stolen");
        assert!((0.0..=1.0).contains(&stolen), "{p}");
    }
    // the tunnels run at the link MTU the issue names (ocserv takes its overhead off it)
    assert_eq!(paths[1]["mtu"], 1280, "{}", paths[1]);
    assert_eq!(paths[3]["mtu"], 1280, "{}", paths[3]);
    let figures = v["figures"].as_array().unwrap();
    let ocserv = figures
        .iter()
        .find(|f| f["name"] == "peers_upload_vs_ocserv")
        .expect("iphttps beside ocserv");
    assert!(ocserv["ratio"].as_f64().unwrap() > 0.0);
    assert!((0.0..=1.0).contains(&ocserv["stolen"].as_f64().expect("stolen")));
    assert!(v["machine"]["cpu"].is_string());
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(iphttps_harness::peers::netns::PREFIX),
        "namespaces left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// Without the peers' tools `bench --peers` names what is missing and how to install it.
#[cfg(target_os = "linux")]
#[test]
fn bench_peers_names_the_missing_tools() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iphttps"))
        .args(["bench", "--peers"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // as root the tools are what is missing; otherwise root is
    assert!(
        err.contains("needs root") || (err.contains("iperf3") && err.contains("apt-get install")),
        "{err}"
    );
}
