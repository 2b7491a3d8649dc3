//! A client's queue: the frames routed toward one client, appended a run at a time at the
//! end of each dispatch and taken all at once by the client's writer task.
//!
//! A channel of single frames costs a permit, a slot and a wake-up per packet on both
//! ends; here a dispatch's run of frames for one client costs one lock and at most one
//! wake-up, and the writer takes everything queued with one lock.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::link::Frame;

/// The frames waiting for one client's writer, bounded: what does not fit is dropped, as
/// a link drops what its queue cannot hold.
#[derive(Debug)]
pub struct ClientQueue {
    frames: Mutex<Vec<Frame>>,
    ready: Notify,
    limit: usize,
}

/// What became of a run of frames offered to a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Frames now queued.
    pub queued: u64,
    /// Frames dropped because the queue was full.
    pub dropped: u64,
}

impl ClientQueue {
    /// An empty queue holding at most `limit` frames (it allocates nothing until used).
    pub fn new(limit: usize) -> Self {
        Self {
            frames: Mutex::new(Vec::new()),
            ready: Notify::new(),
            limit,
        }
    }

    /// Appends what fits of `run` in order and drops the rest; wakes the writer when it
    /// may be waiting (the queue was empty).
    pub fn push(&self, run: impl IntoIterator<Item = Frame>) -> Pushed {
        let mut pushed = Pushed::default();
        let was_empty = {
            let mut q = self.frames.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = q.is_empty();
            for f in run {
                if q.len() < self.limit {
                    q.push(f);
                    pushed.queued += 1;
                } else {
                    pushed.dropped += 1;
                }
            }
            was_empty
        };
        // a writer that found the queue empty waits on `ready`, or will find this permit
        if was_empty && pushed.queued > 0 {
            self.ready.notify_one();
        }
        pushed
    }

    /// Waits until frames are queued, then moves them all into `into` (which should be
    /// empty; its allocation becomes the queue's).
    pub async fn take(&self, into: &mut Vec<Frame>) {
        loop {
            {
                let mut q = self.frames.lock().unwrap_or_else(|e| e.into_inner());
                if !q.is_empty() {
                    std::mem::swap(&mut *q, into);
                    return;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Frames waiting now.
    pub fn len(&self) -> usize {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::Duration;

    fn frame(i: u8) -> Frame {
        Frame::new(Bytes::from(vec![0x60, 0, 0, 0, 0, 0, 17, 64, i]))
    }

    fn ids(v: &[Frame]) -> Vec<u8> {
        v.iter().map(|f| f.raw()[8]).collect()
    }

    #[test]
    fn a_full_queue_keeps_the_first_frames_and_counts_the_rest() {
        let q = ClientQueue::new(3);
        assert_eq!(
            q.push((0..2).map(frame)),
            Pushed {
                queued: 2,
                dropped: 0
            }
        );
        assert_eq!(
            q.push((2..6).map(frame)),
            Pushed {
                queued: 1,
                dropped: 3
            }
        );
        assert_eq!(q.len(), 3);
    }

    #[tokio::test]
    async fn the_writer_takes_everything_in_order_and_room_comes_back() {
        let q = ClientQueue::new(4);
        assert!(q.is_empty());
        q.push((0..4).map(frame));
        assert!(!q.is_empty());
        let mut got = Vec::new();
        q.take(&mut got).await;
        assert_eq!(ids(&got), [0, 1, 2, 3]);
        assert!(q.is_empty());
        assert_eq!(q.push((4..6).map(frame)).queued, 2);
        got.clear();
        q.take(&mut got).await;
        assert_eq!(ids(&got), [4, 5]);
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_for_a_push() {
        let q = Arc::new(ClientQueue::new(8));
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                q.take(&mut got).await;
                ids(&got)
            })
        };
        // the writer is parked on an empty queue before anything comes
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        q.push([frame(7)]);
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the writer woke")
            .unwrap();
        assert_eq!(got, [7]);
    }
}
