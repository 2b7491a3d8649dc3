//! The CPU time the process spends on a run: every thread, user and system, so the
//! tunnel's two ends and the baseline's are counted alike (both live in this process).
//! Linux only (getrusage); elsewhere there is no figure.

use std::time::Duration;

/// CPU time this process has used so far, where the platform reports it.
pub fn process_cpu() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        let u = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let us = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
        };
        Some(us(u.user_time()) + us(u.system_time()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Nanoseconds of CPU per byte between two readings of [`process_cpu`].
pub fn ns_per_byte(before: Option<Duration>, after: Option<Duration>, bytes: u64) -> Option<f64> {
    let spent = after?.checked_sub(before?)?;
    (bytes > 0).then(|| spent.as_secs_f64() * 1e9 / bytes as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_byte_is_the_difference_over_the_bytes() {
        let (a, b) = (Duration::from_millis(100), Duration::from_millis(300));
        assert_eq!(ns_per_byte(Some(a), Some(b), 100_000_000), Some(2.0));
        assert_eq!(ns_per_byte(Some(b), Some(a), 1), None);
        assert_eq!(ns_per_byte(None, Some(a), 1), None);
        assert_eq!(ns_per_byte(Some(a), Some(b), 0), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn spinning_shows_as_cpu_time() {
        let t0 = process_cpu().unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(process_cpu().unwrap() - t0 >= Duration::from_millis(40));
    }
}
