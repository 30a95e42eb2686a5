//! Drift findings: every kind of drift sphere knows, as one list with stable ids, for
//! `sphere drift` and for the agent's findings topic. Pure: no I/O.
//!
//! - **version**: a service runs different versions in the regions of one environment
//!   (the matrix's drift); the finding names the odd regions.
//! - **secret**: [`crate::domain::drift::drift`] (missing, extra, value differs, tags
//!   differ); never a value or a hash.
//! - **flag**: [`crate::domain::flags::flag_drift`] (a flag's clusters disagree inside one
//!   environment).
//! - **git**: a deployment runs another version than the GitOps repository declares for
//!   it (`git/SERVICE/ENV/REGION`).
//! - **hpa**: an HPA's replica bounds differ from those the GitOps repository holds for
//!   it (`hpa/SERVICE/ENV/REGION`).
//!
//! Git and HPA drift compare only where both sides exist: a deployment git says nothing
//! about (or a version file for a deployment that does not run, or a cluster that could
//! not be read) is no finding.
//!
//! A finding's `id` names what drifted, not how (`version/checkout/production`,
//! `secret/checkout/production/DB_URL/missing`, `flag/new-flow/production`): while the
//! same thing stays drifted its id stays, so the agent tells it once.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::drift::GitDeclared;
use crate::domain::service::LiveState;
use crate::domain::{FlagState, SecretMeta, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Version,
    Secret,
    Flag,
    Git,
    Hpa,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Version => "version",
            FindingKind::Secret => "secret",
            FindingKind::Flag => "flag",
            FindingKind::Git => "git",
            FindingKind::Hpa => "hpa",
        }
    }
}

/// One drift, now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// Stable while the same thing stays drifted.
    pub id: String,
    pub kind: FindingKind,
    /// The service (version, secret) or the flag.
    pub subject: String,
    pub env: String,
    /// The regions that stand out (sorted).
    pub regions: Vec<String>,
    /// A sentence for people; never a secret value or hash.
    pub detail: String,
}

/// Version drift: per service and environment whose regions run different versions.
pub fn version_drift(live: &LiveState, topology: &Topology) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in live.services() {
        for env in &topology.environments {
            if !s.drifted_in(env) {
                continue;
            }
            // version -> regions
            let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            let mut odd = Vec::new();
            for d in s.deployments().filter(|d| &d.cluster.env == env) {
                by.entry(d.version)
                    .or_default()
                    .push(d.cluster.region.to_string());
                if s.odd_in(d.cluster) {
                    odd.push(d.cluster.region.to_string());
                }
            }
            if odd.is_empty() {
                // No majority: every region stands out.
                odd = by.values().flatten().cloned().collect();
            }
            odd.sort();
            let versions: Vec<String> = by
                .iter()
                .map(|(v, rs)| {
                    let mut rs = rs.clone();
                    rs.sort();
                    format!("{v} in {}", rs.join(", "))
                })
                .collect();
            out.push(Finding {
                id: format!("version/{}/{env}", s.name()),
                kind: FindingKind::Version,
                subject: s.name().to_string(),
                env: env.clone(),
                regions: odd,
                detail: format!("versions differ across regions: {}", versions.join("; ")),
            });
        }
    }
    out.sort();
    out
}

/// Secret drift (see [`crate::domain::drift`]).
pub fn secret_drift(secrets: &[SecretMeta], topology: &Topology) -> Vec<Finding> {
    let mut out: Vec<Finding> = crate::domain::drift::drift(secrets, topology)
        .into_iter()
        .map(|f| Finding {
            id: format!("secret/{}/{}/{}/{}", f.service, f.env, f.key, f.kind),
            kind: FindingKind::Secret,
            subject: f.service,
            env: f.env,
            regions: f.regions,
            detail: format!("{}: {}", f.key, f.detail),
        })
        .collect();
    out.sort();
    out
}

/// Flag drift (see [`crate::domain::flags::flag_drift`]).
pub fn flag_drift(flags: &[FlagState]) -> Vec<Finding> {
    let mut out: Vec<Finding> = crate::domain::flags::flag_drift(flags)
        .into_iter()
        .map(|d| {
            let regions: BTreeSet<String> = d
                .variants
                .iter()
                .skip(1)
                .flat_map(|v| v.regions.iter().cloned())
                .collect();
            let variants: Vec<String> = d
                .variants
                .iter()
                .map(|v| format!("{} {}% in {}", v.value, v.percentage, v.regions.join(", ")))
                .collect();
            Finding {
                id: format!("flag/{}/{}", d.name, d.env),
                kind: FindingKind::Flag,
                subject: d.name,
                env: d.env,
                regions: regions.into_iter().collect(),
                detail: format!("clusters disagree: {}", variants.join("; ")),
            }
        })
        .collect();
    out.sort();
    out
}

/// Git-vs-live drift: every deployment whose running version differs from the version
/// git declares for it (kind `git`), and every HPA whose bounds differ from git's (kind
/// `hpa`). Sorted.
pub fn git_drift(live: &LiveState, declared: &GitDeclared) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in &declared.versions {
        let Some(running) = live
            .service(&d.service)
            .and_then(|s| s.deployment(&d.cluster).map(|r| r.version.to_string()))
        else {
            continue;
        };
        if running == d.version {
            continue;
        }
        out.push(Finding {
            id: format!("git/{}/{}/{}", d.service, d.cluster.env, d.cluster.region),
            kind: FindingKind::Git,
            subject: d.service.clone(),
            env: d.cluster.env.to_string(),
            regions: vec![d.cluster.region.to_string()],
            detail: format!("runs {running}; git declares {} ({})", d.version, d.path),
        });
    }
    for h in &declared.hpas {
        let Some(live_hpa) = live.service(&h.service).and_then(|s| s.hpa(&h.cluster)) else {
            continue;
        };
        if (live_hpa.min, live_hpa.max) == (h.min, h.max) {
            continue;
        }
        out.push(Finding {
            id: format!("hpa/{}/{}/{}", h.service, h.cluster.env, h.cluster.region),
            kind: FindingKind::Hpa,
            subject: h.service.clone(),
            env: h.cluster.env.to_string(),
            regions: vec![h.cluster.region.to_string()],
            detail: format!(
                "HPA {}..{} replicas live; git declares {}..{} ({})",
                live_hpa.min, live_hpa.max, h.min, h.max, h.path
            ),
        });
    }
    out.sort();
    out
}

/// A finding as the findings topic holds it (keyed by its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// `appeared`, `changed` (the same drift, other regions or versions) or `cleared`.
    pub state: FindingState,
    #[serde(flatten)]
    pub finding: Finding,
    /// When the agent saw it change (seconds since the epoch).
    pub at: i64,
    /// The silence that covered it when it was told (no alert was sent for it):
    /// `PATTERN (by WHO until RFC 3339: REASON)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    Appeared,
    Changed,
    Cleared,
}

/// The open findings, and what to tell when a kind is evaluated again: a finding is told
/// when it appears, when its regions or detail change, and when it clears; never again
/// while it is unchanged (across restarts too, when started from the topic's records).
#[derive(Debug, Default)]
pub struct Tracker {
    open: BTreeMap<String, Finding>,
}

impl Tracker {
    /// Starts from the findings topic's latest record per id: those not cleared are open.
    pub fn from_records(records: impl IntoIterator<Item = FindingRecord>) -> Tracker {
        let open = records
            .into_iter()
            .filter(|r| r.state != FindingState::Cleared)
            .map(|r| (r.finding.id.clone(), r.finding))
            .collect();
        Tracker { open }
    }

    pub fn open(&self) -> impl Iterator<Item = &Finding> {
        self.open.values()
    }

    /// `now` is every finding of `kind` as it is now (the kinds not evaluated are left as
    /// they are: a source that could not be read clears nothing). The records to publish.
    pub fn update(&mut self, kind: FindingKind, now: Vec<Finding>, at: i64) -> Vec<FindingRecord> {
        let mut out = Vec::new();
        let ids: BTreeSet<&str> = now.iter().map(|f| f.id.as_str()).collect();
        let gone: Vec<String> = self
            .open
            .iter()
            .filter(|(id, f)| f.kind == kind && !ids.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(finding) = self.open.remove(&id) {
                out.push(FindingRecord {
                    state: FindingState::Cleared,
                    finding,
                    at,
                    silenced: None,
                });
            }
        }
        for f in now {
            let state = match self.open.get(&f.id) {
                None => FindingState::Appeared,
                Some(old) if *old != f => FindingState::Changed,
                Some(_) => continue,
            };
            self.open.insert(f.id.clone(), f.clone());
            out.push(FindingRecord {
                state,
                finding: f,
                at,
                silenced: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClusterId;
    use crate::domain::platform::{ClusterEvent, DeploymentSummary};

    fn topo() -> Topology {
        Topology {
            regions: vec!["us-east-1".into(), "eu-west-1".into(), "ap-south-1".into()],
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        }
    }

    fn dep(service: &str, env: &str, region: &str, version: &str) -> ClusterEvent {
        ClusterEvent::Deployment(DeploymentSummary {
            service: service.into(),
            cluster: ClusterId::new(env, region),
            version: version.into(),
            desired: 2,
            ready: 2,
            updated: 2,
            rollout: crate::domain::RolloutState::Complete,
            updated_at: 0,
        })
    }

    #[test]
    fn version_drift_names_the_odd_region_and_every_version() {
        let mut live = LiveState::default();
        for r in ["us-east-1", "eu-west-1", "ap-south-1"] {
            live.apply(dep("pay", "production", r, "v2"));
            live.apply(dep("pay", "staging", r, "v2"));
        }
        assert_eq!(version_drift(&live, &topo()), vec![]);
        live.apply(dep("pay", "production", "eu-west-1", "v1"));
        let f = version_drift(&live, &topo());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].id, "version/pay/production");
        assert_eq!(f[0].regions, vec!["eu-west-1"]);
        assert_eq!(
            f[0].detail,
            "versions differ across regions: v1 in eu-west-1; v2 in ap-south-1, us-east-1"
        );
    }

    #[test]
    fn git_drift_compares_only_where_both_sides_exist() {
        use crate::domain::drift::{DeclaredHpa, DeclaredVersion};
        use crate::domain::platform::HpaSummary;
        let mut live = LiveState::default();
        live.apply(dep("pay", "production", "eu-west-1", "v2"));
        live.apply(dep("pay", "production", "us-east-1", "v1"));
        live.apply(ClusterEvent::Hpa(HpaSummary {
            service: "pay".into(),
            cluster: ClusterId::new("production", "eu-west-1"),
            min: 2,
            max: 20,
            current: 2,
            target_cpu: 70,
            current_cpu: None,
        }));
        let v = |region: &str, version: &str| DeclaredVersion {
            service: "pay".into(),
            cluster: ClusterId::new("production", region),
            version: version.into(),
            path: format!("apps/pay/production/{region}/version"),
        };
        let declared = GitDeclared {
            source: "acme/deploy@main".into(),
            versions: vec![
                v("eu-west-1", "v1"),
                v("us-east-1", "v1"),
                // Declared where nothing runs: no finding.
                v("ap-south-1", "v1"),
            ],
            hpas: vec![
                DeclaredHpa {
                    service: "pay".into(),
                    cluster: ClusterId::new("production", "eu-west-1"),
                    min: 2,
                    max: 10,
                    path: "apps/pay/production/eu-west-1/hpa.yaml".into(),
                },
                // No live HPA there: no finding.
                DeclaredHpa {
                    service: "pay".into(),
                    cluster: ClusterId::new("production", "us-east-1"),
                    min: 2,
                    max: 10,
                    path: "apps/pay/production/us-east-1/hpa.yaml".into(),
                },
            ],
            ..GitDeclared::default()
        };
        let f = git_drift(&live, &declared);
        let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "git/pay/production/eu-west-1",
                "hpa/pay/production/eu-west-1"
            ]
        );
        assert_eq!(
            f[0].detail,
            "runs v2; git declares v1 (apps/pay/production/eu-west-1/version)"
        );
        assert_eq!(f[0].regions, vec!["eu-west-1"]);
        assert_eq!(
            f[1].detail,
            "HPA 2..20 replicas live; git declares 2..10 (apps/pay/production/eu-west-1/hpa.yaml)"
        );
        live.apply(dep("pay", "production", "eu-west-1", "v1"));
        assert_eq!(git_drift(&live, &declared).len(), 1, "only the HPA is left");
    }

    fn finding(id: &str, kind: FindingKind, regions: &[&str]) -> Finding {
        Finding {
            id: id.into(),
            kind,
            subject: "pay".into(),
            env: "production".into(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            detail: "d".into(),
        }
    }

    #[test]
    fn the_tracker_tells_appeared_changed_and_cleared_once_each() {
        let mut t = Tracker::default();
        let v = finding("version/pay/production", FindingKind::Version, &["eu"]);
        let s = finding(
            "secret/pay/production/K/missing",
            FindingKind::Secret,
            &["us"],
        );
        let out = t.update(FindingKind::Version, vec![v.clone()], 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, FindingState::Appeared);
        assert_eq!(t.update(FindingKind::Version, vec![v.clone()], 2), vec![]);
        t.update(FindingKind::Secret, vec![s.clone()], 2);
        // Another kind's evaluation leaves version findings alone.
        assert_eq!(t.update(FindingKind::Secret, vec![s.clone()], 3), vec![]);
        let moved = finding("version/pay/production", FindingKind::Version, &["us"]);
        let out = t.update(FindingKind::Version, vec![moved.clone()], 4);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, FindingState::Changed);
        let out = t.update(FindingKind::Version, vec![], 5);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, FindingState::Cleared);
        assert_eq!(out[0].finding, moved);
        assert_eq!(t.update(FindingKind::Version, vec![], 6), vec![]);
        assert_eq!(t.open().count(), 1, "the secret finding is still open");
    }

    #[test]
    fn a_tracker_started_from_the_topic_does_not_tell_again() {
        let v = finding("version/pay/production", FindingKind::Version, &["eu"]);
        let c = finding("version/web/production", FindingKind::Version, &["eu"]);
        let records = vec![
            FindingRecord {
                state: FindingState::Appeared,
                finding: v.clone(),
                at: 1,
                silenced: None,
            },
            FindingRecord {
                state: FindingState::Cleared,
                finding: c.clone(),
                at: 1,
                silenced: None,
            },
        ];
        let mut t = Tracker::from_records(records);
        let out = t.update(FindingKind::Version, vec![v, c.clone()], 2);
        assert_eq!(out.len(), 1, "only the cleared one appears again: {out:?}");
        assert_eq!(out[0].finding, c);
        assert_eq!(out[0].state, FindingState::Appeared);
    }
}
