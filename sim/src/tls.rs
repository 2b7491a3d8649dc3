//! rustls configurations (ring provider) for the server and the client, built from PEM.

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

fn key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
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
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
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
    client_config_with_crls(trust_pem, client_cert, None)
}

/// As [`client_config`], checking revocation against `crls` (PEM) when given: every CA
/// in the chain must have its CRL, and a certificate a CRL lists is refused.
pub fn client_config_with_crls(
    trust_pem: &str,
    client_cert: Option<(&str, &str)>,
    crls: Option<&str>,
) -> Result<Arc<ClientConfig>, TlsError> {
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
    let verifier = verifier.build().map_err(|e| TlsError::Pem {
        what: "trusted roots",
        detail: e.to_string(),
    })?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_webpki_verifier(verifier);
    let cfg = match client_cert {
        Some((chain, k)) => builder
            .with_client_auth_cert(certs(chain, "client certificate")?, key(k, "client key")?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}
