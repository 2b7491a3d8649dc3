//! A lab: one call that starts a server, N clients and the intranet host on loopback
//! (ephemeral port), so tests, benches and the scenario runner all start a world the same way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::capture::Capture;
use crate::client::{self, ClientConfig, ClientHandle, ClientStatus, IphttpsUrl};
use crate::link::host::HostConfig;
use crate::pki::{self, Pki, PkiOptions};
use crate::server::{self, ServerConfig, ServerError, ServerHandle};
use crate::tls::TlsError;

/// Errors starting a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Certificates could not be made.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// The server did not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A client's TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The capture file could not be created.
    #[error("cannot create capture {path}: {source}")]
    Capture {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Number of clients.
    pub clients: usize,
    /// The server's name.
    pub name: String,
    /// Capture file shared by the server (clients' packets are the same packets).
    pub pcap: Option<PathBuf>,
    /// Seed for the clients' hosts (client i uses seed + i).
    pub seed: u64,
    /// Lets the caller adjust the server before it starts (faults, prefixes, ...).
    pub server: fn(&mut ServerConfig),
    /// Reconnect timer's first wait for the clients (shortened from Windows' 30 s).
    pub reconnect_initial: Duration,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            clients: 2,
            name: pki::DEFAULT_NAME.to_string(),
            pcap: None,
            seed: 1,
            server: |_| {},
            reconnect_initial: Duration::from_millis(200),
        }
    }
}

/// A running lab.
pub struct Lab {
    /// The server.
    pub server: ServerHandle,
    /// The clients, in start order.
    pub clients: Vec<ClientHandle>,
    /// The certificates in use.
    pub pki: Pki,
    template: ClientConfig,
}

impl Lab {
    /// Starts the server on 127.0.0.1 (ephemeral port) and the clients.
    pub async fn start(config: LabConfig) -> Result<Self, LabError> {
        let pki = Pki::generate(&PkiOptions::new(
            &config.name,
            time::OffsetDateTime::now_utc(),
        ))?;
        let capture = match &config.pcap {
            Some(path) => Some(Capture::create(path).map_err(|source| LabError::Capture {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let mut scfg = ServerConfig::new(listen, &config.name, pki.clone());
        scfg.pcap = capture;
        (config.server)(&mut scfg);
        let path = scfg.path.clone();
        let server = server::start(scfg).await?;
        let url = IphttpsUrl {
            host: config.name.clone(),
            port: server.local_addr().port(),
            path,
        };
        let mut template = ClientConfig::new(url, pki.root_ca.clone());
        template.resolve = vec![(config.name.clone(), server.local_addr().ip())];
        template.host = HostConfig::fast(config.seed);
        template.reconnect_initial = config.reconnect_initial;
        template.reconnect_cap = config.reconnect_initial * 20;
        template.client_cert = Some((pki.client_chain(), pki.client_key.clone()));
        let mut lab = Self {
            server,
            clients: Vec::new(),
            pki,
            template,
        };
        for _ in 0..config.clients {
            lab.add_client(|_| {})?;
        }
        Ok(lab)
    }

    /// The configuration new clients get (trust, resolve, fast timers).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = self.template.clone();
        c.host.seed = c.host.seed.wrapping_add(self.clients.len() as u64 * 1000);
        c
    }

    /// Starts one more client, adjusted by `tweak`; returns its index.
    pub fn add_client(&mut self, tweak: impl FnOnce(&mut ClientConfig)) -> Result<usize, LabError> {
        let mut c = self.client_config();
        tweak(&mut c);
        self.clients.push(client::start(c)?);
        Ok(self.clients.len() - 1)
    }

    /// Waits until every client is LinkUp with a global address; returns the statuses,
    /// as `Err` if any client did not get there within `timeout`.
    pub async fn wait_all_active(
        &self,
        timeout: Duration,
    ) -> Result<Vec<ClientStatus>, Vec<ClientStatus>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut ok = true;
        let mut out = Vec::with_capacity(self.clients.len());
        for c in &self.clients {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
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

    /// Stops the clients, then the server.
    pub async fn shutdown(self) {
        for c in self.clients {
            c.shutdown().await;
        }
        self.server.shutdown().await;
    }
}
