//! wire: Neighbor Discovery messages built and parsed, and the ICMPv6 checksum, beside
//! etherparse doing the same parse (a baseline from another implementation).

use std::hint::black_box;
use std::net::Ipv6Addr;

use criterion::{Criterion, Throughput, criterion_group};
use iphttps_sim::wire::icmpv6::{self, PrefixInfo, RouterAdvert};
use iphttps_sim::wire::ipv6::{self, Ipv6Packet};

fn ra() -> RouterAdvert {
    RouterAdvert {
        cur_hop_limit: 64,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: 0,
        prefixes: vec![PrefixInfo {
            prefix: "2001:db8:1:1000::".parse().unwrap(),
            len: 64,
            on_link: false,
            autonomous: true,
            valid_lifetime: u32::MAX,
            preferred_lifetime: u32::MAX,
        }],
        mtu: Some(1280),
    }
}

fn wire(c: &mut Criterion) {
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    let host: Ipv6Addr = "fe80::1234:5678:9abc:def0".parse().unwrap();
    let target: Ipv6Addr = "2001:db8:1:1000::42".parse().unwrap();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("build_rs", |b| {
        b.iter(|| icmpv6::router_solicitation(black_box(host)))
    });
    let ra_adv = ra();
    g.bench_function("build_ra", |b| {
        b.iter(|| icmpv6::router_advertisement(black_box(ll), ipv6::ALL_NODES, black_box(&ra_adv)))
    });
    g.bench_function("build_ns", |b| {
        b.iter(|| {
            icmpv6::neighbor_solicitation(
                Ipv6Addr::UNSPECIFIED,
                ipv6::solicited_node(target),
                black_box(target),
            )
        })
    });
    g.bench_function("build_na", |b| {
        b.iter(|| {
            icmpv6::neighbor_advertisement(
                black_box(target),
                ipv6::ALL_NODES,
                target,
                icmpv6::NaFlags::ANNOUNCEMENT,
            )
        })
    });
    let pkts = [
        ("parse_rs", icmpv6::router_solicitation(host)),
        (
            "parse_ra",
            icmpv6::router_advertisement(ll, ipv6::ALL_NODES, &ra_adv),
        ),
        (
            "parse_ns",
            icmpv6::neighbor_solicitation(
                Ipv6Addr::UNSPECIFIED,
                ipv6::solicited_node(target),
                target,
            ),
        ),
        (
            "parse_na",
            icmpv6::neighbor_advertisement(
                target,
                ipv6::ALL_NODES,
                target,
                icmpv6::NaFlags::ANNOUNCEMENT,
            ),
        ),
    ];
    for (name, p) in &pkts {
        g.bench_function(*name, |b| {
            b.iter(|| icmpv6::parse(&Ipv6Packet::new(black_box(p)).unwrap()).is_ok())
        });
    }
    let ra_pkt = &pkts[1].1;
    g.bench_function("parse_ra_etherparse_baseline", |b| {
        b.iter(|| {
            let s = etherparse::SlicedPacket::from_ip(black_box(ra_pkt)).unwrap();
            match s.transport {
                Some(etherparse::TransportSlice::Icmpv6(i)) => {
                    i.is_checksum_valid(ll.octets(), ipv6::ALL_NODES.octets())
                }
                _ => false,
            }
        })
    });
    let body = vec![0x5au8; 1232];
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("checksum_1232", |b| {
        b.iter(|| ipv6::checksum(ll, target, ipv6::PROTO_ICMPV6, black_box(&body)))
    });
    g.bench_function("checksum_1232_etherparse_baseline", |b| {
        let hdr = etherparse::Icmpv6Header::new(etherparse::Icmpv6Type::EchoRequest(
            etherparse::IcmpEchoHeader { id: 1, seq: 1 },
        ));
        b.iter(|| {
            hdr.icmp_type
                .calc_checksum(ll.octets(), target.octets(), black_box(&body[8..]))
        })
    });
    g.finish();
}

criterion_group!(benches, wire);
iphttps_harness::bench_main!(benches);
