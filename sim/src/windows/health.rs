//! Operations Status: the health of the server's components as the Remote Access
//! Management console and `Get-RemoteAccessHealth` show them, evaluated from the
//! [`AdminState`], the certificates themselves included (checked with rustls' own
//! verifiers at the evaluation time).
//!
//! All the console texts live in [`PROBLEMS`], the one table of them.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateRevocationListDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, Error};
use time::OffsetDateTime;

use super::AdminState;
use crate::tls;

/// A component's state (`HealthState` of `Get-RemoteAccessHealth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum HealthState {
    /// Healthy.
    #[serde(rename = "OK")]
    Ok,
    /// Working with a problem.
    Warning,
    /// Not working properly.
    Error,
}

impl HealthState {
    /// As `Get-RemoteAccessHealth` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Ok => "OK",
            HealthState::Warning => "Warning",
            HealthState::Error => "Error",
        }
    }
}

/// One problem the console knows: where it shows and its Error / Causes / Resolution text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    /// A stable key.
    pub key: &'static str,
    /// The component row (`IP-HTTPS`, `IPsec`).
    pub component: &'static str,
    /// Error or Warning.
    pub state: HealthState,
    /// The Error text.
    pub error: &'static str,
    /// The Causes text.
    pub causes: &'static str,
    /// The Resolution text.
    pub resolution: &'static str,
}

const IPSEC_ERROR: &str = "There is no valid certificate to be used by Ipsec which chains to the root/intermediate certificate configured to be used by Ipsec in the DirectAccess configuration.";
const IPSEC_RESOLUTION: &str = "Please ensure that a valid certificate is present in the machine store and DA server is configured to use the corresponding root certificate.\nThe valid certificate must satisfy the following:\nShould not be expired.\nShould have a private key.\nShould be configured to be used for client authentication.\nShould chain to the configured root/intermediate cert.";

/// Every console message the simulator shows. Texts from the seeds and
/// ms-iphttps.md section 6 are verbatim; the rest (marked "chosen") follow their style.
pub const PROBLEMS: &[Problem] = &[
    Problem {
        key: "iphlpsvc-stopped",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "The IP Helper service (IPHlpSvc) has stopped. DirectAccess might not function as expected. The IP Helper service provides tunnel connectivity by using the connectivity platform, IPv6 transition technologies, and IP-HTTPS.",
        causes: "The IP Helper service has stopped or is not responding.",
        resolution: "Start the IP Helper service: Get-Service iphlpsvc, then Start-Service iphlpsvc or Restart-Service iphlpsvc.",
    },
    Problem {
        // chosen
        key: "iphttps-disabled",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "The IP-HTTPS interface is not enabled on the server.",
        causes: "The IP-HTTPS server interface has been disabled. This is required for DirectAccess to work as expected.",
        resolution: "Enable the IP-HTTPS server interface: netsh interface httpstunnel set interface server state=enabled",
    },
    Problem {
        key: "cert-expired",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "The IP-HTTPS certificate is not valid.",
        causes: "The certificate has expired",
        resolution: "Ensure that the certificate has not expired\nRenew the certificate.",
    },
    Problem {
        // chosen
        key: "cert-not-yet-valid",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "The IP-HTTPS certificate is not valid.",
        causes: "The certificate is not yet valid",
        resolution: "Ensure that the certificate is within its validity period\nRenew the certificate.",
    },
    Problem {
        // chosen
        key: "cert-revoked",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "The IP-HTTPS certificate is not valid.",
        causes: "The certificate has been revoked",
        resolution: "Renew the certificate.",
    },
    Problem {
        // chosen
        key: "crl-offline",
        component: "IP-HTTPS",
        state: HealthState::Warning,
        error: "The CRL distribution point of the IP-HTTPS certificate cannot be reached.",
        causes: "The certificate revocation list is not published or its distribution point is offline. Windows 7 clients cannot connect.",
        resolution: "Publish the certificate revocation list: certutil -crl",
    },
    Problem {
        key: "route-not-published",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "The IP-HTTPS route does not have published property enabled.",
        causes: "The Publish property of the IP-HTTPS route has not been enabled. This is required for DirectAccess to work as expected.",
        resolution: "Set the property on the route.",
    },
    Problem {
        key: "advertising-disabled",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "Route advertisement is disabled on the IP-HTTPS adapter.",
        causes: "Route advertisement is disabled on the IP-HTTPS. This is required for DirectAccess to work as expected.",
        resolution: "Enable route advertisement on the ip-https adapter IPHTTPSInterface.",
    },
    Problem {
        // chosen, in the same style
        key: "forwarding-disabled",
        component: "IP-HTTPS",
        state: HealthState::Error,
        error: "Forwarding is disabled on the IP-HTTPS adapter.",
        causes: "Forwarding is disabled on the IP-HTTPS. This is required for DirectAccess to work as expected.",
        resolution: "Enable forwarding on the ip-https adapter IPHTTPSInterface.",
    },
    Problem {
        key: "ipsec-cert-expired",
        component: "IPsec",
        state: HealthState::Error,
        error: IPSEC_ERROR,
        causes: "The certificate has not been installed or is not valid. The certificate has expired.",
        resolution: IPSEC_RESOLUTION,
    },
    Problem {
        key: "ipsec-cert-no-private-key",
        component: "IPsec",
        state: HealthState::Error,
        error: IPSEC_ERROR,
        causes: "The certificate has not been installed or is not valid. The certificate has no private key.",
        resolution: IPSEC_RESOLUTION,
    },
    Problem {
        key: "ipsec-cert-no-client-auth",
        component: "IPsec",
        state: HealthState::Error,
        error: IPSEC_ERROR,
        causes: "The certificate has not been installed or is not valid. The certificate is not configured to be used for client authentication.",
        resolution: IPSEC_RESOLUTION,
    },
    Problem {
        key: "ipsec-cert-wrong-root",
        component: "IPsec",
        state: HealthState::Error,
        error: IPSEC_ERROR,
        causes: "The certificate has not been installed or is not valid. The certificate does not chain to the configured root/intermediate certificate.",
        resolution: IPSEC_RESOLUTION,
    },
];

/// The problem with this key.
pub fn problem(key: &str) -> &'static Problem {
    PROBLEMS
        .iter()
        .find(|p| p.key == key)
        .expect("known problem key")
}

/// One row of Operations Status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentHealth {
    /// Component name.
    #[serde(rename = "Component")]
    pub component: String,
    /// Its state.
    #[serde(rename = "HealthState")]
    pub state: HealthState,
    /// Error text.
    #[serde(rename = "ErrorDesc")]
    pub error: Option<String>,
    /// Causes text.
    #[serde(rename = "ErrorCause")]
    pub causes: Option<String>,
    /// Resolution text.
    #[serde(rename = "ErrorResoln")]
    pub resolution: Option<String>,
}

/// The Operations Status of the server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperationsStatus {
    /// Roll-up: any Error makes the server Error, else any Warning makes it Warning.
    #[serde(rename = "Server")]
    pub server: HealthState,
    /// The components.
    #[serde(rename = "Components")]
    pub components: Vec<ComponentHealth>,
    /// When it was evaluated (RFC 3339).
    #[serde(rename = "TimeStamp")]
    pub evaluated_at: String,
    /// The IP-HTTPS interface's TLS encryption.
    #[serde(rename = "IPHttpsEncryption")]
    pub encryption: Encryption,
}

/// Whether the IP-HTTPS interface offers NULL encryption and what its clients negotiated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Encryption {
    /// Whether the NULL suites are offered, and why not.
    #[serde(rename = "NullEncryption")]
    pub null: String,
    /// Connected clients by negotiated cipher suite.
    #[serde(rename = "ClientsBySuite")]
    pub clients_by_suite: std::collections::BTreeMap<String, usize>,
}

impl OperationsStatus {
    /// The row of a component.
    pub fn component(&self, name: &str) -> Option<&ComponentHealth> {
        self.components
            .iter()
            .find(|c| c.component.eq_ignore_ascii_case(name))
    }
}

/// The components that are always listed.
pub const COMPONENTS: &[&str] = &["IP-HTTPS", "IPsec", "Services", "Network Adapters"];

/// Evaluates Operations Status at `now`.
pub fn evaluate(state: &AdminState, now: OffsetDateTime) -> OperationsStatus {
    let mut found: Vec<&'static Problem> = Vec::new();
    let iphlpsvc_running = state.service("iphlpsvc").is_some_and(|s| s.running);
    if !iphlpsvc_running {
        found.push(problem("iphlpsvc-stopped"));
    }
    if !state.remote_access.iphttps_enabled {
        found.push(problem("iphttps-disabled"));
    }
    if let Some(key) = iphttps_certificate(state, now) {
        found.push(problem(key));
    }
    if !state.certs.cdp_online {
        found.push(problem("crl-offline"));
    }
    if state
        .client_route()
        .is_none_or(|r| r.publish == crate::link::router::Publish::No)
    {
        found.push(problem("route-not-published"));
    }
    if !state.iphttps().advertising {
        found.push(problem("advertising-disabled"));
    }
    if !state.iphttps().forwarding {
        found.push(problem("forwarding-disabled"));
    }
    if let Some(key) = ipsec_certificate(state, now) {
        found.push(problem(key));
    }
    let components: Vec<ComponentHealth> = COMPONENTS
        .iter()
        .map(|&name| {
            // the first (most severe, in table order) problem of a component is shown
            let worst = found
                .iter()
                .filter(|p| p.component == name)
                .max_by_key(|p| {
                    (
                        p.state,
                        std::cmp::Reverse(PROBLEMS.iter().position(|q| q.key == p.key)),
                    )
                });
            match worst {
                Some(p) => ComponentHealth {
                    component: name.into(),
                    state: p.state,
                    error: Some(p.error.into()),
                    causes: Some(p.causes.into()),
                    resolution: Some(p.resolution.into()),
                },
                None => ComponentHealth {
                    component: name.into(),
                    state: HealthState::Ok,
                    error: None,
                    causes: None,
                    resolution: None,
                },
            }
        })
        .collect();
    let server = components
        .iter()
        .map(|c| c.state)
        .max()
        .unwrap_or(HealthState::Ok);
    OperationsStatus {
        server,
        components,
        evaluated_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        encryption: Encryption {
            null: match state.null_suites() {
                super::NullSuites::Offered => {
                    "offered (TLS_RSA_WITH_NULL_SHA256, TLS_RSA_WITH_NULL_SHA)".into()
                }
                super::NullSuites::Disabled(why) => format!("not offered: {why}"),
                super::NullSuites::Unsupported => "not supported by this server".into(),
            },
            clients_by_suite: std::collections::BTreeMap::new(),
        },
    }
}

fn unix(now: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        now.unix_timestamp().max(0) as u64
    ))
}

/// Checks the IP-HTTPS certificate as a client would (chain to its issuing root, dates,
/// serverAuth, revocation when a CRL is published); the name is the operator's business
/// and not checked here.
fn iphttps_certificate(state: &AdminState, now: OffsetDateTime) -> Option<&'static str> {
    let pki = &state.certs.pki;
    let chain = tls::certs(&pki.server_chain(), "server chain").ok()?;
    let roots = Arc::new(tls::root_store(pki.chain_root()).ok()?);
    let mut builder = WebPkiServerVerifier::builder_with_provider(roots, tls::provider());
    if !state.certs.revoked.is_empty() {
        let crls = pki.crls(&state.certs.revoked, now).ok()?;
        let crls: Vec<CertificateRevocationListDer<'static>> = crls
            .iter()
            .filter_map(|c| CertificateRevocationListDer::from_pem_slice(c.as_bytes()).ok())
            .collect();
        builder = builder.with_crls(crls);
    }
    let verifier = builder.build().ok()?;
    let name = ServerName::try_from("iphttps-health-check.invalid").ok()?;
    match verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], unix(now)) {
        Err(Error::InvalidCertificate(e)) => match e {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                Some("cert-expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Some("cert-not-yet-valid")
            }
            CertificateError::Revoked => Some("cert-revoked"),
            _ => None,
        },
        _ => None,
    }
}

/// Checks the machine certificate IPsec uses: private key present, chains to the
/// configured root, valid now, Client Authentication EKU.
fn ipsec_certificate(state: &AdminState, now: OffsetDateTime) -> Option<&'static str> {
    let pki = &state.certs.pki;
    if pki.machine_key.is_none() {
        return Some("ipsec-cert-no-private-key");
    }
    let machine = tls::certs(&pki.machine, "machine certificate").ok()?;
    let intermediates = tls::certs(&pki.intermediate_ca, "intermediate").ok()?;
    let roots = Arc::new(tls::root_store(pki.chain_root()).ok()?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, tls::provider())
        .build()
        .ok()?;
    match verifier.verify_client_cert(&machine[0], &intermediates, unix(now)) {
        Ok(_) => None,
        Err(Error::InvalidCertificate(e)) => Some(match e {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "ipsec-cert-expired"
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "ipsec-cert-no-client-auth"
            }
            _ => "ipsec-cert-wrong-root",
        }),
        Err(_) => Some("ipsec-cert-wrong-root"),
    }
}
