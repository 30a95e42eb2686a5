//! The notification webhook (`[webhook]`): a JSON message POSTed when a chosen action
//! succeeds (a rollback, the incident lock on everything, ...). It works on every
//! platform, the demo included. A webhook that fails never undoes the action; the
//! dispatcher records the failure in the audit trail.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::settings::WebhookConfig;

/// One message, as POSTed (`Content-Type: application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// `rollback`, `lock-all`, `unlock-all` or `freeze`.
    pub event: String,
    /// The platform's name (`demo`, `acme production`).
    pub platform: String,
    pub actor: String,
    /// The audit record's target (`checkout@production/eu-west-1`, `*@*/*`).
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened, for people (`1.4.2 → 1.4.1`).
    pub detail: String,
    /// The audit record of the action.
    pub audit_id: u64,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// A line for chat tools that show `text` (Slack's incoming webhooks do).
    pub text: String,
}

/// The configured webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    events: BTreeSet<String>,
}

impl Webhook {
    pub fn new(config: &WebhookConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds.max(1)))
            .user_agent(concat!("sphere/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the webhook's HTTP client")?;
        Ok(Webhook {
            client,
            url: config.url.clone(),
            events: config.events.iter().cloned().collect(),
        })
    }

    /// Does `event` notify?
    pub fn wants(&self, event: &str) -> bool {
        self.events.contains(event)
    }

    /// POST the message; an error for a transport failure or a non-2xx answer.
    pub async fn notify(&self, message: &Notification) -> Result<()> {
        let host = reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let response = self
            .client
            .post(&self.url)
            .json(message)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("webhook {host}: {}", without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("webhook {host} answered {status}");
        }
        Ok(())
    }
}

/// reqwest's message without the URL (which may carry a token in its path).
fn without_url(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_string(),
    }
}
