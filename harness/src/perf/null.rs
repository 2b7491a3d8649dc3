//! What NULL encryption saves: the same OpenSSL tunnel carrying the same upload with
//! `TLS_RSA_WITH_NULL_SHA256` and with `ECDHE-RSA-AES256-GCM-SHA384`. The client runs on
//! its own thread (a current-thread runtime) so its CPU time can be told apart from the
//! server's: client = that thread's time, server = the process's time minus it (Linux,
//! from `/proc`, in 10 ms ticks; elsewhere only the throughput is measured).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::PerfError;
use super::tunnel::{exchange_heads, lab_config, upload};
use crate::lab::{Lab, LabConfig};
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::tls::{self, NullCipher};

/// One measured upload.
#[derive(Debug, Clone)]
pub struct NullCost {
    /// The negotiated suite.
    pub suite: String,
    /// First write until the last packet reached the intranet sink.
    pub elapsed: Duration,
    /// CPU time of the client's thread.
    pub client_cpu: Option<Duration>,
    /// CPU time of the rest of the process (the server, its router and intranet sink).
    pub server_cpu: Option<Duration>,
}

/// Uploads `total` bytes in `packet`-byte packets through an OpenSSL tunnel whose client
/// offers the suites of `mode` (`Prefer`: NULL is negotiated; `Off`: AES-GCM).
pub async fn null_transfer(
    mode: NullCipher,
    total: usize,
    packet: usize,
) -> Result<NullCost, PerfError> {
    let lab = Arc::new(
        Lab::start(LabConfig {
            deployment: DeploymentConfig {
                null_cipher: true,
                ..DeploymentConfig::default()
            },
            ..lab_config()
        })
        .await?,
    );
    let pki = lab.pki().await;
    let stalled = |e: &dyn std::fmt::Display| PerfError::Stalled(e.to_string());
    let verifier = tls::server_verifier(&pki.root_ca, None).map_err(|e| stalled(&e))?;
    let connector = tls::openssl::Connector::new(mode, verifier, None).map_err(|e| stalled(&e))?;
    let addr = lab.server.local_addr();
    let prefix = lab.admin().await.remote_access.client_prefix;
    let l = lab.clone();
    let client = std::thread::spawn(move || -> Result<NullCost, PerfError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let mut s = connector
                .connect("da.contoso.com", tcp)
                .await
                .map_err(|e| PerfError::Stalled(format!("{e:?}")))?;
            exchange_heads(&mut s).await?;
            let src = iphttps_sim::wire::ipv6::with_interface_id(prefix.network(), 0x5005);
            let (c0, p0, t0) = (thread_cpu(), process_cpu(), Instant::now());
            upload(&l, &mut s, src, packet, total / packet).await?;
            let elapsed = t0.elapsed();
            let (c1, p1) = (thread_cpu(), process_cpu());
            let client_cpu = c0.zip(c1).map(|(a, b)| b.saturating_sub(a));
            let total_cpu = p0.zip(p1).map(|(a, b)| b.saturating_sub(a));
            Ok(NullCost {
                suite: tls::openssl::cipher_name(s.ssl()),
                elapsed,
                client_cpu,
                server_cpu: total_cpu.zip(client_cpu).map(|(t, c)| t.saturating_sub(c)),
            })
        })
    });
    let r = tokio::task::spawn_blocking(move || client.join())
        .await
        .map_err(|e| stalled(&e))?
        .map_err(|_| PerfError::Stalled("the client thread panicked".into()))?;
    lab.shutdown().await;
    r
}

/// utime + stime of a `/proc/.../stat` file, at 100 ticks per second.
#[cfg(target_os = "linux")]
fn stat_cpu(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = text.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(target_os = "linux")]
fn thread_cpu() -> Option<Duration> {
    stat_cpu("/proc/thread-self/stat")
}

#[cfg(target_os = "linux")]
fn process_cpu() -> Option<Duration> {
    stat_cpu("/proc/self/stat")
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Option<Duration> {
    None
}

#[cfg(not(target_os = "linux"))]
fn process_cpu() -> Option<Duration> {
    None
}
