//! UDP datagrams (RFC 768) over IPv6: building with a checksum, and a checked view.

use std::net::Ipv6Addr;

use super::ipv6::{self, PROTO_UDP};

/// Builds a whole IPv6/UDP packet.
pub fn build(src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + data.len()).unwrap_or(u16::MAX);
    let mut body = Vec::with_capacity(8 + data.len());
    body.extend_from_slice(&src_port.to_be_bytes());
    body.extend_from_slice(&dst_port.to_be_bytes());
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(data);
    let mut pkt = ipv6::build(PROTO_UDP, 64, src, dst, &body, Some(6));
    // RFC 8200 8.1: a computed UDP checksum of zero is sent as 0xffff
    if pkt[46..48] == [0, 0] {
        pkt[46..48].copy_from_slice(&[0xff, 0xff]);
    }
    pkt
}

/// A parsed UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub data: &'a [u8],
}

/// Parses the UDP body of `pkt`, checking length and checksum; `None` if either is wrong.
pub fn parse<'a>(pkt: &ipv6::Ipv6Packet<'a>) -> Option<Datagram<'a>> {
    let b = pkt.payload();
    if b.len() < 8 || usize::from(u16::from_be_bytes([b[4], b[5]])) != b.len() {
        return None;
    }
    if !ipv6::checksum_valid(pkt.src(), pkt.dst(), PROTO_UDP, b) {
        return None;
    }
    Some(Datagram {
        src_port: u16::from_be_bytes([b[0], b[1]]),
        dst_port: u16::from_be_bytes([b[2], b[3]]),
        data: &b[8..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_round_trip_and_etherparse_checksum() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let pkt = build(s, d, 5000, 7, b"hello");
        let v = ipv6::Ipv6Packet::new(&pkt).unwrap();
        let g = parse(&v).unwrap();
        assert_eq!((g.src_port, g.dst_port, g.data), (5000, 7, &b"hello"[..]));
        let sliced = etherparse::SlicedPacket::from_ip(&pkt).unwrap();
        let Some(etherparse::TransportSlice::Udp(u)) = sliced.transport else {
            panic!()
        };
        let hdr = u.to_header();
        assert_eq!(
            hdr.calc_checksum_ipv6_raw(s.octets(), d.octets(), u.payload())
                .unwrap(),
            hdr.checksum
        );
    }
}
