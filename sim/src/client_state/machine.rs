//! The client's state machine ([MS-IPHTTPS] 3.1.1, 3.1.5, 3.1.6) without I/O: what each
//! event of a connection attempt does to the spec's state, the Last Error Code, the
//! Interface Status and the reconnect timer. Time comes in as an argument; the async
//! client only carries the events here and waits as long as it is told.

use std::time::{Duration, Instant};

use super::error::ConnectError;
use super::status::{
    ClientState, ClientStatus, FailureAt, SERIES_KEPT, STATUS_ACTIVE, STATUS_DISABLED,
    STATUS_FAILED, STATUS_INVALID_URL,
};
use super::transition::Transition;
use crate::link::reconnect::ReconnectTimer;
use crate::winerr::LastErrorCode;

/// What to do at the start of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Connect now.
    Connect,
    /// IP-HTTPS is not the transition technology in use: look again after this long.
    StandBy(Duration),
}

/// The client's states and reconnect timer. Every method changes the status it is given
/// as the spec says, and nothing else.
#[derive(Debug, Clone)]
pub struct ClientMachine {
    timer: ReconnectTimer,
    /// How long to stand by before looking at the network situation again.
    standby: Duration,
    /// Failed attempts and lost links since the client started.
    attempts: u64,
    /// The first failure of the current series (none since the last LinkUp: none).
    series_start: Option<Instant>,
}

impl ClientMachine {
    /// A machine whose reconnect timer starts at `initial` and is capped at `cap` (30 s and
    /// 15 min in Windows).
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            timer: ReconnectTimer::new(initial, cap),
            standby: initial,
            attempts: 0,
            series_start: None,
        }
    }

    /// Attempts that failed so far (the host's seed moves on with each, so a reconnected
    /// client gets a new interface identifier).
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// An attempt begins with the transition technology `chosen` for the client's network
    /// and the server at `url`: LinkDown if IP-HTTPS is chosen, otherwise the interface
    /// stands by deactivated.
    pub fn begin(&mut self, s: &mut ClientStatus, chosen: Transition, url: &str) -> Attempt {
        s.transition = chosen;
        if chosen != Transition::IpHttps {
            s.state = ClientState::Enabled;
            s.interface_status = STATUS_DISABLED.to_string();
            return Attempt::StandBy(self.standby);
        }
        s.state = ClientState::LinkDown;
        s.url = url.to_string();
        Attempt::Connect
    }

    /// TLS is up; the request is sent and the response awaited.
    pub fn established(&mut self, s: &mut ClientStatus) {
        s.state = ClientState::Established;
    }

    /// The 200 arrived over a tunnel with `cipher_suite`: LinkUp, Last Error Code 0x0.
    pub fn link_up(&mut self, s: &mut ClientStatus, cipher_suite: String) {
        self.timer.on_success();
        self.series_start = None;
        s.cipher_suite = Some(cipher_suite);
        s.state = ClientState::LinkUp;
        s.last_error = LastErrorCode::SUCCESS;
        s.last_error_detail = None;
        s.interface_status = STATUS_ACTIVE.to_string();
        s.connects += 1;
    }

    /// The attempt failed or the link was lost at `now`: LinkDown with the failure's Last
    /// Error Code, the addresses gone. Returns when to try again.
    pub fn failed(
        &mut self,
        s: &mut ClientStatus,
        failure: &ConnectError,
        now: Instant,
    ) -> Instant {
        self.attempts += 1;
        s.state = ClientState::LinkDown;
        s.last_error = failure.code();
        s.last_error_detail = Some(failure.to_string());
        s.interface_status = match failure {
            ConnectError::IpAddressUrl(_) => STATUS_INVALID_URL,
            _ => STATUS_FAILED,
        }
        .to_string();
        s.failures += 1;
        s.clear_addresses();
        s.router_advert = None;
        let wait = self.timer.on_failure(now);
        let start = *self.series_start.get_or_insert_with(|| {
            s.failure_series.clear();
            now
        });
        if s.failure_series.len() < SERIES_KEPT {
            s.failure_series.push(FailureAt {
                at: now.saturating_duration_since(start),
                wait,
            });
        }
        s.reconnect_timer = self.timer.durations();
        now + wait
    }

    /// The higher layer disabled the interface.
    pub fn disabled(&mut self, s: &mut ClientStatus) {
        s.state = ClientState::Disabled;
        s.interface_status = STATUS_DISABLED.to_string();
        s.clear_addresses();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_state::STATUS_CONNECTING;

    const URL: &str = "https://da.contoso.com:443/IPHTTPS";

    fn machine() -> (ClientMachine, ClientStatus) {
        (
            ClientMachine::new(Duration::from_secs(30), Duration::from_secs(900)),
            ClientStatus::new(URL.into()),
        )
    }

    #[test]
    fn a_connection_goes_enabled_linkdown_established_linkup() {
        let (mut m, mut s) = machine();
        assert_eq!(s.state, ClientState::Enabled);
        assert_eq!(s.interface_status, STATUS_CONNECTING);
        assert_eq!(m.begin(&mut s, Transition::IpHttps, URL), Attempt::Connect);
        assert_eq!(s.state, ClientState::LinkDown);
        m.established(&mut s);
        assert_eq!(s.state, ClientState::Established);
        m.link_up(&mut s, "TLS13_AES_256_GCM_SHA384".into());
        assert_eq!(s.state, ClientState::LinkUp);
        assert_eq!(s.last_error, LastErrorCode::SUCCESS);
        assert_eq!(s.interface_status, STATUS_ACTIVE);
        assert_eq!(s.connects, 1);
        m.disabled(&mut s);
        assert_eq!(s.state, ClientState::Disabled);
        assert_eq!(s.interface_status, STATUS_DISABLED);
    }

    #[test]
    fn failures_show_their_code_and_wait_as_the_spec_says() {
        let (mut m, mut s) = machine();
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        m.begin(&mut s, Transition::IpHttps, URL);
        let again = m.failed(&mut s, &ConnectError::Closed, t0);
        assert_eq!(again, t0 + secs(30), "the first wait is the initial one");
        assert_eq!(s.state, ClientState::LinkDown);
        assert_eq!(s.last_error, LastErrorCode::CONNECTION_RESET);
        assert_eq!(s.interface_status, STATUS_FAILED);
        assert_eq!(s.failures, 1);
        // the next failure, 35 s after the first, waits the time elapsed since it
        let t1 = t0 + secs(35);
        assert_eq!(m.failed(&mut s, &ConnectError::Closed, t1), t1 + secs(35));
        assert_eq!(m.attempts(), 2);
        // a success resets the timer
        m.link_up(&mut s, "suite".into());
        let t2 = t0 + secs(4000);
        assert_eq!(m.failed(&mut s, &ConnectError::Closed, t2), t2 + secs(30));
    }

    #[test]
    fn an_ip_address_url_is_an_invalid_url_and_a_lost_link_drops_the_addresses() {
        let (mut m, mut s) = machine();
        s.global = Some("2001:db8:1:1000::5".parse().unwrap());
        s.link_local = Some("fe80::5".parse().unwrap());
        m.failed(
            &mut s,
            &ConnectError::IpAddressUrl("192.0.2.1".into()),
            Instant::now(),
        );
        assert_eq!(s.interface_status, STATUS_INVALID_URL);
        assert_eq!(s.last_error, LastErrorCode::INVALID_NETNAME);
        assert_eq!(
            (s.global, s.link_local, s.router_advert.is_none()),
            (None, None, true)
        );
    }

    #[test]
    fn another_transition_technology_keeps_ip_https_deactivated() {
        let (mut m, mut s) = machine();
        let a = m.begin(&mut s, Transition::Teredo, URL);
        assert_eq!(a, Attempt::StandBy(Duration::from_secs(30)));
        assert_eq!(s.state, ClientState::Enabled);
        assert_eq!(s.transition, Transition::Teredo);
        assert_eq!(s.interface_status, STATUS_DISABLED);
    }
}
