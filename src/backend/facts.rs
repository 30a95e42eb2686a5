//! Everything the platform knows about a service, gathered from every provider at once:
//! the catalog entry, its repository, where it runs, the resources it depends on, its
//! secrets (metadata only), the locks on it and the topology. The lifecycle (C3), the
//! score (C11) and `sphere explain` (C16) are computed from these facts by pure code in
//! `domain`.
//!
//! Providers are read concurrently, each call under [`PROVIDER_TIMEOUT`]; an error names
//! the provider. [`gather_all`] makes one call per provider for every service (the
//! repository host is asked once per repository, concurrently, as its API is per
//! repository).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Platform, PlatformKind, RepoInfo};
use crate::domain::catalog::{Catalog, Entity, Kind, RelationKind};
use crate::domain::lifecycle::{
    CorePackages, REPO_SLUG_ANNOTATION, RepoEvidence, ServiceEvidence, Unread,
};
use crate::domain::{ClusterId, DeploymentSummary, Lock, Scope, SecretMeta, Topology};

/// How long one provider call may take before it counts as failed.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

/// How many repositories are looked up at once by [`gather_all`].
const REPO_CONCURRENCY: usize = 16;

/// The annotation that says whether a service's core packages are current
/// (`current`, or anything else such as `outdated`).
pub const CORE_PACKAGES_ANNOTATION: &str = "sphere.dev/core-packages";

/// Everything known about one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceFacts {
    pub entity: Entity,
    /// `github.com/project-slug`, when annotated.
    pub repo_slug: Option<String>,
    /// What the repository host knows; `None` when there is no slug or no such repo.
    pub repo: Option<RepoInfo>,
    /// Every deployment of the service, in topology order.
    pub deployments: Vec<DeploymentSummary>,
    /// Clusters that could not be read (their deployments are unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_errors: Vec<(ClusterId, String)>,
    /// The Resource entities it depends on (`dependsOn`) that the catalog has.
    pub resources: Vec<Entity>,
    /// `dependsOn` Resource references the catalog does not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_resources: Vec<String>,
    /// Secret metadata in every environment and region (never values).
    pub secrets: Vec<SecretMeta>,
    /// Locks that cover the service (its own and the `*` incident lock).
    pub locks: Vec<Lock>,
    pub topology: Topology,
    /// Whether its core packages are current; `None` when nothing says.
    pub core_packages: Option<CorePackages>,
    /// Sources that could not be read (the repository host, a region's secrets, the
    /// locks): what they would have said is unknown, the rest is here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<Unread>,
}

impl ServiceFacts {
    /// Borrow the facts as the evidence the pure lifecycle and score code reads.
    pub fn evidence<'a>(&'a self, resource_names: &'a [String]) -> ServiceEvidence<'a> {
        ServiceEvidence {
            entity: &self.entity,
            repo_slug: self.repo_slug.as_deref(),
            repo: self.repo.as_ref().map(|r| RepoEvidence {
                exists: r.exists,
                default_branch: &r.default_branch,
                workflows: &r.workflows,
            }),
            deployments: &self.deployments,
            resources: resource_names,
            missing_resources: &self.missing_resources,
            secrets: &self.secrets,
            topology: &self.topology,
            core_packages: self.core_packages.as_ref(),
            unread: &self.unread,
        }
    }

    /// Names of the resources found (for [`ServiceFacts::evidence`]).
    pub fn resource_names(&self) -> Vec<String> {
        self.resources.iter().map(|r| r.name.to_string()).collect()
    }
}

/// Run one provider call under the timeout; errors name the provider.
async fn timed<T>(
    provider: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.with_context(|| format!("the {provider} provider failed")),
        Err(_) => Err(anyhow!(
            "the {provider} provider did not answer within {:.1} s",
            limit.as_secs_f64()
        )),
    }
}

/// Is this entity a service sphere deploys (a Component of type service or website)?
pub fn is_service(e: &Entity) -> bool {
    e.kind == Kind::Component && matches!(e.spec_type.as_deref(), Some("service" | "website"))
}

/// Gather the facts of one Component (by name).
pub async fn gather(platform: &Platform, catalog: &Catalog, service: &str) -> Result<ServiceFacts> {
    gather_within(platform, catalog, service, PROVIDER_TIMEOUT).await
}

/// [`gather`] with another limit per provider call.
pub async fn gather_within(
    platform: &Platform,
    catalog: &Catalog,
    service: &str,
    limit: Duration,
) -> Result<ServiceFacts> {
    let Some(entity) = catalog.find(Some(&Kind::Component), service) else {
        bail!("no service named {service:?} in the catalog (try `sphere catalog list`)");
    };
    let slug = entity.annotation(REPO_SLUG_ANNOTATION).map(str::to_string);
    let name = entity.name.as_str();
    let repo = async {
        match &slug {
            Some(s) => timed("repository", limit, platform.repos.repo(s)).await,
            None => Ok(None),
        }
    };
    // A source that fails is named in `unread`; the rest is still shown. The clusters
    // are asked only for this service's deployments (from the watch when one runs).
    let (repo, snapshot, secrets, locks) = tokio::join!(
        repo,
        timed(
            "cluster",
            limit,
            platform.clusters.service_deployments(name)
        ),
        timed("secrets", limit, platform.secrets.list_partial(Some(name))),
        timed("ledger", limit, platform.ledger.locks()),
    );
    let mut unread = Vec::new();
    let snapshot = known(snapshot, "clusters", &mut unread).unwrap_or_default();
    let repo = known(repo, "repository", &mut unread).flatten();
    let secrets = secret_listing(secrets, &mut unread);
    let locks = known(locks, "locks", &mut unread).unwrap_or_default();
    let topology = platform.clusters.topology();
    let mut deployments: Vec<DeploymentSummary> = snapshot
        .deployments
        .into_iter()
        .filter(|d| d.service == name)
        .collect();
    sort_deployments(&mut deployments, &topology);
    let secrets = secrets.into_iter().filter(|s| s.service == name).collect();
    let locks = locks
        .into_iter()
        .filter(|l| l.service == name || l.service == Lock::ALL)
        .collect();
    let mut facts = assemble(
        platform,
        catalog,
        entity,
        slug,
        repo,
        deployments,
        snapshot.errors,
        secrets,
        locks,
        topology,
    );
    facts.unread = unread;
    Ok(facts)
}

/// The value, or `None` with the failure noted as `source` unread.
fn known<T>(r: Result<T>, source: &str, unread: &mut Vec<Unread>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(source, "facts: {e:#}");
            unread.push(Unread::new(source, format!("{e:#}")));
            None
        }
    }
}

/// The secrets that could be read; each region that could not (or the whole provider)
/// noted as unread.
fn secret_listing(
    r: Result<crate::domain::SecretListing>,
    unread: &mut Vec<Unread>,
) -> Vec<SecretMeta> {
    let Some(listing) = known(r, "secrets", unread) else {
        return Vec::new();
    };
    for f in listing.failed {
        unread.push(Unread::new(format!("secrets in {}", f.region), f.error));
    }
    listing.secrets
}

/// Gather the facts of every service (Component of type service or website), in
/// catalog order, with one call per provider (one per repository for the host).
pub async fn gather_all(platform: &Platform, catalog: &Catalog) -> Result<Vec<ServiceFacts>> {
    let services: Vec<&Entity> = catalog
        .entities()
        .iter()
        .filter(|e| is_service(e))
        .collect();
    let mut slugs: Vec<String> = services
        .iter()
        .filter_map(|e| e.annotation(REPO_SLUG_ANNOTATION).map(str::to_string))
        .collect();
    slugs.sort();
    slugs.dedup();
    let repos = async {
        futures::stream::iter(slugs.iter().cloned())
            .map(|slug| async move {
                let r = timed("repository", PROVIDER_TIMEOUT, platform.repos.repo(&slug)).await;
                (slug, r)
            })
            .buffer_unordered(REPO_CONCURRENCY)
            .collect::<HashMap<String, Result<Option<RepoInfo>>>>()
            .await
    };
    let everywhere = Scope::default();
    let (repos, snapshot, secrets, locks) = tokio::join!(
        repos,
        timed(
            "cluster",
            PROVIDER_TIMEOUT,
            platform.clusters.snapshot(&everywhere)
        ),
        timed(
            "secrets",
            PROVIDER_TIMEOUT,
            platform.secrets.list_partial(None)
        ),
        timed("ledger", PROVIDER_TIMEOUT, platform.ledger.locks()),
    );
    let mut shared_unread = Vec::new();
    let snapshot = known(snapshot, "clusters", &mut shared_unread).unwrap_or_default();
    let secrets = secret_listing(secrets, &mut shared_unread);
    let locks = known(locks, "locks", &mut shared_unread).unwrap_or_default();
    let topology = platform.clusters.topology();
    let mut deps_by: HashMap<String, Vec<DeploymentSummary>> = HashMap::new();
    for d in snapshot.deployments {
        deps_by.entry(d.service.clone()).or_default().push(d);
    }
    let mut secrets_by: HashMap<String, Vec<SecretMeta>> = HashMap::new();
    for s in secrets {
        secrets_by.entry(s.service.clone()).or_default().push(s);
    }
    let mut out = Vec::with_capacity(services.len());
    for e in services {
        let slug = e.annotation(REPO_SLUG_ANNOTATION).map(str::to_string);
        let mut unread = shared_unread.clone();
        let repo = match slug.as_ref().and_then(|s| repos.get(s)) {
            Some(Ok(r)) => r.clone(),
            Some(Err(err)) => {
                unread.push(Unread::new("repository", format!("{err:#}")));
                None
            }
            None => None,
        };
        let mut deployments = deps_by.remove(e.name.as_str()).unwrap_or_default();
        sort_deployments(&mut deployments, &topology);
        let my_locks = locks
            .iter()
            .filter(|l| l.service == e.name || l.service == Lock::ALL)
            .cloned()
            .collect();
        let mut facts = assemble(
            platform,
            catalog,
            e,
            slug,
            repo,
            deployments,
            snapshot.errors.clone(),
            secrets_by.remove(e.name.as_str()).unwrap_or_default(),
            my_locks,
            topology.clone(),
        );
        facts.unread = unread;
        out.push(facts);
    }
    Ok(out)
}

/// Topology order: environment (dev, staging, production), then region.
fn sort_deployments(deployments: &mut [DeploymentSummary], topology: &Topology) {
    let pos = |list: &[String], v: &str| list.iter().position(|x| x == v).unwrap_or(usize::MAX);
    deployments.sort_by(|a, b| {
        let key = |d: &DeploymentSummary| {
            (
                pos(&topology.environments, &d.cluster.env),
                pos(&topology.regions, &d.cluster.region),
            )
        };
        key(a).cmp(&key(b)).then_with(|| a.cluster.cmp(&b.cluster))
    });
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    platform: &Platform,
    catalog: &Catalog,
    entity: &Entity,
    repo_slug: Option<String>,
    repo: Option<RepoInfo>,
    deployments: Vec<DeploymentSummary>,
    cluster_errors: Vec<(ClusterId, String)>,
    secrets: Vec<SecretMeta>,
    locks: Vec<Lock>,
    topology: Topology,
) -> ServiceFacts {
    let mut resources = Vec::new();
    let mut missing_resources = Vec::new();
    for r in entity
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::DependsOn && r.target.kind == Kind::Resource)
    {
        match catalog.get(&r.target) {
            Some(res) => resources.push(res.clone()),
            None => missing_resources.push(r.target.to_string()),
        }
    }
    let core_packages = core_packages(entity, platform.kind == PlatformKind::Demo);
    ServiceFacts {
        entity: entity.clone(),
        repo_slug,
        repo,
        deployments,
        cluster_errors,
        resources,
        missing_resources,
        secrets,
        locks,
        topology,
        core_packages,
        unread: Vec::new(),
    }
}

/// Whether the core packages are current: the `sphere.dev/core-packages` annotation
/// (`current` is current, any other value is not) wins. Without it, a configured
/// platform does not know (`None`); the demo derives a stable answer from the service
/// name (FNV-1a hash: one service in four is behind), so its scores differ on purpose.
pub fn core_packages(entity: &Entity, demo: bool) -> Option<CorePackages> {
    if let Some(v) = entity.annotation(CORE_PACKAGES_ANNOTATION) {
        let current = v.trim().eq_ignore_ascii_case("current");
        return Some(CorePackages {
            current,
            evidence: format!("{CORE_PACKAGES_ANNOTATION}: {}", v.trim()),
        });
    }
    if !demo {
        return None;
    }
    let current = !fnv1a(entity.name.as_bytes()).is_multiple_of(4);
    Some(CorePackages {
        current,
        evidence: if current {
            "core packages current (demo: derived from the service name)".to_string()
        } else {
            "core packages behind the platform's pinned versions (demo: derived from the service name)"
                .to_string()
        },
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Group deployments by environment, then region → version (for display).
pub fn versions_by_env(facts: &ServiceFacts) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for d in &facts.deployments {
        out.entry(d.cluster.env.to_string())
            .or_default()
            .insert(d.cluster.region.to_string(), d.version.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{Sim, SimOptions};

    fn sim() -> (Platform, Catalog) {
        let catalog = crate::backend::catalog::demo_catalog();
        let sim = Sim::open(
            SimOptions {
                pace: 0.0,
                ..SimOptions::default()
            },
            catalog.clone(),
        )
        .expect("sim opens");
        (sim.platform(), catalog)
    }

    #[tokio::test]
    async fn gathers_one_service_from_every_provider() {
        let (p, c) = sim();
        let f = gather(&p, &c, "payments-api").await.expect("facts");
        assert_eq!(f.entity.name, "payments-api");
        assert_eq!(f.repo_slug.as_deref(), Some("northwind/payments-api"));
        assert!(!f.deployments.is_empty());
        assert!(f.deployments.iter().all(|d| d.service == "payments-api"));
        assert!(
            f.resources.iter().any(|r| r.name == "payments-db"),
            "{:?}",
            f.resources
        );
        assert!(!f.secrets.is_empty());
        assert!(f.secrets.iter().all(|s| s.service == "payments-api"));
        assert!(f.core_packages.is_some());
        assert_eq!(f.topology.regions.len(), 3);
        assert!(gather(&p, &c, "no-such-service").await.is_err());
    }

    #[tokio::test]
    async fn gather_all_matches_gather() {
        let (p, c) = sim();
        let all = gather_all(&p, &c).await.expect("facts");
        assert_eq!(
            all.len(),
            c.entities().iter().filter(|e| is_service(e)).count()
        );
        let one = gather(&p, &c, "payments-api").await.expect("facts");
        let same = all
            .iter()
            .find(|f| f.entity.name == "payments-api")
            .expect("listed");
        assert_eq!(same.deployments, one.deployments);
        assert_eq!(same.secrets, one.secrets);
        assert_eq!(same.repo, one.repo);
        assert_eq!(same.locks, one.locks);
    }

    #[test]
    fn core_packages_annotation_wins_and_unknown_outside_the_demo() {
        let (_, c) = sim();
        let e = c
            .find(Some(&Kind::Component), "payments-api")
            .expect("entity");
        assert!(core_packages(e, false).is_none());
        assert!(core_packages(e, true).is_some());
        let mut e = e.clone();
        e.annotations
            .insert(CORE_PACKAGES_ANNOTATION.into(), "outdated".into());
        assert_eq!(core_packages(&e, false).map(|c| c.current), Some(false));
        e.annotations
            .insert(CORE_PACKAGES_ANNOTATION.into(), "current".into());
        assert_eq!(core_packages(&e, true).map(|c| c.current), Some(true));
    }

    struct Slow;

    #[async_trait::async_trait]
    impl crate::backend::SecretsProvider for Slow {
        async fn list(&self, _: Option<&str>) -> Result<Vec<SecretMeta>> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Vec::new())
        }
        async fn put(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &str,
            _: crate::domain::SecretValue,
        ) -> Result<()> {
            anyhow::bail!("slow")
        }
        async fn delete(&self, _: &str, _: &str, _: &str, _: &str) -> Result<()> {
            anyhow::bail!("slow")
        }
        async fn reveal(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<crate::domain::SecretValue> {
            anyhow::bail!("slow")
        }
        async fn copy(&self, _: &str, _: &str, _: &str, _: &str, _: &str) -> Result<()> {
            anyhow::bail!("slow")
        }
    }

    #[tokio::test]
    async fn a_slow_provider_times_out_is_named_and_the_rest_is_kept() {
        let (mut p, c) = sim();
        p.secrets = std::sync::Arc::new(Slow);
        let f = gather_within(&p, &c, "payments-api", Duration::from_millis(50))
            .await
            .expect("the other providers answered");
        assert_eq!(f.unread.len(), 1, "{:?}", f.unread);
        assert_eq!(f.unread[0].source, "secrets");
        assert!(
            f.unread[0]
                .reason
                .contains("secrets provider did not answer"),
            "{:?}",
            f.unread[0]
        );
        assert!(!f.deployments.is_empty(), "the clusters still answered");
    }
}
