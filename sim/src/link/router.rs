//! The server side of the link: a router for the IP-HTTPS clients ([MS-IPHTTPS] 3.2.5.2).
//!
//! It keeps the client table and a neighbor cache (which client owns which address),
//! the routes of the IP-HTTPS interface with their Windows `Publish` property, and the
//! interface's `forwarding` and `advertising` flags. It answers Router Solicitations with
//! Router Advertisements built from the published routes, sends them unsolicited, forwards
//! between clients and to the intranet prefix, sends ICMPv6 errors (RFC 4443), applies the
//! AuthMode=None rules of [MS-IPHTTPS] 3.2.5.2.2 and drops spoofed sources.
//!
//! It never reassembles: a fragment is forwarded as any packet, its source checked like
//! any other (RFC 8200 4.5 leaves reassembly to the destination). The ICMPv6 errors it
//! originates are rate-limited per recipient with a token bucket (RFC 4443 2.4(f)).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::Ipv6Net;

use super::Frame;
use crate::wire::icmpv6::{self, Message, PrefixInfo, RouterAdvert, kind};
use crate::wire::ipv6::{self, Ipv6Packet, PROTO_ICMPV6};

/// A client's handle in the client table.
pub type ClientId = u64;

/// The router's maps: foldhash with a per-map random seed, fast on 16-byte keys and not
/// predictable by clients that choose their own addresses.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The Windows `Publish` property of a route (`New-NetRoute -Publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Not advertised (the Windows default).
    No,
    /// Advertised in RAs with infinite lifetimes.
    Yes,
    /// Advertised in RAs with the route's finite lifetimes.
    Age,
}

/// A route on the IP-HTTPS interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub prefix: Ipv6Net,
    /// Whether and how it is advertised.
    pub publish: Publish,
    /// Valid lifetime in seconds, used when `publish` is `Age`.
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds, used when `publish` is `Age`.
    pub preferred_lifetime: u32,
}

/// The server's Authentication Mode ([MS-IPHTTPS] 3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// No client authentication; the ND filtering rules of 3.2.5.2.2 apply (Windows default).
    #[default]
    None,
    /// Clients authenticate with certificates; multicast is forwarded to the other clients.
    Certificates,
}

/// The router's configuration: what an operator sets on the IP-HTTPS interface.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The ClientIPv6Prefix (a /64) from which clients configure addresses.
    pub client_prefix: Ipv6Net,
    /// The internal network behind the server.
    pub intranet_prefix: Ipv6Net,
    /// The server's link-local address on the IP-HTTPS interface.
    pub link_local: Ipv6Addr,
    /// The IP-HTTPS link MTU (1280).
    pub mtu: usize,
    /// The MTU of the internal network.
    pub intranet_mtu: usize,
    /// Routes on the IP-HTTPS interface.
    pub routes: Vec<Route>,
    /// `forwarding` on the IP-HTTPS interface.
    pub forwarding: bool,
    /// `advertising` on the IP-HTTPS interface.
    pub advertising: bool,
    /// The Authentication Mode.
    pub auth_mode: AuthMode,
    /// Router Lifetime in RAs (Windows' AdvertisedRouterLifetime default, 1800 s).
    pub router_lifetime: u16,
    /// Interval between unsolicited RAs.
    pub ra_interval: Duration,
    /// Most clients in the table at once.
    pub max_clients: usize,
    /// Most addresses one client may own.
    pub max_addresses_per_client: usize,
    /// Router Solicitations a client may send in a burst before being rate-limited.
    pub rs_burst: u32,
    /// One more Router Solicitation is allowed per this interval.
    pub rs_interval: Duration,
    /// ICMPv6 errors the router may send one client (or the intranet) in a burst.
    pub icmp_error_burst: u32,
    /// One more ICMPv6 error is allowed per this interval.
    pub icmp_error_interval: Duration,
}

impl RouterConfig {
    /// A healthy DirectAccess-like configuration for `client_prefix`: the prefix route
    /// published, forwarding and advertising enabled.
    pub fn new(client_prefix: Ipv6Net, intranet_prefix: Ipv6Net) -> Self {
        Self {
            client_prefix,
            intranet_prefix,
            link_local: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            mtu: ipv6::MIN_MTU,
            intranet_mtu: 1500,
            routes: vec![Route {
                prefix: client_prefix,
                publish: Publish::Yes,
                valid_lifetime: u32::MAX,
                preferred_lifetime: u32::MAX,
            }],
            forwarding: true,
            advertising: true,
            auth_mode: AuthMode::None,
            router_lifetime: 1800,
            ra_interval: Duration::from_secs(200),
            max_clients: 10_000,
            max_addresses_per_client: 16,
            rs_burst: 4,
            rs_interval: Duration::from_secs(1),
            icmp_error_burst: 10,
            icmp_error_interval: Duration::from_millis(100),
        }
    }

    /// The server's own address in the ClientIPv6Prefix (the prefix's `::1`).
    pub fn server_address(&self) -> Ipv6Addr {
        ipv6::with_interface_id(self.client_prefix.network(), 1)
    }

    /// The Router Advertisement this configuration produces.
    pub fn router_advert(&self) -> RouterAdvert {
        let prefixes = self
            .routes
            .iter()
            .filter(|r| r.publish != Publish::No && r.prefix.prefix_len() == 64)
            .map(|r| {
                let (valid, preferred) = match r.publish {
                    Publish::Age => (r.valid_lifetime, r.preferred_lifetime.min(r.valid_lifetime)),
                    _ => (u32::MAX, u32::MAX),
                };
                PrefixInfo {
                    prefix: r.prefix.network(),
                    len: 64,
                    on_link: false,
                    autonomous: true,
                    valid_lifetime: valid,
                    preferred_lifetime: preferred,
                }
            })
            .collect();
        RouterAdvert {
            cur_hop_limit: 64,
            router_lifetime: self.router_lifetime,
            reachable_time: 0,
            retrans_timer: 0,
            prefixes,
            mtu: Some(self.mtu as u32),
        }
    }
}

/// Why the router dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Source not owned by the sending client, or not usable on this link.
    Spoofed,
    /// Multicast from a client other than RS and DAD NS (AuthMode None).
    Multicast,
    /// Link-local unicast not addressed to the server.
    LinkLocal,
    /// A client sent an RA or a Redirect: clients are not routers.
    NotARouter,
    /// `forwarding` is disabled on the IP-HTTPS interface.
    ForwardingDisabled,
    /// No route or no owner for the destination.
    NoRoute,
    /// The ICMPv6 message failed validation.
    BadIcmpv6,
    /// A DAD probe for an address another client owns (answered with a forged NA).
    DadConflict,
    /// Hop limit exhausted.
    HopLimit,
    /// Too big for the next link.
    TooBig,
    /// Addressed to the server but nothing there answers it.
    Unhandled,
    /// A Router Solicitation over the client's rate limit.
    RsRateLimited,
    /// An ICMPv6 error the router did not send: over its rate limit (RFC 4443 2.4(f)).
    /// Counted among all drops, never among a client's packets (the packet that called
    /// for the error is counted under its own reason).
    IcmpRateLimited,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 13] = [
        DropReason::Spoofed,
        DropReason::Multicast,
        DropReason::LinkLocal,
        DropReason::NotARouter,
        DropReason::ForwardingDisabled,
        DropReason::NoRoute,
        DropReason::BadIcmpv6,
        DropReason::DadConflict,
        DropReason::HopLimit,
        DropReason::TooBig,
        DropReason::Unhandled,
        DropReason::RsRateLimited,
        DropReason::IcmpRateLimited,
    ];

    /// A stable snake_case name for reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Spoofed => "spoofed_source",
            DropReason::Multicast => "client_multicast",
            DropReason::LinkLocal => "link_local_not_to_server",
            DropReason::NotARouter => "client_router_message",
            DropReason::ForwardingDisabled => "forwarding_disabled",
            DropReason::NoRoute => "no_route",
            DropReason::BadIcmpv6 => "invalid_icmpv6",
            DropReason::DadConflict => "dad_conflict",
            DropReason::HopLimit => "hop_limit_exceeded",
            DropReason::TooBig => "packet_too_big",
            DropReason::Unhandled => "unhandled_local",
            DropReason::RsRateLimited => "rs_rate_limited",
            DropReason::IcmpRateLimited => "icmp_error_rate_limited",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters the router keeps; plain data for status views, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterStats {
    /// Packets received from clients.
    pub from_clients: u64,
    /// Packets received from the intranet.
    pub from_intranet: u64,
    /// Packets sent to clients.
    pub to_clients: u64,
    /// Packets sent to the intranet.
    pub to_intranet: u64,
    /// Router Advertisements sent.
    pub ras_sent: u64,
    /// Drops, indexed like [`DropReason::ALL`].
    pub drops: [u64; DropReason::ALL.len()],
    /// Packets from clients that were forwarded (to the intranet or other clients).
    pub forwarded_from_clients: u64,
    /// Packets from clients the router consumed itself (RS, DAD, NS and pings to it).
    pub local_from_clients: u64,
    /// Packets from clients that were dropped, by reason (indexed like [`DropReason::ALL`]).
    pub client_drops: [u64; DropReason::ALL.len()],
}

/// What became of one packet from a client: every packet gets exactly one, and the
/// router counts it once, where the packet's handling returns it.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Forwarded to the intranet or to other clients.
    Forwarded,
    /// Consumed by the router itself (RS, DAD, NS, an echo to the server).
    Local,
    /// Dropped, for this reason.
    Dropped(DropReason),
}

/// Packets from clients that the counters do not account for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{received} packet(s) from clients, but {forwarded} forwarded + {local} consumed + {dropped} dropped = {}",
    forwarded + local + dropped
)]
pub struct Unreconciled {
    /// Packets received from clients.
    pub received: u64,
    /// Forwarded.
    pub forwarded: u64,
    /// Consumed by the router.
    pub local: u64,
    /// Dropped, all reasons.
    pub dropped: u64,
}

impl RouterStats {
    /// Drops of packets from clients, all reasons.
    pub fn client_drops_total(&self) -> u64 {
        self.client_drops.iter().sum()
    }

    /// Every packet from a client was forwarded, consumed or dropped for one reason, once:
    /// the dispositions add up to the packets received.
    pub fn reconcile(&self) -> Result<(), Unreconciled> {
        let u = Unreconciled {
            received: self.from_clients,
            forwarded: self.forwarded_from_clients,
            local: self.local_from_clients,
            dropped: self.client_drops_total(),
        };
        if u.received == u.forwarded + u.local + u.dropped {
            Ok(())
        } else {
            Err(u)
        }
    }

    fn count(&mut self, d: Disposition) {
        match d {
            Disposition::Forwarded => self.forwarded_from_clients += 1,
            Disposition::Local => self.local_from_clients += 1,
            Disposition::Dropped(r) => self.client_drops[r.index()] += 1,
        }
    }
}

impl RouterStats {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }
}

/// What the router asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write to this client's connection.
    ToClient(ClientId, Frame),
    /// Deliver to the internal network.
    ToIntranet(Frame),
}

/// The client table is full ([MS-IPHTTPS] 3.2.5.1: the server disconnects the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client table full ({0} clients)")]
pub struct TableFull(pub usize);

#[derive(Debug, Default)]
struct ClientEntry {
    addresses: Vec<Ipv6Addr>,
    /// Router Solicitations the client may send.
    rs: TokenBucket,
    /// ICMPv6 errors the router may send the client.
    icmp: TokenBucket,
}

/// A token bucket: `burst` at first, one more per `interval`, never more than `burst`.
#[derive(Debug, Default, Clone, Copy)]
struct TokenBucket {
    tokens: u32,
    /// When it was last refilled; `None` before first use (it starts full).
    refilled: Option<Instant>,
}

impl TokenBucket {
    /// Takes one token if there is one.
    fn take(&mut self, now: Instant, burst: u32, interval: Duration) -> bool {
        match self.refilled {
            None => {
                self.tokens = burst;
                self.refilled = Some(now);
            }
            Some(at) => {
                let n = now.saturating_duration_since(at).as_nanos() / interval.as_nanos().max(1);
                if n > 0 {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    self.tokens = burst.min(self.tokens.saturating_add(n));
                    // keep the fraction of an interval already elapsed
                    self.refilled = Some(if self.tokens == burst {
                        now
                    } else {
                        at + interval * n
                    });
                }
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The server's router.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    clients: Map<ClientId, ClientEntry>,
    neighbors: Map<Ipv6Addr, ClientId>,
    next_id: ClientId,
    next_ra: Option<Instant>,
    stats: RouterStats,
    /// ICMPv6 errors the router may send toward the intranet.
    intranet_icmp: TokenBucket,
}

impl Router {
    /// A router with no clients.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            config,
            clients: Map::default(),
            neighbors: Map::default(),
            next_id: 1,
            next_ra: None,
            stats: RouterStats::default(),
            intranet_icmp: TokenBucket::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Changes the configuration (an operator's command); takes effect for the next packet.
    pub fn config_mut(&mut self) -> &mut RouterConfig {
        &mut self.config
    }

    /// Replaces the configuration. When the Router Advertisement it produces changes (a
    /// route published, advertising enabled), an unsolicited RA is due at once
    /// (RFC 4861 6.2.4), so clients learn of it without waiting for the interval.
    pub fn reconfigure(&mut self, config: RouterConfig, now: Instant) {
        let changed = config.router_advert() != self.config.router_advert()
            || (config.advertising && !self.config.advertising);
        self.config = config;
        if changed && !self.clients.is_empty() {
            self.next_ra = Some(now);
        }
    }

    /// The counters.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Clients in the table.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The addresses a client owns, in the order it claimed them.
    pub fn client_addresses(&self, id: ClientId) -> &[Ipv6Addr] {
        self.clients.get(&id).map_or(&[], |c| &c.addresses)
    }

    /// Adds a client to the table after its HTTP request ([MS-IPHTTPS] 3.2.5.1).
    pub fn add_client(&mut self, now: Instant) -> Result<ClientId, TableFull> {
        if self.clients.len() >= self.config.max_clients {
            return Err(TableFull(self.config.max_clients));
        }
        let id = self.next_id;
        self.next_id += 1;
        super::reserve_for_churn(&mut self.clients);
        self.clients.insert(id, ClientEntry::default());
        if self.next_ra.is_none() {
            self.next_ra = Some(now + self.config.ra_interval);
        }
        Ok(id)
    }

    /// Removes a client whose connection ended ([MS-IPHTTPS] 3.2.5.3).
    pub fn remove_client(&mut self, id: ClientId) {
        if let Some(entry) = self.clients.remove(&id) {
            for a in entry.addresses {
                self.neighbors.remove(&a);
            }
        }
        if self.clients.is_empty() {
            self.next_ra = None;
        }
    }

    /// When [`Router::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.config.advertising {
            self.next_ra
        } else {
            None
        }
    }

    /// Sends the unsolicited RAs that are due.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        let Some(due) = self.next_ra else { return };
        if now < due {
            return;
        }
        self.next_ra = Some(now + self.config.ra_interval);
        if !self.config.advertising {
            return;
        }
        let ra = Bytes::from(self.ra_packet());
        let mut ids: Vec<ClientId> = self.clients.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.stats.ras_sent += 1;
            self.emit_client(id, Frame::new(ra.clone()), out);
        }
    }

    fn ra_packet(&self) -> Vec<u8> {
        icmpv6::router_advertisement(
            self.config.link_local,
            ipv6::ALL_NODES,
            &self.config.router_advert(),
        )
    }

    fn is_server_address(&self, a: Ipv6Addr) -> bool {
        a == self.config.link_local || a == self.config.server_address()
    }

    fn advertised(&self, a: Ipv6Addr) -> bool {
        self.config.routes.iter().any(|r| {
            r.publish != Publish::No
                && r.prefix.prefix_len() == 64
                && ipv6::prefix_contains(&r.prefix, a)
        })
    }

    fn discard(&mut self, reason: DropReason, src: Ipv6Addr, dst: Ipv6Addr) -> Disposition {
        self.stats.drops[reason.index()] += 1;
        tracing::debug!(reason = reason.as_str(), %src, %dst, "router dropped packet");
        Disposition::Dropped(reason)
    }

    fn emit_client(&mut self, id: ClientId, frame: Frame, out: &mut Vec<Output>) {
        self.stats.to_clients += 1;
        out.push(Output::ToClient(id, frame));
    }

    /// Handles one packet received from client `id` (a whole IPv6 packet from the deframer).
    pub fn handle_from_client(
        &mut self,
        id: ClientId,
        packet: Bytes,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.stats.from_clients += 1;
        let d = self.client_packet(id, packet, now, out);
        self.stats.count(d);
    }

    fn client_packet(
        &mut self,
        id: ClientId,
        packet: Bytes,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Disposition {
        let Some(pkt) = Ipv6Packet::new(&packet) else {
            let none = Ipv6Addr::UNSPECIFIED;
            return self.discard(DropReason::BadIcmpv6, none, none);
        };
        let (src, dst) = (pkt.src(), pkt.dst());
        let icmp = if pkt.next_header() == PROTO_ICMPV6 {
            match icmpv6::parse(&pkt) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::debug!(client = id, error = %e, "invalid ICMPv6 from client");
                    return self.discard(DropReason::BadIcmpv6, src, dst);
                }
            }
        } else {
            None
        };
        if matches!(
            icmp,
            Some(Message::RouterAdvertisement(_) | Message::Redirect)
        ) {
            return self.discard(DropReason::NotARouter, src, dst);
        }
        if dst.is_multicast() {
            return self.client_multicast(id, &pkt, icmp, now, out);
        }
        if !self.source_ok(id, src) {
            return self.discard(DropReason::Spoofed, src, dst);
        }
        if self.is_server_address(dst) {
            return self.local(id, &pkt, icmp, now, out);
        }
        if ipv6::is_link_local(dst) {
            return self.discard(DropReason::LinkLocal, src, dst);
        }
        if matches!(
            icmp,
            Some(Message::NeighborSolicitation { .. } | Message::NeighborAdvertisement { .. })
        ) {
            // ND is link-scoped: never forwarded; the link has a static mapping
            return self.discard(DropReason::Unhandled, src, dst);
        }
        if !self.config.forwarding {
            return self.discard(DropReason::ForwardingDisabled, src, dst);
        }
        match self.route(Origin::Client(id), &pkt, now, out) {
            Ok((to, hop)) => self.deliver(to, packet, hop, out),
            Err(d) => d,
        }
    }

    /// Handles one packet from the internal network.
    pub fn handle_from_intranet(&mut self, packet: Bytes, now: Instant, out: &mut Vec<Output>) {
        self.stats.from_intranet += 1;
        let Some(pkt) = Ipv6Packet::new(&packet) else {
            return;
        };
        if self.is_server_address(pkt.dst()) {
            if let Some(reply) = echo_reply_to(&pkt) {
                self.stats.to_intranet += 1;
                out.push(Output::ToIntranet(Frame::new(reply)));
            }
            return;
        }
        if let Ok((to, hop)) = self.route(Origin::Intranet, &pkt, now, out) {
            let _ = self.deliver(to, packet, hop, out);
        }
    }

    /// Whether `src` may be used by client `id`: its own link-local address or an address
    /// in an advertised prefix. An address no client owns is claimed on first use (a
    /// kernel client on a NOARP tunnel skips DAD); one owned by another client is a spoof.
    fn source_ok(&mut self, id: ClientId, src: Ipv6Addr) -> bool {
        if !(ipv6::is_link_local(src) || self.advertised(src)) || self.is_server_address(src) {
            return false;
        }
        match self.neighbors.get(&src) {
            Some(&owner) => owner == id,
            None => self.claim(id, src),
        }
    }

    fn claim(&mut self, id: ClientId, addr: Ipv6Addr) -> bool {
        let max = self.config.max_addresses_per_client;
        let Some(entry) = self.clients.get_mut(&id) else {
            return false;
        };
        if entry.addresses.len() >= max {
            return false;
        }
        entry.addresses.push(addr);
        super::reserve_for_churn(&mut self.neighbors);
        self.neighbors.insert(addr, id);
        true
    }

    fn client_multicast(
        &mut self,
        id: ClientId,
        pkt: &Ipv6Packet<'_>,
        icmp: Option<Message<'_>>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Disposition {
        let (src, dst) = (pkt.src(), pkt.dst());
        match icmp {
            Some(Message::RouterSolicitation) => {
                if !src.is_unspecified() && !self.source_ok(id, src) {
                    return self.discard(DropReason::Spoofed, src, dst);
                }
                self.answer_rs(id, now, out)
            }
            Some(Message::NeighborSolicitation { target })
                if src.is_unspecified() && ipv6::is_solicited_node(dst) =>
            {
                self.dad(id, target, out)
            }
            _ if self.config.auth_mode == AuthMode::Certificates => {
                if !self.source_ok(id, src) {
                    return self.discard(DropReason::Spoofed, src, dst);
                }
                let frame = Frame::new(Bytes::copy_from_slice(pkt.as_bytes()));
                let mut others: Vec<ClientId> =
                    self.clients.keys().copied().filter(|&c| c != id).collect();
                others.sort_unstable();
                for c in others {
                    self.emit_client(c, frame.clone(), out);
                }
                Disposition::Forwarded
            }
            _ => self.discard(DropReason::Multicast, src, dst),
        }
    }

    fn answer_rs(&mut self, id: ClientId, now: Instant, out: &mut Vec<Output>) -> Disposition {
        if !self.config.advertising {
            // a non-advertising interface ignores solicitations
            return Disposition::Local;
        }
        let (burst, interval) = (self.config.rs_burst, self.config.rs_interval);
        if !self
            .clients
            .get_mut(&id)
            .is_some_and(|c| c.rs.take(now, burst, interval))
        {
            self.stats.drops[DropReason::RsRateLimited.index()] += 1;
            tracing::debug!(client = id, "Router Solicitation over the rate limit");
            return Disposition::Dropped(DropReason::RsRateLimited);
        }
        self.stats.ras_sent += 1;
        let ra = self.ra_packet();
        self.emit_client(id, Frame::new(ra), out);
        Disposition::Local
    }

    /// Duplicate Address Detection ([MS-IPHTTPS] 3.2.5.2.2): if another client (or the
    /// server) owns `target`, answer on behalf of the owner with a multicast NA (R flag
    /// clear, no Target Link-Layer Address option); otherwise the prober now owns it.
    fn dad(&mut self, id: ClientId, target: Ipv6Addr, out: &mut Vec<Output>) -> Disposition {
        let owner = self.neighbors.get(&target).copied();
        let taken = self.is_server_address(target) || owner.is_some_and(|o| o != id);
        if taken {
            let d = self.discard(DropReason::DadConflict, Ipv6Addr::UNSPECIFIED, target);
            let na = icmpv6::neighbor_advertisement(
                target,
                ipv6::ALL_NODES,
                target,
                icmpv6::NaFlags::ANNOUNCEMENT,
            );
            self.emit_client(id, Frame::new(na), out);
            return d;
        }
        if owner.is_none() && (ipv6::is_link_local(target) || self.advertised(target)) {
            self.claim(id, target);
        }
        Disposition::Local
    }

    fn local(
        &mut self,
        id: ClientId,
        pkt: &Ipv6Packet<'_>,
        icmp: Option<Message<'_>>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Disposition {
        match icmp {
            Some(Message::EchoRequest { .. }) => {
                if let Some(reply) = echo_reply_to(pkt) {
                    self.emit_client(id, Frame::new(reply), out);
                }
                Disposition::Local
            }
            Some(Message::RouterSolicitation) => self.answer_rs(id, now, out),
            Some(Message::NeighborSolicitation { target }) if self.is_server_address(target) => {
                let na = icmpv6::neighbor_advertisement(
                    target,
                    pkt.src(),
                    target,
                    icmpv6::NaFlags::ROUTER_ANSWER,
                );
                self.emit_client(id, Frame::new(na), out);
                Disposition::Local
            }
            _ => self.discard(DropReason::Unhandled, pkt.src(), pkt.dst()),
        }
    }

    /// Where a packet to forward goes and with which hop limit, or why it does not.
    fn route(
        &mut self,
        from: Origin,
        pkt: &Ipv6Packet<'_>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<(Dest, u8), Disposition> {
        let (src, dst) = (pkt.src(), pkt.dst());
        if pkt.hop_limit() <= 1 {
            let d = self.discard(DropReason::HopLimit, src, dst);
            self.icmp_error(from, (kind::TIME_EXCEEDED, 0, 0), pkt, now, out);
            return Err(d);
        }
        let hop = pkt.hop_limit() - 1;
        let to = if ipv6::prefix_contains(&self.config.client_prefix, dst) {
            self.neighbors.get(&dst).copied().map(Dest::Client)
        } else if ipv6::prefix_contains(&self.config.intranet_prefix, dst) {
            Some(Dest::Intranet)
        } else {
            None
        };
        let Some(to) = to else {
            let d = self.discard(DropReason::NoRoute, src, dst);
            let code = if ipv6::prefix_contains(&self.config.client_prefix, dst) {
                3
            } else {
                0
            };
            self.icmp_error(from, (kind::DEST_UNREACHABLE, code, 0), pkt, now, out);
            return Err(d);
        };
        let mtu = match to {
            Dest::Client(_) => self.config.mtu,
            Dest::Intranet => self.config.intranet_mtu,
        };
        if pkt.as_bytes().len() > mtu {
            let d = self.discard(DropReason::TooBig, src, dst);
            self.icmp_error(from, (kind::PACKET_TOO_BIG, 0, mtu as u32), pkt, now, out);
            return Err(d);
        }
        Ok((to, hop))
    }

    /// Forwards `packet` (already routed to `to`): the packet itself moves on, uncopied.
    fn deliver(&mut self, to: Dest, packet: Bytes, hop: u8, out: &mut Vec<Output>) -> Disposition {
        let frame = Frame::forwarded(packet, hop);
        match to {
            Dest::Client(c) => self.emit_client(c, frame, out),
            Dest::Intranet => {
                self.stats.to_intranet += 1;
                out.push(Output::ToIntranet(frame));
            }
        }
        Disposition::Forwarded
    }

    /// Sends an ICMPv6 error `(type, code, parameter)` back toward the sender of `pkt`,
    /// never about an ICMPv6 error and never to a multicast or unspecified source (RFC
    /// 4443 2.4(e)), and at most as often as the recipient's token bucket allows (2.4(f)).
    fn icmp_error(
        &mut self,
        to: Origin,
        (t, code, param): (u8, u8, u32),
        pkt: &Ipv6Packet<'_>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let src = pkt.src();
        if src.is_unspecified() || src.is_multicast() {
            return;
        }
        if pkt.next_header() == PROTO_ICMPV6
            && pkt.payload().first().is_some_and(|&t| icmpv6::is_error(t))
        {
            return;
        }
        let (burst, interval) = (
            self.config.icmp_error_burst,
            self.config.icmp_error_interval,
        );
        let allowed = match to {
            Origin::Client(id) => self
                .clients
                .get_mut(&id)
                .is_some_and(|c| c.icmp.take(now, burst, interval)),
            Origin::Intranet => self.intranet_icmp.take(now, burst, interval),
        };
        if !allowed {
            self.stats.drops[DropReason::IcmpRateLimited.index()] += 1;
            tracing::debug!(%src, kind = t, "ICMPv6 error over the rate limit");
            return;
        }
        let from = self.config.server_address();
        let err = Frame::new(icmpv6::error(t, code, param, from, src, pkt.as_bytes()));
        match to {
            Origin::Client(id) => self.emit_client(id, err, out),
            Origin::Intranet => {
                self.stats.to_intranet += 1;
                out.push(Output::ToIntranet(err));
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Origin {
    Client(ClientId),
    Intranet,
}

#[derive(Debug, Clone, Copy)]
enum Dest {
    Client(ClientId),
    Intranet,
}

/// The Echo Reply to an Echo Request addressed to us, if `pkt` is one.
pub(crate) fn echo_reply_to(pkt: &Ipv6Packet<'_>) -> Option<Vec<u8>> {
    if pkt.next_header() != PROTO_ICMPV6 {
        return None;
    }
    match icmpv6::parse(pkt) {
        Ok(Message::EchoRequest { id, seq, data }) => {
            Some(icmpv6::echo_reply(pkt.dst(), pkt.src(), id, seq, data))
        }
        _ => None,
    }
}
