//! What runs where: clusters, deployments, pods, HPAs, secrets, flags, locks and audit
//! records, kept as small summaries (never whole Kubernetes objects).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::environment::EphemeralEnv;
use super::name::Name;

/// Seconds since the Unix epoch. Every timestamp in the domain is one of these.
pub type Timestamp = i64;

/// One cluster: an environment in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterId {
    pub env: Name,
    pub region: Name,
}

impl ClusterId {
    pub fn new(env: impl Into<Name>, region: impl Into<Name>) -> Self {
        ClusterId {
            env: env.into(),
            region: region.into(),
        }
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.env, self.region)
    }
}

/// The regions and environments a platform spans. A permanent environment spans every
/// region unless `spans` names its regions (a configured platform is often not a full
/// grid: production in two regions, staging in one); an ephemeral one (C14) only its
/// own regions. `environments` names both kinds, the permanent ones first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Topology {
    pub regions: Vec<String>,
    pub environments: Vec<String>,
    /// The regions of each permanent environment that does not span every region, in
    /// topology order. An environment not named here spans every region (the demo's
    /// and the simulator's topologies name none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spans: BTreeMap<String, Vec<String>>,
    /// The ephemeral environments among `environments`, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ephemeral: Vec<EphemeralEnv>,
}

impl Topology {
    /// The topology of exactly these clusters (a configured platform's `[[clusters]]`):
    /// environments and regions in the order first seen, each environment spanning the
    /// regions it has a cluster in. A cluster named twice counts once.
    pub fn from_clusters(clusters: &[ClusterId]) -> Topology {
        let mut t = Topology::default();
        for c in clusters {
            if !t.regions.iter().any(|r| *r == *c.region) {
                t.regions.push(c.region.to_string());
            }
            if !t.environments.iter().any(|e| *e == *c.env) {
                t.environments.push(c.env.to_string());
            }
        }
        for env in &t.environments {
            let regions: Vec<String> = (t.regions.iter())
                .filter(|r| {
                    clusters
                        .iter()
                        .any(|c| *c.env == **env && *c.region == ***r)
                })
                .cloned()
                .collect();
            if regions.len() < t.regions.len() {
                t.spans.insert(env.clone(), regions);
            }
        }
        t
    }

    /// Does every environment span every region (no gap in the env × region grid)?
    pub fn is_grid(&self) -> bool {
        (self.environments.iter()).all(|e| self.regions_of(e).len() == self.regions.len())
    }

    /// The regions in scope: those of `env` when one is given, else every region.
    pub fn regions_in(&self, env: Option<&str>) -> &[String] {
        match env {
            Some(e) => self.regions_of(e),
            None => &self.regions,
        }
    }

    /// The environments with a cluster in `region`, in topology order.
    pub fn environments_in<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        (self.environments.iter()).filter(move |e| self.regions_of(e).iter().any(|r| r == region))
    }

    /// Every cluster: environment-major, regions in topology order.
    pub fn clusters(&self) -> impl Iterator<Item = ClusterId> + '_ {
        self.environments.iter().flat_map(move |e| {
            self.regions_of(e)
                .iter()
                .map(move |r| ClusterId::new(e.clone(), r.clone()))
        })
    }

    /// Where cluster `c` sorts in the platform's order (environments as declared,
    /// then regions): how every list of clusters is ordered, as the matrix is.
    pub fn cluster_rank(&self, c: &ClusterId) -> (usize, usize) {
        let env = (self.environments.iter())
            .position(|e| c.env == *e)
            .unwrap_or(usize::MAX);
        let region = (self.regions.iter())
            .position(|r| c.region == *r)
            .unwrap_or(usize::MAX);
        (env, region)
    }

    pub fn cluster_count(&self) -> usize {
        self.environments
            .iter()
            .map(|e| self.regions_of(e).len())
            .sum()
    }

    /// The regions an environment spans: an ephemeral one's own, a permanent one's as
    /// `spans` names them, else every region.
    pub fn regions_of(&self, env: &str) -> &[String] {
        if let Some(e) = self.ephemeral(env) {
            return &e.regions;
        }
        match self.spans.get(env) {
            Some(regions) => regions,
            None => &self.regions,
        }
    }

    /// Is there a cluster `c`?
    pub fn has_cluster(&self, c: &ClusterId) -> bool {
        self.environments.iter().any(|e| c.env == *e)
            && self.regions_of(&c.env).iter().any(|r| c.region == *r)
    }

    /// The ephemeral environment called `env`, if it is one.
    pub fn ephemeral(&self, env: &str) -> Option<&EphemeralEnv> {
        self.ephemeral.iter().find(|e| e.name == env)
    }

    /// Add an ephemeral environment, or replace the one of the same name (its expiry
    /// moved). Its regions are kept in topology order.
    pub fn set_ephemeral(&mut self, mut env: EphemeralEnv) {
        env.regions.sort_by_key(|r| {
            self.regions
                .iter()
                .position(|x| x == r)
                .unwrap_or(usize::MAX)
        });
        match self.ephemeral.iter_mut().find(|e| e.name == env.name) {
            Some(e) => *e = env,
            None => {
                if !self.environments.contains(&env.name) {
                    self.environments.push(env.name.clone());
                }
                self.ephemeral.push(env);
            }
        }
    }

    /// Forget an ephemeral environment; true when there was one. A permanent
    /// environment of that name stays.
    pub fn remove_ephemeral(&mut self, name: &str) -> bool {
        let before = self.ephemeral.len();
        self.ephemeral.retain(|e| e.name != name);
        if self.ephemeral.len() == before {
            return false;
        }
        self.environments.retain(|e| e != name);
        true
    }

    /// The same platform with these ephemeral environments (and no others).
    pub fn with_ephemeral(&self, envs: &[EphemeralEnv]) -> Topology {
        let mut t = self.permanent();
        for e in envs {
            t.set_ephemeral(e.clone());
        }
        t
    }

    /// The permanent environments only.
    pub fn permanent(&self) -> Topology {
        let environments: Vec<String> = (self.environments.iter())
            .filter(|e| self.ephemeral(e).is_none())
            .cloned()
            .collect();
        let spans = (self.spans.iter())
            .filter(|(e, _)| environments.contains(e))
            .map(|(e, r)| (e.clone(), r.clone()))
            .collect();
        Topology {
            regions: self.regions.clone(),
            environments,
            spans,
            ephemeral: Vec::new(),
        }
    }
}

/// The active scope: which environment and region the panes show. `None` is "all".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scope {
    pub env: Option<String>,
    pub region: Option<String>,
}

impl Scope {
    pub fn contains(&self, c: &ClusterId) -> bool {
        self.env.as_ref().is_none_or(|e| e == &c.env)
            && self.region.as_ref().is_none_or(|r| r == &c.region)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} · {}",
            self.env.as_deref().unwrap_or("all envs"),
            self.region.as_deref().unwrap_or("all regions")
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    /// Every replica runs the desired version and is ready.
    Complete,
    /// New replicas are being rolled out.
    Progressing,
    /// The rollout stopped making progress (crash-looping new pods, quota ...).
    Stalled,
}

/// A Deployment, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSummary {
    pub service: String,
    pub cluster: ClusterId,
    /// The version (image tag) the deployment wants.
    pub version: String,
    pub desired: u32,
    pub ready: u32,
    /// Replicas already on `version`.
    pub updated: u32,
    pub rollout: RolloutState,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl fmt::Display for PodPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        })
    }
}

/// A Pod, summarised: a few dozen bytes, not the whole object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSummary {
    pub name: String,
    pub service: String,
    pub cluster: ClusterId,
    pub phase: PodPhase,
    pub ready: bool,
    pub restarts: u32,
    pub started_at: Timestamp,
    pub node: String,
    pub version: String,
    /// A container's waiting reason, such as `CrashLoopBackOff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The reason the last container instance ended (`OOMKilled`, `Error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<String>,
}

impl PodSummary {
    pub fn crash_looping(&self) -> bool {
        self.waiting.as_deref() == Some("CrashLoopBackOff")
    }
}

/// A HorizontalPodAutoscaler (autoscaling/v2), summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HpaSummary {
    pub service: String,
    pub cluster: ClusterId,
    pub min: u32,
    pub max: u32,
    pub current: u32,
    pub target_cpu: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_cpu: Option<u32>,
}

/// A change to what runs in a cluster, as a watch delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    Deployment(DeploymentSummary),
    DeploymentDeleted {
        cluster: ClusterId,
        service: String,
    },
    Pod(PodSummary),
    PodDeleted {
        cluster: ClusterId,
        name: String,
    },
    Hpa(HpaSummary),
    /// The initial listing of a cluster is complete: everything for it has been sent.
    Synced(ClusterId),
    /// A cluster cannot be reached; its data is stale until it comes back.
    Unreachable {
        cluster: ClusterId,
        error: String,
    },
    /// An ephemeral environment appeared or changed (its expiry moved). Sent before
    /// anything that runs in it; its clusters then report `Synced`.
    Environment(EphemeralEnv),
    /// An ephemeral environment is gone (deleted, or expired), with everything in it.
    EnvironmentDeleted {
        name: String,
    },
    /// What the platform's clock reads now, when it is not the wall clock (the demo's
    /// can be moved forward): ages and expiries are measured by it.
    Clock(Timestamp),
}

/// Everything known about the clusters at one moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub deployments: Vec<DeploymentSummary>,
    pub pods: Vec<PodSummary>,
    pub hpas: Vec<HpaSummary>,
    /// Clusters that could not be read, with the error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<(ClusterId, String)>,
}

/// Metadata of one secret in one region: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    /// The full name under the naming standard `<env>/<service>/<NAME>`.
    pub name: String,
    pub service: String,
    pub env: String,
    pub region: String,
    /// The short name (`DATABASE_URL`).
    pub key: String,
    pub version_id: String,
    pub stages: Vec<String>,
    pub last_changed: Timestamp,
    pub tags: BTreeMap<String, String>,
    /// A hash of the value computed in memory for drift detection; never serialised.
    #[serde(skip)]
    pub value_hash: Option<u64>,
}

/// A feature flag as one cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagState {
    pub name: String,
    pub cluster: ClusterId,
    pub value: String,
    pub percentage: u8,
    /// A change sent but not yet acknowledged by this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingFlag>,
    /// The values the flag declares (`v1`, `v2`, `shadow`); a change must take one of
    /// them. Empty: none declared, any value goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFlag {
    pub value: String,
    pub percentage: u8,
    pub sent_at: Timestamp,
}

/// `bob (INC-12) on payments@production/*; carol (...) on *@*/*`: who holds these
/// locks, why and where.
pub fn holders_text(locks: &[Lock]) -> String {
    locks
        .iter()
        .map(|l| format!("{} on {}", l.holder(), l.target()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Add `lock` to the set: a target holds one lock per holder, so a lock by someone
/// else on the same target stays, and the holder's own earlier lock there is replaced.
/// Returns the other holders' locks on the same target (what the locker is told).
pub fn add_lock(locks: &mut Vec<Lock>, lock: Lock) -> Vec<Lock> {
    locks.retain(|l| !l.same(&lock));
    // Whoever else holds a lock on any part of the same target (a lock on the
    // service's production, when this one is on every environment, too).
    let others = locks
        .iter()
        .filter(|l| l.by != lock.by && l.overlaps(&lock))
        .cloned()
        .collect();
    locks.push(lock);
    others
}

/// Remove the locks inside the scope (see [`Lock::within`]) held by `by` (`None`:
/// every holder's); the locks removed.
pub fn remove_locks(
    locks: &mut Vec<Lock>,
    service: &str,
    env: Option<&str>,
    region: Option<&str>,
    by: Option<&str>,
) -> Vec<Lock> {
    let (gone, kept): (Vec<Lock>, Vec<Lock>) = locks
        .drain(..)
        .partition(|l| l.within(service, env, region) && by.is_none_or(|b| l.by == b));
    *locks = kept;
    gone
}

/// A deployment lock. `None` for env or region means every one. A target holds a set
/// of these, one per holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The service, or `*` for the incident lock on everything.
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub reason: String,
    pub by: String,
    pub at: Timestamp,
}

impl Lock {
    pub const ALL: &'static str = "*";

    /// Is this the same lock as `other`: the same target (service, environment,
    /// region) held by the same person? A target holds a set of locks, one per holder;
    /// locking again as the same holder replaces that holder's lock (its reason).
    pub fn same(&self, other: &Lock) -> bool {
        self.same_target(other) && self.by == other.by
    }

    /// Is it on the same target (service, environment and region) as `other`?
    pub fn same_target(&self, other: &Lock) -> bool {
        self.service == other.service && self.env == other.env && self.region == other.region
    }

    /// Does it stop a deploy somewhere `other` does too (the same service or the lock
    /// on everything, and environments and regions that meet)?
    pub fn overlaps(&self, other: &Lock) -> bool {
        let meet = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        (self.service == other.service || self.service == Self::ALL || other.service == Self::ALL)
            && meet(&self.env, &other.env)
            && meet(&self.region, &other.region)
    }

    /// Is it inside the unlock scope `service`, `env`, `region` (`None`: any)? An
    /// unlock of production removes a production/eu-west-1 lock, not a lock on every
    /// environment.
    pub fn within(&self, service: &str, env: Option<&str>, region: Option<&str>) -> bool {
        self.service == service
            && env.is_none_or(|e| self.env.as_deref() == Some(e))
            && region.is_none_or(|r| self.region.as_deref() == Some(r))
    }

    /// `service@env/region` (`*` for every one).
    pub fn target(&self) -> String {
        format!(
            "{}@{}/{}",
            self.service,
            self.env.as_deref().unwrap_or("*"),
            self.region.as_deref().unwrap_or("*")
        )
    }

    /// `ada (INC-12)`: who holds it and why, for people.
    pub fn holder(&self) -> String {
        format!("{} ({})", self.by, self.reason)
    }

    /// Does this lock stop a deploy of `service` to `cluster`?
    pub fn covers(&self, service: &str, cluster: &ClusterId) -> bool {
        (self.service == Self::ALL || self.service == service)
            && self.env.as_ref().is_none_or(|e| e == &cluster.env)
            && self.region.as_ref().is_none_or(|r| r == &cluster.region)
    }
}

/// The merge freeze.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Freeze {
    pub on: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "lowercase")]
pub enum Outcome {
    Started,
    Succeeded,
    Failed(String),
    Refused(String),
    /// The process doing it ended before it recorded an outcome (killed mid-way).
    Interrupted(String),
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: u64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub outcome: Outcome,
    /// What changed, by name (see [`crate::domain::audit::change_text`]): `version.from`
    /// and `version.to` of a rollback, `hpa.from`/`hpa.to`, `value`, `percentage`,
    /// `secret.version`, `lock.holders`, `override`, ... Older records have none.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// What an audit record says changed: name → value, in name order.
pub type Details = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    /// production in us-east-1 and eu-west-1, staging only in us-east-1, dev only in
    /// eu-west-1: declared in this order.
    fn gapped() -> Topology {
        Topology::from_clusters(&[
            ClusterId::new("production", "us-east-1"),
            ClusterId::new("staging", "us-east-1"),
            ClusterId::new("production", "eu-west-1"),
            ClusterId::new("dev", "eu-west-1"),
            ClusterId::new("staging", "us-east-1"),
        ])
    }

    #[test]
    fn a_topology_from_clusters_keeps_their_order_and_its_gaps() {
        let t = gapped();
        assert_eq!(t.environments, ["production", "staging", "dev"]);
        assert_eq!(t.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(t.regions_of("production"), ["us-east-1", "eu-west-1"]);
        assert_eq!(t.regions_of("staging"), ["us-east-1"]);
        assert_eq!(t.regions_of("dev"), ["eu-west-1"]);
        assert_eq!(t.cluster_count(), 4, "the duplicate counts once");
        let clusters: Vec<String> = t.clusters().map(|c| c.to_string()).collect();
        assert_eq!(
            clusters,
            [
                "production/us-east-1",
                "production/eu-west-1",
                "staging/us-east-1",
                "dev/eu-west-1"
            ]
        );
        assert!(t.has_cluster(&ClusterId::new("staging", "us-east-1")));
        assert!(!t.has_cluster(&ClusterId::new("staging", "eu-west-1")));
        assert!(!t.has_cluster(&ClusterId::new("dev", "us-east-1")));
        assert!(!t.has_cluster(&ClusterId::new("qa", "us-east-1")));
        assert!(!t.is_grid());
        assert_eq!(t.regions_in(Some("dev")), ["eu-west-1"]);
        assert_eq!(t.regions_in(None), ["us-east-1", "eu-west-1"]);
        let in_eu: Vec<&String> = t.environments_in("eu-west-1").collect();
        assert_eq!(in_eu, ["production", "dev"]);
        // Only the environments with a gap are named.
        assert!(!t.spans.contains_key("production"));
    }

    #[test]
    fn a_full_grid_from_clusters_is_the_plain_grid() {
        let t = Topology::from_clusters(&[
            ClusterId::new("staging", "eu-west-1"),
            ClusterId::new("staging", "us-east-1"),
            ClusterId::new("production", "us-east-1"),
            ClusterId::new("production", "eu-west-1"),
        ]);
        let grid = Topology {
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        };
        assert_eq!(t, grid);
        assert!(t.is_grid());
        assert_eq!(t.cluster_count(), 4);
        // Serialized as before: no `spans` key.
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert!(!json.contains("spans"), "{json}");
        assert_eq!(Topology::from_clusters(&[]), Topology::default());
    }

    #[test]
    fn gaps_survive_serde_and_ephemeral_environments() {
        let t = gapped();
        let json = serde_json::to_string(&t).unwrap_or_default();
        let back: Topology = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, t);
        let pr = EphemeralEnv {
            name: "pr-1".into(),
            from: "production".into(),
            regions: vec!["eu-west-1".into()],
            created_by: "you".into(),
            created_at: 0,
            expires_at: 10,
        };
        let with = t.with_ephemeral(std::slice::from_ref(&pr));
        assert_eq!(with.cluster_count(), 5);
        assert_eq!(with.regions_of("staging"), ["us-east-1"]);
        assert!(!with.has_cluster(&ClusterId::new("pr-1", "us-east-1")));
        assert_eq!(with.permanent(), t);
    }

    fn lock(by: &str, reason: &str) -> Lock {
        Lock {
            service: "cart".into(),
            env: Some("production".into()),
            region: None,
            reason: reason.into(),
            by: by.into(),
            at: 1,
        }
    }

    /// A lock on a wider or narrower part of the same target tells of the others too:
    /// bob locking cart everywhere hears of ada's lock on its production, and of the
    /// lock on everything; not of another service's.
    #[test]
    fn a_second_lock_hears_of_overlapping_ones() {
        let mut locks = vec![lock("ada", "INC-1")];
        let everything = Lock {
            service: Lock::ALL.into(),
            env: None,
            region: None,
            ..lock("cleo", "incident")
        };
        let other_service = Lock {
            service: "ledger".into(),
            ..lock("dan", "audit")
        };
        let dev_only = Lock {
            env: Some("dev".into()),
            ..lock("eve", "demo")
        };
        locks.extend([everything.clone(), other_service, dev_only]);
        let wide = Lock {
            env: None,
            region: Some("eu-west-1".into()),
            ..lock("bob", "release")
        };
        let mut others = add_lock(&mut locks, wide);
        others.sort_by(|a, b| a.by.cmp(&b.by));
        let names: Vec<&str> = others.iter().map(|l| l.by.as_str()).collect();
        assert_eq!(names, ["ada", "cleo", "eve"]);
        // Bob's own earlier lock elsewhere on the target is not "someone else's".
        let again = add_lock(
            &mut locks,
            Lock {
                env: Some("staging".into()),
                ..lock("bob", "more")
            },
        );
        assert!(again.iter().all(|l| l.by != "bob"), "{again:?}");
    }

    #[test]
    fn a_target_holds_a_lock_per_holder() {
        let mut locks = Vec::new();
        assert!(add_lock(&mut locks, lock("ada", "INC-1")).is_empty());
        let others = add_lock(&mut locks, lock("bob", "release"));
        assert_eq!(others, vec![lock("ada", "INC-1")], "bob is told ada's");
        // Ada locking again replaces her own lock, not bob's.
        add_lock(&mut locks, lock("ada", "INC-2"));
        assert_eq!(locks.len(), 2);
        assert!(locks.contains(&lock("ada", "INC-2")) && locks.contains(&lock("bob", "release")));
        // Bob's unlock removes his own.
        let gone = remove_locks(&mut locks, "cart", Some("production"), None, Some("bob"));
        assert_eq!(gone, vec![lock("bob", "release")]);
        assert_eq!(locks, vec![lock("ada", "INC-2")]);
        // Every holder's, on purpose.
        assert_eq!(remove_locks(&mut locks, "cart", None, None, None).len(), 1);
        assert!(locks.is_empty());
    }
}
