//! The Windows-side state of the DirectAccess server that an operator sees and changes:
//! Remote Access configuration, the IPv6 interface table, the route table with `Publish`,
//! services, the firewall rule for TCP 443, the certificates and their CRL distribution
//! point. Faults change it, commands change it, views and Operations Status read it, and
//! the server is driven from it ([`AdminState::router_config`], [`AdminState::listener`]).

pub mod client_target;
pub mod command;
pub mod health;
pub mod ipsec;
pub mod server_target;
pub mod views;

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::link::router::{AuthMode, Publish, Route, RouterConfig};
use crate::pki::Pki;
use crate::server::ListenerMode;

/// Index of the IP-HTTPS interface, as in the first seed's `netsh int ipv6 show int`.
pub const IPHTTPS_INDEX: u32 = 17;
/// The IP-HTTPS interface's name.
pub const IPHTTPS_NAME: &str = "IPHTTPSInterface";
/// The server-side alias of the IP-HTTPS interface.
pub const IPHTTPS_ALIAS: &str = "Microsoft IP-HTTPS Platform Interface";
/// Index of the internal interface.
pub const INTERNAL_INDEX: u32 = 12;

/// An IPv6 interface (`netsh int ipv6 show int`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetInterface {
    /// Idx.
    pub index: u32,
    /// Met.
    pub metric: u32,
    /// MTU.
    pub mtu: u64,
    /// State.
    pub state: String,
    /// Name.
    pub name: String,
    /// Other names it answers to (InterfaceAlias).
    pub aliases: Vec<String>,
    /// Forwarding.
    pub forwarding: bool,
    /// Advertising.
    pub advertising: bool,
    /// Neighbor Discovery.
    pub neighbor_discovery: bool,
    /// Neighbor Unreachability Detection.
    pub neighbor_unreachability_detection: bool,
    /// Router Discovery.
    pub router_discovery: bool,
}

impl NetInterface {
    fn new(index: u32, metric: u32, mtu: u64, name: &str) -> Self {
        Self {
            index,
            metric,
            mtu,
            state: "connected".into(),
            name: name.into(),
            aliases: Vec::new(),
            forwarding: false,
            advertising: false,
            neighbor_discovery: true,
            neighbor_unreachability_detection: true,
            router_discovery: true,
        }
    }

    /// Whether `name` names this interface (name or alias, case-insensitive).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// A route (`Get-NetRoute`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetRoute {
    /// DestinationPrefix.
    pub destination_prefix: Ipv6Net,
    /// ifIndex.
    pub if_index: u32,
    /// NextHop.
    pub next_hop: Ipv6Addr,
    /// RouteMetric.
    pub route_metric: u32,
    /// Publish: No, Yes or Age.
    #[serde(serialize_with = "ser_publish")]
    pub publish: Publish,
    /// ValidLifetime in seconds (for Publish Age).
    pub valid_lifetime: u32,
    /// PreferredLifetime in seconds (for Publish Age).
    pub preferred_lifetime: u32,
}

fn ser_publish<S: serde::Serializer>(p: &Publish, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(publish_name(*p))
}

/// `No`, `Yes` or `Age`.
pub fn publish_name(p: Publish) -> &'static str {
    match p {
        Publish::No => "No",
        Publish::Yes => "Yes",
        Publish::Age => "Age",
    }
}

/// A Windows service's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Service {
    /// Name (e.g. `iphlpsvc`).
    pub name: String,
    /// DisplayName.
    pub display_name: String,
    /// Running or stopped.
    pub running: bool,
}

/// Remote Access configuration (`Get-RemoteAccess`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAccess {
    /// ConnectTo: the public name clients use.
    pub connect_to: String,
    /// ClientIPv6Prefix.
    pub client_prefix: Ipv6Net,
    /// InternalIPv6Prefix.
    pub internal_prefix: Ipv6Net,
    /// The IP-HTTPS server interface's Authentication Mode.
    pub auth_mode: AuthMode,
    /// `netsh interface httpstunnel ... state`: whether the server interface is enabled.
    pub iphttps_enabled: bool,
    /// OTP authentication (`Enable-DAOtpAuthentication`): turns the NULL suites off.
    pub otp_enabled: bool,
    /// A client VPN (SSTP) on the same server (`Install-RemoteAccess -VpnType Vpn`):
    /// turns the NULL suites off.
    pub vpn_enabled: bool,
}

/// The server's certificates and where their revocation is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificates {
    /// The PKI set in use.
    pub pki: Pki,
    /// Serials the issuing CA has revoked.
    pub revoked: Vec<Vec<u8>>,
    /// Whether the CRL distribution point answers.
    pub cdp_online: bool,
}

/// The whole Windows-side state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminState {
    /// Remote Access configuration.
    pub remote_access: RemoteAccess,
    /// IPv6 interfaces.
    pub interfaces: Vec<NetInterface>,
    /// IPv6 routes.
    pub routes: Vec<NetRoute>,
    /// Services.
    pub services: Vec<Service>,
    /// Whether an inbound rule allows TCP 443.
    pub firewall_allows_443: bool,
    /// Certificates.
    pub certs: Certificates,
    /// FIPS mode (`HKLM:\System\CurrentControlSet\Control\Lsa\FipsAlgorithmPolicy`
    /// `Enabled`): turns the NULL suites off.
    pub fips_mode: bool,
    /// Whether the server's TLS can offer the NULL suites at all (Windows Server 2012
    /// and later; here: `serve --null-cipher`, the OpenSSL backend).
    pub null_capable: bool,
}

/// Whether the server offers the NULL-encryption suites, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullSuites {
    /// Offered first (Windows Server 2012 and later, nothing turning them off).
    Offered,
    /// Turned off for every client by OTP, a co-located SSTP VPN or FIPS mode.
    Disabled(&'static str),
    /// This server cannot offer them (Windows Server 2008 R2; the rustls backend).
    Unsupported,
}

impl NullSuites {
    /// The server's TLS backend setting: `None` rustls, `Some(offered)` OpenSSL.
    pub fn backend(self) -> Option<bool> {
        match self {
            NullSuites::Unsupported => None,
            NullSuites::Offered => Some(true),
            NullSuites::Disabled(_) => Some(false),
        }
    }
}

impl AdminState {
    /// A healthy server: the interface table of the first seed, the ClientIPv6Prefix route
    /// published on the IP-HTTPS interface, forwarding and advertising enabled, services
    /// running.
    pub fn new(
        connect_to: &str,
        client_prefix: Ipv6Net,
        internal_prefix: Ipv6Net,
        pki: Pki,
    ) -> Self {
        let mut iphttps = NetInterface::new(IPHTTPS_INDEX, 50, 1280, IPHTTPS_NAME);
        iphttps.aliases.push(IPHTTPS_ALIAS.into());
        iphttps.forwarding = true;
        iphttps.advertising = true;
        let mut internal = NetInterface::new(INTERNAL_INDEX, 5, 1500, "Internal");
        internal.forwarding = true;
        let interfaces = vec![
            NetInterface::new(1, 50, 4_294_967_295, "Loopback Pseudo-Interface 1"),
            NetInterface::new(14, 45, 1280, "6TO4 Adapter"),
            NetInterface::new(15, 5, 1280, "isatap.{Interface Guid}"),
            NetInterface::new(16, 5, 1280, "isatap.{{Interface Guid}"),
            iphttps,
            internal,
            NetInterface::new(13, 5, 1500, "External"),
        ];
        let routes = vec![
            NetRoute {
                destination_prefix: internal_prefix,
                if_index: INTERNAL_INDEX,
                next_hop: Ipv6Addr::UNSPECIFIED,
                route_metric: 256,
                publish: Publish::No,
                valid_lifetime: u32::MAX,
                preferred_lifetime: u32::MAX,
            },
            NetRoute {
                destination_prefix: client_prefix,
                if_index: IPHTTPS_INDEX,
                next_hop: Ipv6Addr::UNSPECIFIED,
                route_metric: 256,
                publish: Publish::Yes,
                valid_lifetime: u32::MAX,
                preferred_lifetime: u32::MAX,
            },
        ];
        let services = vec![
            Service {
                name: "iphlpsvc".into(),
                display_name: "IP Helper".into(),
                running: true,
            },
            Service {
                name: "RaMgmtSvc".into(),
                display_name: "Remote Access Management service".into(),
                running: true,
            },
        ];
        Self {
            remote_access: RemoteAccess {
                connect_to: connect_to.into(),
                client_prefix,
                internal_prefix,
                auth_mode: AuthMode::None,
                iphttps_enabled: true,
                otp_enabled: false,
                vpn_enabled: false,
            },
            interfaces,
            routes,
            services,
            firewall_allows_443: true,
            certs: Certificates {
                pki,
                revoked: Vec::new(),
                cdp_online: true,
            },
            fips_mode: false,
            null_capable: false,
        }
    }

    /// Whether the NULL suites are offered (ms-iphttps.md section 4).
    pub fn null_suites(&self) -> NullSuites {
        if !self.null_capable {
            NullSuites::Unsupported
        } else if self.remote_access.otp_enabled {
            NullSuites::Disabled("OTP authentication is enabled")
        } else if self.remote_access.vpn_enabled {
            NullSuites::Disabled("a client VPN (SSTP) runs on the same server")
        } else if self.fips_mode {
            NullSuites::Disabled("FIPS mode is enabled")
        } else {
            NullSuites::Offered
        }
    }

    /// The interface with this index.
    pub fn interface(&self, index: u32) -> Option<&NetInterface> {
        self.interfaces.iter().find(|i| i.index == index)
    }

    /// The interface with this index, to change.
    pub fn interface_mut(&mut self, index: u32) -> Option<&mut NetInterface> {
        self.interfaces.iter_mut().find(|i| i.index == index)
    }

    /// The IP-HTTPS interface.
    pub fn iphttps(&self) -> &NetInterface {
        self.interface(IPHTTPS_INDEX)
            .expect("the IP-HTTPS interface is never removed")
    }

    /// The IP-HTTPS interface, to change.
    pub fn iphttps_mut(&mut self) -> &mut NetInterface {
        self.interface_mut(IPHTTPS_INDEX)
            .expect("the IP-HTTPS interface is never removed")
    }

    /// A service by name (case-insensitive).
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// A service by name, to change.
    pub fn service_mut(&mut self, name: &str) -> Option<&mut Service> {
        self.services
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The ClientIPv6Prefix route on the IP-HTTPS interface, if present.
    pub fn client_route(&self) -> Option<&NetRoute> {
        let p = self.remote_access.client_prefix;
        self.routes
            .iter()
            .find(|r| r.if_index == IPHTTPS_INDEX && r.destination_prefix == p)
    }

    /// The router configuration this state implies, on top of `base` (timers, MTU, limits).
    pub fn router_config(&self, base: &RouterConfig) -> RouterConfig {
        let mut c = base.clone();
        let ifc = self.iphttps();
        c.client_prefix = self.remote_access.client_prefix;
        c.intranet_prefix = self.remote_access.internal_prefix;
        c.forwarding = ifc.forwarding;
        c.advertising = ifc.advertising;
        c.auth_mode = self.remote_access.auth_mode;
        c.routes = self
            .routes
            .iter()
            .filter(|r| r.if_index == IPHTTPS_INDEX)
            .map(|r| Route {
                prefix: r.destination_prefix,
                publish: r.publish,
                valid_lifetime: r.valid_lifetime,
                preferred_lifetime: r.preferred_lifetime,
            })
            .collect();
        c
    }

    /// What the listener does: closed when IP Helper is stopped or the IP-HTTPS server
    /// interface is disabled; black-holed when no firewall rule allows TCP 443.
    pub fn listener(&self) -> ListenerMode {
        let iphlpsvc = self.service("iphlpsvc").is_some_and(|s| s.running);
        if !iphlpsvc || !self.remote_access.iphttps_enabled {
            ListenerMode::Closed
        } else if !self.firewall_allows_443 {
            ListenerMode::Blackhole
        } else {
            ListenerMode::Open
        }
    }
}
