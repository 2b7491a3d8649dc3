//! Measurements of tunnel packet handling, each beside a baseline that does the same work
//! minus the tunnel, measured in the same run, on the same runtime, with the same clock
//! points: bulk transfer (three directions, and many clients at once) against bare
//! tokio-rustls connections, ping against a bare TLS echo, connection setup to LinkUp
//! against bare TLS connections to "ready". `iphttps bench` and the criterion benches use
//! these; [`spread`] turns interleaved tunnel/baseline pairs into a figure with its spread.
//!
//! The rules every pair follows (a baseline that breaks one tells the user nothing):
//! - the connections are up before the clock starts, on both sides;
//! - the clock starts at the first write (or the in-process "go" to the sending side) and
//!   stops when the receiver has counted every byte, found the same way on both sides;
//! - the same bytes move in the same write sizes;
//! - both sides run on the caller's runtime, one task per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

pub mod bare;
/// The process's CPU time, for the CPU each bulk run costs per byte.
pub mod cpu;
/// Where a client's memory goes on the server, part by part.
pub mod memory;
#[cfg(feature = "null-cipher")]
pub mod null;
pub mod spread;
pub mod tunnel;

pub use bare::Bare;
pub use tunnel::{Tunnel, raw_tunnel};

use crate::lab::LabError;
use iphttps_sim::net::AbortOnDrop;
use iphttps_sim::wire::udp;

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

impl PerfError {
    pub(crate) fn stalled(e: impl std::fmt::Display) -> Self {
        Self::Stalled(e.to_string())
    }
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

/// Packets per write of a bulk sender: 48 packets of 1280 bytes are 60 KiB, about what
/// a transport over the tunnel hands the interface at once.
pub const CHUNK_PACKETS: usize = 48;

/// Packets a bulk sender keeps in flight toward a client (the server's queue toward a
/// client is bounded and drops what does not fit, as a link does).
pub const WINDOW: u64 = 2048;

/// Packets per batch the intranet side hands the server in the download.
pub const INTRANET_BATCH: usize = 256;

/// `count` back-to-back UDP packets of `size` bytes each (IPv6 header included).
pub fn packets(
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    size: usize,
    count: usize,
) -> Vec<u8> {
    let one = udp::build(src, dst, 40000, 9, &vec![0x5a; size.saturating_sub(48)]);
    one.repeat(count)
}

/// Bytes counted by a receiver, with a wake-up for whoever waits on the count.
#[derive(Debug, Default)]
pub struct Progress {
    got: AtomicU64,
    moved: Notify,
}

impl Progress {
    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.got.load(Ordering::Acquire)
    }

    /// Counts `n` more bytes.
    pub fn add(&self, n: u64) {
        self.got.fetch_add(n, Ordering::AcqRel);
        self.moved.notify_waiters();
    }

    /// Waits until the count reaches `want`, at most `limit`.
    pub async fn reach(&self, want: u64, limit: Duration) -> Result<(), PerfError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let moved = self.moved.notified();
            let n = self.get();
            if n >= want {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return Err(PerfError::Stalled(format!(
                    "{} of {want} bytes arrived in {limit:?}",
                    self.get()
                )));
            }
        }
    }
}

/// How long any one run may take before it counts as stalled.
pub const STALL: Duration = Duration::from_secs(60);

/// Reads `stream` until it ends, counting every byte into the returned [`Progress`]; the
/// reader (and with it the stream) goes when the returned guard is dropped, so a run
/// leaves no connection behind for the next.
pub fn count_reads<R>(mut stream: R) -> (Arc<Progress>, AbortOnDrop)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let p = Arc::new(Progress::default());
    let counted = p.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            counted.add(n as u64);
        }
    });
    (p, AbortOnDrop(task))
}

/// Writes `bytes` filler bytes in `write`-byte writes, then flushes.
pub async fn write_bytes<W: AsyncWrite + Unpin>(
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

/// Polls `done` every millisecond (tokio's timer resolution) until it holds, at most
/// [`STALL`]. Used where the receiver is a counter that cannot wake anyone (the intranet
/// host's discard port), and then on both sides of the pair alike: each side's counter is
/// one atomic load (the server's is kept outside its core lock for this, so polling it
/// does not contend with the tunnel's tasks).
pub async fn poll_until(mut done: impl FnMut() -> bool) -> Result<(), PerfError> {
    let deadline = Instant::now() + STALL;
    while !done() {
        if Instant::now() > deadline {
            return Err(PerfError::Stalled(format!(
                "the transfer did not finish in {STALL:?}"
            )));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

/// Starts one task per stream that runs `write` on it, all held back until the clock
/// starts, then releases them together; the time until `counted` holds (polled as
/// [`poll_until`] does). Every writer must then have finished without error; what each
/// returns (its stream) is kept open until then.
pub async fn all_at_once<S, T, F, Fut>(
    streams: Vec<S>,
    write: F,
    counted: impl FnMut() -> bool,
) -> Result<Duration, PerfError>
where
    F: Fn(S) -> Fut,
    Fut: Future<Output = std::io::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let (start, started) = tokio::sync::watch::channel(false);
    let mut writers = tokio::task::JoinSet::new();
    for s in streams {
        let mut started = started.clone();
        let write = write(s);
        writers.spawn(async move {
            let _ = started.wait_for(|go| *go).await;
            write.await
        });
    }
    let t0 = Instant::now();
    let _ = start.send(true);
    poll_until(counted).await?;
    let elapsed = t0.elapsed();
    while let Some(r) = writers.join_next().await {
        r.map_err(PerfError::stalled)??;
    }
    Ok(elapsed)
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

/// Moves `total` bytes in `packet`-byte IPv6 packets through a fresh tunnel lab in `dir`;
/// the time from the first write until the last byte arrived.
pub async fn tunnel_transfer(
    dir: Direction,
    total: usize,
    packet: usize,
) -> Result<Duration, PerfError> {
    let t = Tunnel::start().await?;
    let r = t.transfer(dir, total, packet).await;
    t.shutdown().await;
    r
}

/// The same bytes through a bare tokio-rustls connection with the same write sizes.
pub async fn bare_transfer(
    dir: Direction,
    total: usize,
    packet: usize,
) -> Result<Duration, PerfError> {
    Bare::start().await?.transfer(dir, total, packet).await
}

/// Round trips of `n` pings (56 data bytes) from a tunnel client to the intranet host.
pub async fn tunnel_rtts(n: usize) -> Result<Vec<Duration>, PerfError> {
    let t = Tunnel::start().await?;
    let r = t.rtts(n).await;
    t.shutdown().await;
    r
}

/// Round trips of `n` 104-byte messages (a ping's size) through a bare TLS echo.
pub async fn bare_rtts(n: usize) -> Result<Vec<Duration>, PerfError> {
    Bare::start().await?.rtts(n).await
}

/// Time for `n` clients starting at once to reach LinkUp with a global address.
pub async fn tunnel_setup(n: usize) -> Result<Duration, PerfError> {
    let t = Tunnel::start().await?;
    let r = t.setup(n).await;
    t.shutdown().await;
    r
}

/// Time for `n` bare TLS connections starting at once to be ready on both ends.
pub async fn bare_setup(n: usize) -> Result<Duration, PerfError> {
    Bare::start().await?.setup(n).await
}
