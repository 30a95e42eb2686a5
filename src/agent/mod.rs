//! `sphere agent`: one headless process watches the platform once and shares it through
//! Kafka (issue 15, first slice).
//!
//! - **State** (`[agent] state_topic`, compacted): one record per key, the latest the
//!   truth (see [`records`]); a key gone from its source is a tombstone. The clusters come
//!   from their watch (published once every cluster has sent its first listing, then on
//!   each change); locks, the catalog, secret metadata and flags are read every
//!   `poll_seconds`.
//! - **Heartbeats** (`[agent] heartbeat_topic`, compacted): one record per source every
//!   `heartbeat_seconds`: whether its last read succeeded (and why not), when it last
//!   did, how many keys it holds.
//! - **Findings** (`[agent] findings_topic`, compacted): a record when a drift appears,
//!   changes and clears (see [`findings`]), keyed by the finding's id. Git-vs-live
//!   drift (kinds `git`, `hpa`) compares the watch's deployments and HPAs with what the
//!   GitOps repository declares, read every `poll_seconds`.
//! - **Alerts**: each finding record POSTed to the `[webhook]` (event `drift`) once,
//!   unless a silence covers it (see [`silences`]), at most `alert_limit` per
//!   `alert_window_seconds`.
//!
//! On start the agent reads the state and findings topics to their end: a record whose
//! payload is already the latest of its key is not sent again, and an open finding is not
//! told again. A source that cannot be read keeps its last state (nothing is
//! tombstoned, no finding of its kind clears) and says so in its heartbeat; a cluster
//! that is unreachable keeps its deployments; a region whose secrets cannot be read keeps
//! its secrets. A record the broker did not take is sent again on the next round.

pub mod bus;
pub mod findings;
pub mod http;
pub mod records;
pub mod silences;
pub mod sink;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use serde::Serialize;

use crate::backend::Platform;
use crate::backend::sim::Sim;
use crate::config::agent::AgentConfig;
use crate::config::platform::KafkaConfig;
use crate::domain::drift::GitDeclared;
use crate::domain::service::LiveState;
use crate::domain::{ClusterEvent, ClusterId, Timestamp, Topology};
use findings::{FindingKind, FindingRecord, FindingState, Tracker};
use http::Metrics;
use silences::{RateLimit, Silence};
use sink::{Delivered, SINK_KEY};

/// How the agent runs.
pub struct Options {
    pub config: AgentConfig,
    /// `[kafka]`, whose properties apply when `[agent]` names no broker.
    pub kafka: Option<KafkaConfig>,
    /// The sources to watch, of [`crate::config::agent::SOURCES`].
    pub sources: Vec<&'static str>,
    /// The key of the published secret digests.
    pub hash_key: records::HashKey,
}

/// One heartbeat (key: the source).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Heartbeat {
    pub source: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When this heartbeat was sent (seconds since the epoch).
    pub at: Timestamp,
    /// When the source was last read whole; `None`: not yet.
    pub last_ok: Option<Timestamp>,
    /// How many keys of the source the state topic holds.
    pub records: usize,
    /// The clusters source: each cluster (`ENV/REGION`) on its own, so one that cannot
    /// be read is stale alone.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub clusters: std::collections::BTreeMap<String, ClusterBeat>,
}

/// One cluster in the clusters heartbeat.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ClusterBeat {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When its watch was last current and published; `None`: never.
    pub last_ok: Option<Timestamp>,
}

/// How long one read of a polled source may take before it counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// `read`, or a failure when it has not answered within [`READ_TIMEOUT`].
/// What one poll read: each polled source's answer (`None`: the agent does not
/// publish it), the environments (`None`: not read in time), git and the silences.
struct Polled {
    topology: Option<Topology>,
    declared: Result<Option<GitDeclared>>,
    silences: Result<Vec<Silence>>,
    locks: Option<Result<Vec<crate::domain::Lock>>>,
    catalog: Option<Result<Arc<crate::domain::catalog::Catalog>>>,
    secrets: Option<Result<crate::domain::secret::SecretListing>>,
    flags: Option<Result<Vec<crate::domain::FlagState>>>,
}

/// Read every polled source at once, each within [`READ_TIMEOUT`]. Runs on a task of
/// its own (see `run_loop`): the agent's loop goes on taking watch events, publishing
/// the clusters' changes and sending heartbeats while a slow source is read.
async fn read_sources(p: Platform, bus: Arc<bus::Bus>, sources: Vec<&'static str>) -> Polled {
    let watches = |s: &str| sources.contains(&s);
    let topology = tokio::time::timeout(READ_TIMEOUT, p.topology_or_clusters())
        .await
        .ok();
    let (declared, silences, locks, catalog, secrets, flags) = tokio::join!(
        bounded("git", p.repos.declared()),
        bounded("silences", async {
            bus.latest(&bus.silences_topic)
                .await
                .map(silences::parse_all)
        }),
        bounded_if(watches("locks"), "locks", p.ledger.locks()),
        bounded_if(watches("catalog"), "catalog", p.catalog.refresh()),
        bounded_if(watches("secrets"), "secrets", p.secrets.list_partial(None)),
        bounded_if(watches("flags"), "flags", p.flags.list()),
    );
    Polled {
        topology,
        declared,
        silences,
        locks,
        catalog,
        secrets,
        flags,
    }
}

/// The cluster watch, driven by a task of its own: its events come through a channel.
///
/// Polled from the agent's `select!` loop instead, the watch stood still while the loop
/// ran a branch (a poll of the other sources), and whatever the watch held then stayed
/// held: the Kubernetes watch reads the catalog (the workload mapping) under the shared
/// catalog's lock, so the poll's catalog read waited for the watch, which waited for
/// the poll — the agent stalled until the read's timeout (15 s) on a fresh start.
fn drive(
    mut watch: futures::stream::BoxStream<'static, ClusterEvent>,
) -> tokio::sync::mpsc::Receiver<ClusterEvent> {
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    tokio::spawn(async move {
        while let Some(ev) = watch.next().await {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// [`bounded`] when `on` (the agent publishes that source), else no read.
async fn bounded_if<T>(
    on: bool,
    source: &str,
    read: impl Future<Output = Result<T>>,
) -> Option<Result<T>> {
    if on {
        Some(bounded(source, read).await)
    } else {
        None
    }
}

async fn bounded<T>(source: &str, read: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!(
            "{source}: no answer within {READ_TIMEOUT:?}"
        )),
    }
}

fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

/// The state of one run.
struct Agent {
    platform: Platform,
    bus: Arc<bus::Bus>,
    metrics: Arc<Metrics>,
    sources: Vec<&'static str>,
    hash_key: records::HashKey,
    /// The state topic's latest payload per key, as the broker holds it.
    current: HashMap<String, Vec<u8>>,
    tracker: Tracker,
    /// Finding records the broker has not taken yet, in order.
    outbox: Vec<FindingRecord>,
    /// Findings the webhook has not taken yet (`[webhook] events` with `drift`), in order.
    alerts: std::collections::VecDeque<FindingRecord>,
    /// The webhook wants drift alerts.
    alerting: bool,
    /// What the webhook was told (see [`sink`]), and the sink record as the broker last
    /// took it (`None`: there is none yet).
    delivered: Delivered,
    sink_written: Option<Vec<u8>>,
    /// After the webhook refused one: not before then, and how long the last wait was.
    alert_retry: Option<(Instant, Duration)>,
    /// The silences, as last read from the silences topic.
    silences: Vec<Silence>,
    /// The silences come from the topic's tail (once it has told them, the poll's
    /// reading of the topic, possibly older, is not used).
    silences_tailed: bool,
    /// Open findings that a silence kept from the webhook, by id: told when the silence
    /// ends while they are still open.
    held: std::collections::BTreeMap<String, FindingRecord>,
    /// The webhook's rate limit.
    rate: RateLimit,
    /// What the GitOps repository declared at the last poll (`None`: no GitOps
    /// repository, or not read yet).
    declared: Option<GitDeclared>,
    /// With the ephemeral environments (read every poll).
    topology: Topology,
    /// The configured clusters (the watch's first listing covers each).
    base: Vec<ClusterId>,
    live: LiveState,
    /// Clusters of the topology that have sent their first listing.
    synced: BTreeSet<ClusterId>,
    /// Clusters whose watch fails, and why.
    unreachable: std::collections::BTreeMap<ClusterId, String>,
    /// When each cluster's watch was last current and published.
    cluster_ok: std::collections::BTreeMap<ClusterId, Timestamp>,
    /// Watch events not yet published, since when.
    pending_since: Option<Instant>,
}

/// Runs the agent until `shutdown` completes. The demo's `sim`, when given, is read
/// again every `poll_seconds` (another process may have changed it) and its clock runs
/// at its pace.
pub async fn run(
    platform: Platform,
    sim: Option<Sim>,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let cfg = &opts.config;
    let addr = cfg
        .listen_addr()
        .with_context(|| format!("[agent] listen: {:?} is not an address", cfg.listen))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("[agent] listen: cannot listen on {addr}"))?;
    let metrics = Arc::new(Metrics::default());
    for s in &opts.sources {
        metrics.watching(s);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(http::serve(listener, metrics.clone(), stop_rx.clone()));
    tracing::info!(%addr, sources = ?opts.sources, "sphere agent: /healthz and /metrics answer");
    let bus = Arc::new(bus::Bus::new(cfg, opts.kafka.as_ref())?);
    let _clock = sim.as_ref().and_then(Sim::start_clock);
    let hash_key = opts.hash_key;
    let work = async {
        match start(
            platform,
            bus,
            metrics.clone(),
            opts.sources.clone(),
            hash_key,
            RateLimit::new(
                cfg.alert_limit,
                Duration::from_secs(cfg.alert_window_seconds.max(1)),
            ),
            stop_rx.clone(),
        )
        .await
        {
            Some(agent) => agent.run_loop(cfg, sim, stop_rx.clone()).await,
            None => Ok(()),
        }
    };
    let mut work = std::pin::pin!(work);
    let result = tokio::select! {
        _ = shutdown => {
            let _ = stop_tx.send(true);
            // The loop sees the stop, flushes what is queued and ends; a publish still
            // under way gets a grace period, then is dropped: what the broker did not
            // acknowledge is not in the topic, so the next start sends it.
            let grace = Duration::from_secs(cfg.timeout_seconds.max(1) + 5);
            match tokio::time::timeout(grace, work).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("stopped within {grace:?} before a publish had finished; the next start sends the rest");
                    Ok(())
                }
            }
        }
        r = &mut work => r,
    };
    let _ = stop_tx.send(true);
    let _ = server.await;
    tracing::info!("sphere agent stopped");
    result
}

/// Creates the topics and reads them back, retrying until the broker answers.
async fn start(
    platform: Platform,
    bus: Arc<bus::Bus>,
    metrics: Arc<Metrics>,
    sources: Vec<&'static str>,
    hash_key: records::HashKey,
    rate: RateLimit,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<Agent> {
    let mut wait = Duration::from_millis(500);
    let alerting = platform
        .webhook
        .as_ref()
        .is_some_and(|w| w.wants(ALERT_EVENT));
    let (current, tracker, held, silences, sink, owed) = loop {
        let read = async {
            bus.ensure_topics().await?;
            let current = bus.latest(&bus.state_topic).await?;
            let mut findings = bus.latest(&bus.findings_topic).await?;
            let sink_record = findings.remove(SINK_KEY);
            findings.retain(|k, _| !sink::is_sink_key(k));
            let silences = silences::parse_all(bus.latest(&bus.silences_topic).await?);
            let records: Vec<FindingRecord> = findings
                .values()
                .filter_map(|p| {
                    serde_json::from_slice::<FindingRecord>(p)
                        .map_err(|e| tracing::warn!("a findings record is not one: {e}"))
                        .ok()
                })
                .collect();
            // What the webhook was told; with no sink record yet, everything on the
            // topic counts as told (an older agent told it, or no webhook was set).
            let (delivered, written) = match sink_record {
                Some(p) => match serde_json::from_slice::<Delivered>(&p) {
                    Ok(d) => (d, Some(p)),
                    Err(e) => {
                        tracing::warn!(
                            "the sink record {SINK_KEY} is not one ({e}): counting every finding on the topic as told"
                        );
                        (Delivered::baseline(&records), None)
                    }
                },
                None => (Delivered::baseline(&records), None),
            };
            // Open findings told silenced: still to be POSTed when their silence ends
            // (unless the webhook has had them since).
            let held = records
                .iter()
                .filter(|r| r.silenced.is_some() && r.state != FindingState::Cleared)
                .filter(|r| !delivered.has(r))
                .map(|r| (r.finding.id.clone(), r.clone()))
                .collect();
            // The alerts still owed: on the topic, not taken by the webhook.
            let owed = if alerting {
                delivered.owed(&records)
            } else {
                Vec::new()
            };
            anyhow::Ok((
                current,
                Tracker::from_records(records),
                held,
                silences,
                (delivered, written),
                owed,
            ))
        };
        match read.await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!("kafka at {} not ready: {e:#}; retrying", bus.bootstrap());
                metrics.broker(Some(format!("{e:#}")));
                tokio::select! {
                    _ = stop.changed() => return None,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    };
    metrics.broker(None);
    metrics.started();
    tracing::info!(
        records = current.len(),
        open_findings = tracker.open().count(),
        alerts_owed = owed.len(),
        "read the agent's topics"
    );
    // As in every poll: environments that do not answer in time are read at the next.
    let topology = tokio::time::timeout(READ_TIMEOUT, platform.topology_or_clusters())
        .await
        .unwrap_or_else(|_| {
            tracing::warn!("ephemeral environments not read within {READ_TIMEOUT:?}");
            platform.clusters.topology()
        });
    let base = platform.clusters.topology().clusters().collect();
    Some(Agent {
        platform,
        bus,
        metrics,
        sources,
        hash_key,
        current,
        tracker,
        outbox: Vec::new(),
        alerts: owed.into(),
        alerting,
        delivered: sink.0,
        sink_written: sink.1,
        alert_retry: None,
        silences,
        silences_tailed: false,
        held,
        rate,
        declared: None,
        base,
        topology,
        live: LiveState::default(),
        synced: BTreeSet::new(),
        unreachable: std::collections::BTreeMap::new(),
        cluster_ok: std::collections::BTreeMap::new(),
        pending_since: None,
    })
}

impl Agent {
    fn watches(&self, source: &str) -> bool {
        self.sources.contains(&source)
    }

    async fn run_loop(
        mut self,
        cfg: &AgentConfig,
        sim: Option<Sim>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<()> {
        let mut watch = if self.watches("clusters") {
            drive(self.platform.clusters.watch())
        } else {
            tokio::sync::mpsc::channel(1).1
        };
        let mut poll = tokio::time::interval(Duration::from_secs(cfg.poll_seconds.max(1)));
        let mut flush = tokio::time::interval(Duration::from_millis(250));
        let mut beat = tokio::time::interval(Duration::from_secs(cfg.heartbeat_seconds.max(1)));
        for i in [&mut poll, &mut flush, &mut beat] {
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut reading: Option<tokio::task::JoinHandle<Polled>> = None;
        // A silence set or removed counts at once, not at the next poll.
        let mut silenced = self.bus.tail(&self.bus.silences_topic);
        let mut tailing = true;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                changed = silenced.changed(), if tailing => match changed {
                    Ok(()) => {
                        let latest = silenced.borrow_and_update().clone();
                        if let Some(latest) = latest {
                            self.silences = silences::parse_all(latest);
                            self.silences_tailed = true;
                            self.send_alerts().await;
                        }
                    }
                    Err(_) => tailing = false,
                },
                ev = watch.recv(), if self.watches("clusters") => match ev {
                    Some(ev) => self.apply(ev),
                    None => {
                        tracing::warn!("the cluster watch ended; watching again");
                        self.metrics.source_failed("clusters", "the watch ended".into());
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        self.synced.clear();
                        self.live = LiveState::default();
                        watch = drive(self.platform.clusters.watch());
                    }
                },
                // One poll at a time, read on a task of its own: a slow source holds
                // up neither the watch's changes nor the heartbeats.
                _ = poll.tick(), if reading.is_none() => {
                    let (platform, bus) = (self.platform.clone(), self.bus.clone());
                    let (sources, sim) = (self.sources.clone(), sim.clone());
                    reading = Some(tokio::spawn(async move {
                        if let Some(sim) = sim {
                            match tokio::task::spawn_blocking(move || sim.refresh()).await {
                                Ok(Err(e)) => tracing::warn!("demo: reading the state again failed: {e:#}"),
                                Err(e) => tracing::warn!("demo: reading the state again failed: {e}"),
                                Ok(Ok(_)) => {}
                            }
                        }
                        read_sources(platform, bus, sources).await
                    }));
                }
                read = async {
                    match reading.as_mut() {
                        Some(task) => task.await,
                        None => std::future::pending().await,
                    }
                }, if reading.is_some() => {
                    reading = None;
                    match read {
                        Ok(polled) => self.apply_polled(polled).await,
                        Err(e) => tracing::warn!("the poll's reading task failed: {e}"),
                    }
                }
                _ = flush.tick() => self.flush_clusters().await,
                _ = beat.tick() => self.heartbeats().await,
            }
        }
        if let Some(task) = reading {
            task.abort();
        }
        self.bus.flush();
        Ok(())
    }

    fn apply(&mut self, ev: ClusterEvent) {
        match &ev {
            ClusterEvent::Synced(c) => {
                self.synced.insert(c.clone());
                self.unreachable.remove(c);
            }
            ClusterEvent::Unreachable { cluster, error } => {
                tracing::warn!(cluster = %cluster, "unreachable: {}", crate::domain::text::sanitize(error));
                self.unreachable.insert(
                    cluster.clone(),
                    crate::domain::text::sanitize(error).into_owned(),
                );
            }
            ClusterEvent::Deployment(d) => {
                self.unreachable.remove(&d.cluster);
            }
            ClusterEvent::Pod(_) | ClusterEvent::PodDeleted { .. } => return,
            _ => {}
        }
        self.live.apply(ev);
        self.pending_since.get_or_insert_with(Instant::now);
        self.metrics.watch_pending(self.pending_since);
    }

    /// Every configured cluster has sent its first listing (or is unreachable). Only
    /// those: an ephemeral environment's clusters come and go with it.
    fn clusters_ready(&self) -> bool {
        self.base
            .iter()
            .all(|c| self.synced.contains(c) || self.unreachable.contains_key(c))
    }

    async fn flush_clusters(&mut self) {
        self.send_outbox().await;
        self.send_alerts().await;
        if !self.watches("clusters") || !self.clusters_ready() {
            return;
        }
        if self.pending_since.is_none() {
            self.clusters_status();
            return;
        }
        let now = records::deployments(&self.live);
        let keep = |k: &str| {
            records::cluster_of(k).is_some_and(|(env, region)| {
                let c = ClusterId::new(env, region);
                self.unreachable.contains_key(&c)
                    || (!self.synced.contains(&c) && self.base.contains(&c))
            })
        };
        let diff = records::diff(&self.current, "clusters/", now, keep);
        if self.publish("clusters", diff).await {
            self.pending_since = None;
            self.metrics.watch_pending(None);
            self.clusters_status();
            let found = findings::version_drift(&self.live, &self.topology);
            self.findings(FindingKind::Version, found).await;
            self.git_findings().await;
        }
    }

    /// Git-vs-live drift, when git was read and the watch is current.
    async fn git_findings(&mut self) {
        if !self.watches("clusters") || !self.clusters_ready() || self.pending_since.is_some() {
            return;
        }
        let Some(declared) = &self.declared else {
            return;
        };
        let (git, hpa): (Vec<_>, Vec<_>) = findings::git_drift(&self.live, declared)
            .into_iter()
            .partition(|f| f.kind == FindingKind::Git);
        self.findings(FindingKind::Git, git).await;
        self.findings(FindingKind::Hpa, hpa).await;
    }

    /// The watch is current: every cluster synced and published, or some unreachable.
    /// The clusters that answer are current (each in the heartbeat); the source as a
    /// whole is read while any cluster answers, failing (not current) when none does.
    fn clusters_status(&mut self) {
        let at = now();
        for c in &self.synced {
            if !self.unreachable.contains_key(c) {
                self.cluster_ok.insert(c.clone(), at);
            }
        }
        if self.unreachable.is_empty() {
            self.metrics.source_ok("clusters");
            return;
        }
        let names: Vec<String> = self.unreachable.keys().map(|c| c.to_string()).collect();
        let why = format!("unreachable: {}", names.join(", "));
        if self
            .synced
            .iter()
            .any(|c| !self.unreachable.contains_key(c))
        {
            self.metrics.source_partial("clusters", why);
        } else {
            self.metrics.source_failed("clusters", why);
        }
    }

    /// Each cluster of the clusters source, for its heartbeat.
    fn cluster_beats(&self) -> std::collections::BTreeMap<String, ClusterBeat> {
        let mut all: BTreeSet<&ClusterId> = self.base.iter().collect();
        all.extend(self.synced.iter());
        all.extend(self.unreachable.keys());
        all.into_iter()
            .map(|c| {
                let error =
                    self.unreachable.get(c).cloned().or_else(|| {
                        (!self.synced.contains(c)).then(|| "not listed yet".to_string())
                    });
                let last_ok = self.cluster_ok.get(c).copied();
                let beat = ClusterBeat {
                    ok: error.is_none() && last_ok.is_some(),
                    error,
                    last_ok,
                };
                (format!("{}/{}", c.env, c.region), beat)
            })
            .collect()
    }

    /// Publish what one poll read (see [`read_sources`]).
    async fn apply_polled(&mut self, polled: Polled) {
        let Polled {
            topology,
            declared,
            silences,
            locks,
            catalog,
            secrets,
            flags,
        } = polled;
        match topology {
            Some(t) => self.topology = t,
            None => tracing::warn!(
                "ephemeral environments not read within {READ_TIMEOUT:?}; keeping the last"
            ),
        }
        match silences {
            Ok(_) if self.silences_tailed => {}
            Ok(s) => self.silences = s,
            Err(e) => tracing::warn!("silences not read (the last ones hold): {e:#}"),
        }
        match declared {
            Ok(d) => self.declared = d,
            Err(e) => {
                // The last declared state is kept: nothing clears on a failed read.
                let why = crate::domain::text::sanitize(&format!("{e:#}")).into_owned();
                tracing::warn!("the GitOps repository was not read: {why}");
            }
        }
        self.git_findings().await;
        if let Some(r) = locks {
            match r {
                Ok(l) => {
                    self.read_ok("locks", records::locks(&l), |_| false).await;
                }
                Err(e) => self.read_failed("locks", e),
            }
        }
        if let Some(r) = catalog {
            match r {
                Ok(c) => {
                    self.read_ok("catalog", records::catalog(&c), |_| false)
                        .await;
                }
                Err(e) => self.read_failed("catalog", e),
            }
        }
        if let Some(r) = secrets {
            match r {
                Ok(listing) => {
                    let failed = records::failed_regions(&listing.failed);
                    let recs = records::secrets(&listing.secrets, &self.hash_key);
                    let published = self
                        .read_ok("secrets", recs, |k| {
                            records::region_of_secret(k).is_some_and(|r| failed.contains(r))
                        })
                        .await;
                    if !listing.failed.is_empty() {
                        let why: Vec<String> =
                            listing.failed.iter().map(|f| f.error.clone()).collect();
                        self.metrics.source_failed("secrets", why.join("; "));
                    }
                    if published && listing.failed.is_empty() {
                        let found = findings::secret_drift(&listing.secrets, &self.topology);
                        self.findings(FindingKind::Secret, found).await;
                    }
                }
                Err(e) => self.read_failed("secrets", e),
            }
        }
        if let Some(r) = flags {
            match r {
                Ok(f) => {
                    if self.read_ok("flags", records::flags(&f), |_| false).await {
                        let found = findings::flag_drift(&f);
                        self.findings(FindingKind::Flag, found).await;
                    }
                }
                Err(e) => self.read_failed("flags", e),
            }
        }
    }

    /// A source read whole: publish its diff. True when the broker took all of it.
    async fn read_ok(
        &mut self,
        source: &'static str,
        now: records::Records,
        keep: impl Fn(&str) -> bool,
    ) -> bool {
        let diff = records::diff(&self.current, &format!("{source}/"), now, keep);
        let ok = self.publish(source, diff).await;
        if ok {
            self.metrics.source_ok(source);
        }
        ok
    }

    fn read_failed(&mut self, source: &'static str, e: anyhow::Error) {
        let why = crate::domain::text::sanitize(&format!("{e:#}")).into_owned();
        tracing::warn!(source, "reading failed: {why}");
        self.metrics.source_failed(source, why);
    }

    /// Sends a diff; `current` follows what the broker acknowledged.
    async fn publish(&mut self, source: &'static str, diff: records::Diff) -> bool {
        if diff.is_empty() {
            return true;
        }
        let mut sends: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut payloads: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        for (k, v) in diff.put {
            payloads.insert(k.clone(), Some(v.clone()));
            sends.push((k, Some(v)));
        }
        for k in diff.delete {
            payloads.insert(k.clone(), None);
            sends.push((k, None));
        }
        let (done, error) = self.bus.send(&self.bus.state_topic, &sends).await;
        self.metrics.published(source, done.len());
        for k in &done {
            match payloads.remove(k).flatten() {
                Some(v) => self.current.insert(k.clone(), v),
                None => self.current.remove(k),
            };
        }
        tracing::info!(source, published = done.len(), "published");
        match error {
            Some(e) => {
                tracing::warn!(source, "publishing failed: {e:#}");
                self.metrics.broker(Some(format!("{e:#}")));
                false
            }
            None => {
                self.metrics.broker(None);
                true
            }
        }
    }

    async fn findings(&mut self, kind: FindingKind, now: Vec<findings::Finding>) {
        let mut records = self.tracker.update(kind, now, now_ts());
        let clock = self.platform.now();
        for r in &mut records {
            r.silenced = silences::covering(&self.silences, &r.finding.id, clock)
                .map(|s| crate::domain::text::sanitize(&s.describe()).into_owned());
        }
        for r in &records {
            tracing::info!(
                id = %r.finding.id,
                state = ?r.state,
                "drift {}",
                crate::domain::text::sanitize(&r.finding.detail)
            );
        }
        if self
            .platform
            .webhook
            .as_ref()
            .is_some_and(|w| w.wants(ALERT_EVENT))
        {
            for r in &records {
                let id = &r.finding.id;
                match (&r.silenced, r.state) {
                    // Told when the silence ends, if still open then.
                    (Some(_), FindingState::Appeared | FindingState::Changed) => {
                        self.held.insert(id.clone(), r.clone());
                    }
                    (Some(_), FindingState::Cleared) => {
                        self.held.remove(id);
                        // Never told now: forgotten.
                        self.delivered.mark(r);
                    }
                    (None, _) => {
                        self.held.remove(id);
                        self.alerts.push_back(r.clone());
                    }
                }
            }
        }
        self.outbox.extend(records);
        self.send_outbox().await;
        self.send_alerts().await;
    }

    /// Tells the webhook each finding record once, in order; one it refuses is tried
    /// again on the next round (and those after it wait).
    ///
    /// Only findings the broker has taken are told (the topic is the queue a restart
    /// reads back), and only while the sink record holds every earlier delivery.
    async fn send_alerts(&mut self) {
        let Some(webhook) = self.platform.webhook.clone() else {
            return;
        };
        if !self.alerting || !self.outbox.is_empty() || !self.persist_sink().await {
            return;
        }
        if self.alert_retry.is_some_and(|(at, _)| Instant::now() < at) {
            return;
        }
        // Silences that ended (expired or removed): their open findings are told now.
        let clock = self.platform.now();
        let ended: Vec<String> = self
            .held
            .keys()
            .filter(|id| silences::covering(&self.silences, id, clock).is_none())
            .cloned()
            .collect();
        for id in ended {
            if let Some(mut r) = self.held.remove(&id) {
                tracing::info!(%id, "the silence ended: the finding is told now");
                r.silenced = None;
                self.alerts.push_back(r);
            }
        }
        if let Some(ids) = self.rate.summary_due(Instant::now()) {
            let message = suppressed_alert(&self.platform.name, &ids, clock);
            match webhook.notify(&message).await {
                Ok(()) => {
                    self.metrics.alerts_sent(1);
                    self.rate.count_summary();
                }
                Err(e) => {
                    tracing::warn!("the summary of suppressed alerts was not taken: {e:#}");
                    self.metrics.alert_failed();
                    self.rate.restore(ids);
                    self.alert_retry = Some((
                        Instant::now() + Duration::from_secs(1),
                        Duration::from_secs(1),
                    ));
                    return;
                }
            }
        }
        while let Some(r) = self.alerts.front() {
            if !self.rate.admit(Instant::now()) {
                // Held back: on the findings topic, and counted in the next summary.
                tracing::info!(id = %r.finding.id, "alert rate limit reached: not sent");
                let id = r.finding.id.clone();
                self.rate.suppress(id);
                // Counted in the summary: not owed after a restart.
                self.delivered.mark(r);
                self.alerts.pop_front();
                continue;
            }
            let message = alert(&self.platform.name, r);
            match webhook.notify(&message).await {
                Ok(()) => {
                    self.metrics.alerts_sent(1);
                    self.delivered.mark(r);
                    self.alerts.pop_front();
                    self.alert_retry = None;
                    // Recorded before the next: a restart owes only what is not.
                    if !self.persist_sink().await {
                        break;
                    }
                }
                Err(e) => {
                    // Not sent: it does not count against the rate limit.
                    self.rate.unadmit();
                    // Waits 1 s, then twice as long each time, at most a minute: the
                    // loop (the watch) never waits on a webhook that is down.
                    let wait = self.alert_retry.map_or(Duration::from_secs(1), |(_, w)| {
                        (w * 2).min(Duration::from_secs(60))
                    });
                    tracing::warn!(id = %r.finding.id, "the drift alert was not taken: {e:#}; trying again in {wait:?}");
                    self.metrics.alert_failed();
                    self.alert_retry = Some((Instant::now() + wait, wait));
                    break;
                }
            }
        }
    }

    async fn send_outbox(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        // The sink record first: a start that finds none counts every finding on the
        // topic as told.
        if self.alerting && self.sink_written.is_none() && !self.persist_sink().await {
            return;
        }
        let sends: Vec<(String, Option<Vec<u8>>)> = self
            .outbox
            .iter()
            .filter_map(|r| {
                serde_json::to_vec(r)
                    .ok()
                    .map(|p| (r.finding.id.clone(), Some(p)))
            })
            .collect();
        let (done, error) = self.bus.send(&self.bus.findings_topic, &sends).await;
        self.metrics.findings_published(done.len());
        if error.is_none() && done.len() == self.outbox.len() {
            self.outbox.clear();
        } else if let Some(e) = error {
            // Sent again, all of them in order, next time (the latest per id wins).
            tracing::warn!("publishing findings failed: {e:#}");
            self.metrics.broker(Some(format!("{e:#}")));
        }
    }

    /// Writes the sink record when what the webhook was told changed since the broker
    /// last took it; false when the broker did not take it.
    async fn persist_sink(&mut self) -> bool {
        if !self.alerting {
            return true;
        }
        let payload = self.delivered.to_json();
        if self.sink_written.as_deref() == Some(payload.as_slice()) {
            return true;
        }
        let sends = [(SINK_KEY.to_string(), Some(payload.clone()))];
        let (done, error) = self.bus.send(&self.bus.findings_topic, &sends).await;
        match error {
            None if !done.is_empty() => {
                self.sink_written = Some(payload);
                true
            }
            e => {
                let why = e.map_or_else(|| "not acknowledged".to_string(), |e| format!("{e:#}"));
                tracing::warn!("recording what the webhook was told failed: {why}; alerts wait");
                self.metrics.broker(Some(why));
                false
            }
        }
    }

    async fn heartbeats(&mut self) {
        let at = now();
        let sends: Vec<(String, Option<Vec<u8>>)> = self
            .sources
            .iter()
            .map(|s| {
                let error = self.metrics.source_error(s);
                let last_ok = self
                    .metrics
                    .last_ok(s)
                    .map(|t| at - i64::try_from(t.elapsed().as_secs()).unwrap_or(i64::MAX));
                let hb = Heartbeat {
                    source: s.to_string(),
                    ok: error.is_none() && last_ok.is_some(),
                    error: error.or_else(|| last_ok.is_none().then(|| "not read yet".to_string())),
                    at,
                    last_ok,
                    records: records::count(&self.current, &format!("{s}/")),
                    clusters: if *s == "clusters" {
                        self.cluster_beats()
                    } else {
                        std::collections::BTreeMap::new()
                    },
                };
                (s.to_string(), serde_json::to_vec(&hb).ok())
            })
            .collect();
        let (done, error) = self.bus.send(&self.bus.heartbeat_topic, &sends).await;
        self.metrics.heartbeats_published(done.len());
        if let Some(e) = error {
            tracing::warn!("publishing heartbeats failed: {e:#}");
            self.metrics.broker(Some(format!("{e:#}")));
        }
    }
}

fn now_ts() -> Timestamp {
    now()
}

/// The `[webhook] events` name of drift alerts.
pub const ALERT_EVENT: &str = "drift";

/// A finding record as a webhook message (Slack-compatible: `text`). `audit_id` is 0: a
/// finding is no action, it has no audit record.
pub fn alert(platform: &str, r: &FindingRecord) -> crate::backend::webhook::Notification {
    use findings::FindingState;
    let f = &r.finding;
    let state = match r.state {
        FindingState::Appeared => "appeared",
        FindingState::Changed => "changed",
        FindingState::Cleared => "cleared",
    };
    let mark = match r.state {
        FindingState::Cleared => "resolved",
        _ => "drift",
    };
    let detail = format!("{state}: {}", f.detail);
    crate::backend::webhook::Notification {
        event: ALERT_EVENT.to_string(),
        platform: platform.to_string(),
        actor: "sphere agent".to_string(),
        target: f.id.clone(),
        reason: None,
        text: crate::domain::text::sanitize(&format!(
            "[{platform}] {mark}: {} {} in {} ({}) {detail}",
            f.kind.as_str(),
            f.subject,
            f.env,
            if f.regions.is_empty() {
                "-".to_string()
            } else {
                f.regions.join(", ")
            },
        ))
        .into_owned(),
        detail,
        audit_id: 0,
        at: r.at,
    }
}

/// The summary of the findings the rate limit held back.
pub fn suppressed_alert(
    platform: &str,
    ids: &[String],
    at: Timestamp,
) -> crate::backend::webhook::Notification {
    const SHOWN: usize = 10;
    let n = ids.len();
    let mut list: Vec<&str> = ids.iter().take(SHOWN).map(String::as_str).collect();
    let more = n.saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    list.dedup();
    let noun = if n == 1 { "finding" } else { "findings" };
    let detail = format!(
        "{n} more {noun} suppressed by the alert rate limit: {}{tail}; all are on the findings topic",
        list.join(", ")
    );
    crate::backend::webhook::Notification {
        event: ALERT_EVENT.to_string(),
        platform: platform.to_string(),
        actor: "sphere agent".to_string(),
        target: "rate-limit".to_string(),
        reason: None,
        text: crate::domain::text::sanitize(&format!("[{platform}] {detail}")).into_owned(),
        detail,
        audit_id: 0,
        at,
    }
}

/// The sources a platform has: on the demo all of them; on a configured platform those
/// its config declares.
pub fn default_sources(config: &crate::config::Config, demo: bool) -> Vec<&'static str> {
    use crate::config::agent::SOURCES;
    if demo {
        return SOURCES.to_vec();
    }
    SOURCES
        .into_iter()
        .filter(|s| match *s {
            "clusters" => !config.clusters.is_empty(),
            // Locks live in the clusters (or the demo).
            "locks" => !config.clusters.is_empty(),
            "catalog" => true,
            "secrets" => config.aws.is_some(),
            "flags" => config.kafka.is_some(),
            _ => false,
        })
        .collect()
}

/// JSON lines on stdout when it is not a terminal (a container's log), else readable
/// lines; the level from `SPHERE_LOG` (default info).
pub fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SPHERE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let r = if std::io::stdout().is_terminal() {
        builder.try_init()
    } else {
        builder.json().with_ansi(false).try_init()
    };
    if let Err(e) = r {
        eprintln!("sphere: no log: {e}");
    }
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
                }
            }
            Err(e) => {
                tracing::warn!("SIGTERM cannot be caught: {e}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
