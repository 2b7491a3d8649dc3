//! Client-side diagnosis: from what a client can see (Last Error Code, Interface Status,
//! whether an RA arrived, whether it has a global address, whether the intranet answers)
//! the likely causes and the fix steps, in the style of the Microsoft articles.

use std::fmt;

use crate::client_state::{ClientState, ClientStatus};
use crate::winerr::LastErrorCode;

/// A diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnosis {
    /// One line: what is wrong.
    pub summary: String,
    /// Likely causes.
    pub causes: Vec<String>,
    /// What to do.
    pub steps: Vec<String>,
    /// Whether the tunnel works end to end as far as the client can tell.
    pub healthy: bool,
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Diagnoses a client from its status and, when known, whether the intranet answered.
pub fn diagnose(s: &ClientStatus, intranet_answers: Option<bool>) -> Diagnosis {
    let code = s.last_error;
    let symbol = code.symbol().map(|n| format!(" ({n})")).unwrap_or_default();
    let d = |summary: String, causes: &[&str], steps: &[&str]| Diagnosis {
        summary,
        causes: v(causes),
        steps: v(steps),
        healthy: false,
    };
    if s.state == ClientState::LinkUp {
        if s.router_advert.is_none() {
            return d(
                "IP-HTTPS is connected but no Router Advertisement arrived: the interface has only a link-local address.".into(),
                &["Route advertisement is disabled on the server's IP-HTTPS interface."],
                &["On the server: netsh int ipv6 show int, then netsh int ipv6 set int <IPHTTPSInterface index> advertise=enabled", "Check Operations Status on the DirectAccess server."],
            );
        }
        if s.global.is_none() {
            return d(
                "IP-HTTPS is connected and the server advertises, but the RA carries no prefix: the interface has only a link-local address.".into(),
                &["The ClientIPv6Prefix route is missing on the server's IP-HTTPS interface, or its Publish property is not enabled."],
                &[
                    "On the server: $IPv6prefix = (Get-RemoteAccess).ClientIPv6Prefix",
                    "New-NetRoute -AddressFamily IPv6 -DestinationPrefix $IPv6prefix -InterfaceAlias \"Microsoft IP-HTTPS Platform Interface\" -Publish Yes",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            );
        }
        if intranet_answers == Some(false) {
            return d(
                "IP-HTTPS is up with a global address, but the intranet does not answer.".into(),
                &[
                    "Forwarding is disabled on the server's IP-HTTPS interface.",
                    "The intranet host is down or filtered.",
                ],
                &[
                    "On the server: netsh int ipv6 set int <IPHTTPSInterface index> forwarding=enabled",
                ],
            );
        }
        return Diagnosis {
            summary: "IP-HTTPS is up with a global address.".into(),
            causes: Vec::new(),
            steps: Vec::new(),
            healthy: true,
        };
    }
    let summary = format!("IP-HTTPS cannot connect: Last Error Code {code}{symbol}.");
    match code {
        LastErrorCode::CERT_UNTRUSTED_ROOT => d(
            summary,
            &[
                "The issuing certificate authority of the IP-HTTPS certificate is not in the client's Trusted Root store (e.g. an offline domain join without /rootcacerts, or a renewed self-signed certificate).",
            ],
            &[
                "Obtain the certificate of the CA that issued the IP-HTTPS certificate.",
                "Import it into the computer's Trusted Root Certification Authorities store: Import-Certificate -FilePath <root>.cer -CertStoreLocation Cert:\\LocalMachine\\Root",
                "To apply this change to all clients, use Group Policy to deploy the imported certificate.",
            ],
        ),
        LastErrorCode::CERT_EXPIRED => d(
            summary,
            &[
                "The IP-HTTPS certificate has expired or is not yet valid (or the client's clock is wrong).",
            ],
            &[
                "On the server, check the certificate's validity and renew it.",
                "Check the client's date and time.",
            ],
        ),
        LastErrorCode::CERT_NAME_MISMATCH | LastErrorCode::NO_MORE_ITEMS => d(
            summary,
            &["The name in the IP-HTTPS URL is not the certificate's Subject or SAN."],
            &[
                "Issue the IP-HTTPS certificate for the public name clients use (the ConnectTo address), or correct the URL.",
            ],
        ),
        LastErrorCode::REVOKED => d(
            summary,
            &["The IP-HTTPS certificate has been revoked by its CA."],
            &["Renew the IP-HTTPS certificate on the server."],
        ),
        LastErrorCode::REVOCATION_OFFLINE => d(
            summary,
            &[
                "The CRL distribution point of the IP-HTTPS certificate is unreachable, unpublished or its CRL expired (Windows 7 enforces the check).",
            ],
            &[
                "Make the CDP reachable from the Internet and publish a current CRL (certutil -crl on the CA).",
            ],
        ),
        LastErrorCode::HOST_NOT_FOUND | LastErrorCode::NO_DATA => d(
            summary,
            &[
                "The IP-HTTPS server's name does not resolve (public DNS record missing, proxy or WinHTTP proxy settings, NRPT).",
            ],
            &[
                "Check that the public name resolves from the Internet: Resolve-DnsName <name>",
                "Check proxy settings: netsh winhttp show proxy",
            ],
        ),
        LastErrorCode::CONNECTION_REFUSED => d(
            summary,
            &[
                "Nothing listens on the IP-HTTPS port: the IP Helper service is stopped, the server's IP-HTTPS interface is disabled, or the name resolves to the wrong address (NRPT sends the public name to internal DNS).",
            ],
            &[
                "On the server: Get-Service iphlpsvc; Start-Service iphlpsvc",
                "Check Operations Status on the DirectAccess server.",
                "Exempt the public name from the NRPT.",
            ],
        ),
        LastErrorCode::TIMED_OUT => d(
            summary,
            &[
                "The connection to TCP 443 times out: a firewall or NAT drops it, or the server is overloaded.",
            ],
            &[
                "Allow inbound TCP 443 to the DirectAccess server (New-NetFirewallRule ... -LocalPort 443 -Action Allow) and check the edge firewall/NAT.",
            ],
        ),
        LastErrorCode::INVALID_NETNAME => d(
            summary,
            &["The IP-HTTPS URL names an IP address; it can and should only be a name."],
            &[
                "Configure the URL with the server's public name: netsh interface httpstunnel set interface IPHTTPSInterface client url=https://<name>:443/IPHTTPS",
            ],
        ),
        LastErrorCode::INCOMPLETE_CREDENTIALS => d(
            summary,
            &[
                "The server (or a TLS-offloading front end) demands a client certificate the client cannot supply.",
            ],
            &[
                "Enroll a machine certificate on the client, or set the server's IP-HTTPS authentication mode to none.",
            ],
        ),
        LastErrorCode::ILLEGAL_MESSAGE => d(
            summary,
            &[
                "A fatal TLS handshake error, typically a TLS-offloading front end misconfigured (no NULL cipher suites, bad client authentication).",
            ],
            &["Check the front end's TLS configuration."],
        ),
        LastErrorCode::SUCCESS => d(
            "IP-HTTPS is not connected yet.".into(),
            &["The first connection attempt has not finished."],
            &["Wait, then check again."],
        ),
        _ => d(
            summary,
            &["An error this diagnosis does not know."],
            &["Check the server's Operations Status and the client's event log."],
        ),
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Diagnosis: {}", self.summary)?;
        if !self.causes.is_empty() {
            writeln!(f, "Likely causes:")?;
            for c in &self.causes {
                writeln!(f, "  - {c}")?;
            }
        }
        if !self.steps.is_empty() {
            writeln!(f, "Resolution:")?;
            for (i, s) in self.steps.iter().enumerate() {
                writeln!(f, "  {}. {s}", i + 1)?;
            }
        }
        Ok(())
    }
}
