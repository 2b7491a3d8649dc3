//! The tokio shell of the IP-HTTPS server: a TCP listener with rustls, the head exchange,
//! one task pair per client pumping between TLS and the [`Router`], many packets
//! coalesced per TLS write, and the built-in intranet host behind the router.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::capture::Capture;
use crate::link::Frame;
use crate::link::filter::FragmentFilter;
use crate::link::intranet::{IntranetHost, IntranetStats};
use crate::link::ip::IpConfig;
use crate::link::router::{AuthMode, ClientId, Output, Router, RouterConfig};
use crate::pki::Pki;
use crate::tls::{Acceptor, Tls, TlsError};
use crate::winerr::LastErrorCode;
use crate::wire::deframe::{Deframer, FrameError, StreamEnd};
use crate::wire::head;

mod queue;
mod stats;
mod writer;

pub use queue::{ClientQueue, Pushed};

pub use stats::{
    ClientInfo, HANDSHAKE_BUCKETS, Histogram, LockStats, ServerStats, ShellUnreconciled, Snapshot,
    ToClients,
};

use crate::net::{
    AbortOnDrop, Clock, HeldPort, Listener, ReadHeadError, Reads, Stream, Transport, read_head,
    stopped,
};

/// What a client's write buffer shrinks back to when its queue is empty.
const IDLE_BUFFER: usize = 4 * 1024;

/// Frames an idle writer keeps room for.
const IDLE_FRAMES: usize = 16;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
        /// A hint for the operator.
        hint: &'static str,
    },
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// What the server's listener does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerMode {
    /// Accepting IP-HTTPS clients.
    Open,
    /// Nothing listens: connections are refused.
    Closed,
    /// A firewall drops the traffic: new connections are never answered (their SYN gets
    /// no reply) and time out at the TCP stage; established tunnels stay.
    Blackhole,
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`[::]:443` in the CLI).
    pub listen: SocketAddr,
    /// The server's name, as in the URL and the certificate.
    pub name: String,
    /// The IP-HTTPS URI path (`/IPHTTPS`; the spec's example uses `/IPTLS`).
    pub path: String,
    /// The certificates.
    pub pki: Pki,
    /// The IP-HTTPS interface: ClientIPv6Prefix, routes, flags, AuthMode.
    pub router: RouterConfig,
    /// Address of the built-in intranet host.
    pub intranet_address: Ipv6Addr,
    /// The intranet host's reassembly and path MTU limits.
    pub intranet_ip: IpConfig,
    /// Capture of every tunnelled packet.
    pub pcap: Option<Capture>,
    /// Deadline for the TLS handshake and the HTTP head together.
    pub handshake_timeout: Duration,
    /// Packets queued toward one client before further ones are dropped.
    pub client_queue: usize,
    /// A tunnel that receives nothing for this long is closed (HTTP.sys: 2 minutes).
    pub idle_timeout: Duration,
    /// TLS over OpenSSL offering the NULL-encryption suites first (`Some(true)`), OpenSSL
    /// with them turned off (`Some(false)`: OTP, SSTP, FIPS), or rustls (`None`).
    pub null_cipher: Option<bool>,
    /// What the server listens on (the real network by default).
    pub transport: Arc<dyn Transport>,
    /// The server's time source.
    pub clock: Clock,
}

/// Default ClientIPv6Prefix (inside the default internal prefix, as in `Set-DAServer`'s example).
pub const DEFAULT_CLIENT_PREFIX: &str = "2001:db8:1:1000::/64";
/// Default internal prefix.
pub const DEFAULT_INTRANET_PREFIX: &str = "2001:db8:1::/48";
/// Default intranet host address.
pub const DEFAULT_INTRANET_HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);

impl ServerConfig {
    /// Defaults around a PKI set: `/IPHTTPS`, ClientIPv6Prefix 2001:db8:1:1000::/64,
    /// intranet 2001:db8:1::/48 with its host at 2001:db8:1::10.
    pub fn new(listen: SocketAddr, name: impl Into<String>, pki: Pki) -> Self {
        let router = RouterConfig::new(
            DEFAULT_CLIENT_PREFIX.parse().expect("valid prefix"),
            DEFAULT_INTRANET_PREFIX.parse().expect("valid prefix"),
        );
        Self {
            listen,
            name: name.into(),
            path: head::DEFAULT_PATH.to_string(),
            pki,
            router,
            intranet_address: DEFAULT_INTRANET_HOST,
            intranet_ip: IpConfig::default(),
            pcap: None,
            handshake_timeout: Duration::from_secs(10),
            client_queue: 4096,
            idle_timeout: Duration::from_secs(120),
            null_cipher: None,
            transport: crate::net::tcp(),
            clock: Clock::system(),
        }
    }
}

/// A client in the table: its queue and what `/status` shows of it.
struct Slot {
    queue: Arc<ClientQueue>,
    peer: SocketAddr,
    cipher_suite: String,
    since: SystemTime,
    bytes_in: u64,
    bytes_out: u64,
}

/// The state the tasks share under one lock: the router, the clients' queues and the
/// intranet host. Nothing awaits while holding it.
struct Core {
    router: Router,
    /// foldhash: the ids are the server's own, and SipHash was a visible share of the
    /// per-packet cost.
    clients: HashMap<ClientId, Slot, foldhash::fast::RandomState>,
    intranet: IntranetHost,
    capture: Option<Capture>,
    stats: ServerStats,
    out: Vec<Output>,
    /// The other half of `out` while `dispatch` works through it.
    spare_out: Vec<Output>,
    /// The frames of the current `dispatch` toward clients, in order, queued at its end:
    /// one lock and at most one wake-up per client per dispatch.
    to_clients: Vec<(ClientId, Frame)>,
    /// Where intranet-bound packets go instead of the built-in host (a kernel TUN).
    intranet_link: Option<mpsc::Sender<Vec<Frame>>>,
    /// The packets for `intranet_link` of the current `dispatch`, handed over together
    /// (the device copies each once, hop limit and all).
    intranet_batch: Vec<Frame>,
    /// The internal network's firewall, on the link between the router and the intranet.
    filter: FragmentFilter,
    /// The intranet host's discard-port count as of the end of the last `dispatch`, for
    /// readers that must not take the lock (a benchmark polling for the last packet).
    discarded: Arc<AtomicU64>,
}

impl Core {
    /// Carries out the router's outputs, including the intranet host's replies.
    fn dispatch(&mut self, now: Instant) {
        // the router's output and a spare swap places, so neither is reallocated per call
        let mut batch = std::mem::take(&mut self.spare_out);
        while !self.out.is_empty() {
            std::mem::swap(&mut batch, &mut self.out);
            for o in batch.drain(..) {
                match o {
                    Output::ToClient(id, frame) => {
                        let Some(slot) = self.clients.get_mut(&id) else {
                            self.stats.to_clients.session_ended += 1;
                            continue;
                        };
                        if let Some(c) = &self.capture {
                            c.record(&frame.to_vec());
                        }
                        self.stats.bytes_out += frame.len() as u64;
                        slot.bytes_out += frame.len() as u64;
                        self.to_clients.push((id, frame));
                    }
                    Output::ToIntranet(frame) => {
                        if !self.filter.passes(frame.raw()) {
                            self.stats.intranet_filtered += 1;
                            continue;
                        }
                        if self.intranet_link.is_some() {
                            self.intranet_batch.push(frame);
                            continue;
                        }
                        // the intranet host does not look at the hop limit: no copy needed
                        self.intranet.handle_packet(frame.raw(), now);
                        self.route_intranet_host(now);
                    }
                }
            }
        }
        self.spare_out = batch;
        self.queue_to_clients();
        self.discarded
            .store(self.intranet.discarded_packets(), Ordering::Release);
        if let Some(tx) = &self.intranet_link
            && !self.intranet_batch.is_empty()
        {
            let packets = std::mem::take(&mut self.intranet_batch);
            let n = packets.len() as u64;
            if tx.try_send(packets).is_err() {
                self.stats.intranet_queue_drops += n;
            }
        }
    }

    /// Hands each client's run of this dispatch's frames to its queue.
    fn queue_to_clients(&mut self) {
        let mut frames = std::mem::take(&mut self.to_clients);
        let mut rest = frames.drain(..).peekable();
        while let Some((id, first)) = rest.next() {
            let run = std::iter::once(first).chain(std::iter::from_fn(|| {
                rest.next_if(|(next, _)| *next == id).map(|(_, f)| f)
            }));
            let to = &mut self.stats.to_clients;
            match self.clients.get(&id) {
                Some(slot) => {
                    let pushed = slot.queue.push(run);
                    to.queued += pushed.queued;
                    to.queue_full += pushed.dropped;
                }
                // not reached: nothing awaits between routing and queueing
                None => to.session_ended += run.count() as u64,
            }
        }
        drop(rest);
        self.to_clients = frames;
    }

    /// Routes what the intranet host has queued.
    fn route_intranet_host(&mut self, now: Instant) {
        while let Some(p) = self.intranet.poll_transmit() {
            self.route_intranet(Bytes::from(p), now);
        }
    }

    /// Routes one packet from the internal network, through its firewall.
    fn route_intranet(&mut self, packet: Bytes, now: Instant) {
        if self.filter.passes(&packet) {
            self.router.handle_from_intranet(packet, now, &mut self.out);
        } else {
            self.stats.intranet_filtered += 1;
        }
    }
}

struct Shared {
    core: Mutex<Core>,
    /// `Core::discarded`, outside the lock.
    discarded: Arc<AtomicU64>,
    /// Times `core` was taken, and times it was found held.
    core_taken: AtomicU64,
    core_contended: AtomicU64,
    acceptor: std::sync::RwLock<Acceptor>,
    path: String,
    handshake_timeout: Duration,
    client_queue: usize,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    /// Bumped to disconnect every client (AuthMode change, listener closed).
    epoch: crate::net::Epoch,
    mode: watch::Sender<ListenerMode>,
    started: Instant,
    clock: Clock,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core_taken.fetch_add(1, Ordering::Relaxed);
        match self.core.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.core_contended.fetch_add(1, Ordering::Relaxed);
                self.core.lock().unwrap_or_else(|e| e.into_inner())
            }
        }
    }

    fn lock_stats(&self) -> LockStats {
        LockStats {
            acquisitions: self.core_taken.load(Ordering::Relaxed),
            contended: self.core_contended.load(Ordering::Relaxed),
        }
    }

    fn acceptor(&self) -> Acceptor {
        self.acceptor
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Routes packets from the intranet side, under one lock.
    fn route_from_intranet(&self, packets: impl IntoIterator<Item = Bytes>) {
        let now = self.clock.now();
        let mut core = self.lock();
        let core = &mut *core;
        for p in packets {
            core.route_intranet(p, now);
        }
        core.dispatch(now);
    }

    fn disconnect_all(&self) {
        self.epoch.advance();
    }
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    name: String,
    path: String,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Starts a server.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    let require_cert = config.router.auth_mode == AuthMode::Certificates;
    let acceptor = Acceptor::new(
        &config.pki,
        require_cert,
        config.null_cipher,
        Arc::new(config.clock),
    )?;
    let listener = config.transport.bind(config.listen).await.map_err(|source| {
        let hint = match source.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE; try --listen 127.0.0.1:8443)"
            }
            std::io::ErrorKind::AddrInUse => {
                " (another process is listening there; pick another port with --listen)"
            }
            _ => "",
        };
        ServerError::Bind {
            addr: config.listen,
            source,
            hint,
        }
    })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
        hint: "",
    })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let intranet = IntranetHost::new(
        config.intranet_address,
        config.router.intranet_mtu,
        config.intranet_ip,
    );
    let discarded = Arc::new(AtomicU64::new(0));
    let shared = Arc::new(Shared {
        core: Mutex::new(Core {
            router: Router::new(config.router),
            clients: HashMap::default(),
            intranet,
            capture: config.pcap,
            stats: ServerStats::default(),
            out: Vec::new(),
            spare_out: Vec::new(),
            to_clients: Vec::new(),
            intranet_batch: Vec::new(),
            intranet_link: None,
            filter: FragmentFilter::None,
            discarded: discarded.clone(),
        }),
        acceptor: std::sync::RwLock::new(acceptor),
        path: config.path.clone(),
        handshake_timeout: config.handshake_timeout,
        client_queue: config.client_queue,
        idle_timeout: config.idle_timeout,
        shutdown: shutdown_rx,
        epoch: crate::net::Epoch::default(),
        mode: watch::channel(ListenerMode::Open).0,
        started: config.clock.now(),
        clock: config.clock,
        core_taken: AtomicU64::new(0),
        core_contended: AtomicU64::new(0),
        discarded,
    });
    let tasks = vec![
        tokio::spawn(accept_loop(
            shared.clone(),
            config.transport.clone(),
            Some(listener),
            local_addr,
        )),
        tokio::spawn(router_timer(shared.clone())),
    ];
    tracing::info!(%local_addr, "IP-HTTPS server listening");
    Ok(ServerHandle {
        shared,
        local_addr,
        name: config.name,
        path: config.path,
        shutdown: shutdown_tx,
        tasks: Mutex::new(tasks),
    })
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The IP-HTTPS URI path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL clients use: `https://NAME:PORT/PATH`.
    pub fn url(&self) -> String {
        format!(
            "https://{}:{}{}",
            self.name,
            self.local_addr.port(),
            self.path
        )
    }

    /// Runs `f` on the router (read its state, or change its configuration as an operator would).
    pub fn with_router<R>(&self, f: impl FnOnce(&mut Router) -> R) -> R {
        f(&mut self.shared.lock().router)
    }

    /// The shell's counters.
    pub fn stats(&self) -> ServerStats {
        self.shared.lock().stats.clone()
    }

    /// The counters, the router's counters and the client table, read at one instant.
    pub fn snapshot(&self) -> Snapshot {
        let core = self.shared.lock();
        let now = self.shared.clock.wall();
        let mut clients: Vec<ClientInfo> = core
            .clients
            .iter()
            .map(|(id, slot)| ClientInfo {
                id: *id,
                peer: slot.peer,
                cipher_suite: slot.cipher_suite.clone(),
                addresses: core.router.client_addresses(*id).to_vec(),
                bytes_in: slot.bytes_in,
                bytes_out: slot.bytes_out,
                connected_seconds: now
                    .duration_since(slot.since)
                    .unwrap_or_default()
                    .as_secs_f64(),
            })
            .collect();
        clients.sort_by_key(|c| c.id);
        Snapshot {
            server: core.stats.clone(),
            router: core.router.stats().clone(),
            intranet: core.intranet.stats(),
            clients,
            uptime: self
                .shared
                .clock
                .now()
                .saturating_duration_since(self.shared.started),
            core_lock: self.shared.lock_stats(),
        }
    }

    /// How the core lock has been taken so far.
    pub fn core_lock_stats(&self) -> LockStats {
        self.shared.lock_stats()
    }

    /// The intranet host's counters.
    pub fn intranet_stats(&self) -> IntranetStats {
        self.shared.lock().intranet.stats()
    }

    /// UDP datagrams the intranet host has sunk on its discard port, read without the
    /// core lock (so polling it does not contend with the clients' tasks); current as of
    /// the end of the last batch of packets routed.
    pub fn intranet_discarded(&self) -> u64 {
        self.shared.discarded.load(Ordering::Acquire)
    }

    /// The intranet host's address.
    pub fn intranet_address(&self) -> Ipv6Addr {
        self.shared.lock().intranet.address()
    }

    /// Sends an Echo Request of `size` data bytes from the intranet host to `dst`.
    pub fn intranet_ping(&self, dst: Ipv6Addr, seq: u16, size: usize) {
        let now = self.shared.clock.now();
        let mut core = self.shared.lock();
        core.intranet.ping(dst, seq, size, now);
        core.route_intranet_host(now);
        core.dispatch(now);
    }

    /// The path MTUs the intranet host has learnt from Packet Too Big and still holds.
    pub fn intranet_path_mtus(&self) -> Vec<(Ipv6Addr, usize)> {
        let now = self.shared.clock.now();
        self.shared.lock().intranet.ip().paths().learnt(now)
    }

    /// Puts a firewall that drops fragments on the internal network (or takes it away).
    pub fn set_fragment_filter(&self, filter: FragmentFilter) {
        self.shared.lock().filter = filter;
    }

    /// The internal network's fragment filter.
    pub fn fragment_filter(&self) -> FragmentFilter {
        self.shared.lock().filter
    }

    /// Replaces the certificates, the client-certificate requirement and the TLS backend
    /// (`null`: as [`ServerConfig::null_cipher`]) for new connections. Changing the
    /// Authentication Mode disconnects every client ([MS-IPHTTPS] 3.2.7.1).
    pub fn set_tls(
        &self,
        pki: &Pki,
        auth_mode: AuthMode,
        null: Option<bool>,
    ) -> Result<(), TlsError> {
        let acceptor = Acceptor::new(
            pki,
            auth_mode == AuthMode::Certificates,
            null,
            Arc::new(self.shared.clock),
        )?;
        *self
            .shared
            .acceptor
            .write()
            .unwrap_or_else(|e| e.into_inner()) = acceptor;
        let changed = {
            let mut core = self.shared.lock();
            let old = core.router.config().auth_mode;
            core.router.config_mut().auth_mode = auth_mode;
            old != auth_mode
        };
        if changed {
            self.shared.disconnect_all();
        }
        Ok(())
    }

    /// Replaces the router's configuration; a changed Router Advertisement goes out at once.
    pub fn set_router_config(&self, config: RouterConfig) {
        let mut core = self.shared.lock();
        let core = &mut *core;
        core.router.reconfigure(config, self.shared.clock.now());
        core.router
            .handle_timeout(self.shared.clock.now(), &mut core.out);
        core.dispatch(self.shared.clock.now());
    }

    /// Opens, closes (clients disconnected, connections refused) or black-holes the listener.
    pub fn set_listener(&self, mode: ListenerMode) {
        self.shared.mode.send_if_modified(|m| {
            let changed = *m != mode;
            *m = mode;
            changed
        });
    }

    /// Sends packets from the intranet side into the router (as if the internal network
    /// had sent them), under one lock.
    pub fn intranet_send(&self, packets: impl IntoIterator<Item = Bytes>) {
        self.shared.route_from_intranet(packets);
    }

    /// Routes the intranet prefix to a link of the caller's (a kernel TUN device) instead
    /// of the built-in intranet host: packets for the intranet arrive on the returned
    /// receiver in batches (at most `capacity` batches queued, then dropped and counted:
    /// the packets routed together are handed over together), and what the
    /// intranet sends comes back through the returned sender.
    pub fn divert_intranet(&self, capacity: usize) -> (mpsc::Receiver<Vec<Frame>>, IntranetSender) {
        let (tx, rx) = mpsc::channel(capacity);
        self.shared.lock().intranet_link = Some(tx);
        (
            rx,
            IntranetSender {
                shared: self.shared.clone(),
            },
        )
    }

    /// Disconnects every client and stops listening ([MS-IPHTTPS] 3.2.4.2).
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        if let Some(c) = &self.shared.lock().capture {
            c.flush();
        }
    }
}

/// Hands packets from a diverted intranet link to the router.
#[derive(Clone)]
pub struct IntranetSender {
    shared: Arc<Shared>,
}

impl IntranetSender {
    /// Routes packets that arrived from the intranet together, under one lock.
    pub fn send(&self, packets: impl IntoIterator<Item = Bytes>) {
        self.shared.route_from_intranet(packets);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    transport: Arc<dyn Transport>,
    mut listener: Option<Box<dyn Listener>>,
    addr: SocketAddr,
) {
    let mut shutdown = shared.shutdown.clone();
    let mut mode_rx = shared.mode.subscribe();
    let mut sessions = tokio::task::JoinSet::new();
    // while black-holed, the port is held silent; while closed it is free, as when the
    // service stops (the accept loop rebinds it, retrying until it is free again)
    let mut silent: Option<HeldPort> = None;
    loop {
        let mode = *mode_rx.borrow_and_update();
        let ready = match mode {
            ListenerMode::Closed => {
                silent = None;
                if listener.take().is_some() {
                    tracing::info!(%addr, "listener closed; disconnecting every client");
                    shared.disconnect_all();
                }
                Ok(())
            }
            ListenerMode::Blackhole => {
                listener = None;
                match silent {
                    Some(_) => Ok(()),
                    None => transport.bind_silent(addr).await.map(|s| {
                        tracing::info!(%addr, "connections now go unanswered");
                        silent = Some(s);
                    }),
                }
            }
            ListenerMode::Open => {
                silent = None;
                match listener {
                    Some(_) => Ok(()),
                    None => transport.bind(addr).await.map(|l| {
                        tracing::info!(%addr, "listening again");
                        listener = Some(l);
                    }),
                }
            }
        };
        if let Err(e) = ready {
            tracing::warn!(%addr, ?mode, error = %e, "cannot take the listener's mode; retrying");
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        let accept = async {
            match &mut listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            _ = mode_rx.changed() => {}
            accepted = accept => match accepted {
                Ok((tcp, peer)) => {
                    shared.lock().stats.accepted += 1;
                    let span = tracing::info_span!("session", %peer);
                    sessions.spawn(session(shared.clone(), tcp, peer).instrument(span));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    drop(silent);
    sessions.shutdown().await;
}

async fn router_timer(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let now = shared.clock.now();
        let next = {
            let core = shared.lock();
            let r = core.router.poll_timeout();
            let i = core.intranet.poll_timeout();
            r.into_iter().chain(i).min()
        };
        // wake at least every second: the configuration may change under us
        let wake = next.map_or(now + Duration::from_secs(1), |t| {
            t.min(now + Duration::from_secs(1))
        });
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        let now = shared.clock.now();
        let mut core = shared.lock();
        let core = &mut *core;
        core.router.handle_timeout(now, &mut core.out);
        core.intranet.handle_timeout(now);
        core.route_intranet_host(now);
        core.dispatch(now);
    }
}

/// Why a client's session ended other than cleanly (logged; the client sees the close).
#[derive(Debug, thiserror::Error)]
enum SessionError {
    /// The stream could not be delimited ([MS-IPHTTPS] 3.2.5.2.2).
    #[error("{0}; ending the session")]
    Framing(FrameError),
    /// Every client was disconnected (AuthMode changed, listener closed).
    #[error("disconnected by the server")]
    Disconnected,
    /// Nothing arrived for the idle timeout.
    #[error("idle for {0:?}, closing the tunnel")]
    Idle(Duration),
    /// The stream ended inside a packet.
    #[error("stream ended inside a packet ({0} bytes of it received)")]
    Truncated(usize),
    /// Reading from the client failed.
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Writing the response failed.
    #[error("write failed: {0}")]
    Write(std::io::Error),
}

/// Reads the request head; returns it and the bytes that followed it.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    path: &str,
) -> Result<(head::RequestHead, Vec<u8>), ReadHeadError<head::HeadError>> {
    read_head(stream, Reads::Chunks, |b| head::parse_request(b, path)).await
}

async fn session(shared: Arc<Shared>, tcp: Stream, peer: SocketAddr) {
    let accepted = shared.clock.now();
    // from accept on: a connection accepted before every client is disconnected is
    // disconnected too, even if its handshake finishes after
    let epoch = shared.epoch.current();
    let deadline = tokio::time::Instant::now() + shared.handshake_timeout;
    let mut tls = match tokio::time::timeout_at(deadline, shared.acceptor().accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let code = LastErrorCode::seen_by_server_io(&e);
            let mut core = shared.lock();
            core.stats.tls_failures += 1;
            core.stats.fail(code, "tls_handshake");
            tracing::info!(error = %e, %code, "TLS handshake failed");
            return;
        }
        Err(_) => {
            let mut core = shared.lock();
            core.stats.tls_failures += 1;
            core.stats.handshake_timeouts += 1;
            core.stats
                .fail(LastErrorCode::TIMED_OUT, "handshake_timeout");
            tracing::info!("TLS handshake not finished in time, closing the connection");
            return;
        }
    };
    let leftover =
        match tokio::time::timeout_at(deadline, read_request(&mut tls, &shared.path)).await {
            Ok(Ok((head, rest))) => {
                tracing::debug!(path = %head.path, host = ?head.host, "IP-HTTPS request accepted");
                rest
            }
            Ok(Err(reason)) => {
                let mut core = shared.lock();
                core.stats.head_refused += 1;
                core.stats
                    .fail(LastErrorCode::CONNECTION_RESET, "head_refused");
                tracing::warn!(%reason, "refusing IP-HTTPS request, closing the connection");
                return;
            }
            Err(_) => {
                let mut core = shared.lock();
                core.stats.head_refused += 1;
                core.stats.handshake_timeouts += 1;
                core.stats.fail(LastErrorCode::TIMED_OUT, "head_timeout");
                tracing::warn!("HTTP head not received in time, closing the connection");
                return;
            }
        };
    let queue = Arc::new(ClientQueue::new(shared.client_queue));
    let cipher_suite = tls.cipher_suite();
    let id = {
        let mut core = shared.lock();
        match core.router.add_client(shared.clock.now()) {
            Ok(id) => {
                crate::link::reserve_for_churn(&mut core.clients);
                core.clients.insert(
                    id,
                    Slot {
                        queue: queue.clone(),
                        peer,
                        cipher_suite,
                        since: shared.clock.wall(),
                        bytes_in: 0,
                        bytes_out: 0,
                    },
                );
                core.stats.tunnels += 1;
                core.stats
                    .handshake
                    .observe(shared.clock.now().saturating_duration_since(accepted));
                id
            }
            Err(e) => {
                core.stats.table_full += 1;
                core.stats
                    .fail(LastErrorCode::CONNECTION_RESET, "table_full");
                tracing::warn!(error = %e, "cannot add client, disconnecting it");
                return;
            }
        }
    };
    tracing::info!(client = id, %peer, "client connected");
    let result = tunnel(&shared, id, tls, leftover, queue, epoch).await;
    {
        let mut core = shared.lock();
        core.router.remove_client(id);
        core.clients.remove(&id);
    }
    match result {
        Ok(()) => tracing::info!(client = id, "client disconnected"),
        Err(reason) => tracing::warn!(client = id, %reason, "session ended"),
    }
}

async fn tunnel(
    shared: &Shared,
    id: ClientId,
    mut tls: Tls<Stream>,
    leftover: Vec<u8>,
    queue: Arc<ClientQueue>,
    epoch: u64,
) -> Result<(), SessionError> {
    let now = shared.clock.date();
    tls.write_all(&head::response(now))
        .await
        .map_err(SessionError::Write)?;
    tls.flush().await.map_err(SessionError::Write)?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        // both grow with bursts and shrink back when idle: an idle client costs little
        let (mut frames, mut scratch) = (Vec::new(), Vec::new());
        loop {
            queue.take(&mut frames).await;
            let written = writer::write_frames(&mut wr, &frames, &mut scratch).await;
            frames.clear();
            if written.is_err() {
                break;
            }
            if queue.is_empty() {
                frames.shrink_to(IDLE_FRAMES);
                scratch.clear();
                scratch.shrink_to(IDLE_BUFFER);
            }
        }
        let _ = wr.shutdown().await;
    });
    let _abort = AbortOnDrop(writer);
    let mtu = shared.lock().router.config().mtu;
    let mut deframer = Deframer::with_initial(mtu, &leftover);
    let mut shutdown = shared.shutdown.clone();
    let mut n = leftover.len();
    // made once and polled again on every pass: each pass would otherwise join and leave
    // the wait lists every session shares, and move the idle timer on every read
    let stop = stopped(&mut shutdown);
    let kicked = shared.epoch.changed_since(epoch);
    let idle = tokio::time::sleep(shared.idle_timeout);
    tokio::pin!(stop, kicked, idle);
    let mut last_read = tokio::time::Instant::now();
    loop {
        if n > 0 {
            last_read = tokio::time::Instant::now();
            let mut core = shared.lock();
            let core = &mut *core;
            core.stats.bytes_in += n as u64;
            if let Some(slot) = core.clients.get_mut(&id) {
                slot.bytes_in += n as u64;
            }
            let now = shared.clock.now();
            loop {
                match deframer.next_packet() {
                    Ok(Some(p)) => {
                        if let Some(c) = &core.capture {
                            c.record(&p);
                        }
                        core.router.handle_from_client(id, p, now, &mut core.out);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        core.stats.framing_errors += 1;
                        core.dispatch(now);
                        // [MS-IPHTTPS] 3.2.5.2.2: discard and end this client's session
                        return Err(SessionError::Framing(e));
                    }
                }
            }
            core.dispatch(now);
        }
        n = tokio::select! {
            biased;
            _ = &mut stop => return Ok(()),
            _ = &mut kicked => return Err(SessionError::Disconnected),
            _ = &mut idle => {
                let due = last_read + shared.idle_timeout;
                if due > tokio::time::Instant::now() {
                    // read from since the timer was set: it runs from the last read
                    idle.as_mut().reset(due);
                    0
                } else {
                    shared.lock().stats.idle_closed += 1;
                    return Err(SessionError::Idle(shared.idle_timeout));
                }
            }
            r = rd.read_buf(deframer.buffer_mut()) => match r {
                Ok(0) => {
                    return match deframer.end() {
                        StreamEnd::Clean => Ok(()),
                        StreamEnd::Truncated(k) => Err(SessionError::Truncated(k)),
                    };
                }
                Ok(n) => n,
                // a peer that just goes away (no close_notify) is common, not an error
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(SessionError::Read(e)),
            },
        };
    }
}
