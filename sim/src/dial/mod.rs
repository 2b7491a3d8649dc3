//! How a client reaches the server: the name resolved from pinned entries (or the system
//! resolver when allowed), TCP with a deadline, or a web proxy's `CONNECT` tunnel. The
//! client and `probe` dial the same way.

mod connect;
pub mod url;

pub use url::{IphttpsUrl, ProxyUrl, UrlError, parse_resolve};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::client_state::ConnectError;
use crate::net::{Stream, Transport};

/// What dialing needs to know: where the server is and how to get there.
#[derive(Debug, Clone)]
pub struct Dialer {
    /// The server's URL (its host is resolved, or handed to the proxy).
    pub url: IphttpsUrl,
    /// Names resolved without DNS, as curl's `--resolve` or a hosts file.
    pub resolve: Vec<(String, IpAddr)>,
    /// Whether names not in `resolve` go to the system resolver.
    pub system_dns: bool,
    /// A web proxy to reach the server through with `CONNECT`.
    pub proxy: Option<ProxyUrl>,
    /// Deadline for TCP connect and for the proxy's answer.
    pub timeout: Duration,
    /// What streams are opened over (the real network by default).
    pub transport: Arc<dyn Transport>,
}

/// How a connection reaches the server.
#[derive(Debug)]
pub enum Via<'a> {
    /// Straight to the resolved address.
    Direct(SocketAddr),
    /// Through a web proxy, which resolves the server's name (as Windows leaves it to).
    Proxy(&'a ProxyUrl),
}

impl Dialer {
    /// How to reach the server: its name resolved here, or left to the web proxy.
    pub async fn via(&self) -> Result<Via<'_>, ConnectError> {
        match &self.proxy {
            None => Ok(Via::Direct(self.resolve().await?)),
            Some(_) if self.url.host_is_ip() => {
                Err(ConnectError::IpAddressUrl(self.url.host.clone()))
            }
            Some(p) => Ok(Via::Proxy(p)),
        }
    }

    /// Opens TCP along `via` (a proxy's `CONNECT` included) within the deadline.
    pub async fn open(&self, via: &Via<'_>) -> Result<Stream, ConnectError> {
        match via {
            Via::Direct(addr) => self.connect_to(*addr).await,
            Via::Proxy(p) => connect::through(self, p).await,
        }
    }

    /// The server's address: a pinned name first, then the system resolver if allowed.
    pub async fn resolve(&self) -> Result<SocketAddr, ConnectError> {
        let url = &self.url;
        if url.host_is_ip() {
            return Err(ConnectError::IpAddressUrl(url.host.clone()));
        }
        self.lookup(&url.host, url.port).await
    }

    /// `name`'s address: its pinned entry, else (only when `system_dns` allows) the system
    /// resolver. A lab's clients never reach the system resolver.
    pub(crate) async fn lookup(&self, name: &str, port: u16) -> Result<SocketAddr, ConnectError> {
        if let Some(ip) = self.pinned(name) {
            return Ok(SocketAddr::new(ip, port));
        }
        let fail = |detail: String| ConnectError::Resolve {
            host: name.to_string(),
            detail,
        };
        if !self.system_dns {
            return Err(fail(
                "not in the client's hosts table (the system resolver is not used)".into(),
            ));
        }
        tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("no addresses".into()))
    }

    /// Where a proxy's `CONNECT` asks to go: the server's name, as Windows leaves
    /// resolving it to the proxy, unless the name is pinned, in which case the address.
    pub fn proxy_target(&self) -> String {
        let url = &self.url;
        match self.pinned(&url.host) {
            Some(ip) => SocketAddr::new(ip, url.port).to_string(),
            None => format!("{}:{}", url.host, url.port),
        }
    }

    /// The pinned address of `name`, if any.
    fn pinned(&self, name: &str) -> Option<IpAddr> {
        self.resolve
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, ip)| *ip)
    }
}

impl Dialer {
    /// A stream to `addr` over the transport, within the deadline.
    pub async fn connect_to(&self, addr: SocketAddr) -> Result<Stream, ConnectError> {
        match tokio::time::timeout(self.timeout, self.transport.connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(source)) => Err(ConnectError::Tcp { addr, source }),
            Err(_) => Err(ConnectError::TcpTimeout(addr)),
        }
    }
}
