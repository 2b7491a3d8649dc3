//! IPv6 fragments (RFC 8200 4.5): walking the header chain to the Fragment header, cutting
//! a packet into fragments at its source, and the header-chain rule for first fragments
//! (RFC 7112). The Fragment header itself is etherparse's [`Ipv6FragmentHeader`].
//!
//! Reassembly keeps state and time, so it lives with the hosts in
//! [`crate::link::reassembly`].

use etherparse::{IpFragOffset, IpNumber, Ipv6FragmentHeader};

use super::ipv6::{HEADER_LEN, PROTO_HOPOPT, PROTO_ICMPV6, PROTO_UDP, set_payload_len};

/// Next Header value for the Fragment header.
pub const PROTO_FRAGMENT: u8 = 44;
/// Next Header value for the Routing header.
pub const PROTO_ROUTING: u8 = 43;
/// Next Header value for Destination Options.
pub const PROTO_DSTOPTS: u8 = 60;
/// Next Header value for the Authentication Header.
pub const PROTO_AH: u8 = 51;
/// Next Header value for "No Next Header".
pub const PROTO_NONE: u8 = 59;
/// Next Header value for TCP.
pub const PROTO_TCP: u8 = 6;
/// Length of the Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = Ipv6FragmentHeader::LEN;
/// The largest IPv6 payload without a jumbogram: Payload Length is 16 bits.
pub const MAX_PAYLOAD: usize = 65_535;

/// Why a packet's header chain cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// An extension header runs past the end of the packet.
    #[error("an extension header runs past the end of the packet")]
    Truncated,
    /// Payload Length 0 (a jumbogram's Hop-by-Hop option): fragments cannot be one
    /// (RFC 2675 3), and nothing here carries jumbograms.
    #[error("a jumbogram (Payload Length 0) cannot be fragmented")]
    Jumbogram,
}

/// Whether `nh` is an extension header this walker can step over (RFC 8200 4, RFC 7045).
fn is_extension(nh: u8) -> bool {
    matches!(
        nh,
        PROTO_HOPOPT | PROTO_ROUTING | PROTO_DSTOPTS | PROTO_AH | 135 | 139 | 140 | 253 | 254
    )
}

/// The length of the extension header at the start of `b` whose type is `nh`.
fn extension_len(nh: u8, b: &[u8]) -> Option<usize> {
    let len = *b.get(1)? as usize;
    let n = if nh == PROTO_AH {
        (len + 2) * 4
    } else {
        (len + 1) * 8
    };
    (b.len() >= n).then_some(n)
}

/// The packet's bytes bounded by its Payload Length.
fn bounded(packet: &[u8]) -> Result<&[u8], ChainError> {
    if packet.len() < HEADER_LEN {
        return Err(ChainError::Truncated);
    }
    let len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    if len == 0 && packet[6] == PROTO_HOPOPT {
        return Err(ChainError::Jumbogram);
    }
    Ok(&packet[..(HEADER_LEN + len).min(packet.len())])
}

/// One fragment of a datagram, as found in a received packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The fixed header and the extension headers before the Fragment header (the
    /// unfragmentable part), as received.
    pub unfragmentable: &'a [u8],
    /// Where, in `unfragmentable`, the Next Header field that names the Fragment header is.
    pub next_header_at: usize,
    /// The Fragment header.
    pub header: Ipv6FragmentHeader,
    /// The fragment's share of the fragmentable part.
    pub data: &'a [u8],
}

impl Fragment<'_> {
    /// Offset of the data in the original fragmentable part, in bytes.
    pub fn offset(&self) -> usize {
        usize::from(self.header.fragment_offset.byte_offset())
    }

    /// Whether more fragments follow (the M flag).
    pub fn more(&self) -> bool {
        self.header.more_fragments
    }

    /// The Identification.
    pub fn id(&self) -> u32 {
        self.header.identification
    }

    /// An atomic fragment (offset 0, M clear): a whole datagram in one piece (RFC 6946).
    pub fn is_atomic(&self) -> bool {
        self.offset() == 0 && !self.more()
    }

    /// Where the Fragment header starts in the packet.
    pub fn header_at(&self) -> usize {
        self.unfragmentable.len()
    }

    /// The datagram the data belongs to, put back together with `data` as its whole
    /// fragmentable part: this fragment's unfragmentable part with the Fragment header
    /// taken out of the chain and Payload Length set.
    pub fn rebuild(&self, data: &[u8]) -> Vec<u8> {
        let mut unfragmentable = Vec::with_capacity(self.unfragmentable.len() + data.len());
        unfragmentable.extend_from_slice(self.unfragmentable);
        join(
            unfragmentable,
            self.next_header_at,
            self.header.next_header.0,
            data,
        )
    }
}

/// A datagram put back together: its unfragmentable part, whose Next Header field at
/// `next_header_at` now names what the Fragment header named (`next_header`), then the
/// whole fragmentable part, with Payload Length set.
pub fn join(
    mut unfragmentable: Vec<u8>,
    next_header_at: usize,
    next_header: u8,
    data: &[u8],
) -> Vec<u8> {
    unfragmentable[next_header_at] = next_header;
    unfragmentable.extend_from_slice(data);
    set_payload_len(&mut unfragmentable);
    unfragmentable
}

/// `packet` with an extension header of type `nh` (the bytes `header`, its own Next
/// Header byte included) put right after the fixed header.
#[cfg(test)]
pub(crate) fn with_extension(packet: &[u8], nh: u8, header: &[u8]) -> Vec<u8> {
    let mut p = packet[..HEADER_LEN].to_vec();
    p[6] = nh;
    p.extend_from_slice(header);
    p.extend_from_slice(&packet[HEADER_LEN..]);
    set_payload_len(&mut p);
    p
}

/// Walks the header chain of `packet` to its Fragment header: `Ok(None)` when it has none.
pub fn find(packet: &[u8]) -> Result<Option<Fragment<'_>>, ChainError> {
    let p = bounded(packet)?;
    let mut nh = p[6];
    let mut field = 6;
    let mut at = HEADER_LEN;
    loop {
        if nh == PROTO_FRAGMENT {
            let (header, rest) =
                Ipv6FragmentHeader::from_slice(&p[at..]).map_err(|_| ChainError::Truncated)?;
            return Ok(Some(Fragment {
                unfragmentable: &p[..at],
                next_header_at: field,
                header,
                data: rest,
            }));
        }
        if !is_extension(nh) {
            return Ok(None);
        }
        let n = extension_len(nh, &p[at..]).ok_or(ChainError::Truncated)?;
        field = at;
        nh = p[at];
        at += n;
    }
}

/// The bytes of an upper-layer header a first fragment must carry whole (RFC 7112 5):
/// as much as the receiver reads to demultiplex (ports, type and code).
fn upper_header_len(nh: u8) -> usize {
    match nh {
        PROTO_TCP => 20,
        PROTO_UDP | PROTO_ICMPV6 => 8,
        _ => 0,
    }
}

/// Whether a first fragment's data, whose first header is `nh`, holds the whole header
/// chain up to and including the upper-layer header (RFC 7112 5). A second Fragment
/// header in the chain counts as incomplete: nothing nests fragments.
pub fn chain_complete(mut nh: u8, data: &[u8]) -> bool {
    let mut at = 0;
    loop {
        if nh == PROTO_FRAGMENT {
            return false;
        }
        if !is_extension(nh) {
            return data.len() - at >= upper_header_len(nh);
        }
        let Some(n) = extension_len(nh, &data[at..]) else {
            return false;
        };
        nh = data[at];
        at += n;
    }
}

/// The length of the unfragmentable part of an unfragmented packet (RFC 8200 4.5: the
/// fixed header, Hop-by-Hop Options, and everything up to the last Routing header) and
/// the position of the Next Header field that ends it.
fn unfragmentable_len(p: &[u8]) -> Result<(usize, usize), ChainError> {
    let (mut nh, mut at) = (p[6], HEADER_LEN);
    let mut end = (HEADER_LEN, 6);
    while is_extension(nh) {
        let n = extension_len(nh, &p[at..]).ok_or(ChainError::Truncated)?;
        let this = at;
        at += n;
        if nh == PROTO_HOPOPT || nh == PROTO_ROUTING {
            end = (at, this);
        }
        nh = p[this];
    }
    Ok(end)
}

/// Cuts `packet` into fragments of at most `mtu` bytes each, identified by `id` (RFC 8200
/// 4.5): every fragment carries the unfragmentable part, a Fragment header and a multiple
/// of 8 bytes of the rest (the last one what remains). A packet that fits is returned as
/// it is, without a Fragment header (RFC 8021: no atomic fragments).
pub fn fragment(packet: &[u8], mtu: usize, id: u32) -> Result<Vec<Vec<u8>>, ChainError> {
    let p = bounded(packet)?;
    if p.len() <= mtu {
        return Ok(vec![p.to_vec()]);
    }
    let (unfrag, field) = unfragmentable_len(p)?;
    let room = mtu.saturating_sub(unfrag + FRAGMENT_HEADER_LEN) / 8 * 8;
    if room == 0 {
        // the unfragmentable part alone fills the MTU: nothing can be sent
        return Ok(Vec::new());
    }
    let next_header = p[field];
    let rest = &p[unfrag..];
    let mut out = Vec::with_capacity(rest.len().div_ceil(room));
    for (i, chunk) in rest.chunks(room).enumerate() {
        let offset = i * room;
        let more = offset + chunk.len() < rest.len();
        let Ok(fo) = IpFragOffset::try_new(u16::try_from(offset / 8).unwrap_or(u16::MAX)) else {
            break;
        };
        let h = Ipv6FragmentHeader::new(IpNumber(next_header), fo, more, id);
        let mut f = Vec::with_capacity(unfrag + FRAGMENT_HEADER_LEN + chunk.len());
        f.extend_from_slice(&p[..unfrag]);
        f[field] = PROTO_FRAGMENT;
        f.extend_from_slice(&h.to_bytes());
        f.extend_from_slice(chunk);
        set_payload_len(&mut f);
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use crate::wire::{icmpv6, udp};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_packet_that_fits_is_not_fragmented() {
        let p = icmpv6::echo_request(a("2001:db8::1"), a("2001:db8::2"), 1, 1, &[7; 1232]);
        assert_eq!(p.len(), 1280);
        assert_eq!(fragment(&p, 1280, 9).unwrap(), vec![p.clone()]);
        assert_eq!(find(&p).unwrap(), None);
    }

    #[test]
    fn fragments_fit_the_mtu_and_etherparse_reads_them() {
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let p = udp::build(a("2001:db8::1"), a("2001:db8:1::10"), 5, 9, &data);
        let frags = fragment(&p, 1280, 0xdead_beef).unwrap();
        assert_eq!(frags.len(), 3);
        let mut next = 0;
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1280, "fragment {i} is {} bytes", f.len());
            let v = etherparse::SlicedPacket::from_ip(f).unwrap();
            let etherparse::NetSlice::Ipv6(ip) = v.net.unwrap() else {
                panic!("not IPv6")
            };
            assert!(ip.is_payload_fragmented());
            let fr = find(f).unwrap().unwrap();
            assert_eq!(fr.id(), 0xdead_beef);
            assert_eq!(fr.offset(), next);
            assert_eq!(fr.more(), i < 2);
            assert_eq!(fr.header.next_header.0, PROTO_UDP);
            assert_eq!(fr.offset() % 8, 0);
            next += fr.data.len();
        }
        assert_eq!(next, p.len() - HEADER_LEN);
        // the first fragment's data is a multiple of 8 and the first one is full
        assert_eq!(frags[0].len(), 40 + 8 + 1232);
    }

    #[test]
    fn a_hop_by_hop_header_stays_in_every_fragment() {
        let inner = udp::build(a("2001:db8::1"), a("2001:db8::2"), 5, 9, &[1; 2000]);
        // put an empty Hop-by-Hop header (8 bytes: next header UDP, padding) in front
        let p = with_extension(&inner, PROTO_HOPOPT, &[PROTO_UDP, 0, 1, 4, 0, 0, 0, 0]);
        let frags = fragment(&p, 1280, 1).unwrap();
        assert_eq!(frags.len(), 2);
        for f in &frags {
            assert_eq!(f[6], PROTO_HOPOPT);
            assert_eq!(f[40], PROTO_FRAGMENT);
            let fr = find(f).unwrap().unwrap();
            assert_eq!(fr.unfragmentable.len(), 48);
            assert_eq!(fr.next_header_at, 40);
        }
        let first = find(&frags[0]).unwrap().unwrap();
        assert!(chain_complete(first.header.next_header.0, first.data));
        assert_eq!(first.rebuild(first.data)[40], PROTO_UDP);
    }

    #[test]
    fn first_fragments_without_the_upper_header_are_incomplete() {
        assert!(chain_complete(PROTO_UDP, &[0; 8]));
        assert!(!chain_complete(PROTO_UDP, &[0; 7]));
        assert!(!chain_complete(PROTO_ICMPV6, &[0; 4]));
        assert!(chain_complete(PROTO_TCP, &[0; 20]));
        // a Destination Options header that says it is 16 bytes, in 8
        assert!(!chain_complete(
            PROTO_DSTOPTS,
            &[PROTO_UDP, 1, 0, 0, 0, 0, 0, 0]
        ));
        // a whole one, then UDP
        let mut d = vec![PROTO_UDP, 0, 1, 4, 0, 0, 0, 0];
        d.extend_from_slice(&[0; 8]);
        assert!(chain_complete(PROTO_DSTOPTS, &d));
        assert!(!chain_complete(PROTO_FRAGMENT, &[0; 64]));
        assert!(chain_complete(PROTO_NONE, &[]));
    }

    #[test]
    fn the_chain_walk_knows_each_header_length() {
        // TCP needs its 20 bytes
        assert!(!chain_complete(PROTO_TCP, &[0; 19]));
        // an 8-byte Destination Options header, then 4 of UDP's 8 bytes
        let mut d = vec![PROTO_UDP, 0, 1, 4, 0, 0, 0, 0];
        d.extend_from_slice(&[0; 4]);
        assert!(!chain_complete(PROTO_DSTOPTS, &d));
        // AH counts in 4-byte units plus 2: length 1 is 12 bytes
        let mut ah = vec![PROTO_UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ah.extend_from_slice(&[0; 8]);
        assert!(chain_complete(PROTO_AH, &ah));
        assert!(!chain_complete(PROTO_AH, &ah[..19]));
        ah[1] = 2;
        assert!(
            !chain_complete(PROTO_AH, &ah),
            "16 bytes of AH leave 4 of UDP"
        );
    }

    #[test]
    fn destination_options_travel_in_the_fragmentable_part() {
        let inner = udp::build(a("2001:db8::1"), a("2001:db8::2"), 5, 9, &[1; 2000]);
        let p = with_extension(&inner, PROTO_DSTOPTS, &[PROTO_UDP, 0, 1, 4, 0, 0, 0, 0]);
        let frags = fragment(&p, 1280, 1).unwrap();
        let first = find(&frags[0]).unwrap().unwrap();
        assert_eq!(first.unfragmentable.len(), 40);
        assert_eq!(first.header.next_header.0, PROTO_DSTOPTS);
        assert_eq!(&first.data[..8], &[PROTO_UDP, 0, 1, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn the_payload_length_bounds_the_packet() {
        // a bare fixed header with No Next Header is a packet
        let mut bare = vec![0u8; 40];
        bare[0] = 0x60;
        bare[6] = PROTO_NONE;
        assert_eq!(find(&bare), Ok(None));
        assert_eq!(find(&bare[..39]), Err(ChainError::Truncated));
        // bytes after the Payload Length are not part of the packet
        let d = udp::build(a("2001:db8::1"), a("2001:db8::2"), 5, 9, &[3; 3000]);
        let frags = fragment(&d, 1280, 4).unwrap();
        let mut last = frags[2].clone();
        let data_len = find(&last).unwrap().unwrap().data.len();
        last.extend_from_slice(&[0xee; 100]);
        assert_eq!(find(&last).unwrap().unwrap().data.len(), data_len);
        let mut padded = d.clone();
        padded.extend_from_slice(&[0xee; 100]);
        assert_eq!(fragment(&padded, 1280, 4).unwrap(), frags);
    }

    #[test]
    fn jumbograms_and_cut_headers_are_refused() {
        let mut p = icmpv6::echo_request(a("::1"), a("::2"), 1, 1, &[0; 16]);
        p[6] = PROTO_HOPOPT;
        p[4] = 0;
        p[5] = 0;
        assert_eq!(find(&p), Err(ChainError::Jumbogram));
        let mut p = icmpv6::echo_request(a("::1"), a("::2"), 1, 1, &[]);
        p[6] = PROTO_FRAGMENT;
        p.truncate(44);
        p[4..6].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(find(&p), Err(ChainError::Truncated));
    }
}
