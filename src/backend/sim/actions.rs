//! The demo's mutations behind the provider traits: locks, audit, freeze, versions,
//! restarts, HPA bounds, flags and secrets, each through the one door (`mutate`).

use std::collections::BTreeMap;

use anyhow::Result;

use super::Sim;
use super::state;
use super::state::SecretValue;
use crate::domain::{ClusterId, Details, Freeze, Lock, Name, Outcome, PendingFlag};

/// Mutations behind the provider traits (and the secrets and flags actions to come).
#[allow(dead_code)]
impl Sim {
    /// Add a lock to its target's set; the other holders' locks there (see
    /// [`crate::domain::add_lock`]).
    pub(crate) fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        self.mutate(|s| crate::domain::add_lock(&mut s.locks, lock))
    }

    /// Remove the locks of `service` inside the given scope (`None` = any) held by
    /// `by` (`None`: every holder's): unlocking production removes
    /// production/eu-west-1, not a lock on every environment.
    pub(crate) fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        self.mutate(|s| crate::domain::remove_locks(&mut s.locks, service, env, region, by))
    }

    /// Append an audit record; ids increase across processes.
    pub(crate) fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        details: &Details,
        outcome: Outcome,
    ) -> Result<u64> {
        self.mutate_world(|w, now| {
            let started = outcome == Outcome::Started;
            let id = w
                .durable
                .append_audit(now, actor, action, target, reason, outcome);
            if let Some(r) = w.durable.audit.iter_mut().rev().find(|r| r.id == id) {
                r.details = details.clone();
            }
            // Whose it is, so that it becomes `interrupted` if this process dies
            // before it records the outcome.
            if started {
                w.durable.running.insert(id, state::Runner::this_process());
            }
            id
        })
    }

    /// Record the outcome of an audited action that was `Started`, adding `details`.
    pub(crate) fn set_audit_outcome(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<bool> {
        self.mutate(|s| {
            if outcome != Outcome::Started {
                s.running.remove(&id);
            }
            match s.audit.iter_mut().find(|r| r.id == id) {
                Some(r) => {
                    r.outcome = outcome;
                    r.details.extend(details.clone());
                    true
                }
                None => false,
            }
        })
    }

    pub(crate) fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        self.mutate(|s| s.freeze = freeze)
    }

    /// Set the version a deployment runs (rollback, or a deploy); the pods roll over on
    /// the next ticks. False when there is no such deployment.
    pub(crate) fn set_version(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
    ) -> Result<bool> {
        self.mutate_world(|w, now| {
            let Some(i) = w
                .durable
                .deployments
                .iter()
                .position(|d| d.service == service && &d.cluster == cluster)
            else {
                return false;
            };
            let (_, version) = w.durable.release(service, version);
            let d = &mut w.durable.deployments[i];
            d.version = version;
            d.updated_at = now;
            true
        })
    }

    /// Every released version of a service, oldest first.
    pub(crate) fn releases(&self, service: &str) -> Vec<String> {
        self.world()
            .durable
            .releases
            .get(service)
            .map(|r| r.iter().map(Name::to_string).collect())
            .unwrap_or_default()
    }

    /// `kubectl rollout restart`: every pod is replaced, one per tick.
    pub(crate) fn restart(&self, service: &str, cluster: &ClusterId) -> Result<bool> {
        self.mutate_world(|w, now| {
            match w
                .durable
                .deployments
                .iter_mut()
                .find(|d| d.service == service && &d.cluster == cluster)
            {
                Some(d) => {
                    d.restart_gen += 1;
                    d.updated_at = now;
                    true
                }
                None => false,
            }
        })
    }

    /// Patch an HPA's bounds; the deployment's replicas are clamped into them.
    pub(crate) fn set_hpa(
        &self,
        service: &str,
        cluster: &ClusterId,
        min: u32,
        max: u32,
    ) -> Result<bool> {
        self.mutate(|s| {
            let Some(h) = s
                .hpas
                .iter_mut()
                .find(|h| h.service == service && &h.cluster == cluster)
            else {
                return false;
            };
            let old = [h.min, h.max];
            h.min = min;
            h.max = max.max(min);
            // A patch of the live HPA: git keeps its bounds.
            let new = [h.min, h.max];
            s.gitops.hpa_patched(service, cluster, old, new);
            if let Some(d) = s
                .deployments
                .iter_mut()
                .find(|d| d.service == service && &d.cluster == cluster)
            {
                d.desired = d.desired.clamp(min, max.max(min));
            }
            true
        })
    }

    /// Send a flag change to one cluster; it is pending until the cluster acknowledges.
    pub(crate) fn set_flag(
        &self,
        name: &str,
        cluster: &ClusterId,
        value: &str,
        percentage: u8,
    ) -> Result<bool> {
        self.mutate_world(|w, now| {
            match w
                .durable
                .flags
                .iter_mut()
                .find(|f| f.name == name && &f.cluster == cluster)
            {
                Some(f) => {
                    f.pending = Some(PendingFlag {
                        value: value.to_string(),
                        percentage: percentage.min(100),
                        sent_at: now,
                    });
                    true
                }
                None => false,
            }
        })
    }

    /// Create or update a secret in one region (a new version).
    pub(crate) fn put_secret(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<String> {
        let value = SecretValue(value.to_string());
        self.mutate_world(|w, now| {
            let vid = state::version_id(&mut w.rng);
            w.durable
                .secrets
                .put(service, env, region, key, value, vid.clone(), now, tags);
            vid
        })
    }

    pub(crate) fn delete_secret(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<bool> {
        self.mutate(|s| s.secrets.remove(service, env, region, key))
    }

    /// The value of one secret, for a deliberate (audited) reveal or a copy.
    pub(crate) fn secret_value(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Option<String> {
        self.world()
            .durable
            .secrets
            .value(service, env, region, key)
            .map(|v| v.0)
    }
}
