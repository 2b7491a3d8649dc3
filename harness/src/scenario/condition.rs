//! The conditions of an `expect` step, one value each, and which of them are "negative":
//! also true of a client that never connected (or of a server no client reached), so they
//! prove nothing until something has happened.

use std::time::Duration;

use iphttps_sim::client::{ClientState, ClientStatus};
use iphttps_sim::client_state::transition::Transition;
use iphttps_sim::link::host::AddressState;
use iphttps_sim::link::router::DropReason;
use iphttps_sim::windows::health::HealthState;
use iphttps_sim::windows::ipsec::{IpsecSnapshot, Tunnel};
use iphttps_sim::winerr::LastErrorCode;

/// One condition on a client's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCond {
    /// The state machine's state.
    State(ClientState),
    /// Last Error Code.
    LastError(LastErrorCode),
    /// Interface Status, exactly.
    InterfaceStatus(String),
    /// Text the last failure's description contains.
    Detail(String),
    /// Has (or has not) a global address.
    GlobalAddress(bool),
    /// The state of the global address it sends from (Preferred, Deprecated, ...).
    AddressState(AddressState),
    /// Has (or has not) received a Router Advertisement.
    RouterAdvertisement(bool),
    /// Prefixes in the last RA.
    RaPrefixes(usize),
    /// MTU option of the last RA.
    RaMtu(u32),
    /// Valid lifetime, in seconds, of the last RA's first prefix.
    RaValidLifetime(u32),
    /// The transition technology chosen.
    Transition(Transition),
    /// The TLS cipher suite of its tunnel.
    CipherSuite(String),
    /// At least this many successful connections.
    ConnectsAtLeast(u64),
    /// At least this many failures.
    FailuresAtLeast(u64),
    /// At most this many failures.
    FailuresAtMost(u64),
    /// At least this many failures in the current series, at the reconnect timer's times.
    ReconnectSchedule(u64),
    /// IPsec lab: `Get-DAConnectionStatus`'s Status.
    DaStatus(String),
    /// IPsec lab: exactly these tunnels have an installed quick mode SA.
    QuickModeSas(Vec<Tunnel>),
    /// IPsec lab: IKE's reason for the last failure contains this.
    IkeError(String),
    /// At least this many ICMPv6 errors of a type (and code, if given) received.
    IcmpError {
        /// ICMPv6 type.
        kind: u8,
        /// Code; any when `None`.
        code: Option<u8>,
        /// How many at least.
        at_least: u64,
    },
}

/// How much later than its wait an attempt may fail: the attempt's own time (a connect
/// that times out takes the connect timeout) and the checker's polling.
const ATTEMPT_SLACK: Duration = Duration::from_secs(5);

/// Checks the current failure series against [MS-IPHTTPS] 3.1.2.1: after the first
/// failure the timer waits its first wait, after a later one the time elapsed since the
/// first failure, never more than the cap; each next failure comes after that wait (and
/// the attempt's own time).
fn reconnect_schedule(s: &ClientStatus, n: u64) -> Result<(), String> {
    let series = &s.failure_series;
    let times = || {
        series
            .iter()
            .map(|f| format!("{:.1}s", f.at.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if (series.len() as u64) < n {
        return Err(format!(
            "expected at least {n} failure(s) in the current series, saw {} (at {})",
            series.len(),
            times()
        ));
    }
    let (initial, cap) = s.reconnect_timer;
    for (k, f) in series.iter().enumerate() {
        let want = if k == 0 {
            initial.min(cap)
        } else {
            f.at.max(initial).min(cap)
        };
        if f.wait != want {
            return Err(format!(
                "failure {} at {:.1}s: the timer waited {:.1}s, the spec says {:.1}s (first wait {:?}, cap {:?}); failures at {}",
                k + 1,
                f.at.as_secs_f64(),
                f.wait.as_secs_f64(),
                want.as_secs_f64(),
                initial,
                cap,
                times()
            ));
        }
        if let Some(next) = series.get(k + 1) {
            let gap = next.at.saturating_sub(f.at);
            if gap + Duration::from_millis(1) < f.wait || gap > f.wait + ATTEMPT_SLACK {
                return Err(format!(
                    "failure {} came {:.1}s after failure {}, whose wait was {:.1}s; failures at {}",
                    k + 2,
                    gap.as_secs_f64(),
                    k + 1,
                    f.wait.as_secs_f64(),
                    times()
                ));
            }
        }
    }
    Ok(())
}

fn describe(s: &ClientStatus) -> String {
    format!(
        "state {:?}, Last Error Code {}, Interface Status \"{}\", global {}, RA {}",
        s.state,
        s.last_error,
        s.interface_status,
        s.global.map_or("none".to_string(), |a| a.to_string()),
        s.router_advert
            .as_ref()
            .map_or("none".to_string(), |r| format!(
                "with {} prefix(es)",
                r.prefixes.len()
            )),
    )
}

impl ClientCond {
    /// Whether it is about the client's IPsec ([`ClientCond::check_ipsec`] checks it).
    pub fn is_ipsec(&self) -> bool {
        matches!(
            self,
            ClientCond::DaStatus(_) | ClientCond::QuickModeSas(_) | ClientCond::IkeError(_)
        )
    }

    /// `Ok` when the client's IPsec (`None`: none runs) meets an IPsec condition (and for
    /// every other condition).
    pub fn check_ipsec(&self, ipsec: Option<&IpsecSnapshot>) -> Result<(), String> {
        if !self.is_ipsec() {
            return Ok(());
        }
        let Some(x) = ipsec else {
            return Err(
                "no IPsec runs on this client: IPsec conditions need [lab] ipsec = true".into(),
            );
        };
        let installed: Vec<Tunnel> = Tunnel::ALL
            .into_iter()
            .filter(|t| x.installed(*t).is_some())
            .collect();
        let names = |ts: &[Tunnel]| {
            format!(
                "[{}]",
                ts.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
            )
        };
        let reason = || x.failure.as_deref().unwrap_or("none").to_string();
        match self {
            ClientCond::DaStatus(want) if x.da_status().0 != want => Err(format!(
                "expected Get-DAConnectionStatus {want}, saw {} (quick mode SAs {}, IKE error: {})",
                x.da_status().0,
                names(&installed),
                reason()
            )),
            ClientCond::QuickModeSas(want) if installed != *want => Err(format!(
                "expected quick mode SAs {}, saw {} (IKE error: {})",
                names(want),
                names(&installed),
                reason()
            )),
            ClientCond::IkeError(t) if !x.failure.as_deref().is_some_and(|f| f.contains(t)) => Err(
                format!("expected IKE's reason to mention \"{t}\", saw {}", reason()),
            ),
            _ => Ok(()),
        }
    }

    /// `Ok` when `s` meets the condition, else what was expected and what was seen.
    pub fn check(&self, s: &ClientStatus) -> Result<(), String> {
        let miss =
            |what: &str, want: String| Err(format!("expected {what} {want}, saw {}", describe(s)));
        match self {
            ClientCond::State(st) if s.state != *st => miss("state", format!("{st:?}")),
            ClientCond::LastError(code) if s.last_error != *code => {
                miss("Last Error Code", code.to_string())
            }
            ClientCond::InterfaceStatus(t) if &s.interface_status != t => {
                miss("Interface Status", format!("\"{t}\""))
            }
            ClientCond::Detail(t)
                if !s
                    .last_error_detail
                    .as_deref()
                    .is_some_and(|d| d.contains(t.as_str())) =>
            {
                Err(format!(
                    "expected the last failure to mention \"{t}\", saw {:?}",
                    s.last_error_detail
                ))
            }
            ClientCond::GlobalAddress(g) if s.global.is_some() != *g => {
                miss("a global address:", g.to_string())
            }
            ClientCond::AddressState(st) if s.global_state() != Some(*st) => Err(format!(
                "expected its global address {}, saw {}",
                st.as_str(),
                match (s.global, s.global_state()) {
                    (Some(g), Some(now)) => format!("{g} {}", now.as_str()),
                    _ => "no global address".to_string(),
                }
            )),
            ClientCond::RouterAdvertisement(g) if s.router_advert.is_some() != *g => {
                miss("a Router Advertisement:", g.to_string())
            }
            ClientCond::RaPrefixes(n)
                if s.router_advert.as_ref().map(|r| r.prefixes.len()) != Some(*n) =>
            {
                miss("RA prefixes", n.to_string())
            }
            ClientCond::RaMtu(m) if s.router_advert.as_ref().and_then(|r| r.mtu) != Some(*m) => {
                miss("RA MTU", m.to_string())
            }
            ClientCond::RaValidLifetime(v)
                if s.router_advert
                    .as_ref()
                    .and_then(|r| r.prefixes.first())
                    .map(|p| p.valid_lifetime)
                    != Some(*v) =>
            {
                Err(format!(
                    "expected the RA's prefix valid for {v} s, saw {}",
                    s.router_advert.as_ref().map_or("no RA".to_string(), |r| r
                        .prefixes
                        .first()
                        .map_or("no prefix".to_string(), |p| format!(
                            "{} s",
                            p.valid_lifetime
                        )))
                ))
            }
            ClientCond::CipherSuite(c) if s.cipher_suite.as_deref() != Some(c.as_str()) => {
                Err(format!(
                    "expected cipher suite {c}, saw {}",
                    s.cipher_suite.as_deref().unwrap_or("none")
                ))
            }
            ClientCond::Transition(t) if s.transition != *t => {
                Err(format!("expected transition {t}, saw {}", s.transition))
            }
            ClientCond::ConnectsAtLeast(n) if s.connects < *n => Err(format!(
                "expected at least {n} connection(s), saw {}",
                s.connects
            )),
            ClientCond::FailuresAtLeast(n) if s.failures < *n => Err(format!(
                "expected at least {n} failure(s), saw {}",
                s.failures
            )),
            ClientCond::ReconnectSchedule(n) => reconnect_schedule(s, *n),
            ClientCond::FailuresAtMost(n) if s.failures > *n => Err(format!(
                "expected at most {n} failure(s), saw {}",
                s.failures
            )),
            ClientCond::IcmpError {
                kind,
                code,
                at_least,
            } => {
                let got: u64 = s
                    .icmp_errors
                    .iter()
                    .filter(|e| e.kind == *kind && code.is_none_or(|c| c == e.code))
                    .map(|e| e.count)
                    .sum();
                if got >= *at_least {
                    return Ok(());
                }
                let seen: Vec<String> = s
                    .icmp_errors
                    .iter()
                    .map(|e| {
                        format!(
                            "type {} code {} x{} from {}",
                            e.kind, e.code, e.count, e.from
                        )
                    })
                    .collect();
                Err(format!(
                    "expected at least {at_least} ICMPv6 error(s) of type {kind}{}, saw {}",
                    code.map_or(String::new(), |c| format!(" code {c}")),
                    if seen.is_empty() {
                        "none".to_string()
                    } else {
                        seen.join(", ")
                    }
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether a client that has not tried yet already meets it (then it proves nothing
    /// by itself). The transition technology is not: the client decides it from its
    /// network when it starts, before any attempt, and a wrong one fails at once.
    pub fn is_negative(&self) -> bool {
        if self.is_ipsec() {
            // what a client whose IKE never ran also shows
            return matches!(self, ClientCond::QuickModeSas(t) if t.is_empty())
                || matches!(self, ClientCond::DaStatus(s) if s == "ConnectingRemotely");
        }
        !matches!(self, ClientCond::Transition(_))
            && self.check(&ClientStatus::new(String::new())).is_ok()
    }

    /// Why it can never fail, if it cannot.
    pub fn cannot_fail(&self) -> Option<&'static str> {
        match self {
            ClientCond::ConnectsAtLeast(0) => Some("connects_at_least = 0 holds for any client"),
            ClientCond::FailuresAtLeast(0) => Some("failures_at_least = 0 holds for any client"),
            ClientCond::ReconnectSchedule(0) => Some("reconnect_schedule = 0 holds for any client"),
            ClientCond::FailuresAtMost(u64::MAX) => Some("failures_at_most holds for any client"),
            ClientCond::Detail(t) if t.is_empty() => {
                Some("an empty detail is contained in every description")
            }
            _ => None,
        }
    }
}

/// One condition on the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerCond {
    /// The Operations Status roll-up.
    Health(HealthState),
    /// One Operations Status component, with text its Error or Causes contain.
    Ops {
        /// The component.
        component: String,
        /// Its state.
        state: HealthState,
        /// Text in its Error or Causes.
        text: Option<String>,
    },
    /// At least this many drops for a reason.
    Dropped(DropReason, u64),
    /// Exactly this many clients in the server's table.
    ServerClients(usize),
}

impl ServerCond {
    /// Whether it holds before any of the scenario's `clients` reached the server.
    pub fn is_negative(&self, clients: usize) -> bool {
        matches!(self, ServerCond::ServerClients(n) if *n < clients.max(1))
    }

    /// Why it can never fail, if it cannot.
    pub fn cannot_fail(&self) -> Option<&'static str> {
        match self {
            ServerCond::Dropped(_, 0) => Some("dropped at_least = 0 holds for any server"),
            ServerCond::Ops { text: Some(t), .. } if t.is_empty() => {
                Some("an empty text is contained in every component's text")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_are_what_a_client_that_never_connected_meets() {
        let negative = [
            ClientCond::GlobalAddress(false),
            ClientCond::RouterAdvertisement(false),
            ClientCond::FailuresAtMost(3),
            ClientCond::LastError(LastErrorCode::SUCCESS),
            ClientCond::State(ClientState::Enabled),
        ];
        for c in negative {
            assert!(c.is_negative(), "{c:?}");
        }
        let positive = [
            ClientCond::GlobalAddress(true),
            ClientCond::AddressState(AddressState::Deprecated),
            ClientCond::RouterAdvertisement(true),
            ClientCond::RaPrefixes(0),
            ClientCond::ConnectsAtLeast(1),
            ClientCond::FailuresAtLeast(1),
            ClientCond::State(ClientState::LinkUp),
            ClientCond::LastError(LastErrorCode(0x800b_0109)),
        ];
        for c in positive {
            assert!(!c.is_negative(), "{c:?}");
        }
        assert!(ServerCond::ServerClients(0).is_negative(3));
        assert!(ServerCond::ServerClients(2).is_negative(3));
        assert!(!ServerCond::ServerClients(3).is_negative(3));
    }

    fn series(points: &[(u64, u64)]) -> ClientStatus {
        let mut s = ClientStatus::new(String::new());
        s.reconnect_timer = (Duration::from_secs(30), Duration::from_secs(900));
        s.failure_series = points
            .iter()
            .map(|&(at, wait)| iphttps_sim::client::FailureAt {
                at: Duration::from_secs(at),
                wait: Duration::from_secs(wait),
            })
            .collect();
        s
    }

    #[test]
    fn the_reconnect_schedule_is_the_specs_and_nothing_else() {
        let spec = [
            (0, 30),
            (30, 30),
            (60, 60),
            (120, 120),
            (240, 240),
            (480, 480),
            (960, 900),
        ];
        let c = ClientCond::ReconnectSchedule(7);
        assert_eq!(c.check(&series(&spec)), Ok(()));
        // too few failures yet
        assert!(
            ClientCond::ReconnectSchedule(8)
                .check(&series(&spec))
                .is_err()
        );
        // a timer that does not back off (30 s every time)
        let flat = [(0, 30), (30, 30), (60, 30), (90, 30)];
        let e = ClientCond::ReconnectSchedule(4)
            .check(&series(&flat))
            .unwrap_err();
        assert!(e.contains("the spec says 60.0s"), "{e}");
        // a timer past its cap
        let mut uncapped = spec;
        uncapped[6].1 = 960;
        assert!(
            ClientCond::ReconnectSchedule(7)
                .check(&series(&uncapped))
                .is_err()
        );
        // a client that tried again before its wait ended
        let early = [(0, 30), (10, 30)];
        let e = ClientCond::ReconnectSchedule(2)
            .check(&series(&early))
            .unwrap_err();
        assert!(e.contains("came 10.0s after failure 1"), "{e}");
        // and one that never failed proves nothing
        assert!(!c.is_negative());
    }
}
