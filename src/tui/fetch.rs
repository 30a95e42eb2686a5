//! Reads the panes ask for, run off the UI task. Each result comes back as a `Msg`;
//! a read that fails or takes too long comes back as an error for the pane to show.

use std::time::Duration;

use crate::backend::Platform;
use crate::domain::{AuditRecord, FlagState, Lock, SecretMeta};

use super::model::Msg;

/// How long one provider read may take before the pane shows an error.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    Locks,
    Audit,
    Flags,
    /// Every secret of one service, in every region.
    Secrets(String),
}

#[derive(Debug)]
pub enum Fetched {
    Locks(Vec<Lock>),
    Audit(Vec<AuditRecord>),
    Flags(Vec<FlagState>),
    Secrets(String, Vec<SecretMeta>),
}

/// Run one read against the platform, with a timeout.
pub async fn fetch(platform: &Platform, what: Fetch) -> Msg {
    let label = format!("{what:?}");
    let read = async {
        Ok::<Fetched, anyhow::Error>(match what.clone() {
            Fetch::Locks => Fetched::Locks(platform.ledger.locks().await?),
            Fetch::Audit => Fetched::Audit(platform.ledger.audit(None).await?),
            Fetch::Flags => Fetched::Flags(platform.flags.list().await?),
            Fetch::Secrets(s) => {
                let list = platform.secrets.list(Some(&s)).await?;
                Fetched::Secrets(s, list)
            }
        })
    };
    match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(f)) => Msg::Fetched(Ok(f)),
        Ok(Err(e)) => Msg::Fetched(Err((what, format!("{e:#}")))),
        Err(_) => Msg::Fetched(Err((
            what,
            format!("{label}: no answer within {}s", TIMEOUT.as_secs()),
        ))),
    }
}
