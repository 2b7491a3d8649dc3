//! The scenario file format (TOML), as serde structures. Every table refuses unknown keys.
//! Values that name something (faults, commands, components, reasons, durations) are
//! kept with their position so the loader can report where a bad one stands.

use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Its name (defaults to the file name).
    pub name: Option<String>,
    /// What it shows.
    pub description: Option<String>,
    /// Seed for interface IDs and traffic, so runs repeat.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Free labels for `--filter`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The server.
    #[serde(default)]
    pub server: ServerSection,
    /// The clients.
    #[serde(default)]
    pub clients: ClientsSection,
    /// Timers.
    #[serde(default)]
    pub timers: TimersSection,
    /// How the lab runs.
    #[serde(default)]
    pub lab: LabSection,
    /// Faults present at start.
    #[serde(default)]
    pub faults: Vec<Spanned<String>>,
    /// The timeline.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

fn default_seed() -> u64 {
    1
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// The server's name (URL and certificate).
    pub name: String,
    /// The IP-HTTPS URI path.
    pub path: String,
    /// ClientIPv6Prefix (a /64).
    pub client_prefix: Option<Spanned<String>>,
    /// InternalIPv6Prefix (where the intranet host lives).
    pub internal_prefix: Option<Spanned<String>>,
    /// `none` or `certificates`.
    pub auth_mode: Option<Spanned<String>>,
    /// Whether the server offers the NULL-encryption suites (a `null-cipher` build).
    pub null_cipher: Option<Spanned<bool>>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            name: "da.contoso.com".into(),
            path: "/IPHTTPS".into(),
            client_prefix: None,
            internal_prefix: None,
            auth_mode: None,
            null_cipher: None,
        }
    }
}

/// `[clients]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsSection {
    /// How many.
    pub count: usize,
    /// `hotel`, `nat`, `public-ipv4` or `force-tunnel`.
    pub network: Option<Spanned<String>>,
    /// Whether they carry a machine certificate.
    pub client_certificate: bool,
    /// Whether they check revocation (Windows 7 behaviour).
    pub check_revocation: bool,
    /// Whether they trust the server's root.
    pub trust_root: bool,
    /// A built-in web proxy in every client's path: `open`, `refuses` or `requires-auth`.
    pub proxy: Option<Spanned<String>>,
    /// The Basic credentials the clients send to the proxy, `"USER:PASSWORD"` (the lab
    /// proxy's `requires-auth` mode accepts `proxyuser:proxypass`).
    pub proxy_credentials: Option<Spanned<String>>,
    /// Which NULL-encryption suites the clients offer: `off` (Windows 7), `prefer`
    /// (Windows 8 and later) or `only` (a `null-cipher` build for the last two).
    pub null_cipher: Option<Spanned<String>>,
}

impl Default for ClientsSection {
    fn default() -> Self {
        Self {
            count: 1,
            network: None,
            client_certificate: true,
            check_revocation: true,
            trust_root: true,
            proxy: None,
            proxy_credentials: None,
            null_cipher: None,
        }
    }
}

/// A value the same in both modes (`"20s"`, `500`) or per mode (`{ loopback = "20s",
/// simulated = "2m" }`): a simulated run has Windows' own timers, a loopback run
/// shortened ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerMode<T> {
    /// The same in both modes.
    One(T),
    /// Per mode.
    Each {
        /// On loopback, in real time.
        loopback: T,
        /// Simulated, in virtual time.
        simulated: T,
    },
}

/// Both modes' values, as a file writes them (no other key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Both<T> {
    loopback: T,
    simulated: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for PerMode<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<T> {
            One(T),
            Each(Both<T>),
        }
        match Raw::deserialize(d) {
            Ok(Raw::One(v)) => Ok(PerMode::One(v)),
            Ok(Raw::Each(b)) => Ok(PerMode::Each {
                loopback: b.loopback,
                simulated: b.simulated,
            }),
            Err(_) => Err(serde::de::Error::custom(
                "expected one value for both modes, or { loopback = ..., simulated = ... } with both and nothing else",
            )),
        }
    }
}

impl<T> PerMode<T> {
    /// The value in the run's mode.
    pub fn get(&self, simulated: bool) -> &T {
        match self {
            PerMode::One(v) => v,
            PerMode::Each { loopback, .. } if !simulated => loopback,
            PerMode::Each { simulated, .. } => simulated,
        }
    }

    /// Both values through `f`, stopping at its first error.
    pub fn try_map<U, E>(&self, f: impl Fn(&T) -> Result<U, E>) -> Result<PerMode<U>, E> {
        Ok(match self {
            PerMode::One(v) => PerMode::One(f(v)?),
            PerMode::Each {
                loopback,
                simulated,
            } => PerMode::Each {
                loopback: f(loopback)?,
                simulated: f(simulated)?,
            },
        })
    }

    /// Both values through `f`.
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> PerMode<U> {
        self.try_map(|v| Ok::<U, std::convert::Infallible>(f(v)))
            .unwrap_or_else(|never| match never {})
    }

    /// Whether `f` holds for the value of either mode.
    pub fn any(&self, f: impl Fn(&T) -> bool) -> bool {
        f(self.get(false)) || f(self.get(true))
    }
}

/// A duration as a file writes it, in both modes or per mode.
pub type ModeDuration = PerMode<String>;

/// A number of milliseconds as a file writes it, in both modes or per mode.
pub type ModeMillis = PerMode<u64>;

/// `[lab]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabSection {
    /// `"loopback"` (real sockets, real time; the default) or `"simulated"` (an in-memory
    /// network in virtual time, Windows' own timers).
    pub network: Option<Spanned<String>>,
    /// IPsec inside the tunnel (Linux, root): the clients' and the intranet's kernels in
    /// network namespaces, a strongSwan charon in each, the two DirectAccess tunnels.
    pub ipsec: Option<bool>,
}

/// `[timers]`, in milliseconds, each the same in both modes or per mode. What a file
/// leaves out is the mode's default ([`Timers::loopback`] or [`Timers::windows`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersSection {
    /// The reconnect timer's first wait (Windows: 30000).
    pub reconnect_initial_ms: Option<ModeMillis>,
    /// The reconnect timer's cap (Windows: 900000); on loopback it defaults to 20 times
    /// the first wait.
    pub reconnect_cap_ms: Option<ModeMillis>,
    /// TCP, TLS and HTTP deadline of a connection attempt.
    pub connect_timeout_ms: Option<ModeMillis>,
    /// Operations Status refresh interval (Windows: 300000).
    pub ops_refresh_ms: Option<ModeMillis>,
    /// Interval of unsolicited RAs (Windows: 200000).
    pub ra_interval_ms: Option<ModeMillis>,
    /// How long every host holds an incomplete fragmented datagram (RFC 8200: 60000).
    pub reassembly_timeout_ms: Option<ModeMillis>,
    /// The server's idle timeout (HTTP.sys: 120000).
    pub idle_timeout_ms: Option<ModeMillis>,
    /// How often a client confirms its router with NUD (30000); 0: never.
    pub nud_interval_ms: Option<ModeMillis>,
    /// RFC 4862's two hours: the shortest remaining valid lifetime an RA can leave an
    /// address (7200000; on loopback 5000).
    pub two_hour_rule_ms: Option<ModeMillis>,
}

/// The timers a scenario runs with, in milliseconds, once the mode's defaults fill in
/// what its file leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// The reconnect timer's first wait.
    pub reconnect_initial_ms: u64,
    /// The reconnect timer's cap.
    pub reconnect_cap_ms: u64,
    /// TCP, TLS and HTTP deadline of a connection attempt.
    pub connect_timeout_ms: u64,
    /// Operations Status refresh interval.
    pub ops_refresh_ms: u64,
    /// Interval of unsolicited RAs.
    pub ra_interval_ms: u64,
    /// Fragment reassembly timeout.
    pub reassembly_timeout_ms: u64,
    /// The server's idle timeout.
    pub idle_timeout_ms: u64,
    /// How often a client confirms its router with NUD (0: never).
    pub nud_interval_ms: u64,
    /// RFC 4862's two hours.
    pub two_hour_rule_ms: u64,
    /// Whether the clients' hosts use RFC 4861's RS timing and a full DAD wait (else a
    /// few milliseconds, to keep real-time runs short).
    pub rfc_host_timers: bool,
}

impl Timers {
    /// Real time on loopback: shortened so CI stays fast.
    pub const fn loopback() -> Self {
        Self {
            reconnect_initial_ms: 200,
            // 20 times the first wait: a file's own first wait moves it (`resolve`)
            reconnect_cap_ms: 4000,
            connect_timeout_ms: 2000,
            ops_refresh_ms: 500,
            ra_interval_ms: 200_000,
            reassembly_timeout_ms: 60_000,
            idle_timeout_ms: 120_000,
            nud_interval_ms: 30_000,
            two_hour_rule_ms: 5000,
            rfc_host_timers: false,
        }
    }

    /// Windows' own ([MS-IPHTTPS] 3.1.2.1 reconnect timer, the console's 5-minute
    /// Operations Status refresh, RFC 4861 router solicitation and DAD timing): the
    /// defaults of a simulated run, where time is virtual.
    pub const fn windows() -> Self {
        Self {
            reconnect_initial_ms: 30_000,
            reconnect_cap_ms: 900_000,
            connect_timeout_ms: 2000,
            ops_refresh_ms: 300_000,
            ra_interval_ms: 200_000,
            reassembly_timeout_ms: 60_000,
            idle_timeout_ms: 120_000,
            nud_interval_ms: 30_000,
            two_hour_rule_ms: 7_200_000,
            rfc_host_timers: true,
        }
    }
}

impl TimersSection {
    /// The timers in force: what the file says for this mode, the `defaults` elsewhere.
    /// On loopback a cap left out is 20 times the first wait.
    pub fn resolve(&self, defaults: Timers, simulated: bool) -> Timers {
        let pick = |v: Option<ModeMillis>, d: u64| v.map_or(d, |v| *v.get(simulated));
        let reconnect_initial_ms = pick(self.reconnect_initial_ms, defaults.reconnect_initial_ms);
        let cap = if defaults.rfc_host_timers {
            defaults.reconnect_cap_ms
        } else {
            reconnect_initial_ms * 20
        };
        Timers {
            reconnect_initial_ms,
            reconnect_cap_ms: pick(self.reconnect_cap_ms, cap),
            connect_timeout_ms: pick(self.connect_timeout_ms, defaults.connect_timeout_ms),
            ops_refresh_ms: pick(self.ops_refresh_ms, defaults.ops_refresh_ms),
            ra_interval_ms: pick(self.ra_interval_ms, defaults.ra_interval_ms),
            reassembly_timeout_ms: pick(self.reassembly_timeout_ms, defaults.reassembly_timeout_ms),
            idle_timeout_ms: pick(self.idle_timeout_ms, defaults.idle_timeout_ms),
            nud_interval_ms: pick(self.nud_interval_ms, defaults.nud_interval_ms),
            two_hour_rule_ms: pick(self.two_hour_rule_ms, defaults.two_hour_rule_ms),
            rfc_host_timers: defaults.rfc_host_timers,
        }
    }
}

/// Which client(s) a step is about: a number from 1, or `"all"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ClientSel {
    /// One client.
    One(usize),
    /// `"all"`.
    Word(String),
}

/// One `[[step]]`: a name, a deadline, and exactly one action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Its name, shown when it fails.
    pub name: Spanned<String>,
    /// How long it may take (`"10s"`, `"500ms"`, `"2m"`, or per mode); default 10s.
    pub deadline: Option<Spanned<ModeDuration>>,
    /// Wait until these hold.
    pub expect: Option<Spanned<Expect>>,
    /// Inject a fault.
    pub inject: Option<Spanned<String>>,
    /// Clear a fault.
    pub clear: Option<Spanned<String>>,
    /// Windows-style command lines, run as one session (a seed's block can be pasted).
    pub run: Option<Vec<Spanned<String>>>,
    /// Where `run` runs: omitted for the server, or a client number.
    pub on_client: Option<usize>,
    /// Whether the `run` lines are expected to fail (a bad command that must change nothing).
    #[serde(default)]
    pub expect_failure: bool,
    /// Ping.
    pub ping: Option<PingStep>,
    /// A UDP stream.
    pub udp: Option<UdpStep>,
    /// An external command.
    pub exec: Option<ExecStep>,
    /// Restart the server (tunnels dropped, listener down for `downtime_ms`).
    pub restart_server: Option<RestartStep>,
    /// A transport toxic on a client's TCP path.
    pub toxic: Option<ToxicStep>,
    /// A fault of the network itself between clients and the server.
    pub network: Option<Spanned<NetworkStep>>,
    /// Wait this long (`"1s"`).
    pub sleep: Option<Spanned<ModeDuration>>,
    /// Switch the built-in web proxy to `open`, `refuses` or `requires-auth`.
    pub proxy: Option<Spanned<String>>,
    /// What the internal network's firewall drops between the server and the intranet:
    /// `fragments`, `last-fragment` or `none`.
    pub fragment_filter: Option<Spanned<String>>,
}

/// Conditions, checked until they all hold or the deadline passes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Which clients the client conditions are about (default `"all"`).
    pub client: Option<Spanned<ClientSel>>,
    /// `Enabled`, `LinkDown`, `Established`, `LinkUp`, `Disabled`.
    pub state: Option<Spanned<String>>,
    /// Last Error Code, e.g. `"0x800b0109"`.
    pub last_error: Option<Spanned<String>>,
    /// Interface Status text (exact).
    pub interface_status: Option<String>,
    /// Text the client's description of its last failure must contain.
    pub detail: Option<String>,
    /// Whether the client has a global address (in the ClientIPv6Prefix).
    pub global_address: Option<bool>,
    /// The state of that address: `Preferred`, `Deprecated`, `Tentative`, `Duplicate`.
    pub address_state: Option<Spanned<String>>,
    /// Whether a Router Advertisement arrived.
    pub router_advertisement: Option<bool>,
    /// How many prefixes the last RA carried.
    pub ra_prefixes: Option<usize>,
    /// The RA's MTU option.
    pub ra_mtu: Option<u32>,
    /// The valid lifetime, in seconds, of the RA's (first) prefix (4294967295: infinite).
    pub ra_valid_lifetime: Option<u32>,
    /// `6to4`, `Teredo` or `IP-HTTPS`.
    pub transition: Option<Spanned<String>>,
    /// The TLS cipher suite of the client's tunnel (`TLS_RSA_WITH_NULL_SHA256`, ...).
    pub cipher_suite: Option<String>,
    /// At least this many successful connections so far.
    pub connects_at_least: Option<u64>,
    /// At least this many failures so far.
    pub failures_at_least: Option<u64>,
    /// At most this many failures so far (the reconnect timer backs off).
    pub failures_at_most: Option<u64>,
    /// At least this many failures in the current series, each followed by the wait of
    /// [MS-IPHTTPS] 3.1.2.1 (the first wait, then the time since the series' first
    /// failure, capped), and each next attempt made when that wait ended.
    pub reconnect_schedule: Option<u64>,
    /// The server's Operations Status roll-up: `OK`, `Warning`, `Error`.
    pub server_health: Option<Spanned<String>>,
    /// One Operations Status component.
    pub ops: Option<OpsExpect>,
    /// Router drops.
    pub dropped: Option<DropExpect>,
    /// Clients in the server's table.
    pub server_clients: Option<usize>,
    /// An ICMPv6 error the clients received.
    pub icmp_error: Option<Spanned<IcmpErrorExpect>>,
    /// IPsec lab: `Get-DAConnectionStatus`'s Status (`ConnectedRemotely`,
    /// `ConnectingRemotely`, `Error`).
    pub da_status: Option<Spanned<String>>,
    /// IPsec lab: the tunnels whose quick mode SA is installed, exactly
    /// (`["infrastructure", "intranet"]`, or `[]`).
    pub quick_mode_sas: Option<Spanned<Vec<String>>>,
    /// IPsec lab: text IKE's reason for the last failure contains.
    pub ike_error: Option<String>,
    /// How long every condition must hold without a break (`"1s"`).
    pub hold: Option<Spanned<ModeDuration>>,
}

/// An Operations Status component expectation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsExpect {
    /// `IP-HTTPS`, `IPsec`, `Services`, `Network Adapters`.
    pub component: Spanned<String>,
    /// `OK`, `Warning`, `Error`.
    pub state: Spanned<String>,
    /// Text the Error or Causes must contain.
    pub text: Option<String>,
}

/// `icmp_error = { type, code, at_least }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpErrorExpect {
    /// `destination-unreachable`, `packet-too-big`, `time-exceeded` or `parameter-problem`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// The code (any when left out).
    pub code: Option<u8>,
    /// At least this many (default 1).
    pub at_least: Option<u64>,
}

/// A drop-counter expectation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropExpect {
    /// A drop reason (`spoofed_source`, `forwarding_disabled`, ...).
    pub reason: Spanned<String>,
    /// At least this many.
    pub at_least: u64,
}

/// `ping = { from, to, ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingStep {
    /// The client (number from 1) or `"all"`.
    pub from: Spanned<ClientSel>,
    /// `"intranet"`, `"client N"`, or an IPv6 address; in an IPsec lab also
    /// `"infrastructure"` (the infrastructure server; `"intranet"` is then the
    /// application server behind the intranet tunnel).
    pub to: Spanned<String>,
    /// IPsec lab: the replies must have come through this tunnel's quick mode SA
    /// (`"infrastructure"` or `"intranet"`): its packet counters grow by at least the
    /// requests and replies.
    pub through: Option<Spanned<String>>,
    /// Echo Requests per client (default 1).
    pub count: Option<u32>,
    /// Data bytes (default 56), up to 65,527 (the IPv6 maximum without a jumbogram);
    /// above the path MTU the request and its answer travel in fragments.
    pub size: Option<Spanned<usize>>,
    /// Whether replies are expected (default true: every one; false: none, and every
    /// request must have left an established tunnel from a configured address).
    pub reply: Option<bool>,
    /// With `reply = false`: the router must count a drop for this reason per request.
    pub dropped_by: Option<Spanned<String>>,
    /// Largest acceptable loss, 0.0 up to (not including) 1.0 (instead of `reply`).
    pub max_loss: Option<Spanned<f64>>,
    /// Median round trip must be at most this.
    pub max_rtt_p50_ms: Option<f64>,
    /// Median round trip must be at least this (a latency toxic is really there).
    pub min_rtt_p50_ms: Option<f64>,
}

/// `udp = { from, count, size, rate_pps, ... }` toward the intranet host's discard port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpStep {
    /// The client (number from 1).
    pub from: usize,
    /// Datagrams.
    pub count: u32,
    /// Payload bytes, up to 65,527 (fragmented above the path MTU).
    pub size: Spanned<usize>,
    /// Datagrams per second (0: as fast as possible).
    #[serde(default)]
    pub rate_pps: u32,
    /// Largest acceptable loss, 0.0-1.0.
    pub max_loss: Option<f64>,
    /// Smallest acceptable throughput, in kbit/s of UDP payload.
    pub min_kbps: Option<f64>,
    /// Largest acceptable throughput (a bandwidth toxic is really there).
    pub max_kbps: Option<f64>,
    /// None may arrive, and the router must count a drop for this reason per datagram.
    pub dropped_by: Option<Spanned<String>>,
}

/// `exec = { command = [...], ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    /// Program and arguments; a relative program is looked up beside the scenario file.
    pub command: Vec<String>,
    /// Expected exit code (default 0).
    pub exit: Option<i32>,
    /// Text standard output must contain.
    pub output_contains: Option<String>,
}

/// `restart_server = { downtime_ms }` or `{ downtime = "20m" }` (a duration, per mode if
/// wanted).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartStep {
    /// How long nothing listens, in milliseconds.
    pub downtime_ms: Option<u64>,
    /// How long nothing listens, as a duration.
    pub downtime: Option<Spanned<ModeDuration>>,
}

/// `network = { partition = 1 }`, `{ heal = 1 }`, `{ hold = "all" }`, `{ release = "all" }`
/// or `{ client = 1, latency_ms = 40, loss = 0.05 }`: a fault of the network between a
/// client and everything else.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkStep {
    /// Cut these clients off: nothing gets through, new connections go unanswered.
    pub partition: Option<Spanned<ClientSel>>,
    /// End their partition.
    pub heal: Option<Spanned<ClientSel>>,
    /// Hold their bytes (in order, none lost) until released.
    pub hold: Option<Spanned<ClientSel>>,
    /// Let what was held through.
    pub release: Option<Spanned<ClientSel>>,
    /// The client whose link `latency_ms` and `loss` shape.
    pub client: Option<Spanned<ClientSel>>,
    /// Added one-way latency, each direction.
    pub latency_ms: Option<u64>,
    /// Share of segments lost (0 to 1; TCP retransmits each after a timeout).
    pub loss: Option<f64>,
}

/// `toxic = { client, ... }`, in the toxiproxy sense, on the client's TCP path to the server.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ToxicStep {
    /// The client (number from 1).
    pub client: usize,
    /// Added one-way latency per chunk, each direction.
    #[serde(default)]
    pub latency_ms: u64,
    /// Bandwidth cap per direction, kbit/s (0: none).
    #[serde(default)]
    pub bandwidth_kbps: u64,
    /// Cut the connection now (both directions).
    #[serde(default)]
    pub reset: bool,
    /// Stop forwarding (the connection stays open).
    #[serde(default)]
    pub stall: bool,
    /// Forward in chunks of at most this many bytes (0: as read).
    #[serde(default)]
    pub slice_bytes: usize,
    /// Close the connection after this many bytes each way (0: no limit).
    #[serde(default)]
    pub limit_bytes: u64,
}
