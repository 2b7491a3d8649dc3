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

/// What of `tools` (command or absolute path, Debian package) is not there: the missing
/// tools, and the packages that have them (sorted, once each); `None` when all are.
pub fn missing(tools: &[(&str, &str)]) -> Option<(Vec<String>, Vec<String>)> {
    let gone: Vec<(&str, &str)> = tools.iter().copied().filter(|(t, _)| !present(t)).collect();
    if gone.is_empty() {
        return None;
    }
    let mut packages: Vec<String> = gone.iter().map(|(_, p)| p.to_string()).collect();
    packages.sort();
    packages.dedup();
    Some((gone.iter().map(|(t, _)| t.to_string()).collect(), packages))
}

/// A command that could not run or failed: what it was for, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct Failed {
    /// The step.
    pub what: String,
    /// Its standard error (or why it could not start).
    pub detail: String,
}

/// Runs `cmd` to completion with no input; its failure names `what` and carries its
/// standard error.
pub fn run(cmd: &mut Command, what: &str) -> Result<String, Failed> {
    let fail = |detail: String| Failed {
        what: what.to_string(),
        detail,
    };
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_each_absent_tool_and_each_package_once() {
        assert_eq!(missing(&[("sh", "dash")]), None);
        let (tools, packages) = missing(&[
            ("/nonexistent/b", "pkg-b"),
            ("sh", "dash"),
            ("/nonexistent/a", "pkg-a"),
            ("/nonexistent/c", "pkg-b"),
        ])
        .expect("three are missing");
        assert_eq!(
            tools,
            ["/nonexistent/b", "/nonexistent/a", "/nonexistent/c"]
        );
        assert_eq!(packages, ["pkg-a", "pkg-b"]);
    }

    #[test]
    fn a_failed_command_says_what_it_was_for_and_what_it_said() {
        let e = run(
            Command::new("sh").args(["-c", "echo nope >&2; exit 3"]),
            "a step",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "a step: nope");
        assert_eq!(
            run(Command::new("sh").args(["-c", "echo yes"]), "x").unwrap(),
            "yes\n"
        );
    }
}
