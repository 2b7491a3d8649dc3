//! tunnel: 64 MiB in 1280-byte packets end to end over loopback TLS 1.3, and beside each
//! the same bytes through a bare tokio-rustls connection with the same write sizes;
//! setup (connections to LinkUp) beside bare TLS handshakes; and ping round trips beside
//! a bare TLS echo. Each group holds the tunnel figure and its baseline.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use iphttps_harness::perf::{self, Direction};

const TOTAL: usize = 64 * 1024 * 1024;
const PACKET: usize = 1280;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn tunnel(c: &mut Criterion) {
    let rt = rt();
    for (group, dir) in [
        ("tunnel_upload", Direction::Upload),
        ("tunnel_download", Direction::Download),
        ("tunnel_client_to_client", Direction::ClientToClient),
    ] {
        let mut g = c.benchmark_group(group);
        g.sample_size(10)
            .measurement_time(Duration::from_secs(8))
            .throughput(Throughput::Bytes((TOTAL / PACKET * PACKET) as u64));
        g.bench_function("iphttps", |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    t += perf::tunnel_transfer(dir, TOTAL, PACKET).await.unwrap();
                }
                t
            })
        });
        g.bench_function("bare_tls_baseline", |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    t += perf::bare_transfer(dir, TOTAL, PACKET).await.unwrap();
                }
                t
            })
        });
        g.finish();
    }
}

fn setup(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("setup");
    g.sample_size(10).throughput(Throughput::Elements(100));
    g.bench_function("linkup_100_clients", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                t += perf::tunnel_setup(100).await.unwrap();
            }
            t
        })
    });
    g.bench_function("bare_tls_handshakes_100_baseline", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                t += perf::bare_setup(100).await.unwrap();
            }
            t
        })
    });
    g.finish();
}

fn latency(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("latency");
    g.sample_size(10);
    g.bench_function("ping_rtt_500", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                t += perf::tunnel_rtts(500)
                    .await
                    .unwrap()
                    .iter()
                    .sum::<Duration>()
                    / 500;
            }
            t
        })
    });
    g.bench_function("bare_tls_echo_rtt_500_baseline", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                t += perf::bare_rtts(500).await.unwrap().iter().sum::<Duration>() / 500;
            }
            t
        })
    });
    g.finish();
}

criterion_group!(benches, tunnel, setup, latency);
iphttps_harness::bench_main!(benches);
