//! What this machine allows and has: root, commands on `PATH`, and the network
//! namespaces the Linux-only parts (`bench --peers`, the IPsec lab) create and remove.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether this process runs as root (namespaces, veth pairs and TUN devices need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .is_some_and(|uid| uid == "0")
}

/// Whether `tool` is there: an absolute path that exists, or an executable file in one
/// of `PATH`'s folders (or /usr/sbin, /sbin).
pub fn present(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(tool).is_file())
}

/// Kills every process in network namespace `ns`, then removes it.
pub fn remove_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// Removes the namespaces named `PREFIX` + `PID` + `-...` whose process is gone (killed
/// before it could clean up), or of process `pid` (an interrupted run).
pub fn remove_left_over(prefix: &str, pid: Option<u32>) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(owner) = name
            .strip_prefix(prefix)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = !Path::new(&format!("/proc/{owner}")).exists();
        if gone || Some(owner) == pid {
            remove_namespace(name);
        }
    }
}
