//! A built-in web proxy for labs and scenarios: it answers `CONNECT` as an HTTP proxy
//! does and relays the tunnel, or refuses it (403), or demands Basic authentication
//! (407), so a scenario can put each of those in a client's path and switch between
//! them while the lab runs.
//!
//! It only connects to addresses (or names in its own pinned list): it never asks a
//! resolver, so a lab's proxy sends nothing off the machine.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::client::ProxyUrl;
use crate::wire::head::{self, ConnectHead, Parsed};

/// How long a client has to send its `CONNECT` head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What the proxy does with a `CONNECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyMode {
    /// Opens the tunnel.
    Open,
    /// Refuses it with `403 Forbidden` (a policy that blocks the server).
    Refuses,
    /// Demands these Basic credentials (`407 Proxy Authentication Required` without them).
    RequiresAuth {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl ProxyMode {
    /// The mode a scenario names: `open`, `refuses`, `requires-auth` (with the lab's
    /// credentials, [`LAB_USER`]/[`LAB_PASSWORD`]).
    pub fn named(s: &str) -> Option<Self> {
        match s {
            "open" => Some(ProxyMode::Open),
            "refuses" => Some(ProxyMode::Refuses),
            "requires-auth" => Some(ProxyMode::RequiresAuth {
                user: LAB_USER.into(),
                password: LAB_PASSWORD.into(),
            }),
            _ => None,
        }
    }

    /// The names [`ProxyMode::named`] accepts.
    pub const NAMES: [&'static str; 3] = ["open", "refuses", "requires-auth"];
}

/// The user name a lab's proxy demands in `requires-auth` mode.
pub const LAB_USER: &str = "proxyuser";
/// The password a lab's proxy demands in `requires-auth` mode.
pub const LAB_PASSWORD: &str = "proxypass";

/// What the proxy has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Tunnels opened.
    pub tunnels: u64,
    /// `CONNECT`s refused with 403.
    pub refused: u64,
    /// `CONNECT`s answered with 407.
    pub challenged: u64,
    /// Targets that could not be reached (502).
    pub bad_gateway: u64,
}

struct State {
    mode: ProxyMode,
    stats: ProxyStats,
}

/// A running proxy; dropping it stops listening (open tunnels end with their peers).
pub struct WebProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebProxy {
    /// Listens on `listen` in `mode`; `pinned` are the names it may connect to.
    pub async fn start(
        listen: SocketAddr,
        mode: ProxyMode,
        pinned: Vec<(String, IpAddr)>,
    ) -> std::io::Result<WebProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            mode,
            stats: ProxyStats::default(),
        }));
        let pinned = Arc::new(pinned);
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (st, pinned) = (st.clone(), pinned.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve(tcp, &st, &pinned).await {
                        tracing::debug!(%peer, error = %e, "proxy connection ended");
                    }
                });
            }
        });
        tracing::info!(%addr, "web proxy listening");
        Ok(WebProxy { addr, state, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients use, carrying `credentials` for Basic authentication.
    pub fn url(&self, credentials: Option<(String, String)>) -> ProxyUrl {
        ProxyUrl {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            credentials,
        }
    }

    /// Changes what the proxy does with new `CONNECT`s.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.lock().mode = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        self.lock().mode.clone()
    }

    /// The counters.
    pub fn stats(&self) -> ProxyStats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn read_connect(tcp: &mut TcpStream) -> std::io::Result<ConnectHead> {
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut buf = Vec::with_capacity(512);
    loop {
        // one byte at a time: the TLS ClientHello may follow the head at once
        let b = tcp.read_u8().await?;
        buf.push(b);
        if buf.ends_with(b"\r\n\r\n") {
            match head::parse_connect_request(&buf) {
                Ok(Parsed::Complete { head, .. }) => return Ok(head),
                Ok(Parsed::Partial) => {}
                Err(e) => return Err(bad(e.to_string())),
            }
        } else if buf.len() > head::MAX_HEAD {
            return Err(bad("CONNECT head too large".into()));
        }
    }
}

fn target_addr(target: &str, pinned: &[(String, IpAddr)]) -> Option<SocketAddr> {
    if let Ok(a) = target.parse() {
        return Some(a);
    }
    let (host, port) = target.rsplit_once(':')?;
    let port = port.parse().ok()?;
    pinned
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(host))
        .map(|(_, ip)| SocketAddr::new(*ip, port))
}

async fn answer(tcp: &mut TcpStream, status: &str, extra: &str) -> std::io::Result<()> {
    tcp.write_all(format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n").as_bytes())
        .await?;
    tcp.shutdown().await
}

async fn serve(
    mut tcp: TcpStream,
    state: &Mutex<State>,
    pinned: &[(String, IpAddr)],
) -> std::io::Result<()> {
    let req = match tokio::time::timeout(HEAD_TIMEOUT, read_connect(&mut tcp)).await {
        Ok(r) => r?,
        Err(_) => return answer(&mut tcp, "408 Request Timeout", "").await,
    };
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let mode = lock().mode.clone();
    match mode {
        ProxyMode::Refuses => {
            lock().stats.refused += 1;
            return answer(&mut tcp, "403 Forbidden", "").await;
        }
        ProxyMode::RequiresAuth { user, password }
            if req.credentials != Some((user.clone(), password.clone())) =>
        {
            lock().stats.challenged += 1;
            return answer(
                &mut tcp,
                "407 Proxy Authentication Required",
                "Proxy-Authenticate: Basic realm=\"iphttps lab proxy\"\r\n",
            )
            .await;
        }
        _ => {}
    }
    let upstream = match target_addr(&req.target, pinned) {
        Some(a) => TcpStream::connect(a).await,
        None => Err(std::io::Error::other("not an address or a pinned name")),
    };
    let mut upstream = match upstream {
        Ok(u) => u,
        Err(e) => {
            lock().stats.bad_gateway += 1;
            tracing::debug!(target = %req.target, error = %e, "proxy cannot reach the target");
            return answer(&mut tcp, "502 Bad Gateway", "").await;
        }
    };
    let _ = upstream.set_nodelay(true);
    let _ = tcp.set_nodelay(true);
    tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    lock().stats.tunnels += 1;
    tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await?;
    Ok(())
}
