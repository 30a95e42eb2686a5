//! The live watch of every cluster's deployments, pods, HPAs and environment
//! namespaces (`kube::runtime::watcher`), turned into [`ClusterEvent`]s: per cluster a
//! [`WatchState`] that keeps what each kind listed (a re-list becomes deletions), and
//! the clusters' streams merged into one, environments joined across regions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

use super::client::Conn;
use super::envs::{self, cluster_for};
use super::summaries::{
    SlimPod, deployment_summary, hpa_summary, hpa_target_key, pod_summary, target_key,
};
use super::{KubeClusters, Mapping};
use crate::backend::WorkloadRead;
use crate::domain::environment::EphemeralEnv;
use crate::domain::{ClusterEvent, ClusterId, ClusterSnapshot, DeploymentSummary, HpaSummary};

impl KubeClusters {
    /// Every cluster's watch, merged. The workload mapping is read from the catalog
    /// once, when the watch starts.
    pub(super) fn watch_clusters(&self) -> BoxStream<'static, ClusterEvent> {
        let this = self.clone();
        // What passes is kept for reads the watch can answer (see [`Watched`]).
        let running = Running::start(this.clone());
        stream::once(async move {
            let mapping = this.mapping().await;
            let streams: Vec<_> = (this.inner.conns.iter())
                .map(|conn| watch_cluster(conn, mapping.clone(), this.inner.timeout))
                .collect();
            // Each cluster sees the environments' namespaces in its own region: joined
            // here into one environment per name.
            let mut envs: BTreeMap<String, BTreeMap<String, EphemeralEnv>> = BTreeMap::new();
            let watched = this.clone();
            stream::select_all(streams).flat_map(move |told| {
                stream::iter(match told {
                    Told::Event(e) => vec![e],
                    Told::HpaGone { cluster, service } => {
                        watched.inner.watched.hpa_gone(&cluster, &service);
                        Vec::new()
                    }
                    Told::Env { name, region, env } => {
                        match env {
                            Some(e) => {
                                envs.entry(name.clone()).or_default().insert(region, e);
                            }
                            None => {
                                if let Some(regions) = envs.get_mut(&name) {
                                    regions.remove(&region);
                                }
                            }
                        }
                        match envs.get(&name) {
                            Some(regions) if !regions.is_empty() => {
                                let mut merged = Vec::new();
                                for e in regions.values() {
                                    envs::merge_env(&mut merged, e.clone());
                                }
                                merged.into_iter().map(ClusterEvent::Environment).collect()
                            }
                            Some(_) => {
                                envs.remove(&name);
                                vec![ClusterEvent::EnvironmentDeleted { name }]
                            }
                            None => Vec::new(),
                        }
                    }
                })
            })
        })
        .flatten()
        .inspect(move |event| running.apply(event))
        .boxed()
    }
}

/// What one cluster's watch tells the merged stream: an event, or what it sees of an
/// ephemeral environment in its region (`None`: its namespace there is gone).
enum Told {
    Event(ClusterEvent),
    /// The service has no HPA in the cluster any more (the domain has no HPA deletion:
    /// only what the watch serves forgets it).
    HpaGone {
        cluster: ClusterId,
        service: String,
    },
    Env {
        name: String,
        region: String,
        env: Option<EphemeralEnv>,
    },
}

/// What one cluster's watchers deliver, merged.
enum Raw {
    Deployment(Result<Event<Deployment>, watcher::Error>),
    Pod(Result<Event<SlimPod>, watcher::Error>),
    Hpa(Result<Event<HorizontalPodAutoscaler>, watcher::Error>),
    Namespace(Result<Event<Namespace>, watcher::Error>),
    /// The configured timeout passed since the watch began.
    Deadline,
}

fn kind_stream<K, F>(api: Api<K>, config: watcher::Config, wrap: F) -> BoxStream<'static, Raw>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: Fn(Result<Event<K>, watcher::Error>) -> Raw + Send + 'static,
{
    watcher::watcher(api, config)
        .default_backoff()
        .map(wrap)
        .boxed()
}

/// One cluster's live stream: deployments and pods carrying the service label, and
/// every HPA; `Synced` once all three have listed; `Unreachable` on each failure (the
/// watchers keep retrying with backoff) and when the first listing takes longer than
/// the timeout.
fn watch_cluster(
    conn: &Conn,
    mapping: Arc<Mapping>,
    timeout: Duration,
) -> BoxStream<'static, Told> {
    let id = conn.id.clone();
    let (deps, pods, hpas) = match (
        conn.api::<Deployment>(),
        conn.api::<SlimPod>(),
        conn.api::<HorizontalPodAutoscaler>(),
    ) {
        (Ok(d), Ok(p), Ok(h)) => (d, p, h),
        _ => {
            let error = conn.client.as_ref().err().cloned().unwrap_or_default();
            return stream::iter([Told::Event(ClusterEvent::Unreachable {
                cluster: id,
                error,
            })])
            .boxed();
        }
    };
    let labelled = match mapping.watch_selector() {
        Some(selector) => watcher::Config::default().labels(&selector),
        None => watcher::Config::default(),
    };
    let deadline = stream::once(tokio::time::sleep(timeout)).map(|_| Raw::Deadline);
    let mut kinds = vec![
        kind_stream(deps, labelled.clone(), Raw::Deployment),
        kind_stream(pods, labelled, Raw::Pod),
        kind_stream(hpas, watcher::Config::default(), Raw::Hpa),
        deadline.boxed(),
    ];
    // Ephemeral environments live in namespaces of their own: seen from a cluster
    // entry that watches every namespace (one scoped to a namespace cannot see them).
    let mut namespaces = Known::default();
    if conn.namespace.is_none()
        && let Ok(client) = conn.client()
    {
        let api: Api<Namespace> = Api::all(client.clone());
        let config = watcher::Config::default().labels(envs::ENV_LABEL);
        kinds.push(kind_stream(api, config, Raw::Namespace));
    } else {
        namespaces.synced = true;
    }
    let merged = stream::select_all(kinds);
    let mut state = WatchState {
        cluster: id,
        mapping,
        timeout,
        deps: Known::default(),
        pods: Known::default(),
        hpas: Known::default(),
        namespaces,
        targets: HashMap::new(),
        waiting_hpas: HashMap::new(),
        synced_once: false,
        failing: false,
    };
    merged
        .flat_map(move |raw| stream::iter(state.handle(raw)))
        .boxed()
}

/// What one kind's watcher has listed, to turn a re-list into deletions: live objects
/// by `namespace/name`, each with what it stands for (`V`: the cluster and the service
/// of a deployment, the cluster and environment of a namespace; nothing for a pod,
/// whose cluster and name its key gives) and whether the list under way has had it.
///
/// At 50,000 pods this is the watch's one per-pod record: one boxed key each (no set
/// of the listed keys beside it, no second copy of the name).
pub(super) struct Known<V = ()> {
    live: HashMap<Box<str>, (V, bool)>,
    /// A (re-)list is under way: live objects it has not had are marked `false`.
    relisting: bool,
    synced: bool,
}

impl<V> Default for Known<V> {
    fn default() -> Self {
        Known {
            live: HashMap::new(),
            relisting: false,
            synced: false,
        }
    }
}

impl<V> Known<V> {
    /// A (re-)list starts: every live object is unlisted until it is listed again.
    fn begin(&mut self) {
        self.relisting = true;
        for (_, listed) in self.live.values_mut() {
            *listed = false;
        }
    }

    /// `key` was listed (or changed).
    fn seen(&mut self, key: &str) {
        if let Some((_, listed)) = self.live.get_mut(key) {
            *listed = true;
        }
    }

    /// `key` stands for `value` (listed, or changed under a watch).
    fn insert(&mut self, key: String, value: V) -> Option<V> {
        (self.live.insert(key.into_boxed_str(), (value, true))).map(|(v, _)| v)
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        self.live.remove(key).map(|(v, _)| v)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.live.values().map(|(v, _)| v)
    }

    /// The list is complete: forget the objects it no longer had, returning their keys
    /// and what each stood for.
    fn finish(&mut self) -> Vec<(Box<str>, V)> {
        self.synced = true;
        if !std::mem::take(&mut self.relisting) {
            return Vec::new();
        }
        let gone: Vec<Box<str>> = (self.live.iter())
            .filter(|(_, (_, listed))| !listed)
            .map(|(k, _)| k.clone())
            .collect();
        let out = (gone.into_iter())
            .filter_map(|k| {
                let (v, _) = self.live.remove(&k)?;
                Some((k, v))
            })
            .collect();
        // A long list that shrank gives its room back.
        if self.live.capacity() > 2 * self.live.len().max(16) {
            self.live.shrink_to_fit();
        }
        out
    }
}

impl Known {
    pub(super) fn key(meta: &ObjectMeta) -> String {
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        )
    }
}

struct WatchState {
    cluster: ClusterId,
    mapping: Arc<Mapping>,
    /// Environment namespaces: their cluster and environment.
    namespaces: Known<(ClusterId, String)>,
    timeout: Duration,
    /// Deployments: their cluster and service.
    deps: Known<(ClusterId, String)>,
    pods: Known,
    /// HPAs mapped to a service: their cluster and service.
    hpas: Known<(ClusterId, String)>,
    /// Deployment `namespace/name` → service, so an HPA without the label maps by
    /// its target.
    targets: HashMap<String, String>,
    /// HPAs without the label whose target deployment has not been seen yet (the
    /// watchers run concurrently): told as soon as it is.
    waiting_hpas: HashMap<String, HorizontalPodAutoscaler>,
    synced_once: bool,
    failing: bool,
}

impl WatchState {
    /// The cluster an object belongs to: an environment namespace's are that
    /// environment's.
    fn cluster_of(&self, meta: &ObjectMeta) -> ClusterId {
        cluster_for(&self.cluster, meta.namespace.as_deref())
    }

    fn unreachable(&mut self, what: &str, e: &dyn std::fmt::Display) -> Vec<Told> {
        self.failing = true;
        tracing::warn!(cluster = %self.cluster, error = %e, "watching {what} failed; retrying");
        vec![Told::Event(ClusterEvent::Unreachable {
            cluster: self.cluster.clone(),
            error: format!("watching {what}: {e}"),
        })]
    }

    fn synced(&self) -> bool {
        self.deps.synced && self.pods.synced && self.hpas.synced && self.namespaces.synced
    }

    /// The environments seen in this cluster, as clusters of their own.
    fn env_clusters(&self) -> Vec<ClusterId> {
        let mut out: Vec<ClusterId> = (self.namespaces.values()).map(|(c, _)| c.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    fn all_synced(&mut self) -> Vec<Told> {
        if self.synced() {
            let first = !self.synced_once;
            self.synced_once = true;
            if first || std::mem::take(&mut self.failing) {
                return std::iter::once(self.cluster.clone())
                    .chain(self.env_clusters())
                    .map(|c| Told::Event(ClusterEvent::Synced(c)))
                    .collect();
            }
        }
        Vec::new()
    }

    fn handle(&mut self, raw: Raw) -> Vec<Told> {
        match raw {
            Raw::Deadline => {
                if self.synced_once {
                    return Vec::new();
                }
                let e = format!("no answer within {}s", self.timeout.as_secs());
                self.unreachable("workloads", &e)
            }
            Raw::Deployment(Err(e)) => self.unreachable("deployments", &e),
            Raw::Pod(Err(e)) => self.unreachable("pods", &e),
            Raw::Hpa(Err(e)) => self.unreachable("horizontal pod autoscalers", &e),
            // Ephemeral environments are optional: a cluster whose namespaces cannot be
            // listed (RBAC often forbids it) is not unreachable; it shows none.
            Raw::Namespace(Err(e)) => {
                if self.namespaces.synced {
                    return Vec::new();
                }
                tracing::warn!(cluster = %self.cluster, error = %e, "ephemeral environments not watched");
                self.namespaces.synced = true;
                self.all_synced()
            }
            Raw::Deployment(Ok(ev)) => self.deployment(ev),
            Raw::Pod(Ok(ev)) => self.pod(ev),
            Raw::Hpa(Ok(ev)) => self.hpa(ev),
            Raw::Namespace(Ok(ev)) => self.namespace(ev),
        }
    }

    fn deployment(&mut self, ev: Event<Deployment>) -> Vec<Told> {
        match ev {
            Event::Init => {
                self.deps.begin();
                Vec::new()
            }
            Event::Apply(d) | Event::InitApply(d) => {
                let key = Known::key(&d.metadata);
                self.deps.seen(&key);
                let cluster = self.cluster_of(&d.metadata);
                match deployment_summary(&d, &cluster, &self.mapping) {
                    Some(s) => {
                        let target = target_key(&d.metadata);
                        self.targets.insert(target.clone(), s.service.clone());
                        self.deps.insert(key, (cluster.clone(), s.service.clone()));
                        let mut out = vec![Told::Event(ClusterEvent::Deployment(s))];
                        if let Some(h) = self.waiting_hpas.remove(&target)
                            && let Some(hs) =
                                hpa_summary(&h, &cluster, &self.mapping, &self.targets)
                        {
                            (self.hpas)
                                .insert(Known::key(&h.metadata), (cluster, hs.service.clone()));
                            out.push(Told::Event(ClusterEvent::Hpa(hs)));
                        }
                        out
                    }
                    None => Vec::new(),
                }
            }
            Event::Delete(d) => {
                let key = Known::key(&d.metadata);
                self.targets.remove(&target_key(&d.metadata));
                match self.deps.remove(&key) {
                    Some((cluster, service)) => {
                        vec![Told::Event(ClusterEvent::DeploymentDeleted {
                            cluster,
                            service,
                        })]
                    }
                    None => Vec::new(),
                }
            }
            Event::InitDone => {
                let mut out: Vec<Told> = (self.deps.finish().into_iter())
                    .map(|(_, (cluster, service))| {
                        Told::Event(ClusterEvent::DeploymentDeleted { cluster, service })
                    })
                    .collect();
                out.extend(self.all_synced());
                out
            }
        }
    }

    /// A pod that went, from its key (`namespace/name`): its cluster (an environment's
    /// namespace is that environment's) and its name.
    fn pod_gone(&self, key: &str) -> Told {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let namespace = (!namespace.is_empty()).then_some(namespace);
        Told::Event(ClusterEvent::PodDeleted {
            cluster: cluster_for(&self.cluster, namespace),
            name: name.to_string(),
        })
    }

    fn pod(&mut self, ev: Event<SlimPod>) -> Vec<Told> {
        match ev {
            Event::Init => {
                self.pods.begin();
                Vec::new()
            }
            Event::Apply(p) | Event::InitApply(p) => {
                let p = &p.0;
                let key = Known::key(&p.metadata);
                self.pods.seen(&key);
                let cluster = self.cluster_of(&p.metadata);
                match pod_summary(p, &cluster, &self.mapping) {
                    Some(s) => {
                        self.pods.insert(key, ());
                        vec![Told::Event(ClusterEvent::Pod(s))]
                    }
                    None => Vec::new(),
                }
            }
            Event::Delete(p) => {
                let key = Known::key(&p.0.metadata);
                match self.pods.remove(&key) {
                    Some(()) => vec![self.pod_gone(&key)],
                    None => Vec::new(),
                }
            }
            Event::InitDone => {
                let gone = self.pods.finish();
                let mut out: Vec<Told> = gone.iter().map(|(key, ())| self.pod_gone(key)).collect();
                out.extend(self.all_synced());
                out
            }
        }
    }

    /// An HPA that went (or no longer maps to its service): told only to what the
    /// watch serves, and only when no other HPA of the service is left in the cluster.
    fn hpa_gone(&self, (cluster, service): (ClusterId, String)) -> Vec<Told> {
        let (c, s) = (&cluster, &service);
        if (self.hpas.values()).any(|(oc, os)| oc == c && os == s) {
            return Vec::new();
        }
        vec![Told::HpaGone { cluster, service }]
    }

    fn hpa(&mut self, ev: Event<HorizontalPodAutoscaler>) -> Vec<Told> {
        match ev {
            Event::Init => {
                self.hpas.begin();
                Vec::new()
            }
            Event::Apply(h) | Event::InitApply(h) => {
                let key = Known::key(&h.metadata);
                self.hpas.seen(&key);
                let cluster = self.cluster_of(&h.metadata);
                match hpa_summary(&h, &cluster, &self.mapping, &self.targets) {
                    Some(s) => {
                        let before = self.hpas.insert(key, (cluster, s.service.clone()));
                        let mut out = vec![Told::Event(ClusterEvent::Hpa(s))];
                        // Moved to another service: the one it left may have none now.
                        if let Some(before) = before {
                            out.extend(self.hpa_gone(before));
                        }
                        out
                    }
                    None => {
                        let before = self.hpas.remove(&key);
                        if h.spec.scale_target_ref.kind == "Deployment" {
                            self.waiting_hpas.insert(hpa_target_key(&h), h);
                        }
                        before.map(|b| self.hpa_gone(b)).unwrap_or_default()
                    }
                }
            }
            // The domain has no HPA deletion (the HPA pane shows the last bounds); what
            // the watch serves forgets it.
            Event::Delete(h) => match self.hpas.remove(&Known::key(&h.metadata)) {
                Some(gone) => self.hpa_gone(gone),
                None => Vec::new(),
            },
            Event::InitDone => {
                let gone = self.hpas.finish();
                let mut out: Vec<Told> = (gone.into_iter())
                    .flat_map(|(_, v)| self.hpa_gone(v))
                    .collect();
                out.extend(self.all_synced());
                out
            }
        }
    }

    /// An environment namespace: the environment as this region sees it, and once the
    /// cluster has synced, its cluster synced too (what runs there came with the rest).
    fn namespace(&mut self, ev: Event<Namespace>) -> Vec<Told> {
        let region = self.cluster.region.to_string();
        let gone = |(cluster, name): (ClusterId, String)| -> Vec<Told> {
            vec![Told::Env {
                name,
                region: cluster.region.to_string(),
                env: None,
            }]
        };
        match ev {
            Event::Init => {
                self.namespaces.begin();
                Vec::new()
            }
            Event::Apply(ns) | Event::InitApply(ns) => {
                let key = Known::key(&ns.metadata);
                self.namespaces.seen(&key);
                match envs::env_from_namespace(&ns, &region) {
                    Some(env) => {
                        let cluster = ClusterId::new(&env.name, &region);
                        let new = (self.namespaces)
                            .insert(key, (cluster.clone(), env.name.clone()))
                            .is_none();
                        let mut out = vec![Told::Env {
                            name: env.name.clone(),
                            region,
                            env: Some(env),
                        }];
                        if new && self.synced_once {
                            out.push(Told::Event(ClusterEvent::Synced(cluster)));
                        }
                        out
                    }
                    // Being deleted: gone from here.
                    None => self.namespaces.remove(&key).map(gone).unwrap_or_default(),
                }
            }
            Event::Delete(ns) => (self.namespaces.remove(&Known::key(&ns.metadata)))
                .map(gone)
                .unwrap_or_default(),
            Event::InitDone => {
                let mut out: Vec<Told> = self
                    .namespaces
                    .finish()
                    .into_iter()
                    .flat_map(|(_, v)| gone(v))
                    .collect();
                out.extend(self.all_synced());
                out
            }
        }
    }
}

/// The deployments the running workload watches told of, so the service view's reads
/// ask the API servers nothing while a watch runs (issue 14): served only while at
/// least one watch stream is open and every configured cluster has synced and is not
/// failing since; otherwise the caller reads directly.
#[derive(Default)]
pub(super) struct Watched(Mutex<WatchedState>);

#[derive(Default)]
struct WatchedState {
    /// Open watch streams (a dropped stream ends its share).
    streams: usize,
    /// Clusters (configured ones and environments) synced and not unreachable since.
    live: HashSet<ClusterId>,
    /// Deployments by cluster, then service.
    deployments: HashMap<ClusterId, BTreeMap<String, DeploymentSummary>>,
    /// HPAs by cluster, then service (what an action on an HPA checks).
    hpas: HashMap<ClusterId, BTreeMap<String, HpaSummary>>,
}

impl Watched {
    fn state(&self) -> MutexGuard<'_, WatchedState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The deployments of `service` in every cluster, when a running watch has synced
    /// every one of `clusters` (the configured ones) and none failed since; `None`
    /// otherwise.
    pub(super) fn service_deployments(
        &self,
        service: &str,
        clusters: &[ClusterId],
    ) -> Option<Vec<DeploymentSummary>> {
        let state = self.state();
        if state.streams == 0 || !clusters.iter().all(|c| state.live.contains(c)) {
            return None;
        }
        Some(
            (state.deployments.values())
                .filter_map(|by_service| by_service.get(service).cloned())
                .collect(),
        )
    }

    /// The workloads of `service` in `cluster` (its deployment; its HPA when `read`
    /// asks), when a running watch has synced that cluster and it has not failed
    /// since; `None` otherwise.
    pub(super) fn service_workloads(
        &self,
        service: &str,
        cluster: &ClusterId,
        read: WorkloadRead,
    ) -> Option<ClusterSnapshot> {
        let state = self.state();
        if state.streams == 0 || !state.live.contains(cluster) {
            return None;
        }
        fn of<T: Clone>(
            by_cluster: &HashMap<ClusterId, BTreeMap<String, T>>,
            cluster: &ClusterId,
            service: &str,
        ) -> Vec<T> {
            (by_cluster.get(cluster))
                .and_then(|by_service| by_service.get(service))
                .cloned()
                .into_iter()
                .collect()
        }
        Some(ClusterSnapshot {
            deployments: of(&state.deployments, cluster, service),
            hpas: if read.hpas {
                of(&state.hpas, cluster, service)
            } else {
                Vec::new()
            },
            ..ClusterSnapshot::default()
        })
    }

    /// `service` has no HPA in `cluster` any more.
    fn hpa_gone(&self, cluster: &ClusterId, service: &str) {
        if let Some(by_service) = self.state().hpas.get_mut(cluster) {
            by_service.remove(service);
        }
    }
}

/// One open watch stream's share of [`Watched`]: counted while the stream lives, and
/// each event it passes applied.
struct Running(KubeClusters);

impl Running {
    fn start(clusters: KubeClusters) -> Self {
        clusters.inner.watched.state().streams += 1;
        Running(clusters)
    }

    fn apply(&self, event: &ClusterEvent) {
        let mut state = self.0.inner.watched.state();
        match event {
            ClusterEvent::Deployment(d) => {
                (state.deployments.entry(d.cluster.clone()).or_default())
                    .insert(d.service.clone(), d.clone());
            }
            ClusterEvent::DeploymentDeleted { cluster, service } => {
                if let Some(by_service) = state.deployments.get_mut(cluster) {
                    by_service.remove(service);
                }
            }
            ClusterEvent::Hpa(h) => {
                (state.hpas.entry(h.cluster.clone()).or_default())
                    .insert(h.service.clone(), h.clone());
            }
            ClusterEvent::Synced(cluster) => {
                state.live.insert(cluster.clone());
            }
            ClusterEvent::Unreachable { cluster, .. } => {
                state.live.remove(cluster);
            }
            ClusterEvent::EnvironmentDeleted { name } => {
                state.deployments.retain(|c, _| c.env != name.as_str());
                state.hpas.retain(|c, _| c.env != name.as_str());
                state.live.retain(|c| c.env != name.as_str());
            }
            _ => {}
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut state = self.0.inner.watched.state();
        state.streams = state.streams.saturating_sub(1);
        if state.streams == 0 {
            *state = WatchedState::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> WatchState {
        WatchState {
            cluster: ClusterId::new("production", "use1"),
            mapping: Arc::new(Mapping::by_label("app")),
            timeout: Duration::from_secs(5),
            deps: Known::default(),
            pods: Known::default(),
            hpas: Known::default(),
            namespaces: Known::default(),
            targets: HashMap::new(),
            waiting_hpas: HashMap::new(),
            synced_once: false,
            failing: false,
        }
    }

    fn pod(namespace: &str, name: &str, service: Option<&str>) -> SlimPod {
        let labels = service.map(|s| serde_json::json!({ "app": s }));
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "status": {"phase": "Running"}
        }))
        .expect("pod")
    }

    /// What the pods' watcher told, as (pod, cluster) for each pod and "-pod@cluster"
    /// for each deletion.
    fn told(state: &mut WatchState, events: Vec<Event<SlimPod>>) -> Vec<String> {
        let mut out = Vec::new();
        for ev in events {
            for t in state.handle(Raw::Pod(Ok(ev))) {
                match t {
                    Told::Event(ClusterEvent::Pod(p)) => {
                        out.push(format!("{}@{}", p.name, p.cluster))
                    }
                    Told::Event(ClusterEvent::PodDeleted { cluster, name }) => {
                        out.push(format!("-{name}@{cluster}"));
                    }
                    _ => {}
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn pods_gone_from_a_relist_or_deleted_are_told_with_their_cluster_and_name() {
        let mut s = state();
        let env_ns = format!("{}pr-7", envs::NAMESPACE_PREFIX);
        let listed = told(
            &mut s,
            vec![
                Event::Init,
                Event::InitApply(pod("apps", "a-1", Some("a"))),
                Event::InitApply(pod("apps", "a-2", Some("a"))),
                Event::InitApply(pod(&env_ns, "a-1", Some("a"))),
                Event::InitApply(pod("apps", "other", None)),
                Event::InitDone,
            ],
        );
        assert_eq!(
            listed,
            [
                "a-1@pr-7/use1",
                "a-1@production/use1",
                "a-2@production/use1"
            ]
        );
        assert!(s.pods.synced);
        // A re-list without a-2 and the environment's pod: both told gone, each in its
        // own cluster; a-1 (listed again) stays.
        let relisted = told(
            &mut s,
            vec![
                Event::Init,
                Event::InitApply(pod("apps", "a-1", Some("a"))),
                Event::InitApply(pod("apps", "a-3", Some("a"))),
                Event::InitDone,
            ],
        );
        assert_eq!(
            relisted,
            [
                "-a-1@pr-7/use1",
                "-a-2@production/use1",
                "a-1@production/use1",
                "a-3@production/use1"
            ]
        );
        // A second re-list with nothing new deletes nothing.
        let again = told(
            &mut s,
            vec![
                Event::Init,
                Event::InitApply(pod("apps", "a-1", Some("a"))),
                Event::InitApply(pod("apps", "a-3", Some("a"))),
                Event::InitDone,
            ],
        );
        assert_eq!(again, ["a-1@production/use1", "a-3@production/use1"]);
        // Deleted under the watch: told once; an unmapped pod's deletion not at all.
        let deleted = told(
            &mut s,
            vec![
                Event::Delete(pod("apps", "a-3", Some("a"))),
                Event::Delete(pod("apps", "a-3", Some("a"))),
                Event::Delete(pod("apps", "other", None)),
            ],
        );
        assert_eq!(deleted, ["-a-3@production/use1"]);
        assert_eq!(s.pods.live.len(), 1);
    }
}
