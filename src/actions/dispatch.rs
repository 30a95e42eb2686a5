//! The dispatcher: policy → audit → provider → audit.

use serde::Serialize;

use super::Action;
use super::golden::{StepReport, create_service};
use super::policy::{Actor, Confirm, Plan, PolicyContext, Refusal, holders_text, plan};
use crate::backend::Platform;
use crate::domain::access::{AccessRequest, AccessStatus, GrantHow};
use crate::domain::environment::{EphemeralEnv, format_duration};
use crate::domain::golden::Step;
use crate::domain::text::rfc3339;
use crate::domain::{ClusterId, Details, Freeze, Lock, Outcome, SecretValue};

/// An action that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispatched {
    /// The audit record of the action (its outcome is `Succeeded`).
    pub audit_id: u64,
    /// The action as it ran (resolved by the policy).
    pub action: Action,
    /// What happened, for people: `removed 2 locks`, `1.4.2 → 1.4.1`.
    pub detail: String,
    /// For `SecretReveal`: the value. Never serialised, printed or logged by sphere;
    /// the caller shows it on purpose.
    #[serde(skip)]
    pub revealed: Option<SecretValue>,
    /// For `ServiceCreate`: every step, in order, and what became of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
    /// For `AccessRequest`: the request's id (what `access approve` takes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<u64>,
}

/// Why an action did not (fully) run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DispatchError {
    /// The policy refused; `audit_id` is the record of the refusal (`None` for invalid
    /// input, which is not audited, or when the audit trail could not be written).
    #[error("{}{refusal}", if refusal.is_invalid() { "" } else { "refused: " })]
    Refused {
        refusal: Refusal,
        audit_id: Option<u64>,
    },
    /// The action needs this confirmation and `confirmed` was false. Nothing happened.
    #[error("needs confirmation ({0})")]
    NeedsConfirmation(Confirm),
    /// The provider call failed; the audit record says `Failed(error)`. The provider
    /// changed nothing.
    #[error("failed: {error} (audit #{audit_id})")]
    Failed { audit_id: u64, error: String },
    /// The audit trail could not be written. With `audit_id: None` nothing was done;
    /// otherwise the record stays `Started` and `done` says whether the action ran.
    #[error("audit trail: {error}")]
    Audit {
        audit_id: Option<u64>,
        done: bool,
        error: String,
    },
}

/// Run one action: plan it, record a refusal, ask for the confirmation it needs
/// (`confirmed` says the caller has it), record `Started`, call the provider, record
/// the outcome.
pub async fn dispatch(
    platform: &Platform,
    ctx: &PolicyContext,
    actor: &Actor,
    action: Action,
    confirmed: bool,
) -> Result<Dispatched, DispatchError> {
    dispatch_with_progress(platform, ctx, actor, action, confirmed, &mut |_| {}).await
}

/// [`dispatch`], telling `on_step` as each step of a multi-step action (the golden
/// path's `ServiceCreate`) ends. Single-step actions never call it.
pub async fn dispatch_with_progress(
    platform: &Platform,
    ctx: &PolicyContext,
    actor: &Actor,
    action: Action,
    confirmed: bool,
    on_step: &mut (dyn FnMut(&StepReport) + Send),
) -> Result<Dispatched, DispatchError> {
    let ledger = &platform.ledger;
    let plan = match plan(ctx, actor, &action) {
        Ok(p) => p,
        Err(refusal) => {
            let audit_id = if refusal.is_invalid() {
                None
            } else {
                let mut details = Details::new();
                if let Refusal::Locked { locks, .. } = &refusal {
                    details.insert("locks".into(), holders_text(locks));
                }
                let reason = action.reason().or(ctx.reason.as_deref());
                match ledger
                    .append_audit_with(
                        &actor.recorded(),
                        action.audit_name(),
                        &action.target(),
                        reason,
                        &details,
                        Outcome::Refused(refusal.to_string()),
                    )
                    .await
                {
                    Ok(id) => Some(id),
                    Err(e) => {
                        tracing::warn!("could not audit a refusal: {e:#}");
                        None
                    }
                }
            };
            return Err(DispatchError::Refused { refusal, audit_id });
        }
    };
    if plan.confirm != Confirm::None && !confirmed {
        return Err(DispatchError::NeedsConfirmation(plan.confirm));
    }
    let Plan {
        action,
        from_version,
        grant_rule,
        env,
        reason,
        overridden,
        override_reason,
        details,
        ..
    } = plan;
    if let Action::ServiceCreate { request, from_step } = &action {
        let from = from_step.as_deref().and_then(Step::parse);
        return create_service(
            platform,
            actor,
            &action,
            request,
            from,
            (reason.as_deref(), &details),
            on_step,
        )
        .await;
    }
    let audit_id = ledger
        .append_audit_with(
            &actor.recorded(),
            action.audit_name(),
            &action.target(),
            reason.as_deref(),
            &details,
            Outcome::Started,
        )
        .await
        .map_err(|e| DispatchError::Audit {
            audit_id: None,
            done: false,
            error: format!("{e:#}; nothing was done"),
        })?;
    let mut request_id = None;
    // What the provider call told (the version written, the locks removed).
    let mut after = Details::new();
    let result = match &action {
        Action::SecretReveal {
            service,
            env,
            region,
            key,
        } => platform
            .secrets
            .reveal(service, env, region, key)
            .await
            .map(|v| (format!("revealed {}", action.target()), Some(v))),
        Action::AccessRequest { .. } => request_access(
            platform,
            actor,
            &action,
            grant_rule.as_deref(),
            ctx.policy.access_grant_ttl,
        )
        .await
        .map(|(d, id)| {
            request_id = Some(id);
            (d, None)
        }),
        Action::EnvCreate { .. } | Action::EnvExtend { .. } | Action::EnvDelete { .. } => {
            environment(platform, &action, env.as_ref())
                .await
                .map(|d| (d, None))
        }
        Action::AlertSilence { .. } | Action::AlertUnsilence { .. } => {
            silence(platform, actor, &action, audit_id)
                .await
                .map(|d| (d, None))
        }
        _ => execute(
            platform,
            actor,
            &action,
            from_version.as_deref(),
            ctx.policy.access_grant_ttl,
            &mut after,
        )
        .await
        .map(|d| (d, None)),
    };
    // An override is said with the outcome, naming the locks it went past.
    let result = result.map(|(detail, revealed)| match &override_reason {
        Some(why) if overridden.is_empty() => (
            format!("{detail} (override of locks that could not be read: {why})"),
            revealed,
        ),
        Some(why) => (
            format!(
                "{detail} (lock overridden: {}; because: {why})",
                holders_text(&overridden)
            ),
            revealed,
        ),
        None => (detail, revealed),
    });
    // A "rollback" to a release newer than the running one goes forward: say so.
    let forward = match (&action, from_version.as_deref(), &ctx.subject) {
        (Action::Rollback { to: Some(to), .. }, Some(from), Some(s)) => {
            let at = |v: &str| s.releases.iter().position(|r| r == v);
            matches!((at(from), at(to)), (Some(f), Some(t)) if t > f)
        }
        _ => false,
    };
    let result = result.map(|(detail, revealed)| {
        if forward {
            (
                format!("{detail} (forward: a newer release than the one that ran)"),
                revealed,
            )
        } else {
            (detail, revealed)
        }
    });
    let (outcome, ret) = match result {
        Ok((detail, revealed)) => (
            Outcome::Succeeded,
            Ok(Dispatched {
                audit_id,
                action,
                detail,
                revealed,
                steps: Vec::new(),
                request_id,
            }),
        ),
        Err(e) => {
            let error = format!("{e:#}");
            (
                Outcome::Failed(error.clone()),
                Err(DispatchError::Failed { audit_id, error }),
            )
        }
    };
    let done = ret.is_ok();
    if let Err(e) = ledger
        .set_audit_outcome_with(audit_id, outcome, &after)
        .await
    {
        return Err(DispatchError::Audit {
            audit_id: Some(audit_id),
            done,
            error: format!(
                "{e:#}; the record #{audit_id} still says started, the action {}",
                if done { "was done" } else { "failed" }
            ),
        });
    }
    if let Ok(d) = &ret {
        notify(platform, actor, d).await;
    }
    ret
}

/// The webhook event an action sends when it succeeds, if any.
fn webhook_event(action: &Action) -> Option<&'static str> {
    match action {
        Action::Rollback { .. } => Some("rollback"),
        Action::LockAll { .. } => Some("lock-all"),
        Action::UnlockAll { .. } => Some("unlock-all"),
        Action::FreezeOn { .. } | Action::FreezeOff => Some("freeze"),
        _ => None,
    }
}

/// Tell the webhook, when one is configured for this action. A failure changes nothing
/// about the action; it is logged and recorded in the audit trail as `webhook.notify`.
async fn notify(platform: &Platform, actor: &Actor, d: &Dispatched) {
    let (Some(hook), Some(event)) = (&platform.webhook, webhook_event(&d.action)) else {
        return;
    };
    if !hook.wants(event) {
        return;
    }
    let target = d.action.target();
    let message = crate::backend::webhook::Notification {
        event: event.to_string(),
        platform: platform.name.clone(),
        actor: actor.name.clone(),
        text: format!("{} {event} {target}: {}", actor.name, d.detail),
        target: target.clone(),
        reason: d.action.reason().map(str::to_string),
        detail: d.detail.clone(),
        audit_id: d.audit_id,
        at: platform.now(),
    };
    if let Err(e) = hook.notify(&message).await {
        tracing::warn!("webhook for audit #{}: {e:#}", d.audit_id);
        let _ = platform
            .ledger
            .append_audit(
                &actor.recorded(),
                "webhook.notify",
                &format!("{event} {target}"),
                None,
                Outcome::Failed(format!("{e:#}")),
            )
            .await;
    }
}

/// Set or remove an alert silence in the platform's silence store.
async fn silence(
    platform: &Platform,
    actor: &Actor,
    action: &Action,
    audit_id: u64,
) -> anyhow::Result<String> {
    let Some(store) = &platform.silences else {
        anyhow::bail!(
            "silences are kept by the agent: configure [agent] (its silences_topic) to silence alerts"
        );
    };
    match action {
        Action::AlertSilence {
            pattern,
            reason,
            for_seconds,
        } => {
            let at = platform.now();
            let s = crate::agent::silences::Silence {
                pattern: pattern.clone(),
                reason: reason.clone(),
                by: actor.name.clone(),
                at,
                until: at + for_seconds,
                audit_id,
            };
            store.put(&s).await?;
            Ok(format!(
                "silenced {pattern} until {} in {}",
                rfc3339(s.until),
                store.place()
            ))
        }
        Action::AlertUnsilence { pattern } => {
            let kept = store.list().await?;
            if !kept.iter().any(|s| &s.pattern == pattern) {
                anyhow::bail!("there is no silence of {pattern} in {}", store.place());
            }
            store.remove(pattern).await?;
            Ok(format!("removed the silence of {pattern}"))
        }
        _ => anyhow::bail!("not a silence: {}", action.describe()),
    }
}

/// Create, extend or delete an ephemeral environment (`env`: as planned).
async fn environment(
    platform: &Platform,
    action: &Action,
    env: Option<&EphemeralEnv>,
) -> anyhow::Result<String> {
    let until = |e: &EphemeralEnv| {
        format!(
            "expires in {}, at {}",
            format_duration(e.remaining(platform.now())),
            rfc3339(e.expires_at)
        )
    };
    match (action, env) {
        (Action::EnvCreate { .. }, Some(e)) => {
            let n = platform.clusters.create_environment(e).await?;
            Ok(format!(
                "created {} from {} in {} with {n} deployment{}; it expires in {}, at {}",
                e.name,
                e.from,
                e.regions.join(", "),
                if n == 1 { "" } else { "s" },
                format_duration(e.expires_at - e.created_at),
                rfc3339(e.expires_at)
            ))
        }
        (Action::EnvExtend { .. }, Some(e)) => {
            platform
                .clusters
                .extend_environment(&e.name, e.expires_at)
                .await?;
            Ok(format!("{} now {}", e.name, until(e)))
        }
        (Action::EnvDelete { name }, _) => {
            let n = platform.clusters.delete_environment(name).await?;
            Ok(format!(
                "deleted {name} and its {n} deployment{}",
                if n == 1 { "" } else { "s" }
            ))
        }
        _ => anyhow::bail!("not planned: {}", action.describe()),
    }
}

/// Record an access request, granted at once (for `grant_ttl` seconds) when `rule`
/// says so.
async fn request_access(
    platform: &Platform,
    actor: &Actor,
    action: &Action,
    rule: Option<&str>,
    grant_ttl: i64,
) -> anyhow::Result<(String, u64)> {
    let Action::AccessRequest {
        service,
        permission,
        env,
        reason,
    } = action
    else {
        anyhow::bail!("not an access request");
    };
    let status = match rule {
        Some(r) => AccessStatus::Granted {
            by: actor.name.clone(),
            how: GrantHow::Auto(r.to_string()),
        },
        None => AccessStatus::Pending,
    };
    let now = platform.now();
    let expires_at = rule.is_some().then_some(now + grant_ttl);
    let id = platform
        .ledger
        .request_access(AccessRequest {
            id: 0,
            requester: actor.name.clone(),
            service: service.clone(),
            permission: *permission,
            env: env.clone(),
            reason: reason.clone(),
            status,
            at: now,
            expires_at,
        })
        .await?;
    let said = match rule {
        Some(r) => format!(
            "access request #{id}: {permission} on {service} granted ({r}) for {}",
            format_duration(grant_ttl)
        ),
        None => format!(
            "access request #{id}: {permission} on {service} is pending approval by an owner of {service}"
        ),
    };
    Ok((said, id))
}

/// The provider call of one (planned) action: exactly one mutation, so a failure
/// leaves nothing half-done.
async fn execute(
    platform: &Platform,
    actor: &Actor,
    action: &Action,
    from: Option<&str>,
    grant_ttl: i64,
    after: &mut Details,
) -> anyhow::Result<String> {
    let now = || platform.now();
    match action {
        Action::Lock {
            service,
            env,
            region,
            reason,
        } => {
            let others = platform
                .ledger
                .add_lock(Lock {
                    service: service.clone(),
                    env: env.clone(),
                    region: region.clone(),
                    reason: reason.clone(),
                    by: actor.name.clone(),
                    at: now(),
                })
                .await?;
            Ok(locked_said(
                format!("locked {}", action.target()),
                &others,
                after,
            ))
        }
        Action::Unlock {
            service,
            env,
            region,
            all_holders,
        } => {
            let by = (!all_holders).then_some(actor.name.as_str());
            let gone = platform
                .ledger
                .remove_locks(service, env.as_deref(), region.as_deref(), by)
                .await?;
            let mut said = unlocked_said(&action.target(), &gone, after);
            let kept: Vec<Lock> = platform
                .ledger
                .locks_now()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|l| l.within(service, env.as_deref(), region.as_deref()))
                .collect();
            if !kept.is_empty() {
                said.push_str(&format!(
                    "; still locked by {} (--all-holders removes theirs)",
                    holders_text(&kept)
                ));
            }
            // The incident lock still holds every service: say so, or the user thinks
            // the service is free.
            let all = platform.ledger.locks_now().await.unwrap_or_default();
            if all.iter().any(|l| l.service == crate::domain::Lock::ALL) {
                said.push_str(
                    "; the lock on everything still holds (`sphere unlock all` releases it)",
                );
            }
            Ok(said)
        }
        Action::LockAll { reason } => {
            let others = platform
                .ledger
                .add_lock(Lock {
                    service: Lock::ALL.to_string(),
                    env: None,
                    region: None,
                    reason: reason.clone(),
                    by: actor.name.clone(),
                    at: now(),
                })
                .await?;
            Ok(locked_said(
                "every service is locked everywhere".to_string(),
                &others,
                after,
            ))
        }
        Action::UnlockAll { all_holders } => {
            let by = (!all_holders).then_some(actor.name.as_str());
            let gone = platform
                .ledger
                .remove_locks(Lock::ALL, None, None, by)
                .await?;
            let kept: Vec<Lock> = platform
                .ledger
                .locks_now()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|l| l.service == Lock::ALL)
                .collect();
            let said = match (gone.is_empty(), kept.is_empty()) {
                (true, true) => "there was no lock on everything".to_string(),
                (false, true) => {
                    after.insert("lock.removed".into(), holders_text(&gone));
                    "the lock on everything is released".to_string()
                }
                (_, false) => {
                    if !gone.is_empty() {
                        after.insert("lock.removed".into(), holders_text(&gone));
                    }
                    format!(
                        "{}; the lock on everything still holds: {} (--all-holders removes theirs)",
                        if gone.is_empty() {
                            "you held no lock on everything"
                        } else {
                            "your lock on everything is released"
                        },
                        holders_text(&kept)
                    )
                }
            };
            Ok(said)
        }
        Action::FreezeOn { reason } => {
            platform
                .ledger
                .set_freeze(Freeze {
                    on: true,
                    reason: Some(reason.clone()),
                    by: Some(actor.name.clone()),
                    at: Some(now()),
                })
                .await?;
            Ok("the merge freeze is on".to_string())
        }
        Action::FreezeOff => {
            platform
                .ledger
                .set_freeze(Freeze {
                    on: false,
                    reason: None,
                    by: Some(actor.name.clone()),
                    at: Some(now()),
                })
                .await?;
            Ok("the merge freeze is off".to_string())
        }
        Action::Rollback {
            service,
            cluster,
            to,
        } => {
            let Some(to) = to else {
                anyhow::bail!("no version to roll back to");
            };
            platform.repos.rollback(service, cluster, to).await?;
            Ok(format!(
                "{service} in {cluster}: {} → {to}; a release by the delivery pipeline can replace it: lock it to keep it (sphere lock {service} --env {} --region {} --reason TEXT)",
                from.unwrap_or("?"),
                cluster.env,
                cluster.region
            ))
        }
        Action::Restart { service, cluster } => {
            platform.clusters.restart(service, cluster).await?;
            Ok(format!("{service} in {cluster} is restarting"))
        }
        Action::SetHpa {
            service,
            cluster,
            min,
            max,
        } => {
            platform
                .clusters
                .set_hpa(service, cluster, *min, *max)
                .await?;
            Ok(format!("{service} in {cluster}: HPA {min}..{max}"))
        }
        Action::SecretPut {
            service,
            env,
            region,
            key,
            value,
        } => {
            platform
                .secrets
                .put(service, env, region, key, value.clone())
                .await?;
            // The version written, for the audit trail (the write stands without it).
            if let Ok(all) = platform.secrets.list(Some(service)).await
                && let Some(m) = all
                    .iter()
                    .find(|m| m.env == *env && m.region == *region && m.key == *key)
            {
                after.insert("secret.version.to".into(), m.version_id.clone());
            }
            Ok(format!("wrote {}", action.target()))
        }
        Action::SecretDelete {
            service,
            env,
            region,
            key,
        } => {
            platform.secrets.delete(service, env, region, key).await?;
            Ok(format!("deleted {}", action.target()))
        }
        Action::SecretReveal { .. } => anyhow::bail!("a reveal returns a value; see dispatch"),
        Action::ServiceCreate { .. } => anyhow::bail!("the golden path has steps; see dispatch"),
        Action::AccessRequest { .. } => anyhow::bail!("an access request is recorded by dispatch"),
        Action::EnvCreate { .. } | Action::EnvExtend { .. } | Action::EnvDelete { .. } => {
            anyhow::bail!("environments are changed by dispatch")
        }
        Action::AlertSilence { .. } | Action::AlertUnsilence { .. } => {
            anyhow::bail!("silences are changed by dispatch")
        }
        Action::AccessApprove { id, .. } | Action::AccessDeny { id, .. } => {
            let grant = matches!(action, Action::AccessApprove { .. });
            let expires_at = grant.then(|| now() + grant_ttl);
            let r = platform
                .ledger
                .decide_access(*id, grant, &actor.name, expires_at)
                .await?;
            Ok(format!(
                "access request #{id} ({} {} on {}) {}",
                r.requester,
                r.permission,
                r.service,
                if grant {
                    format!("granted for {}", format_duration(grant_ttl))
                } else {
                    "denied".to_string()
                }
            ))
        }
        Action::SecretCopy {
            service,
            env,
            key,
            from,
            to,
        } => {
            platform.secrets.copy(service, env, key, from, to).await?;
            Ok(format!("copied {env}/{service}/{key} from {from} to {to}"))
        }
        Action::FlagSet {
            name,
            value,
            percentage,
            env,
            region,
        } => {
            let pct = percentage.map(|p| format!(" at {p}%")).unwrap_or_default();
            match (env, region) {
                (None, None) => {
                    platform.flags.set(name, value, *percentage, None).await?;
                    Ok(format!(
                        "{name} → {value}{pct} sent to every cluster (pending)"
                    ))
                }
                (Some(e), Some(r)) => {
                    let c = ClusterId::new(e, r);
                    platform
                        .flags
                        .set(name, value, *percentage, Some(&c))
                        .await?;
                    Ok(format!("{name} → {value}{pct} sent to {c} (pending)"))
                }
                _ => {
                    // One environment or one region: every cluster of it that has the
                    // flag, each one call.
                    let clusters: Vec<ClusterId> = platform
                        .flags
                        .list()
                        .await?
                        .into_iter()
                        .filter(|f| {
                            f.name == *name
                                && env.as_ref().is_none_or(|e| &f.cluster.env == e)
                                && region.as_ref().is_none_or(|r| &f.cluster.region == r)
                        })
                        .map(|f| f.cluster)
                        .collect();
                    for c in &clusters {
                        platform
                            .flags
                            .set(name, value, *percentage, Some(c))
                            .await?;
                    }
                    Ok(format!(
                        "{name} → {value}{pct} sent to {} cluster{} (pending)",
                        clusters.len(),
                        if clusters.len() == 1 { "" } else { "s" }
                    ))
                }
            }
        }
    }
}

/// What a lock tells: done, and who else holds a lock on the same target and why.
fn locked_said(done: String, others: &[Lock], after: &mut Details) -> String {
    if others.is_empty() {
        return done;
    }
    let text = holders_text(others);
    after.insert("lock.others".into(), text.clone());
    format!("{done}; already locked there by {text} (their lock stays)")
}

/// What an unlock tells: whose locks went.
fn unlocked_said(target: &str, gone: &[Lock], after: &mut Details) -> String {
    if gone.is_empty() {
        return format!("{target} had no lock to remove");
    }
    let text = holders_text(gone);
    after.insert("lock.removed".into(), text.clone());
    format!(
        "removed {} lock{}: {text}",
        gone.len(),
        if gone.len() == 1 { "" } else { "s" }
    )
}
