//! `iphttps bench`: a quick report of tunnel packet handling, every figure beside its
//! baseline measured in the same run, as a ratio.

use crate::progress::Progress;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fixtures::served::{Served, ServedError};
use crate::perf::spread::{self, Bound, Pair};
use crate::perf::{self, Direction};
use serde::Serialize;

/// One figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Its name.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// The tunnel's value (the median of its runs).
    pub value: f64,
    /// The baseline's value (the median of its runs), when there is one.
    pub baseline: Option<f64>,
    /// The median of the pairs' tunnel / baseline ratios; `None` without a baseline or
    /// when the baseline is suspect.
    pub ratio: Option<f64>,
    /// The lowest pair's ratio.
    pub ratio_low: Option<f64>,
    /// The highest pair's ratio.
    pub ratio_high: Option<f64>,
    /// The extreme pairs' ratios differ by more than 25%.
    pub noisy: bool,
    /// The tunnel beat its baseline, which is meant to be the limit of the figure: the
    /// ratio is withheld.
    pub baseline_suspect: bool,
    /// How many tunnel/baseline pairs were run (0: a figure without a baseline).
    pub pairs: usize,
    /// Every pair as `[tunnel, baseline]`, in the order they ran.
    pub runs: Vec<[f64; 2]>,
    /// The share (0 to 1) of the machine's CPU time that its hypervisor gave to other
    /// guests while this figure was measured (Linux: "steal" in `/proc/stat`); `None`
    /// where the platform does not say. Rates on a shared virtual machine move with it.
    pub stolen: Option<f64>,
}

impl Figure {
    /// A figure without a baseline.
    pub fn alone(name: &str, unit: &str, value: f64) -> Self {
        Self {
            name: name.into(),
            unit: unit.into(),
            value,
            baseline: None,
            ratio: None,
            ratio_low: None,
            ratio_high: None,
            noisy: false,
            baseline_suspect: false,
            pairs: 0,
            runs: Vec::new(),
            stolen: None,
        }
    }

    /// A figure from its interleaved pairs.
    pub fn from_pairs(
        name: &str,
        unit: &str,
        pairs: &[Pair],
        bound: Bound,
    ) -> Result<Self, perf::PerfError> {
        let s = spread::summarize(pairs, bound)
            .ok_or_else(|| perf::PerfError::Stalled(format!("{name}: no pair measured")))?;
        Ok(Self {
            name: name.into(),
            unit: unit.into(),
            value: s.value,
            baseline: Some(s.baseline),
            ratio: (!s.baseline_suspect).then_some(s.ratio),
            ratio_low: Some(s.low),
            ratio_high: Some(s.high),
            noisy: s.noisy,
            baseline_suspect: s.baseline_suspect,
            pairs: s.pairs,
            runs: pairs.iter().map(|p| [p.tunnel, p.baseline]).collect(),
            stolen: None,
        })
    }
}

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// The CPU model, as the operating system names it.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Total memory in bytes, where known.
    pub memory_bytes: Option<u64>,
    /// The operating system.
    pub os: String,
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "machine: {}, {} cores, {} memory, {}",
            self.cpu,
            self.cores,
            self.memory_bytes.map_or("unknown".into(), |b| format!(
                "{:.1} GiB",
                b as f64 / (1u64 << 30) as f64
            )),
            self.os
        )
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The figures.
    pub figures: Vec<Figure>,
}

/// This machine.
pub fn machine() -> Machine {
    let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<u64>().ok())
            .map(|k| k * 1024)
    });
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH));
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        os: std::env::consts::OS.into(),
    }
}

const MB: f64 = 1_000_000.0;

/// How `figures` runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Tunnel/baseline pairs per figure, at least.
    pub pairs: usize,
    /// Time per figure, at least: more pairs are run until it has passed.
    pub duration: Duration,
    /// Keep only the figures whose name starts with this.
    pub only: Option<String>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            pairs: 5,
            duration: Duration::ZERO,
            only: None,
        }
    }
}

/// Bytes per bulk run: large enough that the 1 ms resolution of the clock points is
/// well under 1% of a run on a fast machine.
const BULK: usize = 256 * 1024 * 1024;
const PACKET: usize = 1280;

/// Runs `tunnel` and `baseline` alternately (tunnel first in even pairs, baseline first
/// in odd ones, so drift hurts both alike) until there are `plan.pairs` pairs and
/// `plan.duration` has passed.
async fn interleave<OT, OB, T, B, FT, FB>(
    plan: &Plan,
    mut tunnel: FT,
    mut baseline: FB,
) -> Result<Vec<(OT, OB)>, perf::PerfError>
where
    FT: FnMut() -> T,
    FB: FnMut() -> B,
    T: Future<Output = Result<OT, perf::PerfError>>,
    B: Future<Output = Result<OB, perf::PerfError>>,
{
    let t0 = Instant::now();
    let mut out = Vec::new();
    while out.len() < plan.pairs.max(1) || t0.elapsed() < plan.duration {
        if out.len() % 2 == 0 {
            let t = tunnel().await?;
            out.push((t, baseline().await?));
        } else {
            let b = baseline().await?;
            out.push((tunnel().await?, b));
        }
    }
    Ok(out)
}

/// [`interleave`] for runs that each give one value.
async fn pairs<T, B, FT, FB>(
    plan: &Plan,
    tunnel: FT,
    baseline: FB,
) -> Result<Vec<Pair>, perf::PerfError>
where
    FT: FnMut() -> T,
    FB: FnMut() -> B,
    T: Future<Output = Result<f64, perf::PerfError>>,
    B: Future<Output = Result<f64, perf::PerfError>>,
{
    Ok(interleave(plan, tunnel, baseline)
        .await?
        .into_iter()
        .map(|(tunnel, baseline)| Pair { tunnel, baseline })
        .collect())
}

/// One bulk run: its rate in MB/s, and the CPU time the whole process spent on it per
/// byte moved, in ns (where the platform reports CPU time).
#[derive(Debug, Clone, Copy)]
struct BulkRun {
    rate: f64,
    cpu: Option<f64>,
}

/// Runs one bulk transfer of `bytes`, reading the process's CPU time around it.
async fn bulk_run(
    bytes: u64,
    run: impl Future<Output = Result<Duration, perf::PerfError>>,
) -> Result<BulkRun, perf::PerfError> {
    let before = perf::cpu::process_cpu();
    let took = run.await?;
    let after = perf::cpu::process_cpu();
    Ok(BulkRun {
        rate: bytes as f64 / took.as_secs_f64() / MB,
        cpu: perf::cpu::ns_per_byte(before, after, bytes),
    })
}

/// A bulk figure from its pairs, and beside it `NAME_cpu`: the CPU each byte cost, whose
/// baseline is its floor (the same bytes through bare TLS, both ends in this process).
/// On a shared machine the CPU figure moves less than the rate: a neighbour's load
/// stretches a run's time far more than the CPU time the run itself uses.
fn bulk_figures(name: &str, runs: &[(BulkRun, BulkRun)]) -> Result<Vec<Figure>, perf::PerfError> {
    let rates: Vec<Pair> = runs
        .iter()
        .map(|(t, b)| Pair {
            tunnel: t.rate,
            baseline: b.rate,
        })
        .collect();
    let mut out = vec![Figure::from_pairs(name, "MB/s", &rates, Bound::Ceiling)?];
    let cpu: Option<Vec<Pair>> = runs
        .iter()
        .map(|(t, b)| {
            Some(Pair {
                tunnel: t.cpu?,
                baseline: b.cpu?,
            })
        })
        .collect();
    if let Some(cpu) = cpu {
        out.push(Figure::from_pairs(
            &format!("{name}_cpu"),
            "ns/B",
            &cpu,
            Bound::Floor,
        )?);
    }
    Ok(out)
}

/// Throughput, latency and setup figures, each from interleaved tunnel/baseline pairs.
pub async fn figures(plan: &Plan, progress: &dyn Progress) -> Result<Vec<Figure>, perf::PerfError> {
    let want = |name: &str| plan.only.as_deref().is_none_or(|o| selects(o, name));
    let stages: Vec<&str> = STAGES.iter().copied().filter(|s| want(s)).collect();
    progress.begin(stages.len() as u64, "figures");
    let stage = Stages {
        progress,
        done: std::cell::Cell::new(0),
    };
    let tunnel = perf::Tunnel::start().await?;
    let bare = perf::Bare::start().await?;
    let bulk = (BULK / PACKET * PACKET) as u64;
    let mut out = Vec::new();
    for (name, dir) in [
        ("tunnel_throughput", Direction::Upload),
        ("tunnel_throughput_reverse", Direction::Download),
        (
            "tunnel_throughput_client_to_client",
            Direction::ClientToClient,
        ),
    ] {
        if !want(name) {
            continue;
        }
        let st = stage.start(name, &out);
        let runs = interleave(
            plan,
            || bulk_run(bulk, tunnel.transfer(dir, BULK, PACKET)),
            || bulk_run(bulk, bare.transfer(dir, BULK, PACKET)),
        )
        .await?;
        out.extend(bulk_figures(name, &runs)?);
        stage.end(name, st, &mut out);
    }
    for clients in [16usize, 64] {
        let name = format!("tunnel_throughput_clients_{clients}");
        if !want(&name) {
            continue;
        }
        let st = stage.start(&name, &out);
        let lock0 = tunnel.lab().server.core_lock_stats();
        let runs = interleave(
            plan,
            || bulk_run(bulk, tunnel.upload(clients, bulk, PACKET)),
            || bulk_run(bulk, bare.upload(clients, bulk, PACKET)),
        )
        .await?;
        out.extend(bulk_figures(&name, &runs)?);
        // whether the one lock on the per-packet path is what limits the aggregate: the
        // share of its acquisitions that found it held during these runs
        let lock1 = tunnel.lab().server.core_lock_stats();
        let taken = lock1.acquisitions - lock0.acquisitions;
        out.push(Figure::alone(
            &format!("core_lock_contended_clients_{clients}"),
            "%",
            100.0 * (lock1.contended - lock0.contended) as f64 / taken.max(1) as f64,
        ));
        stage.end(&name, st, &mut out);
    }
    if want("tunnel_latency") {
        let st = stage.start("tunnel_latency", &out);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        // p50 and p99 come from the same runs
        let runs = latency_runs(plan.clone()).await?;
        let at = |p: f64| -> Vec<Pair> {
            runs.iter()
                .map(|(t, b)| Pair {
                    tunnel: us(perf::percentile(t, p)),
                    baseline: us(perf::percentile(b, p)),
                })
                .collect()
        };
        let (p50, p99) = (at(50.0), at(99.0));
        out.push(Figure::from_pairs(
            "tunnel_latency_p50",
            "us",
            &p50,
            Bound::Floor,
        )?);
        out.push(Figure::from_pairs(
            "tunnel_latency_p99",
            "us",
            &p99,
            Bound::Floor,
        )?);
        stage.end("tunnel_latency", st, &mut out);
    }
    if want("setup_rate") {
        let st = stage.start("setup_rate", &out);
        let conns = 200;
        let per_s = |d: Duration| conns as f64 / d.as_secs_f64();
        let p = pairs(
            plan,
            || async { Ok(per_s(tunnel.setup(conns).await?)) },
            || async { Ok(per_s(bare.setup(conns).await?)) },
        )
        .await?;
        out.push(Figure::from_pairs(
            "setup_rate",
            "per second",
            &p,
            Bound::Ceiling,
        )?);
        stage.end("setup_rate", st, &mut out);
    }
    tunnel.shutdown().await;
    #[cfg(feature = "null-cipher")]
    if want("tunnel_throughput_null") || want("cpu_per_gb") {
        let st = stage.start("tunnel_throughput_null", &out);
        out.extend(null_figures(plan).await?);
        stage.end("tunnel_throughput_null", st, &mut out);
    }
    progress.end();
    Ok(out)
}

/// Whether `--only PATTERN` selects the measurement `name`: the names that start with
/// the pattern, or with a trailing `$` the one name it spells (`tunnel_throughput$` is
/// the upload alone, without the figures whose names go on).
pub fn selects(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('$') {
        Some(whole) => name == whole,
        None => name.starts_with(pattern),
    }
}

/// The measurements of [`figures`] in order, as `--only` names them.
const STAGES: &[&str] = &[
    "tunnel_throughput",
    "tunnel_throughput_reverse",
    "tunnel_throughput_client_to_client",
    "tunnel_throughput_clients_16",
    "tunnel_throughput_clients_64",
    "tunnel_latency",
    "setup_rate",
    #[cfg(feature = "null-cipher")]
    "tunnel_throughput_null",
];

/// Reports [`figures`]' measurements as they begin and end, and gives each figure the
/// share of the machine's CPU time stolen while its stage ran.
struct Stages<'a> {
    progress: &'a dyn Progress,
    done: std::cell::Cell<u64>,
}

/// A stage under way: where its figures begin in the output, and the machine's CPU time
/// when it began.
struct Stage {
    first: usize,
    since: Option<perf::cpu::MachineTime>,
}

impl Stages<'_> {
    fn start(&self, name: &str, out: &[Figure]) -> Stage {
        self.progress.started(name);
        Stage {
            first: out.len(),
            since: perf::cpu::machine_time(),
        }
    }

    fn end(&self, name: &str, stage: Stage, out: &mut [Figure]) {
        let stolen = perf::cpu::stolen_share(stage.since, perf::cpu::machine_time());
        for f in &mut out[stage.first..] {
            f.stolen = stolen;
        }
        self.done.set(self.done.get() + 1);
        self.progress.advanced(self.done.get(), name, None);
    }
}

/// Round trips, 500 per run, of the tunnel and of the echo, interleaved, with both on one
/// thread of their own (a current-thread runtime): a round trip on a shared multi-thread
/// runtime pays for waking a parked worker thread on each hop, tens of microseconds on a
/// virtual machine and different from run to run depending on which thread each task
/// lands on, which would measure the scheduler rather than the work.
async fn latency_runs(plan: Plan) -> Result<Vec<(Vec<Duration>, Vec<Duration>)>, perf::PerfError> {
    let n = 500;
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let tunnel = perf::Tunnel::start().await?;
            let bare = perf::Bare::start().await?;
            let runs = interleave(&plan, || tunnel.rtts(n), || bare.rtts(n)).await;
            tunnel.shutdown().await;
            runs
        })
    });
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .map_err(perf::PerfError::stalled)?
        .map_err(|_| perf::PerfError::Stalled("the latency thread panicked".into()))?
}

/// NULL-SHA256 against AES-GCM on the same OpenSSL tunnel (upload, 1280-byte packets),
/// in interleaved pairs: throughput, and CPU seconds per GB on the client and on the
/// server. AES-GCM is a reference here, not a limit.
#[cfg(feature = "null-cipher")]
async fn null_figures(plan: &Plan) -> Result<Vec<Figure>, perf::PerfError> {
    use crate::perf::null::null_transfer;
    use iphttps_sim::tls::NullCipher;
    let total = 256 * 1024 * 1024;
    let packet = 1280;
    let bytes = (total / packet * packet) as f64;
    let gb = bytes / 1e9;
    let runs = interleave(
        plan,
        || null_transfer(NullCipher::Prefer, total, packet),
        || null_transfer(NullCipher::Off, total, packet),
    )
    .await?;
    if let Some((n, a)) = runs
        .iter()
        .find(|(n, a)| !n.suite.contains("NULL") || a.suite.contains("NULL"))
    {
        return Err(perf::PerfError::Stalled(format!(
            "unexpected suites: {} and {}",
            n.suite, a.suite
        )));
    }
    let rate = |c: &perf::null::NullCost| bytes / c.elapsed.as_secs_f64() / MB;
    let throughput: Vec<Pair> = runs
        .iter()
        .map(|(n, a)| Pair {
            tunnel: rate(n),
            baseline: rate(a),
        })
        .collect();
    let mut out = vec![Figure::from_pairs(
        "tunnel_throughput_null",
        "MB/s",
        &throughput,
        Bound::Reference,
    )?];
    type Side = fn(&perf::null::NullCost) -> Option<Duration>;
    let sides: [(&str, Side); 2] = [
        ("cpu_per_gb_null_client", |c| c.client_cpu),
        ("cpu_per_gb_null_server", |c| c.server_cpu),
    ];
    for (name, side) in sides {
        let cpu: Vec<Pair> = runs
            .iter()
            .filter_map(|(n, a)| {
                Some(Pair {
                    tunnel: side(n)?.as_secs_f64() / gb,
                    baseline: side(a)?.as_secs_f64() / gb,
                })
            })
            .collect();
        if !cpu.is_empty() {
            out.push(Figure::from_pairs(
                name,
                "CPU s/GB",
                &cpu,
                Bound::Reference,
            )?);
        }
    }
    Ok(out)
}

/// The resident memory of process `pid` in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok())
}

/// Why the many-clients measurement could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// The server process did not start.
    #[error(transparent)]
    Served(#[from] ServedError),
    /// A client's configuration was refused.
    #[error(transparent)]
    Tls(#[from] iphttps_sim::tls::TlsError),
    /// A client did not reach LinkUp with an address in time.
    #[error("a client did not come up: {0}")]
    NotUp(String),
}

/// Starts `iphttps serve` (`bin`) in its own process on loopback, then `n` clients in this
/// one; measures the time until all are LinkUp with an address and the server's resident
/// memory per client.
pub async fn clients(
    bin: &Path,
    n: usize,
    progress: &dyn Progress,
) -> Result<Vec<Figure>, ClientsError> {
    let table = n.max(10_000).to_string();
    let served = Served::start(bin, &["--max-clients", &table], &[])?;
    let pid = served.pid();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let heap_before = heap_in_use(&served).await;
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let c = served.client(
            i as u64,
            Duration::from_millis(500),
            Duration::from_secs(30),
        );
        handles.push(iphttps_sim::client::start(c)?);
    }
    let deadline = t0 + Duration::from_secs(120);
    progress.begin(n as u64, "clients LinkUp");
    progress.started("clients connecting");
    for (k, h) in handles.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        h.wait_active(left)
            .await
            .map_err(|s| ClientsError::NotUp(format!("{:?} {}", s.state, s.last_error)))?;
        progress.advanced(k as u64 + 1, "clients connecting", None);
    }
    progress.end();
    let linkup = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let heap_after = heap_in_use(&served).await;
    for h in &handles {
        h.shutdown().await;
    }
    drop(served);
    let mut figs = vec![Figure::alone("clients_linkup_seconds", "s", linkup)];
    if let (Some(b), Some(a)) = (before, after) {
        figs.push(Figure::alone(
            "server_rss_per_client_kib",
            "KiB",
            a.saturating_sub(b) as f64 / n as f64,
        ));
    }
    if let (Some(b), Some(a)) = (heap_before, heap_after) {
        let total = a.saturating_sub(b) as f64 / 1024.0 / n as f64;
        figs.push(Figure::alone("server_heap_per_client_kib", "KiB", total));
        // the same parts the server's sessions hold, measured one at a time here
        if let Ok(parts) = perf::memory::breakdown(n.min(2_000)) {
            let mut explained = 0.0;
            for p in parts {
                let kib = p.bytes / 1024.0;
                explained += kib;
                figs.push(Figure::alone(
                    &format!("server_heap_{}_kib", p.name),
                    "KiB",
                    kib,
                ));
            }
            figs.push(Figure::alone(
                "server_heap_rest_kib",
                "KiB",
                total - explained,
            ));
        }
    }
    Ok(figs)
}

/// The server's live heap in bytes, from its `/status` (glibc only).
async fn heap_in_use(served: &Served) -> Option<u64> {
    iphttps_sim::api::client::get(served.admin, "/status")
        .await
        .ok()?
        .get("heap_in_use_bytes")?
        .as_u64()
}

/// The binary to start for `--clients` (this executable).
pub fn this_binary() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

/// `criterion_main!` that first prints the machine (CPU model, cores, memory) on stderr,
/// so criterion figures from different machines are never compared blind.
#[macro_export]
macro_rules! bench_main {
    ($($group:path),+ $(,)?) => {
        fn main() {
            eprintln!("{}", $crate::bench::machine());
            $($group();)+
            ::criterion::Criterion::default()
                .configure_from_args()
                .final_summary();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64, cpu: Option<f64>) -> BulkRun {
        BulkRun { rate, cpu }
    }

    #[test]
    fn a_bulk_figure_comes_with_its_cpu_per_byte_beside_a_floor() {
        let runs: Vec<(BulkRun, BulkRun)> = [(800.0, 1.5), (900.0, 1.4), (850.0, 1.6)]
            .into_iter()
            .map(|(rate, cpu)| (run(rate, Some(cpu)), run(1000.0, Some(1.2))))
            .collect();
        let figs = bulk_figures("tunnel_throughput", &runs).unwrap();
        let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["tunnel_throughput", "tunnel_throughput_cpu"]);
        assert_eq!((figs[0].value, figs[0].unit.as_str()), (850.0, "MB/s"));
        let cpu = &figs[1];
        assert_eq!(
            (cpu.value, cpu.baseline, cpu.unit.as_str()),
            (1.5, Some(1.2), "ns/B")
        );
        assert!((cpu.ratio.unwrap() - 1.25).abs() < 1e-9);
        // the baseline is the least CPU the bytes can cost: a tunnel below it is suspect
        let cheaper: Vec<_> = runs
            .iter()
            .map(|(t, _)| (*t, run(1000.0, Some(2.0))))
            .collect();
        assert!(bulk_figures("x", &cheaper).unwrap()[1].baseline_suspect);
    }

    #[test]
    fn only_takes_a_prefix_or_with_a_dollar_the_whole_name() {
        assert!(selects("tunnel_throughput", "tunnel_throughput_reverse"));
        assert!(selects("tunnel_throughput", "tunnel_throughput"));
        assert!(selects("tunnel_throughput$", "tunnel_throughput"));
        assert!(!selects("tunnel_throughput$", "tunnel_throughput_reverse"));
        assert!(!selects("setup", "tunnel_latency"));
    }

    #[test]
    fn without_cpu_time_there_is_only_the_rate() {
        let runs = vec![(run(800.0, None), run(1000.0, Some(1.0)))];
        let figs = bulk_figures("tunnel_throughput", &runs).unwrap();
        assert_eq!(figs.len(), 1);
        assert_eq!(figs[0].name, "tunnel_throughput");
    }
}
