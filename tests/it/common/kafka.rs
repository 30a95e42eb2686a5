//! Kafka helpers for the tests: topics created with the admin client, raw reads, and
//! the cluster flag agent the tests play (it reads commands, publishes state records).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use sphere::backend::kafka::{FlagCommand, FlagStateRecord};
use sphere::config::platform::KafkaConfig;
use sphere::domain::ClusterId;

pub const TIMEOUT: u64 = 2;

pub fn config(bootstrap: &str, prefix: &str) -> KafkaConfig {
    KafkaConfig {
        properties: BTreeMap::from([("bootstrap.servers".to_string(), bootstrap.to_string())]),
        flag_commands_topic: format!("{prefix}.commands"),
        flag_state_topic: format!("{prefix}.state"),
        audit_topic: format!("{prefix}.audit"),
        timeout_seconds: TIMEOUT,
    }
}

/// Creates the three topics of `cfg` (the state topic compacted), with the admin client.
pub async fn create_topics(cfg: &KafkaConfig) {
    let bootstrap = &cfg.properties["bootstrap.servers"];
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topics = [
        NewTopic::new(&cfg.flag_commands_topic, 1, TopicReplication::Fixed(1)),
        NewTopic::new(&cfg.flag_state_topic, 1, TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact"),
        NewTopic::new(&cfg.audit_topic, 1, TopicReplication::Fixed(1)),
    ];
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&topics, &opts)
        .await
        .expect("create topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// Every record of `topic` up to its end (key, JSON payload), read with the real client.
pub fn read_raw(bootstrap: &str, topic: &str) -> Vec<(String, Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.auto.commit", "false")
        .set("group.id", "test-reader")
        .create()
        .expect("consumer");
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut out = Vec::new();
    if high <= low {
        return out;
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(low))
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "{topic} not read to {high}");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("message");
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let payload = m
                .payload()
                .map(|p| serde_json::from_slice(p).expect("JSON payload"))
                .unwrap_or(Value::Null);
            out.push((key, payload));
            if m.offset() + 1 >= high {
                return out;
            }
        }
    }
}

/// The cluster agents this test plays.
pub struct Agent {
    producer: FutureProducer,
    bootstrap: String,
    commands: String,
    state: String,
}

impl Agent {
    pub fn new(cfg: &KafkaConfig) -> Agent {
        let bootstrap = cfg.properties["bootstrap.servers"].clone();
        Agent {
            producer: ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .expect("producer"),
            bootstrap,
            commands: cfg.flag_commands_topic.clone(),
            state: cfg.flag_state_topic.clone(),
        }
    }

    pub async fn publish(&self, s: &FlagStateRecord) {
        let payload = serde_json::to_vec(s).expect("json");
        self.producer
            .send(
                FutureRecord::to(&self.state)
                    .key(&s.key())
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("publishing state: {e}"));
    }

    /// The commands sent so far, with their keys.
    pub async fn commands(&self) -> Vec<(String, FlagCommand)> {
        let (bootstrap, topic) = (self.bootstrap.clone(), self.commands.clone());
        tokio::task::spawn_blocking(move || read_raw(&bootstrap, &topic))
            .await
            .expect("read")
            .into_iter()
            .map(|(k, v)| (k, serde_json::from_value(v).expect("a command")))
            .collect()
    }
}

pub fn state(
    flag: &str,
    c: &ClusterId,
    value: &str,
    pct: u8,
    ack: Option<&str>,
) -> FlagStateRecord {
    FlagStateRecord {
        flag: flag.into(),
        env: c.env.to_string(),
        region: c.region.to_string(),
        value: value.into(),
        percentage: pct,
        ack: ack.map(str::to_string),
        updated_at: chrono::Utc::now().timestamp(),
        variants: Vec::new(),
    }
}
