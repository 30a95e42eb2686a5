//! Why a demo pod is broken (C18): its details, events and logs, derived
//! deterministically from the seed, the pod as the world holds it and the demo clock,
//! so every process on the same state tells the same story, and the logs grow as the
//! clock moves.
//!
//! The model: a pod's container runs in instances. A pod without restarts has one,
//! since the pod started. A pod that restarted now and then ran a first instance that
//! ended (OOMKilled or killed after failed liveness probes) and runs the next one. A
//! crash-looping pod starts an instance every cycle (a minute or few, per pod), which
//! runs less than a minute before it ends the same way: the current instance is the
//! last one started, the previous the one before it.
//!
//! Each instance writes its start-up lines, then a line every few seconds (requests,
//! now and then a warning), and, when it ends, the last lines leading to its end.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::{Result, bail};
use futures::stream::BoxStream;

use super::Sim;
use super::world::World;
use crate::domain::pod::{
    ContainerDetails, ContainerState, EventObject, LogLine, LogQuery, OwnerRef, PodCondition,
    PodDetails, PodEvent, Resources, Termination, sort_events,
};
use crate::domain::{ClusterId, PodPhase, PodSummary, Scope, Timestamp};

/// The one container of every demo pod.
pub const CONTAINER: &str = "app";
const NS: i64 = 1_000_000_000;

fn hash(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// The service a pod name belongs to: `<service>-<replica-set hash>-<suffix>`.
fn service_of_pod(pod: &str) -> Option<&str> {
    let (rest, _) = pod.rsplit_once('-')?;
    let (service, _) = rest.rsplit_once('-')?;
    Some(service)
}

/// The ReplicaSet that owns a pod: its name without the last part.
fn replica_set_of(pod: &str) -> &str {
    pod.rsplit_once('-').map_or(pod, |(rs, _)| rs)
}

impl World {
    /// One pod as a watcher would see it, when it exists.
    pub(crate) fn pod_summary(&self, cluster: &ClusterId, pod: &str) -> Option<PodSummary> {
        let service = service_of_pod(pod)?;
        let k = self.names.find(cluster, service)?;
        let l = self.live.get(&k)?;
        let p = l.pods.iter().find(|p| p.name(service) == pod)?;
        let pool = self
            .nodes
            .get(k.cluster as usize)
            .map_or(&[][..], |n| &n[..]);
        Some(p.summary(&self.names, k, pool))
    }
}

/// Why an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    OomKilled,
    /// Killed after its liveness probe failed.
    Probe,
}

/// One run of the container: `[start, end)`, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instance {
    start: Timestamp,
    end: Option<(Timestamp, End)>,
}

/// A demo pod's story, as far as the clock has got.
#[derive(Debug, Clone)]
struct Story {
    seed: u64,
    pod: PodSummary,
    /// Seconds between two request lines.
    period: i64,
}

impl Story {
    fn new(seed: u64, pod: PodSummary) -> Story {
        let h = hash((seed, &pod.name, "period"));
        Story {
            seed,
            period: 2 + (h % 5) as i64,
            pod,
        }
    }

    fn h(&self, what: &str) -> u64 {
        hash((self.seed, &self.pod.name, what))
    }

    fn end_kind(&self) -> End {
        match self.pod.last_termination.as_deref() {
            Some("OOMKilled") => End::OomKilled,
            _ => End::Probe,
        }
    }

    /// A crash-looping pod's cycle: (seconds from one start to the next, seconds an
    /// instance runs).
    fn cycle(&self) -> (i64, i64) {
        let h = self.h("cycle");
        (90 + (h % 120) as i64, 35 + ((h >> 8) % 30) as i64)
    }

    /// The current instance and the previous one, at `now`.
    fn instances(&self, now: Timestamp) -> (Instance, Option<Instance>) {
        let start = self.pod.started_at;
        if self.pod.crash_looping() {
            let (cycle, run) = self.cycle();
            let k = ((now - start).max(0) / cycle).max(1);
            let at = |k: i64| start + k * cycle;
            let ended = |s: Timestamp| Some((s + run, self.end_kind()));
            let current = Instance {
                start: at(k),
                end: if now >= at(k) + run {
                    ended(at(k))
                } else {
                    None
                },
            };
            let previous = Instance {
                start: at(k - 1),
                end: ended(at(k - 1)),
            };
            return (current, Some(previous));
        }
        if self.pod.restarts == 0 || self.pod.last_termination.is_none() {
            return (Instance { start, end: None }, None);
        }
        // The restart happened a while after the pod started, and before now.
        let age = (now - start).max(2);
        let end = start
            + 1
            + (self.h("restart") as i64)
                .rem_euclid(age - 1)
                .min(7 * 86_400);
        let previous = Instance {
            start,
            end: Some((end, self.end_kind())),
        };
        (
            Instance {
                start: end + 8,
                end: None,
            },
            Some(previous),
        )
    }

    fn termination(&self, i: &Instance) -> Option<Termination> {
        let (at, end) = i.end?;
        Some(match end {
            End::OomKilled => Termination {
                reason: "OOMKilled".into(),
                exit_code: 137,
                signal: Some(9),
                started_at: Some(i.start),
                finished_at: Some(at),
                message: None,
            },
            End::Probe => Termination {
                reason: "Error".into(),
                exit_code: 143,
                signal: Some(15),
                started_at: Some(i.start),
                finished_at: Some(at),
                message: Some("killed after the liveness probe failed 3 times".into()),
            },
        })
    }

    fn memory_limit_mi(&self) -> u64 {
        [256, 512, 768, 1024][(self.h("mem") % 4) as usize]
    }

    fn details(&self, now: Timestamp) -> PodDetails {
        let p = &self.pod;
        let (current, previous) = self.instances(now);
        let ip = self.h("ip");
        let mem = self.memory_limit_mi();
        let cpu = [100, 250, 500][(self.h("cpu") % 3) as usize];
        let state = if p.crash_looping() {
            ContainerState::Waiting {
                reason: Some("CrashLoopBackOff".into()),
                message: Some(format!(
                    "back-off restarting failed container {CONTAINER} in pod {}",
                    p.name
                )),
            }
        } else if p.phase == PodPhase::Pending {
            ContainerState::Waiting {
                reason: Some("ContainerCreating".into()),
                message: None,
            }
        } else {
            ContainerState::Running {
                since: Some(current.start),
            }
        };
        let ready_since = Some(current.start + 10);
        let cond = |kind: &str, ok: bool, since: Option<Timestamp>| PodCondition {
            kind: kind.into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: (!ok).then(|| "ContainersNotReady".to_string()),
            message: (!ok).then(|| format!("containers with unready status: [{CONTAINER}]")),
            since,
        };
        PodDetails {
            summary: p.clone(),
            namespace: p.service.clone(),
            created_at: p.started_at,
            conditions: vec![
                cond("PodScheduled", true, Some(p.started_at)),
                cond("Initialized", true, Some(p.started_at + 1)),
                cond("ContainersReady", p.ready, ready_since),
                cond("Ready", p.ready, ready_since),
            ],
            pod_ip: (p.phase != PodPhase::Pending).then(|| {
                format!(
                    "10.{}.{}.{}",
                    100 + ip % 50,
                    (ip >> 8) % 256,
                    1 + (ip >> 16) % 254
                )
            }),
            host_ip: Some(host_ip(&p.node)),
            owner: Some(OwnerRef {
                kind: "ReplicaSet".into(),
                name: replica_set_of(&p.name).to_string(),
            }),
            containers: vec![ContainerDetails {
                name: CONTAINER.into(),
                image: format!("registry.demo.internal/{}:{}", p.service, p.version),
                state,
                ready: p.ready,
                restarts: p.restarts,
                last_termination: previous.as_ref().and_then(|i| self.termination(i)),
                requests: Resources {
                    cpu: Some(format!("{cpu}m")),
                    memory: Some(format!("{}Mi", mem / 2)),
                },
                limits: Resources {
                    cpu: Some(format!("{}m", cpu * 2)),
                    memory: Some(format!("{mem}Mi")),
                },
            }],
        }
    }

    /// The pod's events up to `now` (newest first is the caller's sort).
    fn events(&self, now: Timestamp) -> Vec<PodEvent> {
        let p = &self.pod;
        let pod_obj = EventObject {
            kind: "Pod".into(),
            name: p.name.clone(),
        };
        let ev = |at: Timestamp, kind: &str, reason: &str, message: String, count: u32| PodEvent {
            cluster: p.cluster.clone(),
            at,
            kind: kind.into(),
            reason: reason.into(),
            message,
            object: pod_obj.clone(),
            count,
        };
        let image = format!("registry.demo.internal/{}:{}", p.service, p.version);
        let mut out = vec![
            ev(
                p.started_at,
                "Normal",
                "Scheduled",
                format!(
                    "Successfully assigned {}/{} to {}",
                    p.service, p.name, p.node
                ),
                1,
            ),
            ev(
                p.started_at + 1,
                "Normal",
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
                1,
            ),
            ev(
                p.started_at + 1,
                "Normal",
                "Created",
                format!("Created container {CONTAINER}"),
                1,
            ),
            ev(
                p.started_at + 2,
                "Normal",
                "Started",
                format!("Started container {CONTAINER}"),
                1,
            ),
        ];
        let (current, previous) = self.instances(now);
        if let Some(prev) = previous
            && let Some((end, kind)) = prev.end
        {
            if kind == End::Probe {
                out.push(ev(
                    end - 1,
                    "Warning",
                    "Unhealthy",
                    "Liveness probe failed: HTTP probe failed with statuscode: 503".into(),
                    3 * p.restarts.max(1),
                ));
                out.push(ev(
                    end,
                    "Normal",
                    "Killing",
                    format!("Container {CONTAINER} failed liveness probe, will be restarted"),
                    p.restarts.max(1),
                ));
            }
            if p.crash_looping() {
                out.push(ev(
                    current.end.map_or(end, |(e, _)| e) + 1,
                    "Warning",
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {CONTAINER} in pod {}",
                        p.name
                    ),
                    p.restarts.max(1),
                ));
            }
        }
        if !p.ready && !p.crash_looping() && p.phase == PodPhase::Running {
            out.push(ev(
                now.max(p.started_at + 3),
                "Warning",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                1,
            ));
        }
        out.retain(|e| e.at <= now);
        out
    }

    /// The lines instance `i` wrote from `from_ns` (exclusive) up to `until` (seconds).
    fn lines(&self, i: &Instance, from_ns: Option<i64>, until: Timestamp) -> Vec<(i64, String)> {
        let stop = i.end.map_or(until, |(e, _)| e.min(until));
        let mut out = Vec::new();
        let after = |at: i64| from_ns.is_none_or(|f| at > f);
        let p = &self.pod;
        let startup = [
            format!("Starting {} {} (pid 1)", p.service, p.version),
            "Loading configuration from /etc/app/config.yaml".to_string(),
            "Connected to database (pool size 10)".to_string(),
            "Listening on :8080".to_string(),
        ];
        for (n, text) in startup.into_iter().enumerate() {
            let at = i.start * NS + n as i64 * 150_000_000;
            if i.start <= stop && after(at) {
                out.push((at, text));
            }
        }
        // Request lines, from the one the window starts at.
        let first = i.start + 2;
        let tail_start = i.end.map(|(e, _)| e - 4);
        let lo = from_ns.map_or(0, |f| ((f.div_euclid(NS) - first) / self.period - 1).max(0));
        let mut n = lo;
        loop {
            let t = first + n * self.period;
            if t >= stop || tail_start.is_some_and(|ts| t >= ts) {
                break;
            }
            let h = hash((self.seed, &p.name, i.start, n));
            let at = t * NS + (h % 900) as i64 * 1_000_000;
            if after(at) {
                out.push((at, self.request_line(h, i, t)));
            }
            n += 1;
        }
        if let Some((end, kind)) = i.end {
            let last: Vec<String> = match kind {
                End::OomKilled => {
                    let lim = self.memory_limit_mi();
                    vec![
                        format!("WARN heap usage {}Mi of {lim}Mi (91%)", lim * 91 / 100),
                        format!(
                            "WARN heap usage {}Mi of {lim}Mi (97%); GC overhead 64%",
                            lim * 97 / 100
                        ),
                        "ERROR allocation of 64Mi for the report cache failed".to_string(),
                        "ERROR java.lang.OutOfMemoryError: Java heap space".to_string(),
                    ]
                }
                End::Probe => vec![
                    "WARN request queue depth 512; worker pool saturated".to_string(),
                    "WARN GET /healthz took 4.8s (liveness timeout 5s)".to_string(),
                    "ERROR GET /healthz -> 503 (database connection pool exhausted)".to_string(),
                    "INFO received SIGTERM, shutting down".to_string(),
                ],
            };
            for (n, text) in last.into_iter().enumerate() {
                let t = end - 4 + n as i64;
                let at = t * NS + 500_000_000;
                if t <= until && after(at) {
                    out.push((at, text));
                }
            }
        }
        out
    }

    fn request_line(&self, h: u64, i: &Instance, t: Timestamp) -> String {
        let paths = [
            "/api/v1/orders",
            "/api/v1/items",
            "/api/v1/users/me",
            "/healthz",
            "/metrics",
        ];
        let path = paths[(h >> 12) as usize % paths.len()];
        let ms = 3 + (h >> 20) % 180;
        match (h >> 32) % 20 {
            0 => format!("WARN slow query on {path}: {}ms", 800 + ms * 10),
            1 if i.end.is_some_and(|(e, _)| e - t < 20) => {
                format!("WARN heap usage rising: {}%", 70 + (h >> 40) % 20)
            }
            2 => format!("INFO GET {path} 404 {ms}ms"),
            _ => format!("INFO GET {path} 200 {ms}ms"),
        }
    }
}

/// A node's address, from its name (`ip-10-12-3-4.ec2.internal` → `10.12.3.4`).
fn host_ip(node: &str) -> String {
    node.strip_prefix("ip-")
        .and_then(|r| r.split('.').next())
        .map(|r| r.replace('-', "."))
        .unwrap_or_else(|| "10.0.0.1".to_string())
}

/// How often a followed demo log looks for new lines (the demo clock moves by the
/// second).
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

impl Sim {
    fn story(&self, cluster: &ClusterId, pod: &str) -> Result<Story> {
        self.readable()?;
        let found = self.world().pod_summary(cluster, pod);
        match found {
            Some(p) => Ok(Story::new(self.inner.opts.seed, p)),
            None => bail!("there is no pod {pod} in {cluster}"),
        }
    }

    pub(crate) fn pod_details(&self, cluster: &ClusterId, pod: &str) -> Result<PodDetails> {
        Ok(self.story(cluster, pod)?.details(self.now()))
    }

    pub(crate) fn pod_events(
        &self,
        cluster: &ClusterId,
        service: &str,
        pod: Option<&str>,
    ) -> Result<Vec<PodEvent>> {
        self.readable()?;
        let now = self.now();
        let seed = self.inner.opts.seed;
        let scope = Scope {
            env: Some(cluster.env.to_string()),
            region: Some(cluster.region.to_string()),
        };
        let snap = self.world().snapshot(&scope);
        let pods: Vec<&PodSummary> = snap
            .pods
            .iter()
            .filter(|p| p.service == service && pod.is_none_or(|n| p.name == n))
            .collect();
        if let Some(n) = pod
            && pods.is_empty()
        {
            bail!("there is no pod {n} of {service} in {cluster}");
        }
        let mut out: Vec<PodEvent> = pods
            .iter()
            .flat_map(|p| Story::new(seed, (*p).clone()).events(now))
            .collect();
        // The owners: the deployment scaled its replica sets when it last changed.
        if let Some(d) = snap.deployments.iter().find(|d| d.service == service) {
            let mut sets: Vec<&str> = pods.iter().map(|p| replica_set_of(&p.name)).collect();
            sets.sort_unstable();
            sets.dedup();
            for rs in sets {
                out.push(PodEvent {
                    cluster: cluster.clone(),
                    at: d.updated_at.min(now),
                    kind: "Normal".into(),
                    reason: "ScalingReplicaSet".into(),
                    message: format!("Scaled up replica set {rs} to {}", d.desired),
                    object: EventObject {
                        kind: "Deployment".into(),
                        name: service.to_string(),
                    },
                    count: 1,
                });
            }
        }
        sort_events(&mut out);
        Ok(out)
    }

    pub(crate) fn pod_logs(
        &self,
        cluster: &ClusterId,
        pod: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, LogLine>> {
        if let Some(c) = &query.container
            && c != CONTAINER
        {
            bail!("container {c} is not valid for pod {pod}: its container is {CONTAINER}");
        }
        let story = self.story(cluster, pod)?;
        let now = self.now();
        let (current, previous) = story.instances(now);
        let instance = if query.previous {
            match previous {
                Some(p) => p,
                None => bail!(
                    "previous terminated container \"{CONTAINER}\" in pod \"{pod}\" not found"
                ),
            }
        } else {
            current
        };
        let from = match (
            query.since_seconds.map(|s| (now - s) * NS - 1),
            query.after_ns,
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut lines = story.lines(&instance, from, now);
        if let Some(n) = query.tail {
            let n = n as usize;
            if lines.len() > n {
                lines.drain(..lines.len() - n);
            }
        }
        let (cluster, pod) = (cluster.clone(), pod.to_string());
        let make = {
            let (cluster, pod) = (cluster.clone(), pod.clone());
            move |(at, text): (i64, String)| LogLine::new(at, &cluster, &pod, CONTAINER, &text)
        };
        let backlog: Vec<LogLine> = lines.into_iter().map(&make).collect();
        let last = backlog.last().map(|l| l.at_ns).or(from);
        if !query.follow || query.previous {
            return Ok(Box::pin(futures::stream::iter(backlog)));
        }
        // Follow: new lines as the demo clock reaches them, until the pod goes away.
        let sim = self.clone();
        let follow = futures::stream::unfold(
            (sim, story, instance, last, false),
            move |(sim, mut story, instance, mut last, done)| {
                let (cluster, pod, make) = (cluster.clone(), pod.clone(), make.clone());
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        tokio::time::sleep(FOLLOW_EVERY).await;
                        if let Err(e) = sim.refresh() {
                            tracing::warn!("demo state refresh failed: {e:#}");
                        }
                        let now = sim.now();
                        let gone = sim.world().pod_summary(&cluster, &pod);
                        let Some(p) = gone else {
                            let line = LogLine::notice(
                                now * NS,
                                &cluster,
                                &pod,
                                &format!("pod {pod} went away; the stream ends"),
                            );
                            return Some((vec![line], (sim, story, instance, last, true)));
                        };
                        story.pod = p;
                        let new: Vec<LogLine> = story
                            .lines(&instance, last, now)
                            .into_iter()
                            .map(&make)
                            .collect();
                        if let Some(l) = new.last() {
                            last = Some(l.at_ns);
                            return Some((new, (sim, story, instance, last, false)));
                        }
                    }
                }
            },
        );
        use futures::StreamExt;
        Ok(Box::pin(
            futures::stream::iter(backlog).chain(follow.flat_map(futures::stream::iter)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClusterId;

    fn pod(name: &str, restarts: u32, waiting: Option<&str>, term: Option<&str>) -> PodSummary {
        PodSummary {
            name: name.into(),
            service: "cart".into(),
            cluster: ClusterId::new("production", "eu-west-1"),
            phase: PodPhase::Running,
            ready: waiting.is_none(),
            restarts,
            started_at: 1_000_000,
            node: "ip-10-12-3-4.ec2.internal".into(),
            version: "1.2.3".into(),
            waiting: waiting.map(str::to_string),
            last_termination: term.map(str::to_string),
        }
    }

    #[test]
    fn a_crash_looping_pod_was_oom_killed_and_its_previous_logs_lead_up_to_it() {
        let s = Story::new(
            7,
            pod(
                "cart-abcdefghij-x2k4q",
                12,
                Some("CrashLoopBackOff"),
                Some("OOMKilled"),
            ),
        );
        let now = 1_000_000 + 3_600;
        let d = s.details(now);
        let t = d.containers[0].last_termination.clone().unwrap();
        assert_eq!(
            (t.reason.as_str(), t.exit_code, t.signal),
            ("OOMKilled", 137, Some(9))
        );
        assert!(t.finished_at.unwrap() <= now);
        assert_eq!(d.owner.unwrap().name, "cart-abcdefghij");
        assert_eq!(d.host_ip.as_deref(), Some("10.12.3.4"));
        let (_, prev) = s.instances(now);
        let lines = s.lines(&prev.unwrap(), None, now);
        assert!(lines.first().unwrap().1.starts_with("Starting cart 1.2.3"));
        assert!(
            lines.last().unwrap().1.contains("OutOfMemoryError"),
            "{lines:?}"
        );
        assert!(lines.windows(2).all(|w| w[0].0 < w[1].0), "time order");
        // The same seed tells the same story.
        assert_eq!(
            Story::new(7, s.pod.clone()).lines(&prev.unwrap(), None, now),
            lines
        );
    }

    #[test]
    fn logs_grow_with_the_clock_without_repeating() {
        let s = Story::new(1, pod("cart-abcdefghij-x2k4q", 0, None, None));
        let (cur, prev) = s.instances(1_000_100);
        assert!(prev.is_none());
        let early = s.lines(&cur, None, 1_000_100);
        let later = s.lines(&cur, None, 1_000_200);
        assert!(later.len() > early.len());
        assert_eq!(&later[..early.len()], &early[..]);
        let last = early.last().unwrap().0;
        let new = s.lines(&cur, Some(last), 1_000_200);
        assert_eq!(new, later[early.len()..].to_vec());
    }

    #[test]
    fn a_pod_killed_by_its_probe_tells_it_in_events() {
        let s = Story::new(
            3,
            pod(
                "cart-abcdefghij-x2k4q",
                5,
                Some("CrashLoopBackOff"),
                Some("Error"),
            ),
        );
        let ev = s.events(1_000_000 + 1_000);
        assert!(
            ev.iter()
                .any(|e| e.reason == "Unhealthy" && e.message.contains("Liveness"))
        );
        assert!(ev.iter().any(|e| e.reason == "BackOff"));
        let t = s.details(1_001_000).containers[0]
            .last_termination
            .clone()
            .unwrap();
        assert_eq!((t.exit_code, t.signal), (143, Some(15)));
    }
}
