//! The embedded demo platform (`sim`): in-process providers for every backend trait,
//! seeded deterministically from the demo catalog, alive on a clock, and shared between
//! `sphere` processes through a small JSON state file.
//!
//! The durable half (`state`) is what a real platform keeps in its systems of record:
//! deployment versions and their history, desired replicas, HPA bounds, secrets, flags,
//! repositories, locks, the freeze and the audit trail. Every change to it goes through
//! `Sim::mutate`, which holds an OS lock on `<state>.lock`. The live half (`world`) is
//! pods and rollout progress: in memory, regenerated at open, converging towards the
//! durable spec the way a controller would.

pub mod assets;
mod diagnose;
mod envs;
mod secrets;
pub(crate) mod state;
mod watch;
mod world;

#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use self::state::StateError;
use self::state::{
    DurableState, FileLock, SecretValue, ServiceSpec, read_state, stamp, write_state,
};
use self::world::World;
use crate::backend::{
    CatalogProvider, ClusterProvider, FlagsProvider, LedgerProvider, Platform, PlatformKind,
    RepoInfo, ReposProvider, SecretsProvider,
};
use crate::domain::access::AccessRequest;
use crate::domain::catalog::parse::parse_documents;
use crate::domain::catalog::resolve;
use crate::domain::catalog::{
    Catalog, DEFAULT_NAMESPACE, Entity, EntityRef, Kind, Relation, RelationKind, Severity, Source,
    Spec, TextMap,
};
use crate::domain::environment::EphemeralEnv;
use crate::domain::{
    AuditRecord, ClusterEvent, ClusterId, ClusterSnapshot, Details, FlagState, Freeze, Lock, Name,
    Outcome, PendingFlag, Scope, SecretMeta, Timestamp, Topology,
};

/// How big the demo platform is. `None` keeps the demo's natural size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    pub services: Option<usize>,
    pub clusters: Option<usize>,
    pub pods: Option<usize>,
}

impl Scale {
    /// Parse `services=10000,clusters=60,pods=50000` (any subset, any order).
    pub fn parse(s: &str) -> Result<Scale, String> {
        let mut scale = Scale::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "`{part}`: expected key=value (services, clusters or pods)"
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            let n: usize = value
                .parse()
                .map_err(|_| format!("`{part}`: `{value}` is not a whole number"))?;
            if n == 0 {
                return Err(format!("`{part}`: must be at least 1"));
            }
            let slot = match key {
                "services" => &mut scale.services,
                "clusters" => &mut scale.clusters,
                "pods" => &mut scale.pods,
                _ => {
                    return Err(format!(
                        "`{part}`: unknown key `{key}` (expected services, clusters or pods)"
                    ));
                }
            };
            if slot.is_some() {
                return Err(format!("`{part}`: `{key}` is given twice"));
            }
            *slot = Some(n);
        }
        Ok(scale)
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Scale, String> {
        Scale::parse(s)
    }
}

/// How to open the demo platform.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    pub scale: Scale,
    /// Clock speed: 1.0 ticks every 2 s, 0 never ticks by itself.
    pub pace: f64,
    /// Where the durable state lives; `None` keeps everything in memory.
    pub state_path: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            scale: Scale::default(),
            pace: 1.0,
            state_path: None,
        }
    }
}

const REAL_REGIONS: &[&str] = &[
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
    "eu-north-1",
    "ap-south-1",
    "us-east-2",
    "eu-west-2",
    "ap-southeast-1",
    "ap-northeast-2",
    "eu-west-3",
    "us-west-1",
    "af-south-1",
    "me-south-1",
];

/// Three environments; three regions, or ceil(clusters / 3) at scale.
pub(crate) fn topology_for(scale: &Scale) -> Topology {
    let n = scale.clusters.map(|c| c.div_ceil(3)).unwrap_or(3).max(1);
    let regions = (0..n)
        .map(|i| {
            REAL_REGIONS
                .get(i)
                .map(|r| r.to_string())
                .unwrap_or_else(|| format!("region-{}", i + 1))
        })
        .collect();
    Topology {
        regions,
        environments: vec!["dev".into(), "staging".into(), "production".into()],
        ..Default::default()
    }
}

/// The wall clock in milliseconds; the demo's own clock is this plus its offset (see
/// [`Sim::now`]).
fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The services whose state a changed catalog keeps: the catalog's and the ones
/// registered through sphere.
fn kept_services(services: &[ServiceSpec], registered: &BTreeMap<String, String>) -> Vec<String> {
    let mut keep: Vec<String> = services.iter().map(|s| s.name.to_string()).collect();
    for (location, text) in registered {
        let parsed = parse_documents(text, Path::new(location));
        keep.extend(
            parsed
                .entities
                .iter()
                .filter(|e| e.kind == Kind::Component)
                .map(|e| e.name.to_string()),
        );
    }
    keep
}

/// Write the world's live half to its file, and its durable state to the state file
/// when `durable` (it changed), each atomically; hold the state's lock. On failure our
/// memory is ahead of the files: both are read again at the next chance.
fn save(path: &Path, w: &mut World, durable: bool) -> Result<()> {
    let r = (|| -> Result<()> {
        w.live_stamp = Some(write_state(&state::live_path(path), &w.live_out())?);
        if durable {
            w.stamp = Some(write_state(path, &w.durable)?);
        }
        Ok(())
    })();
    if r.is_err() {
        (w.stamp, w.live_stamp) = (None, None);
    }
    r
}

fn is_service(e: &Entity) -> bool {
    e.kind == Kind::Component && matches!(e.spec_type.as_deref(), Some("service" | "website"))
}

const SLUG: &str = "github.com/project-slug";

const WORDS_A: &[&str] = &[
    "orders",
    "billing",
    "ledger",
    "search",
    "cart",
    "identity",
    "risk",
    "pricing",
    "shipping",
    "inventory",
    "loyalty",
    "media",
    "reports",
    "fx",
    "kyc",
    "ads",
    "geo",
    "tax",
    "mail",
    "ranking",
];
const WORDS_B: &[&str] = &[
    "api",
    "worker",
    "sync",
    "gateway",
    "indexer",
    "scheduler",
    "consumer",
    "publisher",
    "adapter",
    "service",
];

/// Add synthetic services until there are `n`, spread over the existing owners and systems.
fn extend_catalog(catalog: &Catalog, n: usize, seed: u64) -> Catalog {
    let have = catalog.entities().iter().filter(|e| is_service(e)).count();
    if n <= have {
        return catalog.clone();
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xca7a_1095);
    let mut owners: Vec<EntityRef> = catalog
        .of_kind(&Kind::Group)
        .filter(|g| g.spec_type.as_deref() == Some("team"))
        .map(Entity::entity_ref)
        .collect();
    if owners.is_empty() {
        owners = catalog
            .entities()
            .iter()
            .filter_map(|e| e.owner.clone())
            .collect();
        owners.sort();
        owners.dedup();
    }
    let mut systems: Vec<EntityRef> = catalog
        .of_kind(&Kind::System)
        .map(Entity::entity_ref)
        .collect();
    if systems.is_empty() {
        systems = catalog
            .entities()
            .iter()
            .filter_map(|e| e.part_of.clone())
            .collect();
        systems.sort();
        systems.dedup();
    }
    let mut entities = catalog.entities().to_vec();
    entities.reserve(n - have);
    // What every generated service has in common is stored once.
    let namespace = Name::new(DEFAULT_NAMESPACE);
    let service = Name::new("service");
    let (experimental, production) = (Name::new("experimental"), Name::new("production"));
    let (slug_key, k8s_key) = (Name::new(SLUG), Name::new("backstage.io/kubernetes-id"));
    let generated = Name::new("generated");
    let description = Name::new("Generated service (scale test).");
    let mut i = 0usize;
    let mut added = 0usize;
    while added < n - have {
        i += 1;
        let name = format!(
            "{}-{}-{:05}",
            WORDS_A[rng.usize(..WORDS_A.len())],
            WORDS_B[rng.usize(..WORDS_B.len())],
            i
        );
        if catalog.find(Some(&Kind::Component), &name).is_some() {
            continue;
        }
        let owner = (!owners.is_empty()).then(|| owners[rng.usize(..owners.len())].clone());
        let system = (!systems.is_empty()).then(|| systems[rng.usize(..systems.len())].clone());
        let lifecycle = if rng.f32() < 0.1 {
            &experimental
        } else {
            &production
        };
        let mut relations = Vec::with_capacity(2);
        if let Some(o) = &owner {
            relations.push(Relation {
                kind: RelationKind::OwnedBy,
                target: o.clone(),
                resolved: true,
            });
        }
        if let Some(s) = &system {
            relations.push(Relation {
                kind: RelationKind::PartOf,
                target: s.clone(),
                resolved: true,
            });
        }
        let annotations: TextMap = [
            (slug_key.clone(), format!("northwind/{name}")),
            (k8s_key.clone(), name.clone()),
        ]
        .into_iter()
        .collect();
        let spec = Spec::new(&serde_json::json!({
            "type": "service",
            "lifecycle": lifecycle.as_str(),
            "owner": owner.as_ref().map(|o| o.to_string()),
            "system": system.as_ref().map(|s| s.to_string()),
        }));
        entities.push(Entity {
            kind: Kind::Component,
            namespace: namespace.clone(),
            name: Name::from(name),
            title: None,
            description: Some(description.clone()),
            labels: TextMap::new(),
            annotations,
            tags: vec![generated.clone()],
            links: Vec::new(),
            spec_type: Some(service.clone()),
            lifecycle: Some(lifecycle.clone()),
            owner,
            part_of: system,
            relations,
            spec,
            source: Source {
                file: PathBuf::from("<generated>"),
                document: added,
            },
        });
        added += 1;
    }
    Catalog::from_resolved(entities, catalog.problems.clone())
}

/// What seeding reads from the catalog: its services, repository slugs and users.
fn seed_inputs(catalog: &Catalog) -> (Vec<ServiceSpec>, Vec<String>, Vec<String>) {
    let services: Vec<ServiceSpec> = catalog
        .entities()
        .iter()
        .filter(|e| is_service(e))
        .map(|e| ServiceSpec {
            name: Name::from(&e.name),
            lifecycle: e.lifecycle.clone(),
            owner: e.owner.as_ref().map(|o| o.name.clone()),
            synthetic: e.source.file.as_os_str() == "<generated>",
        })
        .collect();
    let mut slugs: Vec<String> = catalog
        .of_kind(&Kind::Component)
        .filter_map(|e| e.annotation(SLUG).map(str::to_string))
        .collect();
    slugs.sort();
    slugs.dedup();
    let mut users: Vec<String> = catalog
        .of_kind(&Kind::User)
        .map(|u| u.name.to_string())
        .collect();
    users.sort();
    (services, slugs, users)
}

struct Inner {
    opts: SimOptions,
    catalog: Arc<Catalog>,
    fingerprint: u64,
    world: Mutex<World>,
    /// Provider operations that fail (see [`Sim::fail_next`]).
    faults: Mutex<Faults>,
    /// The catalog served: `catalog` plus the registered descriptors it was built with.
    served: Mutex<(BTreeMap<String, String>, Arc<Catalog>)>,
    /// The wall clock, stopped here (milliseconds), for tests.
    fixed_ms: Option<i64>,
    /// What opening changed that the user should hear once (a catalog change).
    notices: Vec<String>,
    /// Why the state file could not be read, when this is the stand-in that
    /// [`Sim::unreadable`] opened: every read of the platform's truth fails with it.
    unreadable: Option<String>,
}

/// Injected provider failures, for tests: one-shot ones from [`Sim::fail_next`], and
/// standing ones from `SPHERE_DEMO_FAIL` (comma-separated operation names), which fail
/// every call of that operation in this process.
#[derive(Debug, Default)]
struct Faults {
    once: Vec<String>,
    always: Vec<String>,
}

/// The environment variable naming demo provider operations that always fail.
pub const FAIL_ENV: &str = "SPHERE_DEMO_FAIL";

/// The demo provider operations a failure can be injected into (see [`FAIL_ENV`]).
pub const FAULT_OPS: &[&str] = &[
    "add_lock",
    "append_audit",
    "copy_secret",
    "create_deployment",
    "create_environment",
    "create_repo",
    "decide_access",
    "delete_environment",
    "delete_secret",
    "extend_environment",
    "put_secret",
    "register",
    "remove_locks",
    "request_access",
    "restart",
    "reveal_secret",
    "rollback",
    "set_audit_outcome",
    "set_flag",
    "set_freeze",
    "set_hpa",
    "write_file",
];

/// The names in `SPHERE_DEMO_FAIL` that are no operation of the demo (they fail nothing).
pub fn unknown_faults(spec: &str) -> Vec<String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && !FAULT_OPS.contains(s))
        .map(str::to_string)
        .collect()
}

/// The demo platform. Cheap to clone.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.inner.opts.seed)
            .field("scale", &self.inner.opts.scale)
            .field("state_path", &self.inner.opts.state_path)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Open the demo platform over an already-loaded catalog: load the state file (or
    /// seed a new one when there is none, and write it). A state file that cannot be
    /// read, or is for another seed or scale, is a [`StateError`]: nothing is replaced.
    /// A catalog that changed keeps the state that still applies (see
    /// `state::merge_catalog`); the change is told once ([`Sim::notices`]).
    pub fn open(opts: SimOptions, catalog: Catalog) -> Result<Sim> {
        Sim::open_at(opts, catalog, None)
    }

    /// [`Sim::open`] with the wall clock stopped at `at` (milliseconds), for tests.
    pub(crate) fn open_at(opts: SimOptions, catalog: Catalog, at: Option<i64>) -> Result<Sim> {
        let clock = || at.unwrap_or_else(wall_ms);
        let opening = std::time::Instant::now();
        let catalog = match opts.scale.services {
            Some(n) => extend_catalog(&catalog, n, opts.seed),
            None => catalog,
        };
        let topology = topology_for(&opts.scale);
        let (services, slugs, users) = seed_inputs(&catalog);
        let fingerprint = state::fingerprint(&services, &slugs);
        let seed_now = || {
            state::seed_state(
                opts.seed,
                &opts.scale,
                &topology,
                &services,
                &slugs,
                &users,
                clock().div_euclid(1000),
            )
        };
        let mut notices = Vec::new();
        // Held until the world (and its live half) is written.
        let mut lock = None;
        let (durable, file_stamp, write) = match &opts.state_path {
            None => (seed_now(), None, false),
            Some(path) => {
                lock = Some(FileLock::exclusive(path)?);
                let n =
                    state::clean_stale_tmp(path) + state::clean_stale_tmp(&state::live_path(path));
                if n > 0 {
                    tracing::info!("demo: removed {n} temporary file(s) of an unfinished write");
                }
                match read_state(path)? {
                    None => (seed_now(), None, true),
                    Some(mut s) => {
                        state::check_identity(path, &s, opts.seed, &opts.scale)?;
                        // The live half has a file of its own (an older state file kept
                        // it inside: then it moves out).
                        let inline = s.live.is_some();
                        if !inline {
                            s.live = state::read_live(path)?;
                        }
                        let mut write = inline || s.live.is_none();
                        if s.fingerprint != fingerprint {
                            let keep = kept_services(&services, &s.registered);
                            let keep: std::collections::HashSet<&str> =
                                keep.iter().map(String::as_str).collect();
                            let teams: BTreeMap<&str, &str> = services
                                .iter()
                                .filter_map(|s| Some((s.name.as_str(), s.owner.as_deref()?)))
                                .collect();
                            let now = clock().div_euclid(1000) + s.clock_offset;
                            let change =
                                state::merge_catalog(&mut s, seed_now(), &keep, &teams, now);
                            let text = change.describe();
                            tracing::warn!("demo: {text}");
                            notices.push(text);
                            write = true;
                        }
                        let n = state::interrupt_orphans(&mut s);
                        if n > 0 {
                            tracing::warn!(
                                "demo: {n} audit record(s) of actions killed mid-way marked interrupted"
                            );
                            write = true;
                        }
                        (s, stamp(path), write)
                    }
                }
            }
        };
        // The world spans the ephemeral environments too; they keep the base
        // topology's regions in order.
        let now = clock().div_euclid(1000) + durable.clock_offset;
        let full = topology.with_ephemeral(&durable.environments);
        let read = opening.elapsed();
        let mut world = World::new(durable, file_stamp, full, opts.seed, now);
        let made = opening.elapsed();
        if let Some(path) = &opts.state_path {
            if write {
                save(path, &mut world, true)?;
            } else {
                world.live_stamp = stamp(&state::live_path(path));
            }
        }
        drop(lock);
        world::give_back_freed_memory();
        tracing::info!(
            "demo: opened in {:.1} ms (state {:.1} ms, world {:.1} ms, written: {write})",
            opening.elapsed().as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
            (made - read).as_secs_f64() * 1e3,
        );
        let catalog = Arc::new(catalog);
        let sim = Sim {
            inner: Arc::new(Inner {
                opts,
                served: Mutex::new((BTreeMap::new(), catalog.clone())),
                catalog,
                fingerprint,
                world: Mutex::new(world),
                fixed_ms: at,
                notices,
                unreadable: None,
                faults: Mutex::new(Faults {
                    once: Vec::new(),
                    always: std::env::var(FAIL_ENV)
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                }),
            }),
        };
        // Whatever expired while no sphere ran goes now.
        if let Err(e) = sim.expire_due() {
            tracing::warn!("demo: removing expired environments failed: {e:#}");
        }
        Ok(sim)
    }

    /// A stand-in for a demo whose state file cannot be read (`problem`), for the TUI
    /// to open read-only with the problem shown: the catalog and topology are the
    /// demo's; every read of the platform's truth (clusters, secrets, flags, repos,
    /// locks, freeze, audit, access) fails with the problem, and every change too.
    /// The file is neither read nor written.
    pub fn unreadable(opts: SimOptions, catalog: Catalog, problem: String) -> Result<Sim> {
        let opts = SimOptions {
            state_path: None,
            pace: 0.0,
            ..opts
        };
        let mut sim = Sim::open(opts, catalog)?;
        if let Some(inner) = Arc::get_mut(&mut sim.inner) {
            inner.unreadable = Some(problem);
        }
        Ok(sim)
    }

    /// An error when this is the stand-in for an unreadable state (fail closed).
    fn readable(&self) -> Result<()> {
        match &self.inner.unreadable {
            Some(problem) => Err(anyhow::anyhow!("{problem}")),
            None => Ok(()),
        }
    }

    /// The demo platform behind every provider trait.
    pub fn platform(&self) -> Platform {
        Platform {
            name: "demo".to_string(),
            kind: PlatformKind::Demo,
            catalog: Arc::new(self.clone()),
            clusters: Arc::new(self.clone()),
            secrets: Arc::new(self.clone()),
            repos: Arc::new(self.clone()),
            flags: Arc::new(self.clone()),
            ledger: Arc::new(self.clone()),
            link_templates: Default::default(),
            webhook: None,
        }
    }

    /// Tick every `2 / pace` seconds on the current tokio runtime. `None` when pace is 0
    /// (nothing changes by itself) or there is no runtime. The task ends when every
    /// `Sim` handle is gone, or when the handle is aborted.
    pub fn start_clock(&self) -> Option<tokio::task::JoinHandle<()>> {
        let pace = self.inner.opts.pace;
        if !pace.is_finite() || pace <= 0.0 {
            return None;
        }
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let period = Duration::from_secs_f64((2.0 / pace).max(0.01));
        let weak = Arc::downgrade(&self.inner);
        Some(rt.spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let sim = Sim { inner };
                let gap = i64::try_from(period.as_millis() / 2).unwrap_or(i64::MAX);
                if tokio::task::spawn_blocking(move || sim.tick_due(gap))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }))
    }

    /// Make the next call of one provider operation fail before it changes anything, as
    /// an unreachable system would. Operations: `add_lock`, `remove_locks`, `set_freeze`,
    /// `append_audit`, `set_audit_outcome`, `restart`, `set_hpa`, `rollback`, `put_secret`,
    /// `delete_secret`, `reveal_secret`, `copy_secret`, `set_flag`, `create_repo`,
    /// `write_file`, `register`, `create_deployment`, `request_access`,
    /// `decide_access`, `create_environment`, `extend_environment`,
    /// `delete_environment`.
    pub fn fail_next(&self, op: &str) {
        self.faults().once.push(op.to_string());
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An error when a failure of `op` was injected (consuming a one-shot one).
    /// The time a call to GitHub, Backstage or a cluster API takes, so the golden
    /// path's steps show their progress one by one: `ms` at pace 1, shorter when the
    /// clock runs faster, none when it is stopped (`--pace 0`, as the tests run).
    async fn remote_call(&self, ms: u64) {
        let pace = self.inner.opts.pace;
        if pace.is_finite() && pace > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ms as f64 / 1000.0 / pace)).await;
        }
    }

    fn check_fault(&self, op: &str) -> Result<()> {
        debug_assert!(FAULT_OPS.contains(&op), "{op} is missing from FAULT_OPS");
        self.readable()?;
        let mut f = self.faults();
        let injected = if let Some(i) = f.once.iter().position(|o| o == op) {
            f.once.remove(i);
            true
        } else {
            f.always.iter().any(|o| o == op)
        };
        if injected {
            anyhow::bail!("demo platform: injected failure of {op}");
        }
        Ok(())
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wall clock in milliseconds (stopped, in tests opened with [`Sim::open_at`]).
    fn wall_ms(&self) -> i64 {
        self.inner.fixed_ms.unwrap_or_else(wall_ms)
    }

    /// What the demo's clock reads: the wall clock plus however far it was moved
    /// forward (`sphere demo advance`).
    pub fn now(&self) -> Timestamp {
        self.wall_ms().div_euclid(1000) + self.world().durable.clock_offset
    }

    /// What opening the state changed that the user should hear once (a catalog
    /// change: what was seeded, what was dropped).
    pub fn notices(&self) -> &[String] {
        &self.inner.notices
    }

    /// One step of the clock, taken now: pick up other processes' changes, remove
    /// expired environments, move rollouts and pods, acknowledge flags, write the
    /// world for every other process, and tell every watcher.
    pub fn tick(&self) {
        self.step_shared(None);
    }

    /// The clock task's tick: a step, unless another process on the same state took one
    /// less than `gap_ms` ago (then only its step is read), so the world moves at
    /// one pace however many processes watch it.
    fn tick_due(&self, gap_ms: i64) {
        self.step_shared(Some(gap_ms));
    }

    fn step_shared(&self, gap_ms: Option<i64>) {
        if let Err(e) = self.expire_due() {
            tracing::warn!("demo: removing expired environments failed: {e:#}");
        }
        // True when the step changed the durable state (a release, an acknowledged
        // flag), which is then written; else only the live half is.
        let step = |w: &mut World, now_ms: i64| {
            let now = now_ms.div_euclid(1000);
            let (rollout, ack) = w.step(now);
            let mut durable = false;
            if rollout && let Some(release) = w.start_rollout(now) {
                // A release changes a version; a held one is audited once.
                let audited = w.durable.audit.len();
                audit_release(&mut w.durable, now, &release);
                durable = release.held_by.is_empty() || w.durable.audit.len() != audited;
            }
            if ack {
                durable |= w.ack_flags() > 0;
            }
            w.stepped_at_ms = now_ms;
            w.reconcile(now);
            durable
        };
        let Some(path) = &self.inner.opts.state_path else {
            let mut w = self.world();
            let now_ms = self.wall_ms() + w.durable.clock_offset.saturating_mul(1000);
            step(&mut w, now_ms);
            w.flush();
            return;
        };
        let r = (|| -> Result<()> {
            let _lock = FileLock::exclusive(path)?;
            let mut w = self.world();
            self.catch_up(path, &mut w)?;
            let now_ms = self.wall_ms() + w.durable.clock_offset.saturating_mul(1000);
            if gap_ms.is_some_and(|gap| now_ms - w.stepped_at_ms < gap) {
                w.flush();
                return Ok(());
            }
            let durable = step(&mut w, now_ms);
            let saved = save(path, &mut w, durable);
            w.flush();
            saved
        })();
        if let Err(e) = r {
            tracing::warn!("demo state update failed: {e:#}");
        }
    }

    /// Read the state file when another process changed it (hold its lock): its
    /// durable state and its live half replace ours, and watchers hear what differs.
    /// True when it was read.
    fn catch_up(&self, path: &Path, w: &mut World) -> Result<bool> {
        let (mut current, mut live_now) = (stamp(path), stamp(&state::live_path(path)));
        if current.is_none() && w.stamp.is_some() {
            // The file we read is gone: another process ran `sphere demo reset` (it moved
            // the file aside). Start over from the seed as a first opening would, never
            // writing our old world back over the reset; then adopt that world below like
            // any other process's, so watchers hear what differs.
            tracing::info!("demo: {} was reset by another process", path.display());
            let mut fresh = self.seeded_world();
            save(path, &mut fresh, true)?;
            drop(fresh);
            (current, live_now) = (stamp(path), stamp(&state::live_path(path)));
        }
        if current.is_none() || (current == w.stamp && live_now == w.live_stamp) {
            return Ok(false);
        }
        let mut live = None;
        if current != w.stamp {
            let Some(mut s) = read_state(path)? else {
                return Ok(false);
            };
            state::check_identity(path, &s, self.inner.opts.seed, &self.inner.opts.scale)?;
            if s.fingerprint != self.inner.fingerprint {
                tracing::warn!(
                    "demo: {} was written for another catalog; showing it as it is",
                    path.display()
                );
            }
            // (An older state file keeps its live half inside.)
            live = s.live.take();
            w.adopt(s);
        }
        if live.is_none() && live_now != w.live_stamp {
            live = state::read_live(path)?;
        }
        if let Some(live) = live {
            w.load_live(live);
        }
        let now = self.wall_ms().div_euclid(1000) + w.durable.clock_offset;
        w.reconcile(now);
        (w.stamp, w.live_stamp) = (current, live_now);
        Ok(true)
    }

    /// A new world from the seed at the wall clock, as the first opening of a state file
    /// makes it.
    fn seeded_world(&self) -> World {
        let opts = &self.inner.opts;
        let topology = topology_for(&opts.scale);
        let (services, slugs, users) = seed_inputs(&self.inner.catalog);
        let now = self.wall_ms().div_euclid(1000);
        let durable = state::seed_state(
            opts.seed,
            &opts.scale,
            &topology,
            &services,
            &slugs,
            &users,
            now,
        );
        let full = topology.with_ephemeral(&durable.environments);
        World::new(durable, None, full, opts.seed, now)
    }

    /// Reload the durable state when another process changed the file; emits events for
    /// what changed. True when it reloaded.
    pub fn refresh(&self) -> Result<bool> {
        let Some(path) = &self.inner.opts.state_path else {
            return Ok(false);
        };
        let (current, live_now) = (stamp(path), stamp(&state::live_path(path)));
        if current.is_none() || {
            let w = self.world();
            current == w.stamp && live_now == w.live_stamp
        } {
            return Ok(false);
        }
        let _lock = FileLock::exclusive(path)?;
        let mut w = self.world();
        let read = self.catch_up(path, &mut w)?;
        w.flush();
        Ok(read)
    }

    /// `sphere demo reset`: move the state file aside as a dated backup next to it
    /// (without reading it: it may be unreadable), so the next command seeds a new
    /// one. The backup's path, when there was a file.
    pub fn reset(state_path: &Path) -> Result<Option<PathBuf>> {
        let _lock = FileLock::exclusive(state_path)?;
        let backup = state::back_up(state_path, chrono::Utc::now())?;
        // The live half goes with it (a new state makes its own).
        let live = state::live_path(state_path);
        if let Err(e) = std::fs::remove_file(&live)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(anyhow::Error::new(e).context(format!("removing {}", live.display())));
        }
        state::clean_stale_tmp(state_path);
        state::clean_stale_tmp(&live);
        Ok(backup)
    }

    /// Emit `n` pod updates at once (for the ingest benchmark).
    pub fn churn_pods(&self, n: usize) {
        let mut w = self.world();
        w.churn(n);
        w.flush();
    }

    /// The one door for durable changes: lock `<state>.lock`, re-read the file if another
    /// process changed it, apply `f`, reconcile the live world, write both atomically,
    /// release. A file that cannot be read fails the change: it is never replaced.
    fn mutate_world<R>(&self, f: impl FnOnce(&mut World, Timestamp) -> R) -> Result<R> {
        let Some(path) = &self.inner.opts.state_path else {
            let mut w = self.world();
            let now = self.wall_ms().div_euclid(1000) + w.durable.clock_offset;
            let r = f(&mut w, now);
            w.reconcile(now);
            w.flush();
            return Ok(r);
        };
        let _lock = FileLock::exclusive(path)?;
        let mut w = self.world();
        self.catch_up(path, &mut w)?;
        let now = self.wall_ms().div_euclid(1000) + w.durable.clock_offset;
        let r = f(&mut w, now);
        w.reconcile(now);
        let saved = save(path, &mut w, true);
        w.flush();
        saved.map(|()| r)
    }

    /// Apply `f` to the durable state (see `mutate_world`).
    #[allow(dead_code)]
    pub(crate) fn mutate<R>(&self, f: impl FnOnce(&mut DurableState) -> R) -> Result<R> {
        self.mutate_world(|w, _| f(&mut w.durable))
    }
}

/// The actor the demo's delivery pipeline is audited as.
pub const PIPELINE_ACTOR: &str = "system:pipeline";

/// Audit a release of the demo's delivery pipeline as `deployment.release` by
/// [`PIPELINE_ACTOR`], with `version.from`/`version.to`: succeeded, or refused naming
/// the locks that held it (once per target and version, not at every try).
fn audit_release(state: &mut state::DurableState, now: Timestamp, r: &world::Release) {
    let target = format!("{}@{}", r.service, r.cluster);
    let outcome = if r.held_by.is_empty() {
        Outcome::Succeeded
    } else {
        let told = state.audit.iter().rev().any(|a| {
            a.actor == PIPELINE_ACTOR
                && a.target == target
                && matches!(a.outcome, Outcome::Refused(_))
                && a.details.get("version.to") == Some(&r.to)
        });
        if told {
            return;
        }
        Outcome::Refused(format!(
            "locked by {}",
            crate::domain::holders_text(&r.held_by)
        ))
    };
    let id = state.append_audit(
        now,
        PIPELINE_ACTOR,
        "deployment.release",
        &target,
        Some(if r.held_by.is_empty() {
            "the delivery pipeline released a new version"
        } else {
            "the delivery pipeline held a new version back: the target is locked"
        }),
        outcome,
    );
    if let Some(rec) = state.audit.iter_mut().rev().find(|a| a.id == id) {
        rec.details.insert("version.from".into(), r.from.clone());
        rec.details.insert("version.to".into(), r.to.clone());
    }
}

/// Mutations behind the provider traits (and the secrets and flags actions to come).
#[allow(dead_code)]
impl Sim {
    /// Add a lock to its target's set; the other holders' locks there (see
    /// [`crate::domain::add_lock`]).
    pub(crate) fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        self.mutate(|s| crate::domain::add_lock(&mut s.locks, lock))
    }

    /// Remove the locks of `service` inside the given scope (`None` = any) held by
    /// `by` (`None`: every holder's): unlocking production removes
    /// production/eu-west-1, not a lock on every environment.
    pub(crate) fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        self.mutate(|s| crate::domain::remove_locks(&mut s.locks, service, env, region, by))
    }

    /// Append an audit record; ids increase across processes.
    pub(crate) fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        details: &Details,
        outcome: Outcome,
    ) -> Result<u64> {
        self.mutate_world(|w, now| {
            let started = outcome == Outcome::Started;
            let id = w
                .durable
                .append_audit(now, actor, action, target, reason, outcome);
            if let Some(r) = w.durable.audit.iter_mut().rev().find(|r| r.id == id) {
                r.details = details.clone();
            }
            // Whose it is, so that it becomes `interrupted` if this process dies
            // before it records the outcome.
            if started {
                w.durable.running.insert(id, state::Runner::this_process());
            }
            id
        })
    }

    /// Record the outcome of an audited action that was `Started`, adding `details`.
    pub(crate) fn set_audit_outcome(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<bool> {
        self.mutate(|s| {
            if outcome != Outcome::Started {
                s.running.remove(&id);
            }
            match s.audit.iter_mut().find(|r| r.id == id) {
                Some(r) => {
                    r.outcome = outcome;
                    r.details.extend(details.clone());
                    true
                }
                None => false,
            }
        })
    }

    pub(crate) fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        self.mutate(|s| s.freeze = freeze)
    }

    /// Set the version a deployment runs (rollback, or a deploy); the pods roll over on
    /// the next ticks. False when there is no such deployment.
    pub(crate) fn set_version(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
    ) -> Result<bool> {
        self.mutate_world(|w, now| {
            let Some(i) = w
                .durable
                .deployments
                .iter()
                .position(|d| d.service == service && &d.cluster == cluster)
            else {
                return false;
            };
            let (_, version) = w.durable.release(service, version);
            let d = &mut w.durable.deployments[i];
            d.version = version;
            d.updated_at = now;
            true
        })
    }

    /// Every released version of a service, oldest first.
    pub(crate) fn releases(&self, service: &str) -> Vec<String> {
        self.world()
            .durable
            .releases
            .get(service)
            .map(|r| r.iter().map(Name::to_string).collect())
            .unwrap_or_default()
    }

    /// `kubectl rollout restart`: every pod is replaced, one per tick.
    pub(crate) fn restart(&self, service: &str, cluster: &ClusterId) -> Result<bool> {
        self.mutate_world(|w, now| {
            match w
                .durable
                .deployments
                .iter_mut()
                .find(|d| d.service == service && &d.cluster == cluster)
            {
                Some(d) => {
                    d.restart_gen += 1;
                    d.updated_at = now;
                    true
                }
                None => false,
            }
        })
    }

    /// Patch an HPA's bounds; the deployment's replicas are clamped into them.
    pub(crate) fn set_hpa(
        &self,
        service: &str,
        cluster: &ClusterId,
        min: u32,
        max: u32,
    ) -> Result<bool> {
        self.mutate(|s| {
            let Some(h) = s
                .hpas
                .iter_mut()
                .find(|h| h.service == service && &h.cluster == cluster)
            else {
                return false;
            };
            h.min = min;
            h.max = max.max(min);
            if let Some(d) = s
                .deployments
                .iter_mut()
                .find(|d| d.service == service && &d.cluster == cluster)
            {
                d.desired = d.desired.clamp(min, max.max(min));
            }
            true
        })
    }

    /// Send a flag change to one cluster; it is pending until the cluster acknowledges.
    pub(crate) fn set_flag(
        &self,
        name: &str,
        cluster: &ClusterId,
        value: &str,
        percentage: u8,
    ) -> Result<bool> {
        self.mutate_world(|w, now| {
            match w
                .durable
                .flags
                .iter_mut()
                .find(|f| f.name == name && &f.cluster == cluster)
            {
                Some(f) => {
                    f.pending = Some(PendingFlag {
                        value: value.to_string(),
                        percentage: percentage.min(100),
                        sent_at: now,
                    });
                    true
                }
                None => false,
            }
        })
    }

    /// Create or update a secret in one region (a new version).
    pub(crate) fn put_secret(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<String> {
        let value = SecretValue(value.to_string());
        self.mutate_world(|w, now| {
            let vid = state::version_id(&mut w.rng);
            w.durable
                .secrets
                .put(service, env, region, key, value, vid.clone(), now, tags);
            vid
        })
    }

    pub(crate) fn delete_secret(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<bool> {
        self.mutate(|s| s.secrets.remove(service, env, region, key))
    }

    /// The value of one secret, for a deliberate (audited) reveal or a copy.
    pub(crate) fn secret_value(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Option<String> {
        self.world()
            .durable
            .secrets
            .value(service, env, region, key)
            .map(|v| v.0)
    }
}

/// The base catalog plus the entities of every registered descriptor, resolved
/// together (the first definition of an entity wins, as in any catalog).
fn with_registered(base: &Catalog, registered: &BTreeMap<String, String>) -> Catalog {
    let mut entities = base.entities().to_vec();
    let mut problems = base.problems.clone();
    for (location, text) in registered {
        let parsed = parse_documents(text, Path::new(location));
        entities.extend(parsed.entities);
        problems.extend(parsed.problems);
    }
    let mut catalog = resolve::build(entities, problems);
    // The base's problems are found again when resolving it a second time.
    let mut kept = Vec::with_capacity(catalog.problems.len());
    for p in std::mem::take(&mut catalog.problems) {
        if !kept.contains(&p) {
            kept.push(p);
        }
    }
    catalog.problems = kept;
    catalog
}

impl Sim {
    /// The catalog as served now: rebuilt when the registered descriptors changed.
    fn served_catalog(&self) -> Arc<Catalog> {
        let registered = self.world().durable.registered.clone();
        let mut served = self.inner.served.lock().unwrap_or_else(|e| e.into_inner());
        if served.0 != registered {
            let catalog = if registered.is_empty() {
                self.inner.catalog.clone()
            } else {
                Arc::new(with_registered(&self.inner.catalog, &registered))
            };
            *served = (registered, catalog);
        }
        served.1.clone()
    }

    /// The files of a template's skeleton, rendered with the form's values.
    fn template_files(
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let v = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
        let name = v("name");
        let mut files = BTreeMap::new();
        files.insert(
            "README.md".to_string(),
            format!(
                "# {name}\n\n{}\n\nCreated by sphere from the {template} template. Owner: {}.\n",
                v("description"),
                v("owner")
            ),
        );
        let (path, content) = match template {
            "node-service" => (
                "package.json",
                format!(
                    "{{\n  \"name\": \"{name}\",\n  \"version\": \"0.1.0\",\n  \"private\": true\n}}\n"
                ),
            ),
            "python-worker" => (
                "pyproject.toml",
                format!("[project]\nname = \"{name}\"\nversion = \"0.1.0\"\n"),
            ),
            _ => (
                "Cargo.toml",
                format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
            ),
        };
        files.insert(path.to_string(), content);
        files.insert(
            "deploy/values.yaml".to_string(),
            format!(
                "replicas: {}\ndatabase: {}\ncache: {}\n",
                v("replicas"),
                v("database"),
                v("cache")
            ),
        );
        files
    }
}

#[async_trait]
impl CatalogProvider for Sim {
    async fn load(&self) -> Result<Arc<Catalog>> {
        if let Err(e) = self.refresh() {
            tracing::warn!("demo state refresh failed: {e:#}");
        }
        Ok(self.served_catalog())
    }

    async fn register(&self, descriptor_yaml: &str, location: &str) -> Result<()> {
        self.remote_call(300).await;
        self.check_fault("register")?;
        let parsed = parse_documents(descriptor_yaml, Path::new(location));
        if let Some(p) = parsed
            .problems
            .iter()
            .find(|p| p.severity == Severity::Error)
        {
            anyhow::bail!("the descriptor at {location} is invalid: {}", p.reason);
        }
        if parsed.entities.is_empty() {
            anyhow::bail!("the descriptor at {location} has no entity");
        }
        if self
            .world()
            .durable
            .registered
            .get(location)
            .map(String::as_str)
            == Some(descriptor_yaml)
        {
            return Ok(());
        }
        self.mutate(|s| {
            s.registered
                .insert(location.to_string(), descriptor_yaml.to_string());
        })
    }
}

#[async_trait]
impl ClusterProvider for Sim {
    fn topology(&self) -> Topology {
        if let Err(e) = self.refresh() {
            tracing::warn!("demo state refresh failed: {e:#}");
        }
        self.world().topology.clone()
    }

    fn now(&self) -> Timestamp {
        Sim::now(self)
    }

    async fn environments(&self) -> Result<Vec<EphemeralEnv>> {
        self.readable()?;
        self.refresh()?;
        self.expire_due()?;
        Ok(self.world().durable.environments.clone())
    }

    async fn create_environment(&self, env: &EphemeralEnv) -> Result<usize> {
        self.check_fault("create_environment")?;
        Sim::create_environment(self, env)
    }

    async fn extend_environment(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        self.check_fault("extend_environment")?;
        Sim::extend_environment(self, name, expires_at)
    }

    async fn delete_environment(&self, name: &str) -> Result<usize> {
        self.check_fault("delete_environment")?;
        match Sim::delete_environment(self, name)? {
            Some(n) => Ok(n),
            None => anyhow::bail!("there is no ephemeral environment {name}"),
        }
    }

    async fn snapshot(&self, scope: &Scope) -> Result<ClusterSnapshot> {
        self.readable()?;
        Ok(self.world().snapshot(scope))
    }

    fn watch(&self) -> BoxStream<'static, ClusterEvent> {
        // The listing and the subscription under one lock, so no change falls between
        // them; the listing is handed to the stream as it is, its events built as they
        // are read, and later changes wait in the watcher's own queue (which merges
        // changes to one object when the reader falls behind).
        if let Some(problem) = &self.inner.unreadable {
            let unreachable: Vec<ClusterEvent> = self
                .world()
                .topology
                .clusters()
                .map(|cluster| ClusterEvent::Unreachable {
                    cluster,
                    error: problem.clone(),
                })
                .collect();
            // A watch stays open (its end means the platform is gone).
            return Box::pin(futures::stream::iter(unreachable).chain(futures::stream::pending()));
        }
        let queue = Arc::new(watch::WatchQueue::default());
        let listing = {
            let mut w = self.world();
            let listing = w.listing();
            w.watchers.push(queue.clone());
            listing
        };
        let updates =
            futures::stream::unfold(queue, |q| async move { q.next().await.map(|e| (e, q)) });
        Box::pin(futures::stream::iter(listing).chain(updates))
    }

    async fn pod_details(
        &self,
        cluster: &ClusterId,
        pod: &str,
    ) -> Result<crate::domain::pod::PodDetails> {
        Sim::pod_details(self, cluster, pod)
    }

    async fn events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<crate::domain::pod::PodEvent>> {
        Sim::pod_events(self, cluster, service, pod)
    }

    async fn logs(
        &self,
        cluster: &ClusterId,
        pod: &str,
        query: &crate::domain::pod::LogQuery,
    ) -> Result<BoxStream<'static, crate::domain::pod::LogLine>> {
        Sim::pod_logs(self, cluster, pod, query)
    }

    async fn restart(&self, service: &str, cluster: &ClusterId) -> Result<()> {
        self.check_fault("restart")?;
        if !Sim::restart(self, service, cluster)? {
            anyhow::bail!("{service} does not run in {cluster}");
        }
        Ok(())
    }

    async fn set_hpa(&self, service: &str, cluster: &ClusterId, min: u32, max: u32) -> Result<()> {
        self.check_fault("set_hpa")?;
        if !Sim::set_hpa(self, service, cluster, min, max)? {
            anyhow::bail!("{service} has no HPA in {cluster}");
        }
        Ok(())
    }

    async fn create_deployment(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
        replicas: u32,
    ) -> Result<()> {
        self.remote_call(150).await;
        self.check_fault("create_deployment")?;
        if !self.world().topology.has_cluster(cluster) {
            anyhow::bail!("there is no cluster {cluster}");
        }
        let exists = |d: &DurableState| {
            d.deployments
                .iter()
                .any(|x| x.service == service && &x.cluster == cluster)
        };
        if exists(&self.world().durable) {
            return Ok(());
        }
        self.mutate_world(|w, now| {
            if exists(&w.durable) {
                return;
            }
            let (service, version) = w.durable.release(service, version);
            w.durable.deployments.push(state::DeploymentRec {
                service,
                cluster: cluster.clone(),
                version,
                desired: replicas,
                restart_gen: 0,
                updated_at: now,
            });
        })
    }
}

#[async_trait]
impl SecretsProvider for Sim {
    async fn list(&self, service: Option<&str>) -> Result<Vec<SecretMeta>> {
        self.readable()?;
        Ok(self.world().durable.secrets.metas(service))
    }

    async fn put(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: crate::domain::SecretValue,
    ) -> Result<()> {
        self.check_fault("put_secret")?;
        let tags = self.world().durable.secrets.standard_tags(service, env);
        self.put_secret(service, env, region, key, value.expose(), tags)?;
        Ok(())
    }

    async fn delete(&self, service: &str, env: &str, region: &str, key: &str) -> Result<()> {
        self.check_fault("delete_secret")?;
        if !self.delete_secret(service, env, region, key)? {
            anyhow::bail!("there is no secret {env}/{service}/{key} in {region}");
        }
        Ok(())
    }

    async fn reveal(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<crate::domain::SecretValue> {
        self.check_fault("reveal_secret")?;
        self.secret_value(service, env, region, key)
            .map(crate::domain::SecretValue::new)
            .ok_or_else(|| anyhow::anyhow!("there is no secret {env}/{service}/{key} in {region}"))
    }

    async fn copy(
        &self,
        service: &str,
        env: &str,
        key: &str,
        from_region: &str,
        to_region: &str,
    ) -> Result<()> {
        self.check_fault("copy_secret")?;
        let Some(value) = self.secret_value(service, env, from_region, key) else {
            anyhow::bail!("there is no secret {env}/{service}/{key} in {from_region}");
        };
        let tags = self.world().durable.secrets.standard_tags(service, env);
        self.put_secret(service, env, to_region, key, &value, tags)?;
        Ok(())
    }
}

#[async_trait]
impl ReposProvider for Sim {
    async fn repo(&self, slug: &str) -> Result<Option<RepoInfo>> {
        self.readable()?;
        Ok(self
            .world()
            .durable
            .repos
            .get(slug)
            .map(state::RepoRec::info))
    }

    async fn releases(&self, service: &str) -> Result<Vec<String>> {
        self.readable()?;
        self.refresh()?;
        Ok(Sim::releases(self, service))
    }

    async fn rollback(&self, service: &str, cluster: &ClusterId, version: &str) -> Result<()> {
        self.check_fault("rollback")?;
        if !self.set_version(service, cluster, version)? {
            anyhow::bail!("{service} does not run in {cluster}");
        }
        Ok(())
    }

    async fn create_from_template(
        &self,
        slug: &str,
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.remote_call(600).await;
        self.check_fault("create_repo")?;
        if self
            .world()
            .durable
            .repos
            .get(slug)
            .is_some_and(|r| r.exists)
        {
            return Ok(());
        }
        let files = Sim::template_files(template, values);
        self.mutate(|s| {
            if s.repos.get(slug).is_some_and(|r| r.exists) {
                return;
            }
            let slug_name = Name::from(slug);
            s.repos.insert(
                slug_name.clone(),
                state::RepoRec {
                    slug: slug_name,
                    exists: true,
                    default_branch: Name::new("main"),
                    workflows: Vec::new(),
                },
            );
            s.repo_files.insert(slug.to_string(), files);
        })
    }

    async fn write_file(&self, slug: &str, path: &str, content: &str) -> Result<bool> {
        self.remote_call(250).await;
        self.check_fault("write_file")?;
        let same = |s: &DurableState| {
            s.repo_files
                .get(slug)
                .and_then(|f| f.get(path))
                .is_some_and(|c| c == content)
        };
        if same(&self.world().durable) {
            return Ok(false);
        }
        self.mutate(|s| {
            if same(s) {
                return Ok(false);
            }
            let Some(repo) = s.repos.get_mut(slug).filter(|r| r.exists) else {
                anyhow::bail!("there is no repository {slug}");
            };
            if let Some(name) = path.strip_prefix(".github/workflows/")
                && !repo.workflows.iter().any(|w| w == name)
            {
                repo.workflows.push(Name::from(name));
            }
            s.repo_files
                .entry(slug.to_string())
                .or_default()
                .insert(path.to_string(), content.to_string());
            Ok(true)
        })?
    }

    async fn file(&self, slug: &str, path: &str) -> Result<Option<String>> {
        self.readable()?;
        self.refresh()?;
        Ok(self
            .world()
            .durable
            .repo_files
            .get(slug)
            .and_then(|f| f.get(path))
            .cloned())
    }
}

#[async_trait]
impl FlagsProvider for Sim {
    async fn list(&self) -> Result<Vec<FlagState>> {
        self.readable()?;
        Ok(self.world().durable.flags.clone())
    }

    async fn set(
        &self,
        name: &str,
        value: &str,
        percentage: Option<u8>,
        cluster: Option<&ClusterId>,
    ) -> Result<()> {
        self.check_fault("set_flag")?;
        let targets: Vec<(ClusterId, u8)> = self
            .world()
            .durable
            .flags
            .iter()
            .filter(|f| f.name == name && cluster.is_none_or(|c| &f.cluster == c))
            .map(|f| {
                let current = f.pending.as_ref().map_or(f.percentage, |p| p.percentage);
                (f.cluster.clone(), percentage.unwrap_or(current))
            })
            .collect();
        if targets.is_empty() {
            match cluster {
                Some(c) => anyhow::bail!("there is no flag {name} in {c}"),
                None => anyhow::bail!("there is no flag {name}"),
            }
        }
        for (c, pct) in &targets {
            self.set_flag(name, c, value, *pct)?;
        }
        Ok(())
    }
}

#[async_trait]
impl LedgerProvider for Sim {
    async fn locks(&self) -> Result<Vec<Lock>> {
        self.readable()?;
        self.refresh()?;
        Ok(self.world().durable.locks.clone())
    }

    async fn freeze(&self) -> Result<Freeze> {
        self.readable()?;
        self.refresh()?;
        Ok(self.world().durable.freeze.clone())
    }

    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        self.readable()?;
        self.refresh()?;
        let mut out: Vec<AuditRecord> = self
            .world()
            .durable
            .audit
            .iter()
            .filter(|r| since.is_none_or(|t| r.at >= t))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        self.check_fault("add_lock")?;
        Sim::add_lock(self, lock)
    }

    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        self.check_fault("remove_locks")?;
        Sim::remove_locks(self, service, env, region, by)
    }

    async fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        self.check_fault("set_freeze")?;
        Sim::set_freeze(self, freeze)
    }

    async fn append_audit_with(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        details: &Details,
        outcome: Outcome,
    ) -> Result<u64> {
        self.check_fault("append_audit")?;
        Sim::append_audit(self, actor, action, target, reason, details, outcome)
    }

    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()> {
        self.check_fault("set_audit_outcome")?;
        if !Sim::set_audit_outcome(self, id, outcome, details)? {
            anyhow::bail!("no audit record #{id}");
        }
        Ok(())
    }

    async fn request_access(&self, request: AccessRequest) -> Result<u64> {
        self.check_fault("request_access")?;
        // Under the state lock: the next id is read and taken in one step.
        self.mutate(|s| crate::domain::access::add_request(&mut s.access, request))
    }

    async fn access_requests(&self) -> Result<Vec<AccessRequest>> {
        self.readable()?;
        self.refresh()?;
        let mut out = self.world().durable.access.clone();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn decide_access(
        &self,
        id: u64,
        granted: bool,
        by: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<AccessRequest> {
        self.check_fault("decide_access")?;
        self.mutate(|s| {
            crate::domain::access::decide_request(&mut s.access, id, granted, by, expires_at)
        })?
    }
}
