//! What a host knows per destination, sans-IO: the path MTU learnt from Packet Too Big
//! (RFC 8201) and the Identification its fragments to that destination carry (RFC 8200
//! 4.5, RFC 7739: a counter per destination starting at a random value).
//!
//! Outgoing packets larger than the path MTU are cut into fragments here.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::wire::frag;
use crate::wire::ipv6::{self, Ipv6Packet};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Limits of the destination cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathConfig {
    /// How long a path MTU learnt from Packet Too Big holds before the link MTU is tried
    /// again (RFC 8201 4: at least 5 minutes, 10 recommended).
    pub aging: Duration,
    /// Most destinations remembered; past it the one used longest ago is forgotten.
    pub max_destinations: usize,
}

impl Default for PathConfig {
    fn default() -> Self {
        Self {
            aging: Duration::from_secs(600),
            max_destinations: 4096,
        }
    }
}

/// Counters of the sending side.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathStats {
    /// Packets sent in fragments.
    pub fragmented: u64,
    /// Fragments sent.
    pub fragments_sent: u64,
    /// Packet Too Big messages that lowered a path MTU.
    pub pmtu_lowered: u64,
    /// Packets that could not be sent (the unfragmentable part alone is too big).
    pub unsendable: u64,
}

#[derive(Debug, Clone, Copy)]
struct Dest {
    pmtu: Option<(usize, Instant)>,
    next_id: u32,
    used: Instant,
}

/// The destination cache of one host.
#[derive(Debug)]
pub struct Paths {
    config: PathConfig,
    link_mtu: usize,
    dests: Map<Ipv6Addr, Dest>,
    rng: SmallRng,
    stats: PathStats,
}

impl Paths {
    /// An empty cache for a link of `link_mtu`; `seed` makes the identifications repeat.
    pub fn new(config: PathConfig, link_mtu: usize, seed: u64) -> Self {
        Self {
            config,
            link_mtu,
            dests: Map::default(),
            rng: SmallRng::seed_from_u64(seed ^ 0x6672_6167),
            stats: PathStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &PathStats {
        &self.stats
    }

    /// The link MTU.
    pub fn link_mtu(&self) -> usize {
        self.link_mtu
    }

    /// Sets the link MTU (an RA's MTU option).
    pub fn set_link_mtu(&mut self, mtu: usize) {
        self.link_mtu = mtu.max(ipv6::MIN_MTU);
    }

    /// The path MTU toward `dst` at `now`: the link MTU unless a Packet Too Big lowered it
    /// less than the aging time ago.
    pub fn mtu_to(&self, dst: Ipv6Addr, now: Instant) -> usize {
        match self.dests.get(&dst).and_then(|d| d.pmtu) {
            Some((mtu, at)) if now.saturating_duration_since(at) < self.config.aging => {
                mtu.min(self.link_mtu)
            }
            _ => self.link_mtu,
        }
    }

    /// The path MTUs learnt and still held, smallest address first.
    pub fn learnt(&self, now: Instant) -> Vec<(Ipv6Addr, usize)> {
        let mut v: Vec<_> = self
            .dests
            .iter()
            .filter_map(|(a, d)| d.pmtu.map(|_| (*a, self.mtu_to(*a, now))))
            .filter(|&(_, m)| m < self.link_mtu)
            .collect();
        v.sort_unstable();
        v
    }

    /// A Packet Too Big about a packet we sent (`invoking`, as quoted) reported `mtu`:
    /// the path MTU toward its destination drops to it, never below 1280 (RFC 8201 4,
    /// RFC 8021) and never up. Whether it changed.
    pub fn packet_too_big(&mut self, invoking: &[u8], mtu: u32, now: Instant) -> bool {
        let Some(dst) = quoted_destination(invoking) else {
            return false;
        };
        let mtu = usize::try_from(mtu)
            .unwrap_or(usize::MAX)
            .max(ipv6::MIN_MTU);
        if mtu >= self.mtu_to(dst, now) {
            return false;
        }
        let d = self.dest(dst, now);
        d.pmtu = Some((mtu, now));
        self.stats.pmtu_lowered += 1;
        tracing::debug!(%dst, mtu, "path MTU lowered by Packet Too Big");
        true
    }

    /// Queues `packet` on `out`, in fragments when it exceeds the path MTU toward its
    /// destination.
    pub fn send(&mut self, packet: Vec<u8>, now: Instant, out: &mut VecDeque<Vec<u8>>) {
        let Some(dst) = Ipv6Packet::new(&packet).map(|p| p.dst()) else {
            return;
        };
        let mtu = self.mtu_to(dst, now);
        if packet.len() <= mtu {
            out.push_back(packet);
            return;
        }
        let d = self.dest(dst, now);
        let id = d.next_id;
        d.next_id = d.next_id.wrapping_add(1);
        match frag::fragment(&packet, mtu, id) {
            Ok(frags) if !frags.is_empty() => {
                self.stats.fragmented += 1;
                self.stats.fragments_sent += frags.len() as u64;
                out.extend(frags);
            }
            _ => self.stats.unsendable += 1,
        }
    }

    fn dest(&mut self, dst: Ipv6Addr, now: Instant) -> &mut Dest {
        if !self.dests.contains_key(&dst) && self.dests.len() >= self.config.max_destinations {
            let oldest = self
                .dests
                .iter()
                .min_by_key(|(_, d)| d.used)
                .map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.dests.remove(&a);
            }
        }
        let first_id = self.rng.random::<u32>();
        let d = self.dests.entry(dst).or_insert(Dest {
            pmtu: None,
            next_id: first_id,
            used: now,
        });
        d.used = now;
        d
    }
}

/// The destination of the packet an ICMPv6 error quotes.
fn quoted_destination(invoking: &[u8]) -> Option<Ipv6Addr> {
    let b: [u8; 16] = invoking.get(24..40)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{frag, icmpv6, ipv6};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn to(dst: &str, size: usize) -> Vec<u8> {
        icmpv6::echo_request(a("2001:db8:1::10"), a(dst), 1, 1, &vec![0; size])
    }

    #[test]
    fn packet_too_big_lowers_the_path_for_the_aging_time_and_fragments_follow() {
        let mut p = Paths::new(PathConfig::default(), 1500, 1);
        let (t0, mut out) = (Instant::now(), VecDeque::new());
        p.send(to("2001:db8:1:1000::5", 1400), t0, &mut out);
        assert_eq!(out.len(), 1, "1448 bytes fit 1500");
        let big = out.pop_front().unwrap();
        assert!(p.packet_too_big(&big, 1280, t0));
        assert!(!p.packet_too_big(&big, 1400, t0), "never up");
        assert!(!p.packet_too_big(&big, 1280, t0), "no change, not counted");
        p.send(to("2001:db8:1:1000::5", 1400), t0, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|f| f.len() <= 1280));
        let ids: Vec<u32> = out
            .iter()
            .map(|f| frag::find(f).unwrap().unwrap().id())
            .collect();
        assert_eq!(ids[0], ids[1]);
        out.clear();
        p.send(to("2001:db8:1:1000::5", 3000), t0, &mut out);
        let next = frag::find(&out[0]).unwrap().unwrap().id();
        assert_eq!(next, ids[0].wrapping_add(1), "a counter per destination");
        assert_eq!(
            p.stats(),
            &PathStats {
                fragmented: 2,
                fragments_sent: 2 + 3,
                pmtu_lowered: 1,
                unsendable: 0
            }
        );
        // below 1280 is taken as 1280 (RFC 8201, RFC 8021)
        let mut q = Paths::new(PathConfig::default(), 1500, 1);
        assert!(q.packet_too_big(&big, 600, t0));
        assert_eq!(q.mtu_to(a("2001:db8:1:1000::5"), t0), 1280);
        // aging: held until ten minutes, the link MTU from then on
        let aging = PathConfig::default().aging;
        let dst = a("2001:db8:1:1000::5");
        assert_eq!(p.mtu_to(dst, t0 + aging - Duration::from_millis(1)), 1280);
        assert_eq!(p.mtu_to(dst, t0 + aging), 1500);
        assert!(p.learnt(t0 + aging).is_empty());
    }

    #[test]
    fn the_destination_cache_forgets_the_least_recently_used() {
        let cfg = PathConfig {
            max_destinations: 2,
            ..PathConfig::default()
        };
        let mut p = Paths::new(cfg, 1500, 1);
        let t0 = Instant::now();
        let dsts = ["2001:db8::1", "2001:db8::2", "2001:db8::3"];
        for (i, d) in dsts.iter().enumerate() {
            let quoted = to(d, 8);
            assert!(p.packet_too_big(&quoted, 1280, t0 + Duration::from_secs(i as u64)));
        }
        let held: Vec<Ipv6Addr> = p.learnt(t0).into_iter().map(|(a, _)| a).collect();
        assert_eq!(held, vec![a(dsts[1]), a(dsts[2])]);
    }

    #[test]
    fn a_packet_whose_unfragmentable_part_fills_the_mtu_cannot_be_sent() {
        let inner = to("2001:db8::9", 100);
        // a Hop-by-Hop header of 1248 bytes: with the fixed header and a Fragment header
        // no room for data is left in 1280
        let mut hbh = vec![0u8; 1248];
        hbh[0] = ipv6::PROTO_ICMPV6;
        hbh[1] = (1248 / 8 - 1) as u8;
        let p = frag::with_extension(&inner, ipv6::PROTO_HOPOPT, &hbh);
        let mut paths = Paths::new(PathConfig::default(), 1280, 1);
        let mut out = VecDeque::new();
        paths.send(p, Instant::now(), &mut out);
        assert!(out.is_empty());
        assert_eq!(paths.stats().unsendable, 1);
    }
}
