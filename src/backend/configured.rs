//! The configured platform: the real providers named in `config.toml`, composed into one
//! [`Platform`]. A provider that is not configured answers every call with an error that
//! says which section of the config would enable it; it is never replaced by the demo.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use futures::stream::BoxStream;

use super::local::{JsonFile, LocalAccess, LocalAudit};
use super::{
    AuditStore, CatalogProvider, ClusterProvider, DescriptorSource, FlagsProvider, FreezeStore,
    LedgerProvider, LockStore, Platform, PlatformKind, ReposProvider, SecretsProvider,
};
use crate::config::Config;
use crate::domain::access::AccessRequest;
use crate::domain::catalog::load::{FsReader, SourceReader, load, normalize};
use crate::domain::catalog::model::{Problem, Severity};
use crate::domain::catalog::{Catalog, Kind};
use crate::domain::lifecycle::REPO_SLUG_ANNOTATION;
use crate::domain::{
    AuditRecord, ClusterEvent, ClusterId, ClusterSnapshot, Details, FlagState, Freeze, Lock,
    Outcome, Scope, SecretMeta, SecretValue, Timestamp, Topology,
};

/// A provider the config does not declare (or declares so that it cannot be built):
/// every call fails, saying how to declare it or what is wrong.
#[derive(Debug, Clone)]
pub struct Unconfigured {
    /// What is missing (`Kubernetes clusters`).
    pub what: &'static str,
    /// The config section that would provide it (`[[clusters]]`).
    pub section: &'static str,
    /// Why the declared section could not be used; `None`: it is not declared.
    pub reason: Option<String>,
}

/// A source the configuration does not declare: what a read of it answers, so a view
/// can say so as information rather than as a failure (`anyhow::Error::downcast_ref`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotConfigured {
    pub what: &'static str,
    pub section: &'static str,
}

impl std::fmt::Display for NotConfigured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} not configured: add {} to config.toml (see assets/config.sample.toml)",
            self.what, self.section
        )
    }
}

impl std::error::Error for NotConfigured {}

impl Unconfigured {
    fn error(&self) -> anyhow::Error {
        match &self.reason {
            Some(reason) => anyhow::anyhow!(
                "{} cannot be used: {reason} ({} in config.toml)",
                self.what,
                self.section
            ),
            None => NotConfigured {
                what: self.what,
                section: self.section,
            }
            .into(),
        }
    }
}

#[async_trait]
impl ClusterProvider for Unconfigured {
    fn topology(&self) -> Topology {
        Topology::default()
    }
    async fn snapshot(&self, _scope: &Scope) -> Result<ClusterSnapshot> {
        Err(self.error())
    }
    fn watch(&self) -> BoxStream<'static, ClusterEvent> {
        Box::pin(futures::stream::empty())
    }
    async fn restart(&self, _service: &str, _cluster: &ClusterId) -> Result<()> {
        Err(self.error())
    }
    async fn set_hpa(&self, _s: &str, _c: &ClusterId, _min: u32, _max: u32) -> Result<()> {
        Err(self.error())
    }
}

#[async_trait]
impl SecretsProvider for Unconfigured {
    async fn list(&self, _service: Option<&str>) -> Result<Vec<SecretMeta>> {
        Err(self.error())
    }
    async fn put(&self, _: &str, _: &str, _: &str, _: &str, _: SecretValue) -> Result<()> {
        Err(self.error())
    }
    async fn delete(&self, _: &str, _: &str, _: &str, _: &str) -> Result<()> {
        Err(self.error())
    }
    async fn reveal(&self, _: &str, _: &str, _: &str, _: &str) -> Result<SecretValue> {
        Err(self.error())
    }
    async fn copy(&self, _: &str, _: &str, _: &str, _: &str, _: &str) -> Result<()> {
        Err(self.error())
    }
}

#[async_trait]
impl ReposProvider for Unconfigured {
    async fn repo(&self, _slug: &str) -> Result<Option<super::RepoInfo>> {
        Err(self.error())
    }
    async fn releases(&self, _service: &str) -> Result<Vec<String>> {
        Err(self.error())
    }
    async fn rollback(&self, _: &str, _: &ClusterId, _: &str) -> Result<()> {
        Err(self.error())
    }
}

#[async_trait]
impl FlagsProvider for Unconfigured {
    async fn list(&self) -> Result<Vec<FlagState>> {
        Err(self.error())
    }
    async fn set(&self, _: &str, _: &str, _: Option<u8>, _: Option<&ClusterId>) -> Result<()> {
        Err(self.error())
    }
}

#[async_trait]
impl LockStore for Unconfigured {
    async fn locks(&self) -> Result<Vec<Lock>> {
        Err(self.error())
    }
    async fn add_lock(&self, _lock: Lock) -> Result<Vec<Lock>> {
        Err(self.error())
    }
    async fn remove_locks(
        &self,
        _: &str,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<Vec<Lock>> {
        Err(self.error())
    }
}

#[async_trait]
impl FreezeStore for Unconfigured {
    /// The freeze is a GitHub org ruleset: with no GitHub declared nothing can be
    /// frozen, so it is off (no error toast when only `[[clusters]]` is configured). A
    /// GitHub section that is declared but unusable is an error: then the freeze is
    /// not known.
    async fn freeze(&self) -> Result<Freeze> {
        match self.reason {
            None => Ok(Freeze::default()),
            Some(_) => Err(self.error()),
        }
    }
    async fn set_freeze(&self, _freeze: Freeze) -> Result<()> {
        Err(self.error())
    }
}

/// The ledger of a configured platform, put together from where each fact lives: locks
/// in Kubernetes, the freeze in GitHub, the audit trail in Kafka (or only on this
/// machine), access requests on this machine.
pub struct ComposedLedger {
    pub locks: Arc<dyn LockStore>,
    pub freeze: Arc<dyn FreezeStore>,
    pub audit: Arc<dyn AuditStore>,
    pub access: LocalAccess,
}

#[async_trait]
impl LedgerProvider for ComposedLedger {
    async fn locks(&self) -> Result<Vec<Lock>> {
        self.locks.locks().await
    }
    async fn freeze(&self) -> Result<Freeze> {
        self.freeze.freeze().await
    }
    async fn audit(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        self.audit.audit(since).await
    }
    async fn audit_backlog(&self) -> Result<Option<String>> {
        self.audit.backlog().await
    }
    async fn add_lock(&self, lock: Lock) -> Result<Vec<Lock>> {
        self.locks.add_lock(lock).await
    }
    async fn remove_locks(
        &self,
        service: &str,
        env: Option<&str>,
        region: Option<&str>,
        by: Option<&str>,
    ) -> Result<Vec<Lock>> {
        self.locks.remove_locks(service, env, region, by).await
    }
    async fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        self.freeze.set_freeze(freeze).await
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
        self.audit
            .append_audit_with(actor, action, target, reason, details, outcome)
            .await
    }
    async fn set_audit_outcome_with(
        &self,
        id: u64,
        outcome: Outcome,
        details: &Details,
    ) -> Result<()> {
        self.audit
            .set_audit_outcome_with(id, outcome, details)
            .await
    }
    async fn request_access(&self, request: AccessRequest) -> Result<u64> {
        let access = self.access.clone();
        tokio::task::spawn_blocking(move || access.request(request)).await?
    }
    async fn access_requests(&self) -> Result<Vec<AccessRequest>> {
        let access = self.access.clone();
        tokio::task::spawn_blocking(move || access.list()).await?
    }
    async fn decide_access(
        &self,
        id: u64,
        granted: bool,
        by: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<AccessRequest> {
        let access = self.access.clone();
        let by = by.to_string();
        tokio::task::spawn_blocking(move || access.decide(id, granted, &by, expires_at)).await?
    }
}

/// Descriptor files found somewhere other than the filesystem (a GitHub org), under
/// virtual paths, layered over the real filesystem.
pub struct LayeredReader {
    pub files: BTreeMap<PathBuf, String>,
}

impl SourceReader for LayeredReader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        match self.files.get(path) {
            Some(text) => Ok(text.clone()),
            None => FsReader.read(path),
        }
    }
    fn is_dir(&self, path: &Path) -> bool {
        !self.files.contains_key(path) && FsReader.is_dir(path)
    }
    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<PathBuf>> {
        FsReader.list_dir(path)
    }
    // Files on disk stay inside the catalog's roots (see `load`); fetched ones are not
    // on disk.
    fn real_path(&self, path: &Path) -> Option<PathBuf> {
        if self.files.contains_key(path) {
            None
        } else {
            FsReader.real_path(path)
        }
    }
    fn has_file(&self, path: &Path) -> bool {
        self.files.contains_key(path) || FsReader.has_file(path)
    }
}

/// The catalog of a configured platform: descriptor files and directories from
/// `[catalog] paths`, plus what a [`DescriptorSource`] discovers, plus the descriptors
/// registered through sphere (the golden path's registration step), read on every load.
pub struct ConfiguredCatalog {
    pub roots: Vec<PathBuf>,
    pub discovered: Option<Arc<dyn DescriptorSource>>,
    /// Where registered descriptors are kept (`registered.json` in the data dir:
    /// location → descriptor text). `None`: registering is refused.
    pub registered: Option<PathBuf>,
}

/// The `owner/repo` of a descriptor location on a GitHub host: a discovered
/// `HOST/OWNER/REPO/catalog-info.yaml`, or a registered
/// `url:https://HOST/OWNER/REPO/blob/BRANCH/catalog-info.yaml`. Lower-cased.
fn repo_of_location(location: &str) -> Option<String> {
    let rest = location.strip_prefix("url:").unwrap_or(location);
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [_, owner, repo, "blob", _, ..] | [_, owner, repo, _] => {
            Some(format!("{owner}/{repo}").to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The `OWNER/REPO` of a discovered descriptor (`HOST/OWNER/REPO/catalog-info.yaml`),
/// as GitHub spells it.
fn slug_of_discovered(location: &str) -> Option<String> {
    let mut parts = location.rsplit('/');
    let (_file, repo, owner) = (parts.next()?, parts.next()?, parts.next()?);
    (!owner.is_empty() && !repo.is_empty()).then(|| format!("{owner}/{repo}"))
}

/// What one load of a [`ConfiguredCatalog`] read, to tell the next load whether
/// anything changed: the descriptors it was given (hashed), every question it asked the
/// filesystem with a hash of the answer, and the catalog it made of them.
pub struct LoadMemo {
    given: u64,
    asked: Vec<(Asked, u64)>,
    catalog: Arc<Catalog>,
}

/// One question a catalog load asks its reader.
enum Asked {
    Read(PathBuf),
    IsDir(PathBuf),
    ListDir(PathBuf),
}

fn hash_of(v: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

impl Asked {
    /// The answer's hash, asked again.
    fn answer(&self, reader: &dyn SourceReader) -> u64 {
        match self {
            Asked::Read(p) => match reader.read(p) {
                Ok(text) => hash_of((0u8, text)),
                Err(e) => hash_of((1u8, e.kind().to_string())),
            },
            Asked::IsDir(p) => hash_of(reader.is_dir(p)),
            Asked::ListDir(p) => match reader.list_dir(p) {
                Ok(mut entries) => {
                    entries.sort();
                    hash_of((0u8, entries))
                }
                Err(e) => hash_of((1u8, e.kind().to_string())),
            },
        }
    }
}

/// A reader that notes every question and the hash of its answer.
struct Recording<'r> {
    inner: &'r dyn SourceReader,
    asked: std::cell::RefCell<Vec<(Asked, u64)>>,
}

impl Recording<'_> {
    fn note(&self, q: Asked) {
        let h = q.answer(self.inner);
        self.asked.borrow_mut().push((q, h));
    }
}

impl SourceReader for Recording<'_> {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.note(Asked::Read(path.to_path_buf()));
        self.inner.read(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.note(Asked::IsDir(path.to_path_buf()));
        self.inner.is_dir(path)
    }
    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.note(Asked::ListDir(path.to_path_buf()));
        self.inner.list_dir(path)
    }
}

impl ConfiguredCatalog {
    /// Load the catalog; with a `memo` of the last load, the same catalog (the same
    /// `Arc`) comes back without parsing anything when nothing it was made of changed
    /// (the discovered descriptors, the registered ones, every file it read).
    pub async fn load_with(&self, memo: &mut Option<LoadMemo>) -> Result<Arc<Catalog>> {
        let mut files = BTreeMap::new();
        let mut roots = self.roots.clone();
        let mut failed = Vec::new();
        // Discovered descriptor → its repository's slug: a Component it holds with no
        // `github.com/project-slug` lives in that repository.
        let mut slugs: HashMap<PathBuf, String> = HashMap::new();
        if let Some(source) = &self.discovered {
            // A source that cannot be read at all (the org cannot be listed) is one
            // problem on its origin; the files still load.
            match source.discover().await {
                Ok(discovery) => {
                    failed = discovery.failed;
                    for (location, text) in discovery.found {
                        if let Some(slug) = slug_of_discovered(&location) {
                            slugs.insert(normalize(Path::new(&location)), slug);
                        }
                        let path = PathBuf::from(location);
                        roots.push(path.clone());
                        files.insert(path, text);
                    }
                }
                Err(e) => {
                    tracing::warn!("catalog discovery failed: {e:#}");
                    failed.push((source.origin(), format!("{e:#}")));
                }
            }
        }
        let registered = self.registered.clone();
        let last = memo.take();
        let (catalog, kept) = tokio::task::spawn_blocking(move || {
            // What sphere registered, unless discovery read the same repository's
            // descriptor (that one is the repository's current text).
            if let Some(path) = registered {
                let kept: BTreeMap<String, String> = match JsonFile::new(&path).read() {
                    Ok(kept) => kept,
                    Err(e) => {
                        failed.push((path.display().to_string(), format!("{e:#}")));
                        BTreeMap::new()
                    }
                };
                let discovered: std::collections::HashSet<String> = (files.keys())
                    .filter_map(|p| repo_of_location(&p.to_string_lossy()))
                    .collect();
                for (location, text) in kept {
                    if repo_of_location(&location).is_some_and(|r| discovered.contains(&r)) {
                        continue;
                    }
                    let path = PathBuf::from(location);
                    roots.push(path.clone());
                    files.insert(path, text);
                }
            }
            let given = hash_of((&roots, &files, &failed));
            let reader = LayeredReader { files };
            if let Some(last) = last
                && last.given == given
                && last.asked.iter().all(|(q, h)| q.answer(&reader) == *h)
            {
                let catalog = last.catalog.clone();
                return (catalog, last);
            }
            let recording = Recording {
                inner: &reader,
                asked: std::cell::RefCell::new(Vec::new()),
            };
            let mut catalog = load(&roots, &recording);
            catalog.default_annotation(REPO_SLUG_ANNOTATION, |e| {
                (e.kind == Kind::Component)
                    .then(|| slugs.get(&e.source.file).cloned())
                    .flatten()
            });
            catalog
                .problems
                .extend(failed.into_iter().map(|(location, reason)| Problem {
                    severity: Severity::Error,
                    file: PathBuf::from(location),
                    entity: None,
                    reason,
                }));
            let catalog = Arc::new(catalog);
            let kept = LoadMemo {
                given,
                asked: recording.asked.into_inner(),
                catalog: catalog.clone(),
            };
            (catalog, kept)
        })
        .await
        .context("catalog loading task failed")?;
        *memo = Some(kept);
        Ok(catalog)
    }
}

#[async_trait]
impl CatalogProvider for ConfiguredCatalog {
    /// Every load reads everything again (see [`CachedCatalog`](super::catalog_cache::CachedCatalog)
    /// for the one the platform shares).
    async fn load(&self) -> Result<Arc<Catalog>> {
        self.load_with(&mut None).await
    }

    /// Keeps the descriptor in `registered.json` (as Backstage keeps a registered
    /// location): the next load includes it. Once discovery reads the same
    /// repository's descriptor, that one counts instead.
    async fn register(&self, descriptor_yaml: &str, location: &str) -> Result<()> {
        let Some(path) = self.registered.clone() else {
            anyhow::bail!("this catalog cannot register descriptors");
        };
        let parsed =
            crate::domain::catalog::parse::parse_documents(descriptor_yaml, Path::new(location));
        if let Some(p) = (parsed.problems.iter()).find(|p| p.severity == Severity::Error) {
            anyhow::bail!("the descriptor at {location} is invalid: {}", p.reason);
        }
        if parsed.entities.is_empty() {
            anyhow::bail!("the descriptor at {location} has no entity");
        }
        let (location, text) = (location.to_string(), descriptor_yaml.to_string());
        tokio::task::spawn_blocking(move || {
            JsonFile::new(path).mutate(|kept: &mut BTreeMap<String, String>| {
                kept.insert(location, text);
                Ok(())
            })
        })
        .await
        .context("the registering task failed")?
    }
}

/// How a configured platform remembers what it read, to ask again only what changed.
#[derive(Debug, Clone, Default)]
pub struct Caching {
    /// Where GitHub's answers and the discovered descriptors are kept between runs;
    /// `None`: in memory only (for this process).
    pub dir: Option<PathBuf>,
    /// Nothing remembered at all: every catalog load discovers and parses everything,
    /// every GitHub request is unconditional (and the service view's facts asked every
    /// time), every secret's value is read on every listing, locks and environments
    /// are read from the clusters on every read (as sphere did before; the cost
    /// benchmark measures it so, and
    /// `SPHERE_NO_CACHE=1` asks for it).
    pub off: bool,
}

/// Builds the configured platform from `config` (which declares one: see
/// [`Config::is_configured_platform`]); `data_dir` holds the local journals. What it
/// reads is remembered in memory only (see [`build_with`]).
pub async fn build(config: &Config, data_dir: &Path) -> Result<Platform> {
    build_with(config, data_dir, Caching::default()).await
}

/// [`build`], remembering what it reads as `caching` says.
pub async fn build_with(config: &Config, data_dir: &Path, caching: Caching) -> Result<Platform> {
    let p = config.platform();
    let no_clusters = Arc::new(Unconfigured {
        what: "Kubernetes clusters",
        section: "[[clusters]]",
        reason: None,
    });
    let no_aws = Arc::new(Unconfigured {
        what: "AWS Secrets Manager",
        section: "[[clusters]] (each with its AWS region)",
        reason: None,
    });
    let no_github = Arc::new(Unconfigured {
        what: "GitHub",
        section: "[github]",
        reason: None,
    });
    let no_kafka = Arc::new(Unconfigured {
        what: "Kafka",
        section: "[kafka]",
        reason: None,
    });

    // Each real provider plugs in here when its section is present.
    let kube = if p.clusters.is_empty() {
        None
    } else {
        let kube = super::kubernetes::KubeClusters::new(p.clusters, p.kubernetes).await;
        kube.set_watched_reads(!caching.off);
        Some(Arc::new(kube))
    };
    let (clusters, locks): (Arc<dyn ClusterProvider>, Arc<dyn LockStore>) = match &kube {
        Some(kube) => (kube.clone(), kube.clone()),
        None => (no_clusters.clone(), no_clusters),
    };
    // AWS Secrets Manager: the AWS region of every cluster; `[aws]` may be absent.
    let aws = if p.clusters.is_empty() {
        None
    } else {
        let aws = super::aws::AwsSecrets::from_config(p.clusters, p.aws).await;
        aws.remember_value_hashes(!caching.off);
        Some(Arc::new(aws))
    };
    let secrets: Arc<dyn SecretsProvider> = match &aws {
        Some(aws) => aws.clone(),
        None => no_aws,
    };
    let repos: Arc<dyn ReposProvider> = no_github.clone();
    let freeze: Arc<dyn FreezeStore> = no_github;
    let discovered: Option<Arc<dyn DescriptorSource>> = None;
    // GitHub: repositories, rollback, the merge freeze and catalog discovery.
    let (repos, freeze, discovered) = match p.github {
        // A [github] that cannot be used shows its error in the panes that need GitHub;
        // everything else keeps working.
        Some(gh) => match super::github::GithubProvider::from_env_with_cache(
            gh,
            (!caching.off).then(|| match &caching.dir {
                Some(dir) => super::github::cache::GithubCache::open(
                    super::github::GithubProvider::cache_file(gh, dir),
                ),
                None => super::github::cache::GithubCache::in_memory(),
            }),
        ) {
            Ok(github) => {
                let github = Arc::new(github);
                let discovered: Option<Arc<dyn DescriptorSource>> = if gh.discover_catalog {
                    Some(github.clone())
                } else {
                    None
                };
                (
                    github.clone() as Arc<dyn ReposProvider>,
                    github as Arc<dyn FreezeStore>,
                    discovered,
                )
            }
            Err(e) => {
                tracing::warn!("[github] cannot be used: {e:#}");
                let broken = Arc::new(Unconfigured {
                    what: "GitHub",
                    section: "[github]",
                    reason: Some(format!("{e:#}")),
                });
                (
                    broken.clone() as Arc<dyn ReposProvider>,
                    broken as Arc<dyn FreezeStore>,
                    None,
                )
            }
        },
        None => (repos, freeze, discovered),
    };
    let (flags, audit): (Arc<dyn FlagsProvider>, Arc<dyn AuditStore>) = match p.kafka {
        Some(k) => {
            use super::kafka::{KafkaAudit, KafkaFlags, SPOOL_FILE};
            let clusters = p.clusters.iter().map(|c| c.id()).collect();
            let flags = KafkaFlags::new(k, clusters).context("[kafka] in config.toml")?;
            let audit = Arc::new(
                KafkaAudit::new(k, data_dir.join(SPOOL_FILE)).context("[kafka] in config.toml")?,
            );
            audit.replay_in_background();
            (Arc::new(flags), audit)
        }
        None => (
            no_kafka,
            Arc::new(LocalAudit::new(data_dir.join("audit.json"))),
        ),
    };

    let platform = Platform {
        name: config
            .platform_name
            .clone()
            .unwrap_or_else(|| "configured".to_string()),
        kind: PlatformKind::Configured,
        catalog: {
            let catalog = ConfiguredCatalog {
                roots: config.catalog.paths.clone(),
                discovered,
                registered: Some(data_dir.join("registered.json")),
            };
            if caching.off {
                Arc::new(catalog)
            } else {
                Arc::new(super::catalog_cache::CachedCatalog::new(catalog))
            }
        },
        clusters,
        secrets,
        repos,
        flags,
        ledger: Arc::new(ComposedLedger {
            locks,
            freeze,
            audit,
            access: LocalAccess::new(data_dir.join("access.json")),
        }),
        link_templates: config.links.clone(),
        webhook: config
            .webhook
            .as_ref()
            .map(super::webhook::Webhook::new)
            .transpose()?
            .map(Arc::new),
        silences: None,
        agent: None,
    };
    // The `team` tag of a secret comes from the owner in the catalog, and a Component
    // may say how its workloads are found (`backstage.io/kubernetes-id`, ...).
    if let Some(aws) = &aws {
        aws.set_catalog(platform.catalog.clone());
    }
    if let Some(kube) = &kube {
        kube.set_catalog(platform.catalog.clone());
    }
    Ok(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no `[github]` there is no freeze to read: it is off, not an error (the TUI
    /// showed "locks: GitHub not configured" when only `[[clusters]]` was set); setting
    /// it still says what to configure.
    #[tokio::test]
    async fn no_github_means_no_freeze_rather_than_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), "");
        assert!(problems.is_empty(), "{problems:?}");
        let platform = build(&config, dir.path()).await.expect("builds");
        assert_eq!(
            platform.ledger.freeze().await.expect("no freeze"),
            Freeze::default()
        );
        let err = platform
            .ledger
            .set_freeze(Freeze {
                on: true,
                ..Freeze::default()
            })
            .await
            .expect_err("nothing to freeze with");
        assert!(format!("{err:#}").contains("not configured"), "{err:#}");
    }

    #[tokio::test]
    async fn a_github_section_that_cannot_be_used_breaks_only_github() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = "[github]\norg = \"acme\"\napi_url = \"not a url\"\n";
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), src);
        assert!(problems.is_empty(), "{problems:?}");
        let platform = build(&config, dir.path()).await.expect("the rest builds");
        let err = platform
            .repos
            .repo("acme/cart")
            .await
            .expect_err("GitHub is broken");
        let shown = format!("{err:#}");
        assert!(shown.contains("GitHub cannot be used"), "{shown}");
        assert!(shown.contains("[github]"), "{shown}");
        assert!(platform.ledger.freeze().await.is_err());
        // The catalog (files only now) and the local audit trail still work.
        platform.catalog.load().await.expect("catalog");
        let id = platform
            .ledger
            .append_audit("ada", "lock.add", "cart", None, Outcome::Started)
            .await
            .expect("audit");
        assert!(id > 0);
    }

    /// Every reader of the platform's catalog (panes, policy, mapping, tagging) gets
    /// the one catalog read: a second load reads nothing; `Caching { off }` reads again.
    #[tokio::test]
    async fn the_platform_catalog_is_read_once_and_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("catalog-info.yaml");
        std::fs::write(
            &file,
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: cart\nspec:\n  type: service\n  owner: team-a\n  lifecycle: production\n",
        )
        .unwrap();
        let src = format!(
            "[catalog]\npaths = [{:?}]\n[github]\norg = \"acme\"\napi_url = \"not a url\"\n",
            file.display().to_string()
        );
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), &src);
        assert!(problems.is_empty(), "{problems:?}");
        let platform = build(&config, dir.path()).await.expect("builds");
        let a = platform.catalog.load().await.expect("catalog");
        let b = platform.catalog.load().await.expect("catalog");
        assert!(Arc::ptr_eq(&a, &b), "one catalog, shared");
        assert!(platform.catalog.refresh_every().is_some());
        let off = build_with(
            &config,
            dir.path(),
            Caching {
                dir: None,
                off: true,
            },
        )
        .await
        .expect("builds");
        let a = off.catalog.load().await.expect("catalog");
        let b = off.catalog.load().await.expect("catalog");
        assert!(!Arc::ptr_eq(&a, &b), "without the cache every load reads");
    }

    /// The golden path's registration on a configured platform: kept in the data dir,
    /// loaded with the files, replaced when registered again, refused when invalid.
    #[tokio::test]
    async fn registered_descriptors_load_with_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = ConfiguredCatalog {
            roots: Vec::new(),
            discovered: None,
            registered: Some(dir.path().join("registered.json")),
        };
        let location = "url:https://github.com/acme/cart/blob/main/catalog-info.yaml";
        let descriptor = |d: &str| {
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: cart\n  description: {d}\nspec:\n  type: service\n  owner: team-a\n  lifecycle: experimental\n"
            )
        };
        catalog
            .register(&descriptor("first"), location)
            .await
            .expect("registered");
        catalog
            .register(&descriptor("second"), location)
            .await
            .expect("again");
        let loaded = catalog.load().await.expect("loads");
        let cart = loaded.find(None, "cart").expect("the registered service");
        assert_eq!(cart.description.as_deref(), Some("second"));
        assert_eq!(
            cart.source.file,
            crate::domain::catalog::load::normalize(Path::new(location))
        );
        assert_eq!(
            loaded
                .of_kind(&crate::domain::catalog::model::Kind::Component)
                .count(),
            1
        );

        let err = catalog
            .register(
                "kind: Component\nmetadata: {}\n",
                "url:https://x/y/z/blob/main/c.yaml",
            )
            .await
            .expect_err("invalid");
        assert!(format!("{err:#}").contains("invalid"), "{err:#}");
        assert_eq!(repo_of_location(location).as_deref(), Some("acme/cart"));
        assert_eq!(
            repo_of_location("github.com/Acme/Cart/catalog-info.yaml").as_deref(),
            Some("acme/cart")
        );
    }

    /// What cannot be read is named, and only the facts that need it are unknown: the
    /// service view, `explain` and `score` still work.
    #[tokio::test]
    async fn facts_name_what_could_not_be_read_and_keep_the_rest() {
        use crate::backend::facts::gather;
        use crate::domain::lifecycle::{StageId, stages};
        use crate::domain::score;

        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = dir.path().join("catalog-info.yaml");
        std::fs::write(
            &catalog,
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: cart\n  annotations:\n    github.com/project-slug: acme/cart\nspec:\n  type: service\n  owner: team-a\n  lifecycle: production\n",
        )
        .unwrap();
        let src = format!(
            "[catalog]\npaths = [{:?}]\n[github]\norg = \"acme\"\napi_url = \"not a url\"\n",
            catalog.display().to_string()
        );
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), &src);
        assert!(problems.is_empty(), "{problems:?}");
        let platform = build(&config, dir.path()).await.expect("builds");
        let cat = platform.catalog.load().await.expect("catalog");
        let facts = gather(&platform, &cat, "cart")
            .await
            .expect("facts despite failures");
        let sources: Vec<&str> = facts.unread.iter().map(|u| u.source.as_str()).collect();
        assert_eq!(
            sources,
            ["clusters", "repository", "secrets", "locks"],
            "{:?}",
            facts.unread
        );
        assert!(
            facts.unread[1].reason.contains("[github]"),
            "{:?}",
            facts.unread[1]
        );
        let names = facts.resource_names();
        let ev = facts.evidence(&names);
        let repo = stages(&ev)
            .into_iter()
            .find(|s| s.id == StageId::Repository)
            .expect("stage");
        assert!(!repo.done);
        assert!(
            repo.evidence.contains("unknown") && repo.evidence.contains("[github]"),
            "{}",
            repo.evidence
        );
        // No secrets could be read: drift is unknown (null), not zero.
        let props = score::properties(&ev);
        assert!(props.get("secret_drift").is_null());
    }
}
