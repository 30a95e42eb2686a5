//! Phase 7 of [`plan`](super::plan): how an action must be confirmed before it runs.

use std::fmt;

use serde::Serialize;

use super::{PolicyContext, has_secret, is_production};
use crate::actions::Action;

/// How an action must be confirmed before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Confirm {
    /// Not destructive (a lock, the freeze on): no question.
    None,
    /// Destructive: yes or no.
    YesNo,
    /// Production or everything: type this text (the service name, or `lock all`).
    TypeToConfirm(String),
}

impl Confirm {
    /// Whether `answer` confirms.
    pub fn accepts(&self, answer: &str) -> bool {
        let a = answer.trim();
        match self {
            Confirm::None => true,
            Confirm::YesNo => a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes"),
            Confirm::TypeToConfirm(text) => a == text,
        }
    }
}

/// The confirmation `resolved` needs: none, yes/no, or a typed name for production,
/// everything, and removing other holders' locks (`others_removed`, their names).
pub(super) fn confirmation(
    ctx: &PolicyContext,
    resolved: &Action,
    others_removed: &[String],
) -> Confirm {
    let prod = |env: Option<&str>| env.is_none_or(is_production);
    match resolved {
        Action::Lock { .. } | Action::FreezeOn { .. } => Confirm::None,
        // A silence only quiets alerts, and ends by itself; removing one tells more.
        Action::AlertSilence { .. } | Action::AlertUnsilence { .. } => Confirm::None,
        Action::FreezeOff => Confirm::YesNo,
        Action::LockAll { .. } => Confirm::TypeToConfirm("lock all".to_string()),
        _ if !others_removed.is_empty() => Confirm::TypeToConfirm(others_removed.join(", ")),
        Action::UnlockAll { .. } => Confirm::TypeToConfirm("unlock all".to_string()),
        Action::Unlock { service, env, .. } => {
            if prod(env.as_deref()) {
                Confirm::TypeToConfirm(service.clone())
            } else {
                Confirm::YesNo
            }
        }
        Action::Rollback {
            service, cluster, ..
        }
        | Action::Restart { service, cluster }
        | Action::SetHpa {
            service, cluster, ..
        } => {
            if is_production(&cluster.env) {
                Confirm::TypeToConfirm(service.clone())
            } else {
                Confirm::YesNo
            }
        }
        Action::SecretPut {
            service,
            env,
            region,
            key,
            ..
        } => {
            if is_production(env) && has_secret(ctx, service, env, region, key) {
                Confirm::TypeToConfirm(service.clone())
            } else {
                Confirm::None
            }
        }
        Action::SecretDelete { service, env, .. } => {
            if is_production(env) {
                Confirm::TypeToConfirm(service.clone())
            } else {
                Confirm::YesNo
            }
        }
        Action::SecretReveal { .. }
        | Action::SecretCopy { .. }
        | Action::ServiceCreate { .. }
        | Action::AccessRequest { .. }
        | Action::AccessApprove { .. }
        | Action::AccessDeny { .. }
        | Action::EnvCreate { .. }
        | Action::EnvExtend { .. } => Confirm::None,
        Action::EnvDelete { .. } => Confirm::YesNo,
        Action::FlagSet { name, env, .. } => {
            if prod(env.as_deref()) {
                Confirm::TypeToConfirm(name.clone())
            } else {
                Confirm::YesNo
            }
        }
    }
}

impl fmt::Display for Confirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Confirm::None => f.write_str("no confirmation"),
            Confirm::YesNo => f.write_str("y/N"),
            Confirm::TypeToConfirm(t) => write!(f, "type {t:?} to confirm"),
        }
    }
}
