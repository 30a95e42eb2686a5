//! The demo's ledger: locks, the freeze, the audit trail and access requests (its
//! [`LedgerProvider`]).

use anyhow::Result;
use async_trait::async_trait;

use super::Sim;
use crate::backend::LedgerProvider;
use crate::domain::access::AccessRequest;
use crate::domain::{AuditRecord, Details, Freeze, Lock, Outcome, Timestamp};

#[async_trait]
impl LedgerProvider for Sim {
    async fn locks(&self) -> Result<Vec<Lock>> {
        self.readable()?;
        self.refresh()?;
        Ok(self.world().durable.locks.clone())
    }

    async fn freeze(&self) -> Result<Freeze> {
        self.readable()?;
        self.refresh()?;
        Ok(self.world().durable.freeze.clone())
    }

    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        self.readable()?;
        self.refresh()?;
        let mut out: Vec<AuditRecord> = self
            .world()
            .durable
            .audit
            .iter()
            .filter(|r| since.is_none_or(|t| r.at >= t))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        self.check_fault("add_lock")?;
        Sim::add_lock(self, lock)
    }

    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        self.check_fault("remove_locks")?;
        Sim::remove_locks(self, service, env, region, by)
    }

    async fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        self.check_fault("set_freeze")?;
        Sim::set_freeze(self, freeze)
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
        self.check_fault("append_audit")?;
        Sim::append_audit(self, actor, action, target, reason, details, outcome)
    }

    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()> {
        self.check_fault("set_audit_outcome")?;
        if !Sim::set_audit_outcome(self, id, outcome, details)? {
            anyhow::bail!("no audit record #{id}");
        }
        Ok(())
    }

    async fn request_access(&self, request: AccessRequest) -> Result<u64> {
        self.check_fault("request_access")?;
        // Under the state lock: the next id is read and taken in one step.
        self.mutate(|s| crate::domain::access::add_request(&mut s.access, request))
    }

    async fn access_requests(&self) -> Result<Vec<AccessRequest>> {
        self.readable()?;
        self.refresh()?;
        let mut out = self.world().durable.access.clone();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn decide_access(
        &self,
        id: u64,
        granted: bool,
        by: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<AccessRequest> {
        self.check_fault("decide_access")?;
        self.mutate(|s| {
            crate::domain::access::decide_request(&mut s.access, id, granted, by, expires_at)
        })?
    }
}
