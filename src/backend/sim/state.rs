//! The durable half of the demo platform: what a real platform keeps in its systems of
//! record (deployment versions, HPA bounds, secrets, flags, repos, locks, freeze, audit).
//! Seeded deterministically, persisted as JSON, shared between `sphere` processes.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::Scale;
use super::secrets::{LEGACY_KEY, SecretStore};
use crate::backend::RepoInfo;
use crate::domain::{
    AuditRecord, ClusterId, FlagState, Freeze, Interner, Lock, Name, Outcome, PendingFlag,
    Timestamp, Topology,
};

/// Bumped whenever the layout of the state file changes; an older file is re-seeded.
pub(crate) const STATE_FORMAT: u32 = 2;

/// A secret value. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct SecretValue(pub(crate) String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl SecretValue {
    pub(crate) fn hash(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut h);
        h.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeploymentRec {
    pub service: Name,
    pub cluster: ClusterId,
    pub version: Name,
    pub desired: u32,
    /// Bumped by a rollout restart (the pod template changes, the version does not).
    #[serde(default)]
    pub restart_gen: u32,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HpaRec {
    pub service: Name,
    pub cluster: ClusterId,
    pub min: u32,
    pub max: u32,
    pub target_cpu: u32,
}

/// A repository as the demo keeps it: [`RepoInfo`]'s fields (the same JSON), with the
/// text repositories have in common (the default branch, workflow files) shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RepoRec {
    pub slug: Name,
    pub exists: bool,
    pub default_branch: Name,
    pub workflows: Vec<Name>,
}

impl RepoRec {
    pub(crate) fn info(&self) -> RepoInfo {
        RepoInfo {
            slug: self.slug.to_string(),
            exists: self.exists,
            default_branch: self.default_branch.to_string(),
            workflows: self.workflows.iter().map(Name::to_string).collect(),
        }
    }
}

/// Everything that survives a restart of `sphere`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DurableState {
    pub format: u32,
    pub seed: u64,
    pub scale: Scale,
    /// A hash of the service names the state was seeded for.
    pub fingerprint: u64,
    pub seeded_at: Timestamp,
    /// Every released version per service, oldest first.
    pub releases: BTreeMap<Name, Vec<Name>>,
    pub deployments: Vec<DeploymentRec>,
    pub hpas: Vec<HpaRec>,
    pub secrets: SecretStore,
    pub flags: Vec<FlagState>,
    pub repos: BTreeMap<Name, RepoRec>,
    pub locks: Vec<Lock>,
    pub freeze: Freeze,
    pub audit: Vec<AuditRecord>,
    pub next_audit_id: u64,
    /// The files of each repository (slug → path → content), for the ones sphere wrote.
    #[serde(default)]
    pub repo_files: BTreeMap<String, BTreeMap<String, String>>,
    /// Descriptors registered with the catalog: location → YAML text.
    #[serde(default)]
    pub registered: BTreeMap<String, String>,
    /// Access requests (C15), oldest first.
    #[serde(default)]
    pub access: Vec<crate::domain::access::AccessRequest>,
    /// Ephemeral environments (C14), oldest first; their deployments are among
    /// `deployments`.
    #[serde(default)]
    pub environments: Vec<crate::domain::environment::EphemeralEnv>,
    /// How far the demo's clock is ahead of the wall clock, in seconds
    /// (`sphere demo advance`).
    #[serde(default)]
    pub clock_offset: i64,
    /// The process behind each audit record still `started` (by record id): when that
    /// process is gone, the record becomes `interrupted` (see [`interrupt_orphans`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub running: BTreeMap<u64, Runner>,
    /// The live half of the world (pods, restarts, rollouts), so every process shows the
    /// same one; `None` in a file from before it was kept (it is made at the next open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<super::world::LiveFile>,
    /// What the demo's GitOps repository declares where it differs from what runs
    /// (see `gitops`).
    #[serde(default)]
    pub gitops: super::gitops::GitopsModel,
}

/// A process, told apart from a later one that got the same pid by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Runner {
    pub pid: u32,
    /// When the process started, in clock ticks after boot (Linux); `None` elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`), `None` when it
/// does not exist or the system has no `/proc`.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after the
    // last `)` are plain; the start time is the 20th of them.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Runner {
    pub(crate) fn this_process() -> Runner {
        let pid = std::process::id();
        Runner {
            pid,
            started: process_start(pid),
        }
    }

    /// Is this process still running? Where the start time is known, a new process
    /// with a reused pid does not count.
    pub(crate) fn alive(&self) -> bool {
        if self.pid == std::process::id() {
            return true;
        }
        if Path::new("/proc/self/stat").exists() {
            return match (process_start(self.pid), self.started) {
                (None, _) => false,
                (Some(now), Some(then)) => now == then,
                (Some(_), None) => true,
            };
        }
        #[cfg(unix)]
        {
            let Ok(pid) = libc::pid_t::try_from(self.pid) else {
                return false;
            };
            // SAFETY: signal 0 only checks that the process exists; no signal is sent.
            let r = unsafe { libc::kill(pid, 0) };
            r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
        #[cfg(not(unix))]
        true
    }
}

/// Audit records still `started` whose process is gone become `interrupted`: the
/// action was killed mid-way and nobody will record its outcome. Returns how many.
pub(crate) fn interrupt_orphans(s: &mut DurableState) -> usize {
    let gone: Vec<(u64, Runner)> = s
        .running
        .iter()
        .filter(|(_, r)| !r.alive())
        .map(|(id, r)| (*id, *r))
        .collect();
    let mut n = 0;
    for (id, r) in gone {
        s.running.remove(&id);
        if let Some(rec) = s
            .audit
            .iter_mut()
            .find(|a| a.id == id && a.outcome == Outcome::Started)
        {
            rec.outcome = Outcome::Interrupted(format!(
                "process {} ended before the action finished; check the target's state",
                r.pid
            ));
            n += 1;
        }
    }
    n
}

/// What a change of the catalog did to the state (see [`merge_catalog`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CatalogChange {
    pub added: Vec<Name>,
    pub removed: Vec<Name>,
}

impl CatalogChange {
    /// One line for the log, the audit trail and the user.
    pub(crate) fn describe(&self) -> String {
        let list = |v: &[Name]| {
            let mut s: Vec<&str> = v.iter().take(8).map(Name::as_str).collect();
            if v.len() > 8 {
                s.push("…");
            }
            s.join(", ")
        };
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!(
                "{} new service(s) seeded ({})",
                self.added.len(),
                list(&self.added)
            ));
        }
        if !self.removed.is_empty() {
            parts.push(format!(
                "{} service(s) gone from the catalog, their deployments, secrets and locks dropped ({})",
                self.removed.len(),
                list(&self.removed)
            ));
        }
        if parts.is_empty() {
            parts.push("no service added or removed".to_string());
        }
        format!(
            "the demo catalog changed: {}; every other lock, the audit trail and the rest of the state are kept",
            parts.join("; ")
        )
    }
}

/// The catalog changed under a saved state: keep everything that still applies,
/// seed only the services that are new (from `fresh`, seeded for the new catalog), and
/// drop only what refers to services that are gone (not in `keep`: the catalog's
/// services and the registered ones). The audit trail is kept whole, and told.
pub(crate) fn merge_catalog(
    s: &mut DurableState,
    fresh: DurableState,
    keep: &std::collections::HashSet<&str>,
    teams: &BTreeMap<&str, &str>,
    now: Timestamp,
) -> CatalogChange {
    let mut before: Vec<Name> = s.releases.keys().cloned().collect();
    before.extend(s.deployments.iter().map(|d| d.service.clone()));
    before.sort();
    before.dedup();
    let removed: Vec<Name> = before
        .into_iter()
        .filter(|n| !keep.contains(n.as_str()))
        .collect();
    let added: Vec<Name> = fresh
        .releases
        .keys()
        .filter(|n| !s.releases.contains_key(*n) && keep.contains(n.as_str()))
        .cloned()
        .collect();
    let gone = |n: &str| removed.binary_search_by(|r| r.as_str().cmp(n)).is_ok();
    let new = |n: &str| added.binary_search_by(|r| r.as_str().cmp(n)).is_ok();
    // Dropped: what refers to a service that is gone.
    s.releases.retain(|n, _| !gone(n));
    s.deployments.retain(|d| !gone(&d.service));
    s.hpas.retain(|h| !gone(&h.service));
    let doomed: Vec<(String, String, String, String)> = s
        .secrets
        .iter()
        .filter(|r| gone(&r.service))
        .map(|r| (r.service, r.env, r.region, r.key))
        .collect();
    for (service, env, region, key) in doomed {
        s.secrets.remove(&service, &env, &region, &key);
    }
    s.locks.retain(|l| !gone(&l.service));
    // Seeded: the new services, as a fresh seed has them.
    for (n, v) in &fresh.releases {
        if new(n) {
            s.releases.insert(n.clone(), v.clone());
        }
    }
    s.deployments.extend(
        fresh
            .deployments
            .iter()
            .filter(|d| new(&d.service))
            .cloned(),
    );
    s.hpas
        .extend(fresh.hpas.iter().filter(|h| new(&h.service)).cloned());
    for r in fresh.secrets.iter().filter(|r| new(&r.service)) {
        if let Some(team) = teams.get(r.service.as_str()) {
            s.secrets.set_team(&r.service, team);
        }
        s.secrets.put(
            &r.service,
            &r.env,
            &r.region,
            &r.key,
            r.value,
            r.version_id,
            r.last_changed,
            r.tags,
        );
    }
    for (slug, repo) in fresh.repos {
        s.repos.entry(slug).or_insert(repo);
    }
    s.fingerprint = fresh.fingerprint;
    let change = CatalogChange { added, removed };
    s.append_audit(
        now,
        "sphere",
        "demo.catalog-change",
        "demo",
        Some(&change.describe()),
        Outcome::Succeeded,
    );
    change
}

impl DurableState {
    /// Record `version` among the releases of `service` (last, when it is new), and give
    /// both back as the names the state shares.
    pub(crate) fn release(&mut self, service: &str, version: &str) -> (Name, Name) {
        let rel = match self.releases.get_mut(service) {
            Some(rel) => rel,
            None => self.releases.entry(Name::from(service)).or_default(),
        };
        let version = match rel.iter().find(|v| **v == version) {
            Some(v) => v.clone(),
            None => {
                let v = Name::from(version);
                rel.push(v.clone());
                v
            }
        };
        let service = self
            .releases
            .get_key_value(service)
            .map_or_else(|| Name::from(service), |(k, _)| k.clone());
        (service, version)
    }

    /// Give back the room left over by seeding or reading (lists grow by doubling).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.deployments.shrink_to_fit();
        self.hpas.shrink_to_fit();
        self.flags.shrink_to_fit();
        self.secrets.shrink_to_fit();
    }

    pub(crate) fn append_audit(
        &mut self,
        at: Timestamp,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        outcome: Outcome,
    ) -> u64 {
        let next = self
            .audit
            .iter()
            .map(|r| r.id + 1)
            .max()
            .unwrap_or(1)
            .max(self.next_audit_id);
        self.next_audit_id = next + 1;
        self.audit.push(AuditRecord {
            id: next,
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            reason: reason.map(str::to_string),
            outcome,
            details: Default::default(),
        });
        next
    }
}

/// A service as the seeding sees it.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    pub name: Name,
    /// (Shared with the catalog; hashed like the `String`s they were.)
    pub lifecycle: Option<Name>,
    pub owner: Option<Name>,
    pub synthetic: bool,
}

impl ServiceSpec {
    fn experimental(&self) -> bool {
        self.lifecycle.as_deref() == Some("experimental")
    }
}

pub(crate) fn fingerprint(services: &[ServiceSpec], repo_slugs: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for s in services {
        s.name.hash(&mut h);
        s.lifecycle.hash(&mut h);
    }
    repo_slugs.hash(&mut h);
    h.finish()
}

pub(crate) const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(crate) fn random_token(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n)
        .map(|_| K8S_ALPHABET[rng.usize(..K8S_ALPHABET.len())] as char)
        .collect()
}

fn hex(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.u32(..16), 16).unwrap_or('0'))
        .collect()
}

pub(crate) fn version_id(rng: &mut fastrand::Rng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 12)
    )
}

fn releases(rng: &mut fastrand::Rng) -> Vec<String> {
    let (mut major, mut minor, mut patch) = (rng.u32(1..=4), rng.u32(0..=20), rng.u32(0..=5));
    let n = rng.usize(6..=9);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(format!("{major}.{minor}.{patch}"));
        let r = rng.f32();
        if r < 0.6 {
            patch += 1;
        } else if r < 0.95 {
            minor += 1;
            patch = 0;
        } else {
            major += 1;
            minor = 0;
            patch = 0;
        }
    }
    out
}

/// The next patch release after `v` (`1.4.2` → `1.4.3`).
pub(crate) fn next_patch(v: &str) -> String {
    let mut parts: Vec<u64> = v.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() != 3 {
        return format!("{v}.1");
    }
    parts[2] += 1;
    format!("{}.{}.{}", parts[0], parts[1], parts[2])
}

const SECRET_KEYS: &[&str] = &[
    "DATABASE_URL",
    "API_KEY",
    "REDIS_URL",
    "KAFKA_SASL_PASSWORD",
    "SENTRY_DSN",
    "JWT_SIGNING_KEY",
    "OAUTH_CLIENT_SECRET",
    "DATADOG_API_KEY",
    "SLACK_WEBHOOK_URL",
    "ENCRYPTION_KEY",
    "S3_SECRET_ACCESS_KEY",
    "STRIPE_SECRET_KEY",
];

const FLAGS: &[(&str, &[&str])] = &[
    ("checkout.new-flow", &["on", "off"]),
    ("checkout.express-pay", &["on", "off"]),
    ("payments.3ds2-challenge", &["on", "off"]),
    ("payments.apple-pay", &["on", "off"]),
    ("payments.router", &["v1", "v2", "shadow"]),
    ("search.semantic-ranking", &["on", "off"]),
    ("catalog.bulk-editor", &["on", "off"]),
    ("pricing.dynamic-discounts", &["on", "off"]),
    ("growth.homepage-banner", &["spring-sale", "default", "off"]),
    ("growth.referral-program", &["on", "off"]),
    ("identity.passkeys", &["on", "off"]),
    ("identity.mfa-enforced", &["on", "off"]),
    ("orders.split-shipments", &["on", "off"]),
    ("orders.returns-portal", &["on", "off"]),
    ("recommendations.model", &["control", "v1", "v2"]),
    ("notifications.push-digest", &["on", "off"]),
    ("mobile.dark-mode", &["on", "off"]),
    ("platform.graceful-shutdown", &["on", "off"]),
    ("ledger.async-postings", &["on", "off"]),
    ("fraud.model-version", &["2024-11", "2025-03"]),
];

const FALLBACK_ACTORS: &[&str] = &["amara.okafor", "sofia.moreno", "noah.fischer", "you"];

/// Seed a whole platform from `seed`. Pure: the same inputs give the same state (apart
/// from timestamps, which are relative to `now`).
pub(crate) fn seed_state(
    seed: u64,
    scale: &Scale,
    topo: &Topology,
    services: &[ServiceSpec],
    repo_slugs: &[String],
    users: &[String],
    now: Timestamp,
) -> DurableState {
    let mut rng = fastrand::Rng::with_seed(seed);
    let regions = &topo.regions;
    let envs = &topo.environments;
    let nreg = regions.len().max(1);

    // Releases. Services share version numbers, so each distinct one is stored once.
    let mut rel = Vec::with_capacity(services.len());
    let mut version_names = Interner::new();
    for s in services {
        let versions: Vec<Name> = releases(&mut rng)
            .iter()
            .map(|v| version_names.name(v))
            .collect();
        rel.push((s.name.clone(), versions));
    }
    // Built in one go, the map's nodes are full (inserted one by one, about half).
    let rel: BTreeMap<Name, Vec<Name>> = rel.into_iter().collect();
    // Every cluster's id, made once: the deployments share their names.
    let cluster_ids: Vec<Vec<ClusterId>> = {
        let regions: Vec<Name> = regions.iter().map(Name::from).collect();
        envs.iter()
            .map(|e| {
                let e = Name::from(e);
                regions
                    .iter()
                    .map(|r| ClusterId::new(e.clone(), r.clone()))
                    .collect()
            })
            .collect()
    };

    // Which real production services are missing from one region.
    let missing_region = regions
        .iter()
        .position(|r| r == "ap-southeast-2")
        .unwrap_or(nreg.saturating_sub(1));
    let real_prod: Vec<usize> = services
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.synthetic && !s.experimental())
        .map(|(i, _)| i)
        .collect();
    let mut missing = std::collections::HashSet::new();
    if nreg > 1 && real_prod.len() >= 4 {
        let mut pick = real_prod.clone();
        rng.shuffle(&mut pick);
        for &i in pick.iter().take((real_prod.len() / 12).max(1)) {
            missing.insert(i);
        }
    }

    // Deployments.
    let mut deployments = Vec::new();
    for (si, s) in services.iter().enumerate() {
        let versions = &rel[&s.name];
        let latest = versions[versions.len() - 1].clone();
        let prev = versions[versions.len() - 2].clone();
        let prod_version = if rng.f32() < 0.25 {
            prev
        } else {
            latest.clone()
        };
        let staging_everywhere = rng.bool();
        // Regions it runs in, and whether it reaches staging and production.
        let (reg_for_env, in_staging, in_production) = if s.synthetic {
            let k = (1 + rng.usize(..3)).min(nreg);
            let start = rng.usize(..nreg);
            let subset: Vec<usize> = (0..k).map(|j| (start + j) % nreg).collect();
            (subset, true, !s.experimental())
        } else if s.experimental() {
            ((0..nreg).collect(), staging_everywhere, false)
        } else {
            let subset: Vec<usize> = (0..nreg)
                .filter(|&r| !(missing.contains(&si) && r == missing_region))
                .collect();
            (subset, true, true)
        };
        let env_ok = |e: &str| match e {
            "staging" => in_staging,
            "production" => in_production,
            _ => true,
        };
        for (ei, env) in envs.iter().enumerate() {
            if !env_ok(env) {
                continue;
            }
            let regs: Vec<usize> = if s.synthetic && env == "dev" {
                reg_for_env.iter().take(1).copied().collect()
            } else {
                reg_for_env.clone()
            };
            for r in regs {
                let (version, desired) = match env.as_str() {
                    "dev" => (latest.clone(), 1),
                    "staging" => (latest.clone(), 2),
                    _ => (prod_version.clone(), 3 + rng.u32(0..=3)),
                };
                deployments.push(DeploymentRec {
                    service: s.name.clone(),
                    cluster: cluster_ids[ei][r].clone(),
                    version,
                    desired,
                    restart_gen: 0,
                    updated_at: now - rng.i64(3_600..30 * 86_400),
                });
            }
        }
    }

    // Drift: ~15% of services run an older version in one region of one environment.
    let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in deployments.iter().enumerate() {
        by_service.entry(d.service.as_str()).or_default().push(i);
    }
    let mut order: Vec<&str> = by_service.keys().copied().collect();
    rng.shuffle(&mut order);
    let drift_n = (order.len() * 15).div_ceil(100);
    let mut drift_targets = Vec::new();
    for name in order {
        if drift_targets.len() >= drift_n {
            break;
        }
        let idx = &by_service[name];
        // Prefer production, then staging: an environment present in ≥ 2 regions.
        let env = ["production", "staging", "dev"].into_iter().find(|e| {
            idx.iter()
                .filter(|&&i| deployments[i].cluster.env == *e)
                .count()
                >= 2
        });
        if let Some(env) = env {
            let cands: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| deployments[i].cluster.env == env)
                .collect();
            drift_targets.push(cands[rng.usize(..cands.len())]);
        }
    }
    for i in drift_targets {
        let versions = &rel[&deployments[i].service];
        let pos = versions
            .iter()
            .position(|v| v == &deployments[i].version)
            .unwrap_or(versions.len() - 1);
        let older = pos.saturating_sub(1 + rng.usize(..2));
        if older != pos {
            deployments[i].version = versions[older].clone();
        }
    }

    // Pods at scale: distribute exactly N replicas over the deployments.
    if let Some(n) = scale.pods {
        let total: u64 = deployments.iter().map(|d| u64::from(d.desired)).sum();
        let mut sum = 0u64;
        for d in deployments.iter_mut() {
            let v = (u64::from(d.desired) * n as u64)
                .checked_div(total)
                .unwrap_or(0);
            d.desired = v as u32;
            sum += v;
        }
        let mut order: Vec<usize> = (0..deployments.len()).collect();
        rng.shuffle(&mut order);
        let mut k = 0;
        while sum < n as u64 && !order.is_empty() {
            deployments[order[k % order.len()]].desired += 1;
            sum += 1;
            k += 1;
        }
    }

    // HPAs in staging and production.
    let hpas = deployments
        .iter()
        .filter(|d| d.cluster.env != "dev" && d.desired > 0)
        .map(|d| HpaRec {
            service: d.service.clone(),
            cluster: d.cluster.clone(),
            min: d.desired.saturating_sub(1).max(1),
            max: d.desired * 2 + rng.u32(0..=2),
            target_cpu: 70,
        })
        .collect();

    let owner_of: BTreeMap<&str, &ServiceSpec> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    let secrets = seed_secrets(&mut rng, seed, &deployments, &owner_of, now);
    let flags = seed_flags(&mut rng, topo, now);

    // Repositories: most exist, a few are missing, a few have no workflows.
    let main = Name::new("main");
    let (ci, deploy) = (
        Name::new(".github/workflows/ci.yaml"),
        Name::new(".github/workflows/deploy.yaml"),
    );
    let mut repos = Vec::with_capacity(repo_slugs.len());
    for slug in repo_slugs {
        let r = rng.f32();
        if r < 0.07 {
            continue;
        }
        let workflows = if r < 0.15 {
            Vec::new()
        } else {
            vec![ci.clone(), deploy.clone()]
        };
        let slug = Name::from(slug);
        repos.push((
            slug.clone(),
            RepoRec {
                slug,
                exists: true,
                default_branch: main.clone(),
                workflows,
            },
        ));
    }
    // Built in one go, the map's nodes are full (inserted one by one, about half).
    let repos: BTreeMap<Name, RepoRec> = repos.into_iter().collect();

    // Ledger.
    let actors: Vec<String> = if users.is_empty() {
        FALLBACK_ACTORS.iter().map(|s| s.to_string()).collect()
    } else {
        users.to_vec()
    };
    let actor = |rng: &mut fastrand::Rng| actors[rng.usize(..actors.len())].clone();
    let lock_service = services
        .iter()
        .find(|s| s.name == "payments-api")
        .or_else(|| services.first())
        .map(|s| s.name.clone());
    let lock_region = regions
        .iter()
        .find(|r| *r == "eu-west-1")
        .or_else(|| regions.first())
        .cloned();
    let lock_by = if users.iter().any(|u| u == "amara.okafor") {
        "amara.okafor".to_string()
    } else {
        actor(&mut rng)
    };
    let mut locks = Vec::new();
    if let Some(service) = &lock_service {
        locks.push(Lock {
            service: service.to_string(),
            env: Some("production".to_string()),
            region: lock_region.clone(),
            reason: "INC-2291: elevated 5xx on authorisations, hold deploys until RCA".to_string(),
            by: lock_by.clone(),
            at: now - 2 * 3_600 - 17 * 60,
        });
    }
    let mut state = DurableState {
        format: STATE_FORMAT,
        seed,
        scale: scale.clone(),
        fingerprint: fingerprint(services, repo_slugs),
        seeded_at: now,
        releases: rel,
        deployments,
        hpas,
        secrets,
        flags,
        repos,
        locks,
        freeze: Freeze::default(),
        audit: Vec::new(),
        next_audit_id: 1,
        repo_files: BTreeMap::new(),
        registered: BTreeMap::new(),
        access: Vec::new(),
        environments: Vec::new(),
        clock_offset: 0,
        running: BTreeMap::new(),
        live: None,
        gitops: Default::default(),
    };
    state.gitops = super::gitops::seed(&state);
    let svc = |rng: &mut fastrand::Rng| {
        if services.is_empty() {
            "web".to_string()
        } else {
            services[rng.usize(..services.len().min(60))]
                .name
                .to_string()
        }
    };
    let region = |rng: &mut fastrand::Rng| {
        regions
            .get(rng.usize(..nreg))
            .cloned()
            .unwrap_or_else(|| "us-east-1".to_string())
    };
    let mut history: Vec<(Timestamp, String, String, String, Option<String>, Outcome)> = vec![];
    for (days, action, outcome) in [
        (13, "freeze.on", Outcome::Succeeded),
        (12, "freeze.off", Outcome::Succeeded),
        (9, "secret.update", Outcome::Succeeded),
        (7, "deployment.rollback", Outcome::Succeeded),
        (
            6,
            "hpa.patch",
            Outcome::Refused("max 40 is above the policy bound 24".into()),
        ),
        (5, "secret.reveal", Outcome::Succeeded),
        (4, "deployment.restart", Outcome::Succeeded),
        (3, "flag.set", Outcome::Succeeded),
        (
            2,
            "service.create",
            Outcome::Failed("github: 502 Bad Gateway".into()),
        ),
        (1, "lock.remove", Outcome::Succeeded),
    ] {
        let s = svc(&mut rng);
        let r = region(&mut rng);
        let (target, reason) = match action {
            "freeze.on" => (
                "org".to_string(),
                Some("Black Friday code freeze".to_string()),
            ),
            "freeze.off" => ("org".to_string(), None),
            "secret.update" | "secret.reveal" => (
                format!("production/{s}/DATABASE_URL@{r}"),
                Some("rotating credentials".to_string()),
            ),
            "flag.set" => (
                format!("checkout.new-flow@production/{r}"),
                Some("ramp to 25%".to_string()),
            ),
            "service.create" => ("loyalty-service".to_string(), None),
            _ => (
                format!("{s}@production/{r}"),
                Some("bad release, see #incidents".to_string()),
            ),
        };
        let at = now - days * 86_400 - rng.i64(0..36_000);
        history.push((
            at,
            actor(&mut rng),
            action.to_string(),
            target,
            reason,
            outcome,
        ));
    }
    if let Some(service) = &lock_service {
        history.push((
            now - 2 * 3_600 - 17 * 60,
            lock_by,
            "lock.add".to_string(),
            format!(
                "{service}@production/{}",
                lock_region.unwrap_or_else(|| "us-east-1".into())
            ),
            Some("INC-2291: elevated 5xx on authorisations, hold deploys until RCA".into()),
            Outcome::Succeeded,
        ));
    }
    history.sort_by_key(|h| h.0);
    for (at, who, action, target, reason, outcome) in history {
        state.append_audit(at, &who, &action, &target, reason.as_deref(), outcome);
    }
    state
}

fn seed_secrets(
    rng: &mut fastrand::Rng,
    seed: u64,
    deployments: &[DeploymentRec],
    specs: &BTreeMap<&str, &ServiceSpec>,
    now: Timestamp,
) -> SecretStore {
    // Group the clusters each service runs in.
    let mut clusters: BTreeMap<&Name, Vec<&ClusterId>> = BTreeMap::new();
    for d in deployments {
        clusters.entry(&d.service).or_default().push(&d.cluster);
    }
    let mut out = SecretStore::new(seed, now);
    out.reserve(deployments.len() * 6);
    // Drift kinds: 0 missing, 1 extra, 2 value differs, 3 tags differ. The first four
    // services with ≥ 2 regions in an environment get one each, then ~10% at random.
    let mut next_kind = 0usize;
    for (&service, cl) in &clusters {
        out.share_name(service);
        for c in cl {
            out.share_name(&c.env);
            out.share_name(&c.region);
        }
        let service = service.as_str();
        if let Some(team) = specs.get(service).and_then(|s| s.owner.as_deref()) {
            out.set_team(service, team);
        }
        let mut keys: Vec<&str> = SECRET_KEYS.to_vec();
        rng.shuffle(&mut keys);
        keys.truncate(rng.usize(3..=8));
        keys.sort_unstable();
        let start = out.len();
        let mut envs: Vec<&str> = cl.iter().map(|c| c.env.as_str()).collect();
        envs.dedup();
        for env in &envs {
            for key in &keys {
                for c in cl.iter().filter(|c| c.env == *env) {
                    out.push(service, env, &c.region, key);
                }
            }
        }
        // Pick an environment with ≥ 2 regions for drift.
        let multi = envs
            .iter()
            .rev()
            .find(|e| cl.iter().filter(|c| c.env == **e).count() >= 2);
        let Some(&env) = multi else { continue };
        let kind = if next_kind < 4 {
            next_kind += 1;
            next_kind - 1
        } else if rng.f32() < 0.10 {
            rng.usize(..4)
        } else {
            continue;
        };
        let regs: Vec<&str> = cl
            .iter()
            .filter(|c| c.env == env)
            .map(|c| c.region.as_str())
            .collect();
        let region = regs[rng.usize(..regs.len())];
        let mine: Vec<usize> = (start..out.len())
            .filter(|&i| out.env_of(i) == env && out.region_of(i) == region)
            .collect();
        let Some(&victim) = mine.get(rng.usize(..mine.len().max(1))) else {
            continue;
        };
        match kind {
            0 => out.remove_at(victim),
            1 => {
                out.push_copy(victim, LEGACY_KEY);
            }
            2 => {
                let value = SecretValue(random_token(rng, 24));
                let vid = version_id(rng);
                let changed = now - rng.i64(3_600..86_400);
                out.edit(victim, |o| {
                    o.value = Some(value);
                    o.version_id = Some(vid);
                    o.last_changed = Some(changed);
                });
            }
            _ => {
                let mut tags = out.standard_tags(service, env);
                tags.remove("managed-by");
                tags.insert("team".to_string(), "platform-legacy".to_string());
                out.edit(victim, |o| o.tags = Some(tags));
            }
        }
    }
    out
}

fn seed_flags(rng: &mut fastrand::Rng, topo: &Topology, now: Timestamp) -> Vec<FlagState> {
    let clusters: Vec<ClusterId> = topo.clusters().collect();
    let mut out = Vec::new();
    let drift: Vec<usize> = {
        let mut idx: Vec<usize> = (0..FLAGS.len()).collect();
        rng.shuffle(&mut idx);
        idx.truncate(4);
        idx
    };
    let pending: Vec<usize> = {
        let mut idx: Vec<usize> = (0..FLAGS.len()).filter(|i| !drift.contains(i)).collect();
        rng.shuffle(&mut idx);
        idx.truncate(2);
        idx
    };
    for (fi, (name, values)) in FLAGS.iter().enumerate() {
        let base = values[rng.usize(..values.len())];
        let pct = [0u8, 5, 10, 25, 50, 100][rng.usize(..6)];
        let odd = if drift.contains(&fi) && !clusters.is_empty() {
            Some(rng.usize(..clusters.len()))
        } else {
            None
        };
        for (ci, c) in clusters.iter().enumerate() {
            let (mut value, mut percentage) = (base.to_string(), pct);
            if c.env == "dev" && values.len() == 2 && values[0] == "on" {
                value = "on".into();
                percentage = 100;
            }
            // Drift: one cluster disagrees with its siblings in the same environment.
            if let Some(o) = odd
                && clusters[o].env == c.env
                && ci == o
            {
                value = values
                    [(values.iter().position(|v| *v == value).unwrap_or(0) + 1) % values.len()]
                .to_string();
                percentage = if percentage == 100 { 50 } else { 100 };
            }
            let pending = if pending.contains(&fi) && c.env == "production" && rng.bool() {
                Some(PendingFlag {
                    value: values[0].to_string(),
                    percentage: 100,
                    sent_at: now - rng.i64(5..90),
                })
            } else {
                None
            };
            out.push(FlagState {
                name: name.to_string(),
                cluster: c.clone(),
                value,
                percentage,
                pending,
                variants: values.iter().map(|v| v.to_string()).collect(),
            });
        }
    }
    // At least one pending change exists whatever the coin flips said.
    if !out.iter().any(|f| f.pending.is_some())
        && let Some(f) = out.iter_mut().rev().find(|f| f.cluster.env == "production")
    {
        f.pending = Some(PendingFlag {
            value: "on".into(),
            percentage: 100,
            sent_at: now - 30,
        });
    }
    out
}

// ---- files ---------------------------------------------------------------------------

/// What identifies one version of the state file: a new write is a new inode (rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    mtime: Option<std::time::SystemTime>,
    len: u64,
    ino: u64,
}

pub(crate) fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some(FileStamp {
        mtime: m.modified().ok(),
        len: m.len(),
        ino,
    })
}

pub(crate) fn lock_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn open_private(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// An exclusive lock on `<state>.lock`, released when dropped.
pub(crate) struct FileLock(std::fs::File);

impl FileLock {
    pub(crate) fn exclusive(state: &Path) -> Result<FileLock> {
        if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::config::create_private_dir(dir)?;
        }
        let p = lock_path(state);
        let f = open_private(&p, false).with_context(|| format!("opening {}", p.display()))?;
        f.lock()
            .with_context(|| format!("locking {}", p.display()))?;
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Why the demo's state file cannot be used. Nothing was changed: the file is left as
/// it is, for the user to restore or to reset on purpose.
#[derive(Debug, thiserror::Error)]
#[error(
    "the demo state {} {detail}; nothing was changed. Run `sphere demo reset` to start over (it keeps this file as a dated backup next to it), or put back a good copy",
    path.display()
)]
pub struct StateError {
    pub path: PathBuf,
    /// What is wrong, naming the byte, line and field where there is one.
    pub detail: String,
}

impl StateError {
    pub(crate) fn new(path: &Path, detail: impl Into<String>) -> StateError {
        StateError {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// The byte offset of 1-based (line, column) in `bytes`.
fn byte_at(bytes: &[u8], line: usize, column: usize) -> usize {
    let start: usize = bytes
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (start + column.saturating_sub(1)).min(bytes.len())
}

/// Parse the bytes of one of the demo's files; the error names the byte, line and field.
fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, StateError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StateError::new(
            path,
            format!("is empty ({} bytes, no JSON in it)", bytes.len()),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let parsed = parsed.map_err(|e| (e.path().to_string(), e.into_inner()));
    let parsed = parsed.and_then(|s| de.end().map(|()| s).map_err(|e| (String::new(), e)));
    let state = parsed.map_err(|(field, inner)| {
        let (line, column) = (inner.line(), inner.column());
        let at = format!(
            "byte {} (line {line}, column {column})",
            byte_at(bytes, line, column)
        );
        let detail = match inner.classify() {
            serde_json::error::Category::Eof => format!(
                "ends early at {at}, {} bytes in all: it looks truncated",
                bytes.len()
            ),
            serde_json::error::Category::Syntax => format!("is not valid JSON at {at}: {inner}"),
            _ if field == "." || field.is_empty() => {
                format!("does not have the shape of a demo state at {at}: {inner}")
            }
            _ => format!("has a field of the wrong shape, `{field}`, at {at}: {inner}"),
        };
        StateError::new(path, detail)
    })?;
    Ok(state)
}

/// Read the state file: `None` when there is none. Any other failure is a
/// [`StateError`]; the file is never replaced because it could not be read.
///
/// The file is parsed as it is read, through a small buffer: its bytes (tens of
/// megabytes at scale) are never held beside the state they describe. Only when it
/// does not parse is it read whole, to name the byte, line and field
/// ([`parse_json`]). Every record holds the one shared copy of its service, version,
/// environment and region from the moment it is read.
pub(crate) fn read_state(path: &Path) -> Result<Option<DurableState>, StateError> {
    read_json::<DurableState>(path)
}

/// The file of the live half next to the state file `state` (see [`read_live`]).
pub(crate) fn live_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".live");
    PathBuf::from(s)
}

/// Read the live half's own file (`<state>.live`): `None` when there is none. It is
/// written at every step of the clock; the state file only when what it keeps changed.
/// A file that cannot be read is a [`StateError`] naming it, as for the state.
pub(crate) fn read_live(state: &Path) -> Result<Option<super::world::LiveFile>, StateError> {
    read_json(&live_path(state))
}

/// One of the demo's files, parsed as it is read; on failure read whole for the
/// byte and field ([`parse_json`]).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::new(path, format!("cannot be read: {e}"))),
    };
    let reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut de = serde_json::Deserializer::from_reader(reader);
    // Every record's service, cluster and version is the one shared name as it is
    // read (tens of thousands of records name a few thousand texts at scale).
    let parsed =
        crate::domain::sharing_names(|| T::deserialize(&mut de).and_then(|s| de.end().map(|()| s)));
    match parsed {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_io() => Err(StateError::new(path, format!("cannot be read: {e}"))),
        Err(_) => {
            // The error path: the whole file, for the byte and field that are wrong.
            let bytes = std::fs::read(path)
                .map_err(|e| StateError::new(path, format!("cannot be read: {e}")))?;
            parse_json(path, &bytes).map(Some)
        }
    }
}

/// A state that is not for this run (another format, seed or scale): named field by
/// field. The catalog may differ (see `merge_catalog`).
pub(crate) fn check_identity(
    path: &Path,
    s: &DurableState,
    seed: u64,
    scale: &Scale,
) -> Result<(), StateError> {
    if s.format != STATE_FORMAT {
        return Err(StateError::new(
            path,
            format!(
                "has `format` {}, and this sphere reads format {STATE_FORMAT}",
                s.format
            ),
        ));
    }
    if s.seed != seed {
        return Err(StateError::new(
            path,
            format!("has `seed` {}, and this run asks for seed {seed}", s.seed),
        ));
    }
    if &s.scale != scale {
        return Err(StateError::new(
            path,
            format!("has `scale` {:?}, and this run asks for {scale:?}", s.scale),
        ));
    }
    Ok(())
}

fn tmp_prefix(path: &Path) -> Option<String> {
    Some(format!("{}.tmp.", path.file_name()?.to_string_lossy()))
}

/// Remove the temporary files a killed write left next to the state. Call it holding
/// the state's lock: every write holds it, so any temporary file found then is stale.
/// Returns how many went.
pub(crate) fn clean_stale_tmp(path: &Path) -> usize {
    let (Some(dir), Some(prefix)) = (path.parent(), tmp_prefix(path)) else {
        return 0;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix)
            && std::fs::remove_file(e.path()).is_ok()
        {
            tracing::info!("removed a stale temporary file {}", e.path().display());
            n += 1;
        }
    }
    n
}

/// `sphere demo reset`: move the state file aside as `<file>.<UTC date-time>.bak`
/// (never reading it: it may be unreadable), and drop its lock file. The backup's
/// path, when there was a file.
pub(crate) fn back_up(path: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<Option<PathBuf>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let mut backup = None;
    for i in 0..100 {
        let mut p = path.as_os_str().to_owned();
        if i == 0 {
            p.push(format!(".{stamp}.bak"));
        } else {
            p.push(format!(".{stamp}-{i}.bak"));
        }
        let p = PathBuf::from(p);
        if std::fs::symlink_metadata(&p).is_err() {
            backup = Some(p);
            break;
        }
    }
    let backup =
        backup.with_context(|| format!("no free backup name next to {}", path.display()))?;
    std::fs::rename(path, &backup)
        .with_context(|| format!("moving {} aside to {}", path.display(), backup.display()))?;
    Ok(Some(backup))
}

/// Write atomically: a private temp file next to it, then rename. A failed write
/// removes its temporary file.
pub(crate) fn write_state(path: &Path, state: &impl Serialize) -> Result<FileStamp> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::config::create_private_dir(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| -> Result<()> {
        let f = open_private(&tmp, true).with_context(|| format!("writing {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, state)
            .with_context(|| format!("writing {}", tmp.display()))?;
        w.flush()
            .with_context(|| format!("writing {}", tmp.display()))?;
        w.get_ref().sync_all().ok();
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    stamp(path).context("the state file vanished after writing it")
}

/// Hand the memory freed inside the heap back to the system. Start-up (reading or
/// seeding the state, a watcher's first listing) frees tens of megabytes in many
/// small pieces between the ones that stay; glibc's allocator keeps such pages
/// resident until it is asked to release them.
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}
