//! The demo's [`ClusterProvider`]: topology, environments, snapshot and watch, pod
//! details, events and logs, restart, HPA bounds and new deployments.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::Sim;
use super::state::DurableState;
use super::{state, watch};
use crate::backend::ClusterProvider;
use crate::domain::environment::EphemeralEnv;
use crate::domain::{ClusterEvent, ClusterId, ClusterSnapshot, Scope, Timestamp, Topology};

#[async_trait]
impl ClusterProvider for Sim {
    fn topology(&self) -> Topology {
        if let Err(e) = self.refresh() {
            tracing::warn!("demo state refresh failed: {e:#}");
        }
        self.world().topology.clone()
    }

    fn now(&self) -> Timestamp {
        Sim::now(self)
    }

    async fn environments(&self) -> Result<Vec<EphemeralEnv>> {
        self.readable()?;
        self.refresh()?;
        self.expire_due()?;
        Ok(self.world().durable.environments.clone())
    }

    async fn create_environment(&self, env: &EphemeralEnv) -> Result<usize> {
        self.check_fault("create_environment")?;
        Sim::create_environment(self, env)
    }

    async fn extend_environment(&self, name: &str, expires_at: Timestamp) -> Result<()> {
        self.check_fault("extend_environment")?;
        Sim::extend_environment(self, name, expires_at)
    }

    async fn delete_environment(&self, name: &str) -> Result<usize> {
        self.check_fault("delete_environment")?;
        match Sim::delete_environment(self, name)? {
            Some(n) => Ok(n),
            None => anyhow::bail!("there is no ephemeral environment {name}"),
        }
    }

    async fn snapshot(&self, scope: &Scope) -> Result<ClusterSnapshot> {
        self.readable()?;
        Ok(self.world().snapshot(scope))
    }

    fn watch(&self) -> BoxStream<'static, ClusterEvent> {
        // The listing and the subscription under one lock, so no change falls between
        // them; the listing is handed to the stream as it is, its events built as they
        // are read, and later changes wait in the watcher's own queue (which merges
        // changes to one object when the reader falls behind).
        if let Some(problem) = &self.inner.unreadable {
            let unreachable: Vec<ClusterEvent> = self
                .world()
                .topology
                .clusters()
                .map(|cluster| ClusterEvent::Unreachable {
                    cluster,
                    error: problem.clone(),
                })
                .collect();
            // A watch stays open (its end means the platform is gone).
            return Box::pin(futures::stream::iter(unreachable).chain(futures::stream::pending()));
        }
        let queue = Arc::new(watch::WatchQueue::default());
        let listing = {
            let mut w = self.world();
            let listing = w.listing();
            w.watchers.push(queue.clone());
            listing
        };
        let updates =
            futures::stream::unfold(queue, |q| async move { q.next().await.map(|e| (e, q)) });
        Box::pin(futures::stream::iter(listing).chain(updates))
    }

    async fn pod_details(
        &self,
        cluster: &ClusterId,
        pod: &str,
    ) -> Result<crate::domain::pod::PodDetails> {
        Sim::pod_details(self, cluster, pod)
    }

    async fn events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<crate::domain::pod::PodEvent>> {
        Sim::pod_events(self, cluster, service, pod)
    }

    async fn logs(
        &self,
        cluster: &ClusterId,
        pod: &str,
        query: &crate::domain::pod::LogQuery,
    ) -> Result<BoxStream<'static, crate::domain::pod::LogLine>> {
        Sim::pod_logs(self, cluster, pod, query)
    }

    async fn restart(&self, service: &str, cluster: &ClusterId) -> Result<()> {
        self.check_fault("restart")?;
        if !Sim::restart(self, service, cluster)? {
            anyhow::bail!("{service} does not run in {cluster}");
        }
        Ok(())
    }

    async fn set_hpa(&self, service: &str, cluster: &ClusterId, min: u32, max: u32) -> Result<()> {
        self.check_fault("set_hpa")?;
        if !Sim::set_hpa(self, service, cluster, min, max)? {
            anyhow::bail!("{service} has no HPA in {cluster}");
        }
        Ok(())
    }

    async fn create_deployment(
        &self,
        service: &str,
        cluster: &ClusterId,
        version: &str,
        replicas: u32,
    ) -> Result<()> {
        self.remote_call(150).await;
        self.check_fault("create_deployment")?;
        if !self.world().topology.has_cluster(cluster) {
            anyhow::bail!("there is no cluster {cluster}");
        }
        let exists = |d: &DurableState| {
            d.deployments
                .iter()
                .any(|x| x.service == service && &x.cluster == cluster)
        };
        if exists(&self.world().durable) {
            return Ok(());
        }
        self.mutate_world(|w, now| {
            if exists(&w.durable) {
                return;
            }
            let (service, version) = w.durable.release(service, version);
            w.durable.deployments.push(state::DeploymentRec {
                service,
                cluster: cluster.clone(),
                version,
                desired: replicas,
                restart_gen: 0,
                updated_at: now,
            });
        })
    }
}
