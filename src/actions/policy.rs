//! Who may do what: the actor, the policy from config, and [`plan`], the pure decision.
//!
//! [`PolicyContext::gather`] (in `gather.rs`) reads what the decision needs from the
//! platform; [`plan`] decides on it with no I/O, in phases, one file each:
//! `resolve.rs` (validate the input and resolve names), `read_only.rs`, `ownership.rs`,
//! `readiness.rs` (the production gate), `locks.rs` (whose locks an unlock removes,
//! which locks stop an action, overrides) and `confirm.rs`; `details.rs` says what
//! the audit record will say changes.

mod confirm;
mod details;
mod gather;
mod locks;
mod ownership;
mod read_only;
mod readiness;
mod resolve;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use super::Action;
use crate::config::settings::{
    AccessRule, DEFAULT_ACCESS_GRANT_TTL, DEFAULT_ENV_TTL_MAX, PolicyConfig,
};
use crate::domain::access::{AccessRequest, Permission};
use crate::domain::catalog::{Catalog, Kind, RelationKind};
use crate::domain::environment::{EphemeralEnv, parse_duration};
use crate::domain::score::Scorecard;
use crate::domain::{ClusterId, Details, FlagState, Lock, SecretMeta, Timestamp, Topology};

pub use confirm::Confirm;
pub use locks::covering_locks;

/// The longest reason accepted.
const MAX_REASON: usize = 500;

/// Is this a production environment (the readiness gate and type-to-confirm protect
/// it)? By the words of its name ([`EnvKind`](crate::domain::environment::EnvKind)):
/// `production`, `prod`, `prd`, `live`, `prod-eu`, `production-blue`; not `preprod`
/// nor `non-prod`.
pub fn is_production(env: &str) -> bool {
    crate::domain::environment::EnvKind::of(env)
        == Some(crate::domain::environment::EnvKind::Production)
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The name recorded in the audit trail (a catalog User's name where there is one).
    pub name: String,
    /// The Groups the user is a member of (`memberOf` in the catalog), by name.
    pub groups: Vec<String>,
    /// A platform admin (listed in `[policy] admins`).
    pub admin: bool,
    /// The authenticated user acting as this one (`--as` on a configured platform:
    /// impersonation, for admins only); `None`: they act as themself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Actor {
    /// The actor named `name`: groups from the catalog User of that name (none when
    /// there is no such User), admin from the policy.
    pub fn resolve(name: &str, catalog: &Catalog, policy: &Policy) -> Actor {
        let mut groups: Vec<String> = catalog
            .find(Some(&Kind::User), name)
            .filter(|u| u.kind == Kind::User)
            .map(|u| {
                u.related(RelationKind::MemberOf)
                    .map(|g| g.name.to_string())
                    .collect()
            })
            .unwrap_or_default();
        groups.sort();
        groups.dedup();
        let admin = policy.is_admin(name, &groups);
        Actor {
            name: name.to_string(),
            groups,
            admin,
            by: None,
        }
    }

    /// The name the audit trail records: `ada as amara.okafor` when an admin acts as
    /// someone else, else the actor's own.
    pub fn recorded(&self) -> String {
        match &self.by {
            Some(by) => format!("{by} as {}", self.name),
            None => self.name.clone(),
        }
    }

    /// `--as NAME`: act as a catalog User; an error naming the field when there is none.
    pub fn resolve_as(name: &str, catalog: &Catalog, policy: &Policy) -> Result<Actor, Refusal> {
        match catalog.find(Some(&Kind::User), name) {
            Some(u) if u.kind == Kind::User => Ok(Actor::resolve(&u.name, catalog, policy)),
            _ => Err(Refusal::Invalid {
                field: "as".to_string(),
                message: format!("{name:?} is not a User in the catalog"),
            }),
        }
    }
}

/// The rules, from `[policy]` in config plus the global read-only switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// User names, or `group:NAME` for every member of a Group.
    pub admins: Vec<String>,
    /// Global read-only mode: nothing changes, for anyone.
    pub read_only: bool,
    /// Environments only admins may change.
    pub read_only_envs: Vec<String>,
    /// The readiness level needed to unlock or roll back in production; `None`: no gate.
    pub readiness_threshold: Option<String>,
    pub hpa_min: u32,
    pub hpa_max: u32,
    /// Access requests granted at once by team (`[policy] access_rules`).
    pub access_rules: Vec<AccessRule>,
    /// How long a granted access request lasts, in seconds.
    pub access_grant_ttl: i64,
    /// The longest an ephemeral environment may live (or have left after an
    /// extension), in seconds.
    pub env_ttl_max: i64,
}

/// A duration from config (checked when it was read), else the default's.
fn duration_or(text: &str, default: &str) -> i64 {
    parse_duration(text)
        .or_else(|_| parse_duration(default))
        .unwrap_or(3_600)
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_config(&PolicyConfig::default(), false, false)
    }
}

impl Policy {
    /// The policy from config. On the demo platform, with no `admins` configured, the
    /// demo user `you` is the admin.
    pub fn from_config(cfg: &PolicyConfig, demo: bool, read_only: bool) -> Policy {
        let admins = match &cfg.admins {
            Some(a) => a.clone(),
            None if demo => vec!["you".to_string()],
            None => Vec::new(),
        };
        let threshold = cfg.readiness_threshold.trim();
        Policy {
            admins,
            read_only,
            read_only_envs: cfg.read_only_envs.clone(),
            readiness_threshold: (!threshold.is_empty()).then(|| threshold.to_string()),
            hpa_min: cfg.hpa_min,
            hpa_max: cfg.hpa_max,
            access_rules: cfg.access_rules.clone(),
            access_grant_ttl: duration_or(&cfg.access_grant_ttl, DEFAULT_ACCESS_GRANT_TTL),
            env_ttl_max: duration_or(&cfg.env_ttl_max, DEFAULT_ENV_TTL_MAX),
        }
    }

    pub fn is_admin(&self, name: &str, groups: &[String]) -> bool {
        self.admins.iter().any(|a| match a.strip_prefix("group:") {
            Some(g) => groups.iter().any(|x| x == g),
            None => a == name,
        })
    }
}

/// A service's readiness against the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The level reached; `None` below the first.
    pub level: Option<String>,
    /// Whether it reaches the policy's threshold.
    pub passes: bool,
    /// The failing rules at or below the threshold: `title (identifier)`.
    pub failing: Vec<String>,
}

impl Readiness {
    /// Score a service's level against `threshold` on `card`. An unknown threshold
    /// fails closed.
    pub fn assess(
        card: &Scorecard,
        result: &crate::domain::score::ScoreResult,
        threshold: &str,
    ) -> Readiness {
        let Some(t) = card.levels.iter().position(|l| l.title == threshold) else {
            return Readiness {
                level: result.level.clone(),
                passes: false,
                failing: vec![format!(
                    "the threshold {threshold:?} is not a level of the scorecard"
                )],
            };
        };
        let upto: Vec<&str> = card.levels[..=t].iter().map(|l| l.title.as_str()).collect();
        let reached = result
            .level
            .as_ref()
            .and_then(|l| card.levels.iter().position(|x| &x.title == l));
        let failing = result
            .rules
            .iter()
            .filter(|r| !r.passed && upto.contains(&r.level.as_str()))
            .map(|r| format!("{} ({})", r.title, r.identifier))
            .collect();
        Readiness {
            level: result.level.clone(),
            passes: reached.is_some_and(|i| i >= t),
            failing,
        }
    }
}

/// What is known of the service an action is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The name as the catalog spells it.
    pub name: String,
    /// The owner's name and kind (`group` or `user`).
    pub owner: Option<(String, String)>,
    /// Where it runs and which version: read only on the cluster a restart, rollback
    /// or HPA change acts on (empty for other actions, which do not look).
    pub deployments: Vec<(ClusterId, String)>,
    /// Clusters where it has an HPA: read only on an HPA change's cluster.
    pub hpas: Vec<ClusterId>,
    /// The HPAs' bounds now: (cluster, min, max), for the audit's old → new (an HPA
    /// change's cluster only).
    pub hpa_bounds: Vec<(ClusterId, u32, u32)>,
    /// Every released version, oldest first: read only for a rollback.
    pub releases: Vec<String>,
    /// Its readiness, when the action needs the gate (and a threshold is set).
    pub readiness: Option<Readiness>,
}

/// Everything [`plan`] decides on: the policy and a fresh read of the platform.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    pub policy: Policy,
    pub topology: Topology,
    pub catalog: Arc<Catalog>,
    /// The service the action is about; `None` for platform-wide actions or when the
    /// catalog has no such service.
    pub subject: Option<Subject>,
    /// For secret actions: the subject service's secrets (metadata) in every region.
    pub secrets: Vec<SecretMeta>,
    /// For flag actions: every flag in every cluster.
    pub flags: Vec<FlagState>,
    /// Access requests about the subject service (every one for `access` actions):
    /// the granted ones pass the ownership check, the pending ones are decided.
    pub access: Vec<AccessRequest>,
    /// When the context was read, by the platform's clock (grants and environments
    /// expire by it).
    pub now: Timestamp,
    /// The organisation the platform creates repositories in (`None`: the demo's).
    pub repo_org: Option<String>,
    /// Every lock: what stops a mutating action (see [`plan`]), and whose locks an
    /// unlock removes.
    pub locks: Vec<Lock>,
    /// Why the locks could not be read: then an action a lock would stop is refused
    /// (closed) unless the lock is overridden.
    pub locks_error: Option<String>,
    /// The actor's reason (`--reason`) for an action that holds none itself; recorded
    /// in the audit trail.
    pub reason: Option<String>,
    /// `--override-lock REASON`: act although a lock covers the target, on purpose
    /// (audited as an override, naming the locks).
    pub override_lock: Option<String>,
}

impl PolicyContext {
    /// The same context with the actor's reason and lock override (empty: none).
    pub fn with_intent(mut self, reason: Option<String>, override_lock: Option<String>) -> Self {
        self.reason = reason.filter(|r| !r.trim().is_empty());
        self.override_lock = override_lock;
        self
    }
}

/// An action the policy allows, resolved (canonical service name, the rollback
/// version filled in), with the confirmation it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub action: Action,
    pub confirm: Confirm,
    /// For rollbacks: the version running now.
    pub from_version: Option<String>,
    /// For access requests: the rule that grants it at once (`ownership`, `team`);
    /// `None`: it waits for an owner.
    pub grant_rule: Option<String>,
    /// For environment creation and extension: the environment as it will be.
    pub env: Option<EphemeralEnv>,
    /// The reason recorded in the audit trail: the action's own, else the actor's
    /// (`--reason`), cleaned.
    pub reason: Option<String>,
    /// The locks overridden on purpose (`--override-lock`), and why; empty when no
    /// lock stood in the way.
    pub overridden: Vec<Lock>,
    pub override_reason: Option<String>,
    /// What the audit record says changes, known before the provider call (a
    /// rollback's versions, HPA bounds, a flag's values, the locks an unlock removes).
    pub details: Details,
}

/// Why an action may not run: the rule, and what would allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Refusal {
    /// Bad input: the field and what is wrong with it. Nothing is attempted.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    /// Read-only mode, global (`env: None`) or for one environment.
    #[error("{}", read_only_text(.env))]
    ReadOnly { env: Option<String> },
    /// The actor neither owns the service, nor holds a granted access request for it,
    /// nor is an admin.
    #[error("ownership: {actor} is not a member of {}, which owns {service}; a member of that group or a platform admin (config [policy] admins) may do this, or request access with `sphere access request {service} --permission {} --reason TEXT`", owner_text(.owner), .permission)]
    NotOwner {
        actor: String,
        service: String,
        owner: Option<String>,
        /// The access that would allow it (`operate` or `read-secrets`).
        permission: Permission,
    },
    /// Deciding an access request by someone who neither owns its service nor is an
    /// admin.
    #[error("ownership: {actor} may not decide access request #{id} for {service}; a member of {}, which owns it, or a platform admin (config [policy] admins) may", owner_text(.owner))]
    NotApprover {
        actor: String,
        id: u64,
        service: String,
        owner: Option<String>,
    },
    /// A flag change by someone who is neither an admin nor in the group the flag's
    /// name starts with (`GROUP.`).
    #[error(
        "ownership: {actor} may not change the flag {flag}; flags named `GROUP.…` may be changed by that group's members, any flag by a platform admin (config [policy] admins)"
    )]
    NotFlagOwner { actor: String, flag: String },
    /// Creating an environment by someone in no team (no catalog Group lists them).
    #[error(
        "ownership: {actor} is in no team (no catalog Group lists them as a member), so may not create environments; a team member or a platform admin (config [policy] admins) may"
    )]
    NoTeam { actor: String },
    /// Extending or deleting an ephemeral environment by someone who neither created
    /// it nor is an admin.
    #[error(
        "ownership: the environment {env} was created by {creator}; only they or a platform admin (config [policy] admins) may extend or delete it"
    )]
    NotCreator {
        actor: String,
        env: String,
        creator: String,
    },
    /// A platform-wide action by someone who is not an admin.
    #[error(
        "ownership: {action} acts on every service, so only a platform admin may do it; ask one, or be listed in config [policy] admins"
    )]
    AdminOnly { action: String },
    /// A lock covers the target of a mutating action, held by someone else.
    #[error("locked: {target} is locked by {}; wait until the holder unlocks it, or act anyway on purpose with --override-lock REASON (audited as an override)", holders_text(.locks))]
    Locked {
        action: String,
        target: String,
        locks: Vec<Lock>,
    },
    /// The locks could not be read, so the scope may be locked: closed.
    #[error(
        "locks unknown: the locks could not be read ({error}), so {target} may be locked; act anyway on purpose with --override-lock REASON (audited as an override)"
    )]
    LocksUnknown { target: String, error: String },
    /// The readiness gate: the service is below the threshold.
    #[error("readiness gate: {service} is at level {} but production needs {threshold}; failing rules: {}. Fix them (see `sphere score {service}`), or lower [policy] readiness_threshold", .level.as_deref().unwrap_or("none"), .failing.join(", "))]
    Readiness {
        service: String,
        level: Option<String>,
        threshold: String,
        failing: Vec<String>,
    },
}

fn read_only_text(env: &Option<String>) -> String {
    match env {
        None => "read-only mode: sphere was started read-only (--read-only); start it without --read-only to change anything".to_string(),
        Some(e) => format!("read-only environment: {e} is read-only for everyone but platform admins (config [policy] read_only_envs); ask an admin, or be listed in [policy] admins"),
    }
}

pub use crate::domain::holders_text;

fn owner_text(owner: &Option<String>) -> String {
    owner
        .clone()
        .unwrap_or_else(|| "no owner (only admins may act)".to_string())
}

impl Refusal {
    /// The rule that refused: `invalid`, `read_only`, `ownership`, `readiness`.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::Invalid { .. } => "invalid",
            Refusal::ReadOnly { .. } => "read_only",
            Refusal::NotOwner { .. }
            | Refusal::NotApprover { .. }
            | Refusal::AdminOnly { .. }
            | Refusal::NotFlagOwner { .. }
            | Refusal::NoTeam { .. }
            | Refusal::NotCreator { .. } => "ownership",
            Refusal::Readiness { .. } => "readiness",
            Refusal::Locked { .. } | Refusal::LocksUnknown { .. } => "lock",
        }
    }

    pub fn is_invalid(&self) -> bool {
        matches!(self, Refusal::Invalid { .. })
    }

    /// Refused because of a lock (or locks that could not be read)?
    pub fn is_lock(&self) -> bool {
        self.rule() == "lock"
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A reason as it is stored: trimmed, control characters and escape sequences stripped
/// (a reason is shown in tables, JSON and on other people's terminals).
fn clean_reason(reason: &str) -> String {
    crate::domain::text::sanitize(reason.trim())
        .trim()
        .to_string()
}

fn check_reason(reason: &str) -> Result<(), Refusal> {
    if clean_reason(reason).is_empty() {
        return Err(invalid(
            "reason",
            "a reason is required (it goes into the audit trail)",
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(invalid(
            "reason",
            format!("at most {MAX_REASON} characters"),
        ));
    }
    Ok(())
}

/// A secret's short name: `^[A-Z][A-Z0-9_]*$`.
pub fn valid_secret_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// AWS Secrets Manager's limit on a secret's value (`SecretString`), in bytes.
pub const MAX_SECRET_BYTES: usize = 65_536;
/// The longest secret name (`KEY`) sphere writes; the full name adds env and service.
pub const MAX_SECRET_KEY: usize = 128;
/// The longest flag value.
pub const MAX_FLAG_VALUE: usize = 256;

fn has_secret(ctx: &PolicyContext, service: &str, env: &str, region: &str, key: &str) -> bool {
    ctx.secrets
        .iter()
        .any(|m| m.service == service && m.env == env && m.region == region && m.key == key)
}

/// May `actor` change the flag `name`? Admins may change any flag; a Group's members
/// the flags whose name starts with the Group's name and a dot (`payments.…`).
pub fn may_set_flag(actor: &Actor, name: &str) -> bool {
    actor.admin
        || actor.groups.iter().any(|g| {
            name.strip_prefix(g.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
        })
}

fn or_any(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("*")
}

/// Decide: the action resolved with its confirmation, or the refusal.
///
/// Checks in order, one phase each (its file named): the input (→ `Invalid`,
/// `resolve.rs`), read-only (global, then per environment, admins exempt,
/// `read_only.rs`), ownership (owners of the service or admins; platform-wide actions
/// admins only, `ownership.rs`), the readiness gate (unlocking or rolling back into
/// production, `readiness.rs`), whose locks an unlock removes and the locks that stop
/// the action (`locks.rs`); then the confirmation it needs (`confirm.rs`). No I/O:
/// [`PolicyContext::gather`] read everything it decides on.
pub fn plan(ctx: &PolicyContext, actor: &Actor, action: &Action) -> Result<Plan, Refusal> {
    // The actor's reason, for an action that holds none itself.
    let given = match &ctx.reason {
        Some(r) => {
            check_reason(r)?;
            Some(clean_reason(r))
        }
        None => None,
    };
    // 1. Validate and resolve.
    let resolve::Resolved {
        action: resolved,
        from_version,
        env: env_after,
    } = resolve::resolve(ctx, actor, action)?;
    // 2. Read-only: global for everyone, per environment for all but admins.
    let envs = read_only::check(ctx, actor, &resolved)?;
    // 3. Ownership, and the rule that grants an access request at once.
    let grant_rule = ownership::check(ctx, actor, &resolved, &envs)?;
    // 4. The readiness gate.
    readiness::check(ctx, &resolved)?;

    let reason = resolved.reason().map(str::to_string).or(given);
    let mut details = details::change_details(ctx, actor, &resolved, from_version.as_deref());

    // 5. Whose locks an unlock removes: the actor's own, or every holder's on purpose.
    let others_removed =
        locks::unlock_removal(ctx, actor, &resolved, reason.as_deref(), &mut details)?;
    // 6. The locks that stop the action, unless overridden on purpose.
    let (overridden, override_reason) = locks::check(ctx, actor, &resolved, &mut details)?;
    // 7. The confirmation it needs.
    let confirm = confirm::confirmation(ctx, &resolved, &others_removed);
    Ok(Plan {
        action: resolved,
        confirm,
        from_version,
        grant_rule,
        env: env_after,
        reason,
        overridden,
        override_reason,
        details,
    })
}
