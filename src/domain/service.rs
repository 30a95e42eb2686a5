//! The catalog's row model: one row per Component, with its live status across the
//! clusters in scope. Rows are built when data arrives, never per frame.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::catalog::{Catalog, Entity, Kind, RelationKind};
use super::platform::{
    ClusterEvent, ClusterId, DeploymentSummary, HpaSummary, PodSummary, RolloutState, Scope,
};
use super::text::sanitize;

/// One Component as the catalog table shows it. Every string is already sanitised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRow {
    pub name: String,
    pub owner: String,
    pub system: String,
    #[serde(rename = "type")]
    pub spec_type: String,
    pub lifecycle: String,
    pub description: String,
    /// Lower-cased `name owner system type` for the fuzzy filter.
    #[serde(skip)]
    pub haystack: String,
    pub live: LiveStatus,
}

/// What is running for one service in the clusters in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveStatus {
    /// Regions (in scope) where the service has a deployment, in topology order.
    pub regions: Vec<String>,
    pub deployments: u32,
    pub desired: u32,
    pub ready: u32,
    pub rolling: u32,
    pub stalled: u32,
    pub crash_looping: u32,
}

/// The single word the table shows for a service's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Nothing deployed in scope.
    Absent,
    Healthy,
    Rolling,
    Degraded,
    CrashLoop,
}

impl LiveStatus {
    pub fn health(&self) -> Health {
        if self.deployments == 0 {
            Health::Absent
        } else if self.crash_looping > 0 {
            Health::CrashLoop
        } else if self.stalled > 0 || self.ready < self.desired && self.rolling == 0 {
            Health::Degraded
        } else if self.rolling > 0 {
            Health::Rolling
        } else {
            Health::Healthy
        }
    }
}

/// Build the rows for every Component of the catalog, in catalog order.
pub fn rows_from_catalog(catalog: &Catalog) -> Vec<ServiceRow> {
    catalog
        .of_kind(&Kind::Component)
        .map(row_for_entity)
        .collect()
}

fn row_for_entity(e: &Entity) -> ServiceRow {
    let name = sanitize(&e.name).into_owned();
    let owner = e
        .owner
        .as_ref()
        .map(|r| sanitize(&r.name).into_owned())
        .unwrap_or_default();
    let system = e
        .part_of
        .as_ref()
        .or_else(|| e.related(RelationKind::PartOf).next())
        .map(|r| sanitize(&r.name).into_owned())
        .unwrap_or_default();
    let spec_type = sanitize(e.spec_type.as_deref().unwrap_or("")).into_owned();
    let lifecycle = sanitize(e.lifecycle.as_deref().unwrap_or("")).into_owned();
    let description = sanitize(e.description.as_deref().unwrap_or("")).into_owned();
    let haystack = format!("{name} {owner} {system} {spec_type}").to_lowercase();
    ServiceRow {
        name,
        owner,
        system,
        spec_type,
        lifecycle,
        description,
        haystack,
        live: LiveStatus::default(),
    }
}

/// What runs for one service, per cluster.
#[derive(Debug, Default, Clone)]
pub struct ServiceLive {
    pub deployments: BTreeMap<ClusterId, DeploymentSummary>,
    pub hpas: BTreeMap<ClusterId, HpaSummary>,
    /// Crash-looping pods per cluster, kept in step with the pods map.
    pub crash_loops: BTreeMap<ClusterId, u32>,
    /// Keys into `LiveState::pods` of this service's pods, in (cluster, name) order.
    pub pods: std::collections::BTreeSet<(ClusterId, String)>,
}

/// Summaries of everything running, indexed for incremental updates. Holds only
/// summaries: a pod is a few dozen bytes.
#[derive(Debug, Default)]
pub struct LiveState {
    pub services: HashMap<String, ServiceLive>,
    pub pods: HashMap<(ClusterId, String), PodSummary>,
    /// Clusters that reported an error, with the error.
    pub unreachable: BTreeMap<ClusterId, String>,
    /// Clusters whose initial listing is complete.
    pub synced: Vec<ClusterId>,
}

impl LiveState {
    /// Apply one watch event. Returns the service whose status may have changed.
    pub fn apply(&mut self, ev: ClusterEvent) -> Option<String> {
        match ev {
            ClusterEvent::Deployment(d) => {
                let svc = d.service.clone();
                self.unreachable.remove(&d.cluster);
                self.services
                    .entry(svc.clone())
                    .or_default()
                    .deployments
                    .insert(d.cluster.clone(), d);
                Some(svc)
            }
            ClusterEvent::DeploymentDeleted { cluster, service } => {
                if let Some(s) = self.services.get_mut(&service) {
                    s.deployments.remove(&cluster);
                }
                Some(service)
            }
            ClusterEvent::Hpa(h) => {
                self.services
                    .entry(h.service.clone())
                    .or_default()
                    .hpas
                    .insert(h.cluster.clone(), h);
                None
            }
            ClusterEvent::Pod(p) => {
                let key = (p.cluster.clone(), p.name.clone());
                let now = p.crash_looping();
                let (svc, cluster) = (p.service.clone(), p.cluster.clone());
                let old = self.pods.insert(key.clone(), p);
                if old.is_none() {
                    self.services
                        .entry(svc.clone())
                        .or_default()
                        .pods
                        .insert(key);
                }
                let was = old.is_some_and(|o| o.crash_looping());
                if now == was {
                    return None;
                }
                self.adjust_crash(&svc, cluster, now);
                Some(svc)
            }
            ClusterEvent::PodDeleted { cluster, name } => {
                let key = (cluster, name);
                let old = self.pods.remove(&key)?;
                if let Some(s) = self.services.get_mut(&old.service) {
                    s.pods.remove(&key);
                }
                if !old.crash_looping() {
                    return None;
                }
                self.adjust_crash(&old.service, old.cluster.clone(), false);
                Some(old.service)
            }
            ClusterEvent::Synced(c) => {
                if !self.synced.contains(&c) {
                    self.synced.push(c);
                }
                None
            }
            ClusterEvent::Unreachable { cluster, error } => {
                self.unreachable
                    .insert(cluster, sanitize(&error).into_owned());
                None
            }
            // The topology's and the clock's business (the model keeps them).
            ClusterEvent::Environment(_)
            | ClusterEvent::EnvironmentDeleted { .. }
            | ClusterEvent::Clock(_) => None,
        }
    }

    fn adjust_crash(&mut self, service: &str, cluster: ClusterId, up: bool) {
        let n = self
            .services
            .entry(service.to_string())
            .or_default()
            .crash_loops
            .entry(cluster)
            .or_default();
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
    }

    /// One service's pods in a scope, in (cluster, name) order.
    pub fn pods_of<'a>(
        &'a self,
        service: &str,
        scope: &'a Scope,
    ) -> impl Iterator<Item = &'a PodSummary> + 'a {
        self.services
            .get(service)
            .into_iter()
            .flat_map(|s| s.pods.iter())
            .filter(move |k| scope.contains(&k.0))
            .filter_map(move |k| self.pods.get(k))
    }

    /// The live status of one service within a scope, regions in `region_order`.
    pub fn status(&self, service: &str, scope: &Scope, region_order: &[String]) -> LiveStatus {
        let mut st = LiveStatus::default();
        let Some(live) = self.services.get(service) else {
            return st;
        };
        let mut present = vec![false; region_order.len()];
        for (cluster, d) in live.deployments.iter().filter(|(c, _)| scope.contains(c)) {
            st.deployments += 1;
            st.desired += d.desired;
            st.ready += d.ready;
            match d.rollout {
                RolloutState::Complete => {}
                RolloutState::Progressing => st.rolling += 1,
                RolloutState::Stalled => st.stalled += 1,
            }
            if let Some(i) = region_order.iter().position(|r| r == &cluster.region) {
                present[i] = true;
            }
            st.crash_looping += live.crash_loops.get(cluster).copied().unwrap_or(0);
        }
        st.regions = region_order
            .iter()
            .zip(present)
            .filter(|(_, p)| *p)
            .map(|(r, _)| r.clone())
            .collect();
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::platform::PodPhase;

    fn dep(svc: &str, env: &str, region: &str, desired: u32, ready: u32) -> ClusterEvent {
        ClusterEvent::Deployment(DeploymentSummary {
            service: svc.into(),
            cluster: ClusterId::new(env, region),
            version: "1.0.0".into(),
            desired,
            ready,
            updated: desired,
            rollout: RolloutState::Complete,
            updated_at: 0,
        })
    }

    fn pod(svc: &str, name: &str, crash: bool) -> ClusterEvent {
        ClusterEvent::Pod(PodSummary {
            name: name.into(),
            service: svc.into(),
            cluster: ClusterId::new("production", "eu-west-1"),
            phase: PodPhase::Running,
            ready: !crash,
            restarts: 0,
            started_at: 0,
            node: "n1".into(),
            version: "1.0.0".into(),
            waiting: crash.then(|| "CrashLoopBackOff".to_string()),
            last_termination: None,
        })
    }

    fn regions() -> Vec<String> {
        vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ]
    }

    #[test]
    fn status_aggregates_within_scope_and_orders_regions() {
        let mut s = LiveState::default();
        s.apply(dep("pay", "production", "eu-west-1", 3, 3));
        s.apply(dep("pay", "production", "us-east-1", 3, 2));
        s.apply(dep("pay", "dev", "ap-southeast-2", 1, 1));
        let all = s.status("pay", &Scope::default(), &regions());
        assert_eq!(all.deployments, 3);
        assert_eq!((all.desired, all.ready), (7, 6));
        assert_eq!(all.regions, regions());
        let prod = Scope {
            env: Some("production".into()),
            region: None,
        };
        let st = s.status("pay", &prod, &regions());
        assert_eq!(st.regions, vec!["us-east-1", "eu-west-1"]);
        assert_eq!(st.health(), Health::Degraded);
        assert_eq!(s.status("nope", &prod, &regions()).health(), Health::Absent);
    }

    #[test]
    fn crash_loop_counter_follows_pod_updates_and_deletes() {
        let mut s = LiveState::default();
        s.apply(dep("pay", "production", "eu-west-1", 2, 1));
        assert_eq!(s.apply(pod("pay", "p1", true)), Some("pay".into()));
        // The same state again changes nothing.
        assert_eq!(s.apply(pod("pay", "p1", true)), None);
        s.apply(pod("pay", "p2", false));
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).crash_looping,
            1
        );
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).health(),
            Health::CrashLoop
        );
        s.apply(pod("pay", "p1", false));
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).crash_looping,
            0
        );
        s.apply(pod("pay", "p2", true));
        s.apply(ClusterEvent::PodDeleted {
            cluster: ClusterId::new("production", "eu-west-1"),
            name: "p2".into(),
        });
        assert_eq!(
            s.status("pay", &Scope::default(), &regions()).crash_looping,
            0
        );
    }
}
