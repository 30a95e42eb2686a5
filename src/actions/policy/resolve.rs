//! Phase 1 of [`plan`](super::plan): validate the input and resolve it (the
//! catalog's spelling of the service, the rollback's version, the environment as it
//! will be).

use super::{
    Actor, MAX_FLAG_VALUE, MAX_REASON, MAX_SECRET_BYTES, MAX_SECRET_KEY, PolicyContext, Refusal,
    Subject, check_reason, clean_reason, has_secret, invalid, or_any, valid_secret_key,
};
use crate::actions::Action;
use crate::domain::access::AccessStatus;
use crate::domain::environment::{EphemeralEnv, check_name, format_duration};
use crate::domain::golden::{ServiceRequest, Step};
use crate::domain::{ClusterId, FlagState, SecretValue, Topology};

/// An action validated and resolved.
pub(super) struct Resolved {
    pub action: Action,
    /// For rollbacks: the version running now.
    pub from_version: Option<String>,
    /// For environment creation and extension: the environment as it will be.
    pub env: Option<EphemeralEnv>,
}

/// Validate `action` (→ `Invalid`) and resolve it.
pub(super) fn resolve(
    ctx: &PolicyContext,
    actor: &Actor,
    action: &Action,
) -> Result<Resolved, Refusal> {
    let topo = &ctx.topology;
    let mut from_version = None;
    let mut env_after = None;
    let resolved = match action {
        Action::Lock {
            service,
            env,
            region,
            reason,
        } => {
            let s = subject(ctx, service)?;
            check_scope(topo, env.as_deref(), region.as_deref())?;
            check_reason(reason)?;
            Action::Lock {
                service: s.name.clone(),
                env: env.clone(),
                region: region.clone(),
                reason: clean_reason(reason),
            }
        }
        Action::Unlock {
            service,
            env,
            region,
            all_holders,
        } => {
            let s = subject(ctx, service)?;
            check_names(topo, env.as_deref(), region.as_deref())?;
            Action::Unlock {
                service: s.name.clone(),
                env: env.clone(),
                region: region.clone(),
                all_holders: *all_holders,
            }
        }
        Action::LockAll { reason } => {
            check_reason(reason)?;
            Action::LockAll {
                reason: clean_reason(reason),
            }
        }
        Action::FreezeOn { reason } => {
            check_reason(reason)?;
            Action::FreezeOn {
                reason: clean_reason(reason),
            }
        }
        Action::UnlockAll { .. } | Action::FreezeOff => action.clone(),
        Action::Rollback {
            service,
            cluster,
            to,
        } => {
            let (resolved, current) = rollback(ctx, service, cluster, to)?;
            from_version = Some(current);
            resolved
        }
        Action::Restart { service, cluster } => {
            let s = subject(ctx, service)?;
            check_scope(topo, Some(&cluster.env), Some(&cluster.region))?;
            runs_in(s, cluster)?;
            Action::Restart {
                service: s.name.clone(),
                cluster: cluster.clone(),
            }
        }
        Action::SetHpa {
            service,
            cluster,
            min,
            max,
        } => set_hpa(ctx, service, cluster, min, max)?,
        Action::SecretPut {
            service,
            env,
            region,
            key,
            value,
        } => secret_put(ctx, service, env, region, key, value)?,
        Action::SecretDelete {
            service,
            env,
            region,
            key,
        }
        | Action::SecretReveal {
            service,
            env,
            region,
            key,
        } => {
            let s = subject(ctx, service)?;
            check_names(topo, Some(env), Some(region))?;
            check_key(key)?;
            secret_exists(ctx, "key", &s.name, env, region, key)?;
            let (service, env, region, key) =
                (s.name.clone(), env.clone(), region.clone(), key.clone());
            if matches!(action, Action::SecretDelete { .. }) {
                Action::SecretDelete {
                    service,
                    env,
                    region,
                    key,
                }
            } else {
                Action::SecretReveal {
                    service,
                    env,
                    region,
                    key,
                }
            }
        }
        Action::SecretCopy {
            service,
            env,
            key,
            from,
            to,
        } => secret_copy(ctx, service, env, key, from, to)?,
        Action::FlagSet {
            name,
            value,
            percentage,
            env,
            region,
        } => flag_set(ctx, name, value, percentage, env, region)?,
        Action::AccessRequest {
            service,
            permission,
            env,
            reason,
        } => {
            let s = subject(ctx, service)?;
            check_scope(topo, env.as_deref(), None)?;
            check_reason(reason)?;
            Action::AccessRequest {
                service: s.name.clone(),
                permission: *permission,
                env: env.clone(),
                reason: clean_reason(reason),
            }
        }
        Action::AccessApprove { id, .. } | Action::AccessDeny { id, .. } => {
            match ctx.access.iter().find(|r| r.id == *id) {
                None => {
                    return Err(invalid(
                        "id",
                        format!("there is no access request #{id} (see `sphere access list`)"),
                    ));
                }
                Some(r) if r.status != AccessStatus::Pending => {
                    return Err(invalid(
                        "id",
                        format!("access request #{id} is already {}", r.status.as_str()),
                    ));
                }
                Some(_) => decided_with(action)?,
            }
        }
        Action::EnvCreate {
            name,
            from,
            region,
            ttl_seconds,
        } => {
            let (resolved, after) =
                env_create(ctx, actor, action, name, from, region, ttl_seconds)?;
            env_after = Some(after);
            resolved
        }
        Action::EnvExtend { name, by_seconds } => {
            let (resolved, after) = env_extend(ctx, action, name, by_seconds)?;
            env_after = Some(after);
            resolved
        }
        Action::EnvDelete { name } => {
            ephemeral(ctx, name)?;
            action.clone()
        }
        Action::AlertSilence {
            pattern,
            reason,
            for_seconds,
        } => {
            crate::agent::silences::check_pattern(pattern).map_err(|m| invalid("pattern", m))?;
            check_reason(reason)?;
            let max = crate::agent::silences::MAX_SILENCE_SECONDS;
            if !(1..=max).contains(for_seconds) {
                return Err(invalid(
                    "for",
                    format!(
                        "a silence lasts from a second to {} (not {})",
                        format_duration(max),
                        format_duration(*for_seconds)
                    ),
                ));
            }
            Action::AlertSilence {
                pattern: pattern.trim().to_string(),
                reason: clean_reason(reason),
                for_seconds: *for_seconds,
            }
        }
        Action::AlertUnsilence { pattern } => {
            crate::agent::silences::check_pattern(pattern).map_err(|m| invalid("pattern", m))?;
            Action::AlertUnsilence {
                pattern: pattern.trim().to_string(),
            }
        }
        Action::ServiceCreate { request, from_step } => {
            service_create(ctx, action, request, from_step)?
        }
    };

    Ok(Resolved {
        action: resolved,
        from_version,
        env: env_after,
    })
}

/// A rollback: to `to`, else the release before the one running; with the version
/// running now.
fn rollback(
    ctx: &PolicyContext,
    service: &str,
    cluster: &ClusterId,
    to: &Option<String>,
) -> Result<(Action, String), Refusal> {
    let topo = &ctx.topology;
    let s = subject(ctx, service)?;
    check_scope(topo, Some(&cluster.env), Some(&cluster.region))?;
    let current = runs_in(s, cluster)?;
    let to = match to {
        Some(v) => {
            if !s.releases.iter().any(|r| r == v) {
                return Err(invalid(
                    "to",
                    format!(
                        "{v:?} is not in the release history of {}: {}",
                        s.name,
                        s.releases.join(", ")
                    ),
                ));
            }
            if *v == current {
                return Err(invalid(
                    "to",
                    format!("{} already runs {v} in {cluster}", s.name),
                ));
            }
            v.clone()
        }
        None => match s.releases.iter().position(|r| *r == current) {
            Some(i) if i > 0 => s.releases[i - 1].clone(),
            _ => {
                return Err(invalid(
                    "to",
                    format!(
                        "no release before {current} in the history of {}; name one with --to",
                        s.name
                    ),
                ));
            }
        },
    };
    let resolved = Action::Rollback {
        service: s.name.clone(),
        cluster: cluster.clone(),
        to: Some(to),
    };
    Ok((resolved, current))
}

/// New HPA bounds: within the policy's, on an HPA the service has.
fn set_hpa(
    ctx: &PolicyContext,
    service: &str,
    cluster: &ClusterId,
    min: &u32,
    max: &u32,
) -> Result<Action, Refusal> {
    let topo = &ctx.topology;
    let s = subject(ctx, service)?;
    check_scope(topo, Some(&cluster.env), Some(&cluster.region))?;
    let p = &ctx.policy;
    if *min < p.hpa_min.max(1) {
        return Err(invalid(
            "min",
            format!("{min} is below the policy bound {}", p.hpa_min.max(1)),
        ));
    }
    if *max > p.hpa_max {
        return Err(invalid(
            "max",
            format!("{max} is above the policy bound {}", p.hpa_max),
        ));
    }
    if min > max {
        return Err(invalid("min", format!("min {min} is above max {max}")));
    }
    if !s.hpas.contains(cluster) {
        return Err(invalid(
            "cluster",
            format!("{} has no HPA in {cluster}", s.name),
        ));
    }
    Ok(Action::SetHpa {
        service: s.name.clone(),
        cluster: cluster.clone(),
        min: *min,
        max: *max,
    })
}

/// A secret's new value: a valid name, a value the store takes.
fn secret_put(
    ctx: &PolicyContext,
    service: &str,
    env: &str,
    region: &str,
    key: &str,
    value: &SecretValue,
) -> Result<Action, Refusal> {
    let topo = &ctx.topology;
    let s = subject(ctx, service)?;
    check_scope(topo, Some(env), Some(region))?;
    check_key(key)?;
    if value.is_empty() {
        return Err(invalid("value", "the value is empty"));
    }
    if value.expose().len() > MAX_SECRET_BYTES {
        return Err(invalid(
            "value",
            format!(
                "{} bytes is above the secret store's limit of {MAX_SECRET_BYTES}",
                value.expose().len()
            ),
        ));
    }
    if value.expose().contains('\0') {
        return Err(invalid("value", "a value may not hold a NUL byte"));
    }
    Ok(Action::SecretPut {
        service: s.name.clone(),
        env: env.to_string(),
        region: region.to_string(),
        key: key.to_string(),
        value: value.clone(),
    })
}

/// A secret copied to another region: the source exists, the target does not.
fn secret_copy(
    ctx: &PolicyContext,
    service: &str,
    env: &str,
    key: &str,
    from: &str,
    to: &str,
) -> Result<Action, Refusal> {
    let topo = &ctx.topology;
    let s = subject(ctx, service)?;
    check_names(topo, Some(env), Some(from))?;
    check_scope(topo, Some(env), Some(to)).map_err(|_| {
        invalid(
            "to",
            format!(
                "{env} does not run in {to:?}: use one of {}",
                topo.regions_of(env).join(", ")
            ),
        )
    })?;
    check_key(key)?;
    if from == to {
        return Err(invalid(
            "to",
            "copying a secret onto itself: name another region",
        ));
    }
    if !has_secret(ctx, &s.name, env, from, key) {
        return Err(invalid(
            "from",
            format!("the source {env}/{}/{key} does not exist in {from}", s.name),
        ));
    }
    if has_secret(ctx, &s.name, env, to, key) {
        return Err(invalid(
            "to",
            format!(
                "the target {env}/{}/{key} already exists in {to}; `sphere secret put` replaces a value",
                s.name
            ),
        ));
    }
    Ok(Action::SecretCopy {
        service: s.name.clone(),
        env: env.to_string(),
        key: key.to_string(),
        from: from.to_string(),
        to: to.to_string(),
    })
}

/// A flag's new value: one the flag takes, in a scope that has the flag.
fn flag_set(
    ctx: &PolicyContext,
    name: &str,
    value: &str,
    percentage: &Option<u8>,
    env: &Option<String>,
    region: &Option<String>,
) -> Result<Action, Refusal> {
    let topo = &ctx.topology;
    check_scope(topo, env.as_deref(), region.as_deref())?;
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("value", "the value is empty"));
    }
    if value.chars().count() > MAX_FLAG_VALUE {
        return Err(invalid(
            "value",
            format!("a flag value is at most {MAX_FLAG_VALUE} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            "value",
            "a flag value may not hold control characters",
        ));
    }
    // A flag that is on or off everywhere takes on or off.
    let mut seen = ctx.flags.iter().filter(|f| f.name == *name).peekable();
    if seen.peek().is_some()
        && seen.all(|f| matches!(f.value.as_str(), "on" | "off"))
        && !matches!(value, "on" | "off")
    {
        return Err(invalid(
            "value",
            format!("{name} is on or off: {value:?} is neither"),
        ));
    }
    // A flag that declares its variants takes only those.
    if let Some(declared) = ctx
        .flags
        .iter()
        .find(|f| f.name == *name && !f.variants.is_empty())
        .map(|f| &f.variants)
        && !declared.iter().any(|v| v == value)
    {
        return Err(invalid(
            "value",
            format!(
                "{name} takes one of {}: {value:?} is none of them",
                declared.join(", ")
            ),
        ));
    }
    if let Some(p) = percentage
        && *p > 100
    {
        return Err(invalid("percentage", format!("{p} is not in 0..=100")));
    }
    if !ctx.flags.iter().any(|f| f.name == *name) {
        return Err(invalid(
            "name",
            format!("{name:?} is not a flag (see `sphere flag list`)"),
        ));
    }
    let in_scope = |f: &&FlagState| {
        f.name == *name
            && env.as_ref().is_none_or(|e| &f.cluster.env == e)
            && region.as_ref().is_none_or(|r| &f.cluster.region == r)
    };
    if !ctx.flags.iter().any(|f| in_scope(&f)) {
        return Err(invalid(
            "scope",
            format!(
                "no cluster in {}/{} has the flag {name}",
                or_any(env),
                or_any(region)
            ),
        ));
    }
    Ok(Action::FlagSet {
        name: name.to_string(),
        value: value.to_string(),
        percentage: *percentage,
        env: env.clone(),
        region: region.clone(),
    })
}

/// A new ephemeral environment: a free name, from an environment and region it spans,
/// for a TTL the policy allows; with the environment as it will be.
fn env_create(
    ctx: &PolicyContext,
    actor: &Actor,
    action: &Action,
    name: &str,
    from: &str,
    region: &Option<String>,
    ttl_seconds: &i64,
) -> Result<(Action, EphemeralEnv), Refusal> {
    let topo = &ctx.topology;
    check_name(name).map_err(|m| invalid("name", m))?;
    if topo.environments.iter().any(|e| e == name) {
        return Err(invalid(
            "name",
            format!("an environment named {name} exists already; pick another name"),
        ));
    }
    check_scope(topo, Some(from), None).map_err(|_| {
        invalid(
            "from",
            format!(
                "{from:?} is not an environment: use one of {}",
                topo.environments.join(", ")
            ),
        )
    })?;
    let spans = topo.regions_of(from);
    let regions = match region {
        Some(r) if spans.contains(r) => vec![r.clone()],
        Some(r) => {
            return Err(invalid(
                "region",
                format!(
                    "{from} does not span {r:?}: use one of {}",
                    spans.join(", ")
                ),
            ));
        }
        None => spans.to_vec(),
    };
    check_ttl(ctx, *ttl_seconds)?;
    let after = EphemeralEnv {
        name: name.to_string(),
        from: from.to_string(),
        regions,
        created_by: actor.name.clone(),
        created_at: ctx.now,
        expires_at: ctx.now + ttl_seconds,
    };
    Ok((action.clone(), after))
}

/// More time for an ephemeral environment, up to the policy's maximum left; with the
/// environment as it will be.
fn env_extend(
    ctx: &PolicyContext,
    action: &Action,
    name: &str,
    by_seconds: &i64,
) -> Result<(Action, EphemeralEnv), Refusal> {
    let e = ephemeral(ctx, name)?;
    if *by_seconds <= 0 {
        return Err(invalid("by", "give some time, such as 30m, 8h or 3d"));
    }
    let (now_left, max) = (e.remaining(ctx.now), ctx.policy.env_ttl_max);
    let left = now_left.saturating_add(*by_seconds);
    if left > max {
        return Err(invalid(
            "by",
            format!(
                "{} more would leave {name} {}, above the policy maximum {} ([policy] env_ttl_max); it has {} left, so at most {} more",
                format_duration(*by_seconds),
                format_duration(left),
                format_duration(max),
                format_duration(now_left),
                format_duration(max - now_left)
            ),
        ));
    }
    let mut after = e.clone();
    after.expires_at = e.expires_at + by_seconds;
    Ok((action.clone(), after))
}

/// A new service (the golden path): a valid request, a known step to resume from.
fn service_create(
    ctx: &PolicyContext,
    action: &Action,
    request: &ServiceRequest,
    from_step: &Option<String>,
) -> Result<Action, Refusal> {
    let request = &request.clone().or_org(ctx.repo_org.clone());
    if let Err(errors) = request.validate_resume(&ctx.catalog) {
        let mut errors = errors.into_iter();
        if let Some(first) = errors.next() {
            let rest: Vec<String> = errors.map(|e| e.to_string()).collect();
            let message = if rest.is_empty() {
                first.reason
            } else {
                format!("{}; also {}", first.reason, rest.join("; "))
            };
            return Err(invalid(&first.field, message));
        }
    }
    if let Some(s) = from_step
        && Step::parse(s).is_none()
    {
        return Err(invalid(
            "from_step",
            format!(
                "{s:?} is not a step: use one of {}",
                Step::ALL.map(Step::as_str).join(", ")
            ),
        ));
    }
    Ok(action.clone())
}

/// An approval or denial with its reason (optional) cleaned and bounded.
fn decided_with(action: &Action) -> Result<Action, Refusal> {
    match action {
        Action::AccessApprove { reason, .. } | Action::AccessDeny { reason, .. }
            if reason.chars().count() > MAX_REASON =>
        {
            Err(invalid(
                "reason",
                format!("at most {MAX_REASON} characters"),
            ))
        }
        Action::AccessApprove { id, reason } => Ok(Action::AccessApprove {
            id: *id,
            reason: clean_reason(reason),
        }),
        Action::AccessDeny { id, reason } => Ok(Action::AccessDeny {
            id: *id,
            reason: clean_reason(reason),
        }),
        other => Ok(other.clone()),
    }
}

/// `env` and `region` name an environment and a region, and, both given, a cluster
/// that exists: a platform is not always a full grid (staging in one region only).
fn check_scope(
    topology: &Topology,
    env: Option<&str>,
    region: Option<&str>,
) -> Result<(), Refusal> {
    check_names(topology, env, region)?;
    if let (Some(e), Some(r)) = (env, region) {
        let spans = topology.regions_of(e);
        if !spans.iter().any(|x| x == r) {
            return Err(invalid(
                "region",
                format!("{e} does not run in {r}: use one of {}", spans.join(", ")),
            ));
        }
    }
    Ok(())
}

/// `env` and `region` each name an environment and a region, without asking that the
/// environment runs there: for what removes or reads what is there already (a lock
/// or a secret left in a region the environment has no cluster in).
fn check_names(
    topology: &Topology,
    env: Option<&str>,
    region: Option<&str>,
) -> Result<(), Refusal> {
    if let Some(e) = env
        && !topology.environments.iter().any(|x| x == e)
    {
        return Err(invalid(
            "env",
            format!(
                "{e:?} is not an environment: use one of {}",
                topology.environments.join(", ")
            ),
        ));
    }
    if let Some(r) = region
        && !topology.regions.iter().any(|x| x == r)
    {
        return Err(invalid(
            "region",
            format!(
                "{r:?} is not a region: use one of {}",
                topology.regions.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A new environment's TTL: more than nothing, at most the policy's maximum.
fn check_ttl(ctx: &PolicyContext, seconds: i64) -> Result<(), Refusal> {
    if seconds <= 0 {
        return Err(invalid("ttl", "give some time, such as 30m, 8h or 7d"));
    }
    let max = ctx.policy.env_ttl_max;
    if seconds > max {
        return Err(invalid(
            "ttl",
            format!(
                "{} is above the policy maximum {} ([policy] env_ttl_max)",
                format_duration(seconds),
                format_duration(max)
            ),
        ));
    }
    Ok(())
}

/// The ephemeral environment `name`, unexpired; an invalid `name` otherwise.
fn ephemeral<'a>(ctx: &'a PolicyContext, name: &str) -> Result<&'a EphemeralEnv, Refusal> {
    let topo = &ctx.topology;
    match topo.ephemeral(name) {
        Some(e) if e.expired(ctx.now) => Err(invalid(
            "name",
            format!("the environment {name} has expired; create it again"),
        )),
        Some(e) => Ok(e),
        None if topo.environments.iter().any(|e| e == name) => Err(invalid(
            "name",
            format!(
                "{name} is a permanent environment; only ephemeral ones can be extended or deleted"
            ),
        )),
        None => Err(invalid(
            "name",
            format!("there is no ephemeral environment {name:?} (see `sphere env list`)"),
        )),
    }
}

fn check_key(key: &str) -> Result<(), Refusal> {
    if key.len() > MAX_SECRET_KEY {
        return Err(invalid(
            "key",
            format!("a secret name is at most {MAX_SECRET_KEY} characters"),
        ));
    }
    if valid_secret_key(key) {
        Ok(())
    } else {
        Err(invalid(
            "key",
            format!(
                "{key:?} is not a secret name: use capitals, digits and _, starting with a capital (DATABASE_URL)"
            ),
        ))
    }
}

fn secret_exists(
    ctx: &PolicyContext,
    field: &str,
    service: &str,
    env: &str,
    region: &str,
    key: &str,
) -> Result<(), Refusal> {
    if has_secret(ctx, service, env, region, key) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("there is no secret {env}/{service}/{key} in {region}"),
        ))
    }
}

fn subject<'a>(ctx: &'a PolicyContext, service: &str) -> Result<&'a Subject, Refusal> {
    ctx.subject
        .as_ref()
        .filter(|s| s.name.eq_ignore_ascii_case(service))
        .ok_or_else(|| {
            invalid(
                "service",
                format!("{service:?} is not a service in the catalog"),
            )
        })
}

fn runs_in(s: &Subject, cluster: &ClusterId) -> Result<String, Refusal> {
    s.deployments
        .iter()
        .find(|(c, _)| c == cluster)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| invalid("cluster", format!("{} does not run in {cluster}", s.name)))
}
