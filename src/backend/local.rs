//! What a configured platform keeps on this machine, in the data dir: access requests,
//! and the audit journal when no Kafka is configured. One JSON file per store, read and
//! replaced under an exclusive file lock, so two `sphere` processes never lose an update.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AuditStore;
use crate::backend::sim::state::FileLock;
use crate::domain::access::{AccessRequest, add_request, decide_request};
use crate::domain::{AuditRecord, Details, Outcome, Timestamp};

/// A JSON document in a file, changed only under its lock.
#[derive(Debug, Clone)]
pub struct JsonFile {
    path: PathBuf,
}

impl JsonFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current document (the default when the file does not exist yet).
    pub fn read<T: DeserializeOwned + Default>(&self) -> Result<T> {
        let _lock = FileLock::exclusive(&self.path)?;
        self.read_unlocked()
    }

    fn read_unlocked<T: DeserializeOwned + Default>(&self) -> Result<T> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Read, change and write back in one step under the lock; the file is replaced
    /// atomically, and only when `f` succeeds.
    pub fn mutate<T, R>(&self, f: impl FnOnce(&mut T) -> Result<R>) -> Result<R>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        let _lock = FileLock::exclusive(&self.path)?;
        let mut doc: T = self.read_unlocked()?;
        let out = f(&mut doc)?;
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec(&doc)?;
        write_private(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(out)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Access requests (C15) of a configured platform: `access.json` in the data dir.
#[derive(Debug, Clone)]
pub struct LocalAccess {
    file: JsonFile,
}

impl LocalAccess {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalAccess {
            file: JsonFile::new(path),
        }
    }

    pub fn request(&self, request: AccessRequest) -> Result<u64> {
        self.file
            .mutate(|all: &mut Vec<AccessRequest>| Ok(add_request(all, request)))
    }

    pub fn list(&self) -> Result<Vec<AccessRequest>> {
        let mut all: Vec<AccessRequest> = self.file.read()?;
        all.sort_by_key(|r| r.id);
        Ok(all)
    }

    pub fn decide(
        &self,
        id: u64,
        granted: bool,
        by: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<AccessRequest> {
        self.file
            .mutate(|all: &mut Vec<AccessRequest>| decide_request(all, id, granted, by, expires_at))
    }
}

/// The audit trail kept only on this machine (`audit.json` in the data dir): used when
/// no Kafka is configured.
#[derive(Debug, Clone)]
pub struct LocalAudit {
    file: JsonFile,
}

impl LocalAudit {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalAudit {
            file: JsonFile::new(path),
        }
    }
}

#[async_trait]
impl AuditStore for LocalAudit {
    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        let all: Vec<AuditRecord> = self.file.read()?;
        Ok(all
            .into_iter()
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
        self.file.mutate(|all: &mut Vec<AuditRecord>| {
            let id = all.last().map_or(0, |r| r.id) + 1;
            all.push(AuditRecord {
                id,
                at: chrono::Utc::now().timestamp(),
                actor: actor.to_string(),
                action: action.to_string(),
                target: target.to_string(),
                reason: reason.map(str::to_string),
                outcome,
                details: details.clone(),
            });
            Ok(id)
        })
    }

    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()> {
        self.file.mutate(|all: &mut Vec<AuditRecord>| {
            let Some(r) = all.iter_mut().find(|r| r.id == id) else {
                anyhow::bail!("no audit record #{id}");
            };
            r.outcome = outcome;
            r.details.extend(details.clone());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::{AccessStatus, Permission};

    #[tokio::test]
    async fn audit_survives_reopening_and_ids_increase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.json");
        let a = LocalAudit::new(&path);
        let id1 = a
            .append_audit("ada", "lock", "cart", Some("release"), Outcome::Started)
            .await
            .expect("append");
        a.set_audit_outcome(id1, Outcome::Succeeded)
            .await
            .expect("outcome");
        let b = LocalAudit::new(&path);
        let id2 = b
            .append_audit("bob", "unlock", "cart", None, Outcome::Started)
            .await
            .expect("append");
        assert!(id2 > id1);
        let all = b.audit(None).await.expect("read");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome, Outcome::Succeeded);
        assert!(b.set_audit_outcome(99, Outcome::Succeeded).await.is_err());
    }

    #[test]
    fn access_requests_are_decided_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalAccess::new(dir.path().join("access.json"));
        let req = AccessRequest {
            id: 0,
            at: 1,
            requester: "bob".into(),
            service: "cart".into(),
            permission: Permission::Operate,
            env: None,
            reason: "deploy".into(),
            status: AccessStatus::Pending,
            expires_at: None,
        };
        let id = store.request(req.clone()).expect("request");
        assert_eq!(store.request(req).expect("request"), id + 1);
        let decided = store.decide(id, true, "ada", Some(99)).expect("decide");
        assert_eq!(decided.expires_at, Some(99));
        assert!(matches!(decided.status, AccessStatus::Granted { .. }));
        assert!(
            store.decide(id, false, "ada", None).is_err(),
            "decided already"
        );
        assert_eq!(store.list().expect("list").len(), 2);
    }
}
