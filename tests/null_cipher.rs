//! The NULL-encryption suites over the OpenSSL backend (feature `null-cipher`): interop
//! with OpenSSL's own tools, the IPv6 packets in clear inside the TLS records when NULL
//! is negotiated (and not otherwise), the Windows rules that turn NULL off, and the
//! 0x80090326 of a NULL-only client against a server without NULL suites.
#![cfg(feature = "null-cipher")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::WAIT;
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_sim::client::{self, ClientConfig, ClientState, IphttpsUrl};
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::pki::files;
use iphttps_sim::tls::NullCipher;
use iphttps_sim::winerr::LastErrorCode;
use iphttps_sim::wire::deframe::Deframer;
use iphttps_sim::wire::ipv6::Ipv6Packet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NULL_SHA256: &str = "TLS_RSA_WITH_NULL_SHA256";

async fn null_lab(clients: usize) -> Lab {
    Lab::start(LabConfig {
        clients,
        deployment: DeploymentConfig {
            null_cipher: true,
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .unwrap()
}

/// One more lab client offering the NULL suites per `mode`.
fn client_with(lab: &Lab, mode: NullCipher) -> Arc<client::ClientHandle> {
    lab.client(lab.add_client(|c| c.null_cipher = mode).unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn openssl_s_client_with_null_sha256_gets_its_200() {
    let pki = tempfile::tempdir().unwrap();
    let served = common::serve(pki.path(), &["--null-cipher"]);
    let mut s_client = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", served.port))
        .args([
            "-servername",
            "da.contoso.com",
            "-tls1_2",
            "-cipher",
            "NULL-SHA256@SECLEVEL=0",
            "-ign_eof",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    let mut stdin = s_client.stdin.take().unwrap();
    stdin
        .write_all(&iphttps_sim::wire::head::request(
            "/IPHTTPS",
            "da.contoso.com",
        ))
        .unwrap();
    stdin.flush().unwrap();
    let mut out = BufReader::new(s_client.stdout.take().unwrap());
    let mut seen = Vec::new();
    let got_200 = loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap() == 0 {
            break false;
        }
        seen.push(l.trim_end().to_string());
        if l.starts_with("HTTP/1.1 200 OK") {
            break true;
        }
    };
    let _ = s_client.kill();
    let _ = s_client.wait();
    assert!(got_200, "no 200: {seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("Cipher is NULL-SHA256") || l.contains("Cipher    : NULL-SHA256")),
        "{seen:#?}"
    );
    assert!(
        served
            .banner
            .iter()
            .any(|l| l.contains("TLS_RSA_WITH_NULL_SHA256")),
        "{:?}",
        served.banner
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_null_only_completes_against_openssl_s_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = common::test_pki();
    iphttps_sim::tls::openssl::rsa_server_key(
        &mut pki,
        "da.contoso.com",
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    pki.write(dir.path()).unwrap();
    let port = free_port();
    let mut s_server = Command::new("openssl")
        .args(["s_server", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.path().join(files::SERVER))
        .arg("-cert_chain")
        .arg(dir.path().join(files::INTERMEDIATE_CA))
        .arg("-key")
        .arg(dir.path().join(files::SERVER_KEY))
        .args(["-tls1_2", "-cipher", "NULL-SHA256:NULL-SHA@SECLEVEL=0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    let mut out = BufReader::new(s_server.stdout.take().unwrap());
    let mut stdin = s_server.stdin.take().unwrap();
    let mut l = String::new();
    while !l.starts_with("ACCEPT") {
        l.clear();
        assert!(out.read_line(&mut l).unwrap() > 0, "s_server ended");
    }
    let url: IphttpsUrl = format!("https://da.contoso.com:{port}/IPHTTPS")
        .parse()
        .unwrap();
    let mut cfg = ClientConfig::new(url, pki.root_ca.clone());
    cfg.resolve = vec![("da.contoso.com".into(), "127.0.0.1".parse().unwrap())];
    cfg.system_dns = false;
    cfg.null_cipher = NullCipher::Only;
    let c = client::start(cfg).unwrap();
    // s_server shows the suite and our POST; answer it as an IP-HTTPS server would
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut l = String::new();
        while out.read_line(&mut l).unwrap_or(0) > 0 {
            seen.push(l.trim_end().to_string());
            if l.starts_with("POST /IPHTTPS HTTP/1.1") {
                stdin
                    .write_all(b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\n\r\n")
                    .unwrap();
                stdin.flush().unwrap();
                return (seen, stdin);
            }
            l.clear();
        }
        panic!("s_server never saw the POST: {seen:#?}");
    });
    let st = c
        .wait_until(WAIT, |s| s.state == ClientState::LinkUp)
        .await
        .unwrap();
    assert_eq!(st.cipher_suite.as_deref(), Some(NULL_SHA256));
    assert_eq!(st.last_error, LastErrorCode::SUCCESS);
    let (seen, _stdin) = reader.join().unwrap();
    assert!(
        seen.iter().any(|l| l.contains("NULL-SHA256")),
        "s_server's view of the suite: {seen:#?}"
    );
    c.shutdown().await;
    let _ = s_server.kill();
    let _ = s_server.wait();
}

/// A TCP relay that records what the server sends toward the client.
async fn recording_relay(server: SocketAddr) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        let (mut down, _) = listener.accept().await.unwrap();
        let mut up = tokio::net::TcpStream::connect(server).await.unwrap();
        let (mut dr, mut dw) = down.split();
        let (mut ur, mut uw) = up.split();
        let to_server = tokio::io::copy(&mut dr, &mut uw);
        let to_client = async {
            let mut buf = vec![0u8; 65536];
            loop {
                let n = ur.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                rec.lock().unwrap().extend_from_slice(&buf[..n]);
                if dw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::join!(to_server, to_client);
    });
    (port, seen)
}

/// The payloads of the TLS application-data records in `stream`.
fn application_records(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= stream.len() {
        let kind = stream[i];
        let len = usize::from(u16::from_be_bytes([stream[i + 3], stream[i + 4]]));
        if i + 5 + len > stream.len() {
            break;
        }
        if kind == 23 {
            out.push(stream[i + 5..i + 5 + len].to_vec());
        }
        i += 5 + len;
    }
    out
}

/// Runs one client through a recording relay, pings the intranet host, and returns the
/// negotiated suite and the server-to-client bytes.
async fn captured(mode: NullCipher) -> (String, Vec<u8>) {
    let lab = null_lab(0).await;
    let (port, seen) = recording_relay(lab.server.local_addr()).await;
    let i = lab
        .add_client(|c| {
            c.url.port = port;
            c.null_cipher = mode;
        })
        .unwrap();
    let c = lab.client(i);
    let st = c.wait_active(WAIT).await.unwrap();
    c.ping(lab.server.intranet_address(), 200, WAIT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    lab.shutdown().await;
    let bytes = seen.lock().unwrap().clone();
    (st.cipher_suite.unwrap(), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_null_the_ipv6_packets_are_in_clear_inside_the_records() {
    let (suite, stream) = captured(NullCipher::Prefer).await;
    assert_eq!(suite, NULL_SHA256);
    // NULL-SHA256: each record is the plaintext followed by its 32-byte HMAC-SHA256
    let mut plain = Vec::new();
    for r in application_records(&stream) {
        plain.extend_from_slice(&r[..r.len() - 32]);
    }
    let head_end = plain
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the HTTP head is in clear")
        + 4;
    assert!(plain.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let mut d = Deframer::with_initial(1280, &plain[head_end..]);
    let mut packets = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        packets.push(p);
    }
    let intranet: std::net::Ipv6Addr = "2001:db8:1::10".parse().unwrap();
    assert!(
        packets
            .iter()
            .any(|p| Ipv6Packet::new(p)
                .is_some_and(|p| p.src() == intranet && p.next_header() == 58)),
        "the intranet host's Echo Reply is readable in the capture ({} packets)",
        packets.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_aes_gcm_the_records_are_opaque() {
    let (suite, stream) = captured(NullCipher::Off).await;
    assert!(suite.contains("AES"), "{suite}");
    let all: Vec<u8> = application_records(&stream).concat();
    assert!(!all.is_empty());
    assert!(
        !all.windows(8).any(|w| w == b"HTTP/1.1"),
        "no HTTP head in clear"
    );
    let intranet = "2001:db8:1::10"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    assert!(
        !all.windows(16).any(|w| w == intranet),
        "no IPv6 address in clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_only_client_fails_after_its_client_hello_without_null_suites() {
    // the default server (rustls) has no NULL suites: a TLS-offloading front end without them
    let lab = Lab::start(LabConfig {
        clients: 0,
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let c = client_with(&lab, NullCipher::Only);
    let st = c.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
    assert_eq!(st.last_error, LastErrorCode(0x80090326));
    assert_eq!(
        st.interface_status,
        "Failed to connect to the IPHTTPS server. Waiting to reconnect"
    );
    // a Windows 8 client (prefer) falls back to an encrypting suite
    let ok = client_with(&lab, NullCipher::Prefer);
    let st = ok.wait_active(WAIT).await.unwrap();
    assert!(st.cipher_suite.unwrap().contains("AES"));
    lab.shutdown().await;
}

/// Restarts the server and waits for `c` to be back with an address on a new tunnel.
async fn reconnect(lab: &Lab, c: &client::ClientHandle) -> iphttps_sim::client::ClientStatus {
    let before = c.status().connects;
    lab.restart_server(Duration::from_millis(50)).await;
    c.wait_until(WAIT, |s| s.connects > before && s.global.is_some())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_sstp_and_fips_turn_null_off_for_every_client() {
    let lab = null_lab(0).await;
    let prefer = client_with(&lab, NullCipher::Prefer);
    let win7 = lab.client(lab.add_client(|_| {}).unwrap());
    assert_eq!(
        prefer
            .wait_active(WAIT)
            .await
            .unwrap()
            .cipher_suite
            .as_deref(),
        Some(NULL_SHA256)
    );
    assert!(
        win7.wait_active(WAIT)
            .await
            .unwrap()
            .cipher_suite
            .unwrap()
            .contains("AES"),
        "a client that offers no NULL suite gets AES-GCM"
    );
    for (on, off) in [
        ("Enable-DAOtpAuthentication", "Disable-DAOtpAuthentication"),
        (
            "Install-RemoteAccess -VpnType Vpn",
            "Uninstall-RemoteAccess -VpnType Vpn -Force",
        ),
        (
            r"Set-ItemProperty -Path HKLM:\System\CurrentControlSet\Control\Lsa\FipsAlgorithmPolicy -Name Enabled -Value 1",
            r"Set-ItemProperty -Path HKLM:\System\CurrentControlSet\Control\Lsa\FipsAlgorithmPolicy -Name Enabled -Value 0",
        ),
    ] {
        let mut s = iphttps_sim::windows::command::Session::default();
        lab.run(None, on, &mut s).await.unwrap();
        let shown = lab
            .run(None, "Get-RemoteAccess", &mut s)
            .await
            .unwrap()
            .to_text();
        assert!(shown.contains("Disabled: "), "{on}: {shown}");
        // the setting applies to new tunnels: the server restarts, every client reconnects
        let st = reconnect(&lab, &prefer).await;
        assert!(
            st.cipher_suite
                .as_deref()
                .is_some_and(|c| c.contains("AES")),
            "{on}: the Windows 8 client falls back to an encrypting suite: {st:?}"
        );
        let only = client_with(&lab, NullCipher::Only);
        let st = only.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
        assert_eq!(st.last_error, LastErrorCode(0x80090326), "{on}");
        only.shutdown().await;
        lab.run(None, off, &mut s).await.unwrap();
        let st = reconnect(&lab, &prefer).await;
        assert_eq!(st.cipher_suite.as_deref(), Some(NULL_SHA256), "{off}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_suite_of_each_tunnel() {
    let lab = null_lab(0).await;
    let c = client_with(&lab, NullCipher::Prefer);
    c.wait_active(WAIT).await.unwrap();
    let snap = lab.server.snapshot();
    assert_eq!(snap.clients.len(), 1);
    assert_eq!(snap.clients[0].cipher_suite, NULL_SHA256);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_null_and_aes_gcm_measurements_move_all_the_bytes_with_their_suites() {
    use iphttps_harness::perf::null::null_transfer;
    let n = null_transfer(NullCipher::Prefer, 4 << 20, 1280)
        .await
        .unwrap();
    assert_eq!(n.suite, NULL_SHA256);
    let a = null_transfer(NullCipher::Off, 4 << 20, 1280).await.unwrap();
    assert!(a.suite.contains("AES_256_GCM"), "{}", a.suite);
    #[cfg(target_os = "linux")]
    assert!(n.client_cpu.is_some() && n.server_cpu.is_some());
}

#[test]
fn bench_reports_null_beside_its_aes_gcm_baseline() {
    let v = common::bench_json("tunnel_throughput_null");
    let names: Vec<&str> = v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tunnel_throughput_null",
            "cpu_per_gb_null_client",
            "cpu_per_gb_null_server"
        ]
    );
    for f in v["figures"].as_array().unwrap() {
        assert!(f["baseline"].as_f64().unwrap() > 0.0, "{f}");
    }
}

fn probe_json(served: &common::Served, pki: &std::path::Path, mode: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_iphttps"))
        .arg("probe")
        .arg(format!("https://da.contoso.com:{}/IPHTTPS", served.port))
        .args(["--resolve", "da.contoso.com:127.0.0.1", "--json"])
        .arg("--ca")
        .arg(pki.join(files::ROOT_CA))
        .args(["--null-cipher", mode])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn probe_reports_the_negotiated_null_suite_and_the_front_end_failure() {
    let pki = tempfile::tempdir().unwrap();
    let served = common::serve(pki.path(), &["--null-cipher"]);
    let v = probe_json(&served, pki.path(), "prefer");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["tls"]["cipher_suite"], NULL_SHA256);
    assert_eq!(v["tls"]["protocol"], "TLSv1_2");
    assert_eq!(v["tls"]["trusted"], true);

    // a server without NULL suites (rustls) and a NULL-only client: 0x80090326
    let pki = tempfile::tempdir().unwrap();
    let served = common::serve(pki.path(), &[]);
    let v = probe_json(&served, pki.path(), "only");
    assert_eq!(v["ok"], false);
    assert_eq!(v["verdict"]["last_error_code"], "0x80090326");
    let failed = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ok"] == false)
        .unwrap();
    assert_eq!(failed["name"], "TLS handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_status_shows_null_encryption_and_the_clients_suites() {
    let lab = null_lab(0).await;
    let c = client_with(&lab, NullCipher::Prefer);
    c.wait_active(WAIT).await.unwrap();
    let ops = lab.operations_status().await;
    assert!(ops.encryption.null.starts_with("offered"), "{ops:?}");
    assert_eq!(ops.encryption.clients_by_suite.get(NULL_SHA256), Some(&1));
    let text = iphttps_sim::windows::views::operations_status(&ops);
    assert!(
        text.contains("1 client(s) on TLS_RSA_WITH_NULL_SHA256"),
        "{text}"
    );
    let mut s = iphttps_sim::windows::command::Session::default();
    lab.run(None, "Enable-DAOtpAuthentication", &mut s)
        .await
        .unwrap();
    let ops = lab.refresh_operations_status().await;
    assert_eq!(
        ops.encryption.null,
        "not offered: OTP authentication is enabled"
    );
    lab.shutdown().await;
}

/// The shipped NULL-cipher scenarios (`scenarios/null-cipher/`, which only a build with
/// this feature loads) pass on loopback and simulated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_null_cipher_scenarios_pass_in_both_modes() {
    use iphttps_harness::runner::{self, RunOptions};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/null-cipher");
    let all = iphttps_harness::suite::load(&[dir]).expect("they load in this build");
    assert!(all.len() >= 2);
    for simulated in [false, true] {
        let opts = RunOptions {
            jobs: 2,
            simulated,
            ..RunOptions::default()
        };
        for r in runner::run_all(all.clone(), &opts, |_, _, _| {}).await {
            assert!(r.passed, "simulated {simulated}: {}: {}", r.name, r.log);
        }
    }
}
