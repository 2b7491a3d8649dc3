//! One charon (strongSwan's IKE daemon) in a network namespace, with a mount namespace
//! of its own: a private `/run` (its pid file) and the lab's `strongswan.conf` and
//! `swanctl/` bound over `/etc`, so several run side by side. swanctl runs inside the
//! same namespaces; the vici socket lies in the lab's folder, reachable from outside.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::IpsecError;
use super::config::vici_path;

/// Where Debian installs the daemon.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// A running charon; stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Charon {
    child: Child,
    dir: PathBuf,
    what: String,
}

impl Charon {
    /// Starts charon in namespace `ns` with the files in `dir` (see `config`), and waits
    /// for its vici socket.
    pub fn start(ns: &str, dir: &Path, what: &str) -> Result<Self, IpsecError> {
        let log = dir.join("charon.log");
        let out = std::fs::File::create(&log).map_err(|e| IpsecError::io(&log, e))?;
        let err = out.try_clone().map_err(|e| IpsecError::io(&log, e))?;
        let _ = std::fs::remove_file(vici_path(dir));
        let script = format!(
            "mount -t tmpfs none /run && mount --bind '{conf}' /etc/strongswan.conf && mount --bind '{swanctl}' /etc/swanctl && exec {CHARON}",
            conf = dir.join("strongswan.conf").display(),
            swanctl = dir.join("swanctl").display(),
        );
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| IpsecError::command(what, e.to_string()))?;
        let mut c = Charon {
            child,
            dir: dir.to_path_buf(),
            what: what.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !vici_path(dir).exists() {
            if let Ok(Some(status)) = c.child.try_wait() {
                return Err(IpsecError::command(
                    what,
                    format!("charon ended ({status}): {}", c.log_tail()),
                ));
            }
            if Instant::now() > deadline {
                return Err(IpsecError::command(
                    what,
                    format!("no vici socket after 15 s: {}", c.log_tail()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(c)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its vici socket.
    pub fn vici(&self) -> PathBuf {
        vici_path(&self.dir)
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `swanctl ARGS` against this charon, inside its namespaces.
    pub fn swanctl(&self, args: &[&str]) -> Result<String, IpsecError> {
        let out = Command::new("nsenter")
            .args(["-t", &self.child.id().to_string(), "-m", "-n", "swanctl"])
            .args(args)
            .arg("--uri")
            .arg(format!("unix://{}", self.vici().display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| IpsecError::command("swanctl", e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(IpsecError::command(
                &format!("swanctl {} ({})", args.join(" "), self.what),
                format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
            ));
        }
        Ok(text)
    }

    /// The last lines of its log that say something went wrong, or the last lines.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("opening directory"))
            .collect();
        lines[lines.len().saturating_sub(4)..].join(" | ")
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
