//! Why a pod is broken, on Kubernetes (C18): a pod's details mapped from the Pod, the
//! core/v1 events of the pod and its owners (by `involvedObject`), and the pods' `log`
//! subresource, followed with reconnection.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::stream::{BoxStream, StreamExt};
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Event, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, LogParams};
use kube::{Client, ResourceExt};

use super::KubeClusters;
use super::envs::cluster_for;
use super::mapping::Mapping;
use super::summaries::{deployment_service, pod_summary, secs};
use crate::domain::ClusterId;
use crate::domain::pod::{
    ContainerDetails, ContainerState, EventObject, LogLine, LogQuery, OwnerRef, PodCondition,
    PodDetails, PodEvent, Resources, Termination, sort_events, split_timestamp,
};

const NS: i64 = 1_000_000_000;
/// How long a followed stream waits before it reconnects, and how many failed
/// reconnections in a row end it.
const RECONNECT_AFTER: Duration = Duration::from_millis(300);
const RECONNECT_ATTEMPTS: u32 = 10;

fn termination(t: &ContainerStateTerminated) -> Termination {
    Termination {
        reason: t.reason.clone().unwrap_or_else(|| "Terminated".to_string()),
        exit_code: t.exit_code,
        signal: t.signal.or(match t.exit_code {
            // 128 + n: the process ended on signal n.
            c @ 129..=159 => Some(c - 128),
            _ => None,
        }),
        started_at: t.started_at.as_ref().map(secs),
        finished_at: t.finished_at.as_ref().map(secs),
        message: t.message.clone(),
    }
}

fn resources(r: Option<&std::collections::BTreeMap<String, Quantity>>) -> Resources {
    Resources {
        cpu: r.and_then(|m| m.get("cpu")).map(|q| q.0.clone()),
        memory: r.and_then(|m| m.get("memory")).map(|q| q.0.clone()),
    }
}

/// A pod's details, when it belongs to a service.
pub fn pod_details(p: &Pod, cluster: &ClusterId, mapping: &Mapping) -> Option<PodDetails> {
    let summary = pod_summary(p, cluster, mapping)?;
    let status = p.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .map(|c| PodCondition {
            kind: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            since: c.last_transition_time.as_ref().map(secs),
        })
        .collect();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let containers = p
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|c| {
            let st = statuses.iter().find(|s| s.name == c.name);
            let state = match st.and_then(|s| s.state.as_ref()) {
                Some(s) if s.running.is_some() => ContainerState::Running {
                    since: s
                        .running
                        .as_ref()
                        .and_then(|r| r.started_at.as_ref())
                        .map(secs),
                },
                Some(s) if s.waiting.is_some() => ContainerState::Waiting {
                    reason: s.waiting.as_ref().and_then(|w| w.reason.clone()),
                    message: s.waiting.as_ref().and_then(|w| w.message.clone()),
                },
                Some(s) if s.terminated.is_some() => {
                    ContainerState::Terminated(termination(s.terminated.as_ref()?))
                }
                _ => ContainerState::Unknown,
            };
            let r = c.resources.as_ref();
            Some(ContainerDetails {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                state,
                ready: st.is_some_and(|s| s.ready),
                restarts: st.map_or(0, |s| s.restart_count.max(0) as u32),
                last_termination: st
                    .and_then(|s| s.last_state.as_ref()?.terminated.as_ref())
                    .map(termination),
                requests: resources(r.and_then(|r| r.requests.as_ref())),
                limits: resources(r.and_then(|r| r.limits.as_ref())),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let owner = p
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| p.metadata.owner_references.as_deref()?.first())
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        });
    Some(PodDetails {
        namespace: p.namespace().unwrap_or_else(|| "default".to_string()),
        created_at: p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(summary.started_at, secs),
        conditions,
        pod_ip: status.and_then(|s| s.pod_ip.clone()),
        host_ip: status.and_then(|s| s.host_ip.clone()),
        owner,
        containers,
        summary,
    })
}

/// An event, summarised.
pub fn event_summary(e: &Event, cluster: &ClusterId) -> PodEvent {
    let at = e
        .last_timestamp
        .as_ref()
        .map(secs)
        .or_else(|| e.event_time.as_ref().map(|t| t.0.as_second()))
        .or_else(|| e.first_timestamp.as_ref().map(secs))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(secs))
        .unwrap_or(0);
    PodEvent {
        cluster: cluster.clone(),
        at,
        kind: e.type_.clone().unwrap_or_else(|| "Normal".to_string()),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        object: EventObject {
            kind: e.involved_object.kind.clone().unwrap_or_default(),
            name: e.involved_object.name.clone().unwrap_or_default(),
        },
        count: e.count.unwrap_or(1).max(1) as u32,
    }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl KubeClusters {
    /// The pod `name` of `cluster` (an ephemeral environment's in its namespace of the
    /// region's cluster): a client to its cluster, and the pod.
    async fn find_pod(&self, cluster: &ClusterId, name: &str) -> Result<(Client, Pod)> {
        let conns: Vec<_> = self
            .inner
            .conns
            .iter()
            .filter(|c| c.id.region == cluster.region)
            .collect();
        if conns.is_empty() {
            bail!("cluster {cluster} is not configured in [[clusters]]");
        }
        for conn in conns {
            let list = self
                .timed(cluster, &format!("reading pod {name}"), async {
                    conn.api::<Pod>()?
                        .list(&ListParams::default().fields(&format!("metadata.name={name}")))
                        .await
                        .context("listing pods")
                })
                .await?;
            if let Some(p) = list
                .items
                .into_iter()
                .find(|p| cluster_for(&conn.id, p.metadata.namespace.as_deref()) == *cluster)
            {
                return Ok((conn.client()?.clone(), p));
            }
        }
        bail!("there is no pod {name} in {cluster}")
    }

    pub(super) async fn describe_pod(&self, cluster: &ClusterId, name: &str) -> Result<PodDetails> {
        let (_, p) = self.find_pod(cluster, name).await?;
        let mapping = self.mapping().await;
        pod_details(&p, cluster, &mapping)
            .ok_or_else(|| anyhow!("pod {name} in {cluster} belongs to no service"))
    }

    /// Events of the service's deployments, replica sets and pods in `cluster` (or of
    /// one pod, its replica set and the service's deployments), newest first.
    pub(super) async fn read_events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<PodEvent>> {
        let mapping = self.mapping().await;
        // (namespace, client) and the objects whose events count.
        let mut names: BTreeSet<(String, String)> = BTreeSet::new();
        let mut places: Vec<(String, Client)> = Vec::new();
        let add_pod = |p: &Pod,
                       client: &Client,
                       names: &mut BTreeSet<(String, String)>,
                       places: &mut Vec<(String, Client)>| {
            let ns = p.namespace().unwrap_or_else(|| "default".to_string());
            names.insert(("Pod".into(), p.name_any()));
            for o in p.metadata.owner_references.as_deref().unwrap_or(&[]) {
                names.insert((o.kind.clone(), o.name.clone()));
            }
            if !places.iter().any(|(n, _)| *n == ns) {
                places.push((ns, client.clone()));
            }
        };
        match pod {
            Some(name) => {
                let (client, p) = self.find_pod(cluster, name).await?;
                if mapping.service(p.metadata.labels.as_ref()).as_deref() != Some(service) {
                    bail!("pod {name} in {cluster} is not a pod of {service}");
                }
                add_pod(&p, &client, &mut names, &mut places);
            }
            None => {
                for conn in self
                    .inner
                    .conns
                    .iter()
                    .filter(|c| c.id.region == cluster.region)
                {
                    let list = self
                        .timed(cluster, &format!("listing the pods of {service}"), async {
                            conn.api::<Pod>()?
                                .list(&ListParams::default().labels(&mapping.selector_of(service)))
                                .await
                                .context("listing pods")
                        })
                        .await?;
                    for p in list.items.iter().filter(|p| {
                        cluster_for(&conn.id, p.metadata.namespace.as_deref()) == *cluster
                            && mapping.service(p.metadata.labels.as_ref()).as_deref()
                                == Some(service)
                    }) {
                        add_pod(p, conn.client()?, &mut names, &mut places);
                    }
                    // The cluster's own namespace, where the deployment's events are
                    // even when no pod runs.
                    if conn.id == *cluster
                        && let Some(ns) = &conn.namespace
                        && !places.iter().any(|(n, _)| n == ns)
                    {
                        places.push((ns.clone(), conn.client()?.clone()));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (ns, client) in places {
            let (deps, events) = self
                .timed(
                    cluster,
                    &format!("reading the events of {service}"),
                    async {
                        let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
                        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
                        futures::try_join!(
                            async {
                                deps.list(&ListParams::default())
                                    .await
                                    .context("listing deployments")
                            },
                            async {
                                events
                                    .list(&ListParams::default())
                                    .await
                                    .context("listing events")
                            },
                        )
                    },
                )
                .await?;
            let mut wanted = names.clone();
            for d in &deps.items {
                if deployment_service(d, &mapping).as_deref() == Some(service) {
                    wanted.insert(("Deployment".into(), d.name_any()));
                }
            }
            out.extend(
                events
                    .items
                    .iter()
                    .filter(|e| {
                        let o = &e.involved_object;
                        wanted.contains(&(
                            o.kind.clone().unwrap_or_default(),
                            o.name.clone().unwrap_or_default(),
                        ))
                    })
                    .map(|e| event_summary(e, cluster)),
            );
        }
        sort_events(&mut out);
        Ok(out)
    }

    /// One pod's log lines (see [`crate::backend::ClusterProvider::logs`]).
    pub(super) async fn open_logs(
        &self,
        cluster: &ClusterId,
        name: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, LogLine>> {
        let (client, p) = self.find_pod(cluster, name).await?;
        let ns = p.namespace().unwrap_or_else(|| "default".to_string());
        let containers: Vec<String> = p
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let container = match &query.container {
            Some(c) if containers.contains(c) => c.clone(),
            Some(c) => bail!(
                "container {c} is not valid for pod {name}: its containers are {}",
                containers.join(", ")
            ),
            None => containers
                .first()
                .cloned()
                .ok_or_else(|| anyhow!("pod {name} has no containers"))?,
        };
        let api: Api<Pod> = Api::namespaced(client, &ns);
        let follow = query.follow && !query.previous;
        let first = LogParams {
            container: Some(container.clone()),
            follow,
            previous: query.previous,
            since_seconds: query.since_seconds.filter(|_| query.after_ns.is_none()),
            since_time: query.after_ns.map(floor_second),
            tail_lines: query.tail.map(i64::from),
            timestamps: true,
            ..LogParams::default()
        };
        let lines = self
            .timed(cluster, &format!("reading the logs of pod {name}"), async {
                Ok(open(&api, name, &first).await?)
            })
            .await?;
        let state = Follow {
            api,
            cluster: cluster.clone(),
            pod: name.to_string(),
            uid: p.metadata.uid.clone(),
            container,
            follow,
            lines: Some(lines),
            last_ns: query.after_ns,
            skip_to: query.after_ns,
            done: false,
        };
        Ok(futures::stream::unfold(state, Follow::next).boxed())
    }
}

/// `at` (nanoseconds) down to its second, as `sinceTime` takes it.
fn floor_second(at: i64) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(at.div_euclid(NS))
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

type Lines = BoxStream<'static, std::io::Result<String>>;

async fn open(api: &Api<Pod>, name: &str, lp: &LogParams) -> kube::Result<Lines> {
    let reader = api.log_stream(name, lp).await?;
    Ok(reader.lines().boxed())
}

/// A followed log: the open connection, where it got to, and what comes next.
struct Follow {
    api: Api<Pod>,
    cluster: ClusterId,
    pod: String,
    uid: Option<String>,
    container: String,
    follow: bool,
    lines: Option<Lines>,
    /// The newest line told.
    last_ns: Option<i64>,
    /// After a reconnection: lines up to this instant were told already.
    skip_to: Option<i64>,
    done: bool,
}

impl Follow {
    fn notice(&self, text: &str) -> LogLine {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        LogLine::notice(
            now.max(self.last_ns.unwrap_or(0)),
            &self.cluster,
            &self.pod,
            text,
        )
    }

    async fn next(mut self) -> Option<(LogLine, Follow)> {
        if self.done {
            return None;
        }
        loop {
            let got = match &mut self.lines {
                Some(lines) => lines.try_next().await,
                None => Ok(None),
            };
            match got {
                Ok(Some(raw)) => {
                    let (at, text) = match split_timestamp(&raw) {
                        Some((at, text)) => (at, text),
                        None => (self.last_ns.unwrap_or(0), raw.as_str()),
                    };
                    if self.skip_to.is_some_and(|s| at <= s) {
                        continue;
                    }
                    self.skip_to = None;
                    self.last_ns = Some(at);
                    let line = LogLine::new(at, &self.cluster, &self.pod, &self.container, text);
                    return Some((line, self));
                }
                Ok(None) | Err(_) if !self.follow => {
                    if let Err(e) = got {
                        let line =
                            self.notice(&format!("log stream of pod {} broke: {e}", self.pod));
                        self.done = true;
                        return Some((line, self));
                    }
                    return None;
                }
                Ok(None) | Err(_) => {
                    self.lines = None;
                    match self.reconnect().await {
                        Ok(()) => continue,
                        Err(why) => {
                            self.done = true;
                            let line = self.notice(&why);
                            return Some((line, self));
                        }
                    }
                }
            }
        }
    }

    /// Open the followed stream again after the newest line told. An error saying why
    /// following ends (the pod went away, or the server keeps refusing).
    async fn reconnect(&mut self) -> Result<(), String> {
        let mut failures = 0;
        loop {
            tokio::time::sleep(RECONNECT_AFTER).await;
            match self.api.get_opt(&self.pod).await {
                Ok(None) => return Err(format!("pod {} went away; the stream ends", self.pod)),
                Ok(Some(p)) if p.metadata.uid != self.uid => {
                    return Err(format!(
                        "pod {} went away (a new pod of that name replaced it); the stream ends",
                        self.pod
                    ));
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    failures += 1;
                    if failures >= RECONNECT_ATTEMPTS {
                        return Err(format!("log stream of pod {} lost: {e}", self.pod));
                    }
                    continue;
                }
            }
            let lp = LogParams {
                container: Some(self.container.clone()),
                follow: true,
                since_time: self.last_ns.map(floor_second),
                // Nothing told yet: start where the server says "now".
                tail_lines: self.last_ns.is_none().then_some(0),
                timestamps: true,
                ..LogParams::default()
            };
            match open(&self.api, &self.pod, &lp).await {
                Ok(lines) => {
                    tracing::debug!(pod = %self.pod, "log stream reconnected");
                    self.lines = Some(lines);
                    self.skip_to = self.last_ns;
                    return Ok(());
                }
                Err(e) if not_found(&e) => {
                    return Err(format!("pod {} went away; the stream ends", self.pod));
                }
                Err(e) => {
                    failures += 1;
                    if failures >= RECONNECT_ATTEMPTS {
                        return Err(format!("log stream of pod {} lost: {e}", self.pod));
                    }
                }
            }
        }
    }
}
