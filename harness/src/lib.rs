//! # iphttps-harness
//!
//! Runs the IP-HTTPS simulator for people and CI. For now: the lab run behind
//! `iphttps lab` (start a world, ping across it, report). The scenario runner lands here.

pub mod lab_run;
