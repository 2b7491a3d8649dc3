//! The server's certificate chain as the probe reports it: each certificate's subject,
//! issuer, validity, EKU, SAN and CRL distribution points (x509-parser), and a verifier
//! that records the chain and the trust verdict but lets the handshake go on, so the
//! probe can still examine the HTTP exchange and router discovery behind an untrusted
//! certificate.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// One certificate of the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number (hex, colon-separated).
    pub serial: String,
    /// Not valid before (RFC 3339).
    pub not_before: String,
    /// Not valid after (RFC 3339).
    pub not_after: String,
    /// Whether it is valid at the time of the probe.
    pub valid_now: bool,
    /// Extended key usages (`serverAuth`, `clientAuth`, other OIDs).
    pub eku: Vec<String>,
    /// Subject alternative names (`DNS:...`, `IP:...`, `URI:...`).
    pub san: Vec<String>,
    /// CRL distribution point URLs.
    pub crl_distribution_points: Vec<String>,
    /// Whether it is a CA certificate.
    pub ca: bool,
}

fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

fn general_name(n: &GeneralName<'_>) -> String {
    match n {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => format!(
                "IP:{}",
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
            ),
            16 => format!(
                "IP:{}",
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
            ),
            _ => "IP:?".into(),
        },
        other => format!("{other:?}"),
    }
}

/// Describes one DER certificate (a certificate x509-parser cannot read is named so).
pub fn describe(der: &[u8], now: i64) -> CertInfo {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return CertInfo {
            subject: "(unparsable certificate)".into(),
            issuer: String::new(),
            serial: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            valid_now: false,
            eku: Vec::new(),
            san: Vec::new(),
            crl_distribution_points: Vec::new(),
            ca: false,
        };
    };
    let v = c.validity();
    let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
    let mut eku = Vec::new();
    if let Ok(Some(e)) = c.extended_key_usage() {
        let e = e.value;
        for (on, name) in [
            (e.any, "any"),
            (e.server_auth, "serverAuth"),
            (e.client_auth, "clientAuth"),
            (e.code_signing, "codeSigning"),
            (e.email_protection, "emailProtection"),
            (e.time_stamping, "timeStamping"),
            (e.ocsp_signing, "OCSPSigning"),
        ] {
            if on {
                eku.push(name.to_string());
            }
        }
        eku.extend(e.other.iter().map(|o| o.to_id_string()));
    }
    let san = match c.subject_alternative_name() {
        Ok(Some(s)) => s.value.general_names.iter().map(general_name).collect(),
        _ => Vec::new(),
    };
    let mut cdp = Vec::new();
    for ext in c.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for p in points.iter() {
                if let Some(x509_parser::extensions::DistributionPointName::FullName(names)) =
                    &p.distribution_point
                {
                    for n in names {
                        if let GeneralName::URI(u) = n {
                            cdp.push(u.to_string());
                        }
                    }
                }
            }
        }
    }
    CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: c.raw_serial_as_string(),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        valid_now: nb <= now && now <= na,
        eku,
        san,
        crl_distribution_points: cdp,
        ca: c.is_ca(),
    }
}

/// What the recording verifier saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The chain the server sent, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The trust verdict against the configured roots.
    pub verdict: Option<Result<(), rustls::Error>>,
}

/// Verifies the chain with webpki against the configured roots and records the result,
/// but accepts the certificate either way; handshake signatures are still checked.
#[derive(Debug)]
pub struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Seen>,
}

impl Recorder {
    /// Wraps a webpki verifier.
    pub fn new(inner: Arc<WebPkiServerVerifier>) -> Self {
        Self {
            inner,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// What was seen.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        seen.verdict = Some(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
