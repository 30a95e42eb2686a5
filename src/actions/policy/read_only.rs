//! Phase 2 of [`plan`](super::plan): read-only mode, global for everyone, per
//! environment for all but admins.

use super::{Actor, PolicyContext, Refusal};
use crate::actions::Action;
use crate::domain::Topology;
use crate::domain::golden::DEV_ENV;

/// Refuse in read-only mode or in a read-only environment; else the environments the
/// action changes (the ownership check matches grants against them).
pub(super) fn check<'a>(
    ctx: &'a PolicyContext,
    actor: &Actor,
    resolved: &'a Action,
) -> Result<Vec<&'a str>, Refusal> {
    let topo = &ctx.topology;
    if ctx.policy.read_only {
        return Err(Refusal::ReadOnly { env: None });
    }
    let envs: Vec<&str> = match resolved {
        // Every environment: those that run in the region, when one is named.
        Action::Lock { env, region, .. } | Action::Unlock { env, region, .. } => match env {
            Some(e) => vec![e.as_str()],
            None => envs_in(topo, region.as_deref()),
        },
        Action::LockAll { .. } | Action::UnlockAll { .. } => {
            topo.environments.iter().map(String::as_str).collect()
        }
        Action::FreezeOn { .. } | Action::FreezeOff => Vec::new(),
        Action::Rollback { cluster, .. }
        | Action::Restart { cluster, .. }
        | Action::SetHpa { cluster, .. } => vec![cluster.env.as_str()],
        Action::SecretPut { env, .. }
        | Action::SecretDelete { env, .. }
        | Action::SecretReveal { env, .. }
        | Action::SecretCopy { env, .. } => vec![env.as_str()],
        Action::FlagSet { env, region, .. } => match env {
            Some(e) => vec![e.as_str()],
            None => envs_in(topo, region.as_deref()),
        },
        Action::ServiceCreate { .. } => vec![DEV_ENV],
        // Asking and deciding change nothing on the platform itself.
        Action::AccessRequest { .. } | Action::AccessApprove { .. } | Action::AccessDeny { .. } => {
            Vec::new()
        }
        Action::EnvCreate { name, .. }
        | Action::EnvExtend { name, .. }
        | Action::EnvDelete { name } => vec![name.as_str()],
        // Silences change what the agent tells, not the platform.
        Action::AlertSilence { .. } | Action::AlertUnsilence { .. } => Vec::new(),
    };
    if !actor.admin
        && let Some(e) = envs
            .iter()
            .find(|e| ctx.policy.read_only_envs.iter().any(|r| r == *e))
    {
        return Err(Refusal::ReadOnly {
            env: Some(e.to_string()),
        });
    }
    Ok(envs)
}

/// The environments with a cluster in `region` (every one when none is named).
fn envs_in<'a>(topo: &'a Topology, region: Option<&'a str>) -> Vec<&'a str> {
    match region {
        Some(r) => topo.environments_in(r).map(String::as_str).collect(),
        None => topo.environments.iter().map(String::as_str).collect(),
    }
}
