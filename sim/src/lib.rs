//! # iphttps-sim
//!
//! What IP-HTTPS is: the wire formats of [MS-IPHTTPS], the link's state machines without
//! I/O, certificates and TLS, the tokio shells that drive them over real sockets, the
//! Windows-side model an operator sees, and the deployment `iphttps serve` runs.
//!
//! Modules are declared in layer order, lowest first; a module imports only modules
//! declared above it (`tests/layers.rs` checks it).

// 1. wire: bytes <-> meaning, no I/O, no clock
/// HTTP heads, the IPv6 stream deframer, IPv6, ICMPv6/ND, UDP.
pub mod wire;

// 2. link: sans-IO state machines, time as an argument
/// The server's router, the client's host, the intranet host, the reconnect timer.
pub mod link;

// 3. certificates, TLS, Windows error codes
/// Certificate sets, healthy and faulty (rcgen).
pub mod pki;
/// Failures -> Windows Last Error Codes, in one table.
pub mod winerr;
/// rustls (and OpenSSL) configurations, the TLS stream, revocation fetch.
pub mod tls;

// 4. what the shells share, and the client's states without I/O
/// The shutdown signal, a task guard, the one HTTP-head reader.
pub mod net;
/// The client's [MS-IPHTTPS] 3.1.1 states, status, failures, transition choice.
pub mod client_state;
/// Client-side diagnosis: from a client's status to causes and fixes.
pub mod diag;

// 5. shells: thin tokio layers around link/
/// pcap of tunnelled packets.
pub mod capture;
/// The packet port between a tunnel and an operating system's device.
pub mod port;
/// How a client reaches the server: resolve, TCP, web proxy CONNECT.
pub mod dial;
/// The IP-HTTPS server.
pub mod server;
/// The IP-HTTPS client.
pub mod client;
/// Kernel TUN devices (Linux only).
#[cfg(target_os = "linux")]
pub mod tun;

// 6. the Windows-side model, its faults, and the deployment tying a server to it
/// Interfaces, routes, services, Remote Access, the command interpreter, the views.
pub mod windows;
/// The fault catalogue: changes to the Windows-side state and the clients' configuration.
pub mod fault;
/// Server + Windows-side state + CRL distribution point: what `serve` runs.
pub mod deployment;

// 7. diagnostics
/// `iphttps probe`: stage-by-stage diagnosis of any IP-HTTPS endpoint.
pub mod probe;
/// /metrics (Prometheus text) and /status rendering.
pub mod metrics;

// 8. the admin endpoint
/// The admin endpoint (hyper, loopback): /run, /operations-status, /faults, /metrics, /status.
pub mod api;

/// Re-exported so callers build certificate dates with the same `time` version.
pub use time;
