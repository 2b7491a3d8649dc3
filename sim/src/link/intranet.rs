//! A host on the internal network behind the server (e.g. `2001:db8:1::10`): it answers
//! ICMPv6 Echo, echoes UDP on port 7, sinks UDP on port 9 (discard), and records the
//! ICMPv6 errors and Echo Replies it receives for the pings it sends itself.

use std::net::Ipv6Addr;

use crate::wire::icmpv6::{self, Message};
use crate::wire::ipv6::{Ipv6Packet, PROTO_ICMPV6, PROTO_UDP};
use crate::wire::udp;

/// UDP echo port.
pub const ECHO_PORT: u16 = 7;
/// UDP discard port.
pub const DISCARD_PORT: u16 = 9;

/// Counters of the intranet host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntranetStats {
    /// Echo Requests answered.
    pub echo_replies_sent: u64,
    /// UDP datagrams echoed.
    pub udp_echoed: u64,
    /// UDP datagrams sunk on the discard port.
    pub discarded_packets: u64,
    /// UDP payload bytes sunk on the discard port.
    pub discarded_bytes: u64,
    /// Echo Replies received, as (from, seq).
    pub echo_replies: Vec<(Ipv6Addr, u16)>,
    /// Packet Too Big messages received, as the MTU each reported.
    pub packet_too_big: Vec<u32>,
}

/// The intranet host.
#[derive(Debug)]
pub struct IntranetHost {
    address: Ipv6Addr,
    stats: IntranetStats,
}

impl IntranetHost {
    /// A host with this address.
    pub fn new(address: Ipv6Addr) -> Self {
        Self {
            address,
            stats: IntranetStats::default(),
        }
    }

    /// Its address.
    pub fn address(&self) -> Ipv6Addr {
        self.address
    }

    /// Its counters.
    pub fn stats(&self) -> &IntranetStats {
        &self.stats
    }

    /// An Echo Request from this host to `dst` with `size` data bytes.
    pub fn ping(&self, dst: Ipv6Addr, seq: u16, size: usize) -> Vec<u8> {
        icmpv6::echo_request(self.address, dst, 0x1d, seq, &vec![0xa5; size])
    }

    /// Handles one packet; returns the reply to send back, if any.
    pub fn handle_packet(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let pkt = Ipv6Packet::new(packet)?;
        if pkt.dst() != self.address {
            return None;
        }
        match pkt.next_header() {
            PROTO_ICMPV6 => match icmpv6::parse(&pkt).ok()? {
                Message::EchoRequest { id, seq, data } => {
                    self.stats.echo_replies_sent += 1;
                    Some(icmpv6::echo_reply(self.address, pkt.src(), id, seq, data))
                }
                Message::EchoReply { seq, .. } => {
                    self.stats.echo_replies.push((pkt.src(), seq));
                    None
                }
                Message::PacketTooBig { mtu, .. } => {
                    self.stats.packet_too_big.push(mtu);
                    None
                }
                _ => None,
            },
            PROTO_UDP => {
                let d = udp::parse(&pkt)?;
                match d.dst_port {
                    ECHO_PORT => {
                        self.stats.udp_echoed += 1;
                        Some(udp::build(
                            self.address,
                            pkt.src(),
                            ECHO_PORT,
                            d.src_port,
                            d.data,
                        ))
                    }
                    DISCARD_PORT => {
                        self.stats.discarded_packets += 1;
                        self.stats.discarded_bytes += d.data.len() as u64;
                        None
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}
