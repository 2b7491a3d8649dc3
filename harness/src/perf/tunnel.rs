//! The tunnel side of each figure: a lab (server, router, intranet host) on loopback and
//! raw tunnels into it (TLS, the head exchange, then IPv6 packets written straight onto
//! the stream), or full clients where the client's own stack is part of the figure
//! (latency, setup).

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{
    CHUNK_PACKETS, Direction, INTRANET_BATCH, PerfError, Progress, STALL, WINDOW, all_at_once,
    count_reads, packets, poll_until,
};
use crate::lab::{Lab, LabConfig};
use iphttps_sim::link::host::HostConfig;
use iphttps_sim::net::{ReadHeadError, Reads, read_head};
use iphttps_sim::tls;
use iphttps_sim::wire::{head, udp};

type ClientTls = tokio_rustls::client::TlsStream<TcpStream>;

/// The lab every measurement uses: no clients of its own, no revocation checks.
pub(super) fn lab_config() -> LabConfig {
    LabConfig {
        clients: 0,
        check_revocation: false,
        ..LabConfig::default()
    }
}

/// A raw tunnel: TLS to the lab's server, the head exchange done, and a source address
/// in the ClientIPv6Prefix that the server lets this tunnel claim on first use.
pub async fn raw_tunnel(lab: &Lab, iid: u64) -> Result<(ClientTls, Ipv6Addr), PerfError> {
    let pki = lab.pki().await;
    let cfg = tls::client_config(&pki.root_ca, None).map_err(PerfError::stalled)?;
    let tcp = TcpStream::connect(lab.server.local_addr()).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("da.contoso.com").map_err(PerfError::stalled)?;
    let mut s = TlsConnector::from(cfg).connect(name, tcp).await?;
    exchange_heads(&mut s).await?;
    let prefix = lab.admin().await.remote_access.client_prefix;
    Ok((
        s,
        iphttps_sim::wire::ipv6::with_interface_id(prefix.network(), iid),
    ))
}

/// Sends the IP-HTTPS request head and reads the response head.
pub(super) async fn exchange_heads<S: tokio::io::AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<(), PerfError> {
    s.write_all(&head::request(head::DEFAULT_PATH, "da.contoso.com"))
        .await?;
    match read_head(s, Reads::Chunks, head::parse_response).await {
        Ok(_) => Ok(()),
        Err(ReadHeadError::Io(e)) => Err(PerfError::Io(e)),
        Err(ReadHeadError::Closed) => {
            Err(PerfError::Stalled("closed during the head exchange".into()))
        }
        Err(ReadHeadError::Head(e)) => Err(PerfError::stalled(e)),
    }
}

/// Writes `count` `packet`-byte UDP packets from `src` to the intranet host's discard
/// port through `s` in [`CHUNK_PACKETS`]-packet writes, and waits until the intranet host
/// has them all.
#[cfg(feature = "null-cipher")]
pub(super) async fn upload<S: AsyncWrite + Unpin>(
    lab: &Lab,
    s: &mut S,
    src: Ipv6Addr,
    packet: usize,
    count: usize,
) -> Result<(), PerfError> {
    let before = lab.server.intranet_discarded();
    write_packets(s, src, lab.server.intranet_address(), packet, count).await?;
    poll_until(|| lab.server.intranet_discarded() - before >= count as u64).await
}

async fn write_packets<S: AsyncWrite + Unpin>(
    s: &mut S,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    packet: usize,
    count: usize,
) -> std::io::Result<()> {
    let chunk = packets(src, dst, packet, CHUNK_PACKETS);
    let mut sent = 0;
    while sent < count {
        let n = CHUNK_PACKETS.min(count - sent);
        s.write_all(&chunk[..n * packet]).await?;
        sent += n;
    }
    s.flush().await
}

/// A sender's window toward a client: batches of packets, at most [`WINDOW`] of them
/// sent and not yet counted by the receiver.
struct Window {
    count: usize,
    batch: usize,
    packet: usize,
    sent: usize,
}

impl Window {
    fn new(count: usize, batch: usize, packet: usize) -> Self {
        Self {
            count,
            batch,
            packet,
            sent: 0,
        }
    }

    /// How many packets to send next, once the window has room; `None` when all are sent.
    async fn next(&mut self, got: &Progress) -> Result<Option<usize>, PerfError> {
        if self.sent >= self.count {
            return Ok(None);
        }
        if self.sent as u64 > WINDOW {
            got.reach((self.sent as u64 - WINDOW) * self.packet as u64, STALL)
                .await?;
        }
        let n = self.batch.min(self.count - self.sent);
        self.sent += n;
        Ok(Some(n))
    }
}

/// A lab kept for several runs; every run gets fresh tunnels with fresh addresses.
pub struct Tunnel {
    lab: Lab,
    next_iid: AtomicU64,
}

impl Tunnel {
    /// Starts the lab.
    pub async fn start() -> Result<Self, PerfError> {
        Ok(Self {
            lab: Lab::start(lab_config()).await?,
            next_iid: AtomicU64::new(0x1000),
        })
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    async fn tunnel(&self) -> Result<(ClientTls, Ipv6Addr), PerfError> {
        raw_tunnel(&self.lab, self.next_iid.fetch_add(1, Ordering::Relaxed)).await
    }

    /// A tunnel whose address the server has already seen (so packets can come to it).
    async fn claimed(&self) -> Result<(ClientTls, Ipv6Addr), PerfError> {
        let (mut s, addr) = self.tunnel().await?;
        let before = self.lab.server.intranet_discarded();
        s.write_all(&packets(addr, self.lab.server.intranet_address(), 100, 1))
            .await?;
        s.flush().await?;
        poll_until(|| self.lab.server.intranet_discarded() > before).await?;
        Ok((s, addr))
    }

    /// Moves `total` bytes in `packet`-byte IPv6 packets through the tunnel in `dir`; the
    /// time from the first write (or the first packet handed to the server from the
    /// intranet side) until the receiver counted the last byte.
    pub async fn transfer(
        &self,
        dir: Direction,
        total: usize,
        packet: usize,
    ) -> Result<Duration, PerfError> {
        let count = total / packet;
        let want = (count * packet) as u64;
        let intranet = self.lab.server.intranet_address();
        match dir {
            Direction::Upload => self.upload(1, want, packet).await,
            Direction::Download => {
                let (s, dst) = self.claimed().await?;
                let one = Bytes::from(udp::build(
                    intranet,
                    dst,
                    9,
                    40000,
                    &vec![0xa5; packet - 48],
                ));
                let (got, _reader) = count_reads(s);
                let t0 = Instant::now();
                let mut window = Window::new(count, INTRANET_BATCH, packet);
                while let Some(n) = window.next(&got).await? {
                    self.lab.server.intranet_send((0..n).map(|_| one.clone()));
                }
                got.reach(want, STALL).await?;
                Ok(t0.elapsed())
            }
            Direction::ClientToClient => {
                let (b, b_addr) = self.claimed().await?;
                let (mut a, a_addr) = self.tunnel().await?;
                let chunk = packets(a_addr, b_addr, packet, CHUNK_PACKETS);
                let (got, _reader) = count_reads(b);
                let t0 = Instant::now();
                let mut window = Window::new(count, CHUNK_PACKETS, packet);
                while let Some(n) = window.next(&got).await? {
                    a.write_all(&chunk[..n * packet]).await?;
                }
                a.flush().await?;
                got.reach(want, STALL).await?;
                Ok(t0.elapsed())
            }
        }
    }

    /// `clients` tunnels at once each upload `bytes / clients` (whole packets) to the
    /// intranet host; the time from the first write until the intranet host counted every
    /// packet.
    pub async fn upload(
        &self,
        clients: usize,
        bytes: u64,
        packet: usize,
    ) -> Result<Duration, PerfError> {
        let each = (bytes / clients as u64 / packet as u64) as usize;
        let dst = self.lab.server.intranet_address();
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(self.tunnel().await?);
        }
        let before = self.lab.server.intranet_discarded();
        let want = (each * clients) as u64;
        all_at_once(
            conns,
            move |(mut s, src)| async move {
                write_packets(&mut s, src, dst, packet, each).await?;
                Ok(s)
            },
            || self.lab.server.intranet_discarded() - before >= want,
        )
        .await
    }

    /// Round trips of `n` pings (56 data bytes) from a full client to the intranet host,
    /// as the client's own stack times them (as `ping` does): from the Echo Request handed
    /// to the tunnel, before its TLS write, until the reply reached the stack, after its
    /// TLS read and the deframing in the client's link loop. The echo baseline's clock
    /// points are the same (before the write, after the read); the hand-offs between the
    /// caller and the client's task are the harness's API, not the tunnel, and are left
    /// out.
    pub async fn rtts(&self, n: usize) -> Result<Vec<Duration>, PerfError> {
        let i = self.lab.add_client(|c| c.host = HostConfig::fast(9))?;
        let c = self.lab.client(i);
        c.wait_active(Duration::from_secs(20))
            .await
            .map_err(|_| PerfError::Stalled("the client did not come up".into()))?;
        let dst = self.lab.server.intranet_address();
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(
                c.ping(dst, 56, Duration::from_secs(2))
                    .await
                    .map_err(PerfError::stalled)?,
            );
        }
        c.shutdown().await;
        Ok(v)
    }

    /// `n` full clients starting at once (hosts without timers: no RS delay, optimistic
    /// DAD, since this measures packet handling and not Windows' waits); the time from
    /// the first client's start (its TLS configuration is built first, as each bare
    /// connection builds its own) until the last is LinkUp with a global address.
    pub async fn setup(&self, n: usize) -> Result<Duration, PerfError> {
        let first = self.lab.clients().len();
        let t0 = Instant::now();
        for i in 0..n {
            self.lab
                .add_client(|c| c.host = HostConfig::instant((first + i) as u64))?;
        }
        for c in &self.lab.clients()[first..] {
            c.wait_active(STALL).await.map_err(|s| {
                PerfError::Stalled(format!("a client did not come up: {:?}", s.state))
            })?;
        }
        let elapsed = t0.elapsed();
        for c in &self.lab.clients()[first..] {
            c.shutdown().await;
        }
        Ok(elapsed)
    }

    /// Stops the lab.
    pub async fn shutdown(self) {
        self.lab.shutdown().await;
    }
}
