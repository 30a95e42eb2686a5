//! `[agent]`: what `sphere agent` watches, where it publishes and where it answers
//! `/healthz` and `/metrics`.
//!
//! ```toml
//! [agent]
//! listen = "127.0.0.1:9464"
//! state_topic = "sphere.agent.state"
//! findings_topic = "sphere.agent.findings"
//! heartbeat_topic = "sphere.agent.heartbeats"
//! silences_topic = "sphere.agent.silences"
//! alert_limit = 30
//! alert_window_seconds = 60
//! poll_seconds = 30
//! heartbeat_seconds = 15
//! sources = ["clusters", "locks", "catalog", "secrets", "flags"]
//! [agent.properties]
//! "bootstrap.servers" = "127.0.0.1:9092"
//! ```
//!
//! A bad value is a [`ConfigProblem`] naming the file and the key; `sphere agent` refuses
//! to start on any problem of this section (a headless process must not run on a guess).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use super::{ConfigProblem, PathSeg, value_problem};

/// Every source the agent can watch, in the order it reads them.
pub const SOURCES: [&str; 5] = ["clusters", "locks", "catalog", "secrets", "flags"];

/// `[agent]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// librdkafka properties of the broker the agent publishes to. Default: `[kafka]
    /// properties`; `bootstrap.servers` is required in one or the other.
    pub properties: BTreeMap<String, String>,
    /// The compacted topic of the latest state, one record per key. Default
    /// `sphere.agent.state`.
    pub state_topic: String,
    /// The compacted topic of drift findings, one record per finding id (appeared,
    /// changed, cleared). Default `sphere.agent.findings`.
    pub findings_topic: String,
    /// The compacted topic of heartbeats, one record per source. Default
    /// `sphere.agent.heartbeats`.
    pub heartbeat_topic: String,
    /// The compacted topic of alert silences, one record per pattern (`sphere alert
    /// silence` writes it, the agent reads it). Default `sphere.agent.silences`.
    pub silences_topic: String,
    /// At most this many alerts per `alert_window_seconds` to each sink; those above
    /// it are not sent (they are on the findings topic) and are told as one summary
    /// ("N more findings suppressed") when the window is over. Default 30.
    pub alert_limit: u32,
    /// The rate limit's window, in seconds. Default 60.
    pub alert_window_seconds: u64,
    /// Where `/healthz` and `/metrics` answer. Default `127.0.0.1:9464`.
    pub listen: String,
    /// How often the sources that cannot push (locks, catalog, secrets, flags) are
    /// read, in seconds. Default 30.
    pub poll_seconds: u64,
    /// How often each source's heartbeat is published, in seconds. Default 15.
    pub heartbeat_seconds: u64,
    /// Seconds a produce or a read of the broker may take. Default 5.
    pub timeout_seconds: u64,
    /// Which sources to watch (of clusters, locks, catalog, secrets, flags). Default:
    /// every source the platform has (on the demo: all of them).
    pub sources: Option<Vec<String>>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            properties: BTreeMap::new(),
            state_topic: "sphere.agent.state".to_string(),
            findings_topic: "sphere.agent.findings".to_string(),
            heartbeat_topic: "sphere.agent.heartbeats".to_string(),
            silences_topic: "sphere.agent.silences".to_string(),
            alert_limit: 30,
            alert_window_seconds: 60,
            listen: "127.0.0.1:9464".to_string(),
            poll_seconds: 30,
            heartbeat_seconds: 15,
            timeout_seconds: 5,
            sources: None,
        }
    }
}

impl AgentConfig {
    /// `listen` as an address (checked by `validate`).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }
}

/// A Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn topic_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a topic name cannot be empty".to_string());
    }
    if name == "." || name == ".." {
        return Some(format!("{name:?} is not a valid Kafka topic name"));
    }
    if name.len() > 249 {
        return Some(format!(
            "{name:?} is longer than Kafka's 249 characters for a topic name"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "{name:?} is not a valid Kafka topic name: {c:?} is not one of a-z, A-Z, 0-9, '.', '_', '-'"
        ));
    }
    None
}

/// Checks `[agent]` after deserializing. Every problem names the file and the key; the
/// values stay as written (the agent refuses to start on any of them).
pub(crate) fn validate(file: &Path, src: &str, config: &super::Config) -> Vec<ConfigProblem> {
    let Some(agent) = &config.agent else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let key = |k: &'static str| [PathSeg::Key("agent"), PathSeg::Key(k)];
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, name) in [
        ("state_topic", &agent.state_topic),
        ("findings_topic", &agent.findings_topic),
        ("heartbeat_topic", &agent.heartbeat_topic),
        ("silences_topic", &agent.silences_topic),
    ] {
        if let Some(why) = topic_problem(name) {
            problems.push(value_problem(file, src, &key(k), why));
        } else if let Some(other) = seen.insert(name, k) {
            problems.push(value_problem(
                file,
                src,
                &key(k),
                format_args!(
                    "{name:?} is already the {other}: each topic holds one kind of record"
                ),
            ));
        }
    }
    if agent.listen_addr().is_none() {
        problems.push(value_problem(
            file,
            src,
            &key("listen"),
            format_args!(
                "{:?} is not an address to listen on: use IP:PORT, e.g. 127.0.0.1:9464 or 0.0.0.0:9464",
                agent.listen
            ),
        ));
    }
    for (k, value) in [
        ("poll_seconds", agent.poll_seconds),
        ("heartbeat_seconds", agent.heartbeat_seconds),
        ("timeout_seconds", agent.timeout_seconds),
        ("alert_window_seconds", agent.alert_window_seconds),
    ] {
        if !(1..=86_400).contains(&value) {
            problems.push(value_problem(
                file,
                src,
                &key(k),
                format_args!("{value} is out of range 1..=86400 seconds"),
            ));
        }
    }
    if !(1..=10_000).contains(&agent.alert_limit) {
        problems.push(value_problem(
            file,
            src,
            &key("alert_limit"),
            format_args!("{} is out of range 1..=10000 alerts", agent.alert_limit),
        ));
    }
    if let Some(sources) = &agent.sources {
        for (i, s) in sources.iter().enumerate() {
            if !SOURCES.contains(&s.as_str()) {
                problems.push(value_problem(
                    file,
                    src,
                    &[
                        PathSeg::Key("agent"),
                        PathSeg::Key("sources"),
                        PathSeg::Index(i),
                    ],
                    format_args!("{s:?} is not a source: use {}", SOURCES.join(", ")),
                ));
            }
        }
    }
    let has_bootstrap = agent.properties.contains_key("bootstrap.servers")
        || config
            .kafka
            .as_ref()
            .is_some_and(|k| k.properties.contains_key("bootstrap.servers"));
    if !has_bootstrap {
        problems.push(value_problem(
            file,
            src,
            &key("properties"),
            "`bootstrap.servers` is required (here or in [kafka] properties): the agent publishes to Kafka",
        ));
    }
    problems
}

/// `[source]`: where the TUI and the read-side CLI read the platform from. With `agent`
/// set they read `sphere agent`'s topics (read to the end, then tailed) instead of
/// opening their own watches and reads; actions still go to the configured providers.
///
/// ```toml
/// [source]
/// agent = "127.0.0.1:9092"   # the broker the agent publishes to (`bootstrap.servers`)
/// stale_seconds = 60         # a source whose last good read is older is "stale"
/// timeout_seconds = 10       # how long the first read to the end may take
/// [source.properties]        # more librdkafka properties (TLS, SASL), optional
/// ```
///
/// The topics are `[agent]`'s when the same file has that section (one file for the
/// agent and its readers), else their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// The broker `sphere agent` publishes to (librdkafka `bootstrap.servers`); `None`:
    /// read every system directly, as without `[source]`.
    pub agent: Option<String>,
    /// Seconds after a source's last good read (its heartbeat's `last_ok`) before it is
    /// said to be stale. Default 60.
    pub stale_seconds: u64,
    /// Seconds the first read of the topics to their end may take. Default 10.
    pub timeout_seconds: u64,
    /// More librdkafka properties; `bootstrap.servers` is `agent`.
    pub properties: BTreeMap<String, String>,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            agent: None,
            stale_seconds: 60,
            timeout_seconds: 10,
            properties: BTreeMap::new(),
        }
    }
}

/// Checks `[source]` after deserializing; a bad value names the file and the key. A
/// `[source]` with a problem reads nothing from the agent (the platform is read
/// directly, as without it), so no client runs on a guess.
pub(crate) fn validate_source(
    file: &Path,
    src: &str,
    config: &mut super::Config,
) -> Vec<ConfigProblem> {
    let Some(source) = &config.agent_source else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let key = |k: &'static str| [PathSeg::Key("source"), PathSeg::Key(k)];
    if let Some(agent) = &source.agent
        && agent.trim().is_empty()
    {
        problems.push(value_problem(
            file,
            src,
            &key("agent"),
            "an empty broker address: use HOST:PORT[,HOST:PORT...] of the broker `sphere agent` publishes to; reading every system directly",
        ));
    }
    for (k, value) in [
        ("stale_seconds", source.stale_seconds),
        ("timeout_seconds", source.timeout_seconds),
    ] {
        if !(1..=86_400).contains(&value) {
            problems.push(value_problem(
                file,
                src,
                &key(k),
                format_args!(
                    "{value} is out of range 1..=86400 seconds; reading every system directly"
                ),
            ));
        }
    }
    if source.properties.contains_key("bootstrap.servers") {
        problems.push(value_problem(
            file,
            src,
            &[
                PathSeg::Key("source"),
                PathSeg::Key("properties"),
                PathSeg::Key("bootstrap.servers"),
            ],
            "the broker is `[source] agent`, not a property; reading every system directly",
        ));
    }
    if !problems.is_empty() {
        config.agent_source = None;
    }
    problems
}

/// Whether a problem is one of `[agent]`'s (the agent refuses to start on it).
pub fn is_agent_problem(p: &ConfigProblem) -> bool {
    p.key
        .as_deref()
        .is_some_and(|k| k == "agent" || k.starts_with("agent.") || k.starts_with("agent["))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn load(src: &str) -> (Config, Vec<ConfigProblem>) {
        Config::from_str_at(Path::new("/etc/sphere/config.toml"), src)
    }

    #[test]
    fn a_good_section_has_no_problem_and_keeps_its_values() {
        let (c, problems) = load(
            "[agent]\nlisten = \"0.0.0.0:9000\"\nstate_topic = \"a.state\"\npoll_seconds = 5\nsources = [\"clusters\", \"flags\"]\n[agent.properties]\n\"bootstrap.servers\" = \"127.0.0.1:9092\"\n",
        );
        assert_eq!(problems, vec![]);
        let a = c.agent.clone().expect("[agent]");
        assert_eq!(a.state_topic, "a.state");
        assert_eq!(a.poll_seconds, 5);
        assert_eq!(a.findings_topic, "sphere.agent.findings", "the default");
        assert_eq!(a.listen_addr(), Some("0.0.0.0:9000".parse().expect("addr")));
        // [agent] alone does not make a configured platform.
        assert!(!c.is_configured_platform());
    }

    #[test]
    fn the_broker_may_come_from_kafka() {
        let (_, problems) =
            load("[agent]\n[kafka.properties]\n\"bootstrap.servers\" = \"127.0.0.1:9092\"\n");
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn each_bad_value_names_the_file_and_the_key() {
        let (_, problems) = load(
            "[agent]\nlisten = \"nowhere\"\nstate_topic = \"a b\"\nfindings_topic = \"x\"\nheartbeat_topic = \"x\"\npoll_seconds = 0\nsources = [\"clusters\", \"pods\"]\n",
        );
        let keys: Vec<&str> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
        assert_eq!(
            keys,
            vec![
                "agent.state_topic",
                "agent.heartbeat_topic",
                "agent.listen",
                "agent.poll_seconds",
                "agent.sources[1]",
                "agent.properties",
            ],
            "{problems:#?}"
        );
        for p in &problems {
            assert_eq!(p.file, Path::new("/etc/sphere/config.toml"));
            assert!(is_agent_problem(p), "{p}");
        }
        let text = problems[0].to_string();
        assert!(
            text.contains("/etc/sphere/config.toml: key `agent.state_topic`: line 3"),
            "{text}"
        );
        assert!(problems[4].to_string().contains("\"pods\" is not a source"));
    }

    #[test]
    fn a_source_names_the_agent_broker_and_a_bad_one_reads_directly() {
        let (c, problems) = load("[source]\nagent = \"127.0.0.1:9092\"\nstale_seconds = 5\n");
        assert_eq!(problems, vec![]);
        let s = c.agent_source.clone().expect("[source]");
        assert_eq!(s.agent.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!((s.stale_seconds, s.timeout_seconds), (5, 10));
        // Not a configured platform by itself: actions go where the rest points.
        assert!(!c.is_configured_platform());

        let (c, problems) = load(
            "[source]\nagent = \" \"\nstale_seconds = 0\n[source.properties]\n\"bootstrap.servers\" = \"x:1\"\n",
        );
        let keys: Vec<&str> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
        assert_eq!(
            keys,
            vec![
                "source.agent",
                "source.stale_seconds",
                "source.properties.\"bootstrap.servers\""
            ],
            "{problems:#?}"
        );
        assert!(
            problems[1]
                .to_string()
                .contains("/etc/sphere/config.toml: key `source.stale_seconds`"),
            "{}",
            problems[1]
        );
        assert_eq!(c.agent_source, None, "a bad [source] reads nothing from it");
        let (_, problems) = load("[source]\nagnet = \"b:1\"\n");
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].to_string().contains("agnet"), "{}", problems[0]);
    }

    #[test]
    fn an_unknown_key_is_a_problem_of_the_section() {
        let (_, problems) = load(
            "[agent]\nlisen = \"127.0.0.1:1\"\n[agent.properties]\n\"bootstrap.servers\" = \"b:1\"\n",
        );
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(is_agent_problem(&problems[0]), "{}", problems[0]);
        assert!(problems[0].to_string().contains("lisen"), "{}", problems[0]);
    }
}
