//! What every shell shares: the transport it sends bytes over and the clock it reads,
//! the shutdown signal, a guard that stops a task when dropped, and the one loop that
//! reads an HTTP head off a stream.

mod clock;
mod head_reader;
mod transport;

pub use clock::Clock;
pub use head_reader::{ReadHeadError, Reads, read_head};
pub use transport::{
    BoxFuture, ByteStream, HeldPort, LISTEN_BACKLOG, Listener, MemoryNetwork, Stream, Tcp,
    Transport, listen, tcp,
};

use tokio::sync::watch;

/// Resolves once the shutdown flag is set (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Aborts the task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
