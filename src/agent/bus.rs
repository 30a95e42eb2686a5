//! The agent's topics on Kafka (state, findings, heartbeats, silences): created compacted when missing, read back (the latest
//! record per key) when the agent starts, and written to.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

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

    /// Waits (at most the timeout) for what is still queued to be delivered.
    pub fn flush(&self) {
        if let Err(e) = self.producer.flush(self.timeout) {
            tracing::warn!("records still queued for Kafka at shutdown: {e}");
        }
    }
}
