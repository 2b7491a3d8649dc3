//! Where a client's memory goes on the server: the live heap of each part a session
//! holds, measured one part at a time over many instances with the allocator's own
//! statistics (glibc's `mallinfo2`; nothing elsewhere). What the parts do not explain
//! (the session's two tasks, the client table's slot, the socket's user-space side) is
//! the rest of `bench --clients`' heap per client.

use std::sync::Arc;
use std::time::Instant;

use iphttps_sim::link::router::{Router, RouterConfig};
use iphttps_sim::metrics::heap_in_use;
use iphttps_sim::wire::deframe::Deframer;
use iphttps_sim::wire::ipv6::MIN_MTU;

use super::PerfError;

/// One part of a session and its heap per client.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// What it is.
    pub name: &'static str,
    /// Live heap per client, bytes.
    pub bytes: f64,
}

/// The heap each of `make`'s `k` results keeps alive, in bytes.
fn per_instance<T>(
    k: usize,
    mut make: impl FnMut() -> Result<T, PerfError>,
) -> Result<f64, PerfError> {
    let before = heap_in_use().ok_or_else(|| PerfError::stalled("no allocator statistics here"))?;
    let kept: Vec<T> = (0..k).map(|_| make()).collect::<Result<_, _>>()?;
    let after = heap_in_use().unwrap_or(before);
    // the vector holding them is not part of any session
    let holder = (k * std::mem::size_of::<T>()) as f64;
    drop(kept);
    Ok((after.saturating_sub(before) as f64 - holder) / k as f64)
}

/// A server-side TLS session after a full handshake with a client (in memory), with the
/// server's own configuration; the client side is dropped.
fn tls_session(
    server: &Arc<rustls::ServerConfig>,
    client: &Arc<rustls::ClientConfig>,
) -> Result<rustls::ServerConnection, PerfError> {
    let fail = |e: &dyn std::fmt::Display| PerfError::stalled(format!("in-memory handshake: {e}"));
    let name = rustls::pki_types::ServerName::try_from(iphttps_sim::pki::DEFAULT_NAME)
        .map_err(|e| fail(&e))?;
    let mut c = rustls::ClientConnection::new(client.clone(), name).map_err(|e| fail(&e))?;
    let mut s = rustls::ServerConnection::new(server.clone()).map_err(|e| fail(&e))?;
    let mut wire = Vec::new();
    for _ in 0..10 {
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(s);
        }
        flight(&mut c, &mut s, &mut wire).map_err(|e| fail(&e))?;
        flight(&mut s, &mut c, &mut wire).map_err(|e| fail(&e))?;
    }
    Err(fail(&"did not finish"))
}

/// Moves what `from` has to send into `to` (one flight of a handshake).
fn flight<A, B>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
    wire: &mut Vec<u8>,
) -> Result<(), Box<dyn std::error::Error>> {
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire)?;
    }
    let mut rd = &wire[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd)?;
    }
    to.process_new_packets()?;
    Ok(())
}

/// The heap per client of each part, over `k` instances of each.
pub fn breakdown(k: usize) -> Result<Vec<Part>, PerfError> {
    let k = k.max(1);
    let pki = iphttps_sim::pki::Pki::generate(&iphttps_sim::pki::PkiOptions::new(
        iphttps_sim::pki::DEFAULT_NAME,
        time::OffsetDateTime::now_utc(),
    ))
    .map_err(|e| PerfError::stalled(e.to_string()))?;
    let server = iphttps_sim::tls::server_config(&pki, false)
        .map_err(|e| PerfError::stalled(e.to_string()))?;
    let client = iphttps_sim::tls::client_config(&pki.root_ca, None)
        .map_err(|e| PerfError::stalled(e.to_string()))?;
    let tls = per_instance(k, || tls_session(&server, &client))?;
    // the receive buffer after the first read: its initial room
    let room = per_instance(k, || {
        let mut d = Deframer::new(MIN_MTU);
        d.buffer_mut();
        Ok(d)
    })?;
    // an idle client's queue (the server's default depth; it allocates nothing until a
    // frame comes)
    let queue = per_instance(k, || {
        Ok(std::sync::Arc::new(iphttps_sim::server::ClientQueue::new(
            4096,
        )))
    })?;
    let mut router = Router::new(RouterConfig {
        max_clients: k + 1,
        ..RouterConfig::new(
            "2001:db8:1:1000::/64".parse().expect("a prefix"),
            "2001:db8:1::/48".parse().expect("a prefix"),
        )
    });
    let now = Instant::now();
    let table = per_instance(k, || {
        router
            .add_client(now)
            .map_err(|e| PerfError::stalled(e.to_string()))
    })?;
    Ok(vec![
        Part {
            name: "tls_session",
            bytes: tls,
        },
        Part {
            name: "read_room",
            bytes: room,
        },
        Part {
            name: "client_queue",
            bytes: queue,
        },
        Part {
            name: "router_entry",
            bytes: table,
        },
    ])
}
