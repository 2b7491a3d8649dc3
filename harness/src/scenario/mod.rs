//! Scenarios: loading a TOML file, checking everything in it before anything runs, and
//! the checked plan the runner executes.

pub mod model;

use crate::fixtures::web_proxy::ProxyMode;
use std::net::Ipv6Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iphttps_sim::client::ClientState;
use iphttps_sim::client_state::transition::{NetworkSituation, Transition};
use iphttps_sim::fault::{Fault, close_names};
use iphttps_sim::link::router::{AuthMode, DropReason};
use iphttps_sim::windows::command::check_names;
use iphttps_sim::windows::health::HealthState;
use iphttps_sim::windows::{client_target, server_target};
use iphttps_sim::winerr::LastErrorCode;
use ipnet::Ipv6Net;
use toml::Spanned;

use model::{ClientSel, Expect, PingStep, Step};
pub use model::{ExecStep, ScenarioFile, ToxicStep, UdpStep};

/// A scenario file that cannot run, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Which clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    /// Every client.
    All,
    /// Client `i` (0-based).
    One(usize),
}

/// Checked expectations.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// Which clients the client conditions are about.
    pub clients: Option<Clients>,
    /// State.
    pub state: Option<ClientState>,
    /// Last Error Code.
    pub last_error: Option<LastErrorCode>,
    /// Interface Status.
    pub interface_status: Option<String>,
    /// Text in the last failure's description.
    pub detail: Option<String>,
    /// Has a global address in the prefix.
    pub global_address: Option<bool>,
    /// An RA arrived.
    pub router_advertisement: Option<bool>,
    /// Prefixes in the last RA.
    pub ra_prefixes: Option<usize>,
    /// MTU option of the last RA.
    pub ra_mtu: Option<u32>,
    /// Transition technology.
    pub transition: Option<Transition>,
    /// Successful connections at least.
    pub connects_at_least: Option<u64>,
    /// Failures at least.
    pub failures_at_least: Option<u64>,
    /// Failures at most.
    pub failures_at_most: Option<u64>,
    /// Server roll-up.
    pub server_health: Option<HealthState>,
    /// Component, state, text.
    pub ops: Option<(String, HealthState, Option<String>)>,
    /// Drop reason, at least.
    pub dropped: Option<(DropReason, u64)>,
    /// Clients in the server's table.
    pub server_clients: Option<usize>,
}

/// Where a ping goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingTarget {
    /// The intranet host.
    Intranet,
    /// Client `i`'s global address (0-based).
    Client(usize),
    /// An address.
    Address(Ipv6Addr),
}

/// A checked ping step.
#[derive(Debug, Clone)]
pub struct PingPlan {
    /// From.
    pub from: Clients,
    /// To.
    pub to: PingTarget,
    /// Requests per client.
    pub count: u32,
    /// Data bytes.
    pub size: usize,
    /// Largest loss accepted.
    pub max_loss: f64,
    /// Smallest loss required (1.0 when no reply is expected).
    pub min_loss: f64,
    /// Median RTT ceiling.
    pub max_rtt_p50_ms: Option<f64>,
    /// Median RTT floor.
    pub min_rtt_p50_ms: Option<f64>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Wait until the expectations hold.
    Expect(Box<Expectation>),
    /// Inject a fault.
    Inject(Fault),
    /// Clear a fault.
    Clear(Fault),
    /// Run command lines on the server (`None`) or client `i` (1-based).
    Run {
        /// The lines.
        lines: Vec<String>,
        /// Where.
        client: Option<usize>,
        /// Whether they must fail.
        expect_failure: bool,
    },
    /// Ping.
    Ping(PingPlan),
    /// UDP stream.
    Udp(UdpStep),
    /// External command (run in the scenario file's folder).
    Exec(ExecStep),
    /// Restart the server.
    Restart(Duration),
    /// A transport toxic.
    Toxic(ToxicStep),
    /// Wait.
    Sleep(Duration),
    /// Switch the built-in web proxy's mode.
    Proxy(ProxyMode),
}

/// A checked step.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// Its name.
    pub name: String,
    /// Its deadline.
    pub deadline: Duration,
    /// What it does.
    pub action: Action,
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Seed.
    pub seed: u64,
    /// Server name.
    pub server_name: String,
    /// URI path.
    pub path_uri: String,
    /// ClientIPv6Prefix.
    pub client_prefix: Option<Ipv6Net>,
    /// InternalIPv6Prefix.
    pub internal_prefix: Option<Ipv6Net>,
    /// AuthMode.
    pub auth_mode: AuthMode,
    /// Number of clients.
    pub clients: usize,
    /// Their network.
    pub network: NetworkSituation,
    /// Whether they carry a machine certificate.
    pub client_certificate: bool,
    /// Whether they check revocation.
    pub check_revocation: bool,
    /// Whether they trust the server's root.
    pub trust_root: bool,
    /// The built-in web proxy in the clients' path, in its starting mode.
    pub proxy: Option<ProxyMode>,
    /// The credentials clients send to it.
    pub proxy_credentials: Option<(String, String)>,
    /// Timers.
    pub timers: model::TimersSection,
    /// Faults at start.
    pub faults: Vec<Fault>,
    /// Whether any step uses a toxic (clients then connect through proxies).
    pub uses_toxics: bool,
    /// The timeline.
    pub steps: Vec<PlannedStep>,
}

struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    clients: usize,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> LoadError {
        let upto = &self.text[..span.start.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        LoadError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    fn named<T: Copy>(
        &self,
        v: &Spanned<String>,
        what: &str,
        known: &[(&'static str, T)],
    ) -> Result<T, LoadError> {
        let s = v.get_ref().as_str();
        known
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let close = close_names(&s.to_ascii_lowercase(), known.iter().map(|(n, _)| *n));
                let hint = if close.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", close.join(" or "))
                };
                let all: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                self.at(
                    v.span(),
                    format!(
                        "unknown {what} '{s}' (expected one of: {}){hint}",
                        all.join(", ")
                    ),
                )
            })
    }

    fn proxy_mode(&self, v: &Spanned<String>) -> Result<ProxyMode, LoadError> {
        let known: Vec<(&'static str, ())> = ProxyMode::NAMES.iter().map(|n| (*n, ())).collect();
        self.named(v, "proxy mode", &known)?;
        Ok(ProxyMode::named(&v.get_ref().to_ascii_lowercase()).expect("checked"))
    }

    fn fault(&self, v: &Spanned<String>) -> Result<Fault, LoadError> {
        v.get_ref()
            .parse::<Fault>()
            .map_err(|e| self.at(v.span(), e.to_string()))
    }

    fn duration(&self, v: &Spanned<String>) -> Result<Duration, LoadError> {
        parse_duration(v.get_ref()).ok_or_else(|| {
            self.at(
                v.span(),
                format!(
                    "'{}' is not a duration (e.g. \"500ms\", \"10s\", \"2m\")",
                    v.get_ref()
                ),
            )
        })
    }

    fn client(&self, span: Range<usize>, n: usize) -> Result<usize, LoadError> {
        if n == 0 || n > self.clients {
            return Err(self.at(
                span,
                format!(
                    "there is no client {n}: this scenario has {} client(s), numbered from 1",
                    self.clients
                ),
            ));
        }
        Ok(n - 1)
    }

    fn sel(&self, v: &Spanned<ClientSel>) -> Result<Clients, LoadError> {
        match v.get_ref() {
            ClientSel::One(n) => self.client(v.span(), *n).map(Clients::One),
            ClientSel::Word(w) if w.eq_ignore_ascii_case("all") => Ok(Clients::All),
            ClientSel::Word(w) => Err(self.at(
                v.span(),
                format!("expected a client number or \"all\", not '{w}'"),
            )),
        }
    }
}

/// Parses `"500ms"`, `"10s"`, `"2m"`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num.trim().parse().ok()?;
    if !(n.is_finite() && n >= 0.0) {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

const STATES: &[(&str, ClientState)] = &[
    ("Enabled", ClientState::Enabled),
    ("LinkDown", ClientState::LinkDown),
    ("Established", ClientState::Established),
    ("LinkUp", ClientState::LinkUp),
    ("Disabled", ClientState::Disabled),
];
const HEALTH: &[(&str, HealthState)] = &[
    ("OK", HealthState::Ok),
    ("Warning", HealthState::Warning),
    ("Error", HealthState::Error),
];
const COMPONENTS: &[(&str, ())] = &[
    ("IP-HTTPS", ()),
    ("IPsec", ()),
    ("Services", ()),
    ("Network Adapters", ()),
];
const TRANSITIONS: &[(&str, Transition)] = &[
    ("6to4", Transition::SixToFour),
    ("Teredo", Transition::Teredo),
    ("IP-HTTPS", Transition::IpHttps),
];
const NETWORKS: &[(&str, ())] = &[
    ("hotel", ()),
    ("nat", ()),
    ("public-ipv4", ()),
    ("force-tunnel", ()),
];
const AUTH: &[(&str, AuthMode)] = &[
    ("none", AuthMode::None),
    ("certificates", AuthMode::Certificates),
];

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Checks scenario text as if it were the file `path`.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    let mut c = Checker {
        file: path,
        text,
        clients: 0,
    };
    let f: ScenarioFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        c.at(span, e.message().trim().to_string())
    })?;
    c.clients = f.clients.count;
    let prefix = |v: &Option<Spanned<String>>,
                  need64: bool|
     -> Result<Option<Ipv6Net>, LoadError> {
        let Some(v) = v else { return Ok(None) };
        let p: Ipv6Net = v.get_ref().parse().map_err(|_| {
            c.at(
                v.span(),
                format!(
                    "'{}' is not an IPv6 prefix (e.g. 2001:db8:1:1000::/64)",
                    v.get_ref()
                ),
            )
        })?;
        if need64 && p.prefix_len() != 64 {
            return Err(c.at(v.span(), "the ClientIPv6Prefix must be a /64 (clients form addresses with 64-bit interface IDs)"));
        }
        Ok(Some(p.trunc()))
    };
    let client_prefix = prefix(&f.server.client_prefix, true)?;
    let internal_prefix = prefix(&f.server.internal_prefix, false)?;
    let auth_mode = match &f.server.auth_mode {
        Some(a) => c.named(a, "auth_mode", AUTH)?,
        None => AuthMode::None,
    };
    let network = match &f.clients.network {
        Some(n) => {
            c.named(n, "network", NETWORKS)?;
            NetworkSituation::named(&n.get_ref().to_ascii_lowercase()).expect("checked")
        }
        None => NetworkSituation::default(),
    };
    let proxy = f
        .clients
        .proxy
        .as_ref()
        .map(|v| c.proxy_mode(v))
        .transpose()?;
    let proxy_credentials = match &f.clients.proxy_credentials {
        Some(v) => match v.get_ref().split_once(':') {
            Some((u, p)) if proxy.is_some() => Some((u.to_string(), p.to_string())),
            Some(_) => {
                return Err(c.at(
                    v.span(),
                    "proxy_credentials need a proxy (set proxy in [clients])",
                ));
            }
            None => return Err(c.at(v.span(), "proxy_credentials must be \"USER:PASSWORD\"")),
        },
        None => None,
    };
    let faults = f
        .faults
        .iter()
        .map(|x| c.fault(x))
        .collect::<Result<Vec<_>, _>>()?;
    let mut steps = Vec::new();
    let mut uses_toxics = false;
    let reasons: Vec<(&'static str, DropReason)> =
        DropReason::ALL.iter().map(|r| (r.as_str(), *r)).collect();
    for s in &f.steps {
        let deadline = match &s.deadline {
            Some(d) => c.duration(d)?,
            None => Duration::from_secs(10),
        };
        let actions = [
            s.expect.is_some(),
            s.inject.is_some(),
            s.clear.is_some(),
            s.run.is_some(),
            s.ping.is_some(),
            s.udp.is_some(),
            s.exec.is_some(),
            s.restart_server.is_some(),
            s.toxic.is_some(),
            s.sleep.is_some(),
            s.proxy.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if actions != 1 {
            return Err(c.at(s.name.span(), format!(
                "step '{}' must have exactly one action (expect, inject, clear, run, ping, udp, exec, restart_server, toxic, proxy or sleep); it has {actions}",
                s.name.get_ref()
            )));
        }
        if (s.on_client.is_some() || s.expect_failure) && s.run.is_none() {
            return Err(c.at(s.name.span(), "on_client and expect_failure go with run"));
        }
        let action = step_action(&c, s, &reasons)?;
        if matches!(action, Action::Proxy(_)) && proxy.is_none() {
            return Err(c.at(
                s.name.span(),
                "a proxy step needs a proxy in the clients' path: set proxy in [clients]",
            ));
        }
        uses_toxics |= matches!(action, Action::Toxic(_));
        steps.push(PlannedStep {
            name: s.name.get_ref().clone(),
            deadline,
            action,
        });
    }
    let name = f.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    });
    Ok(Scenario {
        path: path.to_path_buf(),
        name,
        description: f.description.clone().unwrap_or_default(),
        tags: f.tags.clone(),
        seed: f.seed,
        server_name: f.server.name.clone(),
        path_uri: f.server.path.clone(),
        client_prefix,
        internal_prefix,
        auth_mode,
        clients: f.clients.count,
        network,
        client_certificate: f.clients.client_certificate,
        check_revocation: f.clients.check_revocation,
        trust_root: f.clients.trust_root,
        proxy,
        proxy_credentials,
        timers: f.timers.clone(),
        faults,
        uses_toxics,
        steps,
    })
}

fn step_action(
    c: &Checker<'_>,
    s: &Step,
    reasons: &[(&'static str, DropReason)],
) -> Result<Action, LoadError> {
    if let Some(e) = &s.expect {
        return Ok(Action::Expect(Box::new(expectation(c, s, e, reasons)?)));
    }
    if let Some(f) = &s.inject {
        return Ok(Action::Inject(c.fault(f)?));
    }
    if let Some(f) = &s.clear {
        return Ok(Action::Clear(c.fault(f)?));
    }
    if let Some(lines) = &s.run {
        let client = match s.on_client {
            Some(n) => {
                c.client(s.name.span(), n)?;
                Some(n)
            }
            None => None,
        };
        for l in lines {
            let (known, supported) = match client {
                Some(_) => (
                    client_target::COMMANDS.names(),
                    client_target::COMMANDS.supported(),
                ),
                None => (
                    server_target::COMMANDS.names(),
                    server_target::COMMANDS.supported(),
                ),
            };
            if let Err(e) = check_names(l.get_ref(), &known, &supported)
                && !s.expect_failure
            {
                return Err(c.at(l.span(), e.to_string()));
            }
        }
        return Ok(Action::Run {
            lines: lines.iter().map(|l| l.get_ref().clone()).collect(),
            client,
            expect_failure: s.expect_failure,
        });
    }
    if let Some(p) = &s.ping {
        return Ok(Action::Ping(ping(c, p)?));
    }
    if let Some(u) = &s.udp {
        c.client(s.name.span(), u.from)?;
        return Ok(Action::Udp(u.clone()));
    }
    if let Some(x) = &s.exec {
        if x.command.is_empty() {
            return Err(c.at(s.name.span(), "exec.command needs at least the program"));
        }
        return Ok(Action::Exec(x.clone()));
    }
    if let Some(r) = &s.restart_server {
        return Ok(Action::Restart(Duration::from_millis(r.downtime_ms)));
    }
    if let Some(t) = &s.toxic {
        c.client(s.name.span(), t.client)?;
        return Ok(Action::Toxic(t.clone()));
    }
    if let Some(d) = &s.sleep {
        return Ok(Action::Sleep(c.duration(d)?));
    }
    if let Some(m) = &s.proxy {
        return Ok(Action::Proxy(c.proxy_mode(m)?));
    }
    unreachable!("exactly one action was checked")
}

fn expectation(
    c: &Checker<'_>,
    s: &Step,
    e: &Expect,
    reasons: &[(&'static str, DropReason)],
) -> Result<Expectation, LoadError> {
    let mut x = Expectation {
        clients: e.client.as_ref().map(|v| c.sel(v)).transpose()?,
        state: e
            .state
            .as_ref()
            .map(|v| c.named(v, "state", STATES))
            .transpose()?,
        last_error: e
            .last_error
            .as_ref()
            .map(|v| {
                let t = v.get_ref().trim().to_ascii_lowercase();
                u32::from_str_radix(t.trim_start_matches("0x"), 16)
                    .map(LastErrorCode)
                    .map_err(|_| {
                        c.at(
                            v.span(),
                            format!(
                                "'{}' is not a Last Error Code (hex, e.g. \"0x800b0109\")",
                                v.get_ref()
                            ),
                        )
                    })
            })
            .transpose()?,
        interface_status: e.interface_status.clone(),
        detail: e.detail.clone(),
        global_address: e.global_address,
        router_advertisement: e.router_advertisement,
        ra_prefixes: e.ra_prefixes,
        ra_mtu: e.ra_mtu,
        transition: e
            .transition
            .as_ref()
            .map(|v| c.named(v, "transition", TRANSITIONS))
            .transpose()?,
        connects_at_least: e.connects_at_least,
        failures_at_least: e.failures_at_least,
        failures_at_most: e.failures_at_most,
        server_health: e
            .server_health
            .as_ref()
            .map(|v| c.named(v, "health state", HEALTH))
            .transpose()?,
        ops: None,
        dropped: None,
        server_clients: e.server_clients,
    };
    if let Some(o) = &e.ops {
        c.named(&o.component, "Operations Status component", COMPONENTS)?;
        let st = c.named(&o.state, "health state", HEALTH)?;
        x.ops = Some((o.component.get_ref().clone(), st, o.text.clone()));
    }
    if let Some(d) = &e.dropped {
        x.dropped = Some((c.named(&d.reason, "drop reason", reasons)?, d.at_least));
    }
    let client_conditions = x.state.is_some()
        || x.last_error.is_some()
        || x.interface_status.is_some()
        || x.detail.is_some()
        || x.global_address.is_some()
        || x.router_advertisement.is_some()
        || x.ra_prefixes.is_some()
        || x.ra_mtu.is_some()
        || x.transition.is_some()
        || x.connects_at_least.is_some()
        || x.failures_at_least.is_some()
        || x.failures_at_most.is_some();
    let server_conditions = x.server_health.is_some()
        || x.ops.is_some()
        || x.dropped.is_some()
        || x.server_clients.is_some();
    if !client_conditions && !server_conditions {
        return Err(c.at(
            s.name.span(),
            format!(
                "step '{}': expect has no condition to evaluate",
                s.name.get_ref()
            ),
        ));
    }
    if client_conditions && c.clients == 0 {
        return Err(c.at(
            s.name.span(),
            format!(
                "step '{}': client conditions can never be evaluated in a scenario with no clients",
                s.name.get_ref()
            ),
        ));
    }
    if client_conditions && x.clients.is_none() {
        x.clients = Some(Clients::All);
    }
    Ok(x)
}

fn ping(c: &Checker<'_>, p: &PingStep) -> Result<PingPlan, LoadError> {
    let from = c.sel(&p.from)?;
    let t = p.to.get_ref().trim();
    let to = if t.eq_ignore_ascii_case("intranet") {
        PingTarget::Intranet
    } else if let Some(n) = t.strip_prefix("client").map(str::trim) {
        let n: usize = n.parse().map_err(|_| {
            c.at(
                p.to.span(),
                format!("'{t}': expected \"intranet\", \"client N\" or an IPv6 address"),
            )
        })?;
        PingTarget::Client(c.client(p.to.span(), n)?)
    } else {
        PingTarget::Address(t.parse().map_err(|_| {
            c.at(
                p.to.span(),
                format!("'{t}': expected \"intranet\", \"client N\" or an IPv6 address"),
            )
        })?)
    };
    let (min_loss, max_loss) = match (p.reply, p.max_loss) {
        (Some(false), _) => (1.0, 1.0),
        (_, Some(l)) => (0.0, l),
        _ => (0.0, 0.0),
    };
    Ok(PingPlan {
        from,
        to,
        count: p.count.unwrap_or(1).max(1),
        size: p.size.unwrap_or(56),
        max_loss,
        min_loss,
        max_rtt_p50_ms: p.max_rtt_p50_ms,
        min_rtt_p50_ms: p.min_rtt_p50_ms,
    })
}

/// The scenario files under `paths` (folders are searched for `*.toml`, sorted).
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("name = \"x\"\n".to_string()),
            Just("faults = [\"expired-cert\"]\n".to_string()),
            Just("[clients]\ncount = 2\n".to_string()),
            Just("[[step]]\nname = \"s\"\n".to_string()),
            Just("expect = { state = \"LinkUp\" }\n".to_string()),
            Just("run = [\"Get-RemoteAccess\"]\n".to_string()),
            Just("ping = { from = 1, to = \"intranet\" }\n".to_string()),
            Just("deadline = \"1s\"\n".to_string()),
            "[ -~\n]{0,40}",
        ]
    }

    proptest! {
        /// The fuzz target's twin: any text is a scenario or a located error, never a panic.
        #[test]
        fn any_text_is_a_scenario_or_a_located_error(parts in proptest::collection::vec(fragment(), 0..12)) {
            let text = parts.concat();
            if let Err(e) = parse(std::path::Path::new("p.toml"), &text) {
                prop_assert!(e.line >= 1 && e.column >= 1);
                prop_assert!(e.line <= text.lines().count().max(1) + 1, "{e}");
                prop_assert!(!e.message.is_empty());
            }
        }
    }
}
