//! Scenarios: loading a TOML file, checking everything in it before anything runs, and
//! the checked plan the runner executes.

pub mod condition;
pub mod model;

use crate::fixtures::web_proxy::ProxyMode;
use std::net::Ipv6Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iphttps_sim::client::ClientState;
use iphttps_sim::client_state::transition::{NetworkSituation, Transition};
use iphttps_sim::fault::{Fault, close_names};
use iphttps_sim::link::filter::FragmentFilter;
use iphttps_sim::link::host::AddressState;
use iphttps_sim::link::router::{AuthMode, DropReason};
use iphttps_sim::tls::NullCipher;
use iphttps_sim::windows::command::check_names;
use iphttps_sim::windows::health::{self, HealthState};
use iphttps_sim::windows::ipsec::Tunnel;
use iphttps_sim::windows::{client_target, server_target};
use iphttps_sim::winerr::LastErrorCode;
use iphttps_sim::wire::frag::MAX_PAYLOAD;
use iphttps_sim::wire::icmpv6::kind;
use ipnet::Ipv6Net;
use toml::Spanned;

pub use condition::{ClientCond, ServerCond};
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

/// A checked `expect` step.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Which clients the client conditions are about.
    pub clients: Clients,
    /// Conditions on each of those clients.
    pub client: Vec<ClientCond>,
    /// Conditions on the server.
    pub server: Vec<ServerCond>,
    /// How long every condition must hold without a break (none: once is enough).
    pub hold: Option<Timing>,
    /// Whether each client's conditions count only while its tunnel is established
    /// (Established or LinkUp): they are all negative and no `state` is named.
    pub wait_for_tunnel: bool,
}

/// The tunnels of an IPsec lab, as scenario files name them.
const TUNNELS: &[(&str, Tunnel)] = &[
    ("infrastructure", Tunnel::Infrastructure),
    ("intranet", Tunnel::Intranet),
];

/// `Get-DAConnectionStatus`' Status values.
const DA_STATUSES: &[(&str, &str)] = &[
    ("ConnectedRemotely", "ConnectedRemotely"),
    ("ConnectingRemotely", "ConnectingRemotely"),
    ("Error", "Error"),
];

/// Where a ping goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingTarget {
    /// The intranet host (in an IPsec lab: the application server behind the intranet
    /// tunnel).
    Intranet,
    /// The infrastructure server behind the infrastructure tunnel (IPsec lab).
    Infrastructure,
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
    /// Largest loss accepted (below 1.0).
    pub max_loss: f64,
    /// No request may be answered, and each must have left an established tunnel from a
    /// configured address (`reply = false`).
    pub no_reply: bool,
    /// With `no_reply`: the router must count one drop for this reason per request.
    pub dropped_by: Option<DropReason>,
    /// Median RTT ceiling.
    pub max_rtt_p50_ms: Option<f64>,
    /// Median RTT floor.
    pub min_rtt_p50_ms: Option<f64>,
    /// IPsec lab: the tunnel whose quick mode SA must carry the requests and replies.
    pub through: Option<Tunnel>,
}

/// A checked udp step.
#[derive(Debug, Clone)]
pub struct UdpPlan {
    /// The step as written.
    pub step: UdpStep,
    /// Every datagram must be dropped by the router for this reason.
    pub dropped_by: Option<DropReason>,
    /// Payload bytes per datagram.
    pub size: usize,
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
    Udp(UdpPlan),
    /// External command (run in the scenario file's folder).
    Exec(ExecStep),
    /// Restart the server.
    Restart(Timing),
    /// A transport toxic.
    Toxic(ToxicStep),
    /// A fault of the network itself on these clients' paths.
    Network(Clients, NetChange),
    /// Wait.
    Sleep(Timing),
    /// Switch the built-in web proxy's mode.
    Proxy(ProxyMode),
    /// Put a fragment-dropping firewall on the internal network (or take it away).
    FragmentFilter(FragmentFilter),
}

impl Action {
    /// What it does, in a few words, for the reports.
    pub fn summary(&self) -> String {
        match self {
            Action::Expect(_) => "expect".into(),
            Action::Inject(f) => format!("inject {f}"),
            Action::Clear(f) => format!("clear {f}"),
            Action::Run { lines, client, .. } => {
                let on = client.map_or("server".to_string(), |c| format!("client {c}"));
                let more = match lines.len() {
                    0 | 1 => String::new(),
                    n => format!(" (+{} more)", n - 1),
                };
                format!(
                    "run on {on}: {}{more}",
                    lines.first().map_or("", |l| l.trim())
                )
            }
            Action::Ping(_) => "ping".into(),
            Action::Udp(_) => "udp".into(),
            Action::Exec(e) => format!("exec {}", e.command.join(" ")),
            Action::Restart(_) => "restart server".into(),
            Action::Toxic(_) => "toxic".into(),
            Action::Network(_, _) => "network".into(),
            Action::Sleep(_) => "sleep".into(),
            Action::Proxy(m) => format!("proxy {m:?}"),
            Action::FragmentFilter(f) => format!("fragment filter {f:?}"),
        }
    }
}

/// A checked step.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// Its name.
    pub name: String,
    /// Its deadline.
    pub deadline: Timing,
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
    /// Whether the server offers the NULL-encryption suites.
    pub server_null_cipher: bool,
    /// Which NULL-encryption suites the clients offer.
    pub client_null_cipher: NullCipher,
    /// Timers as the file gives them (the mode fills in the rest: [`Scenario::timers`]).
    pub timers_file: model::TimersSection,
    /// Whether `[lab] network = "simulated"`: an in-memory network in virtual time.
    pub simulated: bool,
    /// Whether `[lab] ipsec = true`: IPsec inside the tunnel (see `crate::ipsec`).
    pub ipsec: bool,
    /// Faults at start.
    pub faults: Vec<Fault>,
    /// Whether any step uses a toxic (clients then connect through proxies).
    pub uses_toxics: bool,
    /// The timeline.
    pub steps: Vec<PlannedStep>,
}

/// What a `network` step changes on a client's link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NetChange {
    /// Partition (`true`) or heal.
    Partition(bool),
    /// Hold (`true`) or release.
    Hold(bool),
    /// Latency and loss, where given.
    Shape {
        /// Added one-way latency.
        latency: Option<Duration>,
        /// Share of segments lost.
        loss: Option<f64>,
    },
}

/// A duration that may differ between a loopback run and a simulated one.
pub type Timing = model::PerMode<Duration>;

impl Scenario {
    /// The timers it runs with: its file's, and the mode's defaults for the rest
    /// (Windows' own when simulated).
    pub fn timers(&self, simulated: bool) -> model::Timers {
        let defaults = if simulated {
            model::Timers::windows()
        } else {
            model::Timers::loopback()
        };
        self.timers_file.resolve(defaults, simulated)
    }
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

    fn drop_reason(&self, v: &Spanned<String>) -> Result<DropReason, LoadError> {
        let known: Vec<(&'static str, DropReason)> =
            DropReason::ALL.iter().map(|r| (r.as_str(), *r)).collect();
        self.named(v, "drop reason", &known)
    }

    fn proxy_mode(&self, v: &Spanned<String>) -> Result<ProxyMode, LoadError> {
        let known: Vec<(&'static str, ())> = ProxyMode::NAMES.iter().map(|n| (*n, ())).collect();
        self.named(v, "proxy mode", &known)?;
        Ok(ProxyMode::named(&v.get_ref().to_ascii_lowercase()).expect("checked"))
    }

    /// A ping's or datagram's data size: what fits in an IPv6 packet without a jumbogram
    /// (Payload Length is 16 bits) after an upper-layer header of `header` bytes.
    fn payload_size(&self, v: &Spanned<usize>, header: usize) -> Result<usize, LoadError> {
        let max = MAX_PAYLOAD - header;
        let n = *v.get_ref();
        if n > max {
            return Err(self.at(
                v.span(),
                format!(
                    "size = {n} is beyond the IPv6 maximum: {max} data bytes after the {header}-byte header \
                     make the 65,535-byte payload a packet can carry without a jumbogram"
                ),
            ));
        }
        Ok(n)
    }

    fn fault(&self, v: &Spanned<String>) -> Result<Fault, LoadError> {
        v.get_ref()
            .parse::<Fault>()
            .map_err(|e| self.at(v.span(), e.to_string()))
    }

    /// `true` when this build has the NULL-encryption suites (the OpenSSL backend), else
    /// the located error that says how to build one.
    fn null_build(&self, span: Range<usize>) -> Result<bool, LoadError> {
        if cfg!(feature = "null-cipher") {
            Ok(true)
        } else {
            Err(self.at(
                span,
                "the NULL-encryption suites need the OpenSSL backend, which this build of iphttps \
                 does not have: build it with `cargo build --release --features null-cipher` \
                 (needs libssl-dev and pkg-config) and run that binary",
            ))
        }
    }

    /// A duration the same in both modes, or per mode.
    fn timing(&self, v: &Spanned<model::ModeDuration>) -> Result<Timing, LoadError> {
        let one = |s: &str| {
            parse_duration(s).map_err(|why| {
                self.at(
                    v.span(),
                    format!("'{s}' is not a duration ({why}; e.g. \"500ms\", \"10s\", \"4m30s\")"),
                )
            })
        };
        v.get_ref().try_map(|s| one(s))
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

/// A step's deadline (default 10 s).
fn deadline_of(c: &Checker<'_>, s: &Step) -> Result<Timing, LoadError> {
    match &s.deadline {
        Some(d) => c.timing(d),
        None => Ok(Timing::One(Duration::from_secs(10))),
    }
}

/// Parses a duration as humantime does (`"500ms"`, `"10s"`, `"2m"`, `"4m30s"`, `"1h 30m"`,
/// `"2h"`, `"1day"`), or a bare number of seconds (`"10"`, `"0.5"`).
/// A bad one gets humantime's own words for what is wrong.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return if n.is_finite() && n >= 0.0 {
            Ok(Duration::from_secs_f64(n))
        } else {
            Err("a duration is not negative".into())
        };
    }
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

const STATES: &[(&str, ClientState)] = &[
    ("Enabled", ClientState::Enabled),
    ("LinkDown", ClientState::LinkDown),
    ("Established", ClientState::Established),
    ("LinkUp", ClientState::LinkUp),
    ("Disabled", ClientState::Disabled),
];
const ADDRESS_STATES: &[(&str, AddressState)] = &[
    ("Preferred", AddressState::Preferred),
    ("Deprecated", AddressState::Deprecated),
    ("Tentative", AddressState::Tentative),
    ("Duplicate", AddressState::Duplicate),
];
const ICMP_ERRORS: &[(&str, u8)] = &[
    ("destination-unreachable", kind::DEST_UNREACHABLE),
    ("packet-too-big", kind::PACKET_TOO_BIG),
    ("time-exceeded", kind::TIME_EXCEEDED),
    ("parameter-problem", kind::PARAMETER_PROBLEM),
];
const HEALTH: &[(&str, HealthState)] = &[
    ("OK", HealthState::Ok),
    ("Warning", HealthState::Warning),
    ("Error", HealthState::Error),
];
const TRANSITIONS: &[(&str, Transition)] = &[
    ("6to4", Transition::SixToFour),
    ("Teredo", Transition::Teredo),
    ("IP-HTTPS", Transition::IpHttps),
];
/// `[lab] network`: whether the run is simulated.
const LAB_NETWORKS: &[(&str, bool)] = &[("loopback", false), ("simulated", true)];

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
    let server_null_cipher = match &f.server.null_cipher {
        Some(v) if *v.get_ref() => c.null_build(v.span())?,
        _ => false,
    };
    let client_null_cipher = match &f.clients.null_cipher {
        Some(v) => {
            let mode = NullCipher::named(&v.get_ref().to_ascii_lowercase()).ok_or_else(|| {
                c.at(
                    v.span(),
                    format!("null_cipher '{}' is not off, prefer or only", v.get_ref()),
                )
            })?;
            if mode != NullCipher::Off {
                c.null_build(v.span())?;
            }
            mode
        }
        None => NullCipher::Off,
    };
    let simulated = match &f.lab.network {
        Some(n) => c.named(n, "lab network", LAB_NETWORKS)?,
        None => false,
    };
    let ipsec = f.lab.ipsec.unwrap_or(false);
    if let (true, true, Some(n)) = (ipsec, simulated, &f.lab.network) {
        return Err(c.at(
            n.span(),
            "an IPsec lab runs real kernels and charons in network namespaces; it cannot be simulated",
        ));
    }
    let faults = f
        .faults
        .iter()
        .map(|x| c.fault(x))
        .collect::<Result<Vec<_>, _>>()?;
    let mut steps = Vec::new();
    let mut uses_toxics = false;
    for s in &f.steps {
        let deadline = deadline_of(&c, s)?;
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
            s.network.is_some(),
            s.sleep.is_some(),
            s.proxy.is_some(),
            s.fragment_filter.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if actions != 1 {
            return Err(c.at(s.name.span(), format!(
                "step '{}' must have exactly one action (expect, inject, clear, run, ping, udp, exec, restart_server, toxic, network, proxy, fragment_filter or sleep); it has {actions}",
                s.name.get_ref()
            )));
        }
        if (s.on_client.is_some() || s.expect_failure) && s.run.is_none() {
            return Err(c.at(s.name.span(), "on_client and expect_failure go with run"));
        }
        let action = step_action(&c, s)?;
        if matches!(action, Action::Proxy(_)) && proxy.is_none() {
            return Err(c.at(
                s.name.span(),
                "a proxy step needs a proxy in the clients' path: set proxy in [clients]",
            ));
        }
        uses_toxics |= matches!(action, Action::Toxic(_) | Action::Network(..));
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
        server_null_cipher,
        client_null_cipher,
        timers_file: f.timers.clone(),
        simulated,
        ipsec,
        faults,
        uses_toxics,
        steps,
    })
}

fn step_action(c: &Checker<'_>, s: &Step) -> Result<Action, LoadError> {
    if let Some(e) = &s.expect {
        return Ok(Action::Expect(Box::new(expectation(c, s, e)?)));
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
        return Ok(Action::Udp(udp(c, s, u)?));
    }
    if let Some(x) = &s.exec {
        if x.command.is_empty() {
            return Err(c.at(s.name.span(), "exec.command needs at least the program"));
        }
        if x.output_contains.as_deref() == Some("") {
            return Err(c.at(
                s.name.span(),
                "an empty output_contains is in every output: this condition cannot fail",
            ));
        }
        return Ok(Action::Exec(x.clone()));
    }
    if let Some(r) = &s.restart_server {
        let downtime = match (&r.downtime, r.downtime_ms) {
            (Some(d), None) => c.timing(d)?,
            (None, ms) => Timing::One(Duration::from_millis(ms.unwrap_or(0))),
            (Some(d), Some(_)) => {
                return Err(c.at(d.span(), "give downtime or downtime_ms, not both"));
            }
        };
        return Ok(Action::Restart(downtime));
    }
    if let Some(t) = &s.toxic {
        c.client(s.name.span(), t.client)?;
        return Ok(Action::Toxic(t.clone()));
    }
    if let Some(n) = &s.network {
        return network_action(c, n);
    }
    if let Some(d) = &s.sleep {
        return Ok(Action::Sleep(c.timing(d)?));
    }
    if let Some(m) = &s.proxy {
        return Ok(Action::Proxy(c.proxy_mode(m)?));
    }
    if let Some(f) = &s.fragment_filter {
        return Ok(Action::FragmentFilter(c.named(
            f,
            "fragment filter",
            &FragmentFilter::ALL.map(|(f, n)| (n, f)),
        )?));
    }
    unreachable!("exactly one action was checked")
}

/// A `network` step: exactly one of partition, heal, hold, release, or a client with
/// latency and/or loss.
fn network_action(c: &Checker<'_>, n: &Spanned<model::NetworkStep>) -> Result<Action, LoadError> {
    let v = n.get_ref();
    let switches = [
        (&v.partition, NetChange::Partition(true)),
        (&v.heal, NetChange::Partition(false)),
        (&v.hold, NetChange::Hold(true)),
        (&v.release, NetChange::Hold(false)),
    ];
    let given: Vec<_> = switches.iter().filter(|(s, _)| s.is_some()).collect();
    let shaping = v.latency_ms.is_some() || v.loss.is_some();
    match (given.as_slice(), shaping, &v.client) {
        ([(Some(sel), change)], false, None) => Ok(Action::Network(c.sel(sel)?, *change)),
        ([], true, Some(sel)) => {
            if let Some(l) = v.loss
                && !(0.0..1.0).contains(&l)
            {
                return Err(c.at(n.span(), "loss is a share of segments, from 0 up to (not including) 1"));
            }
            Ok(Action::Network(
                c.sel(sel)?,
                NetChange::Shape {
                    latency: v.latency_ms.map(Duration::from_millis),
                    loss: v.loss,
                },
            ))
        }
        _ => Err(c.at(
            n.span(),
            "a network step is one of { partition = N }, { heal = N }, { hold = N }, { release = N } \
             (N a client number or \"all\"), or { client = N, latency_ms = MS, loss = SHARE }",
        )),
    }
}

fn expectation(
    c: &Checker<'_>,
    s: &Step,
    spanned: &Spanned<Expect>,
) -> Result<Expectation, LoadError> {
    let e = spanned.get_ref();
    let step = s.name.get_ref();
    let mut client = Vec::new();
    if let Some(v) = &e.state {
        client.push(ClientCond::State(c.named(v, "state", STATES)?));
    }
    if let Some(v) = &e.last_error {
        let t = v.get_ref().trim().to_ascii_lowercase();
        let code = u32::from_str_radix(t.trim_start_matches("0x"), 16).map_err(|_| {
            c.at(
                v.span(),
                format!(
                    "'{}' is not a Last Error Code (hex, e.g. \"0x800b0109\")",
                    v.get_ref()
                ),
            )
        })?;
        client.push(ClientCond::LastError(LastErrorCode(code)));
    }
    client.extend(e.interface_status.clone().map(ClientCond::InterfaceStatus));
    client.extend(e.detail.clone().map(ClientCond::Detail));
    client.extend(e.global_address.map(ClientCond::GlobalAddress));
    if let Some(v) = &e.address_state {
        client.push(ClientCond::AddressState(c.named(
            v,
            "address state",
            ADDRESS_STATES,
        )?));
    }
    client.extend(e.router_advertisement.map(ClientCond::RouterAdvertisement));
    client.extend(e.ra_prefixes.map(ClientCond::RaPrefixes));
    client.extend(e.ra_mtu.map(ClientCond::RaMtu));
    client.extend(e.ra_valid_lifetime.map(ClientCond::RaValidLifetime));
    if let Some(v) = &e.transition {
        client.push(ClientCond::Transition(c.named(
            v,
            "transition",
            TRANSITIONS,
        )?));
    }
    client.extend(e.cipher_suite.clone().map(ClientCond::CipherSuite));
    client.extend(e.connects_at_least.map(ClientCond::ConnectsAtLeast));
    client.extend(e.failures_at_least.map(ClientCond::FailuresAtLeast));
    client.extend(e.failures_at_most.map(ClientCond::FailuresAtMost));
    client.extend(e.reconnect_schedule.map(ClientCond::ReconnectSchedule));
    if let Some(v) = &e.da_status {
        let status = c.named(v, "Get-DAConnectionStatus status", DA_STATUSES)?;
        client.push(ClientCond::DaStatus(status.to_string()));
    }
    if let Some(v) = &e.quick_mode_sas {
        let mut tunnels = Vec::new();
        for name in v.get_ref() {
            let t = Tunnel::ALL
                .into_iter()
                .find(|t| t.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    c.at(
                        v.span(),
                        format!(
                            "'{name}' is not a tunnel: expected \"infrastructure\" or \"intranet\""
                        ),
                    )
                })?;
            tunnels.push(t);
        }
        tunnels.sort_by_key(|t| *t as usize);
        tunnels.dedup();
        client.push(ClientCond::QuickModeSas(tunnels));
    }
    client.extend(e.ike_error.clone().map(ClientCond::IkeError));
    let mut server = Vec::new();
    if let Some(v) = &e.server_health {
        server.push(ServerCond::Health(c.named(v, "health state", HEALTH)?));
    }
    if let Some(o) = &e.ops {
        let known: Vec<(&'static str, ())> = health::COMPONENTS.iter().map(|n| (*n, ())).collect();
        c.named(&o.component, "Operations Status component", &known)?;
        server.push(ServerCond::Ops {
            component: o.component.get_ref().clone(),
            state: c.named(&o.state, "health state", HEALTH)?,
            text: o.text.clone(),
        });
    }
    if let Some(d) = &e.dropped {
        server.push(ServerCond::Dropped(c.drop_reason(&d.reason)?, d.at_least));
    }
    server.extend(e.server_clients.map(ServerCond::ServerClients));
    if let Some(v) = &e.icmp_error {
        let x = v.get_ref();
        let at_least = x.at_least.unwrap_or(1);
        if at_least == 0 {
            return Err(c.at(v.span(), "icmp_error at_least = 0 cannot fail"));
        }
        client.push(ClientCond::IcmpError {
            kind: c.named(&x.kind, "ICMPv6 error type", ICMP_ERRORS)?,
            code: x.code,
            at_least,
        });
    }
    if client.is_empty() && server.is_empty() {
        return Err(c.at(
            spanned.span(),
            format!("step '{step}': expect has no condition to evaluate"),
        ));
    }
    let cannot_fail = client
        .iter()
        .filter_map(ClientCond::cannot_fail)
        .chain(server.iter().filter_map(ServerCond::cannot_fail))
        .next();
    if let Some(why) = cannot_fail {
        return Err(c.at(
            spanned.span(),
            format!("step '{step}': this condition cannot fail ({why})"),
        ));
    }
    if !client.is_empty() && c.clients == 0 {
        return Err(c.at(
            spanned.span(),
            format!(
                "step '{step}': client conditions can never be evaluated in a scenario with no clients"
            ),
        ));
    }
    let hold = e.hold.as_ref().map(|v| c.timing(v)).transpose()?;
    if let (Some(h), Some(v)) = (hold, &e.hold) {
        if h.any(|h| h.is_zero()) {
            return Err(c.at(v.span(), "hold must be longer than 0s (or left out)"));
        }
        let d = deadline_of(c, s)?;
        if h.get(false) >= d.get(false) || h.get(true) >= d.get(true) {
            return Err(c.at(
                v.span(),
                format!("hold ({h:?}) must be shorter than the step's deadline"),
            ));
        }
    }
    let names_state = client.iter().any(|x| matches!(x, ClientCond::State(_)));
    let client_positive = client.iter().any(|x| !x.is_negative());
    let all_negative =
        !names_state && !client_positive && server.iter().all(|x| x.is_negative(c.clients));
    if all_negative && hold.is_none() {
        return Err(c.at(
            spanned.span(),
            format!(
                "step '{step}': every condition here is also true before anything happened \
                 (of a client that never connected, or a server no client reached), so it \
                 cannot fail; name a `state`, or say how long they must hold (`hold = \"1s\"`)"
            ),
        ));
    }
    Ok(Expectation {
        clients: match &e.client {
            Some(v) => c.sel(v)?,
            None => Clients::All,
        },
        wait_for_tunnel: !client.is_empty() && !names_state && !client_positive,
        client,
        server,
        hold,
    })
}

fn ping(c: &Checker<'_>, p: &PingStep) -> Result<PingPlan, LoadError> {
    let from = c.sel(&p.from)?;
    let t = p.to.get_ref().trim();
    let to = if t.eq_ignore_ascii_case("intranet") {
        PingTarget::Intranet
    } else if t.eq_ignore_ascii_case("infrastructure") {
        PingTarget::Infrastructure
    } else if let Some(n) = t.strip_prefix("client").map(str::trim) {
        let n: usize = n.parse().map_err(|_| {
            c.at(
                p.to.span(),
                format!("'{t}': expected \"intranet\", \"infrastructure\", \"client N\" or an IPv6 address"),
            )
        })?;
        PingTarget::Client(c.client(p.to.span(), n)?)
    } else {
        PingTarget::Address(t.parse().map_err(|_| {
            c.at(
                p.to.span(),
                format!("'{t}': expected \"intranet\", \"infrastructure\", \"client N\" or an IPv6 address"),
            )
        })?)
    };
    let (no_reply, max_loss) = match (p.reply, &p.max_loss) {
        (Some(false), Some(l)) => {
            return Err(c.at(
                l.span(),
                "reply = false already requires that no request is answered; leave max_loss out",
            ));
        }
        (Some(false), None) => (true, 1.0),
        (_, Some(l)) => {
            let v = *l.get_ref();
            if !(0.0..1.0).contains(&v) {
                return Err(c.at(
                    l.span(),
                    format!(
                        "max_loss = {v}: this condition cannot fail at 1.0 or more (and must be at least 0.0); \
                         use reply = false to require that nothing comes back"
                    ),
                ));
            }
            (false, v)
        }
        _ => (false, 0.0),
    };
    let dropped_by = match &p.dropped_by {
        Some(v) if !no_reply => {
            return Err(c.at(v.span(), "dropped_by goes with reply = false"));
        }
        Some(v) => Some(c.drop_reason(v)?),
        None => None,
    };
    if p.count == Some(0) {
        return Err(c.at(
            p.from.span(),
            "count = 0 sends nothing, so this step cannot fail",
        ));
    }
    for (v, what) in [
        (p.max_rtt_p50_ms, "max_rtt_p50_ms"),
        (p.min_rtt_p50_ms, "min_rtt_p50_ms"),
    ] {
        if v.is_some_and(|x| !(x.is_finite() && x > 0.0)) {
            return Err(c.at(
                p.from.span(),
                format!("{what} must be a positive number of milliseconds"),
            ));
        }
    }
    if no_reply && (p.max_rtt_p50_ms.is_some() || p.min_rtt_p50_ms.is_some()) {
        return Err(c.at(
            p.from.span(),
            "round-trip bounds need replies; they do not go with reply = false",
        ));
    }
    let size = match &p.size {
        Some(v) => c.payload_size(v, 8)?,
        None => 56,
    };
    Ok(PingPlan {
        from,
        to,
        count: p.count.unwrap_or(1),
        size,
        max_loss,
        no_reply,
        dropped_by,
        max_rtt_p50_ms: p.max_rtt_p50_ms,
        min_rtt_p50_ms: p.min_rtt_p50_ms,
        through: match &p.through {
            Some(v) => Some(c.named(v, "tunnel", TUNNELS)?),
            None => None,
        },
    })
}

fn udp(c: &Checker<'_>, s: &Step, u: &UdpStep) -> Result<UdpPlan, LoadError> {
    c.client(s.name.span(), u.from)?;
    let bad = |m: String| Err(c.at(s.name.span(), format!("step '{}': {m}", s.name.get_ref())));
    if u.count == 0 {
        return bad("udp count = 0 sends nothing, so this step cannot fail".into());
    }
    if let Some(l) = u.max_loss
        && !(0.0..1.0).contains(&l)
    {
        return bad(format!(
            "udp max_loss = {l}: this condition cannot fail at 1.0 or more (and must be at least 0.0); \
             use dropped_by = \"REASON\" to require that the router drops the stream"
        ));
    }
    if u.min_kbps.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
        return bad("udp min_kbps must be a positive rate (0 cannot fail)".into());
    }
    if u.max_kbps.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
        return bad("udp max_kbps must be a positive, finite rate".into());
    }
    let dropped_by = u
        .dropped_by
        .as_ref()
        .map(|v| c.drop_reason(v))
        .transpose()?;
    if dropped_by.is_some() && (u.max_loss.is_some() || u.min_kbps.is_some()) {
        return bad(
            "dropped_by requires that nothing arrives; leave max_loss and min_kbps out".into(),
        );
    }
    if dropped_by.is_none() && u.max_loss.is_none() && u.min_kbps.is_none() && u.max_kbps.is_none()
    {
        return bad(
            "a udp step needs something to check (max_loss, min_kbps, max_kbps or dropped_by)"
                .into(),
        );
    }
    Ok(UdpPlan {
        step: u.clone(),
        dropped_by,
        size: c.payload_size(&u.size, 8)?,
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

    #[test]
    fn durations_in_windows_terms() {
        let d = |s| parse_duration(s).ok();
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("10"), Some(Duration::from_secs(10)));
        assert_eq!(d("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(d("20m"), Some(Duration::from_secs(1200)));
        assert_eq!(d("4m30s"), Some(Duration::from_secs(270)));
        assert_eq!(d("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(d("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(d("1day"), Some(Duration::from_secs(86_400)));
        for bad in ["", "m", "10x", "-1s", "-1", "1.5.2s", "soon"] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .contains("unknown time unit")
        );
    }

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
