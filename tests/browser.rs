//! What a person sees, in a real browser: the web console of a lab with a fault and the
//! HTML report of a run with a failing scenario, loaded in headless Chromium (Debian's
//! `chromium`, which `.ci/run` installs), checked from the DOM Chromium rendered after
//! the page's own scripts ran, and kept as screenshots in
//! `target/test-artifacts/browser/` (with `IPHTTPS_SCREENSHOTS=DIR`, also copied to DIR:
//! that is how the README's pictures are made).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{WAIT, skip};
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_harness::report::html::{self, RunInfo};
use iphttps_harness::runner::{self, RunOptions};
use iphttps_harness::scenario;
use iphttps_sim::api;
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::fault::Fault;

/// The Chromium binary, if one is installed.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            let ok = Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            ok.then(|| PathBuf::from(name))
        })
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium with `args` on `url`: what it printed. The page's scripts get a
/// few seconds of time to fetch and render.
fn headless(bin: &Path, url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rendered DOM of `url`, and a screenshot of it in the artifacts as `name`.
fn look(bin: &Path, url: &str, name: &str, height: u32) -> String {
    let shot = artifacts().join(name);
    headless(
        bin,
        url,
        &[
            &format!("--window-size=1280,{height}"),
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot of {url}"
    );
    if let Ok(dir) = std::env::var("IPHTTPS_SCREENSHOTS") {
        std::fs::copy(&shot, Path::new(&dir).join(name)).unwrap();
    }
    headless(bin, url, &["--dump-dom"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_fault_as_the_remote_access_console_does() {
    let Some(bin) = chromium() else {
        skip("the console in Chromium", "chromium is not installed");
        return;
    };
    let lab = Arc::new(
        Lab::start(LabConfig {
            clients: 1,
            deployment: DeploymentConfig {
                faults: vec![Fault::RouteNotPublished],
                ..DeploymentConfig::default()
            },
            ..LabConfig::default()
        })
        .await
        .unwrap(),
    );
    lab.client(0)
        .wait_until(WAIT, |s| s.router_advert.is_some())
        .await
        .unwrap();
    let ctl = api::serve(lab.clone(), "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let url = format!("http://{}/", ctl.local_addr());
    let dom = tokio::task::spawn_blocking(move || look(&bin, &url, "console.png", 900))
        .await
        .unwrap();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page rendered: {dom}"
    );
    // the Dashboard: IP-HTTPS in Error, the roll-up too, the others OK
    assert!(
        dom.contains("data-component=\"IP-HTTPS\" data-state=\"Error\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-component=\"Server\" data-state=\"Error\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-component=\"Services\" data-state=\"OK\""),
        "{dom}"
    );
    // the details pane, selected on the component in Error, in the console's words
    assert!(
        dom.contains(
            "data-field=\"Error\">The IP-HTTPS route does not have published property enabled."
        ),
        "{dom}"
    );
    assert!(dom.contains("data-field=\"Resolution\">"), "{dom}");
    // a Remote Client Status row with the client's address and cipher suite
    let link_local = lab.client(0).status().link_local.unwrap();
    assert!(dom.contains("class=\"client\""), "{dom}");
    assert!(dom.contains(&link_local.to_string()), "{dom}");
    assert!(dom.contains("TLS13_AES_256_GCM_SHA384"), "{dom}");
    // the fault in force, with a Clear button, and the counters
    assert!(dom.contains("route-not-published"), "{dom}");
    assert!(dom.contains("Tunnels established"), "{dom}");
    // when Operations Status was evaluated, from the deployment's clock
    assert!(!dom.contains("id=\"evaluated\">-<"), "{dom}");
    // another component selected (as a click does): its details instead
    let url = format!("http://{}/#component=Services", ctl.local_addr());
    let bin = chromium().unwrap();
    let dom = tokio::task::spawn_blocking(move || headless(&bin, &url, &["--dump-dom"]))
        .await
        .unwrap();
    assert!(dom.contains("id=\"details-name\">Services<"), "{dom}");
    assert!(dom.contains("This component is working properly."), "{dom}");
    assert!(!dom.contains("data-field=\"Causes\""), "{dom}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_of_an_endpoint_with_a_token_asks_for_it() {
    let Some(bin) = chromium() else {
        skip("the console in Chromium", "chromium is not installed");
        return;
    };
    let lab = Arc::new(
        Lab::start(LabConfig {
            clients: 0,
            ..LabConfig::default()
        })
        .await
        .unwrap(),
    );
    let ctl = api::serve(
        lab.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Some("s3cret".into()),
    )
    .await
    .unwrap();
    let url = format!("http://{}/", ctl.local_addr());
    let dom = tokio::task::spawn_blocking(move || headless(&bin, &url, &["--dump-dom"]))
        .await
        .unwrap();
    // the page is served, but without the token it shows nothing of the deployment
    assert!(dom.contains("The admin endpoint asks for a token"), "{dom}");
    assert!(!dom.contains("data-loaded=\"true\""), "{dom}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_shows_the_failing_step() {
    let Some(bin) = chromium() else {
        skip("the HTML report in Chromium", "chromium is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let failing = scenario::parse(
        Path::new("untrusted.toml"),
        "name = \"clients that do not trust the root\"\nfaults = [\"untrusted-root\"]\n\
         [clients]\ncount = 2\n\
         [[step]]\nname = \"up\"\ndeadline = \"3s\"\nexpect = { state = \"LinkUp\" }\n",
    )
    .unwrap();
    let passing = scenario::parse(
        Path::new("healthy.toml"),
        "name = \"a healthy lab\"\n[[step]]\nname = \"up\"\nexpect = { state = \"LinkUp\", global_address = true }\n\
         [[step]]\nname = \"the intranet answers\"\nping = { from = 1, to = \"intranet\" }\n",
    )
    .unwrap();
    let opts = RunOptions {
        jobs: 2,
        artifacts: Some(dir.path().join("artifacts")),
        ..RunOptions::default()
    };
    let results = runner::run_all(vec![failing, passing], &opts, |_, _, _| {}).await;
    let page = dir.path().join("report.html");
    let info = RunInfo::here(&page, opts.artifacts.clone());
    std::fs::write(&page, html::render(&results, &info)).unwrap();
    let url = format!("file://{}", page.display());
    let dom = tokio::task::spawn_blocking(move || look(&bin, &url, "report.png", 1100))
        .await
        .unwrap();
    assert!(dom.contains("id=\"failed\">1 failed"), "{dom}");
    assert!(dom.contains("id=\"passed\">1 passed"), "{dom}");
    // the failing step, with expected and seen side by side
    assert!(
        dom.contains("failed at step: <span class=\"step\">up</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<h4>expected</h4><pre>state LinkUp</pre>"),
        "{dom}"
    );
    assert!(dom.contains("Last Error Code 0x800b0109"), "{dom}");
    // each client's states over time, the codes it showed, Operations Status at the failure
    assert!(dom.contains("data-client=\"2\""), "{dom}");
    assert!(dom.contains("class=\"seg LinkDown\""), "{dom}");
    assert!(dom.contains("Operations Status at the failure"), "{dom}");
    // links to the artifacts, relative to the page
    assert!(
        dom.contains("href=\"artifacts/clients-that-do-not-trust-the-root.pcap\""),
        "{dom}"
    );
    // the passing scenario is there, collapsed
    assert!(dom.contains("a healthy lab"), "{dom}");
}
