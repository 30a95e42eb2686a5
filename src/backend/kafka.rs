//! Kafka (rdkafka): feature flags and the audit trail.
//!
//! # Flags
//!
//! sphere never holds a flag's value itself: clusters do, and publish what they hold.
//!
//! - **Commands** (`[kafka] flag_commands_topic`): [`FlagsProvider::set`] produces one
//!   record keyed by the flag's name (so every command of one flag lands in one partition,
//!   in order):
//!   ```json
//!   {"id":"1764480000123-3f2a9c","flag":"checkout-v2","value":"on","percentage":50,
//!    "clusters":["production/eu-west-1","production/us-east-1"],"sent_at":1764480000}
//!   ```
//!   `clusters` names each target as `env/region`; `percentage` is absent when each cluster
//!   keeps its own. `id` is unique (milliseconds, then random hex).
//! - **State** (`[kafka] flag_state_topic`, compacted): each cluster's flag agent publishes
//!   what it runs, keyed `flag/env/region`:
//!   ```json
//!   {"flag":"checkout-v2","env":"production","region":"eu-west-1","value":"on",
//!    "percentage":50,"ack":"1764480000123-3f2a9c","updated_at":1764480002}
//!   ```
//!   `ack` echoes the id of the last command the cluster applied (absent when it applied
//!   none, e.g. the state it starts with). An optional `"variants":["v1","v2"]` declares
//!   the values the flag takes: sphere then refuses to send any other. A record with no payload (a tombstone) means the
//!   flag no longer exists in that cluster.
//!
//! [`FlagsProvider::list`] reads both topics from the beginning with `assign` (no consumer
//! group, nothing committed) up to the high watermarks fetched first. A flag × cluster is
//! *pending* when the last command that targets it comes after (in the command topic's
//! order) the command its state acknowledges; the pending value is that command's. An
//! `ack` that names a command no longer in the topic (retention) is older than every
//! command still there.
//!
//! # Audit
//!
//! Each write of an audit record is the whole [`AuditRecord`] as JSON, keyed by its id, on
//! `[kafka] audit_topic`; a new outcome is the same id written again. Reading folds the
//! topic by id: the last write wins. Ids are milliseconds since the epoch shifted left 20
//! bits plus 20 random bits, and always increase within one process: unique across
//! processes without coordination.
//!
//! While the broker is unreachable (a produce fails or takes longer than
//! `timeout_seconds`), writes go to a journal, `audit-spool.jsonl` in the data dir
//! (appended and synced before the append returns, under a file lock shared by every
//! sphere process). The journal is replayed in order on the next write, on every read and
//! when sphere starts; every write after an unreachable one goes through the journal
//! until it has been replayed, so the order of writes is kept. A replay cut short (the
//! process dies after producing, before the journal is trimmed) sends a record again on
//! the next replay: the fold by id makes that invisible, so each record shows exactly once.
//! After a failed produce, writes go straight to the journal for `timeout_seconds`, so an
//! outage costs one timeout, not one per action.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

use super::{AuditStore, FlagsProvider};
use crate::backend::sim::state::FileLock;
use crate::config::platform::KafkaConfig;
use crate::domain::{AuditRecord, ClusterId, Details, FlagState, Outcome, PendingFlag, Timestamp};

/// A flag change as produced to the command topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagCommand {
    pub id: String,
    pub flag: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u8>,
    /// Targets as `env/region`.
    pub clusters: Vec<String>,
    pub sent_at: Timestamp,
}

/// What one cluster publishes about one flag on the state topic (key `flag/env/region`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagStateRecord {
    pub flag: String,
    pub env: String,
    pub region: String,
    pub value: String,
    pub percentage: u8,
    /// The id of the last command applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<String>,
    pub updated_at: Timestamp,
    /// The values the flag declares, when the agent knows them (`["v1","v2"]`):
    /// sphere then sends only those. Absent: any value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

impl FlagStateRecord {
    /// The record's key on the state topic.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.flag, self.env, self.region)
    }
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
}

/// How far a topic has been read: the next offset of each partition.
pub(crate) type Offsets = HashMap<i32, i64>;

/// The records of a topic after some offsets, and where the next read goes on.
pub(crate) struct Batch {
    pub(crate) records: Vec<Raw>,
    pub(crate) next: Offsets,
    /// A partition ended before where the last read stopped (the topic was deleted and
    /// created again): this read began at the start, and what was folded before is void.
    pub(crate) restarted: bool,
}

/// A topic read incrementally: each read fetches only the records after the last one,
/// folded into `S` (a compacted topic's latest value per key, say), so a read costs
/// what changed, not the topic's whole history. Concurrent reads wait for each other.
struct Tail<S> {
    state: tokio::sync::Mutex<(Offsets, S)>,
}

impl<S: Default> Tail<S> {
    fn new() -> Self {
        Tail {
            state: tokio::sync::Mutex::new((Offsets::new(), S::default())),
        }
    }

    /// Reads what is new in `topic`, folds it in, and answers `view` of the result.
    async fn read<R>(
        &self,
        conn: &Conn,
        topic: &str,
        fold: impl FnOnce(&mut S, &[Raw]),
        view: impl FnOnce(&S) -> R,
    ) -> Result<R> {
        let mut guard = self.state.lock().await;
        let batch = conn.read_topic(topic, guard.0.clone()).await?;
        if batch.restarted {
            guard.1 = S::default();
        }
        fold(&mut guard.1, &batch.records);
        guard.0 = batch.next;
        Ok(view(&guard.1))
    }
}

/// The connection settings shared by flags and audit.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    properties: BTreeMap<String, String>,
    timeout: Duration,
}

impl Conn {
    pub(crate) fn new(config: &KafkaConfig) -> Self {
        Conn {
            properties: config.properties.clone(),
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
        }
    }

    /// Where the broker is, for error messages (never the other properties: they may
    /// hold credentials).
    pub(crate) fn bootstrap(&self) -> &str {
        self.properties
            .get("bootstrap.servers")
            .map_or("(no bootstrap.servers)", String::as_str)
    }

    /// The config sets `key` itself.
    pub(crate) fn sets(&self, key: &str) -> bool {
        self.properties.contains_key(key)
    }

    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        // Reconnect soon after a broker comes back (librdkafka waits up to 10 s).
        c.set("reconnect.backoff.max.ms", "1000");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    pub(crate) fn producer(&self) -> Result<FutureProducer> {
        let mut c = self.client_config();
        if !self.properties.contains_key("message.timeout.ms") {
            c.set("message.timeout.ms", self.timeout.as_millis().to_string());
        }
        c.create()
            .with_context(|| format!("creating a Kafka producer for {}", self.bootstrap()))
    }

    /// Produce one record and wait for the broker's acknowledgement, at most the timeout.
    async fn produce(
        &self,
        producer: &FutureProducer,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<()> {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        let send = producer.send(record, self.timeout);
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), send).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(anyhow!(
                "producing to Kafka topic {topic} at {} failed: {e}",
                self.bootstrap()
            )),
            Err(_) => Err(anyhow!(
                "producing to Kafka topic {topic} at {} timed out after {:?}",
                self.bootstrap(),
                self.timeout
            )),
        }
    }

    /// The records of `topic` from the offsets `from` (a partition not in it: from its
    /// start) up to the high watermarks as they were when the read started, within the
    /// timeout.
    pub(crate) async fn read_topic(&self, topic: &str, from: Offsets) -> Result<Batch> {
        let conn = self.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || conn.read_topic_blocking(&topic, &from))
            .await
            .context("the Kafka reading task failed")?
    }

    /// A consumer's config for reading by `assign`: nothing committed or stored, no
    /// end-of-partition events, and a group id (librdkafka wants one for `assign`; the
    /// group is never joined) unless the config names one.
    pub(crate) fn reader_config(&self) -> ClientConfig {
        let mut c = self.client_config();
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        if !self.properties.contains_key("group.id") {
            c.set("group.id", "sphere-reader");
        }
        c
    }

    fn read_topic_blocking(&self, topic: &str, from: &Offsets) -> Result<Batch> {
        let deadline = Instant::now() + self.timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let at = self.bootstrap();
        let consumer: BaseConsumer = self
            .reader_config()
            .create()
            .with_context(|| format!("creating a Kafka consumer for {at}"))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), left())
            .map_err(|e| anyhow!("Kafka at {at} is unreachable (reading topic {topic}): {e}"))?;
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| anyhow!("Kafka at {at} did not describe topic {topic}"))?;
        if let Some(err) = t.error() {
            bail!(
                "Kafka topic {topic} at {at}: {}",
                RDKafkaErrorCode::from(err)
            );
        }
        let mut marks = Vec::new();
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), left())
                .map_err(|e| {
                    anyhow!(
                        "Kafka at {at}: the offsets of topic {topic} partition {} could not be read: {e}",
                        p.id()
                    )
                })?;
            marks.push((p.id(), low, high));
        }
        let restarted = (marks.iter()).any(|(p, _, high)| from.get(p).is_some_and(|f| f > high));
        let mut tpl = TopicPartitionList::new();
        let mut ends: HashMap<i32, i64> = HashMap::new();
        let mut next = Offsets::new();
        for &(p, low, high) in &marks {
            let start = match from.get(&p) {
                Some(&f) if !restarted => f.max(low),
                _ => low,
            };
            next.insert(p, high.max(start));
            if high > start {
                tpl.add_partition_offset(topic, p, Offset::Offset(start))?;
                ends.insert(p, high);
            }
        }
        let mut out = Vec::new();
        if ends.is_empty() {
            return Ok(Batch {
                records: out,
                next,
                restarted,
            });
        }
        let limits = ends.clone();
        consumer.assign(&tpl)?;
        let mut last_error = None;
        while !ends.is_empty() {
            let wait = left();
            if wait.is_zero() {
                let why = last_error.map(|e| format!(": {e}")).unwrap_or_default();
                bail!(
                    "reading Kafka topic {topic} at {at} timed out after {:?} ({} partition(s) not read to the end){why}",
                    self.timeout,
                    ends.len()
                );
            }
            match consumer.poll(wait.min(Duration::from_millis(200))) {
                Some(Ok(m)) => {
                    let p = m.partition();
                    if ends.get(&p).is_some_and(|end| m.offset() + 1 >= *end) {
                        ends.remove(&p);
                    }
                    if limits.get(&p).is_some_and(|end| m.offset() < *end) {
                        out.push(Raw {
                            partition: p,
                            offset: m.offset(),
                            key: m.key().map(<[u8]>::to_vec),
                            payload: m.payload().map(<[u8]>::to_vec),
                        });
                    }
                }
                // librdkafka retries what fails on the way (a dropped connection); the
                // deadline decides.
                Some(Err(e)) => last_error = Some(e),
                None => {
                    // Nothing came: the end may be a gap (compaction, transaction markers).
                    if let Ok(pos) = consumer.position() {
                        for e in pos.elements() {
                            if let Offset::Offset(o) = e.offset()
                                && ends.get(&e.partition()).is_some_and(|end| o >= *end)
                            {
                                ends.remove(&e.partition());
                            }
                        }
                    }
                }
            }
        }
        out.sort_by_key(|r| (r.partition, r.offset));
        Ok(Batch {
            records: out,
            next,
            restarted,
        })
    }
}

fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

fn cluster_name(c: &ClusterId) -> String {
    format!("{}/{}", c.env, c.region)
}

/// Feature flags over Kafka: commands out, cluster state back.
pub struct KafkaFlags {
    conn: Conn,
    producer: FutureProducer,
    commands_topic: String,
    state_topic: String,
    /// The configured clusters; state from other clusters is ignored (none configured:
    /// every cluster that publishes is shown).
    clusters: Vec<ClusterId>,
    /// The state topic folded so far (last record per key; tombstones remove).
    states: Tail<BTreeMap<(String, ClusterId), FlagStateRecord>>,
    /// Every command read so far, in the topic's order.
    commands: Tail<Vec<FlagCommand>>,
}

impl KafkaFlags {
    pub fn new(config: &KafkaConfig, clusters: Vec<ClusterId>) -> Result<Self> {
        let conn = Conn::new(config);
        Ok(KafkaFlags {
            producer: conn.producer()?,
            conn,
            commands_topic: config.flag_commands_topic.clone(),
            state_topic: config.flag_state_topic.clone(),
            clusters,
            states: Tail::new(),
            commands: Tail::new(),
        })
    }

    fn known(&self, c: &ClusterId) -> bool {
        self.clusters.is_empty() || self.clusters.contains(c)
    }

    /// The state each cluster published (last record per key wins; tombstones remove).
    async fn states(&self) -> Result<BTreeMap<(String, ClusterId), FlagStateRecord>> {
        let topic = &self.state_topic;
        self.states
            .read(
                &self.conn,
                topic,
                |states, raw| fold_states(states, raw, topic),
                |states| {
                    (states.iter())
                        .filter(|((_, c), _)| self.known(c))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                },
            )
            .await
    }
}

/// Folds state records into `states`: the last record per key wins, tombstones remove.
fn fold_states(
    states: &mut BTreeMap<(String, ClusterId), FlagStateRecord>,
    raw: &[Raw],
    topic: &str,
) {
    for r in raw {
        match &r.payload {
            None => {
                // A tombstone: the key names what is gone.
                let key = r.key.as_deref().map(String::from_utf8_lossy);
                let parts: Option<Vec<&str>> = key.as_deref().map(|k| k.rsplitn(3, '/').collect());
                if let Some([region, env, flag]) = parts.as_deref() {
                    states.remove(&(flag.to_string(), ClusterId::new(*env, *region)));
                }
            }
            Some(bytes) => match serde_json::from_slice::<FlagStateRecord>(bytes) {
                Ok(s) => {
                    let id = ClusterId::new(s.env.clone(), s.region.clone());
                    states.insert((s.flag.clone(), id), s);
                }
                Err(e) => tracing::warn!(
                    topic,
                    partition = r.partition,
                    offset = r.offset,
                    "skipping a flag state record that does not parse: {e}"
                ),
            },
        }
    }
}

/// Every command, in the topic's order (per flag, that is the order they were sent).
fn parse_commands(raw: &[Raw], topic: &str) -> Vec<FlagCommand> {
    raw.iter()
        .filter_map(|r| {
            let bytes = r.payload.as_deref()?;
            serde_json::from_slice::<FlagCommand>(bytes)
                .map_err(|e| {
                    tracing::warn!(
                        topic,
                        partition = r.partition,
                        offset = r.offset,
                        "skipping a flag command that does not parse: {e}"
                    )
                })
                .ok()
        })
        .collect()
}

/// The flags as each cluster runs them, with the change still waiting for its
/// acknowledgement.
fn flag_states(
    states: &BTreeMap<(String, ClusterId), FlagStateRecord>,
    commands: &[FlagCommand],
) -> Vec<FlagState> {
    let mut out = Vec::with_capacity(states.len());
    for ((flag, cluster), s) in states {
        let name = cluster_name(cluster);
        let targeting: Vec<&FlagCommand> = commands
            .iter()
            .filter(|c| &c.flag == flag && c.clusters.contains(&name))
            .collect();
        let acked = s
            .ack
            .as_ref()
            .and_then(|ack| targeting.iter().position(|c| &c.id == ack));
        let pending = match targeting.last() {
            Some(last) if acked.is_none_or(|i| i + 1 < targeting.len()) => Some(PendingFlag {
                value: last.value.clone(),
                percentage: last.percentage.unwrap_or(s.percentage),
                sent_at: last.sent_at,
            }),
            _ => None,
        };
        out.push(FlagState {
            name: flag.clone(),
            cluster: cluster.clone(),
            value: s.value.clone(),
            percentage: s.percentage,
            pending,
            variants: s.variants.clone(),
        });
    }
    out
}

/// A unique command id: milliseconds, then random hex.
fn command_id() -> String {
    format!(
        "{}-{:06x}",
        chrono::Utc::now().timestamp_millis(),
        fastrand::u32(..1 << 24)
    )
}

#[async_trait]
impl FlagsProvider for KafkaFlags {
    async fn list(&self) -> Result<Vec<FlagState>> {
        let topic = &self.commands_topic;
        let commands = self.commands.read(
            &self.conn,
            topic,
            |all, raw| all.extend(parse_commands(raw, topic)),
            |all| all.clone(),
        );
        let (state, commands) = tokio::try_join!(self.states(), commands)?;
        Ok(flag_states(&state, &commands))
    }

    async fn set(
        &self,
        name: &str,
        value: &str,
        percentage: Option<u8>,
        cluster: Option<&ClusterId>,
    ) -> Result<()> {
        let states = self.states().await?;
        let targets: Vec<String> = states
            .keys()
            .filter(|(f, c)| f == name && cluster.is_none_or(|want| c == want))
            .map(|(_, c)| cluster_name(c))
            .collect();
        if targets.is_empty() {
            match cluster {
                Some(c) => bail!("there is no flag {name} in {c}"),
                None => bail!("there is no flag {name}"),
            }
        }
        let command = FlagCommand {
            id: command_id(),
            flag: name.to_string(),
            value: value.to_string(),
            percentage: percentage.map(|p| p.min(100)),
            clusters: targets,
            sent_at: now(),
        };
        let payload = serde_json::to_vec(&command)?;
        self.conn
            .produce(&self.producer, &self.commands_topic, name, &payload)
            .await
            .with_context(|| format!("sending the change of flag {name}"))?;
        tracing::info!(
            flag = name,
            command = command.id,
            clusters = command.clusters.len(),
            "flag change sent"
        );
        Ok(())
    }
}

/// The audit trail in a Kafka topic, spooled to a local journal while the broker is
/// unreachable.
pub struct KafkaAudit {
    conn: Conn,
    producer: FutureProducer,
    topic: String,
    spool: PathBuf,
    last_id: Mutex<u64>,
    /// Until when writes go straight to the journal (after a failed produce).
    retry_at: Mutex<Option<Instant>>,
    /// Why the last produce failed (cleared by the next that succeeds).
    last_error: Mutex<Option<String>>,
    /// The latest version of every record this process has read or written: what
    /// `set_audit_outcome` starts from, and what `audit` shows while Kafka is unreachable.
    known: Mutex<BTreeMap<u64, AuditRecord>>,
    /// How far the audit topic has been read into `known`.
    read_to: tokio::sync::Mutex<Offsets>,
}

/// The value behind one of the audit's small locks. A thread that panicked while
/// holding it poisons it, but every write under these locks leaves a usable value (one
/// assignment, or records folded into the cache by id, which the next read folds
/// again): go on with it rather than panic on every later call.
fn held<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The journal's file name in the data dir.
pub const SPOOL_FILE: &str = "audit-spool.jsonl";

impl KafkaAudit {
    /// `spool`: the journal (`audit-spool.jsonl` in the data dir).
    pub fn new(config: &KafkaConfig, spool: impl Into<PathBuf>) -> Result<Self> {
        let conn = Conn::new(config);
        Ok(KafkaAudit {
            producer: conn.producer()?,
            conn,
            topic: config.audit_topic.clone(),
            spool: spool.into(),
            last_id: Mutex::new(0),
            retry_at: Mutex::new(None),
            last_error: Mutex::new(None),
            known: Mutex::new(BTreeMap::new()),
            read_to: tokio::sync::Mutex::new(Offsets::new()),
        })
    }

    /// The journal file.
    pub fn spool_path(&self) -> &Path {
        &self.spool
    }

    /// Writes go straight to the journal until then (a produce failed recently).
    pub fn backing_off(&self) -> bool {
        held(&self.retry_at).is_some_and(|t| Instant::now() < t)
    }

    fn next_id(&self) -> u64 {
        let ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let fresh = (ms << 20) | fastrand::u64(..1 << 20);
        let mut last = held(&self.last_id);
        *last = fresh.max(*last + 1);
        *last
    }

    async fn lock_spool(&self) -> Result<FileLock> {
        let path = self.spool.clone();
        tokio::task::spawn_blocking(move || FileLock::exclusive(&path))
            .await
            .context("the journal locking task failed")?
    }

    async fn send(&self, record: &AuditRecord) -> Result<()> {
        let payload = serde_json::to_vec(record)?;
        let result = self
            .conn
            .produce(
                &self.producer,
                &self.topic,
                &record.id.to_string(),
                &payload,
            )
            .await;
        match &result {
            Ok(()) => *held(&self.last_error) = None,
            Err(e) => {
                *held(&self.retry_at) = Some(Instant::now() + self.conn.timeout);
                *held(&self.last_error) = Some(format!("{e:#}"));
            }
        }
        result
    }

    /// Sends the journal in order (the lock held); trims what went. How many went, and
    /// the error that stopped the rest.
    async fn replay_locked(&self) -> Result<usize> {
        let queue = read_spool(&self.spool)?;
        if queue.is_empty() {
            return Ok(0);
        }
        let mut sent = 0;
        let mut failure = None;
        for record in &queue {
            match self.send(record).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if sent > 0 {
            rewrite_spool(&self.spool, &queue[sent..])?;
            tracing::info!(
                sent,
                left = queue.len() - sent,
                "audit journal replayed to Kafka"
            );
        }
        match failure {
            Some(e) => Err(e.context(format!(
                "{} audit record(s) stay in {}",
                queue.len() - sent,
                self.spool.display()
            ))),
            None => Ok(sent),
        }
    }

    /// Sends the journal to Kafka, in order; how many records went. Nothing happens
    /// when the journal is empty.
    pub async fn replay(&self) -> Result<usize> {
        let _lock = self.lock_spool().await?;
        self.replay_locked().await
    }

    /// Replays the journal in the background (at start).
    pub fn replay_in_background(self: &std::sync::Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.replay().await {
                tracing::warn!("audit journal not replayed yet: {e:#}");
            }
        });
    }

    /// One write: straight to Kafka when nothing waits in the journal and the broker
    /// answers, else to the journal (after replaying it when it may answer again).
    async fn write(&self, record: AuditRecord) -> Result<()> {
        held(&self.known).insert(record.id, record.clone());
        let _lock = self.lock_spool().await?;
        let mut direct = !self.backing_off();
        if direct && spool_has_records(&self.spool)? {
            direct = match self.replay_locked().await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!("audit journal replay stopped: {e:#}");
                    false
                }
            };
        }
        if direct {
            match self.send(&record).await {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(
                    id = record.id,
                    "audit record spooled to {}: {e:#}",
                    self.spool.display()
                ),
            }
        }
        append_spool(&self.spool, &record)
    }

    fn spooled(&self) -> Result<Vec<AuditRecord>> {
        let _lock = FileLock::exclusive(&self.spool)?;
        read_spool(&self.spool)
    }

    /// [`spooled`](Self::spooled) off the async task (the lock may wait on another
    /// process).
    async fn spooled_async(&self) -> Result<Vec<AuditRecord>> {
        let path = self.spool.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = FileLock::exclusive(&path)?;
            read_spool(&path)
        })
        .await
        .context("the journal reading task failed")?
    }

    async fn find(&self, id: u64) -> Result<Option<AuditRecord>> {
        if let Some(r) = held(&self.known).get(&id) {
            return Ok(Some(r.clone()));
        }
        Ok(self.audit(None).await?.into_iter().find(|r| r.id == id))
    }
}

fn spool_has_records(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len() > 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The journal's records in order; a line that does not parse (a write cut short) is
/// skipped with a warning.
fn read_spool(path: &Path) -> Result<Vec<AuditRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            serde_json::from_str(l)
                .map_err(|e| {
                    tracing::warn!(
                        "skipping a line of {} that does not parse: {e}",
                        path.display()
                    )
                })
                .ok()
        })
        .collect())
}

fn open_private(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true);
    if append {
        o.append(true);
    } else {
        o.truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

fn line(record: &AuditRecord) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(record)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Appends one record and syncs it to disk before returning.
fn append_spool(path: &Path, record: &AuditRecord) -> Result<()> {
    let bytes = line(record)?;
    let mut f = open_private(path, true).with_context(|| format!("opening {}", path.display()))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_data())
        .with_context(|| format!("writing {}", path.display()))
}

/// Replaces the journal with `rest` (atomically; removed when empty).
fn rewrite_spool(path: &Path, rest: &[AuditRecord]) -> Result<()> {
    if rest.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        };
    }
    let mut bytes = Vec::new();
    for r in rest {
        bytes.extend(line(r)?);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = open_private(&tmp, false).with_context(|| format!("opening {}", tmp.display()))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Folds audit writes by id into `all`: the last write wins.
fn fold_audit(all: &mut BTreeMap<u64, AuditRecord>, raw: &[Raw], topic: &str) {
    for r in raw {
        let Some(bytes) = &r.payload else { continue };
        match serde_json::from_slice::<AuditRecord>(bytes) {
            Ok(rec) => {
                all.insert(rec.id, rec);
            }
            Err(e) => tracing::warn!(
                topic,
                partition = r.partition,
                offset = r.offset,
                "skipping an audit record that does not parse: {e}"
            ),
        }
    }
}

#[async_trait]
impl AuditStore for KafkaAudit {
    async fn backlog(&self) -> Result<Option<String>> {
        let spooled = self.spooled_async().await?;
        // A record's later writes (its outcome) are lines of their own: count records.
        let waiting = (spooled.iter().map(|r| r.id))
            .collect::<std::collections::BTreeSet<u64>>()
            .len();
        if waiting == 0 {
            return Ok(None);
        }
        let why = (held(&self.last_error).clone()).unwrap_or_else(|| "not sent yet".to_string());
        Ok(Some(format!(
            "{waiting} audit record(s) wait in {} for Kafka: {why}",
            self.spool.display()
        )))
    }

    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        // Right after a failed produce the journal waits (the read says whether Kafka
        // is back); the next write or read after the back-off replays it.
        if !self.backing_off()
            && let Err(e) = self.replay().await
        {
            tracing::warn!("audit journal not replayed: {e:#}");
        }
        let spooled = self.spooled_async().await?;
        // Only what is new since the last read; folded into what this process knows.
        let mut read_to = self.read_to.lock().await;
        let mut all = match self.conn.read_topic(&self.topic, read_to.clone()).await {
            Ok(batch) => {
                let mut known = held(&self.known);
                if batch.restarted {
                    known.clear();
                }
                fold_audit(&mut known, &batch.records, &self.topic);
                *read_to = batch.next;
                known.clone()
            }
            Err(e) => {
                let known = held(&self.known).clone();
                if known.is_empty() && spooled.is_empty() {
                    return Err(e.context("the audit trail is unreachable"));
                }
                tracing::warn!(
                    "the audit trail in Kafka is unreachable; showing what this process knows and the journal: {e:#}"
                );
                known
            }
        };
        for r in spooled {
            all.insert(r.id, r);
        }
        Ok(all
            .into_values()
            .filter(|r| since.is_none_or(|t| r.at >= t))
            .collect())
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
        let record = AuditRecord {
            id: self.next_id(),
            at: now(),
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            reason: reason.map(str::to_string),
            outcome,
            details: details.clone(),
        };
        let id = record.id;
        self.write(record).await?;
        Ok(id)
    }

    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()> {
        let Some(mut record) = self.find(id).await? else {
            bail!("no audit record #{id}");
        };
        record.details.extend(details.clone());
        self.write(AuditRecord { outcome, ..record }).await
    }
}

impl KafkaAudit {
    /// The records waiting in the journal (for tests and diagnostics).
    pub fn journal(&self) -> Result<Vec<AuditRecord>> {
        self.spooled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(offset: i64, key: &str, payload: Option<String>) -> Raw {
        Raw {
            partition: 0,
            offset,
            key: Some(key.as_bytes().to_vec()),
            payload: payload.map(String::into_bytes),
        }
    }

    fn state(flag: &str, region: &str, value: &str, ack: Option<&str>) -> FlagStateRecord {
        FlagStateRecord {
            flag: flag.into(),
            env: "production".into(),
            region: region.into(),
            value: value.into(),
            percentage: 10,
            ack: ack.map(str::to_string),
            updated_at: 1,
            variants: Vec::new(),
        }
    }

    fn command(id: &str, value: &str, regions: &[&str]) -> FlagCommand {
        FlagCommand {
            id: id.into(),
            flag: "beta".into(),
            value: value.into(),
            percentage: None,
            clusters: regions.iter().map(|r| format!("production/{r}")).collect(),
            sent_at: 7,
        }
    }

    /// A thread that panicked while holding one of the audit's small locks (an id, a
    /// back-off time, the last error, the cache) leaves whole values behind: the audit
    /// goes on with them instead of panicking on every later write.
    #[test]
    fn the_audit_goes_on_after_a_panic_poisoned_its_locks() {
        let config = KafkaConfig {
            properties: [("bootstrap.servers".to_string(), "127.0.0.1:9".to_string())].into(),
            ..KafkaConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let audit = KafkaAudit::new(&config, dir.path().join(SPOOL_FILE)).unwrap();
        let first = audit.next_id();
        std::thread::scope(|s| {
            let poisoned = s.spawn(|| {
                let _id = audit.last_id.lock();
                let _retry = audit.retry_at.lock();
                panic!("a panic while the locks are held");
            });
            assert!(poisoned.join().is_err());
        });
        assert!(audit.last_id.is_poisoned() && audit.retry_at.is_poisoned());
        assert!(!audit.backing_off());
        assert!(audit.next_id() > first);
    }

    #[test]
    fn state_is_folded_by_key_and_tombstones_remove() {
        let a = state("beta", "eu", "off", None);
        let b = state("beta", "eu", "on", Some("c1"));
        let gone = state("beta", "us", "on", None);
        let raws = vec![
            raw(0, &a.key(), Some(serde_json::to_string(&a).unwrap())),
            raw(1, &gone.key(), Some(serde_json::to_string(&gone).unwrap())),
            raw(2, "junk", Some("not json".into())),
            raw(3, &b.key(), Some(serde_json::to_string(&b).unwrap())),
            raw(4, &gone.key(), None),
        ];
        let mut folded = BTreeMap::new();
        fold_states(&mut folded, &raws, "t");
        assert_eq!(folded.len(), 1);
        // Folding the same records in two reads (as the tail does) ends the same.
        let mut twice = BTreeMap::new();
        fold_states(&mut twice, &raws[..2], "t");
        assert_eq!(twice.len(), 2);
        fold_states(&mut twice, &raws[2..], "t");
        assert_eq!(twice, folded);
        let only = folded.values().next().unwrap();
        assert_eq!(only.value, "on");
    }

    #[test]
    fn a_command_after_the_acknowledged_one_is_pending() {
        let mut states = BTreeMap::new();
        for s in [
            state("beta", "eu", "on", Some("c2")),
            state("beta", "us", "off", Some("c1")),
            state("beta", "ap", "off", Some("expired")),
        ] {
            states.insert(
                (
                    "beta".to_string(),
                    ClusterId::new("production", s.region.clone()),
                ),
                s,
            );
        }
        let commands = vec![
            command("c1", "off", &["eu", "us"]),
            command("c2", "on", &["eu", "us", "ap"]),
        ];
        let out = flag_states(&states, &commands);
        let by = |r: &str| out.iter().find(|f| f.cluster.region == r).unwrap();
        assert_eq!(by("eu").pending, None, "eu acknowledged the last command");
        let us = by("us")
            .pending
            .clone()
            .expect("us has not acknowledged c2");
        assert_eq!((us.value.as_str(), us.percentage), ("on", 10));
        assert!(by("ap").pending.is_some(), "an unknown ack is older");
    }

    #[test]
    fn the_journal_keeps_order_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SPOOL_FILE);
        let rec = |id| AuditRecord {
            id,
            at: 1,
            actor: "ada".into(),
            action: "lock".into(),
            target: "cart".into(),
            reason: None,
            outcome: Outcome::Started,
            details: Default::default(),
        };
        append_spool(&path, &rec(1)).unwrap();
        append_spool(&path, &rec(2)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"id\":3,")
            .unwrap();
        let ids: Vec<u64> = read_spool(&path).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![1, 2]);
        rewrite_spool(&path, &[rec(2)]).unwrap();
        assert_eq!(read_spool(&path).unwrap().len(), 1);
        rewrite_spool(&path, &[]).unwrap();
        assert!(!path.exists());
    }
}
