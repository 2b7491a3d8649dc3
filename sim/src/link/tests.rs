//! The router and the host together on explicit timestamps, with no I/O.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Frame;
use super::host::{AddressState, Host, HostConfig, HostEvent, TWO_HOURS};
use super::intranet::IntranetHost;
use super::ip::IpConfig;
use super::router::{AuthMode, ClientId, DropReason, Output, Publish, Router, RouterConfig};
use crate::wire::icmpv6::{self, kind};
use crate::wire::{ipv6, udp};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A router, clients and an intranet host joined by in-memory links.
struct World {
    now: Instant,
    router: Router,
    hosts: Vec<(ClientId, Host)>,
    intranet: IntranetHost,
    out: Vec<Output>,
}

impl World {
    fn new(clients: usize, tweak: impl FnOnce(&mut RouterConfig)) -> Self {
        let mut cfg = RouterConfig::new(
            "2001:db8:1:1000::/64".parse().unwrap(),
            "2001:db8:1::/48".parse().unwrap(),
        );
        tweak(&mut cfg);
        let now = Instant::now();
        let mut router = Router::new(cfg);
        let hosts = (0..clients)
            .map(|i| {
                let id = router.add_client(now).unwrap();
                (id, Host::new(HostConfig::fast(i as u64 + 1), now))
            })
            .collect();
        Self {
            now,
            router,
            hosts,
            intranet: IntranetHost::new(a("2001:db8:1::10"), 1500, IpConfig::default()),
            out: Vec::new(),
        }
    }

    /// Moves packets until nothing is in flight, then advances time by `step`, `n` times.
    fn run(&mut self, step: Duration, n: usize) {
        for _ in 0..n {
            self.pump();
            self.now += step;
            for (_, h) in &mut self.hosts {
                h.handle_timeout(self.now);
            }
            self.router.handle_timeout(self.now, &mut self.out);
            self.intranet.handle_timeout(self.now);
        }
        self.pump();
    }

    /// Hands what the intranet host queued to the router.
    fn drain_intranet(&mut self) -> bool {
        let mut moved = false;
        while let Some(p) = self.intranet.poll_transmit() {
            moved = true;
            self.router
                .handle_from_intranet(Bytes::from(p), self.now, &mut self.out);
        }
        moved
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.hosts.len() {
                while let Some(p) = self.hosts[i].1.poll_transmit() {
                    moved = true;
                    let id = self.hosts[i].0;
                    self.router
                        .handle_from_client(id, Bytes::from(p), self.now, &mut self.out);
                }
            }
            for o in std::mem::take(&mut self.out) {
                moved = true;
                match o {
                    Output::ToClient(id, f) => {
                        if let Some((_, h)) = self.hosts.iter_mut().find(|(i, _)| *i == id) {
                            h.handle_packet(&f.to_vec(), self.now);
                        }
                    }
                    Output::ToIntranet(f) => self.intranet.handle_packet(&f.to_vec(), self.now),
                }
            }
            moved |= self.drain_intranet();
            if !moved {
                break;
            }
        }
    }

    fn events(&mut self, i: usize) -> Vec<HostEvent> {
        std::iter::from_fn(|| self.hosts[i].1.poll_event()).collect()
    }

    fn up(&mut self) {
        self.run(Duration::from_millis(10), 50);
    }
}

#[test]
fn host_gets_ra_with_published_prefix_and_configures_slaac_address() {
    let mut w = World::new(1, |_| {});
    w.up();
    let h = &w.hosts[0].1;
    let ra = h.last_router_advert().expect("RA received");
    assert_eq!(ra.mtu, Some(1280));
    assert_eq!(ra.prefixes.len(), 1);
    assert_eq!(ra.prefixes[0].prefix, a("2001:db8:1:1000::"));
    assert_eq!(ra.prefixes[0].valid_lifetime, u32::MAX);
    let g = h.global().expect("global address");
    assert!(w.router.config().client_prefix.contains(&g));
    assert_eq!(h.default_router(), Some(a("fe80::1")));
    assert_eq!(w.router.client_addresses(w.hosts[0].0).len(), 2);
    let mut mine = h.addresses();
    mine.sort();
    let mut want = vec![h.link_local().unwrap(), g];
    want.sort();
    assert_eq!(
        mine, want,
        "the host lists its link-local and global addresses"
    );
    assert_eq!(h.mtu(), 1280);
    assert_eq!(h.misdelivered(), 0);
    // a unicast packet for an address the host does not have is counted, not taken
    let h = &mut w.hosts[0].1;
    let stray = udp::build(a("2001:db8:1::10"), a("2001:db8:1:1000::dead"), 9, 9, b"x");
    h.handle_packet(&stray, w.now);
    assert_eq!(h.misdelivered(), 1);
    assert!(
        h.poll_event()
            .is_none_or(|e| !matches!(e, HostEvent::Udp { .. }))
    );
}

#[test]
fn the_ra_mtu_option_sets_the_host_link_mtu() {
    let mut w = World::new(1, |c| c.mtu = 1400);
    w.up();
    let h = &w.hosts[0].1;
    assert_eq!(h.last_router_advert().unwrap().mtu, Some(1400));
    assert_eq!(h.mtu(), 1400);
    assert_eq!(
        h.ip().paths().link_mtu(),
        1400,
        "and its IP layer fragments to it"
    );
}

#[test]
fn unpublished_route_gives_ra_without_prefix_and_only_link_local() {
    let mut w = World::new(1, |c| c.routes[0].publish = Publish::No);
    w.up();
    let h = &w.hosts[0].1;
    assert_eq!(h.last_router_advert().unwrap().prefixes, vec![]);
    assert!(h.global().is_none());
    assert!(h.link_local().is_some());
}

#[test]
fn publish_age_uses_finite_lifetimes() {
    let mut w = World::new(1, |c| {
        c.routes[0].publish = Publish::Age;
        c.routes[0].valid_lifetime = 3600;
        c.routes[0].preferred_lifetime = 1800;
    });
    w.up();
    let p = w.hosts[0].1.last_router_advert().unwrap().prefixes[0];
    assert_eq!((p.valid_lifetime, p.preferred_lifetime), (3600, 1800));
}

/// The state of client `i`'s global address, if it has one.
fn global_state(w: &World, i: usize) -> Option<AddressState> {
    let h = &w.hosts[i].1;
    let g = h.global()?;
    h.address_table()
        .into_iter()
        .find(|x| x.addr == g)
        .map(|x| x.state)
}

/// Client `i` pings the intranet host: whether the reply came back.
fn pings_intranet(w: &mut World, i: usize, seq: u16) -> bool {
    let _ = w.events(i);
    if w.hosts[i]
        .1
        .send_ping(a("2001:db8:1::10"), 1, seq, 8, w.now)
        .is_err()
    {
        return false;
    }
    w.pump();
    w.events(i)
        .iter()
        .any(|e| matches!(e, HostEvent::EchoReply { seq: s, .. } if *s == seq))
}

#[test]
fn an_aged_address_deprecates_then_expires_with_the_advertised_lifetimes() {
    let mut w = World::new(1, |c| {
        c.routes[0].publish = Publish::Age;
        c.routes[0].valid_lifetime = 60;
        c.routes[0].preferred_lifetime = 30;
    });
    w.up();
    let g = w.hosts[0]
        .1
        .global()
        .expect("an address from the aged prefix");
    assert_eq!(global_state(&w, 0), Some(AddressState::Preferred));
    let t0 = w.now;
    let _ = w.events(0);
    // just before the preferred lifetime ends: still preferred
    w.run(Duration::from_secs(1), 28);
    assert_eq!(global_state(&w, 0), Some(AddressState::Preferred));
    w.run(Duration::from_secs(1), 2);
    assert!(w.now >= t0 + Duration::from_secs(30));
    assert_eq!(global_state(&w, 0), Some(AddressState::Deprecated));
    assert!(w.events(0).contains(&HostEvent::AddressDeprecated(g)));
    // deprecated, and the only global address: still the source, still answered
    assert_eq!(w.hosts[0].1.global(), Some(g));
    assert!(pings_intranet(&mut w, 0, 1));
    w.run(Duration::from_secs(1), 28);
    assert_eq!(w.hosts[0].1.global(), Some(g), "valid until 60 s");
    w.run(Duration::from_secs(1), 2);
    assert_eq!(
        w.hosts[0].1.global(),
        None,
        "gone once the valid lifetime ran out"
    );
    assert!(w.events(0).contains(&HostEvent::AddressExpired(g)));
    assert!(!w.hosts[0].1.addresses().contains(&g));
    assert!(!pings_intranet(&mut w, 0, 2), "no source address left");
}

/// A lab whose route is published with Age lifetimes of a day, up, then reconfigured
/// with `valid` and `preferred` (an RA goes out at once).
fn readvertised(valid: u32, preferred: u32) -> (World, Ipv6Addr, Instant) {
    let mut w = World::new(1, |c| {
        c.routes[0].publish = Publish::Age;
        c.routes[0].valid_lifetime = 86_400;
        c.routes[0].preferred_lifetime = 86_400;
    });
    w.up();
    let g = w.hosts[0].1.global().unwrap();
    let mut cfg = w.router.config().clone();
    cfg.routes[0].valid_lifetime = valid;
    cfg.routes[0].preferred_lifetime = preferred;
    w.router.reconfigure(cfg, w.now);
    let _ = w.events(0);
    w.run(Duration::from_millis(10), 1);
    let now = w.now;
    (w, g, now)
}

fn valid_left(w: &World, g: Ipv6Addr) -> Option<Duration> {
    let x = w.hosts[0]
        .1
        .address_table()
        .into_iter()
        .find(|x| x.addr == g)?;
    x.valid_until.map(|t| t.saturating_duration_since(w.now))
}

#[test]
fn the_two_hour_rule_keeps_an_address_two_hours_after_an_ra_says_zero() {
    // lifetimes 0 for a prefix whose addresses have a day left: deprecated at once, but
    // valid for two more hours (RFC 4862 5.5.3 e), not zero
    let (mut w, g, t) = readvertised(0, 0);
    assert_eq!(global_state(&w, 0), Some(AddressState::Deprecated));
    let left = valid_left(&w, g).expect("finite");
    assert!(
        left <= TWO_HOURS && left > TWO_HOURS - Duration::from_secs(1),
        "{left:?}"
    );
    w.run(Duration::from_secs(60), 119);
    assert_eq!(w.hosts[0].1.global(), Some(g), "still there at 1 h 59 min");
    w.run(Duration::from_secs(60), 1);
    assert!(w.now >= t + TWO_HOURS);
    assert_eq!(w.hosts[0].1.global(), None, "gone at two hours");
}

#[test]
fn the_two_hour_rule_takes_a_longer_lifetime_and_ignores_a_shorter_one_under_two_hours() {
    // 10 minutes offered for an address with a day left: two hours
    let (mut w, g, _) = readvertised(600, 600);
    let left = valid_left(&w, g).unwrap();
    assert!(left > TWO_HOURS - Duration::from_secs(1) && left <= TWO_HOURS);
    assert_eq!(global_state(&w, 0), Some(AddressState::Preferred));
    // with two hours or less left, a shorter offer is ignored
    let mut cfg = w.router.config().clone();
    cfg.routes[0].valid_lifetime = 60;
    w.router.reconfigure(cfg, w.now);
    w.run(Duration::from_millis(10), 1);
    let after = valid_left(&w, g).unwrap();
    assert!(after > Duration::from_secs(3600), "{after:?}");
    // a longer one than what is left is taken, though under two hours
    w.run(Duration::from_secs(60), 10);
    let mut cfg = w.router.config().clone();
    cfg.routes[0].valid_lifetime = 7000;
    cfg.routes[0].preferred_lifetime = 7000;
    w.router.reconfigure(cfg, w.now);
    w.run(Duration::from_millis(10), 1);
    let longer = valid_left(&w, g).unwrap();
    assert!(
        longer > Duration::from_secs(6999) && longer <= Duration::from_secs(7000),
        "{longer:?}"
    );
}

#[test]
fn an_ra_renews_a_deprecated_address() {
    let (mut w, g, _) = readvertised(86_400, 0);
    assert_eq!(global_state(&w, 0), Some(AddressState::Deprecated));
    let mut cfg = w.router.config().clone();
    cfg.routes[0].preferred_lifetime = 3600;
    w.router.reconfigure(cfg, w.now);
    w.run(Duration::from_millis(10), 1);
    assert_eq!(global_state(&w, 0), Some(AddressState::Preferred));
    assert!(w.events(0).contains(&HostEvent::AddressConfigured(g)));
}

#[test]
fn an_ra_during_dad_does_not_make_a_tentative_address_usable() {
    let mut w = World::new(1, |_| {});
    // step until the RA has started DAD on a global address
    let mut tentative = None;
    for _ in 0..100 {
        w.run(Duration::from_millis(1), 1);
        tentative = w.hosts[0]
            .1
            .address_table()
            .into_iter()
            .find(|a| !ipv6::is_link_local(a.addr) && a.state == AddressState::Tentative);
        if tentative.is_some() {
            break;
        }
    }
    let t = tentative.expect("DAD started on a global address");
    // another RA at once (the prefix's lifetimes change), before DAD ends
    let mut cfg = w.router.config().clone();
    cfg.routes[0].publish = Publish::Age;
    cfg.routes[0].valid_lifetime = 86_400;
    cfg.routes[0].preferred_lifetime = 86_400;
    let _ = w.events(0);
    w.router.reconfigure(cfg, w.now);
    w.router.handle_timeout(w.now, &mut w.out);
    w.pump();
    assert_eq!(w.hosts[0].1.global(), None, "still tentative");
    assert!(!w.events(0).contains(&HostEvent::AddressConfigured(t.addr)));
}

#[test]
fn an_ra_with_lifetimes_0_for_a_deprecated_address_changes_nothing() {
    let (mut w, g, _) = readvertised(0, 0);
    let _ = w.events(0);
    // the same RA again: no flicker through Preferred
    let mut cfg = w.router.config().clone();
    cfg.mtu = 1400;
    w.router.reconfigure(cfg, w.now);
    w.run(Duration::from_millis(10), 1);
    assert_eq!(w.hosts[0].1.last_router_advert().unwrap().mtu, Some(1400));
    assert_eq!(global_state(&w, 0), Some(AddressState::Deprecated));
    let ev = w.events(0);
    assert!(!ev.contains(&HostEvent::AddressConfigured(g)), "{ev:?}");
    assert!(!ev.contains(&HostEvent::AddressDeprecated(g)), "{ev:?}");
}

#[test]
fn a_new_prefix_with_valid_lifetime_0_forms_no_address() {
    let mut w = World::new(1, |c| {
        c.routes[0].publish = Publish::Age;
        c.routes[0].valid_lifetime = 0;
        c.routes[0].preferred_lifetime = 0;
    });
    w.up();
    assert_eq!(w.hosts[0].1.last_router_advert().unwrap().prefixes.len(), 1);
    assert_eq!(w.hosts[0].1.global(), None);
    let ev = w.events(0);
    assert!(
        !ev.iter().any(|e| matches!(e, HostEvent::AddressExpired(_))),
        "no address was even started: {ev:?}"
    );
}

#[test]
fn after_unpublishing_the_router_drops_what_the_remaining_addresses_send() {
    let (mut w, g, _) = readvertised(0, 0);
    assert!(
        pings_intranet(&mut w, 0, 1),
        "published: a deprecated address still works"
    );
    let mut cfg = w.router.config().clone();
    cfg.routes[0].publish = Publish::No;
    w.router.reconfigure(cfg, w.now);
    w.run(Duration::from_millis(10), 1);
    assert_eq!(w.hosts[0].1.last_router_advert().unwrap().prefixes, vec![]);
    assert_eq!(
        w.hosts[0].1.global(),
        Some(g),
        "an RA without the prefix removes nothing"
    );
    let before = w.router.stats().dropped(DropReason::Spoofed);
    assert!(!pings_intranet(&mut w, 0, 2));
    assert_eq!(w.router.stats().dropped(DropReason::Spoofed), before + 1);
}

#[test]
fn advertising_disabled_sends_no_ra_and_rs_retransmits_three_times() {
    let mut w = World::new(1, |c| c.advertising = false);
    w.run(Duration::from_millis(100), 40);
    assert!(w.hosts[0].1.last_router_advert().is_none());
    assert_eq!(w.router.stats().ras_sent, 0);
    // the host gave up after max_rs solicitations: no timer remains
    assert_eq!(w.hosts[0].1.poll_timeout(), None);
}

/// What a lone host sends over `ms` milliseconds of 10 ms ticks: (RS, NS) counts.
fn solicitations(h: &mut Host, t0: Instant, ms: u64) -> (usize, usize) {
    let (mut rs, mut ns) = (0, 0);
    for i in 0..=ms / 10 {
        h.handle_timeout(t0 + Duration::from_millis(i * 10));
        while let Some(p) = h.poll_transmit() {
            match icmpv6::parse(&ipv6::Ipv6Packet::new(&p).unwrap()) {
                Ok(icmpv6::Message::RouterSolicitation) => rs += 1,
                Ok(icmpv6::Message::NeighborSolicitation { .. }) => ns += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (rs, ns)
}

#[test]
fn an_unanswered_host_solicits_exactly_max_rs_times() {
    let t0 = Instant::now();
    let mut h = Host::new(HostConfig::fast(5), t0);
    // fast: 3 solicitations 500 ms apart, then silence
    assert_eq!(solicitations(&mut h, t0, 5000), (3, 1));
}

#[test]
fn a_host_that_heard_an_ra_before_its_link_local_was_ready_does_not_solicit() {
    let t0 = Instant::now();
    let mut h = Host::new(HostConfig::fast(5), t0);
    let ra = RouterConfig::new(
        "2001:db8:1:1000::/64".parse().unwrap(),
        "2001:db8:1::/48".parse().unwrap(),
    )
    .router_advert();
    // an unsolicited RA arrives while the link-local address is still tentative
    h.handle_packet(
        &icmpv6::router_advertisement(a("fe80::1"), ipv6::ALL_NODES, &ra),
        t0,
    );
    let (rs, _) = solicitations(&mut h, t0, 3000);
    assert_eq!(
        rs, 0,
        "RFC 4861 6.3.7: a host with a router does not solicit"
    );
    assert!(h.global().is_some());
}

#[test]
fn ping_intranet_and_other_client_through_router() {
    let mut w = World::new(2, |_| {});
    w.up();
    let g1 = w.hosts[1].1.global().unwrap();
    w.hosts[0]
        .1
        .send_ping(a("2001:db8:1::10"), 1, 1, 56, w.now)
        .unwrap();
    w.hosts[0].1.send_ping(g1, 1, 2, 56, w.now).unwrap();
    w.up();
    let ev = w.events(0);
    assert!(ev.contains(&HostEvent::EchoReply {
        from: a("2001:db8:1::10"),
        id: 1,
        seq: 1
    }));
    assert!(ev.contains(&HostEvent::EchoReply {
        from: g1,
        id: 1,
        seq: 2
    }));
}

#[test]
fn forwarding_disabled_drops_client_traffic() {
    let mut w = World::new(1, |c| c.forwarding = false);
    w.up();
    assert!(w.hosts[0].1.global().is_some(), "address still configured");
    w.hosts[0]
        .1
        .send_ping(a("2001:db8:1::10"), 1, 1, 8, w.now)
        .unwrap();
    w.up();
    assert!(
        !w.events(0)
            .iter()
            .any(|e| matches!(e, HostEvent::EchoReply { .. }))
    );
    assert_eq!(w.router.stats().dropped(DropReason::ForwardingDisabled), 1);
}

#[test]
fn spoofed_sources_are_dropped_and_counted() {
    let mut w = World::new(2, |_| {});
    w.up();
    let (id0, g1) = (w.hosts[0].0, w.hosts[1].1.global().unwrap());
    for src in [g1, a("2001:db8:1::99"), a("2001:db8:ffff::1")] {
        let p = icmpv6::echo_request(src, a("2001:db8:1::10"), 1, 1, b"x");
        w.router
            .handle_from_client(id0, Bytes::from(p), w.now, &mut w.out);
    }
    assert!(w.out.is_empty());
    assert_eq!(w.router.stats().dropped(DropReason::Spoofed), 3);
    assert_eq!(w.intranet.stats().echo_replies_sent, 0);
}

#[test]
fn dad_conflict_is_answered_with_forged_na_on_behalf_of_owner() {
    let mut w = World::new(2, |_| {});
    w.up();
    let (id1, g0) = (w.hosts[1].0, w.hosts[0].1.global().unwrap());
    let probe = icmpv6::neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(g0), g0);
    w.router
        .handle_from_client(id1, Bytes::from(probe), w.now, &mut w.out);
    assert_eq!(w.out.len(), 1);
    let Output::ToClient(to, f) = &w.out[0] else {
        panic!("not to client")
    };
    assert_eq!(*to, id1);
    let bytes = f.to_vec();
    let pkt = ipv6::Ipv6Packet::new(&bytes).unwrap();
    assert_eq!(pkt.src(), g0);
    assert!(pkt.dst().is_multicast());
    assert_eq!(
        icmpv6::parse(&pkt).unwrap(),
        icmpv6::Message::NeighborAdvertisement {
            target: g0,
            router: false,
            solicited: false,
            override_: true
        }
    );
    assert_eq!(bytes.len(), 40 + 24, "no Target Link-Layer Address option");
}

#[test]
fn client_multicast_other_than_rs_and_dad_is_dropped_and_ra_from_client_too() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, ll) = (w.hosts[0].0, w.hosts[0].1.link_local().unwrap());
    let mc = udp::build(ll, ipv6::ALL_NODES, 1, 2, b"x");
    w.router
        .handle_from_client(id, Bytes::from(mc), w.now, &mut w.out);
    let ra = icmpv6::router_advertisement(ll, ipv6::ALL_NODES, &w.router.config().router_advert());
    w.router
        .handle_from_client(id, Bytes::from(ra), w.now, &mut w.out);
    let lu = udp::build(ll, a("fe80::99"), 1, 2, b"x");
    w.router
        .handle_from_client(id, Bytes::from(lu), w.now, &mut w.out);
    assert!(w.out.is_empty());
    let s = w.router.stats();
    assert_eq!(
        (
            s.dropped(DropReason::Multicast),
            s.dropped(DropReason::NotARouter),
            s.dropped(DropReason::LinkLocal)
        ),
        (1, 1, 1)
    );
}

#[test]
fn the_packet_ledger_fails_when_one_packet_is_unaccounted() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, g) = (w.hosts[0].0, w.hosts[0].1.global().unwrap());
    for dst in [a("2001:db8:1::10"), a("2001:db8:1:1000::99"), a("fe80::99")] {
        let p = udp::build(g, dst, 1, 2, b"x");
        w.router
            .handle_from_client(id, Bytes::from(p), w.now, &mut w.out);
    }
    let s = w.router.stats().clone();
    assert_eq!(s.reconcile(), Ok(()));
    assert_eq!(s.client_drops[DropReason::NoRoute as usize], 1);
    assert_eq!(s.client_drops[DropReason::LinkLocal as usize], 1);
    // a packet received and never given a disposition
    let mut lost = s.clone();
    lost.from_clients += 1;
    let e = lost.reconcile().unwrap_err();
    assert_eq!(e.received, e.forwarded + e.local + e.dropped + 1);
    assert!(e.to_string().contains("packet(s) from clients"), "{e}");
    // or counted twice
    let mut twice = s;
    twice.local_from_clients += 1;
    assert!(twice.reconcile().is_err());
}

#[test]
fn oversized_packet_toward_a_client_gets_packet_too_big() {
    let mut w = World::new(1, |_| {});
    w.up();
    let g = w.hosts[0].1.global().unwrap();
    w.intranet.ping(g, 9, 1400, w.now);
    w.pump();
    assert_eq!(w.intranet.stats().packet_too_big, vec![1280]);
    assert_eq!(w.router.stats().dropped(DropReason::TooBig), 1);
}

#[test]
fn hop_limit_and_unknown_destinations_get_icmp_errors() {
    let mut w = World::new(1, |_| {});
    w.up();
    let g = w.hosts[0].1.global().unwrap();
    let mut p = icmpv6::echo_request(g, a("2001:db8:1::10"), 1, 1, b"x");
    p[7] = 1;
    // checksum does not cover the hop limit, so the packet stays valid
    w.router
        .handle_from_client(w.hosts[0].0, Bytes::from(p), w.now, &mut w.out);
    let p = icmpv6::echo_request(g, a("2001:db8:1:1000::77"), 1, 2, b"x");
    w.router
        .handle_from_client(w.hosts[0].0, Bytes::from(p), w.now, &mut w.out);
    w.pump();
    let kinds: Vec<(u8, u8)> = w
        .events(0)
        .into_iter()
        .filter_map(|e| match e {
            HostEvent::IcmpError { kind, code, .. } => Some((kind, code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![(kind::TIME_EXCEEDED, 0), (kind::DEST_UNREACHABLE, 3)]
    );
}

#[test]
fn forwarded_packet_has_hop_limit_decremented() {
    let mut w = World::new(1, |_| {});
    w.up();
    let g = w.hosts[0].1.global().unwrap();
    let p = icmpv6::echo_request(g, a("2001:db8:1::10"), 1, 1, b"x");
    w.router
        .handle_from_client(w.hosts[0].0, Bytes::from(p), w.now, &mut w.out);
    let Output::ToIntranet(f) = &w.out[0] else {
        panic!()
    };
    assert_eq!(f.to_vec()[7], 63);
}

#[test]
fn unsolicited_ras_follow_the_interval_and_table_limit_holds() {
    let mut w = World::new(1, |c| {
        c.ra_interval = Duration::from_secs(10);
        c.max_clients = 1;
    });
    w.up();
    let before = w.router.stats().ras_sent;
    assert!(w.router.poll_timeout().is_some());
    w.run(Duration::from_secs(10), 3);
    assert_eq!(w.router.stats().ras_sent, before + 3);
    assert!(w.router.add_client(w.now).is_err());
    w.router.remove_client(w.hosts[0].0);
    assert_eq!(w.router.poll_timeout(), None);
}

#[test]
fn host_retries_dad_with_a_new_interface_id_after_conflict() {
    let now = Instant::now();
    let mut h = Host::new(HostConfig::fast(7), now);
    let probe = h.poll_transmit().unwrap();
    let target = ipv6::Ipv6Packet::new(&probe).unwrap();
    let icmpv6::Message::NeighborSolicitation { target } = icmpv6::parse(&target).unwrap() else {
        panic!()
    };
    let na = icmpv6::neighbor_advertisement(
        target,
        ipv6::ALL_NODES,
        target,
        icmpv6::NaFlags::ANNOUNCEMENT,
    );
    h.handle_packet(&na, now);
    assert_eq!(h.poll_event(), Some(HostEvent::AddressDuplicate(target)));
    let second = h.poll_transmit().expect("a new DAD probe");
    assert_ne!(second, probe);
    h.handle_timeout(now + Duration::from_millis(20));
    let ll = h.link_local().unwrap();
    assert_ne!(ll, target);
}

#[test]
fn host_timers_on_explicit_timestamps() {
    let t0 = Instant::now();
    let mut h = Host::new(HostConfig::default(), t0);
    assert!(h.poll_transmit().is_some(), "DAD probe at once");
    assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    h.handle_timeout(t0 + Duration::from_secs(1));
    let rs_at = h.poll_timeout().unwrap();
    assert!(rs_at <= t0 + Duration::from_secs(2));
    h.handle_timeout(rs_at);
    let rs = h.poll_transmit().unwrap();
    let v = ipv6::Ipv6Packet::new(&rs).unwrap();
    assert_eq!(icmpv6::parse(&v), Ok(icmpv6::Message::RouterSolicitation));
    assert_eq!(h.poll_timeout(), Some(rs_at + Duration::from_secs(4)));
    assert!(
        h.send_ping(a("2001:db8:1::10"), 1, 1, 8, t0).is_err(),
        "no global address yet"
    );
}

#[test]
fn interface_ids_are_random_with_the_universal_local_bit_clear() {
    let now = Instant::now();
    let mut seen = std::collections::HashSet::new();
    for seed in 0..16 {
        let mut h = Host::new(HostConfig::fast(seed), now);
        h.handle_timeout(now + Duration::from_millis(20));
        let ll = h.link_local().expect("DAD passed");
        let iid = &ll.octets()[8..];
        assert_eq!(iid[0] & 0x02, 0, "u/l bit set in {ll}");
        seen.insert(ll);
    }
    assert_eq!(seen.len(), 16, "interface IDs repeat across seeds");
}

#[test]
fn an_instant_host_uses_its_link_local_at_once_and_solicits_at_once() {
    let now = Instant::now();
    let mut h = Host::new(HostConfig::instant(3), now);
    let _dad_probe = h.poll_transmit().expect("a DAD probe still goes out");
    h.handle_timeout(now);
    assert!(h.link_local().is_some(), "optimistic: usable at once");
    let rs = h.poll_transmit().expect("an RS at once");
    let v = ipv6::Ipv6Packet::new(&rs).unwrap();
    assert_eq!(icmpv6::parse(&v), Ok(icmpv6::Message::RouterSolicitation));
    let fast = HostConfig::fast(3);
    let instant = HostConfig::instant(3);
    assert_eq!(
        (
            instant.seed,
            instant.rs_interval,
            instant.max_rs,
            instant.keepalive
        ),
        (fast.seed, fast.rs_interval, fast.max_rs, fast.keepalive)
    );
}

const ROUTER_LL: &str = "fe80::1";

/// A lone host with fast timers that has heard `ra` at `t0` and finished DAD on both
/// addresses; its transmit queue drained.
fn host_after(ra: &icmpv6::RouterAdvert, t0: Instant) -> Host {
    let mut h = Host::new(HostConfig::fast(11), t0);
    h.handle_timeout(t0 + Duration::from_millis(20));
    h.handle_packet(
        &icmpv6::router_advertisement(a(ROUTER_LL), ipv6::ALL_NODES, ra),
        t0 + Duration::from_millis(20),
    );
    h.handle_timeout(t0 + Duration::from_millis(40));
    while h.poll_transmit().is_some() {}
    while h.poll_event().is_some() {}
    h
}

fn default_ra() -> icmpv6::RouterAdvert {
    RouterConfig::new(
        "2001:db8:1:1000::/64".parse().unwrap(),
        "2001:db8:1::/48".parse().unwrap(),
    )
    .router_advert()
}

fn sent(h: &mut Host) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| h.poll_transmit()).collect()
}

#[test]
fn the_host_takes_udp_and_echo_only_for_its_preferred_addresses() {
    let t0 = Instant::now();
    let mut h = host_after(&default_ra(), t0);
    let g = h.global().expect("SLAAC address");
    let now = t0 + Duration::from_millis(50);
    let far = a("2001:db8:1::10");
    h.handle_packet(&udp::build(far, g, 9, 4000, b"hello"), now);
    assert_eq!(
        h.poll_event(),
        Some(HostEvent::Udp {
            from: far,
            src_port: 9,
            dst_port: 4000,
            len: 5
        })
    );
    h.handle_packet(&icmpv6::echo_request(far, g, 7, 1, b"x"), now);
    assert_eq!(sent(&mut h).len(), 1, "an echo reply");
    // a tentative address (the link-local, DAD still running) takes neither (RFC 4862 5.4)
    let mut h = Host::new(HostConfig::default(), t0);
    let probe = h.poll_transmit().unwrap();
    let icmpv6::Message::NeighborSolicitation { target } =
        icmpv6::parse(&ipv6::Ipv6Packet::new(&probe).unwrap()).unwrap()
    else {
        panic!("a DAD probe")
    };
    h.handle_packet(&udp::build(far, target, 9, 4000, b"hello"), t0);
    h.handle_packet(&icmpv6::echo_request(far, target, 7, 1, b"x"), t0);
    assert!(
        h.poll_event().is_none(),
        "no datagram for a tentative address"
    );
    assert!(
        h.poll_transmit().is_none(),
        "no echo reply from a tentative address"
    );
}

#[test]
fn the_host_answers_neighbor_solicitations_for_its_own_addresses_only() {
    let t0 = Instant::now();
    let mut h = host_after(&default_ra(), t0);
    let g = h.global().unwrap();
    let now = t0 + Duration::from_millis(50);
    // the router's unicast NUD probe for our address gets a solicited NA
    h.handle_packet(
        &icmpv6::neighbor_solicitation(a(ROUTER_LL), ipv6::solicited_node(g), g),
        now,
    );
    let out = sent(&mut h);
    assert_eq!(out.len(), 1);
    let na = ipv6::Ipv6Packet::new(&out[0]).unwrap();
    assert_eq!(na.dst(), a(ROUTER_LL));
    assert!(matches!(
        icmpv6::parse(&na),
        Ok(icmpv6::Message::NeighborAdvertisement { target, .. }) if target == g
    ));
    // a probe for an address that is not ours gets nothing
    let other = a("2001:db8:1:1000::77");
    h.handle_packet(
        &icmpv6::neighbor_solicitation(a(ROUTER_LL), ipv6::solicited_node(other), other),
        now,
    );
    assert!(sent(&mut h).is_empty());
    // another node's DAD probe for our tentative address is a conflict
    let mut h = Host::new(HostConfig::default(), t0);
    let probe = h.poll_transmit().unwrap();
    let icmpv6::Message::NeighborSolicitation { target } =
        icmpv6::parse(&ipv6::Ipv6Packet::new(&probe).unwrap()).unwrap()
    else {
        panic!("a DAD probe")
    };
    h.handle_packet(
        &icmpv6::neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(target), target),
        t0,
    );
    assert_eq!(h.poll_event(), Some(HostEvent::AddressDuplicate(target)));
}

#[test]
fn keepalive_probes_the_router_once_per_interval_from_the_ra_on() {
    let t0 = Instant::now();
    let mut h = host_after(&default_ra(), t0);
    let heard = t0 + Duration::from_millis(20);
    let mut at = Vec::new();
    for s in 1..=65u64 {
        let now = heard + Duration::from_secs(s);
        h.handle_timeout(now);
        for p in sent(&mut h) {
            let v = ipv6::Ipv6Packet::new(&p).unwrap();
            assert!(matches!(
                icmpv6::parse(&v),
                Ok(icmpv6::Message::NeighborSolicitation { target }) if target == a(ROUTER_LL)
            ));
            at.push(s);
        }
    }
    assert_eq!(
        at,
        vec![30, 60],
        "HostConfig::fast: one NUD probe every 30 s"
    );
}

#[test]
fn a_router_lifetime_of_zero_is_not_a_default_router() {
    let t0 = Instant::now();
    let mut ra = default_ra();
    ra.router_lifetime = 0;
    let h = host_after(&ra, t0);
    assert_eq!(h.default_router(), None);
    assert!(h.global().is_some(), "its prefix is still used");
    let h = host_after(&default_ra(), t0);
    assert_eq!(h.default_router(), Some(a(ROUTER_LL)));
}

#[test]
fn slaac_takes_only_autonomous_64_bit_prefixes_with_sane_lifetimes() {
    let t0 = Instant::now();
    let good = default_ra().prefixes[0];
    let variants: Vec<(&str, icmpv6::PrefixInfo)> = vec![
        (
            "A flag clear",
            icmpv6::PrefixInfo {
                autonomous: false,
                ..good
            },
        ),
        (
            "a /48",
            icmpv6::PrefixInfo {
                len: 48,
                prefix: a("2001:db8:1::"),
                ..good
            },
        ),
        (
            "valid lifetime 0",
            icmpv6::PrefixInfo {
                valid_lifetime: 0,
                preferred_lifetime: 0,
                ..good
            },
        ),
        (
            "preferred longer than valid",
            icmpv6::PrefixInfo {
                valid_lifetime: 100,
                preferred_lifetime: 200,
                ..good
            },
        ),
        (
            "link-local",
            icmpv6::PrefixInfo {
                prefix: a("fe80::"),
                ..good
            },
        ),
        (
            "multicast",
            icmpv6::PrefixInfo {
                prefix: a("ff02::"),
                ..good
            },
        ),
    ];
    for (why, p) in variants {
        let mut ra = default_ra();
        ra.prefixes = vec![p];
        let h = host_after(&ra, t0);
        assert_eq!(h.global(), None, "{why}: no address");
    }
    let mut ra = default_ra();
    ra.prefixes = vec![good];
    assert!(host_after(&ra, t0).global().is_some());
}

#[test]
fn drop_reasons_have_the_names_scenarios_and_metrics_use() {
    let names: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "spoofed_source",
            "client_multicast",
            "link_local_not_to_server",
            "client_router_message",
            "forwarding_disabled",
            "no_route",
            "invalid_icmpv6",
            "dad_conflict",
            "hop_limit_exceeded",
            "packet_too_big",
            "unhandled_local",
            "rs_rate_limited",
            "icmp_error_rate_limited",
        ]
    );
}

#[test]
fn router_solicitations_are_rate_limited_by_a_token_bucket() {
    let cfg = RouterConfig::new(
        "2001:db8:1:1000::/64".parse().unwrap(),
        "2001:db8:1::/48".parse().unwrap(),
    );
    let (burst, interval) = (cfg.rs_burst, cfg.rs_interval);
    let mut r = Router::new(cfg);
    let t0 = Instant::now();
    let id = r.add_client(t0).unwrap();
    let mut out = Vec::new();
    let mut rs = |r: &mut Router, at: Instant| {
        let before = r.stats().ras_sent;
        r.handle_from_client(
            id,
            Bytes::from(icmpv6::router_solicitation(Ipv6Addr::UNSPECIFIED)),
            at,
            &mut out,
        );
        r.stats().ras_sent > before
    };
    // a burst is answered, the next one is not
    for _ in 0..burst {
        assert!(rs(&mut r, t0));
    }
    assert!(!rs(&mut r, t0), "over the burst");
    assert_eq!(r.stats().dropped(DropReason::RsRateLimited), 1);
    // a token comes back after one interval, not before; asking early does not delay it
    assert!(!rs(&mut r, t0 + interval.mul_f64(0.6)));
    assert!(
        rs(&mut r, t0 + interval.mul_f64(1.2)),
        "one token after an interval"
    );
    assert!(!rs(&mut r, t0 + interval.mul_f64(1.3)));
    // after a long quiet time the bucket is full again, not more
    let later = t0 + interval * 100;
    for _ in 0..burst {
        assert!(rs(&mut r, later));
    }
    assert!(!rs(&mut r, later));
}

#[test]
fn a_host_whose_every_probe_conflicts_gives_up_after_max_dad_attempts() {
    let t0 = Instant::now();
    let config = HostConfig::fast(21);
    let max = config.max_dad_attempts;
    let mut h = Host::new(config, t0);
    let mut tried = Vec::new();
    while let Some(p) = h.poll_transmit() {
        let icmpv6::Message::NeighborSolicitation { target } =
            icmpv6::parse(&ipv6::Ipv6Packet::new(&p).unwrap()).unwrap()
        else {
            panic!("only DAD probes")
        };
        tried.push(target);
        // another node already has it
        let na = icmpv6::neighbor_advertisement(
            target,
            ipv6::ALL_NODES,
            target,
            icmpv6::NaFlags::ANNOUNCEMENT,
        );
        h.handle_packet(&na, t0);
        assert!(tried.len() <= 10, "retries without end");
    }
    assert_eq!(tried.len() as u32, max, "one probe per attempt, then none");
    h.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(h.link_local(), None);
}

#[test]
fn a_second_ra_with_the_same_prefix_adds_no_address() {
    let t0 = Instant::now();
    let mut h = host_after(&default_ra(), t0);
    let before = h.addresses();
    let later = t0 + Duration::from_secs(1);
    h.handle_packet(
        &icmpv6::router_advertisement(a(ROUTER_LL), ipv6::ALL_NODES, &default_ra()),
        later,
    );
    h.handle_timeout(later + Duration::from_millis(50));
    assert_eq!(h.addresses(), before);
    assert!(sent(&mut h).is_empty(), "no new DAD probe");
}

fn lone_router() -> Router {
    Router::new(RouterConfig::new(
        "2001:db8:1:1000::/64".parse().unwrap(),
        "2001:db8:1::/48".parse().unwrap(),
    ))
}

#[test]
fn unsolicited_ras_are_due_one_interval_after_the_first_client_and_each_other() {
    let mut r = lone_router();
    let interval = r.config().ra_interval;
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(), None, "no clients, no RAs");
    let ids: Vec<ClientId> = (0..3).map(|_| r.add_client(t0).unwrap()).collect();
    assert_eq!(r.client_count(), 3);
    assert_eq!(r.poll_timeout(), Some(t0 + interval));
    let mut out = Vec::new();
    r.handle_timeout(t0 + interval - Duration::from_millis(1), &mut out);
    assert!(out.is_empty(), "nothing before it is due");
    r.handle_timeout(t0 + interval, &mut out);
    assert_eq!(out.len(), 3, "one RA to each client");
    assert_eq!(r.poll_timeout(), Some(t0 + interval * 2));
    r.remove_client(ids[0]);
    assert_eq!(r.client_count(), 2);
}

#[test]
fn a_change_to_what_the_ra_says_sends_one_at_once_and_nothing_else_does() {
    let t0 = Instant::now();
    let mut r = lone_router();
    let interval = r.config().ra_interval;
    r.add_client(t0).unwrap();
    let due = r.poll_timeout();
    // the same configuration again: nothing is due early
    let same = r.config().clone();
    r.reconfigure(same, t0 + Duration::from_secs(1));
    assert_eq!(r.poll_timeout(), due);
    // advertising switched off, then on: an RA is due at once
    let mut off = r.config().clone();
    off.advertising = false;
    r.reconfigure(off, t0 + Duration::from_secs(2));
    assert_eq!(r.poll_timeout(), None, "not advertising");
    let mut on = r.config().clone();
    on.advertising = true;
    let now = t0 + Duration::from_secs(3);
    r.reconfigure(on, now);
    assert_eq!(r.poll_timeout(), Some(now));
    let mut out = Vec::new();
    r.handle_timeout(now, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(r.poll_timeout(), Some(now + interval));
    // a route published (the RA's prefixes change): due at once too, with the change
    let mut unpublished = r.config().clone();
    unpublished.routes[0].publish = Publish::No;
    let now = t0 + Duration::from_secs(4);
    r.reconfigure(unpublished, now);
    assert_eq!(r.poll_timeout(), Some(now));
    assert!(
        r.config().router_advert().prefixes.is_empty(),
        "the new configuration is in force"
    );
    // with no client, a change schedules nothing
    let mut empty = lone_router();
    let mut off = empty.config().clone();
    off.mtu = 1400;
    empty.reconfigure(off, now);
    assert_eq!(empty.poll_timeout(), None);
}

#[test]
fn the_server_answers_echo_at_its_link_local_and_its_global_address() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, g) = (w.hosts[0].0, w.hosts[0].1.global().unwrap());
    let ll = w.hosts[0].1.link_local().unwrap();
    for (src, dst) in [
        (ll, w.router.config().link_local),
        (g, w.router.config().server_address()),
    ] {
        let req = icmpv6::echo_request(src, dst, 9, 1, b"x");
        let mut out = Vec::new();
        w.router
            .handle_from_client(id, Bytes::from(req), w.now, &mut out);
        assert_eq!(out.len(), 1, "a reply from {dst}");
        let Output::ToClient(to, f) = &out[0] else {
            panic!("to the client")
        };
        assert_eq!(*to, id);
        let bytes = f.to_vec();
        let v = ipv6::Ipv6Packet::new(&bytes).unwrap();
        assert_eq!((v.src(), v.dst()), (dst, src));
        assert!(matches!(
            icmpv6::parse(&v),
            Ok(icmpv6::Message::EchoReply { .. })
        ));
    }
}

#[test]
fn solicitations_from_the_unspecified_address_are_answered_and_spoofed_ones_dropped() {
    let mut w = World::new(2, |_| {});
    w.up();
    let (a_id, b_ll) = (w.hosts[0].0, w.hosts[1].1.link_local().unwrap());
    let mut out = Vec::new();
    let before = w.router.stats().ras_sent;
    w.router.handle_from_client(
        a_id,
        Bytes::from(icmpv6::router_solicitation(Ipv6Addr::UNSPECIFIED)),
        w.now + Duration::from_secs(10),
        &mut out,
    );
    assert_eq!(
        w.router.stats().ras_sent,
        before + 1,
        "RFC 4861 6.1.1: allowed"
    );
    // client 1 soliciting from client 2's link-local address
    w.router.handle_from_client(
        a_id,
        Bytes::from(icmpv6::router_solicitation(b_ll)),
        w.now + Duration::from_secs(20),
        &mut out,
    );
    assert_eq!(w.router.stats().ras_sent, before + 1);
    assert_eq!(w.router.stats().dropped(DropReason::Spoofed), 1);
}

#[test]
fn a_multicast_ns_that_is_not_dad_claims_nothing() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, ll) = (w.hosts[0].0, w.hosts[0].1.link_local().unwrap());
    let x = a("2001:db8:1:1000::4242");
    // address resolution (a source address), not DAD: dropped as client multicast
    let ns = icmpv6::neighbor_solicitation(ll, ipv6::solicited_node(x), x);
    let mut out = Vec::new();
    w.router
        .handle_from_client(id, Bytes::from(ns), w.now, &mut out);
    assert!(!w.router.client_addresses(id).contains(&x));
    assert_eq!(w.router.stats().dropped(DropReason::Multicast), 1);
    // a DAD probe sent to a unicast address is not DAD either
    let ns = icmpv6::neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::ALL_NODES, x);
    w.router
        .handle_from_client(id, Bytes::from(ns), w.now, &mut out);
    assert!(!w.router.client_addresses(id).contains(&x));
    // the real thing claims it
    let ns = icmpv6::neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(x), x);
    w.router
        .handle_from_client(id, Bytes::from(ns), w.now, &mut out);
    assert!(w.router.client_addresses(id).contains(&x));
}

#[test]
fn with_certificates_client_multicast_reaches_every_other_client() {
    let mut w = World::new(3, |c| c.auth_mode = AuthMode::Certificates);
    w.up();
    let (id, ll) = (w.hosts[0].0, w.hosts[0].1.link_local().unwrap());
    let mc = udp::build(ll, ipv6::ALL_NODES, 5, 6, b"hello all");
    let mut out = Vec::new();
    let (before, fwd) = (
        w.router.stats().to_clients,
        w.router.stats().forwarded_from_clients,
    );
    w.router
        .handle_from_client(id, Bytes::from(mc), w.now, &mut out);
    let mut to: Vec<ClientId> = out
        .iter()
        .map(|o| match o {
            Output::ToClient(c, _) => *c,
            Output::ToIntranet(_) => panic!("not to the intranet"),
        })
        .collect();
    to.sort_unstable();
    assert_eq!(to, vec![w.hosts[1].0, w.hosts[2].0]);
    assert_eq!(w.router.stats().to_clients, before + 2);
    assert_eq!(
        w.router.stats().forwarded_from_clients,
        fwd + 1,
        "one packet, forwarded"
    );
}

#[test]
fn the_intranet_pings_the_server_and_the_counters_follow() {
    let mut r = lone_router();
    let server = r.config().server_address();
    let intranet = a("2001:db8:1::10");
    let mut out = Vec::new();
    r.handle_from_intranet(
        Bytes::from(icmpv6::echo_request(intranet, server, 1, 1, b"x")),
        Instant::now(),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0], Output::ToIntranet(_)));
    assert_eq!((r.stats().from_intranet, r.stats().to_intranet), (1, 1));
}

#[test]
fn dad_claims_only_advertised_or_link_local_addresses_once() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, g) = (w.hosts[0].0, w.hosts[0].1.global().unwrap());
    let mut out = Vec::new();
    let mut probe = |w: &mut World, x: Ipv6Addr| {
        let ns = icmpv6::neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(x), x);
        w.router
            .handle_from_client(id, Bytes::from(ns), w.now, &mut out);
    };
    let outside = a("2001:db8:9999::1");
    probe(&mut w, outside);
    assert!(!w.router.client_addresses(id).contains(&outside));
    // probing its own address again changes nothing
    let before = w.router.client_addresses(id).to_vec();
    probe(&mut w, g);
    assert_eq!(w.router.client_addresses(id), &before[..]);
}

#[test]
fn a_unicast_solicitation_to_the_router_is_answered() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, ll) = (w.hosts[0].0, w.hosts[0].1.link_local().unwrap());
    // a Router Solicitation to the router's link-local address instead of all-routers
    let router = w.router.config().link_local;
    let rs = ipv6::build(
        ipv6::PROTO_ICMPV6,
        255,
        ll,
        router,
        &[kind::ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0],
        Some(2),
    );
    let before = w.router.stats().ras_sent;
    let mut out = Vec::new();
    w.router.handle_from_client(
        id,
        Bytes::from(rs),
        w.now + Duration::from_secs(30),
        &mut out,
    );
    assert_eq!(w.router.stats().ras_sent, before + 1);
    assert_eq!(out.len(), 1);
}

#[test]
fn the_router_answers_neighbor_solicitations_for_its_own_addresses_only() {
    let mut w = World::new(1, |_| {});
    w.up();
    let (id, ll) = (w.hosts[0].0, w.hosts[0].1.link_local().unwrap());
    let router = w.router.config().link_local;
    let mut out = Vec::new();
    // the host's reachability probe of its router (unicast NS)
    let ns = icmpv6::neighbor_solicitation(ll, router, router);
    w.router
        .handle_from_client(id, Bytes::from(ns), w.now, &mut out);
    assert_eq!(out.len(), 1);
    let Output::ToClient(_, f) = &out[0] else {
        panic!("to the client")
    };
    let bytes = f.to_vec();
    let v = ipv6::Ipv6Packet::new(&bytes).unwrap();
    assert!(matches!(
        icmpv6::parse(&v),
        Ok(icmpv6::Message::NeighborAdvertisement { target, .. }) if target == router
    ));
    // asked about someone else's address, the router stays silent and counts it
    out.clear();
    let other = a("fe80::4242");
    let ns = icmpv6::neighbor_solicitation(ll, router, other);
    w.router
        .handle_from_client(id, Bytes::from(ns), w.now, &mut out);
    assert!(out.is_empty());
    assert_eq!(w.router.stats().dropped(DropReason::Unhandled), 1);
}

#[test]
fn a_packet_of_exactly_the_link_mtu_is_forwarded_to_a_client() {
    let mut w = World::new(1, |_| {});
    w.up();
    let g = w.hosts[0].1.global().unwrap();
    let intranet = a("2001:db8:1::10");
    let mut out = Vec::new();
    let p = udp::build(intranet, g, 9, 9, &vec![0u8; 1280 - 48]);
    assert_eq!(p.len(), 1280);
    w.router
        .handle_from_intranet(Bytes::from(p), w.now, &mut out);
    assert!(matches!(out.as_slice(), [Output::ToClient(..)]), "{out:?}");
    out.clear();
    let p = udp::build(intranet, g, 9, 9, &vec![0u8; 1281 - 48]);
    w.router
        .handle_from_intranet(Bytes::from(p), w.now, &mut out);
    assert!(
        matches!(out.as_slice(), [Output::ToIntranet(..)]),
        "a Packet Too Big back"
    );
}

#[test]
fn icmp_errors_go_back_to_the_intranet_but_never_about_errors_or_to_multicast() {
    let mut r = lone_router();
    let now = Instant::now();
    let intranet = a("2001:db8:1::10");
    let nobody = a("2001:db8:1:1000::77");
    let mut out = Vec::new();
    // a datagram to a client address nobody holds: Destination Unreachable, counted
    r.handle_from_intranet(
        Bytes::from(udp::build(intranet, nobody, 9, 9, b"x")),
        now,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(r.stats().to_intranet, 1);
    assert_eq!(r.stats().dropped(DropReason::NoRoute), 1);
    // an ICMPv6 error to the same address: dropped, no error about it (RFC 4443 2.4(e))
    out.clear();
    let err = icmpv6::error(
        kind::DEST_UNREACHABLE,
        0,
        0,
        intranet,
        nobody,
        b"invoking packet",
    );
    r.handle_from_intranet(Bytes::from(err), now, &mut out);
    assert!(out.is_empty(), "no error about an error");
    assert_eq!(r.stats().dropped(DropReason::NoRoute), 2);
    // from a multicast source: no error either
    r.handle_from_intranet(
        Bytes::from(udp::build(a("ff05::2"), nobody, 9, 9, b"x")),
        now,
        &mut out,
    );
    assert!(out.is_empty(), "no error to a multicast source");
    assert_eq!(r.stats().to_intranet, 1);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// What a client does in one step of a random run.
    #[derive(Debug, Clone)]
    enum Event {
        /// Send from a (claimed, spoofed or foreign) source to a destination.
        Send { from: usize, src: u8, dst: u8 },
        /// DAD probe for someone's address.
        Dad { from: usize, target: u8 },
        /// Router Solicitation.
        Rs { from: usize },
        /// Time passes.
        Tick { ms: u64 },
        /// A client leaves and another arrives.
        Churn { who: usize },
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0..3usize, 0..8u8, 0..8u8).prop_map(|(from, src, dst)| Event::Send { from, src, dst }),
            (0..3usize, 0..8u8).prop_map(|(from, target)| Event::Dad { from, target }),
            (0..3usize).prop_map(|from| Event::Rs { from }),
            (1..5000u64).prop_map(|ms| Event::Tick { ms }),
            (0..3usize).prop_map(|who| Event::Churn { who }),
        ]
    }

    fn addr(i: u8) -> Ipv6Addr {
        match i {
            0..=3 => {
                ipv6::with_interface_id("2001:db8:1:1000::".parse().unwrap(), 0x100 + u64::from(i))
            }
            4 => "2001:db8:1::10".parse().unwrap(),
            5 => "2001:db8:ffff::1".parse().unwrap(),
            6 => "fe80::77".parse().unwrap(),
            _ => "ff02::1".parse().unwrap(),
        }
    }

    proptest! {
        /// Random event sequences on explicit time: the router never panics, never
        /// delivers a packet to a client that does not own its destination, never
        /// forwards a packet whose source the sender does not own, and an address has at
        /// most one owner.
        #[test]
        fn router_invariants_hold(events in proptest::collection::vec(event(), 1..200)) {
            let cfg = RouterConfig::new("2001:db8:1:1000::/64".parse().unwrap(), "2001:db8:1::/48".parse().unwrap());
            let mut r = Router::new(cfg);
            let mut now = Instant::now();
            let mut ids: Vec<ClientId> = (0..3).map(|_| r.add_client(now).unwrap()).collect();
            let mut out = Vec::new();
            for e in events {
                out.clear();
                let before = r.stats().clone();
                let sender = match &e {
                    Event::Send { from, .. } | Event::Dad { from, .. } | Event::Rs { from } => Some(ids[*from]),
                    _ => None,
                };
                match e {
                    Event::Send { from, src, dst } => {
                        let p = udp::build(addr(src), addr(dst), 1, 9, b"x");
                        r.handle_from_client(ids[from], Bytes::from(p), now, &mut out);
                    }
                    Event::Dad { from, target } => {
                        let t = addr(target);
                        let p = icmpv6::neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(t), t);
                        r.handle_from_client(ids[from], Bytes::from(p), now, &mut out);
                    }
                    Event::Rs { from } => {
                        r.handle_from_client(ids[from], Bytes::from(icmpv6::router_solicitation(Ipv6Addr::UNSPECIFIED)), now, &mut out);
                    }
                    Event::Tick { ms } => {
                        now += Duration::from_millis(ms);
                        r.handle_timeout(now, &mut out);
                    }
                    Event::Churn { who } => {
                        r.remove_client(ids[who]);
                        ids[who] = r.add_client(now).unwrap();
                    }
                }
                for o in &out {
                    let bytes = match o {
                        Output::ToClient(_, f) | Output::ToIntranet(f) => f.to_vec(),
                    };
                    let pkt = ipv6::Ipv6Packet::new(&bytes).unwrap();
                    let generated_by_router = pkt.src() == r.config().link_local
                        || pkt.src() == r.config().server_address()
                        || pkt.next_header() == ipv6::PROTO_ICMPV6;
                    if let Output::ToClient(to, _) = o
                        && !pkt.dst().is_multicast()
                        && !generated_by_router
                    {
                        prop_assert!(r.client_addresses(*to).contains(&pkt.dst()), "delivered to a non-owner");
                    }
                    if !generated_by_router && let Some(s) = sender {
                        prop_assert!(r.client_addresses(s).contains(&pkt.src()), "forwarded a source the sender does not own");
                    }
                }
                // the output counters count what went out
                let after = r.stats();
                let to_clients = out.iter().filter(|o| matches!(o, Output::ToClient(..))).count() as u64;
                let to_intranet = out.len() as u64 - to_clients;
                prop_assert_eq!(after.to_clients - before.to_clients, to_clients);
                prop_assert_eq!(after.to_intranet - before.to_intranet, to_intranet);
                // every packet from a client has exactly one disposition, counted once
                prop_assert!(after.reconcile().is_ok(), "{}", after.reconcile().unwrap_err());
                let forwarded = after.forwarded_from_clients - before.forwarded_from_clients;
                let dispositions = forwarded
                    + (after.local_from_clients - before.local_from_clients)
                    + (after.client_drops_total() - before.client_drops_total());
                prop_assert_eq!(dispositions, after.from_clients - before.from_clients);
                let relayed = out.iter().any(|o| {
                    let bytes = match o {
                        Output::ToClient(_, f) | Output::ToIntranet(f) => f.to_vec(),
                    };
                    ipv6::Ipv6Packet::new(&bytes).is_some_and(|p| p.next_header() == ipv6::PROTO_UDP)
                });
                prop_assert_eq!(forwarded > 0, relayed, "forwarded exactly when a datagram went out");
                for (i, a) in ids.iter().enumerate() {
                    for b in &ids[i + 1..] {
                        for x in r.client_addresses(*a) {
                            prop_assert!(!r.client_addresses(*b).contains(x), "two owners of {}", x);
                        }
                    }
                }
            }
        }

        /// Random packets and timer firings on explicit time: the host never panics, its
        /// timers never lie in the past after handling them, and any address it uses is
        /// its own link-local or inside an advertised /64.
        #[test]
        fn host_invariants_hold(seed in any::<u64>(), steps in proptest::collection::vec((0u8..6, 1u64..3000), 1..100)) {
            let mut now = Instant::now();
            let mut h = Host::new(HostConfig::fast(seed), now);
            let router: Ipv6Addr = "fe80::1".parse().unwrap();
            let advertised: Ipv6Addr = "2001:db8:1:1000::".parse().unwrap();
            for (kind, ms) in steps {
                now += Duration::from_millis(ms);
                match kind {
                    0 => h.handle_timeout(now),
                    1 => {
                        let ra = RouterConfig::new("2001:db8:1:1000::/64".parse().unwrap(), "2001:db8:1::/48".parse().unwrap()).router_advert();
                        h.handle_packet(&icmpv6::router_advertisement(router, ipv6::ALL_NODES, &ra), now);
                    }
                    2 => {
                        if let Some(g) = h.global() {
                            h.handle_packet(&icmpv6::neighbor_advertisement(g, ipv6::ALL_NODES, g, icmpv6::NaFlags::ANNOUNCEMENT), now);
                        }
                    }
                    3 => h.handle_packet(&icmpv6::echo_request("2001:db8:1::10".parse().unwrap(), h.global().unwrap_or(router), 1, 1, b"x"), now),
                    4 => { let _ = h.send_ping("2001:db8:1::10".parse().unwrap(), 1, 1, 8, now); }
                    _ => h.handle_packet(&[0x60, 0, 0, 0, 0, 200, 58, 255], now),
                }
                h.handle_timeout(now);
                if let Some(t) = h.poll_timeout() {
                    prop_assert!(t > now, "a timer left in the past");
                }
                while let Some(p) = h.poll_transmit() {
                    let v = ipv6::Ipv6Packet::new(&p).unwrap();
                    let s = v.src();
                    let ok = s.is_unspecified() || ipv6::is_link_local(s) || (u128::from(s) >> 64) == (u128::from(advertised) >> 64);
                    prop_assert!(ok, "a source from nowhere: {}", s);
                }
            }
        }
    }
}

/// A table kept half free by `reserve_for_churn` does not double late under churn (a plain
/// one does, after some forty rounds of a thousand removals and insertions): the largest
/// size it reaches late is the one it reached early. The plain table runs with a fixed hash
/// (whether it doubles within 100 rounds depends on the seed); the kept one with random seeds,
/// several runs.
#[test]
fn a_churned_table_reaches_its_size_early_and_keeps_it() {
    fn early_and_late<S: std::hash::BuildHasher + Default>(keep_half_free: bool) -> (usize, usize) {
        let mut m: std::collections::HashMap<u64, [u8; 8], S> =
            std::collections::HashMap::default();
        let mut next = 0u64;
        let (mut early, mut late) = (0, 0);
        for round in 0..100 {
            if round > 0 {
                for k in next - 1000..next {
                    m.remove(&k);
                }
            }
            for _ in 0..1000 {
                if keep_half_free {
                    super::reserve_for_churn(&mut m);
                }
                m.insert(next, [0; 8]);
                next += 1;
                if round < 5 {
                    early = early.max(m.capacity());
                } else if round >= 60 {
                    late = late.max(m.capacity());
                }
            }
        }
        (early, late)
    }
    type Fixed = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;
    let (early, late) = early_and_late::<Fixed>(false);
    assert!(
        late > early,
        "the plain table doubles late: {early} -> {late}"
    );
    for _ in 0..10 {
        let (early, late) = early_and_late::<std::collections::hash_map::RandomState>(true);
        assert!(
            late <= early,
            "kept half free it does not: {early} -> {late}"
        );
    }
}

#[test]
fn a_big_ping_to_the_intranet_is_answered_after_the_first_packet_too_big() {
    let mut w = World::new(1, |_| {});
    w.up();
    let intranet = a("2001:db8:1::10");
    let g = w.hosts[0].1.global().unwrap();
    w.hosts[0].1.send_ping(intranet, 1, 1, 1400, w.now).unwrap();
    w.up();
    let replies = |ev: &[HostEvent]| {
        ev.iter()
            .filter(|e| matches!(e, HostEvent::EchoReply { .. }))
            .count()
    };
    // the request went in two fragments and was reassembled and answered; the 1448-byte
    // answer did not fit the IP-HTTPS link
    assert_eq!(replies(&w.events(0)), 0);
    assert_eq!(w.hosts[0].1.ip_stats().paths.fragmented, 1);
    let s = w.intranet.stats();
    assert_eq!((s.echo_replies_sent, s.ip.reassembly.reassembled), (1, 1));
    assert_eq!(s.packet_too_big, vec![1280]);
    assert_eq!(w.router.stats().dropped(DropReason::TooBig), 1);
    assert_eq!(w.intranet.ip().paths().learnt(w.now), vec![(g, 1280)]);
    // the next answers are fragmented to fit
    for seq in 2..=3 {
        w.hosts[0]
            .1
            .send_ping(intranet, 1, seq, 1400, w.now)
            .unwrap();
    }
    w.up();
    assert_eq!(replies(&w.events(0)), 2);
    assert_eq!(w.hosts[0].1.ip_stats().reassembly.reassembled, 2);
    assert_eq!(w.router.stats().dropped(DropReason::TooBig), 1);
    // the largest ping without a jumbogram
    w.hosts[0]
        .1
        .send_ping(intranet, 1, 4, 65_527, w.now)
        .unwrap();
    w.up();
    assert_eq!(replies(&w.events(0)), 1);
    // ten minutes on, the path MTU is tried again (RFC 8201)
    w.run(Duration::from_secs(60), 10);
    assert!(w.intranet.ip().paths().learnt(w.now).is_empty());
}

#[test]
fn clients_ping_each_other_in_fragments_and_udp_datagrams_reassemble() {
    let mut w = World::new(2, |_| {});
    w.up();
    let g1 = w.hosts[1].1.global().unwrap();
    w.hosts[0].1.send_ping(g1, 1, 1, 3000, w.now).unwrap();
    w.up();
    assert!(w.events(0).contains(&HostEvent::EchoReply {
        from: g1,
        id: 1,
        seq: 1
    }));
    assert_eq!(w.router.stats().dropped(DropReason::TooBig), 0);
    w.hosts[0]
        .1
        .send_udp(a("2001:db8:1::10"), 4000, 9, &[7; 4000], w.now)
        .unwrap();
    w.up();
    let s = w.intranet.stats();
    assert_eq!((s.discarded_packets, s.discarded_bytes), (1, 4000));
}

#[test]
fn the_router_forwards_fragments_and_drops_spoofed_ones() {
    let mut w = World::new(2, |_| {});
    w.up();
    let g1 = w.hosts[1].1.global().unwrap();
    let big = udp::build(g1, a("2001:db8:1::10"), 1, 9, &[0; 3000]);
    let frags = crate::wire::frag::fragment(&big, 1280, 77).unwrap();
    for f in &frags {
        // client 0 sends fragments with client 1's address
        w.router
            .handle_from_client(w.hosts[0].0, Bytes::from(f.clone()), w.now, &mut w.out);
    }
    w.pump();
    assert_eq!(
        w.router.stats().dropped(DropReason::Spoofed),
        frags.len() as u64
    );
    assert_eq!(w.intranet.stats().ip.reassembly.fragments, 0);
    for f in &frags {
        w.router
            .handle_from_client(w.hosts[1].0, Bytes::from(f.clone()), w.now, &mut w.out);
    }
    w.pump();
    let s = w.intranet.stats();
    assert_eq!(
        (s.ip.reassembly.fragments, s.discarded_packets),
        (frags.len() as u64, 1)
    );
    w.router.stats().reconcile().unwrap();
}

#[test]
fn a_lost_last_fragment_comes_back_as_time_exceeded_after_60_seconds() {
    let mut w = World::new(1, |_| {});
    w.up();
    w.hosts[0]
        .1
        .send_udp(a("2001:db8:1::10"), 4000, 9, &[7; 4000], w.now)
        .unwrap();
    // what the client sends, minus its last fragment
    let mut frags: Vec<Vec<u8>> = std::iter::from_fn(|| w.hosts[0].1.poll_transmit()).collect();
    assert_eq!(frags.len(), 4);
    frags.pop();
    for f in frags {
        w.router
            .handle_from_client(w.hosts[0].0, Bytes::from(f), w.now, &mut w.out);
    }
    w.run(Duration::from_secs(1), 59);
    let te = |ev: Vec<HostEvent>| {
        ev.iter()
            .filter(|e| {
                matches!(e, HostEvent::IcmpError { kind: kind::TIME_EXCEEDED, code: 1, from } if *from == a("2001:db8:1::10"))
            })
            .count()
    };
    assert_eq!(te(w.events(0)), 0, "not before 60 s");
    w.run(Duration::from_secs(1), 2);
    assert_eq!(te(w.events(0)), 1);
    assert_eq!(w.intranet.stats().ip.reassembly.timed_out, 1);
}

#[test]
fn icmp_errors_are_rate_limited_per_recipient() {
    let mut w = World::new(2, |_| {});
    w.up();
    let (burst, interval) = (
        w.router.config().icmp_error_burst,
        w.router.config().icmp_error_interval,
    );
    let g0 = w.hosts[0].1.global().unwrap();
    let g1 = w.hosts[1].1.global().unwrap();
    let errors = |ev: Vec<HostEvent>| {
        ev.iter()
            .filter(|e| matches!(e, HostEvent::IcmpError { .. }))
            .count() as u32
    };
    // client 0 floods an address nobody has: a burst of errors, then the limit
    for seq in 0..200 {
        let p = icmpv6::echo_request(g0, a("2001:db8:1:1000::77"), 1, seq, b"x");
        w.router
            .handle_from_client(w.hosts[0].0, Bytes::from(p), w.now, &mut w.out);
    }
    w.pump();
    assert_eq!(errors(w.events(0)), burst);
    assert_eq!(
        w.router.stats().dropped(DropReason::IcmpRateLimited),
        u64::from(200 - burst)
    );
    // each packet is still counted once, as no_route
    assert_eq!(w.router.stats().dropped(DropReason::NoRoute), 200);
    w.router.stats().reconcile().unwrap();
    // the other client's errors have their own bucket
    let p = icmpv6::echo_request(g1, a("2001:db8:1:1000::77"), 1, 1, b"x");
    w.router
        .handle_from_client(w.hosts[1].0, Bytes::from(p), w.now, &mut w.out);
    w.pump();
    assert_eq!(errors(w.events(1)), 1);
    // one more per interval
    w.now += interval * 3;
    for seq in 0..10 {
        let p = icmpv6::echo_request(g0, a("2001:db8:1:1000::77"), 1, seq, b"x");
        w.router
            .handle_from_client(w.hosts[0].0, Bytes::from(p), w.now, &mut w.out);
    }
    w.pump();
    assert_eq!(errors(w.events(0)), 3);
}

#[test]
fn an_ra_that_came_before_the_link_local_address_stops_solicitation() {
    let t0 = Instant::now();
    let mut h = Host::new(HostConfig::fast(5), t0);
    let mut ra = default_ra();
    ra.router_lifetime = 0;
    // the RA arrives while the link-local address is still tentative
    h.handle_packet(
        &icmpv6::router_advertisement(a(ROUTER_LL), ipv6::ALL_NODES, &ra),
        t0,
    );
    while h.poll_transmit().is_some() {}
    h.handle_timeout(t0 + Duration::from_secs(1));
    h.handle_timeout(t0 + Duration::from_secs(10));
    let rs = sent(&mut h).into_iter().filter(|p| {
        let v = ipv6::Ipv6Packet::new(p).unwrap();
        icmpv6::parse(&v) == Ok(icmpv6::Message::RouterSolicitation)
    });
    assert_eq!(rs.count(), 0, "an RA already came: no solicitation");
    assert!(h.link_local().is_some());
}

#[test]
fn router_advertisements_from_a_global_address_are_ignored() {
    let t0 = Instant::now();
    let mut h = Host::new(HostConfig::fast(6), t0);
    h.handle_timeout(t0 + Duration::from_millis(20));
    let ra = default_ra();
    h.handle_packet(
        &icmpv6::router_advertisement(a("2001:db8:1:1000::1"), ipv6::ALL_NODES, &ra),
        t0 + Duration::from_millis(30),
    );
    assert!(h.last_router_advert().is_none(), "RFC 4861 6.1.2");
}

#[test]
fn the_client_host_learns_a_smaller_path_mtu_from_packet_too_big() {
    let t0 = Instant::now();
    let mut ra = default_ra();
    ra.mtu = Some(1400);
    let mut h = host_after(&ra, t0);
    let g = h.global().unwrap();
    let dst = a("2001:db8:1::10");
    h.send_ping(dst, 1, 1, 1300, t0).unwrap();
    let first = sent(&mut h);
    assert_eq!(first.len(), 1, "1348 bytes fit the link's 1400");
    let ptb = icmpv6::error(
        kind::PACKET_TOO_BIG,
        0,
        1280,
        a("2001:db8:1:1000::1"),
        g,
        &first[0],
    );
    h.handle_packet(&ptb, t0);
    assert!(h.poll_event().is_some_and(|e| matches!(
        e,
        HostEvent::IcmpError {
            kind: kind::PACKET_TOO_BIG,
            ..
        }
    )));
    h.send_ping(dst, 1, 2, 1300, t0).unwrap();
    let next = sent(&mut h);
    assert_eq!(next.len(), 2);
    assert!(next.iter().all(|p| p.len() <= 1280));
    assert_eq!(h.ip().paths().learnt(t0), vec![(dst, 1280)]);
}

#[test]
fn the_icmp_error_bucket_keeps_the_part_of_an_interval_already_elapsed() {
    let mut w = World::new(1, |_| {});
    w.up();
    let g0 = w.hosts[0].1.global().unwrap();
    let t0 = w.now;
    let flood = |w: &mut World, at: Duration, n: u16| {
        w.now = t0 + at;
        for seq in 0..n {
            let p = icmpv6::echo_request(g0, a("2001:db8:1:1000::77"), 1, seq, b"x");
            w.router
                .handle_from_client(w.hosts[0].0, Bytes::from(p), w.now, &mut w.out);
        }
        w.pump();
        w.events(0)
            .iter()
            .filter(|e| matches!(e, HostEvent::IcmpError { .. }))
            .count()
    };
    assert_eq!(flood(&mut w, Duration::ZERO, 20), 10, "the burst");
    // 150 ms on: one token (the half interval left over counts toward the next)
    assert_eq!(flood(&mut w, Duration::from_millis(150), 5), 1);
    // 200 ms: a second full interval since the bucket started, so one more
    assert_eq!(flood(&mut w, Duration::from_millis(200), 5), 1);
    assert_eq!(flood(&mut w, Duration::from_millis(250), 5), 0);
}

#[test]
fn neighbor_discovery_in_fragments_is_ignored_and_other_fragments_are_not() {
    let t0 = Instant::now();
    let mut h = host_after(&default_ra(), t0);
    let g = h.global().unwrap();
    let peer = a("fe80::99");
    // an atomic fragment: a Fragment header (offset 0, M clear) after the fixed header
    let atomic = |p: &[u8]| {
        use crate::wire::frag;
        frag::with_extension(p, frag::PROTO_FRAGMENT, &[p[6], 0, 0, 0, 0, 0, 0, 1])
    };
    let ns = icmpv6::neighbor_solicitation(peer, g, g);
    h.handle_packet(&atomic(&ns), t0);
    assert!(
        sent(&mut h).is_empty(),
        "RFC 6980: no answer to ND in a fragment"
    );
    h.handle_packet(&ns, t0);
    assert_eq!(sent(&mut h).len(), 1, "the same NS whole is answered");
    // a datagram that only looks like ND in its first byte (UDP from port 34304: 0x86)
    let udp = udp::build(a("2001:db8:1::10"), g, 0x8600, 9, &[1; 3000]);
    for f in crate::wire::frag::fragment(&udp, 1280, 3).unwrap() {
        h.handle_packet(&f, t0);
    }
    let got = std::iter::from_fn(|| h.poll_event()).any(|e| {
        matches!(
            e,
            HostEvent::Udp {
                src_port: 0x8600,
                len: 3000,
                ..
            }
        )
    });
    assert!(got, "a reassembled UDP datagram is delivered");
}

#[test]
fn a_frame_goes_on_the_wire_with_its_new_hop_limit_and_nothing_else_changed() {
    let mut p = vec![0x60, 0, 0, 0, 0, 4, 17, 64];
    p.extend_from_slice(b"data");
    let f = Frame::forwarded(Bytes::from(p.clone()), 63);
    let mut want = p.clone();
    want[7] = 63;
    assert_eq!(f.to_vec(), want);
    assert_eq!(f.pieces().concat(), want);
    // the received bytes stay as they came
    assert_eq!(&f.raw()[..], &p[..]);
    // a packet sent as it is keeps its own hop limit
    assert_eq!(Frame::new(Bytes::from(p.clone())).to_vec(), p);
    // a runt (no Hop Limit field) is written as it came, in whatever pieces
    let runt = Frame::forwarded(Bytes::from_static(&[0x60, 1, 2]), 9);
    assert_eq!(runt.to_vec(), [0x60, 1, 2]);
    assert_eq!(runt.pieces().concat(), [0x60, 1, 2]);
    assert_eq!(runt.len(), 3);
}
