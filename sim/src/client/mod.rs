//! The tokio shell of the IP-HTTPS client: connect, verify the server certificate
//! against the trust store, the head exchange, then pump between TLS and the [`Host`].
//! The state machine and the reconnect timer are the spec's ([MS-IPHTTPS] 3.1).

mod kernel;

pub use crate::client_state::{
    ClientState, ClientStatus, ConnectError, FailureAt, IcmpErrorSeen, NetshView, STATUS_ACTIVE,
    STATUS_CONNECTING, STATUS_DISABLED, STATUS_FAILED, STATUS_INVALID_URL,
};
pub use crate::dial::{IphttpsUrl, ProxyUrl, UrlError, parse_resolve};
pub use crate::port::KernelPort;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsConnector;

use crate::capture::Capture;
use crate::client_state::transition::{self, NetworkSituation};
use crate::client_state::{Attempt, ClientMachine};
use crate::dial::Dialer;
use crate::link::host::{Host, HostConfig, HostEvent};
use crate::net::{Clock, Stream, Transport};
use crate::net::{Reads, read_head, stopped};
use crate::port::Batch;
use crate::tls::{self, NullCipher, Tls, TlsError};
use crate::wire::deframe::Deframer;
use crate::wire::head;
use crate::wire::ipv6::MIN_MTU;

/// Echo identifier the client uses for its pings.
const PING_ID: u16 = 0x4950;

/// The client's configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server URL.
    pub url: IphttpsUrl,
    /// Names resolved without DNS, as curl's `--resolve`.
    pub resolve: Vec<(String, IpAddr)>,
    /// PEM of the roots the client trusts.
    pub trust_pem: String,
    /// Client certificate chain and key (PEM), for AuthMode Certificates.
    pub client_cert: Option<(String, String)>,
    /// The host's ND timers and seed.
    pub host: HostConfig,
    /// First reconnect wait (30 s in Windows).
    pub reconnect_initial: Duration,
    /// Reconnect cap (15 min in Windows).
    pub reconnect_cap: Duration,
    /// Deadline for TCP connect, then for TLS plus the HTTP exchange.
    pub connect_timeout: Duration,
    /// Capture of every tunnelled packet.
    pub pcap: Option<Capture>,
    /// Where to fetch CRLs before each attempt; `None` checks no revocation (as Windows 8
    /// and later do for IP-HTTPS), `Some` enforces it (as Windows 7 does).
    pub crl_url: Option<String>,
    /// Whether names not in `resolve` go to the system resolver (`false` in labs, so a
    /// simulated client never sends a DNS query off the machine).
    pub system_dns: bool,
    /// The network the client is on, which decides whether IP-HTTPS is used at all.
    pub network: NetworkSituation,
    /// When set, an operating system's IPv6 stack is the client's host (kernel TUN mode):
    /// packets go between the tunnel and this port instead of the built-in [`Host`].
    pub kernel: Option<Arc<KernelPort>>,
    /// A web proxy to reach the server through with `CONNECT`.
    pub proxy: Option<ProxyUrl>,
    /// Whether the client offers the NULL-encryption suites (OpenSSL backend).
    pub null_cipher: NullCipher,
    /// What the client dials over (the real network by default).
    pub transport: Arc<dyn Transport>,
    /// The client's time source.
    pub clock: Clock,
}

impl ClientConfig {
    /// How this client dials the server.
    pub fn dialer(&self) -> Dialer {
        Dialer {
            url: self.url.clone(),
            resolve: self.resolve.clone(),
            system_dns: self.system_dns,
            proxy: self.proxy.clone(),
            timeout: self.connect_timeout,
            transport: self.transport.clone(),
        }
    }

    /// A configuration with Windows' timers.
    pub fn new(url: IphttpsUrl, trust_pem: String) -> Self {
        Self {
            url,
            resolve: Vec::new(),
            trust_pem,
            client_cert: None,
            host: HostConfig::default(),
            reconnect_initial: Duration::from_secs(30),
            reconnect_cap: Duration::from_secs(15 * 60),
            connect_timeout: Duration::from_secs(10),
            pcap: None,
            crl_url: None,
            system_dns: true,
            network: NetworkSituation::default(),
            kernel: None,
            proxy: None,
            null_cipher: NullCipher::Off,
            transport: crate::net::tcp(),
            clock: Clock::system(),
        }
    }
}

/// Why a ping did not get its reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// The link is not up with a usable source address.
    #[error("the IP-HTTPS interface has no usable address")]
    NotUp,
    /// No reply within the timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The client stopped.
    #[error("the client stopped")]
    Stopped,
}

enum Command {
    Ping {
        dst: Ipv6Addr,
        size: usize,
        reply: oneshot::Sender<Result<Duration, PingError>>,
    },
    Udp {
        dst: Ipv6Addr,
        src_port: u16,
        dst_port: u16,
        data: Vec<u8>,
    },
}

/// A running client.
pub struct ClientHandle {
    config: Arc<Mutex<ClientConfig>>,
    status: watch::Receiver<ClientStatus>,
    commands: mpsc::Sender<Command>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Starts a client; it connects at once and reconnects by itself.
pub fn start(config: ClientConfig) -> Result<ClientHandle, TlsError> {
    // built here to refuse bad stores at once, and kept for the first attempt
    let first = tls_for(&config, None)?;
    let prebuilt = config
        .crl_url
        .is_none()
        .then(|| (TlsInputs::of(&config), first));
    let (status_tx, status_rx) = watch::channel(ClientStatus::new(config.url.to_string()));
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let span = tracing::info_span!("client", url = %config.url);
    let config = Arc::new(Mutex::new(config));
    let task = tokio::spawn(tracing::Instrument::instrument(
        run(config.clone(), status_tx, cmd_rx, shutdown_rx, prebuilt),
        span,
    ));
    Ok(ClientHandle {
        config,
        status: status_rx,
        commands: cmd_tx,
        shutdown: shutdown_tx,
        task: Mutex::new(Some(task)),
    })
}

/// What a client's [`Connector`] is built from: one built from the same still fits.
#[derive(PartialEq, Eq)]
struct TlsInputs {
    trust_pem: String,
    client_cert: Option<(String, String)>,
    crl_url: Option<String>,
    null_cipher: NullCipher,
    clock: Clock,
}

impl TlsInputs {
    fn of(c: &ClientConfig) -> Self {
        Self {
            trust_pem: c.trust_pem.clone(),
            client_cert: c.client_cert.clone(),
            crl_url: c.crl_url.clone(),
            null_cipher: c.null_cipher,
            clock: c.clock,
        }
    }
}

/// The client's TLS: rustls, or OpenSSL when NULL suites are asked for.
enum Connector {
    Rustls(TlsConnector),
    #[cfg(feature = "null-cipher")]
    OpenSsl(tls::openssl::Connector),
}

fn tls_for(config: &ClientConfig, crls: Option<&str>) -> Result<Connector, TlsError> {
    let client_cert = config
        .client_cert
        .as_ref()
        .map(|(c, k)| (c.as_str(), k.as_str()));
    match config.null_cipher {
        NullCipher::Off => Ok(Connector::Rustls(TlsConnector::from(
            tls::client_config_with_crls(
                &config.trust_pem,
                client_cert,
                crls,
                Arc::new(config.clock),
            )?,
        ))),
        #[cfg(feature = "null-cipher")]
        mode => Ok(Connector::OpenSsl(tls::openssl::Connector::new(
            mode,
            tls::server_verifier(&config.trust_pem, crls)?,
            client_cert,
        )?)),
        #[cfg(not(feature = "null-cipher"))]
        _ => Err(TlsError::NoOpenSsl),
    }
}

impl Connector {
    async fn connect(&self, host: &str, tcp: Stream) -> Result<Tls<Stream>, ConnectError> {
        match self {
            Connector::Rustls(c) => {
                let name = ServerName::try_from(host.to_string())
                    .map_err(|_| ConnectError::IpAddressUrl(host.to_string()))?;
                let s = c.connect(name, tcp).await.map_err(ConnectError::Tls)?;
                Ok(Tls::Rustls(Box::new(tokio_rustls::TlsStream::Client(s))))
            }
            #[cfg(feature = "null-cipher")]
            Connector::OpenSsl(c) => match c.connect(host, tcp).await {
                Ok(s) => Ok(Tls::OpenSsl(Box::new(s))),
                Err(tls::openssl::ConnectFailure::Handshake(d)) => Err(ConnectError::Handshake(d)),
                Err(tls::openssl::ConnectFailure::Untrusted(e)) => Err(ConnectError::Tls(
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )),
            },
        }
    }
}

impl ClientHandle {
    /// The client's current configuration (its stores, hosts entries, URL).
    pub fn config(&self) -> ClientConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the configuration; the next connection attempt uses it.
    pub fn update(&self, f: impl FnOnce(&mut ClientConfig)) {
        f(&mut self.config.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The current status.
    pub fn status(&self) -> ClientStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every later change of the status.
    pub fn watch(&self) -> watch::Receiver<ClientStatus> {
        self.status.clone()
    }

    /// Waits until `pred` holds for the status, at most `timeout`; returns the last status
    /// either way, with `Ok` only when the predicate held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&ClientStatus) -> bool,
    ) -> Result<ClientStatus, ClientStatus> {
        let mut rx = self.status.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
            Ok(Ok(s)) => Ok(s.clone()),
            _ => Err(self.status()),
        }
    }

    /// Waits for LinkUp with a global address.
    pub async fn wait_active(&self, timeout: Duration) -> Result<ClientStatus, ClientStatus> {
        self.wait_until(timeout, ClientStatus::is_active_with_address)
            .await
    }

    /// Pings `dst` through the tunnel with `size` data bytes; returns the round trip.
    pub async fn ping(
        &self,
        dst: Ipv6Addr,
        size: usize,
        timeout: Duration,
    ) -> Result<Duration, PingError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Ping {
                dst,
                size,
                reply: tx,
            })
            .await
            .map_err(|_| PingError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(PingError::NotUp),
            Err(_) => Err(PingError::Timeout(timeout)),
        }
    }

    /// Sends a UDP datagram through the tunnel (dropped if the link is down).
    pub async fn send_udp(&self, dst: Ipv6Addr, src_port: u16, dst_port: u16, data: Vec<u8>) {
        let _ = self
            .commands
            .send(Command::Udp {
                dst,
                src_port,
                dst_port,
                data,
            })
            .await;
    }

    /// Disables the interface and waits for the client to stop.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn run(
    shared: Arc<Mutex<ClientConfig>>,
    status: watch::Sender<ClientStatus>,
    mut commands: mpsc::Receiver<Command>,
    mut shutdown: watch::Receiver<bool>,
    mut prebuilt: Option<(TlsInputs, Connector)>,
) {
    let snapshot = || shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let first = snapshot();
    let mut machine = ClientMachine::new(first.reconnect_initial, first.reconnect_cap);
    loop {
        let config = snapshot();
        let chosen = transition::choose(&config.network);
        let url = config.url.to_string();
        let mut attempt = Attempt::Connect;
        status.send_modify(|s| attempt = machine.begin(s, chosen, &url));
        if let Attempt::StandBy(wait) = attempt {
            // Windows uses another technology here; IP-HTTPS stays down until that changes
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break,
                _ = tokio::time::sleep(wait) => continue,
            }
        }
        // the first attempt uses the connector `start` built, unless the stores changed
        // since; every later one builds its own (the fixes' new stores, and no TLS
        // session carried from one attempt to the next)
        let ready = prebuilt
            .take()
            .filter(|(inputs, _)| *inputs == TlsInputs::of(&config))
            .map(|(_, c)| c);
        let outcome = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            r = connect(&config, &status, &mut machine, ready) => r,
        };
        let failure = match outcome {
            Ok((stream, leftover)) => {
                let suite = stream.cipher_suite();
                tracing::debug!(cipher_suite = %suite, protocol = %stream.protocol(), "TLS up");
                status.send_modify(|s| machine.link_up(s, suite));
                tracing::info!("IP-HTTPS link up");
                let host_cfg = HostConfig {
                    seed: config.host.seed.wrapping_add(machine.attempts()),
                    ..config.host.clone()
                };
                match link(
                    &config,
                    host_cfg,
                    stream,
                    leftover,
                    &status,
                    &mut commands,
                    &mut shutdown,
                )
                .await
                {
                    Ok(()) => break,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        tracing::warn!(error = %failure, code = %failure.code(), "IP-HTTPS connection failed");
        let now = config.clock.now();
        let mut again = now;
        status.send_modify(|s| again = machine.failed(s, &failure, now));
        let sleep = tokio::time::sleep_until(again.into());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => {
                    status.send_modify(|s| machine.disabled(s));
                    return;
                }
                _ = &mut sleep => break,
                Some(cmd) = commands.recv() => refuse(cmd),
            }
        }
    }
    status.send_modify(|s| machine.disabled(s));
}

fn refuse(cmd: Command) {
    if let Command::Ping { reply, .. } = cmd {
        let _ = reply.send(Err(PingError::NotUp));
    }
}

async fn connect(
    config: &ClientConfig,
    status: &watch::Sender<ClientStatus>,
    machine: &mut ClientMachine,
    ready: Option<Connector>,
) -> Result<(Tls<Stream>, Vec<u8>), ConnectError> {
    let dialer = config.dialer();
    let via = dialer.via().await?;
    let crls = match &config.crl_url {
        Some(url) => Some(
            crate::tls::revocation::fetch(url, config.connect_timeout, |a| {
                config.transport.connect(a)
            })
            .await
            .map_err(|e| ConnectError::RevocationOffline(e.to_string()))?,
        ),
        None => None,
    };
    let connector = match ready {
        Some(c) if crls.is_none() => c,
        _ => tls_for(config, crls.as_deref()).map_err(|e| ConnectError::Stores(e.to_string()))?,
    };
    let tcp = dialer.open(&via).await?;
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut tls =
        match tokio::time::timeout_at(deadline, connector.connect(&config.url.host, tcp)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnectError::Timeout("TLS handshake")),
        };
    status.send_modify(|s| machine.established(s));
    let request = head::request(&config.url.path, &config.url.host);
    let exchange = async {
        tls.write_all(&request).await.map_err(ConnectError::Io)?;
        tls.flush().await.map_err(ConnectError::Io)?;
        let (head, rest) = read_head(&mut tls, Reads::Chunks, head::parse_response)
            .await
            .map_err(ConnectError::from)?;
        tracing::debug!(server = ?head.server, date = ?head.date, "IP-HTTPS response 200");
        Ok::<_, ConnectError>(rest)
    };
    let leftover = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(r) => r?,
        Err(_) => return Err(ConnectError::Timeout("HTTP response")),
    };
    Ok((tls, leftover))
}

/// Runs the link until it is lost (`Err`) or the client is disabled (`Ok`).
async fn link(
    config: &ClientConfig,
    host_cfg: HostConfig,
    stream: Tls<Stream>,
    leftover: Vec<u8>,
    status: &watch::Sender<ClientStatus>,
    commands: &mut mpsc::Receiver<Command>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ConnectError> {
    if let Some(port) = &config.kernel {
        let (rd, wr) = tokio::io::split(stream);
        let (reader, packets) = spawn_reader(rd, leftover);
        let tunnel = Tunnel {
            wr,
            reader,
            packets,
        };
        return kernel::link(config, port, tunnel, status, commands, shutdown).await;
    }
    // The built-in host reads in this loop, not in a task of its own: a reply reaches the
    // host (and a ping its round trip) without a hand-off between tasks. The server reads
    // each client in a task of its own, so a write that waits here never blocks it.
    let mut stream = stream;
    let mut deframer = Deframer::with_initial(MIN_MTU, &leftover);
    let clock = config.clock;
    let mut host = Host::new(host_cfg, clock.now());
    let mut pending: PendingPings = HashMap::new();
    let mut seq: u16 = 0;
    let mut wbuf = Vec::with_capacity(16 * 1024);
    // made once and polled again on every pass (each new one would register again)
    let stop = stopped(shutdown);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(stop, timer);
    let mut armed = None;
    let mut counters = Counters::shown(status);
    loop {
        let now = clock.now();
        server_packets(&mut deframer, |p| receive(config, &mut host, &p, now));
        wbuf.clear();
        while let Some(p) = host.poll_transmit() {
            if let Some(c) = &config.pcap {
                c.record(&p);
            }
            wbuf.extend_from_slice(&p);
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await.map_err(ConnectError::Io)?;
            stream.flush().await.map_err(ConnectError::Io)?;
        }
        while let Some(ev) = host.poll_event() {
            on_event(ev, &host, status, &mut pending, clock.now());
        }
        counters.note(&host, status);
        let deadline = host.poll_timeout();
        if let Some(t) = deadline
            && armed != deadline
        {
            timer.as_mut().reset(t.into());
        }
        armed = deadline;
        tokio::select! {
            biased;
            _ = &mut stop => {
                // close_notify, so the server sees a clean end of the tunnel
                let _ = stream.shutdown().await;
                return Ok(());
            }
            r = stream.read_buf(deframer.buffer_mut()) => match r {
                Ok(0) => return Err(ConnectError::Closed),
                Ok(_) => {}
                Err(e) => return Err(ConnectError::Io(e)),
            },
            Some(cmd) = commands.recv() => match cmd {
                Command::Ping { dst, size, reply } => {
                    seq = seq.wrapping_add(1);
                    pending.retain(|_, (_, tx)| !tx.is_closed());
                    match host.send_ping(dst, PING_ID, seq, size, clock.now()) {
                        Ok(()) => {
                            pending.insert(seq, (clock.now(), reply));
                        }
                        Err(_) => {
                            let _ = reply.send(Err(PingError::NotUp));
                        }
                    }
                }
                Command::Udp { dst, src_port, dst_port, data } => {
                    let _ = host.send_udp(dst, src_port, dst_port, &data, clock.now());
                }
            },
            _ = &mut timer, if deadline.is_some() => host.handle_timeout(clock.now()),
        }
    }
}

/// Hands `each` the whole packets the server's stream holds so far; what cannot be a
/// packet is skipped ([MS-IPHTTPS] 3.1.5.3: the client discards what it cannot use).
fn server_packets(deframer: &mut Deframer, mut each: impl FnMut(bytes::Bytes)) {
    loop {
        match deframer.next_packet() {
            Ok(Some(p)) => each(p),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "discarding data from the server");
                deframer.discard(e);
            }
        }
    }
}

/// Batches of packets queued from the reader to the link (a batch is what one read
/// delimited).
const READ_BATCHES: usize = 64;

/// Kernel mode's reader task: reads the server's byte stream, delimits it into packets
/// and hands over what each read brought as one batch; the task ends with the reason the
/// stream ended. (The built-in host's link reads in its own loop.)
fn spawn_reader(
    mut rd: tokio::io::ReadHalf<Tls<Stream>>,
    leftover: Vec<u8>,
) -> (Reader, mpsc::Receiver<Batch>) {
    let (pkt_tx, pkt_rx) = mpsc::channel::<Batch>(READ_BATCHES);
    let reader = tokio::spawn(async move {
        let mut deframer = Deframer::with_initial(MIN_MTU, &leftover);
        loop {
            let mut batch = Batch::new();
            server_packets(&mut deframer, |p| batch.push(p));
            if !batch.is_empty() && pkt_tx.send(batch).await.is_err() {
                return ConnectError::Closed;
            }
            match rd.read_buf(deframer.buffer_mut()).await {
                Ok(0) => return ConnectError::Closed,
                Ok(_) => {}
                Err(e) => return ConnectError::Io(e),
            }
        }
    });
    (Reader(reader), pkt_rx)
}

fn receive(config: &ClientConfig, host: &mut Host, p: &[u8], now: Instant) {
    if let Some(c) = &config.pcap {
        c.record(p);
    }
    host.handle_packet(p, now);
}

/// The host's misdelivery and IP-layer counters as last copied into the status.
struct Counters {
    misdelivered: u64,
    ip: crate::link::ip::IpStats,
}

impl Counters {
    /// What the status shows now (an earlier link's counts, until this host's replace them).
    fn shown(status: &watch::Sender<ClientStatus>) -> Self {
        let s = status.borrow();
        Self {
            misdelivered: s.misdelivered,
            ip: s.ip.clone(),
        }
    }

    /// Copies the counters into the status when they moved (the status is not touched,
    /// nor its lock taken, when they did not).
    fn note(&mut self, host: &Host, status: &watch::Sender<ClientStatus>) {
        let (m, ip) = (host.misdelivered(), host.ip_stats());
        if (m, &ip) == (self.misdelivered, &self.ip) {
            return;
        }
        status.send_if_modified(|s| {
            let changed = s.misdelivered != m || s.ip != ip;
            s.misdelivered = m;
            s.ip = ip.clone();
            changed
        });
        (self.misdelivered, self.ip) = (m, ip);
    }
}

fn on_event(
    ev: HostEvent,
    host: &Host,
    status: &watch::Sender<ClientStatus>,
    pending: &mut PendingPings,
    now: Instant,
) {
    match ev {
        HostEvent::EchoReply {
            id: PING_ID, seq, ..
        } => {
            if let Some((sent, tx)) = pending.remove(&seq) {
                let _ = tx.send(Ok(now.saturating_duration_since(sent)));
            }
        }
        HostEvent::Udp { .. } => status.send_modify(|s| s.received += 1),
        HostEvent::AddressConfigured(a)
        | HostEvent::AddressDeprecated(a)
        | HostEvent::AddressExpired(a) => {
            tracing::info!(address = %a, event = ?ev, "address changed");
            status.send_modify(|s| {
                s.link_local = host.link_local();
                s.global = host.global();
                s.addresses = host.address_table();
            });
        }
        HostEvent::RouterAdvertisement(ra) => {
            tracing::debug!(prefixes = ra.prefixes.len(), "router advertisement");
            status.send_modify(|s| {
                s.mtu = host.mtu();
                s.router_advert = Some(ra);
            });
        }
        HostEvent::IcmpError { from, kind, code } => {
            tracing::debug!(%from, kind, code, "ICMPv6 error");
            status.send_modify(|s| s.count_icmp_error(kind, code, from));
        }
        other => tracing::debug!(event = ?other, "host event"),
    }
}

/// Outstanding pings by sequence number: when each was sent and who waits for it.
type PendingPings = HashMap<u16, (Instant, oneshot::Sender<Result<Duration, PingError>>)>;

/// A kernel-mode link's tunnel: the TLS write half, and the packets the reader task
/// delimits from the read half (with the reason the stream ended).
struct Tunnel {
    wr: tokio::io::WriteHalf<Tls<Stream>>,
    reader: Reader,
    packets: mpsc::Receiver<Batch>,
}

struct Reader(tokio::task::JoinHandle<ConnectError>);

impl Reader {
    async fn end(mut self) -> ConnectError {
        (&mut self.0).await.unwrap_or(ConnectError::Closed)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_links_counters_replace_the_last_ones_and_an_unchanged_pass_sends_nothing() {
        let (status, mut rx) = watch::channel(ClientStatus::new("https://da".into()));
        // an earlier link's host had counted something
        status.send_modify(|s| {
            s.misdelivered = 5;
            s.ip.bad_chain = 9;
        });
        rx.mark_unchanged();
        let host = Host::new(HostConfig::instant(1), Instant::now());
        let mut counters = Counters::shown(&status);
        counters.note(&host, &status);
        assert!(rx.has_changed().unwrap(), "the new host's counts are shown");
        let s = rx.borrow_and_update().clone();
        assert_eq!((s.misdelivered, &s.ip), (0, &host.ip_stats()));
        counters.note(&host, &status);
        assert!(!rx.has_changed().unwrap(), "nothing moved, nothing sent");
    }
}
