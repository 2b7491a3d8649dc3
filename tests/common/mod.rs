//! Helpers shared by the integration tests: a raw IP-HTTPS peer that speaks TLS and the
//! head exchange byte by byte, so tests can send what a well-behaved client would not.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use iphttps_sim::pki::Pki;
use iphttps_sim::tls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Generous bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(20);

/// Whether this run is CI's (`CI=true`, as `.ci/run` and CI systems set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `test` (or a part of it) cannot run here because `missing` is missing. Under CI, where
/// `.ci/run` installs every tool and runs as root, that fails the test naming what is
/// missing. Elsewhere the test skips, and says so on the terminal: the line is written to
/// the process's standard error directly, past the test harness's output capture, so
/// `cargo test` shows it even for a test that passes.
pub fn skip(test: &str, missing: &str) {
    assert!(
        !in_ci(),
        "{test} cannot run: {missing}; under CI nothing skips (.ci/run must provide it)"
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {missing}");
}

/// Waits until `f` holds (at most [`WAIT`]); fails the test naming `what` otherwise.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < end, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Opens TLS to `addr` as `name`, trusting `pki`'s root.
pub async fn tls_connect(addr: SocketAddr, name: &str, pki: &Pki) -> TlsStream<TcpStream> {
    let cfg = tls::client_config(&pki.root_ca, None).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    TlsConnector::from(Arc::clone(&cfg))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Reads until the end of an HTTP head (the product's own reader, any head accepted);
/// returns the head and any bytes after it.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> (Vec<u8>, Vec<u8>) {
    let read = iphttps_sim::net::read_head(
        s,
        iphttps_sim::net::Reads::Chunks,
        iphttps_sim::wire::head::unparsed,
    );
    tokio::time::timeout(WAIT, read)
        .await
        .expect("a head within the wait")
        .expect("a whole head before the stream ended")
}

/// A raw tunnel: TLS up and the 200 received.
pub async fn raw_tunnel(addr: SocketAddr, name: &str, pki: &Pki) -> TlsStream<TcpStream> {
    let mut s = tls_connect(addr, name, pki).await;
    s.write_all(&iphttps_sim::wire::head::request("/IPHTTPS", name))
        .await
        .unwrap();
    let (head, _) = read_head(&mut s).await;
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    s
}

/// Reads until the peer closes; true if it closed (EOF or reset) within the wait.
pub async fn closed_by_peer<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> bool {
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A running `iphttps serve`, killed when dropped.
pub struct Served {
    child: std::process::Child,
    /// Kept open: a server whose stdout is closed would fail writing to it.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// The port it listens on.
    pub port: u16,
    /// Its admin endpoint.
    pub admin: String,
    /// The banner's lines.
    pub banner: Vec<String>,
}

impl Served {
    /// Spawns `cmd` (an `iphttps serve` command line) and reads its banner, which ends
    /// with the CRL distribution point.
    pub fn start(mut cmd: std::process::Command) -> Served {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut banner = Vec::new();
        let mut port = 0;
        let mut admin = String::new();
        let mut rd = std::io::BufReader::new(child.stdout.take().unwrap());
        loop {
            let mut l = String::new();
            if rd.read_line(&mut l).unwrap() == 0 {
                break;
            }
            let l = l.trim().to_string();
            if let Some(addr) = l.strip_prefix("Listening on: ") {
                port = addr.rsplit(':').next().unwrap().parse().unwrap();
            }
            if let Some(addr) = l.strip_prefix("Admin endpoint: ") {
                admin = addr.to_string();
            }
            let last = l.starts_with("CRL distribution point");
            banner.push(l);
            if last {
                break;
            }
        }
        assert_ne!(port, 0, "serve printed no address: {banner:?}");
        Served {
            child,
            _stdout: rd,
            port,
            admin,
            banner,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `iphttps serve` on ephemeral loopback ports with the PKI in `pki` (generated
/// there if empty) and `extra` arguments, and reads its banner.
pub fn serve(pki: &std::path::Path, extra: &[&str]) -> Served {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iphttps"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--pki",
    ])
    .arg(pki)
    .args(extra);
    Served::start(cmd)
}

/// Runs `iphttps bench --json --only ONLY` and returns its report.
pub fn bench_json(only: &str) -> serde_json::Value {
    bench_report(&["--only", only])
}

/// Runs `iphttps bench --json ARGS`, asserts that it succeeded and returns its report.
pub fn bench_report(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iphttps"))
        .args(["bench", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A fresh healthy PKI set for `da.contoso.com`.
pub fn test_pki() -> Pki {
    Pki::generate(&iphttps_sim::pki::PkiOptions::new(
        "da.contoso.com",
        iphttps_sim::time::OffsetDateTime::now_utc(),
    ))
    .unwrap()
}

/// A TLS acceptor for `pki`'s server certificate and a loopback listener on an ephemeral port,
/// for tests that play the server side by hand.
pub async fn tls_listener(pki: &Pki) -> (tokio_rustls::TlsAcceptor, tokio::net::TcpListener) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(pki, false).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (acceptor, listener)
}

/// The shipped scenario folder.
pub fn shipped_scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// How the scenario tests run a suite: two at a time, exec steps' `netsh` shim on this
/// build's binary.
pub fn suite_options() -> iphttps_harness::runner::RunOptions {
    iphttps_harness::runner::RunOptions {
        jobs: 2,
        iphttps_bin: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_iphttps"))),
        ..iphttps_harness::runner::RunOptions::default()
    }
}
