//! The catalog's row model: one row per Component, with its live status across the
//! clusters in scope. Rows are built when data arrives, never per frame.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::catalog::{Catalog, Entity, Kind, RelationKind};
use super::name::Name;
use super::platform::{ClusterEvent, ClusterId, PodPhase, RolloutState, Scope, Timestamp};
use super::text::sanitize;

/// One Component as the catalog table shows it. Every string is already sanitised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRow {
    pub name: Name,
    pub owner: Name,
    pub system: Name,
    #[serde(rename = "type")]
    pub spec_type: Name,
    pub lifecycle: Name,
    pub description: Name,
    /// Lower-cased `name owner system type` for the fuzzy filter.
    #[serde(skip)]
    pub haystack: String,
    pub live: LiveStatus,
}

/// What is running for one service in the clusters in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveStatus {
    /// Regions (in scope) where the service has a deployment, in topology order.
    pub regions: Vec<Name>,
    pub deployments: u32,
    pub desired: u32,
    pub ready: u32,
    pub rolling: u32,
    pub stalled: u32,
    pub crash_looping: u32,
    /// Deployments coming up for the first time (an ephemeral environment's copies, say)
    /// left out of the counts above: across environments they are not the service
    /// rolling out (see [`LiveState::status`]).
    pub starting: u32,
}

/// The single word the table shows for a service's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Nothing deployed in scope.
    Absent,
    Healthy,
    Rolling,
    Degraded,
    CrashLoop,
}

impl LiveStatus {
    pub fn health(&self) -> Health {
        if self.deployments == 0 {
            Health::Absent
        } else if self.crash_looping > 0 {
            Health::CrashLoop
        } else if self.stalled > 0 || self.ready < self.desired && self.rolling == 0 {
            Health::Degraded
        } else if self.rolling > 0 {
            Health::Rolling
        } else {
            Health::Healthy
        }
    }
}

/// Build the rows for every Component of the catalog, in catalog order.
pub fn rows_from_catalog(catalog: &Catalog) -> Vec<ServiceRow> {
    catalog
        .of_kind(&Kind::Component)
        .map(row_for_entity)
        .collect()
}

/// `n` made safe to draw: `n` itself (shared) when it is already.
fn safe(n: &Name) -> Name {
    match sanitize(n) {
        Cow::Borrowed(_) => n.clone(),
        Cow::Owned(s) => Name::from(s),
    }
}

fn row_for_entity(e: &Entity) -> ServiceRow {
    let empty = || Name::new("");
    let name = safe(&e.name);
    let owner = e.owner.as_ref().map_or_else(empty, |r| safe(&r.name));
    let system = e
        .part_of
        .as_ref()
        .or_else(|| e.related(RelationKind::PartOf).next())
        .map_or_else(empty, |r| safe(&r.name));
    let spec_type = e.spec_type.as_ref().map_or_else(empty, safe);
    let lifecycle = e.lifecycle.as_ref().map_or_else(empty, safe);
    let description = e.description.as_ref().map_or_else(empty, safe);
    let haystack = format!("{name} {owner} {system} {spec_type}").to_lowercase();
    ServiceRow {
        name,
        owner,
        system,
        spec_type,
        lifecycle,
        description,
        haystack,
        live: LiveStatus::default(),
    }
}

/// Interned strings: one allocation per distinct string, shared by every record that
/// names it (versions, nodes, reasons); ids are indices.
#[derive(Debug, Default)]
struct Names {
    list: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

/// "No string" in an id slot.
const NONE: u32 = u32::MAX;

impl Names {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let a: Arc<str> = Arc::from(s);
        let id = self.list.len() as u32;
        self.list.push(a.clone());
        self.ids.insert(a, id);
        id
    }

    fn intern_opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.intern(s))
    }

    fn get(&self, id: u32) -> &str {
        self.list.get(id as usize).map_or("", |s| &**s)
    }

    fn get_opt(&self, id: u32) -> Option<&str> {
        (id != NONE).then(|| self.get(id))
    }
}

/// A deployment, compactly: its service and cluster are where it is stored, its version
/// an interned id.
#[derive(Debug, Clone, Copy)]
struct Dep {
    version: u32,
    desired: u32,
    ready: u32,
    updated: u32,
    rollout: RolloutState,
    updated_at: Timestamp,
}

/// An HPA's numbers (its service and cluster are where it is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HpaRow {
    pub min: u32,
    pub max: u32,
    pub current: u32,
    pub target_cpu: u32,
    pub current_cpu: Option<u32>,
}

/// What one service has in one cluster.
#[derive(Debug, Clone, Copy)]
struct Slot {
    cluster: u16,
    /// Crash-looping pods, kept in step with the pods.
    crash: u32,
    dep: Option<Dep>,
    hpa: Option<HpaRow>,
    /// Has its deployment been seen complete (since it appeared)? Until then, with no
    /// ready replica beyond the updated ones, it is coming up, not rolling out.
    seen_complete: bool,
}

impl Slot {
    /// Is its deployment coming up for the first time (a new service's, an ephemeral
    /// environment's copy) rather than replacing running replicas: progressing, never
    /// seen complete, and nothing ready but replicas of the wanted version?
    fn coming_up(&self) -> bool {
        self.dep.is_some_and(|d| {
            d.rollout == RolloutState::Progressing && !self.seen_complete && d.ready <= d.updated
        })
    }
}

/// A pod, compactly (40 bytes): the strings it shares with other pods are interned ids,
/// its service is the one it is stored under, its name a range of the service's
/// `pod_names` (a name of its own allocation was 16 bytes here and 48 on the heap).
#[derive(Debug, Clone)]
struct PodRec {
    /// Where its name starts in its service's `pod_names`, and its length.
    name_at: u32,
    name_len: u32,
    started_at: Timestamp,
    restarts: u32,
    node: u32,
    version: u32,
    waiting: u32,
    last_termination: u32,
    cluster: u16,
    phase: PodPhase,
    ready: bool,
}

/// What runs for one service: per cluster (sorted by cluster), and its pods (sorted by
/// cluster, then name).
#[derive(Debug, Default, Clone)]
struct ServiceLive {
    name: Arc<str>,
    slots: Vec<Slot>,
    pods: Vec<PodRec>,
    /// The pods' names, one after another (a replaced pod keeps its name's place; a
    /// deleted one leaves its bytes until `dead` is half of it, then it is rewritten).
    pod_names: String,
    /// Bytes of `pod_names` no pod refers to any more.
    dead: usize,
}

impl ServiceLive {
    fn pod_name(&self, p: &PodRec) -> &str {
        let at = p.name_at as usize;
        self.pod_names
            .get(at..at + p.name_len as usize)
            .unwrap_or("")
    }

    /// Keep `name` in `pod_names`; where it starts.
    fn push_name(&mut self, name: &str, want: usize) -> u32 {
        if self.pod_names.capacity() == 0 {
            // Room for the names of every replica its deployments want (named alike),
            // so the text is made once instead of growing by doubling.
            self.pod_names.reserve_exact(want.max(1) * name.len());
        }
        let at = self.pod_names.len();
        self.pod_names.push_str(name);
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// Forget the name of a removed pod; rewrite the names once half are dead.
    fn drop_name(&mut self, len: u32) {
        self.dead += len as usize;
        if self.dead * 2 < self.pod_names.len() {
            return;
        }
        let mut names = String::with_capacity(self.pod_names.len() - self.dead);
        for p in &mut self.pods {
            let at = p.name_at as usize;
            let name = self
                .pod_names
                .get(at..at + p.name_len as usize)
                .unwrap_or("");
            p.name_at = u32::try_from(names.len()).unwrap_or(u32::MAX);
            names.push_str(name);
        }
        self.pod_names = names;
        self.dead = 0;
    }
}

/// Summaries of everything running, indexed for incremental updates. Holds only compact
/// summaries: service, cluster, version, node and reason strings are stored once, a pod
/// is about 48 bytes and its name.
#[derive(Debug, Default)]
pub struct LiveState {
    clusters: Vec<ClusterId>,
    cluster_ids: HashMap<ClusterId, u16>,
    names: Names,
    services: Vec<ServiceLive>,
    service_ids: HashMap<Arc<str>, u32>,
    /// A 32-bit hash of (cluster, pod name) to the service the pod is stored under
    /// (9 bytes a pod with the table's control byte; a 64-bit hash was 17: 0.5 MB at
    /// 50,000 pods). Some 0.3 pairs of live pods are expected to share a hash at 50,000
    /// pods, 29 at 500,000 (the birthday bound); the second of a pair goes to
    /// `pod_spill`.
    pod_index: HashMap<u32, u32>,
    /// Pods whose hash collided with another live pod's (almost always empty).
    pod_spill: HashMap<(u16, Box<str>), u32>,
    hasher: std::collections::hash_map::RandomState,
    pod_count: usize,
    /// Clusters that reported an error, with the error.
    pub unreachable: BTreeMap<ClusterId, String>,
    /// Clusters whose initial listing is complete.
    pub synced: Vec<ClusterId>,
}

/// One deployment, as the panes read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentRow<'a> {
    pub service: &'a str,
    pub cluster: &'a ClusterId,
    /// The version (image tag) the deployment wants.
    pub version: &'a str,
    pub desired: u32,
    pub ready: u32,
    /// Replicas already on `version`.
    pub updated: u32,
    pub rollout: RolloutState,
    pub updated_at: Timestamp,
}

/// One pod, as the panes read it: the fields of a [`PodSummary`](super::platform::PodSummary), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodRow<'a> {
    pub name: &'a str,
    pub service: &'a str,
    pub cluster: &'a ClusterId,
    pub phase: PodPhase,
    pub ready: bool,
    pub restarts: u32,
    pub started_at: Timestamp,
    pub node: &'a str,
    pub version: &'a str,
    /// A container's waiting reason, such as `CrashLoopBackOff`.
    pub waiting: Option<&'a str>,
    /// The reason the last container instance ended (`OOMKilled`, `Error`).
    pub last_termination: Option<&'a str>,
}

impl PodRow<'_> {
    pub fn crash_looping(&self) -> bool {
        self.waiting == Some(CRASH_LOOP)
    }
}

const CRASH_LOOP: &str = "CrashLoopBackOff";

/// One service's live data (see [`LiveState::service`]).
#[derive(Clone, Copy)]
pub struct ServiceView<'a> {
    live: &'a LiveState,
    s: &'a ServiceLive,
}

impl<'a> ServiceView<'a> {
    pub fn name(&self) -> &'a str {
        &self.s.name
    }

    fn row(&self, slot: &'a Slot, d: &Dep) -> DeploymentRow<'a> {
        DeploymentRow {
            service: &self.s.name,
            cluster: &self.live.clusters[slot.cluster as usize],
            version: self.live.names.get(d.version),
            desired: d.desired,
            ready: d.ready,
            updated: d.updated,
            rollout: d.rollout,
            updated_at: d.updated_at,
        }
    }

    /// Its deployments, in cluster order.
    pub fn deployments(&self) -> impl Iterator<Item = DeploymentRow<'a>> + 'a {
        let v = *self;
        self.s
            .slots
            .iter()
            .filter_map(move |slot| slot.dep.map(|d| v.row(slot, &d)))
    }

    fn slot(&self, cluster: &ClusterId) -> Option<&'a Slot> {
        let &c = self.live.cluster_ids.get(cluster)?;
        self.s.slots.iter().find(|s| s.cluster == c)
    }

    pub fn deployment(&self, cluster: &ClusterId) -> Option<DeploymentRow<'a>> {
        let slot = self.slot(cluster)?;
        slot.dep.map(|d| self.row(slot, &d))
    }

    pub fn hpa(&self, cluster: &ClusterId) -> Option<HpaRow> {
        self.slot(cluster)?.hpa
    }

    /// Crash-looping pods in one cluster.
    pub fn crash_loops(&self, cluster: &ClusterId) -> u32 {
        self.slot(cluster).map_or(0, |s| s.crash)
    }

    /// Do the regions of `env` run different versions?
    pub(crate) fn drifted_in(&self, env: &str) -> bool {
        let mut first = None;
        for slot in &self.s.slots {
            let Some(d) = slot.dep else { continue };
            if self.live.clusters[slot.cluster as usize].env != env {
                continue;
            }
            match first {
                None => first = Some(d.version),
                Some(v) if v != d.version => return true,
                Some(_) => {}
            }
        }
        false
    }

    /// Is the deployment in `cluster` the odd one of its environment: a version most
    /// of the environment's regions do not run (in a tie, every version is odd)?
    pub(crate) fn odd_in(&self, cluster: &ClusterId) -> bool {
        let rows: Vec<_> = (*self)
            .deployments()
            .filter(|d| d.cluster.env == cluster.env)
            .collect();
        let Some(mine) = rows
            .iter()
            .find(|d| d.cluster == cluster)
            .map(|d| d.version)
        else {
            return false;
        };
        let count = |v: &str| rows.iter().filter(|d| d.version == v).count();
        let most = rows.iter().map(|d| count(d.version)).max().unwrap_or(0);
        let mut leaders: Vec<&str> = (rows.iter())
            .map(|d| d.version)
            .filter(|v| count(v) == most)
            .collect();
        leaders.dedup();
        leaders.sort_unstable();
        leaders.dedup();
        count(mine) < most || leaders.len() > 1
    }

    /// Its pods in a scope, in (cluster, name) order.
    pub fn pods(self, scope: &'a Scope) -> impl Iterator<Item = PodRow<'a>> + 'a {
        let v = self;
        self.s
            .pods
            .iter()
            .filter(move |p| scope.contains(&v.live.clusters[p.cluster as usize]))
            .map(move |p| v.live.pod_row(v.s, p))
    }
}

impl LiveState {
    /// Apply one watch event. Returns the service whose status may have changed.
    pub fn apply(&mut self, ev: ClusterEvent) -> Option<String> {
        match ev {
            ClusterEvent::Deployment(d) => {
                self.unreachable.remove(&d.cluster);
                let c = self.cluster_id(&d.cluster);
                let version = self.names.intern(&d.version);
                let si = self.service_id(&d.service);
                let dep = Dep {
                    version,
                    desired: d.desired,
                    ready: d.ready,
                    updated: d.updated,
                    rollout: d.rollout,
                    updated_at: d.updated_at,
                };
                let slot = self.slot_mut(si, c);
                slot.seen_complete |= d.rollout == RolloutState::Complete;
                slot.dep = Some(dep);
                Some(d.service)
            }
            ClusterEvent::DeploymentDeleted { cluster, service } => {
                if let (Some(&c), Some(&si)) = (
                    self.cluster_ids.get(&cluster),
                    self.service_ids.get(service.as_str()),
                ) {
                    let s = &mut self.services[si as usize];
                    if let Some(slot) = s.slots.iter_mut().find(|x| x.cluster == c) {
                        slot.dep = None;
                        // One made again later comes up afresh.
                        slot.seen_complete = false;
                    }
                }
                Some(service)
            }
            ClusterEvent::Hpa(h) => {
                let c = self.cluster_id(&h.cluster);
                let si = self.service_id(&h.service);
                self.slot_mut(si, c).hpa = Some(HpaRow {
                    min: h.min,
                    max: h.max,
                    current: h.current,
                    target_cpu: h.target_cpu,
                    current_cpu: h.current_cpu,
                });
                None
            }
            ClusterEvent::Pod(p) => {
                let now = p.crash_looping();
                let c = self.cluster_id(&p.cluster);
                let si = match self.find_pod(c, &p.name) {
                    // A pod does not move between services; if a watch says it did,
                    // forget the old one first.
                    Some((si, _)) if *self.services[si as usize].name != *p.service => {
                        self.remove_pod(c, &p.name);
                        self.service_id(&p.service)
                    }
                    Some((si, _)) => si,
                    None => self.service_id(&p.service),
                };
                let rec = PodRec {
                    node: self.names.intern(&p.node),
                    version: self.names.intern(&p.version),
                    waiting: self.names.intern_opt(p.waiting.as_deref()),
                    last_termination: self.names.intern_opt(p.last_termination.as_deref()),
                    // Set where it is stored (`upsert_pod`).
                    name_at: 0,
                    name_len: u32::try_from(p.name.len()).unwrap_or(u32::MAX),
                    started_at: p.started_at,
                    restarts: p.restarts,
                    cluster: c,
                    phase: p.phase,
                    ready: p.ready,
                };
                let was = self.upsert_pod(si, rec, &p.name);
                if now == was {
                    return None;
                }
                self.adjust_crash(si, c, now);
                Some(p.service)
            }
            ClusterEvent::PodDeleted { cluster, name } => {
                let &c = self.cluster_ids.get(&cluster)?;
                let (si, was) = self.remove_pod(c, &name)?;
                if !was {
                    return None;
                }
                self.adjust_crash(si, c, false);
                Some(self.services[si as usize].name.to_string())
            }
            ClusterEvent::Synced(c) => {
                if !self.synced.contains(&c) {
                    self.synced.push(c);
                }
                None
            }
            ClusterEvent::Unreachable { cluster, error } => {
                self.unreachable
                    .insert(cluster, sanitize(&error).into_owned());
                None
            }
            // The topology's and the clock's business (the model keeps them).
            ClusterEvent::Environment(_)
            | ClusterEvent::EnvironmentDeleted { .. }
            | ClusterEvent::Clock(_) => None,
        }
    }

    fn cluster_id(&mut self, c: &ClusterId) -> u16 {
        if let Some(&id) = self.cluster_ids.get(c) {
            return id;
        }
        let id = u16::try_from(self.clusters.len()).unwrap_or(u16::MAX);
        self.clusters.push(c.clone());
        self.cluster_ids.insert(c.clone(), id);
        id
    }

    fn service_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.service_ids.get(name) {
            return id;
        }
        let a: Arc<str> = Arc::from(name);
        let id = self.services.len() as u32;
        self.services.push(ServiceLive {
            name: a.clone(),
            ..ServiceLive::default()
        });
        self.service_ids.insert(a, id);
        id
    }

    /// The slot of a service in a cluster, made when missing (slots stay in cluster order).
    fn slot_mut(&mut self, si: u32, c: u16) -> &mut Slot {
        let clusters = &self.clusters;
        let slots = &mut self.services[si as usize].slots;
        let i = match slots
            .binary_search_by(|s| clusters[s.cluster as usize].cmp(&clusters[c as usize]))
        {
            Ok(i) => i,
            Err(i) => {
                // One more at a time: a service runs in a handful of clusters, and a
                // list grown by doubling keeps (or, shrunk, leaves behind) the unused
                // half of its last block.
                slots.reserve_exact(1);
                slots.insert(
                    i,
                    Slot {
                        cluster: c,
                        crash: 0,
                        dep: None,
                        hpa: None,
                        seen_complete: false,
                    },
                );
                i
            }
        };
        &mut slots[i]
    }

    fn adjust_crash(&mut self, si: u32, c: u16, up: bool) {
        let n = &mut self.slot_mut(si, c).crash;
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
    }

    fn pod_hash(&self, c: u16, name: &str) -> u32 {
        use std::hash::BuildHasher;
        // The low half of the hash: the index's key, not a fingerprint (a lookup
        // checks the name itself).
        self.hasher.hash_one((c, name)) as u32
    }

    /// Where a pod is stored: its service and its position among the service's pods.
    fn find_pod(&self, c: u16, name: &str) -> Option<(u32, usize)> {
        let si = if !self.pod_spill.is_empty()
            && let Some(&si) = self.pod_spill.get(&(c, Box::from(name)))
        {
            si
        } else {
            *self.pod_index.get(&self.pod_hash(c, name))?
        };
        let i = self.pod_pos(si, c, name).ok()?;
        Some((si, i))
    }

    /// The position of (cluster, name) among a service's pods, or where it would go.
    fn pod_pos(&self, si: u32, c: u16, name: &str) -> Result<usize, usize> {
        let clusters = &self.clusters;
        let key = &clusters[c as usize];
        let s = &self.services[si as usize];
        s.pods.binary_search_by(|p| {
            clusters[p.cluster as usize]
                .cmp(key)
                .then_with(|| s.pod_name(p).cmp(name))
        })
    }

    /// Insert or replace pod `name` of service `si`; whether the one it replaced
    /// crash-looped.
    fn upsert_pod(&mut self, si: u32, mut rec: PodRec, name: &str) -> bool {
        let (c, crash_id) = (rec.cluster, self.names.ids.get(CRASH_LOOP).copied());
        match self.pod_pos(si, c, name) {
            Ok(i) => {
                let pods = &mut self.services[si as usize].pods;
                // The same name: its place in `pod_names` is kept.
                (rec.name_at, rec.name_len) = (pods[i].name_at, pods[i].name_len);
                let old = std::mem::replace(&mut pods[i], rec);
                crash_id.is_some_and(|id| old.waiting == id)
            }
            Err(i) => {
                let h = self.pod_hash(c, name);
                match self.pod_index.entry(h) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(si);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {
                        self.pod_spill.insert((c, Box::from(name)), si);
                    }
                }
                let s = &mut self.services[si as usize];
                // Every replica its deployments want.
                let want: usize = s
                    .slots
                    .iter()
                    .filter_map(|x| x.dep.map(|d| d.desired as usize))
                    .sum();
                if s.pods.capacity() == 0 {
                    // The service's first pod: room for all of them, so the list is
                    // made once instead of growing by doubling.
                    s.pods.reserve_exact(want.max(1));
                }
                rec.name_at = s.push_name(name, want);
                s.pods.insert(i, rec);
                self.pod_count += 1;
                false
            }
        }
    }

    /// Forget a pod; its service and whether it crash-looped.
    fn remove_pod(&mut self, c: u16, name: &str) -> Option<(u32, bool)> {
        let (si, i) = self.find_pod(c, name)?;
        let s = &mut self.services[si as usize];
        let old = s.pods.remove(i);
        s.drop_name(old.name_len);
        if self.pod_spill.remove(&(c, Box::from(name))).is_none() {
            self.pod_index.remove(&self.pod_hash(c, name));
        }
        self.pod_count -= 1;
        Some((si, self.names.get_opt(old.waiting) == Some(CRASH_LOOP)))
    }

    fn pod_row<'a>(&'a self, s: &'a ServiceLive, p: &'a PodRec) -> PodRow<'a> {
        PodRow {
            name: s.pod_name(p),
            service: &s.name,
            cluster: &self.clusters[p.cluster as usize],
            phase: p.phase,
            ready: p.ready,
            restarts: p.restarts,
            started_at: p.started_at,
            node: self.names.get(p.node),
            version: self.names.get(p.version),
            waiting: self.names.get_opt(p.waiting),
            last_termination: self.names.get_opt(p.last_termination),
        }
    }

    /// Give back the room left over by a bulk load (the initial listing): every list
    /// grew one element at a time.
    pub fn shrink_to_fit(&mut self) {
        for s in &mut self.services {
            s.slots.shrink_to_fit();
            s.pods.shrink_to_fit();
            s.pod_names.shrink_to_fit();
        }
        self.services.shrink_to_fit();
        self.names.list.shrink_to_fit();
    }

    /// How many pods are known.
    pub fn pod_count(&self) -> usize {
        self.pod_count
    }

    /// Every service with live data, in no particular order.
    pub fn services(&self) -> impl Iterator<Item = ServiceView<'_>> + '_ {
        self.services
            .iter()
            .map(move |s| ServiceView { live: self, s })
    }

    /// One service's live data.
    pub fn service(&self, name: &str) -> Option<ServiceView<'_>> {
        let &si = self.service_ids.get(name)?;
        Some(ServiceView {
            live: self,
            s: &self.services[si as usize],
        })
    }

    /// One pod.
    pub fn pod(&self, cluster: &ClusterId, name: &str) -> Option<PodRow<'_>> {
        let &c = self.cluster_ids.get(cluster)?;
        let (si, i) = self.find_pod(c, name)?;
        let s = &self.services[si as usize];
        Some(self.pod_row(s, &s.pods[i]))
    }

    /// One service's pods in a scope, in (cluster, name) order.
    pub fn pods_of<'a>(
        &'a self,
        service: &str,
        scope: &'a Scope,
    ) -> impl Iterator<Item = PodRow<'a>> + 'a {
        self.service(service)
            .into_iter()
            .flat_map(move |s| s.pods(scope))
    }

    /// The live status of one service within a scope, regions in `region_order`.
    ///
    /// Across environments (no environment in scope), deployments coming up for the
    /// first time (an ephemeral environment being made, see `Slot::coming_up`) are
    /// counted in `starting` only, so a service running fine elsewhere does not read
    /// "rolling" while a copy of it comes up; they count as usual when the scope is
    /// their environment, or when nothing else of the service is in scope (a new
    /// service's first deploy).
    pub fn status(&self, service: &str, scope: &Scope, region_order: &[String]) -> LiveStatus {
        let mut st = LiveStatus::default();
        let Some(live) = self.service(service) else {
            return st;
        };
        let in_scope = |slot: &Slot| {
            slot.dep.is_some() && scope.contains(&self.clusters[slot.cluster as usize])
        };
        let set_aside = scope.env.is_none()
            && live
                .s
                .slots
                .iter()
                .any(|slot| in_scope(slot) && !slot.coming_up());
        let mut present: Vec<Option<&Name>> = vec![None; region_order.len()];
        for slot in &live.s.slots {
            let Some(d) = slot.dep else { continue };
            let cluster = &self.clusters[slot.cluster as usize];
            if !scope.contains(cluster) {
                continue;
            }
            if set_aside && slot.coming_up() {
                st.starting += 1;
                continue;
            }
            st.deployments += 1;
            st.desired += d.desired;
            st.ready += d.ready;
            match d.rollout {
                RolloutState::Complete => {}
                RolloutState::Progressing => st.rolling += 1,
                RolloutState::Stalled => st.stalled += 1,
            }
            if let Some(i) = region_order.iter().position(|r| cluster.region == *r) {
                present[i] = Some(&cluster.region);
            }
            st.crash_looping += slot.crash;
        }
        st.regions = present.into_iter().flatten().cloned().collect();
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::platform::{DeploymentSummary, PodSummary};

    fn dep(svc: &str, env: &str, region: &str, desired: u32, ready: u32) -> ClusterEvent {
        ClusterEvent::Deployment(DeploymentSummary {
            service: svc.into(),
            cluster: ClusterId::new(env, region),
            version: "1.0.0".into(),
            desired,
            ready,
            updated: desired,
            rollout: RolloutState::Complete,
            updated_at: 0,
        })
    }

    fn pod(svc: &str, name: &str, crash: bool) -> ClusterEvent {
        ClusterEvent::Pod(PodSummary {
            name: name.into(),
            service: svc.into(),
            cluster: ClusterId::new("production", "eu-west-1"),
            phase: PodPhase::Running,
            ready: !crash,
            restarts: 0,
            started_at: 0,
            node: "n1".into(),
            version: "1.0.0".into(),
            waiting: crash.then(|| "CrashLoopBackOff".to_string()),
            last_termination: None,
        })
    }

    #[test]
    fn a_pod_whose_hash_is_taken_is_found_through_the_spill() {
        let mut live = LiveState::default();
        let cluster = ClusterId::new("production", "eu-west-1");
        live.apply(pod("cart", "cart-a", false));
        let c = live.cluster_ids[&cluster];
        // As if another live pod (of "cart") had the hash of "pay-b" already.
        let taken = live.pod_hash(c, "pay-b");
        live.pod_index.insert(taken, 0);
        live.apply(pod("pay", "pay-b", true));
        assert_eq!(live.pod_spill.len(), 1, "the second of the pair is spilled");
        let found = live
            .pod(&cluster, "pay-b")
            .map(|p| (p.service, p.crash_looping()));
        assert_eq!(found, Some(("pay", true)));
        assert_eq!(
            live.pod(&cluster, "cart-a").map(|p| p.service),
            Some("cart")
        );
        // Replaced through the spill, then deleted.
        live.apply(pod("pay", "pay-b", false));
        assert_eq!(live.pod_count(), 2);
        let was = live.apply(ClusterEvent::PodDeleted {
            cluster: cluster.clone(),
            name: "pay-b".into(),
        });
        assert_eq!(was, None, "it no longer crash-looped");
        assert!(live.pod(&cluster, "pay-b").is_none());
        assert!(live.pod_spill.is_empty());
        assert_eq!(live.pod_count(), 1);
        assert!(live.pod(&cluster, "cart-a").is_some());
    }

    #[test]
    fn pod_names_survive_churn_and_their_text_is_rewritten_when_half_is_dead() {
        let mut live = LiveState::default();
        live.apply(dep("cart", "production", "eu-west-1", 40, 40));
        let cluster = ClusterId::new("production", "eu-west-1");
        let name = |i: usize| format!("cart-5d8f9c7b6d-{i:05}");
        for i in 0..40 {
            live.apply(pod("cart", &name(i), false));
        }
        // Replaced (the same name, now crash-looping): its name is kept, not added.
        live.apply(pod("cart", &name(8), true));
        let text = |live: &LiveState| live.services[0].pod_names.len();
        assert_eq!(text(&live), 40 * name(0).len());
        // Deleted, most of them, out of order.
        for i in (0..40).filter(|i| i % 5 != 2) {
            let deleted = live.apply(ClusterEvent::PodDeleted {
                cluster: cluster.clone(),
                name: name(i),
            });
            assert_eq!(deleted.is_some(), i == 8, "only the crash loop ends: {i}");
        }
        assert_eq!(live.pod_count(), 8);
        for i in 0..40 {
            let found = live.pod(&cluster, &name(i)).map(|p| p.name.to_string());
            assert_eq!(found, (i % 5 == 2).then(|| name(i)), "pod {i}");
        }
        let scope = Scope::default();
        let names: Vec<String> = live
            .service("cart")
            .map(|v| v.pods(&scope).map(|p| p.name.to_string()).collect())
            .unwrap_or_default();
        let want: Vec<String> = (0..40).filter(|i| i % 5 == 2).map(name).collect();
        assert_eq!(names, want, "in name order");
        // At most twice what the live pods' names need.
        assert!(
            text(&live) <= 2 * 8 * name(0).len(),
            "{} bytes",
            text(&live)
        );
        // New pods after the rewrite are found too.
        live.apply(pod("cart", "cart-5d8f9c7b6d-zzzzz", false));
        assert!(live.pod(&cluster, "cart-5d8f9c7b6d-zzzzz").is_some());
        assert!(live.pod(&cluster, &name(12)).is_some());
    }

    fn regions() -> Vec<String> {
        vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ]
    }

    fn progressing(
        svc: &str,
        env: &str,
        region: &str,
        desired: u32,
        ready: u32,
        updated: u32,
    ) -> ClusterEvent {
        ClusterEvent::Deployment(DeploymentSummary {
            service: svc.into(),
            cluster: ClusterId::new(env, region),
            version: "1.0.0".into(),
            desired,
            ready,
            updated,
            rollout: RolloutState::Progressing,
            updated_at: 0,
        })
    }

    /// While an ephemeral environment made from production comes up, its services read
    /// as they run elsewhere across environments (not "rolling"), rolling in the
    /// environment's own scope; a real rollout still reads rolling.
    #[test]
    fn an_environment_coming_up_does_not_make_its_services_read_rolling() {
        let all = Scope::default();
        let pr = Scope {
            env: Some("pr-1".into()),
            region: None,
        };
        let mut s = LiveState::default();
        s.apply(dep("pay", "production", "eu-west-1", 3, 3));
        s.apply(dep("pay", "production", "us-east-1", 3, 3));
        // The copy in pr-1 appears with nothing yet, then its first pods come up.
        s.apply(progressing("pay", "pr-1", "eu-west-1", 3, 0, 0));
        s.apply(progressing("pay", "pr-1", "us-east-1", 3, 1, 2));
        let st = s.status("pay", &all, &regions());
        assert_eq!(st.health(), Health::Healthy, "{st:?}");
        assert_eq!((st.ready, st.desired, st.deployments), (6, 6, 2));
        assert_eq!((st.rolling, st.starting), (0, 2));
        let st = s.status("pay", &pr, &regions());
        assert_eq!(st.health(), Health::Rolling, "{st:?}");
        assert_eq!((st.ready, st.desired, st.rolling), (1, 6, 2));
        // Once up, a rollout there is a rollout everywhere it is in scope.
        s.apply(dep("pay", "pr-1", "us-east-1", 3, 3));
        s.apply(progressing("pay", "pr-1", "us-east-1", 3, 2, 2));
        assert_eq!(s.status("pay", &all, &regions()).health(), Health::Rolling);
        // A production rollout (running replicas being replaced) reads rolling.
        let mut s = LiveState::default();
        s.apply(progressing("cart", "production", "eu-west-1", 3, 3, 1));
        s.apply(dep("cart", "production", "us-east-1", 3, 3));
        assert_eq!(s.status("cart", &all, &regions()).health(), Health::Rolling);
        // A new service's first deploy (nothing else of it anywhere) reads rolling.
        s.apply(progressing("new", "dev", "eu-west-1", 1, 0, 1));
        let st = s.status("new", &all, &regions());
        assert_eq!((st.health(), st.starting), (Health::Rolling, 0));
    }

    #[test]
    fn status_aggregates_within_scope_and_orders_regions() {
        let mut s = LiveState::default();
        s.apply(dep("pay", "production", "eu-west-1", 3, 3));
        s.apply(dep("pay", "production", "us-east-1", 3, 2));
        s.apply(dep("pay", "dev", "ap-southeast-2", 1, 1));
        let all = s.status("pay", &Scope::default(), &regions());
        assert_eq!(all.deployments, 3);
        assert_eq!((all.desired, all.ready), (7, 6));
        assert_eq!(all.regions, regions());
        let prod = Scope {
            env: Some("production".into()),
            region: None,
        };
        let st = s.status("pay", &prod, &regions());
        assert_eq!(st.regions, vec!["us-east-1", "eu-west-1"]);
        assert_eq!(st.health(), Health::Degraded);
        assert_eq!(s.status("nope", &prod, &regions()).health(), Health::Absent);
    }

    #[test]
    fn crash_loop_counter_follows_pod_updates_and_deletes() {
        let mut s = LiveState::default();
        s.apply(dep("pay", "production", "eu-west-1", 2, 1));
        assert_eq!(s.apply(pod("pay", "p1", true)), Some("pay".into()));
        // The same state again changes nothing.
        assert_eq!(s.apply(pod("pay", "p1", true)), None);
        s.apply(pod("pay", "p2", false));
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).crash_looping,
            1
        );
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).health(),
            Health::CrashLoop
        );
        s.apply(pod("pay", "p1", false));
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).crash_looping,
            0
        );
        s.apply(pod("pay", "p2", true));
        s.apply(ClusterEvent::PodDeleted {
            cluster: ClusterId::new("production", "eu-west-1"),
            name: "p2".into(),
        });
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).crash_looping,
            0
        );
    }
}
