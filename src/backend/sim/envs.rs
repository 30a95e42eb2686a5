//! Ephemeral environments (C14) on the demo platform, and the demo's clock.
//!
//! An ephemeral environment is durable state like a lock: its record in
//! `DurableState::environments`, and a copy of its source's deployments (and HPAs) in
//! its regions among the other deployments, so its pods come up as the live world
//! converges. The demo's clock (the wall clock plus `clock_offset`, moved forward by
//! `sphere demo advance`) removes it when its time is up, with an audit record by
//! `system`. The watch tells of each environment before anything in it.

use std::sync::Arc;

use anyhow::Result;

use super::Sim;
use super::state::{DeploymentRec, DurableState, HpaRec};
use super::world::World;
use crate::domain::environment::{EphemeralEnv, env_target};
use crate::domain::text::rfc3339;
use crate::domain::{ClusterEvent, ClusterId, Outcome, Timestamp};

/// The actor of what the platform does by itself.
pub const SYSTEM_ACTOR: &str = "system";
/// The audit action of an environment removed because its time was up.
pub const EXPIRE_ACTION: &str = "env.expire";

/// Remove an ephemeral environment and everything in it from the durable state: its
/// deployments, HPAs and the locks scoped to it. `None` when there is no such
/// ephemeral environment; else how many deployments went.
fn remove(d: &mut DurableState, name: &str) -> Option<usize> {
    let i = d.environments.iter().position(|e| e.name == name)?;
    d.environments.remove(i);
    let before = d.deployments.len();
    d.deployments.retain(|x| x.cluster.env != name);
    d.hpas.retain(|h| h.cluster.env != name);
    d.locks.retain(|l| l.env.as_deref() != Some(name));
    Some(before - d.deployments.len())
}

impl World {
    /// Take a state file another process wrote; a moved clock is told to watchers.
    pub(crate) fn adopt(&mut self, s: DurableState) {
        let moved = s.clock_offset != self.durable.clock_offset;
        self.durable = s;
        if moved {
            self.outbox.push(ClusterEvent::Clock(
                chrono::Utc::now().timestamp() + self.durable.clock_offset,
            ));
        }
    }

    /// What a new watcher hears first: the clock when it is not the wall clock, then
    /// every ephemeral environment.
    pub(crate) fn clock_and_environments(&self) -> Vec<ClusterEvent> {
        let mut out = Vec::with_capacity(self.topology.ephemeral.len() + 1);
        if self.durable.clock_offset != 0 {
            out.push(ClusterEvent::Clock(
                chrono::Utc::now().timestamp() + self.durable.clock_offset,
            ));
        }
        out.extend(
            self.topology
                .ephemeral
                .iter()
                .cloned()
                .map(ClusterEvent::Environment),
        );
        out
    }

    /// Bring the topology in line with the durable environments, telling watchers:
    /// `EnvironmentDeleted` for the ones gone, `Environment` (then `Synced` per
    /// cluster) for new ones, `Environment` for changed ones. A new environment's
    /// clusters share its source's node pools (a namespace in the same cluster).
    pub(crate) fn sync_environments(&mut self) {
        let gone: Vec<String> = self
            .topology
            .ephemeral
            .iter()
            .filter(|e| !self.durable.environments.iter().any(|d| d.name == e.name))
            .map(|e| e.name.clone())
            .collect();
        for name in gone {
            self.topology.remove_ephemeral(&name);
            // Its clusters keep their indices (keys stay valid); their pools empty.
            for (i, c) in self.names.clusters().iter().enumerate() {
                if c.env == name
                    && let Some(pool) = self.nodes.get_mut(i)
                {
                    *pool = Arc::from(Vec::new());
                }
            }
            self.outbox.push(ClusterEvent::EnvironmentDeleted { name });
        }
        for e in self.durable.environments.clone() {
            match self.topology.ephemeral(&e.name) {
                Some(known) if *known == e => {}
                Some(_) => {
                    self.topology.set_ephemeral(e.clone());
                    self.outbox.push(ClusterEvent::Environment(e));
                }
                None => {
                    for r in &e.regions {
                        let pool = self
                            .names
                            .find_cluster(&ClusterId::new(&e.from, r))
                            .and_then(|i| self.nodes.get(i as usize).cloned())
                            .unwrap_or_else(|| Arc::from(Vec::new()));
                        let i = self.names.cluster(&ClusterId::new(&e.name, r)) as usize;
                        if self.nodes.len() <= i {
                            self.nodes.resize(i + 1, Arc::from(Vec::new()));
                        }
                        self.nodes[i] = pool;
                    }
                    self.topology.set_ephemeral(e.clone());
                    let clusters: Vec<ClusterId> = self
                        .topology
                        .regions_of(&e.name)
                        .iter()
                        .map(|r| ClusterId::new(&e.name, r))
                        .collect();
                    self.outbox.push(ClusterEvent::Environment(e));
                    self.outbox
                        .extend(clusters.into_iter().map(ClusterEvent::Synced));
                }
            }
        }
    }
}

impl Sim {
    /// Create an ephemeral environment (see `ClusterProvider::create_environment`).
    pub(crate) fn create_environment(&self, env: &EphemeralEnv) -> Result<usize> {
        self.mutate_world(|w, now| {
            let full = w.topology.with_ephemeral(&w.durable.environments);
            if full.environments.contains(&env.name) {
                anyhow::bail!("the environment {} exists already", env.name);
            }
            if !full.environments.contains(&env.from) {
                anyhow::bail!("there is no environment {}", env.from);
            }
            if env.regions.is_empty() {
                anyhow::bail!("an environment needs at least one region");
            }
            let spans = full.regions_of(&env.from);
            if let Some(r) = env.regions.iter().find(|r| !spans.contains(r)) {
                anyhow::bail!("{} does not span {r}", env.from);
            }
            let d = &mut w.durable;
            let copy =
                |c: &ClusterId| c.env == env.from && env.regions.iter().any(|r| c.region == *r);
            let deployments: Vec<DeploymentRec> = d
                .deployments
                .iter()
                .filter(|x| copy(&x.cluster))
                .map(|x| DeploymentRec {
                    service: x.service.clone(),
                    cluster: ClusterId::new(&env.name, &x.cluster.region),
                    version: x.version.clone(),
                    desired: x.desired,
                    restart_gen: 0,
                    updated_at: now,
                })
                .collect();
            let hpas: Vec<HpaRec> = d
                .hpas
                .iter()
                .filter(|h| copy(&h.cluster))
                .map(|h| HpaRec {
                    cluster: ClusterId::new(&env.name, &h.cluster.region),
                    ..h.clone()
                })
                .collect();
            let n = deployments.len();
            d.deployments.extend(deployments);
            d.hpas.extend(hpas);
            d.environments.push(env.clone());
            Ok(n)
        })?
    }

    /// Move an ephemeral environment's expiry.
    pub(crate) fn extend_environment(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        self.mutate(|d| {
            match d.environments.iter_mut().find(|e| e.name == name) {
                Some(e) => e.expires_at = expires_at,
                None => anyhow::bail!("there is no ephemeral environment {name}"),
            }
            Ok(())
        })?
    }

    /// Delete an ephemeral environment with everything in it: how many deployments
    /// went, `None` when there is no such ephemeral environment.
    pub(crate) fn delete_environment(&self, name: &str) -> Result<Option<usize>> {
        if !self
            .world()
            .durable
            .environments
            .iter()
            .any(|e| e.name == name)
        {
            return Ok(None);
        }
        self.mutate(|d| remove(d, name))
    }

    /// Remove every environment whose time is up by the demo's clock, each with an
    /// audit record by `system`; how many went.
    pub fn expire_due(&self) -> Result<usize> {
        let now = self.now();
        if !self
            .world()
            .durable
            .environments
            .iter()
            .any(|e| e.expired(now))
        {
            return Ok(0);
        }
        self.mutate_world(|w, now| {
            let due: Vec<EphemeralEnv> = w
                .durable
                .environments
                .iter()
                .filter(|e| e.expired(now))
                .cloned()
                .collect();
            for e in &due {
                let n = remove(&mut w.durable, &e.name).unwrap_or(0);
                let reason = format!(
                    "its time was up at {} (created by {} from {}; {n} deployment{} removed)",
                    rfc3339(e.expires_at),
                    e.created_by,
                    e.from,
                    if n == 1 { "" } else { "s" }
                );
                w.durable.append_audit(
                    now,
                    SYSTEM_ACTOR,
                    EXPIRE_ACTION,
                    &env_target(&e.name),
                    Some(&reason),
                    Outcome::Succeeded,
                );
            }
            due.len()
        })
    }

    /// Move the demo's clock forward by `seconds` (shared with every `sphere` on this
    /// state): environments and access grants expire as if that time had passed. What
    /// the clock reads after, and how many environments expired.
    pub fn advance_clock(&self, seconds: i64) -> Result<(Timestamp, usize)> {
        if seconds < 0 {
            anyhow::bail!("the demo's clock only moves forward");
        }
        self.mutate_world(|w, _| {
            w.durable.clock_offset = w.durable.clock_offset.saturating_add(seconds);
            w.outbox.push(ClusterEvent::Clock(
                chrono::Utc::now().timestamp() + w.durable.clock_offset,
            ));
        })?;
        let expired = self.expire_due()?;
        Ok((self.now(), expired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ClusterProvider;
    use crate::backend::sim::SimOptions;
    use crate::domain::Scope;

    fn open(path: &std::path::Path) -> Sim {
        let opts = SimOptions {
            pace: 0.0,
            state_path: Some(path.to_path_buf()),
            ..SimOptions::default()
        };
        Sim::open(opts, crate::backend::catalog::demo_catalog()).expect("open")
    }

    fn preview(sim: &Sim, name: &str, ttl: i64) -> EphemeralEnv {
        let now = sim.now();
        EphemeralEnv {
            name: name.into(),
            from: "staging".into(),
            regions: vec!["eu-west-1".into()],
            created_by: "you".into(),
            created_at: now,
            expires_at: now + ttl,
        }
    }

    #[tokio::test]
    async fn environments_persist_like_locks_and_expire_in_any_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let a = open(&path);
        let e = preview(&a, "pr-1", 3_600);
        let n = a.create_environment(&e).expect("created");
        assert!(n > 0);

        // Another process sees it, its deployments, its clusters, and its pods' nodes
        // are the source cluster's (the same cluster, another namespace).
        let b = open(&path);
        assert_eq!(b.environments().await.expect("list"), vec![e.clone()]);
        let topo = ClusterProvider::topology(&b);
        assert_eq!(topo.regions_of("pr-1"), ["eu-west-1"]);
        assert_eq!(topo.cluster_count(), 10);
        let scope = Scope {
            env: Some("pr-1".into()),
            region: None,
        };
        let snap = b.snapshot(&scope).await.expect("snapshot");
        assert_eq!(snap.deployments.len(), n);

        // A name is taken once; an unknown source or region is refused.
        assert!(a.create_environment(&e).is_err());
        let mut bad = preview(&a, "pr-2", 60);
        bad.regions = vec!["mars-1".into()];
        assert!(a.create_environment(&bad).is_err());
        assert!(b.environments().await.expect("list").len() == 1);

        // The clock moved in one process is every process's clock: a third one,
        // opened after, removes the environment at once.
        b.advance_clock(3_601).expect("advance");
        a.refresh().expect("refresh");
        let ahead = a.now() - chrono::Utc::now().timestamp();
        assert!(
            (3_600..=3_602).contains(&ahead),
            "a reads b's clock: {ahead}"
        );
        let c = open(&path);
        assert!(c.environments().await.expect("list").is_empty());
        let scope = Scope {
            env: Some("pr-1".into()),
            region: None,
        };
        assert!(
            c.snapshot(&scope)
                .await
                .expect("snap")
                .deployments
                .is_empty()
        );
        let expired: Vec<_> = c
            .world()
            .durable
            .audit
            .iter()
            .filter(|r| r.action == EXPIRE_ACTION && r.actor == SYSTEM_ACTOR)
            .cloned()
            .collect();
        assert_eq!(expired.len(), 1, "recorded once, by whoever removed it");
        assert_eq!(expired[0].target, "env:pr-1");
        assert!(a.advance_clock(-1).is_err(), "only forward");
    }

    #[tokio::test]
    async fn new_clusters_share_their_source_nodes() {
        let sim = Sim::open(
            SimOptions {
                pace: 0.0,
                ..SimOptions::default()
            },
            crate::backend::catalog::demo_catalog(),
        )
        .expect("open");
        sim.create_environment(&preview(&sim, "pr-9", 600))
            .expect("created");
        sim.tick();
        sim.tick();
        let all = sim.snapshot(&Scope::default()).await.expect("snap");
        let nodes = |env: &str| -> std::collections::BTreeSet<String> {
            all.pods
                .iter()
                .filter(|p| p.cluster.env == env && p.cluster.region == "eu-west-1")
                .map(|p| p.node.clone())
                .collect()
        };
        let mine = nodes("pr-9");
        assert!(!mine.is_empty(), "pods came up");
        let w = sim.world();
        let staging = w
            .names
            .find_cluster(&ClusterId::new("staging", "eu-west-1"))
            .expect("staging is known");
        let pool = w.nodes.get(staging as usize).expect("staging's pool");
        assert!(mine.iter().all(|n| pool.contains(n)), "{mine:?}");
    }
}
