//! Measurements of tunnel packet handling, each beside a baseline measured the same way
//! in the same run: bulk transfer through the tunnel against a bare tokio-rustls
//! connection with the same write sizes, ping through the tunnel against a bare TLS echo,
//! connection setup to LinkUp against bare TLS handshakes. `iphttps bench` and the
//! criterion benches use these.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[cfg(feature = "null-cipher")]
pub mod null;

use crate::lab::{Lab, LabConfig, LabError};
use iphttps_sim::link::host::HostConfig;
use iphttps_sim::net::{ReadHeadError, Reads, read_head};
use iphttps_sim::pki::{Pki, PkiOptions};
use iphttps_sim::tls;
use iphttps_sim::wire::{head, udp};

/// Errors of a measurement.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// The lab failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Something did not arrive in time.
    #[error("{0}")]
    Stalled(String),
}

/// A direction of bulk transfer through the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client -> server -> intranet sink.
    Upload,
    /// Intranet -> server -> client.
    Download,
    /// Client -> server -> another client.
    ClientToClient,
}

fn lab_config() -> LabConfig {
    LabConfig {
        clients: 0,
        check_revocation: false,
        ..LabConfig::default()
    }
}

/// A raw tunnel: TLS to the lab's server, the head exchange done, and a source address
/// in the ClientIPv6Prefix that the server lets this tunnel claim on first use.
pub async fn raw_tunnel(
    lab: &Lab,
    iid: u64,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Ipv6Addr), PerfError> {
    let pki = lab.pki().await;
    let cfg =
        tls::client_config(&pki.root_ca, None).map_err(|e| PerfError::Stalled(e.to_string()))?;
    let tcp = TcpStream::connect(lab.server.local_addr()).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("da.contoso.com".to_string())
        .map_err(|e| PerfError::Stalled(e.to_string()))?;
    let mut s = TlsConnector::from(cfg).connect(name, tcp).await?;
    exchange_heads(&mut s).await?;
    let prefix = lab.admin().await.remote_access.client_prefix;
    Ok((
        s,
        iphttps_sim::wire::ipv6::with_interface_id(prefix.network(), iid),
    ))
}

/// Sends the IP-HTTPS request head and reads the response head.
async fn exchange_heads<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<(), PerfError> {
    s.write_all(&head::request(head::DEFAULT_PATH, "da.contoso.com"))
        .await?;
    match read_head(s, Reads::Chunks, head::parse_response).await {
        Ok(_) => {}
        Err(ReadHeadError::Io(e)) => return Err(PerfError::Io(e)),
        Err(ReadHeadError::Closed) => {
            return Err(PerfError::Stalled("closed during the head exchange".into()));
        }
        Err(ReadHeadError::Head(e)) => return Err(PerfError::Stalled(e.to_string())),
    }
    Ok(())
}

/// `count` back-to-back UDP packets of `size` bytes each (IPv6 header included).
pub fn packets(src: Ipv6Addr, dst: Ipv6Addr, size: usize, count: usize) -> Vec<u8> {
    let one = udp::build(src, dst, 40000, 9, &vec![0x5a; size.saturating_sub(48)]);
    one.repeat(count)
}

/// Moves `total` bytes in `packet`-byte IPv6 packets through the tunnel in `dir`; returns
/// how long it took from the first write until the last byte arrived.
pub async fn tunnel_transfer(
    dir: Direction,
    total: usize,
    packet: usize,
) -> Result<Duration, PerfError> {
    let lab = Lab::start(lab_config()).await?;
    let r = transfer_in(&lab, dir, total, packet).await;
    lab.shutdown().await;
    r
}

const CHUNK_PACKETS: usize = 48;

async fn transfer_in(
    lab: &Lab,
    dir: Direction,
    total: usize,
    packet: usize,
) -> Result<Duration, PerfError> {
    let count = total / packet;
    let intranet = lab.server.intranet_address();
    match dir {
        Direction::Upload => {
            let (mut s, src) = raw_tunnel(lab, 0x1001).await?;
            let t0 = Instant::now();
            upload(lab, &mut s, src, packet, count).await?;
            Ok(t0.elapsed())
        }
        Direction::Download => {
            let (mut s, dst) = raw_tunnel(lab, 0x2002).await?;
            // claim the address: one packet from it
            s.write_all(&packets(dst, intranet, 100, 1)).await?;
            s.flush().await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let one = Bytes::from(udp::build(
                intranet,
                dst,
                9,
                40000,
                &vec![0xa5; packet - 48],
            ));
            let want = (count * packet) as u64;
            let (got, reader) = counting_reader(s, want);
            let t0 = Instant::now();
            let mut sent = 0usize;
            while sent < count {
                // keep at most 2048 packets in flight: the server's queue toward a client is bounded
                let in_flight = sent as u64 - got.load(Ordering::Relaxed) / packet as u64;
                if in_flight > WINDOW {
                    tokio::time::sleep(Duration::from_micros(50)).await;
                    continue;
                }
                let n = 256.min(count - sent);
                lab.server.intranet_send((0..n).map(|_| one.clone()));
                sent += n;
            }
            arrived(&got, want, reader).await?;
            Ok(t0.elapsed())
        }
        Direction::ClientToClient => {
            let (mut b, b_addr) = raw_tunnel(lab, 0x3003).await?;
            b.write_all(&packets(b_addr, intranet, 100, 1)).await?;
            b.flush().await?;
            let (mut a, a_addr) = raw_tunnel(lab, 0x4004).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let chunk = packets(a_addr, b_addr, packet, CHUNK_PACKETS);
            let want = (count * packet) as u64;
            let (got, reader) = counting_reader(b, want);
            let t0 = Instant::now();
            let mut sent = 0;
            while sent < count {
                // a window, as a transport over the tunnel would keep: the server's queue
                // toward a client is bounded and drops what does not fit
                let in_flight = sent as u64 - got.load(Ordering::Relaxed) / packet as u64;
                if in_flight > WINDOW {
                    tokio::time::sleep(Duration::from_micros(50)).await;
                    continue;
                }
                let n = CHUNK_PACKETS.min(count - sent);
                a.write_all(&chunk[..n * packet]).await?;
                sent += n;
            }
            a.flush().await?;
            arrived(&got, want, reader).await?;
            Ok(t0.elapsed())
        }
    }
}

/// Writes `count` `packet`-byte UDP packets from `src` to the intranet host's discard
/// port through `s`, and waits until the intranet host has them all.
async fn upload<S: tokio::io::AsyncWrite + Unpin>(
    lab: &Lab,
    s: &mut S,
    src: Ipv6Addr,
    packet: usize,
    count: usize,
) -> Result<(), PerfError> {
    let chunk = packets(src, lab.server.intranet_address(), packet, CHUNK_PACKETS);
    let before = lab.server.intranet_stats().discarded_packets;
    let mut sent = 0;
    while sent < count {
        let n = CHUNK_PACKETS.min(count - sent);
        s.write_all(&chunk[..n * packet]).await?;
        sent += n;
    }
    s.flush().await?;
    wait_for(|| lab.server.intranet_stats().discarded_packets - before >= count as u64).await
}

/// Waits (at most 60 s) for a counting reader to have `want` bytes.
async fn arrived(
    got: &AtomicU64,
    want: u64,
    reader: tokio::task::JoinHandle<()>,
) -> Result<(), PerfError> {
    let _ = tokio::time::timeout(Duration::from_secs(60), reader).await;
    let n = got.load(Ordering::Relaxed);
    if n < want {
        return Err(PerfError::Stalled(format!("{n} of {want} bytes arrived")));
    }
    Ok(())
}

/// Reads `stream` until `want` bytes arrived (or it ends), counting them where the
/// sender can see, so it can keep a window.
fn counting_reader<R>(mut stream: R, want: u64) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let got = Arc::new(AtomicU64::new(0));
    let g = got.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while g.load(Ordering::Relaxed) < want {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => g.fetch_add(n as u64, Ordering::Relaxed),
            };
        }
    });
    (got, task)
}

/// Writes `bytes` filler bytes in `write`-byte writes, then flushes.
async fn write_bytes<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bytes: u64,
    write: usize,
) -> std::io::Result<()> {
    let data = vec![0x5au8; write];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (write as u64).min(bytes - sent) as usize;
        w.write_all(&data[..n]).await?;
        sent += n as u64;
    }
    w.flush().await
}

/// Packets a bulk sender keeps in flight toward a client.
const WINDOW: u64 = 2048;

async fn wait_for(mut done: impl FnMut() -> bool) -> Result<(), PerfError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        if Instant::now() > deadline {
            return Err(PerfError::Stalled(
                "the transfer did not finish in 60 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

struct BareTls {
    addr: SocketAddr,
    connector: TlsConnector,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BareTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the bare TLS server does with a connection.
#[derive(Clone, Copy)]
enum BareMode {
    /// Read and count, report when `n` bytes arrived.
    Sink(u64),
    /// Write `n` bytes in `chunk`-byte writes.
    Source(u64, usize),
    /// Echo.
    Echo,
    /// Handshake and close.
    Handshake,
    /// Relay: the connection that says `A` first is copied to the one that says `B`
    /// (decrypted and encrypted again, as the server does between two clients).
    Relay,
}

async fn bare_tls(
    mode: BareMode,
    done: Option<tokio::sync::mpsc::Sender<()>>,
) -> Result<BareTls, PerfError> {
    let pki = Pki::generate(&PkiOptions::new(
        "da.contoso.com",
        iphttps_sim::time::OffsetDateTime::now_utc(),
    ))
    .map_err(|e| PerfError::Stalled(e.to_string()))?;
    let acceptor = TlsAcceptor::from(
        tls::server_config(&pki, false).map_err(|e| PerfError::Stalled(e.to_string()))?,
    );
    let connector = TlsConnector::from(
        tls::client_config(&pki.root_ca, None).map_err(|e| PerfError::Stalled(e.to_string()))?,
    );
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
    let addr = listener.local_addr()?;
    let relay: Arc<tokio::sync::Mutex<RelayPair>> = Arc::default();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let done = done.clone();
            let relay = relay.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 64 * 1024];
                match mode {
                    BareMode::Sink(n) => {
                        let mut got = 0u64;
                        while got < n {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => got += k as u64,
                            }
                        }
                        if let Some(d) = done {
                            let _ = d.send(()).await;
                        }
                    }
                    BareMode::Source(n, chunk) => {
                        let data = vec![0xa5u8; chunk];
                        let mut sent = 0u64;
                        while sent < n {
                            if s.write_all(&data).await.is_err() {
                                return;
                            }
                            sent += chunk as u64;
                        }
                        let _ = s.flush().await;
                        let _ = s.read(&mut buf).await;
                    }
                    BareMode::Echo => loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => {
                                if s.write_all(&buf[..k]).await.is_err() || s.flush().await.is_err()
                                {
                                    return;
                                }
                            }
                        }
                    },
                    BareMode::Handshake => {
                        let _ = s.shutdown().await;
                    }
                    BareMode::Relay => {
                        let mut role = [0u8; 1];
                        if s.read_exact(&mut role).await.is_err() {
                            return;
                        }
                        let mut pair = relay.lock().await;
                        if role[0] == b'A' {
                            pair.a = Some(s);
                        } else {
                            pair.b = Some(s);
                        }
                        if pair.a.is_some()
                            && pair.b.is_some()
                            && let (Some(mut a), Some(mut b)) = (pair.a.take(), pair.b.take())
                        {
                            drop(pair);
                            let _ = tokio::io::copy(&mut a, &mut b).await;
                        }
                    }
                }
            });
        }
    });
    Ok(BareTls {
        addr,
        connector,
        task,
    })
}

type ServerTls = tokio_rustls::server::TlsStream<TcpStream>;

#[derive(Default)]
struct RelayPair {
    a: Option<ServerTls>,
    b: Option<ServerTls>,
}

async fn bare_connect(
    b: &BareTls,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, PerfError> {
    let tcp = TcpStream::connect(b.addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("da.contoso.com".to_string())
        .map_err(|e| PerfError::Stalled(e.to_string()))?;
    Ok(b.connector.connect(name, tcp).await?)
}

/// The same bytes through a bare tokio-rustls connection with the same write sizes.
pub async fn bare_transfer(
    dir: Direction,
    total: usize,
    packet: usize,
) -> Result<Duration, PerfError> {
    let count = total / packet;
    let bytes = (count * packet) as u64;
    let write = CHUNK_PACKETS * packet;
    match dir {
        Direction::Upload => {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            let b = bare_tls(BareMode::Sink(bytes), Some(tx)).await?;
            let mut s = bare_connect(&b).await?;
            let t0 = Instant::now();
            write_bytes(&mut s, bytes, write).await?;
            rx.recv()
                .await
                .ok_or_else(|| PerfError::Stalled("bare sink ended early".into()))?;
            Ok(t0.elapsed())
        }
        Direction::ClientToClient => {
            let relay = bare_tls(BareMode::Relay, None).await?;
            let mut b = bare_connect(&relay).await?;
            b.write_all(b"B").await?;
            b.flush().await?;
            let mut a = bare_connect(&relay).await?;
            a.write_all(b"A").await?;
            let (got, reader) = counting_reader(b, bytes);
            let t0 = Instant::now();
            write_bytes(&mut a, bytes, write).await?;
            tokio::time::timeout(Duration::from_secs(60), reader)
                .await
                .map_err(|_| PerfError::Stalled("the relay did not finish".into()))?
                .map_err(|e| PerfError::Stalled(e.to_string()))?;
            let got = got.load(Ordering::Relaxed);
            if got < bytes {
                return Err(PerfError::Stalled(format!(
                    "{got} of {bytes} bytes relayed"
                )));
            }
            Ok(t0.elapsed())
        }
        Direction::Download => {
            let b = bare_tls(BareMode::Source(bytes, packet * 256), None).await?;
            let t0 = Instant::now();
            let mut s = bare_connect(&b).await?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0u64;
            while got < bytes {
                match s.read(&mut buf).await? {
                    0 => break,
                    n => got += n as u64,
                }
            }
            Ok(t0.elapsed())
        }
    }
}

/// Round trips of `n` pings (56 data bytes) from a tunnel client to the intranet host.
pub async fn tunnel_rtts(n: usize) -> Result<Vec<Duration>, PerfError> {
    let lab = Lab::start(lab_config()).await?;
    lab.add_client(|c| c.host = HostConfig::fast(9))?;
    lab.wait_all_active(Duration::from_secs(20))
        .await
        .map_err(|_| PerfError::Stalled("the client did not come up".into()))?;
    let c = lab.client(0);
    let dst = lab.server.intranet_address();
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(
            c.ping(dst, 56, Duration::from_secs(2))
                .await
                .map_err(|e| PerfError::Stalled(e.to_string()))?,
        );
    }
    lab.shutdown().await;
    Ok(v)
}

/// Round trips of `n` 104-byte messages (a ping's size) through a bare TLS echo.
pub async fn bare_rtts(n: usize) -> Result<Vec<Duration>, PerfError> {
    let b = bare_tls(BareMode::Echo, None).await?;
    let mut s = bare_connect(&b).await?;
    let msg = [0x5au8; 104];
    let mut buf = [0u8; 104];
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        s.write_all(&msg).await?;
        s.flush().await?;
        s.read_exact(&mut buf).await?;
        v.push(t0.elapsed());
    }
    Ok(v)
}

/// Connections per second from TCP connect to LinkUp with a global address, `n` clients
/// starting at once.
pub async fn tunnel_setup_rate(n: usize) -> Result<f64, PerfError> {
    let lab = Lab::start(lab_config()).await?;
    let t0 = Instant::now();
    for i in 0..n {
        lab.add_client(|c| c.host = HostConfig::instant(i as u64))?;
    }
    lab.wait_all_active(Duration::from_secs(60))
        .await
        .map_err(|_| PerfError::Stalled("not every client came up".into()))?;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    lab.shutdown().await;
    Ok(rate)
}

/// Bare TLS handshakes per second, `n` at once.
pub async fn bare_setup_rate(n: usize) -> Result<f64, PerfError> {
    let b = Arc::new(bare_tls(BareMode::Handshake, None).await?);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let b = b.clone();
        set.spawn(async move { bare_connect(&b).await.map(|_| ()) });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| PerfError::Stalled(e.to_string()))??;
    }
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

/// The p-th percentile (0-100) of `v`.
pub fn percentile(v: &[Duration], p: f64) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
    s[i.min(s.len() - 1)]
}
