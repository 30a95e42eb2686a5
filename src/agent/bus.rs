//! The agent's topics on Kafka (state, findings, heartbeats, silences): created compacted when missing, read back (the latest
//! record per key) when the agent starts, and written to.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::backend::kafka::Conn;
use crate::config::agent::AgentConfig;
use crate::config::platform::KafkaConfig;

/// The broker and the agent's four topics.
pub struct Bus {
    conn: Conn,
    producer: FutureProducer,
    timeout: Duration,
    pub state_topic: String,
    pub findings_topic: String,
    pub heartbeat_topic: String,
    pub silences_topic: String,
}

impl Bus {
    /// `[agent] properties`, else `[kafka] properties`.
    pub fn new(agent: &AgentConfig, kafka: Option<&KafkaConfig>) -> Result<Bus> {
        let properties = if agent.properties.contains_key("bootstrap.servers") {
            agent.properties.clone()
        } else {
            kafka
                .map(|k| k.properties.clone())
                .filter(|p| p.contains_key("bootstrap.servers"))
                .ok_or_else(|| {
                    anyhow!("[agent] properties: `bootstrap.servers` is required (here or in [kafka] properties)")
                })?
        };
        let cfg = KafkaConfig {
            properties,
            timeout_seconds: agent.timeout_seconds.max(1),
            ..KafkaConfig::default()
        };
        let conn = Conn::new(&cfg);
        let mut c = conn.client_config();
        // One record per produce batch unless told otherwise: against tansu (the broker
        // the tests run) a restarted agent read back only the first record of the last
        // multi-record batch (350 of 351 deployments missing), so it published them
        // again. Set `batch.num.messages` in [agent.properties] to batch on Kafka.
        if !cfg.properties.contains_key("batch.num.messages") {
            c.set("batch.num.messages", "1");
        }
        if !cfg.properties.contains_key("message.timeout.ms") {
            c.set(
                "message.timeout.ms",
                (cfg.timeout_seconds * 1000).to_string(),
            );
        }
        let producer: FutureProducer = c
            .create()
            .with_context(|| format!("creating a Kafka producer for {}", conn.bootstrap()))?;
        Ok(Bus {
            conn,
            producer,
            timeout: Duration::from_secs(cfg.timeout_seconds),
            state_topic: agent.state_topic.clone(),
            findings_topic: agent.findings_topic.clone(),
            heartbeat_topic: agent.heartbeat_topic.clone(),
            silences_topic: agent.silences_topic.clone(),
        })
    }

    /// Where the broker is (never the other properties: they may hold credentials).
    pub fn bootstrap(&self) -> &str {
        self.conn.bootstrap()
    }

    /// Creates each topic that does not exist, compacted (`cleanup.policy=compact`): the
    /// latest record per key is the truth. A topic that exists is left as it is.
    pub async fn ensure_topics(&self) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            self.conn.client_config().create().with_context(|| {
                format!("creating a Kafka admin client for {}", self.bootstrap())
            })?;
        let topics: Vec<NewTopic<'_>> = [
            &self.state_topic,
            &self.findings_topic,
            &self.heartbeat_topic,
            &self.silences_topic,
        ]
        .into_iter()
        .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact"))
        .collect();
        let opts = AdminOptions::new()
            .operation_timeout(Some(self.timeout))
            .request_timeout(Some(self.timeout));
        let results = tokio::time::timeout(
            self.timeout + Duration::from_secs(1),
            admin.create_topics(&topics, &opts),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "Kafka at {} did not answer creating the agent's topics within {:?}",
                self.bootstrap(),
                self.timeout
            )
        })?
        .with_context(|| format!("creating the agent's topics at {}", self.bootstrap()))?;
        for r in results {
            match r {
                Ok(t) => tracing::info!(topic = %t, "created the topic (compacted)"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, e)) => {
                    return Err(anyhow!(
                        "creating Kafka topic {t} at {} failed: {e}",
                        self.bootstrap()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The latest payload per key of `topic`, read to its end (a tombstone removes the
    /// key).
    pub async fn latest(&self, topic: &str) -> Result<HashMap<String, Vec<u8>>> {
        let batch = self.conn.read_topic(topic, HashMap::new()).await?;
        let mut out = HashMap::new();
        for r in batch.records {
            let Some(key) = r.key.and_then(|k| String::from_utf8(k).ok()) else {
                continue;
            };
            match r.payload {
                Some(p) => out.insert(key, p),
                None => out.remove(&key),
            };
        }
        Ok(out)
    }

    /// Produce records (a `None` payload is a tombstone) and wait for every
    /// acknowledgement; the keys acknowledged, in order, and the first error.
    pub async fn send(
        &self,
        topic: &str,
        records: &[(String, Option<Vec<u8>>)],
    ) -> (Vec<String>, Option<anyhow::Error>) {
        let mut done = Vec::new();
        let mut error = None;
        for chunk in records.chunks(1000) {
            let sends = chunk.iter().map(|(key, payload)| {
                let mut record = FutureRecord::<str, [u8]>::to(topic).key(key);
                if let Some(p) = payload {
                    record = record.payload(p);
                }
                let send = self.producer.send(record, self.timeout);
                async move {
                    match tokio::time::timeout(self.timeout + Duration::from_secs(1), send).await {
                        Ok(Ok(_)) => Ok(key.clone()),
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
            });
            for r in futures::future::join_all(sends).await {
                match r {
                    Ok(k) => done.push(k),
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
            if error.is_some() {
                break;
            }
        }
        (done, error)
    }

    /// Tails `topic` on a thread of its own, from its beginning: after each burst of
    /// records, the latest payload per key (a tombstone removes the key) is put on the
    /// returned channel. The consumer is assigned the topic's partitions (no group is
    /// joined, nothing committed); librdkafka reconnects it after a broker restart, and
    /// one that cannot be made is tried again every few seconds. The thread ends once
    /// the receiver is dropped.
    pub fn tail(&self, topic: &str) -> watch::Receiver<Option<HashMap<String, Vec<u8>>>> {
        let (tx, rx) = watch::channel(None);
        let c = self.conn.reader_config();
        let (topic, at, timeout) = (
            topic.to_string(),
            self.bootstrap().to_string(),
            self.timeout,
        );
        let open = move || -> Result<BaseConsumer> {
            let consumer: BaseConsumer = c
                .create()
                .with_context(|| format!("creating a Kafka consumer for {at}"))?;
            let metadata = (consumer.fetch_metadata(Some(&topic), timeout))
                .map_err(|e| anyhow!("Kafka at {at} is unreachable (tailing {topic}): {e}"))?;
            let mut tpl = TopicPartitionList::new();
            for t in metadata.topics().iter().filter(|t| t.name() == topic) {
                for p in t.partitions() {
                    tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)?;
                }
            }
            if tpl.count() == 0 {
                anyhow::bail!("Kafka at {at} has no partition of topic {topic}");
            }
            consumer.assign(&tpl)?;
            Ok(consumer)
        };
        let spawned = std::thread::Builder::new()
            .name("sphere-tail".into())
            .spawn(move || {
                let mut latest: HashMap<String, Vec<u8>> = HashMap::new();
                let mut consumer: Option<BaseConsumer> = None;
                let mut changed = false;
                while !tx.is_closed() {
                    let Some(c) = consumer.as_ref() else {
                        match open() {
                            Ok(c) => consumer = Some(c),
                            Err(e) => {
                                tracing::warn!("{e:#}; trying again in 5 s");
                                std::thread::sleep(Duration::from_secs(5));
                            }
                        }
                        continue;
                    };
                    match c.poll(Duration::from_millis(500)) {
                        Some(Ok(m)) => {
                            let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok())
                            else {
                                continue;
                            };
                            match m.payload() {
                                Some(p) => latest.insert(key.to_string(), p.to_vec()),
                                None => latest.remove(key),
                            };
                            changed = true;
                        }
                        // Transient (a broker away): librdkafka reconnects by itself.
                        Some(Err(e)) => tracing::debug!("tailing a topic: {e}"),
                        None if changed => {
                            changed = false;
                            tx.send_replace(Some(latest.clone()));
                        }
                        None => {}
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("the thread tailing a topic did not start: {e}");
        }
        rx
    }

    /// Waits (at most the timeout) for what is still queued to be delivered.
    pub fn flush(&self) {
        if let Err(e) = self.producer.flush(self.timeout) {
            tracing::warn!("records still queued for Kafka at shutdown: {e}");
        }
    }
}
