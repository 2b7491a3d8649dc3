//! The reassembler on arbitrary fragment sequences: each record of the input is one
//! fragment (identification, offset, M flag, length, time step). It never panics, keeps
//! within its memory bound, hands up only well-formed packets, and holds nothing after
//! the timeout.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use iphttps_sim::link::reassembly::{Outcome, ReassemblyConfig, Reassembler};
use iphttps_sim::wire::{frag, ipv6};
use libfuzzer_sys::fuzz_target;

fn fragment(id: u8, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    let src: std::net::Ipv6Addr = "2001:db8:1:1000::5".parse().unwrap();
    let dst: std::net::Ipv6Addr = "2001:db8:1::10".parse().unwrap();
    ipv6::write_header(&mut p, (8 + data.len()) as u16, frag::PROTO_FRAGMENT, 64, src, dst);
    p[40] = ipv6::PROTO_UDP;
    let fo = (offset & 0x1fff) << 3 | u16::from(more);
    p[42..44].copy_from_slice(&fo.to_be_bytes());
    p[47] = id;
    p.extend_from_slice(data);
    p
}

fuzz_target!(|data: &[u8]| {
    let cfg = ReassemblyConfig {
        max_bytes: 32 * 1024,
        ..ReassemblyConfig::default()
    };
    let mut r = Reassembler::new(cfg);
    let mut errors = VecDeque::new();
    let mut now = Instant::now();
    let mut rest = data;
    while rest.len() >= 6 {
        let (h, tail) = rest.split_at(6);
        let len = usize::from(h[4]) * 8 + usize::from(h[5] & 7);
        let body = &tail[..len.min(tail.len())];
        rest = &tail[body.len()..];
        now += Duration::from_millis(u64::from(h[5] >> 3) * 1000);
        r.handle_timeout(now, &mut errors);
        let p = fragment(h[0] & 3, u16::from_be_bytes([h[1], h[2]]), h[3] & 1 == 1, body);
        let Ok(Some(f)) = frag::find(&p) else { continue };
        if let Outcome::Whole(w) = r.push(&p, &f, now, &mut errors) {
            let v = ipv6::Ipv6Packet::new(&w).expect("a packet");
            assert_eq!(v.payload_len() + 40, w.len());
            assert_eq!(v.next_header(), ipv6::PROTO_UDP);
        }
        assert!(r.held_bytes() <= cfg.max_bytes);
    }
    r.handle_timeout(now + cfg.timeout, &mut errors);
    assert_eq!((r.pending(), r.held_bytes()), (0, 0));
});
