//! A deployment: what `iphttps serve` runs and the admin endpoint drives. One IP-HTTPS
//! server tied to its Windows-side state (certificates on disk, Remote Access
//! configuration, interfaces, routes, services), the CRL distribution point its
//! certificates name, the interpreter of the Windows commands, the fault catalogue and the
//! Operations Status the console shows. Clients are not part of it: the lab adds them
//! (as a [`Fleet`]), `serve` has none.

pub mod cdp;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use self::cdp::Cdp;
use crate::capture::Capture;
use crate::client::{ClientConfig, ClientHandle};
use crate::fault::{Fault, FaultError, Scope, UnknownFault};
use crate::link::router::{AuthMode, RouterConfig};
use crate::net::Clock;
use crate::pki::{self, Pki, PkiOptions};
use crate::server::{self, ListenerMode, ServerConfig, ServerError, ServerHandle};
use crate::tls::TlsError;
use crate::windows::client_target::ClientTarget;
use crate::windows::command::{CommandError, Output, Session, run_line};
use crate::windows::health::{self, OperationsStatus};
use crate::windows::ipsec::IpsecAgent;
use crate::windows::server_target::{Effect, ServerTarget};
use crate::windows::{AdminState, views};

/// Errors starting or changing a deployment.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// Certificates could not be made or written.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// The server did not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A fault could not be applied.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// A file or socket could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being made.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// There is no such client.
    #[error("there is no client {0} (clients are numbered from 1)")]
    NoClient(usize),
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeploymentConfig {
    /// The server's name.
    pub name: String,
    /// Where the server listens.
    pub listen: SocketAddr,
    /// Where the certificates live: used if it holds a set, generated there if empty;
    /// `None`: a temporary folder.
    pub pki_dir: Option<PathBuf>,
    /// Capture file of every tunnelled packet.
    pub pcap: Option<PathBuf>,
    /// The IP-HTTPS URI path.
    pub path: String,
    /// How the server and the CRL distribution point reach the network (real TCP by
    /// default; a host of a [`crate::net::MemoryNetwork`] in a simulated run).
    pub transport: Arc<dyn crate::net::Transport>,
    /// The time source of the server, the certificates and Operations Status.
    pub clock: Clock,
    /// Lets the caller adjust the server before it starts (prefixes, timers, ...).
    pub server: fn(&mut ServerConfig),
    /// Faults present at start.
    pub faults: Vec<Fault>,
    /// Operations Status refresh interval (Windows: 5 minutes).
    pub ops_refresh: Duration,
    /// ClientIPv6Prefix (default 2001:db8:1:1000::/64).
    pub client_prefix: Option<ipnet::Ipv6Net>,
    /// InternalIPv6Prefix (default 2001:db8:1::/48); the intranet host is its `::10`.
    pub internal_prefix: Option<ipnet::Ipv6Net>,
    /// The IP-HTTPS Authentication Mode.
    pub auth_mode: AuthMode,
    /// Interval of unsolicited Router Advertisements.
    pub ra_interval: Option<Duration>,
    /// Clients the server's table holds (default 10,000); one more is disconnected.
    pub max_clients: Option<usize>,
    /// The server's idle timeout (default: HTTP.sys' 2 minutes).
    pub idle_timeout: Option<Duration>,
    /// How long the intranet host holds an incomplete fragmented datagram (default: RFC
    /// 8200's 60 seconds).
    pub reassembly_timeout: Option<Duration>,
    /// The server runs TLS on OpenSSL and offers the NULL-encryption suites first (needs
    /// the `null-cipher` feature; the server's leaf gets an RSA key).
    pub null_cipher: bool,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            name: pki::DEFAULT_NAME.to_string(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            pki_dir: None,
            pcap: None,
            path: crate::wire::head::DEFAULT_PATH.to_string(),
            transport: crate::net::tcp(),
            clock: Clock::system(),
            server: |_| {},
            faults: Vec::new(),
            ops_refresh: Duration::from_millis(500),
            client_prefix: None,
            internal_prefix: None,
            auth_mode: AuthMode::None,
            ra_interval: None,
            max_clients: None,
            idle_timeout: None,
            reassembly_timeout: None,
            null_cipher: false,
        }
    }
}

/// How long nothing listens while `Restart-Service iphlpsvc` restarts the IP Helper
/// service (chosen: no source gives Windows' figure).
pub const IPHLPSVC_RESTART: Duration = Duration::from_secs(1);

/// The clients a deployment's faults and `--client N` commands reach: none for `serve`,
/// the lab's clients in a lab.
pub trait Fleet: Send + Sync {
    /// The configurations faults act on: every client's, then the template new clients
    /// start from (if there is one).
    fn configs(&self) -> Vec<ClientConfig>;
    /// Takes back what [`Fleet::configs`] returned, changed, in the same order.
    fn set_configs(&self, configs: Vec<ClientConfig>);
    /// Client `n` (1-based, as `iphttps ctl --client N`).
    fn client(&self, n: usize) -> Option<Arc<ClientHandle>>;
    /// Client `n`'s IPsec (1-based), when something runs it for the client.
    fn ipsec(&self, _n: usize) -> Option<Arc<dyn IpsecAgent>> {
        None
    }
}

/// A deployment without clients (`serve`).
pub struct NoClients;

impl Fleet for NoClients {
    fn configs(&self) -> Vec<ClientConfig> {
        Vec::new()
    }
    fn set_configs(&self, _: Vec<ClientConfig>) {}
    fn client(&self, _: usize) -> Option<Arc<ClientHandle>> {
        None
    }
}

/// What a starting deployment tells the caller that makes its client configurations.
pub struct Started<'a> {
    /// The running server (its address and URI path).
    pub server: &'a ServerHandle,
    /// The CRL distribution point's URL.
    pub cdp_url: String,
    /// The certificates before any fault changed them.
    pub pki: &'a Pki,
}

/// Operations Status as last evaluated.
struct Ops {
    status: OperationsStatus,
    at: Instant,
}

/// A running deployment.
pub struct Deployment {
    /// The server.
    pub server: ServerHandle,
    admin: tokio::sync::Mutex<AdminState>,
    /// The certificates in use, published on every change (faults, commands).
    certificates: tokio::sync::watch::Sender<Pki>,
    ops: Mutex<Ops>,
    clock: Clock,
    ops_refresh: Duration,
    base_router: RouterConfig,
    cdp: Cdp,
    pki_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    faults: Mutex<BTreeSet<Fault>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Deployment {
    /// Starts the server and its CRL distribution point, with `config.faults` in place
    /// from the start. `clients` makes, from the started server, CRL distribution point
    /// and certificates, the client configurations those faults also act on (the lab's
    /// template; none for `serve`); they are returned with the faults applied.
    pub async fn start(
        config: DeploymentConfig,
        clients: impl FnOnce(&Started<'_>) -> Vec<ClientConfig>,
    ) -> Result<(Self, Vec<ClientConfig>), DeploymentError> {
        let clock = config.clock;
        let now = clock.date();
        let (pki_dir, temp) = match &config.pki_dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("iphttps-pki-")
                    .tempdir()
                    .map_err(|source| DeploymentError::Io {
                        what: "temporary PKI folder".into(),
                        source,
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut pki = Pki::load_or_generate(&pki_dir, &PkiOptions::new(&config.name, now))?;
        if config.null_cipher {
            crate::tls::null_server_key(&mut pki, &config.name, now)?;
        }
        let capture = match &config.pcap {
            Some(path) => {
                Some(
                    Capture::create(path, clock).map_err(|source| DeploymentError::Io {
                        what: format!("capture {}", path.display()),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let mut scfg = ServerConfig::new(config.listen, &config.name, pki.clone());
        scfg.pcap = capture;
        scfg.transport = config.transport.clone();
        scfg.clock = clock;
        scfg.path = config.path.clone();
        scfg.router.auth_mode = config.auth_mode;
        if let Some(p) = config.client_prefix {
            scfg.router.client_prefix = p;
        }
        if let Some(p) = config.internal_prefix {
            scfg.router.intranet_prefix = p;
            scfg.intranet_address = crate::wire::ipv6::with_interface_id(p.network(), 0x10);
        }
        if let Some(n) = config.max_clients {
            scfg.router.max_clients = n;
        }
        if let Some(i) = config.ra_interval {
            scfg.router.ra_interval = i;
        }
        if let Some(i) = config.idle_timeout {
            scfg.idle_timeout = i;
        }
        if let Some(t) = config.reassembly_timeout {
            scfg.intranet_ip.reassembly.timeout = t;
        }
        scfg.null_cipher = config.null_cipher.then_some(true);
        (config.server)(&mut scfg);
        let base_router = scfg.router.clone();
        let mut admin = AdminState::new(
            &config.name,
            scfg.router.client_prefix,
            scfg.router.intranet_prefix,
            pki.clone(),
        );
        admin.remote_access.auth_mode = scfg.router.auth_mode;
        admin.null_capable = config.null_cipher;
        // beside the server, on loopback when the server listens on every address
        let cdp_ip = match config.listen.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let cdp = Cdp::start(
            SocketAddr::new(cdp_ip, 0),
            String::new(),
            config.transport.clone(),
        )
        .await
        .map_err(|source| DeploymentError::Io {
            what: "CRL distribution point".into(),
            source,
        })?;
        let server = server::start(scfg).await?;
        let mut configs = clients(&Started {
            server: &server,
            cdp_url: cdp.url(),
            pki: &pki,
        });
        for f in &config.faults {
            f.inject(&mut Scope {
                admin: &mut admin,
                clients: &mut configs,
                server_addr: server.local_addr(),
                now,
            })?;
        }
        let deployment = Self {
            server,
            certificates: tokio::sync::watch::Sender::new(admin.certs.pki.clone()),
            admin: tokio::sync::Mutex::new(admin.clone()),
            ops: Mutex::new(Ops {
                status: health::evaluate(&admin, now),
                at: clock.now(),
            }),
            clock,
            ops_refresh: config.ops_refresh,
            base_router,
            cdp,
            pki_dir,
            _temp: temp,
            faults: Mutex::new(config.faults.iter().copied().collect()),
        };
        deployment.sync(None, &admin).await?;
        Ok((deployment, configs))
    }

    /// Pushes the Windows-side state into the running server, certificates on disk and
    /// the CRL distribution point.
    async fn sync(
        &self,
        old: Option<&AdminState>,
        new: &AdminState,
    ) -> Result<(), DeploymentError> {
        self.server
            .set_router_config(new.router_config(&self.base_router));
        let certs_changed = old.is_none_or(|o| o.certs.pki != new.certs.pki);
        if certs_changed
            || old.is_none_or(|o| o.remote_access.auth_mode != new.remote_access.auth_mode)
            || old.is_none_or(|o| o.null_suites() != new.null_suites())
        {
            self.server.set_tls(
                &new.certs.pki,
                new.remote_access.auth_mode,
                new.null_suites().backend(),
            )?;
        }
        if certs_changed {
            new.certs.pki.write(&self.pki_dir)?;
        }
        self.server.set_listener(new.listener());
        if old.is_none_or(|o| o.certs != new.certs) {
            let crls = new.certs.pki.crls(&new.certs.revoked, self.clock.date())?;
            self.cdp.publish(crls.concat());
            self.cdp.set_online(new.certs.cdp_online).await;
        }
        Ok(())
    }

    /// The certificates in use now.
    pub async fn pki(&self) -> Pki {
        self.admin.lock().await.certs.pki.clone()
    }

    /// The certificates in use, as they change: what runs beside the server with the
    /// same certificates (an IPsec lab's charons) follows them.
    pub fn certificates(&self) -> tokio::sync::watch::Receiver<Pki> {
        self.certificates.subscribe()
    }

    /// Publishes the certificates of `admin` if they changed.
    fn publish_certificates(&self, admin: &AdminState) {
        self.certificates.send_if_modified(|p| {
            let changed = *p != admin.certs.pki;
            if changed {
                *p = admin.certs.pki.clone();
            }
            changed
        });
    }

    /// The deployment's time source.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The folder holding the certificates as PEM.
    pub fn pki_dir(&self) -> &Path {
        &self.pki_dir
    }

    /// The CRL distribution point's URL.
    pub fn cdp_url(&self) -> String {
        self.cdp.url()
    }

    /// A copy of the server's Windows-side state.
    pub async fn admin(&self) -> AdminState {
        self.admin.lock().await.clone()
    }

    /// Operations Status as the console shows it: evaluated at start, when RaMgmtSvc
    /// restarts, and again once the refresh interval has passed.
    pub async fn operations_status(&self) -> OperationsStatus {
        let at = lock(&self.ops).at;
        let stale = self.clock.now().saturating_duration_since(at) >= self.ops_refresh;
        if stale {
            self.refresh_operations_status().await;
        }
        let mut st = lock(&self.ops).status.clone();
        // what the connected clients negotiated is read live
        for c in self.server.snapshot().clients {
            *st.encryption
                .clients_by_suite
                .entry(c.cipher_suite)
                .or_default() += 1;
        }
        st
    }

    /// Evaluates Operations Status now.
    pub async fn refresh_operations_status(&self) -> OperationsStatus {
        let st = health::evaluate(&*self.admin.lock().await, self.clock.date());
        *lock(&self.ops) = Ops {
            status: st.clone(),
            at: self.clock.now(),
        };
        st
    }

    /// The faults injected and not cleared.
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.faults).iter().copied().collect()
    }

    /// Injects (`on`) or clears a fault: in the Windows-side state, the running server,
    /// and the configurations of `fleet`'s clients.
    pub async fn set_fault(
        &self,
        fault: Fault,
        on: bool,
        fleet: &dyn Fleet,
    ) -> Result<(), DeploymentError> {
        let mut admin = self.admin.lock().await;
        let mut new = admin.clone();
        let mut configs = fleet.configs();
        let mut w = Scope {
            admin: &mut new,
            clients: &mut configs,
            server_addr: self.server.local_addr(),
            now: self.clock.date(),
        };
        if on {
            fault.inject(&mut w)?
        } else {
            fault.clear(&mut w)?
        }
        self.sync(Some(&admin), &new).await?;
        *admin = new;
        self.publish_certificates(&admin);
        fleet.set_configs(configs);
        let mut f = lock(&self.faults);
        if on {
            f.insert(fault);
        } else {
            f.remove(&fault);
        }
        Ok(())
    }

    /// Runs one command line against the server (`client: None`) or client `n` of
    /// `fleet` (1-based, as `iphttps ctl --client N`). A failing line changes nothing.
    pub async fn run(
        &self,
        client: Option<usize>,
        line: &str,
        session: &mut Session,
        fleet: &dyn Fleet,
    ) -> Result<Output, CommandError> {
        if let Some(out) = self.fault_command(line, fleet).await? {
            return Ok(out);
        }
        match client {
            None => {
                let health = views::health(&self.operations_status().await);
                let mut admin = self.admin.lock().await;
                let mut new = admin.clone();
                let mut target = ServerTarget {
                    state: &mut new,
                    effects: Vec::new(),
                    health,
                    now: self.clock.date(),
                };
                let out = run_line(line, session, &mut target)?;
                let effects = std::mem::take(&mut target.effects);
                self.sync(Some(&admin), &new).await.map_err(|e| {
                    CommandError::Object(format!("the change could not be applied: {e}"))
                })?;
                *admin = new;
                self.publish_certificates(&admin);
                drop(admin);
                if effects.contains(&Effect::RestartIpHelper) {
                    self.restart_server(IPHLPSVC_RESTART).await;
                }
                if effects.contains(&Effect::RefreshOperationsStatus) {
                    self.refresh_operations_status().await;
                }
                Ok(out)
            }
            Some(n) => {
                let handle = fleet.client(n).ok_or_else(|| {
                    CommandError::Object(DeploymentError::NoClient(n).to_string())
                })?;
                let mut cfg = handle.config();
                let status = handle.status();
                let now = cfg.clock.now();
                let mut target = ClientTarget {
                    config: &mut cfg,
                    status: &status,
                    now,
                    ping: None,
                    ipsec: fleet.ipsec(n),
                };
                let out = run_line(line, session, &mut target)?;
                let ping = target.ping.take();
                handle.update(|c| *c = cfg);
                match ping {
                    Some(p) => {
                        let mut outcomes = Vec::new();
                        for _ in 0..p.count {
                            outcomes.push(handle.ping(p.dst, p.size, p.timeout).await);
                        }
                        let (value, text) = views::ping(p.dst, p.size, &outcomes);
                        Ok(Output {
                            value,
                            render: views::Render::Text(text),
                        })
                    }
                    None => Ok(out),
                }
            }
        }
    }

    /// `fault add NAME`, `fault clear NAME`, `fault list`: the simulator's own commands.
    async fn fault_command(
        &self,
        line: &str,
        fleet: &dyn Fleet,
    ) -> Result<Option<Output>, CommandError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_none_or(|w| !w.eq_ignore_ascii_case("fault"))
        {
            return Ok(None);
        }
        let usage = || {
            CommandError::Argument("usage: fault add NAME | fault clear NAME | fault list".into())
        };
        match words.as_slice() {
            [_, "list"] => {
                let f: Vec<&str> = self.faults().iter().map(|f| f.name()).collect();
                Ok(Some(Output {
                    value: serde_json::json!(f),
                    render: views::Render::Text(format!(
                        "{}\n",
                        if f.is_empty() {
                            "(no faults)".to_string()
                        } else {
                            f.join("\n")
                        }
                    )),
                }))
            }
            [_, verb @ ("add" | "clear"), name] => {
                let fault: Fault = name
                    .parse()
                    .map_err(|e: UnknownFault| CommandError::Argument(e.to_string()))?;
                self.set_fault(fault, *verb == "add", fleet)
                    .await
                    .map_err(|e| CommandError::Object(e.to_string()))?;
                Ok(Some(Output::text(format!(
                    "fault {fault} {}\n",
                    if *verb == "add" {
                        "injected"
                    } else {
                        "cleared"
                    }
                ))))
            }
            _ => Err(usage()),
        }
    }

    /// Restarts the server as a process restart would: every tunnel is dropped and
    /// nothing listens for `downtime`, then it listens again with the same state.
    pub async fn restart_server(&self, downtime: Duration) {
        self.server.set_listener(ListenerMode::Closed);
        tokio::time::sleep(downtime.max(Duration::from_millis(20))).await;
        let mode = self.admin.lock().await.listener();
        self.server.set_listener(mode);
    }

    /// Stops the server.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }
}
