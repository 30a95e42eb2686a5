//! What the audit record of a planned action says changes.

use super::{Actor, PolicyContext};
use crate::actions::Action;
use crate::domain::{Details, FlagState};

/// What the audit record says changes, as far as the context knows before the
/// provider call.
pub(super) fn change_details(
    ctx: &PolicyContext,
    actor: &Actor,
    action: &Action,
    from_version: Option<&str>,
) -> Details {
    let mut d = Details::new();
    let mut put = |k: &str, v: String| {
        d.insert(k.to_string(), v);
    };
    let distinct = |vals: Vec<String>| {
        let mut v = vals;
        v.sort();
        v.dedup();
        v.join(", ")
    };
    match action {
        Action::Rollback { to, .. } => {
            if let Some(f) = from_version {
                put("version.from", f.to_string());
            }
            if let Some(t) = to {
                put("version.to", t.clone());
            }
        }
        Action::SetHpa {
            cluster, min, max, ..
        } => {
            if let Some((_, lo, hi)) = ctx
                .subject
                .as_ref()
                .and_then(|s| s.hpa_bounds.iter().find(|(c, _, _)| c == cluster))
            {
                put("hpa.from", format!("{lo}..{hi}"));
            }
            put("hpa.to", format!("{min}..{max}"));
        }
        Action::FlagSet {
            name,
            value,
            percentage,
            env,
            region,
        } => {
            let now: Vec<&FlagState> = ctx
                .flags
                .iter()
                .filter(|f| {
                    f.name == *name
                        && env.as_ref().is_none_or(|e| &f.cluster.env == e)
                        && region.as_ref().is_none_or(|r| &f.cluster.region == r)
                })
                .collect();
            put(
                "value.from",
                distinct(now.iter().map(|f| f.value.clone()).collect()),
            );
            put("value.to", value.clone());
            if let Some(p) = percentage {
                put(
                    "percentage.from",
                    distinct(now.iter().map(|f| format!("{}%", f.percentage)).collect()),
                );
                put("percentage.to", format!("{p}%"));
            }
        }
        Action::SecretPut {
            service,
            env,
            region,
            key,
            ..
        }
        | Action::SecretDelete {
            service,
            env,
            region,
            key,
        } => {
            if let Some(m) = ctx.secrets.iter().find(|m| {
                m.service == *service && m.env == *env && m.region == *region && m.key == *key
            }) {
                let k = if matches!(action, Action::SecretPut { .. }) {
                    "secret.version.from"
                } else {
                    "secret.version"
                };
                put(k, m.version_id.clone());
            }
        }
        Action::SecretCopy {
            service,
            env,
            key,
            from,
            ..
        } => {
            if let Some(m) = ctx.secrets.iter().find(|m| {
                m.service == *service && m.env == *env && m.region == *from && m.key == *key
            }) {
                put("secret.version", m.version_id.clone());
            }
        }
        Action::Lock { reason, .. } | Action::LockAll { reason } => {
            put("lock.holder", format!("{} ({reason})", actor.name));
        }
        _ => {}
    }
    d
}
