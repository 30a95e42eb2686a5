//! Capability C7: secrets across regions — the grid of one service's secrets, and drift
//! between the regions of one environment. Pure: no I/O.
//!
//! Values never appear here: drift compares `SecretMeta::value_hash` (computed in memory
//! by the provider) and no hash or value is ever copied into a finding, a cell or a view.
//!
//! # Majority rules
//!
//! Drift is judged per service and environment. Let *R* be the regions in which the
//! service has at least one secret in that environment and *n* = |*R*|; with *n* < 2 there
//! is nothing to compare. For one key, let *H* ⊆ *R* be the regions that hold it and
//! *c* = |*H*|.
//!
//! - **Presence** (only when 0 < *c* < *n*):
//!   - *c* > *n*/2 (a strict majority holds the key): [`DriftKind::Missing`] in *R* \ *H*.
//!   - *c* < *n*/2 (a strict minority holds it, e.g. one region of three): [`DriftKind::Extra`]
//!     in *H*.
//!   - *c* = *n*/2 (a tie; always the case for one region of two): the service's other
//!     environments decide. If the key exists in any other environment of the service it
//!     belongs to the service's set, so it is [`DriftKind::Missing`] in *R* \ *H*; otherwise
//!     it is [`DriftKind::Extra`] in *H*.
//! - **Value** (among the regions in *H* whose hash is known; at least two distinct hashes):
//!   the majority value is the hash held by strictly more regions than any other hash.
//!   [`DriftKind::ValueDiffers`] lists the regions not holding it. With no strict majority
//!   (a tie, e.g. two regions that disagree) every region in *H* is listed.
//! - **Tags** (among the regions in *H*; at least two distinct tag maps): the same rule over
//!   whole tag maps. [`DriftKind::TagsDiffer`] lists the odd regions and the detail names
//!   the tag keys that differ with their values (tags are not secret).
//!
//! Findings are sorted by service, environment, key, kind and regions; regions inside a
//! finding are sorted by name.
//!
//! # What git declares
//!
//! [`GitDeclared`] is what the GitOps repository says each deployment runs (a version
//! file per service, environment and region at `[github] version_path`) and the HPA
//! bounds it holds (at `[github] hpa_path`); [`crate::agent::findings::git_drift`]
//! compares it with what runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::platform::{ClusterId, SecretMeta, Timestamp, Topology};

/// What the GitOps repository declares, as read once.
///
/// Looked up by service and cluster for every cell the matrix draws and every
/// deployment drift is evaluated on: an index ordered by (service, cluster) is made on
/// the first lookup (a scan per lookup made a frame of the matrix, or a drift pass,
/// cost the product of the deployments and the declared entries). Fill `versions` and
/// `hpas` before looking anything up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GitDeclared {
    /// Where it was read, for people (`acme/deploy@main`, `the demo's GitOps model`).
    pub source: String,
    pub versions: Vec<DeclaredVersion>,
    pub hpas: Vec<DeclaredHpa>,
    #[serde(skip)]
    pub(crate) index: std::sync::OnceLock<DeclaredIndex>,
}

/// Positions in `versions` and `hpas`, ordered by (service, cluster); among equal
/// keys in the order declared (a lookup answers the first, as a scan did).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeclaredIndex {
    versions: Vec<u32>,
    hpas: Vec<u32>,
}

impl PartialEq for GitDeclared {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.versions == other.versions && self.hpas == other.hpas
    }
}

impl Eq for GitDeclared {}

/// The first of `items` (through `order`, sorted by `key`) whose key is
/// `(service, cluster)`.
fn lookup<'a, T>(
    items: &'a [T],
    order: &[u32],
    key: impl Fn(&T) -> (&str, &ClusterId),
    service: &str,
    cluster: &ClusterId,
) -> Option<&'a T> {
    let at = |p: u32| items.get(p as usize);
    let i = order.partition_point(|&p| at(p).is_some_and(|t| key(t) < (service, cluster)));
    let found = at(*order.get(i)?)?;
    (key(found) == (service, cluster)).then_some(found)
}

/// `0..n` ordered by the key of each item, stably.
fn ordered<T>(items: &[T], key: impl Fn(&T) -> (&str, &ClusterId)) -> Vec<u32> {
    let mut order: Vec<u32> = (0..items.len())
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    order.sort_by(|&a, &b| key(&items[a as usize]).cmp(&key(&items[b as usize])));
    order
}

/// The version git declares for one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredVersion {
    pub service: String,
    pub cluster: ClusterId,
    pub version: String,
    /// The file that says so.
    pub path: String,
}

/// The HPA bounds git declares for one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredHpa {
    pub service: String,
    pub cluster: ClusterId,
    pub min: u32,
    pub max: u32,
    pub path: String,
}

fn version_key(v: &DeclaredVersion) -> (&str, &ClusterId) {
    (v.service.as_str(), &v.cluster)
}

fn hpa_key(h: &DeclaredHpa) -> (&str, &ClusterId) {
    (h.service.as_str(), &h.cluster)
}

impl GitDeclared {
    pub fn new(source: String, versions: Vec<DeclaredVersion>, hpas: Vec<DeclaredHpa>) -> Self {
        GitDeclared {
            source,
            versions,
            hpas,
            index: std::sync::OnceLock::new(),
        }
    }

    fn index(&self) -> &DeclaredIndex {
        let index = self.index.get_or_init(|| DeclaredIndex {
            versions: ordered(&self.versions, version_key),
            hpas: ordered(&self.hpas, hpa_key),
        });
        debug_assert!(
            index.versions.len() == self.versions.len() && index.hpas.len() == self.hpas.len(),
            "GitDeclared changed after its first lookup"
        );
        index
    }

    /// The declared version of one deployment, if git holds one.
    pub fn version(&self, service: &str, cluster: &ClusterId) -> Option<&DeclaredVersion> {
        let order = &self.index().versions;
        lookup(&self.versions, order, version_key, service, cluster)
    }

    /// The declared HPA bounds of one deployment, if git holds them.
    pub fn hpa(&self, service: &str, cluster: &ClusterId) -> Option<&DeclaredHpa> {
        let order = &self.index().hpas;
        lookup(&self.hpas, order, hpa_key, service, cluster)
    }
}

/// Reads an HPA file of the GitOps repository: YAML (or JSON) with `minReplicas` and
/// `maxReplicas`, at the top level or under `spec` (a whole HorizontalPodAutoscaler
/// manifest, or a kustomize patch of one). `minReplicas` defaults to 1, as in
/// Kubernetes; `maxReplicas` is required. The error names what is wrong (the caller
/// names the file).
pub fn parse_hpa_file(text: &str) -> Result<(u32, u32), String> {
    let doc: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let bounds = match doc.get("spec") {
        Some(spec) if spec.get("maxReplicas").is_some() => spec,
        _ => &doc,
    };
    let num = |k: &str| -> Result<Option<u32>, String> {
        match bounds.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("{k} is not a whole number of replicas: {v:?}")),
        }
    };
    let max = num("maxReplicas")?
        .ok_or_else(|| "no maxReplicas (at the top level or under spec)".to_string())?;
    let min = num("minReplicas")?.unwrap_or(1);
    if min > max {
        return Err(format!("minReplicas {min} is above maxReplicas {max}"));
    }
    Ok((min, max))
}

/// One secret in one cluster, as the grid shows it (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretCell {
    pub version_id: String,
    pub stages: Vec<String>,
    pub last_changed: Timestamp,
    pub tags: BTreeMap<String, String>,
}

impl From<&SecretMeta> for SecretCell {
    fn from(s: &SecretMeta) -> Self {
        SecretCell {
            version_id: s.version_id.clone(),
            stages: s.stages.clone(),
            last_changed: s.last_changed,
            tags: s.tags.clone(),
        }
    }
}

/// One service's secrets: a row per key (sorted), a column per cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretGrid {
    pub keys: Vec<String>,
    /// The topology's clusters in its order, then any cluster a secret names that the
    /// topology does not know (sorted).
    pub columns: Vec<ClusterId>,
    /// `cells[row][column]`; `None` where the key does not exist in that cluster.
    pub cells: Vec<Vec<Option<SecretCell>>>,
}

/// The grid of one service's secrets across every cluster.
pub fn grid(secrets: &[SecretMeta], topology: &Topology, service: &str) -> SecretGrid {
    let mine: Vec<&SecretMeta> = secrets.iter().filter(|s| s.service == service).collect();
    let keys: Vec<String> = mine
        .iter()
        .map(|s| s.key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut columns: Vec<ClusterId> = topology.clusters().collect();
    let extra: BTreeSet<ClusterId> = mine
        .iter()
        .map(|s| ClusterId::new(s.env.clone(), s.region.clone()))
        .filter(|c| !columns.contains(c))
        .collect();
    columns.extend(extra);
    let mut cells = vec![vec![None; columns.len()]; keys.len()];
    for s in mine {
        let row = keys.binary_search(&s.key);
        let col = columns
            .iter()
            .position(|c| c.env == s.env && c.region == s.region);
        if let (Ok(r), Some(c)) = (row, col) {
            cells[r][c] = Some(SecretCell::from(s));
        }
    }
    SecretGrid {
        keys,
        columns,
        cells,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The key is absent in some regions that should have it.
    Missing,
    /// The key exists in a region that should not have it.
    Extra,
    /// The value (compared by hash) differs between regions.
    ValueDiffers,
    /// The tags differ between regions.
    TagsDiffer,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Missing => "missing",
            DriftKind::Extra => "extra",
            DriftKind::ValueDiffers => "value_differs",
            DriftKind::TagsDiffer => "tags_differ",
        }
    }
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between the regions of one environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DriftFinding {
    pub service: String,
    pub env: String,
    pub key: String,
    pub kind: DriftKind,
    /// Where the key is missing, where it is extra, or the regions that differ.
    pub regions: Vec<String>,
    /// A sentence for people. Never contains a value or a hash.
    pub detail: String,
}

/// Secrets of one service in one environment, by key then region.
type ByKey<'a> = BTreeMap<&'a str, BTreeMap<&'a str, &'a SecretMeta>>;

/// Every drift finding over all services and environments (see the module docs for the
/// rules). Regions are those the secrets name, among the regions the environment runs
/// in when the topology knows it: a platform is not always a full grid, and a region
/// an environment has no cluster in is a gap, not drift (a secret left there shows in
/// the [`grid`]'s extra column, and is compared with nothing).
pub fn drift(secrets: &[SecretMeta], topology: &Topology) -> Vec<DriftFinding> {
    let runs_in = |env: &str, region: &str| {
        !topology.environments.iter().any(|e| e == env)
            || topology.regions_of(env).iter().any(|r| r == region)
    };
    // service -> env -> key -> region -> secret
    let mut by: BTreeMap<&str, BTreeMap<&str, ByKey<'_>>> = BTreeMap::new();
    for s in secrets.iter().filter(|s| runs_in(&s.env, &s.region)) {
        by.entry(&s.service)
            .or_default()
            .entry(&s.env)
            .or_default()
            .entry(&s.key)
            .or_default()
            .insert(&s.region, s);
    }
    let mut out = Vec::new();
    for (service, envs) in &by {
        for (env, keys) in envs {
            let regions: BTreeSet<&str> = keys.values().flat_map(|m| m.keys().copied()).collect();
            let n = regions.len();
            if n < 2 {
                continue;
            }
            for (key, held) in keys {
                let c = held.len();
                let finding = |kind, regions: Vec<String>, detail: String| DriftFinding {
                    service: service.to_string(),
                    env: env.to_string(),
                    key: key.to_string(),
                    kind,
                    regions,
                    detail,
                };
                if c < n {
                    let holders: Vec<String> = held.keys().map(|r| r.to_string()).collect();
                    let lacking: Vec<String> = regions
                        .iter()
                        .filter(|r| !held.contains_key(*r))
                        .map(|r| r.to_string())
                        .collect();
                    let missing = if 2 * c > n {
                        true
                    } else if 2 * c < n {
                        false
                    } else {
                        envs.iter().any(|(e, ks)| e != env && ks.contains_key(key))
                    };
                    if missing {
                        let why = if 2 * c == n {
                            format!(
                                "in {c} of {n} regions (a tie), and in other environments of the service"
                            )
                        } else {
                            format!("in {c} of {n} regions")
                        };
                        out.push(finding(
                            DriftKind::Missing,
                            lacking.clone(),
                            format!(
                                "missing in {}; present {why} ({})",
                                lacking.join(", "),
                                holders.join(", ")
                            ),
                        ));
                    } else {
                        let why = if 2 * c == n {
                            "a tie, and in no other environment of the service"
                        } else {
                            "a minority"
                        };
                        out.push(finding(
                            DriftKind::Extra,
                            holders.clone(),
                            format!(
                                "only in {} ({c} of {n} regions, {why}); absent in {}",
                                holders.join(", "),
                                lacking.join(", ")
                            ),
                        ));
                    }
                }
                // Values, by hash, among the holders whose hash is known.
                let hashes: BTreeMap<&str, u64> = held
                    .iter()
                    .filter_map(|(r, s)| s.value_hash.map(|h| (*r, h)))
                    .collect();
                if let Some((odd, agree)) = odd_ones_out(&hashes) {
                    let detail = match agree {
                        Some(a) => format!(
                            "value differs in {} from the value {a} of {} regions share",
                            odd.join(", "),
                            hashes.len()
                        ),
                        None => format!(
                            "values differ between {} (no majority value)",
                            odd.join(", ")
                        ),
                    };
                    out.push(finding(DriftKind::ValueDiffers, odd, detail));
                }
                // Tags.
                let tags: BTreeMap<&str, &BTreeMap<String, String>> =
                    held.iter().map(|(r, s)| (*r, &s.tags)).collect();
                if let Some((odd, agree)) = odd_ones_out(&tags) {
                    let detail = tags_detail(&tags, &odd, agree.is_some());
                    out.push(finding(DriftKind::TagsDiffer, odd, detail));
                }
            }
        }
    }
    out.sort();
    out
}

/// Among regions with a comparable value each: `None` when all agree; otherwise the
/// regions outside the strict-majority group (all regions when there is no strict
/// majority) and, when there is one, the size of the majority group.
fn odd_ones_out<V: Ord>(by_region: &BTreeMap<&str, V>) -> Option<(Vec<String>, Option<usize>)> {
    let mut groups: BTreeMap<&V, Vec<&str>> = BTreeMap::new();
    for (r, v) in by_region {
        groups.entry(v).or_default().push(r);
    }
    if groups.len() < 2 {
        return None;
    }
    let mut sizes: Vec<(usize, &V)> = groups.iter().map(|(v, rs)| (rs.len(), *v)).collect();
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    let strict = sizes[0].0 > sizes[1].0;
    if strict {
        let major = sizes[0].1;
        let odd = by_region
            .iter()
            .filter(|(_, v)| *v != major)
            .map(|(r, _)| r.to_string())
            .collect();
        Some((odd, Some(sizes[0].0)))
    } else {
        Some((by_region.keys().map(|r| r.to_string()).collect(), None))
    }
}

/// Name the tag keys that differ, with each listed region's value (`-` when unset) and,
/// when there is a majority, the majority's.
fn tags_detail(
    tags: &BTreeMap<&str, &BTreeMap<String, String>>,
    odd: &[String],
    majority: bool,
) -> String {
    let all_keys: BTreeSet<&String> = tags.values().flat_map(|t| t.keys()).collect();
    let differing: Vec<&String> = all_keys
        .into_iter()
        .filter(|k| {
            let vals: BTreeSet<Option<&String>> = tags.values().map(|t| t.get(*k)).collect();
            vals.len() > 1
        })
        .collect();
    let show = |t: &BTreeMap<String, String>| -> String {
        differing
            .iter()
            .map(|k| format!("{k}={}", t.get(*k).map_or("-", String::as_str)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    for r in odd {
        if let Some(t) = tags.get(r.as_str()) {
            parts.push(format!("{r}: {}", show(t)));
        }
    }
    if majority
        && let Some(t) = tags
            .iter()
            .find(|(r, _)| !odd.iter().any(|o| o == *r))
            .map(|(_, t)| t)
    {
        parts.push(format!("others: {}", show(t)));
    }
    let names: Vec<&str> = differing.iter().map(|k| k.as_str()).collect();
    format!("tags differ: {} ({})", names.join(", "), parts.join("; "))
}

/// One secret in one region, for the diff view (never the value or the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretSide {
    pub version_id: String,
    pub stages: Vec<String>,
    pub last_changed: Timestamp,
    pub tags: BTreeMap<String, String>,
    /// Whether this region's value equals the value held by a strict majority of the
    /// regions that have the key; `None` when unknown (no hash, or no strict majority).
    pub same_value_as_majority: Option<bool>,
}

/// One key of one service and environment, region by region: every region where the
/// service has a secret in that environment (sorted), with `None` where the key is absent.
pub fn side_by_side(
    secrets: &[SecretMeta],
    service: &str,
    env: &str,
    key: &str,
) -> Vec<(String, Option<SecretSide>)> {
    let in_env: Vec<&SecretMeta> = secrets
        .iter()
        .filter(|s| s.service == service && s.env == env)
        .collect();
    let regions: BTreeSet<&str> = in_env.iter().map(|s| s.region.as_str()).collect();
    let held: BTreeMap<&str, &SecretMeta> = in_env
        .iter()
        .filter(|s| s.key == key)
        .map(|s| (s.region.as_str(), *s))
        .collect();
    let hashes: BTreeMap<&str, u64> = held
        .iter()
        .filter_map(|(r, s)| s.value_hash.map(|h| (*r, h)))
        .collect();
    let majority = majority_value(&hashes);
    regions
        .into_iter()
        .map(|r| {
            let side = held.get(r).map(|s| SecretSide {
                version_id: s.version_id.clone(),
                stages: s.stages.clone(),
                last_changed: s.last_changed,
                tags: s.tags.clone(),
                same_value_as_majority: match (majority, s.value_hash) {
                    (Some(m), Some(h)) => Some(m == h),
                    _ => None,
                },
            });
            (r.to_string(), side)
        })
        .collect()
}

/// The value held by strictly more regions than any other, if any.
fn majority_value(by_region: &BTreeMap<&str, u64>) -> Option<u64> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for h in by_region.values() {
        *counts.entry(*h).or_default() += 1;
    }
    let mut sizes: Vec<(usize, u64)> = counts.into_iter().map(|(h, n)| (n, h)).collect();
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    match sizes.as_slice() {
        [] => None,
        [(_, h)] => Some(*h),
        [(a, h), (b, _), ..] => (a > b).then_some(*h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index answers what a scan in declaration order answers, the first of
    /// duplicates included, and nothing for a key git does not hold.
    #[test]
    fn declared_lookups_answer_as_a_scan_does() {
        let mut rng = fastrand::Rng::with_seed(7);
        let services = ["pay", "orders", "web", "auth", "pay-api"];
        let clusters: Vec<ClusterId> = ["dev", "staging", "production"]
            .iter()
            .flat_map(|e| ["us-east-1", "eu-west-1"].map(|r| ClusterId::new(*e, r)))
            .collect();
        let versions: Vec<DeclaredVersion> = (0..200)
            .map(|n| DeclaredVersion {
                service: services[rng.usize(..services.len())].into(),
                cluster: clusters[rng.usize(..clusters.len())].clone(),
                version: format!("1.{n}.0"),
                path: String::new(),
            })
            .collect();
        let hpas: Vec<DeclaredHpa> = (0..7)
            .map(|n| DeclaredHpa {
                service: services[rng.usize(..services.len())].into(),
                cluster: clusters[rng.usize(..clusters.len())].clone(),
                min: n,
                max: n + 1,
                path: String::new(),
            })
            .collect();
        let declared = GitDeclared::new("git".into(), versions.clone(), hpas.clone());
        for service in services.iter().chain(&["missing", ""]) {
            for c in clusters.iter().chain([&ClusterId::new("prod", "mars")]) {
                let scan = versions
                    .iter()
                    .find(|v| v.service == *service && v.cluster == *c);
                assert_eq!(declared.version(service, c), scan, "{service} {c}");
                let scan = hpas
                    .iter()
                    .find(|h| h.service == *service && h.cluster == *c);
                assert_eq!(declared.hpa(service, c), scan, "{service} {c}");
            }
        }
        // Equal whatever the index holds.
        assert_eq!(declared, GitDeclared::new("git".into(), versions, hpas));
    }

    fn topo(regions: &[&str]) -> Topology {
        Topology {
            regions: regions.iter().map(|r| r.to_string()).collect(),
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        }
    }

    fn meta(service: &str, env: &str, region: &str, key: &str, hash: u64) -> SecretMeta {
        let mut tags = BTreeMap::new();
        tags.insert("team".to_string(), "payments".to_string());
        tags.insert("managed-by".to_string(), "sphere".to_string());
        SecretMeta {
            name: format!("{env}/{service}/{key}"),
            service: service.into(),
            env: env.into(),
            region: region.into(),
            key: key.into(),
            version_id: format!("v-{hash}"),
            stages: vec!["AWSCURRENT".into()],
            last_changed: 1_700_000_000,
            tags,
            value_hash: Some(hash),
        }
    }

    const R3: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

    /// `pay` with DB_URL and API_KEY in every one of three production regions.
    fn clean3() -> Vec<SecretMeta> {
        let mut v = Vec::new();
        for r in R3 {
            v.push(meta("pay", "production", r, "DB_URL", 1));
            v.push(meta("pay", "production", r, "API_KEY", 2));
        }
        v
    }

    fn kinds(f: &[DriftFinding]) -> Vec<(DriftKind, &str, Vec<&str>)> {
        f.iter()
            .map(|f| {
                (
                    f.kind,
                    f.key.as_str(),
                    f.regions.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    /// production in us-east-1 and eu-west-1, staging in us-east-1 only.
    fn gapped() -> Topology {
        Topology::from_clusters(&[
            ClusterId::new("production", "us-east-1"),
            ClusterId::new("production", "eu-west-1"),
            ClusterId::new("staging", "us-east-1"),
        ])
    }

    /// A region an environment does not run in is a gap, not drift: staging's keys are
    /// not "missing" in eu-west-1, even with a secret left there, while production's
    /// regions are still compared.
    #[test]
    fn a_gap_in_the_topology_is_not_drift() {
        let mut s = Vec::new();
        for r in ["us-east-1", "eu-west-1"] {
            s.push(meta("pay", "production", r, "DB_URL", 1));
            s.push(meta("pay", "production", r, "API_KEY", 2));
        }
        s.push(meta("pay", "staging", "us-east-1", "DB_URL", 3));
        s.push(meta("pay", "staging", "us-east-1", "API_KEY", 4));
        assert_eq!(drift(&s, &gapped()), vec![]);
        // A stray secret of staging in eu-west-1, where staging has no cluster: on a
        // full grid that would make DB_URL and API_KEY missing there (a tie, and held
        // in production); here it is compared with nothing.
        s.push(meta("pay", "staging", "eu-west-1", "LEFTOVER", 5));
        let on_a_grid = drift(&s, &topo(&["us-east-1", "eu-west-1"]));
        assert!(
            on_a_grid
                .iter()
                .any(|f| f.env == "staging" && f.kind == DriftKind::Missing),
            "{on_a_grid:?}"
        );
        assert_eq!(drift(&s, &gapped()), vec![]);
        // The grid shows the clusters that exist, and the stray secret's apart.
        let g = grid(&s, &gapped(), "pay");
        let cols: Vec<String> = g.columns.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            cols,
            [
                "production/us-east-1",
                "production/eu-west-1",
                "staging/us-east-1",
                "staging/eu-west-1"
            ]
        );
        // Drift where the environment runs is still found.
        for x in s.iter_mut() {
            if (x.env.as_str(), x.region.as_str(), x.key.as_str())
                == ("production", "eu-west-1", "DB_URL")
            {
                x.value_hash = Some(9);
            }
        }
        let f = drift(&s, &gapped());
        assert_eq!(
            kinds(&f),
            vec![(
                DriftKind::ValueDiffers,
                "DB_URL",
                vec!["eu-west-1", "us-east-1"]
            )]
        );
    }

    #[test]
    fn hpa_files_read_flat_or_as_a_manifest() {
        assert_eq!(
            parse_hpa_file("minReplicas: 2\nmaxReplicas: 10\n"),
            Ok((2, 10))
        );
        assert_eq!(
            parse_hpa_file(
                "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  minReplicas: 3\n  maxReplicas: 9\n"
            ),
            Ok((3, 9))
        );
        assert_eq!(parse_hpa_file("{\"maxReplicas\": 4}"), Ok((1, 4)));
        let e = parse_hpa_file("minReplicas: 2\n").unwrap_err();
        assert!(e.contains("no maxReplicas"), "{e}");
        let e = parse_hpa_file("minReplicas: 5\nmaxReplicas: 2\n").unwrap_err();
        assert!(e.contains("above"), "{e}");
        let e = parse_hpa_file("maxReplicas: lots\n").unwrap_err();
        assert!(e.contains("maxReplicas is not a whole number"), "{e}");
    }

    #[test]
    fn clean_has_no_findings() {
        assert_eq!(drift(&clean3(), &topo(&R3)), vec![]);
    }

    #[test]
    fn missing_in_one_of_three() {
        let mut s = clean3();
        s.retain(|m| !(m.region == "eu-west-1" && m.key == "API_KEY"));
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(DriftKind::Missing, "API_KEY", vec!["eu-west-1"])]
        );
        assert_eq!(f[0].service, "pay");
        assert_eq!(f[0].env, "production");
        assert!(
            f[0].detail.contains("missing in eu-west-1"),
            "{}",
            f[0].detail
        );
    }

    #[test]
    fn extra_in_one_of_three() {
        let mut s = clean3();
        s.push(meta("pay", "production", "us-east-1", "LEGACY", 9));
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(DriftKind::Extra, "LEGACY", vec!["us-east-1"])]
        );
    }

    #[test]
    fn value_differs_names_the_odd_region_without_the_hash() {
        let mut s = clean3();
        let odd = s
            .iter_mut()
            .find(|m| m.region == "ap-southeast-2" && m.key == "DB_URL")
            .unwrap();
        odd.value_hash = Some(0xdead_beef_1234);
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(DriftKind::ValueDiffers, "DB_URL", vec!["ap-southeast-2"])]
        );
        let d = &f[0].detail;
        assert!(!d.contains(&0xdead_beef_1234u64.to_string()), "{d}");
        assert!(!d.contains("deadbeef"), "{d}");
    }

    #[test]
    fn tags_differ_names_the_keys() {
        let mut s = clean3();
        let odd = s
            .iter_mut()
            .find(|m| m.region == "eu-west-1" && m.key == "API_KEY")
            .unwrap();
        odd.tags.remove("managed-by");
        odd.tags.insert("team".into(), "legacy".into());
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(DriftKind::TagsDiffer, "API_KEY", vec!["eu-west-1"])]
        );
        let d = &f[0].detail;
        assert!(d.starts_with("tags differ: managed-by, team"), "{d}");
        assert!(d.contains("eu-west-1: managed-by=- team=legacy"), "{d}");
        assert!(d.contains("others: managed-by=sphere team=payments"), "{d}");
    }

    #[test]
    fn two_regions_value_tie_lists_both() {
        let s = vec![
            meta("pay", "production", "us-east-1", "DB_URL", 1),
            meta("pay", "production", "eu-west-1", "DB_URL", 2),
        ];
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(
                DriftKind::ValueDiffers,
                "DB_URL",
                vec!["eu-west-1", "us-east-1"]
            )]
        );
        assert!(f[0].detail.contains("no majority"));
    }

    #[test]
    fn two_regions_tie_is_missing_when_other_envs_have_the_key() {
        let s = vec![
            meta("pay", "production", "us-east-1", "DB_URL", 1),
            meta("pay", "production", "us-east-1", "API_KEY", 2),
            meta("pay", "production", "eu-west-1", "API_KEY", 2),
            meta("pay", "staging", "us-east-1", "DB_URL", 3),
        ];
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(DriftKind::Missing, "DB_URL", vec!["eu-west-1"])]
        );
    }

    #[test]
    fn two_regions_tie_is_extra_when_no_other_env_has_the_key() {
        let s = vec![
            meta("pay", "production", "us-east-1", "LEGACY", 1),
            meta("pay", "production", "us-east-1", "API_KEY", 2),
            meta("pay", "production", "eu-west-1", "API_KEY", 2),
            meta("pay", "staging", "us-east-1", "API_KEY", 3),
        ];
        let f = drift(&s, &topo(&R3));
        assert_eq!(
            kinds(&f),
            vec![(DriftKind::Extra, "LEGACY", vec!["us-east-1"])]
        );
    }

    #[test]
    fn one_region_or_other_services_never_compare() {
        let s = vec![
            meta("pay", "production", "us-east-1", "A", 1),
            meta("web", "production", "eu-west-1", "B", 2),
        ];
        assert_eq!(drift(&s, &topo(&R3)), vec![]);
    }

    #[test]
    fn output_is_sorted_and_deterministic() {
        let mut s = clean3();
        s.retain(|m| !(m.region == "eu-west-1" && m.key == "API_KEY"));
        s.push(meta("abc", "production", "us-east-1", "X", 1));
        s.push(meta("abc", "production", "eu-west-1", "X", 2));
        s.push(meta("abc", "production", "ap-southeast-2", "X", 2));
        let a = drift(&s, &topo(&R3));
        s.reverse();
        let b = drift(&s, &topo(&R3));
        assert_eq!(a, b);
        assert_eq!(a[0].service, "abc");
        assert_eq!(a[1].service, "pay");
    }

    #[test]
    fn grid_rows_and_columns() {
        let mut s = clean3();
        s.retain(|m| !(m.region == "eu-west-1" && m.key == "API_KEY"));
        s.push(meta("other", "production", "us-east-1", "ZZZ", 1));
        let g = grid(&s, &topo(&R3), "pay");
        assert_eq!(g.keys, vec!["API_KEY", "DB_URL"]);
        assert_eq!(g.columns.len(), 6);
        assert_eq!(g.columns[0], ClusterId::new("staging", "us-east-1"));
        let prod_eu = g
            .columns
            .iter()
            .position(|c| c == &ClusterId::new("production", "eu-west-1"))
            .unwrap();
        assert!(g.cells[0][prod_eu].is_none());
        assert!(g.cells[1][prod_eu].is_some());
        assert!(g.cells.iter().all(|r| r[0].is_none()), "no staging secrets");
    }

    #[test]
    fn side_by_side_marks_the_odd_value() {
        let mut s = clean3();
        s.iter_mut()
            .find(|m| m.region == "us-east-1" && m.key == "DB_URL")
            .unwrap()
            .value_hash = Some(77);
        s.retain(|m| !(m.region == "eu-west-1" && m.key == "DB_URL"));
        let v = side_by_side(&s, "pay", "production", "DB_URL");
        let got: Vec<(&str, Option<Option<bool>>)> = v
            .iter()
            .map(|(r, side)| (r.as_str(), side.as_ref().map(|x| x.same_value_as_majority)))
            .collect();
        // Two holders that disagree: no strict majority.
        assert_eq!(
            got,
            vec![
                ("ap-southeast-2", Some(None)),
                ("eu-west-1", None),
                ("us-east-1", Some(None))
            ]
        );
        let s = {
            let mut s = clean3();
            s.iter_mut()
                .find(|m| m.region == "us-east-1" && m.key == "DB_URL")
                .unwrap()
                .value_hash = Some(77);
            s
        };
        let v = side_by_side(&s, "pay", "production", "DB_URL");
        let same: Vec<Option<bool>> = v
            .iter()
            .map(|(_, x)| x.as_ref().and_then(|x| x.same_value_as_majority))
            .collect();
        assert_eq!(same, vec![Some(true), Some(true), Some(false)]);
    }
}
