//! # iphttps-harness
//!
//! The test world around a deployment, for people and CI: the lab (a deployment plus
//! clients), its fixtures (web proxy, transport toxics), the scenario format, loader and
//! runner, the reports, the measurements behind `iphttps bench`, and the soak.
//!
//! Modules are declared in layer order, lowest first; a module imports only modules
//! declared above it (`tests/layers.rs` checks it).

/// What long commands report while they work (the binary draws it).
pub mod progress;
/// What this machine allows and has: root, commands, network namespaces.
pub mod system;
/// What a lab puts around its deployment: a web proxy, transport toxics.
pub mod fixtures;
/// IPsec inside the tunnel (Linux): namespaces, strongSwan, the Windows views of it.
pub mod ipsec;
/// A deployment plus clients, started with one call.
pub mod lab;
/// `iphttps lab`: a lab with its admin endpoint, until interrupted.
pub mod lab_run;
/// The measurements behind `iphttps bench`, each beside its baseline.
pub mod perf;
/// `iphttps bench`: runs the measurements and renders the report.
pub mod bench;
/// `iphttps bench --peers` (Linux): the kernel-TUN tunnel beside real peers in network
/// namespaces.
#[cfg(target_os = "linux")]
pub mod peers;
/// `iphttps soak`: many clients, faults in rounds, memory and counters.
pub mod soak;
/// `iphttps swarm`: many full clients against any IP-HTTPS server.
pub mod swarm;
/// The scenario format and its load-time checks.
pub mod scenario;
/// The shipped suite and scenario discovery.
pub mod suite;
/// What each client went through during a scenario, for the reports.
pub mod timeline;
/// Runs scenarios against labs.
pub mod runner;
/// `run --simulated --repeat N`: the same runs compared digest by digest.
pub mod repeat;
/// The reports of a run: lines and summary, JSON, JUnit XML, the HTML page.
pub mod report;
