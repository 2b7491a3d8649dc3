//! deframe: back-to-back IPv6 packets through the stream deframer, beside a plain copy
//! of the same buffer (the memory-bandwidth limit), at 64, 576 and 1280 bytes.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group};
use iphttps_sim::wire::deframe::{Deframer, frame_len};
use iphttps_sim::wire::ipv6;
use std::hint::black_box;

const STREAM: usize = 1 << 20;

fn stream(packet_len: usize) -> Vec<u8> {
    let p = ipv6::build(
        ipv6::PROTO_UDP,
        64,
        "2001:db8:1:1000::2".parse().unwrap(),
        "2001:db8:1::10".parse().unwrap(),
        &vec![0x5a; packet_len - ipv6::HEADER_LEN],
        None,
    );
    p.repeat(STREAM / packet_len)
}

fn deframe(c: &mut Criterion) {
    let mut g = c.benchmark_group("deframe");
    for size in [64usize, 576, 1280] {
        let buf = stream(size);
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_with_input(BenchmarkId::new("copy", size), &buf, |b, buf| {
            let mut dst = vec![0u8; buf.len()];
            b.iter(|| {
                dst.copy_from_slice(black_box(buf));
                black_box(&dst);
            })
        });
        g.bench_with_input(BenchmarkId::new("frame_len", size), &buf, |b, buf| {
            b.iter(|| {
                let mut s = &buf[..];
                let mut n = 0usize;
                while let Ok(Some(len)) = frame_len(s, 1280) {
                    n += 1;
                    s = &s[len..];
                }
                black_box(n)
            })
        });
        // the stream bytes are already in the receive buffer, as after a TLS read into it;
        // what is timed is delimiting and handing out each packet as shared `Bytes`
        g.bench_with_input(BenchmarkId::new("deframer", size), &buf, |b, buf| {
            b.iter_batched(
                || Deframer::with_initial(1280, buf),
                |mut d| {
                    let mut n = 0usize;
                    while let Ok(Some(p)) = d.next_packet() {
                        n += p.len();
                    }
                    black_box(n)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, deframe);
iphttps_harness::bench_main!(benches);
