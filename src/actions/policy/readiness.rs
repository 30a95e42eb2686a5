//! Phase 4 of [`plan`](super::plan): the readiness gate on production.

use super::{PolicyContext, Refusal, is_production};
use crate::actions::Action;
use crate::domain::Topology;

/// Does the action need the readiness gate (unlocking or rolling back into production)?
pub(super) fn gated(action: &Action, topology: &Topology) -> bool {
    match action {
        // Into production wherever it runs: in the region, when one is named.
        Action::Unlock {
            env: None, region, ..
        } => (topology.environments.iter())
            .filter(|e| {
                region
                    .as_ref()
                    .is_none_or(|r| topology.regions_of(e).contains(r))
            })
            .any(|e| is_production(e)),
        Action::Unlock { env: Some(e), .. } => is_production(e),
        Action::Rollback { cluster, .. } => is_production(&cluster.env),
        _ => false,
    }
}

/// Refuse an action the gate applies to when the service is below the threshold (or
/// its readiness is unknown: closed).
pub(super) fn check(ctx: &PolicyContext, resolved: &Action) -> Result<(), Refusal> {
    if gated(resolved, &ctx.topology)
        && let Some(threshold) = &ctx.policy.readiness_threshold
        && let Some(s) = &ctx.subject
    {
        // Fails closed: a context without the service's readiness is below the gate.
        let (level, passes, failing) = match &s.readiness {
            Some(r) => (r.level.clone(), r.passes, r.failing.clone()),
            None => (None, false, vec!["readiness was not assessed".to_string()]),
        };
        if !passes {
            return Err(Refusal::Readiness {
                service: s.name.clone(),
                level,
                threshold: threshold.clone(),
                failing,
            });
        }
    }
    Ok(())
}
