//! A lab: one call that starts a server (with its Windows-side state, CRL distribution
//! point and certificates on disk), N clients and the intranet host on loopback, so
//! tests, benches, `serve`, `lab` and the scenario runner all start a world the same way.
//! Faults are injected into it and commands run against it here.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::admin::client_target::ClientTarget;
use crate::admin::command::{CommandError, Output, Session, run_line};
use crate::admin::health::{self, OperationsStatus};
use crate::admin::server_target::{Effect, ServerTarget};
use crate::admin::{AdminState, views};
use crate::capture::Capture;
use crate::cdp::Cdp;
use crate::client::{self, ClientConfig, ClientHandle, ClientStatus, IphttpsUrl};
use crate::fault::{Fault, FaultError, World};
use crate::link::host::HostConfig;
use crate::link::router::RouterConfig;
use crate::pki::{self, Pki, PkiOptions};
use crate::proxy::WebProxy;
use crate::server::{self, ServerConfig, ServerError, ServerHandle};
use crate::tls::TlsError;

/// Errors starting or driving a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
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

/// What to start.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Number of clients.
    pub clients: usize,
    /// The server's name.
    pub name: String,
    /// Where the server listens (127.0.0.1 with an ephemeral port by default).
    pub listen: SocketAddr,
    /// Where the certificates live: used if it holds a set, generated there if empty;
    /// `None`: a temporary folder.
    pub pki_dir: Option<PathBuf>,
    /// Capture file shared by the server (clients' packets are the same packets).
    pub pcap: Option<PathBuf>,
    /// Seed for the clients' hosts.
    pub seed: u64,
    /// The IP-HTTPS URI path.
    pub path: String,
    /// Lets the caller adjust the server before it starts (prefixes, timers, ...).
    pub server: fn(&mut ServerConfig),
    /// Reconnect timer's first wait for the clients (shortened from Windows' 30 s).
    pub reconnect_initial: Duration,
    /// The clients' TCP, TLS and HTTP deadline.
    pub connect_timeout: Duration,
    /// Faults present at start.
    pub faults: Vec<Fault>,
    /// Operations Status refresh interval (Windows: 5 minutes).
    pub ops_refresh: Duration,
    /// Whether clients check revocation against the CRL distribution point (Windows 7
    /// enforces it for IP-HTTPS; Windows 8 and later do not).
    pub check_revocation: bool,
    /// ClientIPv6Prefix (default 2001:db8:1:1000::/64).
    pub client_prefix: Option<ipnet::Ipv6Net>,
    /// InternalIPv6Prefix (default 2001:db8:1::/48); the intranet host is its `::10`.
    pub internal_prefix: Option<ipnet::Ipv6Net>,
    /// The IP-HTTPS Authentication Mode.
    pub auth_mode: crate::link::router::AuthMode,
    /// Interval of unsolicited Router Advertisements.
    pub ra_interval: Option<Duration>,
    /// The server's idle timeout (default: HTTP.sys' 2 minutes).
    pub idle_timeout: Option<Duration>,
    /// A built-in web proxy in every client's path, in this mode.
    pub proxy: Option<crate::proxy::ProxyMode>,
    /// The Basic credentials clients send to the proxy.
    pub proxy_credentials: Option<(String, String)>,
    /// The server runs TLS on OpenSSL and offers the NULL-encryption suites first (needs
    /// the `null-cipher` feature; the server's leaf gets an RSA key).
    pub null_cipher: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            clients: 2,
            name: pki::DEFAULT_NAME.to_string(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            pki_dir: None,
            pcap: None,
            seed: 1,
            path: crate::wire::head::DEFAULT_PATH.to_string(),
            server: |_| {},
            reconnect_initial: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(2),
            faults: Vec::new(),
            ops_refresh: Duration::from_millis(500),
            check_revocation: true,
            client_prefix: None,
            internal_prefix: None,
            auth_mode: crate::link::router::AuthMode::None,
            ra_interval: None,
            idle_timeout: None,
            proxy: None,
            proxy_credentials: None,
            null_cipher: false,
        }
    }
}

struct Ops {
    status: OperationsStatus,
    at: Instant,
}

/// A running lab.
pub struct Lab {
    /// The server.
    pub server: ServerHandle,
    clients: Mutex<Vec<Arc<ClientHandle>>>,
    template: Mutex<ClientConfig>,
    admin: tokio::sync::Mutex<AdminState>,
    ops: Mutex<Ops>,
    ops_refresh: Duration,
    base_router: RouterConfig,
    cdp: Cdp,
    pki_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    faults: Mutex<BTreeSet<Fault>>,
    proxy: Option<WebProxy>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lab {
    /// Starts the server and the clients, with `config.faults` in place from the start.
    pub async fn start(config: LabConfig) -> Result<Self, LabError> {
        let now = OffsetDateTime::now_utc();
        let (pki_dir, temp) = match &config.pki_dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("iphttps-pki-")
                    .tempdir()
                    .map_err(|source| LabError::Io {
                        what: "temporary PKI folder".into(),
                        source,
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut pki = Pki::load_or_generate(&pki_dir, &PkiOptions::new(&config.name, now))?;
        if config.null_cipher {
            crate::tls::null_server_key(&mut pki, &config.name)?;
        }
        let capture = match &config.pcap {
            Some(path) => Some(Capture::create(path).map_err(|source| LabError::Io {
                what: format!("capture {}", path.display()),
                source,
            })?),
            None => None,
        };
        let mut scfg = ServerConfig::new(config.listen, &config.name, pki.clone());
        scfg.pcap = capture;
        scfg.path = config.path.clone();
        scfg.router.auth_mode = config.auth_mode;
        if let Some(p) = config.client_prefix {
            scfg.router.client_prefix = p;
        }
        if let Some(p) = config.internal_prefix {
            scfg.router.intranet_prefix = p;
            scfg.intranet_address = crate::wire::ipv6::with_interface_id(p.network(), 0x10);
        }
        if let Some(i) = config.ra_interval {
            scfg.router.ra_interval = i;
        }
        if let Some(i) = config.idle_timeout {
            scfg.idle_timeout = i;
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
        let cdp = Cdp::start(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            String::new(),
        )
        .await
        .map_err(|source| LabError::Io {
            what: "CRL distribution point".into(),
            source,
        })?;

        let path = scfg.path.clone();
        let server = server::start(scfg).await?;
        let url = IphttpsUrl {
            host: config.name.clone(),
            port: server.local_addr().port(),
            path,
        };
        let mut template = ClientConfig::new(url, pki.root_ca.clone());
        let ip = match server.local_addr().ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        template.resolve = vec![(config.name.clone(), ip)];
        template.system_dns = false;
        template.host = HostConfig::fast(config.seed);
        template.reconnect_initial = config.reconnect_initial;
        template.reconnect_cap = config.reconnect_initial * 20;
        template.connect_timeout = config.connect_timeout;
        template.client_cert = Some((pki.client_chain(), pki.client_key.clone()));
        template.crl_url = config.check_revocation.then(|| cdp.url());
        let proxy = match &config.proxy {
            Some(mode) => {
                let p = WebProxy::start(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                    mode.clone(),
                    template.resolve.clone(),
                )
                .await
                .map_err(|source| LabError::Io {
                    what: "web proxy".into(),
                    source,
                })?;
                template.proxy = Some(p.url(config.proxy_credentials.clone()));
                Some(p)
            }
            None => None,
        };

        let mut templates = [template];
        for f in &config.faults {
            f.inject(&mut World {
                admin: &mut admin,
                clients: &mut templates,
                server_addr: server.local_addr(),
                now,
            })?;
        }
        let [template] = templates;
        let ops = health::evaluate(&admin, now);
        let lab = Self {
            server,
            clients: Mutex::new(Vec::new()),
            template: Mutex::new(template),
            admin: tokio::sync::Mutex::new(admin.clone()),
            ops: Mutex::new(Ops {
                status: ops,
                at: Instant::now(),
            }),
            ops_refresh: config.ops_refresh,
            base_router,
            cdp,
            pki_dir,
            _temp: temp,
            faults: Mutex::new(config.faults.iter().copied().collect()),
            proxy,
        };
        lab.sync(None, &admin).await?;
        for _ in 0..config.clients {
            lab.add_client(|_| {})?;
        }
        Ok(lab)
    }

    /// Pushes the Windows-side state into the running server, certificates on disk and
    /// the CRL distribution point.
    async fn sync(&self, old: Option<&AdminState>, new: &AdminState) -> Result<(), LabError> {
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
            let crls = new
                .certs
                .pki
                .crls(&new.certs.revoked, OffsetDateTime::now_utc())?;
            self.cdp.publish(crls.concat());
            self.cdp.set_online(new.certs.cdp_online).await;
        }
        Ok(())
    }

    /// The certificates in use now.
    pub async fn pki(&self) -> Pki {
        self.admin.lock().await.certs.pki.clone()
    }

    /// The folder holding the certificates as PEM.
    pub fn pki_dir(&self) -> &Path {
        &self.pki_dir
    }

    /// The built-in web proxy in the clients' path, if the lab has one.
    pub fn proxy(&self) -> Option<&WebProxy> {
        self.proxy.as_ref()
    }

    /// The CRL distribution point's URL.
    pub fn cdp_url(&self) -> String {
        self.cdp.url()
    }

    /// Client `i` (0-based).
    pub fn client(&self, i: usize) -> Arc<ClientHandle> {
        lock(&self.clients)[i].clone()
    }

    /// All clients.
    pub fn clients(&self) -> Vec<Arc<ClientHandle>> {
        lock(&self.clients).clone()
    }

    /// The configuration a new client gets (trust, hosts, fast timers, faults in force).
    pub fn client_config(&self) -> ClientConfig {
        let n = lock(&self.clients).len() as u64;
        let mut c = lock(&self.template).clone();
        c.host.seed = c.host.seed.wrapping_add(n * 1000);
        c
    }

    /// Starts one more client, adjusted by `tweak`; returns its index (0-based).
    pub fn add_client(&self, tweak: impl FnOnce(&mut ClientConfig)) -> Result<usize, LabError> {
        let mut c = self.client_config();
        tweak(&mut c);
        let handle = Arc::new(client::start(c)?);
        let mut clients = lock(&self.clients);
        clients.push(handle);
        Ok(clients.len() - 1)
    }

    /// Waits until every client is LinkUp with a global address; returns the statuses,
    /// as `Err` if any client did not get there within `timeout`.
    pub async fn wait_all_active(
        &self,
        timeout: Duration,
    ) -> Result<Vec<ClientStatus>, Vec<ClientStatus>> {
        let deadline = Instant::now() + timeout;
        let mut ok = true;
        let mut out = Vec::new();
        for c in self.clients() {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.wait_active(left).await {
                Ok(s) => out.push(s),
                Err(s) => {
                    ok = false;
                    out.push(s);
                }
            }
        }
        if ok { Ok(out) } else { Err(out) }
    }

    /// A copy of the server's Windows-side state.
    pub async fn admin(&self) -> AdminState {
        self.admin.lock().await.clone()
    }

    /// Operations Status as the console shows it: evaluated at start, when RaMgmtSvc
    /// restarts, and again once the refresh interval has passed.
    pub async fn operations_status(&self) -> OperationsStatus {
        let stale = lock(&self.ops).at.elapsed() >= self.ops_refresh;
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
        let st = health::evaluate(&*self.admin.lock().await, OffsetDateTime::now_utc());
        *lock(&self.ops) = Ops {
            status: st.clone(),
            at: Instant::now(),
        };
        st
    }

    /// The faults injected and not cleared.
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.faults).iter().copied().collect()
    }

    /// Injects (`on`) or clears a fault in the running lab.
    pub async fn set_fault(&self, fault: Fault, on: bool) -> Result<(), LabError> {
        let mut admin = self.admin.lock().await;
        let mut new = admin.clone();
        let clients = self.clients();
        let mut configs: Vec<ClientConfig> = clients.iter().map(|c| c.config()).collect();
        configs.push(lock(&self.template).clone());
        let mut w = World {
            admin: &mut new,
            clients: &mut configs,
            server_addr: self.server.local_addr(),
            now: OffsetDateTime::now_utc(),
        };
        if on {
            fault.inject(&mut w)?
        } else {
            fault.clear(&mut w)?
        }
        self.sync(Some(&admin), &new).await?;
        *admin = new;
        *lock(&self.template) = configs.pop().expect("the template is last");
        for (c, cfg) in clients.iter().zip(configs) {
            c.update(|x| *x = cfg);
        }
        let mut f = lock(&self.faults);
        if on {
            f.insert(fault);
        } else {
            f.remove(&fault);
        }
        Ok(())
    }

    /// Runs one command line against the server (`client: None`) or client `i` (1-based,
    /// as `iphttps ctl --client N`). A failing line changes nothing.
    pub async fn run(
        &self,
        client: Option<usize>,
        line: &str,
        session: &mut Session,
    ) -> Result<Output, CommandError> {
        if let Some(out) = self.lab_command(line).await? {
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
                };
                let out = run_line(line, session, &mut target)?;
                let effects = std::mem::take(&mut target.effects);
                self.sync(Some(&admin), &new).await.map_err(|e| {
                    CommandError::Object(format!("the change could not be applied: {e}"))
                })?;
                *admin = new;
                drop(admin);
                if effects.contains(&Effect::RefreshOperationsStatus) {
                    self.refresh_operations_status().await;
                }
                Ok(out)
            }
            Some(n) => {
                let handle = lock(&self.clients)
                    .get(n.wrapping_sub(1))
                    .cloned()
                    .ok_or_else(|| CommandError::Object(LabError::NoClient(n).to_string()))?;
                let mut cfg = handle.config();
                let status = handle.status();
                let out = run_line(
                    line,
                    session,
                    &mut ClientTarget {
                        config: &mut cfg,
                        status: &status,
                    },
                )?;
                handle.update(|c| *c = cfg);
                Ok(out)
            }
        }
    }

    /// `fault add NAME`, `fault clear NAME`, `fault list`: the lab's own commands.
    async fn lab_command(&self, line: &str) -> Result<Option<Output>, CommandError> {
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
                let fault: Fault = name.parse().map_err(|e: crate::fault::UnknownFault| {
                    CommandError::Argument(e.to_string())
                })?;
                self.set_fault(fault, *verb == "add")
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
        self.server.set_listener(crate::admin::ListenerMode::Closed);
        tokio::time::sleep(downtime.max(Duration::from_millis(20))).await;
        let mode = self.admin.lock().await.listener();
        self.server.set_listener(mode);
    }

    /// Stops the clients, then the server.
    pub async fn shutdown(&self) {
        for c in self.clients() {
            c.shutdown().await;
        }
        self.server.shutdown().await;
    }
}
