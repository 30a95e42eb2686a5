//! Workloads: the [`ClusterProvider`] of the configured clusters — a snapshot read of
//! deployments, pods and HPAs, rollout restart, HPA bounds and new deployments (the
//! environments, pod details, events and logs are delegated to their own modules).

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

use super::client::Conn;
use super::envs::{Host, cluster_for};
use super::summaries::{
    deployment_service, deployment_summary, hpa_service, hpa_summary, pod_summary, target_key,
};
use super::{KubeClusters, Mapping, mapping};
use crate::backend::{ClusterProvider, WorkloadRead};
use crate::domain::environment::EphemeralEnv;
use crate::domain::{ClusterEvent, ClusterId, ClusterSnapshot, Scope, Timestamp, Topology};

/// The annotation `kubectl rollout restart` sets on the pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

impl KubeClusters {
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
        host: &Host<'_>,
        cluster: &ClusterId,
        service: &str,
        mapping: &Mapping,
    ) -> Result<Vec<Deployment>> {
        let (mine, selectors) = self
            .find_deployments(host, cluster, service, mapping)
            .await?;
        if mine.is_empty() {
            bail!(
                "service {service} has no deployment matching {}",
                selectors.join(" or ")
            )
        }
        Ok(mine)
    }

    /// The deployments of `service` in one cluster (none when there is none), listed by
    /// label in its host's namespace, with the selectors tried.
    async fn find_deployments(
        &self,
        host: &Host<'_>,
        cluster: &ClusterId,
        service: &str,
        mapping: &Mapping,
    ) -> Result<(Vec<Deployment>, Vec<String>)> {
        // The Component's own selector (or id) first; then the service label, which
        // also maps a workload that carries no id label.
        let label = format!("{}={service}", self.inner.label);
        let mut selectors = vec![mapping.selector_of(service)];
        if selectors[0] != label {
            selectors.push(label);
        }
        for selector in &selectors {
            let list = host
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
                .filter(|d| cluster_for(&host.conn.id, d.metadata.namespace.as_deref()) == *cluster)
                .filter(|d| deployment_service(d, mapping).as_deref() == Some(service))
                .collect();
            if !mine.is_empty() {
                return Ok((mine, selectors));
            }
        }
        Ok((Vec::new(), selectors))
    }

    /// One service's workloads on one cluster, read directly: its deployments by label
    /// and, for `read.hpas`, the HPAs of its host's namespace (every namespace's when
    /// it has none) kept to the service's. No pods.
    async fn read_service(
        &self,
        host: &Host<'_>,
        cluster: &ClusterId,
        service: &str,
        read: WorkloadRead,
    ) -> Result<ClusterSnapshot> {
        let mapping = self.mapping().await;
        let (deployments, _) = (self.find_deployments(host, cluster, service, &mapping)).await?;
        let mut out = ClusterSnapshot::default();
        let mut targets = HashMap::new();
        for d in &deployments {
            if let Some(s) = deployment_summary(d, cluster, &mapping) {
                targets.insert(target_key(&d.metadata), s.service.clone());
                out.deployments.push(s);
            }
        }
        if read.hpas {
            let hpas = host
                .api::<HorizontalPodAutoscaler>()?
                .list(&ListParams::default())
                .await
                .context("listing horizontal pod autoscalers")?;
            let conn = host.conn;
            out.hpas = (hpas.items.iter())
                .filter(|h| cluster_for(&conn.id, h.metadata.namespace.as_deref()) == *cluster)
                .filter_map(|h| hpa_summary(h, cluster, &mapping, &targets))
                .filter(|h| h.service == service)
                .collect();
        }
        Ok(out)
    }
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

    /// From the running watch when there is one (no request), else read directly.
    async fn service_deployments(&self, service: &str) -> Result<ClusterSnapshot> {
        let configured: Vec<ClusterId> = (self.inner.conns.iter()).map(|c| c.id.clone()).collect();
        if self.inner.stores.on()
            && let Some(deployments) =
                (self.inner.watched).service_deployments(service, &configured)
        {
            return Ok(ClusterSnapshot {
                deployments,
                ..ClusterSnapshot::default()
            });
        }
        let mut all = self.snapshot(&Scope::default()).await?;
        all.deployments.retain(|d| d.service == service);
        all.pods.clear();
        all.hpas.clear();
        Ok(all)
    }

    /// From the running watch when it has synced the cluster (no request); else the
    /// service's deployments by label in the cluster's host (an ephemeral environment's
    /// cluster: its namespace), and the namespace's HPAs when asked: never a snapshot,
    /// never pods.
    async fn service_workloads(
        &self,
        service: &str,
        cluster: &ClusterId,
        read: WorkloadRead,
    ) -> Result<ClusterSnapshot> {
        if self.inner.stores.on()
            && let Some(out) = (self.inner.watched).service_workloads(service, cluster, read)
        {
            return Ok(out);
        }
        let what = format!("reading the workloads of {service}");
        let read = async {
            let host = self.host(cluster).await?;
            self.read_service(&host, cluster, service, read).await
        };
        match self.timed(cluster, &what, read).await {
            Ok(out) => Ok(out),
            // As in a snapshot: the cluster is reported as not read.
            Err(e) => {
                tracing::warn!(cluster = %cluster, error = %format!("{e:#}"), "cluster read failed");
                Ok(ClusterSnapshot {
                    errors: vec![(cluster.clone(), format!("{e:#}"))],
                    ..ClusterSnapshot::default()
                })
            }
        }
    }

    /// Every cluster's watch, merged. The workload mapping is read from the catalog
    /// once, when the watch starts.
    fn watch(&self) -> BoxStream<'static, ClusterEvent> {
        self.watch_clusters()
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
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        self.timed(cluster, &format!("restarting {service}"), async {
            let host = self.host(cluster).await?;
            let mapping = self.mapping().await;
            for d in (self.deployments_of(&host, cluster, service, &mapping)).await? {
                let ns = d.namespace().unwrap_or_else(|| "default".to_string());
                let api: Api<Deployment> = Api::namespaced(host.conn.client()?.clone(), &ns);
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
        if min == 0 || min > max {
            bail!("HPA bounds {min}..{max} are not valid (1 <= min <= max)");
        }
        self.timed(cluster, &format!("patching the HPA of {service}"), async {
            let host = self.host(cluster).await?;
            let conn = host.conn;
            let mapping = self.mapping().await;
            let hpas = host
                .api::<HorizontalPodAutoscaler>()?
                .list(&ListParams::default())
                .await
                .context("listing horizontal pod autoscalers")?;
            let deps = host
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
                .filter(|h| cluster_for(&conn.id, h.metadata.namespace.as_deref()) == *cluster)
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
