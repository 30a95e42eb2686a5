//! The shared backend client. `Platform` holds one handle per provider, each behind a
//! trait; the TUI and the CLI build the same `Platform` and never talk to a system any
//! other way. No terminal code here.

pub mod agent_source;
pub mod aws;
pub mod catalog;
pub mod catalog_cache;
pub mod configured;
pub mod facts;
pub mod github;
pub mod kafka;
pub mod kubernetes;
pub mod local;
pub mod logs;
pub mod sim;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::domain::access::AccessRequest;
use crate::domain::catalog::Catalog;
use crate::domain::environment::EphemeralEnv;
use crate::domain::pod::{LogLine, LogQuery, PodDetails, PodEvent};
use crate::domain::{
    AuditRecord, ClusterEvent, ClusterId, ClusterSnapshot, Details, FlagState, Freeze, Lock,
    Outcome, Scope, SecretListing, SecretMeta, SecretValue, Timestamp, Topology,
};

/// Where the catalog comes from (descriptor files, a GitHub org, the demo's assets).
#[async_trait]
pub trait CatalogProvider: Send + Sync {
    /// Load and resolve the whole catalog. Problems are inside the catalog; an `Err`
    /// means nothing at all could be read. Shared, so handing it out copies nothing.
    async fn load(&self) -> Result<Arc<Catalog>>;

    /// Read the catalog again from its sources now (`C-r`, a background refresh), as
    /// cheaply as the provider can; the catalog as it now is. A provider that can tell
    /// nothing changed gives the same `Arc` back. Default: [`load`](Self::load).
    async fn refresh(&self) -> Result<Arc<Catalog>> {
        self.load().await
    }

    /// How often the TUI should [`refresh`](Self::refresh) in the background (the
    /// sources can change while sphere runs); `None`: never.
    fn refresh_every(&self) -> Option<std::time::Duration> {
        None
    }

    /// Register a descriptor (one or more Backstage documents) read from `location`:
    /// the next [`load`](Self::load) includes its entities. Registering the same
    /// location again replaces what it registered (same text: no change). An error when
    /// the descriptor does not parse, or the provider cannot register.
    async fn register(&self, descriptor_yaml: &str, location: &str) -> Result<()> {
        let _ = (descriptor_yaml, location);
        anyhow::bail!("this catalog provider cannot register descriptors")
    }
}

/// A source of descriptors that are not files (a GitHub org): `(location, text)` pairs.
#[async_trait]
pub trait DescriptorSource: Send + Sync {
    async fn descriptors(&self) -> Result<Vec<(String, String)>>;

    /// Where the descriptors come from, to name it when it cannot be read at all.
    fn origin(&self) -> String {
        "the discovered catalog".to_string()
    }

    /// What [`descriptors`](Self::descriptors) gives, plus the locations that exist but
    /// could not be read this time (with why): the catalog reports each as a problem of
    /// that location and loads the rest. Default: nothing failed.
    async fn discover(&self) -> Result<Discovery> {
        Ok(Discovery {
            found: self.descriptors().await?,
            failed: Vec::new(),
        })
    }
}

/// One discovery: `(location, text)` read, `(location, error)` not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub found: Vec<(String, String)>,
    pub failed: Vec<(String, String)>,
}

/// What a read of one service's workloads
/// ([`ClusterProvider::service_workloads`]) includes besides its deployments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkloadRead {
    /// Its horizontal pod autoscalers.
    pub hpas: bool,
}

/// [`ClusterProvider::service_workloads`] from a snapshot of the one cluster.
pub async fn workloads_from_snapshot<P: ClusterProvider + ?Sized>(
    provider: &P,
    service: &str,
    cluster: &ClusterId,
    read: WorkloadRead,
) -> Result<ClusterSnapshot> {
    let scope = Scope {
        env: Some(cluster.env.to_string()),
        region: Some(cluster.region.to_string()),
    };
    let mut all = provider.snapshot(&scope).await?;
    all.deployments
        .retain(|d| d.service == service && d.cluster == *cluster);
    all.pods.clear();
    if read.hpas {
        all.hpas
            .retain(|h| h.service == service && h.cluster == *cluster);
    } else {
        all.hpas.clear();
    }
    Ok(all)
}

/// Deployments, pods and HPAs in every cluster.
#[async_trait]
pub trait ClusterProvider: Send + Sync {
    fn topology(&self) -> Topology;

    /// Who the credentials belong to (Kubernetes: the user a SelfSubjectReview names);
    /// `None` when there is no authenticated user (the demo).
    async fn whoami(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// One consistent read of every cluster in the scope (for the CLI).
    async fn snapshot(&self, scope: &Scope) -> Result<ClusterSnapshot>;

    /// A live stream: first the current state of every cluster (ending with a
    /// `Synced` per cluster), then every change as it happens.
    fn watch(&self) -> BoxStream<'static, ClusterEvent>;

    /// `kubectl rollout restart`: replace every pod of the deployment. An error when the
    /// service does not run in `cluster`.
    async fn restart(&self, service: &str, cluster: &ClusterId) -> Result<()>;

    /// Patch the HPA's replica bounds (policy bounds are checked before, by the
    /// dispatcher). An error when the service has no HPA in `cluster`.
    async fn set_hpa(&self, service: &str, cluster: &ClusterId, min: u32, max: u32) -> Result<()>;

    /// Create the deployment of `service` in `cluster` running `version` with
    /// `replicas` pods (which then appear through [`watch`](Self::watch)). Idempotent:
    /// when it exists already nothing changes.
    async fn create_deployment(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
        replicas: u32,
    ) -> Result<()> {
        let _ = (service, cluster, version, replicas);
        anyhow::bail!("this cluster provider cannot create deployments")
    }

    /// The deployments of one service in every cluster, and the clusters that could
    /// not be read (pods and HPAs left empty): what the service view shows. By
    /// default a [`snapshot`](Self::snapshot) of everything, kept to the service; a
    /// provider whose watch is running serves it from what the watch holds.
    async fn service_deployments(&self, service: &str) -> Result<ClusterSnapshot> {
        let mut all = self.snapshot(&Scope::default()).await?;
        all.deployments.retain(|d| d.service == service);
        all.pods.clear();
        all.hpas.clear();
        Ok(all)
    }

    /// The workloads of one service on one cluster, what an action on it needs (issue
    /// 14): its deployments there and, with `read.hpas`, its HPAs; never pods, never
    /// another service's or another cluster's. A cluster that could not be read is in
    /// `errors` (as in a snapshot). By default a [`snapshot`](Self::snapshot) of that
    /// cluster kept to the service; Kubernetes serves it from the running watch, else
    /// reads only that service's deployments (and the namespace's HPAs).
    async fn service_workloads(
        &self,
        service: &str,
        cluster: &ClusterId,
        read: WorkloadRead,
    ) -> Result<ClusterSnapshot> {
        workloads_from_snapshot(self, service, cluster, read).await
    }

    /// What the clusters' clock reads: ephemeral environments expire by it. Real
    /// clusters go by the wall clock; the demo's can be moved forward.
    fn now(&self) -> Timestamp {
        chrono::Utc::now().timestamp()
    }

    /// The ephemeral environments (C14), oldest first. On Kubernetes: the namespaces
    /// sphere labelled as one, with source, creator and expiry in annotations (the
    /// expiry in the form a janitor such as kube-janitor enforces).
    async fn environments(&self) -> Result<Vec<EphemeralEnv>> {
        Ok(Vec::new())
    }

    /// Create the ephemeral environment `env`: in each of its regions, a copy of every
    /// deployment (and HPA) that `env.from` runs there, at the version it runs now and
    /// with its replicas; the pods then appear through [`watch`](Self::watch). Returns
    /// how many deployments were copied. An error, with nothing created, when the name
    /// is taken or `env.from` does not span one of the regions.
    async fn create_environment(&self, env: &EphemeralEnv) -> Result<usize> {
        let _ = env;
        anyhow::bail!("this cluster provider cannot create environments")
    }

    /// Move an ephemeral environment's expiry to `expires_at`. An error when there is
    /// no ephemeral environment of that name.
    async fn extend_environment(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        let _ = (name, expires_at);
        anyhow::bail!("this cluster provider cannot extend environments")
    }

    /// Everything about one pod (`sphere describe pod`): conditions, IPs, owner and
    /// each container's state, restarts, last termination and resources. An error when
    /// there is no such pod in `cluster`.
    async fn pod_details(&self, cluster: &ClusterId, pod: &str) -> Result<PodDetails> {
        let _ = (cluster, pod);
        anyhow::bail!("this cluster provider cannot describe pods")
    }

    /// The events of `service` in `cluster` (its deployments, replica sets and pods),
    /// or of one of its pods and that pod's owners, newest first.
    async fn events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<PodEvent>> {
        let _ = (cluster, service, pod);
        anyhow::bail!("this cluster provider cannot read events")
    }

    /// The log lines of one pod, oldest first, sanitised. With `query.follow` the
    /// stream stays open and tells new lines as they are written (reconnecting when
    /// the connection ends, without repeating a line) until the pod goes away, which
    /// it tells as a last [`LogLine::notice`]. An error when the pod (or the
    /// container, or its previous instance) cannot be read.
    async fn logs(
        &self,
        cluster: &ClusterId,
        pod: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, LogLine>> {
        let _ = (cluster, pod, query);
        anyhow::bail!("this cluster provider cannot read logs")
    }

    /// Delete an ephemeral environment with everything in it; how many deployments
    /// went. An error when there is no ephemeral environment of that name (a permanent
    /// environment is never deleted).
    async fn delete_environment(&self, name: &str) -> Result<usize> {
        let _ = name;
        anyhow::bail!("this cluster provider cannot delete environments")
    }
}

/// Secret metadata across regions and environments (values never leave the provider
/// unless revealed on purpose).
#[async_trait]
pub trait SecretsProvider: Send + Sync {
    /// Every secret of one service (or of all services) in every region. An error when
    /// any region could not be read (see [`list_partial`](Self::list_partial)).
    async fn list(&self, service: Option<&str>) -> Result<Vec<SecretMeta>>;

    /// Like [`list`](Self::list), but a region that fails or times out is reported
    /// beside the other regions' secrets instead of failing the whole list. An `Err`
    /// when the provider cannot list at all (not configured, say).
    async fn list_partial(&self, service: Option<&str>) -> Result<SecretListing> {
        Ok(SecretListing {
            secrets: self.list(service).await?,
            failed: Vec::new(),
        })
    }

    /// Create or update (a new version of) the secret `<env>/<service>/<KEY>` in one
    /// region, with the standard tags (team, service, env, managed-by).
    async fn put(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: SecretValue,
    ) -> Result<()>;

    /// Delete one secret in one region (on a real platform: scheduled for deletion with
    /// the provider's recovery window). An error when there is no such secret.
    async fn delete(&self, service: &str, env: &str, region: &str, key: &str) -> Result<()>;

    /// The value of one secret, for a deliberate, audited reveal. An error when there
    /// is no such secret.
    async fn reveal(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<SecretValue>;

    /// Copy one secret's current value from one region to another of the same
    /// environment (fixing drift), with the standard tags. An error when the source
    /// does not exist.
    async fn copy(
        &self,
        service: &str,
        env: &str,
        key: &str,
        from_region: &str,
        to_region: &str,
    ) -> Result<()>;
}

/// What the repository host knows about a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RepoInfo {
    pub slug: String,
    pub exists: bool,
    pub default_branch: String,
    pub workflows: Vec<String>,
}

#[async_trait]
pub trait ReposProvider: Send + Sync {
    /// The organisation new repositories go in (the golden path's); `None`: the demo's.
    fn org(&self) -> Option<String> {
        None
    }

    /// Who the credentials belong to (GitHub: the token's login); `None` when the host
    /// authenticates nobody (the demo, no token).
    async fn whoami(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// What the header should say about the repository host now (GitHub's rate limit
    /// reached or nearly), if anything.
    fn notice(&self) -> Option<String> {
        None
    }

    async fn repo(&self, slug: &str) -> Result<Option<RepoInfo>>;

    /// Every released version of a service, oldest first (the rollback history).
    async fn releases(&self, service: &str) -> Result<Vec<String>>;

    /// Set the version a deployment runs in one cluster. On a real platform this is a
    /// commit to the GitOps repository; the cluster follows.
    async fn rollback(&self, service: &str, cluster: &ClusterId, version: &str) -> Result<()>;

    /// What the GitOps repository declares: the version of each deployment and the HPA
    /// bounds it holds (for git-vs-live drift). `Ok(None)`: there is no GitOps
    /// repository (nothing to compare); an `Err` when it cannot be read.
    async fn declared(&self) -> Result<Option<crate::domain::drift::GitDeclared>> {
        Ok(None)
    }

    /// Create the repository `slug` from `template`, rendered with `values`.
    /// Idempotent: when the repository exists nothing changes.
    async fn create_from_template(
        &self,
        slug: &str,
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<()> {
        let _ = (slug, template, values);
        anyhow::bail!("this repository provider cannot create repositories")
    }

    /// Commit `content` to `path` on the default branch. Idempotent: the same content
    /// commits nothing (returns false); true when the file changed. An error when the
    /// repository does not exist.
    async fn write_file(&self, slug: &str, path: &str, content: &str) -> Result<bool> {
        let _ = (slug, path, content);
        anyhow::bail!("this repository provider cannot write files")
    }

    /// The content of one file on the default branch; `None` when there is no such file
    /// (or repository).
    async fn file(&self, slug: &str, path: &str) -> Result<Option<String>> {
        let _ = (slug, path);
        Ok(None)
    }
}

/// Feature flags per cluster.
#[async_trait]
pub trait FlagsProvider: Send + Sync {
    async fn list(&self) -> Result<Vec<FlagState>>;

    /// Send a new value (and percentage; `None` keeps each cluster's) to one cluster,
    /// or to every cluster that has the flag (`None`). The change is pending until each
    /// cluster acknowledges it. An error when no such cluster has the flag.
    async fn set(
        &self,
        name: &str,
        value: &str,
        percentage: Option<u8>,
        cluster: Option<&ClusterId>,
    ) -> Result<()>;
}

/// Locks, the merge freeze and the audit trail.
#[async_trait]
pub trait LedgerProvider: Send + Sync {
    async fn locks(&self) -> Result<Vec<Lock>>;
    /// The locks as their store holds them now, never a copy that may lag (a platform
    /// reading from `sphere agent` shows the agent's locks, but an action checks these):
    /// what the policy and the dispatcher check.
    async fn locks_now(&self) -> Result<Vec<Lock>> {
        self.locks().await
    }
    async fn freeze(&self) -> Result<Freeze>;
    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>>;

    /// See [`AuditStore::backlog`]: what of the audit trail waits, and why.
    async fn audit_backlog(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// Add a lock to its target's set (see [`crate::domain::add_lock`]): another
    /// holder's lock on the same target stays; the same holder's is replaced. Returns
    /// the other holders' locks on that target.
    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>>;

    /// Remove the locks of `service` (`*` for the lock on everything) inside the scope
    /// (`None` = any) held by `by` (`None`: every holder's); the locks removed.
    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>>;

    /// Switch the merge freeze on or off.
    async fn set_freeze(&self, freeze: Freeze) -> Result<()>;

    /// Append one audit record with no details; returns its id (ids increase).
    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        outcome: Outcome,
    ) -> Result<u64> {
        self.append_audit_with(actor, action, target, reason, &Details::new(), outcome)
            .await
    }

    /// Append one audit record saying what changes (`details`); returns its id.
    async fn append_audit_with(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        details: &Details,
        outcome: Outcome,
    ) -> Result<u64>;

    /// Record the outcome of a record appended as `Started`. An error when there is no
    /// such record.
    async fn set_audit_outcome(&self, id: u64, outcome: Outcome) -> Result<()> {
        self.set_audit_outcome_with(id, outcome, &Details::new())
            .await
    }

    /// [`LedgerProvider::set_audit_outcome`], adding `details` (what the provider
    /// call told: the version written, the locks removed) to the record's.
    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()>;

    /// Record an access request (C15) as it is given (its `status` already decided
    /// when a rule granted it); returns its id, assigned by the ledger (ids increase
    /// and are unique, across processes too).
    async fn request_access(&self, request: AccessRequest) -> Result<u64> {
        let _ = request;
        anyhow::bail!("this ledger cannot record access requests")
    }

    /// Every access request, oldest first.
    async fn access_requests(&self) -> Result<Vec<AccessRequest>> {
        Ok(Vec::new())
    }

    /// Grant (`granted`, until `expires_at`) or deny a pending request, decided by
    /// `by`; the request as it now is. An error when there is no such request or it is
    /// no longer pending.
    async fn decide_access(
        &self,
        id: u64,
        granted: bool,
        by: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<AccessRequest> {
        let _ = (id, granted, by, expires_at);
        anyhow::bail!("this ledger cannot decide access requests")
    }
}

/// The locks part of a configured ledger (Kubernetes: one object per cluster).
#[async_trait]
pub trait LockStore: Send + Sync {
    async fn locks(&self) -> Result<Vec<Lock>>;
    /// See [`LedgerProvider::add_lock`].
    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>>;
    /// See [`LedgerProvider::remove_locks`].
    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>>;
}

/// The merge-freeze part of a configured ledger (GitHub: an org ruleset).
#[async_trait]
pub trait FreezeStore: Send + Sync {
    async fn freeze(&self) -> Result<Freeze>;
    async fn set_freeze(&self, freeze: Freeze) -> Result<()>;
}

/// The audit part of a configured ledger (Kafka, spooled to a local journal).
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>>;

    /// Records written but not yet where the trail lives (waiting in a local journal
    /// for the broker, say), and why: `None` when nothing waits.
    async fn backlog(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Append one record; its id (unique, increasing within this process).
    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        outcome: Outcome,
    ) -> Result<u64> {
        self.append_audit_with(actor, action, target, reason, &Details::new(), outcome)
            .await
    }
    /// Append one record with what changes.
    async fn append_audit_with(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        details: &Details,
        outcome: Outcome,
    ) -> Result<u64>;
    async fn set_audit_outcome(&self, id: u64, outcome: Outcome) -> Result<()> {
        self.set_audit_outcome_with(id, outcome, &Details::new())
            .await
    }
    /// Set the outcome, adding `details` to the record's.
    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()>;
}

/// Demo or configured: the header says which, and the demo is never a silent fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformKind {
    Demo,
    Configured,
}

/// The shared backend client: one handle per provider.
#[derive(Clone)]
pub struct Platform {
    pub name: String,
    pub kind: PlatformKind,
    pub catalog: Arc<dyn CatalogProvider>,
    pub clusters: Arc<dyn ClusterProvider>,
    pub secrets: Arc<dyn SecretsProvider>,
    pub repos: Arc<dyn ReposProvider>,
    pub flags: Arc<dyn FlagsProvider>,
    pub ledger: Arc<dyn LedgerProvider>,
    /// Per-service link templates from config (`[links]`), name → URL template.
    pub link_templates: std::collections::BTreeMap<String, String>,
    /// The notification webhook (`[webhook]`), on any platform.
    pub webhook: Option<Arc<webhook::Webhook>>,
    /// Where alert silences are kept (the agent's silences topic, with `[agent]`);
    /// `None`: nowhere (`sphere alert silence` says so).
    pub silences: Option<Arc<dyn SilenceStore>>,
    /// Set when the platform reads from `sphere agent`'s topics (`[source] agent`):
    /// how current each source is (see [`agent_source`]).
    pub agent: Option<Arc<agent_source::Feed>>,
}

/// Alert silences (see [`crate::agent::silences`]): one per pattern, the latest the
/// truth.
#[async_trait]
pub trait SilenceStore: Send + Sync {
    /// Every silence kept, expired ones included (the caller judges by its clock).
    async fn list(&self) -> Result<Vec<crate::agent::silences::Silence>>;
    /// Add a silence, replacing the one with the same pattern.
    async fn put(&self, silence: &crate::agent::silences::Silence) -> Result<()>;
    /// Remove the silence of this pattern.
    async fn remove(&self, pattern: &str) -> Result<()>;
    /// Where they are kept, for people.
    fn place(&self) -> String;
}

impl Platform {
    /// What the platform's clock reads (see [`ClusterProvider::now`]).
    pub fn now(&self) -> Timestamp {
        self.clusters.now()
    }

    /// The topology with the ephemeral environments as they are now (on the demo,
    /// reading them also removes the expired ones).
    pub async fn topology_now(&self) -> Result<crate::domain::Topology> {
        let envs = self.clusters.environments().await?;
        Ok(self.clusters.topology().with_ephemeral(&envs))
    }

    /// [`Platform::topology_now`], or the clusters alone when the environments cannot
    /// be read (logged): for reads and for actions that do not create or change an
    /// environment.
    pub async fn topology_or_clusters(&self) -> crate::domain::Topology {
        match self.topology_now().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("ephemeral environments not read: {e:#}");
                self.clusters.topology()
            }
        }
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
