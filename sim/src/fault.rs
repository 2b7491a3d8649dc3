//! The fault catalogue: every DirectAccess IP-HTTPS failure of the troubleshooting
//! documents, as a change to the server's Windows-side state ([`AdminState`]) or to the
//! clients' configuration, so that the real code paths fail. Nothing here fakes a symptom.
//!
//! The catalogue is one table: each fault is one [`Entry`] (what it is, what each side
//! shows, the documented fix, the certificate set `iphttps pki --fault` writes, and the
//! change it makes and takes back). Adding a fault is adding an entry.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::client::ClientConfig;
use crate::link::router::AuthMode;
use crate::pki::{Pki, PkiOptions, Validity};
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

/// A certificate fault's set, as `iphttps pki --fault` writes it.
#[derive(Debug)]
pub struct CertificateSet {
    /// Turns a healthy set's options into the faulty set's (given the server's name and now).
    pub options: fn(&mut PkiOptions, &str, OffsetDateTime),
    /// Whether the set comes with a CRL that revokes the server leaf.
    pub revoke_server: bool,
}

/// One entry of the catalogue table.
pub struct Entry {
    /// One line.
    pub description: &'static str,
    /// How the simulator makes it happen.
    pub mechanism: &'static str,
    /// Where it acts.
    pub side: Side,
    /// What the client shows (Last Error Code, Interface Status, state).
    pub client_shows: &'static str,
    /// What the server's Operations Status shows.
    pub server_shows: &'static str,
    /// The documented fix, in words.
    pub fix: &'static str,
    /// The fix as command lines (see [`FaultInfo::fix_commands`]).
    pub fix_commands: &'static [&'static str],
    /// For a certificate fault, the set `iphttps pki --fault` writes.
    pub certificate: Option<CertificateSet>,
    /// The change the fault makes.
    pub inject: fn(&mut Scope<'_>) -> Result<(), FaultError>,
    /// The change that takes it back (the documented fix, without the commands).
    pub clear: fn(&mut Scope<'_>) -> Result<(), FaultError>,
}

/// The catalogue: `Variant = "name" => Entry { ... }`, in catalogue order.
macro_rules! catalogue {
    ($($variant:ident = $name:literal => $entry:expr,)*) => {
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

        /// The entries, in the order of [`Fault`]'s variants.
        static CATALOGUE: &[Entry] = &[$($entry,)*];
    };
}

// rustfmt does not format inside this invocation: keep the entries as rustfmt would
// format a plain array of struct literals.
#[rustfmt::skip]
catalogue! {
    ExpiredCert = "expired-cert" => Entry {
        description: "The IP-HTTPS server certificate has expired.",
        mechanism: "the server leaf is re-issued with notAfter in the past",
        side: Side::Server,
        client_shows: "Last Error Code 0x800b0101 (CERT_E_EXPIRED); Failed to connect to the IPHTTPS server. Waiting to reconnect",
        server_shows: "IP-HTTPS: Not working properly. Error: The IP-HTTPS certificate is not valid. Causes: The certificate has expired",
        fix: "Renew the certificate.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert <NAME> renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, now| o.server = Validity::expired(now),
            revoke_server: false,
        }),
        inject: |w| reissue_server_as(w, Fault::ExpiredCert),
        clear: renew_server,
    },
    NotYetValidCert = "not-yet-valid-cert" => Entry {
        description: "The IP-HTTPS server certificate is not valid yet.",
        mechanism: "the server leaf is re-issued with notBefore in the future",
        side: Side::Server,
        client_shows: "Last Error Code 0x800b0101 (CERT_E_EXPIRED: not within its validity period)",
        server_shows: "IP-HTTPS: Not working properly. Error: The IP-HTTPS certificate is not valid. Causes: The certificate is not yet valid",
        fix: "Check the clocks, then renew the certificate with a current validity period.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert <NAME> renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, now| o.server = Validity::future(now),
            revoke_server: false,
        }),
        inject: |w| reissue_server_as(w, Fault::NotYetValidCert),
        clear: renew_server,
    },
    UntrustedRoot = "untrusted-root" => Entry {
        description: "The IP-HTTPS certificate chains to a root the clients do not trust.",
        mechanism: "the server's chain is issued by another root (issuing-root-ca.pem) than the one in the clients' store",
        side: Side::Server,
        client_shows: "Last Error Code 0x800b0109 (CERT_E_UNTRUSTEDROOT); Failed to connect to the IPHTTPS server. Waiting to reconnect",
        server_shows: "(healthy)",
        fix: "Obtain the certificate of the CA that issued the IP-HTTPS certificate, import it into the clients' Trusted Root Certification Authorities store, and deploy it by Group Policy (KB2980667).",
        fix_commands: &[
            "client: Import-Certificate -FilePath <PKI>/issuing-root-ca.pem -CertStoreLocation Cert:\\LocalMachine\\Root",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, _| o.foreign_issuer = true,
            revoke_server: false,
        }),
        inject: |w| {
            let name = server_name(w);
            let mut opts = PkiOptions::new(&name, w.now);
            opts.foreign_issuer = true;
            let mut other = Pki::generate(&opts)?;
            // the clients keep trusting the root they were given
            other.root_ca = w.admin.certs.pki.root_ca.clone();
            other.root_ca_key = w.admin.certs.pki.root_ca_key.clone();
            w.admin.certs.pki = other;
            Ok(())
        },
        clear: |w| {
            if let Some((root, _)) = &w.admin.certs.pki.issuing_root_ca {
                for c in w.clients.iter_mut() {
                    if !c.trust_pem.contains(root.trim()) {
                        c.trust_pem.push_str(root);
                    }
                }
            }
            Ok(())
        },
    },
    NameMismatch = "name-mismatch" => Entry {
        description: "The name in the IP-HTTPS URL is not the certificate's name.",
        mechanism: "the server leaf is re-issued for another name than the URL's",
        side: Side::Server,
        client_shows: "Last Error Code 0x800b010f (CERT_E_CN_NO_MATCH)",
        server_shows: "(healthy)",
        fix: "Issue the IP-HTTPS certificate with the Subject (and SAN) the clients use in the URL (the ConnectTo address).",
        fix_commands: &["certreq -enroll -machine -q -cert <NAME> renew"],
        certificate: Some(CertificateSet {
            options: |o, name, _| o.server_cert_name = Some(mismatched_name(name)),
            revoke_server: false,
        }),
        inject: |w| reissue_server_as(w, Fault::NameMismatch),
        clear: renew_server,
    },
    RevokedCert = "revoked-cert" => Entry {
        description: "The IP-HTTPS server certificate has been revoked.",
        mechanism: "the issuing CA's CRL lists the leaf's serial; clients check revocation (Windows 7 behaviour)",
        side: Side::Server,
        client_shows: "Last Error Code 0x80092010 (CRYPT_E_REVOKED)",
        server_shows: "IP-HTTPS: Not working properly. Error: The IP-HTTPS certificate is not valid. Causes: The certificate has been revoked",
        fix: "Renew the certificate.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert <NAME> renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |_, _, _| {},
            revoke_server: true,
        }),
        inject: |w| {
            if let Some(serial) = crate::pki::serial_of(&w.admin.certs.pki.server) {
                w.admin.certs.revoked.push(serial);
            }
            Ok(())
        },
        clear: renew_server,
    },
    CrlOffline = "crl-offline" => Entry {
        description: "The CRL distribution point of the IP-HTTPS certificate cannot be reached.",
        mechanism: "the CRL distribution point's socket is closed; clients that check revocation cannot fetch the CRLs",
        side: Side::Server,
        client_shows: "Last Error Code 0x80092013 (CRYPT_E_REVOCATION_OFFLINE)",
        server_shows: "IP-HTTPS: Working with warnings. Error: The CRL distribution point of the IP-HTTPS certificate cannot be reached.",
        fix: "Make the CDP reachable from the Internet and publish the CRL (KB2980672).",
        fix_commands: &["certutil -crl", "Restart-Service RaMgmtSvc -PassThru"],
        certificate: None,
        inject: |w| {
            w.admin.certs.cdp_online = false;
            Ok(())
        },
        clear: |w| {
            w.admin.certs.cdp_online = true;
            Ok(())
        },
    },
    RouteNotPublished = "route-not-published" => Entry {
        description: "The ClientIPv6Prefix route is missing from the IP-HTTPS interface, so RAs carry no prefix.",
        mechanism: "the route is removed from the route table; RAs carry no Prefix Information option",
        side: Side::Server,
        client_shows: "Last Error Code 0x0, IPHTTPS interface active, but only a link-local address; the intranet is unreachable",
        server_shows: "IP-HTTPS: Not working properly. Error: The IP-HTTPS route does not have published property enabled.",
        fix: "Add the client IPv6 route to the routing table and publish it, then restart RaMgmtSvc.",
        fix_commands: &[
            "$IPv6prefix = (Get-RemoteAccess).ClientIPv6Prefix",
            "New-NetRoute -AddressFamily IPv6 -DestinationPrefix $IPv6prefix -InterfaceAlias \u{201c}Microsoft IP-HTTPS Platform Interface\u{201d} -Publish Yes",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: None,
        inject: |w| {
            let p = w.admin.remote_access.client_prefix;
            w.admin.routes.retain(|r| {
                !(r.if_index == crate::windows::IPHTTPS_INDEX && r.destination_prefix == p)
            });
            Ok(())
        },
        clear: |w| {
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
            Ok(())
        },
    },
    AdvertisingDisabled = "advertising-disabled" => Entry {
        description: "Router advertisement is disabled on the IP-HTTPS interface.",
        mechanism: "the IP-HTTPS interface's advertising flag is cleared; it sends no RAs",
        side: Side::Server,
        client_shows: "Last Error Code 0x0, IPHTTPS interface active, no RA and no global address",
        server_shows: "IP-HTTPS: Not working properly. Error: Route advertisement is disabled on the IP-HTTPS adapter.",
        fix: "Enable route advertisement on the IP-HTTPS adapter.",
        fix_commands: &[
            "netsh int ipv6 show int",
            "netsh int ipv6 set int 17 advertise=enabled",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: None,
        inject: |w| {
            w.admin.iphttps_mut().advertising = false;
            Ok(())
        },
        clear: |w| {
            w.admin.iphttps_mut().advertising = true;
            Ok(())
        },
    },
    ForwardingDisabled = "forwarding-disabled" => Entry {
        description: "Forwarding is disabled on the IP-HTTPS interface.",
        mechanism: "the IP-HTTPS interface's forwarding flag is cleared; the router forwards nothing clients send",
        side: Side::Server,
        client_shows: "Last Error Code 0x0 and a global address, but the intranet and the other clients do not answer",
        server_shows: "IP-HTTPS: Not working properly. Error: Forwarding is disabled on the IP-HTTPS adapter.",
        fix: "Enable forwarding on the IP-HTTPS adapter.",
        fix_commands: &[
            "Netsh int ipv6 set int 17 forwarding=enabled",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: None,
        inject: |w| {
            w.admin.iphttps_mut().forwarding = false;
            Ok(())
        },
        clear: |w| {
            w.admin.iphttps_mut().forwarding = true;
            Ok(())
        },
    },
    IphlpsvcStopped = "iphlpsvc-stopped" => Entry {
        description: "The IP Helper service is stopped, so nothing listens for IP-HTTPS.",
        mechanism: "the iphlpsvc service is stopped: the listener closes and every client is disconnected",
        side: Side::Server,
        client_shows: "Last Error Code 0x274d (WSAECONNREFUSED)",
        server_shows: "IP-HTTPS: Not working properly. Error: The IP Helper service (IPHlpSvc) has stopped. ...",
        fix: "Start the IP Helper service.",
        fix_commands: &[
            "Get-Service iphlpsvc",
            "Start-Service iphlpsvc",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: None,
        inject: |w| {
            set_service(w.admin, "iphlpsvc", false);
            Ok(())
        },
        clear: |w| {
            set_service(w.admin, "iphlpsvc", true);
            Ok(())
        },
    },
    IpsecCertExpired = "ipsec-cert-expired" => Entry {
        description: "The machine certificate IPsec uses has expired.",
        mechanism: "the machine certificate IPsec uses is re-issued with notAfter in the past (in an IPsec lab the clients present it, and the server's charon refuses it)",
        side: Side::Server,
        client_shows: "(the IP-HTTPS tunnel itself stays up)",
        server_shows: "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... The certificate has expired.",
        fix: "Renew the machine certificate: not expired, with a private key, Client Authentication, chained to the configured root.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert IPsec renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, now| o.machine.validity = Validity::expired(now),
            revoke_server: false,
        }),
        inject: |w| reissue_machine_as(w, Fault::IpsecCertExpired),
        clear: renew_machine,
    },
    IpsecCertNoPrivateKey = "ipsec-cert-no-private-key" => Entry {
        description: "The machine certificate IPsec uses has no private key.",
        mechanism: "the machine certificate IPsec uses is present without its key (in an IPsec lab the clients' charons have none to sign with)",
        side: Side::Server,
        client_shows: "(the IP-HTTPS tunnel itself stays up)",
        server_shows: "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... no private key.",
        fix: "Enroll a machine certificate with its private key.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert IPsec renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, _| o.machine.private_key = false,
            revoke_server: false,
        }),
        inject: |w| reissue_machine_as(w, Fault::IpsecCertNoPrivateKey),
        clear: renew_machine,
    },
    IpsecCertNoClientAuth = "ipsec-cert-no-client-auth" => Entry {
        description: "The machine certificate IPsec uses lacks the Client Authentication EKU.",
        mechanism: "the machine certificate IPsec uses carries only the Server Authentication EKU and key usage keyAgreement (in an IPsec lab the server's charon refuses a certificate that may not sign)",
        side: Side::Server,
        client_shows: "(the IP-HTTPS tunnel itself stays up)",
        server_shows: "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... not configured to be used for client authentication.",
        fix: "Enroll a machine certificate from a template with Client Authentication.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert IPsec renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, _| o.machine.client_auth = false,
            revoke_server: false,
        }),
        inject: |w| reissue_machine_as(w, Fault::IpsecCertNoClientAuth),
        clear: renew_machine,
    },
    IpsecCertWrongRoot = "ipsec-cert-wrong-root" => Entry {
        description: "The machine certificate IPsec uses does not chain to the configured root.",
        mechanism: "the machine certificate IPsec uses is issued by an unrelated root (in an IPsec lab the server's charon finds no trusted issuer)",
        side: Side::Server,
        client_shows: "(the IP-HTTPS tunnel itself stays up)",
        server_shows: "IPsec: Not working properly. Error: There is no valid certificate to be used by Ipsec ... Causes: ... does not chain to the configured root/intermediate certificate.",
        fix: "Enroll a machine certificate from the CA the DirectAccess configuration names.",
        fix_commands: &[
            "certreq -enroll -machine -q -cert IPsec renew",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: Some(CertificateSet {
            options: |o, _, _| o.machine.chains_to_root = false,
            revoke_server: false,
        }),
        inject: |w| reissue_machine_as(w, Fault::IpsecCertWrongRoot),
        clear: renew_machine,
    },
    ClientCertRequired = "client-cert-required" => Entry {
        description: "The server requires client certificates (AuthMode Certificates) and the clients have none.",
        mechanism: "AuthMode is set to Certificates and the clients' machine certificates are removed",
        side: Side::Server,
        client_shows: "Last Error Code 0x90320 (SEC_I_INCOMPLETE_CREDENTIALS)",
        server_shows: "(healthy)",
        fix: "Set the IP-HTTPS authentication mode back to none (the DirectAccess default), or enroll machine certificates on the clients.",
        fix_commands: &["netsh interface httpstunnel set interface server authmode=none"],
        certificate: None,
        inject: |w| {
            w.admin.remote_access.auth_mode = AuthMode::Certificates;
            for c in w.clients.iter_mut() {
                c.client_cert = None;
            }
            Ok(())
        },
        clear: |w| {
            w.admin.remote_access.auth_mode = AuthMode::None;
            Ok(())
        },
    },
    ServerRefused = "server-refused" => Entry {
        description: "The IP-HTTPS server interface is disabled: connections are refused.",
        mechanism: "the server interface's state is disabled; nothing listens on the port",
        side: Side::Server,
        client_shows: "Last Error Code 0x274d (WSAECONNREFUSED)",
        server_shows: "IP-HTTPS: Not working properly. Error: The IP-HTTPS interface is not enabled on the server.",
        fix: "Enable the IP-HTTPS server interface.",
        fix_commands: &[
            "netsh interface httpstunnel set interface server state=enabled",
            "Restart-Service RaMgmtSvc -PassThru",
        ],
        certificate: None,
        inject: |w| {
            w.admin.remote_access.iphttps_enabled = false;
            Ok(())
        },
        clear: |w| {
            w.admin.remote_access.iphttps_enabled = true;
            Ok(())
        },
    },
    ServerTimeout = "server-timeout" => Entry {
        description: "A firewall drops TCP 443: connections time out.",
        mechanism: "no inbound rule allows TCP 443: the listening socket is replaced by one whose accept queue is kept full, so the kernel answers no SYN and the client's TCP connect times out",
        side: Side::Server,
        client_shows: "Last Error Code 0x274c (WSAETIMEDOUT)",
        server_shows: "(healthy: the console does not see the firewall)",
        fix: "Allow inbound TCP 443 to the IP-HTTPS listener.",
        fix_commands: &[
            "New-NetFirewallRule -DisplayName \"IP-HTTPS (TCP-In)\" -Direction Inbound -Protocol TCP -LocalPort 443 -Action Allow",
        ],
        certificate: None,
        inject: |w| {
            w.admin.firewall_allows_443 = false;
            Ok(())
        },
        clear: |w| {
            w.admin.firewall_allows_443 = true;
            Ok(())
        },
    },
    NameNotResolvable = "name-not-resolvable" => Entry {
        description: "The clients cannot resolve the IP-HTTPS server's name.",
        mechanism: "the clients' hosts entry for the name is removed (simulated clients ask no DNS server)",
        side: Side::Client,
        client_shows: "Last Error Code 0x2af9 (WSAHOST_NOT_FOUND)",
        server_shows: "(healthy)",
        fix: "Make the public name resolvable from the Internet (public DNS record, proxy settings).",
        fix_commands: &[
            "client: Add-Content -Path C:\\Windows\\System32\\drivers\\etc\\hosts -Value \"<ADDR> <NAME>\"",
        ],
        certificate: None,
        inject: |w| {
            for c in w.clients.iter_mut() {
                let host = c.url.host.clone();
                c.resolve.retain(|(n, _)| !n.eq_ignore_ascii_case(&host));
            }
            Ok(())
        },
        clear: |w| {
            let ip = w.server_addr.ip();
            for c in w.clients.iter_mut() {
                let host = c.url.host.clone();
                if !c.resolve.iter().any(|(n, _)| n.eq_ignore_ascii_case(&host)) {
                    c.resolve.push((host, ip));
                }
            }
            Ok(())
        },
    },
    IpAddressUrl = "ip-address-url" => Entry {
        description: "The IP-HTTPS URL names an IP address instead of the server's name.",
        mechanism: "the clients' URL is rewritten to https://ADDR:PORT/IPHTTPS",
        side: Side::Client,
        client_shows: "Last Error Code 0x4be (ERROR_INVALID_NETNAME); Invalid IPHTTPS URL specified",
        server_shows: "(healthy)",
        fix: "Configure the URL with the server's name; it can and should only be a name (KB2980627).",
        fix_commands: &[
            "client: netsh interface httpstunnel set interface IPHTTPSInterface client url=<URL>",
        ],
        certificate: None,
        inject: |w| {
            for c in w.clients.iter_mut() {
                c.url.host = match w.server_addr.ip() {
                    std::net::IpAddr::V6(a) => format!("[{a}]"),
                    a => a.to_string(),
                };
            }
            Ok(())
        },
        clear: |w| {
            let name = server_name(w);
            for c in w.clients.iter_mut() {
                c.url.host = name.clone();
            }
            Ok(())
        },
    },
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
    fn entry(self) -> &'static Entry {
        &CATALOGUE[self as usize]
    }

    /// The catalogue entry, as `iphttps faults` shows it.
    pub fn info(self) -> FaultInfo {
        let e = self.entry();
        FaultInfo {
            name: self.name(),
            description: e.description,
            mechanism: e.mechanism,
            side: e.side,
            certificate: e.certificate.is_some(),
            client_shows: e.client_shows,
            server_shows: e.server_shows,
            fix: e.fix,
            fix_commands: e.fix_commands,
        }
    }

    /// Puts the fault into `w`.
    pub fn inject(self, w: &mut Scope<'_>) -> Result<(), FaultError> {
        (self.entry().inject)(w)
    }

    /// Takes the fault out of `w` directly (the documented fix, without the commands).
    pub fn clear(self, w: &mut Scope<'_>) -> Result<(), FaultError> {
        (self.entry().clear)(w)
    }

    /// The certificate set `iphttps pki --fault` writes, for a certificate fault.
    pub fn certificate_set(self) -> Option<&'static CertificateSet> {
        self.entry().certificate.as_ref()
    }

    /// The PKI options that produce the fault's certificate set for `name` (`None` for a
    /// fault that is not a certificate fault).
    pub fn pki_options(self, name: &str, now: OffsetDateTime) -> Option<PkiOptions> {
        let set = self.certificate_set()?;
        let mut o = PkiOptions::new(name, now);
        (set.options)(&mut o, name, now);
        Some(o)
    }
}

/// The server's name, as the URL and the certificate carry it.
fn server_name(w: &Scope<'_>) -> String {
    w.admin.remote_access.connect_to.clone()
}

/// The name a mismatched certificate carries: `vpn.` in the server's domain.
fn mismatched_name(name: &str) -> String {
    format!("vpn.{}", name.split_once('.').map_or(name, |(_, d)| d))
}

/// Re-issues the server leaf as `fault`'s certificate set has it.
fn reissue_server_as(w: &mut Scope<'_>, fault: Fault) -> Result<(), FaultError> {
    let name = server_name(w);
    let o = fault
        .pki_options(&name, w.now)
        .unwrap_or_else(|| PkiOptions::new(&name, w.now));
    let leaf = o.server_cert_name.unwrap_or(name);
    w.admin.certs.pki.reissue_server(&leaf, o.server)?;
    Ok(())
}

/// Re-issues the machine certificate as `fault`'s certificate set has it.
fn reissue_machine_as(w: &mut Scope<'_>, fault: Fault) -> Result<(), FaultError> {
    let name = server_name(w);
    let o = fault
        .pki_options(&name, w.now)
        .unwrap_or_else(|| PkiOptions::new(&name, w.now));
    w.admin.certs.pki.reissue_machine(&o.machine)?;
    Ok(())
}

/// Renews the server leaf: its own name, a current validity period.
fn renew_server(w: &mut Scope<'_>) -> Result<(), FaultError> {
    let name = server_name(w);
    let o = PkiOptions::new(&name, w.now);
    w.admin.certs.pki.reissue_server(&name, o.server)?;
    Ok(())
}

/// Renews the machine certificate: healthy in every respect.
fn renew_machine(w: &mut Scope<'_>) -> Result<(), FaultError> {
    let o = PkiOptions::new(server_name(w), w.now);
    w.admin.certs.pki.reissue_machine(&o.machine)?;
    Ok(())
}

fn set_service(admin: &mut AdminState, name: &str, running: bool) {
    if let Some(s) = admin.service_mut(name) {
        s.running = running;
    }
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
