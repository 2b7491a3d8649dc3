//! Clients behind web proxies ([MS-IPHTTPS] 3.1.5.1): through Debian's tinyproxy (a real
//! proxy, with and without Basic authentication; the test starts its own instance on an
//! ephemeral loopback port), and through the lab's built-in proxy that refuses the
//! tunnel or demands authentication, with the Last Error Code the client shows.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::WAIT;
use iphttps_harness::fixtures::web_proxy::{LAB_PASSWORD, LAB_USER, ProxyMode};
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_sim::client::ProxyUrl;
use iphttps_sim::winerr::LastErrorCode;

/// A tinyproxy instance, stopped on drop.
struct Tinyproxy {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    /// Starts tinyproxy on loopback, with `BasicAuth USER PASSWORD` when given; `None`
    /// (and the reason printed) when tinyproxy is not installed.
    fn start(test: &str, auth: Option<(&str, &str)>) -> Option<Tinyproxy> {
        let installed = Command::new("tinyproxy")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            common::skip(test, "tinyproxy is not installed (.ci/run installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tinyproxy.log");
        // a free port: bind, note it, release it for tinyproxy
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nAllow 127.0.0.1\n\
             LogLevel Connect\nLogFile \"{}\"\nPidFile \"{}\"\n",
            log.display(),
            dir.path().join("tinyproxy.pid").display()
        );
        if let Some((u, p)) = auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // wait until it accepts connections
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tinyproxy did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Tinyproxy {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    fn url(&self, credentials: Option<(&str, &str)>) -> ProxyUrl {
        ProxyUrl {
            host: "127.0.0.1".into(),
            port: self.port,
            credentials: credentials.map(|(u, p)| (u.into(), p.into())),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn lab() -> Lab {
    Lab::start(LabConfig {
        clients: 0,
        ..LabConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_tinyproxy_the_tunnel_comes_up_and_carries_traffic() {
    let Some(proxy) = Tinyproxy::start("through_tinyproxy", None) else {
        return;
    };
    let lab = lab().await;
    let url = proxy.url(None);
    let i = lab.add_client(|c| c.proxy = Some(url)).unwrap();
    let client = lab.client(i);
    client.wait_active(WAIT).await.unwrap();
    client
        .ping(lab.server.intranet_address(), 1000, WAIT)
        .await
        .unwrap();
    let port = lab.server.local_addr().port();
    assert!(
        proxy
            .log()
            .contains(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1")),
        "the tunnel went through tinyproxy: {}",
        proxy.log()
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tinyproxy_basic_authentication() {
    let Some(proxy) = Tinyproxy::start("tinyproxy_basic_authentication", Some(("alice", "s3cret")))
    else {
        return;
    };
    let lab = lab().await;
    // no credentials: 407, shown as WSANO_DATA with the proxy's demand in the detail
    let url = proxy.url(None);
    let bare = lab.client(lab.add_client(|c| c.proxy = Some(url)).unwrap());
    let st = bare.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
    assert_eq!(st.last_error, LastErrorCode::NO_DATA);
    let detail = st.last_error_detail.unwrap();
    assert!(
        detail.contains("407") && detail.contains("no credentials were sent"),
        "{detail}"
    );
    // wrong password: refused as well
    let url = proxy.url(Some(("alice", "wrong")));
    let wrong = lab.client(lab.add_client(|c| c.proxy = Some(url)).unwrap());
    let st = wrong.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
    let detail = st.last_error_detail.unwrap();
    assert!(
        detail.contains("the credentials sent were refused"),
        "{detail}"
    );
    // the right ones: up
    let url = proxy.url(Some(("alice", "s3cret")));
    let good = lab.client(lab.add_client(|c| c.proxy = Some(url)).unwrap());
    good.wait_active(WAIT).await.unwrap();
    good.ping(lab.server.intranet_address(), 56, WAIT)
        .await
        .unwrap();
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_proxy_refuses_then_opens() {
    let lab = Lab::start(LabConfig {
        clients: 1,
        proxy: Some(ProxyMode::Refuses),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let c = lab.client(0);
    let st = c.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
    assert_eq!(st.last_error, LastErrorCode::NO_DATA);
    assert_eq!(
        st.interface_status,
        iphttps_sim::client::STATUS_FAILED,
        "the seed's status line"
    );
    assert!(
        st.last_error_detail
            .as_deref()
            .is_some_and(|d| d.contains("refused CONNECT: 403 Forbidden")),
        "{st:?}"
    );
    assert!(lab.proxy().unwrap().stats().refused >= 1);
    // the proxy's administrator allows the server: the client's next attempt succeeds
    lab.proxy().unwrap().set_mode(ProxyMode::Open);
    c.wait_active(WAIT).await.unwrap();
    assert!(lab.proxy().unwrap().stats().tunnels >= 1);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_proxy_demands_authentication() {
    let lab = Lab::start(LabConfig {
        clients: 1,
        proxy: ProxyMode::named("requires-auth"),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let st = lab
        .client(0)
        .wait_until(WAIT, |s| s.failures > 0)
        .await
        .unwrap();
    assert_eq!(st.last_error, LastErrorCode::NO_DATA);
    assert!(st.last_error_detail.unwrap().contains("407"));
    assert!(lab.proxy().unwrap().stats().challenged >= 1);
    // a client configured with the proxy's credentials gets through
    let url = lab
        .proxy()
        .unwrap()
        .url(Some((LAB_USER.into(), LAB_PASSWORD.into())));
    let ok = lab.client(lab.add_client(|c| c.proxy = Some(url)).unwrap());
    ok.wait_active(WAIT).await.unwrap();
    ok.ping(lab.server.intranet_address(), 56, WAIT)
        .await
        .unwrap();
    lab.shutdown().await;
}

#[test]
fn connect_proxy_on_the_command_line() {
    let Some(proxy) = Tinyproxy::start("connect_proxy_on_the_command_line", None) else {
        return;
    };
    let pki = tempfile::tempdir().unwrap();
    let served = common::serve(pki.path(), &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_iphttps"))
        .arg("connect")
        .arg(format!("https://da.contoso.com:{}/IPHTTPS", served.port))
        .arg("--ca")
        .arg(pki.path().join(iphttps_sim::pki::files::ROOT_CA))
        .args(["--resolve", "da.contoso.com:127.0.0.1", "--once"])
        .args(["--proxy", &format!("http://127.0.0.1:{}", proxy.port)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Interface Status           : IPHTTPS interface active"));
    assert!(proxy.log().contains("CONNECT 127.0.0.1:"));
}
