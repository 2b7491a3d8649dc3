//! A CRL distribution point: a small HTTP server on loopback that publishes the CAs'
//! certificate revocation lists, and the client's fetch of them. Taking it offline closes
//! its socket, so a client's fetch really fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The path the CRLs are served at.
pub const PATH: &str = "/crl";

/// A running distribution point.
pub struct Cdp {
    addr: SocketAddr,
    crls: Arc<Mutex<String>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Why CRLs could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    /// The URL is not `http://HOST:PORT/PATH`.
    #[error("bad CRL URL {0}")]
    Url(String),
    /// Connecting, sending or reading failed.
    #[error("CRL distribution point {url} unreachable: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
}

impl Cdp {
    /// Starts serving `crls` (concatenated PEM) on `addr` (port 0 for an ephemeral one).
    pub async fn start(addr: SocketAddr, crls: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let crls = Arc::new(Mutex::new(crls));
        let task = tokio::spawn(serve(listener, crls.clone()));
        Ok(Self {
            addr,
            crls,
            task: Mutex::new(Some(task)),
        })
    }

    /// The URL clients fetch.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Publishes new CRLs.
    pub fn publish(&self, crls: String) {
        *self.crls.lock().unwrap_or_else(|e| e.into_inner()) = crls;
    }

    /// Takes the distribution point offline (`false`: its socket is closed) or back online.
    pub async fn set_online(&self, online: bool) {
        let running = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (online, running) {
            (true, Some(t)) => {
                *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
            }
            (true, None) => {
                for _ in 0..20 {
                    if let Ok(l) = TcpListener::bind(self.addr).await {
                        let t = tokio::spawn(serve(l, self.crls.clone()));
                        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tracing::warn!(addr = %self.addr, "cannot bring the CRL distribution point back");
            }
            (false, Some(t)) => {
                t.abort();
                let _ = t.await;
            }
            (false, None) => {}
        }
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

async fn serve(listener: TcpListener, crls: Arc<Mutex<String>>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let body = crls.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 8192 {
                match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let ok = got.starts_with(format!("GET {PATH} ").as_bytes());
            let resp = if ok {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}

/// Fetches the CRLs at `url` (`http://HOST[:PORT]/PATH`) within `timeout`, as PEM: a
/// DER CRL (what a real distribution point serves) is converted. A host name is
/// resolved by the system resolver; the labs' URLs hold addresses.
pub async fn fetch(url: &str, timeout: Duration) -> Result<String, CdpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| CdpError::Url(url.into()))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':')
    });
    let target = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let unreachable = |detail: String| CdpError::Unreachable {
        url: url.into(),
        detail,
    };
    let work = async {
        let addr: SocketAddr = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| unreachable(format!("cannot resolve {authority}: {e}")))?
            .next()
            .ok_or_else(|| unreachable(format!("{authority} has no address")))?;
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| unreachable(e.to_string()))?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| unreachable("no HTTP response".into()))?;
        let head = String::from_utf8_lossy(&resp[..split]);
        if !(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")) {
            return Err(unreachable(head.lines().next().unwrap_or("").to_string()));
        }
        Ok(as_pem(&resp[split + 4..]))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| unreachable("timed out".into()))?
}

/// A CRL body as PEM: PEM is kept, DER is wrapped.
fn as_pem(body: &[u8]) -> String {
    if body.starts_with(b"-----BEGIN") {
        return String::from_utf8_lossy(body).into_owned();
    }
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    let mut pem = String::from("-----BEGIN X509 CRL-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END X509 CRL-----\n");
    pem
}
