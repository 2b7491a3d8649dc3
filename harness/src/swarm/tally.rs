//! What a swarm's clients went through, gathered as it happens: each client is watched by
//! a task of its own that notes its first LinkUp, every failure with its Last Error Code,
//! and what its RAs carried; pings add their round trips.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iphttps_sim::client::{ClientHandle, ClientState};
use iphttps_sim::winerr::LastErrorCode;
use tokio::time::Instant;

/// Failures of one Last Error Code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailureCount {
    /// How many.
    pub count: u64,
    /// The first one's description.
    pub first_detail: String,
}

/// Everything the swarm has seen so far.
#[derive(Debug, Default)]
pub struct Seen {
    /// Seconds from each client's start to its first LinkUp, in the order they came.
    pub linkup_seconds: Vec<f64>,
    /// Failures by Last Error Code.
    pub failures: BTreeMap<u32, FailureCount>,
    /// Clients whose RA carried each prefix (`2001:db8:1:1000::/64`), or `(none)`.
    pub prefixes: BTreeMap<String, u64>,
    /// Clients that received an RA.
    pub with_ra: u64,
    /// Echo Requests sent (from an address, over a tunnel that was up).
    pub pings_sent: u64,
    /// Round trips of the answered ones, in seconds.
    pub rtts: Vec<f64>,
}

/// The shared tally, the watchers that feed it, and the clients it is about.
#[derive(Clone, Default)]
pub struct Tally {
    seen: Arc<Mutex<Seen>>,
    clients: Arc<Mutex<Vec<Arc<ClientHandle>>>>,
}

impl Tally {
    /// What has been seen.
    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `client` in, and watches it from `start` until the task is aborted.
    pub fn add(&self, client: Arc<ClientHandle>, start: Instant) -> tokio::task::JoinHandle<()> {
        let task = self.watch(&client, start);
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(client);
        task
    }

    /// The clients started so far.
    pub fn clients(&self) -> Vec<Arc<ClientHandle>> {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn watch(&self, client: &ClientHandle, start: Instant) -> tokio::task::JoinHandle<()> {
        let mut rx = client.watch();
        let tally = self.clone();
        tokio::spawn(async move {
            let (mut up_once, mut failures, mut ra_noted) = (false, 0u64, false);
            loop {
                let (state, code, detail, n, ra) = {
                    let s = rx.borrow_and_update();
                    (
                        s.state,
                        s.last_error,
                        s.last_error_detail.clone(),
                        s.failures,
                        s.router_advert.clone(),
                    )
                };
                {
                    let mut seen = tally.seen();
                    if state == ClientState::LinkUp && !up_once {
                        up_once = true;
                        seen.linkup_seconds.push(start.elapsed().as_secs_f64());
                    }
                    if n > failures && code != LastErrorCode::SUCCESS {
                        let f = seen.failures.entry(code.0).or_insert_with(|| FailureCount {
                            count: 0,
                            first_detail: detail.unwrap_or_default(),
                        });
                        f.count += n - failures;
                    }
                    failures = failures.max(n);
                    if let (Some(ra), false) = (&ra, ra_noted) {
                        ra_noted = true;
                        seen.with_ra += 1;
                        if ra.prefixes.is_empty() {
                            *seen.prefixes.entry("(none)".into()).or_default() += 1;
                        }
                        for p in &ra.prefixes {
                            *seen
                                .prefixes
                                .entry(format!("{}/{}", p.prefix, p.len))
                                .or_default() += 1;
                        }
                    }
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
    }

    /// Notes one Echo Request sent and, if answered, its round trip.
    pub fn ping(&self, rtt: Option<Duration>) {
        let mut seen = self.seen();
        seen.pings_sent += 1;
        if let Some(r) = rtt {
            seen.rtts.push(r.as_secs_f64());
        }
    }
}
