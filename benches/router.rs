//! router: the server's per-packet decision with no I/O, in packets per second:
//! client -> intranet, client -> client, and a spoofed source dropped.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use iphttps_sim::link::router::{Router, RouterConfig};
use iphttps_sim::wire::udp;

const BATCH: usize = 1024;

fn setup() -> (Router, u64, u64, Bytes, Bytes, Bytes) {
    let cfg = RouterConfig::new(
        "2001:db8:1:1000::/64".parse().unwrap(),
        "2001:db8:1::/48".parse().unwrap(),
    );
    let mut r = Router::new(cfg);
    let now = Instant::now();
    let a = r.add_client(now).unwrap();
    let b = r.add_client(now).unwrap();
    let (aa, ba) = (
        "2001:db8:1:1000::a".parse().unwrap(),
        "2001:db8:1:1000::b".parse().unwrap(),
    );
    let mut out = Vec::new();
    // each client claims its address by using it once
    r.handle_from_client(
        a,
        Bytes::from(udp::build(
            aa,
            "2001:db8:1::10".parse().unwrap(),
            1,
            9,
            b"x",
        )),
        now,
        &mut out,
    );
    r.handle_from_client(
        b,
        Bytes::from(udp::build(
            ba,
            "2001:db8:1::10".parse().unwrap(),
            1,
            9,
            b"x",
        )),
        now,
        &mut out,
    );
    let to_intranet = Bytes::from(udp::build(
        aa,
        "2001:db8:1::10".parse().unwrap(),
        1,
        9,
        &[0u8; 1232],
    ));
    let to_client = Bytes::from(udp::build(aa, ba, 1, 9, &[0u8; 1232]));
    let spoof = Bytes::from(udp::build(
        ba,
        "2001:db8:1::10".parse().unwrap(),
        1,
        9,
        &[0u8; 1232],
    ));
    (r, a, b, to_intranet, to_client, spoof)
}

fn router(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(BATCH as u64));
    let (mut r, a, _b, to_intranet, to_client, spoof) = setup();
    let now = Instant::now();
    for (name, pkt) in [
        ("client_to_intranet", &to_intranet),
        ("client_to_client", &to_client),
        ("spoof_dropped", &spoof),
    ] {
        g.bench_function(name, |bench| {
            let mut out = Vec::with_capacity(BATCH);
            bench.iter_batched_ref(
                || vec![pkt.clone(); BATCH],
                |batch| {
                    out.clear();
                    for p in batch.drain(..) {
                        r.handle_from_client(a, p, now, &mut out);
                    }
                    black_box(out.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, router);
iphttps_harness::bench_main!(benches);
