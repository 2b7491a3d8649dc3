//! The deployment's CRL distribution point: a small HTTP server on loopback that
//! publishes the CAs' certificate revocation lists. Taking it offline closes its listening
//! socket (the port stays held, refusing connections), so a client's fetch
//! ([`crate::tls::revocation::fetch`]) really fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::net::{HeldPort, Listener, Transport};

/// The path the CRLs are served at.
pub const PATH: &str = "/crl";

/// Serving, or offline with its port held refusing connections (so the port is still
/// its own when it comes back).
enum State {
    Online(JoinHandle<()>),
    Offline(Option<HeldPort>),
}

/// A running distribution point.
pub struct Cdp {
    addr: SocketAddr,
    crls: Arc<Mutex<String>>,
    transport: Arc<dyn Transport>,
    state: tokio::sync::Mutex<State>,
}

impl Cdp {
    /// Starts serving `crls` (concatenated PEM) on `addr` (port 0 for an ephemeral one)
    /// of `transport`.
    pub async fn start(
        addr: SocketAddr,
        crls: String,
        transport: Arc<dyn Transport>,
    ) -> std::io::Result<Self> {
        let listener = transport.bind(addr).await?;
        let addr = listener.local_addr()?;
        let crls = Arc::new(Mutex::new(crls));
        let task = tokio::spawn(serve(listener, crls.clone()));
        Ok(Self {
            addr,
            crls,
            transport,
            state: tokio::sync::Mutex::new(State::Online(task)),
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

    /// Takes the distribution point offline (`false`: connections are refused, as where
    /// nothing listens) or back online.
    pub async fn set_online(&self, online: bool) {
        let mut state = self.state.lock().await;
        match (&mut *state, online) {
            (State::Online(_), true) | (State::Offline(_), false) => {}
            (State::Online(task), false) => {
                task.abort();
                let _ = (&mut *task).await;
                let held = self.transport.bind_refusing(self.addr).await;
                if let Err(e) = &held {
                    tracing::warn!(addr = %self.addr, error = %e, "cannot hold the CRL distribution point's port");
                }
                *state = State::Offline(held.ok());
            }
            (State::Offline(held), true) => {
                held.take();
                for _ in 0..100 {
                    if let Ok(l) = self.transport.bind(self.addr).await {
                        *state = State::Online(tokio::spawn(serve(l, self.crls.clone())));
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tracing::warn!(addr = %self.addr, "cannot bring the CRL distribution point back");
            }
        }
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        if let State::Online(t) = self.state.get_mut() {
            t.abort();
        }
    }
}

async fn serve(mut listener: Box<dyn Listener>, crls: Arc<Mutex<String>>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
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
