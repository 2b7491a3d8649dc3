//! The shells' time source. Monotonic time is tokio's clock, so a runtime whose clock is
//! paused and advanced (a test, a simulation) moves every timer of the shells; wall-clock
//! time (HTTP `Date`, "connected since") moves with it when the clock is virtual.

use std::time::{Instant, SystemTime};

/// A time source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    /// For a virtual clock: the monotonic instant and the wall-clock time it stands for.
    origin: Option<(Instant, SystemTime)>,
}

impl Clock {
    /// The machine's clocks (through tokio's, which is the real one unless paused).
    pub fn system() -> Self {
        Self { origin: None }
    }

    /// A virtual clock: wall-clock time starts at `wall` now and advances with tokio's
    /// clock (for runtimes whose clock is paused and advanced).
    pub fn starting_at(wall: SystemTime) -> Self {
        Self {
            origin: Some((tokio::time::Instant::now().into_std(), wall)),
        }
    }

    /// Monotonic now.
    pub fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Wall-clock now.
    pub fn wall(&self) -> SystemTime {
        match self.origin {
            None => SystemTime::now(),
            Some((at, wall)) => wall + self.now().saturating_duration_since(at),
        }
    }

    /// Wall-clock now, as certificate and HTTP dates want it.
    pub fn date(&self) -> time::OffsetDateTime {
        self.wall().into()
    }
}

/// What rustls asks the time of when it checks certificate and CRL dates: a simulated
/// shell judges validity at its virtual date.
impl rustls::time_provider::TimeProvider for Clock {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        let since = self.wall().duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(rustls::pki_types::UnixTime::since_unix_epoch(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_virtual_clock_moves_with_tokio_time() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let c = Clock::starting_at(start);
        let t0 = c.now();
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(c.now() - t0, Duration::from_secs(300));
        assert_eq!(c.wall(), start + Duration::from_secs(300));
    }
}
