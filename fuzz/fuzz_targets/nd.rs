//! ICMPv6 / Neighbor Discovery parsing on arbitrary packets, with and without a valid
//! checksum (so the parser is reached past it).
#![no_main]

use iphttps_sim::wire::{icmpv6, ipv6};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(p) = ipv6::Ipv6Packet::new(data) {
        let _ = icmpv6::parse(&p);
    }
    if data.len() >= 4 {
        let src = "fe80::1".parse().unwrap();
        let pkt = ipv6::build(ipv6::PROTO_ICMPV6, 255, src, ipv6::ALL_NODES, data, Some(2));
        if let Some(p) = ipv6::Ipv6Packet::new(&pkt) {
            let _ = icmpv6::parse(&p);
        }
    }
});
