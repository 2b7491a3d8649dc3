//! The OpenSSL backend (feature `null-cipher`): what rustls cannot do, the
//! NULL-encryption suites `TLS_RSA_WITH_NULL_SHA256` and `TLS_RSA_WITH_NULL_SHA` that
//! Windows 8+ clients and 2012+ servers negotiate for IP-HTTPS because the traffic inside
//! is already IPsec-protected (ms-iphttps.md section 4).
//!
//! The server offers them first at security level 0 with TLS 1.2 (TLS 1.3 has no NULL
//! suites) and the AES-GCM suites after them for clients that offer none (Windows 7). The
//! suites use RSA key exchange, so the server's leaf gets an RSA key: OpenSSL generates it
//! ([`rsa_server_key`]) and rcgen signs the certificate with the intermediate CA as for
//! every other leaf. Clients check the server's chain with the same webpki verifier as
//! the rustls backend, after the handshake, so both backends judge certificates alike.

use std::io;
use std::pin::Pin;
use std::sync::Arc;

use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::ssl::{
    Ssl, SslAcceptor, SslConnector, SslMethod, SslOptions, SslRef, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use super::{NullCipher, TlsError};
use crate::pki::{Pki, Validity};

/// The NULL-encryption suites, in Windows' order of preference (OpenSSL names).
pub const NULL_SUITES: &str = "NULL-SHA256:NULL-SHA";
/// The encrypting suites offered after them (and alone when NULL is off).
pub const ENCRYPTING_SUITES: &str = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256";

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError::OpenSsl(e.to_string())
}

/// The IANA name of the negotiated suite (`TLS_RSA_WITH_NULL_SHA256`).
pub fn cipher_name(ssl: &SslRef) -> String {
    ssl.current_cipher()
        .map(|c| c.standard_name().unwrap_or(c.name()).to_string())
        .unwrap_or_default()
}

/// Whether `key_pem` is an RSA key.
pub fn is_rsa(key_pem: &str) -> bool {
    PKey::private_key_from_pem(key_pem.as_bytes()).is_ok_and(|k| k.rsa().is_ok())
}

/// Gives the server's leaf an RSA 2048 key (the NULL suites use RSA key exchange),
/// re-issued for `name` by the intermediate CA; a leaf that already has one is kept.
pub fn rsa_server_key(
    pki: &mut Pki,
    name: &str,
    now: time::OffsetDateTime,
) -> Result<(), TlsError> {
    if is_rsa(&pki.server_key) {
        return Ok(());
    }
    let key = PKey::from_rsa(Rsa::generate(2048).map_err(err)?).map_err(err)?;
    let pem = String::from_utf8(key.private_key_to_pem_pkcs8().map_err(err)?).map_err(err)?;
    pki.server_key = pem;
    pki.reissue_server(name, Validity::around(now, 365))
        .map_err(err)
}

fn x509s(pem: &str) -> Result<Vec<X509>, TlsError> {
    X509::stack_from_pem(pem.as_bytes()).map_err(err)
}

/// The server's acceptor: TLS 1.2 only, security level 0, server preference; the NULL
/// suites first when `offer_null`, the AES-GCM suites after them.
pub fn acceptor(
    pki: &Pki,
    require_client_cert: bool,
    offer_null: bool,
) -> Result<SslAcceptor, TlsError> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(err)?;
    b.set_security_level(0);
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(err)?;
    b.set_max_proto_version(Some(SslVersion::TLS1_2))
        .map_err(err)?;
    let suites = if offer_null {
        format!("{NULL_SUITES}:{ENCRYPTING_SUITES}")
    } else {
        ENCRYPTING_SUITES.to_string()
    };
    b.set_cipher_list(&suites).map_err(err)?;
    b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
    let key = PKey::private_key_from_pem(pki.server_key.as_bytes()).map_err(err)?;
    b.set_private_key(&key).map_err(err)?;
    let chain = x509s(&pki.server_chain())?;
    let mut chain = chain.into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| TlsError::OpenSsl("empty server chain".into()))?;
    b.set_certificate(&leaf).map_err(err)?;
    for c in chain {
        b.add_extra_chain_cert(c).map_err(err)?;
    }
    b.check_private_key().map_err(err)?;
    if require_client_cert {
        let mut store = X509StoreBuilder::new().map_err(err)?;
        for c in x509s(&pki.root_ca)? {
            store.add_cert(c).map_err(err)?;
        }
        b.set_verify_cert_store(store.build()).map_err(err)?;
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(b.build())
}

/// Runs the server side of the handshake.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &SslAcceptor,
    tcp: S,
) -> io::Result<SslStream<S>> {
    let ssl = Ssl::new(acceptor.context()).map_err(io::Error::other)?;
    let mut s = SslStream::new(ssl, tcp).map_err(io::Error::other)?;
    Pin::new(&mut s).accept().await.map_err(io::Error::other)?;
    Ok(s)
}

/// An OpenSSL handshake that did not finish (no shared suite, an alert, the socket), in
/// OpenSSL's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandshakeFailed(pub String);

/// A client's OpenSSL configuration.
#[derive(Clone)]
pub struct Connector {
    ctx: SslConnector,
    verifier: Arc<rustls::client::WebPkiServerVerifier>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("openssl::Connector")
    }
}

/// Why the OpenSSL client's connection failed.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The handshake failed (no shared suite, an alert, the socket).
    Handshake(String),
    /// The handshake finished but the chain is not trusted (the webpki verdict).
    Untrusted(rustls::Error),
}

impl Connector {
    /// NULL suites per `mode` (`Off` offers only encrypting suites, over OpenSSL), TLS 1.2,
    /// the chain checked by `verifier`, with `client_cert` (chain PEM, key PEM) if given.
    pub fn new(
        mode: NullCipher,
        verifier: Arc<rustls::client::WebPkiServerVerifier>,
        client_cert: Option<(&str, &str)>,
    ) -> Result<Self, TlsError> {
        let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(err)?;
        b.set_security_level(0);
        b.set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(err)?;
        let suites = match mode {
            NullCipher::Only => NULL_SUITES.to_string(),
            NullCipher::Prefer => format!("{NULL_SUITES}:{ENCRYPTING_SUITES}"),
            NullCipher::Off => ENCRYPTING_SUITES.to_string(),
        };
        b.set_cipher_list(&suites).map_err(err)?;
        // the chain is judged by webpki after the handshake, as the rustls backend does
        b.set_verify(SslVerifyMode::NONE);
        if let Some((chain, key)) = client_cert {
            let mut certs = x509s(chain)?.into_iter();
            let leaf = certs
                .next()
                .ok_or_else(|| TlsError::OpenSsl("empty client chain".into()))?;
            b.set_certificate(&leaf).map_err(err)?;
            for c in certs {
                b.add_extra_chain_cert(c).map_err(err)?;
            }
            let key = PKey::private_key_from_pem(key.as_bytes()).map_err(err)?;
            b.set_private_key(&key).map_err(err)?;
        }
        Ok(Self {
            ctx: b.build(),
            verifier,
        })
    }

    /// Connects as `host` over `tcp`: handshake, then the chain check.
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        host: &str,
        tcp: S,
    ) -> Result<SslStream<S>, ConnectFailure> {
        let (s, chain) = self
            .connect_unverified(host, tcp)
            .await
            .map_err(|e| ConnectFailure::Handshake(e.0))?;
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(ConnectFailure::Handshake(
                "the server sent no certificate".into(),
            ));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| ConnectFailure::Handshake(e.to_string()))?;
        self.verifier
            .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
            .map_err(ConnectFailure::Untrusted)?;
        Ok(s)
    }

    /// The handshake alone: the stream and the chain the server sent (leaf first), not
    /// yet judged (the probe looks behind an untrusted certificate).
    pub async fn connect_unverified<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        host: &str,
        tcp: S,
    ) -> Result<(SslStream<S>, Vec<CertificateDer<'static>>), HandshakeFailed> {
        let hs = |e: &dyn std::fmt::Display| HandshakeFailed(e.to_string());
        let mut cfg = self.ctx.configure().map_err(|e| hs(&e))?;
        cfg.set_verify_hostname(false);
        let ssl = cfg.into_ssl(host).map_err(|e| hs(&e))?;
        let mut s = SslStream::new(ssl, tcp).map_err(|e| hs(&e))?;
        Pin::new(&mut s).connect().await.map_err(|e| hs(&e))?;
        let chain: Vec<CertificateDer<'static>> = s
            .ssl()
            .peer_cert_chain()
            .map(|st| {
                st.iter()
                    .filter_map(|c| c.to_der().ok())
                    .map(CertificateDer::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok((s, chain))
    }
}
