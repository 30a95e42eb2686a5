//! Phases 5 and 6 of [`plan`](super::plan): whose locks an unlock removes, and the
//! locks that stop a mutating action (unless overridden on purpose).

use super::{
    Actor, MAX_REASON, PolicyContext, Refusal, clean_reason, holders_text, invalid, or_any,
};
use crate::actions::Action;
use crate::domain::golden::DEV_ENV;
use crate::domain::{ClusterId, Details, Lock};

/// Whose locks an unlock removes: the actor's own, or every holder's on purpose (with a
/// reason); recorded in `details`. The other holders whose locks go (named in the
/// typed confirmation); empty when none.
pub(super) fn unlock_removal(
    ctx: &PolicyContext,
    actor: &Actor,
    resolved: &Action,
    reason: Option<&str>,
    details: &mut Details,
) -> Result<Vec<String>, Refusal> {
    let mut others_removed: Vec<String> = Vec::new();
    if let Some((service, env, region, all)) = unlock_scope(resolved) {
        let inside: Vec<Lock> = ctx
            .locks
            .iter()
            .filter(|l| l.within(service, env, region))
            .cloned()
            .collect();
        let (mine, others): (Vec<Lock>, Vec<Lock>) =
            inside.iter().cloned().partition(|l| l.by == actor.name);
        if !all && mine.is_empty() && !others.is_empty() {
            return Err(invalid(
                "all_holders",
                format!(
                    "{} is locked by {}, not by {}: an unlock removes only your own locks; --all-holders removes every holder's (with a reason and a typed confirmation naming them)",
                    resolved.target(),
                    holders_text(&others),
                    actor.name
                ),
            ));
        }
        if all && !others.is_empty() && reason.is_none() {
            return Err(invalid(
                "reason",
                format!(
                    "removing another holder's lock ({}) needs a reason: --reason TEXT",
                    holders_text(&others)
                ),
            ));
        }
        let removed = if all { &inside } else { &mine };
        if !removed.is_empty() {
            details.insert("lock.removed".into(), holders_text(removed));
        }
        if !all && !others.is_empty() {
            details.insert("lock.kept".into(), holders_text(&others));
        }
        if all {
            let mut names: Vec<String> = others.iter().map(|l| l.by.clone()).collect();
            names.sort();
            names.dedup();
            others_removed = names;
        }
    }
    Ok(others_removed)
}

/// The locks that stop the action; the locks overridden on purpose and why (recorded in
/// `details`), none when no lock stood in the way.
pub(super) fn check(
    ctx: &PolicyContext,
    actor: &Actor,
    resolved: &Action,
    details: &mut Details,
) -> Result<(Vec<Lock>, Option<String>), Refusal> {
    // 6. Locks: a mutating action in a locked scope is refused unless overridden on
    // purpose. A lock never stops its own holder (an emergency rollback by the one
    // who locked); locks that cannot be read stop it too (closed).
    let mut overridden = Vec::new();
    let mut override_reason = None;
    if let Some((target, covering)) = covering_locks(ctx, resolved) {
        let blocking: Vec<Lock> = covering
            .into_iter()
            .filter(|l| l.by != actor.name)
            .collect();
        let stop = match &ctx.locks_error {
            Some(error) => Some(Refusal::LocksUnknown {
                target: target.clone(),
                error: error.clone(),
            }),
            None if !blocking.is_empty() => Some(Refusal::Locked {
                action: resolved.audit_name().to_string(),
                target,
                locks: blocking.clone(),
            }),
            None => None,
        };
        if let Some(refusal) = stop {
            let Some(why) = ctx.override_lock.as_deref() else {
                return Err(refusal);
            };
            if clean_reason(why).is_empty() || why.chars().count() > MAX_REASON {
                return Err(invalid(
                    "override_lock",
                    format!(
                        "an override needs a reason of 1 to {MAX_REASON} characters: --override-lock REASON"
                    ),
                ));
            }
            let why = clean_reason(why);
            details.insert(
                "override.locks".into(),
                match &ctx.locks_error {
                    Some(e) => format!("locks unknown ({e})"),
                    None => holders_text(&blocking),
                },
            );
            details.insert("override.reason".into(), why.clone());
            overridden = blocking;
            override_reason = Some(why);
        }
    }
    Ok((overridden, override_reason))
}

/// An unlock's scope: (service, env, region, every holder's?).
fn unlock_scope(action: &Action) -> Option<(&str, Option<&str>, Option<&str>, bool)> {
    match action {
        Action::Unlock {
            service,
            env,
            region,
            all_holders,
        } => Some((service, env.as_deref(), region.as_deref(), *all_holders)),
        Action::UnlockAll { all_holders } => Some((Lock::ALL, None, None, *all_holders)),
        _ => None,
    }
}

/// The rule of which locks stop which action: the action's target and the locks
/// covering it (any holder's), or `None` for an action no lock stops.
///
/// - rollback, restart, HPA edits, secret writes, deletes and copies (the target
///   region): any lock covering the service in that cluster;
/// - flag changes (flags belong to no one service), a new service (it deploys to
///   dev), deleting an ephemeral environment: the lock on everything covering one of
///   its clusters, and for an environment also a lock naming it;
/// - locking, unlocking, the freeze, reading a secret, access requests, creating or
///   extending an environment: no lock stops them.
pub fn covering_locks(ctx: &PolicyContext, action: &Action) -> Option<(String, Vec<Lock>)> {
    let cover = |f: &dyn Fn(&Lock) -> bool| -> Vec<Lock> {
        ctx.locks.iter().filter(|l| f(l)).cloned().collect()
    };
    let everything = |l: &Lock, c: &ClusterId| l.service == Lock::ALL && l.covers(Lock::ALL, c);
    match action {
        Action::Rollback {
            service, cluster, ..
        }
        | Action::Restart { service, cluster }
        | Action::SetHpa {
            service, cluster, ..
        } => Some((
            format!("{service}@{cluster}"),
            cover(&|l| l.covers(service, cluster)),
        )),
        Action::SecretPut {
            service,
            env,
            region,
            ..
        }
        | Action::SecretDelete {
            service,
            env,
            region,
            ..
        }
        | Action::SecretCopy {
            service,
            env,
            to: region,
            ..
        } => {
            let c = ClusterId::new(env, region);
            Some((format!("{service}@{c}"), cover(&|l| l.covers(service, &c))))
        }
        Action::FlagSet {
            name, env, region, ..
        } => {
            let clusters: Vec<&ClusterId> = ctx
                .flags
                .iter()
                .filter(|f| {
                    f.name == *name
                        && env.as_ref().is_none_or(|e| &f.cluster.env == e)
                        && region.as_ref().is_none_or(|r| &f.cluster.region == r)
                })
                .map(|f| &f.cluster)
                .collect();
            Some((
                format!("{name}@{}/{}", or_any(env), or_any(region)),
                cover(&|l| clusters.iter().any(|c| everything(l, c))),
            ))
        }
        Action::ServiceCreate { request, .. } => {
            let clusters: Vec<ClusterId> = ctx
                .topology
                .regions_of(DEV_ENV)
                .iter()
                .map(|r| ClusterId::new(DEV_ENV, r.clone()))
                .collect();
            Some((
                format!("{}@{DEV_ENV}/*", request.name),
                cover(&|l| clusters.iter().any(|c| everything(l, c))),
            ))
        }
        Action::EnvDelete { name } => {
            // The lock on everything in a region stops it only where it runs.
            let spans = ctx.topology.regions_of(name);
            Some((
                format!("*@{name}/*"),
                cover(&|l| {
                    l.env.as_deref() == Some(name.as_str())
                        || (l.service == Lock::ALL
                            && l.env.is_none()
                            && l.region.as_ref().is_none_or(|r| spans.contains(r)))
                }),
            ))
        }
        _ => None,
    }
}
