//! Locks and ephemeral environments served from watches (issue 14, item 2): per
//! configured cluster, one watch of the lock ConfigMap and one of the labelled
//! environment namespaces keep what [`LockStore::locks`](crate::backend::LockStore) and
//! [`ClusterProvider::environments`](crate::backend::ClusterProvider) answer, so a
//! read costs no request once the watch has listed; a lock another process makes
//! arrives as a watch event.
//!
//! - The watches start with the first read (a CLI command that reads once lists once,
//!   as before) and end when the provider is dropped.
//! - Each watch lists, then watches from the list's `resourceVersion`; an ended stream
//!   (the server's timeout) is watched again from the last version seen, a broken one
//!   too, after a jittered back-off; `410 Gone` lists again.
//! - A read is served from the watch only while it is live: before its first list, or
//!   while it is broken (an error and no watch re-established since), the read goes to
//!   the API server itself as before, so a lock check never passes on a stale or empty
//!   store. The direct read carries the store's generation when it started: when the
//!   watch came back with something newer meanwhile, the late direct answer is dropped
//!   and the store's is used.
//! - Every change carries its object's `resourceVersion`: one older than what the
//!   store holds (an event replayed after a resumed watch, or arriving after this
//!   process's own write was noted) is dropped. Versions are compared as the integers
//!   etcd gives; a version that is not one is taken as newer.
//! - This process's own writes are noted at once (read-your-writes): the object the
//!   API server answered a write with goes into the store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::Conn;
use super::envs::{ENV_LABEL, env_from_namespace};
use super::locks::parse_locks;
use super::{KubeClusters, LOCK_OBJECT};
use crate::domain::Lock;
use crate::domain::environment::EphemeralEnv;

/// The longest pause between two attempts of a broken watch.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The server-side limit of one watch request (the API server's default is random
/// between 30 and 60 minutes; kube's watcher asks for 290 s).
const WATCH_SECONDS: u32 = 290;

/// What one watch keeps, and how an object changes it.
pub(super) trait View: Default + Send + Sync + 'static {
    type K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static;
    /// What the list gave: everything there is.
    fn reset(&mut self, items: Vec<Self::K>, list_version: Option<String>);
    /// One object changed (or went); whether the view changed.
    fn apply(&mut self, obj: &Self::K, deleted: bool) -> bool;
}

/// Whether `incoming` is not older than `current` (see the module's notes).
fn not_older(incoming: Option<&str>, current: Option<&str>) -> bool {
    match (
        incoming.and_then(|v| v.parse::<u64>().ok()),
        current.and_then(|v| v.parse::<u64>().ok()),
    ) {
        (Some(i), Some(c)) => i >= c,
        _ => true,
    }
}

fn version_of<K: Resource>(obj: &K) -> Option<String> {
    obj.meta().resource_version.clone()
}

/// The lock object of one cluster, parsed (a text this sphere cannot read is an error
/// a read reports: closed).
pub(super) struct LockView {
    version: Option<String>,
    locks: Result<Vec<Lock>, String>,
}

impl Default for LockView {
    fn default() -> Self {
        LockView {
            version: None,
            locks: Ok(Vec::new()),
        }
    }
}

impl View for LockView {
    type K = ConfigMap;

    fn reset(&mut self, items: Vec<ConfigMap>, list_version: Option<String>) {
        match items.into_iter().find(|cm| cm.name_any() == LOCK_OBJECT) {
            Some(cm) => {
                self.version = version_of(&cm);
                self.locks = parse_locks(&cm).map_err(|e| format!("{e:#}"));
            }
            None => {
                self.version = list_version;
                self.locks = Ok(Vec::new());
            }
        }
    }

    fn apply(&mut self, cm: &ConfigMap, deleted: bool) -> bool {
        if cm.name_any() != LOCK_OBJECT {
            return false;
        }
        let version = version_of(cm);
        if version == self.version || !not_older(version.as_deref(), self.version.as_deref()) {
            return false;
        }
        self.version = version;
        self.locks = if deleted {
            Ok(Vec::new())
        } else {
            parse_locks(cm).map_err(|e| format!("{e:#}"))
        };
        true
    }
}

impl LockView {
    fn locks(&self) -> Result<Vec<Lock>> {
        self.locks.clone().map_err(|e| anyhow!("{e}"))
    }
}

/// The environment namespaces one cluster holds, as its region sees them. A namespace
/// that went is kept as `None` with the version of its going, so a late event about it
/// does not bring it back.
#[derive(Default)]
pub(super) struct EnvView {
    region: String,
    namespaces: BTreeMap<String, (Option<String>, Option<EphemeralEnv>)>,
}

impl View for EnvView {
    type K = Namespace;

    fn reset(&mut self, items: Vec<Namespace>, _: Option<String>) {
        self.namespaces = items
            .iter()
            .filter_map(|ns| {
                let env = env_from_namespace(ns, &self.region)?;
                Some((ns.name_any(), (version_of(ns), Some(env))))
            })
            .collect();
    }

    fn apply(&mut self, ns: &Namespace, deleted: bool) -> bool {
        let version = version_of(ns);
        let name = ns.name_any();
        if let Some((held, _)) = self.namespaces.get(&name)
            && (*held == version || !not_older(version.as_deref(), held.as_deref()))
        {
            return false;
        }
        let env = if deleted {
            None
        } else {
            env_from_namespace(ns, &self.region)
        };
        let before = self.namespaces.get(&name).and_then(|(_, e)| e.clone());
        self.namespaces.insert(name, (version, env.clone()));
        before != env
    }
}

impl EnvView {
    fn envs(&self) -> Vec<EphemeralEnv> {
        self.namespaces
            .values()
            .filter_map(|(_, e)| e.clone())
            .collect()
    }
}

/// How many of this process's own writes are kept to be applied again over a list
/// that was answered before them.
const RECENT_WRITES: usize = 16;

/// One watch's state, as readers see it.
pub(super) struct State<V: View> {
    pub(super) view: V,
    /// The first list arrived.
    pub(super) synced: bool,
    /// The watch is established (or between two requests of a healthy one).
    pub(super) live: bool,
    /// Why the watch is broken, when it is.
    pub(super) error: Option<String>,
    /// Bumped on every change of the view.
    pub(super) generation: u64,
    /// This process's latest writes (see [`RECENT_WRITES`]).
    recent: Vec<(V::K, bool)>,
}

impl<V: View> Default for State<V> {
    fn default() -> Self {
        State {
            view: V::default(),
            synced: false,
            live: false,
            error: None,
            generation: 0,
            recent: Vec::new(),
        }
    }
}

impl<V: View> State<V> {
    /// A (re-)list arrived: the view is what it gave, and the watch serves.
    fn listed(&mut self, items: Vec<V::K>, version: Option<String>) {
        self.view.reset(items, version);
        // A write of this process the list was answered before is not lost (an older
        // one is dropped by its version).
        for (obj, deleted) in &self.recent {
            self.view.apply(obj, *deleted);
        }
        self.synced = true;
        self.live = true;
        self.error = None;
        self.generation += 1;
    }

    fn serving(&self) -> bool {
        self.synced && self.live
    }
}

/// What a read from a watch gave.
pub(super) enum Served<T> {
    Yes(T),
    /// The watch does not serve (yet, or now): read directly; `generation` is the
    /// store's when the read starts. `waited_out`: not even a failure within the wait.
    No {
        generation: u64,
        waited_out: bool,
    },
}

/// One watch: its state and the task keeping it.
pub(super) struct Slot<V: View> {
    state: watch::Sender<State<V>>,
}

impl<V: View> Slot<V> {
    fn new(view: V) -> Self {
        Slot {
            state: watch::Sender::new(State {
                view,
                ..State::default()
            }),
        }
    }

    /// Notes an object this process wrote (or deleted): read-your-writes.
    fn note(&self, obj: &V::K, deleted: bool) {
        self.state.send_if_modified(|s| {
            if s.recent.len() == RECENT_WRITES {
                s.recent.remove(0);
            }
            s.recent.push((obj.clone(), deleted));
            if !s.synced {
                return false; // applied over the list to come
            }
            let changed = s.view.apply(obj, deleted);
            if changed {
                s.generation += 1;
            }
            changed
        });
    }

    /// The view, once the watch serves it. Waits for the first list (or the first
    /// failure) up to `wait`.
    async fn serve<T>(&self, wait: Duration, read: impl Fn(&V) -> T) -> Served<T> {
        let mut rx = self.state.subscribe();
        // `wait_for` answers with a read guard on the state: it is dropped within this
        // statement. Held while borrowing again below, it deadlocked against the watch
        // task waiting to write (a second read waits behind a waiting writer).
        let waited_out = tokio::time::timeout(wait, rx.wait_for(|s| s.synced || s.error.is_some()))
            .await
            .is_err();
        let s = self.state.borrow();
        if s.serving() {
            return Served::Yes(read(&s.view));
        }
        Served::No {
            generation: s.generation,
            waited_out,
        }
    }

    /// After a direct read that started at `generation`: the view instead when the
    /// watch serves something newer by now (the direct answer is late).
    fn newer<T>(&self, generation: u64, read: impl Fn(&V) -> T) -> Option<T> {
        let s = self.state.borrow();
        (s.serving() && s.generation > generation).then(|| read(&s.view))
    }
}

/// Keeps `slot` from a list and then watches of `api` restricted to `list`.
async fn follow<V: View>(
    api: Api<V::K>,
    list: ListParams,
    slot: Arc<Slot<V>>,
    cluster: String,
    what: &'static str,
) {
    let mut watch_params = WatchParams::default().timeout(WATCH_SECONDS);
    watch_params.label_selector = list.label_selector.clone();
    watch_params.field_selector = list.field_selector.clone();
    let mut backoff = Backoff::default();
    let fail = |e: String| {
        tracing::warn!(cluster, error = %e, "watching {what} failed; retrying");
        slot.state.send_modify(|s| {
            s.live = false;
            s.error = Some(e);
        });
    };
    'list: loop {
        let listed = match api.list(&list).await {
            Ok(l) => l,
            Err(e) => {
                fail(format!("listing {what}: {e}"));
                backoff.pause().await;
                continue;
            }
        };
        let mut version = listed.metadata.resource_version.clone().unwrap_or_default();
        (slot.state).send_modify(|s| s.listed(listed.items, listed.metadata.resource_version));
        backoff.reset();
        loop {
            let stream = match api.watch(&watch_params, &version).await {
                Ok(s) => s,
                Err(kube::Error::Api(s)) if s.code == 410 => continue 'list,
                Err(e) => {
                    fail(format!("watching {what}: {e}"));
                    backoff.pause().await;
                    continue;
                }
            };
            // Established: what the store holds is current again.
            slot.state.send_if_modified(|s| {
                let was = s.live;
                s.live = true;
                s.error = None;
                !was
            });
            let mut stream = std::pin::pin!(stream.into_stream());
            let mut events = 0u32;
            let broke = loop {
                match stream.try_next().await {
                    Ok(None) => break None,
                    Ok(Some(event)) => {
                        events += 1;
                        let (obj, deleted) = match event {
                            WatchEvent::Added(o) | WatchEvent::Modified(o) => (o, false),
                            WatchEvent::Deleted(o) => (o, true),
                            WatchEvent::Bookmark(b) => {
                                version = b.metadata.resource_version;
                                continue;
                            }
                            WatchEvent::Error(s) if s.code == 410 => continue 'list,
                            WatchEvent::Error(s) => break Some(s.message.clone()),
                        };
                        if let Some(v) = version_of(&obj) {
                            version = v;
                        }
                        slot.state.send_if_modified(|s| {
                            let changed = s.view.apply(&obj, deleted);
                            if changed {
                                s.generation += 1;
                            }
                            changed
                        });
                    }
                    Err(e) => break Some(e.to_string()),
                }
            };
            match broke {
                Some(e) => {
                    fail(format!("watching {what}: {e}"));
                    backoff.pause().await;
                }
                // The server ended the request (its timeout): watch on from the last
                // version; one that ends at once, again and again, is backed off.
                None if events == 0 => backoff.pause_short().await,
                None => backoff.reset(),
            }
        }
    }
}

/// Jittered exponential back-off, 1 s doubling up to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff {
    step: u32,
}

impl Backoff {
    fn reset(&mut self) {
        self.step = 0;
    }

    fn next(&mut self) -> Duration {
        let base = Duration::from_secs(1u64 << self.step.min(6)).min(MAX_BACKOFF);
        self.step = self.step.saturating_add(1);
        let jitter = rand_fraction();
        base.mul_f64(0.5 + jitter / 2.0)
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.next()).await;
    }

    /// A pause that grows only when it keeps happening.
    async fn pause_short(&mut self) {
        let d = self.next();
        tokio::time::sleep(d / 4).await;
    }
}

/// A number in [0, 1) from the clock and the process (a jitter, not a secret).
fn rand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = (u64::from(nanos) ^ u64::from(std::process::id())).wrapping_mul(0x9E37_79B9);
    (mixed % 1000) as f64 / 1000.0
}

/// The watches of every configured cluster, by the index of its connection.
pub(super) struct Stores {
    locks: Vec<Arc<Slot<LockView>>>,
    envs: Vec<Arc<Slot<EnvView>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Off: every read goes to the API servers (as before; `SPHERE_NO_CACHE=1`).
    off: std::sync::atomic::AtomicBool,
}

/// What a [`Stores`] needs to know of one connection.
struct Target {
    cluster: String,
    client: Option<kube::Client>,
}

impl Stores {
    /// Whether reads may be served from watches (see [`KubeClusters::set_watched_reads`]).
    pub(super) fn on(&self) -> bool {
        !self.off.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stores for connections in these regions (in the connections' order).
    pub(super) fn new(regions: &[String]) -> Self {
        Stores {
            locks: (regions.iter())
                .map(|_| Arc::new(Slot::new(LockView::default())))
                .collect(),
            envs: (regions.iter().cloned())
                .map(|region| {
                    Arc::new(Slot::new(EnvView {
                        region,
                        namespaces: BTreeMap::new(),
                    }))
                })
                .collect(),
            tasks: Mutex::new(Vec::new()),
            off: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts the watches (again, when the runtime they ran on is gone); `false` when
    /// there is no runtime to run them (reads then go to the API servers).
    fn start(&self, targets: impl FnOnce() -> Vec<Target>, lock_namespace: &str) -> bool {
        if self.off.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if !tasks.is_empty() && tasks.iter().all(|t| !t.is_finished()) {
            return true;
        }
        for t in tasks.drain(..) {
            t.abort();
        }
        for (i, target) in targets().iter().enumerate() {
            let Some(client) = &target.client else {
                continue;
            };
            let locks: Api<ConfigMap> = Api::namespaced(client.clone(), lock_namespace);
            let by_name = ListParams::default().fields(&format!("metadata.name={LOCK_OBJECT}"));
            tasks.push(runtime.spawn(follow(
                locks,
                by_name,
                self.locks[i].clone(),
                target.cluster.clone(),
                "the lock object",
            )));
            let namespaces: Api<Namespace> = Api::all(client.clone());
            tasks.push(runtime.spawn(follow(
                namespaces,
                ListParams::default().labels(ENV_LABEL),
                self.envs[i].clone(),
                target.cluster.clone(),
                "environment namespaces",
            )));
        }
        true
    }

    pub(super) fn note_lock_object(&self, i: usize, cm: &ConfigMap) {
        self.locks[i].note(cm, false);
    }

    pub(super) fn note_namespace(&self, i: usize, ns: &Namespace, deleted: bool) {
        self.envs[i].note(ns, deleted);
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        for t in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

impl KubeClusters {
    /// Whether locks and environments are read from watches (the default) or from the
    /// API servers on every read (as before: `SPHERE_NO_CACHE=1`, the cost bench's
    /// "before").
    pub fn set_watched_reads(&self, on: bool) {
        (self.inner.stores.off).store(!on, std::sync::atomic::Ordering::Relaxed);
    }

    fn conn_index(&self, conn: &Conn) -> Option<usize> {
        self.inner.conns.iter().position(|c| std::ptr::eq(c, conn))
    }

    /// Starts the watches when they do not run; whether they do.
    fn watching(&self) -> bool {
        let targets = || {
            (self.inner.conns.iter())
                .map(|c| Target {
                    cluster: c.id.to_string(),
                    client: c.client.as_ref().ok().cloned(),
                })
                .collect()
        };
        self.inner.stores.start(targets, &self.inner.lock_namespace)
    }

    /// One cluster's locks: from its watch when it serves, else read directly.
    pub(super) async fn watched_locks(&self, conn: &Conn) -> Result<Vec<Lock>> {
        let what = "reading locks";
        let slot = |i| &self.inner.stores.locks[i];
        self.watched(conn, what, slot, LockView::locks, || {
            self.timed(&conn.id, what, self.read_locks(conn))
        })
        .await
    }

    /// The environments one cluster holds: from its watch when it serves, else listed.
    pub(super) async fn watched_envs(&self, conn: &Conn) -> Result<Vec<EphemeralEnv>> {
        let what = "listing environments";
        let slot = |i| &self.inner.stores.envs[i];
        self.watched(
            conn,
            what,
            slot,
            |v: &EnvView| Ok(v.envs()),
            || self.timed(&conn.id, what, self.list_envs_of(conn)),
        )
        .await
    }

    /// What `read` finds in the watched store of `conn` (`slot` of its index) when the
    /// watch serves; else the `direct` read, unless the watch came back meanwhile with
    /// something newer (then the direct answer is late and gives way).
    async fn watched<'s, V: View, T, F>(
        &'s self,
        conn: &Conn,
        what: &str,
        slot: impl FnOnce(usize) -> &'s Arc<Slot<V>>,
        read: impl Fn(&V) -> Result<T>,
        direct: impl FnOnce() -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let Some(i) = self.conn_index(conn).filter(|_| conn.client.is_ok()) else {
            return direct().await;
        };
        if !self.watching() {
            return direct().await;
        }
        let slot = slot(i);
        let context = || format!("cluster {}: {what}", conn.id);
        match slot.serve(self.inner.timeout, &read).await {
            Served::Yes(r) => r.with_context(context),
            Served::No {
                waited_out: true, ..
            } => Err(self.waited_out(conn, what)),
            Served::No { generation, .. } => {
                let direct = direct().await;
                match slot.newer(generation, &read) {
                    Some(newer) => newer.with_context(context),
                    None => direct,
                }
            }
        }
    }

    fn waited_out(&self, conn: &Conn, what: &str) -> anyhow::Error {
        anyhow!(
            "cluster {}: {what}: no answer within {}s",
            conn.id,
            self.inner.timeout.as_secs()
        )
    }

    /// Notes the lock object as this process wrote it.
    pub(super) fn note_locks(&self, conn: &Conn, cm: &ConfigMap) {
        if let Some(i) = self.conn_index(conn) {
            self.inner.stores.note_lock_object(i, cm);
        }
    }

    /// Notes an environment namespace as this process wrote (or deleted) it.
    pub(super) fn note_namespace(&self, conn: &Conn, ns: &Namespace, deleted: bool) {
        if let Some(i) = self.conn_index(conn) {
            self.inner.stores.note_namespace(i, ns, deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn cm(version: &str, locks: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(LOCK_OBJECT.into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                super::super::LOCK_KEY.into(),
                locks.into(),
            )])),
            ..Default::default()
        }
    }

    fn one(service: &str) -> String {
        format!(
            r#"{{"format":2,"locks":[{{"service":"{service}","reason":"r","by":"ada","at":1}}]}}"#
        )
    }

    #[test]
    fn an_older_version_is_dropped_and_a_newer_one_applies() {
        let mut v = LockView {
            version: None,
            locks: Ok(Vec::new()),
        };
        v.reset(vec![cm("10", &one("cart"))], Some("12".into()));
        assert_eq!(v.locks().unwrap()[0].service, "cart");
        // A replayed event from before the list changes nothing.
        assert!(!v.apply(&cm("9", &one("old")), false));
        assert!(!v.apply(&cm("10", &one("cart")), false));
        assert_eq!(v.locks().unwrap()[0].service, "cart");
        assert!(v.apply(&cm("11", &one("search")), false));
        assert_eq!(v.locks().unwrap()[0].service, "search");
        assert!(v.apply(&cm("13", ""), true));
        assert!(v.locks().unwrap().is_empty());
        // A format this sphere cannot read is an error a read reports.
        assert!(v.apply(&cm("14", r#"{"format":9,"locks":[]}"#), false));
        assert!(v.locks().is_err());
    }

    #[test]
    fn a_gone_namespace_does_not_come_back_with_a_late_event() {
        let ns = |version: &str| -> Namespace {
            serde_json::from_value(serde_json::json!({
                "metadata": {
                    "name": "sphere-env-pr-7",
                    "resourceVersion": version,
                    "labels": {ENV_LABEL: "pr-7"},
                }
            }))
            .unwrap()
        };
        let mut v = EnvView {
            region: "eu-west-1".into(),
            namespaces: BTreeMap::new(),
        };
        v.reset(vec![ns("5")], None);
        assert_eq!(v.envs().len(), 1);
        assert!(v.apply(&ns("8"), true));
        assert!(v.envs().is_empty());
        assert!(!v.apply(&ns("6"), false), "a late event about it");
        assert!(v.envs().is_empty());
        assert!(v.apply(&ns("9"), false), "made again");
        assert_eq!(v.envs().len(), 1);
    }

    /// A direct read carries the generation it started at: when the watch serves
    /// something newer by its end, the late direct answer gives way; otherwise it
    /// stands. Before the first list the watch does not serve (read directly).
    #[tokio::test]
    async fn a_late_direct_answer_gives_way_to_a_newer_watch_state() {
        let slot = Slot::new(LockView::default());
        let wait = Duration::from_millis(20);
        let Served::No {
            generation,
            waited_out: true,
        } = slot.serve(wait, LockView::locks).await
        else {
            panic!("served before the first list");
        };
        // The list arrives (and this process's own write, noted before it, stays).
        slot.note(&cm("12", &one("mine")), false);
        (slot.state).send_modify(|s| s.listed(vec![cm("10", &one("cart"))], Some("11".into())));
        let newer = slot.newer(generation, LockView::locks).expect("newer");
        assert_eq!(newer.unwrap()[0].service, "mine");
        // Nothing new since a read that started now: its own answer stands.
        let Served::Yes(_) = slot.serve(wait, LockView::locks).await else {
            panic!("a live watch does not serve");
        };
        let now = slot.state.borrow().generation;
        assert!(slot.newer(now, LockView::locks).is_none());
        // Broken: not served, and nothing newer to prefer.
        slot.state.send_modify(|s| s.live = false);
        assert!(matches!(
            slot.serve(wait, LockView::locks).await,
            Served::No {
                waited_out: false,
                ..
            }
        ));
        assert!(slot.newer(0, LockView::locks).is_none());
    }

    /// Reads while the watch task writes: a read never holds the state's lock while
    /// taking it again (a second read waits behind a waiting writer: a deadlock that
    /// hung `sphere lock check` on a configured platform).
    #[test]
    fn reads_while_the_watch_writes_never_deadlock() {
        let slot = Arc::new(Slot::new(LockView::default()));
        (slot.state).send_modify(|s| s.listed(vec![cm("10", &one("cart"))], Some("11".into())));
        slot.state.send_modify(|s| s.live = true);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (slot, stop) = (slot.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    slot.state.send_modify(|s| s.live = true);
                }
            })
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let reader = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("runtime");
                for _ in 0..20_000 {
                    let served = rt.block_on(slot.serve(Duration::from_secs(5), LockView::locks));
                    assert!(matches!(served, Served::Yes(_)));
                }
                let _ = done_tx.send(());
            })
        };
        let finished = done_rx.recv_timeout(Duration::from_secs(20)).is_ok();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(finished, "a read deadlocked against the writing watch task");
        writer.join().expect("writer");
        reader.join().expect("reader");
    }

    #[test]
    fn versions_compare_as_integers_and_anything_else_is_newer() {
        assert!(not_older(Some("10"), Some("9")));
        assert!(!not_older(Some("9"), Some("10")));
        assert!(not_older(Some("abc"), Some("10")));
        assert!(not_older(Some("1"), None));
    }
}
