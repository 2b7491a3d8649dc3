//! The client's reconnect timer ([MS-IPHTTPS] 3.1.2.1, 3.1.6).
//!
//! On the first failure wait `initial` (30 s); on each later failure wait the time that
//! has elapsed since the first failure, capped at `cap` (15 min). A successful
//! connection resets it.

use std::time::{Duration, Instant};

/// The reconnect timer.
#[derive(Debug, Clone)]
pub struct ReconnectTimer {
    initial: Duration,
    cap: Duration,
    first_failure: Option<Instant>,
}

impl ReconnectTimer {
    /// A timer with the spec's shape and these durations (30 s and 15 min in Windows).
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            initial,
            cap,
            first_failure: None,
        }
    }

    /// Records a failure at `now` and returns how long to wait before the next attempt.
    pub fn on_failure(&mut self, now: Instant) -> Duration {
        match self.first_failure {
            None => {
                self.first_failure = Some(now);
                self.initial.min(self.cap)
            }
            Some(first) => now
                .saturating_duration_since(first)
                .max(self.initial)
                .min(self.cap),
        }
    }

    /// The first wait and the cap.
    pub fn durations(&self) -> (Duration, Duration) {
        (self.initial, self.cap)
    }

    /// Records a successful connection.
    pub fn on_success(&mut self) {
        self.first_failure = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_follows_the_spec() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = ReconnectTimer::new(s(30), s(900));
        // attempts take T = 5 s each
        assert_eq!(r.on_failure(t0), s(30));
        let t1 = t0 + s(30 + 5);
        assert_eq!(r.on_failure(t1), s(35)); // elapsed since the first failure
        let t2 = t1 + s(35 + 5);
        assert_eq!(r.on_failure(t2), s(75));
        assert_eq!(r.on_failure(t0 + s(2000)), s(900));
        r.on_success();
        assert_eq!(r.on_failure(t0 + s(3000)), s(30));
    }
}
