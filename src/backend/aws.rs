//! AWS Secrets Manager: the secrets of a configured platform.
//!
//! Every `[[clusters]]` entry names the AWS region (and profile) holding its secrets; one
//! SDK client serves each distinct region × profile × endpoint, with credentials from the
//! AWS chain (or the profile). Secrets follow the naming standard `<env>/<service>/<KEY>`
//! and carry the standard tags (team, service, env, managed-by=sphere).
//!
//! Listing asks every region at once, each within the configured timeout: a paginated
//! `ListSecrets` filtered by the name prefixes of the environments that region serves,
//! then — a few at a time — `GetSecretValue` to hash each value in memory for drift (the
//! value is dropped at once; only a `u64` leaves this module) and `DescribeSecret` when
//! the list carries no version stages. A region that fails or times out is reported in
//! [`SecretListing::failed`] beside the others' secrets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{Region, SharedCredentialsProvider};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::primitives::DateTime;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry, Tag};
use futures::StreamExt;

use super::{CatalogProvider, SecretsProvider};
use crate::config::platform::{AwsConfig, ClusterConfig};
use crate::domain::catalog::Kind;
use crate::domain::{RegionFailure, SecretListing, SecretMeta, SecretValue, Timestamp};

/// The value of the `managed-by` tag on every secret sphere writes.
pub const MANAGED_BY: &str = "sphere";
/// The `team` tag when the catalog names no owner (as the demo does).
pub const UNOWNED: &str = "unowned";
/// The stage of a secret's current version.
const CURRENT: &str = "AWSCURRENT";
/// `ListSecrets` takes at most ten values per filter.
const FILTER_VALUES_MAX: usize = 10;

/// Where one cluster's secrets live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    /// The cluster's environment.
    pub env: String,
    /// The cluster's region, as the panes name it.
    pub region: String,
    /// The AWS region holding the secrets.
    pub aws_region: String,
    /// The AWS profile; `None`: the credential chain's default.
    pub profile: Option<String>,
    /// Another endpoint (moto, LocalStack, a VPC endpoint); `None`: AWS's own.
    pub endpoint_url: Option<String>,
}

/// How the provider talks to every region.
#[derive(Clone)]
pub struct AwsOptions {
    /// How long one region may take to answer (a whole listing, or one operation).
    pub timeout: Duration,
    /// Days a deleted secret can still be recovered (7 to 30).
    pub recovery_window_days: u32,
    /// At most this many `GetSecretValue`/`DescribeSecret` calls at once per region.
    pub concurrency: usize,
    /// Credentials instead of the AWS credential chain (tests use static ones).
    pub credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsOptions")
            .field("timeout", &self.timeout)
            .field("recovery_window_days", &self.recovery_window_days)
            .field("concurrency", &self.concurrency)
            .field("credentials", &self.credentials.as_ref().map(|_| "(given)"))
            .finish()
    }
}

impl Default for AwsOptions {
    fn default() -> Self {
        let aws = AwsConfig::default();
        AwsOptions {
            timeout: Duration::from_secs(aws.timeout_seconds),
            recovery_window_days: aws.recovery_window_days,
            concurrency: 8,
            credentials: None,
        }
    }
}

/// One SDK client and the clusters whose secrets it holds.
struct RegionClient {
    /// Its place in the provider's list (the key of its remembered hashes).
    idx: usize,
    aws_region: String,
    profile: Option<String>,
    client: Client,
    /// `(env, region)` of every cluster served by this client.
    clusters: Vec<(String, String)>,
}

impl RegionClient {
    /// "AWS Secrets Manager in eu-west-1 (profile ops)".
    fn label(&self) -> String {
        match &self.profile {
            Some(p) => format!("AWS Secrets Manager in {} (profile {p})", self.aws_region),
            None => format!("AWS Secrets Manager in {}", self.aws_region),
        }
    }

    /// The environments this client serves.
    fn envs(&self) -> BTreeSet<&str> {
        self.clusters.iter().map(|(e, _)| e.as_str()).collect()
    }

    /// The regions (as the panes name them) this client serves.
    fn regions(&self) -> BTreeSet<&str> {
        self.clusters.iter().map(|(_, r)| r.as_str()).collect()
    }

    fn fail(&self, what: &str, err: impl std::error::Error) -> anyhow::Error {
        anyhow!("{}: {what}: {}", self.label(), DisplayErrorContext(err))
    }
}

/// The AWS Secrets Manager provider.
pub struct AwsSecrets {
    clients: Vec<RegionClient>,
    options: AwsOptions,
    /// Where the `team` tag comes from (the owner of the service's component).
    catalog: OnceLock<Arc<dyn CatalogProvider>>,
    /// Each secret's value hash by the version it was read at: `(client, name)` →
    /// `(version id, hash)`. A listed secret whose current version is the one
    /// remembered is not read again.
    hashes: std::sync::Mutex<HashMap<(usize, String), (String, u64)>>,
    /// Whether hashes are remembered at all (see [`AwsSecrets::remember_value_hashes`]).
    remember: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for AwsSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let regions: Vec<String> = self.clients.iter().map(RegionClient::label).collect();
        f.debug_struct("AwsSecrets")
            .field("regions", &regions)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The secret's name under the naming standard.
pub fn secret_name(env: &str, service: &str, key: &str) -> String {
    format!("{env}/{service}/{key}")
}

/// `(env, service, key)` of a name under the naming standard.
fn parse_name(name: &str) -> Option<(&str, &str, &str)> {
    let mut parts = name.splitn(3, '/');
    let (env, service, key) = (parts.next()?, parts.next()?, parts.next()?);
    (!env.is_empty() && !service.is_empty() && !key.is_empty()).then_some((env, service, key))
}

/// The hash drift compares; the value itself goes no further.
fn hash_value(text: Option<&str>, binary: Option<&[u8]>) -> Option<u64> {
    let mut h = DefaultHasher::new();
    match (text, binary) {
        (Some(t), _) => t.hash(&mut h),
        (None, Some(b)) => {
            0xb1u8.hash(&mut h);
            b.hash(&mut h);
        }
        (None, None) => return None,
    }
    Some(h.finish())
}

fn secs(t: Option<&DateTime>) -> Option<Timestamp> {
    t.map(DateTime::secs)
}

/// The current version's id and stages from a version → stages map.
fn current(versions: Option<&HashMap<String, Vec<String>>>) -> Option<(String, Vec<String>)> {
    versions?
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
        .map(|(id, stages)| {
            let mut stages = stages.clone();
            stages.sort();
            (id.clone(), stages)
        })
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// What one secret's listing yields before it is attributed to clusters.
struct Found {
    name: String,
    env: String,
    service: String,
    key: String,
    version_id: String,
    stages: Vec<String>,
    last_changed: Timestamp,
    tags: BTreeMap<String, String>,
    value_hash: Option<u64>,
}

impl AwsSecrets {
    /// The provider for the `[[clusters]]` of a config and its `[aws]` section (absent:
    /// the defaults).
    pub async fn from_config(clusters: &[ClusterConfig], aws: Option<&AwsConfig>) -> AwsSecrets {
        let defaults = AwsConfig::default();
        let aws = aws.unwrap_or(&defaults);
        let targets: Vec<AwsTarget> = clusters
            .iter()
            .map(|c| AwsTarget {
                env: c.env.clone(),
                region: c.region.clone(),
                aws_region: c.aws_region().to_string(),
                profile: c.aws_profile.clone().or_else(|| aws.profile.clone()),
                endpoint_url: aws.endpoint_url.clone(),
            })
            .collect();
        let options = AwsOptions {
            timeout: Duration::from_secs(aws.timeout_seconds.max(1)),
            recovery_window_days: aws.recovery_window_days,
            ..AwsOptions::default()
        };
        AwsSecrets::new(&targets, options).await
    }

    /// The provider for these clusters: one SDK client per distinct AWS region, profile
    /// and endpoint.
    pub async fn new(targets: &[AwsTarget], options: AwsOptions) -> AwsSecrets {
        let mut clients: Vec<RegionClient> = Vec::new();
        let mut endpoints: Vec<Option<String>> = Vec::new();
        for t in targets {
            let found = clients.iter().zip(&endpoints).position(|(c, e)| {
                c.aws_region == t.aws_region && c.profile == t.profile && *e == t.endpoint_url
            });
            let i = match found {
                Some(i) => i,
                None => {
                    clients.push(RegionClient {
                        idx: clients.len(),
                        aws_region: t.aws_region.clone(),
                        profile: t.profile.clone(),
                        client: client(t, &options).await,
                        clusters: Vec::new(),
                    });
                    endpoints.push(t.endpoint_url.clone());
                    clients.len() - 1
                }
            };
            let pair = (t.env.clone(), t.region.clone());
            if !clients[i].clusters.contains(&pair) {
                clients[i].clusters.push(pair);
            }
        }
        AwsSecrets {
            clients,
            options,
            catalog: OnceLock::new(),
            hashes: std::sync::Mutex::new(HashMap::new()),
            remember: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Remember each secret's value hash by version id (the default), so listing again
    /// reads (`GetSecretValue`) only the secrets whose version changed; `false`: read
    /// every value on every listing.
    pub fn remember_value_hashes(&self, on: bool) {
        self.remember
            .store(on, std::sync::atomic::Ordering::Relaxed);
        if !on {
            self.hashes().clear();
        }
    }

    fn hashes(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, String), (String, u64)>> {
        self.hashes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The catalog whose component owners give the `team` tag (set once, after the
    /// platform's catalog exists).
    pub fn set_catalog(&self, catalog: Arc<dyn CatalogProvider>) {
        let _ = self.catalog.set(catalog);
    }

    /// The client holding the secrets of cluster `env`/`region`.
    fn client_for(&self, env: &str, region: &str) -> Result<&RegionClient> {
        self.clients
            .iter()
            .find(|c| c.clusters.iter().any(|(e, r)| e == env && r == region))
            .ok_or_else(|| {
                anyhow!("no cluster {env}/{region} in config.toml: no AWS region holds its secrets")
            })
    }

    /// The standard tags of a secret of `service` in `env`.
    async fn standard_tags(&self, service: &str, env: &str) -> BTreeMap<String, String> {
        let team = match self.catalog.get() {
            Some(catalog) => match catalog.load().await {
                Ok(c) => c
                    .find(Some(&Kind::Component), service)
                    .and_then(|e| e.owner.as_ref())
                    .map(|o| o.name.to_string()),
                Err(e) => {
                    tracing::warn!(service, "catalog not readable for the team tag: {e:#}");
                    None
                }
            },
            None => None,
        };
        BTreeMap::from([
            (
                "team".to_string(),
                team.unwrap_or_else(|| UNOWNED.to_string()),
            ),
            ("service".to_string(), service.to_string()),
            ("env".to_string(), env.to_string()),
            ("managed-by".to_string(), MANAGED_BY.to_string()),
        ])
    }

    /// Runs `op` against one region within the timeout.
    async fn timed<T>(
        &self,
        rc: &RegionClient,
        what: &str,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.options.timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(anyhow!(
                "{}: {what}: no answer within {}s",
                rc.label(),
                self.options.timeout.as_secs_f32()
            )),
        }
    }

    /// Every secret of `service` (or of every service) one client holds.
    async fn list_region(&self, rc: &RegionClient, service: Option<&str>) -> Result<Vec<Found>> {
        let envs = rc.envs();
        let prefixes: Vec<String> = envs
            .iter()
            .map(|env| match service {
                Some(s) => format!("{env}/{s}/"),
                None => format!("{env}/"),
            })
            .collect();
        let mut entries: Vec<SecretListEntry> = Vec::new();
        for chunk in prefixes.chunks(FILTER_VALUES_MAX) {
            let filter = Filter::builder()
                .key(FilterNameStringType::Name)
                .set_values(Some(chunk.to_vec()))
                .build();
            let mut pages = rc
                .client
                .list_secrets()
                .filters(filter)
                .include_planned_deletion(false)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| rc.fail("ListSecrets", e))?;
                entries.extend(page.secret_list().iter().cloned());
            }
        }
        // The name filter is a case-insensitive prefix match; keep exactly ours.
        let mut seen = BTreeSet::new();
        entries.retain(|e| {
            e.deleted_date().is_none()
                && e.name().and_then(parse_name).is_some_and(|(env, svc, _)| {
                    envs.contains(env) && service.is_none_or(|s| s == svc)
                })
                && seen.insert(e.name().unwrap_or_default().to_string())
        });
        let found = futures::stream::iter(entries)
            .map(|e| self.inspect(rc, e))
            .buffer_unordered(self.options.concurrency.max(1))
            .collect::<Vec<Result<Found>>>()
            .await;
        found.into_iter().collect()
    }

    /// One listed secret: its value hashed, its version stages (described when the
    /// list has none).
    async fn inspect(&self, rc: &RegionClient, e: SecretListEntry) -> Result<Found> {
        let name = e.name().unwrap_or_default().to_string();
        let (env, service, key) = parse_name(&name).unwrap_or_default();
        let (env, service, key) = (env.to_string(), service.to_string(), key.to_string());
        let mut version = current(e.secret_versions_to_stages());
        let mut last_changed = secs(e.last_changed_date()).or(secs(e.created_date()));
        let mut tags = tag_map(e.tags());
        let remember = self.remember.load(std::sync::atomic::Ordering::Relaxed);
        let memo_key = (rc.idx, name.clone());
        let known = match &version {
            Some((id, _)) if remember => self
                .hashes()
                .get(&memo_key)
                .filter(|(v, _)| v == id)
                .map(|(_, h)| *h),
            _ => None,
        };
        let value_hash = match known {
            Some(hash) => Some(hash),
            None => match rc.client.get_secret_value().secret_id(&name).send().await {
                Ok(v) => {
                    let hash = hash_value(v.secret_string(), v.secret_binary().map(|b| b.as_ref()));
                    if version.is_none() {
                        let mut stages = v.version_stages().to_vec();
                        stages.sort();
                        version = v.version_id().map(|id| (id.to_string(), stages));
                    }
                    // The version read is the one the hash belongs to.
                    if let (true, Some(h), Some(id)) = (remember, hash, v.version_id()) {
                        self.hashes().insert(memo_key, (id.to_string(), h));
                    }
                    hash
                }
                Err(err) => {
                    // Listed but not readable (permissions, KMS): no hash, still listed.
                    tracing::warn!(
                        secret = %name,
                        "{}: GetSecretValue: {}",
                        rc.label(),
                        DisplayErrorContext(&err)
                    );
                    None
                }
            },
        };
        if version.is_none() || last_changed.is_none() {
            let d = rc
                .client
                .describe_secret()
                .secret_id(&name)
                .send()
                .await
                .map_err(|err| rc.fail(&format!("DescribeSecret {name}"), err))?;
            if version.is_none() {
                version = current(d.version_ids_to_stages());
            }
            last_changed = last_changed
                .or(secs(d.last_changed_date()))
                .or(secs(d.created_date()));
            if tags.is_empty() {
                tags = tag_map(d.tags());
            }
        }
        let (version_id, stages) = version.unwrap_or_default();
        Ok(Found {
            name,
            env,
            service,
            key,
            version_id,
            stages,
            last_changed: last_changed.unwrap_or_default(),
            tags,
            value_hash,
        })
    }

    /// The current value of one secret in the region of cluster `env`/`region`.
    async fn value(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<SecretValue> {
        let rc = self.client_for(env, region)?;
        let name = secret_name(env, service, key);
        self.timed(rc, "GetSecretValue", async {
            let out = match rc.client.get_secret_value().secret_id(&name).send().await {
                Ok(out) => out,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    bail!("there is no secret {name} in {region}")
                }
                Err(e) if is_marked_for_deletion(&e) => {
                    bail!("there is no secret {name} in {region} (scheduled for deletion)")
                }
                Err(e) => return Err(rc.fail(&format!("GetSecretValue {name}"), e)),
            };
            if let Some(text) = out.secret_string() {
                return Ok(SecretValue::new(text));
            }
            match out.secret_binary().map(|b| std::str::from_utf8(b.as_ref())) {
                Some(Ok(text)) => Ok(SecretValue::new(text)),
                Some(Err(_)) => bail!("secret {name} in {region} holds binary data, not text"),
                None => bail!("secret {name} in {region} has no value"),
            }
        })
        .await
    }

    /// Create `name` with `value` and `tags`, or write a new version of it and set the
    /// tags when it exists (restoring it first when it is scheduled for deletion).
    async fn write(
        &self,
        rc: &RegionClient,
        name: &str,
        value: &SecretValue,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let created = rc
            .client
            .create_secret()
            .name(name)
            .secret_string(value.expose())
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await;
        match created {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) => {}
            Err(e) => return Err(rc.fail(&format!("CreateSecret {name}"), e)),
        }
        // A secret scheduled for deletion is restored first (AWS refuses a new version
        // of it; moto would accept one and leave it deleted).
        let described = rc
            .client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| rc.fail(&format!("DescribeSecret {name}"), e))?;
        if described.deleted_date().is_some() {
            rc.client
                .restore_secret()
                .secret_id(name)
                .send()
                .await
                .map_err(|e| rc.fail(&format!("RestoreSecret {name}"), e))?;
        }
        rc.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value.expose())
            .send()
            .await
            .map_err(|e| rc.fail(&format!("PutSecretValue {name}"), e))?;
        rc.client
            .tag_resource()
            .secret_id(name)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(|e| rc.fail(&format!("TagResource {name}"), e))?;
        Ok(())
    }
}

/// An `InvalidRequestException` because the secret is scheduled for deletion.
fn is_marked_for_deletion<E, R>(e: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
{
    e.as_service_error().is_some_and(|e| {
        e.code() == Some("InvalidRequestException")
            && e.message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("deletion"))
    })
}

/// One SDK client for a target's region, profile and endpoint.
async fn client(t: &AwsTarget, options: &AwsOptions) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(t.aws_region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.timeout)
                .operation_timeout(options.timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(p) = &t.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &t.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(c) = &options.credentials {
        loader = loader.credentials_provider(c.clone());
    }
    Client::new(&loader.load().await)
}

#[async_trait]
impl SecretsProvider for AwsSecrets {
    async fn list(&self, service: Option<&str>) -> Result<Vec<SecretMeta>> {
        let listing = self.list_partial(service).await?;
        if listing.failed.is_empty() {
            return Ok(listing.secrets);
        }
        let why: Vec<&str> = listing.failed.iter().map(|f| f.error.as_str()).collect();
        bail!("{}", why.join("; "))
    }

    async fn list_partial(&self, service: Option<&str>) -> Result<SecretListing> {
        let per_region = futures::future::join_all(self.clients.iter().map(|rc| async move {
            let listed = self
                .timed(rc, "listing secrets", self.list_region(rc, service))
                .await;
            (rc, listed)
        }))
        .await;
        let mut listing = SecretListing::default();
        for (rc, listed) in per_region {
            match listed {
                Ok(found) => {
                    for f in found {
                        for (env, region) in &rc.clusters {
                            if *env != f.env {
                                continue;
                            }
                            listing.secrets.push(SecretMeta {
                                name: f.name.clone(),
                                service: f.service.clone(),
                                env: f.env.clone(),
                                region: region.clone(),
                                key: f.key.clone(),
                                version_id: f.version_id.clone(),
                                stages: f.stages.clone(),
                                last_changed: f.last_changed,
                                tags: f.tags.clone(),
                                value_hash: f.value_hash,
                            });
                        }
                    }
                }
                Err(e) => {
                    let error = format!("{e:#}");
                    tracing::warn!("{error}");
                    for region in rc.regions() {
                        if !listing.failed.iter().any(|f| f.region == region) {
                            listing.failed.push(RegionFailure {
                                region: region.to_string(),
                                error: error.clone(),
                            });
                        }
                    }
                }
            }
        }
        listing.secrets.sort_by(|a, b| {
            (&a.service, &a.env, &a.key, &a.region).cmp(&(&b.service, &b.env, &b.key, &b.region))
        });
        listing.failed.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(listing)
    }

    async fn put(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: SecretValue,
    ) -> Result<()> {
        let rc = self.client_for(env, region)?;
        let name = secret_name(env, service, key);
        let tags = self.standard_tags(service, env).await;
        self.timed(rc, "writing a secret", self.write(rc, &name, &value, &tags))
            .await
    }

    async fn delete(&self, service: &str, env: &str, region: &str, key: &str) -> Result<()> {
        let rc = self.client_for(env, region)?;
        let name = secret_name(env, service, key);
        self.timed(rc, "DeleteSecret", async {
            match rc
                .client
                .delete_secret()
                .secret_id(&name)
                .recovery_window_in_days(i64::from(self.options.recovery_window_days))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception())
                        || is_marked_for_deletion(&e) =>
                {
                    bail!("there is no secret {name} in {region}")
                }
                Err(e) => Err(rc.fail(&format!("DeleteSecret {name}"), e)),
            }
        })
        .await
    }

    async fn reveal(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<SecretValue> {
        self.value(service, env, region, key).await
    }

    async fn copy(
        &self,
        service: &str,
        env: &str,
        key: &str,
        from_region: &str,
        to_region: &str,
    ) -> Result<()> {
        // Both ends must be known before anything is read.
        self.client_for(env, to_region)?;
        let value = self.value(service, env, from_region, key).await?;
        self.put(service, env, to_region, key, value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_standard() {
        assert_eq!(
            secret_name("production", "cart", "API_KEY"),
            "production/cart/API_KEY"
        );
        assert_eq!(
            parse_name("production/cart/API_KEY"),
            Some(("production", "cart", "API_KEY"))
        );
        assert_eq!(
            parse_name("production/cart/a/b"),
            Some(("production", "cart", "a/b"))
        );
        assert_eq!(parse_name("production/cart"), None);
        assert_eq!(parse_name("production//KEY"), None);
    }

    #[test]
    fn the_current_version_is_the_one_staged_awscurrent() {
        let versions = HashMap::from([
            ("old".to_string(), vec!["AWSPREVIOUS".to_string()]),
            (
                "new".to_string(),
                vec!["AWSCURRENT".to_string(), "blue".to_string()],
            ),
        ]);
        assert_eq!(
            current(Some(&versions)),
            Some((
                "new".to_string(),
                vec!["AWSCURRENT".to_string(), "blue".to_string()]
            ))
        );
        assert_eq!(current(None), None);
    }

    #[test]
    fn hashes_tell_values_apart() {
        assert_eq!(hash_value(Some("a"), None), hash_value(Some("a"), None));
        assert_ne!(hash_value(Some("a"), None), hash_value(Some("b"), None));
        assert_ne!(hash_value(Some("a"), None), hash_value(None, Some(b"a")));
        assert_eq!(hash_value(None, None), None);
    }

    #[tokio::test]
    async fn one_client_per_region_profile_and_endpoint() {
        let t = |env: &str, region: &str, aws: &str| AwsTarget {
            env: env.into(),
            region: region.into(),
            aws_region: aws.into(),
            profile: None,
            endpoint_url: Some("http://127.0.0.1:1".into()),
        };
        let aws = AwsSecrets::new(
            &[
                t("production", "use1", "us-east-1"),
                t("staging", "use1", "us-east-1"),
                t("production", "euw1", "eu-west-1"),
            ],
            AwsOptions::default(),
        )
        .await;
        assert_eq!(aws.clients.len(), 2);
        assert_eq!(
            aws.client_for("staging", "use1")
                .expect("client")
                .aws_region,
            "us-east-1"
        );
        let Err(err) = aws.client_for("dev", "use1") else {
            panic!("dev/use1 is no cluster");
        };
        assert!(err.to_string().contains("dev/use1"), "{err}");
    }
}
