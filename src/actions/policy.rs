//! Who may do what: the actor, the policy from config, and [`plan`], the pure decision.

use std::fmt;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use super::Action;
use crate::backend::Platform;
use crate::backend::facts::{gather, is_service};
use crate::config::settings::{
    AccessRule, DEFAULT_ACCESS_GRANT_TTL, DEFAULT_ENV_TTL_MAX, PolicyConfig,
};
use crate::domain::access::{AccessRequest, AccessStatus, Permission};
use crate::domain::catalog::{Catalog, Kind, RelationKind};
use crate::domain::environment::{EphemeralEnv, check_name, format_duration, parse_duration};
use crate::domain::golden::{DEV_ENV, Step};
use crate::domain::score::{Scorecard, builtin_scorecard, evaluate, properties};
use crate::domain::{ClusterId, Details, FlagState, Lock, Scope, SecretMeta, Timestamp, Topology};

/// The longest reason accepted.
const MAX_REASON: usize = 500;

/// Is this the production environment (the one the readiness gate and type-to-confirm
/// protect)?
pub fn is_production(env: &str) -> bool {
    matches!(env, "production" | "prod")
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
    /// Where it runs and which version.
    pub deployments: Vec<(ClusterId, String)>,
    /// Clusters where it has an HPA.
    pub hpas: Vec<ClusterId>,
    /// The HPAs' bounds now: (cluster, min, max), for the audit's old → new.
    pub hpa_bounds: Vec<(ClusterId, u32, u32)>,
    /// Every released version, oldest first.
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

/// Does the action need the readiness gate (unlocking or rolling back into production)?
fn gated(action: &Action, topology: &Topology) -> bool {
    match action {
        Action::Unlock { env: None, .. } => topology.environments.iter().any(|e| is_production(e)),
        Action::Unlock { env: Some(e), .. } => is_production(e),
        Action::Rollback { cluster, .. } => is_production(&cluster.env),
        _ => false,
    }
}

impl PolicyContext {
    /// The same context with the actor's reason and lock override (empty: none).
    pub fn with_intent(mut self, reason: Option<String>, override_lock: Option<String>) -> Self {
        self.reason = reason.filter(|r| !r.trim().is_empty());
        self.override_lock = override_lock;
        self
    }

    /// Read what the policy needs for `action` from the platform.
    pub async fn gather(
        platform: &Platform,
        policy: Policy,
        action: &Action,
    ) -> Result<PolicyContext> {
        let catalog = platform.catalog.load().await?;
        // Environment actions read the environments as they are now (on the demo,
        // reading them also removes the expired ones).
        // Any other action may name an ephemeral environment too; when they cannot be
        // read it still runs on the clusters alone.
        let topology = match action {
            Action::EnvCreate { .. } | Action::EnvExtend { .. } | Action::EnvDelete { .. } => {
                platform.topology_now().await?
            }
            _ => platform.topology_or_clusters().await,
        };
        let all_access = platform.ledger.access_requests().await?;
        // Deciding a request is about the service it asks for.
        let service = match action {
            Action::AccessApprove { id, .. } | Action::AccessDeny { id, .. } => all_access
                .iter()
                .find(|r| r.id == *id)
                .map(|r| r.service.clone()),
            _ => action.service().map(str::to_string),
        };
        let subject = match service.as_deref() {
            Some(name) => match catalog.find(Some(&Kind::Component), name) {
                Some(e) if is_service(e) => {
                    let name = e.name.clone();
                    let owner = e
                        .owner
                        .as_ref()
                        .map(|o| (o.name.to_string(), o.kind.as_str().to_lowercase()));
                    let snapshot = platform.clusters.snapshot(&Scope::default()).await?;
                    let deployments = snapshot
                        .deployments
                        .iter()
                        .filter(|d| d.service == name)
                        .map(|d| (d.cluster.clone(), d.version.clone()))
                        .collect();
                    let hpas = snapshot
                        .hpas
                        .iter()
                        .filter(|h| h.service == name)
                        .map(|h| h.cluster.clone())
                        .collect();
                    let hpa_bounds = snapshot
                        .hpas
                        .iter()
                        .filter(|h| h.service == name)
                        .map(|h| (h.cluster.clone(), h.min, h.max))
                        .collect();
                    // Only a rollback needs the history; any other action goes on
                    // without it when the repository host is down or not configured.
                    let releases = match action {
                        Action::Rollback { .. } => platform.repos.releases(&name).await?,
                        _ => platform.repos.releases(&name).await.unwrap_or_default(),
                    };
                    let readiness = match &policy.readiness_threshold {
                        Some(t) if gated(action, &topology) => {
                            let card = builtin_scorecard()?;
                            let facts = gather(platform, &catalog, &name).await?;
                            let names = facts.resource_names();
                            let result = evaluate(&card, &properties(&facts.evidence(&names)));
                            Some(Readiness::assess(&card, &result, t))
                        }
                        _ => None,
                    };
                    Some(Subject {
                        name: name.to_string(),
                        owner,
                        deployments,
                        hpas,
                        hpa_bounds,
                        releases,
                        readiness,
                    })
                }
                _ => None,
            },
            None => None,
        };
        let secrets = match (action, &subject) {
            (
                Action::SecretPut { .. }
                | Action::SecretDelete { .. }
                | Action::SecretReveal { .. }
                | Action::SecretCopy { .. },
                Some(s),
            ) => platform.secrets.list(Some(&s.name)).await?,
            _ => Vec::new(),
        };
        let flags = match action {
            Action::FlagSet { .. } => platform.flags.list().await?,
            _ => Vec::new(),
        };
        let access = match (action, &subject) {
            (Action::AccessApprove { .. } | Action::AccessDeny { .. }, _) => all_access,
            (_, Some(s)) => all_access
                .into_iter()
                .filter(|r| r.service == s.name)
                .collect(),
            _ => Vec::new(),
        };
        let (locks, locks_error) = match platform.ledger.locks().await {
            Ok(l) => (l, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        Ok(PolicyContext {
            locks,
            locks_error,
            reason: None,
            override_lock: None,
            policy,
            topology,
            catalog,
            subject,
            secrets,
            flags,
            access,
            now: platform.now(),
            repo_org: platform.repos.org(),
        })
    }
}

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

fn check_scope(
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

fn has_secret(ctx: &PolicyContext, service: &str, env: &str, region: &str, key: &str) -> bool {
    ctx.secrets
        .iter()
        .any(|m| m.service == service && m.env == env && m.region == region && m.key == key)
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

/// Decide: the action resolved with its confirmation, or the refusal.
///
/// Checks in order: the input (→ `Invalid`), read-only (global, then per environment,
/// admins exempt), ownership (owners of the service or admins; platform-wide actions
/// admins only), the readiness gate (unlocking or rolling back into production).
pub fn plan(ctx: &PolicyContext, actor: &Actor, action: &Action) -> Result<Plan, Refusal> {
    let topo = &ctx.topology;
    let mut from_version = None;
    let mut env_after = None;
    // The actor's reason, for an action that holds none itself.
    let given = match &ctx.reason {
        Some(r) => {
            check_reason(r)?;
            Some(clean_reason(r))
        }
        None => None,
    };
    // 1. Validate and resolve.
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
            check_scope(topo, env.as_deref(), region.as_deref())?;
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
            from_version = Some(current);
            Action::Rollback {
                service: s.name.clone(),
                cluster: cluster.clone(),
                to: Some(to),
            }
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
        } => {
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
            Action::SetHpa {
                service: s.name.clone(),
                cluster: cluster.clone(),
                min: *min,
                max: *max,
            }
        }
        Action::SecretPut {
            service,
            env,
            region,
            key,
            value,
        } => {
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
            Action::SecretPut {
                service: s.name.clone(),
                env: env.clone(),
                region: region.clone(),
                key: key.clone(),
                value: value.clone(),
            }
        }
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
            check_scope(topo, Some(env), Some(region))?;
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
        } => {
            let s = subject(ctx, service)?;
            check_scope(topo, Some(env), Some(from))?;
            check_scope(topo, None, Some(to)).map_err(|_| {
                invalid(
                    "to",
                    format!(
                        "{to:?} is not a region: use one of {}",
                        topo.regions.join(", ")
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
            Action::SecretCopy {
                service: s.name.clone(),
                env: env.clone(),
                key: key.clone(),
                from: from.clone(),
                to: to.clone(),
            }
        }
        Action::FlagSet {
            name,
            value,
            percentage,
            env,
            region,
        } => {
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
            Action::FlagSet {
                name: name.clone(),
                value: value.to_string(),
                percentage: *percentage,
                env: env.clone(),
                region: region.clone(),
            }
        }
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
            env_after = Some(EphemeralEnv {
                name: name.clone(),
                from: from.clone(),
                regions,
                created_by: actor.name.clone(),
                created_at: ctx.now,
                expires_at: ctx.now + ttl_seconds,
            });
            action.clone()
        }
        Action::EnvExtend { name, by_seconds } => {
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
            env_after = Some(after);
            action.clone()
        }
        Action::EnvDelete { name } => {
            ephemeral(ctx, name)?;
            action.clone()
        }
        Action::ServiceCreate { request, from_step } => {
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
            action.clone()
        }
    };

    // 2. Read-only: global for everyone, per environment for all but admins.
    if ctx.policy.read_only {
        return Err(Refusal::ReadOnly { env: None });
    }
    let envs: Vec<&str> = match &resolved {
        Action::Lock { env, .. } | Action::Unlock { env, .. } => match env {
            Some(e) => vec![e.as_str()],
            None => topo.environments.iter().map(String::as_str).collect(),
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
        Action::FlagSet { env, .. } => match env {
            Some(e) => vec![e.as_str()],
            None => topo.environments.iter().map(String::as_str).collect(),
        },
        Action::ServiceCreate { .. } => vec![DEV_ENV],
        // Asking and deciding change nothing on the platform itself.
        Action::AccessRequest { .. } | Action::AccessApprove { .. } | Action::AccessDeny { .. } => {
            Vec::new()
        }
        Action::EnvCreate { name, .. }
        | Action::EnvExtend { name, .. }
        | Action::EnvDelete { name } => vec![name.as_str()],
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

    // 3. Ownership. A new service: members of the owning Group (or admins) create it.
    // Anyone may ask for access; its service's owners (or admins) decide. A granted,
    // unexpired request stands in for ownership.
    let owner = ctx.subject.as_ref().and_then(|s| s.owner.clone());
    let owns = match &owner {
        Some((name, kind)) if kind == "group" => actor.groups.iter().any(|g| g == name),
        Some((name, _)) => *name == actor.name,
        None => false,
    };
    let mut grant_rule = None;
    match &resolved {
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
        _ => check_ownership(ctx, actor, &resolved, &envs, owner, owns)?,
    }

    // 4. The readiness gate.
    if gated(&resolved, topo)
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

    let reason = resolved.reason().map(str::to_string).or(given);
    let mut details = change_details(ctx, actor, &resolved, from_version.as_deref());

    // 5. Whose locks an unlock removes: the actor's own, or every holder's on purpose.
    let mut others_removed: Vec<String> = Vec::new();
    if let Some((service, env, region, all)) = unlock_scope(&resolved) {
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

    // 6. Locks: a mutating action in a locked scope is refused unless overridden on
    // purpose. A lock never stops its own holder (an emergency rollback by the one
    // who locked); locks that cannot be read stop it too (closed).
    let mut overridden = Vec::new();
    let mut override_reason = None;
    if let Some((target, covering)) = covering_locks(ctx, &resolved) {
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

    // Confirmation.
    let prod = |env: Option<&str>| env.is_none_or(is_production);
    let confirm = match &resolved {
        Action::Lock { .. } | Action::FreezeOn { .. } => Confirm::None,
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
    };
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
        Action::EnvDelete { name } => Some((
            format!("*@{name}/*"),
            cover(&|l| {
                l.env.as_deref() == Some(name.as_str())
                    || (l.service == Lock::ALL && l.env.is_none())
            }),
        )),
        _ => None,
    }
}

/// What the audit record says changes, as far as the context knows before the
/// provider call.
fn change_details(
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

impl fmt::Display for Confirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Confirm::None => f.write_str("no confirmation"),
            Confirm::YesNo => f.write_str("y/N"),
            Confirm::TypeToConfirm(t) => write!(f, "type {t:?} to confirm"),
        }
    }
}
