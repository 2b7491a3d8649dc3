//! Reassembly of IPv6 fragments at their destination (RFC 8200 4.5), sans-IO.
//!
//! Fragments are held per (source, destination, identification). A datagram is handed
//! up when its pieces cover it from 0 to the end the last fragment set. The rules:
//!
//! - 60 seconds after its first fragment arrived, an incomplete datagram is given up;
//!   if its first fragment (offset 0) had arrived, ICMPv6 Time Exceeded code 1 goes to
//!   its source, quoting that fragment.
//! - A fragment overlapping another discards the whole datagram, and the fragments of it
//!   still to come (RFC 5722). An exact duplicate is dropped alone (RFC 8200 4.5 allows it).
//! - An atomic fragment (offset 0, M clear) is a whole datagram, handled on its own,
//!   whatever else is held under its identification (RFC 6946).
//! - A first fragment without the whole header chain up to the upper-layer header is
//!   dropped with Parameter Problem code 3 (RFC 7112 5).
//! - A non-last fragment whose length is not a multiple of 8 gets Parameter Problem code 0
//!   pointing at Payload Length, one that would reassemble beyond 65,535 bytes code 0
//!   pointing at its Fragment Offset (RFC 8200 4.5).
//! - The memory held for incomplete datagrams is bounded per host: past the bound, the
//!   oldest datagram of the source holding the most is dropped and counted, so a source
//!   that floods loses its own datagrams first.
//!
//! etherparse's `defrag` module is not used for the buffers: its `IpDefragBuf` merges
//! overlapping fragments (RFC 5722 says discard) and keeps neither the unfragmentable part
//! nor the first fragment needed for Time Exceeded, and its pool has no timeout or bound.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::wire::frag::{self, Fragment, MAX_PAYLOAD};
use crate::wire::icmpv6::{self, kind};
use crate::wire::ipv6::{self, HEADER_LEN, PROTO_ICMPV6};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a datagram in reassembly costs besides its buffers (the table entry, its ranges).
const ENTRY_OVERHEAD: usize = 160;
/// The bytes of the first fragment kept to quote in Time Exceeded (RFC 4443 2.4(c)).
const QUOTE: usize = ipv6::MIN_MTU - HEADER_LEN - 8;

/// Reassembly limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// How long an incomplete datagram is held (RFC 8200: 60 seconds).
    pub timeout: Duration,
    /// Most bytes held for incomplete datagrams by one host.
    pub max_bytes: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_bytes: 4 << 20,
        }
    }
}

/// Reassembly counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReassemblyStats {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams put back together.
    pub reassembled: u64,
    /// Atomic fragments, handled as whole datagrams.
    pub atomic: u64,
    /// Datagrams given up after the timeout.
    pub timed_out: u64,
    /// Time Exceeded (code 1) messages sent for them.
    pub time_exceeded_sent: u64,
    /// Datagrams discarded because fragments overlapped (RFC 5722).
    pub overlapping: u64,
    /// Exact duplicate fragments dropped.
    pub duplicates: u64,
    /// First fragments without the whole header chain (RFC 7112).
    pub incomplete_chain: u64,
    /// Fragments refused for their length, offset or end, or after their datagram was
    /// discarded.
    pub invalid: u64,
    /// Datagrams dropped to keep within the memory bound.
    pub evicted: u64,
}

/// What became of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Kept until the rest arrives.
    Held,
    /// The datagram is whole: the packet, without its Fragment header.
    Whole(Vec<u8>),
    /// Dropped (counted in [`ReassemblyStats`]).
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    id: u32,
}

#[derive(Debug)]
struct First {
    unfragmentable: Vec<u8>,
    next_header_at: usize,
    next_header: u8,
    quote: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    deadline: Instant,
    /// Byte ranges received, never overlapping.
    ranges: Vec<(usize, usize)>,
    data: Vec<u8>,
    end: Option<usize>,
    first: Option<First>,
    /// Overlap or a conflicting end was seen: the rest is dropped until the timeout.
    discarded: bool,
    cost: usize,
}

impl Entry {
    fn measure(&self) -> usize {
        ENTRY_OVERHEAD
            + self.data.capacity()
            + self.ranges.capacity() * std::mem::size_of::<(usize, usize)>()
            + self
                .first
                .as_ref()
                .map_or(0, |f| f.unfragmentable.capacity() + f.quote.capacity())
    }

    fn complete(&self) -> bool {
        let Some(end) = self.end else {
            return false;
        };
        self.first.is_some() && self.ranges.iter().map(|(s, e)| e - s).sum::<usize>() == end
    }
}

#[derive(Debug, Default)]
struct SourceUse {
    bytes: usize,
    gens: BTreeSet<u64>,
}

/// One host's reassembly buffers.
#[derive(Debug)]
pub struct Reassembler {
    config: ReassemblyConfig,
    entries: Map<Key, Entry>,
    /// Every datagram held, oldest first (generation numbers grow with time).
    order: BTreeMap<u64, Key>,
    sources: Map<Ipv6Addr, SourceUse>,
    next_gen: u64,
    held: usize,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// Empty buffers with these limits.
    pub fn new(config: ReassemblyConfig) -> Self {
        Self {
            config,
            entries: Map::default(),
            order: BTreeMap::new(),
            sources: Map::default(),
            next_gen: 0,
            held: 0,
            stats: ReassemblyStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Bytes held for incomplete datagrams (what the bound applies to).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Datagrams in reassembly.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// When [`Reassembler::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (_, key) = self.order.first_key_value()?;
        self.entries.get(key).map(|e| e.deadline)
    }

    /// Gives up the datagrams whose time is out, queueing Time Exceeded where the first
    /// fragment had arrived.
    pub fn handle_timeout(&mut self, now: Instant, errors: &mut VecDeque<Vec<u8>>) {
        while let Some((_, &key)) = self.order.first_key_value() {
            if self.entries.get(&key).is_some_and(|e| e.deadline > now) {
                return;
            }
            let Some(e) = self.remove(key) else {
                continue;
            };
            if e.discarded {
                continue;
            }
            self.stats.timed_out += 1;
            tracing::debug!(src = %key.src, id = key.id, "fragment reassembly time exceeded");
            if let Some(first) = e.first
                && let Some(p) = error_to(key, kind::TIME_EXCEEDED, 1, 0, &first.quote)
            {
                self.stats.time_exceeded_sent += 1;
                errors.push_back(p);
            }
        }
    }

    /// Handles one fragment of `packet` (found by [`frag::find`]) addressed to this host.
    /// ICMPv6 errors it calls for are queued on `errors`.
    pub fn push(
        &mut self,
        packet: &[u8],
        f: &Fragment<'_>,
        now: Instant,
        errors: &mut VecDeque<Vec<u8>>,
    ) -> Outcome {
        self.stats.fragments += 1;
        let Some(p) = ipv6::Ipv6Packet::new(packet) else {
            self.stats.invalid += 1;
            return Outcome::Dropped;
        };
        let key = Key {
            src: p.src(),
            dst: p.dst(),
            id: f.id(),
        };
        let (offset, len) = (f.offset(), f.data.len());
        if f.more() && (len == 0 || len % 8 != 0) {
            self.stats.invalid += 1;
            if len > 0 {
                self.error(key, packet, 0, 4, errors);
            }
            return Outcome::Dropped;
        }
        if f.unfragmentable.len() - HEADER_LEN + offset + len > MAX_PAYLOAD {
            self.stats.invalid += 1;
            self.error(key, packet, 0, f.header_at() as u32 + 2, errors);
            return Outcome::Dropped;
        }
        if offset == 0 && !frag::chain_complete(f.header.next_header.0, f.data) {
            self.stats.incomplete_chain += 1;
            self.error(key, packet, 3, 0, errors);
            return Outcome::Dropped;
        }
        if f.is_atomic() {
            self.stats.atomic += 1;
            return Outcome::Whole(f.rebuild(f.data));
        }
        if !self.entries.contains_key(&key) {
            self.insert(key, now);
        }
        let Some(grows) = self.add(key, packet, f) else {
            return Outcome::Dropped;
        };
        // a datagram this fragment completes leaves at once: no need to make room for it
        if self.entries.get(&key).is_some_and(Entry::complete) {
            let e = self.remove(key).expect("checked above");
            let first = e.first.expect("complete means the first fragment is in");
            let end = e.end.expect("complete means the end is known");
            let whole = frag::join(
                first.unfragmentable,
                first.next_header_at,
                first.next_header,
                &e.data[..end],
            );
            self.stats.reassembled += 1;
            return Outcome::Whole(whole);
        }
        if grows && !self.within_bound(key) {
            return Outcome::Dropped;
        }
        Outcome::Held
    }

    fn insert(&mut self, key: Key, now: Instant) {
        let seq = self.next_gen;
        self.next_gen += 1;
        let e = Entry {
            seq,
            deadline: now + self.config.timeout,
            ranges: Vec::new(),
            data: Vec::new(),
            end: None,
            first: None,
            discarded: false,
            cost: ENTRY_OVERHEAD,
        };
        self.held += e.cost;
        let s = self.sources.entry(key.src).or_default();
        s.bytes += e.cost;
        s.gens.insert(seq);
        self.order.insert(seq, key);
        super::reserve_for_churn(&mut self.entries);
        self.entries.insert(key, e);
    }

    /// Adds the fragment's bytes to its datagram: `Some(grew)` when kept, `None` when
    /// dropped (the datagram may have been discarded with it).
    fn add(&mut self, key: Key, packet: &[u8], f: &Fragment<'_>) -> Option<bool> {
        let (start, end) = (f.offset(), f.offset() + f.data.len());
        let e = self.entries.get_mut(&key).expect("inserted before");
        if e.discarded {
            self.stats.invalid += 1;
            return None;
        }
        if e.ranges.contains(&(start, end)) {
            self.stats.duplicates += 1;
            return None;
        }
        let overlaps = e.ranges.iter().any(|&(s, t)| start < t && s < end);
        let beyond =
            |limit: usize, ranges: &[(usize, usize)]| ranges.iter().any(|&(_, t)| t > limit);
        let conflicting = match (e.end, f.more()) {
            (Some(known), false) => known != end,
            (Some(known), true) => end > known,
            (None, false) => beyond(end, &e.ranges),
            (None, true) => false,
        };
        if overlaps || conflicting {
            if overlaps {
                self.stats.overlapping += 1;
            } else {
                self.stats.invalid += 1;
            }
            tracing::debug!(src = %key.src, id = key.id, overlaps, "fragmented datagram discarded");
            e.discarded = true;
            e.ranges = Vec::new();
            e.data = Vec::new();
            e.first = None;
            self.recost(key);
            return None;
        }
        if e.data.len() < end {
            e.data.reserve_exact(end - e.data.len());
            e.data.resize(end, 0);
        }
        e.data[start..end].copy_from_slice(f.data);
        e.ranges.push((start, end));
        if !f.more() {
            e.end = Some(end);
        }
        if start == 0 {
            e.first = Some(First {
                unfragmentable: f.unfragmentable.to_vec(),
                next_header_at: f.next_header_at,
                next_header: f.header.next_header.0,
                quote: packet[..packet.len().min(QUOTE)].to_vec(),
            });
        }
        Some(self.recost(key))
    }

    /// Brings the held total up to date with the entry's cost; whether it grew.
    fn recost(&mut self, key: Key) -> bool {
        let Some(e) = self.entries.get_mut(&key) else {
            return false;
        };
        let (old, new) = (e.cost, e.measure());
        e.cost = new;
        self.held = self.held - old + new;
        let s = self
            .sources
            .get_mut(&key.src)
            .expect("every entry has its source");
        s.bytes = s.bytes - old + new;
        new > old
    }

    /// Drops the oldest datagrams of the sources holding the most until the total is
    /// within the bound; whether `key`'s datagram survived.
    fn within_bound(&mut self, key: Key) -> bool {
        let mut alive = true;
        while self.held > self.config.max_bytes {
            let Some(victim) = self
                .sources
                .values()
                .max_by_key(|s| s.bytes)
                .and_then(|s| s.gens.first())
                .and_then(|g| self.order.get(g).copied())
            else {
                break;
            };
            self.remove(victim);
            self.stats.evicted += 1;
            alive &= victim != key;
        }
        alive
    }

    fn remove(&mut self, key: Key) -> Option<Entry> {
        let e = self.entries.remove(&key)?;
        self.order.remove(&e.seq);
        self.held -= e.cost;
        if let Some(s) = self.sources.get_mut(&key.src) {
            s.bytes -= e.cost;
            s.gens.remove(&e.seq);
            if s.gens.is_empty() {
                self.sources.remove(&key.src);
            }
        }
        Some(e)
    }

    fn error(
        &mut self,
        key: Key,
        packet: &[u8],
        code: u8,
        pointer: u32,
        errors: &mut VecDeque<Vec<u8>>,
    ) {
        if let Some(p) = error_to(key, kind::PARAMETER_PROBLEM, code, pointer, packet) {
            errors.push_back(p);
        }
    }
}

/// An ICMPv6 error from the fragments' destination to their source, unless RFC 4443
/// 2.4(e) forbids it: never to a multicast or unspecified source, never from a multicast
/// destination, never about an ICMPv6 error message.
fn error_to(key: Key, t: u8, code: u8, param: u32, invoking: &[u8]) -> Option<Vec<u8>> {
    if key.src.is_unspecified() || key.src.is_multicast() || key.dst.is_multicast() {
        return None;
    }
    if let Ok(Some(f)) = frag::find(invoking)
        && f.offset() == 0
        && f.header.next_header.0 == PROTO_ICMPV6
        && f.data.first().is_some_and(|&t| icmpv6::is_error(t))
    {
        return None;
    }
    Some(icmpv6::error(t, code, param, key.dst, key.src, invoking))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::wire::frag::{PROTO_FRAGMENT, fragment};
    use crate::wire::ipv6::Ipv6Packet;
    use crate::wire::{icmpv6::Message, udp};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Buffers with the default limits, an empty error queue and the time.
    fn fresh() -> (Reassembler, VecDeque<Vec<u8>>, Instant) {
        (
            Reassembler::new(ReassemblyConfig::default()),
            VecDeque::new(),
            Instant::now(),
        )
    }

    fn datagram(len: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        udp::build(a("2001:db8:1:1000::5"), a("2001:db8:1::10"), 4000, 9, &data)
    }

    fn push(
        r: &mut Reassembler,
        p: &[u8],
        now: Instant,
        errors: &mut VecDeque<Vec<u8>>,
    ) -> Outcome {
        let f = frag::find(p).unwrap().expect("a fragment");
        r.push(p, &f, now, errors)
    }

    /// A fragment built by hand: `data` at `offset`, with the M flag.
    fn piece(id: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let whole = datagram(0);
        let mut p = whole[..40].to_vec();
        p[6] = PROTO_FRAGMENT;
        let h = etherparse::Ipv6FragmentHeader::new(
            etherparse::IpNumber(crate::wire::ipv6::PROTO_UDP),
            etherparse::IpFragOffset::try_new((offset / 8) as u16).unwrap(),
            more,
            id,
        );
        p.extend_from_slice(&h.to_bytes());
        p.extend_from_slice(data);
        crate::wire::ipv6::set_payload_len(&mut p);
        p
    }

    fn errors_of(q: &VecDeque<Vec<u8>>) -> Vec<(u8, u8, u32)> {
        q.iter()
            .map(|p| {
                let v = Ipv6Packet::new(p).unwrap();
                let body = v.payload();
                let param = u32::from_be_bytes(body[4..8].try_into().unwrap());
                assert!(matches!(
                    icmpv6::parse(&v),
                    Ok(Message::TimeExceeded { .. } | Message::ParameterProblem { .. })
                ));
                (body[0], body[1], param)
            })
            .collect()
    }

    #[test]
    fn fragments_in_any_order_give_the_datagram_back() {
        let d = datagram(4000);
        let mut frags = fragment(&d, 1280, 7).unwrap();
        frags.reverse();
        let (mut r, mut q, now) = fresh();
        let n = frags.len();
        for (i, f) in frags.iter().enumerate() {
            let out = push(&mut r, f, now, &mut q);
            if i + 1 < n {
                assert_eq!(out, Outcome::Held);
            } else {
                assert_eq!(out, Outcome::Whole(d.clone()));
            }
        }
        assert_eq!((r.pending(), r.held_bytes()), (0, 0));
        assert_eq!(r.stats().reassembled, 1);
        assert!(q.is_empty());
    }

    #[test]
    fn the_timeout_sends_time_exceeded_only_when_the_first_fragment_came() {
        let d = datagram(3000);
        let frags = fragment(&d, 1280, 1).unwrap();
        let (mut r, mut q, t0) = fresh();
        // datagram 1: first fragment only; datagram 2: last fragment only
        push(&mut r, &frags[0], t0, &mut q);
        let other = fragment(&d, 1280, 2).unwrap();
        push(&mut r, &other[2], t0 + Duration::from_secs(1), &mut q);
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        r.handle_timeout(t0 + Duration::from_millis(59_999), &mut q);
        assert!(q.is_empty(), "nothing before 60 s");
        r.handle_timeout(t0 + Duration::from_secs(60), &mut q);
        assert_eq!(errors_of(&q), vec![(kind::TIME_EXCEEDED, 1, 0)]);
        let te = Ipv6Packet::new(&q[0]).unwrap();
        assert_eq!(
            (te.src(), te.dst()),
            (a("2001:db8:1::10"), a("2001:db8:1:1000::5"))
        );
        // it quotes the first fragment
        assert_eq!(&te.payload()[8..48], &frags[0][..40]);
        q.clear();
        r.handle_timeout(t0 + Duration::from_secs(61), &mut q);
        assert!(q.is_empty(), "no first fragment, no Time Exceeded");
        assert_eq!(r.stats().timed_out, 2);
        assert_eq!(r.stats().time_exceeded_sent, 1);
        assert_eq!((r.pending(), r.held_bytes()), (0, 0));
    }

    #[test]
    fn overlap_discards_the_datagram_and_what_follows_but_duplicates_do_not() {
        let (mut r, mut q, now) = fresh();
        let head = piece(5, 0, true, &[1; 16]);
        assert_eq!(push(&mut r, &head, now, &mut q), Outcome::Held);
        assert_eq!(push(&mut r, &head, now, &mut q), Outcome::Dropped);
        assert_eq!(r.pending(), 1, "an exact duplicate is dropped alone");
        assert_eq!(r.stats().duplicates, 1);
        // 8..24 overlaps 0..16
        assert_eq!(
            push(&mut r, &piece(5, 8, true, &[2; 16]), now, &mut q),
            Outcome::Dropped
        );
        assert_eq!(r.stats().overlapping, 1);
        // the rest of that datagram is dropped too, though it would have completed it
        assert_eq!(
            push(&mut r, &piece(5, 16, false, &[3; 8]), now, &mut q),
            Outcome::Dropped
        );
        assert_eq!(r.stats().invalid, 1, "counted as refused");
        // until the timeout, with no Time Exceeded for a discarded datagram
        r.handle_timeout(now + Duration::from_secs(60), &mut q);
        assert!(q.is_empty());
        assert_eq!(r.pending(), 0);
        // afterwards the identification is free again
        let t = now + Duration::from_secs(61);
        push(&mut r, &piece(5, 0, true, &[1; 16]), t, &mut q);
        assert!(matches!(
            push(&mut r, &piece(5, 16, false, &[3; 8]), t, &mut q),
            Outcome::Whole(_)
        ));
    }

    #[test]
    fn the_ip_layer_wakes_for_the_timeout_and_counts_bad_chains() {
        let mut ip = crate::link::ip::IpLayer::new(Default::default(), 1280, 1);
        let (mut q, now) = (VecDeque::new(), Instant::now());
        assert_eq!(ip.poll_timeout(), None);
        assert_eq!(ip.receive(&piece(1, 0, true, &[0; 16]), now, &mut q), None);
        assert_eq!(ip.poll_timeout(), Some(now + Duration::from_secs(60)));
        let mut cut = piece(2, 0, true, &[0; 16]);
        cut.truncate(44);
        cut[4..6].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(ip.receive(&cut, now, &mut q), None);
        assert_eq!(ip.stats().bad_chain, 1);
        assert_eq!(
            (ip.stats().pending, ip.stats().reassembly.fragments),
            (1, 1)
        );
        ip.handle_timeout(now + Duration::from_secs(60), &mut q);
        assert_eq!(errors_of(&q), vec![(kind::TIME_EXCEEDED, 1, 0)]);
    }

    /// What a held datagram costs: its data, the unfragmentable part, the quote kept for
    /// Time Exceeded (at most 1232 bytes), its ranges and a fixed overhead.
    #[test]
    fn a_held_datagram_is_counted_at_what_it_holds() {
        let (mut r, mut q, now) = fresh();
        let frags = fragment(&datagram(3000), 1500, 1).unwrap();
        assert_eq!(frags[0].len(), 1496);
        assert_eq!(push(&mut r, &frags[0], now, &mut q), Outcome::Held);
        let data = 1448;
        let at_least =
            ENTRY_OVERHEAD + data + 40 + QUOTE + 4 * std::mem::size_of::<(usize, usize)>();
        assert_eq!(QUOTE, 1232);
        assert!(
            (at_least..at_least + 64).contains(&r.held_bytes()),
            "{} held, {at_least} expected",
            r.held_bytes()
        );
        assert_eq!(r.stats().fragments, 1);
        let held = r.held_bytes();
        push(&mut r, &frags[1], now, &mut q);
        push(&mut r, &frags[2], now, &mut q);
        assert_eq!((r.stats().fragments, r.held_bytes()), (3, 0));
        // a bound of exactly that much holds it; one byte less does not, and the fragment
        // that was too much is reported dropped
        for (max_bytes, kept) in [(held, true), (held - 1, false)] {
            let cfg = ReassemblyConfig {
                max_bytes,
                ..ReassemblyConfig::default()
            };
            let mut r = Reassembler::new(cfg);
            let want = if kept {
                Outcome::Held
            } else {
                Outcome::Dropped
            };
            assert_eq!(
                push(&mut r, &frags[0], now, &mut q),
                want,
                "bound {max_bytes}"
            );
            assert_eq!(r.pending(), usize::from(kept));
            assert_eq!(r.stats().evicted, u64::from(!kept));
        }
    }

    #[test]
    fn a_last_fragment_that_ends_before_what_was_held_discards_the_datagram() {
        let (mut r, mut q, now) = fresh();
        assert_eq!(
            push(&mut r, &piece(4, 32, true, &[0; 16]), now, &mut q),
            Outcome::Held
        );
        // says the datagram ends at 24, though bytes up to 48 arrived
        assert_eq!(
            push(&mut r, &piece(4, 8, false, &[0; 16]), now, &mut q),
            Outcome::Dropped
        );
        assert_eq!(r.stats().invalid, 1);
        // two last fragments that disagree on the end
        assert_eq!(
            push(&mut r, &piece(6, 16, false, &[0; 8]), now, &mut q),
            Outcome::Held
        );
        assert_eq!(
            push(&mut r, &piece(6, 24, false, &[0; 8]), now, &mut q),
            Outcome::Dropped
        );
        // a fragment with more to come, beyond the end a last fragment set
        assert_eq!(
            push(&mut r, &piece(7, 16, false, &[0; 8]), now, &mut q),
            Outcome::Held
        );
        assert_eq!(
            push(&mut r, &piece(7, 24, true, &[0; 16]), now, &mut q),
            Outcome::Dropped
        );
        assert_eq!(r.stats().invalid, 3);
        // a last fragment of no data right after the data completes it
        let d8 = datagram(8);
        assert_eq!(
            push(&mut r, &piece(8, 0, true, &d8[40..]), now, &mut q),
            Outcome::Held
        );
        assert_eq!(
            push(&mut r, &piece(8, 16, false, &[]), now, &mut q),
            Outcome::Whole(d8)
        );
        // not an IPv6 packet
        let mut v4 = piece(10, 8, true, &[0; 8]);
        v4[0] = 0x45;
        assert_eq!(push(&mut r, &v4, now, &mut q), Outcome::Dropped);
        assert_eq!(r.stats().invalid, 4);
        // a last fragment of no data that ends where the data ends completes it, whatever
        // the order
        let d = datagram(16);
        assert_eq!(
            push(&mut r, &piece(5, 0, true, &d[40..56]), now, &mut q),
            Outcome::Held
        );
        assert_eq!(
            push(&mut r, &piece(5, 24, false, &[]), now, &mut q),
            Outcome::Held
        );
        assert_eq!(
            push(&mut r, &piece(5, 16, true, &d[56..]), now, &mut q),
            Outcome::Whole(d)
        );
    }

    /// RFC 4443 2.4(e): no error to an unspecified or multicast source, none about a
    /// datagram sent to a multicast group, none about an ICMPv6 error.
    #[test]
    fn no_time_exceeded_where_rfc_4443_forbids_it() {
        let (mut r, mut q, t0) = fresh();
        let unicast = piece(1, 0, true, &[0; 16]);
        for (src, dst) in [
            ("::", "2001:db8:1::10"),
            ("ff02::1", "2001:db8:1::10"),
            ("2001:db8:1:1000::5", "ff02::1"),
        ] {
            let mut p = unicast.clone();
            p[8..24].copy_from_slice(&a(src).octets());
            p[24..40].copy_from_slice(&a(dst).octets());
            assert_eq!(push(&mut r, &p, t0, &mut q), Outcome::Held);
        }
        // an ICMPv6 error in fragments (a Time Exceeded of 1232 bytes and more)
        let te = icmpv6::error(
            kind::TIME_EXCEEDED,
            0,
            0,
            a("2001:db8:1:1000::5"),
            a("2001:db8:1::10"),
            &[0; 1300],
        );
        let mut big = te[..40].to_vec();
        big.extend_from_slice(&te[40..]);
        big.extend_from_slice(&[0; 200]);
        crate::wire::ipv6::set_payload_len(&mut big);
        let first = fragment(&big, 1280, 5).unwrap().remove(0);
        assert_eq!(push(&mut r, &first, t0, &mut q), Outcome::Held);
        r.handle_timeout(t0 + Duration::from_secs(60), &mut q);
        assert_eq!(r.stats().timed_out, 4);
        assert!(q.is_empty(), "{} error(s) sent", q.len());
    }

    /// A source's count falls when its datagrams leave: one that completed a big datagram
    /// does not look big afterwards.
    #[test]
    fn a_completed_datagram_no_longer_counts_against_its_source() {
        let (mut q, now) = (VecDeque::new(), Instant::now());
        let small = datagram(8);
        let big = fragment(&datagram(3000), 1280, 7).unwrap();
        let mut other = big[0].clone();
        other[8..24].copy_from_slice(&a("2001:db8:1:1000::b").octets());
        // room for the small datagram's first half with the big one's first two
        // fragments, or with one of the other source's, not with two of those
        let cfg = ReassemblyConfig {
            max_bytes: 5000,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        assert_eq!(
            push(&mut r, &piece(2, 0, true, &small[40..48]), now, &mut q),
            Outcome::Held
        );
        for f in &big[..2] {
            assert_eq!(push(&mut r, f, now, &mut q), Outcome::Held);
        }
        assert!(matches!(
            push(&mut r, &big[2], now, &mut q),
            Outcome::Whole(_)
        ));
        assert_eq!(r.stats().evicted, 0);
        // the other source's second datagram goes over the bound: it holds the most now,
        // and its older datagram goes
        assert_eq!(push(&mut r, &other, now, &mut q), Outcome::Held);
        other[44..48].copy_from_slice(&8u32.to_be_bytes());
        assert_eq!(push(&mut r, &other, now, &mut q), Outcome::Held);
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(
            push(&mut r, &piece(2, 8, false, &small[48..]), now, &mut q),
            Outcome::Whole(small)
        );
    }

    #[test]
    fn atomic_fragments_stand_alone() {
        let (mut r, mut q, now) = fresh();
        push(&mut r, &piece(9, 0, true, &[1; 16]), now, &mut q);
        let d = datagram(8);
        let atomic = piece(9, 0, false, &d[40..]);
        assert_eq!(push(&mut r, &atomic, now, &mut q), Outcome::Whole(d));
        assert_eq!(
            r.pending(),
            1,
            "the datagram held under the same identification stays"
        );
        assert_eq!(r.stats().atomic, 1);
    }

    #[test]
    fn bad_first_fragments_lengths_and_offsets_get_parameter_problem() {
        let (mut r, mut q, now) = fresh();
        // a first fragment that ends inside the UDP header (RFC 7112)
        assert_eq!(
            push(&mut r, &piece(1, 0, true, &[0; 0]), now, &mut q),
            Outcome::Dropped
        );
        let short = piece(1, 0, false, &[0; 4]);
        assert_eq!(push(&mut r, &short, now, &mut q), Outcome::Dropped);
        // a non-last fragment not a multiple of 8
        assert_eq!(
            push(&mut r, &piece(2, 0, true, &[0; 12]), now, &mut q),
            Outcome::Dropped
        );
        // beyond 65,535 once reassembled
        assert_eq!(
            push(&mut r, &piece(3, 65528, false, &[0; 16]), now, &mut q),
            Outcome::Dropped
        );
        assert_eq!(
            errors_of(&q),
            vec![
                (kind::PARAMETER_PROBLEM, 3, 0),
                (kind::PARAMETER_PROBLEM, 0, 4),
                (kind::PARAMETER_PROBLEM, 0, 42),
            ]
        );
        assert_eq!(r.stats().incomplete_chain, 1);
        assert_eq!(r.stats().invalid, 3);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn a_flooding_source_loses_its_own_datagrams_first() {
        let cfg = ReassemblyConfig {
            max_bytes: 64 * 1024,
            ..ReassemblyConfig::default()
        };
        let (mut r, mut q, now) = (Reassembler::new(cfg), VecDeque::new(), Instant::now());
        let honest = fragment(&datagram(3000), 1280, 1).unwrap();
        push(&mut r, &honest[0], now, &mut q);
        // a hostile source: first fragments that never complete
        let mut bad = piece(0, 0, true, &[0; 1200]);
        bad[8..24].copy_from_slice(&a("2001:db8:1:1000::666").octets());
        for id in 0..500u32 {
            bad[44..48].copy_from_slice(&id.to_be_bytes());
            let _ = push(&mut r, &bad, now, &mut q);
            assert!(r.held_bytes() <= cfg.max_bytes, "bound kept");
        }
        assert!(r.stats().evicted > 400, "{:?}", r.stats());
        // the honest datagram was not evicted: its other fragments complete it
        push(&mut r, &honest[1], now, &mut q);
        assert!(matches!(
            push(&mut r, &honest[2], now, &mut q),
            Outcome::Whole(_)
        ));
    }

    /// The bound evicts by what each source holds now: a source whose datagrams are big
    /// pays before one whose single datagram grew in many small steps.
    #[test]
    fn eviction_goes_by_what_each_source_holds_now() {
        let cfg = ReassemblyConfig {
            // three big first fragments and the small datagram's first 16 steps fit
            max_bytes: 9000,
            ..ReassemblyConfig::default()
        };
        let (mut r, mut q, now) = (Reassembler::new(cfg), VecDeque::new(), Instant::now());
        let mut big = fragment(&datagram(3000), 1280, 0).unwrap().remove(0);
        big[8..24].copy_from_slice(&a("2001:db8:1:1000::b").octets());
        for id in 0..3u32 {
            big[44..48].copy_from_slice(&id.to_be_bytes());
            assert_eq!(push(&mut r, &big, now, &mut q), Outcome::Held);
        }
        assert_eq!(r.stats().evicted, 0);
        // another source's datagram, 8 bytes at a time
        let d = datagram(160);
        let n = (d.len() - 40) / 8;
        for i in 0..n - 1 {
            let part = &d[40 + i * 8..48 + i * 8];
            assert_eq!(
                push(&mut r, &piece(9, i * 8, true, part), now, &mut q),
                Outcome::Held
            );
        }
        assert!(r.stats().evicted > 0, "the bound was reached");
        let last = piece(9, (n - 1) * 8, false, &d[d.len() - 8..]);
        assert_eq!(
            push(&mut r, &last, now, &mut q),
            Outcome::Whole(d),
            "the big datagrams' source paid: {:?}",
            r.stats()
        );
    }

    fn ops() -> impl Strategy<Value = Vec<(u8, u16, bool, u16, u64)>> {
        // (id, offset in 8-byte units, M, length, milliseconds later)
        proptest::collection::vec(
            (0u8..4, 0u16..40, any::<bool>(), 0u16..400, 0u64..20_000),
            1..80,
        )
    }

    proptest! {
        /// Any fragment sequence: no panic, the bound holds, every datagram handed up is
        /// a well-formed packet without a Fragment header, and after the timeout nothing
        /// is held.
        #[test]
        fn any_fragment_sequence_is_bounded_and_ends(seq in ops()) {
            let cfg = ReassemblyConfig { max_bytes: 16 * 1024, ..ReassemblyConfig::default() };
            let (mut r, mut q) = (Reassembler::new(cfg), VecDeque::new());
            let mut now = Instant::now();
            for (id, off, more, len, later) in seq {
                now += Duration::from_millis(later);
                r.handle_timeout(now, &mut q);
                let p = piece(u32::from(id), usize::from(off) * 8, more, &vec![id; usize::from(len)]);
                if let Outcome::Whole(w) = push(&mut r, &p, now, &mut q) {
                    let v = Ipv6Packet::new(&w).unwrap();
                    prop_assert_eq!(v.payload_len() + 40, w.len());
                    prop_assert_eq!(v.next_header(), crate::wire::ipv6::PROTO_UDP);
                }
                prop_assert!(r.held_bytes() <= cfg.max_bytes);
            }
            r.handle_timeout(now + cfg.timeout, &mut q);
            prop_assert_eq!((r.pending(), r.held_bytes()), (0, 0));
        }

        /// The fragments of a real datagram, shuffled and some duplicated, give it back.
        #[test]
        fn shuffled_fragments_reassemble(len in 0usize..9000, mtu in 1280usize..1500, seed in any::<u64>()) {
            let d = datagram(len);
            let mut frags = fragment(&d, mtu, 3).unwrap();
            if frags.len() < 2 {
                return Ok(());
            }
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(seed);
            rand::seq::SliceRandom::shuffle(frags.as_mut_slice(), &mut rng);
            let dup = frags[0].clone();
            frags.insert(1, dup);
            let (mut r, mut q, now) = fresh();
            let got: Vec<_> = frags.iter().filter_map(|f| match push(&mut r, f, now, &mut q) {
                Outcome::Whole(w) => Some(w),
                _ => None,
            }).collect();
            prop_assert_eq!(got, vec![d]);
        }
    }
}
