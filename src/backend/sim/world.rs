//! The live half of the demo platform: pods and rollout progress, kept in memory and
//! regenerated at open, converging towards the durable state like a controller would.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::state::{DurableState, FileStamp, K8S_ALPHABET, next_patch};
use super::watch::WatchQueue;
use crate::domain::{
    ClusterEvent, ClusterId, ClusterSnapshot, DeploymentSummary, HpaSummary, Lock, Name, PodPhase,
    PodSummary, RolloutState, Scope, Timestamp, Topology,
};

/// A release the demo's delivery pipeline made, or skipped because locks cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub service: String,
    pub cluster: ClusterId,
    pub from: String,
    pub to: String,
    /// The locks that held it (then nothing changed).
    pub held_by: Vec<Lock>,
}

/// A deployment: (cluster, service), as indices into the world's [`Names`]. Indices
/// are given in name order, so keys sort like the names they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub cluster: u16,
    pub service: u32,
}

/// The clusters and services the world knows, each stored once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    clusters: Vec<ClusterId>,
    cluster_ids: HashMap<ClusterId, u16>,
    services: Vec<Name>,
    service_ids: HashMap<Name, u32>,
    /// The versions pods run (a few per service, shared across services).
    versions: Vec<Name>,
    version_ids: HashMap<Name, u32>,
}

impl Names {
    /// Tables over these clusters and services, indices in name order.
    /// (The services' names are shared with whoever gave them.)
    fn new<'a>(
        clusters: impl IntoIterator<Item = ClusterId>,
        services: impl IntoIterator<Item = &'a Name>,
    ) -> Names {
        let mut n = Names::default();
        let clusters: BTreeSet<ClusterId> = clusters.into_iter().collect();
        for c in &clusters {
            n.cluster(c);
        }
        let services: BTreeSet<&Name> = services.into_iter().collect();
        for s in services {
            n.shared_service(s);
        }
        n
    }

    /// Every cluster with an index, in index order.
    pub(crate) fn clusters(&self) -> &[ClusterId] {
        &self.clusters
    }

    /// The index of a known cluster.
    pub(crate) fn find_cluster(&self, c: &ClusterId) -> Option<u16> {
        self.cluster_ids.get(c).copied()
    }

    /// The index of `c`, given one when it is new.
    pub(crate) fn cluster(&mut self, c: &ClusterId) -> u16 {
        if let Some(&i) = self.cluster_ids.get(c) {
            return i;
        }
        let i = u16::try_from(self.clusters.len()).unwrap_or(u16::MAX);
        self.clusters.push(c.clone());
        self.cluster_ids.insert(c.clone(), i);
        i
    }

    fn service(&mut self, s: &str) -> u32 {
        match self.service_ids.get(s) {
            Some(&i) => i,
            None => self.shared_service(&Name::from(s)),
        }
    }

    fn shared_service(&mut self, s: &Name) -> u32 {
        if let Some(&i) = self.service_ids.get(s.as_str()) {
            return i;
        }
        let i = self.services.len() as u32;
        self.services.push(s.clone());
        self.service_ids.insert(s.clone(), i);
        i
    }

    /// The key of (cluster, service), given indices when they are new.
    pub(crate) fn key(&mut self, cluster: &ClusterId, service: &str) -> Key {
        Key {
            cluster: self.cluster(cluster),
            service: self.service(service),
        }
    }

    /// The key of (cluster, service) when both are known.
    pub(crate) fn find(&self, cluster: &ClusterId, service: &str) -> Option<Key> {
        Some(Key {
            cluster: *self.cluster_ids.get(cluster)?,
            service: *self.service_ids.get(service)?,
        })
    }

    pub(crate) fn cluster_of(&self, k: Key) -> &ClusterId {
        &self.clusters[k.cluster as usize]
    }

    /// The id of version `v`, given one when it is new.
    pub(crate) fn version(&mut self, v: &str) -> u32 {
        if let Some(&i) = self.version_ids.get(v) {
            return i;
        }
        let n = Name::from(v);
        let i = self.versions.len() as u32;
        self.versions.push(n.clone());
        self.version_ids.insert(n, i);
        i
    }

    /// Version `id`'s shared name.
    #[cfg(test)]
    fn version_name(&self, id: u32) -> Name {
        self.versions
            .get(id as usize)
            .cloned()
            .unwrap_or_else(|| Name::new(""))
    }

    pub(crate) fn version_of(&self, id: u32) -> &str {
        self.versions.get(id as usize).map_or("", |v| v.as_str())
    }

    pub(crate) fn service_of(&self, k: Key) -> &Name {
        &self.services[k.service as usize]
    }
}

/// Why the last container instance of a pod ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Termination {
    Error,
    OomKilled,
}

impl Termination {
    fn as_str(self) -> &'static str {
        match self {
            Termination::Error => "Error",
            Termination::OomKilled => "OOMKilled",
        }
    }
}

const NO_NODE: u32 = u32::MAX;
const FALLBACK_NODE: &str = "ip-10-0-0-1.ec2.internal";

/// A pod, compactly: its service and cluster are the deployment's, its node an index into
/// the cluster's node pool, its version shared with its siblings. [`LivePod::summary`]
/// builds the [`PodSummary`] a watcher receives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LivePod {
    /// The pod template it was created from (version + restart generation).
    pub template: u64,
    /// The version's id in the world's [`Names`].
    pub version: u32,
    pub started_at: Timestamp,
    pub restarts: u32,
    pub node: u32,
    /// The random suffix of the pod name.
    pub token: [u8; 5],
    pub phase: PodPhase,
    pub ready: bool,
    /// Waiting in `CrashLoopBackOff`.
    pub crash_loop: bool,
    pub last_termination: Option<Termination>,
}

impl LivePod {
    /// `<service>-<replica-set hash>-<suffix>`, like a ReplicaSet names its pods.
    pub(crate) fn name(&self, service: &str) -> String {
        let mut name = String::with_capacity(service.len() + 17);
        name.push_str(service);
        name.push('-');
        push_rs_hash(&mut name, self.template);
        name.push('-');
        name.extend(self.token.iter().map(|&b| char::from(b)));
        name
    }

    pub(crate) fn crash_looping(&self) -> bool {
        self.crash_loop
    }

    pub(crate) fn summary(&self, names: &Names, k: Key, nodes: &[String]) -> PodSummary {
        let service = names.service_of(k);
        PodSummary {
            name: self.name(service),
            service: service.to_string(),
            cluster: names.cluster_of(k).clone(),
            phase: self.phase,
            ready: self.ready,
            restarts: self.restarts,
            started_at: self.started_at,
            node: nodes
                .get(self.node as usize)
                .map_or(FALLBACK_NODE, String::as_str)
                .to_string(),
            version: names.version_of(self.version).to_string(),
            waiting: self.crash_loop.then(|| "CrashLoopBackOff".to_string()),
            last_termination: self.last_termination.map(|t| t.as_str().to_string()),
        }
    }
}

/// One deployment's live half (80 bytes with its key: the only per-deployment record
/// besides the durable one; 50,000 of them at the bench scale).
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// The version's id in the world's [`Names`] (the spec the pods converge to).
    pub version: u32,
    pub desired: u32,
    pub restart_gen: u32,
    pub template: u64,
    pub pods: Vec<LivePod>,
    pub updated_at: Timestamp,
    /// min, max, target CPU of the HPA, when there is one.
    pub hpa: Option<(u32, u32, u32)>,
    pub cpu: u32,
}

/// The live deployments, sorted by key: a list, at about two thirds of the memory of a
/// hash table over the same entries (which keeps an eighth of its slots free and rounds
/// up to a power of two). Lookups are binary searches.
#[derive(Debug, Default, Clone)]
pub(crate) struct LiveMap(Vec<(Key, Live)>);

impl LiveMap {
    /// Over `entries` in any order; of two with the same key (which the state never
    /// has) one is kept. Sorted in place: no second list, even for a moment.
    fn from_entries(mut entries: Vec<(Key, Live)>) -> LiveMap {
        entries.sort_unstable_by_key(|(k, _)| *k);
        entries.dedup_by_key(|(k, _)| *k);
        entries.shrink_to_fit();
        LiveMap(entries)
    }

    fn find(&self, k: &Key) -> Result<usize, usize> {
        self.0.binary_search_by_key(k, |(key, _)| *key)
    }

    pub(crate) fn get(&self, k: &Key) -> Option<&Live> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    pub(crate) fn get_mut(&mut self, k: &Key) -> Option<&mut Live> {
        self.find(k).ok().map(|i| &mut self.0[i].1)
    }

    pub(crate) fn insert(&mut self, k: Key, l: Live) -> Option<Live> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, l)),
            Err(i) => {
                self.0.insert(i, (k, l));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, k: &Key) -> Option<Live> {
        self.find(k).ok().map(|i| self.0.remove(i).1)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.0.iter().map(|(k, _)| k)
    }

    #[cfg(test)]
    pub(crate) fn values(&self) -> impl Iterator<Item = &Live> {
        self.0.iter().map(|(_, l)| l)
    }
}

pub(crate) struct World {
    pub durable: DurableState,
    /// The state file as last read or written.
    pub stamp: Option<FileStamp>,
    /// The live half's file as last read or written.
    pub live_stamp: Option<FileStamp>,
    pub topology: Topology,
    pub names: Names,
    pub live: LiveMap,
    /// Deployments whose pods do not match the spec yet.
    pub rolling: BTreeSet<Key>,
    /// Deployments with a crash-looping pod.
    pub crashing: BTreeSet<Key>,
    /// The node pool of each cluster (by cluster index).
    pub nodes: Vec<Arc<[String]>>,
    pub rng: fastrand::Rng,
    pub watchers: Vec<Arc<WatchQueue>>,
    pub outbox: Vec<ClusterEvent>,
    pub ticks: u64,
    quiet_until: Option<u64>,
    /// The demo time (milliseconds) of the last step, by whichever process took it.
    pub stepped_at_ms: i64,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("deployments", &self.live.len())
            .field("rolling", &self.rolling.len())
            .field("ticks", &self.ticks)
            .finish_non_exhaustive()
    }
}

pub(crate) fn template(service: &str, version: &str, restart_gen: u32) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (service, version, restart_gen).hash(&mut h);
    h.finish()
}

/// The replica-set hash in pod names, derived from the template like Kubernetes does.
fn push_rs_hash(out: &mut String, template: u64) {
    let a = K8S_ALPHABET;
    let mut t = template;
    for _ in 0..10 {
        out.push(char::from(a[(t % a.len() as u64) as usize]));
        t /= a.len() as u64;
    }
}

fn termination(rng: &mut fastrand::Rng) -> Termination {
    if rng.f32() < 0.3 {
        Termination::OomKilled
    } else {
        Termination::Error
    }
}

/// A new pending pod on a random node of `nodes`.
fn new_pod(
    rng: &mut fastrand::Rng,
    nodes: &[String],
    version: u32,
    template: u64,
    now: Timestamp,
) -> LivePod {
    let node = if nodes.is_empty() {
        NO_NODE
    } else {
        rng.usize(..nodes.len()) as u32
    };
    let mut token = [0u8; 5];
    for b in token.iter_mut() {
        *b = K8S_ALPHABET[rng.usize(..K8S_ALPHABET.len())];
    }
    LivePod {
        template,
        version,
        started_at: now,
        restarts: 0,
        node,
        token,
        phase: PodPhase::Pending,
        ready: false,
        crash_loop: false,
        last_termination: None,
    }
}

/// The node pool of a deployment's cluster.
fn pool_of(nodes: &[Arc<[String]>], k: Key) -> &[String] {
    nodes.get(k.cluster as usize).map_or(&[], |n| &n[..])
}

/// A watch's initial listing (see [`World::listing`]): an iterator of events, each built
/// when it is read.
pub(crate) struct Listing {
    /// The demo clock and the ephemeral environments, told before anything else.
    head: std::vec::IntoIter<ClusterEvent>,
    names: Names,
    nodes: Vec<Arc<[String]>>,
    /// Each deployment without its pods, and where its pods start in `pods`.
    items: Vec<Listed>,
    /// Every pod, in one list: copying them per deployment would make tens of
    /// thousands of small allocations that die while the watcher builds its own state,
    /// leaving holes in the heap.
    pods: Vec<LivePod>,
    synced: Vec<ClusterId>,
    /// Deployments, HPAs, pods, then `Synced`; the item and pod read next.
    phase: u8,
    i: usize,
    j: usize,
}

impl Iterator for Listing {
    type Item = ClusterEvent;

    fn next(&mut self) -> Option<ClusterEvent> {
        if let Some(e) = self.head.next() {
            return Some(e);
        }
        loop {
            match self.phase {
                0 => {
                    if let Some(item) = self.items.get(self.i) {
                        let end = self
                            .items
                            .get(self.i + 1)
                            .map_or(self.pods.len(), |next| next.start as usize);
                        self.i += 1;
                        let pods = &self.pods[item.start as usize..end];
                        return Some(ClusterEvent::Deployment(World::summary_with(
                            &self.names,
                            item.key,
                            &item.live(),
                            pods,
                        )));
                    }
                    (self.phase, self.i) = (1, 0);
                }
                1 => {
                    while let Some(item) = self.items.get(self.i) {
                        self.i += 1;
                        if let Some(h) = World::hpa_summary(&self.names, item.key, &item.live()) {
                            return Some(ClusterEvent::Hpa(h));
                        }
                    }
                    (self.phase, self.i, self.j) = (2, 0, 0);
                }
                2 => {
                    // `j` walks `pods`; item `i` owns those before the next one's start.
                    while let Some(item) = self.items.get(self.i) {
                        let end = self
                            .items
                            .get(self.i + 1)
                            .map_or(self.pods.len(), |next| next.start as usize);
                        if self.j < end {
                            let p = &self.pods[self.j];
                            self.j += 1;
                            let pool = pool_of(&self.nodes, item.key);
                            return Some(ClusterEvent::Pod(p.summary(&self.names, item.key, pool)));
                        }
                        self.i += 1;
                    }
                    // Everything listed: the records are not needed any more.
                    self.items = Vec::new();
                    self.pods = Vec::new();
                    give_back_freed_memory();
                    (self.phase, self.i) = (3, 0);
                }
                _ => {
                    let c = self.synced.get(self.i)?;
                    self.i += 1;
                    return Some(ClusterEvent::Synced(c.clone()));
                }
            }
        }
    }
}

pub(crate) use super::state::give_back_freed_memory;

/// A deployment as a listing copies it: what its summaries read (56 bytes; a copy of
/// its [`Live`] with its key and start was 88, and a listing holds 50,000 at the bench
/// scale while the watcher takes them in: the process's peak).
#[derive(Debug, Clone, Copy)]
struct Listed {
    key: Key,
    version: u32,
    desired: u32,
    template: u64,
    updated_at: Timestamp,
    hpa: Option<(u32, u32, u32)>,
    cpu: u32,
    /// Where its pods start in the listing's `pods`.
    start: u32,
}

impl Listed {
    fn new(key: Key, l: &Live, start: usize) -> Listed {
        Listed {
            key,
            version: l.version,
            desired: l.desired,
            template: l.template,
            updated_at: l.updated_at,
            hpa: l.hpa,
            cpu: l.cpu,
            start: u32::try_from(start).unwrap_or(u32::MAX),
        }
    }

    /// The deployment as the summaries read it (without its pods: an empty list
    /// allocates nothing; the restart generation is in the template).
    fn live(&self) -> Live {
        Live {
            version: self.version,
            desired: self.desired,
            restart_gen: 0,
            template: self.template,
            pods: Vec::new(),
            updated_at: self.updated_at,
            hpa: self.hpa,
            cpu: self.cpu,
        }
    }
}

/// The live half of the world as the state file keeps it, so that every process on
/// the same state shows the same pods, restarts, crash loops and rollouts: one
/// process takes each step (under the state's lock) and writes it; the others read it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LiveFile {
    /// Steps taken since the world was made.
    pub ticks: u64,
    /// The demo time (milliseconds) of the last step, so two processes on the same
    /// clock do not both take it.
    pub stepped_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_until: Option<u64>,
    /// The node pool of each cluster.
    pub nodes: Vec<(ClusterId, Vec<String>)>,
    pub deployments: Vec<LiveDep>,
}

/// [`LiveFile`]'s JSON, written straight from the world (no copy of it is made to
/// write it).
#[derive(Serialize)]
pub(crate) struct LiveOut<'a> {
    ticks: u64,
    stepped_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    quiet_until: Option<u64>,
    nodes: NodesOut<'a>,
    deployments: DepsOut<'a>,
}

struct NodesOut<'a>(&'a World);

impl Serialize for NodesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.0;
        s.collect_seq(w.names.clusters().iter().enumerate().filter_map(|(i, c)| {
            let pool = w.nodes.get(i)?;
            (!pool.is_empty()).then_some((c, &pool[..]))
        }))
    }
}

struct DepsOut<'a>(&'a World);

/// [`LiveDep`]'s JSON, borrowed.
#[derive(Serialize)]
struct LiveDepOut<'a> {
    service: &'a Name,
    cluster: &'a ClusterId,
    version: &'a str,
    desired: u32,
    restart_gen: u32,
    updated_at: Timestamp,
    cpu: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    rolling: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    crashing: bool,
    pods: PodsOut<'a>,
}

struct PodsOut<'a>(&'a [LivePod], &'a Names);

impl Serialize for PodsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names = self.1;
        s.collect_seq(self.0.iter().map(|p| {
            (
                Token(p.token),
                p.template,
                names.version_of(p.version),
                p.started_at,
                p.restarts,
                p.node,
                p.phase,
                p.ready,
                p.crash_loop,
                p.last_termination,
            )
        }))
    }
}

impl Serialize for DepsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.0;
        s.collect_seq(w.live.0.iter().map(|(k, l)| LiveDepOut {
            service: w.names.service_of(*k),
            cluster: w.names.cluster_of(*k),
            version: w.names.version_of(l.version),
            desired: l.desired,
            restart_gen: l.restart_gen,
            updated_at: l.updated_at,
            cpu: l.cpu,
            rolling: w.rolling.contains(k),
            crashing: w.crashing.contains(k),
            pods: PodsOut(&l.pods, &w.names),
        }))
    }
}

/// One deployment's live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LiveDep {
    pub service: Name,
    pub cluster: ClusterId,
    /// The spec the pods converge to (the durable one, as of the last reconcile).
    pub version: Name,
    pub desired: u32,
    pub restart_gen: u32,
    pub updated_at: Timestamp,
    pub cpu: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolling: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crashing: bool,
    pub pods: Vec<PodRec>,
}

/// A pod, compactly: (name suffix, template, version, started, restarts, node index,
/// phase, ready, crash loop, last termination).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PodRec(
    Token,
    u64,
    Name,
    Timestamp,
    u32,
    u32,
    PodPhase,
    bool,
    bool,
    Option<Termination>,
);

/// A pod name's random suffix, kept as its five bytes (written as a string; one
/// allocation less per pod when the file is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token([u8; 5]);

impl Token {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("xxxxx")
    }
}

impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Token;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a pod name suffix")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Token, E> {
                // As before: the first five bytes, `x` for any missing; never a
                // byte that is not in the suffix alphabet (the name reaches the screen).
                let mut token = [b'x'; 5];
                for (t, b) in token.iter_mut().zip(v.bytes()) {
                    *t = if K8S_ALPHABET.contains(&b) { b } else { b'x' };
                }
                Ok(Token(token))
            }
        }
        d.deserialize_str(V)
    }
}

impl PodRec {
    #[cfg(test)]
    fn of(p: &LivePod, names: &Names) -> PodRec {
        PodRec(
            Token(p.token),
            p.template,
            names.version_name(p.version),
            p.started_at,
            p.restarts,
            p.node,
            p.phase,
            p.ready,
            p.crash_loop,
            p.last_termination,
        )
    }

    fn pod(&self, names: &mut Names) -> LivePod {
        LivePod {
            template: self.1,
            version: names.version(&self.2),
            started_at: self.3,
            restarts: self.4,
            node: self.5,
            token: self.0.0,
            phase: self.6,
            ready: self.7,
            crash_loop: self.8,
            last_termination: self.9,
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Streams end when the platform is gone.
        for q in &self.watchers {
            q.close();
        }
    }
}

impl World {
    /// The world over `durable`: its live half read from the state when the state
    /// keeps one, else made from the seed (pods, and a few incidents) at `now`.
    pub(crate) fn new(
        mut durable: DurableState,
        stamp: Option<FileStamp>,
        topology: Topology,
        seed: u64,
        now: Timestamp,
    ) -> World {
        durable.shrink_to_fit();
        let saved = durable.live.take();
        // The deployments the saved live half has pods for (others, new since, get theirs
        // from the seed).
        let saved_keys: HashSet<(&ClusterId, &str)> = saved
            .iter()
            .flat_map(|l| &l.deployments)
            .map(|d| (&d.cluster, d.service.as_str()))
            .collect();
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x005e_ed0f_11fe);
        // Node pools sized to the pods they carry.
        let mut per_cluster: BTreeMap<&ClusterId, u32> = BTreeMap::new();
        for d in &durable.deployments {
            *per_cluster.entry(&d.cluster).or_default() += d.desired;
        }
        let mut names = Names::new(
            topology
                .clusters()
                .chain(durable.deployments.iter().map(|d| d.cluster.clone())),
            durable.deployments.iter().map(|d| &d.service),
        );
        let mut nodes: Vec<Arc<[String]>> = vec![Arc::from(Vec::new()); names.clusters.len()];
        for (ci, c) in topology.clusters().enumerate() {
            let pods = per_cluster.get(&c).copied().unwrap_or(0);
            let n = (pods / 12).clamp(3, 300);
            let o2 = 12 + (ci % 240);
            let pool: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "ip-10-{o2}-{}-{}.ec2.internal",
                        rng.u32(0..32),
                        rng.u32(1..255)
                    )
                })
                .collect();
            nodes[names.cluster(&c) as usize] = Arc::from(pool);
        }
        let mut live = Vec::with_capacity(durable.deployments.len());
        {
            let hpas: HashMap<(&ClusterId, &str), (u32, u32, u32)> = durable
                .hpas
                .iter()
                .map(|h| {
                    (
                        (&h.cluster, h.service.as_str()),
                        (h.min, h.max, h.target_cpu),
                    )
                })
                .collect();
            for d in &durable.deployments {
                let t = template(&d.service, &d.version, d.restart_gen);
                let hpa = hpas.get(&(&d.cluster, d.service.as_str())).copied();
                let key = names.key(&d.cluster, &d.service);
                let pool = nodes[key.cluster as usize].clone();
                let vid = names.version(&d.version);
                let mut l = Live {
                    version: vid,
                    desired: d.desired,
                    restart_gen: d.restart_gen,
                    template: t,
                    pods: Vec::with_capacity(d.desired as usize),
                    updated_at: d.updated_at,
                    hpa,
                    cpu: 30 + rng.u32(0..50),
                };
                // A saved live half brings its own pods.
                let desired = if saved_keys.contains(&(&d.cluster, d.service.as_str())) {
                    0
                } else {
                    d.desired
                };
                for _ in 0..desired {
                    let mut p = new_pod(&mut rng, &pool, vid, t, now);
                    p.phase = PodPhase::Running;
                    p.ready = true;
                    // No older than the deployment's last change (a new environment's
                    // copies start young).
                    p.started_at = (now - rng.i64(600..20 * 86_400)).max(d.updated_at.min(now));
                    if rng.f32() < 0.12 {
                        p.restarts = rng.u32(1..4);
                        p.last_termination = Some(termination(&mut rng));
                    }
                    l.pods.push(p);
                }
                live.push((key, l));
            }
        }
        drop(saved_keys);
        let live = LiveMap::from_entries(live);
        let mut w = World {
            durable,
            stamp,
            live_stamp: None,
            topology,
            names,
            live,
            rolling: BTreeSet::new(),
            crashing: BTreeSet::new(),
            nodes,
            rng,
            watchers: Vec::new(),
            outbox: Vec::new(),
            ticks: 0,
            quiet_until: None,
            stepped_at_ms: now.saturating_mul(1000),
        };
        match saved {
            Some(saved) => {
                let fresh: Vec<(Key, Live)> = {
                    let has: HashSet<(&ClusterId, &str)> = saved
                        .deployments
                        .iter()
                        .map(|d| (&d.cluster, d.service.as_str()))
                        .collect();
                    w.live
                        .0
                        .iter()
                        .filter(|(k, _)| {
                            !has.contains(&(
                                w.names.cluster_of(*k),
                                w.names.service_of(*k).as_str(),
                            ))
                        })
                        .cloned()
                        .collect()
                };
                w.take_live(saved, false);
                for (k, l) in fresh {
                    w.live.insert(k, l);
                }
                w.reconcile(now);
                // Nobody watches yet: the listing tells new watchers everything.
                w.outbox.clear();
            }
            None => w.seed_incidents(now),
        }
        w
    }

    /// The live half as its file keeps it (see [`LiveOut`]).
    pub(crate) fn live_out(&self) -> LiveOut<'_> {
        LiveOut {
            ticks: self.ticks,
            stepped_at_ms: self.stepped_at_ms,
            quiet_until: self.quiet_until,
            nodes: NodesOut(self),
            deployments: DepsOut(self),
        }
    }

    /// The live half, for the state file (see [`LiveFile`]).
    #[cfg(test)]
    pub(crate) fn live_file(&self) -> LiveFile {
        let nodes = self
            .names
            .clusters()
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let pool = self.nodes.get(i)?;
                (!pool.is_empty()).then(|| (c.clone(), pool.to_vec()))
            })
            .collect();
        let deployments = self
            .live
            .0
            .iter()
            .map(|(k, l)| LiveDep {
                service: self.names.service_of(*k).clone(),
                cluster: self.names.cluster_of(*k).clone(),
                version: self.names.version_name(l.version),
                desired: l.desired,
                restart_gen: l.restart_gen,
                updated_at: l.updated_at,
                cpu: l.cpu,
                rolling: self.rolling.contains(k),
                crashing: self.crashing.contains(k),
                pods: l.pods.iter().map(|p| PodRec::of(p, &self.names)).collect(),
            })
            .collect();
        LiveFile {
            ticks: self.ticks,
            stepped_at_ms: self.stepped_at_ms,
            quiet_until: self.quiet_until,
            nodes,
            deployments,
        }
    }

    /// Take the live half another process wrote (after adopting its durable state),
    /// telling watchers what differs from ours.
    pub(crate) fn load_live(&mut self, file: LiveFile) {
        self.take_live(file, true);
    }

    /// [`World::load_live`]; `tell` false when nobody can be watching yet (at open:
    /// the listing tells a new watcher everything), so no event is made.
    fn take_live(&mut self, file: LiveFile, tell: bool) {
        self.sync_environments();
        for (c, pool) in file.nodes {
            let i = self.names.cluster(&c) as usize;
            if self.nodes.len() <= i {
                self.nodes.resize(i + 1, Arc::from(Vec::new()));
            }
            if self.nodes[i][..] != pool[..] {
                self.nodes[i] = Arc::from(pool);
            }
        }
        let hpas: HashMap<(&ClusterId, &str), (u32, u32, u32)> = self
            .durable
            .hpas
            .iter()
            .map(|h| {
                (
                    (&h.cluster, h.service.as_str()),
                    (h.min, h.max, h.target_cpu),
                )
            })
            .collect();
        let (mut rolling, mut crashing) = (BTreeSet::new(), BTreeSet::new());
        let mut entries = Vec::with_capacity(file.deployments.len());
        for d in file.deployments {
            let k = self.names.key(&d.cluster, &d.service);
            let pods = d.pods.iter().map(|p| p.pod(&mut self.names)).collect();
            if d.rolling {
                rolling.insert(k);
            }
            if d.crashing {
                crashing.insert(k);
            }
            let version = self.names.version(&d.version);
            entries.push((
                k,
                Live {
                    version,
                    desired: d.desired,
                    restart_gen: d.restart_gen,
                    template: template(&d.service, &d.version, d.restart_gen),
                    pods,
                    updated_at: d.updated_at,
                    hpa: hpas.get(&(&d.cluster, d.service.as_str())).copied(),
                    cpu: d.cpu,
                },
            ));
        }
        drop(hpas);
        let new = LiveMap::from_entries(entries);
        if tell {
            let events = self.differences(&new);
            self.outbox.extend(events);
        }
        self.live = new;
        self.rolling = rolling;
        self.crashing = crashing;
        self.ticks = file.ticks;
        self.quiet_until = file.quiet_until;
        self.stepped_at_ms = file.stepped_at_ms;
    }

    /// The events that turn our live deployments into `new`'s.
    fn differences(&self, new: &LiveMap) -> Vec<ClusterEvent> {
        let mut out = Vec::new();
        for (k, nl) in &new.0 {
            let pool = pool_of(&self.nodes, *k);
            let old = self.live.get(k);
            let old_pods: HashMap<(u64, [u8; 5]), &LivePod> = old
                .map(|l| l.pods.iter().map(|p| ((p.template, p.token), p)).collect())
                .unwrap_or_default();
            for p in &nl.pods {
                if old_pods.get(&(p.template, p.token)) != Some(&p) {
                    out.push(ClusterEvent::Pod(p.summary(&self.names, *k, pool)));
                }
            }
            if let Some(ol) = old {
                let new_pods: HashSet<(u64, [u8; 5])> =
                    nl.pods.iter().map(|p| (p.template, p.token)).collect();
                for p in ol
                    .pods
                    .iter()
                    .filter(|p| !new_pods.contains(&(p.template, p.token)))
                {
                    out.push(ClusterEvent::PodDeleted {
                        cluster: self.names.cluster_of(*k).clone(),
                        name: p.name(self.names.service_of(*k)),
                    });
                }
            }
            let summary = Self::summary(&self.names, *k, nl);
            if old.map(|ol| Self::summary(&self.names, *k, ol)).as_ref() != Some(&summary) {
                out.push(ClusterEvent::Deployment(summary));
            }
            let hpa = Self::hpa_summary(&self.names, *k, nl);
            if hpa.is_some() && old.and_then(|ol| Self::hpa_summary(&self.names, *k, ol)) != hpa {
                out.extend(hpa.map(ClusterEvent::Hpa));
            }
        }
        for (k, ol) in &self.live.0 {
            if new.get(k).is_some() {
                continue;
            }
            let (cluster, service) = (self.names.cluster_of(*k), self.names.service_of(*k));
            for p in &ol.pods {
                out.push(ClusterEvent::PodDeleted {
                    cluster: cluster.clone(),
                    name: p.name(service),
                });
            }
            out.push(ClusterEvent::DeploymentDeleted {
                cluster: cluster.clone(),
                service: service.to_string(),
            });
        }
        out
    }

    /// A new pending pod for deployment `k` (which must be live).
    fn new_pod_for(&mut self, k: &Key, version: u32, template: u64, now: Timestamp) -> LivePod {
        let nodes = self.nodes.get(k.cluster as usize).map(Arc::clone);
        new_pod(
            &mut self.rng,
            nodes.as_deref().unwrap_or(&[]),
            version,
            template,
            now,
        )
    }

    /// The node pool of a deployment's cluster.
    fn pool(&self, k: Key) -> &[String] {
        self.nodes.get(k.cluster as usize).map_or(&[], |n| &n[..])
    }

    fn previous_release(&self, service: &str, version: &str) -> Option<String> {
        let rel = self.durable.releases.get(service)?;
        let pos = rel.iter().position(|v| v == version)?;
        pos.checked_sub(1).map(|p| rel[p].to_string())
    }

    /// A rollout half done, a rollout stalled on a crash-looping pod, and a crash loop.
    fn seed_incidents(&mut self, now: Timestamp) {
        let pick = |w: &mut World, env: &str, min: u32, avoid: &[Key]| -> Option<Key> {
            // Right after `new`, a live deployment runs its durable version.
            let c: Vec<usize> = w
                .durable
                .deployments
                .iter()
                .enumerate()
                .filter(|(_, d)| d.cluster.env == env && d.desired >= min)
                .filter(|(_, d)| {
                    w.names
                        .find(&d.cluster, &d.service)
                        .is_none_or(|k| !avoid.contains(&k))
                })
                .filter(|(_, d)| w.previous_release(&d.service, &d.version).is_some())
                .map(|(i, _)| i)
                .collect();
            (!c.is_empty())
                .then(|| {
                    let d = &w.durable.deployments[c[w.rng.usize(..c.len())]];
                    w.names.find(&d.cluster, &d.service)
                })
                .flatten()
        };
        let mut used = Vec::new();
        // 1. Progressing: half of the pods still on the previous release.
        if let Some(k) = pick(self, "production", 3, &used) {
            self.downgrade_pods(&k, |n| n / 2 + n % 2, now);
            self.rolling.insert(k);
            used.push(k);
        }
        // 2. Stalled: the one new pod crash-loops, the rest are on the previous release.
        if let Some(k) = pick(self, "staging", 2, &used) {
            self.downgrade_pods(&k, |n| n - 1, now);
            if let Some(l) = self.live.get_mut(&k)
                && let Some(p) = l.pods.iter_mut().find(|p| p.template == l.template)
            {
                p.phase = PodPhase::Running;
                p.ready = false;
                p.restarts = 5;
                p.crash_loop = true;
                p.last_termination = Some(Termination::Error);
            }
            self.rolling.insert(k);
            self.crashing.insert(k);
            used.push(k);
        }
        // 3. A crash loop in production, outside any rollout.
        let k = pick(self, "production", 3, &used).or_else(|| pick(self, "production", 1, &used));
        if let Some(k) = k {
            if let Some(l) = self.live.get_mut(&k)
                && let Some(p) = l.pods.first_mut()
            {
                p.ready = false;
                p.restarts = 12;
                p.crash_loop = true;
                p.last_termination = Some(Termination::OomKilled);
            }
            self.crashing.insert(k);
        }
    }

    /// Replace the first `old(n)` pods of a deployment with pods of the previous release.
    fn downgrade_pods(&mut self, k: &Key, old: impl Fn(usize) -> usize, now: Timestamp) {
        let Some(l) = self.live.get(k) else { return };
        let service = self.names.service_of(*k).clone();
        let Some(prev) = self.previous_release(&service, self.names.version_of(l.version)) else {
            return;
        };
        let t_old = template(&service, &prev, l.restart_gen);
        let n = old(l.pods.len());
        let prev = self.names.version(&prev);
        for i in 0..n {
            let mut p = self.new_pod_for(k, prev, t_old, now);
            p.phase = PodPhase::Running;
            p.ready = true;
            p.started_at = now - self.rng.i64(86_400..20 * 86_400);
            if let Some(l) = self.live.get_mut(k) {
                l.pods[i] = p;
                l.updated_at = now - 90;
            }
        }
    }

    pub(crate) fn summary(names: &Names, k: Key, l: &Live) -> DeploymentSummary {
        Self::summary_with(names, k, l, &l.pods)
    }

    /// The summary of deployment `l` running `pods` (its own, or a listing's copy).
    fn summary_with(names: &Names, k: Key, l: &Live, pods: &[LivePod]) -> DeploymentSummary {
        let updated = pods.iter().filter(|p| p.template == l.template).count() as u32;
        let ready = pods.iter().filter(|p| p.ready).count() as u32;
        let stale = pods.iter().any(|p| p.template != l.template);
        let crash_new = pods
            .iter()
            .any(|p| p.template == l.template && p.crash_looping());
        let rollout = if stale || updated < l.desired || pods.len() as u32 > l.desired {
            if crash_new {
                RolloutState::Stalled
            } else {
                RolloutState::Progressing
            }
        } else {
            RolloutState::Complete
        };
        DeploymentSummary {
            service: names.service_of(k).to_string(),
            cluster: names.cluster_of(k).clone(),
            version: names.version_of(l.version).to_string(),
            desired: l.desired,
            ready,
            updated: updated.min(l.desired.max(updated)),
            rollout,
            updated_at: l.updated_at,
        }
    }

    fn hpa_summary(names: &Names, k: Key, l: &Live) -> Option<HpaSummary> {
        let (min, max, target_cpu) = l.hpa?;
        Some(HpaSummary {
            service: names.service_of(k).to_string(),
            cluster: names.cluster_of(k).clone(),
            min,
            max,
            current: l.desired,
            target_cpu,
            current_cpu: Some(l.cpu),
        })
    }

    fn emit_deployment(&mut self, k: &Key) {
        if let Some(l) = self.live.get(k) {
            self.outbox
                .push(ClusterEvent::Deployment(Self::summary(&self.names, *k, l)));
        }
    }

    /// Send what happened to every watcher; forget the ones that hung up.
    pub(crate) fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.outbox);
        // A watcher whose stream was dropped holds the only other reference.
        self.watchers.retain(|q| Arc::strong_count(q) > 1);
        if let Some((last, others)) = self.watchers.split_last() {
            for q in others {
                q.push_all(events.iter().cloned());
            }
            last.push_all(events);
        }
    }

    /// What a new watcher is told first: every deployment, HPA and pod as they are now,
    /// then `Synced` per cluster. Kept compact (the deployments' own records) and turned
    /// into events one at a time as the watcher reads them.
    pub(crate) fn listing(&self) -> Listing {
        let mut items = Vec::with_capacity(self.durable.deployments.len());
        let mut pods = Vec::new();
        for d in &self.durable.deployments {
            let Some(k) = self.names.find(&d.cluster, &d.service) else {
                continue;
            };
            let Some(l) = self.live.get(&k) else { continue };
            items.push(Listed::new(k, l, pods.len()));
            pods.extend_from_slice(&l.pods);
        }
        Listing {
            head: self.clock_and_environments().into_iter(),
            names: self.names.clone(),
            nodes: self.nodes.clone(),
            items,
            pods,
            synced: self.topology.clusters().collect(),
            phase: 0,
            i: 0,
            j: 0,
        }
    }

    pub(crate) fn snapshot(&self, scope: &Scope) -> ClusterSnapshot {
        let mut snap = ClusterSnapshot::default();
        for d in &self.durable.deployments {
            if !scope.contains(&d.cluster) {
                continue;
            }
            let Some(k) = self.names.find(&d.cluster, &d.service) else {
                continue;
            };
            let Some(l) = self.live.get(&k) else { continue };
            snap.deployments.push(Self::summary(&self.names, k, l));
            if let Some(h) = Self::hpa_summary(&self.names, k, l) {
                snap.hpas.push(h);
            }
            let pool = self.pool(k);
            snap.pods
                .extend(l.pods.iter().map(|p| p.summary(&self.names, k, pool)));
        }
        snap
    }

    /// Bring the live deployments in line with the durable spec (after a local mutation
    /// or a reload of a file another process wrote), emitting what changed.
    pub(crate) fn reconcile(&mut self, now: Timestamp) {
        self.sync_environments();
        let hpas: HashMap<(&ClusterId, &str), (u32, u32, u32)> = self
            .durable
            .hpas
            .iter()
            .map(|h| {
                (
                    (&h.cluster, h.service.as_str()),
                    (h.min, h.max, h.target_cpu),
                )
            })
            .collect();
        let mut seen: HashSet<Key> = HashSet::with_capacity(self.durable.deployments.len());
        let mut changed = Vec::new();
        let mut hpa_changed = Vec::new();
        let mut created = Vec::new();
        for d in &self.durable.deployments {
            let k = self.names.key(&d.cluster, &d.service);
            let hpa = hpas.get(&(&d.cluster, d.service.as_str())).copied();
            let version = self.names.version(&d.version);
            match self.live.get_mut(&k) {
                Some(l) => {
                    if l.version != version
                        || l.desired != d.desired
                        || l.restart_gen != d.restart_gen
                    {
                        l.version = version;
                        l.desired = d.desired;
                        l.restart_gen = d.restart_gen;
                        l.template = template(&d.service, &d.version, d.restart_gen);
                        l.updated_at = d.updated_at.max(now);
                        changed.push(k);
                    }
                    if l.hpa != hpa {
                        l.hpa = hpa;
                        hpa_changed.push(k);
                    }
                }
                None => {
                    created.push((
                        k,
                        Live {
                            version,
                            desired: d.desired,
                            restart_gen: d.restart_gen,
                            template: template(&d.service, &d.version, d.restart_gen),
                            pods: Vec::new(),
                            updated_at: now,
                            hpa,
                            cpu: 40,
                        },
                    ));
                }
            }
            seen.insert(k);
        }
        let seen_n = seen.len();
        let gone: Vec<Key> = if seen_n != self.live.len() + created.len() {
            self.live
                .keys()
                .filter(|k| !seen.contains(k))
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        drop(seen);
        for (k, l) in created {
            self.live.insert(k, l);
            changed.push(k);
            if self.live.get(&k).is_some_and(|l| l.hpa.is_some()) {
                hpa_changed.push(k);
            }
        }
        for k in changed {
            self.rolling.insert(k);
            self.emit_deployment(&k);
        }
        for k in hpa_changed {
            if let Some(h) = self
                .live
                .get(&k)
                .and_then(|l| Self::hpa_summary(&self.names, k, l))
            {
                self.outbox.push(ClusterEvent::Hpa(h));
            }
        }
        {
            for k in gone {
                let (cluster, service) = (self.names.cluster_of(k), self.names.service_of(k));
                if let Some(l) = self.live.remove(&k) {
                    for p in l.pods {
                        self.outbox.push(ClusterEvent::PodDeleted {
                            cluster: cluster.clone(),
                            name: p.name(service),
                        });
                    }
                }
                self.rolling.remove(&k);
                self.crashing.remove(&k);
                self.outbox.push(ClusterEvent::DeploymentDeleted {
                    cluster: cluster.clone(),
                    service: service.to_string(),
                });
            }
        }
    }

    fn stalled(&self, k: &Key) -> bool {
        self.live.get(k).is_some_and(|l| {
            l.pods
                .iter()
                .any(|p| p.template == l.template && p.crash_looping())
                && l.pods.iter().any(|p| p.template != l.template)
        })
    }

    /// One step of a deployment towards its spec. Returns true when it is done.
    fn step_rollout(&mut self, k: &Key, now: Timestamp) -> bool {
        if self.stalled(k) {
            return false;
        }
        let Some(l) = self.live.get_mut(k) else {
            return true;
        };
        let mut events = Vec::new();
        let mut done = false;
        if let Some(p) = l.pods.iter_mut().find(|p| p.phase == PodPhase::Pending) {
            p.phase = PodPhase::Running;
            p.ready = true;
            p.started_at = now;
            events.push(ClusterEvent::Pod(p.summary(
                &self.names,
                *k,
                pool_of(&self.nodes, *k),
            )));
        } else {
            let current = l.pods.iter().filter(|p| p.template == l.template).count() as u32;
            // Worst stale pod first: not ready before ready.
            let stale = l
                .pods
                .iter()
                .enumerate()
                .filter(|(_, p)| p.template != l.template)
                .min_by_key(|(_, p)| p.ready)
                .map(|(i, _)| i);
            if current < l.desired {
                if let Some(i) = stale {
                    let old = l.pods.remove(i);
                    events.push(ClusterEvent::PodDeleted {
                        cluster: self.names.cluster_of(*k).clone(),
                        name: old.name(self.names.service_of(*k)),
                    });
                }
                let (version, t) = (l.version, l.template);
                let p = self.new_pod_for(k, version, t, now);
                if let Some(l) = self.live.get_mut(k) {
                    events.push(ClusterEvent::Pod(p.summary(
                        &self.names,
                        *k,
                        pool_of(&self.nodes, *k),
                    )));
                    l.pods.push(p);
                }
            } else if let Some(i) =
                stale.or_else(|| (l.pods.len() as u32 > l.desired).then(|| l.pods.len() - 1))
            {
                let old = l.pods.remove(i);
                events.push(ClusterEvent::PodDeleted {
                    cluster: self.names.cluster_of(*k).clone(),
                    name: old.name(self.names.service_of(*k)),
                });
            } else {
                done = true;
            }
        }
        if !events.is_empty()
            && let Some(l) = self.live.get_mut(k)
        {
            l.updated_at = now;
        }
        self.outbox.extend(events);
        self.emit_deployment(k);
        done
    }

    fn random_key(&mut self) -> Option<Key> {
        let n = self.durable.deployments.len();
        if n == 0 {
            return None;
        }
        let d = &self.durable.deployments[self.rng.usize(..n)];
        self.names.find(&d.cluster, &d.service)
    }

    /// One tick of what happens by itself. Returns (start a rollout?, acknowledge flags?),
    /// the two durable changes the caller applies through `mutate`.
    pub(crate) fn step(&mut self, now: Timestamp) -> (bool, bool) {
        self.ticks += 1;
        // Each step's chance comes from the seed and the step's number: the same step
        // of the same world goes the same way in whichever process takes it.
        self.rng = fastrand::Rng::with_seed(
            self.durable.seed ^ self.ticks.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        // Rollouts progress one pod per tick.
        let keys: Vec<Key> = self.rolling.iter().copied().collect();
        for k in keys {
            if self.step_rollout(&k, now) {
                self.rolling.remove(&k);
            }
        }
        // Crash loops keep crashing.
        let crashing: Vec<Key> = self.crashing.iter().copied().collect();
        for k in crashing {
            let mut still = false;
            let mut events = Vec::new();
            if let Some(l) = self.live.get_mut(&k) {
                for p in l.pods.iter_mut().filter(|p| p.crash_looping()) {
                    still = true;
                    if self.rng.f32() < 0.6 {
                        p.restarts += 1;
                        events.push(ClusterEvent::Pod(p.summary(
                            &self.names,
                            k,
                            pool_of(&self.nodes, k),
                        )));
                    }
                }
            }
            self.outbox.extend(events);
            if !still {
                self.crashing.remove(&k);
            }
        }
        // Now and then a pod is replaced (node drained, evicted).
        if self.rng.f32() < 0.35
            && let Some(k) = self.random_key()
            && !self.rolling.contains(&k)
            && !self.crashing.contains(&k)
        {
            self.replace_random_pod(&k, now);
        }
        // Rarely a container restarts.
        if self.rng.f32() < 0.15
            && let Some(k) = self.random_key()
        {
            let term = termination(&mut self.rng);
            let r = self.rng.usize(..1000);
            if let Some(l) = self.live.get_mut(&k)
                && !l.pods.is_empty()
            {
                let n = l.pods.len();
                let p = &mut l.pods[r % n];
                if p.phase == PodPhase::Running && !p.crash_looping() {
                    p.restarts += 1;
                    p.last_termination = Some(term);
                    self.outbox.push(ClusterEvent::Pod(p.summary(
                        &self.names,
                        k,
                        pool_of(&self.nodes, k),
                    )));
                }
            }
        }
        // CPU moves on a few HPAs.
        let nh = self.durable.hpas.len();
        for _ in 0..nh.min(3) {
            let h = &self.durable.hpas[self.rng.usize(..nh)];
            let Some(k) = self.names.find(&h.cluster, &h.service) else {
                continue;
            };
            let delta = self.rng.i32(-8..=8);
            if let Some(l) = self.live.get_mut(&k) {
                l.cpu = (l.cpu as i32 + delta).clamp(5, 99) as u32;
                if let Some(s) = Self::hpa_summary(&self.names, k, l) {
                    self.outbox.push(ClusterEvent::Hpa(s));
                }
            }
        }
        // When nothing is rolling out, start a new rollout a few ticks later.
        let active = self.rolling.iter().any(|k| !self.stalled(k));
        let mut start = false;
        if active {
            self.quiet_until = None;
        } else {
            let until = match self.quiet_until {
                Some(u) => u,
                None => {
                    let u = self.ticks + 2 + self.rng.u64(..3);
                    self.quiet_until = Some(u);
                    u
                }
            };
            if self.ticks >= until {
                start = true;
                self.quiet_until = None;
            }
        }
        let pending = self.durable.flags.iter().any(|f| f.pending.is_some());
        let ack = pending && self.rng.f32() < 0.5;
        (start, ack)
    }

    fn replace_random_pod(&mut self, k: &Key, now: Timestamp) {
        let r = self.rng.usize(..1000);
        let Some(l) = self.live.get_mut(k) else {
            return;
        };
        if l.pods.is_empty() {
            return;
        }
        let i = r % l.pods.len();
        if l.pods[i].phase != PodPhase::Running {
            return;
        }
        let old = l.pods.remove(i);
        let (version, t) = (old.version, old.template);
        self.outbox.push(ClusterEvent::PodDeleted {
            cluster: self.names.cluster_of(*k).clone(),
            name: old.name(self.names.service_of(*k)),
        });
        let p = self.new_pod_for(k, version, t, now);
        if let Some(l) = self.live.get_mut(k) {
            self.outbox.push(ClusterEvent::Pod(p.summary(
                &self.names,
                *k,
                pool_of(&self.nodes, *k),
            )));
            l.pods.push(p);
        }
        self.rolling.insert(*k);
        self.emit_deployment(k);
    }

    /// Start a rollout (durable): either catch a drifted deployment up with its siblings
    /// or release a new patch version to one cluster (which creates drift for a while).
    /// A target a lock covers is skipped (the pipeline's `lock check` gate): nothing
    /// changes, and the release says which locks held it.
    pub(crate) fn start_rollout(&mut self, now: Timestamp) -> Option<Release> {
        let n = self.durable.deployments.len();
        if n == 0 {
            return None;
        }
        let mut target: Option<(usize, String)> = None;
        if self.rng.bool() {
            // Catch-up: a deployment whose version differs from the most common one in
            // its environment.
            let mut counts: HashMap<(&str, &str), HashMap<&str, usize>> = HashMap::new();
            for d in &self.durable.deployments {
                *counts
                    .entry((d.service.as_str(), d.cluster.env.as_str()))
                    .or_default()
                    .entry(d.version.as_str())
                    .or_default() += 1;
            }
            let drifted: Vec<(usize, String)> = self
                .durable
                .deployments
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    let c = &counts[&(d.service.as_str(), d.cluster.env.as_str())];
                    if c.len() < 2 {
                        return None;
                    }
                    let (best, _) = c.iter().max_by_key(|(v, n)| (**n, **v))?;
                    (*best != d.version).then(|| (i, best.to_string()))
                })
                .collect();
            if !drifted.is_empty() {
                target = Some(drifted[self.rng.usize(..drifted.len())].clone());
            }
        }
        if target.is_none() {
            for _ in 0..20 {
                let i = self.rng.usize(..n);
                let d = &self.durable.deployments[i];
                if d.desired < 2 {
                    continue;
                }
                let Some(rel) = self.durable.releases.get(&d.service) else {
                    continue;
                };
                let next = next_patch(rel.last().map(Name::as_str).unwrap_or("1.0.0"));
                target = Some((i, next));
                break;
            }
        }
        let (i, version) = target?;
        let d = &self.durable.deployments[i];
        let held: Vec<Lock> = self
            .durable
            .locks
            .iter()
            .filter(|l| l.covers(&d.service, &d.cluster))
            .cloned()
            .collect();
        let mut release = Release {
            service: d.service.to_string(),
            cluster: d.cluster.clone(),
            from: d.version.to_string(),
            to: version.clone(),
            held_by: held,
        };
        if !release.held_by.is_empty() {
            return Some(release);
        }
        let d = &mut self.durable.deployments[i];
        let rel = self.durable.releases.entry(d.service.clone()).or_default();
        let version = match rel.iter().find(|v| **v == version) {
            Some(v) => v.clone(),
            None => {
                let v = Name::from(version);
                rel.push(v.clone());
                v
            }
        };
        d.version = version;
        d.updated_at = now;
        release.to = d.version.to_string();
        Some(release)
    }

    /// Clusters acknowledge pending flag changes.
    pub(crate) fn ack_flags(&mut self) -> usize {
        let mut n = 0;
        for f in self.durable.flags.iter_mut() {
            if f.pending.is_some()
                && self.rng.f32() < 0.5
                && let Some(p) = f.pending.take()
            {
                f.value = p.value;
                f.percentage = p.percentage;
                n += 1;
            }
        }
        n
    }

    /// `n` pod updates at once (a restart counted on random pods), for benchmarks.
    pub(crate) fn churn(&mut self, n: usize) {
        let total = self.durable.deployments.len();
        if total == 0 {
            return;
        }
        let mut emitted = 0;
        let mut tries = 0;
        while emitted < n && tries < n * 4 + 16 {
            tries += 1;
            let Some(k) = self.random_key() else { return };
            let r = self.rng.usize(..1000);
            if let Some(l) = self.live.get_mut(&k) {
                if l.pods.is_empty() {
                    continue;
                }
                let len = l.pods.len();
                let p = &mut l.pods[r % len];
                p.restarts += 1;
                self.outbox.push(ClusterEvent::Pod(p.summary(
                    &self.names,
                    k,
                    pool_of(&self.nodes, k),
                )));
                emitted += 1;
                // Hand events over as they come, not all at the end.
                if self.outbox.len() >= 1024 {
                    self.flush();
                }
            }
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::{Key, Listed, Live, LivePod};
    use crate::backend::sim::state::{DeploymentRec, HpaRec};

    /// One of each per deployment and per pod (50,000 of each at the bench scale, and
    /// the watch's listing copies them once more): a field added here is 5 MB at
    /// `services=100000,clusters=200,pods=500000`.
    #[test]
    fn the_per_deployment_and_per_pod_records_stay_compact() {
        assert!(
            std::mem::size_of::<(Key, Live)>() <= 80,
            "{} bytes a deployment",
            std::mem::size_of::<(Key, Live)>()
        );
        assert!(
            std::mem::size_of::<LivePod>() <= 40,
            "{} bytes a pod",
            std::mem::size_of::<LivePod>()
        );
        assert!(
            std::mem::size_of::<Listed>() <= 56,
            "{} bytes a listed deployment",
            std::mem::size_of::<Listed>()
        );
        // The durable records hold their names as one pointer each.
        assert!(
            std::mem::size_of::<DeploymentRec>() <= 48,
            "{} bytes a durable deployment",
            std::mem::size_of::<DeploymentRec>()
        );
        assert!(
            std::mem::size_of::<HpaRec>() <= 40,
            "{} bytes a durable HPA",
            std::mem::size_of::<HpaRec>()
        );
    }
}
