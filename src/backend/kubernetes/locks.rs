//! The lock store: one ConfigMap per cluster ([`LOCK_OBJECT`]), read from its watch
//! (`watch_store`) and written read-modify-write with optimistic concurrency.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use super::KubeClusters;
use super::client::Conn;
use crate::backend::LockStore;
use crate::domain::Lock;

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

impl KubeClusters {
    /// How many lock writes were refused with a conflict (and re-read and retried) by
    /// this client so far.
    pub fn lock_conflicts(&self) -> u64 {
        self.inner.conflicts.load(Ordering::Relaxed)
    }

    fn lock_api(&self, conn: &Conn) -> Result<Api<ConfigMap>> {
        Ok(Api::namespaced(
            conn.client()?.clone(),
            &self.inner.lock_namespace,
        ))
    }

    pub(super) async fn read_locks(&self, conn: &Conn) -> Result<Vec<Lock>> {
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

pub(super) fn parse_locks(cm: &ConfigMap) -> Result<Vec<Lock>> {
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
}
