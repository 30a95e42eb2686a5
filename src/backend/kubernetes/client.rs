//! The connection to every configured cluster: one kube [`Client`] per `[[clusters]]`
//! entry, the shared state of [`KubeClusters`], the workload mapping and the timeout
//! every call runs under.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource};

use super::Mapping;
use super::watch::Watched;
use super::watch_store;
use crate::backend::CatalogProvider;
use crate::config::platform::{ClusterConfig, KubernetesConfig};
use crate::domain::{ClusterId, Topology};

/// One configured cluster: its client (or why there is none) and its namespace scope.
pub(super) struct Conn {
    pub(super) id: ClusterId,
    pub(super) client: Result<Client, String>,
    pub(super) namespace: Option<String>,
}

impl Conn {
    pub(super) fn client(&self) -> Result<&Client> {
        self.client
            .as_ref()
            .map_err(|e| anyhow!("cluster {}: {e}", self.id))
    }

    /// The API for a workload kind, restricted to the cluster's namespace when it has one.
    pub(super) fn api<K>(&self) -> Result<Api<K>>
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

pub(super) struct Inner {
    pub(super) conns: Vec<Conn>,
    pub(super) topology: Topology,
    pub(super) label: String,
    pub(super) lock_namespace: String,
    pub(super) image: String,
    pub(super) timeout: Duration,
    pub(super) conflicts: AtomicU64,
    /// The catalog whose Components' annotations map workloads (see [`mapping`]).
    pub(super) catalog: OnceLock<Arc<dyn CatalogProvider>>,
    /// The lock objects and environment namespaces, watched ([`watch_store`]).
    pub(super) stores: watch_store::Stores,
    /// The deployments the running workload watches told of ([`watch`](super::watch)).
    pub(super) watched: Watched,
}

/// Every `[[clusters]]` entry's Kubernetes cluster: the [`crate::backend::ClusterProvider`] and the
/// [`crate::backend::LockStore`] of a configured platform. Cheap to clone.
#[derive(Clone)]
pub struct KubeClusters {
    pub(super) inner: Arc<Inner>,
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
        // Exactly the clusters configured: an environment spans only the regions it
        // has a cluster in (staging in one region, production in two).
        let ids: Vec<ClusterId> = clusters.iter().map(ClusterConfig::id).collect();
        let topology = Topology::from_clusters(&ids);
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
                watched: Watched::default(),
            }),
        }
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

    pub(super) fn conn(&self, cluster: &ClusterId) -> Result<&Conn> {
        self.inner
            .conns
            .iter()
            .find(|c| &c.id == cluster)
            .ok_or_else(|| anyhow!("cluster {cluster} is not configured in [[clusters]]"))
    }

    /// Runs `f` with the configured timeout, naming the cluster and what was done when
    /// it fails or takes too long.
    pub(super) async fn timed<T>(
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
