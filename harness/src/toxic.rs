//! Transport toxics in the toxiproxy sense: a TCP proxy on a client's path to the server
//! that adds latency, caps bandwidth, stalls, slices writes, cuts the connection after a
//! data limit, or resets it, in both directions.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The toxics in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Toxics {
    /// Added latency per chunk, each direction.
    pub latency: Duration,
    /// Bytes per second each direction (0: unlimited).
    pub bandwidth_bps: u64,
    /// Hold everything.
    pub stall: bool,
    /// Largest write (0: as read).
    pub slice: usize,
    /// Close after this many bytes each way (0: unlimited).
    pub limit: u64,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    toxics: watch::Sender<Toxics>,
    epoch: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.epoch.send_modify(|e| *e += 1);
    }
}

impl Proxy {
    /// Starts a proxy on an ephemeral loopback port toward `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(upstream.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        let toxics = watch::channel(Toxics::default()).0;
        let epoch = watch::channel(0u64).0;
        let (t, e) = (toxics.clone(), epoch.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((down, _)) = listener.accept().await else {
                    continue;
                };
                let (t, e) = (t.subscribe(), e.subscribe());
                tokio::spawn(async move {
                    let Ok(up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = down.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    let (dr, dw) = down.into_split();
                    let (ur, uw) = up.into_split();
                    let a = pump(dr, uw, t.clone(), e.clone());
                    let b = pump(ur, dw, t, e);
                    // either direction ending (EOF, limit, reset) closes both
                    tokio::select! { _ = a => {}, _ = b => {} }
                });
            }
        });
        Ok(Self {
            addr,
            toxics,
            epoch,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the toxics for every connection, current and future.
    pub fn set(&self, t: Toxics) {
        self.toxics.send_replace(t);
    }

    /// Cuts every current connection.
    pub fn reset(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }
}

async fn pump(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut toxics: watch::Receiver<Toxics>,
    mut epoch: watch::Receiver<u64>,
) {
    epoch.borrow_and_update();
    // chunks wait in a queue until their time, so latency delays without serialising
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let t_read = toxics.clone();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let latency = t_read.borrow().latency;
            if tx
                .send((Instant::now() + latency, buf[..n].to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        let mut sent: u64 = 0;
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let t = *toxics.borrow_and_update();
                if t.stall {
                    if toxics.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                let mut n = if t.slice > 0 {
                    rest.len().min(t.slice)
                } else {
                    rest.len()
                };
                if t.limit > 0 {
                    let left = t.limit.saturating_sub(sent);
                    if left == 0 {
                        return;
                    }
                    n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                }
                if wr.write_all(&rest[..n]).await.is_err() {
                    return;
                }
                sent += n as u64;
                rest = &rest[n..];
                if t.bandwidth_bps > 0 {
                    tokio::time::sleep(Duration::from_secs_f64(n as f64 / t.bandwidth_bps as f64))
                        .await;
                }
            }
        }
    };
    // the writer drains what the reader queued before the reader's end closes the queue
    tokio::select! {
        _ = async { tokio::join!(reader, writer) } => {}
        _ = epoch.changed() => {}
    }
}
