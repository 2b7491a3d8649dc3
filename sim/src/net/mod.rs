//! What every shell shares: the transport it sends bytes over and the clock it reads,
//! the shutdown signal, a guard that stops a task when dropped, the one loop that reads
//! an HTTP head off a stream, and the one that writes packets from several buffers.

mod clock;
mod head_reader;
pub mod link;
mod pieces;
mod transport;

pub use clock::Clock;
pub use head_reader::{ReadHeadError, Reads, read_head};
pub use pieces::write_pieces;
pub use transport::{
    BoxFuture, ByteStream, HeldPort, LISTEN_BACKLOG, Listener, MemoryNetwork, Stream, Tcp, TcpFrom,
    Transport, listen, tcp,
};

use tokio::sync::watch;

/// Resolves once the shutdown flag is set (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// A counter that tasks wait on to change. Waiters are woken in the order they began
/// waiting, so a simulated run repeats exactly (a `watch` channel wakes its receivers in
/// an order its runtime's random generator picks).
#[derive(Debug, Default)]
pub struct Epoch {
    n: std::sync::atomic::AtomicU64,
    notify: tokio::sync::Notify,
}

impl Epoch {
    /// The current value.
    pub fn current(&self) -> u64 {
        self.n.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Moves to the next value and wakes every waiter.
    pub fn advance(&self) {
        self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Resolves once the value is no longer `seen`.
    pub async fn changed_since(&self, seen: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.current() != seen {
                return;
            }
            notified.await;
        }
    }
}

/// Aborts the task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
