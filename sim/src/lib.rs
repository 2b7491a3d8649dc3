//! # iphttps-sim
//!
//! What IP-HTTPS is: the wire formats of [MS-IPHTTPS], the link's state machines
//! (the server's router, the client's host, an intranet host) without I/O, the PKI
//! and TLS configurations, and thin tokio shells that drive them over real TLS.

pub mod capture;
pub mod client;
pub mod lab;
pub mod link;
pub mod metrics;
pub mod pki;
pub mod server;
pub mod tls;
pub mod winerr;
pub mod wire;
/// Re-exported so callers build certificate dates with the same `time` version.
pub use time;
pub mod admin;
pub mod cdp;
pub mod control;
pub mod diag;
pub mod fault;
pub mod perf;
pub mod probe;
pub mod proxy;
pub mod transition;
#[cfg(target_os = "linux")]
pub mod tun;
