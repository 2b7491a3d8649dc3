//! What each client went through during a scenario: every change of its state or Last
//! Error Code, with the time on the scenario's clock (virtual when simulated). The HTML
//! report draws it.

use std::sync::{Arc, Mutex};

use iphttps_sim::client::{ClientHandle, ClientState};
use iphttps_sim::winerr::LastErrorCode;
use tokio::time::Instant;

/// Changes kept per client (the rest are counted, not kept).
pub const POINTS_KEPT: usize = 400;

/// One change of a client's state or Last Error Code.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatePoint {
    /// Seconds since the scenario started.
    pub at: f64,
    /// The spec's state (`LinkDown`, `LinkUp`, ...).
    pub state: String,
    /// Last Error Code (`0x0`, `0x800b0109`, ...).
    pub last_error: String,
}

/// One client's changes over a scenario.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClientTimeline {
    /// The client's number (from 1).
    pub client: usize,
    /// Its changes, the first [`POINTS_KEPT`].
    pub points: Vec<StatePoint>,
    /// Changes past those.
    pub dropped: u64,
}

/// Records every client's changes until dropped.
pub struct Recorder {
    lines: Vec<Arc<Mutex<ClientTimeline>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    /// Starts watching `clients` (numbered from 1 in order), times counted from `start`.
    pub fn start(clients: &[Arc<ClientHandle>], start: Instant) -> Self {
        let mut lines = Vec::new();
        let mut tasks = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            let line = Arc::new(Mutex::new(ClientTimeline {
                client: i + 1,
                points: Vec::new(),
                dropped: 0,
            }));
            let mut rx = c.watch();
            let out = line.clone();
            tasks.push(tokio::spawn(async move {
                let mut last: Option<(ClientState, LastErrorCode)> = None;
                loop {
                    let now = {
                        let s = rx.borrow_and_update();
                        (s.state, s.last_error)
                    };
                    if last != Some(now) {
                        last = Some(now);
                        let mut t = out.lock().unwrap_or_else(|e| e.into_inner());
                        if t.points.len() < POINTS_KEPT {
                            t.points.push(StatePoint {
                                at: start.elapsed().as_secs_f64(),
                                state: format!("{:?}", now.0),
                                last_error: now.1.to_string(),
                            });
                        } else {
                            t.dropped += 1;
                        }
                    }
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }));
            lines.push(line);
        }
        Self { lines, tasks }
    }

    /// Stops and hands over what was recorded.
    pub fn finish(self) -> Vec<ClientTimeline> {
        for t in &self.tasks {
            t.abort();
        }
        self.lines
            .iter()
            .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
