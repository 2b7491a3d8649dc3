//! Verdicts that can fail: every shipped step whose conditions a client that never
//! connected would also meet (no RA, no address, no reply, at most N failures) is run
//! against a lab where the behaviour it expects is absent, and must fail there, on the
//! condition that rules it out. And the runner's rules for such conditions (they wait for
//! the tunnel; `reply = false` needs requests that left it) are shown biting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use iphttps_harness::runner::{self, RunOptions};
use iphttps_harness::scenario::model::ModeMillis;
use iphttps_harness::scenario::{self, Action, ClientCond, PlannedStep, Scenario};

fn shipped(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    scenario::load(&path).expect("a shipped scenario loads")
}

fn opts() -> RunOptions {
    RunOptions {
        jobs: 1,
        iphttps_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_iphttps"))),
        ..RunOptions::default()
    }
}

/// Steps written in the scenario format, for a scenario of `clients` clients.
fn steps(clients: usize, toml: &str) -> Vec<PlannedStep> {
    let text = format!("[clients]\ncount = {clients}\n{toml}");
    scenario::parse(Path::new("prep.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .steps
}

/// How a shipped scenario is changed so that the behaviour its step expects is absent.
struct Case {
    file: &'static str,
    /// The step that must now fail.
    step: &'static str,
    /// Start without the scenario's faults and drop its inject steps.
    healthy: bool,
    /// Original steps kept before the target, by name.
    keep: &'static [&'static str],
    /// Steps (TOML) run after the kept ones and before the target.
    extra: &'static str,
    /// Operations Status refresh in the variant (to keep the console stale), if changed.
    ops_refresh_ms: Option<u64>,
    /// Reconnect cap in the variant (a timer that does not back off), if changed.
    reconnect_cap_ms: Option<u64>,
    /// The clients' NUD interval in the variant (0: no NUD probes), if changed.
    nud_interval_ms: Option<u64>,
    /// Text the failure must contain: the condition that ruled it out.
    because: &'static str,
}

/// Extra steps: the server restarts and the clients reconnect, so every tunnel was lost once.
const RESTARTED: &str = "[[step]]\nname = \"a restart\"\nrestart_server = { downtime_ms = 300 }\n\
    [[step]]\nname = \"back\"\nexpect = { state = \"LinkUp\", connects_at_least = 2 }\n";

/// The usual case: the fault removed, the target alone, no timer changed.
const HEALTHY: Case = Case {
    file: "",
    step: "",
    healthy: true,
    keep: &[],
    extra: "",
    ops_refresh_ms: None,
    reconnect_cap_ms: None,
    nud_interval_ms: None,
    because: "",
};

const CASES: &[Case] = &[
    // The intranet host already knows the path MTU toward the client: the first answer is
    // fragmented to fit, and the step that expects it lost to Packet Too Big must see it.
    Case {
        file: "fragments-path-mtu.toml",
        step: "the first answer to a 1400-byte ping does not fit: the server sends Packet Too Big",
        keep: &["the client is up"],
        extra: "[[step]]\nname = \"learn the path MTU\"\nping = { from = 1, to = \"intranet\", count = 2, size = 1400, max_loss = 0.5 }\n",
        because: "expected no reply",
        ..HEALTHY
    },
    // No firewall drops the last fragment: the ping is answered.
    Case {
        file: "fragments-reassembly-timeout.toml",
        step: "a 3000-byte ping is not answered: its last fragment never reaches the intranet",
        keep: &[
            "the client is up",
            "while nothing filters fragments, a 3000-byte request is answered (its first answer meets Packet Too Big)",
        ],
        because: "expected no reply",
        ..HEALTHY
    },
    Case {
        file: "fault-advertising-disabled.toml",
        step: "no Router Advertisement, no global address",
        because: "a global address: false",
        ..HEALTHY
    },
    Case {
        file: "seed1-advertising.toml",
        step: "the client has only a link-local address",
        keep: &["no RA, no address"],
        because: "a global address: false",
        ..HEALTHY
    },
    // The fault is there and the console stays stale, but the command that was meant is
    // run: the RA comes, and "still broken" must see it.
    Case {
        file: "seed1-advertising.toml",
        step: "still broken: the document's second command is the wrong one",
        healthy: false,
        keep: &["no RA, no address"],
        extra: "[[step]]\nname = \"the right command\"\nrun = [\"netsh int ipv6 set int 17 advertise=enabled\"]\n",
        ops_refresh_ms: Some(600_000),
        because: "a Router Advertisement: false",
        ..HEALTHY
    },
    Case {
        file: "fault-route-not-published.toml",
        step: "the link is up but the RA carries no prefix: link-local only, nothing to reach the intranet from",
        because: "a global address: false",
        ..HEALTHY
    },
    Case {
        file: "seed1-route.toml",
        step: "clients keep only a link-local address",
        because: "a global address: false",
        ..HEALTHY
    },
    Case {
        file: "fault-forwarding-disabled.toml",
        step: "the intranet does not answer",
        keep: &["clients still configure addresses"],
        because: "expected no reply",
        ..HEALTHY
    },
    Case {
        file: "fault-forwarding-disabled.toml",
        step: "other clients do not answer",
        keep: &["clients still configure addresses"],
        because: "expected no reply",
        ..HEALTHY
    },
    Case {
        file: "live-fault-midrun.toml",
        step: "live clients lose the intranet",
        keep: &["up"],
        because: "expected no reply",
        ..HEALTHY
    },
    Case {
        file: "live-fault-midrun.toml",
        step: "and the stream is dropped by the router",
        keep: &["up"],
        because: "expected the router to drop every datagram as forwarding_disabled",
        ..HEALTHY
    },
    // A lab in which the clients did have to reconnect.
    Case {
        file: "live-fault-midrun.toml",
        step: "no reconnection was needed",
        keep: &["up"],
        extra: RESTARTED,
        because: "expected at most 0 failure(s)",
        ..HEALTHY
    },
    // A timer that does not back off: capped at its first wait.
    Case {
        file: "reconnect-timer.toml",
        step: "the timer backs off (about 0.2, 0.4, 0.8, 0.8, ... s)",
        healthy: false,
        keep: &["refused", "three seconds of failures"],
        reconnect_cap_ms: Some(100),
        because: "expected at most 8 failure(s)",
        ..HEALTHY
    },
    // A tunnel that was dropped: "idle and still up" must see the failure.
    Case {
        file: "idle-timeout.toml",
        step: "idle and still up just before the timeout",
        keep: &["up"],
        extra: RESTARTED,
        because: "expected at most 0 failure(s)",
        ..HEALTHY
    },
    // Without NUD probes the idle tunnel is closed: "never dropped" must see it.
    Case {
        file: "idle-nud-keepalive.toml",
        step: "ten minutes without a packet of the user's: the tunnel is never dropped",
        keep: &["up"],
        nud_interval_ms: Some(0),
        because: "expected at most 0 failure(s)",
        ..HEALTHY
    },
    // A console that refreshes all the time shows the fault at once.
    Case {
        file: "ops-status-refresh.toml",
        step: "the console still shows IP-HTTPS working: it was evaluated before the fault",
        healthy: false,
        keep: &[
            "up",
            "RaMgmtSvc restarts: Operations Status is evaluated now",
            "forwarding is disabled on the server",
        ],
        ops_refresh_ms: Some(50),
        because: "expected IP-HTTPS OK, saw Error",
        ..HEALTHY
    },
    // The fault is not fixed before the refresh: the refresh shows it.
    Case {
        file: "ops-status-refresh.toml",
        step: "the refresh finds nothing wrong: the console never showed the fault",
        healthy: false,
        keep: &[
            "up",
            "RaMgmtSvc restarts: Operations Status is evaluated now",
            "forwarding is disabled on the server",
        ],
        because: "expected Operations Status OK, saw Error",
        ..HEALTHY
    },
    // A console that refreshes all the time shows the fix at once.
    Case {
        file: "ops-status-refresh.toml",
        step: "the console keeps showing the fault until its next refresh",
        healthy: false,
        keep: &[
            "up",
            "forwarding is disabled again",
            "RaMgmtSvc restarts",
            "fixed, without restarting RaMgmtSvc",
        ],
        ops_refresh_ms: Some(50),
        because: "expected IP-HTTPS Error, saw OK",
        ..HEALTHY
    },
    // No partition: the pings are answered.
    Case {
        file: "network-faults.toml",
        step: "its pings go unanswered",
        keep: &["up"],
        because: "expected no reply",
        ..HEALTHY
    },
    // A tunnel that had to be rebuilt: "survived" must see the failure.
    Case {
        file: "network-faults.toml",
        step: "the tunnel survived it: no failure, no reconnection",
        keep: &["up"],
        extra: RESTARTED,
        because: "expected at most 0 failure(s)",
        ..HEALTHY
    },
    // Nothing held: the ping is answered.
    Case {
        file: "network-faults.toml",
        step: "nothing is answered while they are held",
        keep: &["up"],
        because: "expected no reply",
        ..HEALTHY
    },
    // The prefix still published: what the client sends from its address is answered.
    Case {
        file: "route-lifetimes.toml",
        step: "the router drops what a client sends from its address as spoofed",
        keep: &["up, each client with a preferred address in the published prefix"],
        because: "expected no reply",
        ..HEALTHY
    },
    // Lifetimes never cut (the route published with infinite ones): the address stays.
    Case {
        file: "route-lifetimes.toml",
        step: "at two hours they are gone, the tunnels still up",
        keep: &["up, each client with a preferred address in the published prefix"],
        because: "expected a global address: false",
        ..HEALTHY
    },
    // A client for which Teredo is not available connects over IP-HTTPS at once.
    Case {
        file: "transition-choice.toml",
        step: "Teredo is chosen; IP-HTTPS stays down",
        extra: "[[step]]\nname = \"Teredo is blocked\"\non_client = 1\nrun = [\"netsh interface teredo set state disable\"]\n",
        because: "expected state Enabled",
        ..HEALTHY
    },
];

fn variant(c: &Case) -> Scenario {
    let mut s = shipped(c.file);
    let target = s
        .steps
        .iter()
        .find(|p| p.name == c.step)
        .unwrap_or_else(|| panic!("{}: no step '{}'", c.file, c.step))
        .clone();
    let mut out: Vec<PlannedStep> = c
        .keep
        .iter()
        .map(|n| {
            s.steps
                .iter()
                .find(|p| p.name == *n)
                .unwrap_or_else(|| panic!("{}: no step '{n}'", c.file))
                .clone()
        })
        .collect();
    if c.healthy {
        s.faults.clear();
        out.retain(|p| !matches!(p.action, Action::Inject(_)));
    }
    out.extend(steps(s.clients, c.extra));
    // a short deadline: the step is expected to fail
    let mut target = target;
    target.deadline = target.deadline.map(|d| (*d).min(Duration::from_secs(4)));
    out.push(target);
    s.steps = out;
    if let Some(ms) = c.ops_refresh_ms {
        s.timers_file.ops_refresh_ms = Some(ModeMillis::One(ms));
    }
    if let Some(ms) = c.nud_interval_ms {
        s.timers_file.nud_interval_ms = Some(ModeMillis::One(ms));
    }
    if let Some(ms) = c.reconnect_cap_ms {
        s.timers_file.reconnect_initial_ms = Some(ModeMillis::One(ms));
        s.timers_file.reconnect_cap_ms = Some(ModeMillis::One(ms));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_negative_step_fails_where_its_behaviour_is_absent() {
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in CASES.iter().enumerate() {
        let s = variant(c);
        set.spawn(async move { (i, runner::run_scenario(&s, &opts()).await) });
    }
    let mut wrong = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, r) = r.unwrap();
        let c = &CASES[i];
        let msg = r.message.clone().unwrap_or_default();
        if r.failed_step.as_deref() != Some(c.step) || !msg.contains(c.because) {
            wrong.push(format!(
                "{} / {}: failed at {:?}: {msg}\n{}",
                c.file, c.step, r.failed_step, r.log
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// Every shipped step that rests on a negative condition is in the table above (a new one
/// must be shown failing too).
#[test]
fn the_table_covers_every_shipped_negative_step() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for s in iphttps_harness::suite::load(&[dir]).unwrap() {
        let file = s.path.file_name().unwrap().to_string_lossy().into_owned();
        for p in &s.steps {
            let negative = match &p.action {
                // negatives that no positive client condition (other than a state) backs
                Action::Expect(e) => {
                    let backed = e
                        .client
                        .iter()
                        .any(|c| !c.is_negative() && !matches!(c, ClientCond::State(_)));
                    let negative = e
                        .client
                        .iter()
                        .any(|c| c.is_negative() && !matches!(c, ClientCond::State(_)));
                    (negative && !backed) || e.server.iter().any(|c| c.is_negative(s.clients))
                }
                Action::Ping(p) => p.no_reply,
                Action::Udp(u) => u.dropped_by.is_some(),
                _ => false,
            };
            if negative {
                assert!(
                    CASES.iter().any(|c| c.file == file && c.step == p.name),
                    "{file}: step '{}' has a negative condition and no case shows it failing",
                    p.name
                );
            }
        }
    }
}

fn inline(text: &str) -> Scenario {
    scenario::parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs scenario `text` and checks that it fails at `step`, saying `because`.
async fn fails_at(text: &str, step: &str, because: &str) {
    let r = runner::run_scenario(&inline(text), &opts()).await;
    assert_eq!(r.failed_step.as_deref(), Some(step), "{}", r.log);
    let msg = r.message.unwrap_or_default();
    assert!(msg.contains(because), "{msg}");
}

#[tokio::test]
async fn negative_conditions_wait_for_the_tunnel() {
    // The client can never connect: "no global address" must not pass on that account.
    fails_at(
        "faults = [\"expired-cert\"]\n[[step]]\nname = \"no address\"\ndeadline = \"2s\"\n\
         expect = { global_address = false, hold = \"500ms\" }\n",
        "no address",
        "its tunnel is not established",
    )
    .await;
    // The same expectation once a tunnel is up without an address (no RA) passes.
    let s = inline(
        "faults = [\"advertising-disabled\"]\n[[step]]\nname = \"no address\"\ndeadline = \"4s\"\n\
         expect = { global_address = false, hold = \"500ms\" }\n",
    );
    let r = runner::run_scenario(&s, &opts()).await;
    assert!(r.passed, "{}", r.log);
}

#[tokio::test]
async fn no_reply_needs_requests_that_left_the_tunnel() {
    // No address to send from (the RA carries no prefix): the requests never leave, so
    // "no reply" proves nothing and the step says why.
    fails_at(
        "faults = [\"route-not-published\"]\n\
         [[step]]\nname = \"up\"\nexpect = { state = \"LinkUp\", ra_prefixes = 0 }\n\
         [[step]]\nname = \"no reply\"\nping = { from = 1, to = \"intranet\", reply = false }\n",
        "no reply",
        "no usable address",
    )
    .await;
    // Dropped, but not for the reason the step names.
    fails_at(
        "faults = [\"forwarding-disabled\"]\n\
         [[step]]\nname = \"up\"\nexpect = { state = \"LinkUp\", global_address = true }\n\
         [[step]]\nname = \"no reply\"\nping = { from = 1, to = \"intranet\", reply = false, dropped_by = \"no_route\" }\n",
        "no reply",
        "0 dropped as no_route",
    )
    .await;
}

#[tokio::test]
async fn hold_fails_when_a_condition_breaks_within_it() {
    // The link comes up within the hold: "LinkDown for 1s" is not what happens.
    fails_at(
        "[[step]]\nname = \"stays down\"\ndeadline = \"1500ms\"\n\
         expect = { state = \"LinkDown\", hold = \"1s\" }\n",
        "stays down",
        "expected state LinkDown",
    )
    .await;
}
