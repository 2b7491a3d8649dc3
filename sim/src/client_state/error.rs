//! Why a connection attempt or a link failed, and the Last Error Code Windows shows for it.

use crate::net::ReadHeadError;
use crate::winerr::LastErrorCode;
use crate::wire::head::HeadError;

/// A failed connection attempt or a lost link.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names an IP address; Windows requires a name (KB2980627).
    #[error("the IP-HTTPS URL must name the server, not an IP address ({0})")]
    IpAddressUrl(String),
    /// The name did not resolve.
    #[error("cannot resolve {host}: {detail}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's complaint.
        detail: String,
    },
    /// TCP connect failed.
    #[error("TCP connect to {addr} failed: {source}")]
    Tcp {
        /// Where.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TCP connect did not finish in time.
    #[error("TCP connect to {0} timed out")]
    TcpTimeout(std::net::SocketAddr),
    /// The TLS handshake failed (certificate errors included).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// The TLS handshake failed before any certificate was judged: no shared cipher
    /// suite (a NULL-only client against a front end without NULL suites), an alert.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The TLS handshake or the response did not come in time.
    #[error("no answer from the server in time ({0})")]
    Timeout(&'static str),
    /// The server's response head was refused.
    #[error("HTTP exchange failed: {0}")]
    Head(#[from] HeadError),
    /// The connection closed or failed.
    #[error("connection lost: {0}")]
    Io(#[source] std::io::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The CRLs could not be fetched, so revocation cannot be checked.
    #[error("revocation status unknown: {0}")]
    RevocationOffline(String),
    /// The web proxy answered `CONNECT` with a status other than 2xx, 401 or 407.
    #[error("the web proxy {proxy} refused CONNECT: {code} {reason}")]
    ProxyRefused {
        /// The proxy (password hidden).
        proxy: String,
        /// Its status code.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The web proxy demands authentication (407, or 401 from some proxies).
    #[error(
        "the web proxy {proxy} demands authentication ({code} {reason}{}; {}){}",
        if challenge.is_empty() { String::new() } else { format!(": {challenge}") },
        if *sent_credentials { "the credentials sent were refused" } else { "no credentials were sent" },
        if *sent_credentials { "" } else { "; give them in the proxy URL: http://USER:PASSWORD@HOST:PORT" }
    )]
    ProxyAuth {
        /// The proxy (password hidden).
        proxy: String,
        /// Its status code.
        code: u16,
        /// Its reason phrase.
        reason: String,
        /// Whether the client sent credentials.
        sent_credentials: bool,
        /// The proxy's `Proxy-Authenticate` value.
        challenge: String,
    },
    /// The trust store or the client certificate cannot be used.
    #[error("the certificate stores cannot be used: {0}")]
    Stores(String),
}

impl ConnectError {
    /// The Last Error Code Windows shows for this failure (ms-iphttps.md 5.3).
    ///
    /// A non-200 or malformed response has no documented code; this simulator shows
    /// `ERROR_NOT_SUPPORTED` (0x32) for it. A web proxy that refuses the tunnel or demands
    /// authentication has no documented code either; KB2980635 lists a proxy among the
    /// causes of `WSANO_DATA` (0x2AFC), which this simulator shows for both.
    pub fn code(&self) -> LastErrorCode {
        match self {
            ConnectError::IpAddressUrl(_) => LastErrorCode::INVALID_NETNAME,
            ConnectError::Resolve { .. } => LastErrorCode::HOST_NOT_FOUND,
            ConnectError::Tcp { source, .. } => LastErrorCode::from_io(source),
            ConnectError::TcpTimeout(_) | ConnectError::Timeout(_) => LastErrorCode::TIMED_OUT,
            ConnectError::Tls(e) | ConnectError::Io(e) => LastErrorCode::from_io(e),
            ConnectError::Head(_) => LastErrorCode::NOT_SUPPORTED,
            ConnectError::Handshake(_) => LastErrorCode::ILLEGAL_MESSAGE,
            ConnectError::Closed => LastErrorCode::CONNECTION_RESET,
            ConnectError::RevocationOffline(_) => LastErrorCode::REVOCATION_OFFLINE,
            ConnectError::Stores(_) => LastErrorCode::CERT_UNTRUSTED_ROOT,
            ConnectError::ProxyRefused { .. } | ConnectError::ProxyAuth { .. } => {
                LastErrorCode::NO_DATA
            }
        }
    }
}

impl From<ReadHeadError<HeadError>> for ConnectError {
    fn from(e: ReadHeadError<HeadError>) -> Self {
        match e {
            ReadHeadError::Io(e) => ConnectError::Io(e),
            ReadHeadError::Closed => ConnectError::Closed,
            ReadHeadError::Head(h) => ConnectError::Head(h),
        }
    }
}
