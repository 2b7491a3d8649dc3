//! The IPsec lab (Linux, root): the lab's server and clients keep running in this
//! process, but their kernel sides live in network namespaces: the intranet device of
//! the server in the intranet namespace (with the infrastructure and application
//! servers' addresses and a firewall that, as the DirectAccess server's, lets nothing
//! from the clients in without IPsec), each client's TUN device in its own namespace;
//! a charon in each. A supervisor per client keeps its CHILD_SAs as its rules ask,
//! follows the deployment's machine certificate, and reports what charon says.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use iphttps_sim::client::{ClientHandle, KernelPort};
use iphttps_sim::pki::Pki;
use iphttps_sim::server::ServerHandle;
use iphttps_sim::tun::{self, InNamespace};
use iphttps_sim::windows::ipsec::{IpsecAgent, Tunnel};
use tokio::sync::watch;

use super::agent::{Agent, failure_reason, responder_reason};
use super::charon::Charon;
use super::config::{self, Addresses, CONNECTION, End};
use super::vici::{Message, Vici};
use super::{IpsecError, check};

use super::PREFIX;
/// The server's intranet device.
pub const INTRANET_DEVICE: &str = "iphi0";
/// A client's device.
pub const CLIENT_DEVICE: &str = "iph0";
/// How long one IKE attempt may take.
const ATTEMPT: Duration = Duration::from_secs(8);
/// How often a supervisor looks at its charon (and retries a tunnel that is down).
const EVERY: Duration = Duration::from_millis(500);
/// How long after a failed attempt the next one starts.
const RETRY: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(cmd: &mut Command, what: &str) -> Result<String, IpsecError> {
    Ok(crate::system::run(cmd, what)?)
}

/// A network namespace, removed (with whatever runs in it) when dropped.
#[derive(Debug)]
struct Namespace(String);

impl Namespace {
    fn create(name: String) -> Result<Self, IpsecError> {
        run(
            Command::new("ip").args(["netns", "add", &name]),
            "ip netns add",
        )?;
        let ns = Namespace(name);
        run(
            Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]),
            "ip link set lo up",
        )?;
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        crate::system::remove_namespace(&self.0);
    }
}

/// One client's end: its namespace, device, charon and agent.
struct ClientEnd {
    agent: Arc<Agent>,
    charon: Arc<Charon>,
    ns: String,
    _tun: InNamespace,
    _ns: Namespace,
}

/// A running IPsec lab's kernel sides and charons; dropping it stops them and removes
/// the namespaces.
pub struct IpsecLab {
    addresses: Addresses,
    server_id: String,
    dir: tempfile::TempDir,
    tag: String,
    clients: Mutex<Vec<ClientEnd>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    certificates: watch::Receiver<Pki>,
    server_charon: Charon,
    _server_tun: InNamespace,
    server_ns: Namespace,
}

impl std::fmt::Debug for IpsecLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpsecLab")
            .field("server_ns", &self.server_ns.0)
            .finish()
    }
}

/// Numbers the labs of this process.
static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl IpsecLab {
    /// Sets up the intranet side: its namespace and device (the server's intranet is
    /// diverted into it), the infrastructure and application servers' addresses, the
    /// firewall, and the server's charon with `certificates`' server certificate.
    pub fn create(
        server: &ServerHandle,
        server_id: &str,
        certificates: watch::Receiver<Pki>,
    ) -> Result<Self, IpsecError> {
        check()?;
        let pid = std::process::id();
        crate::system::remove_left_over(PREFIX, None);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{PREFIX}{pid}-{n}");
        let dir = tempfile::Builder::new()
            .prefix("iphttps-ipsec-")
            .tempdir()
            .map_err(|e| IpsecError::command("tempdir", e.to_string()))?;
        let server_ns = Namespace::create(format!("{tag}-s"))?;
        let (internal, clients) =
            server.with_router(|r| (r.config().intranet_prefix, r.config().client_prefix));
        let endpoint = server.intranet_address();
        let addresses = Addresses::around(endpoint, clients);
        let (from_router, to_router) = server.divert_intranet(tun::QUEUE);
        let (server_tun, ()) = tun::in_namespace(&server_ns.0, move || {
            let t = tun::intranet(
                INTRANET_DEVICE,
                endpoint,
                internal,
                clients,
                (from_router, move |p| to_router.send(p)),
            )?;
            Ok((t, ()))
        })?;
        for a in [addresses.infrastructure, addresses.application] {
            run(
                Command::new("ip").args([
                    "-n",
                    &server_ns.0,
                    "addr",
                    "add",
                    &format!("{a}/128"),
                    "dev",
                    "lo",
                ]),
                "ip addr add (an intranet server)",
            )?;
        }
        firewall(&server_ns.0, &addresses)?;
        let sdir = dir.path().join("server");
        config::write_end(&sdir, End::Server, &addresses, server_id)?;
        config::write_credentials(&sdir, End::Server, &certificates.borrow())?;
        let server_charon = Charon::start(&server_ns.0, &sdir, "the server's charon")?;
        route_clients_into_ipsec(&server_ns.0, &addresses)?;
        server_charon.swanctl(&["--load-all"])?;
        Ok(Self {
            addresses,
            server_id: server_id.to_string(),
            dir,
            tag,
            clients: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
            certificates,
            server_charon,
            _server_tun: server_tun,
            server_ns,
        })
    }

    /// The addresses of the intranet side.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// The intranet namespace.
    pub fn server_namespace(&self) -> &str {
        &self.server_ns.0
    }

    /// Client `i`'s namespace (0-based).
    pub fn client_namespace(&self, i: usize) -> Option<String> {
        lock(&self.clients).get(i).map(|c| c.ns.clone())
    }

    /// The lab's folder (configurations, charon logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's charon's log.
    pub fn server_log(&self) -> String {
        self.server_charon.log()
    }

    /// Sets up the next client's side: namespace, TUN device (the port its link uses),
    /// charon with the machine certificate. Its supervisor starts with [`Self::supervise`].
    pub fn add_client(&self) -> Result<Arc<KernelPort>, IpsecError> {
        let mut clients = lock(&self.clients);
        let i = clients.len();
        let ns = Namespace::create(format!("{}-c{}", self.tag, i + 1))?;
        let (tun, port) = tun::in_namespace(&ns.0, || tun::client(CLIENT_DEVICE))?;
        let cdir = self.client_dir(i);
        config::write_end(&cdir, End::Client, &self.addresses, &self.server_id)?;
        config::write_credentials(&cdir, End::Client, &self.certificates.borrow())?;
        let charon = Charon::start(&ns.0, &cdir, &format!("client {}'s charon", i + 1))?;
        charon.swanctl(&["--load-all"])?;
        clients.push(ClientEnd {
            agent: Agent::new(),
            charon: Arc::new(charon),
            ns: ns.0.clone(),
            _tun: tun,
            _ns: ns,
        });
        Ok(port)
    }

    fn client_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("client{}", i + 1))
    }

    /// Client `i`'s IPsec, as its commands see it.
    pub fn agent(&self, i: usize) -> Option<Arc<dyn IpsecAgent>> {
        lock(&self.clients)
            .get(i)
            .map(|c| c.agent.clone() as Arc<dyn IpsecAgent>)
    }

    /// Starts client `i`'s supervisor: it brings each enabled tunnel up once the client
    /// has its address, takes down a disabled one, and reloads the machine certificate
    /// when the deployment's changes.
    pub fn supervise(&self, i: usize, client: Arc<ClientHandle>) {
        let Some((agent, charon)) = lock(&self.clients)
            .get(i)
            .map(|c| (c.agent.clone(), c.charon.clone()))
        else {
            return;
        };
        let sup = Supervisor {
            agent,
            charon,
            client,
            certificates: self.certificates.clone(),
            dir: self.client_dir(i),
            server_log: self.server_charon.dir().join("charon.log"),
        };
        lock(&self.tasks).push(tokio::spawn(sup.run()));
    }

    /// The packets through `tunnel`'s quick mode SA of client `i`, in and out, read now.
    pub async fn packets(&self, i: usize, tunnel: Tunnel) -> Result<(u64, u64), IpsecError> {
        let Some(charon) = lock(&self.clients).get(i).map(|c| c.charon.clone()) else {
            return Err(IpsecError::command("IPsec", format!("no client {}", i + 1)));
        };
        let events = list_sas(&charon.vici()).await?;
        let (_, quick) = super::agent::read_sas(&events);
        Ok(quick
            .iter()
            .filter(|q| q.tunnel == tunnel)
            .fold((0, 0), |(i, o), q| (i + q.packets_in, o + q.packets_out)))
    }

    /// One Echo Request from client `i`'s kernel to `dst` with `size` data bytes: the
    /// round trip, or `None` without a reply within `wait`.
    pub async fn ping(
        &self,
        i: usize,
        dst: Ipv6Addr,
        size: usize,
        wait: Duration,
    ) -> Result<Option<Duration>, IpsecError> {
        let ns = self
            .client_namespace(i)
            .ok_or_else(|| IpsecError::command("ping", format!("no client {}", i + 1)))?;
        let out = tokio::process::Command::new("ip")
            .args(["netns", "exec", &ns, "ping", "-6", "-n", "-c", "1"])
            .args(["-s", &size.to_string()])
            .args(["-W", &format!("{:.3}", wait.as_secs_f64().max(0.2))])
            .arg(dst.to_string())
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| IpsecError::command("ping", e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split("time=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|ms| ms.parse::<f64>().ok())
            .map(|ms| Duration::from_secs_f64(ms / 1000.0)))
    }
}

impl Drop for IpsecLab {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        // charons stop before their namespaces go
        lock(&self.clients).clear();
    }
}

/// The routing table of the server's own route to its clients.
const CLIENTS_TABLE: &str = "221";

/// Routes everything the intranet namespace sends to the clients' prefix into charon's
/// TUN device (`ipsec0`), where kernel-libipsec protects it with the SA whose selectors
/// match, or drops it when none does; IKE and ESP-in-UDP (mark 0x42) bypass the rule.
pub fn route_clients_into_ipsec(ns: &str, a: &Addresses) -> Result<(), IpsecError> {
    run(
        Command::new("ip").args([
            "-n",
            ns,
            "-6",
            "rule",
            "add",
            "not",
            "fwmark",
            "0x42",
            "table",
            CLIENTS_TABLE,
            "pref",
            "210",
        ]),
        "ip rule add (the clients through IPsec)",
    )?;
    run(
        Command::new("ip").args([
            "-n",
            ns,
            "-6",
            "route",
            "add",
            &a.clients.to_string(),
            "dev",
            "ipsec0",
            "table",
            CLIENTS_TABLE,
        ]),
        "ip route add (the clients through IPsec)",
    )?;
    Ok(())
}

/// The DirectAccess server's firewall in the intranet namespace: from the clients'
/// prefix on the intranet device only IKE and ESP-in-UDP to the server's endpoint come
/// in; everything else (traffic that IPsec did not protect) is dropped and counted.
fn firewall(ns: &str, a: &Addresses) -> Result<(), IpsecError> {
    let rules = format!(
        "table ip6 directaccess {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname \"{INTRANET_DEVICE}\" ip6 saddr {clients} ip6 daddr {endpoint} udp dport {{ 500, 4500 }} accept
    iifname \"{INTRANET_DEVICE}\" ip6 saddr {clients} counter drop
  }}
}}
",
        clients = a.clients,
        endpoint = a.endpoint,
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| IpsecError::command("nft", e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(rules.as_bytes())
            .map_err(|e| IpsecError::command("nft", e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| IpsecError::command("nft", e.to_string()))?;
    if !out.status.success() {
        return Err(IpsecError::command(
            "nft (the intranet firewall)",
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

/// The `list-sa` events of one `list-sas` call to the charon at `vici`.
pub async fn list_sas(vici: &Path) -> Result<Vec<Message>, IpsecError> {
    let mut v = Vici::connect(vici).await?;
    let (_, events) = v
        .call("list-sas", &Message::default(), Some("list-sa"), ATTEMPT)
        .await?;
    Ok(events)
}

/// One client's supervisor.
struct Supervisor {
    agent: Arc<Agent>,
    charon: Arc<Charon>,
    client: Arc<ClientHandle>,
    certificates: watch::Receiver<Pki>,
    dir: PathBuf,
    server_log: PathBuf,
}

impl Supervisor {
    async fn run(mut self) {
        let mut retry_at = Instant::now();
        let changed = self.agent.changed.clone();
        loop {
            if self.certificates.has_changed().unwrap_or(false) {
                self.reload().await;
                retry_at = Instant::now();
            }
            if let Err(e) = self.step(&mut retry_at).await {
                tracing::debug!(error = %e, "IPsec supervisor");
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = changed.notified() => retry_at = Instant::now(),
            }
        }
    }

    /// Takes the machine certificate the deployment now has, and starts IKE afresh.
    async fn reload(&mut self) {
        let pki = self.certificates.borrow_and_update().clone();
        let charon = self.charon.clone();
        let dir = self.dir.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(), IpsecError> {
            config::write_credentials(&dir, End::Client, &pki)?;
            charon.swanctl(&["--load-creds", "--clear", "--noprompt"])?;
            let _ = charon.swanctl(&["--terminate", "--ike", CONNECTION]);
            Ok(())
        })
        .await;
        match done {
            Ok(Ok(())) => tracing::info!("IPsec: the machine certificate was reloaded"),
            Ok(Err(e)) => tracing::warn!(error = %e, "IPsec: reloading the machine certificate"),
            Err(e) => tracing::warn!(error = %e, "IPsec: reloading the machine certificate"),
        }
    }

    async fn step(&self, retry_at: &mut Instant) -> Result<(), IpsecError> {
        let vici = self.charon.vici();
        self.agent.set_sas(&list_sas(&vici).await?);
        let now = self.agent.snapshot();
        for t in Tunnel::ALL {
            let up = now.installed(t).is_some();
            let wanted = self.agent.enabled(t);
            if !wanted && up {
                let mut v = Vici::connect(&vici).await?;
                v.call(
                    "terminate",
                    &Message::of(&[("child", t.name()), ("timeout", "3000")]),
                    None,
                    ATTEMPT,
                )
                .await?;
            } else if wanted
                && !up
                && Instant::now() >= *retry_at
                && self.client.status().global.is_some()
            {
                let mut v = Vici::connect(&vici).await?;
                let (answer, log) = v
                    .call(
                        "initiate",
                        &Message::of(&[
                            ("child", t.name()),
                            ("timeout", "6000"),
                            ("init-limits", "no"),
                        ]),
                        Some("control-log"),
                        ATTEMPT,
                    )
                    .await?;
                if answer.str("success") == Some("yes") {
                    self.agent.set_failure(None);
                } else {
                    let mut reason =
                        failure_reason(&log).or_else(|| answer.str("errmsg").map(str::to_string));
                    // the responder refused: what its charon said about this attempt
                    if let Some(r) = reason
                        .as_mut()
                        .filter(|r| r.contains("AUTHENTICATION_FAILED"))
                        && let Some(why) = std::fs::read_to_string(&self.server_log)
                            .ok()
                            .and_then(|l| responder_reason(&l, 40))
                    {
                        r.push_str(&format!(" (the server's charon: {why})"));
                    }
                    tracing::info!(
                        tunnel = t.name(),
                        reason = reason.as_deref().unwrap_or("?"),
                        "IPsec: IKE failed"
                    );
                    self.agent.set_failure(reason);
                    *retry_at = Instant::now() + RETRY;
                    break;
                }
            }
        }
        self.agent.set_sas(&list_sas(&vici).await?);
        Ok(())
    }
}
