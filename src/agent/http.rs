//! `/healthz` and Prometheus `/metrics`: two GET routes over a minimal HTTP/1.1 (one
//! request per connection, then closed), on tokio.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::agent::SOURCES;

/// What the agent counts, read by `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Records (and tombstones) published to the state topic, by source.
    published: BTreeMap<&'static str, u64>,
    findings: u64,
    heartbeats: u64,
    alerts: u64,
    alert_failures: u64,
    /// The sources watched: `None` when the last read succeeded, else why not.
    failing: BTreeMap<&'static str, Option<String>>,
    /// When each source was last read whole.
    last_ok: BTreeMap<&'static str, Instant>,
    /// The oldest watch event not yet published.
    pending_since: Option<Instant>,
    /// Why the broker cannot be written to, when it cannot.
    broker: Option<String>,
    /// The topics were read back and the agent publishes.
    started: bool,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn watching(&self, source: &'static str) {
        self.lock().failing.entry(source).or_insert(None);
    }

    pub fn published(&self, source: &'static str, n: usize) {
        *self.lock().published.entry(source).or_default() += n as u64;
    }

    pub fn findings_published(&self, n: usize) {
        self.lock().findings += n as u64;
    }

    pub fn alerts_sent(&self, n: usize) {
        self.lock().alerts += n as u64;
    }

    pub fn alert_failed(&self) {
        self.lock().alert_failures += 1;
    }

    pub fn heartbeats_published(&self, n: usize) {
        self.lock().heartbeats += n as u64;
    }

    pub fn source_ok(&self, source: &'static str) {
        let mut m = self.lock();
        m.failing.insert(source, None);
        m.last_ok.insert(source, Instant::now());
    }

    /// Read, but not all of it (some clusters did not answer): current, and failing.
    pub fn source_partial(&self, source: &'static str, why: String) {
        let mut m = self.lock();
        m.failing.insert(source, Some(why));
        m.last_ok.insert(source, Instant::now());
    }

    pub fn source_failed(&self, source: &'static str, why: String) {
        self.lock().failing.insert(source, Some(why));
    }

    pub fn source_error(&self, source: &str) -> Option<String> {
        self.lock()
            .failing
            .iter()
            .find(|(s, _)| **s == source)
            .and_then(|(_, e)| e.clone())
    }

    pub fn last_ok(&self, source: &str) -> Option<Instant> {
        self.lock()
            .last_ok
            .iter()
            .find(|(s, _)| **s == source)
            .map(|(_, t)| *t)
    }

    pub fn watch_pending(&self, since: Option<Instant>) {
        self.lock().pending_since = since;
    }

    pub fn broker(&self, error: Option<String>) {
        self.lock().broker = error;
    }

    pub fn started(&self) {
        self.lock().started = true;
    }

    /// `/healthz`: healthy once the agent publishes and while the broker takes its
    /// records (a failing source is reported by `/metrics` and the heartbeats: restarting
    /// the agent would not bring a cluster back).
    pub fn health(&self) -> (bool, String) {
        let m = self.lock();
        if let Some(why) = &m.broker {
            return (false, format!("kafka: {why}\n"));
        }
        if !m.started {
            return (false, "starting: the topics are not read yet\n".to_string());
        }
        let failing: Vec<&str> = m
            .failing
            .iter()
            .filter(|(_, e)| e.is_some())
            .map(|(s, _)| *s)
            .collect();
        if failing.is_empty() {
            (true, "ok\n".to_string())
        } else {
            (true, format!("ok; failing: {}\n", failing.join(", ")))
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        metric(
            "sphere_agent_records_published_total",
            "counter",
            "Records (and tombstones) published to the state topic, by source.",
        );
        let mut body = String::new();
        for s in SOURCES {
            if let Some(n) = m.published.get(s) {
                let _ = writeln!(
                    body,
                    "sphere_agent_records_published_total{{source=\"{s}\"}} {n}"
                );
            } else if m.failing.contains_key(s) {
                let _ = writeln!(
                    body,
                    "sphere_agent_records_published_total{{source=\"{s}\"}} 0"
                );
            }
        }
        out.push_str(&body);
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{value}");
        };
        metric(
            "sphere_agent_findings_published_total",
            "counter",
            "Drift findings published (appeared, changed, cleared).",
            format!("sphere_agent_findings_published_total {}", m.findings),
        );
        metric(
            "sphere_agent_heartbeats_published_total",
            "counter",
            "Heartbeats published.",
            format!("sphere_agent_heartbeats_published_total {}", m.heartbeats),
        );
        metric(
            "sphere_agent_alerts_sent_total",
            "counter",
            "Drift alerts the webhook took.",
            format!("sphere_agent_alerts_sent_total {}", m.alerts),
        );
        metric(
            "sphere_agent_alert_failures_total",
            "counter",
            "Drift alerts the webhook did not take (each tried again).",
            format!("sphere_agent_alert_failures_total {}", m.alert_failures),
        );
        let failing = m.failing.values().filter(|e| e.is_some()).count();
        metric(
            "sphere_agent_sources_failing",
            "gauge",
            "Sources whose last read failed.",
            format!("sphere_agent_sources_failing {failing}"),
        );
        let up: Vec<String> = m
            .failing
            .iter()
            .map(|(s, e)| {
                // Up: read whole, and the last read succeeded (not read yet: down).
                let up = e.is_none() && m.last_ok.contains_key(s);
                format!("sphere_agent_source_up{{source=\"{s}\"}} {}", u8::from(up))
            })
            .collect();
        metric(
            "sphere_agent_source_up",
            "gauge",
            "1 when the source was read and its last read succeeded.",
            up.join("\n"),
        );
        let now = Instant::now();
        let ages: Vec<String> = m
            .last_ok
            .iter()
            .map(|(s, t)| {
                format!(
                    "sphere_agent_source_age_seconds{{source=\"{s}\"}} {:.3}",
                    now.duration_since(*t).as_secs_f64()
                )
            })
            .collect();
        if !ages.is_empty() {
            metric(
                "sphere_agent_source_age_seconds",
                "gauge",
                "Seconds since the source was last read whole.",
                ages.join("\n"),
            );
        }
        let lag = m
            .pending_since
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        metric(
            "sphere_agent_watch_lag_seconds",
            "gauge",
            "Seconds the oldest cluster watch event has waited to be published (0: caught up).",
            format!("sphere_agent_watch_lag_seconds {lag:.3}"),
        );
        metric(
            "sphere_agent_kafka_up",
            "gauge",
            "1 while the broker takes the agent's records.",
            format!("sphere_agent_kafka_up {}", u8::from(m.broker.is_none())),
        );
        out
    }
}

/// Answers on `listener` until `stop` says so.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &metrics).await {
                            tracing::debug!("an HTTP request was not answered: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting an HTTP connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// The most a request head may hold.
const MAX_HEAD: usize = 8 * 1024;

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > MAX_HEAD {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        return Ok(());
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = if head.len() > MAX_HEAD {
        (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::new(),
        )
    } else if method != "GET" && method != "HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        )
    } else {
        match path {
            "/healthz" => {
                let (ok, text) = metrics.health();
                let status = if ok {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                (status, "text/plain; charset=utf-8", text)
            }
            "/metrics" => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.render(),
            ),
            _ => (
                "404 Not Found",
                "text/plain",
                "not found: /healthz or /metrics\n".to_string(),
            ),
        }
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_what_was_published_and_what_fails() {
        let m = Metrics::default();
        m.watching("clusters");
        m.watching("secrets");
        m.watching("flags");
        m.published("clusters", 3);
        m.source_ok("clusters");
        m.source_failed("secrets", "eu-west-1 timed out".into());
        let text = m.render();
        assert!(
            text.contains("sphere_agent_records_published_total{source=\"clusters\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("sphere_agent_records_published_total{source=\"secrets\"} 0"),
            "{text}"
        );
        assert!(text.contains("sphere_agent_sources_failing 1"), "{text}");
        assert!(text.contains("sphere_agent_source_up{source=\"secrets\"} 0"));
        assert!(text.contains("sphere_agent_source_up{source=\"clusters\"} 1"));
        assert!(
            text.contains("sphere_agent_source_up{source=\"flags\"} 0"),
            "not read yet: {text}"
        );
        assert!(text.contains("sphere_agent_watch_lag_seconds 0.000"));
        assert!(!m.health().0, "not started");
        m.started();
        assert_eq!(m.health(), (true, "ok; failing: secrets\n".to_string()));
        m.broker(Some("unreachable".into()));
        assert!(!m.health().0);
    }
}
