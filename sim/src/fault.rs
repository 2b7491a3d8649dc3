//! The fault catalogue: every DirectAccess IP-HTTPS failure of the troubleshooting
//! documents, as a change to the server's Windows-side state ([`AdminState`]) or to the
//! clients' configuration, so that the real code paths fail. Nothing here fakes a symptom.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::client::ClientConfig;
use crate::link::router::AuthMode;
use crate::pki::{MachineOptions, Pki, PkiOptions, Validity};
use crate::windows::AdminState;

/// Where a fault acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The server (its state, certificates, listener).
    Server,
    /// The clients (trust store, name resolution, URL).
    Client,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FaultInfo {
    /// The fault's name (part of the interface).
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// How the simulator makes it happen.
    pub mechanism: &'static str,
    /// Where it acts.
    pub side: Side,
    /// Whether it is a certificate fault `iphttps pki --fault` can write.
    pub certificate: bool,
    /// What the client shows (Last Error Code, Interface Status, state).
    pub client_shows: &'static str,
    /// What the server's Operations Status shows.
    pub server_shows: &'static str,
    /// The documented fix, in words.
    pub fix: &'static str,
    /// The fix as command lines (`<URL>`, `<PKI>`, `<NAME>`, `<ADDR>` are filled in by the
    /// caller); lines starting with `client:` run on a client.
    pub fix_commands: &'static [&'static str],
}

macro_rules! faults {
    ($($variant:ident = $name:literal,)*) => {
        /// A fault, by its catalogue name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Fault {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Fault {
            /// Every fault, in catalogue order.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The fault's name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Fault::$variant => $name,)*
                }
            }
        }
    };
}

faults! {
    ExpiredCert = "expired-cert",
    NotYetValidCert = "not-yet-valid-cert",
    UntrustedRoot = "untrusted-root",
    NameMismatch = "name-mismatch",
    RevokedCert = "revoked-cert",
    CrlOffline = "crl-offline",
    RouteNotPublished = "route-not-published",
    AdvertisingDisabled = "advertising-disabled",
    ForwardingDisabled = "forwarding-disabled",
    IphlpsvcStopped = "iphlpsvc-stopped",
    IpsecCertExpired = "ipsec-cert-expired",
    IpsecCertNoPrivateKey = "ipsec-cert-no-private-key",
    IpsecCertNoClientAuth = "ipsec-cert-no-client-auth",
    IpsecCertWrongRoot = "ipsec-cert-wrong-root",
    ClientCertRequired = "client-cert-required",
    ServerRefused = "server-refused",
    ServerTimeout = "server-timeout",
    NameNotResolvable = "name-not-resolvable",
    IpAddressUrl = "ip-address-url",
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown fault name, with the known names closest to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault '{name}'{}", suggest(.close))]
pub struct UnknownFault {
    /// What was given.
    pub name: String,
    /// Close known names.
    pub close: Vec<&'static str>,
}

fn suggest(close: &[&str]) -> String {
    if close.is_empty() {
        " (`iphttps faults` lists them)".into()
    } else {
        format!("; did you mean {}?", close.join(" or "))
    }
}

/// Edit distance, for suggestions.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Known names within a small edit distance of `name`, closest first.
pub fn close_names<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<(usize, &str)> = known
        .into_iter()
        .map(|k| {
            (
                distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, k)| {
            *d <= 3.max(k.len() / 4) || k.to_ascii_lowercase().contains(&name.to_ascii_lowercase())
        })
        .collect();
    v.sort();
    v.into_iter().take(3).map(|(_, k)| k).collect()
}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == t)
            .ok_or_else(|| UnknownFault {
                name: s.to_string(),
                close: close_names(&t, Fault::ALL.iter().map(|f| f.name())),
            })
    }
}

/// The catalogue.
pub fn catalogue() -> Vec<FaultInfo> {
    Fault::ALL.iter().map(|f| f.info()).collect()
}

/// What faults act on.
pub struct Scope<'a> {
    /// The server's Windows-side state (certificates included).
    pub admin: &'a mut AdminState,
    /// The clients' configurations (and the template new clients start from).
    pub clients: &'a mut [ClientConfig],
    /// The server's listening address, for the IP-address URL.
    pub server_addr: std::net::SocketAddr,
    /// Now, for certificate dates.
    pub now: OffsetDateTime,
}

/// Why a fault could not be injected or cleared.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// Certificates could not be made.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
}

impl Fault {
    /// The catalogue entry.
    pub fn info(self) -> FaultInfo {
        use Fault::*;
        let (
            description,
            mechanism,
            side,
            certificate,
            client_shows,
            server_shows,
            fix,
            fix_commands,
        ): (
            &str,
            &str,
            Side,
            bool,
            &str,
            &str,
            &str,
            &'static [&'static str],
        ) = match self {
            ExpiredCert => (
                "The IP-HTTPS server certificate has expired.",
                "the server leaf is re-issued with notAfter in the past",
                Side::Server,
                true,
                "Last Error Code 0x800b0101 (CERT_E_EXPIRED); Failed to connect to the IPHTTPS server. Waiting to reconnect",
                "IP-HTTPS: Not working properly. Error: The IP-HTTPS certificate is not valid. Causes: The certificate has expired",
                "Renew the certificate.",
                &[
                    "certreq -enroll -machine -q -cert <NAME> renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            NotYetValidCert => (
                "The IP-HTTPS server certificate is not valid yet.",
                "the server leaf is re-issued with notBefore in the future",
                Side::Server,
                true,
                "Last Error Code 0x800b0101 (CERT_E_EXPIRED: not within its validity period)",
                "IP-HTTPS: Not working properly. Error: The IP-HTTPS certificate is not valid. Causes: The certificate is not yet valid",
                "Check the clocks, then renew the certificate with a current validity period.",
                &[
                    "certreq -enroll -machine -q -cert <NAME> renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            UntrustedRoot => (
                "The IP-HTTPS certificate chains to a root the clients do not trust.",
                "the server's chain is issued by another root (issuing-root-ca.pem) than the one in the clients' store",
                Side::Server,
                true,
                "Last Error Code 0x800b0109 (CERT_E_UNTRUSTEDROOT); Failed to connect to the IPHTTPS server. Waiting to reconnect",
                "(healthy)",
                "Obtain the certificate of the CA that issued the IP-HTTPS certificate, import it into the clients' Trusted Root Certification Authorities store, and deploy it by Group Policy (KB2980667).",
                &[
                    "client: Import-Certificate -FilePath <PKI>/issuing-root-ca.pem -CertStoreLocation Cert:\\LocalMachine\\Root",
                ],
            ),
            NameMismatch => (
                "The name in the IP-HTTPS URL is not the certificate's name.",
                "the server leaf is re-issued for another name than the URL's",
                Side::Server,
                true,
                "Last Error Code 0x800b010f (CERT_E_CN_NO_MATCH)",
                "(healthy)",
                "Issue the IP-HTTPS certificate with the Subject (and SAN) the clients use in the URL (the ConnectTo address).",
                &["certreq -enroll -machine -q -cert <NAME> renew"],
            ),
            RevokedCert => (
                "The IP-HTTPS server certificate has been revoked.",
                "the issuing CA's CRL lists the leaf's serial; clients check revocation (Windows 7 behaviour)",
                Side::Server,
                true,
                "Last Error Code 0x80092010 (CRYPT_E_REVOKED)",
                "IP-HTTPS: Not working properly. Error: The IP-HTTPS certificate is not valid. Causes: The certificate has been revoked",
                "Renew the certificate.",
                &[
                    "certreq -enroll -machine -q -cert <NAME> renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            CrlOffline => (
                "The CRL distribution point of the IP-HTTPS certificate cannot be reached.",
                "the CRL distribution point's socket is closed; clients that check revocation cannot fetch the CRLs",
                Side::Server,
                false,
                "Last Error Code 0x80092013 (CRYPT_E_REVOCATION_OFFLINE)",
                "IP-HTTPS: Working with warnings. Error: The CRL distribution point of the IP-HTTPS certificate cannot be reached.",
                "Make the CDP reachable from the Internet and publish the CRL (KB2980672).",
                &["certutil -crl", "Restart-Service RaMgmtSvc -PassThru"],
            ),
            RouteNotPublished => (
                "The ClientIPv6Prefix route is missing from the IP-HTTPS interface, so RAs carry no prefix.",
                "the route is removed from the route table; RAs carry no Prefix Information option",
                Side::Server,
                false,
                "Last Error Code 0x0, IPHTTPS interface active, but only a link-local address; the intranet is unreachable",
                "IP-HTTPS: Not working properly. Error: The IP-HTTPS route does not have published property enabled.",
                "Add the client IPv6 route to the routing table and publish it, then restart RaMgmtSvc.",
                &[
                    "$IPv6prefix = (Get-RemoteAccess).ClientIPv6Prefix",
                    "New-NetRoute -AddressFamily IPv6 -DestinationPrefix $IPv6prefix -InterfaceAlias \u{201c}Microsoft IP-HTTPS Platform Interface\u{201d} -Publish Yes",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            AdvertisingDisabled => (
                "Router advertisement is disabled on the IP-HTTPS interface.",
                "the IP-HTTPS interface's advertising flag is cleared; it sends no RAs",
                Side::Server,
                false,
                "Last Error Code 0x0, IPHTTPS interface active, no RA and no global address",
                "IP-HTTPS: Not working properly. Error: Route advertisement is disabled on the IP-HTTPS adapter.",
                "Enable route advertisement on the IP-HTTPS adapter.",
                &[
                    "netsh int ipv6 show int",
                    "netsh int ipv6 set int 17 advertise=enabled",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            ForwardingDisabled => (
                "Forwarding is disabled on the IP-HTTPS interface.",
                "the IP-HTTPS interface's forwarding flag is cleared; the router forwards nothing clients send",
                Side::Server,
                false,
                "Last Error Code 0x0 and a global address, but the intranet and the other clients do not answer",
                "IP-HTTPS: Not working properly. Error: Forwarding is disabled on the IP-HTTPS adapter.",
                "Enable forwarding on the IP-HTTPS adapter.",
                &[
                    "Netsh int ipv6 set int 17 forwarding=enabled",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            IphlpsvcStopped => (
                "The IP Helper service is stopped, so nothing listens for IP-HTTPS.",
                "the iphlpsvc service is stopped: the listener closes and every client is disconnected",
                Side::Server,
                false,
                "Last Error Code 0x274d (WSAECONNREFUSED)",
                "IP-HTTPS: Not working properly. Error: The IP Helper service (IPHlpSvc) has stopped. ...",
                "Start the IP Helper service.",
                &[
                    "Get-Service iphlpsvc",
                    "Start-Service iphlpsvc",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            IpsecCertExpired => (
                "The machine certificate IPsec uses has expired.",
                "the server's machine certificate is re-issued with notAfter in the past",
                Side::Server,
                true,
                "(the IP-HTTPS tunnel itself stays up)",
                "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... The certificate has expired.",
                "Renew the machine certificate: not expired, with a private key, Client Authentication, chained to the configured root.",
                &[
                    "certreq -enroll -machine -q -cert IPsec renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            IpsecCertNoPrivateKey => (
                "The machine certificate IPsec uses has no private key.",
                "the server's machine certificate is present without its key",
                Side::Server,
                true,
                "(the IP-HTTPS tunnel itself stays up)",
                "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... no private key.",
                "Enroll a machine certificate with its private key.",
                &[
                    "certreq -enroll -machine -q -cert IPsec renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            IpsecCertNoClientAuth => (
                "The machine certificate IPsec uses lacks the Client Authentication EKU.",
                "the server's machine certificate carries only the Server Authentication EKU",
                Side::Server,
                true,
                "(the IP-HTTPS tunnel itself stays up)",
                "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... not configured to be used for client authentication.",
                "Enroll a machine certificate from a template with Client Authentication.",
                &[
                    "certreq -enroll -machine -q -cert IPsec renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            IpsecCertWrongRoot => (
                "The machine certificate IPsec uses does not chain to the configured root.",
                "the server's machine certificate is issued by an unrelated root",
                Side::Server,
                true,
                "(the IP-HTTPS tunnel itself stays up)",
                "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... does not chain to the configured root/intermediate certificate.",
                "Enroll a machine certificate from the CA the DirectAccess configuration names.",
                &[
                    "certreq -enroll -machine -q -cert IPsec renew",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            ClientCertRequired => (
                "The server requires client certificates (AuthMode Certificates) and the clients have none.",
                "AuthMode is set to Certificates and the clients' machine certificates are removed",
                Side::Server,
                false,
                "Last Error Code 0x90320 (SEC_I_INCOMPLETE_CREDENTIALS)",
                "(healthy)",
                "Set the IP-HTTPS authentication mode back to none (the DirectAccess default), or enroll machine certificates on the clients.",
                &["netsh interface httpstunnel set interface server authmode=none"],
            ),
            ServerRefused => (
                "The IP-HTTPS server interface is disabled: connections are refused.",
                "the server interface's state is disabled; nothing listens on the port",
                Side::Server,
                false,
                "Last Error Code 0x274d (WSAECONNREFUSED)",
                "IP-HTTPS: Not working properly. Error: The IP-HTTPS interface is not enabled on the server.",
                "Enable the IP-HTTPS server interface.",
                &[
                    "netsh interface httpstunnel set interface server state=enabled",
                    "Restart-Service RaMgmtSvc -PassThru",
                ],
            ),
            ServerTimeout => (
                "A firewall drops TCP 443: connections time out.",
                "no inbound rule allows TCP 443; connections are black-holed and never answered",
                Side::Server,
                false,
                "Last Error Code 0x274c (WSAETIMEDOUT)",
                "(healthy: the console does not see the firewall)",
                "Allow inbound TCP 443 to the IP-HTTPS listener.",
                &[
                    "New-NetFirewallRule -DisplayName \"IP-HTTPS (TCP-In)\" -Direction Inbound -Protocol TCP -LocalPort 443 -Action Allow",
                ],
            ),
            NameNotResolvable => (
                "The clients cannot resolve the IP-HTTPS server's name.",
                "the clients' hosts entry for the name is removed (simulated clients ask no DNS server)",
                Side::Client,
                false,
                "Last Error Code 0x2af9 (WSAHOST_NOT_FOUND)",
                "(healthy)",
                "Make the public name resolvable from the Internet (public DNS record, proxy settings).",
                &[
                    "client: Add-Content -Path C:\\Windows\\System32\\drivers\\etc\\hosts -Value \"<ADDR> <NAME>\"",
                ],
            ),
            IpAddressUrl => (
                "The IP-HTTPS URL names an IP address instead of the server's name.",
                "the clients' URL is rewritten to https://ADDR:PORT/IPHTTPS",
                Side::Client,
                false,
                "Last Error Code 0x4be (ERROR_INVALID_NETNAME); Invalid IPHTTPS URL specified",
                "(healthy)",
                "Configure the URL with the server's name; it can and should only be a name (KB2980627).",
                &[
                    "client: netsh interface httpstunnel set interface IPHTTPSInterface client url=<URL>",
                ],
            ),
        };
        FaultInfo {
            name: self.name(),
            description,
            mechanism,
            side,
            certificate,
            client_shows,
            server_shows,
            fix,
            fix_commands,
        }
    }

    /// Puts the fault into `w`.
    pub fn inject(self, w: &mut Scope<'_>) -> Result<(), FaultError> {
        use Fault::*;
        let name = w.admin.remote_access.connect_to.clone();
        let certs = &mut w.admin.certs;
        match self {
            ExpiredCert => certs.pki.reissue_server(&name, Validity::expired(w.now))?,
            NotYetValidCert => certs.pki.reissue_server(&name, Validity::future(w.now))?,
            UntrustedRoot => {
                let mut opts = PkiOptions::new(&name, w.now);
                opts.foreign_issuer = true;
                let mut other = Pki::generate(&opts)?;
                // the clients keep trusting the root they were given
                other.root_ca = certs.pki.root_ca.clone();
                other.root_ca_key = certs.pki.root_ca_key.clone();
                certs.pki = other;
            }
            NameMismatch => {
                let other = format!(
                    "vpn.{}",
                    name.split_once('.').map_or(name.as_str(), |(_, d)| d)
                );
                certs
                    .pki
                    .reissue_server(&other, Validity::around(w.now, 365))?;
            }
            RevokedCert => {
                if let Some(serial) = crate::pki::serial_of(&certs.pki.server) {
                    certs.revoked.push(serial);
                }
            }
            CrlOffline => certs.cdp_online = false,
            RouteNotPublished => {
                let p = w.admin.remote_access.client_prefix;
                w.admin.routes.retain(|r| {
                    !(r.if_index == crate::windows::IPHTTPS_INDEX && r.destination_prefix == p)
                });
            }
            AdvertisingDisabled => w.admin.iphttps_mut().advertising = false,
            ForwardingDisabled => w.admin.iphttps_mut().forwarding = false,
            IphlpsvcStopped => set_service(w.admin, "iphlpsvc", false),
            IpsecCertExpired => certs
                .pki
                .reissue_machine(&machine(w.now, |m| m.validity = Validity::expired(w.now)))?,
            IpsecCertNoPrivateKey => certs
                .pki
                .reissue_machine(&machine(w.now, |m| m.private_key = false))?,
            IpsecCertNoClientAuth => certs
                .pki
                .reissue_machine(&machine(w.now, |m| m.client_auth = false))?,
            IpsecCertWrongRoot => certs
                .pki
                .reissue_machine(&machine(w.now, |m| m.chains_to_root = false))?,
            ClientCertRequired => {
                w.admin.remote_access.auth_mode = AuthMode::Certificates;
                for c in w.clients.iter_mut() {
                    c.client_cert = None;
                }
            }
            ServerRefused => w.admin.remote_access.iphttps_enabled = false,
            ServerTimeout => w.admin.firewall_allows_443 = false,
            NameNotResolvable => {
                for c in w.clients.iter_mut() {
                    let host = c.url.host.clone();
                    c.resolve.retain(|(n, _)| !n.eq_ignore_ascii_case(&host));
                }
            }
            IpAddressUrl => {
                for c in w.clients.iter_mut() {
                    c.url.host = match w.server_addr.ip() {
                        std::net::IpAddr::V6(a) => format!("[{a}]"),
                        a => a.to_string(),
                    };
                }
            }
        }
        Ok(())
    }

    /// Takes the fault out of `w` directly (the documented fix, without the commands).
    pub fn clear(self, w: &mut Scope<'_>) -> Result<(), FaultError> {
        use Fault::*;
        let name = w.admin.remote_access.connect_to.clone();
        let certs = &mut w.admin.certs;
        match self {
            ExpiredCert | NotYetValidCert | NameMismatch | RevokedCert => {
                certs
                    .pki
                    .reissue_server(&name, Validity::around(w.now, 365))?;
            }
            UntrustedRoot => {
                if let Some((root, _)) = &certs.pki.issuing_root_ca {
                    for c in w.clients.iter_mut() {
                        if !c.trust_pem.contains(root.trim()) {
                            c.trust_pem.push_str(root);
                        }
                    }
                }
            }
            CrlOffline => certs.cdp_online = true,
            RouteNotPublished => {
                let p = w.admin.remote_access.client_prefix;
                if w.admin.client_route().is_none() {
                    w.admin.routes.push(crate::windows::NetRoute {
                        destination_prefix: p,
                        if_index: crate::windows::IPHTTPS_INDEX,
                        next_hop: std::net::Ipv6Addr::UNSPECIFIED,
                        route_metric: 256,
                        publish: crate::link::router::Publish::Yes,
                        valid_lifetime: u32::MAX,
                        preferred_lifetime: u32::MAX,
                    });
                }
            }
            AdvertisingDisabled => w.admin.iphttps_mut().advertising = true,
            ForwardingDisabled => w.admin.iphttps_mut().forwarding = true,
            IphlpsvcStopped => set_service(w.admin, "iphlpsvc", true),
            IpsecCertExpired
            | IpsecCertNoPrivateKey
            | IpsecCertNoClientAuth
            | IpsecCertWrongRoot => {
                certs.pki.reissue_machine(&machine(w.now, |_| {}))?;
            }
            ClientCertRequired => w.admin.remote_access.auth_mode = AuthMode::None,
            ServerRefused => w.admin.remote_access.iphttps_enabled = true,
            ServerTimeout => w.admin.firewall_allows_443 = true,
            NameNotResolvable => {
                let ip = w.server_addr.ip();
                for c in w.clients.iter_mut() {
                    let host = c.url.host.clone();
                    if !c.resolve.iter().any(|(n, _)| n.eq_ignore_ascii_case(&host)) {
                        c.resolve.push((host, ip));
                    }
                }
            }
            IpAddressUrl => {
                for c in w.clients.iter_mut() {
                    c.url.host = name.clone();
                }
            }
        }
        Ok(())
    }
}

fn machine(now: OffsetDateTime, tweak: impl FnOnce(&mut MachineOptions)) -> MachineOptions {
    let mut m = PkiOptions::new("x", now).machine;
    tweak(&mut m);
    m
}

fn set_service(admin: &mut AdminState, name: &str, running: bool) {
    if let Some(s) = admin.service_mut(name) {
        s.running = running;
    }
}

/// The PKI options that produce a certificate fault's set (`iphttps pki --fault`), or
/// `None` for a fault that is not a certificate fault.
pub fn pki_options(fault: Fault, name: &str, now: OffsetDateTime) -> Option<PkiOptions> {
    use Fault::*;
    let mut o = PkiOptions::new(name, now);
    match fault {
        ExpiredCert => o.server = Validity::expired(now),
        NotYetValidCert => o.server = Validity::future(now),
        UntrustedRoot => o.foreign_issuer = true,
        NameMismatch => {
            o.server_cert_name = Some(format!(
                "vpn.{}",
                name.split_once('.').map_or(name, |(_, d)| d)
            ))
        }
        IpsecCertExpired => o.machine.validity = Validity::expired(now),
        IpsecCertNoPrivateKey => o.machine.private_key = false,
        IpsecCertNoClientAuth => o.machine.client_auth = false,
        IpsecCertWrongRoot => o.machine.chains_to_root = false,
        _ => return None,
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_misspellings_get_suggestions() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>().unwrap(), *f);
            assert_eq!(f.info().name, f.name());
        }
        let e = "expired-certt".parse::<Fault>().unwrap_err();
        assert_eq!(e.close.first(), Some(&"expired-cert"));
        assert!(e.to_string().contains("did you mean expired-cert"));
    }
}
