//! # iphttps-harness
//!
//! Runs the IP-HTTPS simulator for people and CI: the lab run behind `iphttps lab`, the
//! scenario format and its checks, the runner, transport toxics, and the reports.

pub mod bench;
pub mod lab_run;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod soak;
pub mod suite;
pub mod toxic;
