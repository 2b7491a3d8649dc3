//! The in-memory network's connections and the links they cross. Each host has a link
//! whose state the scenario changes: a partition (nothing gets through; bytes written are
//! retransmitted when it heals, and a connection whose data waited [`GIVE_UP`] fails as
//! TCP gives up), a hold (bytes wait, in order, until released), added latency, and loss
//! (TCP hides a lost segment as a retransmission [`RTO`] later, doubling for each loss of
//! the same segment). A connection crosses the links of both its hosts.
//!
//! Each direction of a connection is a queue of chunks (one per write) with the instant
//! they arrive; the reader takes what has arrived, in order, and waits for the rest.

use std::collections::VecDeque;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Windows' minimum retransmission timeout: the delay one lost segment costs.
pub const RTO: Duration = Duration::from_millis(300);

/// How long data may wait behind a partition before the writing side's TCP gives up
/// (the connection then fails with "timed out", 0x274c).
pub const GIVE_UP: Duration = Duration::from_secs(60);

/// Bytes a direction holds before the writer waits.
const WINDOW: usize = 256 * 1024;

/// What a link does to what crosses it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkFaults {
    /// Nothing gets through; new connections are not answered.
    pub partitioned: bool,
    /// Bytes wait until released; new connections wait too.
    pub held: bool,
    /// Added one-way delay.
    pub latency: Duration,
    /// Share of segments lost (each costs a retransmission timeout), 0 to 1.
    pub loss: f64,
}

impl LinkFaults {
    fn blocked(&self) -> bool {
        self.partitioned || self.held
    }
}

struct LinkState {
    faults: LinkFaults,
    rng: SmallRng,
    conns: Vec<Weak<Mutex<Conn>>>,
    waiting: Vec<Waker>,
}

/// One host's link.
#[derive(Clone)]
pub struct Link(Arc<Mutex<LinkState>>);

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Link").field(&self.lock().faults).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    /// A clear link; `seed` drives its losses.
    pub fn new(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(LinkState {
            faults: LinkFaults::default(),
            rng: SmallRng::seed_from_u64(seed),
            conns: Vec::new(),
            waiting: Vec::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        lock(&self.0)
    }

    /// What the link does now.
    pub fn faults(&self) -> LinkFaults {
        self.lock().faults
    }

    /// Changes what the link does. Lifting a partition or a hold lets what waited through
    /// (from now, with the link's latency).
    pub fn set(&self, faults: LinkFaults) {
        let (conns, waiting) = {
            let mut s = self.lock();
            s.faults = faults;
            s.conns.retain(|c| c.strong_count() > 0);
            (s.conns.clone(), std::mem::take(&mut s.waiting))
        };
        for w in waiting {
            w.wake();
        }
        for c in conns.iter().filter_map(Weak::upgrade) {
            let mut c = lock(&c);
            c.release();
        }
    }

    /// Resolves once nothing blocks the link (a connection attempt waits for it).
    pub async fn passable(&self) {
        std::future::poll_fn(|cx| {
            let mut s = self.lock();
            if s.faults.blocked() {
                s.waiting.push(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }
}

struct Chunk {
    data: Bytes,
    /// When it arrives; `None` while a partition or hold keeps it back.
    at: Option<Instant>,
    /// When it was written.
    sent: Instant,
}

#[derive(Default)]
struct Direction {
    queue: VecDeque<Chunk>,
    bytes: usize,
    /// The writer shut down or went away: end of stream once the queue is read.
    closed: bool,
    /// The reader went away.
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

struct Conn {
    dirs: [Direction; 2],
    links: [Link; 2],
    /// Why the connection failed (TCP gave up behind a partition).
    failed: Option<io::ErrorKind>,
}

impl Conn {
    /// Combined faults of both hosts' links, and a loss draw per link.
    fn path(&self) -> (LinkFaults, Duration) {
        let mut f = LinkFaults::default();
        let mut extra = Duration::ZERO;
        for l in &self.links {
            let mut s = l.lock();
            let lf = s.faults;
            f.partitioned |= lf.partitioned;
            f.held |= lf.held;
            f.latency += lf.latency;
            if lf.loss > 0.0 {
                let mut rto = RTO;
                for _ in 0..6 {
                    if !s.rng.random_bool(lf.loss.clamp(0.0, 1.0)) {
                        break;
                    }
                    extra += rto;
                    rto *= 2;
                }
            }
        }
        (f, extra)
    }

    /// Gives every held chunk its arrival time if the path is clear now.
    fn release(&mut self) {
        let (f, _) = self.path();
        if f.blocked() {
            return;
        }
        let now = Instant::now();
        for d in &mut self.dirs {
            let mut last = None;
            let mut woke = false;
            for c in &mut d.queue {
                if c.at.is_none() {
                    let at = (now + f.latency).max(last.unwrap_or(now));
                    c.at = Some(at);
                    woke = true;
                }
                last = c.at;
            }
            if woke && let Some(w) = d.reader.take() {
                w.wake();
            }
        }
    }
}

/// One end of an in-memory connection.
pub struct MemoryStream {
    conn: Arc<Mutex<Conn>>,
    /// The direction this end reads (it writes the other).
    side: usize,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for MemoryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStream")
            .field("side", &self.side)
            .finish()
    }
}

/// A connection between a host on link `a` and one on link `b`: the end at `a`, then
/// the end at `b`.
pub fn pair(a: &Link, b: &Link) -> (MemoryStream, MemoryStream) {
    let conn = Arc::new(Mutex::new(Conn {
        dirs: [Direction::default(), Direction::default()],
        links: [a.clone(), b.clone()],
        failed: None,
    }));
    for l in [a, b] {
        let mut s = l.lock();
        s.conns.retain(|c| c.strong_count() > 0);
        s.conns.push(Arc::downgrade(&conn));
    }
    let end = |side| MemoryStream {
        conn: conn.clone(),
        side,
        sleep: None,
    };
    (end(0), end(1))
}

impl MemoryStream {
    fn lock(&self) -> MutexGuard<'_, Conn> {
        lock(&self.conn)
    }
}

impl AsyncRead for MemoryStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            let wait_until = {
                let mut c = lock(&this.conn);
                if let Some(kind) = c.failed {
                    return Poll::Ready(Err(kind.into()));
                }
                let d = &mut c.dirs[this.side];
                match d.queue.front_mut() {
                    None if d.closed => return Poll::Ready(Ok(())),
                    None => {
                        d.reader = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    Some(Chunk { at: None, .. }) => {
                        d.reader = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    Some(chunk) => {
                        let at = chunk.at.expect("arrival time");
                        if at <= Instant::now() {
                            let n = chunk.data.len().min(buf.remaining());
                            buf.put_slice(&chunk.data.split_to(n));
                            d.bytes -= n;
                            if chunk.data.is_empty() {
                                d.queue.pop_front();
                            }
                            if let Some(w) = d.writer.take() {
                                w.wake();
                            }
                            this.sleep = None;
                            return Poll::Ready(Ok(()));
                        }
                        at
                    }
                }
            };
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(wait_until)));
            if sleep.deadline() != wait_until {
                sleep.as_mut().reset(wait_until);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => this.sleep = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut c = self.lock();
        if let Some(kind) = c.failed {
            return Poll::Ready(Err(kind.into()));
        }
        let now = Instant::now();
        let out = 1 - self.side;
        let (reader_gone, closed, stale) = {
            let d = &c.dirs[out];
            let stale = d
                .queue
                .front()
                .is_some_and(|ch| ch.at.is_none() && now.duration_since(ch.sent) >= GIVE_UP);
            (d.reader_gone, d.closed, stale)
        };
        if reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if closed {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        }
        // TCP gives up on data a partition has kept back too long
        if stale && c.links.iter().any(|l| l.lock().faults.partitioned) {
            c.failed = Some(io::ErrorKind::TimedOut);
            for d in &mut c.dirs {
                if let Some(w) = d.reader.take() {
                    w.wake();
                }
            }
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        let d = &c.dirs[out];
        if d.bytes >= WINDOW {
            c.dirs[out].writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(WINDOW - d.bytes);
        let (f, extra) = c.path();
        let d = &mut c.dirs[out];
        let at = if f.blocked() || d.queue.back().is_some_and(|b| b.at.is_none()) {
            None
        } else {
            let last = d.queue.back().and_then(|b| b.at).unwrap_or(now);
            Some((now + f.latency + extra).max(last))
        };
        d.queue.push_back(Chunk {
            data: Bytes::copy_from_slice(&buf[..n]),
            at,
            sent: now,
        });
        d.bytes += n;
        if let Some(w) = d.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.lock().failed {
            Some(kind) => Poll::Ready(Err(kind.into())),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut c = self.lock();
        let d = &mut c.dirs[1 - self.side];
        d.closed = true;
        if let Some(w) = d.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for MemoryStream {
    fn drop(&mut self) {
        let mut c = lock(&self.conn);
        let out = 1 - self.side;
        c.dirs[out].closed = true;
        if let Some(w) = c.dirs[out].reader.take() {
            w.wake();
        }
        let mine = &mut c.dirs[self.side];
        mine.reader_gone = true;
        if let Some(w) = mine.writer.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn latency_delays_and_a_hold_keeps_bytes_in_order_until_released() {
        let (la, lb) = (Link::new(1), Link::new(2));
        la.set(LinkFaults {
            latency: Duration::from_millis(40),
            ..LinkFaults::default()
        });
        let (mut a, mut b) = pair(&la, &lb);
        let t0 = Instant::now();
        a.write_all(b"one").await.unwrap();
        let mut buf = [0u8; 3];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"one");
        assert_eq!(t0.elapsed(), Duration::from_millis(40));
        lb.set(LinkFaults {
            held: true,
            ..LinkFaults::default()
        });
        a.write_all(b"two").await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(600), b.read_exact(&mut buf)).await;
        assert!(waited.is_err(), "held bytes arrived");
        lb.set(LinkFaults::default());
        let t1 = Instant::now();
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"two");
        assert_eq!(
            t1.elapsed(),
            Duration::from_millis(40),
            "released with the latency"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn behind_a_partition_tcp_gives_up_and_loss_costs_retransmissions() {
        let (la, lb) = (Link::new(1), Link::new(2));
        let (mut a, mut b) = pair(&la, &lb);
        la.set(LinkFaults {
            partitioned: true,
            ..LinkFaults::default()
        });
        a.write_all(b"x").await.unwrap();
        tokio::time::sleep(GIVE_UP).await;
        let e = a.write_all(b"y").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let mut buf = [0u8; 1];
        assert_eq!(
            b.read(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        // all segments lost once at least: each arrives an RTO or more late
        la.set(LinkFaults {
            loss: 1.0,
            ..LinkFaults::default()
        });
        let (mut a, mut b) = pair(&la, &lb);
        let t0 = Instant::now();
        a.write_all(b"z").await.unwrap();
        b.read_exact(&mut buf).await.unwrap();
        assert!(t0.elapsed() >= RTO, "{:?}", t0.elapsed());
        // a clear link: no delay
        la.set(LinkFaults::default());
        let t1 = Instant::now();
        a.write_all(b"w").await.unwrap();
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }
}
