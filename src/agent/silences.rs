//! Alert silences and the alert rate limit.
//!
//! A **silence** stops the agent POSTing the findings it covers, for a while: a finding's
//! id or a pattern where `*` stands for any run of characters (`git/*`,
//! `version/checkout/*`, `*/production/*`), who set it, why, and until when. A silenced
//! finding is still published to the findings topic, marked `silenced`; when the silence
//! ends (it expires or is removed) while the finding is still open, it is POSTed then,
//! once. A finding that appears and clears under a silence is never POSTed.
//!
//! Silences live in the agent's compacted `[agent] silences_topic`, keyed by pattern (a
//! tombstone removes one): every `sphere` process and every agent replica sees the same
//! ones, and they survive restarts. `sphere alert silence` writes them through the
//! dispatcher (policy and the audit trail, as every mutation); the agent tails the
//! topic ([`super::bus::Bus::tail`]), so a change counts at once, not at the next poll.
//!
//! The **rate limit**: at most `[agent] alert_limit` alerts per `alert_window_seconds`
//! to each sink. Past it, findings are not POSTed (they are on the findings topic); when
//! the window is over, one summary is POSTed: "N more findings suppressed".

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::bus::Bus;
use crate::backend::SilenceStore;
use crate::config::agent::AgentConfig;
use crate::config::platform::KafkaConfig;
use crate::domain::Timestamp;
use crate::domain::text::rfc3339;

/// The longest a silence may last: 30 days.
pub const MAX_SILENCE_SECONDS: i64 = 30 * 86_400;

/// One silence (key: its pattern).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// A finding id, or a pattern with `*`.
    pub pattern: String,
    pub reason: String,
    /// Who set it.
    pub by: String,
    /// When it was set, and until when it holds (seconds since the epoch).
    pub at: Timestamp,
    pub until: Timestamp,
    /// The audit record of the action that set it.
    #[serde(default)]
    pub audit_id: u64,
}

impl Silence {
    pub fn active(&self, now: Timestamp) -> bool {
        now < self.until
    }

    /// Does it hold for this finding id now?
    pub fn covers(&self, id: &str, now: Timestamp) -> bool {
        self.active(now) && matches(&self.pattern, id)
    }

    /// `PATTERN (by WHO until TIME: REASON)`, for the findings topic and people.
    pub fn describe(&self) -> String {
        format!(
            "{} (by {} until {}: {})",
            self.pattern,
            self.by,
            rfc3339(self.until),
            self.reason
        )
    }
}

/// `*` matches any run of characters (`/` included); everything else itself.
pub fn matches(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The silence that holds for `id` now (the one lasting longest), if any.
pub fn covering<'a>(silences: &'a [Silence], id: &str, now: Timestamp) -> Option<&'a Silence> {
    silences
        .iter()
        .filter(|s| s.covers(id, now))
        .max_by_key(|s| s.until)
}

/// A pattern that can be a silence: not empty, no control characters, at most 256
/// characters.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("a silence needs a finding id or a pattern (e.g. git/*)".to_string());
    }
    if pattern.len() > 256 {
        return Err("a pattern is at most 256 characters".to_string());
    }
    if pattern.chars().any(char::is_control) {
        return Err("a pattern cannot hold control characters".to_string());
    }
    Ok(())
}

/// The silences in the agent's topic.
pub struct KafkaSilences {
    agent: AgentConfig,
    kafka: Option<KafkaConfig>,
    /// Made at the first use (a command that never touches silences opens no producer).
    bus: tokio::sync::OnceCell<Bus>,
}

impl KafkaSilences {
    pub fn new(agent: AgentConfig, kafka: Option<KafkaConfig>) -> KafkaSilences {
        KafkaSilences {
            agent,
            kafka,
            bus: tokio::sync::OnceCell::new(),
        }
    }

    async fn bus(&self) -> Result<&Bus> {
        self.bus
            .get_or_try_init(|| async {
                let bus = Bus::new(&self.agent, self.kafka.as_ref())?;
                bus.ensure_topics().await?;
                anyhow::Ok(bus)
            })
            .await
    }
}

/// The silences of a payload map (the topic's latest record per key); a record that is
/// no silence is skipped, and logged.
pub fn parse_all(latest: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<Silence> {
    let mut out: Vec<Silence> = latest
        .into_iter()
        .filter_map(|(k, v)| {
            serde_json::from_slice::<Silence>(&v)
                .map_err(|e| tracing::warn!(key = %k, "a silences record is no silence: {e}"))
                .ok()
        })
        .collect();
    out.sort_by(|a, b| a.pattern.cmp(&b.pattern));
    out
}

#[async_trait]
impl SilenceStore for KafkaSilences {
    async fn list(&self) -> Result<Vec<Silence>> {
        let bus = self.bus().await?;
        let latest = bus.latest(&bus.silences_topic).await?;
        Ok(parse_all(latest))
    }

    async fn put(&self, silence: &Silence) -> Result<()> {
        let bus = self.bus().await?;
        let payload = serde_json::to_vec(silence).context("a silence as JSON")?;
        let (_, error) = bus
            .send(
                &bus.silences_topic,
                &[(silence.pattern.clone(), Some(payload))],
            )
            .await;
        error.map_or(Ok(()), Err)
    }

    async fn remove(&self, pattern: &str) -> Result<()> {
        let bus = self.bus().await?;
        let (_, error) = bus
            .send(&bus.silences_topic, &[(pattern.to_string(), None)])
            .await;
        error.map_or(Ok(()), Err)
    }

    fn place(&self) -> String {
        format!("Kafka topic {}", self.agent.silences_topic)
    }
}

/// The silence store of a config: the agent's topic when `[agent]` is configured.
pub fn store(config: &crate::config::Config) -> Option<Arc<dyn SilenceStore>> {
    let agent = config.agent.clone()?;
    Some(Arc::new(KafkaSilences::new(agent, config.kafka.clone())))
}

/// At most `limit` alerts per `window` to one sink; the ones held back are counted and
/// told as one summary when the window is over.
#[derive(Debug)]
pub struct RateLimit {
    limit: u32,
    window: Duration,
    started: Option<Instant>,
    sent: u32,
    /// Ids of the findings held back, and the window (its start) they were held in.
    suppressed: Vec<String>,
    held_in: Option<Instant>,
}

impl RateLimit {
    pub fn new(limit: u32, window: Duration) -> RateLimit {
        RateLimit {
            limit: limit.max(1),
            window,
            started: None,
            sent: 0,
            suppressed: Vec::new(),
            held_in: None,
        }
    }

    fn roll(&mut self, now: Instant) {
        if self
            .started
            .is_none_or(|s| now.duration_since(s) >= self.window)
        {
            self.started = Some(now);
            self.sent = 0;
        }
    }

    /// The held-back ids to summarise now: when their window is over (the summary
    /// counts as one alert of the new window).
    pub fn summary_due(&mut self, now: Instant) -> Option<Vec<String>> {
        if self.suppressed.is_empty() {
            return None;
        }
        self.roll(now);
        if self.held_in == self.started {
            // Still the window they were held back in.
            return None;
        }
        self.held_in = None;
        Some(std::mem::take(&mut self.suppressed))
    }

    /// May one more alert go now? Counts it when it may.
    pub fn admit(&mut self, now: Instant) -> bool {
        self.roll(now);
        if self.sent < self.limit {
            self.sent += 1;
            true
        } else {
            false
        }
    }

    /// The last admitted alert was not sent after all (the sink refused it).
    pub fn unadmit(&mut self) {
        self.sent = self.sent.saturating_sub(1);
    }

    /// A summary was sent (it counts in the window).
    pub fn count_summary(&mut self) {
        self.sent += 1;
    }

    /// `id` was held back.
    pub fn suppress(&mut self, id: String) {
        self.held_in = self.started;
        self.suppressed.push(id);
    }

    /// Put ids back (a summary that the sink refused).
    pub fn restore(&mut self, ids: Vec<String>) {
        let later = std::mem::replace(&mut self.suppressed, ids);
        self.suppressed.extend(later);
        // Told at the next window.
        self.held_in = self.started;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_ids() {
        assert!(matches(
            "git/pay/production/eu-west-1",
            "git/pay/production/eu-west-1"
        ));
        assert!(!matches("git/pay", "git/pay/production"));
        assert!(matches("git/*", "git/pay/production/eu-west-1"));
        assert!(!matches("git/*", "hpa/pay/production/eu-west-1"));
        assert!(matches("*/production/*", "hpa/pay/production/eu-west-1"));
        assert!(matches("version/*/production", "version/pay/production"));
        assert!(!matches("version/*/production", "version/pay/staging"));
        assert!(matches("*", "anything"));
        assert!(!matches("a*a", "a"), "the ends may not overlap");
    }

    fn silence(pattern: &str, until: Timestamp) -> Silence {
        Silence {
            pattern: pattern.into(),
            reason: "planned".into(),
            by: "amara".into(),
            at: 0,
            until,
            audit_id: 1,
        }
    }

    #[test]
    fn a_silence_covers_until_it_expires() {
        let s = vec![silence("git/*", 100), silence("git/pay/*", 200)];
        assert_eq!(
            covering(&s, "git/pay/production/eu-west-1", 50).map(|s| s.until),
            Some(200),
            "the longest"
        );
        assert_eq!(
            covering(&s, "git/web/production/eu-west-1", 150),
            None,
            "expired"
        );
        assert!(s[0].describe().starts_with("git/* (by amara until "));
        assert!(check_pattern("").is_err());
        assert!(check_pattern("git/\u{1b}[2J").is_err());
        assert!(check_pattern("git/*").is_ok());
    }

    #[test]
    fn the_rate_limit_holds_back_and_summarises_when_the_window_ends() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(2, Duration::from_secs(60));
        assert!(r.admit(t0));
        assert!(r.admit(t0));
        assert!(!r.admit(t0));
        r.suppress("a".into());
        assert!(!r.admit(t0 + Duration::from_secs(10)));
        r.suppress("b".into());
        assert_eq!(r.summary_due(t0 + Duration::from_secs(30)), None);
        assert_eq!(
            r.summary_due(t0 + Duration::from_secs(61)),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        r.count_summary();
        assert!(r.admit(t0 + Duration::from_secs(62)));
        assert!(
            !r.admit(t0 + Duration::from_secs(62)),
            "the summary counted"
        );
        assert_eq!(r.summary_due(t0 + Duration::from_secs(63)), None);
    }
}
