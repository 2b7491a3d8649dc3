//! A client's IPsec as Windows' commands see it ([`IpsecAgent`]): what the client's
//! charon reports through vici, turned into main mode and quick mode SAs, the two rules'
//! switches, and IKE's own words for the last failure.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use iphttps_sim::windows::ipsec::{
    IpsecAgent, IpsecError as RuleError, IpsecSnapshot, MainModeSa, QuickModeSa, Tunnel,
};
use tokio::sync::Notify;

use super::vici::Message;

/// One client's IPsec: written by the lab's supervisor, read by the client's commands.
#[derive(Debug)]
pub struct Agent {
    state: Mutex<IpsecSnapshot>,
    /// Wakes the supervisor when a rule changes.
    pub(crate) changed: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Agent {
    /// Both rules enabled, nothing negotiated yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(IpsecSnapshot {
                enabled: [true, true],
                ..Default::default()
            }),
            changed: Arc::new(Notify::new()),
        })
    }

    /// Whether `tunnel`'s rule is enabled.
    pub fn enabled(&self, tunnel: Tunnel) -> bool {
        lock(&self.state).enabled[tunnel as usize]
    }

    /// Takes the SAs of a `list-sas` answer (its `list-sa` events).
    pub fn set_sas(&self, events: &[Message]) {
        let (main_mode, quick_mode) = read_sas(events);
        let mut s = lock(&self.state);
        s.main_mode = main_mode;
        s.quick_mode = quick_mode;
        if s.installed(Tunnel::Infrastructure).is_some() || s.installed(Tunnel::Intranet).is_some()
        {
            s.failure = None;
        }
    }

    /// Notes IKE's reason for a failed attempt.
    pub fn set_failure(&self, reason: Option<String>) {
        lock(&self.state).failure = reason;
    }
}

impl IpsecAgent for Agent {
    fn snapshot(&self) -> IpsecSnapshot {
        lock(&self.state).clone()
    }

    fn set_rule(&self, tunnel: Tunnel, enabled: bool) -> Result<(), RuleError> {
        lock(&self.state).enabled[tunnel as usize] = enabled;
        self.changed.notify_one();
        Ok(())
    }
}

/// The main mode and quick mode SAs of `list-sa` events.
pub fn read_sas(events: &[Message]) -> (Vec<MainModeSa>, Vec<QuickModeSa>) {
    let mut main = Vec::new();
    let mut quick = Vec::new();
    for event in events {
        for (_, ike) in event.sections() {
            let id: u64 = ike
                .str("uniqueid")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let addr = |k: &str| ike.str(k).and_then(|v| v.parse::<IpAddr>().ok());
            let cipher = [
                ike.str("encr-alg").map(|a| match ike.str("encr-keysize") {
                    Some(k) => format!("{a}-{k}"),
                    None => a.to_string(),
                }),
                ike.str("integ-alg").map(str::to_string),
                ike.str("prf-alg").map(str::to_string),
                ike.str("dh-group").map(str::to_string),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
            main.push(MainModeSa {
                id,
                state: ike.str("state").unwrap_or("").to_string(),
                local: addr("local-host"),
                remote: addr("remote-host"),
                local_id: ike.str("local-id").unwrap_or("").to_string(),
                remote_id: ike.str("remote-id").unwrap_or("").to_string(),
                cipher,
                established_secs: ike.str("established").and_then(|v| v.parse().ok()),
            });
            let Some(children) = ike.section("child-sas") else {
                continue;
            };
            for (_, c) in children.sections() {
                let Some(tunnel) = c.str("name").and_then(Tunnel::from_rule) else {
                    continue;
                };
                let n = |k: &str| c.str(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                let mode = match c.str("encap") {
                    Some("yes") => format!("{}-in-UDP", c.str("mode").unwrap_or("")),
                    _ => c.str("mode").unwrap_or("").to_string(),
                };
                let cipher = match (c.str("encr-alg"), c.str("encr-keysize")) {
                    (Some(a), Some(k)) => format!("{a}-{k}"),
                    (Some(a), None) => a.to_string(),
                    _ => String::new(),
                };
                quick.push(QuickModeSa {
                    tunnel,
                    state: c.str("state").unwrap_or("").to_string(),
                    mode,
                    cipher,
                    spi_in: c.str("spi-in").unwrap_or("").to_string(),
                    spi_out: c.str("spi-out").unwrap_or("").to_string(),
                    local_ts: c.list("local-ts").to_vec(),
                    remote_ts: c.list("remote-ts").to_vec(),
                    bytes_in: n("bytes-in"),
                    bytes_out: n("bytes-out"),
                    packets_in: n("packets-in"),
                    packets_out: n("packets-out"),
                    main_mode_id: id,
                });
            }
        }
    }
    (main, quick)
}

/// Words of charon's log lines that say why a certificate was refused: the first tier.
const SAYS_WHY: [&str; 7] = [
    "invalid",
    "no private key",
    "not valid",
    "rejecting",
    "constraint",
    "no issuer",
    "expired",
];
/// Words of lines that say that IKE failed, without saying why: the second tier.
const SAYS_THAT: [&str; 3] = ["notify error", "no trusted", "failed"];

/// The last of `lines` that says why IKE failed, else the last that says it did.
fn says_why<'a>(lines: impl DoubleEndedIterator<Item = &'a str> + Clone) -> Option<&'a str> {
    let useful = |l: &&str| {
        !l.starts_with("establishing CHILD_SA")
            && !l.starts_with("initiate failed")
            && !l.contains("signature validation failed")
    };
    lines
        .clone()
        .rev()
        .filter(useful)
        .find(|l| SAYS_WHY.iter().any(|w| l.contains(w)))
        .or_else(|| {
            lines
                .rev()
                .filter(useful)
                .find(|l| SAYS_THAT.iter().any(|w| l.contains(w)))
        })
}

/// IKE's own reason in the daemon's log of a failed attempt (`control-log` events):
/// the last line that names a failure.
pub fn failure_reason(log: &[Message]) -> Option<String> {
    let lines: Vec<&str> = log.iter().filter_map(|m| m.str("msg")).collect();
    says_why(lines.iter().copied()).map(str::to_string)
}

/// The responder's reason in the last `tail` lines of its charon's log file (lines
/// `TIME NN[GRP] text`), without the prefix.
pub fn responder_reason(log: &str, tail: usize) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.split_once("] ").map_or(l, |(_, t)| t))
        .collect();
    says_why(lines[lines.len().saturating_sub(tail)..].iter().copied()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::super::vici::Value;
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Message {
        Message::of(pairs)
    }

    #[test]
    fn list_sa_events_become_main_and_quick_mode_sas() {
        let mut child = kv(&[
            ("name", "intranet"),
            ("state", "INSTALLED"),
            ("mode", "TUNNEL"),
            ("encap", "yes"),
            ("encr-alg", "AES_GCM_16"),
            ("encr-keysize", "128"),
            ("packets-in", "4"),
            ("bytes-out", "416"),
        ]);
        child.0.push((
            "remote-ts".into(),
            Value::List(vec!["2001:db8:1::/64".into()]),
        ));
        let mut ike = kv(&[
            ("uniqueid", "3"),
            ("state", "ESTABLISHED"),
            ("local-host", "2001:db8:1:1000::5"),
            ("remote-host", "2001:db8:1::10"),
            ("remote-id", "da.contoso.com"),
            ("encr-alg", "AES_CBC"),
            ("encr-keysize", "128"),
            ("dh-group", "CURVE_25519"),
        ]);
        ike.0.push((
            "child-sas".into(),
            Value::Section(Message(vec![("intranet-3".into(), Value::Section(child))])),
        ));
        let event = Message(vec![("directaccess".into(), Value::Section(ike))]);
        let (main, quick) = read_sas(&[event]);
        assert_eq!(main[0].id, 3);
        assert_eq!(main[0].cipher, "AES_CBC-128/CURVE_25519");
        assert_eq!(main[0].remote, Some("2001:db8:1::10".parse().unwrap()));
        assert_eq!(quick[0].tunnel, Tunnel::Intranet);
        assert_eq!(quick[0].mode, "TUNNEL-in-UDP");
        assert_eq!(quick[0].cipher, "AES_GCM_16-128");
        assert_eq!((quick[0].packets_in, quick[0].bytes_out), (4, 416));
        assert_eq!(quick[0].remote_ts, ["2001:db8:1::/64"]);
        assert_eq!(quick[0].main_mode_id, 3);
    }

    fn event(children: &[(&str, &str)]) -> Message {
        let sas: Vec<(String, Value)> = children
            .iter()
            .map(|(name, state)| {
                (
                    format!("{name}-1"),
                    Value::Section(kv(&[
                        ("name", name),
                        ("state", state),
                        ("encr-alg", "NULL"),
                    ])),
                )
            })
            .collect();
        let mut ike = kv(&[("uniqueid", "1"), ("state", "ESTABLISHED")]);
        ike.0
            .push(("child-sas".into(), Value::Section(Message(sas))));
        Message(vec![("directaccess".into(), Value::Section(ike))])
    }

    #[test]
    fn the_agent_keeps_rules_sas_and_the_failure_until_a_tunnel_is_up() {
        let a = Agent::new();
        assert!(a.enabled(Tunnel::Infrastructure) && a.enabled(Tunnel::Intranet));
        a.set_rule(Tunnel::Intranet, false).unwrap();
        assert!(!a.enabled(Tunnel::Intranet));
        assert!(a.enabled(Tunnel::Infrastructure));
        assert_eq!(a.snapshot().enabled, [true, false]);
        a.set_failure(Some("no private key found".into()));
        assert_eq!(
            a.snapshot().failure.as_deref(),
            Some("no private key found")
        );
        // an SA that is not installed yet clears nothing
        a.set_sas(&[event(&[("intranet", "INSTALLING")])]);
        assert!(a.snapshot().failure.is_some());
        assert_eq!(a.snapshot().quick_mode.len(), 1);
        // either tunnel up clears it
        a.set_sas(&[event(&[("intranet", "INSTALLED")])]);
        assert_eq!(a.snapshot().failure, None);
        assert_eq!(
            a.snapshot().quick_mode[0].cipher,
            "NULL",
            "no key size: the name alone"
        );
        a.set_failure(Some("x".into()));
        a.set_sas(&[event(&[("infrastructure", "INSTALLED")])]);
        assert_eq!(a.snapshot().failure, None);
        assert_eq!(a.snapshot().main_mode[0].state, "ESTABLISHED");
    }

    #[test]
    fn the_reason_is_the_line_that_says_why() {
        let log: Vec<Message> = [
            "initiating IKE_SA directaccess[1] to 2001:db8:1::10",
            "received AUTHENTICATION_FAILED notify error",
            "establishing CHILD_SA 'intranet' failed",
        ]
        .iter()
        .map(|l| kv(&[("msg", l)]))
        .collect();
        assert_eq!(
            failure_reason(&log).as_deref(),
            Some("received AUTHENTICATION_FAILED notify error")
        );
        assert_eq!(failure_reason(&[]), None);
        let server = "19:01:02 14[CFG] received end entity cert \"CN=x\"\n\
                      19:01:02 14[IKE] rejecting certificate without digitalSignature or nonRepudiation keyUsage flags\n\
                      19:01:02 14[IKE] signature validation failed, looking for another key\n\
                      19:01:02 14[ENC] generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]\n";
        assert_eq!(
            responder_reason(server, 10).as_deref(),
            Some("rejecting certificate without digitalSignature or nonRepudiation keyUsage flags")
        );
        assert_eq!(responder_reason(server, 1), None);
    }
}
