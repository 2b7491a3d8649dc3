//! iperf3 and ping from the client namespace to a path's target.

use std::net::IpAddr;
use std::time::Duration;

use super::PeersError;
use super::netns::{Daemon, Namespaces};

/// The iperf3 server in the server namespace (all addresses, one test after another).
pub fn iperf_server(ns: &Namespaces, log: std::path::PathBuf) -> Result<Daemon, PeersError> {
    let mut c = ns.exec(&ns.server);
    c.args(["iperf3", "-s"]);
    Daemon::start(c, "iperf3 -s", log)
}

/// One iperf3 TCP test of `seconds` from the client namespace to `target` (`reverse`: the
/// server sends); the receiver's rate in Mbit/s.
pub fn iperf(
    ns: &Namespaces,
    target: IpAddr,
    seconds: u64,
    reverse: bool,
) -> Result<f64, PeersError> {
    iperf_bytes(ns, target, seconds, reverse).map(|(mbps, _)| mbps)
}

/// [`iperf`], with the bytes the receiver got.
pub fn iperf_bytes(
    ns: &Namespaces,
    target: IpAddr,
    seconds: u64,
    reverse: bool,
) -> Result<(f64, f64), PeersError> {
    let what = format!("iperf3 -c {target}{}", if reverse { " -R" } else { "" });
    let mut last = String::new();
    // the server may still be starting on the first test
    for _ in 0..20 {
        let mut c = ns.exec(&ns.client);
        c.args(["iperf3", "-J", "-t", &seconds.to_string(), "-c"])
            .arg(target.to_string());
        if reverse {
            c.arg("-R");
        }
        let out = c
            .output()
            .map_err(|e| PeersError::command(&what, e.to_string()))?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = json
            .pointer("/end/sum_received/bits_per_second")
            .and_then(serde_json::Value::as_f64)
            .filter(|_| out.status.success())
        {
            let bytes = json
                .pointer("/end/sum_received/bytes")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(bps / 8.0 * seconds as f64);
            return Ok((bps / 1e6, bytes));
        }
        last = json
            .get("error")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        if !last.contains("refused") && !last.contains("busy") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(PeersError::command(&what, last))
}

/// `count` pings 50 ms apart from the client namespace to `target`; the round trips of
/// the replies in milliseconds (an error only if none came back).
pub fn ping(ns: &Namespaces, target: IpAddr, count: usize) -> Result<Vec<f64>, PeersError> {
    let what = format!("ping {target}");
    let out = ns
        .exec(&ns.client)
        .args([
            "ping",
            "-n",
            "-c",
            &count.to_string(),
            "-i",
            "0.05",
            "-W",
            "2",
            &target.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| PeersError::command(&what, e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rtts = round_trips(&text);
    if rtts.is_empty() {
        return Err(PeersError::command(
            &what,
            format!(
                "no reply of {count}: {} {}",
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(rtts)
}

/// Waits until `target` answers one ping from the client namespace, for at most `limit`;
/// how long that took. A tunnel that has been idle may be reconnecting: the IP-HTTPS
/// server closes a tunnel that received nothing for 120 s (HTTP.sys' idle timeout), and
/// the client reconnects after its timer, as Windows does.
pub fn reachable(ns: &Namespaces, target: IpAddr, limit: Duration) -> Result<Duration, PeersError> {
    let start = std::time::Instant::now();
    loop {
        let ok = ns
            .exec(&ns.client)
            .args(["ping", "-n", "-c", "1", "-W", "1", &target.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(PeersError::command(
                &format!("ping {target}"),
                format!("no reply for {limit:?}"),
            ));
        }
    }
}

/// The `time=X ms` of each reply line of ping's output.
pub fn round_trips(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_round_trips_of_ping() {
        let out = "PING fd00:233::1(fd00:233::1) 56 data bytes\n\
                   64 bytes from fd00:233::1: icmp_seq=1 ttl=64 time=0.711 ms\n\
                   64 bytes from fd00:233::1: icmp_seq=2 ttl=64 time=1.58 ms\n\n\
                   --- fd00:233::1 ping statistics ---\n\
                   rtt min/avg/max/mdev = 0.711/1.583/2.976/0.995 ms\n";
        assert_eq!(round_trips(out), vec![0.711, 1.58]);
    }
}
