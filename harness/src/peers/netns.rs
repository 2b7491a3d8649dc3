//! Two network namespaces joined by a veth pair, the processes started in them, and
//! their removal.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::PeersError;

/// The prefix of every namespace `bench --peers` creates: `iphp-PID-s` and `iphp-PID-c`.
pub const PREFIX: &str = "iphp-";

/// The server end of the veth pair (a /30 that exists only inside the namespaces).
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 233, 0, 1);
/// The client end.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 233, 0, 2);

pub use crate::system::is_root;

/// Runs `cmd` to completion; its failure names `what` and carries its stderr.
pub fn run(cmd: &mut Command, what: &str) -> Result<String, PeersError> {
    Ok(crate::system::run(cmd, what)?)
}

/// A server namespace and a client namespace joined by a veth pair. Dropping it kills
/// every process left in them and removes both (the veth pair goes with them).
#[derive(Debug)]
pub struct Namespaces {
    /// The server's namespace.
    pub server: String,
    /// The client's namespace.
    pub client: String,
    /// The client namespace's end of the veth pair.
    pub client_veth: String,
}

impl Namespaces {
    /// Creates `bench --peers`' pair, with the veth pair up and addressed
    /// ([`SERVER_ADDR`], [`CLIENT_ADDR`]).
    pub fn create() -> Result<Self, PeersError> {
        let pid = std::process::id();
        Self::create_as(
            &format!("{PREFIX}{pid}"),
            &format!("iphpv{pid}"),
            (SERVER_ADDR, CLIENT_ADDR),
        )
    }

    /// Creates namespaces `TAG-s` and `TAG-c` joined by the veth pair `VETHa` / `VETHb`
    /// (at most 14 characters), up and addressed with `addrs` (server, client) in a /30,
    /// loopback up in both.
    pub fn create_as(
        tag: &str,
        veth: &str,
        addrs: (Ipv4Addr, Ipv4Addr),
    ) -> Result<Self, PeersError> {
        let ns = Namespaces {
            server: format!("{tag}-s"),
            client: format!("{tag}-c"),
            client_veth: format!("{veth}b"),
        };
        let (a, b) = (format!("{veth}a"), ns.client_veth.clone());
        run(
            Command::new("ip").args(["netns", "add", &ns.server]),
            "ip netns add",
        )?;
        run(
            Command::new("ip").args(["netns", "add", &ns.client]),
            "ip netns add",
        )?;
        run(
            Command::new("ip").args(["link", "add", &a, "type", "veth", "peer", "name", &b]),
            "ip link add veth",
        )?;
        run(
            Command::new("ip").args(["link", "set", &a, "netns", &ns.server]),
            "ip link set netns",
        )?;
        run(
            Command::new("ip").args(["link", "set", &b, "netns", &ns.client]),
            "ip link set netns",
        )?;
        for (netns, dev, addr) in [(&ns.server, &a, addrs.0), (&ns.client, &b, addrs.1)] {
            run(
                Command::new("ip").args([
                    "-n",
                    netns,
                    "addr",
                    "add",
                    &format!("{addr}/30"),
                    "dev",
                    dev,
                ]),
                "ip addr add",
            )?;
            run(
                Command::new("ip").args(["-n", netns, "link", "set", dev, "up"]),
                "ip link set up",
            )?;
            run(
                Command::new("ip").args(["-n", netns, "link", "set", "lo", "up"]),
                "ip link set lo up",
            )?;
        }
        Ok(ns)
    }

    /// A command run inside namespace `netns`.
    pub fn exec(&self, netns: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", netns]);
        c
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            remove(ns);
        }
    }
}

use crate::system::remove_namespace as remove;

/// Removes the namespaces of `bench --peers` runs whose process is gone (killed before
/// it could clean up), or of process `pid` (an interrupted run).
pub fn remove_left_over(pid: Option<u32>) {
    crate::system::remove_left_over(PREFIX, pid);
}

/// A process started for a measurement, its output in a log file; killed on drop.
#[derive(Debug)]
pub struct Daemon {
    child: std::process::Child,
    what: String,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr into `log`.
    pub fn start(cmd: Command, what: &str, log: PathBuf) -> Result<Self, PeersError> {
        Self::start_with_input(cmd, what, log, "")
    }

    /// Starts `cmd` with stdout and stderr into `log`, writes `input` to its stdin and
    /// closes it.
    pub fn start_with_input(
        mut cmd: Command,
        what: &str,
        log: PathBuf,
        input: &str,
    ) -> Result<Self, PeersError> {
        use std::io::Write;
        let fail = |e: std::io::Error| PeersError::command(what, e.to_string());
        let out = File::create(&log).map_err(fail)?;
        let err = out.try_clone().map_err(fail)?;
        let mut child = cmd
            .stdout(out)
            .stderr(err)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(fail)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).map_err(fail)?;
        }
        Ok(Self {
            child,
            what: what.into(),
            log,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end; an error, with the end of its log, unless it
    /// succeeded.
    pub fn finish(mut self) -> Result<(), PeersError> {
        let status = self
            .child
            .wait()
            .map_err(|e| PeersError::command(&self.what, e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(PeersError::command(
                &self.what,
                format!("ended ({status}): {}", self.log_tail()),
            ))
        }
    }

    /// An error if the process has ended, with the end of its log.
    pub fn alive(&mut self) -> Result<(), PeersError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(PeersError::command(
                &self.what,
                format!("ended ({status}): {}", self.log_tail()),
            )),
            Err(e) => Err(PeersError::command(&self.what, e.to_string())),
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(6)..].join(" | ")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ready` every 100 ms until it holds, the daemons end, or `limit` passes.
pub fn wait_until(
    what: &str,
    limit: Duration,
    daemons: &mut [&mut Daemon],
    mut ready: impl FnMut() -> bool,
) -> Result<(), PeersError> {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return Ok(());
        }
        for d in daemons.iter_mut() {
            d.alive()?;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = daemons
                .iter()
                .map(|d| format!("{}: {}", d.what, d.log_tail()))
                .collect();
            return Err(PeersError::command(
                what,
                format!("not ready after {limit:?}; {}", logs.join("; ")),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
