//! The state topic's records: one per key, the latest the truth. Pure: no I/O.
//!
//! | source   | key                                         | payload                         |
//! |----------|---------------------------------------------|---------------------------------|
//! | clusters | `clusters/<env>/<region>/<service>`         | [`DeploymentRecord`]            |
//! | locks    | `locks/<service>/<env or *>/<region or *>/<by>` | the [`Lock`]                |
//! | catalog  | `catalog/<kind>:<namespace>/<name>`         | the catalog [`Entity`]          |
//! | secrets  | `secrets/<region>/<env>/<service>/<KEY>`    | [`SecretRecord`] (never a value) |
//! | flags    | `flags/<env>/<region>/<flag>`               | the [`FlagState`]               |
//!
//! A key that is gone from its source is published as a tombstone (no payload). A payload
//! holds nothing that changes by itself (no read time), so the same state gives the same
//! bytes and nothing is republished while nothing changed.
//!
//! [`Entity`]: crate::domain::catalog::Entity

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::domain::catalog::{Catalog, EntityRef};
use crate::domain::service::LiveState;
use crate::domain::{FlagState, Lock, RolloutState, SecretMeta, Timestamp};

/// Key → JSON payload, of one source.
pub type Records = BTreeMap<String, Vec<u8>>;

/// One deployment in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub service: String,
    pub env: String,
    pub region: String,
    pub version: String,
    pub desired: u32,
    pub ready: u32,
    pub updated: u32,
    pub rollout: RolloutState,
}

/// One secret's metadata in one region: never its value. `value_hash` is a keyed digest
/// ([`HashKey`]) of the hash the provider computed in memory for drift, so readers can
/// compare regions but not test guesses of a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub name: String,
    pub service: String,
    pub env: String,
    pub region: String,
    pub key: String,
    pub version_id: String,
    pub stages: Vec<String>,
    pub last_changed: Timestamp,
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_hash: Option<String>,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising plain structs and maps cannot fail; an empty payload would be a
    // tombstone, so a failure is logged and written as `null`.
    serde_json::to_vec(v).unwrap_or_else(|e| {
        tracing::warn!("a record could not be serialised: {e}");
        b"null".to_vec()
    })
}

/// Every deployment the watch holds.
pub fn deployments(live: &LiveState) -> Records {
    let mut out = Records::new();
    for s in live.services() {
        for d in s.deployments() {
            let r = DeploymentRecord {
                service: d.service.to_string(),
                env: d.cluster.env.to_string(),
                region: d.cluster.region.to_string(),
                version: d.version.to_string(),
                desired: d.desired,
                ready: d.ready,
                updated: d.updated,
                rollout: d.rollout,
            };
            out.insert(
                format!("clusters/{}/{}/{}", r.env, r.region, r.service),
                json(&r),
            );
        }
    }
    out
}

/// The cluster (`env/region`) a `clusters/…` key belongs to.
pub fn cluster_of(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.strip_prefix("clusters/")?.splitn(3, '/');
    Some((parts.next()?, parts.next()?))
}

pub fn locks(locks: &[Lock]) -> Records {
    locks
        .iter()
        .map(|l| {
            (
                format!(
                    "locks/{}/{}/{}/{}",
                    l.service,
                    l.env.as_deref().unwrap_or("*"),
                    l.region.as_deref().unwrap_or("*"),
                    l.by
                ),
                json(l),
            )
        })
        .collect()
}

pub fn catalog(catalog: &Catalog) -> Records {
    catalog
        .entities()
        .iter()
        .map(|e| {
            let key = EntityRef::new(e.kind.clone(), e.namespace.clone(), e.name.clone()).key();
            (format!("catalog/{key}"), json(e))
        })
        .collect()
}

/// The key of the agent's secret digests. A published digest is HMAC-SHA-256 under this
/// key of the in-memory value hash, so readers of the topic can compare two regions'
/// digests for equality, but cannot test a guessed value against one without the key.
pub struct HashKey(aws_lc_rs::hmac::Key);

/// Where the agent's digest key comes from, and the name of the environment variable.
pub const HASH_KEY_ENV: &str = "SPHERE_AGENT_HASH_KEY";

impl HashKey {
    /// A key of the given bytes (at least 16).
    pub fn new(bytes: &[u8]) -> anyhow::Result<HashKey> {
        anyhow::ensure!(
            bytes.len() >= 16,
            "the agent's digest key has {} bytes; it needs at least 16",
            bytes.len()
        );
        Ok(HashKey(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            bytes,
        )))
    }

    /// The key from `SPHERE_AGENT_HASH_KEY` when set (every agent replica of a platform
    /// should share one, from a Kubernetes Secret), else from `file`, made once with 32
    /// random bytes, readable by the user only. A key that changes makes the agent
    /// republish each secret's record once, nothing worse.
    pub fn load(env: Option<String>, file: &std::path::Path) -> anyhow::Result<HashKey> {
        use anyhow::Context;
        if let Some(v) = env.filter(|v| !v.is_empty()) {
            return HashKey::new(v.as_bytes()).context(HASH_KEY_ENV);
        }
        let from_file = |bytes: std::io::Result<Vec<u8>>| {
            let bytes = bytes.with_context(|| format!("cannot read {}", file.display()))?;
            HashKey::new(&bytes).with_context(|| format!("{}", file.display()))
        };
        match std::fs::read(file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            read => return from_file(read),
        }
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no random bytes for the agent's digest key"))?;
        if let Some(dir) = file.parent() {
            crate::config::paths::create_private_dir(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(file).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&bytes)
        });
        match written {
            Ok(()) => HashKey::new(&bytes),
            // Another agent made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                from_file(std::fs::read(file))
            }
            Err(e) => Err(e).with_context(|| format!("cannot write {}", file.display())),
        }
    }

    /// The published digest of one value hash.
    pub fn digest(&self, value_hash: u64) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.0, &value_hash.to_le_bytes());
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

pub fn secrets(secrets: &[SecretMeta], key: &HashKey) -> Records {
    secrets
        .iter()
        .map(|s| {
            let r = SecretRecord {
                name: s.name.clone(),
                service: s.service.clone(),
                env: s.env.clone(),
                region: s.region.clone(),
                key: s.key.clone(),
                version_id: s.version_id.clone(),
                stages: s.stages.clone(),
                last_changed: s.last_changed,
                tags: s.tags.clone(),
                value_hash: s.value_hash.map(|h| key.digest(h)),
            };
            (
                format!("secrets/{}/{}/{}/{}", r.region, r.env, r.service, r.key),
                json(&r),
            )
        })
        .collect()
}

/// The region a `secrets/…` key belongs to.
pub fn region_of_secret(key: &str) -> Option<&str> {
    key.strip_prefix("secrets/")?.split('/').next()
}

pub fn flags(flags: &[FlagState]) -> Records {
    flags
        .iter()
        .map(|f| {
            (
                format!("flags/{}/{}/{}", f.cluster.env, f.cluster.region, f.name),
                json(f),
            )
        })
        .collect()
}

/// What to publish for one source: the keys whose payload is new or changed, and the
/// keys under `prefix` that are gone (tombstones), except those `keep` holds on to (a
/// cluster or region that could not be read keeps its last state).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub put: Vec<(String, Vec<u8>)>,
    pub delete: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.delete.is_empty()
    }
}

pub fn diff(
    current: &HashMap<String, Vec<u8>>,
    prefix: &str,
    now: Records,
    keep: impl Fn(&str) -> bool,
) -> Diff {
    let mut delete: Vec<String> = current
        .keys()
        .filter(|k| k.starts_with(prefix) && !now.contains_key(*k) && !keep(k))
        .cloned()
        .collect();
    delete.sort();
    let put = now
        .into_iter()
        .filter(|(k, v)| current.get(k) != Some(v))
        .collect();
    Diff { put, delete }
}

/// How many keys of `prefix` are current.
pub fn count(current: &HashMap<String, Vec<u8>>, prefix: &str) -> usize {
    current.keys().filter(|k| k.starts_with(prefix)).count()
}

/// The regions named by failures, for [`diff`]'s `keep`.
pub fn failed_regions(failed: &[crate::domain::RegionFailure]) -> BTreeSet<String> {
    failed.iter().map(|f| f.region.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClusterId;

    fn current(pairs: &[(&str, &str)]) -> HashMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn diff_puts_what_changed_and_tombstones_what_is_gone_under_its_prefix_only() {
        let cur = current(&[
            ("locks/a/*/*/x", "1"),
            ("locks/b/*/*/x", "1"),
            ("flags/p/r/f", "1"),
        ]);
        let now: Records = [
            ("locks/a/*/*/x".to_string(), b"1".to_vec()),
            ("locks/c/*/*/x".to_string(), b"2".to_vec()),
        ]
        .into();
        let d = diff(&cur, "locks/", now, |_| false);
        assert_eq!(d.put, vec![("locks/c/*/*/x".to_string(), b"2".to_vec())]);
        assert_eq!(d.delete, vec!["locks/b/*/*/x".to_string()]);
        let same: Records = [("locks/a/*/*/x".to_string(), b"1".to_vec())].into();
        let d = diff(&cur, "locks/", same, |k| k.starts_with("locks/b/"));
        assert!(d.is_empty(), "kept: {d:?}");
    }

    #[test]
    fn keys_name_their_cluster_and_region() {
        assert_eq!(
            cluster_of("clusters/production/eu-west-1/pay"),
            Some(("production", "eu-west-1"))
        );
        assert_eq!(cluster_of("locks/x"), None);
        assert_eq!(
            region_of_secret("secrets/eu-west-1/prod/pay/K"),
            Some("eu-west-1")
        );
    }

    #[test]
    fn a_secret_record_never_holds_a_value_and_the_same_state_gives_the_same_bytes() {
        let s = SecretMeta {
            name: "production/pay/DB".into(),
            service: "pay".into(),
            env: "production".into(),
            region: "eu-west-1".into(),
            key: "DB".into(),
            version_id: "v1".into(),
            stages: vec!["AWSCURRENT".into()],
            last_changed: 5,
            tags: BTreeMap::new(),
            value_hash: Some(0xabc),
        };
        let key = HashKey::new(b"0123456789abcdef").expect("key");
        let a = secrets(std::slice::from_ref(&s), &key);
        let b = secrets(std::slice::from_ref(&s), &key);
        assert_eq!(a, b);
        let (k, v) = a.iter().next().expect("one record");
        assert_eq!(k, "secrets/eu-west-1/production/pay/DB");
        let v: serde_json::Value = serde_json::from_slice(v).expect("json");
        let digest = v["value_hash"].as_str().expect("a digest");
        // Keyed: not the bare value hash a reader could test guesses against, and another
        // key gives another digest of the same value.
        assert_eq!(digest.len(), 32);
        assert_ne!(digest, "0000000000000abc");
        let other = HashKey::new(b"fedcba9876543210").expect("key");
        assert_ne!(other.digest(0xabc), digest);
        assert_eq!(key.digest(0xabc), digest);
        assert!(v.get("value").is_none());
        let f = FlagState {
            name: "f".into(),
            cluster: ClusterId::new("production", "eu-west-1"),
            value: "on".into(),
            percentage: 5,
            pending: None,
            variants: vec![],
        };
        assert!(flags(&[f]).contains_key("flags/production/eu-west-1/f"));
    }
}

#[cfg(test)]
mod key_tests {
    use super::HashKey;

    #[test]
    fn the_digest_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state").join("agent-hash.key");
        let a = HashKey::load(None, &file).expect("made");
        let b = HashKey::load(None, &file).expect("read back");
        assert_eq!(a.digest(7), b.digest(7));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
        }
        let from_env =
            HashKey::load(Some("a shared key of the platform".into()), &file).expect("env");
        assert_ne!(from_env.digest(7), a.digest(7));
        let short = HashKey::load(Some("short".into()), &file);
        assert!(short.is_err());
    }
}
