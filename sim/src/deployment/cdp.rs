//! The deployment's CRL distribution point: a small HTTP server on loopback that
//! publishes the CAs' certificate revocation lists. Taking it offline closes its socket,
//! so a client's fetch ([`crate::tls::revocation::fetch`]) really fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The path the CRLs are served at.
pub const PATH: &str = "/crl";

/// A running distribution point.
pub struct Cdp {
    addr: SocketAddr,
    crls: Arc<Mutex<String>>,
    task: Mutex<Option<JoinHandle<()>>>,
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
