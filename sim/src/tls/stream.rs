//! The TLS stream the tunnel runs on, whichever backend made it, and the server's
//! acceptor. Everything above (the head exchange, the deframer, the link) sees only
//! `AsyncRead + AsyncWrite`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::TlsError;
use crate::pki::Pki;

/// A TLS connection from either backend.
pub enum Tls<S> {
    /// rustls (ring).
    Rustls(Box<tokio_rustls::TlsStream<S>>),
    /// OpenSSL (the NULL-encryption suites).
    #[cfg(feature = "null-cipher")]
    OpenSsl(Box<tokio_openssl::SslStream<S>>),
}

impl<S> Tls<S> {
    /// The negotiated cipher suite, by its IANA name where the backend has it
    /// (`TLS13_AES_256_GCM_SHA384`, `TLS_RSA_WITH_NULL_SHA256`).
    pub fn cipher_suite(&self) -> String {
        match self {
            Tls::Rustls(s) => s
                .get_ref()
                .1
                .negotiated_cipher_suite()
                .map_or_else(String::new, |c| format!("{:?}", c.suite())),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => super::openssl::cipher_name(s.ssl()),
        }
    }

    /// The negotiated protocol version (`TLSv1_3`, `TLSv1_2`).
    pub fn protocol(&self) -> String {
        match self {
            Tls::Rustls(s) => s
                .get_ref()
                .1
                .protocol_version()
                .map_or_else(String::new, |v| format!("{v:?}")),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => s.ssl().version_str().replace('.', "_"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Tls::Rustls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Tls::Rustls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Tls::Rustls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Tls::Rustls(s) => s.is_write_vectored(),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Tls::Rustls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Tls::Rustls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "null-cipher")]
            Tls::OpenSsl(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The server's TLS: rustls, or OpenSSL offering the NULL suites first.
#[derive(Clone)]
pub enum Acceptor {
    /// rustls: TLS 1.3 and 1.2 with AES-GCM and ChaCha20 suites, no NULL suites.
    Rustls(tokio_rustls::TlsAcceptor),
    /// OpenSSL: TLS 1.2, NULL suites first when offered, AES-GCM after them.
    #[cfg(feature = "null-cipher")]
    OpenSsl(std::sync::Arc<openssl::ssl::SslAcceptor>),
}

impl Acceptor {
    /// Builds the acceptor for `pki`. `null` is `None` for rustls, `Some(offered)` for
    /// the OpenSSL backend with the NULL suites offered or (OTP, SSTP, FIPS) not. Clients'
    /// certificate dates are judged at the time `time` gives (rustls backend).
    pub fn new(
        pki: &Pki,
        require_client_cert: bool,
        null: Option<bool>,
        time: std::sync::Arc<dyn rustls::time_provider::TimeProvider>,
    ) -> Result<Self, TlsError> {
        match null {
            None => Ok(Acceptor::Rustls(tokio_rustls::TlsAcceptor::from(
                super::server_config_at(pki, require_client_cert, time)?,
            ))),
            #[cfg(feature = "null-cipher")]
            Some(offered) => Ok(Acceptor::OpenSsl(std::sync::Arc::new(
                super::openssl::acceptor(pki, require_client_cert, offered)?,
            ))),
            #[cfg(not(feature = "null-cipher"))]
            Some(_) => Err(TlsError::NoOpenSsl),
        }
    }

    /// Runs the server side of the handshake over `stream` (TCP, or whatever the
    /// server's transport gives).
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, tcp: S) -> io::Result<Tls<S>> {
        match self {
            Acceptor::Rustls(a) => Ok(Tls::Rustls(Box::new(tokio_rustls::TlsStream::Server(
                a.accept(tcp).await?,
            )))),
            #[cfg(feature = "null-cipher")]
            Acceptor::OpenSsl(a) => super::openssl::accept(a, tcp)
                .await
                .map(|s| Tls::OpenSsl(Box::new(s))),
        }
    }
}
