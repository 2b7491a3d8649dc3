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

use tokio::io::{AsyncRead, AsyncWrite};

use super::link::{self, Link, LinkFaults, MemoryStream};
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
    /// Occupies `addr` so that nothing connecting to it is ever answered (the SYN gets no
    /// reply, as behind a firewall that drops); dropping the value frees the address.
    fn bind_silent(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>>;
    /// Occupies `addr` so that connections to it are refused, as where nothing listens,
    /// while the port stays bound (the system hands out no ephemeral port that is bound);
    /// dropping the value frees the address.
    fn bind_refusing(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>>;
}

/// An address held by [`Transport::bind_silent`] or [`Transport::bind_refusing`].
pub struct HeldPort {
    _held: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for HeldPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeldPort")
    }
}

/// Connections the TCP implementation of [`Transport::bind_silent`] makes to fill the
/// accept queue before one goes unanswered (a listen backlog of 0 holds one or two).
const SILENT_FILLERS: usize = 8;

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
        Box::pin(async move { Ok(Box::new(TcpBound(listen(addr)?)) as Box<dyn Listener>) })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Stream>> {
        Box::pin(async move {
            let s = TcpStream::connect(addr).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s) as Stream)
        })
    }

    /// A listening socket with a backlog of 0 that nobody accepts from, its accept queue
    /// filled by connections of our own: the kernel then drops every further SYN (Linux
    /// and the BSDs do; no privilege needed). Fails if the queue does not fill.
    fn bind_silent(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>> {
        Box::pin(async move {
            let sock = bound_socket(addr)?;
            let listener = sock.listen(0)?;
            let local = listener.local_addr()?;
            let target = match local.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => {
                    SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
                }
                IpAddr::V6(ip) if ip.is_unspecified() => {
                    SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), local.port())
                }
                _ => local,
            };
            let mut fillers = Vec::new();
            for _ in 0..SILENT_FILLERS {
                let attempt = TcpStream::connect(target);
                match tokio::time::timeout(std::time::Duration::from_millis(250), attempt).await {
                    Ok(Ok(s)) => fillers.push(s),
                    Ok(Err(e)) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!(
                                "a connection beyond the backlog was refused ({e}), not left \
                                 unanswered: this system cannot black-hole a port without a firewall"
                            ),
                        ));
                    }
                    // unanswered: the queue is full, as wanted
                    Err(_) => {
                        return Ok(HeldPort {
                            _held: Box::new((listener, fillers)),
                        });
                    }
                }
            }
            Err(io::Error::other(format!(
                "{SILENT_FILLERS} connections to a listener with backlog 0 were all answered: \
                 this system does not drop SYNs beyond the backlog"
            )))
        })
    }
    /// A socket bound to the address and never listening: the kernel refuses (RST) every
    /// connection to it, and the port stays ours.
    fn bind_refusing(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>> {
        Box::pin(async move {
            let sock = bound_socket(addr)?;
            Ok(HeldPort {
                _held: Box::new(sock),
            })
        })
    }
}

/// Connections the kernel queues for a listener before it accepts them. The standard
/// library's 128 overflows when a few hundred clients connect at once (the kernel then
/// drops SYNs and the clients retry a second later); a server meant for thousands of
/// clients keeps a deep queue, as http.sys does. Linux caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A TCP listener on `addr` with a [`LISTEN_BACKLOG`]-deep accept queue.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    bound_socket(addr)?.listen(LISTEN_BACKLOG)
}

/// A TCP socket bound to `addr` (address reuse on, as listeners have it), not listening.
fn bound_socket(addr: SocketAddr) -> io::Result<tokio::net::TcpSocket> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    Ok(sock)
}

/// The real network, shared: the default transport of every shell.
pub fn tcp() -> Arc<dyn Transport> {
    Arc::new(Tcp)
}

/// The real network, with every connection made from `source` (an ephemeral port of that
/// address): many clients spread over several source addresses get past one address's
/// ephemeral ports. Listening is as [`Tcp`]'s.
#[derive(Debug, Clone, Copy)]
pub struct TcpFrom(pub IpAddr);

impl Transport for TcpFrom {
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Tcp.bind(addr)
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Stream>> {
        let source = self.0;
        Box::pin(async move {
            let sock = match source {
                IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
            };
            sock.bind(SocketAddr::new(source, 0))?;
            let s = sock.connect(addr).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s) as Stream)
        })
    }

    fn bind_silent(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>> {
        Tcp.bind_silent(addr)
    }

    fn bind_refusing(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>> {
        Tcp.bind_refusing(addr)
    }
}

type Backlog = mpsc::Sender<(MemoryStream, SocketAddr)>;

#[derive(Debug, Default)]
struct Hosts {
    listeners: HashMap<SocketAddr, Backlog>,
    silent: std::collections::HashSet<SocketAddr>,
    refusing: std::collections::HashSet<SocketAddr>,
    links: std::collections::BTreeMap<IpAddr, Link>,
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

    /// The link of the host at `ip` (made clear on first use, its losses seeded by the
    /// address so that runs repeat).
    pub fn link(&self, ip: IpAddr) -> Link {
        self.lock()
            .links
            .entry(ip)
            .or_insert_with(|| {
                let seed = match ip {
                    IpAddr::V4(a) => u64::from(u32::from(a)),
                    IpAddr::V6(a) => u128::from(a) as u64,
                };
                Link::new(seed)
            })
            .clone()
    }

    /// Changes what the link of the host at `ip` does to every connection it has, and
    /// to new ones ([`link`]).
    pub fn set_link(&self, ip: IpAddr, faults: LinkFaults) {
        self.link(ip).set(faults);
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
    rx: mpsc::Receiver<(MemoryStream, SocketAddr)>,
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

/// A held address of a [`MemoryNetwork`] (silent or refusing), freed on drop.
struct MemoryHeld {
    addr: SocketAddr,
    net: MemoryNetwork,
}

impl Drop for MemoryHeld {
    fn drop(&mut self) {
        let mut hosts = self.net.lock();
        hosts.silent.remove(&self.addr);
        hosts.refusing.remove(&self.addr);
    }
}

impl Hosts {
    fn taken(&self, addr: &SocketAddr) -> bool {
        self.listeners.contains_key(addr)
            || self.silent.contains(addr)
            || self.refusing.contains(addr)
    }
}

impl MemoryHost {
    /// Holds `addr` in one of the network's sets of held addresses until dropped.
    fn hold(
        &self,
        addr: SocketAddr,
        set: fn(&mut Hosts) -> &mut std::collections::HashSet<SocketAddr>,
    ) -> io::Result<HeldPort> {
        let addr = self.local(addr);
        let mut hosts = self.net.lock();
        if hosts.taken(&addr) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        set(&mut hosts).insert(addr);
        Ok(HeldPort {
            _held: Box::new(MemoryHeld {
                addr,
                net: self.net.clone(),
            }),
        })
    }

    /// `addr` on this host (its unspecified IP and port 0 filled in).
    fn local(&self, addr: SocketAddr) -> SocketAddr {
        let ip = if addr.ip().is_unspecified() {
            self.ip
        } else {
            addr.ip()
        };
        let port = match addr.port() {
            0 => self.net.ephemeral(),
            p => p,
        };
        SocketAddr::new(ip, port)
    }
}

impl Transport for MemoryHost {
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let addr = self.local(addr);
            let (tx, rx) = mpsc::channel(1024);
            let mut hosts = self.net.lock();
            if hosts.taken(&addr) {
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

    fn bind_silent(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>> {
        Box::pin(async move { self.hold(addr, |h| &mut h.silent) })
    }

    fn bind_refusing(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<HeldPort>> {
        Box::pin(async move { self.hold(addr, |h| &mut h.refusing) })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Stream>> {
        Box::pin(async move {
            if self.net.lock().silent.contains(&addr) {
                // the SYN is never answered
                std::future::pending::<()>().await;
            }
            // the SYN (and the refusal) cross both hosts' links
            let (mine, theirs_link) = (self.net.link(self.ip), self.net.link(addr.ip()));
            mine.passable().await;
            theirs_link.passable().await;
            let backlog = self.net.lock().listeners.get(&addr).cloned();
            let backlog = backlog.ok_or(io::ErrorKind::ConnectionRefused)?;
            let (ours, theirs) = link::pair(&mine, &theirs_link);
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

    /// A silent address answers no connection until it is dropped; then the address can
    /// be listened on again. On the real network and the memory network alike.
    async fn silent_until_dropped(t: Arc<dyn Transport>, addr: SocketAddr) {
        let l = t.bind(addr).await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let silent = t.bind_silent(addr).await.unwrap();
        let attempt = tokio::time::timeout(std::time::Duration::from_millis(300), t.connect(addr));
        assert!(
            attempt.await.is_err(),
            "a connection to a silent address was answered"
        );
        drop(silent);
        let mut l = t.bind(addr).await.unwrap();
        let (c, s) = tokio::join!(t.connect(addr), l.accept());
        c.unwrap();
        s.unwrap();
    }

    /// A refusing address refuses connections until it is dropped; then it can be listened
    /// on again.
    async fn refusing_until_dropped(t: Arc<dyn Transport>, addr: SocketAddr) {
        let l = t.bind(addr).await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let held = t.bind_refusing(addr).await.unwrap();
        let refused = t.connect(addr).await.err().expect("refused");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        drop(held);
        let mut l = t.bind(addr).await.unwrap();
        let (c, s) = tokio::join!(t.connect(addr), l.accept());
        c.unwrap();
        s.unwrap();
    }

    #[tokio::test]
    async fn refusing_addresses_refuse_and_keep_their_port() {
        refusing_until_dropped(tcp(), "127.0.0.1:0".parse().unwrap()).await;
        let net = MemoryNetwork::new();
        refusing_until_dropped(
            net.host("192.0.2.1".parse().unwrap()),
            "192.0.2.1:443".parse().unwrap(),
        )
        .await;
    }

    #[tokio::test]
    async fn silent_addresses_answer_nothing_until_dropped() {
        silent_until_dropped(tcp(), "127.0.0.1:0".parse().unwrap()).await;
        let net = MemoryNetwork::new();
        silent_until_dropped(
            net.host("192.0.2.1".parse().unwrap()),
            "192.0.2.1:443".parse().unwrap(),
        )
        .await;
    }
}
