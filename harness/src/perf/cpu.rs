//! The CPU time the process spends on a run: every thread, user and system, so the
//! tunnel's two ends and the baseline's are counted alike (both live in this process).
//! Linux only (getrusage); elsewhere there is no figure. Beside it, the share of the
//! machine's CPU time that its hypervisor gave to other guests during a measurement
//! (Linux's "steal" in `/proc/stat`), which moves rates on a shared virtual machine
//! without showing in the process's own CPU time.

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

/// The machine's CPU time so far in clock ticks, all CPUs: the whole, and the part its
/// hypervisor ran other guests on instead ("steal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineTime {
    /// Every tick of every state.
    pub total: u64,
    /// The stolen ticks.
    pub stolen: u64,
}

/// The machine's CPU time now, where the platform reports it (Linux: `/proc/stat`).
pub fn machine_time() -> Option<MachineTime> {
    #[cfg(target_os = "linux")]
    {
        parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The `cpu` line of `/proc/stat`: user, nice, system, idle, iowait, irq, softirq, steal
/// (guest time is already inside user and nice). Kernels before 2.6.11 have no steal
/// field: nothing was stolen.
pub fn parse_stat(stat: &str) -> Option<MachineTime> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (ticks.len() >= 4).then(|| MachineTime {
        total: ticks.iter().sum(),
        stolen: ticks.get(7).copied().unwrap_or(0),
    })
}

impl MachineTime {
    /// The ticks from an `earlier` reading to this one; `None` if a counter went back.
    pub fn since(self, earlier: MachineTime) -> Option<MachineTime> {
        Some(MachineTime {
            total: self.total.checked_sub(earlier.total)?,
            stolen: self.stolen.checked_sub(earlier.stolen)?,
        })
    }

    /// These ticks and `other`'s together (intervals that do not touch).
    pub fn plus(self, other: MachineTime) -> MachineTime {
        MachineTime {
            total: self.total + other.total,
            stolen: self.stolen + other.stolen,
        }
    }

    /// The stolen share (0 to 1) of these ticks; `None` when there are none.
    pub fn stolen_share(self) -> Option<f64> {
        (self.total > 0).then(|| self.stolen as f64 / self.total as f64)
    }
}

/// The share (0 to 1) of the machine's CPU time stolen between two readings of
/// [`machine_time`]; `None` without both or when no tick passed.
pub fn stolen_share(before: Option<MachineTime>, after: Option<MachineTime>) -> Option<f64> {
    after?.since(before?)?.stolen_share()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_field_of_the_cpu_line_over_all_of_them() {
        let before = "cpu  100 0 50 800 10 0 5 35 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        let after = "cpu  200 0 100 1495 10 0 10 185 9 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        let (a, b) = (parse_stat(before), parse_stat(after));
        assert_eq!(
            a,
            Some(MachineTime {
                total: 1000,
                stolen: 35
            })
        );
        // 1000 more ticks, 150 of them stolen
        assert_eq!(stolen_share(a, b), Some(0.15));
        assert_eq!(stolen_share(b, a), None);
        assert_eq!(stolen_share(a, a), None);
        assert_eq!(
            parse_stat("cpu  1 2 3 4\n").map(|t| t.stolen),
            Some(0),
            "an old kernel without the field"
        );
        assert_eq!(parse_stat("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_stat("cpu  1 x 3 4\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_reports_its_ticks() {
        let t = machine_time().unwrap();
        assert!(t.total > 0 && t.stolen <= t.total);
    }

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
        // spin until 40 ms of CPU time show, with a wall-clock limit far beyond them: a
        // hypervisor may take wall time from this thread (steal), never CPU time
        let t0 = process_cpu().unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while process_cpu().unwrap() - t0 < Duration::from_millis(40) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "10 s of spinning showed {:?} of CPU time",
                process_cpu().unwrap() - t0
            );
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }
}
