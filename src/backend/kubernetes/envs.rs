//! Ephemeral environments (C14) on Kubernetes. The environment `NAME` created from
//! `ENV` lives, in each of its regions, in the cluster that `[[clusters]]` gives for
//! `ENV` in that region, as the namespace `sphere-env-NAME`:
//!
//! - labelled `sphere.dev/ephemeral-env: NAME` (how sphere finds them) and
//!   `app.kubernetes.io/managed-by: sphere`;
//! - annotated with where it came from, who made it and when (`sphere.dev/from`,
//!   `sphere.dev/created-by`, `sphere.dev/created-at`) and when it ends,
//!   `janitor/expires` (RFC 3339): the annotation kube-janitor acts on, so a cluster
//!   running it deletes the namespace, and everything in it, on time. sphere shows the
//!   time left and refuses to extend past the policy's limit.
//!
//! Creating it copies every service deployment of `ENV` in that cluster (the images
//! and replicas they run now) and their HPAs into the namespace. The watch reports
//! what runs in an environment namespace as the cluster `NAME`/region, so it fills its
//! own matrix column. Only standard API calls: list, get, create, patch, delete.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};

use super::client::Conn;
use super::summaries::deployment_service;
use super::{KubeClusters, Mapping};
use crate::domain::environment::EphemeralEnv;
use crate::domain::{ClusterId, Timestamp};

/// The label marking an environment's namespace; its value is the environment.
pub const ENV_LABEL: &str = "sphere.dev/ephemeral-env";
/// The namespace of environment `NAME` is this prefix and `NAME`.
pub const NAMESPACE_PREFIX: &str = "sphere-env-";
/// When the environment ends, in the format kube-janitor enforces.
pub const EXPIRES: &str = "janitor/expires";
const FROM: &str = "sphere.dev/from";
const CREATED_BY: &str = "sphere.dev/created-by";
const CREATED_AT: &str = "sphere.dev/created-at";

/// The namespace holding environment `env`.
pub fn namespace_of(env: &str) -> String {
    format!("{NAMESPACE_PREFIX}{env}")
}

/// The cluster an object in `namespace` belongs to, watched through the connection of
/// `cluster`: an environment namespace's objects are that environment's.
pub fn cluster_for(cluster: &ClusterId, namespace: Option<&str>) -> ClusterId {
    match namespace.and_then(|ns| ns.strip_prefix(NAMESPACE_PREFIX)) {
        Some(env) if !env.is_empty() => ClusterId::new(env, &cluster.region),
        _ => cluster.clone(),
    }
}

fn rfc3339(t: Timestamp) -> String {
    k8s_openapi::jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn parse_time(s: &str) -> Option<Timestamp> {
    s.trim()
        .parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// The environment a labelled namespace holds, as one region sees it (its regions:
/// just `region`). `None` for a namespace that is not one, or that is being deleted.
pub fn env_from_namespace(ns: &Namespace, region: &str) -> Option<EphemeralEnv> {
    if ns.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let name = ns.metadata.labels.as_ref()?.get(ENV_LABEL)?.clone();
    if ns.metadata.name.as_deref() != Some(namespace_of(&name).as_str()) {
        return None;
    }
    let empty = BTreeMap::new();
    let a = ns.metadata.annotations.as_ref().unwrap_or(&empty);
    let created_at = a
        .get(CREATED_AT)
        .and_then(|s| parse_time(s))
        .or_else(|| {
            ns.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
        })
        .unwrap_or(0);
    Some(EphemeralEnv {
        name,
        from: a.get(FROM).cloned().unwrap_or_default(),
        regions: vec![region.to_string()],
        created_by: a.get(CREATED_BY).cloned().unwrap_or_default(),
        created_at,
        expires_at: a
            .get(EXPIRES)
            .and_then(|s| parse_time(s))
            .unwrap_or(i64::MAX),
    })
}

/// A copy of a workload for another namespace: its spec, name, labels and annotations;
/// none of the server's bookkeeping and no status.
fn copied_meta(meta: &ObjectMeta, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.clone(),
        namespace: Some(namespace.to_string()),
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone().map(|mut a| {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            a.remove("deployment.kubernetes.io/revision");
            a
        }),
        ..ObjectMeta::default()
    }
}

/// Creates `obj` in its namespace; one that exists already is left as it is.
async fn create_once<K>(api: &Api<K>, obj: &K) -> Result<bool>
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

impl KubeClusters {
    /// The connection of environment `env` in `region`, as `[[clusters]]` gives it.
    fn conn_of(&self, env: &str, region: &str) -> Result<&Conn> {
        self.inner
            .conns
            .iter()
            .find(|c| c.id.env == env && c.id.region == region)
            .ok_or_else(|| anyhow!("{env} has no cluster in {region} in [[clusters]]"))
    }

    /// One connection per region (the first `[[clusters]]` entry of each): an
    /// environment namespace is found through any connection to its cluster.
    fn region_conns(&self) -> Vec<&Conn> {
        let mut seen = BTreeSet::new();
        (self.inner.conns.iter())
            .filter(|c| c.client.is_ok() && seen.insert(c.id.region.clone()))
            .collect()
    }

    /// Every connection's environment namespaces, merged per environment.
    pub(super) async fn list_environments(&self) -> Result<Vec<EphemeralEnv>> {
        // From each connection's watch of the namespaces (see `watch_store`).
        let reads = (self.inner.conns.iter()).map(|conn| self.watched_envs(conn));
        let mut out: Vec<EphemeralEnv> = Vec::new();
        let mut errors = Vec::new();
        for result in futures::future::join_all(reads).await {
            match result {
                Ok(envs) => {
                    for e in envs {
                        merge_env(&mut out, e);
                    }
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if out.is_empty() && !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        for e in &errors {
            tracing::warn!("environments: {e}");
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// One connection's environment namespaces, listed.
    pub(super) async fn list_envs_of(&self, conn: &Conn) -> Result<Vec<EphemeralEnv>> {
        let api: Api<Namespace> = Api::all(conn.client()?.clone());
        let list = api
            .list(&ListParams::default().labels(ENV_LABEL))
            .await
            .context("listing environment namespaces")?;
        Ok(list
            .items
            .iter()
            .filter_map(|ns| env_from_namespace(ns, &conn.id.region))
            .collect())
    }

    pub(super) async fn create_env(&self, env: &EphemeralEnv) -> Result<usize> {
        if env.regions.is_empty() {
            bail!("an environment needs at least one region");
        }
        let ns_name = namespace_of(&env.name);
        if ns_name.len() > 63 {
            bail!("the namespace {ns_name} would be longer than 63 characters");
        }
        let conns: Vec<&Conn> = (env.regions.iter())
            .map(|r| self.conn_of(&env.from, r))
            .collect::<Result<_>>()?;
        // Nothing is created when the name is taken anywhere.
        for conn in &conns {
            let api: Api<Namespace> = Api::all(conn.client()?.clone());
            let found = self
                .timed(&conn.id, "looking for the namespace", async {
                    Ok(api.get_opt(&ns_name).await?)
                })
                .await?;
            if found.is_some() {
                bail!(
                    "the environment {} exists already (namespace {ns_name} in cluster {})",
                    env.name,
                    conn.id
                );
            }
        }
        let mapping = self.mapping().await;
        let mut copied = 0;
        for conn in conns {
            let what = format!("creating environment {} from {}", env.name, conn.id);
            copied += self
                .timed(
                    &conn.id,
                    &what,
                    self.copy_into(conn, env, &ns_name, &mapping),
                )
                .await?;
        }
        Ok(copied)
    }

    /// Creates the namespace in `conn`'s cluster and copies the source's service
    /// deployments and their HPAs into it; how many deployments.
    async fn copy_into(
        &self,
        conn: &Conn,
        env: &EphemeralEnv,
        ns_name: &str,
        mapping: &Mapping,
    ) -> Result<usize> {
        let client = conn.client()?.clone();
        let listed = match mapping.watch_selector() {
            Some(s) => ListParams::default().labels(&s),
            None => ListParams::default(),
        };
        let deps: Vec<Deployment> = (conn.api::<Deployment>()?.list(&listed).await)
            .context("listing the source's deployments")?
            .items
            .into_iter()
            // Only the source environment's own services (not another ephemeral
            // environment's, which share the cluster).
            .filter(|d| {
                cluster_for(&conn.id, d.metadata.namespace.as_deref()) == conn.id
                    && deployment_service(d, mapping).is_some()
            })
            .collect();
        let hpas = (conn.api::<HorizontalPodAutoscaler>()?)
            .list(&ListParams::default())
            .await
            .context("listing the source's HPAs")?
            .items;

        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(ns_name.to_string()),
                labels: Some(BTreeMap::from([
                    (ENV_LABEL.to_string(), env.name.clone()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        "sphere".to_string(),
                    ),
                ])),
                annotations: Some(BTreeMap::from([
                    (FROM.to_string(), env.from.clone()),
                    (CREATED_BY.to_string(), env.created_by.clone()),
                    (CREATED_AT.to_string(), rfc3339(env.created_at)),
                    (EXPIRES.to_string(), rfc3339(env.expires_at)),
                ])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let made = Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating the namespace {ns_name}"))?;
        self.note_namespace(conn, &made, false);

        let dep_api: Api<Deployment> = Api::namespaced(client.clone(), ns_name);
        let hpa_api: Api<HorizontalPodAutoscaler> = Api::namespaced(client, ns_name);
        let mut copied = 0;
        for d in &deps {
            let mut copy = d.clone();
            copy.metadata = copied_meta(&d.metadata, ns_name);
            copy.status = None;
            if create_once(&dep_api, &copy)
                .await
                .with_context(|| format!("copying deployment {}", d.name_any()))?
            {
                copied += 1;
            }
            let scales_it = |h: &&HorizontalPodAutoscaler| {
                h.metadata.namespace == d.metadata.namespace
                    && h.spec.scale_target_ref.kind == "Deployment"
                    && Some(&h.spec.scale_target_ref.name) == d.metadata.name.as_ref()
            };
            for h in hpas.iter().filter(scales_it) {
                let mut copy = h.clone();
                copy.metadata = copied_meta(&h.metadata, ns_name);
                copy.status = None;
                create_once(&hpa_api, &copy)
                    .await
                    .with_context(|| format!("copying HPA {}", h.name_any()))?;
            }
        }
        Ok(copied)
    }

    pub(super) async fn extend_env(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        let ns_name = namespace_of(name);
        let patch =
            serde_json::json!({"metadata": {"annotations": {EXPIRES: rfc3339(expires_at)}}});
        let mut found = 0;
        for conn in self.region_conns() {
            let api: Api<Namespace> = Api::all(conn.client()?.clone());
            let work = async {
                match api.get_opt(&ns_name).await? {
                    Some(ns) if env_from_namespace(&ns, &conn.id.region).is_some() => {
                        let ns =
                            (api.patch(&ns_name, &PatchParams::default(), &Patch::Merge(&patch)))
                                .await?;
                        self.note_namespace(conn, &ns, false);
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            };
            if self
                .timed(&conn.id, "extending the environment", work)
                .await?
            {
                found += 1;
            }
        }
        if found == 0 {
            bail!("there is no ephemeral environment {name}");
        }
        Ok(())
    }

    pub(super) async fn delete_env(&self, name: &str) -> Result<usize> {
        let ns_name = namespace_of(name);
        let mut found = 0;
        let mut deleted = 0;
        for conn in self.region_conns() {
            let client = conn.client()?.clone();
            let api: Api<Namespace> = Api::all(client.clone());
            let work = async {
                match api.get_opt(&ns_name).await? {
                    Some(ns) if env_from_namespace(&ns, &conn.id.region).is_some() => {}
                    _ => return Ok(None),
                }
                // The namespace's deletion takes its contents with it; deleting the
                // workloads first makes the watch report them gone at once.
                let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns_name);
                let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client, &ns_name);
                let dp = DeleteParams::default();
                let mut n = 0;
                for d in deps.list(&ListParams::default()).await?.items {
                    deps.delete(&d.name_any(), &dp).await?;
                    n += 1;
                }
                for h in hpas.list(&ListParams::default()).await?.items {
                    hpas.delete(&h.name_any(), &dp).await?;
                }
                if let Some(ns) = api.delete(&ns_name, &dp).await?.left() {
                    // Terminating, or gone: either way no longer an environment.
                    self.note_namespace(conn, &ns, true);
                }
                Ok::<_, anyhow::Error>(Some(n))
            };
            if let Some(n) = self
                .timed(&conn.id, "deleting the environment", work)
                .await?
            {
                found += 1;
                deleted += n;
            }
        }
        if found == 0 {
            bail!("there is no ephemeral environment {name}");
        }
        Ok(deleted)
    }
}

/// Where one cluster's workloads live, for reading and acting on them: a configured
/// cluster's connection (in its namespace, if it has one), or, for an ephemeral
/// environment's cluster, the environment's namespace on the connection of that region
/// that holds it.
pub(super) struct Host<'a> {
    pub(super) conn: &'a Conn,
    pub(super) namespace: Option<String>,
}

impl Host<'_> {
    /// The API for a workload kind in the host's namespace (every namespace when the
    /// connection has none).
    pub(super) fn api<K>(&self) -> Result<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        let client = self.conn.client()?.clone();
        Ok(match &self.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        })
    }
}

impl KubeClusters {
    /// The [`Host`] of `cluster`. An environment no `[[clusters]]` entry names is an
    /// ephemeral one: its namespace is looked for on the region's connections that see
    /// every namespace (from their watch of the namespaces while it runs, else one
    /// labelled list each), never by reading workloads.
    pub(super) async fn host(&self, cluster: &ClusterId) -> Result<Host<'_>> {
        if let Ok(conn) = self.conn(cluster) {
            let namespace = conn.namespace.clone();
            return Ok(Host { conn, namespace });
        }
        let conns = &self.inner.conns;
        if conns.iter().any(|c| c.id.env == cluster.env) {
            bail!("cluster {cluster} is not configured in [[clusters]]");
        }
        let mut errors = Vec::new();
        let candidates =
            (conns.iter()).filter(|c| c.id.region == cluster.region && c.namespace.is_none());
        for conn in candidates {
            match self.watched_envs(conn).await {
                Ok(envs) if envs.iter().any(|e| e.name == cluster.env.as_str()) => {
                    let namespace = Some(namespace_of(&cluster.env));
                    return Ok(Host { conn, namespace });
                }
                Ok(_) => {}
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        match errors.is_empty() {
            true => bail!(
                "cluster {cluster}: there is no ephemeral environment {} in {} (and no [[clusters]] entry)",
                cluster.env,
                cluster.region
            ),
            false => bail!(
                "cluster {cluster}: the ephemeral environment {} was not found: {}",
                cluster.env,
                errors.join("; ")
            ),
        }
    }
}

/// Adds one region's view of an environment to `out`: the regions join, the rest is
/// the earliest end (the first namespace to go takes the environment's region with it).
pub fn merge_env(out: &mut Vec<EphemeralEnv>, e: EphemeralEnv) {
    match out.iter_mut().find(|x| x.name == e.name) {
        Some(x) => {
            for r in e.regions {
                if !x.regions.contains(&r) {
                    x.regions.push(r);
                }
            }
            x.expires_at = x.expires_at.min(e.expires_at);
            x.created_at = x.created_at.min(e.created_at);
        }
        None => out.push(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_map_to_environment_clusters() {
        let prod = ClusterId::new("production", "eu-west-1");
        assert_eq!(
            cluster_for(&prod, Some("sphere-env-pr-7")),
            ClusterId::new("pr-7", "eu-west-1")
        );
        assert_eq!(cluster_for(&prod, Some("apps")), prod);
        assert_eq!(cluster_for(&prod, Some("sphere-env-")), prod);
        assert_eq!(cluster_for(&prod, None), prod);
    }

    #[test]
    fn a_namespace_reads_back_as_the_environment() {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "sphere-env-pr-7",
                "labels": {ENV_LABEL: "pr-7"},
                "annotations": {
                    FROM: "staging", CREATED_BY: "ada",
                    CREATED_AT: rfc3339(1_700_000_000), EXPIRES: rfc3339(1_700_086_400)
                }
            }
        }))
        .unwrap();
        let e = env_from_namespace(&ns, "eu-west-1").expect("an environment");
        assert_eq!(
            (e.name.as_str(), e.from.as_str(), e.created_by.as_str()),
            ("pr-7", "staging", "ada")
        );
        assert_eq!((e.created_at, e.expires_at), (1_700_000_000, 1_700_086_400));
        let mut all = vec![e.clone()];
        merge_env(
            &mut all,
            EphemeralEnv {
                regions: vec!["us-east-1".into()],
                expires_at: 1_700_000_100,
                ..e
            },
        );
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(all[0].expires_at, 1_700_000_100);

        // A label that does not match the name is not one of ours.
        let mut odd = ns.clone();
        odd.metadata.name = Some("other".into());
        assert!(env_from_namespace(&odd, "eu-west-1").is_none());
    }
}
