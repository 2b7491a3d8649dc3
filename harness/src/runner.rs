//! The runner: each scenario in its own lab on loopback with its own ports, several in
//! parallel, its steps in order, each within its deadline.

use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::lab::{Lab, LabConfig, LabError, LabNetwork};
use crate::timeline::{ClientTimeline, Recorder};
use iphttps_sim::api::{self, Managed};
use iphttps_sim::client::{ClientHandle, ClientState, PingError};
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::link::router::DropReason;
use iphttps_sim::pki;
use iphttps_sim::windows::command::{CommandError, Session};
use iphttps_sim::windows::ipsec::Tunnel;

use crate::fixtures::toxic::{ToxicRelay, Toxics};
use crate::scenario::{
    Action, ClientCond, Clients, Expectation, NetChange, PingPlan, PingTarget, Scenario,
    ServerCond, UdpPlan,
};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Scenarios at once (0: the number of cores).
    pub jobs: usize,
    /// Where to write each scenario's pcap and log.
    pub artifacts: Option<PathBuf>,
    /// The `iphttps` binary, for the `netsh` shim of exec steps (default: this process).
    pub iphttps_bin: Option<PathBuf>,
    /// Stop starting scenarios after the first failure.
    pub fail_fast: bool,
    /// Run every scenario simulated (`--simulated`), whatever its `[lab] network` says.
    pub simulated: bool,
}

/// The wall-clock date a simulated run starts at (its certificates are issued around
/// it): fixed, so that every run of a scenario sees the same dates.
pub const SIMULATED_EPOCH_UNIX: u64 = 1_780_300_800; // 2026-06-01T08:00:00Z

/// One step's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepResult {
    /// Its name.
    pub name: String,
    /// What it did, in a few words (`expect`, `inject expired-cert`, `run on server: ...`).
    pub action: String,
    /// Whether it passed.
    pub passed: bool,
    /// Seconds it took.
    pub seconds: f64,
    /// What happened (the difference between expected and seen when it failed).
    pub message: String,
}

/// One scenario's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Whether it ran simulated (an in-memory network in virtual time).
    pub simulated: bool,
    /// Its seed.
    pub seed: u64,
    /// Whether every step passed.
    pub passed: bool,
    /// Seconds it took on the scenario's clock (virtual when simulated).
    pub seconds: f64,
    /// Seconds of real time it took (the one field that differs between two runs of a
    /// simulated scenario).
    pub wall_seconds: f64,
    /// The failing step's name.
    pub failed_step: Option<String>,
    /// The failure.
    pub message: Option<String>,
    /// Every step run.
    pub steps: Vec<StepResult>,
    /// Each client's states and Last Error Codes over the scenario.
    pub timeline: Vec<ClientTimeline>,
    /// The Operations Status the console showed when a step failed.
    pub operations_status_at_failure: Option<String>,
    /// The log.
    pub log: String,
}

/// Runs scenarios, `opts.jobs` at a time; `done` is called as each one finishes.
pub async fn run_all(
    scenarios: Vec<Scenario>,
    opts: &RunOptions,
    done: impl Fn(&ScenarioResult, usize, usize) + Send + Sync + 'static,
) -> Vec<ScenarioResult> {
    run_all_with(scenarios, opts, |_| {}, done).await
}

/// [`run_all`], with `started` called with each scenario's name as it begins.
pub async fn run_all_with(
    scenarios: Vec<Scenario>,
    opts: &RunOptions,
    started: impl Fn(&str) + Send + Sync + 'static,
    done: impl Fn(&ScenarioResult, usize, usize) + Send + Sync + 'static,
) -> Vec<ScenarioResult> {
    let started = Arc::new(started);
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.jobs
    };
    let total = scenarios.len();
    let sem = Arc::new(tokio::sync::Semaphore::new(jobs));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::new(done);
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in scenarios.into_iter().enumerate() {
        let (sem, stop, done, finished, opts, started) = (
            sem.clone(),
            stop.clone(),
            done.clone(),
            finished.clone(),
            opts.clone(),
            started.clone(),
        );
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.ok()?;
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            started(&s.name);
            let r = if opts.simulated || s.simulated {
                // its own thread, its own runtime on a paused clock
                let opts = opts.clone();
                tokio::task::spawn_blocking(move || run_simulated(&s, &opts))
                    .await
                    .ok()?
            } else {
                run_scenario(&s, &opts).await
            };
            if !r.passed && opts.fail_fast {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let n = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            done(&r, n, total);
            Some((i, r))
        });
    }
    let mut out: Vec<(usize, ScenarioResult)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(Some(x)) = r {
            out.push(x);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Runs one scenario simulated: on a runtime of its own whose clock is paused, so time
/// jumps to the next timer whenever every task waits, over an in-memory network.
pub fn run_simulated(s: &Scenario, opts: &RunOptions) -> ScenarioResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let opts = RunOptions {
        simulated: true,
        ..opts.clone()
    };
    rt.block_on(run_scenario(s, &opts))
}

/// Where a scenario's artifact with extension `ext` (`pcap`, `log`) goes in `dir`.
pub fn artifact(dir: &Path, scenario: &str, ext: &str) -> PathBuf {
    dir.join(format!("{}.{ext}", slug(scenario)))
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Why a scenario could not start or a step failed; the message is what the report shows.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The artifacts folder could not be made.
    #[error("artifacts folder {path}: {source}")]
    Artifacts {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The lab did not start.
    #[error("the lab did not start: {0}")]
    LabStart(#[source] LabError),
    /// A toxic relay did not start.
    #[error("toxic relay: {0}")]
    Relay(#[source] std::io::Error),
    /// A client did not start.
    #[error("client: {0}")]
    Client(#[source] LabError),
    /// A certificate could not be made.
    #[error("certificate: {0}")]
    Pki(#[source] pki::PkiError),
    /// The lab's admin endpoint did not start.
    #[error(transparent)]
    Api(#[from] api::ApiError),
    /// A fault could not be injected or cleared.
    #[error(transparent)]
    Fault(LabError),
    /// A command line failed.
    #[error("`{line}` failed: {source}")]
    Command {
        /// The line.
        line: String,
        /// The interpreter's complaint.
        #[source]
        source: CommandError,
    },
    /// An exec step's program could not be started.
    #[error("cannot run {program}: {source}")]
    Exec {
        /// The program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// What the step saw is not what it expected.
    #[error("{0}")]
    Unexpected(String),
}

struct World {
    lab: Arc<Lab>,
    relays: Vec<ToxicRelay>,
    admin: std::net::SocketAddr,
    _control: api::AdminEndpoint,
    shim: Option<tempfile::TempDir>,
}

async fn start_world(s: &Scenario, opts: &RunOptions) -> Result<World, StepError> {
    if let Some(d) = &opts.artifacts {
        std::fs::create_dir_all(d).map_err(|source| StepError::Artifacts {
            path: d.clone(),
            source,
        })?;
    }
    let pcap = opts
        .artifacts
        .as_ref()
        .map(|d| artifact(d, &s.name, "pcap"));
    let simulated = opts.simulated;
    let t = &s.timers(simulated);
    let clock = if simulated {
        iphttps_sim::net::Clock::starting_at(
            std::time::UNIX_EPOCH + Duration::from_secs(SIMULATED_EPOCH_UNIX),
        )
    } else {
        iphttps_sim::net::Clock::system()
    };
    let lab = Lab::start(LabConfig {
        network: if simulated {
            LabNetwork::Simulated(iphttps_sim::net::MemoryNetwork::new())
        } else {
            LabNetwork::Loopback
        },
        rfc_host_timers: t.rfc_host_timers,
        ipsec: s.ipsec,
        clients: 0,
        seed: s.seed,
        reconnect_initial: Duration::from_millis(t.reconnect_initial_ms),
        connect_timeout: Duration::from_millis(t.connect_timeout_ms),
        check_revocation: s.check_revocation,
        proxy: s.proxy.clone(),
        proxy_credentials: s.proxy_credentials.clone(),
        deployment: DeploymentConfig {
            name: s.server_name.clone(),
            path: s.path_uri.clone(),
            pcap,
            faults: s.faults.clone(),
            ops_refresh: Duration::from_millis(t.ops_refresh_ms),
            client_prefix: s.client_prefix,
            internal_prefix: s.internal_prefix,
            auth_mode: s.auth_mode,
            ra_interval: Some(Duration::from_millis(t.ra_interval_ms)),
            reassembly_timeout: Some(Duration::from_millis(t.reassembly_timeout_ms)),
            idle_timeout: Some(Duration::from_millis(t.idle_timeout_ms)),
            null_cipher: s.server_null_cipher,
            clock,
            ..DeploymentConfig::default()
        },
    })
    .await
    .map_err(StepError::LabStart)?;
    let lab = Arc::new(lab);
    let mut relays = Vec::new();
    // clients that do not trust the deployment's root trust another one
    let other_root = if s.trust_root {
        None
    } else {
        Some(pki::unrelated_root(clock.date()).map_err(StepError::Pki)?)
    };
    for _ in 0..s.clients {
        let relay = if s.uses_toxics {
            Some(
                ToxicRelay::start(lab.fixtures().0, lab.server.local_addr(), lab.fixtures().1)
                    .await
                    .map_err(StepError::Relay)?,
            )
        } else {
            None
        };
        let cap = Duration::from_millis(t.reconnect_cap_ms);
        lab.add_client(|c| {
            c.network = s.network;
            if !s.client_certificate {
                c.client_cert = None;
            }
            if let Some(pem) = &other_root {
                c.trust_pem = pem.clone();
            }
            c.reconnect_cap = cap;
            c.host.ip.reassembly.timeout = Duration::from_millis(t.reassembly_timeout_ms);
            c.host.keepalive =
                (t.nud_interval_ms > 0).then(|| Duration::from_millis(t.nud_interval_ms));
            c.host.two_hours = Duration::from_millis(t.two_hour_rule_ms);
            c.null_cipher = s.client_null_cipher;
            if let Some(p) = &relay {
                let host = c.url.host.clone();
                c.resolve.retain(|(n, _)| !n.eq_ignore_ascii_case(&host));
                c.resolve.push((host, p.addr().ip()));
                c.url.port = p.addr().port();
            }
        })
        .map_err(StepError::Client)?;
        relays.extend(relay);
    }
    let ctl = api::serve(lab.clone(), "127.0.0.1:0".parse().expect("valid"), None).await?;
    let admin = ctl.local_addr();
    let shim = netsh_shim(opts);
    Ok(World {
        lab,
        relays,
        admin,
        _control: ctl,
        shim,
    })
}

/// A folder with a `netsh` that forwards to `iphttps ctl` against the lab (Unix only).
fn netsh_shim(opts: &RunOptions) -> Option<tempfile::TempDir> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bin = opts
            .iphttps_bin
            .clone()
            .or_else(|| std::env::current_exe().ok())?;
        let dir = tempfile::Builder::new()
            .prefix("iphttps-shim-")
            .tempdir()
            .ok()?;
        let script = format!(
            "#!/bin/sh\nexec \"{}\" ctl --admin \"$IPHTTPS_ADMIN\" -- netsh \"$@\"\n",
            bin.display()
        );
        let path = dir.path().join("netsh");
        std::fs::write(&path, script).ok()?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).ok()?;
        Some(dir)
    }
    #[cfg(not(unix))]
    {
        let _ = opts;
        None
    }
}

/// Runs one scenario (simulated when `opts.simulated`: then on a paused clock, see
/// [`run_simulated`]).
pub async fn run_scenario(s: &Scenario, opts: &RunOptions) -> ScenarioResult {
    let started = Instant::now();
    let wall = std::time::Instant::now();
    let mut log = String::new();
    let _ = writeln!(log, "scenario {} ({})", s.name, s.path.display());
    let mut steps = Vec::new();
    let mut failure: Option<(String, String)> = None;
    let mut timeline = Vec::new();
    let mut ops_at_failure = None;
    match start_world(s, opts).await {
        Err(e) => failure = Some(("(start)".into(), e.to_string())),
        Ok(w) => {
            let recorder = Recorder::start(&w.lab.clients(), started);
            let mut session = Session::default();
            for st in &s.steps {
                let t0 = Instant::now();
                // the step watches its own deadline and says what it saw; this is a backstop
                let deadline = *st.deadline.get(opts.simulated);
                let backstop = deadline + Duration::from_secs(2);
                let r = tokio::time::timeout(
                    backstop,
                    step(&w, s, &st.action, &mut session, deadline, opts.simulated),
                )
                .await;
                let (passed, message) = match r {
                    Ok(Ok(m)) => (true, m),
                    Ok(Err(e)) => (false, e.to_string()),
                    Err(_) => (false, format!("deadline of {deadline:?} passed")),
                };
                let _ = writeln!(
                    log,
                    "  [{}] {} ({:.2}s): {}",
                    if passed { "ok" } else { "FAIL" },
                    st.name,
                    t0.elapsed().as_secs_f64(),
                    message
                );
                steps.push(StepResult {
                    name: st.name.clone(),
                    action: st.action.summary(),
                    passed,
                    seconds: t0.elapsed().as_secs_f64(),
                    message: message.clone(),
                });
                if !passed {
                    failure = Some((st.name.clone(), message));
                    let ops = w.lab.deployment().operations_status().await;
                    ops_at_failure = Some(iphttps_sim::windows::views::operations_status(&ops));
                    break;
                }
            }
            timeline = recorder.finish();
            w.lab.shutdown().await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = writeln!(
        log,
        "{} in {seconds:.2}s",
        if failure.is_none() { "PASS" } else { "FAIL" }
    );
    if let Some(dir) = &opts.artifacts {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(artifact(dir, &s.name, "log"), &log);
    }
    ScenarioResult {
        name: s.name.clone(),
        file: s.path.display().to_string(),
        simulated: opts.simulated,
        seed: s.seed,
        passed: failure.is_none(),
        seconds,
        wall_seconds: wall.elapsed().as_secs_f64(),
        failed_step: failure.as_ref().map(|(n, _)| n.clone()),
        message: failure.map(|(_, m)| m),
        steps,
        timeline,
        operations_status_at_failure: ops_at_failure,
        log,
    }
}

fn clients_of(w: &World, sel: Clients) -> Vec<(usize, Arc<ClientHandle>)> {
    match sel {
        Clients::All => w.lab.clients().into_iter().enumerate().collect(),
        Clients::One(i) => vec![(i, w.lab.client(i))],
    }
}

async fn step(
    w: &World,
    s: &Scenario,
    action: &Action,
    session: &mut Session,
    deadline: Duration,
    simulated: bool,
) -> Result<String, StepError> {
    match action {
        Action::Expect(e) => expect(w, e, deadline, simulated).await,
        Action::Inject(f) => w
            .lab
            .set_fault(*f, true)
            .await
            .map(|_| format!("{f} injected"))
            .map_err(StepError::Fault),
        Action::Clear(f) => w
            .lab
            .set_fault(*f, false)
            .await
            .map(|_| format!("{f} cleared"))
            .map_err(StepError::Fault),
        Action::Run {
            lines,
            client,
            expect_failure,
        } => {
            let mut out = String::new();
            for l in lines {
                let l = &expand(w, l);
                match w.lab.run(*client, l, session).await {
                    Ok(o) => out.push_str(&o.to_text()),
                    Err(e) if *expect_failure => return Ok(format!("failed as expected: {e}")),
                    Err(source) => {
                        return Err(StepError::Command {
                            line: l.trim().to_string(),
                            source,
                        });
                    }
                }
            }
            if *expect_failure {
                return Err(StepError::Unexpected(
                    "the commands were expected to fail, and succeeded".into(),
                ));
            }
            Ok(format!("{} line(s) run", lines.len()))
        }
        Action::Ping(p) => ping(w, p, deadline).await,
        Action::Udp(u) => udp(w, u, deadline).await,
        Action::Exec(x) => exec(w, s, x, simulated).await,
        Action::Restart(downtime) => {
            let downtime = *downtime.get(simulated);
            w.lab.restart_server(downtime).await;
            Ok(format!("server restarted after {downtime:?} down"))
        }
        Action::Toxic(t) => {
            let p = &w.relays[t.client - 1];
            if t.reset {
                p.reset();
            }
            p.set(Toxics {
                latency: Duration::from_millis(t.latency_ms),
                bandwidth_bps: t.bandwidth_kbps * 1000 / 8,
                stall: t.stall,
                slice: t.slice_bytes,
                limit: t.limit_bytes,
                loss: 0.0,
            });
            Ok(format!("toxics on client {}: {t:?}", t.client))
        }
        Action::Network(sel, change) => {
            for (i, _) in clients_of(w, *sel) {
                network(w, i, *change);
            }
            let who = match sel {
                Clients::All => "every client".to_string(),
                Clients::One(i) => format!("client {}", i + 1),
            };
            Ok(match change {
                NetChange::Partition(true) => format!("{who}: partitioned"),
                NetChange::Partition(false) => format!("{who}: partition healed"),
                NetChange::Hold(true) => format!("{who}: bytes held"),
                NetChange::Hold(false) => format!("{who}: held bytes released"),
                NetChange::Shape { latency, loss } => format!(
                    "{who}: latency {}, loss {}",
                    latency.map_or("unchanged".into(), |l| format!("{l:?}")),
                    loss.map_or("unchanged".into(), |l| format!("{:.0}%", l * 100.0))
                ),
            })
        }
        Action::Sleep(d) => {
            let d = d.get(simulated);
            tokio::time::sleep(*d).await;
            Ok(format!("slept {d:?}"))
        }
        Action::Proxy(mode) => {
            let p = w
                .lab
                .proxy()
                .ok_or_else(|| StepError::Unexpected("the lab has no web proxy".into()))?;
            p.set_mode(mode.clone());
            Ok(format!("web proxy now {mode:?}"))
        }
        Action::FragmentFilter(f) => {
            w.lab.server.set_fragment_filter(*f);
            Ok(format!("the internal network's firewall now drops: {f}"))
        }
    }
}

/// Applies a network fault to client `i`'s path: simulated, on its host's link of the
/// in-memory network; on loopback, on its toxic relay (a partition or a hold stalls it,
/// so the kernel's own TCP never gives up within a scenario).
fn network(w: &World, i: usize, change: NetChange) {
    if let Some(net) = w.lab.memory_network() {
        let link = net.link(crate::lab::simulated_client(i));
        let mut f = link.faults();
        match change {
            NetChange::Partition(on) => f.partitioned = on,
            NetChange::Hold(on) => f.held = on,
            NetChange::Shape { latency, loss } => {
                f.latency = latency.unwrap_or(f.latency);
                f.loss = loss.unwrap_or(f.loss);
            }
        }
        link.set(f);
        return;
    }
    let relay = &w.relays[i];
    let mut t = relay.toxics();
    match change {
        NetChange::Partition(on) | NetChange::Hold(on) => t.stall = on,
        NetChange::Shape { latency, loss } => {
            t.latency = latency.unwrap_or(t.latency);
            t.loss = loss.unwrap_or(t.loss);
        }
    }
    relay.set(t);
}

/// Fills in `{pki}` (the certificate folder), `{url}`, `{server_ip}` and `{admin}`.
fn expand(w: &World, line: &str) -> String {
    line.replace("{pki}", &w.lab.pki_dir().display().to_string())
        .replace("{url}", &w.lab.server.url())
        .replace("{server_ip}", &w.lab.server.local_addr().ip().to_string())
        .replace("{admin}", &w.admin.to_string())
}

/// Polls `e` every 20 ms until it holds (for `e.hold` without a break, when given) or
/// `deadline` passes.
async fn expect(
    w: &World,
    e: &Expectation,
    deadline: Duration,
    simulated: bool,
) -> Result<String, StepError> {
    let hold = e.hold.map(|h| *h.get(simulated));
    let end = Instant::now() + deadline;
    let mut since: Option<Instant> = None;
    let mut longest = Duration::ZERO;
    loop {
        let now = Instant::now();
        match check(w, e).await {
            None => {
                let held = now - *since.get_or_insert(now);
                longest = longest.max(held);
                match hold {
                    None => return Ok("as expected".into()),
                    Some(h) if held >= h => return Ok(format!("as expected, for {h:?}")),
                    Some(h) if now >= end => {
                        return Err(StepError::Unexpected(format!(
                            "the conditions had held for {held:?} of the {h:?} required when the deadline of {deadline:?} passed"
                        )));
                    }
                    Some(_) => {}
                }
            }
            Some(m) => {
                since = None;
                if now >= end {
                    let best = match hold {
                        Some(h) if !longest.is_zero() => {
                            format!(
                                "; at best the conditions held for {longest:?} of the {h:?} required"
                            )
                        }
                        _ => String::new(),
                    };
                    return Err(StepError::Unexpected(format!(
                        "{m} (still, after {deadline:?}){best}"
                    )));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first difference between `e` and what is seen, or `None` when all hold.
async fn check(w: &World, e: &Expectation) -> Option<String> {
    if !e.client.is_empty() {
        for (i, c) in clients_of(w, e.clients) {
            let s = c.status();
            if e.wait_for_tunnel
                && !matches!(s.state, ClientState::Established | ClientState::LinkUp)
            {
                return Some(format!(
                    "client {}: its tunnel is not established (state {:?}); these conditions \
                     are also true of a client that never connected, so they count only once it is",
                    i + 1,
                    s.state
                ));
            }
            let ipsec = e
                .client
                .iter()
                .any(ClientCond::is_ipsec)
                .then(|| w.lab.fleet().ipsec(i + 1).map(|a| a.snapshot()))
                .flatten();
            for cond in &e.client {
                if let Err(m) = cond
                    .check(&s)
                    .and_then(|()| cond.check_ipsec(ipsec.as_ref()))
                {
                    return Some(format!("client {}: {m}", i + 1));
                }
            }
        }
    }
    let mut ops = None;
    for cond in &e.server {
        let miss = match cond {
            ServerCond::Health(h) => {
                let o = match &ops {
                    Some(o) => o,
                    None => ops.insert(w.lab.operations_status().await),
                };
                (o.server != *h).then(|| {
                    format!(
                        "expected Operations Status {}, saw {}",
                        h.as_str(),
                        o.server.as_str()
                    )
                })
            }
            ServerCond::Ops {
                component,
                state,
                text,
            } => {
                let o = match &ops {
                    Some(o) => o,
                    None => ops.insert(w.lab.operations_status().await),
                };
                match o.component(component) {
                    None => Some(format!(
                        "Operations Status lists no component named {component}"
                    )),
                    Some(c) if c.state != *state => Some(format!(
                        "expected {component} {}, saw {} ({})",
                        state.as_str(),
                        c.state.as_str(),
                        c.error.clone().unwrap_or_default()
                    )),
                    Some(c) => text.as_ref().and_then(|t| {
                        let all = format!(
                            "{} {}",
                            c.error.clone().unwrap_or_default(),
                            c.causes.clone().unwrap_or_default()
                        );
                        (!all.contains(t.as_str())).then(|| {
                            format!("expected {component} text containing \"{t}\", saw \"{all}\"")
                        })
                    }),
                }
            }
            ServerCond::Dropped(reason, n) => {
                let got = w.lab.server.with_router(|r| r.stats().dropped(*reason));
                (got < *n).then(|| {
                    format!(
                        "expected at least {n} packet(s) dropped as {}, saw {got}",
                        reason.as_str()
                    )
                })
            }
            ServerCond::ServerClients(n) => {
                let got = w.lab.server.with_router(|r| r.client_count());
                (got != *n)
                    .then(|| format!("expected {n} client(s) in the server's table, saw {got}"))
            }
        };
        if miss.is_some() {
            return miss;
        }
    }
    None
}

fn target_addr(w: &World, to: PingTarget) -> Result<Ipv6Addr, StepError> {
    #[cfg(target_os = "linux")]
    if let Some(x) = w.lab.ipsec() {
        match to {
            PingTarget::Intranet => return Ok(x.addresses().application),
            PingTarget::Infrastructure => return Ok(x.addresses().infrastructure),
            _ => {}
        }
    }
    match to {
        PingTarget::Infrastructure => Err(StepError::Unexpected(
            "only an IPsec lab ([lab] ipsec = true) has an infrastructure server".into(),
        )),
        PingTarget::Intranet => Ok(w.lab.server.intranet_address()),
        PingTarget::Address(a) => Ok(a),
        PingTarget::Client(i) => w.lab.client(i).status().global.ok_or_else(|| {
            StepError::Unexpected(format!("client {} has no global address to ping", i + 1))
        }),
    }
}

/// The packets (in, out) of client `i`'s quick mode SA of `tunnel`.
#[cfg(target_os = "linux")]
async fn esp_packets(w: &World, i: usize, tunnel: Tunnel) -> Result<(u64, u64), StepError> {
    let x = w.lab.ipsec().ok_or_else(|| {
        StepError::Unexpected("`through` needs an IPsec lab ([lab] ipsec = true)".into())
    })?;
    x.packets(i, tunnel)
        .await
        .map_err(|e| StepError::Unexpected(e.to_string()))
}

#[cfg(not(target_os = "linux"))]
async fn esp_packets(_: &World, _: usize, _: Tunnel) -> Result<(u64, u64), StepError> {
    Err(StepError::Unexpected(
        "`through` needs an IPsec lab (Linux)".into(),
    ))
}

/// One Echo Request from client `i`'s kernel (IPsec lab).
#[cfg(target_os = "linux")]
async fn kernel_ping(
    w: &World,
    i: usize,
    dst: Ipv6Addr,
    size: usize,
    wait: Duration,
) -> Result<Option<Duration>, StepError> {
    match w.lab.ipsec() {
        Some(x) => x
            .ping(i, dst, size, wait)
            .await
            .map_err(|e| StepError::Unexpected(e.to_string())),
        None => Ok(None),
    }
}

#[cfg(not(target_os = "linux"))]
async fn kernel_ping(
    _: &World,
    _: usize,
    _: Ipv6Addr,
    _: usize,
    _: Duration,
) -> Result<Option<Duration>, StepError> {
    Ok(None)
}

async fn ping(w: &World, p: &PingPlan, deadline: Duration) -> Result<String, StepError> {
    let dst = target_addr(w, p.to)?;
    let per =
        (deadline / (p.count * 2).max(1)).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let drops =
        |r: Option<DropReason>| r.map_or(0, |r| w.lab.server.with_router(|x| x.stats().dropped(r)));
    let drops_before = drops(p.dropped_by);
    let mut rtts = Vec::new();
    let mut sent = 0u32;
    let mut through = Vec::new();
    for (i, c) in clients_of(w, p.from) {
        let esp_before = match p.through {
            Some(t) => Some(esp_packets(w, i, t).await?),
            None => None,
        };
        let replies_before = rtts.len();
        for _ in 0..p.count {
            sent += 1;
            if w.lab.ipsec().is_some() {
                let s = c.status();
                if p.no_reply && (s.state != ClientState::LinkUp || s.global.is_none()) {
                    return Err(StepError::Unexpected(format!(
                        "expected no reply to requests sent through an established tunnel, but \
                         client {} is not up with an address (state {:?})",
                        i + 1,
                        s.state
                    )));
                }
                if let Some(rtt) = kernel_ping(w, i, dst, p.size, per).await? {
                    rtts.push(rtt.as_secs_f64() * 1000.0);
                }
                continue;
            }
            match c.ping(dst, p.size, per).await {
                Ok(rtt) => rtts.push(rtt.as_secs_f64() * 1000.0),
                Err(PingError::Timeout(_)) => {}
                // A request that never left the tunnel proves nothing about the path.
                Err(e @ (PingError::NotUp | PingError::Stopped)) if p.no_reply => {
                    let s = c.status();
                    return Err(StepError::Unexpected(format!(
                        "expected no reply to requests sent through an established tunnel, but \
                         client {} could not send one: {e} (state {:?}, global address {})",
                        i + 1,
                        s.state,
                        s.global.map_or("none".to_string(), |a| a.to_string())
                    )));
                }
                Err(_) => {}
            }
        }
        if let (Some(t), Some((in0, out0))) = (p.through, esp_before) {
            let (in1, out1) = esp_packets(w, i, t).await?;
            let replies = (rtts.len() - replies_before) as u64;
            through.push(format!(
                "client {}: {} ESP packets out, {} in through the {} tunnel",
                i + 1,
                out1.saturating_sub(out0),
                in1.saturating_sub(in0),
                t.name()
            ));
            if replies == 0
                || in1.saturating_sub(in0) < replies
                || out1.saturating_sub(out0) < replies
            {
                return Err(StepError::Unexpected(format!(
                    "expected each of the {replies} answered request(s) and its reply to go through the {} tunnel's quick mode SA; {}",
                    t.name(),
                    through.last().expect("just pushed")
                )));
            }
        }
    }
    let loss = 1.0 - rtts.len() as f64 / f64::from(sent);
    rtts.sort_by(|a, b| a.total_cmp(b));
    let p50 = rtts.get(rtts.len() / 2).copied();
    let mut summary = format!(
        "{sent} sent to {dst}, loss {:.0}%, p50 {}",
        loss * 100.0,
        p50.map_or("-".into(), |v| format!("{v:.2} ms"))
    );
    if p.no_reply {
        if !rtts.is_empty() {
            return Err(StepError::Unexpected(format!(
                "expected no reply; {summary}"
            )));
        }
        if let Some(r) = p.dropped_by {
            let got = drops(Some(r)) - drops_before;
            let _ = write!(summary, ", {got} dropped as {}", r.as_str());
            if got < u64::from(sent) {
                return Err(StepError::Unexpected(format!(
                    "expected the router to drop each request as {}; {summary}",
                    r.as_str()
                )));
            }
        }
    } else if loss > p.max_loss + 1e-9 {
        return Err(StepError::Unexpected(format!(
            "expected loss at most {:.0}%; {summary}",
            p.max_loss * 100.0
        )));
    }
    if let (Some(max), Some(v)) = (p.max_rtt_p50_ms, p50)
        && v > max
    {
        return Err(StepError::Unexpected(format!(
            "expected p50 at most {max} ms; {summary}"
        )));
    }
    if let (Some(min), Some(v)) = (p.min_rtt_p50_ms, p50)
        && v < min
    {
        return Err(StepError::Unexpected(format!(
            "expected p50 at least {min} ms; {summary}"
        )));
    }
    Ok(summary)
}

async fn udp(w: &World, plan: &UdpPlan, deadline: Duration) -> Result<String, StepError> {
    let u = &plan.step;
    let c = w.lab.client(u.from - 1);
    let drops = |r: DropReason| w.lab.server.with_router(|x| x.stats().dropped(r));
    let drops_before = plan.dropped_by.map(drops);
    let dst = w.lab.server.intranet_address();
    let before = w.lab.server.intranet_stats();
    let start = Instant::now();
    let gap = (u.rate_pps > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(u.rate_pps)));
    for i in 0..u.count {
        c.send_udp(dst, 40000, 9, vec![(i % 251) as u8; plan.size])
            .await;
        if let Some(g) = gap {
            tokio::time::sleep_until(start + g * (i + 1)).await;
        }
    }
    let end = start + deadline.mul_f64(0.9);
    let mut last = (0u64, Instant::now());
    let (got, done_at) = loop {
        let s = w.lab.server.intranet_stats();
        let got = s.discarded_packets - before.discarded_packets;
        if got != last.0 {
            last = (got, Instant::now());
        }
        if got >= u64::from(u.count)
            || Instant::now() >= end
            || last.1.elapsed() > Duration::from_millis(700)
        {
            break (got, last.1);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let loss = 1.0 - got as f64 / f64::from(u.count);
    let secs = done_at.duration_since(start).as_secs_f64().max(1e-6);
    let kbps = (got as f64 * plan.size as f64 * 8.0) / secs / 1000.0;
    let mut summary = format!(
        "{got}/{} delivered, loss {:.1}%, {kbps:.0} kbit/s",
        u.count,
        loss * 100.0
    );
    if let (Some(r), Some(before)) = (plan.dropped_by, drops_before) {
        let dropped = drops(r) - before;
        let _ = write!(summary, ", {dropped} dropped as {}", r.as_str());
        if got > 0 || dropped < u64::from(u.count) {
            return Err(StepError::Unexpected(format!(
                "expected the router to drop every datagram as {}; {summary}",
                r.as_str()
            )));
        }
    }
    if let Some(m) = u.max_loss
        && loss > m + 1e-9
    {
        return Err(StepError::Unexpected(format!(
            "expected loss at most {:.1}%; {summary}",
            m * 100.0
        )));
    }
    if let Some(m) = u.min_kbps
        && kbps < m
    {
        return Err(StepError::Unexpected(format!(
            "expected at least {m} kbit/s; {summary}"
        )));
    }
    if let Some(m) = u.max_kbps
        && kbps > m
    {
        return Err(StepError::Unexpected(format!(
            "expected at most {m} kbit/s; {summary}"
        )));
    }
    Ok(summary)
}

/// Runs an exec step's program. Simulated, it runs on a blocking thread: tokio does not
/// advance a paused clock while a blocking task runs, so the scenario's virtual time
/// stands still while the program (a real process, talking to the real admin endpoint)
/// does its work.
async fn exec(
    w: &World,
    s: &Scenario,
    x: &crate::scenario::ExecStep,
    simulated: bool,
) -> Result<String, StepError> {
    let dir = s.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let prog = {
        let p = PathBuf::from(&x.command[0]);
        if p.is_relative() && dir.join(&p).exists() {
            dir.join(p)
        } else {
            p
        }
    };
    let mut cmd = std::process::Command::new(&prog);
    cmd.args(&x.command[1..])
        .current_dir(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.clone()
        })
        .env("IPHTTPS_URL", w.lab.server.url())
        .env("IPHTTPS_ADMIN", w.admin.to_string())
        .env("IPHTTPS_CA", w.lab.pki_dir().join("root-ca.pem"))
        .env("IPHTTPS_PKI", w.lab.pki_dir())
        .env("IPHTTPS_ADDR", w.lab.server.local_addr().to_string());
    if let Some(shim) = &w.shim {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut parts = vec![shim.path().to_path_buf()];
        parts.extend(std::env::split_paths(&path));
        if let Ok(p) = std::env::join_paths(parts) {
            cmd.env("PATH", p);
        }
    }
    let out = if simulated {
        tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
    } else {
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        cmd.output().await
    };
    let out = out.map_err(|source| StepError::Exec {
        program: prog.clone(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let code = out.status.code().unwrap_or(-1);
    let summary = format!("exit {code}; output: {}", stdout.trim());
    let want = x.exit.unwrap_or(0);
    if code != want {
        return Err(StepError::Unexpected(format!(
            "expected exit {want}; {summary}; stderr: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if let Some(t) = &x.output_contains
        && !stdout.contains(t.as_str())
    {
        return Err(StepError::Unexpected(format!(
            "expected output containing \"{t}\"; {summary}"
        )));
    }
    Ok(summary)
}
