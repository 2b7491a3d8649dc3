//! The baselines: a bare tokio-rustls server on loopback with the lab's kind of PKI, and
//! the same work as each tunnel figure minus the tunnel. Every connection says first (one
//! role byte, before any clock starts) what the server does with it, so one server serves
//! every figure of a run.
//!
//! Why each is the limit of its figure, on the same runtime and thread layout:
//! - upload/sink: the tunnel moves the same bytes through the same TLS record layer and
//!   then also deframes, routes and delivers them; here the receiver only counts.
//! - download/source: the tunnel's server encrypts the same bytes toward the client after
//!   routing them from the intranet side; here they are encrypted straight from memory.
//! - client to client/relay: the tunnel decrypts from one client and encrypts toward the
//!   other, routing in between; the relay decrypts and encrypts the same bytes and only
//!   copies between the two.
//! - latency/echo: the tunnel's ping crosses the same two TLS legs plus the router, the
//!   intranet host and the client's own stack; the echo only reads and writes back.
//! - setup/ready: the tunnel's client builds its TLS configuration (trust store, machine
//!   certificate and key), connects, handshakes, exchanges the HTTP heads and then RS/RA;
//!   here the client builds the same configuration, connects, handshakes and does one
//!   round trip.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{CHUNK_PACKETS, Direction, INTRANET_BATCH, PerfError, STALL, all_at_once, count_reads};
use iphttps_sim::net;
use iphttps_sim::pki::{Pki, PkiOptions};
use iphttps_sim::tls;

type ClientTls = tokio_rustls::client::TlsStream<TcpStream>;
type ServerTls = tokio_rustls::server::TlsStream<TcpStream>;

/// The roles a connection asks for.
mod role {
    pub const SINK: u8 = b'S';
    pub const SOURCE: u8 = b'O';
    pub const ECHO: u8 = b'E';
    pub const RELAY_FROM: u8 = b'A';
    pub const RELAY_TO: u8 = b'B';
    pub const READY: u8 = b'R';
}

/// A bare TLS server and what its connections have done.
pub struct Bare {
    addr: SocketAddr,
    pki: Arc<Pki>,
    connector: TlsConnector,
    /// Bytes every sink connection has read.
    sunk: Arc<AtomicU64>,
    /// Tells the next source connection to start writing.
    go: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct RelayPair {
    from: Option<ServerTls>,
    to: Option<ServerTls>,
}

impl Bare {
    /// Starts the server on an ephemeral loopback port.
    pub async fn start() -> Result<Self, PerfError> {
        let pki = Arc::new(
            Pki::generate(&PkiOptions::new(
                "da.contoso.com",
                iphttps_sim::time::OffsetDateTime::now_utc(),
            ))
            .map_err(PerfError::stalled)?,
        );
        let acceptor =
            TlsAcceptor::from(tls::server_config(&pki, false).map_err(PerfError::stalled)?);
        let connector =
            TlsConnector::from(tls::client_config(&pki.root_ca, None).map_err(PerfError::stalled)?);
        // the server's own kind of listener, with its accept queue
        let listener = net::listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
        let addr = listener.local_addr()?;
        let sunk = Arc::new(AtomicU64::new(0));
        let go = Arc::new(Notify::new());
        let (s, g) = (sunk.clone(), go.clone());
        let task = tokio::spawn(async move {
            let relay: Arc<tokio::sync::Mutex<RelayPair>> = Arc::default();
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, sunk, go, relay) =
                    (acceptor.clone(), s.clone(), g.clone(), relay.clone());
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = serve(tls, &sunk, &go, &relay).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            pki,
            connector,
            sunk,
            go,
            task,
        })
    }

    /// A connection with the shared client configuration, its role said.
    async fn connect(&self, role: u8) -> Result<ClientTls, PerfError> {
        let mut s = connect_with(&self.connector, self.addr).await?;
        s.write_all(&[role]).await?;
        s.flush().await?;
        Ok(s)
    }

    /// Moves `total` bytes (whole `packet`s) in `dir` with the tunnel figure's write sizes;
    /// the time from the first write (or the "go") until every byte was counted.
    pub async fn transfer(
        &self,
        dir: Direction,
        total: usize,
        packet: usize,
    ) -> Result<Duration, PerfError> {
        let bytes = (total / packet * packet) as u64;
        match dir {
            Direction::Upload => self.upload(1, bytes, packet).await,
            Direction::Download => {
                let mut s = self.connect(role::SOURCE).await?;
                s.write_all(&bytes.to_be_bytes()).await?;
                s.write_all(&((INTRANET_BATCH * packet) as u32).to_be_bytes())
                    .await?;
                s.flush().await?;
                let (got, _reader) = count_reads(s);
                let t0 = Instant::now();
                self.go.notify_one();
                got.reach(bytes, STALL).await?;
                Ok(t0.elapsed())
            }
            Direction::ClientToClient => {
                let to = self.connect(role::RELAY_TO).await?;
                let mut from = self.connect(role::RELAY_FROM).await?;
                let (got, _reader) = count_reads(to);
                let t0 = Instant::now();
                super::write_bytes(&mut from, bytes, CHUNK_PACKETS * packet).await?;
                got.reach(bytes, STALL).await?;
                Ok(t0.elapsed())
            }
        }
    }

    /// `streams` connections at once each upload `bytes / streams` (whole packets) into
    /// sinks; the time from the first write until the sinks counted every byte.
    pub async fn upload(
        &self,
        streams: usize,
        bytes: u64,
        packet: usize,
    ) -> Result<Duration, PerfError> {
        let each = bytes / streams as u64 / packet as u64 * packet as u64;
        let mut conns = Vec::with_capacity(streams);
        for _ in 0..streams {
            conns.push(self.connect(role::SINK).await?);
        }
        let before = self.sunk.load(Ordering::Acquire);
        let want = each * streams as u64;
        all_at_once(
            conns,
            move |mut s| async move {
                super::write_bytes(&mut s, each, CHUNK_PACKETS * packet).await?;
                Ok(s)
            },
            || self.sunk.load(Ordering::Acquire) - before >= want,
        )
        .await
    }

    /// Round trips of `n` 104-byte messages (an echo request of 56 data bytes is 104
    /// bytes with its IPv6 and ICMPv6 headers), timed from before the write until the
    /// whole echo was read.
    pub async fn rtts(&self, n: usize) -> Result<Vec<Duration>, PerfError> {
        let mut s = self.connect(role::ECHO).await?;
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

    /// `n` connections starting at once, each building its own client configuration with
    /// the lab's trust store and machine certificate (as each tunnel client does, once per
    /// connection), connecting, handshaking and reading the server's "ready"; the time
    /// until the last is ready.
    pub async fn setup(&self, n: usize) -> Result<Duration, PerfError> {
        let t0 = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (pki, addr) = (self.pki.clone(), self.addr);
            set.spawn(async move {
                // the lab's clients carry the machine certificate and its key (the server
                // asks for neither under AuthMode None): the same configuration work here
                let chain = pki.client_chain();
                let cfg = tls::client_config(&pki.root_ca, Some((&chain, &pki.client_key)))
                    .map_err(PerfError::stalled)?;
                let mut s = connect_with(&TlsConnector::from(cfg), addr).await?;
                s.write_all(&[role::READY]).await?;
                s.flush().await?;
                let mut ready = [0u8; 1];
                s.read_exact(&mut ready).await?;
                Ok::<_, PerfError>(s)
            });
        }
        let mut open = Vec::with_capacity(n);
        while let Some(r) = set.join_next().await {
            open.push(r.map_err(PerfError::stalled)??);
        }
        let elapsed = t0.elapsed();
        drop(open);
        Ok(elapsed)
    }
}

async fn connect_with(connector: &TlsConnector, addr: SocketAddr) -> Result<ClientTls, PerfError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("da.contoso.com").map_err(PerfError::stalled)?;
    Ok(connector.connect(name, tcp).await?)
}

/// Relays everything `from` sends to `to` with the server's thread layout: one task reads
/// and decrypts, another encrypts and writes, a queue between them (the tunnel's reader
/// task routes into the other client's queue, drained by that client's writer task). A
/// relay in one task could never use both cores and would be slower than what it bounds.
async fn relay_copy(mut from: ServerTls, mut to: ServerTls) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    let writer = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            // what is queued is written on at once, as the server's writer does
            to.write_all(&chunk).await?;
            while let Ok(more) = rx.try_recv() {
                to.write_all(&more).await?;
            }
            to.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut room = bytes::BytesMut::new();
    loop {
        room.reserve(64 * 1024);
        if from.read_buf(&mut room).await? == 0 || tx.send(room.split().freeze()).await.is_err() {
            break;
        }
    }
    drop(tx);
    writer.await.map_err(std::io::Error::other)?
}

/// Serves one accepted connection in the role it asks for.
async fn serve(
    mut s: ServerTls,
    sunk: &AtomicU64,
    go: &Notify,
    relay: &tokio::sync::Mutex<RelayPair>,
) -> std::io::Result<()> {
    let mut role = [0u8; 1];
    s.read_exact(&mut role).await?;
    let mut buf = vec![0u8; 64 * 1024];
    match role[0] {
        role::SINK => loop {
            match s.read(&mut buf).await? {
                0 => return Ok(()),
                k => sunk.fetch_add(k as u64, Ordering::AcqRel),
            };
        },
        role::SOURCE => {
            let bytes = s.read_u64().await?;
            let write = s.read_u32().await? as usize;
            go.notified().await;
            super::write_bytes(&mut s, bytes, write).await?;
            let _ = s.read(&mut buf).await;
            Ok(())
        }
        role::ECHO => loop {
            match s.read(&mut buf).await? {
                0 => return Ok(()),
                k => {
                    s.write_all(&buf[..k]).await?;
                    s.flush().await?;
                }
            }
        },
        role::RELAY_FROM | role::RELAY_TO => {
            let mut pair = relay.lock().await;
            if role[0] == role::RELAY_FROM {
                pair.from = Some(s);
            } else {
                pair.to = Some(s);
            }
            if let (Some(_), Some(_)) = (&pair.from, &pair.to)
                && let (Some(from), Some(to)) = (pair.from.take(), pair.to.take())
            {
                drop(pair);
                return relay_copy(from, to).await;
            }
            Ok(())
        }
        role::READY => {
            s.write_all(b"R").await?;
            s.flush().await?;
            let _ = s.read(&mut buf).await;
            Ok(())
        }
        _ => Ok(()),
    }
}
