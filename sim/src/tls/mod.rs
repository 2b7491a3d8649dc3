//! TLS for the tunnel: rustls configurations (ring provider) for the server and the
//! client, built from PEM, the stream both backends produce ([`Tls`]), and, with the
//! `null-cipher` feature, the OpenSSL backend that negotiates the NULL-encryption suites
//! Windows 8+ clients and 2012+ servers use ([`openssl`]).

#[cfg(feature = "null-cipher")]
pub mod openssl;
pub mod revocation;
mod stream;

pub use stream::{Acceptor, Tls};

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::pki::Pki;

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// PEM text did not hold what was expected.
    #[error("bad PEM ({what}): {detail}")]
    Pem {
        /// What was being read.
        what: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// NULL suites were asked for in a build without OpenSSL.
    #[error(
        "the NULL-encryption cipher suites need the OpenSSL backend: rebuild with `cargo build --features null-cipher` (needs libssl-dev and pkg-config)"
    )]
    NoOpenSsl,
    /// OpenSSL refused the configuration.
    #[error("OpenSSL: {0}")]
    OpenSsl(String),
}

/// The ring crypto provider every configuration here uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses every certificate in `pem`.
pub fn certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = certs.map_err(|e| TlsError::Pem {
        what,
        detail: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            detail: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// Parses the private key in `pem`.
pub fn key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Pem {
        what,
        detail: e.to_string(),
    })
}

/// A root store holding every certificate in `pem` (which may hold none).
pub fn root_store(pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let parsed = parsed.map_err(|e| TlsError::Pem {
        what: "trusted roots",
        detail: e.to_string(),
    })?;
    for c in parsed {
        roots.add(c)?;
    }
    Ok(roots)
}

/// The server's configuration: it presents leaf + intermediate; with
/// `require_client_cert` (AuthMode Certificates) clients must present a certificate that
/// chains to the PKI's root.
pub fn server_config(pki: &Pki, require_client_cert: bool) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_at(
        pki,
        require_client_cert,
        Arc::new(rustls::time_provider::DefaultTimeProvider),
    )
}

/// As [`server_config`], judging clients' certificate dates at the time `time` gives (a
/// simulated server's is virtual).
pub fn server_config_at(
    pki: &Pki,
    require_client_cert: bool,
    time: Arc<dyn rustls::time_provider::TimeProvider>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_details(provider(), time)
        .with_safe_default_protocol_versions()?;
    let builder = if require_client_cert {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(root_store(&pki.root_ca)?),
            provider(),
        )
        .build()?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let cfg = builder.with_single_cert(
        certs(&pki.server_chain(), "server chain")?,
        key(&pki.server_key, "server key")?,
    )?;
    Ok(Arc::new(cfg))
}

/// The client's configuration: it trusts the roots in `trust_pem`, and presents
/// `client_cert` (chain PEM, key PEM) when given.
pub fn client_config(
    trust_pem: &str,
    client_cert: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_with_crls(
        trust_pem,
        client_cert,
        None,
        Arc::new(rustls::time_provider::DefaultTimeProvider),
    )
}

/// How a client treats the NULL-encryption suites (`TLS_RSA_WITH_NULL_SHA256`,
/// `TLS_RSA_WITH_NULL_SHA`), which need the `null-cipher` feature (OpenSSL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NullCipher {
    /// Offers none (Windows 7; the rustls backend).
    #[default]
    Off,
    /// Offers them first, then encrypting suites (Windows 8 and later).
    Prefer,
    /// Offers nothing else (reproduces a front end without NULL suites: 0x80090326).
    Only,
}

impl NullCipher {
    /// `off`, `prefer` or `only`.
    pub fn named(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Some(NullCipher::Off),
            "prefer" => Some(NullCipher::Prefer),
            "only" => Some(NullCipher::Only),
            _ => None,
        }
    }
}

/// Gives the server's leaf the RSA key the NULL suites need (OpenSSL generates it), or
/// says this build has no OpenSSL backend.
pub fn null_server_key(
    pki: &mut Pki,
    name: &str,
    now: time::OffsetDateTime,
) -> Result<(), TlsError> {
    #[cfg(feature = "null-cipher")]
    return openssl::rsa_server_key(pki, name, now);
    #[cfg(not(feature = "null-cipher"))]
    {
        let _ = (pki, name, now);
        Err(TlsError::NoOpenSsl)
    }
}

/// The system's trusted roots as PEM (rustls-native-certs: the platform's store), for a
/// client configuration's trust; with how many were found.
pub fn system_roots_pem() -> (String, usize) {
    use base64::Engine as _;
    let found = rustls_native_certs::load_native_certs();
    let mut pem = String::new();
    for cert in &found.certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    (pem, found.certs.len())
}

/// The webpki verifier a client checks the server's chain with: the roots in
/// `trust_pem`, and revocation against `crls` (PEM) when given.
pub fn server_verifier(
    trust_pem: &str,
    crls: Option<&str>,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, TlsError> {
    let roots = Arc::new(root_store(trust_pem)?);
    let mut verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider());
    if let Some(pem) = crls {
        let crls: Result<Vec<_>, _> =
            rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(pem.as_bytes())
                .collect();
        let crls = crls.map_err(|e| TlsError::Pem {
            what: "CRLs",
            detail: e.to_string(),
        })?;
        verifier = verifier.with_crls(crls);
    }
    verifier.build().map_err(|e| TlsError::Pem {
        what: "trusted roots",
        detail: e.to_string(),
    })
}

/// As [`client_config`], checking revocation against `crls` (PEM) when given: every CA
/// in the chain must have its CRL, and a certificate a CRL lists is refused. Dates are
/// judged at the time `time` gives (a simulated client's is virtual).
pub fn client_config_with_crls(
    trust_pem: &str,
    client_cert: Option<(&str, &str)>,
    crls: Option<&str>,
    time: Arc<dyn rustls::time_provider::TimeProvider>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = server_verifier(trust_pem, crls)?;
    let builder = ClientConfig::builder_with_details(provider(), time)
        .with_safe_default_protocol_versions()?
        .with_webpki_verifier(verifier);
    let cfg = match client_cert {
        Some((chain, k)) => builder
            .with_client_auth_cert(certs(chain, "client certificate")?, key(k, "client key")?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}
