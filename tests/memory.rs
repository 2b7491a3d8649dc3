//! The memory breakdown behind `bench --clients`: each part a server-side session holds is
//! measured, and the figures are what those parts are. Alone in its test binary, since
//! the allocator's statistics are process-wide.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use iphttps_harness::perf::memory::breakdown;
use iphttps_sim::wire::deframe::READ_SPACE;

#[test]
fn every_part_of_a_session_is_measured() {
    let parts = breakdown(200).unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["tls_session", "read_room", "client_queue", "router_entry"]
    );
    let bytes = |name: &str| parts.iter().find(|p| p.name == name).unwrap().bytes;
    // the receive buffer reserves its initial room on the first read, and little more
    let room = bytes("read_room");
    assert!(
        room >= READ_SPACE as f64 && room < 1.25 * READ_SPACE as f64,
        "read room {room} bytes"
    );
    // a handshaken session keeps its keys and buffers: more than nothing, less than the
    // whole client (24 KiB of resident memory is the target)
    let tls = bytes("tls_session");
    assert!(
        tls > 512.0 && tls < 24.0 * 1024.0,
        "TLS session {tls} bytes"
    );
    for p in &parts {
        assert!(p.bytes > 0.0, "{p:?}");
    }
}
