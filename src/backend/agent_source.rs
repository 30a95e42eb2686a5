//! Reading the platform from `sphere agent`'s topics (`[source] agent = BROKER`, issue 15).
//!
//! One [`Feed`] per process reads the agent's compacted state and heartbeat topics from
//! their beginning to their end (no consumer group, nothing committed), then keeps
//! tailing them on one long-lived consumer. The providers here serve the reads the panes
//! and the read-side CLI make from what the feed holds — clusters (the deployments and
//! their watch), the catalog, secret metadata, flags and locks — behind the same traits
//! as every other provider, so no pane knows. Everything else (pods, logs, events,
//! environments, repositories, the freeze, the audit trail) and every action (reveal,
//! put, rollback, lock…) goes to the providers the rest of the config names, through
//! the one dispatcher as before. Secret values are never in the topics.
//!
//! Freshness: each source's age is the time since its heartbeat's `last_ok`; past
//! `[source] stale_seconds` it is *stale*. While the broker cannot be reached the feed
//! keeps the last state it read and says since when (see [`Feed::status`]): the header
//! carries it through [`ReposProvider::notice`], the cluster watch marks each cluster
//! unreachable with [`STALE`] in its reason, and `--output json` carries the status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use async_trait::async_trait;
use futures::stream::BoxStream;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use super::kafka::Conn;
use super::{
    CatalogProvider, ClusterProvider, FlagsProvider, LedgerProvider, Platform, RepoInfo,
    ReposProvider, SecretsProvider,
};
use crate::agent::Heartbeat;
use crate::agent::records::{DeploymentRecord, SecretRecord};
use crate::config::agent::{AgentConfig, SourceConfig};
use crate::config::platform::KafkaConfig;
use crate::domain::access::AccessRequest;
use crate::domain::catalog::{Catalog, Entity};
use crate::domain::environment::EphemeralEnv;
use crate::domain::pod::{LogLine, LogQuery, PodDetails, PodEvent};
use crate::domain::{
    AuditRecord, ClusterEvent, ClusterId, ClusterSnapshot, DeploymentSummary, Details, FlagState,
    Freeze, Lock, Outcome, Scope, SecretListing, SecretMeta, SecretValue, Timestamp, Topology,
};

/// How a cluster's unreachable reason starts when it is the agent's data that is not
/// current (the clusters source is stale, or the broker cannot be reached), not the
/// cluster itself: the header then says "stale".
pub const STALE: &str = "agent: stale";

/// How often the tail asks the broker for the topics' ends (and so notices it is gone),
/// and re-evaluates each source's age.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Reading the topics to their end, the broker is not asked for their ends again while
/// records come; after this long without one, it is.
const STALL: Duration = Duration::from_secs(3);

/// How long one look at the topics' ends may wait for each answer.
const LOOK_TIMEOUT: Duration = Duration::from_secs(10);

fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the feed holds: the latest record of every key, decoded, and each source's
/// heartbeat.
#[derive(Default)]
struct Held {
    deployments: BTreeMap<String, DeploymentRecord>,
    locks: BTreeMap<String, Lock>,
    catalog: BTreeMap<String, Entity>,
    secrets: BTreeMap<String, SecretRecord>,
    flags: BTreeMap<String, FlagState>,
    beats: BTreeMap<String, Heartbeat>,
    /// Bumped whenever a catalog record changes (the built catalog is kept until then).
    catalog_gen: u64,
    built: Option<(u64, Arc<Catalog>)>,
    /// The topics have been read to their end once.
    caught_up: bool,
    /// The topics that did not exist at the last look (the agent has not run yet).
    missing: Vec<String>,
    /// The broker's last error, and since when it has failed (wall clock).
    broker_error: Option<(String, Timestamp)>,
    /// The last time the broker answered.
    last_contact: Option<Timestamp>,
    /// Records that were not what their key says (logged once each).
    bad: u64,
}

impl Held {
    fn apply_state(&mut self, key: &str, payload: Option<&[u8]>) {
        fn put<T: serde::de::DeserializeOwned>(
            map: &mut BTreeMap<String, T>,
            key: &str,
            payload: Option<&[u8]>,
            bad: &mut u64,
        ) -> bool {
            match payload {
                None => map.remove(key).is_some(),
                Some(p) => match serde_json::from_slice::<T>(p) {
                    Ok(v) => {
                        map.insert(key.to_string(), v);
                        true
                    }
                    Err(e) => {
                        *bad += 1;
                        tracing::warn!(
                            "agent record {}: not readable: {e}",
                            crate::domain::text::sanitize(key)
                        );
                        false
                    }
                },
            }
        }
        let bad = &mut self.bad;
        match key.split('/').next() {
            Some("clusters") => {
                put(&mut self.deployments, key, payload, bad);
            }
            Some("locks") => {
                put(&mut self.locks, key, payload, bad);
            }
            Some("catalog") => {
                // Bumped when a catalog record changed: the built catalog is old.
                self.catalog_gen += u64::from(put(&mut self.catalog, key, payload, bad));
            }
            Some("secrets") => {
                put(&mut self.secrets, key, payload, bad);
            }
            Some("flags") => {
                put(&mut self.flags, key, payload, bad);
            }
            _ => {}
        }
    }

    fn apply_beat(&mut self, key: &str, payload: Option<&[u8]>) {
        match payload {
            None => {
                self.beats.remove(key);
            }
            Some(p) => match serde_json::from_slice::<Heartbeat>(p) {
                Ok(b) => {
                    self.beats.insert(key.to_string(), b);
                }
                Err(e) => {
                    self.bad += 1;
                    tracing::warn!("agent heartbeat {}: not readable: {e}", key.escape_debug());
                }
            },
        }
    }
}

/// One source as the agent last told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceAge {
    pub source: String,
    /// Seconds since the agent last read the source whole; `None`: never.
    pub age_seconds: Option<i64>,
    /// Older than `[source] stale_seconds` (or never read, or no heartbeat).
    pub stale: bool,
    /// Why the agent's last read failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The clusters source: each cluster's own age (one that cannot be read is stale
    /// alone, the others stay current).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterAge>,
}

/// One cluster as the agent last told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterAge {
    /// `ENV/REGION`.
    pub cluster: String,
    /// Seconds since the agent's watch of it was last current; `None`: never.
    pub age_seconds: Option<i64>,
    /// Older than `[source] stale_seconds`, or never current.
    pub stale: bool,
    /// Why the agent cannot read it, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where the platform was read from, and how current it is (`--output json`: `agent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedStatus {
    /// The broker (`[source] agent`).
    pub broker: String,
    /// The broker answered at the last look.
    pub reachable: bool,
    /// Why it did not, and since when (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<Timestamp>,
    /// The topics were read to their end at least once (else nothing is known yet).
    pub caught_up: bool,
    /// Topics that do not exist yet (the agent has not published).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_topics: Vec<String>,
    pub stale_after_seconds: u64,
    pub sources: Vec<SourceAge>,
}

impl FeedStatus {
    /// The sources that are stale.
    pub fn stale(&self) -> impl Iterator<Item = &SourceAge> {
        self.sources.iter().filter(|s| s.stale)
    }

    /// The clusters that are stale on their own (the clusters source is current).
    pub fn stale_clusters(&self) -> impl Iterator<Item = &ClusterAge> {
        self.source("clusters")
            .filter(|s| !s.stale)
            .into_iter()
            .flat_map(|s| s.clusters.iter().filter(|c| c.stale))
    }

    fn source(&self, name: &str) -> Option<&SourceAge> {
        self.sources.iter().find(|s| s.source == name)
    }

    /// What the header says: `None` when everything is current.
    pub fn notice(&self) -> Option<String> {
        if !self.reachable {
            let since = self
                .unreachable_since
                .map(|t| format!(" {}", age_text(now() - t)))
                .unwrap_or_default();
            return Some(if self.caught_up {
                format!("agent unreachable{since}: last state kept")
            } else {
                format!("agent unreachable{since}: nothing read yet")
            });
        }
        if !self.caught_up {
            return Some("agent: reading…".to_string());
        }
        if !self.missing_topics.is_empty() {
            return Some("agent: nothing published yet".to_string());
        }
        let mut stale: Vec<String> = self
            .stale()
            .map(|s| match s.age_seconds {
                Some(a) => format!("{} {}", s.source, age_text(a)),
                None => s.source.clone(),
            })
            .collect();
        stale.extend(self.stale_clusters().map(|c| match c.age_seconds {
            Some(a) => format!("cluster {} {}", c.cluster, age_text(a)),
            None => format!("cluster {}", c.cluster),
        }));
        (!stale.is_empty()).then(|| format!("agent stale: {}", stale.join(", ")))
    }

    /// One line per problem, for stderr.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!(
                "agent at {}: {}; the last state read is kept",
                self.broker, e
            ));
        }
        for t in &self.missing_topics {
            out.push(format!(
                "agent at {}: topic {t} does not exist: is `sphere agent` running?",
                self.broker
            ));
        }
        for s in self.stale() {
            let age = match s.age_seconds {
                Some(a) => format!("last read {} ago", age_text(a)),
                None => "never read".to_string(),
            };
            let why = s
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            out.push(format!(
                "agent: {} is stale ({age}, more than {} s){why}",
                s.source, self.stale_after_seconds
            ));
        }
        for c in self.stale_clusters() {
            let age = match c.age_seconds {
                Some(a) => format!("last read {} ago", age_text(a)),
                None => "never read".to_string(),
            };
            let why = c
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            out.push(format!(
                "agent: cluster {} is stale ({age}, more than {} s){why}",
                c.cluster, self.stale_after_seconds
            ));
        }
        out
    }
}

/// `75s`, `3m`, `2h`, `4d`.
pub fn age_text(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

struct Shared {
    held: Mutex<Held>,
    /// Bumped on every change of what is held or of how current it is.
    changed: tokio::sync::watch::Sender<u64>,
    stop: AtomicBool,
    stale_after: Duration,
    timeout: Duration,
    broker: String,
}

impl Shared {
    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The agent's topics, read to the end and tailed by one consumer on its own thread.
pub struct Feed {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // The thread looks at the flag at least every 200 ms; it is not waited for.
        drop(lock(&self.thread).take());
    }
}

impl Feed {
    /// Starts reading `[source] agent`'s broker: the topics are `agent`'s (the same
    /// file's `[agent]`), else their defaults.
    pub fn start(source: &SourceConfig, agent: Option<&AgentConfig>) -> Result<Arc<Feed>> {
        let broker = source
            .agent
            .clone()
            .ok_or_else(|| anyhow!("[source] agent names no broker"))?;
        let topics = agent.cloned().unwrap_or_default();
        let mut properties = source.properties.clone();
        properties.insert("bootstrap.servers".to_string(), broker.clone());
        let conn = Conn::new(&KafkaConfig {
            properties,
            timeout_seconds: source.timeout_seconds.max(1),
            ..KafkaConfig::default()
        });
        let (changed, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            held: Mutex::new(Held::default()),
            changed,
            stop: AtomicBool::new(false),
            stale_after: Duration::from_secs(source.stale_seconds.max(1)),
            timeout: Duration::from_secs(source.timeout_seconds.max(1)),
            broker,
        });
        let tail = Tail {
            shared: shared.clone(),
            conn,
            topics: [topics.state_topic, topics.heartbeat_topic],
        };
        let thread = std::thread::Builder::new()
            .name("sphere-agent-feed".into())
            .spawn(move || tail.run())
            .map_err(|e| anyhow!("cannot start reading the agent's topics: {e}"))?;
        Ok(Arc::new(Feed {
            shared,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Waits until the topics have been read to their end once, at most `[source]
    /// timeout_seconds`; an error saying why not (the broker unreachable, say).
    pub async fn ready(&self) -> Result<()> {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if lock(&self.shared.held).caught_up {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        match tokio::time::timeout(self.shared.timeout, wait).await {
            Ok(()) if lock(&self.shared.held).caught_up => Ok(()),
            _ => {
                let held = lock(&self.shared.held);
                let why = held
                    .broker_error
                    .as_ref()
                    .map_or_else(|| "no answer".to_string(), |(e, _)| e.clone());
                Err(anyhow!(
                    "the agent's topics at {} could not be read to their end within {:?} ([source] agent): {why}",
                    self.shared.broker,
                    self.shared.timeout
                ))
            }
        }
    }

    /// Each source's age and staleness, and whether the broker answers.
    pub fn status(&self) -> FeedStatus {
        let held = lock(&self.shared.held);
        status_of(&held, &self.shared)
    }

    /// Tells of every change (a record, a heartbeat, a source going stale, the broker
    /// going away or coming back).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// The source has a heartbeat (the agent watches it), or an error saying it does not.
    fn published(&self, source: &str) -> Result<()> {
        let held = lock(&self.shared.held);
        if held.beats.contains_key(source) {
            return Ok(());
        }
        Err(anyhow!(
            "the agent at {} publishes no {source} (no heartbeat of it): add it to its [agent] sources, or remove [source] agent to read {source} directly",
            self.shared.broker
        ))
    }

    fn deployments(&self, scope: &Scope) -> Vec<DeploymentSummary> {
        let held = lock(&self.shared.held);
        held.deployments
            .values()
            .map(summary)
            .filter(|d| scope.contains(&d.cluster))
            .collect()
    }

    fn clusters_seen(&self) -> BTreeSet<ClusterId> {
        let held = lock(&self.shared.held);
        held.deployments
            .values()
            .map(|d| ClusterId::new(d.env.clone(), d.region.clone()))
            .collect()
    }

    fn catalog(&self) -> Arc<Catalog> {
        let mut held = lock(&self.shared.held);
        if let Some((g, c)) = &held.built
            && *g == held.catalog_gen
        {
            return c.clone();
        }
        let entities: Vec<Entity> = held.catalog.values().cloned().collect();
        let c = Arc::new(Catalog::from_resolved(entities, Vec::new()));
        held.built = Some((held.catalog_gen, c.clone()));
        c
    }
}

fn summary(d: &DeploymentRecord) -> DeploymentSummary {
    DeploymentSummary {
        service: d.service.clone(),
        cluster: ClusterId::new(d.env.clone(), d.region.clone()),
        version: d.version.clone(),
        desired: d.desired,
        ready: d.ready,
        updated: d.updated,
        rollout: d.rollout,
        // Not in the record (it would change by itself): unknown.
        updated_at: 0,
    }
}

fn status_of(held: &Held, shared: &Shared) -> FeedStatus {
    let at = now();
    let limit = i64::try_from(shared.stale_after.as_secs()).unwrap_or(i64::MAX);
    let sources = held
        .beats
        .values()
        .map(|b| {
            let age = b.last_ok.map(|t| (at - t).max(0));
            let clusters = b
                .clusters
                .iter()
                .map(|(name, c)| {
                    let age = c.last_ok.map(|t| (at - t).max(0));
                    ClusterAge {
                        cluster: name.clone(),
                        age_seconds: age,
                        stale: age.is_none_or(|a| a > limit),
                        error: c.error.clone(),
                    }
                })
                .collect();
            SourceAge {
                source: b.source.clone(),
                age_seconds: age,
                stale: age.is_none_or(|a| a > limit),
                error: b.error.clone(),
                clusters,
            }
        })
        .collect();
    FeedStatus {
        broker: shared.broker.clone(),
        reachable: held.broker_error.is_none(),
        error: held.broker_error.as_ref().map(|(e, _)| e.clone()),
        unreachable_since: held.broker_error.as_ref().map(|(_, t)| *t),
        caught_up: held.caught_up,
        missing_topics: held.missing.clone(),
        stale_after_seconds: shared.stale_after.as_secs(),
        sources,
    }
}

/// The reading thread: one consumer, assigned every partition of both topics.
struct Tail {
    shared: Arc<Shared>,
    conn: Conn,
    /// The state topic, then the heartbeat topic.
    topics: [String; 2],
}

/// The next offset to read of each (topic index, partition).
type Positions = BTreeMap<(usize, i32), i64>;

impl Tail {
    fn run(self) {
        let mut consumer: Option<BaseConsumer> = None;
        let mut positions = Positions::new();
        let mut next_check = Instant::now();
        let mut last_status: Option<(bool, Vec<bool>)> = None;
        // The topics' ends at the first answer: read to there, the feed is caught up.
        let mut target: Option<Positions> = None;
        // Where the reading was at the last look, and when a record last came.
        let mut looked_at = Positions::new();
        let mut last_record = Instant::now();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let c = match &consumer {
                Some(c) => c,
                None => match self.consumer() {
                    Ok(c) => consumer.insert(c),
                    Err(e) => {
                        self.failed(format!("{e:#}"));
                        std::thread::sleep(CHECK_EVERY);
                        continue;
                    }
                },
            };
            if Instant::now() >= next_check {
                next_check = Instant::now() + CHECK_EVERY;
                // Reading to the end, with records coming: the ends are known, the
                // broker is answering; not asked again until no record has come for
                // STALL. (On tansu each ask lists every batch the topic holds: at the
                // bench scale, 335k, which slowed the reading itself.)
                if positions != looked_at {
                    last_record = Instant::now();
                    looked_at = positions.clone();
                }
                let reading = last_record.elapsed() < STALL
                    && target
                        .as_ref()
                        .is_some_and(|t| !t.is_empty() && !lock(&self.shared.held).caught_up);
                if reading {
                    if let Some(t) = &target {
                        self.progress(&positions, t);
                    }
                } else {
                    match self.check(c, &mut positions, &mut target) {
                        Ok(()) => {}
                        Err(e) => self.failed(format!("{e:#}")),
                    }
                }
                // A source going stale tells nobody by itself: look at the ages.
                let status = {
                    let held = lock(&self.shared.held);
                    let s = status_of(&held, &self.shared);
                    (s.reachable, s.sources.iter().map(|a| a.stale).collect())
                };
                if last_status.as_ref() != Some(&status) {
                    last_status = Some(status);
                    self.shared.bump();
                }
            }
            if positions.is_empty() {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            self.drain(c, &mut positions);
        }
    }

    fn consumer(&self) -> Result<BaseConsumer> {
        let mut c = self.conn.client_config();
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        // librdkafka wants a group for `assign`; it is never joined, nothing committed.
        c.set("group.id", "sphere-agent-reader");
        // How long the broker may hold a fetch that has nothing new (librdkafka: 500
        // ms). tansu holds every fetch half that long even when it returns records:
        // reading the topics to their end at the bench scale took a fetch per ~5 MB
        // and waited 250 ms after each. A tailing client asks 10 times a second.
        if !self.conn.sets("fetch.wait.max.ms") {
            c.set("fetch.wait.max.ms", "100");
        }
        c.create()
            .map_err(|e| anyhow!("creating a Kafka consumer for {}: {e}", self.shared.broker))
    }

    fn failed(&self, why: String) {
        let why = crate::domain::text::sanitize(&why).into_owned();
        let mut held = lock(&self.shared.held);
        let changed = held.broker_error.as_ref().is_none_or(|(e, _)| *e != why);
        if held.broker_error.is_none() {
            tracing::warn!("the agent's broker: {why}; keeping the last state");
        }
        let since = held.broker_error.as_ref().map_or_else(now, |(_, t)| *t);
        held.broker_error = Some((why, since));
        drop(held);
        if changed {
            self.shared.bump();
        }
    }

    /// Asks for both topics' partitions and ends: assigns what is new, notices a topic
    /// made again (its end before where the reading is: read it again from the start),
    /// and whether everything has been read to the end once.
    fn check(
        &self,
        c: &BaseConsumer,
        positions: &mut Positions,
        target: &mut Option<Positions>,
    ) -> Result<()> {
        // Each ask at most LOOK_TIMEOUT: an answer that never comes (seen on tansu
        // under load: a ListOffsets of the watermarks not answered) held the reading
        // thread for the whole `[source] timeout_seconds`, and the client never went
        // live in that time; failed now, it is asked again at the next look.
        let timeout = self.shared.timeout.min(LOOK_TIMEOUT);
        let at = &self.shared.broker;
        let mut missing = Vec::new();
        let mut ends: Positions = Positions::new();
        let mut lows: Positions = Positions::new();
        for (i, topic) in self.topics.iter().enumerate() {
            let md = c
                .fetch_metadata(Some(topic), timeout)
                .map_err(|e| anyhow!("Kafka at {at} is unreachable (topic {topic}): {e}"))?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                missing.push(topic.clone());
                continue;
            };
            if let Some(err) = t.error() {
                match RDKafkaErrorCode::from(err) {
                    RDKafkaErrorCode::UnknownTopicOrPartition => {
                        missing.push(topic.clone());
                        continue;
                    }
                    e => return Err(anyhow!("Kafka topic {topic} at {at}: {e}")),
                }
            }
            for p in t.partitions() {
                let (low, high) = c.fetch_watermarks(topic, p.id(), timeout).map_err(|e| {
                    anyhow!(
                        "Kafka at {at}: the offsets of topic {topic} partition {} could not be read: {e}",
                        p.id()
                    )
                })?;
                ends.insert((i, p.id()), high);
                lows.insert((i, p.id()), low);
            }
        }
        let mut reassign = false;
        let mut restarted = BTreeSet::new();
        for (k, &high) in &ends {
            match positions.get(k) {
                None => {
                    positions.insert(*k, lows[k]);
                    reassign = true;
                }
                Some(&pos) if pos > high => {
                    restarted.insert(k.0);
                    reassign = true;
                }
                Some(_) => {}
            }
        }
        if !restarted.is_empty() {
            tracing::warn!("an agent topic was made again: reading it from its start");
            let mut held = lock(&self.shared.held);
            for i in &restarted {
                for (k, p) in positions.iter_mut() {
                    if k.0 == *i {
                        *p = lows.get(k).copied().unwrap_or(0);
                    }
                }
                if *i == 0 {
                    // Read to an end once already: what the new topic holds arrives
                    // as it is tailed.
                    let old = std::mem::take(&mut *held);
                    *held = Held {
                        beats: old.beats,
                        catalog_gen: old.catalog_gen + 1,
                        caught_up: old.caught_up,
                        missing: old.missing,
                        broker_error: old.broker_error,
                        last_contact: old.last_contact,
                        bad: old.bad,
                        ..Held::default()
                    };
                } else {
                    held.beats.clear();
                }
            }
        }
        if reassign {
            let mut tpl = TopicPartitionList::new();
            for (&(i, p), &pos) in positions.iter() {
                tpl.add_partition_offset(&self.topics[i], p, Offset::Offset(pos))
                    .map_err(|e| anyhow!("assigning topic {}: {e}", self.topics[i]))?;
            }
            c.assign(&tpl)
                .map_err(|e| anyhow!("reading the agent's topics at {at}: {e}"))?;
        }
        // Past a gap at the end (compaction, markers) no record comes: the consumer's
        // position says how far it got.
        if !reassign && let Ok(pos) = c.position() {
            for e in pos.elements() {
                let i = self.topics.iter().position(|t| t == e.topic());
                if let (Some(i), Offset::Offset(o)) = (i, e.offset())
                    && let Some(p) = positions.get_mut(&(i, e.partition()))
                    && o > *p
                {
                    *p = o;
                }
            }
        }
        let target = target.get_or_insert_with(|| ends.clone());
        tracing::debug!(?positions, ?target, "agent topics: looked at the ends");
        let mut held = lock(&self.shared.held);
        let mut changed = held.broker_error.take().is_some();
        if changed {
            tracing::info!("the agent's broker answers again");
        }
        held.last_contact = Some(now());
        if held.missing != missing {
            held.missing = missing;
            changed = true;
        }
        drop(held);
        if changed {
            self.shared.bump();
        }
        self.progress(positions, target);
        Ok(())
    }

    /// Marks the feed caught up once the reading has reached the ends of the first look.
    fn progress(&self, positions: &Positions, target: &Positions) {
        let done = target
            .iter()
            .all(|(k, high)| positions.get(k).is_some_and(|p| p >= high));
        if !done {
            return;
        }
        let mut held = lock(&self.shared.held);
        if held.caught_up {
            return;
        }
        held.caught_up = true;
        drop(held);
        tracing::debug!(?positions, "agent topics: read to their end");
        self.shared.bump();
    }

    /// Reads what has come (up to 200 ms of waiting) and applies it at once.
    fn drain(&self, c: &BaseConsumer, positions: &mut Positions) {
        let mut got = Vec::new();
        let mut wait = Duration::from_millis(200);
        let mut events = 0;
        while got.len() < 10_000 && events < 20_000 {
            events += 1;
            match c.poll(wait) {
                Some(Ok(m)) => {
                    let Some(i) = self.topics.iter().position(|t| t == m.topic()) else {
                        continue;
                    };
                    positions.insert((i, m.partition()), m.offset() + 1);
                    if let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) {
                        got.push((i, key.to_string(), m.payload().map(<[u8]>::to_vec)));
                    }
                    wait = Duration::ZERO;
                }
                // librdkafka retries a connection that drops; the checks say so. The
                // errors of an outage queue up (one per connection attempt) ahead of
                // the records that follow it: passed over here, all of them, or the
                // feed would take one per round and lag the broker's return by as many
                // rounds (45 s after a 20 s outage against tansu on S3).
                Some(Err(e)) => {
                    tracing::debug!("agent topics: {e}");
                    wait = Duration::ZERO;
                }
                None => break,
            }
        }
        if got.is_empty() {
            return;
        }
        let mut held = lock(&self.shared.held);
        for (i, key, payload) in &got {
            if *i == 0 {
                held.apply_state(key, payload.as_deref());
            } else {
                held.apply_beat(key, payload.as_deref());
            }
        }
        drop(held);
        self.shared.bump();
    }
}

/// `platform` as `config` says to read it: through `sphere agent`'s topics when `[source]
/// agent` names its broker (the feed starts reading now), else as it is.
pub fn from_config(platform: Platform, config: &crate::config::Config) -> Result<Platform> {
    match &config.agent_source {
        Some(source) if source.agent.is_some() => {
            let feed = Feed::start(source, config.agent.as_ref())?;
            Ok(wrap(platform, feed))
        }
        _ => Ok(platform),
    }
}

/// The platform `inner` (the configured one, or the demo), reading what the agent
/// publishes from `feed` instead: the catalog, the clusters' deployments and watch,
/// secret metadata, flags and locks. Everything else, every action included, is
/// `inner`'s.
pub fn wrap(inner: Platform, feed: Arc<Feed>) -> Platform {
    Platform {
        name: inner.name.clone(),
        kind: inner.kind.clone(),
        catalog: Arc::new(AgentCatalog {
            feed: feed.clone(),
            inner: inner.catalog.clone(),
        }),
        clusters: Arc::new(AgentClusters {
            feed: feed.clone(),
            inner: inner.clusters.clone(),
        }),
        secrets: Arc::new(AgentSecrets {
            feed: feed.clone(),
            inner: inner.secrets.clone(),
        }),
        repos: Arc::new(AgentRepos {
            feed: feed.clone(),
            inner: inner.repos.clone(),
        }),
        flags: Arc::new(AgentFlags {
            feed: feed.clone(),
            inner: inner.flags.clone(),
        }),
        ledger: Arc::new(AgentLedger {
            feed: feed.clone(),
            inner: inner.ledger.clone(),
        }),
        link_templates: inner.link_templates.clone(),
        webhook: inner.webhook.clone(),
        silences: inner.silences.clone(),
        agent: Some(feed),
    }
}

/// The catalog the agent publishes (entities resolved by the agent).
pub struct AgentCatalog {
    feed: Arc<Feed>,
    /// Where the golden path registers a new service (the agent publishes it after).
    inner: Arc<dyn CatalogProvider>,
}

#[async_trait]
impl CatalogProvider for AgentCatalog {
    async fn load(&self) -> Result<Arc<Catalog>> {
        self.feed.ready().await?;
        self.feed.published("catalog")?;
        Ok(self.feed.catalog())
    }

    /// What the feed holds now (the same `Arc` while no catalog record changed).
    async fn refresh(&self) -> Result<Arc<Catalog>> {
        self.load().await
    }

    async fn register(&self, descriptor_yaml: &str, location: &str) -> Result<()> {
        self.inner.register(descriptor_yaml, location).await
    }

    /// The feed tails the topic; the header's notice (the agent's freshness) is asked
    /// on the same beat.
    fn refresh_every(&self) -> Option<Duration> {
        Some(Duration::from_secs(2))
    }
}

/// Deployments from the agent; pods, logs, events, environments and every action from
/// the configured clusters.
pub struct AgentClusters {
    feed: Arc<Feed>,
    inner: Arc<dyn ClusterProvider>,
}

impl AgentClusters {
    /// Why every cluster's data is not current, if it is not.
    fn stale_reason(status: &FeedStatus) -> Option<String> {
        if !status.reachable {
            return Some(format!(
                "{STALE}: the agent's broker {} cannot be reached: {}",
                status.broker,
                status.error.as_deref().unwrap_or("no answer")
            ));
        }
        let s = status.source("clusters")?;
        s.stale.then(|| match s.age_seconds {
            Some(a) => format!(
                "{STALE}: the agent last read the clusters {} ago",
                age_text(a)
            ),
            None => format!("{STALE}: the agent has not read the clusters"),
        })
    }

    /// Why each cluster's data is not current: every cluster's when the feed as a
    /// whole is not ([`Self::stale_reason`]), else each cluster stale on its own.
    fn stale_reasons(
        status: &FeedStatus,
        all: &BTreeSet<ClusterId>,
    ) -> BTreeMap<ClusterId, String> {
        if let Some(why) = Self::stale_reason(status) {
            return all.iter().map(|c| (c.clone(), why.clone())).collect();
        }
        status
            .stale_clusters()
            .filter_map(|c| {
                let (env, region) = c.cluster.split_once('/')?;
                let why = match c.age_seconds {
                    Some(a) => format!(
                        "{STALE}: the agent last read this cluster {} ago",
                        age_text(a)
                    ),
                    None => format!("{STALE}: the agent has not read this cluster"),
                };
                let why = match &c.error {
                    Some(e) => format!("{why}: {e}"),
                    None => why,
                };
                Some((ClusterId::new(env, region), why))
            })
            .collect()
    }

    fn all_clusters(&self) -> Vec<ClusterId> {
        let mut out: Vec<ClusterId> = self.topology().clusters().collect();
        for c in self.feed.clusters_seen() {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

#[async_trait]
impl ClusterProvider for AgentClusters {
    /// The configured (or demo) clusters; with none configured, those the agent's
    /// records name.
    fn topology(&self) -> Topology {
        let t = self.inner.topology();
        if t.cluster_count() > 0 {
            return t;
        }
        // The clusters the records name, and no others (regions sorted by name).
        let seen: Vec<ClusterId> = self.feed.clusters_seen().into_iter().collect();
        let mut t = Topology::from_clusters(&seen);
        t.regions.sort();
        for regions in t.spans.values_mut() {
            regions.sort();
        }
        t
    }

    async fn whoami(&self) -> Result<Option<String>> {
        self.inner.whoami().await
    }

    /// The deployments the agent published (no pods or HPAs: it does not publish them).
    async fn snapshot(&self, scope: &Scope) -> Result<ClusterSnapshot> {
        self.feed.ready().await?;
        self.feed.published("clusters")?;
        Ok(ClusterSnapshot {
            deployments: self.feed.deployments(scope),
            pods: Vec::new(),
            hpas: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// Every deployment once the topics are read to their end (a `Synced` per
    /// cluster), then each change as the feed tails it; while the agent's clusters are
    /// stale or the broker is away, each cluster is unreachable with a reason starting
    /// [`STALE`], and its deployments are kept.
    fn watch(&self) -> BoxStream<'static, ClusterEvent> {
        let (tx, rx) = tokio::sync::mpsc::channel::<ClusterEvent>(1024);
        let feed = self.feed.clone();
        let clusters = self.all_clusters();
        tokio::spawn(async move {
            let mut changed = feed.subscribe();
            // Read to the end first; a broker away at start is said, then waited for.
            loop {
                match feed.ready().await {
                    Ok(()) => break,
                    Err(e) => {
                        for c in &clusters {
                            let ev = ClusterEvent::Unreachable {
                                cluster: c.clone(),
                                error: format!("{STALE}: {e:#}"),
                            };
                            if tx.send(ev).await.is_err() {
                                return;
                            }
                        }
                        if changed.changed().await.is_err() {
                            return;
                        }
                    }
                }
            }
            let mut sent: BTreeMap<(ClusterId, String), DeploymentSummary> = BTreeMap::new();
            let mut synced: BTreeSet<ClusterId> = BTreeSet::new();
            let mut stale: BTreeMap<ClusterId, String> = BTreeMap::new();
            loop {
                let now: BTreeMap<(ClusterId, String), DeploymentSummary> = feed
                    .deployments(&Scope::default())
                    .into_iter()
                    .map(|d| ((d.cluster.clone(), d.service.clone()), d))
                    .collect();
                let mut all: BTreeSet<ClusterId> = clusters.iter().cloned().collect();
                all.extend(now.keys().map(|(c, _)| c.clone()));
                let why = AgentClusters::stale_reasons(&feed.status(), &all);
                let recovered: BTreeSet<&ClusterId> =
                    stale.keys().filter(|c| !why.contains_key(*c)).collect();
                let mut events = Vec::new();
                for (k, d) in &now {
                    // After staleness, each deployment of the cluster again: that
                    // clears its unreachable mark.
                    if recovered.contains(&k.0) || sent.get(k) != Some(d) {
                        events.push(ClusterEvent::Deployment(d.clone()));
                    }
                }
                for (cluster, service) in sent.keys().filter(|k| !now.contains_key(*k)) {
                    events.push(ClusterEvent::DeploymentDeleted {
                        cluster: cluster.clone(),
                        service: service.clone(),
                    });
                }
                for c in &all {
                    if synced.insert(c.clone()) {
                        events.push(ClusterEvent::Synced(c.clone()));
                    }
                }
                for (c, w) in &why {
                    if stale.get(c) != Some(w) {
                        events.push(ClusterEvent::Unreachable {
                            cluster: c.clone(),
                            error: w.clone(),
                        });
                    }
                }
                stale = why;
                sent = now;
                for ev in events {
                    if tx.send(ev).await.is_err() {
                        return;
                    }
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        });
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|ev| (ev, rx))
        }))
    }

    async fn restart(&self, service: &str, cluster: &ClusterId) -> Result<()> {
        self.inner.restart(service, cluster).await
    }

    async fn set_hpa(&self, service: &str, cluster: &ClusterId, min: u32, max: u32) -> Result<()> {
        self.inner.set_hpa(service, cluster, min, max).await
    }

    async fn create_deployment(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
        replicas: u32,
    ) -> Result<()> {
        self.inner
            .create_deployment(service, cluster, version, replicas)
            .await
    }

    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    async fn environments(&self) -> Result<Vec<EphemeralEnv>> {
        self.inner.environments().await
    }

    async fn create_environment(&self, env: &EphemeralEnv) -> Result<usize> {
        self.inner.create_environment(env).await
    }

    async fn extend_environment(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        self.inner.extend_environment(name, expires_at).await
    }

    async fn pod_details(&self, cluster: &ClusterId, pod: &str) -> Result<PodDetails> {
        self.inner.pod_details(cluster, pod).await
    }

    async fn events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<PodEvent>> {
        self.inner.events(cluster, service, pod).await
    }

    async fn logs(
        &self,
        cluster: &ClusterId,
        pod: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, LogLine>> {
        self.inner.logs(cluster, pod, query).await
    }

    async fn delete_environment(&self, name: &str) -> Result<usize> {
        self.inner.delete_environment(name).await
    }
}

/// Secret metadata from the agent; values (reveal) and every change from the store.
pub struct AgentSecrets {
    feed: Arc<Feed>,
    inner: Arc<dyn SecretsProvider>,
}

/// The agent's keyed digest as the in-memory value hash drift compares: equal digests,
/// equal hashes (its first 8 bytes).
fn digest_hash(digest: &str) -> Option<u64> {
    u64::from_str_radix(digest.get(..16)?, 16).ok()
}

#[async_trait]
impl SecretsProvider for AgentSecrets {
    async fn list(&self, service: Option<&str>) -> Result<Vec<SecretMeta>> {
        self.feed.ready().await?;
        self.feed.published("secrets")?;
        let held = lock(&self.feed.shared.held);
        Ok(held
            .secrets
            .values()
            .filter(|s| service.is_none_or(|n| s.service == n))
            .map(|s| SecretMeta {
                name: s.name.clone(),
                service: s.service.clone(),
                env: s.env.clone(),
                region: s.region.clone(),
                key: s.key.clone(),
                version_id: s.version_id.clone(),
                stages: s.stages.clone(),
                last_changed: s.last_changed,
                tags: s.tags.clone(),
                value_hash: s.value_hash.as_deref().and_then(digest_hash),
            })
            .collect())
    }

    async fn list_partial(&self, service: Option<&str>) -> Result<SecretListing> {
        Ok(SecretListing {
            secrets: self.list(service).await?,
            failed: Vec::new(),
        })
    }

    async fn put(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: SecretValue,
    ) -> Result<()> {
        self.inner.put(service, env, region, key, value).await
    }

    async fn delete(&self, service: &str, env: &str, region: &str, key: &str) -> Result<()> {
        self.inner.delete(service, env, region, key).await
    }

    async fn reveal(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<SecretValue> {
        self.inner.reveal(service, env, region, key).await
    }

    async fn copy(
        &self,
        service: &str,
        env: &str,
        key: &str,
        from_region: &str,
        to_region: &str,
    ) -> Result<()> {
        self.inner
            .copy(service, env, key, from_region, to_region)
            .await
    }
}

/// Flags from the agent; changes to the flag commands topic as before.
pub struct AgentFlags {
    feed: Arc<Feed>,
    inner: Arc<dyn FlagsProvider>,
}

#[async_trait]
impl FlagsProvider for AgentFlags {
    async fn list(&self) -> Result<Vec<FlagState>> {
        self.feed.ready().await?;
        self.feed.published("flags")?;
        Ok(lock(&self.feed.shared.held)
            .flags
            .values()
            .cloned()
            .collect())
    }

    async fn set(
        &self,
        name: &str,
        value: &str,
        percentage: Option<u8>,
        cluster: Option<&ClusterId>,
    ) -> Result<()> {
        self.inner.set(name, value, percentage, cluster).await
    }
}

/// The repository host as configured; its header notice also tells how current the
/// agent's data is.
pub struct AgentRepos {
    feed: Arc<Feed>,
    inner: Arc<dyn ReposProvider>,
}

#[async_trait]
impl ReposProvider for AgentRepos {
    fn org(&self) -> Option<String> {
        self.inner.org()
    }
    /// What git declares is read from the repository itself (the agent does not
    /// publish it).
    async fn declared(&self) -> Result<Option<crate::domain::drift::GitDeclared>> {
        self.inner.declared().await
    }
    async fn whoami(&self) -> Result<Option<String>> {
        self.inner.whoami().await
    }
    fn notice(&self) -> Option<String> {
        let parts: Vec<String> = [self.feed.status().notice(), self.inner.notice()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
    async fn repo(&self, slug: &str) -> Result<Option<RepoInfo>> {
        self.inner.repo(slug).await
    }
    async fn releases(&self, service: &str) -> Result<Vec<String>> {
        self.inner.releases(service).await
    }
    async fn rollback(&self, service: &str, cluster: &ClusterId, version: &str) -> Result<()> {
        self.inner.rollback(service, cluster, version).await
    }
    async fn create_from_template(
        &self,
        slug: &str,
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.inner
            .create_from_template(slug, template, values)
            .await
    }
    async fn write_file(&self, slug: &str, path: &str, content: &str) -> Result<bool> {
        self.inner.write_file(slug, path, content).await
    }
    async fn file(&self, slug: &str, path: &str) -> Result<Option<String>> {
        self.inner.file(slug, path).await
    }
}

/// Locks from the agent; the freeze, the audit trail, access requests and every change
/// from the configured ledger.
pub struct AgentLedger {
    feed: Arc<Feed>,
    inner: Arc<dyn LedgerProvider>,
}

#[async_trait]
impl LedgerProvider for AgentLedger {
    async fn locks(&self) -> Result<Vec<Lock>> {
        self.feed.ready().await?;
        self.feed.published("locks")?;
        Ok(lock(&self.feed.shared.held)
            .locks
            .values()
            .cloned()
            .collect())
    }
    /// An action checks the store's locks, not the agent's copy (as old as the agent's
    /// poll): a lock taken a moment ago must stop it.
    async fn locks_now(&self) -> Result<Vec<Lock>> {
        self.inner.locks_now().await
    }
    async fn freeze(&self) -> Result<Freeze> {
        self.inner.freeze().await
    }
    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        self.inner.audit(since).await
    }
    async fn audit_backlog(&self) -> Result<Option<String>> {
        self.inner.audit_backlog().await
    }
    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        self.inner.add_lock(lock).await
    }
    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        self.inner.remove_locks(service, env, region, by).await
    }
    async fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        self.inner.set_freeze(freeze).await
    }
    async fn append_audit_with(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        details: &Details,
        outcome: Outcome,
    ) -> Result<u64> {
        self.inner
            .append_audit_with(actor, action, target, reason, details, outcome)
            .await
    }
    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()> {
        self.inner
            .set_audit_outcome_with(id, outcome, details)
            .await
    }
    async fn request_access(&self, request: AccessRequest) -> Result<u64> {
        self.inner.request_access(request).await
    }
    async fn access_requests(&self) -> Result<Vec<AccessRequest>> {
        self.inner.access_requests().await
    }
    async fn decide_access(
        &self,
        id: u64,
        granted: bool,
        by: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<AccessRequest> {
        self.inner.decide_access(id, granted, by, expires_at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            held: Mutex::new(Held::default()),
            changed: tokio::sync::watch::channel(0).0,
            stop: AtomicBool::new(false),
            stale_after: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
            broker: "b:9092".into(),
        }
    }

    fn beat(source: &str, last_ok: Option<Timestamp>) -> Heartbeat {
        Heartbeat {
            source: source.into(),
            ok: last_ok.is_some(),
            error: None,
            at: now(),
            last_ok,
            records: 1,
            clusters: BTreeMap::new(),
        }
    }

    #[test]
    fn a_source_is_stale_past_the_threshold_and_the_broker_away_is_said() {
        let s = shared();
        let mut held = Held {
            caught_up: true,
            ..Held::default()
        };
        held.beats
            .insert("clusters".into(), beat("clusters", Some(now() - 5)));
        held.beats
            .insert("secrets".into(), beat("secrets", Some(now() - 600)));
        held.beats.insert("flags".into(), beat("flags", None));
        let st = status_of(&held, &s);
        let stale: Vec<&str> = st.stale().map(|a| a.source.as_str()).collect();
        assert_eq!(stale, vec!["flags", "secrets"]);
        assert_eq!(
            st.notice().as_deref(),
            Some("agent stale: flags, secrets 10m")
        );
        assert_eq!(AgentClusters::stale_reason(&st), None);
        held.broker_error = Some(("refused".into(), now() - 30));
        let st = status_of(&held, &s);
        assert!(!st.reachable);
        let n = st.notice().unwrap();
        assert!(
            n.starts_with("agent unreachable 3") && n.ends_with("last state kept"),
            "{n}"
        );
        let why = AgentClusters::stale_reason(&st).unwrap();
        assert!(why.starts_with(STALE) && why.contains("refused"), "{why}");
        assert!(st.warnings().iter().any(|w| w.contains("secrets is stale")));
    }

    #[test]
    fn one_cluster_not_read_is_stale_alone_while_the_clusters_source_is_current() {
        use crate::agent::ClusterBeat;
        let s = shared();
        let mut held = Held {
            caught_up: true,
            ..Held::default()
        };
        let mut b = beat("clusters", Some(now() - 2));
        b.clusters.insert(
            "production/us-east-1".into(),
            ClusterBeat {
                ok: true,
                error: None,
                last_ok: Some(now() - 2),
            },
        );
        b.clusters.insert(
            "production/eu-west-1".into(),
            ClusterBeat {
                ok: false,
                error: Some("watching deployments: connection refused".into()),
                last_ok: Some(now() - 300),
            },
        );
        held.beats.insert("clusters".into(), b);
        let st = status_of(&held, &s);
        assert_eq!(st.stale().count(), 0, "the source is current");
        let stale: Vec<&str> = st.stale_clusters().map(|c| c.cluster.as_str()).collect();
        assert_eq!(stale, vec!["production/eu-west-1"]);
        assert_eq!(
            st.notice().as_deref(),
            Some("agent stale: cluster production/eu-west-1 5m")
        );
        assert!(
            st.warnings()
                .iter()
                .any(|w| w.contains("cluster production/eu-west-1 is stale")
                    && w.ends_with("connection refused")),
            "{:?}",
            st.warnings()
        );
        let all: BTreeSet<ClusterId> = [
            ClusterId::new("production", "us-east-1"),
            ClusterId::new("production", "eu-west-1"),
        ]
        .into();
        let why = AgentClusters::stale_reasons(&st, &all);
        assert_eq!(why.len(), 1, "{why:?}");
        let w = &why[&ClusterId::new("production", "eu-west-1")];
        assert!(
            w.starts_with(STALE) && w.ends_with("connection refused"),
            "{w}"
        );
        // The broker away: every cluster, for the same reason.
        held.broker_error = Some(("refused".into(), now()));
        let why = AgentClusters::stale_reasons(&status_of(&held, &s), &all);
        assert_eq!(why.len(), 2);
    }

    #[test]
    fn records_are_folded_per_key_and_a_tombstone_removes_one() {
        let mut held = Held::default();
        let d = DeploymentRecord {
            service: "pay".into(),
            env: "production".into(),
            region: "eu-west-1".into(),
            version: "1.2.3".into(),
            desired: 3,
            ready: 3,
            updated: 3,
            rollout: crate::domain::RolloutState::Complete,
        };
        let key = "clusters/production/eu-west-1/pay";
        held.apply_state(key, Some(&serde_json::to_vec(&d).unwrap()));
        held.apply_state("clusters/x/y/z", Some(b"not json"));
        assert_eq!(held.deployments.len(), 1);
        assert_eq!(held.bad, 1);
        held.apply_state(key, None);
        assert!(held.deployments.is_empty());
        let g = held.catalog_gen;
        held.apply_state("catalog/component:default/pay", None);
        assert_eq!(held.catalog_gen, g, "nothing removed, nothing changed");
        assert_eq!(digest_hash("00000000000000ffabcdef"), Some(255));
        assert_eq!(digest_hash("short"), None);
    }
}
