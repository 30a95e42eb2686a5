//! Capability C5: the deployments matrix — services × (environment, region), with the
//! version, replicas, rollout state and lock of each cell, and drift: versions that
//! differ across the regions of one environment, and cells out of sync with what the
//! GitOps repository declares ([`mark_git`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::drift::GitDeclared;
use super::platform::{
    ClusterEvent, ClusterId, ClusterSnapshot, Lock, RolloutState, Scope, Topology,
};
use super::service::{LiveState, ServiceView};

/// One cell: a service in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub version: String,
    pub ready: u32,
    pub desired: u32,
    pub rollout: RolloutState,
    pub crash_looping: u32,
    /// The reason of the lock that stops deploys here, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
    /// Everyone holding a lock that covers this cell, in name order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lock_holders: Vec<String>,
    /// This cell's version differs from another region of the same environment.
    pub drift: bool,
    /// Out of sync with git: what the GitOps repository declares where it differs from
    /// what runs (see [`mark_git`]); `None` when in sync or when git was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitMark>,
}

/// What git declares for a cell that runs something else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitMark {
    /// The version git declares, when the cell runs another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The HPA bounds git declares (`[min, max]`), when the live HPA has others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hpa: Option<[u32; 2]>,
}

impl GitMark {
    /// `git 1.4.1`, `git hpa 2..10`, or both.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.version {
            parts.push(format!("git {v}"));
        }
        if let Some([min, max]) = self.hpa {
            parts.push(format!("git hpa {min}..{max}"));
        }
        parts.join(", ")
    }
}

/// The git mark of one cell: what `declared` says where it differs from `live`.
pub fn git_mark(
    service: &str,
    live: Option<&ServiceView<'_>>,
    cluster: &ClusterId,
    declared: &GitDeclared,
) -> Option<GitMark> {
    let live = live?;
    let running = live.deployment(cluster)?;
    let version = declared
        .version(service, cluster)
        .filter(|d| d.version != running.version)
        .map(|d| d.version.clone());
    let hpa = match (declared.hpa(service, cluster), live.hpa(cluster)) {
        (Some(d), Some(h)) if (d.min, d.max) != (h.min, h.max) => Some([d.min, d.max]),
        _ => None,
    };
    (version.is_some() || hpa.is_some()).then_some(GitMark { version, hpa })
}

/// Marks every cell of `m` that is out of sync with `declared`.
pub fn mark_git(m: &mut Matrix, live: &LiveState, declared: &GitDeclared) {
    for row in &mut m.rows {
        let sv = live.service(&row.service);
        for (c, cell) in m.columns.iter().zip(row.cells.iter_mut()) {
            if let Some(cell) = cell {
                cell.git = git_mark(&row.service, sv.as_ref(), c, declared);
            }
        }
    }
}

/// The columns in scope: environment-major, regions in topology order.
pub fn columns(topology: &Topology, scope: &Scope) -> Vec<ClusterId> {
    topology.clusters().filter(|c| scope.contains(c)).collect()
}

/// The environments whose regions run different versions of this service.
pub fn drifted_envs(live: &ServiceView<'_>, topology: &Topology) -> Vec<String> {
    topology
        .environments
        .iter()
        .filter(|env| live.drifted_in(env))
        .cloned()
        .collect()
}

/// The cell for one service in one cluster, or `None` when it does not run there.
pub fn cell(
    service: &str,
    live: Option<&ServiceView<'_>>,
    cluster: &ClusterId,
    locks: &[Lock],
) -> Option<Cell> {
    let live = live?;
    let d = live.deployment(cluster)?;
    Some(Cell {
        version: d.version.to_string(),
        ready: d.ready,
        desired: d.desired,
        rollout: d.rollout,
        crash_looping: live.crash_loops(cluster),
        locked: locks
            .iter()
            .find(|l| l.covers(service, cluster))
            .map(|l| l.reason.clone()),
        lock_holders: {
            let mut h: Vec<String> = locks
                .iter()
                .filter(|l| l.covers(service, cluster))
                .map(|l| l.by.clone())
                .collect();
            h.sort();
            h.dedup();
            h
        },
        // Only the odd region of a drifted environment stands out.
        drift: live.drifted_in(&cluster.env) && live.odd_in(cluster),
        git: None,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub service: String,
    /// One per column; `None` where the service does not run.
    pub cells: Vec<Option<Cell>>,
    /// Environments (in scope) in which this service drifted.
    pub drifted: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub columns: Vec<ClusterId>,
    pub rows: Vec<MatrixRow>,
    /// How many services drifted, per environment in scope.
    pub drift: BTreeMap<String, usize>,
}

/// The whole matrix for a list of services (the CLI's view; the TUI builds visible
/// rows only, with `cell`).
pub fn build(
    services: &[String],
    live: &LiveState,
    locks: &[Lock],
    topology: &Topology,
    scope: &Scope,
) -> Matrix {
    let columns = columns(topology, scope);
    let envs: Vec<String> = topology
        .environments
        .iter()
        .filter(|e| scope.env.as_ref().is_none_or(|s| s == *e))
        .cloned()
        .collect();
    let mut drift: BTreeMap<String, usize> = envs.iter().map(|e| (e.clone(), 0)).collect();
    let rows = services
        .iter()
        .map(|s| {
            let sl = live.service(s);
            let drifted: Vec<String> = sl
                .map(|l| envs.iter().filter(|e| l.drifted_in(e)).cloned().collect())
                .unwrap_or_default();
            for e in &drifted {
                *drift.entry(e.clone()).or_default() += 1;
            }
            MatrixRow {
                service: s.clone(),
                cells: columns
                    .iter()
                    .map(|c| cell(s, sl.as_ref(), c, locks))
                    .collect(),
                drifted,
            }
        })
        .collect();
    Matrix {
        columns,
        rows,
        drift,
    }
}

/// "7 services drifted in production, 2 in staging" — or that nothing drifted.
pub fn drift_summary(drift: &BTreeMap<String, usize>, order: &[String]) -> String {
    let parts: Vec<String> = order
        .iter()
        .filter_map(|e| drift.get(e).filter(|n| **n > 0).map(|n| (e, *n)))
        .map(|(e, n)| format!("{n} in {e}"))
        .collect();
    if parts.is_empty() {
        "no drift: every environment runs one version per service".to_string()
    } else {
        let total: usize = drift.values().sum();
        let noun = if total == 1 { "service" } else { "services" };
        format!("{noun} drifted: {}", parts.join(", "))
    }
}

/// The same in fewer columns, for a narrow terminal: "drifted: 6 production, 2 staging".
pub fn drift_summary_short(drift: &BTreeMap<String, usize>, order: &[String]) -> String {
    let parts: Vec<String> = order
        .iter()
        .filter_map(|e| drift.get(e).filter(|n| **n > 0).map(|n| format!("{n} {e}")))
        .collect();
    if parts.is_empty() {
        "no drift".to_string()
    } else {
        format!("drifted: {}", parts.join(", "))
    }
}

impl LiveState {
    /// A live state holding one snapshot (the CLI's one-shot read).
    pub fn from_snapshot(snapshot: ClusterSnapshot) -> LiveState {
        let mut live = LiveState::default();
        for d in snapshot.deployments {
            live.apply(ClusterEvent::Deployment(d));
        }
        for h in snapshot.hpas {
            live.apply(ClusterEvent::Hpa(h));
        }
        for p in snapshot.pods {
            live.apply(ClusterEvent::Pod(p));
        }
        for (cluster, error) in snapshot.errors {
            live.apply(ClusterEvent::Unreachable { cluster, error });
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::platform::DeploymentSummary;

    fn topo() -> Topology {
        Topology {
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        }
    }

    fn dep(svc: &str, env: &str, region: &str, version: &str) -> ClusterEvent {
        ClusterEvent::Deployment(DeploymentSummary {
            service: svc.into(),
            cluster: ClusterId::new(env, region),
            version: version.into(),
            desired: 3,
            ready: 3,
            updated: 3,
            rollout: RolloutState::Complete,
            updated_at: 0,
        })
    }

    fn live() -> LiveState {
        let mut l = LiveState::default();
        for e in [
            dep("pay", "production", "us-east-1", "1.2.0"),
            dep("pay", "production", "eu-west-1", "1.1.0"),
            dep("pay", "staging", "us-east-1", "1.3.0"),
            dep("pay", "staging", "eu-west-1", "1.3.0"),
            dep("cart", "production", "us-east-1", "2.0.0"),
        ] {
            l.apply(e);
        }
        l
    }

    /// production in both regions, staging in us-east-1 only: no column, and no cell,
    /// for staging in eu-west-1, even where a deployment says it runs there.
    #[test]
    fn a_gapped_topology_has_no_column_for_a_cluster_it_lacks() {
        let gapped = Topology::from_clusters(&[
            ClusterId::new("staging", "us-east-1"),
            ClusterId::new("production", "us-east-1"),
            ClusterId::new("production", "eu-west-1"),
        ]);
        let m = build(
            &["pay".into(), "cart".into()],
            &live(),
            &[],
            &gapped,
            &Scope::default(),
        );
        let cols: Vec<String> = m.columns.iter().map(ClusterId::to_string).collect();
        assert_eq!(
            cols,
            [
                "staging/us-east-1",
                "production/us-east-1",
                "production/eu-west-1"
            ]
        );
        assert!(m.rows.iter().all(|r| r.cells.len() == 3));
        assert_eq!(m.rows[0].drifted, vec!["production"]);
        let in_eu = Scope {
            env: None,
            region: Some("eu-west-1".into()),
        };
        assert_eq!(
            columns(&gapped, &in_eu),
            vec![ClusterId::new("production", "eu-west-1")]
        );
        let staging_eu = Scope {
            env: Some("staging".into()),
            region: Some("eu-west-1".into()),
        };
        assert!(columns(&gapped, &staging_eu).is_empty());
    }

    #[test]
    fn columns_follow_scope_env_major() {
        let all = columns(&topo(), &Scope::default());
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], ClusterId::new("staging", "us-east-1"));
        assert_eq!(all[3], ClusterId::new("production", "eu-west-1"));
        let prod = Scope {
            env: Some("production".into()),
            region: None,
        };
        assert!(
            columns(&topo(), &prod)
                .iter()
                .all(|c| c.env == "production")
        );
    }

    #[test]
    fn drift_is_per_environment_and_marks_cells() {
        let m = build(
            &["pay".into(), "cart".into(), "ghost".into()],
            &live(),
            &[],
            &topo(),
            &Scope::default(),
        );
        assert_eq!(m.rows[0].drifted, vec!["production"]);
        assert!(
            m.rows[1].drifted.is_empty(),
            "one region alone cannot drift"
        );
        assert_eq!(m.drift.get("production"), Some(&1));
        assert_eq!(m.drift.get("staging"), Some(&0));
        let prod_us = m.rows[0].cells[2].as_ref().expect("runs there");
        assert!(prod_us.drift);
        let staging_us = m.rows[0].cells[0].as_ref().expect("runs there");
        assert!(!staging_us.drift);
        assert!(m.rows[2].cells.iter().all(Option::is_none));
        assert_eq!(
            drift_summary(&m.drift, &topo().environments),
            "service drifted: 1 in production"
        );
        assert_eq!(
            drift_summary_short(&m.drift, &topo().environments),
            "drifted: 1 production"
        );
        assert_eq!(drift_summary_short(&BTreeMap::new(), &[]), "no drift");
    }

    #[test]
    fn cells_out_of_sync_with_git_are_marked() {
        use crate::domain::drift::DeclaredVersion;
        let mut m = build(
            &["pay".into(), "cart".into()],
            &live(),
            &[],
            &topo(),
            &Scope::default(),
        );
        let declared = GitDeclared {
            source: "git".into(),
            versions: vec![
                DeclaredVersion {
                    service: "pay".into(),
                    cluster: ClusterId::new("production", "eu-west-1"),
                    version: "1.2.0".into(),
                    path: "p".into(),
                },
                DeclaredVersion {
                    service: "pay".into(),
                    cluster: ClusterId::new("production", "us-east-1"),
                    version: "1.2.0".into(),
                    path: "p".into(),
                },
            ],
            hpas: vec![],
            ..GitDeclared::default()
        };
        mark_git(&mut m, &live(), &declared);
        let at =
            |row: usize, col: usize| m.rows[row].cells[col].as_ref().and_then(|c| c.git.clone());
        // production/eu-west-1 runs 1.1.0 where git says 1.2.0.
        assert_eq!(
            at(0, 3),
            Some(GitMark {
                version: Some("1.2.0".into()),
                hpa: None
            })
        );
        assert_eq!(at(0, 3).unwrap().describe(), "git 1.2.0");
        assert_eq!(at(0, 2), None, "in sync");
        assert_eq!(at(0, 0), None, "git says nothing");
        let json = serde_json::to_value(&m.rows[0].cells[3]).unwrap();
        assert_eq!(json["git"], serde_json::json!({"version": "1.2.0"}));
        assert!(
            serde_json::to_value(&m.rows[0].cells[2])
                .unwrap()
                .get("git")
                .is_none()
        );
    }

    #[test]
    fn locks_cover_cells() {
        let lock = Lock {
            service: "pay".into(),
            env: Some("production".into()),
            region: None,
            reason: "incident 42".into(),
            by: "sre".into(),
            at: 0,
        };
        let l = live();
        let c = cell(
            "pay",
            l.service("pay").as_ref(),
            &ClusterId::new("production", "eu-west-1"),
            std::slice::from_ref(&lock),
        );
        assert_eq!(c.and_then(|c| c.locked).as_deref(), Some("incident 42"));
        let c = cell(
            "pay",
            l.service("pay").as_ref(),
            &ClusterId::new("staging", "eu-west-1"),
            &[lock],
        );
        assert_eq!(c.and_then(|c| c.locked), None);
    }
}
