//! The Kubernetes provider: deployments, pods and HPAs of every `[[clusters]]` entry,
//! watched live with `kube::runtime` and kept as summaries; rollout restart and HPA
//! patches; and the lock store (one ConfigMap per cluster, written with optimistic
//! concurrency).
//!
//! One kube [`Client`] per configured cluster, built from the kubeconfig (the entry's
//! file, else `$KUBECONFIG`, else `~/.kube/config`) and the entry's context. Workloads
//! map to services by the `[kubernetes] service_label` label, or by a catalog
//! Component's `backstage.io/kubernetes-id` / `backstage.io/kubernetes-label-selector`
//! annotation ([`mapping`]). Only standard API calls are used: list, watch, get,
//! create, merge/strategic-merge patch and replace.

pub mod diagnose;
pub mod envs;
pub mod mapping;
mod watch_store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use self::envs::cluster_for;
pub use self::mapping::Mapping;
use super::{CatalogProvider, ClusterProvider, LockStore};
use crate::config::platform::{ClusterConfig, KubernetesConfig};
use crate::domain::environment::EphemeralEnv;
use crate::domain::{
    ClusterEvent, ClusterId, ClusterSnapshot, DeploymentSummary, HpaSummary, Lock, PodPhase,
    PodSummary, RolloutState, Scope, Timestamp, Topology,
};

/// The ConfigMap holding a cluster's locks, in `[kubernetes] lock_namespace`.
pub const LOCK_OBJECT: &str = "sphere-locks";
/// The key of [`LOCK_OBJECT`]'s data holding the locks: a [`LockDoc`] as JSON,
/// `{"format": 2, "locks": [{"service", "env"?, "region"?, "reason", "by", "at"}]}`, a
/// target holding one lock per holder. Format 1 (written by sphere before locks were
/// sets) was the bare JSON list of locks, one per target; it is still read, and the
/// next write turns it into format 2. A sphere that knows only format 1 fails to read
/// format 2 (its `lock check` exits non-zero: closed), instead of replacing another
/// holder's lock.
pub const LOCK_KEY: &str = "locks.json";
/// The format of [`LOCK_KEY`] this sphere writes.
pub const LOCK_FORMAT: u32 = 2;

/// The lock object's document (format 2).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LockDoc {
    pub format: u32,
    pub locks: Vec<Lock>,
}

/// Format 1 or 2, as read.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum LockData {
    Doc(LockDoc),
    List(Vec<Lock>),
}

/// The text of the lock object's data for `locks` (format 2).
fn lock_text(locks: &[Lock]) -> Result<String> {
    Ok(serde_json::to_string(&LockDoc {
        format: LOCK_FORMAT,
        locks: locks.to_vec(),
    })?)
}
/// How often one lock write re-reads and retries after a conflict before giving up.
const LOCK_ATTEMPTS: u32 = 64;
/// The annotation `kubectl rollout restart` sets on the pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// One configured cluster: its client (or why there is none) and its namespace scope.
struct Conn {
    id: ClusterId,
    client: Result<Client, String>,
    namespace: Option<String>,
}

impl Conn {
    fn client(&self) -> Result<&Client> {
        self.client
            .as_ref()
            .map_err(|e| anyhow!("cluster {}: {e}", self.id))
    }

    /// The API for a workload kind, restricted to the cluster's namespace when it has one.
    fn api<K>(&self) -> Result<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        let client = self.client()?.clone();
        Ok(match &self.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        })
    }
}

struct Inner {
    conns: Vec<Conn>,
    topology: Topology,
    label: String,
    lock_namespace: String,
    image: String,
    timeout: Duration,
    conflicts: AtomicU64,
    /// The catalog whose Components' annotations map workloads (see [`mapping`]).
    catalog: OnceLock<Arc<dyn CatalogProvider>>,
    /// The lock objects and environment namespaces, watched ([`watch_store`]).
    stores: watch_store::Stores,
}

/// Every `[[clusters]]` entry's Kubernetes cluster: the [`ClusterProvider`] and the
/// [`LockStore`] of a configured platform. Cheap to clone.
#[derive(Clone)]
pub struct KubeClusters {
    inner: Arc<Inner>,
}

impl KubeClusters {
    /// One client per entry. A cluster whose kubeconfig or context cannot be loaded
    /// does not stop the others: its calls fail (and its watch reports it unreachable)
    /// with what went wrong.
    pub async fn new(clusters: &[ClusterConfig], settings: &KubernetesConfig) -> Self {
        let timeout = Duration::from_secs(settings.timeout_seconds.max(1));
        let mut conns = Vec::with_capacity(clusters.len());
        for entry in clusters {
            let client = client_for(entry, timeout)
                .await
                .map_err(|e| format!("{e:#}"));
            if let Err(e) = &client {
                tracing::warn!(cluster = %entry.id(), error = %e, "kubernetes client not available");
            }
            conns.push(Conn {
                id: entry.id(),
                client,
                namespace: entry.namespace.clone(),
            });
        }
        let regions: Vec<String> = clusters.iter().map(|c| c.region.clone()).collect();
        let mut topology = Topology::default();
        for entry in clusters {
            if !topology.regions.contains(&entry.region) {
                topology.regions.push(entry.region.clone());
            }
            if !topology.environments.contains(&entry.env) {
                topology.environments.push(entry.env.clone());
            }
        }
        KubeClusters {
            inner: Arc::new(Inner {
                conns,
                topology,
                label: settings.service_label.clone(),
                lock_namespace: settings.lock_namespace.clone(),
                image: settings.image.clone(),
                timeout,
                conflicts: AtomicU64::new(0),
                catalog: OnceLock::new(),
                stores: watch_store::Stores::new(&regions),
            }),
        }
    }

    /// How many lock writes were refused with a conflict (and re-read and retried) by
    /// this client so far.
    pub fn lock_conflicts(&self) -> u64 {
        self.inner.conflicts.load(Ordering::Relaxed)
    }

    /// The catalog whose Components may say how their workloads are found
    /// (`backstage.io/kubernetes-id`, `backstage.io/kubernetes-label-selector`). Without
    /// one, the service label alone maps workloads.
    pub fn set_catalog(&self, catalog: Arc<dyn CatalogProvider>) {
        let _ = self.inner.catalog.set(catalog);
    }

    /// How workloads map to services now: the service label plus the catalog's
    /// annotations (read afresh). A catalog that cannot be read leaves the label.
    pub async fn mapping(&self) -> Arc<Mapping> {
        let label = &self.inner.label;
        let Some(catalog) = self.inner.catalog.get() else {
            return Arc::new(Mapping::by_label(label));
        };
        match catalog.load().await {
            Ok(c) => {
                let m = Mapping::from_catalog(label, &c);
                for problem in &m.problems {
                    tracing::warn!("workload mapping: {problem}");
                }
                Arc::new(m)
            }
            Err(e) => {
                tracing::warn!("catalog not readable for the workload mapping: {e:#}");
                Arc::new(Mapping::by_label(label))
            }
        }
    }

    fn conn(&self, cluster: &ClusterId) -> Result<&Conn> {
        self.inner
            .conns
            .iter()
            .find(|c| &c.id == cluster)
            .ok_or_else(|| anyhow!("cluster {cluster} is not configured in [[clusters]]"))
    }

    /// Runs `f` with the configured timeout, naming the cluster and what was done when
    /// it fails or takes too long.
    async fn timed<T>(
        &self,
        cluster: &ClusterId,
        what: &str,
        f: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.inner.timeout, f).await {
            Ok(r) => r.with_context(|| format!("cluster {cluster}: {what}")),
            Err(_) => bail!(
                "cluster {cluster}: {what}: no answer within {}s",
                self.inner.timeout.as_secs()
            ),
        }
    }

    async fn read_cluster(&self, conn: &Conn, mapping: &Mapping) -> Result<ClusterSnapshot> {
        let by_label = match mapping.watch_selector() {
            Some(selector) => ListParams::default().labels(&selector),
            None => ListParams::default(),
        };
        let deps = conn.api::<Deployment>()?;
        let pods = conn.api::<Pod>()?;
        let hpas = conn.api::<HorizontalPodAutoscaler>()?;
        let (deps, pods, hpas) = futures::try_join!(
            async { deps.list(&by_label).await.context("listing deployments") },
            async { pods.list(&by_label).await.context("listing pods") },
            async {
                hpas.list(&ListParams::default())
                    .await
                    .context("listing horizontal pod autoscalers")
            },
        )?;
        let mut targets = HashMap::new();
        let mut out = ClusterSnapshot::default();
        let cluster = |meta: &ObjectMeta| cluster_for(&conn.id, meta.namespace.as_deref());
        for d in &deps.items {
            if let Some(s) = deployment_summary(d, &cluster(&d.metadata), mapping) {
                targets.insert(target_key(&d.metadata), s.service.clone());
                out.deployments.push(s);
            }
        }
        out.pods = pods
            .items
            .iter()
            .filter_map(|p| pod_summary(p, &cluster(&p.metadata), mapping))
            .collect();
        out.hpas = hpas
            .items
            .iter()
            .filter_map(|h| hpa_summary(h, &cluster(&h.metadata), mapping, &targets))
            .collect();
        Ok(out)
    }

    /// The deployments of `service` in one cluster (an error when there is none).
    async fn deployments_of(
        &self,
        conn: &Conn,
        service: &str,
        mapping: &Mapping,
    ) -> Result<Vec<Deployment>> {
        // The Component's own selector (or id) first; then the service label, which
        // also maps a workload that carries no id label.
        let label = format!("{}={service}", self.inner.label);
        let mut selectors = vec![mapping.selector_of(service)];
        if selectors[0] != label {
            selectors.push(label);
        }
        for selector in &selectors {
            let list = conn
                .api::<Deployment>()?
                .list(&ListParams::default().labels(selector))
                .await
                .context("listing deployments")?;
            // The selector picks the candidates; the mapping has the last word (a
            // workload a Component's own selector claims is not also the label's), and
            // an ephemeral environment's copies are not the cluster's own.
            let mine: Vec<Deployment> = list
                .items
                .into_iter()
                .filter(|d| cluster_for(&conn.id, d.metadata.namespace.as_deref()) == conn.id)
                .filter(|d| deployment_service(d, mapping).as_deref() == Some(service))
                .collect();
            if !mine.is_empty() {
                return Ok(mine);
            }
        }
        bail!(
            "service {service} has no deployment matching {}",
            selectors.join(" or ")
        )
    }

    // --- locks -----------------------------------------------------------------------

    fn lock_api(&self, conn: &Conn) -> Result<Api<ConfigMap>> {
        Ok(Api::namespaced(
            conn.client()?.clone(),
            &self.inner.lock_namespace,
        ))
    }

    async fn read_locks(&self, conn: &Conn) -> Result<Vec<Lock>> {
        let cm = self
            .lock_api(conn)?
            .get_opt(LOCK_OBJECT)
            .await
            .context("reading the lock object")?;
        match cm {
            Some(cm) => parse_locks(&cm),
            None => Ok(Vec::new()),
        }
    }

    /// Read-modify-write of one cluster's lock object with optimistic concurrency: the
    /// replace carries the resourceVersion that was read, and a conflict re-reads and
    /// retries (bounded); nothing is ever overwritten blindly. `change` returns what it
    /// reports and whether it changed the locks (no change: nothing is written).
    async fn update_locks<R>(
        &self,
        conn: &Conn,
        mut change: impl FnMut(&mut Vec<Lock>) -> (R, bool),
    ) -> Result<R> {
        let api = self.lock_api(conn)?;
        for attempt in 0..LOCK_ATTEMPTS {
            if attempt > 0 {
                // Spread retrying writers apart a little.
                let jitter = u64::from(std::process::id() ^ attempt.wrapping_mul(7919)) % 7;
                tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
            }
            let current = api
                .get_opt(LOCK_OBJECT)
                .await
                .context("reading the lock object")?;
            let Some(mut cm) = current else {
                let mut locks = Vec::new();
                let (report, changed) = change(&mut locks);
                if !changed {
                    return Ok(report);
                }
                self.ensure_lock_namespace(conn).await?;
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(LOCK_OBJECT.to_string()),
                        namespace: Some(self.inner.lock_namespace.clone()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/managed-by".to_string(),
                            "sphere".to_string(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(LOCK_KEY.to_string(), lock_text(&locks)?)])),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &cm).await {
                    Ok(made) => {
                        self.note_locks(conn, &made);
                        return Ok(report);
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        // Someone created it first: read theirs and apply on top.
                        self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Err(e) => return Err(e).context("creating the lock object"),
                }
            };
            let mut locks = parse_locks(&cm)?;
            let (report, changed) = change(&mut locks);
            if !changed {
                return Ok(report);
            }
            cm.data
                .get_or_insert_with(BTreeMap::new)
                .insert(LOCK_KEY.to_string(), lock_text(&locks)?);
            // `cm.metadata.resource_version` is the version read: a stale one is refused.
            match api.replace(LOCK_OBJECT, &PostParams::default(), &cm).await {
                Ok(written) => {
                    self.note_locks(conn, &written);
                    return Ok(report);
                }
                Err(kube::Error::Api(s)) if s.is_conflict() => {
                    self.inner.conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(cluster = %conn.id, attempt, "lock object changed meanwhile; re-reading");
                }
                Err(e) => return Err(e).context("writing the lock object"),
            }
        }
        bail!("the lock object kept changing: gave up after {LOCK_ATTEMPTS} attempts")
    }

    async fn ensure_lock_namespace(&self, conn: &Conn) -> Result<()> {
        let api: Api<Namespace> = Api::all(conn.client()?.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(self.inner.lock_namespace.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            // Allowed to write ConfigMaps there but not to create namespaces: let the
            // ConfigMap create say whether the namespace exists.
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
            Err(e) => Err(e)
                .with_context(|| format!("creating the namespace {}", self.inner.lock_namespace)),
        }
    }

    /// The clusters a lock (or an unlock scope) is about.
    fn clusters_matching(&self, env: Option<&str>, region: Option<&str>) -> Vec<&Conn> {
        self.inner
            .conns
            .iter()
            .filter(|c| {
                env.is_none_or(|e| e == c.id.env) && region.is_none_or(|r| r == c.id.region)
            })
            .collect()
    }

    /// The clusters that keep the locks about `env`/`region`: the configured ones
    /// there, or, for an ephemeral environment, the clusters hosting its namespaces
    /// (its source environment's, in its regions).
    async fn lock_clusters(&self, env: Option<&str>, region: Option<&str>) -> Result<Vec<&Conn>> {
        let direct = self.clusters_matching(env, region);
        let Some(name) = env.filter(|_| direct.is_empty()) else {
            return Ok(direct);
        };
        let envs = self.list_environments().await?;
        let Some(e) = envs.iter().find(|e| e.name == name) else {
            return Ok(direct);
        };
        Ok(self
            .inner
            .conns
            .iter()
            .filter(|c| {
                c.id.env == e.from
                    && e.regions.iter().any(|r| *r == c.id.region)
                    && region.is_none_or(|r| r == c.id.region)
            })
            .collect())
    }
}

/// Builds the client of one `[[clusters]]` entry from its kubeconfig and context.
async fn client_for(entry: &ClusterConfig, timeout: Duration) -> Result<Client> {
    let options = KubeConfigOptions {
        context: entry.context.clone(),
        ..Default::default()
    };
    let mut config = match &entry.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .with_context(|| match &entry.context {
        Some(c) => format!("loading the kube context {c}"),
        None => "loading the current kube context".to_string(),
    })?;
    config.connect_timeout = Some(timeout);
    Client::try_from(config).context("building the Kubernetes client")
}

fn parse_locks(cm: &ConfigMap) -> Result<Vec<Lock>> {
    match cm.data.as_ref().and_then(|d| d.get(LOCK_KEY)) {
        Some(text) if !text.trim().is_empty() => parse_lock_text(text),
        _ => Ok(Vec::new()),
    }
}

/// The locks in the lock object's text: format 2, or format 1 (a bare list). A newer
/// format is refused (closed), not guessed at.
pub fn parse_lock_text(text: &str) -> Result<Vec<Lock>> {
    match serde_json::from_str::<LockData>(text) {
        Ok(LockData::List(locks)) => Ok(locks),
        Ok(LockData::Doc(doc)) if doc.format <= LOCK_FORMAT => Ok(doc.locks),
        Ok(LockData::Doc(doc)) => bail!(
            "the lock object's {LOCK_KEY} has format {}, newer than this sphere reads ({LOCK_FORMAT}): upgrade sphere",
            doc.format
        ),
        Err(_) => bail!(
            "the lock object's {LOCK_KEY} is neither {{\"format\": {LOCK_FORMAT}, \"locks\": [...]}} nor a JSON list of locks"
        ),
    }
}

fn same_lock(a: &Lock, b: &Lock) -> bool {
    a.same(b)
}

#[async_trait]
impl ClusterProvider for KubeClusters {
    fn topology(&self) -> Topology {
        self.inner.topology.clone()
    }

    async fn whoami(&self) -> Result<Option<String>> {
        use k8s_openapi::api::authentication::v1::SelfSubjectReview;
        // The first cluster that has a client: the user its credentials authenticate.
        let Some(conn) = self.inner.conns.iter().find(|c| c.client.is_ok()) else {
            return Ok(None);
        };
        let api: Api<SelfSubjectReview> = Api::all(conn.client()?.clone());
        let review = tokio::time::timeout(
            self.inner.timeout,
            api.create(
                &kube::api::PostParams::default(),
                &SelfSubjectReview::default(),
            ),
        )
        .await
        .map_err(|_| anyhow!("cluster {}: no SelfSubjectReview answer", conn.id))?
        .with_context(|| format!("cluster {}: SelfSubjectReview", conn.id))?;
        Ok(review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .filter(|u| !u.trim().is_empty()))
    }

    async fn snapshot(&self, scope: &Scope) -> Result<ClusterSnapshot> {
        let mapping = self.mapping().await;
        let mapping = &mapping;
        // An ephemeral environment lives in the clusters of its source: for a scope on
        // an environment no entry names, read the scope's region everywhere and keep
        // what falls in the scope.
        let configured = |env: &str| self.inner.conns.iter().any(|c| c.id.env == env);
        let read = |c: &Conn| match scope.env.as_deref() {
            Some(env) if !configured(env) => {
                scope.region.as_ref().is_none_or(|r| *r == c.id.region)
            }
            _ => scope.contains(&c.id),
        };
        let reads = self
            .inner
            .conns
            .iter()
            .filter(|c| read(c))
            .map(|conn| async move {
                let read = self.read_cluster(conn, mapping);
                let r = self.timed(&conn.id, "reading workloads", read);
                (conn.id.clone(), r.await)
            });
        let mut out = ClusterSnapshot::default();
        for (id, result) in futures::future::join_all(reads).await {
            match result {
                Ok(part) => {
                    (out.deployments).extend(
                        part.deployments
                            .into_iter()
                            .filter(|d| scope.contains(&d.cluster)),
                    );
                    (out.pods).extend(part.pods.into_iter().filter(|p| scope.contains(&p.cluster)));
                    (out.hpas).extend(part.hpas.into_iter().filter(|h| scope.contains(&h.cluster)));
                }
                Err(e) => {
                    tracing::warn!(cluster = %id, error = %format!("{e:#}"), "cluster read failed");
                    out.errors.push((id, format!("{e:#}")));
                }
            }
        }
        Ok(out)
    }

    /// Every cluster's watch, merged. The workload mapping is read from the catalog
    /// once, when the watch starts.
    fn watch(&self) -> BoxStream<'static, ClusterEvent> {
        let this = self.clone();
        stream::once(async move {
            let mapping = this.mapping().await;
            let streams: Vec<_> = (this.inner.conns.iter())
                .map(|conn| watch_cluster(conn, mapping.clone(), this.inner.timeout))
                .collect();
            // Each cluster sees the environments' namespaces in its own region: joined
            // here into one environment per name.
            let mut envs: BTreeMap<String, BTreeMap<String, EphemeralEnv>> = BTreeMap::new();
            stream::select_all(streams).flat_map(move |told| {
                stream::iter(match told {
                    Told::Event(e) => vec![e],
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
        .boxed()
    }

    async fn environments(&self) -> Result<Vec<EphemeralEnv>> {
        self.list_environments().await
    }

    async fn create_environment(&self, env: &EphemeralEnv) -> Result<usize> {
        self.create_env(env).await
    }

    async fn extend_environment(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        self.extend_env(name, expires_at).await
    }

    async fn delete_environment(&self, name: &str) -> Result<usize> {
        self.delete_env(name).await
    }

    async fn pod_details(
        &self,
        cluster: &ClusterId,
        pod: &str,
    ) -> Result<crate::domain::pod::PodDetails> {
        self.describe_pod(cluster, pod).await
    }

    async fn events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<crate::domain::pod::PodEvent>> {
        self.read_events(cluster, service, pod).await
    }

    async fn logs(
        &self,
        cluster: &ClusterId,
        pod: &str,
        query: &crate::domain::pod::LogQuery,
    ) -> Result<BoxStream<'static, crate::domain::pod::LogLine>> {
        self.open_logs(cluster, pod, query).await
    }

    async fn restart(&self, service: &str, cluster: &ClusterId) -> Result<()> {
        let conn = self.conn(cluster)?;
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        self.timed(cluster, &format!("restarting {service}"), async {
            let mapping = self.mapping().await;
            for d in self.deployments_of(conn, service, &mapping).await? {
                let ns = d.namespace().unwrap_or_else(|| "default".to_string());
                let api: Api<Deployment> = Api::namespaced(conn.client()?.clone(), &ns);
                let patch = serde_json::json!({
                    "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}
                });
                api.patch(
                    &d.name_any(),
                    &PatchParams::default(),
                    &Patch::Strategic(patch),
                )
                .await
                .with_context(|| format!("patching deployment {ns}/{}", d.name_any()))?;
            }
            Ok(())
        })
        .await
    }

    async fn set_hpa(&self, service: &str, cluster: &ClusterId, min: u32, max: u32) -> Result<()> {
        let conn = self.conn(cluster)?;
        if min == 0 || min > max {
            bail!("HPA bounds {min}..{max} are not valid (1 <= min <= max)");
        }
        self.timed(cluster, &format!("patching the HPA of {service}"), async {
            let mapping = self.mapping().await;
            let hpas = conn
                .api::<HorizontalPodAutoscaler>()?
                .list(&ListParams::default())
                .await
                .context("listing horizontal pod autoscalers")?;
            let deps = conn
                .api::<Deployment>()?
                .list(&ListParams::default().labels(&mapping.selector_of(service)))
                .await
                .context("listing deployments")?;
            let targets: HashMap<String, String> = deps
                .items
                .iter()
                .filter_map(|d| Some((target_key(&d.metadata), deployment_service(d, &mapping)?)))
                .collect();
            // Only the cluster's own HPAs (an ephemeral environment's are its own).
            let mine: Vec<_> = hpas
                .items
                .iter()
                .filter(|h| cluster_for(&conn.id, h.metadata.namespace.as_deref()) == conn.id)
                .filter(|h| hpa_service(h, &mapping, &targets).as_deref() == Some(service))
                .collect();
            if mine.is_empty() {
                bail!("service {service} has no horizontal pod autoscaler");
            }
            for h in mine {
                let ns = h.namespace().unwrap_or_else(|| "default".to_string());
                let api: Api<HorizontalPodAutoscaler> =
                    Api::namespaced(conn.client()?.clone(), &ns);
                let patch = serde_json::json!({"spec": {"minReplicas": min, "maxReplicas": max}});
                api.patch(&h.name_any(), &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .with_context(|| format!("patching HPA {ns}/{}", h.name_any()))?;
            }
            Ok(())
        })
        .await
    }

    /// Creates the deployment `service` in the cluster's namespace (else `default`),
    /// labelled with the service label, running `[kubernetes] image`. An existing one is
    /// left as it is.
    async fn create_deployment(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
        replicas: u32,
    ) -> Result<()> {
        let conn = self.conn(cluster)?;
        let ns = conn.namespace.as_deref().unwrap_or("default");
        let image = self
            .inner
            .image
            .replace("{service}", service)
            .replace("{version}", version);
        // The service label, and the id label Backstage's Kubernetes plugin looks for
        // (the golden path's descriptor sets `backstage.io/kubernetes-id`).
        let labels = serde_json::json!({
            &self.inner.label: service,
            mapping::KUBERNETES_ID: service,
        });
        let deployment: Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": service,
                "namespace": ns,
                "labels": {
                    &self.inner.label: service,
                    mapping::KUBERNETES_ID: service,
                    "app.kubernetes.io/version": version,
                    "app.kubernetes.io/managed-by": "sphere",
                },
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": service, "image": image}]},
                },
            },
        }))
        .context("building the deployment")?;
        self.timed(
            cluster,
            &format!("creating the deployment of {service}"),
            async {
                let api: Api<Deployment> = Api::namespaced(conn.client()?.clone(), ns);
                match api.create(&PostParams::default(), &deployment).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
                    Err(e) => Err(e).with_context(|| format!("creating deployment {ns}/{service}")),
                }
            },
        )
        .await
    }
}

#[async_trait]
impl LockStore for KubeClusters {
    /// The locks of every cluster, merged, from the watches of the lock objects (see
    /// `watch_store`). An error when any cluster cannot be read: a lock check must
    /// not pass because the cluster holding the lock was unreachable.
    async fn locks(&self) -> Result<Vec<Lock>> {
        let reads = (self.inner.conns.iter()).map(|conn| self.watched_locks(conn));
        let mut out: Vec<Lock> = Vec::new();
        let mut errors = Vec::new();
        for result in futures::future::join_all(reads).await {
            match result {
                Ok(locks) => {
                    for lock in locks {
                        if !out.iter().any(|l| same_lock(l, &lock)) {
                            out.push(lock);
                        }
                    }
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        Ok(out)
    }

    /// Writes the lock into every cluster it is about (all of an environment's regions
    /// when its region is `None`, and so on).
    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        let targets = self
            .lock_clusters(lock.env.as_deref(), lock.region.as_deref())
            .await?;
        if targets.is_empty() {
            bail!(
                "no configured cluster is in {}/{}",
                lock.env.as_deref().unwrap_or("any env"),
                lock.region.as_deref().unwrap_or("any region")
            );
        }
        let writes = targets.into_iter().map(|conn| {
            let lock = lock.clone();
            async move {
                let write = self.update_locks(conn, move |locks| {
                    (crate::domain::add_lock(locks, lock.clone()), true)
                });
                self.timed(&conn.id, "writing a lock", write).await
            }
        });
        let mut others: Vec<Lock> = Vec::new();
        let mut errors = Vec::new();
        for result in futures::future::join_all(writes).await {
            match result {
                Ok(found) => {
                    for l in found {
                        if !others.iter().any(|o| same_lock(o, &l)) {
                            others.push(l);
                        }
                    }
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        Ok(others)
    }

    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        let removes = self
            .lock_clusters(env, region)
            .await?
            .into_iter()
            .map(|conn| {
                let remove = self.update_locks(conn, move |locks| {
                    let gone = crate::domain::remove_locks(locks, service, env, region, by);
                    let changed = !gone.is_empty();
                    (gone, changed)
                });
                async move { self.timed(&conn.id, "removing locks", remove).await }
            });
        let mut removed: Vec<Lock> = Vec::new();
        let mut errors = Vec::new();
        for result in futures::future::join_all(removes).await {
            match result {
                Ok(gone) => {
                    for lock in gone {
                        if !removed.iter().any(|l| same_lock(l, &lock)) {
                            removed.push(lock);
                        }
                    }
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        Ok(removed)
    }
}

// --- watching ------------------------------------------------------------------------

/// What one cluster's watch tells the merged stream: an event, or what it sees of an
/// ephemeral environment in its region (`None`: its namespace there is gone).
enum Told {
    Event(ClusterEvent),
    Env {
        name: String,
        region: String,
        env: Option<EphemeralEnv>,
    },
}

/// What one cluster's watchers deliver, merged.
enum Raw {
    Deployment(Result<Event<Deployment>, watcher::Error>),
    Pod(Result<Event<Pod>, watcher::Error>),
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
        conn.api::<Pod>(),
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

/// What one kind's watcher has listed, to turn a re-list into deletions.
#[derive(Default)]
struct Known {
    /// Live objects: `namespace/name` → their cluster and the service (deployments),
    /// pod name (pods) or environment (namespaces).
    live: HashMap<String, (ClusterId, String)>,
    /// During a re-list: the objects listed so far.
    relisting: Option<HashSet<String>>,
    synced: bool,
}

impl Known {
    /// A (re-)list starts: remember what it lists.
    fn begin(&mut self) {
        self.relisting = Some(HashSet::new());
    }

    /// `key` was listed (or changed).
    fn seen(&mut self, key: &str) {
        if let Some(seen) = &mut self.relisting {
            seen.insert(key.to_string());
        }
    }

    /// The list is complete: forget the objects it no longer had, returning what each
    /// stood for.
    fn finish(&mut self) -> Vec<(ClusterId, String)> {
        let seen = self.relisting.take().unwrap_or_default();
        let gone: Vec<String> = self
            .live
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        self.synced = true;
        gone.into_iter()
            .filter_map(|k| self.live.remove(&k))
            .collect()
    }

    fn key(meta: &ObjectMeta) -> String {
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
    namespaces: Known,
    timeout: Duration,
    deps: Known,
    pods: Known,
    hpas: Known,
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
        let mut out: Vec<ClusterId> = (self.namespaces.live.values())
            .map(|(c, _)| c.clone())
            .collect();
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
                        self.deps
                            .live
                            .insert(key, (cluster.clone(), s.service.clone()));
                        let mut out = vec![Told::Event(ClusterEvent::Deployment(s))];
                        if let Some(h) = self.waiting_hpas.remove(&target)
                            && let Some(hs) =
                                hpa_summary(&h, &cluster, &self.mapping, &self.targets)
                        {
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
                match self.deps.live.remove(&key) {
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
                    .map(|(cluster, service)| {
                        Told::Event(ClusterEvent::DeploymentDeleted { cluster, service })
                    })
                    .collect();
                out.extend(self.all_synced());
                out
            }
        }
    }

    fn pod(&mut self, ev: Event<Pod>) -> Vec<Told> {
        match ev {
            Event::Init => {
                self.pods.begin();
                Vec::new()
            }
            Event::Apply(p) | Event::InitApply(p) => {
                let key = Known::key(&p.metadata);
                self.pods.seen(&key);
                let cluster = self.cluster_of(&p.metadata);
                match pod_summary(&p, &cluster, &self.mapping) {
                    Some(s) => {
                        self.pods.live.insert(key, (cluster, s.name.clone()));
                        vec![Told::Event(ClusterEvent::Pod(s))]
                    }
                    None => Vec::new(),
                }
            }
            Event::Delete(p) => match self.pods.live.remove(&Known::key(&p.metadata)) {
                Some((cluster, name)) => {
                    vec![Told::Event(ClusterEvent::PodDeleted { cluster, name })]
                }
                None => Vec::new(),
            },
            Event::InitDone => {
                let mut out: Vec<Told> = (self.pods.finish().into_iter())
                    .map(|(cluster, name)| Told::Event(ClusterEvent::PodDeleted { cluster, name }))
                    .collect();
                out.extend(self.all_synced());
                out
            }
        }
    }

    fn hpa(&mut self, ev: Event<HorizontalPodAutoscaler>) -> Vec<Told> {
        match ev {
            Event::Init => Vec::new(),
            Event::Apply(h) | Event::InitApply(h) => {
                let cluster = self.cluster_of(&h.metadata);
                match hpa_summary(&h, &cluster, &self.mapping, &self.targets) {
                    Some(s) => vec![Told::Event(ClusterEvent::Hpa(s))],
                    None => {
                        if h.spec.scale_target_ref.kind == "Deployment" {
                            self.waiting_hpas.insert(hpa_target_key(&h), h);
                        }
                        Vec::new()
                    }
                }
            }
            // The domain has no HPA deletion: the HPA pane shows the last bounds.
            Event::Delete(_) => Vec::new(),
            Event::InitDone => {
                self.hpas.synced = true;
                self.all_synced()
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
                        let new = (self.namespaces.live)
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
                    None => self
                        .namespaces
                        .live
                        .remove(&key)
                        .map(gone)
                        .unwrap_or_default(),
                }
            }
            Event::Delete(ns) => (self.namespaces.live.remove(&Known::key(&ns.metadata)))
                .map(gone)
                .unwrap_or_default(),
            Event::InitDone => {
                let mut out: Vec<Told> = self
                    .namespaces
                    .finish()
                    .into_iter()
                    .flat_map(gone)
                    .collect();
                out.extend(self.all_synced());
                out
            }
        }
    }
}

// --- summaries -----------------------------------------------------------------------

fn secs(t: &Time) -> i64 {
    t.0.as_second()
}

/// The version in an image reference: its tag (`registry:5000/team/app:1.4.2` → `1.4.2`),
/// else a short digest, else `latest`.
pub fn image_version(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    if let Some((_, tag)) = last.split_once(':') {
        return tag.to_string();
    }
    match digest {
        Some(d) => d
            .split_once(':')
            .map_or(d, |(_, h)| h)
            .chars()
            .take(12)
            .collect(),
        None => "latest".to_string(),
    }
}

/// How a deployment is known as an HPA's target: `namespace/name`.
fn target_key(meta: &ObjectMeta) -> String {
    Known::key(meta)
}

/// The deployment an HPA scales, as [`target_key`] names it.
fn hpa_target_key(h: &HorizontalPodAutoscaler) -> String {
    format!(
        "{}/{}",
        h.metadata.namespace.as_deref().unwrap_or(""),
        h.spec.scale_target_ref.name
    )
}

/// The service of a deployment: by its own labels, else its pod template's.
fn deployment_service(d: &Deployment, mapping: &Mapping) -> Option<String> {
    mapping.service(d.metadata.labels.as_ref()).or_else(|| {
        let template = d.spec.template.metadata.as_ref()?;
        mapping.service(template.labels.as_ref())
    })
}

/// A deployment's summary, when it belongs to a service.
pub fn deployment_summary(
    d: &Deployment,
    cluster: &ClusterId,
    mapping: &Mapping,
) -> Option<DeploymentSummary> {
    let service = deployment_service(d, mapping)?;
    let status = d.status.as_ref();
    let version = d
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.as_deref())
        .map(image_version)
        .unwrap_or_default();
    let desired = d.spec.replicas.unwrap_or(1).max(0) as u32;
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0).max(0) as u32;
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0).max(0) as u32;
    let available = status
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
        .max(0) as u32;
    let total = status.and_then(|s| s.replicas).unwrap_or(0).max(0) as u32;
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let stalled = conditions.iter().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && (c.status.as_deref() == Some("False")
                || c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    });
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let generation = d.metadata.generation.unwrap_or(0);
    let rollout = if stalled {
        RolloutState::Stalled
    } else if observed >= generation
        && updated == desired
        && ready == desired
        && available == desired
        && total == desired
    {
        RolloutState::Complete
    } else {
        RolloutState::Progressing
    };
    let updated_at = conditions
        .iter()
        .filter_map(|c| {
            c.last_update_time
                .as_ref()
                .or(c.last_transition_time.as_ref())
        })
        .map(secs)
        .max()
        .or_else(|| d.metadata.creation_timestamp.as_ref().map(secs))
        .unwrap_or(0);
    Some(DeploymentSummary {
        service,
        cluster: cluster.clone(),
        version,
        desired,
        ready,
        updated,
        rollout,
        updated_at,
    })
}

/// A pod's summary, when it belongs to a service.
pub fn pod_summary(p: &Pod, cluster: &ClusterId, mapping: &Mapping) -> Option<PodSummary> {
    let service = mapping.service(p.metadata.labels.as_ref())?;
    let status = p.status.as_ref();
    let phase = match status.and_then(|s| s.phase.as_deref()) {
        Some("Pending") => PodPhase::Pending,
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        _ => PodPhase::Unknown,
    };
    let ready = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let restarts = containers
        .iter()
        .map(|c| c.restart_count.max(0) as u32)
        .sum();
    let waiting = containers
        .iter()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let last_termination = containers.iter().find_map(|c| {
        c.last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| c.state.as_ref()?.terminated.as_ref())?
            .reason
            .clone()
    });
    let version = p
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .map(image_version)
        .unwrap_or_default();
    Some(PodSummary {
        name: p.name_any(),
        service,
        cluster: cluster.clone(),
        phase,
        ready,
        restarts,
        started_at: status
            .and_then(|s| s.start_time.as_ref())
            .or(p.metadata.creation_timestamp.as_ref())
            .map(secs)
            .unwrap_or(0),
        node: p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        version,
        waiting,
        last_termination,
    })
}

/// The service an HPA scales: by its own labels, else the service of the deployment it
/// targets.
fn hpa_service(
    h: &HorizontalPodAutoscaler,
    mapping: &Mapping,
    targets: &HashMap<String, String>,
) -> Option<String> {
    mapping.service(h.metadata.labels.as_ref()).or_else(|| {
        let target = &h.spec.scale_target_ref;
        if target.kind != "Deployment" {
            return None;
        }
        targets.get(&hpa_target_key(h)).cloned()
    })
}

/// An HPA's summary, when it belongs to a service.
pub fn hpa_summary(
    h: &HorizontalPodAutoscaler,
    cluster: &ClusterId,
    mapping: &Mapping,
    targets: &HashMap<String, String>,
) -> Option<HpaSummary> {
    let service = hpa_service(h, mapping, targets)?;
    let spec = &h.spec;
    let status = h.status.as_ref();
    let target_cpu = spec
        .metrics
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find_map(|m| {
            let r = m.resource.as_ref()?;
            (r.name == "cpu").then_some(r.target.average_utilization?)
        })
        .unwrap_or(0)
        .max(0) as u32;
    let current_cpu = status
        .and_then(|s| s.current_metrics.as_deref())
        .unwrap_or(&[])
        .iter()
        .find_map(|m| {
            let r = m.resource.as_ref()?;
            (r.name == "cpu").then_some(r.current.average_utilization?)
        })
        .map(|v| v.max(0) as u32);
    Some(HpaSummary {
        service,
        cluster: cluster.clone(),
        min: spec.min_replicas.unwrap_or(1).max(0) as u32,
        max: spec.max_replicas.max(0) as u32,
        current: status.and_then(|s| s.current_replicas).unwrap_or(0).max(0) as u32,
        target_cpu,
        current_cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_text_reads_both_formats_and_refuses_newer_ones() {
        let l = |by: &str| Lock {
            service: "cart".into(),
            env: None,
            region: None,
            reason: "r".into(),
            by: by.into(),
            at: 1,
        };
        let v1 = serde_json::to_string(&vec![l("ada")]).unwrap();
        assert_eq!(parse_lock_text(&v1).unwrap(), vec![l("ada")]);
        let v2 = lock_text(&[l("ada"), l("bob")]).unwrap();
        assert_eq!(parse_lock_text(&v2).unwrap(), vec![l("ada"), l("bob")]);
        let v3 = r#"{"format": 3, "locks": []}"#;
        assert!(
            parse_lock_text(v3)
                .unwrap_err()
                .to_string()
                .contains("format 3")
        );
        assert!(parse_lock_text("{oops").is_err());
    }

    #[test]
    fn image_versions() {
        assert_eq!(image_version("ghcr.io/acme/payments:1.4.2"), "1.4.2");
        assert_eq!(image_version("registry:5000/team/app:2.0.0"), "2.0.0");
        assert_eq!(image_version("registry:5000/team/app"), "latest");
        assert_eq!(image_version("nginx"), "latest");
        assert_eq!(
            image_version("app@sha256:0123456789abcdef0123"),
            "0123456789ab"
        );
        assert_eq!(image_version("app:3.1@sha256:0123456789abcdef"), "3.1");
    }
}
