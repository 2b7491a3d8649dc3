//! The client side of the link: an IPv6 host on the IP-HTTPS interface.
//!
//! It forms a link-local address with a random interface ID and runs DAD on it (RFC 4862),
//! solicits routers with RFC 4861 retransmission (up to `max_rs` solicitations
//! `rs_interval` apart after a random delay), processes Router Advertisements (default
//! router, MTU option, prefixes), configures a SLAAC address with a random interface ID in
//! each advertised /64 with the A flag and runs DAD on it, keeps each address's valid and
//! preferred lifetimes as RAs set them (RFC 4862 5.5.3 with its two-hour rule: a
//! deprecated address stays usable, an expired one goes), answers Echo Requests, and
//! reports what arrives for the application as [`HostEvent`]s. Its IP layer
//! ([`super::ip`]) fragments what exceeds the path MTU and reassembles what arrives in
//! fragments.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ip::{IpConfig, IpLayer, IpStats};
use crate::wire::icmpv6::{self, Message, RouterAdvert, kind};
use crate::wire::ipv6::{self, Ipv6Packet, PROTO_ICMPV6, PROTO_UDP};
use crate::wire::udp;

/// Timers and limits of the host (RFC 4861 10 constants by default).
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Seed for interface IDs and delays, so runs repeat.
    pub seed: u64,
    /// MAX_RTR_SOLICITATION_DELAY.
    pub rs_max_delay: Duration,
    /// RTR_SOLICITATION_INTERVAL.
    pub rs_interval: Duration,
    /// MAX_RTR_SOLICITATIONS.
    pub max_rs: u32,
    /// RetransTimer for DAD (one probe, DupAddrDetectTransmits = 1).
    pub dad_timeout: Duration,
    /// Interface IDs tried per prefix before giving up on DAD conflicts.
    pub max_dad_attempts: u32,
    /// How often the host confirms its default router is reachable (a unicast Neighbor
    /// Solicitation, RFC 4861 7.3 NUD); this ND traffic also keeps an idle tunnel alive
    /// against the server's idle timeout. `None`: never.
    pub keepalive: Option<Duration>,
    /// The "two hours" of RFC 4862 5.5.3 e): an unauthenticated RA cannot shorten an
    /// address's remaining valid lifetime below it (so a forged RA cannot take addresses
    /// away). Two hours by the RFC; the lab shortens it with its other timers.
    pub two_hours: Duration,
    /// Reassembly and path MTU limits.
    pub ip: IpConfig,
}

/// RFC 4862's two hours.
pub const TWO_HOURS: Duration = Duration::from_secs(2 * 3600);

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            rs_max_delay: Duration::from_secs(1),
            rs_interval: Duration::from_secs(4),
            max_rs: 3,
            dad_timeout: Duration::from_secs(1),
            max_dad_attempts: 3,
            keepalive: Some(Duration::from_secs(30)),
            two_hours: TWO_HOURS,
            ip: IpConfig::default(),
        }
    }
}

impl HostConfig {
    /// Timers short enough for tests and the lab (tens of milliseconds).
    pub fn fast(seed: u64) -> Self {
        Self {
            seed,
            rs_max_delay: Duration::from_millis(10),
            rs_interval: Duration::from_millis(500),
            max_rs: 3,
            dad_timeout: Duration::from_millis(20),
            max_dad_attempts: 3,
            keepalive: Some(Duration::from_secs(30)),
            two_hours: TWO_HOURS,
            ip: IpConfig::default(),
        }
    }

    /// [`HostConfig::fast`] without the RS delay and with optimistic DAD: the host uses
    /// its addresses at once (many clients at a time, in benchmarks and the soak).
    pub fn instant(seed: u64) -> Self {
        Self {
            dad_timeout: Duration::ZERO,
            rs_max_delay: Duration::ZERO,
            ..Self::fast(seed)
        }
    }
}

/// What the host reports to its application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// The address is preferred: DAD passed, or an RA renewed a deprecated address's
    /// preferred lifetime.
    AddressConfigured(Ipv6Addr),
    /// The address's preferred lifetime ran out: it still receives and still serves as a
    /// source when the host has no preferred one (RFC 4862 5.5.4, RFC 6724 rule 3).
    AddressDeprecated(Ipv6Addr),
    /// The address's valid lifetime ran out: it is gone.
    AddressExpired(Ipv6Addr),
    /// DAD found the address in use.
    AddressDuplicate(Ipv6Addr),
    /// A valid Router Advertisement arrived.
    RouterAdvertisement(RouterAdvert),
    /// An Echo Reply arrived.
    EchoReply {
        /// Who answered.
        from: Ipv6Addr,
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// A UDP datagram arrived for one of our addresses.
    Udp {
        /// Sender.
        from: Ipv6Addr,
        /// Sender's port.
        src_port: u16,
        /// Our port.
        dst_port: u16,
        /// Payload length.
        len: usize,
    },
    /// An ICMPv6 error arrived (Destination Unreachable, Packet Too Big, Time Exceeded,
    /// Parameter Problem).
    IcmpError {
        /// Who sent it.
        from: Ipv6Addr,
        /// ICMPv6 type.
        kind: u8,
        /// ICMPv6 code.
        code: u8,
    },
}

/// The host has no address to send from to that destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no source address for {0}: no global address configured")]
pub struct NoSourceAddress(pub Ipv6Addr);

/// An address's state, in Windows' words (`Get-NetIPAddress`'s AddressState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressState {
    /// DAD is running.
    Tentative,
    /// Usable, and chosen as a source.
    Preferred,
    /// Its preferred lifetime ran out: usable, chosen as a source only when nothing
    /// preferred is left.
    Deprecated,
    /// DAD found it in use.
    Duplicate,
}

impl AddressState {
    /// The name Windows shows.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressState::Tentative => "Tentative",
            AddressState::Preferred => "Preferred",
            AddressState::Deprecated => "Deprecated",
            AddressState::Duplicate => "Duplicate",
        }
    }
}

/// One of the host's addresses with its lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressInfo {
    /// The address.
    pub addr: Ipv6Addr,
    /// Its state.
    pub state: AddressState,
    /// When its valid lifetime ends (`None`: infinite).
    pub valid_until: Option<Instant>,
    /// When its preferred lifetime ends (`None`: infinite).
    pub preferred_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddrState {
    Tentative { until: Instant, attempts: u32 },
    Preferred,
    Deprecated,
    Duplicate,
}

#[derive(Debug, Clone)]
struct Address {
    addr: Ipv6Addr,
    prefix: Ipv6Addr,
    state: AddrState,
    valid_until: Option<Instant>,
    preferred_until: Option<Instant>,
}

impl Address {
    fn usable(&self) -> bool {
        matches!(self.state, AddrState::Preferred | AddrState::Deprecated)
    }

    fn info(&self) -> AddressInfo {
        AddressInfo {
            addr: self.addr,
            state: match self.state {
                AddrState::Tentative { .. } => AddressState::Tentative,
                AddrState::Preferred => AddressState::Preferred,
                AddrState::Deprecated => AddressState::Deprecated,
                AddrState::Duplicate => AddressState::Duplicate,
            },
            valid_until: self.valid_until,
            preferred_until: self.preferred_until,
        }
    }
}

/// A lifetime in seconds from an RA as a deadline (`None`: the all-ones infinity).
fn deadline(now: Instant, secs: u32) -> Option<Instant> {
    (secs != u32::MAX).then(|| now + Duration::from_secs(u64::from(secs)))
}

/// What is left of a lifetime at `now` (`None`: infinite).
fn remaining(until: Option<Instant>, now: Instant) -> Option<Duration> {
    until.map(|t| t.saturating_duration_since(now))
}

/// Whether lifetime `a` is longer than `b` (`None` is infinite).
fn longer(a: Option<Duration>, b: Option<Duration>) -> bool {
    match (a, b) {
        (None, None) => false,
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

/// The client's host.
#[derive(Debug)]
pub struct Host {
    config: HostConfig,
    rng: SmallRng,
    addresses: Vec<Address>,
    router: Option<Ipv6Addr>,
    mtu: u32,
    rs_sent: u32,
    next_rs: Option<Instant>,
    next_keepalive: Option<Instant>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<HostEvent>,
    last_ra: Option<RouterAdvert>,
    misdelivered: u64,
    ip: IpLayer,
}

impl Host {
    /// A host that has just seen its link come up at `now`: it starts DAD on a new
    /// link-local address.
    pub fn new(config: HostConfig, now: Instant) -> Self {
        let rng = SmallRng::seed_from_u64(config.seed);
        let ip = IpLayer::new(config.ip, ipv6::MIN_MTU, config.seed);
        let mut h = Self {
            config,
            rng,
            addresses: Vec::new(),
            router: None,
            mtu: ipv6::MIN_MTU as u32,
            rs_sent: 0,
            next_rs: None,
            next_keepalive: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            last_ra: None,
            misdelivered: 0,
            ip,
        };
        h.start_address(
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
            now,
            1,
            (None, None),
        );
        h
    }

    /// Starts DAD on a new address in `prefix` with its (valid, preferred) deadlines.
    fn start_address(
        &mut self,
        prefix: Ipv6Addr,
        now: Instant,
        attempts: u32,
        (valid_until, preferred_until): (Option<Instant>, Option<Instant>),
    ) {
        // a random interface ID with the universal/local bit clear (RFC 4291, RFC 8981 style)
        let iid = self.rng.random::<u64>() & !0x0200_0000_0000_0000;
        let addr = ipv6::with_interface_id(prefix, iid.max(2));
        self.addresses.push(Address {
            addr,
            prefix,
            state: AddrState::Tentative {
                until: now + self.config.dad_timeout,
                attempts,
            },
            valid_until,
            preferred_until,
        });
        self.transmit.push_back(icmpv6::neighbor_solicitation(
            Ipv6Addr::UNSPECIFIED,
            ipv6::solicited_node(addr),
            addr,
        ));
    }

    /// The link-local address once DAD has passed.
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        self.usable().find(|a| ipv6::is_link_local(*a))
    }

    /// The global address the host sends from: the first preferred one, else the first
    /// deprecated one (RFC 6724 rule 3).
    pub fn global(&self) -> Option<Ipv6Addr> {
        let global = |s: AddrState| {
            self.addresses
                .iter()
                .find(move |a| a.state == s && !ipv6::is_link_local(a.addr))
                .map(|a| a.addr)
        };
        global(AddrState::Preferred).or_else(|| global(AddrState::Deprecated))
    }

    /// All usable addresses (preferred and deprecated).
    pub fn addresses(&self) -> Vec<Ipv6Addr> {
        self.usable().collect()
    }

    /// Every address with its state and lifetimes, in the order they were formed.
    pub fn address_table(&self) -> Vec<AddressInfo> {
        self.addresses.iter().map(Address::info).collect()
    }

    fn usable(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.addresses.iter().filter(|a| a.usable()).map(|a| a.addr)
    }

    /// The default router, if an RA with a non-zero router lifetime arrived.
    pub fn default_router(&self) -> Option<Ipv6Addr> {
        self.router
    }

    /// The link MTU (1280 unless an RA says otherwise).
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Unicast packets that arrived for an address this host does not have.
    pub fn misdelivered(&self) -> u64 {
        self.misdelivered
    }

    /// The IP layer's counters (fragments, reassembly, path MTU).
    pub fn ip_stats(&self) -> IpStats {
        self.ip.stats()
    }

    /// The IP layer (path MTUs learnt, reassembly buffers).
    pub fn ip(&self) -> &IpLayer {
        &self.ip
    }

    /// The last Router Advertisement received.
    pub fn last_router_advert(&self) -> Option<&RouterAdvert> {
        self.last_ra.as_ref()
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// When [`Host::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let dad = self.addresses.iter().filter_map(|a| match a.state {
            AddrState::Tentative { until, .. } => Some(until),
            _ => None,
        });
        let lifetimes = self.addresses.iter().flat_map(|a| {
            let preferred = (a.state == AddrState::Preferred)
                .then_some(a.preferred_until)
                .flatten();
            let valid = (a.state != AddrState::Duplicate)
                .then_some(a.valid_until)
                .flatten();
            preferred.into_iter().chain(valid)
        });
        dad.chain(lifetimes)
            .chain(self.next_rs)
            .chain(self.next_keepalive)
            .chain(self.ip.poll_timeout())
            .min()
    }

    /// Advances timers to `now`: DAD completions, address lifetimes, Router
    /// Solicitations, keepalives and reassembly timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ip.handle_timeout(now, &mut self.transmit);
        let mut done = Vec::new();
        for a in &mut self.addresses {
            if let AddrState::Tentative { until, .. } = a.state
                && now >= until
            {
                a.state = AddrState::Preferred;
                done.push(a.addr);
            }
        }
        for &addr in &done {
            self.events.push_back(HostEvent::AddressConfigured(addr));
        }
        self.age_addresses(now);
        for addr in done {
            if ipv6::is_link_local(addr) && self.router.is_none() && self.last_ra.is_none() {
                let delay = self.random_delay(self.config.rs_max_delay);
                self.next_rs = Some(now + delay);
            }
        }
        if let Some(at) = self.next_rs
            && now >= at
        {
            if let Some(ll) = self.link_local() {
                self.transmit.push_back(icmpv6::router_solicitation(ll));
                self.rs_sent += 1;
            }
            self.next_rs =
                (self.rs_sent < self.config.max_rs).then(|| now + self.config.rs_interval);
        }
        if let Some(at) = self.next_keepalive
            && now >= at
        {
            if let (Some(router), Some(ll)) = (self.router, self.link_local()) {
                self.transmit
                    .push_back(icmpv6::neighbor_solicitation(ll, router, router));
            }
            self.next_keepalive = self.config.keepalive.map(|k| now + k);
        }
    }

    /// Deprecates the addresses whose preferred lifetime ran out and removes those whose
    /// valid lifetime did (RFC 4862 5.5.4).
    fn age_addresses(&mut self, now: Instant) {
        let ended = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        for a in &mut self.addresses {
            if a.state == AddrState::Preferred && ended(a.preferred_until) && !ended(a.valid_until)
            {
                a.state = AddrState::Deprecated;
                tracing::info!(address = %a.addr, "address deprecated");
                self.events.push_back(HostEvent::AddressDeprecated(a.addr));
            }
        }
        let events = &mut self.events;
        self.addresses.retain(|a| {
            let gone = a.state != AddrState::Duplicate && ended(a.valid_until);
            if gone {
                tracing::info!(address = %a.addr, "address expired");
                events.push_back(HostEvent::AddressExpired(a.addr));
            }
            !gone
        });
    }

    fn random_delay(&mut self, max: Duration) -> Duration {
        let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(if ms == 0 {
            0
        } else {
            self.rng.random_range(0..=ms)
        })
    }

    fn owns(&self, a: Ipv6Addr) -> bool {
        self.usable().any(|x| x == a)
    }

    /// Handles one packet received from the tunnel.
    pub fn handle_packet(&mut self, packet: &[u8], now: Instant) {
        let Some(pkt) = Ipv6Packet::new(packet) else {
            return;
        };
        let dst = pkt.dst();
        if !dst.is_multicast() && !self.addresses.iter().any(|a| a.addr == dst) {
            self.misdelivered += 1;
            return;
        }
        let Some(whole) = self.ip.receive(packet, now, &mut self.transmit) else {
            return;
        };
        let Some(pkt) = Ipv6Packet::new(&whole) else {
            return;
        };
        if matches!(whole, std::borrow::Cow::Owned(_)) && is_nd(&pkt) {
            // RFC 6980: Neighbor Discovery never comes in fragments
            return;
        }
        match pkt.next_header() {
            PROTO_ICMPV6 => self.handle_icmp(&pkt, now),
            PROTO_UDP if self.owns(dst) => {
                if let Some(d) = udp::parse(&pkt) {
                    self.events.push_back(HostEvent::Udp {
                        from: pkt.src(),
                        src_port: d.src_port,
                        dst_port: d.dst_port,
                        len: d.data.len(),
                    });
                }
            }
            _ => {}
        }
    }

    fn handle_icmp(&mut self, pkt: &Ipv6Packet<'_>, now: Instant) {
        let msg = match icmpv6::parse(pkt) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, src = %pkt.src(), "host discarded invalid ICMPv6");
                return;
            }
        };
        match msg {
            Message::EchoRequest { id, seq, data } if self.owns(pkt.dst()) => {
                let reply = icmpv6::echo_reply(pkt.dst(), pkt.src(), id, seq, data);
                self.ip.send(reply, now, &mut self.transmit);
            }
            Message::EchoReply { id, seq, .. } => {
                self.events.push_back(HostEvent::EchoReply {
                    from: pkt.src(),
                    id,
                    seq,
                });
            }
            Message::RouterAdvertisement(ra) if ipv6::is_link_local(pkt.src()) => {
                self.handle_ra(pkt.src(), ra, now);
            }
            Message::NeighborSolicitation { target } => {
                if pkt.src().is_unspecified() {
                    self.dad_conflict(target, now);
                } else if self.owns(target) {
                    let na = icmpv6::neighbor_advertisement(
                        target,
                        pkt.src(),
                        target,
                        icmpv6::NaFlags::HOST_ANSWER,
                    );
                    self.transmit.push_back(na);
                }
            }
            Message::NeighborAdvertisement { target, .. } => self.dad_conflict(target, now),
            Message::PacketTooBig { mtu, invoking } => {
                self.ip.paths_mut().packet_too_big(invoking, mtu, now);
                self.icmp_error(pkt);
            }
            Message::DestUnreachable { .. }
            | Message::TimeExceeded { .. }
            | Message::ParameterProblem { .. } => self.icmp_error(pkt),
            _ => {}
        }
    }

    fn icmp_error(&mut self, pkt: &Ipv6Packet<'_>) {
        let b = pkt.payload();
        self.events.push_back(HostEvent::IcmpError {
            from: pkt.src(),
            kind: b[0],
            code: b[1],
        });
    }

    fn handle_ra(&mut self, from: Ipv6Addr, ra: RouterAdvert, now: Instant) {
        self.next_rs = None;
        self.router = (ra.router_lifetime > 0).then_some(from);
        if self.next_keepalive.is_none() {
            self.next_keepalive = self.config.keepalive.map(|k| now + k);
        }
        if let Some(mtu) = ra.mtu
            && (ipv6::MIN_MTU as u32..=65535).contains(&mtu)
        {
            self.mtu = mtu;
            self.ip.paths_mut().set_link_mtu(mtu as usize);
        }
        for p in &ra.prefixes {
            if !p.autonomous || p.len != 64 {
                continue;
            }
            if p.preferred_lifetime > p.valid_lifetime
                || p.prefix.is_multicast()
                || ipv6::is_link_local(p.prefix)
            {
                continue;
            }
            let valid = deadline(now, p.valid_lifetime);
            let preferred = deadline(now, p.preferred_lifetime);
            let mut have = false;
            for a in self
                .addresses
                .iter_mut()
                .filter(|a| a.prefix == p.prefix && a.state != AddrState::Duplicate)
            {
                have = true;
                a.preferred_until = preferred;
                a.valid_until =
                    Self::renewed_valid(a.valid_until, valid, now, self.config.two_hours);
                if a.state == AddrState::Deprecated && preferred.is_none_or(|t| t > now) {
                    a.state = AddrState::Preferred;
                    self.events.push_back(HostEvent::AddressConfigured(a.addr));
                }
            }
            if !have && p.valid_lifetime > 0 {
                self.start_address(p.prefix, now, 1, (valid, preferred));
            }
        }
        self.age_addresses(now);
        self.events
            .push_back(HostEvent::RouterAdvertisement(ra.clone()));
        self.last_ra = Some(ra);
    }

    /// The valid lifetime an address keeps after an RA advertises `advertised` for its
    /// prefix (RFC 4862 5.5.3 e): the advertised one when it is longer than two hours or
    /// than what remains; else what remains when that is two hours or less (the RA is
    /// not authenticated); else two hours.
    fn renewed_valid(
        current: Option<Instant>,
        advertised: Option<Instant>,
        now: Instant,
        two_hours: Duration,
    ) -> Option<Instant> {
        let left = remaining(current, now);
        let offered = remaining(advertised, now);
        if longer(offered, Some(two_hours)) || longer(offered, left) {
            advertised
        } else if !longer(left, Some(two_hours)) {
            current
        } else {
            Some(now + two_hours)
        }
    }

    /// Someone else probes or advertises `target`: if it is one of our tentative
    /// addresses, DAD has failed and a new interface ID is tried.
    fn dad_conflict(&mut self, target: Ipv6Addr, now: Instant) {
        let Some(i) = self.addresses.iter().position(|a| a.addr == target) else {
            return;
        };
        let AddrState::Tentative { attempts, .. } = self.addresses[i].state else {
            if self.addresses[i].state == AddrState::Preferred {
                tracing::warn!(%target, "another node advertises our address");
            }
            return;
        };
        self.addresses[i].state = AddrState::Duplicate;
        self.events.push_back(HostEvent::AddressDuplicate(target));
        tracing::info!(%target, "DAD detected a duplicate address");
        if attempts < self.config.max_dad_attempts {
            let prefix = self.addresses[i].prefix;
            let lifetimes = (
                self.addresses[i].valid_until,
                self.addresses[i].preferred_until,
            );
            self.start_address(prefix, now, attempts + 1, lifetimes);
        }
    }

    fn source_for(&self, dst: Ipv6Addr) -> Result<Ipv6Addr, NoSourceAddress> {
        let pick = if ipv6::is_link_local(dst) {
            self.link_local()
        } else {
            self.global()
        };
        pick.ok_or(NoSourceAddress(dst))
    }

    /// Queues an Echo Request of `size` data bytes to `dst`.
    pub fn send_ping(
        &mut self,
        dst: Ipv6Addr,
        id: u16,
        seq: u16,
        size: usize,
        now: Instant,
    ) -> Result<(), NoSourceAddress> {
        let src = self.source_for(dst)?;
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let p = icmpv6::echo_request(src, dst, id, seq, &data);
        self.ip.send(p, now, &mut self.transmit);
        Ok(())
    }

    /// Queues a UDP datagram to `dst`.
    pub fn send_udp(
        &mut self,
        dst: Ipv6Addr,
        src_port: u16,
        dst_port: u16,
        data: &[u8],
        now: Instant,
    ) -> Result<(), NoSourceAddress> {
        let src = self.source_for(dst)?;
        let p = udp::build(src, dst, src_port, dst_port, data);
        self.ip.send(p, now, &mut self.transmit);
        Ok(())
    }
}

/// Whether a packet is a Neighbor Discovery message (RS, RA, NS, NA, Redirect).
fn is_nd(pkt: &Ipv6Packet<'_>) -> bool {
    pkt.next_header() == PROTO_ICMPV6
        && pkt
            .payload()
            .first()
            .is_some_and(|t| (kind::ROUTER_SOLICITATION..=kind::REDIRECT).contains(t))
}
