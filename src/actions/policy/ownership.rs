//! Phase 3 of [`plan`](super::plan): ownership.

use super::{Actor, PolicyContext, Refusal, may_set_flag};
use crate::actions::Action;
use crate::domain::access::Permission;

/// Refuse an actor who may not do this; else the rule that grants an access request at
/// once (`ownership`, `team`), `None` for any other action or a request that waits.
pub(super) fn check(
    ctx: &PolicyContext,
    actor: &Actor,
    resolved: &Action,
    envs: &[&str],
) -> Result<Option<String>, Refusal> {
    let topo = &ctx.topology;
    // A new service: members of the owning Group (or admins) create it.
    // Anyone may ask for access; its service's owners (or admins) decide. A granted,
    // unexpired request stands in for ownership.
    let owner = ctx.subject.as_ref().and_then(|s| s.owner.clone());
    let owns = match &owner {
        Some((name, kind)) if kind == "group" => actor.groups.iter().any(|g| g == name),
        Some((name, _)) => *name == actor.name,
        None => false,
    };
    let mut grant_rule = None;
    match resolved {
        Action::AccessRequest {
            permission, env, ..
        } => {
            grant_rule = if owns {
                Some("ownership".to_string())
            } else if ctx.policy.access_rules.iter().any(|r| {
                r.permission == *permission
                    && actor.groups.contains(&r.team)
                    && r.env.as_ref().is_none_or(|e| env.as_ref() == Some(e))
            }) {
                Some("team".to_string())
            } else {
                None
            };
        }
        Action::AccessApprove { id, .. } | Action::AccessDeny { id, .. } => {
            if !owns && !actor.admin {
                return Err(Refusal::NotApprover {
                    actor: actor.name.clone(),
                    id: *id,
                    service: ctx
                        .subject
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default(),
                    owner: owner.map(|(n, k)| format!("{k}:{n}")),
                });
            }
        }
        Action::EnvCreate { .. } => {
            if !actor.admin && actor.groups.is_empty() {
                return Err(Refusal::NoTeam {
                    actor: actor.name.clone(),
                });
            }
        }
        Action::EnvExtend { name, .. } | Action::EnvDelete { name } => {
            if let Some(e) = topo.ephemeral(name)
                && !actor.admin
                && e.created_by != actor.name
            {
                return Err(Refusal::NotCreator {
                    actor: actor.name.clone(),
                    env: name.clone(),
                    creator: e.created_by.clone(),
                });
            }
        }
        // Whoever is on call silences alerts (who, why and until when are audited).
        Action::AlertSilence { .. } | Action::AlertUnsilence { .. } => {}
        _ => check_ownership(ctx, actor, resolved, envs, owner, owns)?,
    }
    Ok(grant_rule)
}

/// The ownership check of an action on a service or on the platform.
fn check_ownership(
    ctx: &PolicyContext,
    actor: &Actor,
    resolved: &Action,
    envs: &[&str],
    owner: Option<(String, String)>,
    owns: bool,
) -> Result<(), Refusal> {
    match resolved.service() {
        None if matches!(resolved, Action::ServiceCreate { .. }) => {
            if let Action::ServiceCreate { request, .. } = resolved
                && !actor.admin
                && !actor.groups.contains(&request.owner)
            {
                return Err(Refusal::NotOwner {
                    actor: actor.name.clone(),
                    service: request.name.clone(),
                    owner: Some(format!("group:{}", request.owner)),
                    permission: Permission::Operate,
                });
            }
        }
        None if matches!(resolved, Action::FlagSet { .. }) => {
            if let Action::FlagSet { name, .. } = resolved
                && !may_set_flag(actor, name)
            {
                return Err(Refusal::NotFlagOwner {
                    actor: actor.name.clone(),
                    flag: name.clone(),
                });
            }
        }
        None => {
            if !actor.admin {
                return Err(Refusal::AdminOnly {
                    action: resolved.audit_name().to_string(),
                });
            }
        }
        Some(service) => {
            let permission = if matches!(resolved, Action::SecretReveal { .. }) {
                Permission::ReadSecrets
            } else {
                Permission::Operate
            };
            let granted = ctx
                .access
                .iter()
                .any(|r| r.allows(&actor.name, service, permission, envs, ctx.now));
            if !owns && !actor.admin && !granted {
                return Err(Refusal::NotOwner {
                    actor: actor.name.clone(),
                    service: service.to_string(),
                    owner: owner.map(|(n, k)| format!("{k}:{n}")),
                    permission,
                });
            }
        }
    }
    Ok(())
}
