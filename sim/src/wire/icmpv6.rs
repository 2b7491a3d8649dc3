//! ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861) messages: checked parsing into a
//! representation, and building of whole IPv6 packets with valid checksums.
//!
//! Parsing verifies the checksum and the RFC 4861 validity rules (hop limit 255, code 0,
//! minimum length, no zero-length option) that etherparse leaves to the application.

use std::net::Ipv6Addr;

use super::ipv6::{self, HEADER_LEN, MIN_MTU, PROTO_ICMPV6};

/// ICMPv6 type numbers used here.
pub mod kind {
    /// Destination Unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet Too Big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router Solicitation.
    pub const ROUTER_SOLICITATION: u8 = 133;
    /// Router Advertisement.
    pub const ROUTER_ADVERTISEMENT: u8 = 134;
    /// Neighbor Solicitation.
    pub const NEIGHBOR_SOLICITATION: u8 = 135;
    /// Neighbor Advertisement.
    pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
}

const OPT_PREFIX_INFO: u8 = 3;
const OPT_MTU: u8 = 5;

/// Why an ICMPv6 message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Icmpv6Error {
    /// Shorter than its type requires.
    #[error("ICMPv6 type {0} message truncated")]
    Truncated(u8),
    /// The checksum does not verify.
    #[error("ICMPv6 checksum invalid")]
    BadChecksum,
    /// An ND message not sent with hop limit 255 or with a non-zero code (RFC 4861 6.1, 7.1).
    #[error("ND message type {0} fails RFC 4861 validity (hop limit/code)")]
    InvalidNd(u8),
    /// An ND option with length 0 or running past the message.
    #[error("malformed ND option")]
    BadOption,
}

/// One Prefix Information option (RFC 4861 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    /// The prefix (bits past `len` are zero).
    pub prefix: Ipv6Addr,
    /// Prefix length in bits.
    pub len: u8,
    /// The L flag.
    pub on_link: bool,
    /// The A flag (use for SLAAC).
    pub autonomous: bool,
    /// Valid lifetime in seconds (`u32::MAX` = infinite).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds (`u32::MAX` = infinite).
    pub preferred_lifetime: u32,
}

/// A Router Advertisement's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterAdvert {
    /// Cur Hop Limit.
    pub cur_hop_limit: u8,
    /// Router Lifetime in seconds (0 = not a default router).
    pub router_lifetime: u16,
    /// Reachable Time in ms.
    pub reachable_time: u32,
    /// Retrans Timer in ms.
    pub retrans_timer: u32,
    /// Prefix Information options.
    pub prefixes: Vec<PrefixInfo>,
    /// The MTU option.
    pub mtu: Option<u32>,
}

/// A parsed ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Echo Request.
    EchoRequest {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Echo Reply.
    EchoReply {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Router Solicitation.
    RouterSolicitation,
    /// Router Advertisement.
    RouterAdvertisement(RouterAdvert),
    /// Neighbor Solicitation.
    NeighborSolicitation {
        /// Target address.
        target: Ipv6Addr,
    },
    /// Neighbor Advertisement.
    NeighborAdvertisement {
        /// Target address.
        target: Ipv6Addr,
        /// R flag.
        router: bool,
        /// S flag.
        solicited: bool,
        /// O flag.
        override_: bool,
    },
    /// Redirect.
    Redirect,
    /// Packet Too Big.
    PacketTooBig {
        /// The next-hop MTU.
        mtu: u32,
        /// As much of the invoking packet as was quoted.
        invoking: &'a [u8],
    },
    /// Destination Unreachable.
    DestUnreachable {
        /// Code.
        code: u8,
        /// The quoted invoking packet.
        invoking: &'a [u8],
    },
    /// Time Exceeded.
    TimeExceeded {
        /// Code.
        code: u8,
        /// The quoted invoking packet.
        invoking: &'a [u8],
    },
    /// Parameter Problem.
    ParameterProblem {
        /// Code.
        code: u8,
        /// Offset in the invoking packet of the field in error.
        pointer: u32,
        /// The quoted invoking packet.
        invoking: &'a [u8],
    },
    /// Any other type.
    Other {
        /// The type.
        kind: u8,
    },
}

/// Whether an ICMPv6 type is an error message (type < 128).
pub fn is_error(kind: u8) -> bool {
    kind < 128
}

/// Parses the ICMPv6 body of an IPv6 packet (`pkt.next_header()` must be 58).
pub fn parse<'a>(pkt: &ipv6::Ipv6Packet<'a>) -> Result<Message<'a>, Icmpv6Error> {
    let body = pkt.payload();
    if body.len() < 4 {
        return Err(Icmpv6Error::Truncated(body.first().copied().unwrap_or(0)));
    }
    let (t, code) = (body[0], body[1]);
    if !ipv6::checksum_valid(pkt.src(), pkt.dst(), PROTO_ICMPV6, body) {
        return Err(Icmpv6Error::BadChecksum);
    }
    let need = |n: usize| {
        if body.len() < n {
            Err(Icmpv6Error::Truncated(t))
        } else {
            Ok(())
        }
    };
    let u16_at = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
    let u32_at = |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
    let addr_at = |i: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&body[i..i + 16]);
        Ipv6Addr::from(a)
    };
    let nd_valid = |min: usize| {
        need(min)?;
        if pkt.hop_limit() != 255 || code != 0 {
            return Err(Icmpv6Error::InvalidNd(t));
        }
        options(&body[min..]).try_for_each(|o| o.map(|_| ()))
    };
    Ok(match t {
        kind::ECHO_REQUEST | kind::ECHO_REPLY => {
            need(8)?;
            let (id, seq, data) = (u16_at(4), u16_at(6), &body[8..]);
            if t == kind::ECHO_REQUEST {
                Message::EchoRequest { id, seq, data }
            } else {
                Message::EchoReply { id, seq, data }
            }
        }
        kind::ROUTER_SOLICITATION => {
            nd_valid(8)?;
            Message::RouterSolicitation
        }
        kind::ROUTER_ADVERTISEMENT => {
            nd_valid(16)?;
            let mut ra = RouterAdvert {
                cur_hop_limit: body[4],
                router_lifetime: u16_at(6),
                reachable_time: u32_at(8),
                retrans_timer: u32_at(12),
                ..RouterAdvert::default()
            };
            for opt in options(&body[16..]) {
                let (ot, data) = opt?;
                match ot {
                    OPT_PREFIX_INFO if data.len() == 30 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&data[14..30]);
                        ra.prefixes.push(PrefixInfo {
                            len: data[0],
                            on_link: data[1] & 0x80 != 0,
                            autonomous: data[1] & 0x40 != 0,
                            valid_lifetime: u32::from_be_bytes([
                                data[2], data[3], data[4], data[5],
                            ]),
                            preferred_lifetime: u32::from_be_bytes([
                                data[6], data[7], data[8], data[9],
                            ]),
                            prefix: Ipv6Addr::from(a),
                        });
                    }
                    OPT_PREFIX_INFO => return Err(Icmpv6Error::BadOption),
                    OPT_MTU if data.len() == 6 => {
                        ra.mtu = Some(u32::from_be_bytes([data[2], data[3], data[4], data[5]]));
                    }
                    OPT_MTU => return Err(Icmpv6Error::BadOption),
                    _ => {}
                }
            }
            Message::RouterAdvertisement(ra)
        }
        kind::NEIGHBOR_SOLICITATION => {
            nd_valid(24)?;
            Message::NeighborSolicitation { target: addr_at(8) }
        }
        kind::NEIGHBOR_ADVERTISEMENT => {
            nd_valid(24)?;
            Message::NeighborAdvertisement {
                target: addr_at(8),
                router: body[4] & 0x80 != 0,
                solicited: body[4] & 0x40 != 0,
                override_: body[4] & 0x20 != 0,
            }
        }
        kind::REDIRECT => {
            nd_valid(40)?;
            Message::Redirect
        }
        kind::PACKET_TOO_BIG => {
            need(8)?;
            Message::PacketTooBig {
                mtu: u32_at(4),
                invoking: &body[8..],
            }
        }
        kind::DEST_UNREACHABLE => {
            need(8)?;
            Message::DestUnreachable {
                code,
                invoking: &body[8..],
            }
        }
        kind::TIME_EXCEEDED => {
            need(8)?;
            Message::TimeExceeded {
                code,
                invoking: &body[8..],
            }
        }
        kind::PARAMETER_PROBLEM => {
            need(8)?;
            Message::ParameterProblem {
                code,
                pointer: u32_at(4),
                invoking: &body[8..],
            }
        }
        other => Message::Other { kind: other },
    })
}

/// Iterates ND options as `(type, data after the type and length bytes)`.
fn options(mut b: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), Icmpv6Error>> {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        if b.len() < 2 || b[1] == 0 || usize::from(b[1]) * 8 > b.len() {
            b = &[];
            return Some(Err(Icmpv6Error::BadOption));
        }
        let n = usize::from(b[1]) * 8;
        let item = (b[0], &b[2..n]);
        b = &b[n..];
        Some(Ok(item))
    })
}

fn packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, body: &[u8]) -> Vec<u8> {
    ipv6::build(PROTO_ICMPV6, hop_limit, src, dst, body, Some(2))
}

/// An Echo Request.
pub fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    echo(kind::ECHO_REQUEST, src, dst, id, seq, data)
}

/// An Echo Reply.
pub fn echo_reply(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    echo(kind::ECHO_REPLY, src, dst, id, seq, data)
}

fn echo(t: u8, src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + data.len());
    body.extend_from_slice(&[t, 0, 0, 0]);
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&seq.to_be_bytes());
    body.extend_from_slice(data);
    packet(src, dst, 64, &body)
}

/// A Router Solicitation to all-routers, with no options (the tunnel has no link-layer addresses).
pub fn router_solicitation(src: Ipv6Addr) -> Vec<u8> {
    packet(
        src,
        ipv6::ALL_ROUTERS,
        255,
        &[kind::ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0],
    )
}

/// A Router Advertisement carrying `ra`'s prefixes and MTU.
pub fn router_advertisement(src: Ipv6Addr, dst: Ipv6Addr, ra: &RouterAdvert) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + 32 * ra.prefixes.len() + 8);
    body.extend_from_slice(&[kind::ROUTER_ADVERTISEMENT, 0, 0, 0, ra.cur_hop_limit, 0]);
    body.extend_from_slice(&ra.router_lifetime.to_be_bytes());
    body.extend_from_slice(&ra.reachable_time.to_be_bytes());
    body.extend_from_slice(&ra.retrans_timer.to_be_bytes());
    for p in &ra.prefixes {
        let flags = (u8::from(p.on_link) << 7) | (u8::from(p.autonomous) << 6);
        body.extend_from_slice(&[OPT_PREFIX_INFO, 4, p.len, flags]);
        body.extend_from_slice(&p.valid_lifetime.to_be_bytes());
        body.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
        body.extend_from_slice(&[0; 4]);
        body.extend_from_slice(&p.prefix.octets());
    }
    if let Some(mtu) = ra.mtu {
        body.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
        body.extend_from_slice(&mtu.to_be_bytes());
    }
    packet(src, dst, 255, &body)
}

/// A Neighbor Solicitation for `target` (a DAD probe when `src` is `::`).
pub fn neighbor_solicitation(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let mut body = [0u8; 24];
    body[0] = kind::NEIGHBOR_SOLICITATION;
    body[8..].copy_from_slice(&target.octets());
    packet(src, dst, 255, &body)
}

/// The flags of a Neighbor Advertisement (RFC 4861 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a Neighbor Solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_: bool,
}

impl NaFlags {
    /// A host announcing an address unsolicited (O only).
    pub const ANNOUNCEMENT: NaFlags = NaFlags {
        router: false,
        solicited: false,
        override_: true,
    };
    /// A host answering a solicitation (S and O).
    pub const HOST_ANSWER: NaFlags = NaFlags {
        router: false,
        solicited: true,
        override_: true,
    };
    /// A router answering a solicitation (R, S and O).
    pub const ROUTER_ANSWER: NaFlags = NaFlags {
        router: true,
        solicited: true,
        override_: true,
    };
}

/// A Neighbor Advertisement for `target`, with no Target Link-Layer Address option.
pub fn neighbor_advertisement(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    flags: NaFlags,
) -> Vec<u8> {
    let mut body = [0u8; 24];
    body[0] = kind::NEIGHBOR_ADVERTISEMENT;
    body[4] = (u8::from(flags.router) << 7)
        | (u8::from(flags.solicited) << 6)
        | (u8::from(flags.override_) << 5);
    body[8..].copy_from_slice(&target.octets());
    packet(src, dst, 255, &body)
}

/// An ICMPv6 error (Destination Unreachable, Packet Too Big, Time Exceeded, Parameter
/// Problem) about `invoking`, quoting as much of it as fits in the minimum MTU (RFC 4443 2.4(c)).
pub fn error(
    t: u8,
    code: u8,
    param: u32,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    invoking: &[u8],
) -> Vec<u8> {
    let quote = invoking.len().min(MIN_MTU - HEADER_LEN - 8);
    let mut body = Vec::with_capacity(8 + quote);
    body.extend_from_slice(&[t, code, 0, 0]);
    body.extend_from_slice(&param.to_be_bytes());
    body.extend_from_slice(&invoking[..quote]);
    packet(src, dst, 64, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn sample_ra() -> RouterAdvert {
        RouterAdvert {
            cur_hop_limit: 64,
            router_lifetime: 1800,
            reachable_time: 0,
            retrans_timer: 0,
            prefixes: vec![PrefixInfo {
                prefix: a("2001:db8:1:1000::"),
                len: 64,
                on_link: false,
                autonomous: true,
                valid_lifetime: u32::MAX,
                preferred_lifetime: u32::MAX,
            }],
            mtu: Some(1280),
        }
    }

    #[test]
    fn ra_round_trips_and_etherparse_agrees() {
        let ra = sample_ra();
        let pkt = router_advertisement(a("fe80::1"), ipv6::ALL_NODES, &ra);
        let view = ipv6::Ipv6Packet::new(&pkt).unwrap();
        assert_eq!(parse(&view), Ok(Message::RouterAdvertisement(ra)));
        let sliced = etherparse::SlicedPacket::from_ip(&pkt).unwrap();
        let Some(etherparse::TransportSlice::Icmpv6(s)) = sliced.transport else {
            panic!("not icmpv6")
        };
        assert!(s.is_checksum_valid(view.src().octets(), view.dst().octets()));
        assert!(matches!(
            s.icmp_type(),
            etherparse::Icmpv6Type::RouterAdvertisement(h) if h.router_lifetime == 1800
        ));
    }

    #[test]
    fn nd_with_wrong_hop_limit_or_bad_option_is_rejected() {
        let mut pkt = router_advertisement(a("fe80::1"), ipv6::ALL_NODES, &sample_ra());
        pkt[7] = 64;
        let v = ipv6::Ipv6Packet::new(&pkt).unwrap();
        assert_eq!(parse(&v), Err(Icmpv6Error::InvalidNd(134)));
        // an option with length 0
        let mut body = vec![134u8, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&[5, 0, 0, 0, 0, 0, 5, 0]);
        let pkt = packet(a("fe80::1"), ipv6::ALL_NODES, 255, &body);
        let v = ipv6::Ipv6Packet::new(&pkt).unwrap();
        assert_eq!(parse(&v), Err(Icmpv6Error::BadOption));
    }

    #[test]
    fn corrupted_checksum_is_rejected() {
        let mut pkt = echo_request(a("2001:db8::1"), a("2001:db8::2"), 1, 2, b"hi");
        pkt[HEADER_LEN + 9] ^= 0xff;
        let v = ipv6::Ipv6Packet::new(&pkt).unwrap();
        assert_eq!(parse(&v), Err(Icmpv6Error::BadChecksum));
    }

    #[test]
    fn ns_na_and_errors_parse() {
        let t = a("2001:db8::5");
        let ns = neighbor_solicitation(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(t), t);
        assert_eq!(
            parse(&ipv6::Ipv6Packet::new(&ns).unwrap()),
            Ok(Message::NeighborSolicitation { target: t })
        );
        let na = neighbor_advertisement(t, ipv6::ALL_NODES, t, NaFlags::ANNOUNCEMENT);
        assert_eq!(
            parse(&ipv6::Ipv6Packet::new(&na).unwrap()),
            Ok(Message::NeighborAdvertisement {
                target: t,
                router: false,
                solicited: false,
                override_: true
            })
        );
        let big = vec![0u8; 1500];
        let ptb = error(kind::PACKET_TOO_BIG, 0, 1280, a("fe80::1"), t, &big);
        assert_eq!(ptb.len(), MIN_MTU);
        assert!(matches!(
            parse(&ipv6::Ipv6Packet::new(&ptb).unwrap()),
            Ok(Message::PacketTooBig { mtu: 1280, .. })
        ));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fuzz target's twin: any ICMPv6 body (with a correct checksum, so the parser
        /// goes past it) parses or is refused, never panics.
        #[test]
        fn any_nd_message_is_parsed_or_refused(kind in 128u8..=137, code in 0u8..2, mut body in proptest::collection::vec(any::<u8>(), 0..200)) {
            body.splice(0..0, [kind, code, 0, 0]);
            let src: Ipv6Addr = "fe80::1".parse().unwrap();
            let pkt = ipv6::build(PROTO_ICMPV6, 255, src, ipv6::ALL_NODES, &body, Some(2));
            let view = ipv6::Ipv6Packet::new(&pkt).unwrap();
            let _ = parse(&view);
        }

        /// Every RA we build parses back to itself.
        #[test]
        fn ras_round_trip(lifetime in any::<u16>(), mtu in proptest::option::of(any::<u32>()), n in 0usize..4, valid in any::<u32>()) {
            let ra = RouterAdvert {
                cur_hop_limit: 64,
                router_lifetime: lifetime,
                prefixes: (0..n).map(|i| PrefixInfo {
                    prefix: ipv6::with_interface_id(Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 0), 0),
                    len: 64, on_link: i % 2 == 0, autonomous: true, valid_lifetime: valid, preferred_lifetime: valid / 2,
                }).collect(),
                mtu,
                ..RouterAdvert::default()
            };
            let pkt = router_advertisement("fe80::1".parse().unwrap(), ipv6::ALL_NODES, &ra);
            prop_assert_eq!(parse(&ipv6::Ipv6Packet::new(&pkt).unwrap()), Ok(Message::RouterAdvertisement(ra)));
        }
    }
}
