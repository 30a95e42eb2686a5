//! Every mutation, and the one dispatcher they pass through.
//!
//! Panes and CLI commands only build an [`Action`] and hand it to [`plan`] (to learn
//! what confirmation it needs, or why it is refused) and [`dispatch`] (to run it). The
//! dispatcher is the only code that calls a provider's mutation methods:
//!
//! policy ([`plan`]) → refused? audit `Refused` and stop → confirmation → audit
//! `Started` → provider call → audit `Succeeded` or `Failed(error)`.
//!
//! Nothing mutates without an audit record. Invalid input (an unknown service, an
//! empty reason, HPA bounds outside the policy) is refused before anything happens and
//! is not audited: nothing was attempted.

mod dispatch;
mod golden;
mod policy;
pub mod read;

#[cfg(test)]
mod env_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod lock_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhook_tests;

use serde::{Deserialize, Serialize};

use crate::domain::access::Permission;
use crate::domain::environment::{env_target, format_duration};
use crate::domain::golden::ServiceRequest;
use crate::domain::secret::masked;
use crate::domain::{ClusterId, SecretValue};

pub use dispatch::{DispatchError, Dispatched, dispatch, dispatch_with_progress};
pub use golden::{StepReport, StepStatus};
pub use policy::{
    Actor, Confirm, Plan, Policy, PolicyContext, Readiness, Refusal, Subject, covering_locks,
    holders_text, is_production, may_set_flag, plan, valid_secret_key,
};

/// One mutation, as a pane or a CLI command asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Stop deploys of a service; `None` env or region means every one.
    Lock {
        service: String,
        env: Option<String>,
        region: Option<String>,
        reason: String,
    },
    /// Remove the actor's own locks of the service inside the scope (`None` = any);
    /// with `all_holders`, every holder's (a reason and a typed confirmation naming
    /// them are needed when they are someone else's).
    Unlock {
        service: String,
        env: Option<String>,
        region: Option<String>,
        #[serde(default)]
        all_holders: bool,
    },
    /// The incident lock on every service everywhere.
    LockAll {
        reason: String,
    },
    /// Release the actor's incident lock (service locks stay); with `all_holders`,
    /// every holder's incident lock.
    UnlockAll {
        #[serde(default)]
        all_holders: bool,
    },
    /// Switch the merge freeze on.
    FreezeOn {
        reason: String,
    },
    FreezeOff,
    /// Run an earlier release in one cluster; `None`: the release before the current one.
    Rollback {
        service: String,
        cluster: ClusterId,
        to: Option<String>,
    },
    /// Replace every pod of the deployment.
    Restart {
        service: String,
        cluster: ClusterId,
    },
    /// Set the HPA's replica bounds.
    SetHpa {
        service: String,
        cluster: ClusterId,
        min: u32,
        max: u32,
    },
    /// Create or update the secret `<env>/<service>/<KEY>` in one region (C7). The value
    /// serialises as `"***"` and reads back empty: it never reaches an audit record.
    SecretPut {
        service: String,
        env: String,
        region: String,
        key: String,
        #[serde(serialize_with = "masked", skip_deserializing)]
        value: SecretValue,
    },
    /// Delete one secret in one region.
    SecretDelete {
        service: String,
        env: String,
        region: String,
        key: String,
    },
    /// Read one secret's value on purpose (audited as `secret.reveal`; the value is in
    /// [`Dispatched::revealed`], never in the record).
    SecretReveal {
        service: String,
        env: String,
        region: String,
        key: String,
    },
    /// Fix drift: copy a secret missing in region `to` from region `from`.
    SecretCopy {
        service: String,
        env: String,
        key: String,
        from: String,
        to: String,
    },
    /// Set a feature flag's value (and rollout percentage, 0–100; `None` keeps it) in
    /// every cluster that has it inside the scope (`None` = every env / region).
    FlagSet {
        name: String,
        value: String,
        percentage: Option<u8>,
        env: Option<String>,
        region: Option<String>,
    },
    /// Create a service on the golden path (C4): repository, CI workflow, descriptor,
    /// registration, dev deployment. Steps already done are skipped (detected from the
    /// providers), so a re-run after a failure resumes at the failed step;
    /// `from_step` (a [`Step`](crate::domain::golden::Step) name) starts there instead.
    ServiceCreate {
        request: ServiceRequest,
        #[serde(default)]
        from_step: Option<String>,
    },
    /// Ask for access to a service one does not own (C15): granted at once by
    /// ownership or a team rule (`[policy] access_rules`), else pending until an owner
    /// of the service or an admin decides.
    AccessRequest {
        service: String,
        permission: Permission,
        /// Only this environment; `None`: every one.
        env: Option<String>,
        reason: String,
    },
    /// Grant a pending access request (an owner of its service, or an admin).
    AccessApprove {
        id: u64,
        /// Why (recorded in the audit trail; may be empty).
        reason: String,
    },
    /// Deny a pending access request (an owner of its service, or an admin).
    AccessDeny {
        id: u64,
        /// Why (recorded in the audit trail; may be empty).
        reason: String,
    },
    /// Create an ephemeral environment (C14) from `from`: in `region`, or in every
    /// region `from` spans; it lives `ttl_seconds` (at most `[policy] env_ttl_max`).
    EnvCreate {
        name: String,
        from: String,
        #[serde(default)]
        region: Option<String>,
        ttl_seconds: i64,
    },
    /// Give an ephemeral environment more time (its creator, or an admin); what is
    /// left after it is at most `[policy] env_ttl_max`.
    EnvExtend {
        name: String,
        by_seconds: i64,
    },
    /// Delete an ephemeral environment and everything in it (its creator, or an
    /// admin).
    EnvDelete {
        name: String,
    },
    /// Silence the agent's alerts for the findings a pattern covers (a finding id, or
    /// `*` for any run of characters), for `for_seconds`.
    AlertSilence {
        pattern: String,
        reason: String,
        for_seconds: i64,
    },
    /// Remove the silence of a pattern.
    AlertUnsilence {
        pattern: String,
    },
}

fn or_all(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("*")
}

impl Action {
    /// The name recorded in the audit trail (`lock.add`, `deployment.rollback`, ...).
    pub fn audit_name(&self) -> &'static str {
        match self {
            Action::Lock { .. } => "lock.add",
            Action::Unlock { .. } => "lock.remove",
            Action::LockAll { .. } => "lock.all",
            Action::UnlockAll { .. } => "unlock.all",
            Action::FreezeOn { .. } => "freeze.on",
            Action::FreezeOff => "freeze.off",
            Action::Rollback { .. } => "deployment.rollback",
            Action::Restart { .. } => "deployment.restart",
            Action::SetHpa { .. } => "hpa.patch",
            Action::SecretPut { .. } => "secret.put",
            Action::SecretDelete { .. } => "secret.delete",
            Action::SecretReveal { .. } => "secret.reveal",
            Action::SecretCopy { .. } => "secret.copy",
            Action::FlagSet { .. } => "flag.set",
            Action::ServiceCreate { .. } => "service.create",
            Action::AccessRequest { .. } => "access.request",
            Action::AccessApprove { .. } => "access.approve",
            Action::AccessDeny { .. } => "access.deny",
            Action::EnvCreate { .. } => "env.create",
            Action::EnvExtend { .. } => "env.extend",
            Action::EnvDelete { .. } => "env.delete",
            Action::AlertSilence { .. } => "alert.silence",
            Action::AlertUnsilence { .. } => "alert.unsilence",
        }
    }

    /// What it acts on, for the audit trail: `service@env/region` (`*` for every one),
    /// `*@*/*` for everything, `org` for the merge freeze.
    pub fn target(&self) -> String {
        match self {
            Action::Lock {
                service,
                env,
                region,
                ..
            }
            | Action::Unlock {
                service,
                env,
                region,
                ..
            } => format!("{service}@{}/{}", or_all(env), or_all(region)),
            Action::LockAll { .. } | Action::UnlockAll { .. } => "*@*/*".to_string(),
            Action::FreezeOn { .. } | Action::FreezeOff => "org".to_string(),
            Action::Rollback {
                service, cluster, ..
            }
            | Action::Restart { service, cluster }
            | Action::SetHpa {
                service, cluster, ..
            } => format!("{service}@{cluster}"),
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
            }
            | Action::SecretReveal {
                service,
                env,
                region,
                key,
            } => format!("{env}/{service}/{key}@{region}"),
            Action::SecretCopy {
                service,
                env,
                key,
                from,
                to,
            } => format!("{env}/{service}/{key}@{from}->{to}"),
            Action::FlagSet {
                name, env, region, ..
            } => format!("{name}@{}/{}", or_all(env), or_all(region)),
            Action::ServiceCreate { request, .. } => request.name.clone(),
            Action::AccessRequest {
                service,
                permission,
                env,
                ..
            } => format!("{service}@{}:{permission}", or_all(env)),
            Action::AccessApprove { id, .. } | Action::AccessDeny { id, .. } => {
                format!("access#{id}")
            }
            Action::EnvCreate { name, .. }
            | Action::EnvExtend { name, .. }
            | Action::EnvDelete { name } => env_target(name),
            Action::AlertSilence { pattern, .. } | Action::AlertUnsilence { pattern } => {
                format!("alerts:{pattern}")
            }
        }
    }

    /// One line for people: prompts, toasts, the CLI.
    pub fn describe(&self) -> String {
        let scope = |env: &Option<String>, region: &Option<String>| {
            format!(
                "{} / {}",
                env.as_deref().unwrap_or("every environment"),
                region.as_deref().unwrap_or("every region")
            )
        };
        match self {
            Action::Lock {
                service,
                env,
                region,
                reason,
            } => format!("lock {service} in {} ({reason})", scope(env, region)),
            Action::Unlock {
                service,
                env,
                region,
                all_holders,
            } => format!(
                "unlock {service} in {}{}",
                scope(env, region),
                if *all_holders {
                    ", removing every holder's lock"
                } else {
                    " (your own locks)"
                }
            ),
            Action::LockAll { reason } => format!("lock every service everywhere ({reason})"),
            Action::UnlockAll { all_holders } => format!(
                "release the lock on every service{}",
                if *all_holders {
                    ", every holder's"
                } else {
                    " (your own)"
                }
            ),
            Action::FreezeOn { reason } => format!("switch the merge freeze on ({reason})"),
            Action::FreezeOff => "switch the merge freeze off".to_string(),
            Action::Rollback {
                service,
                cluster,
                to,
            } => format!(
                "roll {service} in {cluster} back to {}",
                to.as_deref().unwrap_or("the previous release")
            ),
            Action::Restart { service, cluster } => format!("restart {service} in {cluster}"),
            Action::SetHpa {
                service,
                cluster,
                min,
                max,
            } => format!("set the HPA of {service} in {cluster} to {min}..{max} replicas"),
            Action::SecretPut {
                service,
                env,
                region,
                key,
                ..
            } => format!("write the secret {env}/{service}/{key} in {region}"),
            Action::SecretDelete {
                service,
                env,
                region,
                key,
            } => format!("delete the secret {env}/{service}/{key} in {region}"),
            Action::SecretReveal {
                service,
                env,
                region,
                key,
            } => format!("reveal the secret {env}/{service}/{key} in {region}"),
            Action::SecretCopy {
                service,
                env,
                key,
                from,
                to,
            } => format!("copy the secret {env}/{service}/{key} from {from} to {to}"),
            Action::FlagSet {
                name,
                value,
                percentage,
                env,
                region,
            } => format!(
                "set the flag {name} to {value}{} in {}",
                percentage.map(|p| format!(" at {p}%")).unwrap_or_default(),
                scope(env, region)
            ),
            Action::ServiceCreate { request, .. } => format!(
                "create the service {} owned by {} from the {} template",
                request.name, request.owner, request.template
            ),
            Action::AccessRequest {
                service,
                permission,
                env,
                reason,
            } => format!(
                "request {permission} access to {service} in {} ({reason})",
                env.as_deref().unwrap_or("every environment")
            ),
            Action::AccessApprove { id, .. } => format!("approve access request #{id}"),
            Action::AccessDeny { id, .. } => format!("deny access request #{id}"),
            Action::EnvCreate {
                name,
                from,
                region,
                ttl_seconds,
            } => format!(
                "create the environment {name} from {from} in {} for {}",
                region.as_deref().unwrap_or("every region of it"),
                format_duration(*ttl_seconds)
            ),
            Action::EnvExtend { name, by_seconds } => format!(
                "give the environment {name} {} more",
                format_duration(*by_seconds)
            ),
            Action::EnvDelete { name } => {
                format!("delete the environment {name} and everything in it")
            }
            Action::AlertSilence {
                pattern,
                reason,
                for_seconds,
            } => format!(
                "silence the alerts of {pattern} for {} ({reason})",
                format_duration(*for_seconds)
            ),
            Action::AlertUnsilence { pattern } => {
                format!("remove the silence of {pattern}")
            }
        }
    }

    /// The reason given, recorded in the audit trail.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Action::Lock { reason, .. }
            | Action::LockAll { reason }
            | Action::FreezeOn { reason }
            | Action::AlertSilence { reason, .. }
            | Action::AccessRequest { reason, .. } => Some(reason),
            Action::AccessApprove { reason, .. } | Action::AccessDeny { reason, .. }
                if !reason.is_empty() =>
            {
                Some(reason)
            }
            _ => None,
        }
    }

    /// The one service it acts on; `None` for platform-wide actions.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::Lock { service, .. }
            | Action::Unlock { service, .. }
            | Action::Rollback { service, .. }
            | Action::Restart { service, .. }
            | Action::SetHpa { service, .. }
            | Action::SecretPut { service, .. }
            | Action::SecretDelete { service, .. }
            | Action::SecretReveal { service, .. }
            | Action::SecretCopy { service, .. }
            | Action::AccessRequest { service, .. } => Some(service),
            _ => None,
        }
    }
}
