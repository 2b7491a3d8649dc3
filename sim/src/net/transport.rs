//! What the shells send bytes over: a [`Transport`] binds listeners and opens streams.
//! [`Tcp`] is the real network (the default everywhere); [`MemoryNetwork`] is an
//! in-process network of named hosts, so a server and its clients can run without a
//! socket, under a paused or simulated clock.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A boxed future, as the transport's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream a shell runs TLS over.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// The stream the shells use, whatever the transport.
pub type Stream = Box<dyn ByteStream>;

/// A bound listener.
pub trait Listener: Send {
    /// The next connection and its peer's address.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Stream, SocketAddr)>>;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// How the shells reach the network.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Binds a listener on `addr` (port 0: any free port).
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>>;
    /// Opens a stream to `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Stream>>;
}

/// The real network: TCP sockets, Nagle off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tcp;

struct TcpBound(TcpListener);

impl Listener for TcpBound {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Stream, SocketAddr)>> {
        Box::pin(async move {
            let (s, peer) = self.0.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Box::new(s) as Stream, peer))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Transport for Tcp {
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let l = TcpListener::bind(addr).await?;
            Ok(Box::new(TcpBound(l)) as Box<dyn Listener>)
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Stream>> {
        Box::pin(async move {
            let s = TcpStream::connect(addr).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s) as Stream)
        })
    }
}

/// The real network, shared: the default transport of every shell.
pub fn tcp() -> Arc<dyn Transport> {
    Arc::new(Tcp)
}

/// Bytes a memory stream buffers each way before the writer waits.
const MEMORY_BUFFER: usize = 256 * 1024;

type Backlog = mpsc::Sender<(DuplexStream, SocketAddr)>;

#[derive(Debug, Default)]
struct Hosts {
    listeners: HashMap<SocketAddr, Backlog>,
    next_port: u16,
}

/// An in-process network: hosts by address, listeners by socket address, connections as
/// in-memory duplex streams. Nothing leaves the process.
#[derive(Debug, Clone, Default)]
pub struct MemoryNetwork {
    hosts: Arc<Mutex<Hosts>>,
}

impl MemoryNetwork {
    /// A new, empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// The transport of the host at `ip` on this network.
    pub fn host(&self, ip: IpAddr) -> Arc<dyn Transport> {
        Arc::new(MemoryHost {
            net: self.clone(),
            ip,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hosts> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ephemeral(&self) -> u16 {
        let mut h = self.lock();
        h.next_port = h.next_port.wrapping_add(1).max(1);
        49152 + h.next_port % 16384
    }
}

/// One host of a [`MemoryNetwork`].
#[derive(Debug)]
struct MemoryHost {
    net: MemoryNetwork,
    ip: IpAddr,
}

struct MemoryBound {
    addr: SocketAddr,
    net: MemoryNetwork,
    rx: mpsc::Receiver<(DuplexStream, SocketAddr)>,
}

impl Listener for MemoryBound {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Stream, SocketAddr)>> {
        Box::pin(async move {
            match self.rx.recv().await {
                Some((s, peer)) => Ok((Box::new(s) as Stream, peer)),
                None => Err(io::ErrorKind::NotConnected.into()),
            }
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for MemoryBound {
    fn drop(&mut self) {
        self.net.lock().listeners.remove(&self.addr);
    }
}

impl Transport for MemoryHost {
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let ip = if addr.ip().is_unspecified() {
                self.ip
            } else {
                addr.ip()
            };
            let port = match addr.port() {
                0 => self.net.ephemeral(),
                p => p,
            };
            let addr = SocketAddr::new(ip, port);
            let (tx, rx) = mpsc::channel(1024);
            let mut hosts = self.net.lock();
            if hosts.listeners.contains_key(&addr) {
                return Err(io::ErrorKind::AddrInUse.into());
            }
            hosts.listeners.insert(addr, tx);
            drop(hosts);
            Ok(Box::new(MemoryBound {
                addr,
                net: self.net.clone(),
                rx,
            }) as Box<dyn Listener>)
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Stream>> {
        Box::pin(async move {
            let backlog = self.net.lock().listeners.get(&addr).cloned();
            let backlog = backlog.ok_or(io::ErrorKind::ConnectionRefused)?;
            let (ours, theirs) = tokio::io::duplex(MEMORY_BUFFER);
            let me = SocketAddr::new(self.ip, self.net.ephemeral());
            backlog
                .send((theirs, me))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
            Ok(Box::new(ours) as Stream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn memory_hosts_connect_by_address_and_refuse_where_nothing_listens() {
        let net = MemoryNetwork::new();
        let server = net.host("192.0.2.1".parse().unwrap());
        let client = net.host("198.51.100.7".parse().unwrap());
        let mut l = server.bind("0.0.0.0:443".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(addr, "192.0.2.1:443".parse().unwrap());
        let err = server.bind(addr).await.err().expect("the address is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let mut c = client.connect(addr).await.unwrap();
        let (mut s, peer) = l.accept().await.unwrap();
        assert_eq!(peer.ip(), "198.51.100.7".parse::<IpAddr>().unwrap());
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        drop(l);
        let refused = client.connect(addr).await.err().expect("nobody listens");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }
}
