//! A host on the internal network behind the server (e.g. `2001:db8:1::10`): it answers
//! ICMPv6 Echo, echoes UDP on port 7, sinks UDP on port 9 (discard), and records the
//! ICMPv6 errors and Echo Replies it receives for the pings it sends itself. Its link
//! MTU is the internal network's (1500); its IP layer ([`super::ip`]) learns smaller path
//! MTUs from Packet Too Big, fragments to fit them, and reassembles what comes in
//! fragments.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Instant;

use super::ip::{IpConfig, IpLayer, IpStats};
use crate::wire::icmpv6::{self, Message};
use crate::wire::ipv6::{Ipv6Packet, PROTO_ICMPV6, PROTO_UDP};
use crate::wire::udp;

/// UDP echo port.
pub const ECHO_PORT: u16 = 7;
/// UDP discard port.
pub const DISCARD_PORT: u16 = 9;

/// Counters of the intranet host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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
    /// Other ICMPv6 errors received, as (type, code).
    pub icmp_errors: Vec<(u8, u8)>,
    /// The IP layer's counters (fragments, reassembly, path MTU).
    pub ip: IpStats,
}

/// The intranet host.
#[derive(Debug)]
pub struct IntranetHost {
    address: Ipv6Addr,
    stats: IntranetStats,
    ip: IpLayer,
    transmit: VecDeque<Vec<u8>>,
}

impl IntranetHost {
    /// A host with this address on a link of `mtu` bytes.
    pub fn new(address: Ipv6Addr, mtu: usize, config: IpConfig) -> Self {
        let seed = u64::from_be_bytes(address.octets()[8..].try_into().expect("8 bytes"));
        Self {
            address,
            stats: IntranetStats::default(),
            ip: IpLayer::new(config, mtu, seed),
            transmit: VecDeque::new(),
        }
    }

    /// Its address.
    pub fn address(&self) -> Ipv6Addr {
        self.address
    }

    /// UDP datagrams sunk on the discard port so far (one counter, without copying the rest).
    pub fn discarded_packets(&self) -> u64 {
        self.stats.discarded_packets
    }

    /// Its counters.
    pub fn stats(&self) -> IntranetStats {
        IntranetStats {
            ip: self.ip.stats(),
            ..self.stats.clone()
        }
    }

    /// Its IP layer (path MTUs learnt, reassembly buffers).
    pub fn ip(&self) -> &IpLayer {
        &self.ip
    }

    /// Queues an Echo Request from this host to `dst` with `size` data bytes.
    pub fn ping(&mut self, dst: Ipv6Addr, seq: u16, size: usize, now: Instant) {
        let p = icmpv6::echo_request(self.address, dst, 0x1d, seq, &vec![0xa5; size]);
        self.ip.send(p, now, &mut self.transmit);
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// When [`IntranetHost::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ip.poll_timeout()
    }

    /// Gives up timed-out reassemblies (Time Exceeded queued).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ip.handle_timeout(now, &mut self.transmit);
    }

    /// Handles one packet; what it answers is queued (see [`IntranetHost::poll_transmit`]).
    pub fn handle_packet(&mut self, packet: &[u8], now: Instant) {
        let Some(pkt) = Ipv6Packet::new(packet) else {
            return;
        };
        if pkt.dst() != self.address {
            return;
        }
        let Some(whole) = self.ip.receive(packet, now, &mut self.transmit) else {
            return;
        };
        if let Some(reply) = self.answer(&whole, now) {
            self.ip.send(reply, now, &mut self.transmit);
        }
    }

    fn answer(&mut self, packet: &[u8], now: Instant) -> Option<Vec<u8>> {
        let pkt = Ipv6Packet::new(packet)?;
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
                Message::PacketTooBig { mtu, invoking } => {
                    self.stats.packet_too_big.push(mtu);
                    self.ip.paths_mut().packet_too_big(invoking, mtu, now);
                    None
                }
                Message::DestUnreachable { code, .. }
                | Message::TimeExceeded { code, .. }
                | Message::ParameterProblem { code, .. } => {
                    self.stats.icmp_errors.push((pkt.payload()[0], code));
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
