//! What the client shows a person: the spec's state, the Last Error Code and the
//! Interface Status, in the shape of `netsh interface httpstunnel show interfaces`.

use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use crate::link::host::{AddressInfo, AddressState};
use crate::link::ip::IpStats;
use crate::winerr::LastErrorCode;
use crate::wire::icmpv6::RouterAdvert;

/// Interface Status when the tunnel is up (as `Get-NetIPHttpsState` returns it).
pub const STATUS_ACTIVE: &str = "IPHTTPS interface active";
/// Interface Status after a failure, verbatim from KB2980667.
pub const STATUS_FAILED: &str = "Failed to connect to the IPHTTPS server. Waiting to reconnect";
/// Interface Status for an IP-address URL (KB2980627).
pub const STATUS_INVALID_URL: &str = "Invalid IPHTTPS URL specified";
/// Interface Status before the first attempt has finished (no source gives Windows'
/// string for this; chosen here).
pub const STATUS_CONNECTING: &str = "Connecting to the IPHTTPS server";
/// Interface Status once the client is disabled (chosen here).
pub const STATUS_DISABLED: &str = "IPHTTPS interface deactivated";

/// The client state machine of [MS-IPHTTPS] 3.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Configured, not yet started.
    Enabled,
    /// Trying to establish the HTTPS connection.
    LinkDown,
    /// TLS is up; the POST is sent and the response awaited.
    Established,
    /// The 200 arrived; the link carries IPv6.
    LinkUp,
    /// Stopped by the higher layer.
    Disabled,
}

/// How many failures of a series [`ClientStatus::failure_series`] keeps.
pub const SERIES_KEPT: usize = 64;

/// One failure of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureAt {
    /// When it happened, counted from the series' first failure.
    pub at: Duration,
    /// How long the reconnect timer waited after it.
    pub wait: Duration,
}

/// The client's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStatus {
    /// The URL as Windows prints it.
    pub url: String,
    /// The state machine's state.
    pub state: ClientState,
    /// Last Error Code (`0x0` when up).
    pub last_error: LastErrorCode,
    /// Interface Status.
    pub interface_status: String,
    /// What the last failure was, in words.
    pub last_error_detail: Option<String>,
    /// Link-local address, once DAD passed.
    pub link_local: Option<Ipv6Addr>,
    /// The global address the client sends from (configured from an RA, DAD passed;
    /// preferred if it has one, else deprecated).
    pub global: Option<Ipv6Addr>,
    /// Every address of the tunnel interface with its state and lifetimes, as
    /// `Get-NetIPAddress` shows them.
    pub addresses: Vec<AddressInfo>,
    /// Link MTU.
    pub mtu: u32,
    /// The last RA received.
    pub router_advert: Option<RouterAdvert>,
    /// Successful connections so far.
    pub connects: u64,
    /// Failed attempts and lost links so far.
    pub failures: u64,
    /// The current series of failures (those since the last LinkUp): when each happened,
    /// counted from the first of the series, and how long the reconnect timer then waited
    /// ([MS-IPHTTPS] 3.1.2.1). The first [`SERIES_KEPT`] of a series are kept.
    pub failure_series: Vec<FailureAt>,
    /// The reconnect timer's first wait and its cap (Windows: 30 s and 15 min).
    pub reconnect_timer: (Duration, Duration),
    /// The transition technology the client's network situation selects.
    pub transition: super::transition::Transition,
    /// Unicast packets received for an address the client does not have (must stay 0).
    pub misdelivered: u64,
    /// Echo replies and UDP datagrams received.
    pub received: u64,
    /// The TLS cipher suite of the last tunnel (`TLS_RSA_WITH_NULL_SHA256` when NULL
    /// encryption was negotiated).
    pub cipher_suite: Option<String>,
    /// ICMPv6 errors received, per type and code, in the order first seen.
    pub icmp_errors: Vec<IcmpErrorSeen>,
    /// The host's IP layer: fragments sent and reassembled, path MTUs lowered.
    pub ip: IpStats,
}

/// ICMPv6 errors of one type and code a client received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpErrorSeen {
    /// ICMPv6 type (1 Destination Unreachable, 2 Packet Too Big, 3 Time Exceeded, 4
    /// Parameter Problem).
    pub kind: u8,
    /// Code.
    pub code: u8,
    /// How many.
    pub count: u64,
    /// Who sent the last one.
    pub from: Ipv6Addr,
}

impl ClientStatus {
    /// Counts one ICMPv6 error.
    pub fn count_icmp_error(&mut self, kind: u8, code: u8, from: Ipv6Addr) {
        match self
            .icmp_errors
            .iter_mut()
            .find(|e| e.kind == kind && e.code == code)
        {
            Some(e) => {
                e.count += 1;
                e.from = from;
            }
            None => self.icmp_errors.push(IcmpErrorSeen {
                kind,
                code,
                count: 1,
                from,
            }),
        }
    }

    /// ICMPv6 errors of this type and code received.
    pub fn icmp_error_count(&self, kind: u8, code: u8) -> u64 {
        self.icmp_errors
            .iter()
            .find(|e| e.kind == kind && e.code == code)
            .map_or(0, |e| e.count)
    }
}

impl ClientStatus {
    /// The status of a client that has not tried yet.
    pub fn new(url: String) -> Self {
        Self {
            url,
            state: ClientState::Enabled,
            last_error: LastErrorCode::SUCCESS,
            interface_status: STATUS_CONNECTING.to_string(),
            last_error_detail: None,
            link_local: None,
            global: None,
            addresses: Vec::new(),
            mtu: 1280,
            router_advert: None,
            connects: 0,
            failures: 0,
            failure_series: Vec::new(),
            reconnect_timer: (Duration::ZERO, Duration::ZERO),
            transition: super::transition::Transition::IpHttps,
            misdelivered: 0,
            received: 0,
            cipher_suite: None,
            icmp_errors: Vec::new(),
            ip: IpStats::default(),
        }
    }

    /// The state of the global address it sends from.
    pub fn global_state(&self) -> Option<AddressState> {
        let g = self.global?;
        self.addresses.iter().find(|a| a.addr == g).map(|a| a.state)
    }

    /// The link went away and its addresses with it.
    pub fn clear_addresses(&mut self) {
        self.link_local = None;
        self.global = None;
        self.addresses.clear();
    }

    /// Up with a global address.
    pub fn is_active_with_address(&self) -> bool {
        self.state == ClientState::LinkUp && self.global.is_some()
    }

    /// The `netsh interface httpstunnel show interfaces` view.
    pub fn netsh(&self) -> NetshView<'_> {
        NetshView(self)
    }
}

/// Display adapter for the netsh view.
pub struct NetshView<'a>(&'a ClientStatus);

impl fmt::Display for NetshView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        writeln!(f, "Interface IPHTTPSInterface (Group Policy)  Parameters")?;
        writeln!(
            f,
            "------------------------------------------------------------"
        )?;
        writeln!(f, "{:<27}: client", "Role")?;
        writeln!(f, "{:<27}: {}", "URL", s.url)?;
        writeln!(f, "{:<27}: {}", "Last Error Code", s.last_error)?;
        writeln!(f, "{:<27}: {}", "Interface Status", s.interface_status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netsh_layout() {
        let mut s = ClientStatus::new("https://da.contoso.com:443/IPHTTPS".into());
        s.state = ClientState::LinkUp;
        s.interface_status = STATUS_ACTIVE.into();
        assert_eq!(
            s.netsh().to_string(),
            "Interface IPHTTPSInterface (Group Policy)  Parameters\n\
             ------------------------------------------------------------\n\
             Role                       : client\n\
             URL                        : https://da.contoso.com:443/IPHTTPS\n\
             Last Error Code            : 0x0\n\
             Interface Status           : IPHTTPS interface active\n"
        );
    }
}
