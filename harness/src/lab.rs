//! A lab: a deployment (server, Windows-side state, CRL distribution point) plus N clients
//! on loopback and, when asked, a web proxy in their path, started with one call so
//! tests, benches, `lab` and the scenario runner all start a world the same way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iphttps_sim::api::Managed;
use iphttps_sim::client::{self, ClientConfig, ClientHandle, ClientStatus, IphttpsUrl};
use iphttps_sim::deployment::{Deployment, DeploymentConfig, DeploymentError, Fleet, Started};
use iphttps_sim::fault::Fault;
use iphttps_sim::link::host::HostConfig;
use iphttps_sim::net::{MemoryNetwork, Transport};
use iphttps_sim::server::ServerHandle;
use iphttps_sim::tls::TlsError;
use iphttps_sim::windows::command::{CommandError, Output, Session};
use iphttps_sim::windows::ipsec::IpsecAgent;

use crate::fixtures::web_proxy::{ProxyMode, WebProxy};

/// Errors starting or driving a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The deployment did not start or could not be changed.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// A client's TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The web proxy could not be started.
    #[error("web proxy: {0}")]
    Proxy(#[source] std::io::Error),
    /// The IPsec side could not be set up.
    #[error(transparent)]
    Ipsec(#[from] crate::ipsec::IpsecError),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The deployment: server, certificates, prefixes, timers, faults present at start.
    pub deployment: DeploymentConfig,
    /// Number of clients.
    pub clients: usize,
    /// Seed for the clients' hosts.
    pub seed: u64,
    /// Reconnect timer's first wait for the clients (shortened from Windows' 30 s).
    pub reconnect_initial: Duration,
    /// The clients' TCP, TLS and HTTP deadline.
    pub connect_timeout: Duration,
    /// Whether clients check revocation against the CRL distribution point (Windows 7
    /// enforces it for IP-HTTPS; Windows 8 and later do not).
    pub check_revocation: bool,
    /// A built-in web proxy in every client's path, in this mode.
    pub proxy: Option<ProxyMode>,
    /// The Basic credentials clients send to the proxy.
    pub proxy_credentials: Option<(String, String)>,
    /// Where the lab's hosts live: loopback sockets, or hosts of an in-memory network.
    pub network: LabNetwork,
    /// The clients' hosts solicit routers and wait for DAD as RFC 4861 and 4862 say
    /// (a delay of up to 1 s, then every 4 s; 1 s of DAD) instead of within milliseconds.
    pub rfc_host_timers: bool,
    /// IPsec inside the tunnel (Linux, root): the intranet and each client's kernel side
    /// in network namespaces, a strongSwan charon in each, the two DirectAccess tunnels
    /// (see [`crate::ipsec`]).
    pub ipsec: bool,
}

/// Where a lab's hosts live.
#[derive(Debug, Clone, Default)]
pub enum LabNetwork {
    /// Real TCP on loopback, ephemeral ports (the default).
    #[default]
    Loopback,
    /// Hosts of an in-memory network (a simulated run, with the clock the deployment's
    /// configuration carries): the server and its CRL distribution point at
    /// [`SIMULATED_SERVER`], client N at [`simulated_client`]`(N)`, the fixtures (web
    /// proxy, toxic relays) at [`SIMULATED_FIXTURES`].
    Simulated(MemoryNetwork),
}

/// The server's address on a simulated network (TEST-NET-3, RFC 5737).
pub const SIMULATED_SERVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 443);

/// The fixtures' address on a simulated network (TEST-NET-1).
pub const SIMULATED_FIXTURES: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// Client `n`'s (0-based) address on a simulated network: behind a hotel's NAT, in the
/// shared address space of RFC 6598 (100.64.0.0/10).
pub fn simulated_client(n: usize) -> IpAddr {
    let n = n as u32 + 1;
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + n))
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            deployment: DeploymentConfig::default(),
            clients: 2,
            seed: 1,
            reconnect_initial: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(2),
            check_revocation: true,
            proxy: None,
            proxy_credentials: None,
            network: LabNetwork::Loopback,
            rfc_host_timers: false,
            ipsec: false,
        }
    }
}

/// The lab's clients and the template new ones start from: the [`Fleet`] its faults and
/// `--client N` commands reach.
struct Clients {
    running: Mutex<Vec<Arc<ClientHandle>>>,
    /// Each client's IPsec, in an IPsec lab.
    ipsec: Mutex<Vec<Arc<dyn IpsecAgent>>>,
    template: Mutex<ClientConfig>,
    network: LabNetwork,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fleet for Clients {
    fn configs(&self) -> Vec<ClientConfig> {
        let mut configs: Vec<ClientConfig> =
            lock(&self.running).iter().map(|c| c.config()).collect();
        configs.push(lock(&self.template).clone());
        configs
    }

    fn set_configs(&self, mut configs: Vec<ClientConfig>) {
        if let Some(t) = configs.pop() {
            *lock(&self.template) = t;
        }
        for (c, cfg) in lock(&self.running).iter().zip(configs) {
            c.update(|x| *x = cfg);
        }
    }

    fn client(&self, n: usize) -> Option<Arc<ClientHandle>> {
        lock(&self.running).get(n.wrapping_sub(1)).cloned()
    }

    fn ipsec(&self, n: usize) -> Option<Arc<dyn IpsecAgent>> {
        lock(&self.ipsec).get(n.wrapping_sub(1)).cloned()
    }
}

/// A running lab: a deployment (it derefs to it) plus clients.
pub struct Lab {
    deployment: Deployment,
    clients: Clients,
    proxy: Option<WebProxy>,
    ipsec: Mutex<Option<Arc<IpsecSide>>>,
}

/// The IPsec side of an IPsec lab.
#[cfg(target_os = "linux")]
pub type IpsecSide = crate::ipsec::lab::IpsecLab;
/// The IPsec side of an IPsec lab (Linux only; never made elsewhere).
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub struct IpsecSide;

impl Deref for Lab {
    type Target = Deployment;

    fn deref(&self) -> &Deployment {
        &self.deployment
    }
}

impl Managed for Lab {
    fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    fn fleet(&self) -> &dyn Fleet {
        &self.clients
    }
}

impl Lab {
    /// Starts the deployment and the clients, with `config.deployment.faults` in place from the start.
    pub async fn start(mut config: LabConfig) -> Result<Self, LabError> {
        if let LabNetwork::Simulated(net) = &config.network {
            config.deployment.listen = SIMULATED_SERVER;
            config.deployment.transport = net.host(SIMULATED_SERVER.ip());
        }
        let (deployment, mut templates) = Deployment::start(config.deployment.clone(), |started| {
            vec![template(&config, started)]
        })
        .await?;
        let mut template = templates.pop().expect("one template");
        let proxy = match &config.proxy {
            Some(mode) => {
                let p = WebProxy::start(
                    SocketAddr::new(fixtures_ip(&config.network), 0),
                    mode.clone(),
                    template_resolve(&config, &deployment.server),
                    fixtures_transport(&config.network),
                )
                .await
                .map_err(LabError::Proxy)?;
                template.proxy = Some(p.url(config.proxy_credentials.clone()));
                Some(p)
            }
            None => None,
        };
        let ipsec = if config.ipsec {
            Some(Arc::new(ipsec_side(&deployment, &config.deployment.name)?))
        } else {
            None
        };
        let lab = Self {
            deployment,
            clients: Clients {
                running: Mutex::new(Vec::new()),
                ipsec: Mutex::new(Vec::new()),
                template: Mutex::new(template),
                network: config.network.clone(),
            },
            proxy,
            ipsec: Mutex::new(ipsec),
        };
        for _ in 0..config.clients {
            lab.add_client(|_| {})?;
        }
        Ok(lab)
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The address fixtures in the clients' path (toxic relays) bind on, and how they
    /// reach the network.
    pub fn fixtures(&self) -> (IpAddr, Arc<dyn Transport>) {
        (
            fixtures_ip(&self.clients.network),
            fixtures_transport(&self.clients.network),
        )
    }

    /// The in-memory network, when the lab runs on one.
    pub fn memory_network(&self) -> Option<&MemoryNetwork> {
        match &self.clients.network {
            LabNetwork::Simulated(net) => Some(net),
            LabNetwork::Loopback => None,
        }
    }

    /// The built-in web proxy in the clients' path, if the lab has one.
    pub fn proxy(&self) -> Option<&WebProxy> {
        self.proxy.as_ref()
    }

    /// Client `i` (0-based).
    pub fn client(&self, i: usize) -> Arc<ClientHandle> {
        lock(&self.clients.running)[i].clone()
    }

    /// All clients.
    pub fn clients(&self) -> Vec<Arc<ClientHandle>> {
        lock(&self.clients.running).clone()
    }

    /// The configuration a new client gets (trust, hosts, fast timers, faults in force).
    pub fn client_config(&self) -> ClientConfig {
        let n = lock(&self.clients.running).len();
        let mut c = lock(&self.clients.template).clone();
        c.host.seed = c.host.seed.wrapping_add(n as u64 * 1000);
        if let LabNetwork::Simulated(net) = &self.clients.network {
            c.transport = net.host(simulated_client(n));
        }
        c
    }

    /// Starts one more client, adjusted by `tweak`; returns its index (0-based).
    pub fn add_client(&self, tweak: impl FnOnce(&mut ClientConfig)) -> Result<usize, LabError> {
        let mut c = self.client_config();
        tweak(&mut c);
        let ipsec = self.ipsec();
        #[cfg(target_os = "linux")]
        if let Some(x) = &ipsec {
            c.kernel = Some(x.add_client()?);
        }
        let handle = Arc::new(client::start(c)?);
        let mut clients = lock(&self.clients.running);
        clients.push(handle.clone());
        let i = clients.len() - 1;
        #[cfg(target_os = "linux")]
        if let Some(x) = &ipsec {
            x.supervise(i, handle);
            if let Some(agent) = x.agent(i) {
                lock(&self.clients.ipsec).push(agent);
            }
        }
        Ok(i)
    }

    /// The IPsec side, in an IPsec lab.
    pub fn ipsec(&self) -> Option<Arc<IpsecSide>> {
        lock(&self.ipsec).clone()
    }

    /// Waits until every client is LinkUp with a global address; returns the statuses,
    /// as `Err` if any client did not get there within `timeout`.
    pub async fn wait_all_active(
        &self,
        timeout: Duration,
    ) -> Result<Vec<ClientStatus>, Vec<ClientStatus>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ok = true;
        let mut out = Vec::new();
        for c in self.clients() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
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

    /// Injects (`on`) or clears a fault in the running lab, its clients included.
    pub async fn set_fault(&self, fault: Fault, on: bool) -> Result<(), LabError> {
        Ok(self.deployment.set_fault(fault, on, &self.clients).await?)
    }

    /// Runs one command line against the server (`client: None`) or client `i` (1-based,
    /// as `iphttps ctl --client N`). A failing line changes nothing.
    pub async fn run(
        &self,
        client: Option<usize>,
        line: &str,
        session: &mut Session,
    ) -> Result<Output, CommandError> {
        self.deployment
            .run(client, line, session, &self.clients)
            .await
    }

    /// Stops the clients, then the server, then the IPsec side (charons, namespaces).
    pub async fn shutdown(&self) {
        for c in self.clients() {
            c.shutdown().await;
        }
        self.deployment.shutdown().await;
        let ipsec = lock(&self.ipsec).take();
        lock(&self.clients.ipsec).clear();
        if let Some(x) = ipsec {
            // charons stop and namespaces go on a thread of their own: it waits for them
            let _ = tokio::task::spawn_blocking(move || drop(x)).await;
        }
    }
}

/// Sets up an IPsec lab's side around the deployment's server.
#[cfg(target_os = "linux")]
fn ipsec_side(deployment: &Deployment, name: &str) -> Result<IpsecSide, LabError> {
    Ok(crate::ipsec::lab::IpsecLab::create(
        &deployment.server,
        name,
        deployment.certificates(),
    )?)
}

#[cfg(not(target_os = "linux"))]
fn ipsec_side(_: &Deployment, _: &str) -> Result<IpsecSide, LabError> {
    Err(crate::ipsec::IpsecError::NotLinux.into())
}

fn fixtures_ip(network: &LabNetwork) -> IpAddr {
    match network {
        LabNetwork::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
        LabNetwork::Simulated(_) => SIMULATED_FIXTURES,
    }
}

fn fixtures_transport(network: &LabNetwork) -> Arc<dyn Transport> {
    match network {
        LabNetwork::Loopback => iphttps_sim::net::tcp(),
        LabNetwork::Simulated(net) => net.host(SIMULATED_FIXTURES),
    }
}

/// The names a lab client resolves without DNS: the server's name, to where it listens.
fn template_resolve(config: &LabConfig, server: &ServerHandle) -> Vec<(String, IpAddr)> {
    let ip = match server.local_addr().ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    vec![(config.deployment.name.clone(), ip)]
}

/// The configuration new lab clients start from: the deployment's root trusted, its name
/// pinned, fast timers, a machine certificate, revocation checked when asked.
fn template(config: &LabConfig, d: &Started<'_>) -> ClientConfig {
    let url = IphttpsUrl {
        host: config.deployment.name.clone(),
        port: d.server.local_addr().port(),
        path: d.server.path().to_string(),
    };
    let pki = d.pki;
    let mut template = ClientConfig::new(url, pki.root_ca.clone());
    template.resolve = template_resolve(config, d.server);
    template.system_dns = false;
    template.host = if config.rfc_host_timers {
        HostConfig {
            seed: config.seed,
            ..HostConfig::default()
        }
    } else {
        HostConfig::fast(config.seed)
    };
    template.reconnect_initial = config.reconnect_initial;
    template.reconnect_cap = config.reconnect_initial * 20;
    template.connect_timeout = config.connect_timeout;
    template.client_cert = Some((pki.client_chain(), pki.client_key.clone()));
    template.crl_url = config.check_revocation.then(|| d.cdp_url.clone());
    template.clock = config.deployment.clock;
    template
}
