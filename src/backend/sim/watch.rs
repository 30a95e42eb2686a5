//! One watcher's queue of cluster events: a FIFO that a consumer drains at its own pace.
//!
//! While the consumer keeps up, every event is delivered as it happened. When it falls
//! behind (more than [`COALESCE_AT`] events waiting), a new event about an object that
//! already has one waiting replaces it in place: the consumer then sees the object's
//! latest state, in the position of its first undelivered change, as an informer's
//! compressing queue does. So a flood of updates can never queue more than one event per
//! object (plus `COALESCE_AT`), however fast it comes.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::domain::ClusterEvent;

/// Up to this many waiting events, every event is kept.
pub(crate) const COALESCE_AT: usize = 1024;

#[derive(Default)]
struct State {
    events: VecDeque<ClusterEvent>,
    /// Sequence number of `events[0]`.
    head: u64,
    /// The object of an event to the sequence number of its latest waiting event.
    latest: HashMap<u64, u64>,
    closed: bool,
}

#[derive(Default)]
pub(crate) struct WatchQueue {
    state: Mutex<State>,
    notify: Notify,
    hasher: RandomState,
}

/// Which object an event is about (pods by cluster and name, deployments and HPAs by
/// cluster and service); `None` for events that are never merged.
fn object(e: &ClusterEvent) -> Option<(u8, &crate::domain::ClusterId, &str)> {
    match e {
        ClusterEvent::Pod(p) => Some((0, &p.cluster, &p.name)),
        ClusterEvent::PodDeleted { cluster, name } => Some((0, cluster, name)),
        ClusterEvent::Deployment(d) => Some((1, &d.cluster, &d.service)),
        ClusterEvent::DeploymentDeleted { cluster, service } => Some((1, cluster, service)),
        ClusterEvent::Hpa(h) => Some((2, &h.cluster, &h.service)),
        ClusterEvent::Synced(_)
        | ClusterEvent::Unreachable { .. }
        | ClusterEvent::Environment(_)
        | ClusterEvent::EnvironmentDeleted { .. }
        | ClusterEvent::Clock(_) => None,
    }
}

impl WatchQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue events (merging them with waiting ones when the consumer is behind) and
    /// wake the consumer.
    pub(crate) fn push_all(&self, events: impl IntoIterator<Item = ClusterEvent>) {
        let mut s = self.lock();
        for e in events {
            let key = object(&e).map(|(kind, c, name)| self.hasher.hash_one((kind, c, name)));
            if s.events.len() >= COALESCE_AT
                && let Some(key) = key
                && let Some(&seq) = s.latest.get(&key)
                && seq >= s.head
            {
                let i = (seq - s.head) as usize;
                // The same object (not merely the same hash): replace it in place.
                let same = s.events.get(i).and_then(object) == object(&e);
                if same {
                    s.events[i] = e;
                    continue;
                }
            }
            let seq = s.head + s.events.len() as u64;
            s.events.push_back(e);
            if let Some(key) = key {
                s.latest.insert(key, seq);
            }
        }
        drop(s);
        self.notify.notify_one();
    }

    /// The next waiting event, if any.
    pub(crate) fn pop(&self) -> Option<ClusterEvent> {
        let mut s = self.lock();
        let e = s.events.pop_front()?;
        s.head += 1;
        if s.events.is_empty() {
            s.latest.clear();
            // A drained flood gives its memory back.
            if s.events.capacity() > COALESCE_AT {
                s.events.shrink_to(COALESCE_AT);
                s.latest.shrink_to(COALESCE_AT);
            }
        }
        Some(e)
    }

    /// No more events will come (the platform is gone).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// Wait for the next event; `None` once the queue is closed and drained.
    pub(crate) async fn next(&self) -> Option<ClusterEvent> {
        loop {
            if let Some(e) = self.pop() {
                return Some(e);
            }
            if self.lock().closed {
                return None;
            }
            self.notify.notified().await;
        }
    }

    /// How many events wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClusterId, PodPhase, PodSummary};

    fn pod(name: &str, restarts: u32) -> ClusterEvent {
        ClusterEvent::Pod(PodSummary {
            name: name.into(),
            service: "svc".into(),
            cluster: ClusterId::new("production", "eu-west-1"),
            phase: PodPhase::Running,
            ready: true,
            restarts,
            started_at: 0,
            node: "n".into(),
            version: "1".into(),
            waiting: None,
            last_termination: None,
        })
    }

    #[test]
    fn keeps_every_event_while_the_consumer_keeps_up() {
        let q = WatchQueue::default();
        q.push_all([pod("a", 1), pod("a", 2), pod("a", 3)]);
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some(pod("a", 1)));
    }

    #[test]
    fn a_flood_keeps_one_event_per_object_with_its_latest_state() {
        let q = WatchQueue::default();
        let names: Vec<String> = (0..2000).map(|i| format!("p{i}")).collect();
        for round in 0..10 {
            q.push_all(names.iter().map(|n| pod(n, round)));
        }
        // The first COALESCE_AT events went in as they came; after that, one per pod.
        assert!(q.len() <= COALESCE_AT + names.len(), "{}", q.len());
        let mut last = HashMap::new();
        while let Some(ClusterEvent::Pod(p)) = q.pop() {
            last.insert(p.name, p.restarts);
        }
        assert_eq!(last.len(), names.len());
        assert!(
            last.values().all(|&r| r == 9),
            "every pod ends in its latest state"
        );
    }

    #[tokio::test]
    async fn next_waits_for_a_push_and_ends_when_closed() {
        let q = std::sync::Arc::new(WatchQueue::default());
        let q2 = q.clone();
        let t = tokio::spawn(async move { q2.next().await });
        tokio::task::yield_now().await;
        q.push_all([pod("a", 1)]);
        assert_eq!(t.await.unwrap(), Some(pod("a", 1)));
        q.close();
        assert_eq!(q.next().await, None);
    }
}
