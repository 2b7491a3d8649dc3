//! Revocation checking's network half: fetching a CRL distribution point's lists over
//! HTTP (the verifier that judges them is in [`super`]).

use std::net::SocketAddr;
use std::time::Duration;

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why CRLs could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
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

/// Fetches the CRLs at `url` (`http://HOST[:PORT]/PATH`) within `timeout`, as PEM: a
/// DER CRL (what a real distribution point serves) is converted. A host name is
/// resolved by the system resolver (the labs' URLs hold addresses); `connect` opens the
/// stream (the caller's transport).
pub async fn fetch<S, F>(
    url: &str,
    timeout: Duration,
    connect: impl FnOnce(SocketAddr) -> F,
) -> Result<String, RevocationError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = std::io::Result<S>>,
{
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| RevocationError::Url(url.into()))?;
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
    let unreachable = |detail: String| RevocationError::Unreachable {
        url: url.into(),
        detail,
    };
    let work = async {
        let addr: SocketAddr = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| unreachable(format!("cannot resolve {authority}: {e}")))?
            .next()
            .ok_or_else(|| unreachable(format!("{authority} has no address")))?;
        let mut s = connect(addr)
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
