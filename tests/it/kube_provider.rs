//! The Kubernetes provider against a real Kubernetes API peer on loopback (kmock behind
//! `tests/peers/kube_peer.py`), through kube's own client, reached the way a user's
//! platform reaches its clusters: a kubeconfig file with a context per cluster.
//!
//! Every test works in namespaces of its own, so the tests share one peer.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{counting_proxy, peers};
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use sphere::backend::kubernetes::{KubeClusters, LOCK_KEY, LOCK_OBJECT, parse_lock_text};
use sphere::backend::{ClusterProvider, LockStore};
use sphere::config::platform::{ClusterConfig, KubernetesConfig};
use sphere::domain::environment::EphemeralEnv;
use sphere::domain::{ClusterEvent, ClusterId, Lock, PodPhase, RolloutState, Scope};

const LABEL: &str = "app.kubernetes.io/name";
/// Long enough for anything the peer does; tests poll for their condition until it.
const DEADLINE: Duration = Duration::from_secs(20);

/// One cluster of a test platform: where its API server is and what it is.
struct TestCluster {
    env: &'static str,
    region: &'static str,
    server: String,
    namespace: Option<String>,
}

fn on_peer(env: &'static str, region: &'static str, ns: &str) -> TestCluster {
    TestCluster {
        env,
        region,
        server: peers::kube().to_string(),
        namespace: Some(ns.to_string()),
    }
}

/// A cluster on the peer that watches every namespace (as the lock store's clusters do).
fn peer_wide(env: &'static str, region: &'static str) -> TestCluster {
    TestCluster {
        namespace: None,
        ..on_peer(env, region, "apps")
    }
}

fn at(env: &'static str, region: &'static str, addr: SocketAddr) -> TestCluster {
    TestCluster {
        env,
        region,
        server: format!("http://{addr}"),
        namespace: None,
    }
}

/// A kubeconfig with a context per cluster (`ENV-REGION`), as a user's would have.
fn kubeconfig(dir: &Path, clusters: &[TestCluster]) -> PathBuf {
    let mut text = String::from(
        "apiVersion: v1\nkind: Config\nusers:\n- name: tester\n  user: {}\nclusters:\n",
    );
    for c in clusters {
        text += &format!(
            "- name: {e}-{r}\n  cluster:\n    server: {s}\n",
            e = c.env,
            r = c.region,
            s = c.server
        );
    }
    text += "contexts:\n";
    for c in clusters {
        text += &format!(
            "- name: {e}-{r}\n  context:\n    cluster: {e}-{r}\n    user: tester\n",
            e = c.env,
            r = c.region
        );
    }
    text += &format!(
        "current-context: {}-{}\n",
        clusters[0].env, clusters[0].region
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

fn settings(lock_namespace: &str, timeout_seconds: u64) -> KubernetesConfig {
    KubernetesConfig {
        lock_namespace: lock_namespace.to_string(),
        timeout_seconds,
        ..KubernetesConfig::default()
    }
}

async fn provider(
    dir: &Path,
    clusters: &[TestCluster],
    settings: &KubernetesConfig,
) -> KubeClusters {
    let path = kubeconfig(dir, clusters);
    let entries: Vec<ClusterConfig> = clusters
        .iter()
        .map(|c| ClusterConfig {
            region: c.region.to_string(),
            env: c.env.to_string(),
            context: Some(format!("{}-{}", c.env, c.region)),
            kubeconfig: Some(path.clone()),
            namespace: c.namespace.clone(),
            aws_region: None,
            aws_profile: None,
        })
        .collect();
    KubeClusters::new(&entries, settings).await
}

/// A plain kube client to the peer, to seed and inspect objects (as kubectl would).
async fn seeder(server: &str) -> kube::Client {
    let config = kube::Config::new(server.parse().expect("peer url"));
    kube::Client::try_from(config).expect("kube client")
}

fn deployment(name: &str, service: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {LABEL: service}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {LABEL: service}},
            "template": {
                "metadata": {"labels": {LABEL: service}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    }))
    .expect("deployment")
}

fn ready_status(replicas: i32) -> serde_json::Value {
    json!({"status": {
        "observedGeneration": 1,
        "replicas": replicas,
        "readyReplicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [{
            "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
            "lastUpdateTime": "2026-11-01T10:00:00Z", "lastTransitionTime": "2026-11-01T09:00:00Z"
        }]
    }})
}

fn pod(name: &str, service: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {LABEL: service}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": image}]}
    }))
    .expect("pod")
}

fn running_status() -> serde_json::Value {
    json!({"status": {
        "phase": "Running",
        "startTime": "2026-11-01T10:00:00Z",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 1,
            "state": {"running": {"startedAt": "2026-11-01T10:00:00Z"}}
        }]
    }})
}

fn crash_status() -> serde_json::Value {
    json!({"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
        }]
    }})
}

/// An HPA without the service label: it maps to its service through its target.
fn hpa(name: &str, target: &str, min: i32, max: i32) -> HorizontalPodAutoscaler {
    serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min,
            "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}
            }}]
        }
    }))
    .expect("hpa")
}

/// Seeds `service` in `ns`: a ready deployment of 2 on `1.4.2`, a running pod and an HPA.
async fn seed_service(client: &kube::Client, ns: &str, service: &str) {
    let deps: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    let pp = PostParams::default();
    let image = format!("ghcr.io/acme/{service}:1.4.2");
    let dep_name = format!("{service}-deploy");
    deps.create(&pp, &deployment(&dep_name, service, &image, 2))
        .await
        .expect("create deployment");
    set_status(&deps, &dep_name, ready_status(2), "deployment status").await;
    let pod_name = format!("{service}-pod-1");
    pods.create(&pp, &pod(&pod_name, service, &image))
        .await
        .expect("create pod");
    set_status(&pods, &pod_name, running_status(), "pod status").await;
    let hpa_name = format!("{service}-hpa");
    hpas.create(&pp, &hpa(&hpa_name, &dep_name, 2, 6))
        .await
        .expect("create hpa");
    let hpa_status = json!({"status": {"currentReplicas": 2, "desiredReplicas": 2,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 41}}}]}});
    set_status(&hpas, &hpa_name, hpa_status, "hpa status").await;
}

/// Merge-patches the status of `name` (as the controller owning it would).
async fn set_status<K>(api: &Api<K>, name: &str, status: serde_json::Value, what: &str)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect(what);
}

/// A namespace of its own on the peer (`prefix`-…) with `service` seeded in it.
async fn seeded_namespace(prefix: &str, service: &str) -> (String, kube::Client) {
    let ns = peers::unique(prefix);
    let client = seeder(peers::kube()).await;
    seed_service(&client, &ns, service).await;
    (ns, client)
}

/// A provider of the one cluster `env`/`region`, on the peer in `ns`, and that cluster.
async fn one_cluster(
    dir: &Path,
    env: &'static str,
    region: &'static str,
    ns: &str,
) -> (KubeClusters, ClusterId) {
    let kube = provider(
        dir,
        &[on_peer(env, region, ns)],
        &settings("sphere-system", 5),
    )
    .await;
    (kube, ClusterId::new(env, region))
}

/// The image of the deployment's first container.
fn first_image(d: &Deployment) -> Option<&str> {
    d.spec.template.spec.as_ref().unwrap().containers[0]
        .image
        .as_deref()
}

fn assert_err_mentions(err: &anyhow::Error, needle: &str) {
    assert!(format!("{err:#}").contains(needle), "{err:#}");
}

/// The next event matching `pred`, or a failure naming what was awaited and what came.
async fn next_matching(
    stream: &mut BoxStream<'static, ClusterEvent>,
    what: &str,
    seen: &mut Vec<ClusterEvent>,
    pred: impl Fn(&ClusterEvent) -> bool,
) -> ClusterEvent {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(ev)) => {
                seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
            Ok(None) => panic!("the watch ended before {what}; saw {seen:#?}"),
            Err(_) => panic!("no {what} within {DEADLINE:?}; saw {seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_summaries_then_live_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, client) = seeded_namespace("watch", "payments").await;
    // Without the service label: not a service's workload, never reported.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let mut stray = deployment("stray", "x", "busybox:1", 1);
    stray.metadata.labels = None;
    stray.spec.template.metadata = None;
    deps.create(&PostParams::default(), &stray).await.unwrap();

    let (kube, cluster) = one_cluster(dir.path(), "production", "eu-west-1", &ns).await;
    assert_eq!(kube.topology().regions, vec!["eu-west-1"]);
    assert_eq!(kube.topology().environments, vec!["production"]);

    let mut stream = kube.watch();
    let mut seen = Vec::new();
    next_matching(
        &mut stream,
        "Synced",
        &mut seen,
        |e| matches!(e, ClusterEvent::Synced(c) if *c == cluster),
    )
    .await;

    let deployments: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Deployment(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deployments.len(),
        1,
        "only the labelled deployment: {seen:#?}"
    );
    let d = &deployments[0];
    assert_eq!(d.service, "payments");
    assert_eq!(d.cluster, cluster);
    assert_eq!(d.version, "1.4.2");
    assert_eq!((d.desired, d.ready, d.updated), (2, 2, 2));
    assert_eq!(d.rollout, RolloutState::Complete);
    assert_eq!(d.updated_at, 1_793_527_200); // 2026-11-01T10:00:00Z

    let p = seen
        .iter()
        .find_map(|e| match e {
            ClusterEvent::Pod(p) => Some(p.clone()),
            _ => None,
        })
        .expect("a pod summary before Synced");
    assert_eq!(p.name, "payments-pod-1");
    assert_eq!(p.service, "payments");
    assert_eq!(p.phase, PodPhase::Running);
    assert!(p.ready);
    assert_eq!(p.restarts, 1);
    assert_eq!(p.node, "node-a");
    assert_eq!(p.version, "1.4.2");
    assert_eq!(p.started_at, 1_793_527_200);
    assert_eq!(p.waiting, None);

    let h = seen
        .iter()
        .find_map(|e| match e {
            ClusterEvent::Hpa(h) => Some(h.clone()),
            _ => None,
        })
        .expect("an HPA summary before Synced");
    assert_eq!(
        h.service, "payments",
        "mapped through its target deployment"
    );
    assert_eq!((h.min, h.max, h.current), (2, 6, 2));
    assert_eq!(h.target_cpu, 70);
    assert_eq!(h.current_cpu, Some(41));

    // A live change: the pod starts crash-looping.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.patch_status(
        "payments-pod-1",
        &PatchParams::default(),
        &Patch::Merge(crash_status()),
    )
    .await
    .unwrap();
    let ev = next_matching(
        &mut stream,
        "the crash-looping pod",
        &mut seen,
        |e| matches!(e, ClusterEvent::Pod(p) if p.crash_looping()),
    )
    .await;
    let ClusterEvent::Pod(p) = ev else {
        unreachable!()
    };
    assert_eq!(p.restarts, 4);
    assert!(!p.ready);
    assert_eq!(p.last_termination.as_deref(), Some("OOMKilled"));

    // And goes away.
    pods.delete("payments-pod-1", &Default::default())
        .await
        .unwrap();
    next_matching(
        &mut stream,
        "the pod's deletion",
        &mut seen,
        |e| matches!(e, ClusterEvent::PodDeleted { name, .. } if name == "payments-pod-1"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_sets_the_restarted_at_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, client) = seeded_namespace("restart", "search").await;
    let (kube, cluster) = one_cluster(dir.path(), "staging", "us-east-1", &ns).await;

    let before = jiff_now();
    kube.restart("search", &cluster).await.expect("restart");
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d = deps.get("search-deploy").await.unwrap();
    let annotations = d
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let stamp = annotations
        .get("kubectl.kubernetes.io/restartedAt")
        .unwrap_or_else(|| panic!("no restartedAt annotation in {annotations:?}"));
    let stamped: k8s_openapi::jiff::Timestamp = stamp.parse().expect("an RFC 3339 time");
    assert!(
        stamped.as_second() >= before - 1,
        "{stamp} is older than the restart"
    );
    // The containers are untouched, the template changed: a new rollout begins.
    assert_eq!(first_image(&d), Some("ghcr.io/acme/search:1.4.2"));
    let snap = kube.snapshot(&Scope::default()).await.unwrap();
    assert_eq!(snap.deployments[0].rollout, RolloutState::Progressing);

    let err = kube.restart("nope", &cluster).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("nope") && msg.contains("staging/us-east-1"),
        "{msg}"
    );
    let err = kube
        .restart("search", &ClusterId::new("dev", "mars"))
        .await
        .unwrap_err();
    assert_err_mentions(&err, "dev/mars");
}

fn jiff_now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_patch_sets_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, client) = seeded_namespace("hpa", "orders").await;
    let (kube, cluster) = one_cluster(dir.path(), "production", "ap-south-1", &ns).await;

    kube.set_hpa("orders", &cluster, 3, 9)
        .await
        .expect("set_hpa");
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let h = hpas.get("orders-hpa").await.unwrap();
    assert_eq!((h.spec.min_replicas, h.spec.max_replicas), (Some(3), 9));
    assert_eq!(
        h.spec.scale_target_ref.name, "orders-deploy",
        "the rest is kept"
    );
    let snap = kube.snapshot(&Scope::default()).await.unwrap();
    assert_eq!((snap.hpas[0].min, snap.hpas[0].max), (3, 9));

    let err = kube.set_hpa("nope", &cluster, 1, 2).await.unwrap_err();
    assert_err_mentions(&err, "nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_slow_clusters_are_reported_beside_the_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, _client) = seeded_namespace("reach", "ledger").await;
    let kube = provider(
        dir.path(),
        &[
            on_peer("production", "eu-west-1", &ns),
            at("production", "us-east-1", peers::closed_addr()),
            at("production", "ap-south-1", peers::silent_addr()),
        ],
        &settings("sphere-system", 2),
    )
    .await;
    let live = ClusterId::new("production", "eu-west-1");
    let refused = ClusterId::new("production", "us-east-1");
    let silent = ClusterId::new("production", "ap-south-1");

    let start = Instant::now();
    let snap = kube.snapshot(&Scope::default()).await.expect("snapshot");
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the slow cluster stalled the snapshot: {took:?}"
    );
    assert_eq!(snap.deployments.len(), 1, "{snap:#?}");
    assert_eq!(snap.deployments[0].cluster, live);
    assert_eq!(snap.pods.len(), 1);
    assert_eq!(snap.hpas.len(), 1);
    let errors: BTreeMap<_, _> = snap.errors.iter().cloned().collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[&refused].contains("production/us-east-1"),
        "{errors:#?}"
    );
    assert!(
        errors[&silent].contains("production/ap-south-1") && errors[&silent].contains("2s"),
        "{errors:#?}"
    );

    // Scoped to the live cluster, nothing else is asked.
    let scoped = kube
        .snapshot(&Scope {
            env: None,
            region: Some("eu-west-1".into()),
        })
        .await
        .unwrap();
    assert!(scoped.errors.is_empty(), "{:?}", scoped.errors);
    assert_eq!(scoped.deployments.len(), 1);

    // The watch: the live cluster syncs; the other two are reported unreachable.
    let mut stream = kube.watch();
    let mut seen = Vec::new();
    let mut synced = false;
    let mut unreachable = BTreeSet::new();
    while !(synced && unreachable.len() == 2) {
        let ev = next_matching(&mut stream, "Synced and two Unreachable", &mut seen, |e| {
            matches!(
                e,
                ClusterEvent::Synced(_) | ClusterEvent::Unreachable { .. }
            )
        })
        .await;
        match ev {
            ClusterEvent::Synced(c) => {
                assert_eq!(c, live);
                synced = true;
            }
            ClusterEvent::Unreachable { cluster, .. } => {
                assert_ne!(cluster, live, "{seen:#?}");
                unreachable.insert(cluster);
            }
            _ => unreachable!(),
        }
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClusterEvent::Deployment(d) if d.service == "ledger"))
    );
}

fn lock(service: &str, env: Option<&str>, region: Option<&str>, reason: &str) -> Lock {
    Lock {
        service: service.to_string(),
        env: env.map(str::to_string),
        region: region.map(str::to_string),
        reason: reason.to_string(),
        by: "tester".to_string(),
        at: 1_790_000_000,
    }
}

/// What identifies a lock in these tests: (service, env, region, reason).
type LockKey = (String, Option<String>, Option<String>, String);

fn keys(locks: &[Lock]) -> BTreeSet<LockKey> {
    locks
        .iter()
        .map(|l| {
            (
                l.service.clone(),
                l.env.clone(),
                l.region.clone(),
                l.reason.clone(),
            )
        })
        .collect()
}

/// The key of `lock(service, env, region, reason)`.
fn key(service: &str, env: Option<&str>, region: Option<&str>, reason: &str) -> LockKey {
    keys(&[lock(service, env, region, reason)])
        .pop_first()
        .unwrap()
}

/// A second API server, so two clusters of one platform hold separate lock objects.
fn second_peer() -> String {
    let python = peers::tool("python3").expect("python3");
    let port = peers::free_port();
    peers::spawn_peer(
        python,
        vec![
            peers::repo()
                .join("tests/peers/kube_peer.py")
                .display()
                .to_string(),
            "--port".into(),
            port.to_string(),
        ],
    );
    peers::wait_for_port(
        port,
        "the second Kubernetes emulator",
        Duration::from_secs(30),
    );
    format!("http://127.0.0.1:{port}")
}

async fn stored_locks(server: &str, lock_ns: &str) -> Vec<Lock> {
    let cms: Api<ConfigMap> = Api::namespaced(seeder(server).await, lock_ns);
    let cm = cms.get(LOCK_OBJECT).await.expect("the lock object");
    parse_lock_text(&cm.data.unwrap()[LOCK_KEY]).expect("locks json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_round_trip_across_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let lock_ns = peers::unique("locks");
    let other = second_peer();
    let eu = peer_wide("production", "eu-west-1");
    let us = TestCluster {
        env: "production",
        region: "us-east-1",
        server: other.clone(),
        namespace: None,
    };
    let kube = provider(dir.path(), &[eu, us], &settings(&lock_ns, 5)).await;
    assert!(
        kube.locks().await.unwrap().is_empty(),
        "no lock object yet: no locks"
    );

    // Everywhere in production: written into both clusters.
    kube.add_lock(lock("payments", Some("production"), None, "incident"))
        .await
        .unwrap();
    // Only in us-east-1.
    let search = |reason| lock("search", Some("production"), Some("us-east-1"), reason);
    kube.add_lock(search("migration")).await.unwrap();
    // Replacing: same service and scope, new reason.
    kube.add_lock(search("migration 2")).await.unwrap();

    let all = kube.locks().await.unwrap();
    assert_eq!(
        keys(&all),
        BTreeSet::from([
            key("payments", Some("production"), None, "incident"),
            key(
                "search",
                Some("production"),
                Some("us-east-1"),
                "migration 2"
            ),
        ]),
        "merged without duplicates: {all:#?}"
    );
    assert_eq!(stored_locks(peers::kube(), &lock_ns).await.len(), 1);
    assert_eq!(stored_locks(&other, &lock_ns).await.len(), 2);

    // A lock about a cluster that is not configured cannot be placed.
    assert!(
        kube.add_lock(lock("x", Some("dev"), None, "r"))
            .await
            .is_err()
    );

    assert_eq!(
        kube.remove_locks("payments", Some("production"), None, None)
            .await
            .unwrap()
            .len(),
        1,
        "one lock, though stored twice"
    );
    assert!(
        kube.remove_locks("payments", None, None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        keys(&kube.locks().await.unwrap()),
        BTreeSet::from([key(
            "search",
            Some("production"),
            Some("us-east-1"),
            "migration 2"
        )])
    );
    assert!(stored_locks(peers::kube(), &lock_ns).await.is_empty());
    assert_eq!(
        kube.remove_locks("search", None, Some("us-east-1"), None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(kube.locks().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_holds_a_lock_per_holder_and_the_old_format_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let lock_ns = peers::unique("holders");
    let c = peer_wide("production", "eu-west-1");
    let kube = provider(dir.path(), &[c], &settings(&lock_ns, 5)).await;
    let by = |who: &str, reason: &str| Lock {
        by: who.to_string(),
        ..lock("payments", Some("production"), None, reason)
    };
    assert!(kube.add_lock(by("ada", "INC-1")).await.unwrap().is_empty());
    // Bob's lock is added beside Ada's, and he is told hers.
    let others = kube.add_lock(by("bob", "release 7")).await.unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(
        (others[0].by.as_str(), others[0].reason.as_str()),
        ("ada", "INC-1")
    );
    assert_eq!(kube.locks().await.unwrap().len(), 2);
    // The object is format 2 (an older sphere fails to read it: closed).
    let cms: Api<ConfigMap> = Api::namespaced(seeder(peers::kube()).await, &lock_ns);
    let text = cms.get(LOCK_OBJECT).await.unwrap().data.unwrap()[LOCK_KEY].clone();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], 2, "{text}");
    assert!(serde_json::from_str::<Vec<Lock>>(&text).is_err());
    // Bob's unlock removes his own lock only.
    let gone = kube
        .remove_locks("payments", Some("production"), None, Some("bob"))
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    let left = kube.locks().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].by, "ada");

    // A cluster written by an older sphere (format 1: a bare list) still reads, and
    // the next write keeps its locks.
    let mut cm = cms.get(LOCK_OBJECT).await.unwrap();
    let old = serde_json::to_string(&vec![by("carol", "old format")]).unwrap();
    cm.data.as_mut().unwrap().insert(LOCK_KEY.to_string(), old);
    cms.replace(LOCK_OBJECT, &PostParams::default(), &cm)
        .await
        .unwrap();
    // (Read from the watch of the lock object: the other writer's change arrives as an
    // event, a moment after its write.)
    let read = eventually(
        "the old-format write",
        || kube.locks(),
        |l| l.iter().any(|l| l.by == "carol"),
    )
    .await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].by, "carol");
    kube.add_lock(by("dave", "INC-2")).await.unwrap();
    let mut holders: Vec<String> = kube
        .locks()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.by)
        .collect();
    holders.sort();
    assert_eq!(holders, ["carol", "dave"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_race_loses_no_update() {
    let lock_ns = peers::unique("race");
    let mk = || async {
        let dir = tempfile::tempdir().unwrap();
        let c = peer_wide("production", "eu-west-1");
        let kube = provider(dir.path(), &[c], &settings(&lock_ns, 10)).await;
        (dir, Arc::new(kube))
    };
    // Two independent clients: two processes' worth of sphere.
    let (_da, a) = mk().await;
    let (_db, b) = mk().await;

    // Each client: 25 services, lock then (odd) unlock or (even) re-lock with a new
    // reason: 50 operations each, 100 in all, in 4 concurrent lanes per client.
    let run = |client: Arc<KubeClusters>, who: &'static str| async move {
        let lanes = (0..4).map(|lane| {
            let client = client.clone();
            async move {
                for k in (lane..25).step_by(4) {
                    let service = format!("{who}-{k}");
                    client
                        .add_lock(lock(&service, Some("production"), None, "first"))
                        .await
                        .unwrap_or_else(|e| panic!("lock {service}: {e:#}"));
                    if k % 2 == 1 {
                        let n = client
                            .remove_locks(&service, Some("production"), None, None)
                            .await
                            .unwrap_or_else(|e| panic!("unlock {service}: {e:#}"))
                            .len();
                        assert_eq!(n, 1, "the lock of {service} was lost before its unlock");
                    } else {
                        client
                            .add_lock(lock(&service, Some("production"), None, "second"))
                            .await
                            .unwrap_or_else(|e| panic!("re-lock {service}: {e:#}"));
                    }
                }
            }
        });
        futures::future::join_all(lanes).await;
    };
    tokio::join!(run(a.clone(), "a"), run(b.clone(), "b"));

    let expected: BTreeSet<_> = ["a", "b"]
        .iter()
        .flat_map(|who| {
            (0..25)
                .filter(|k| k % 2 == 0)
                .map(move |k| key(&format!("{who}-{k}"), Some("production"), None, "second"))
        })
        .collect();
    assert_eq!(expected.len(), 26);
    // Each client reads the locks from its watch: the other's last writes arrive as
    // events, a moment after them.
    let from_a = eventually("a's view", || a.locks(), |l| keys(l) == expected).await;
    assert_eq!(keys(&from_a), expected, "a lost update");
    let from_b = eventually("b's view", || b.locks(), |l| keys(l) == expected).await;
    assert_eq!(keys(&from_b), expected);
    assert_eq!(keys(&stored_locks(peers::kube(), &lock_ns).await), expected);

    let conflicts = a.lock_conflicts() + b.lock_conflicts();
    eprintln!("lock race: {conflicts} conflicts re-read and retried");
    assert!(
        conflicts > 0,
        "the clients never raced: the test proved nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_write_gets_409_and_is_retried_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let lock_ns = peers::unique("stale");
    let c = peer_wide("staging", "eu-west-1");
    let kube = provider(dir.path(), &[c], &settings(&lock_ns, 5)).await;
    kube.add_lock(lock("payments", None, None, "first"))
        .await
        .unwrap();
    assert_eq!(kube.lock_conflicts(), 0);

    // The API server refuses a replace carrying a resourceVersion that is not current.
    let client = seeder(peers::kube()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &lock_ns);
    let read = cms.get(LOCK_OBJECT).await.unwrap();
    cms.patch(
        LOCK_OBJECT,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"touched": "yes"}}})),
    )
    .await
    .unwrap();
    match cms
        .replace(LOCK_OBJECT, &PostParams::default(), &read)
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("a stale replace was not refused: {other:?}"),
    }

    // Another writer adds its lock exactly between sphere's read and its write.
    let intruder = vec![
        lock("payments", None, None, "first"),
        lock("billing", None, None, "theirs"),
    ];
    let url = format!("{}/_peer/after-get", peers::kube());
    let path = format!("/api/v1/namespaces/{lock_ns}/configmaps/{LOCK_OBJECT}");
    let body = json!({"path": path, "patch": {"data": {LOCK_KEY: serde_json::to_string(&intruder).unwrap()}}});
    reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    kube.add_lock(lock("search", None, None, "ours"))
        .await
        .unwrap();
    assert_eq!(
        kube.lock_conflicts(),
        1,
        "the stale write was refused once, then retried"
    );
    assert_eq!(
        keys(&kube.locks().await.unwrap()),
        BTreeSet::from([
            key("billing", None, None, "theirs"),
            key("payments", None, None, "first"),
            key("search", None, None, "ours"),
        ]),
        "the other writer's lock survived"
    );
}

/// The whole path a user takes: `config.toml` with `[[clusters]]` and a kubeconfig, the
/// `sphere` binary's configured platform, `sphere lock check` answering from the locks
/// in the cluster (written there by another sphere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sphere_lock_check_reads_the_locks_in_the_cluster() {
    let dir = common::tmp();
    let lock_ns = peers::unique("cli");
    let c = peer_wide("production", "eu-west-1");
    let kubeconfig = kubeconfig(dir.path(), &[c]);
    std::fs::write(
        dir.path().join("catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments\n\
         spec:\n  type: service\n  owner: team-a\n  lifecycle: production\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: search\n\
         spec:\n  type: service\n  owner: team-a\n  lifecycle: production\n",
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[catalog]\npaths = [\"catalog-info.yaml\"]\n\n[kubernetes]\nlock_namespace = \"{lock_ns}\"\n\
             timeout_seconds = 5\n\n[[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\n\
             context = \"production-eu-west-1\"\nkubeconfig = \"{}\"\n",
            kubeconfig.display()
        ),
    )
    .unwrap();

    // Another sphere locked payments in production.
    let dir2 = tempfile::tempdir().unwrap();
    let c2 = peer_wide("production", "eu-west-1");
    let other = provider(dir2.path(), &[c2], &settings(&lock_ns, 5)).await;
    other
        .add_lock(lock("payments", Some("production"), None, "incident 42"))
        .await
        .unwrap();

    let check = |service: &str| {
        let out = common::command(
            &dir,
            &[
                "lock",
                "check",
                service,
                "--env",
                "production",
                "--output",
                "json",
            ],
        )
        .env("SPHERE_CONFIG", &config)
        .output()
        .expect("sphere runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), stdout, stderr)
    };
    // (The binary runs to completion; nothing in this test needs the runtime meanwhile.)
    let free = check("search");
    assert_eq!(free.0, Some(0), "search is free: {free:?}");
    let (code, stdout, stderr) = check("payments");
    assert_eq!(code, Some(3), "payments is locked: {stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["locked"], true);
    assert_eq!(json["locks"][0]["reason"], "incident 42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_deployment_is_idempotent_and_watched() {
    let dir = tempfile::tempdir().unwrap();
    let ns = peers::unique("golden");
    let kube = provider(
        dir.path(),
        &[on_peer("dev", "eu-west-1", &ns)],
        &KubernetesConfig {
            image: "ghcr.io/acme/{service}:{version}".to_string(),
            ..settings("sphere-system", 5)
        },
    )
    .await;
    let cluster = ClusterId::new("dev", "eu-west-1");
    kube.create_deployment("fraud-scorer", &cluster, "0.1.0", 2)
        .await
        .expect("create");
    let deps: Api<Deployment> = Api::namespaced(seeder(peers::kube()).await, &ns);
    let first = deps.get("fraud-scorer").await.unwrap();
    assert_eq!(first.spec.replicas, Some(2));
    assert_eq!(first_image(&first), Some("ghcr.io/acme/fraud-scorer:0.1.0"));
    // Again: nothing changes.
    kube.create_deployment("fraud-scorer", &cluster, "0.2.0", 5)
        .await
        .expect("create again");
    let again = deps.get("fraud-scorer").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );

    let snap = kube.snapshot(&Scope::default()).await.unwrap();
    assert_eq!(snap.deployments.len(), 1, "{snap:#?}");
    let d = &snap.deployments[0];
    assert_eq!(
        (d.service.as_str(), d.version.as_str(), d.desired),
        ("fraud-scorer", "0.1.0", 2)
    );
    assert_eq!(d.rollout, RolloutState::Progressing, "no pod is ready yet");

    let err = kube
        .create_deployment("x", &ClusterId::new("prod", "mars"), "0.1.0", 1)
        .await
        .unwrap_err();
    assert_err_mentions(&err, "prod/mars");
}

/// A deployment (and its pods) labelled only with `labels`: no service label.
fn labelled_deployment(name: &str, labels: serde_json::Value, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    }))
    .expect("deployment")
}

fn labelled_pod(name: &str, labels: serde_json::Value, image: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": "node-b", "containers": [{"name": "app", "image": image}]}
    }))
    .expect("pod")
}

const ANNOTATED_CATALOG: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: billing
  annotations:
    backstage.io/kubernetes-id: billing-legacy
spec:
  type: service
  owner: team-a
  lifecycle: production
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: web
  annotations:
    backstage.io/kubernetes-label-selector: 'app=web,tier in (frontend)'
spec:
  type: website
  owner: team-a
  lifecycle: production
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_annotations_map_workloads_without_the_service_label() {
    let dir = tempfile::tempdir().unwrap();
    let ns = peers::unique("annotated");
    let client = seeder(peers::kube()).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    let billing = json!({"backstage.io/kubernetes-id": "billing-legacy"});
    let web = json!({"app": "web", "tier": "frontend"});
    let web_worker = json!({"app": "web", "tier": "worker"});
    for (name, labels, image) in [
        ("billing-v1", &billing, "ghcr.io/acme/billing:3.2.0"),
        ("web-frontend", &web, "ghcr.io/acme/web:8.1.0"),
        // The web app's worker: not matched by the selector, so no one's.
        ("web-worker", &web_worker, "ghcr.io/acme/web-worker:8.1.0"),
    ] {
        deps.create(&pp, &labelled_deployment(name, labels.clone(), image))
            .await
            .expect("create deployment");
        set_status(&deps, name, ready_status(1), "deployment status").await;
        pods.create(
            &pp,
            &labelled_pod(&format!("{name}-pod"), labels.clone(), image),
        )
        .await
        .expect("create pod");
    }
    hpas.create(&pp, &hpa("billing-hpa", "billing-v1", 1, 4))
        .await
        .expect("create hpa");
    // A plainly labelled service beside them still maps by the label.
    seed_service(&client, &ns, "search").await;

    let (kube, cluster) = one_cluster(dir.path(), "production", "eu-west-1", &ns).await;
    let catalog_dir = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog_dir).unwrap();
    std::fs::write(catalog_dir.join("catalog-info.yaml"), ANNOTATED_CATALOG).unwrap();
    kube.set_catalog(Arc::new(sphere::backend::configured::ConfiguredCatalog {
        roots: vec![catalog_dir],
        discovered: None,
        registered: None,
    }));

    let services = |snap: &sphere::domain::ClusterSnapshot| -> BTreeSet<(String, String)> {
        snap.deployments
            .iter()
            .map(|d| (d.service.clone(), d.version.clone()))
            .collect()
    };
    let expected: BTreeSet<(String, String)> =
        [("billing", "3.2.0"), ("web", "8.1.0"), ("search", "1.4.2")]
            .into_iter()
            .map(|(s, v)| (s.to_string(), v.to_string()))
            .collect();
    let snap = kube.snapshot(&Scope::default()).await.expect("snapshot");
    assert_eq!(services(&snap), expected, "{snap:#?}");
    let pod_services: BTreeSet<(String, String)> = snap
        .pods
        .iter()
        .map(|p| (p.name.clone(), p.service.clone()))
        .collect();
    assert!(
        pod_services.contains(&("billing-v1-pod".into(), "billing".into()))
            && pod_services.contains(&("web-frontend-pod".into(), "web".into()))
            && !pod_services.iter().any(|(p, _)| p == "web-worker-pod"),
        "{pod_services:?}"
    );
    assert!(
        snap.hpas
            .iter()
            .any(|h| h.service == "billing" && h.max == 4),
        "the HPA maps through its target: {:?}",
        snap.hpas
    );

    // The live watch maps the same way.
    let mut stream = kube.watch();
    let mut seen = Vec::new();
    next_matching(
        &mut stream,
        "Synced",
        &mut seen,
        |e| matches!(e, ClusterEvent::Synced(c) if *c == cluster),
    )
    .await;
    let watched: BTreeSet<(String, String)> = seen
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Deployment(d) => Some((d.service.clone(), d.version.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(watched, expected, "{seen:#?}");

    // Actions find the workloads through the annotation too.
    kube.restart("billing", &cluster).await.expect("restart");
    let restarted = |d: &Deployment| {
        d.spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"))
    };
    assert!(restarted(&deps.get("billing-v1").await.unwrap()));
    assert!(!restarted(&deps.get("web-frontend").await.unwrap()));
    kube.restart("web", &cluster).await.expect("restart web");
    assert!(restarted(&deps.get("web-frontend").await.unwrap()));
    assert!(!restarted(&deps.get("web-worker").await.unwrap()));
    kube.set_hpa("billing", &cluster, 2, 5)
        .await
        .expect("set_hpa through the id");
    let h = hpas.get("billing-hpa").await.unwrap();
    assert_eq!((h.spec.min_replicas, h.spec.max_replicas), (Some(2), 5));
}

/// A cluster on a peer of its own, watching every namespace.
fn private(env: &'static str, region: &'static str, server: &str) -> TestCluster {
    TestCluster {
        env,
        region,
        server: server.to_string(),
        namespace: None,
    }
}

fn ephemeral(name: &str, regions: &[&str], expires_at: i64) -> EphemeralEnv {
    EphemeralEnv {
        name: name.to_string(),
        from: "staging".to_string(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        created_by: "ada".to_string(),
        created_at: jiff_now(),
        expires_at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_environments_are_namespaces_copied_from_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let (eu, us) = (second_peer(), second_peer());
    for server in [&eu, &us] {
        seed_service(&seeder(server).await, "apps", "cart").await;
    }
    let kube = provider(
        dir.path(),
        &[
            private("staging", "eu-west-1", &eu),
            private("staging", "us-east-1", &us),
        ],
        &settings("sphere-system", 5),
    )
    .await;
    let mut stream = kube.watch();
    let mut seen = Vec::new();
    let mut waiting: BTreeSet<ClusterId> = ["eu-west-1", "us-east-1"]
        .into_iter()
        .map(|r| ClusterId::new("staging", r))
        .collect();
    while !waiting.is_empty() {
        if let ClusterEvent::Synced(c) = next_matching(
            &mut stream,
            "Synced",
            &mut seen,
            |e| matches!(e, ClusterEvent::Synced(x) if waiting.contains(x)),
        )
        .await
        {
            waiting.remove(&c);
        }
    }

    let day = jiff_now() + 86_400;
    let env = ephemeral("pr-7", &["eu-west-1", "us-east-1"], day);
    assert_eq!(kube.create_environment(&env).await.expect("create"), 2);

    // In each cluster: the labelled namespace, the copied deployment and HPA.
    for server in [&eu, &us] {
        let client = seeder(server).await;
        let ns = Api::<Namespace>::all(client.clone())
            .get("sphere-env-pr-7")
            .await
            .expect("the environment's namespace");
        assert_eq!(ns.labels()["sphere.dev/ephemeral-env"], "pr-7");
        assert!(ns.annotations().contains_key("janitor/expires"));
        let d = Api::<Deployment>::namespaced(client.clone(), "sphere-env-pr-7")
            .get("cart-deploy")
            .await
            .expect("the copied deployment");
        assert_eq!(first_image(&d), Some("ghcr.io/acme/cart:1.4.2"));
        Api::<HorizontalPodAutoscaler>::namespaced(client, "sphere-env-pr-7")
            .get("cart-hpa")
            .await
            .expect("the copied HPA");
    }

    let listed = kube.environments().await.expect("environments");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, "pr-7");
    assert_eq!(listed[0].from, "staging");
    assert_eq!(listed[0].created_by, "ada");
    assert_eq!(listed[0].expires_at, day);
    let mut regions = listed[0].regions.clone();
    regions.sort();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);

    // The watch tells the environment (both regions), then its deployments as its own.
    next_matching(
        &mut stream,
        "the environment",
        &mut seen,
        |e| matches!(e, ClusterEvent::Environment(x) if x.name == "pr-7" && x.regions.len() == 2),
    )
    .await;
    // (Each cluster's watchers run side by side: a deployment may come before or after
    // its namespace.)
    for region in ["eu-west-1", "us-east-1"] {
        let in_env = ClusterId::new("pr-7", region);
        let is_it = |e: &ClusterEvent| matches!(e, ClusterEvent::Deployment(d) if d.cluster == in_env && d.service == "cart");
        if !seen.iter().any(is_it) {
            next_matching(
                &mut stream,
                "the environment's deployment",
                &mut seen,
                is_it,
            )
            .await;
        }
    }

    let err = kube.create_environment(&env).await.unwrap_err();
    assert_err_mentions(&err, "exists already");

    let later = day + 3 * 86_400;
    kube.extend_environment("pr-7", later)
        .await
        .expect("extend");
    next_matching(
        &mut stream,
        "the later expiry",
        &mut seen,
        |e| matches!(e, ClusterEvent::Environment(x) if x.name == "pr-7" && x.expires_at == later),
    )
    .await;
    assert_err_mentions(
        &kube.extend_environment("nope", later).await.unwrap_err(),
        "no ephemeral environment nope",
    );

    assert_eq!(kube.delete_environment("pr-7").await.expect("delete"), 2);
    next_matching(
        &mut stream,
        "the environment gone",
        &mut seen,
        |e| matches!(e, ClusterEvent::EnvironmentDeleted { name } if name == "pr-7"),
    )
    .await;
    let deleted = |e: &ClusterEvent| {
        matches!(e, ClusterEvent::DeploymentDeleted { cluster, service }
            if cluster.env == "pr-7" && service == "cart")
    };
    if !seen.iter().any(deleted) {
        next_matching(&mut stream, "its deployments gone", &mut seen, deleted).await;
    }
    assert!(kube.environments().await.expect("environments").is_empty());
    // The source is untouched.
    let snap = kube.snapshot(&Scope::default()).await.unwrap();
    assert!(!snap.deployments.is_empty(), "the source's deployments");
    assert!(
        snap.deployments
            .iter()
            .all(|d| d.cluster.env == "staging" && d.service == "cart"),
        "{:?}",
        snap.deployments
    );
    assert_eq!(snap.deployments.len(), 2);
}

/// A user who may not list namespaces (RBAC) still sees the cluster synced and live:
/// ephemeral environments are optional, so there are just none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_forbids_listing_namespaces_still_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let server = second_peer();
    seed_service(&seeder(&server).await, "apps", "cart").await;
    let r = reqwest::Client::new()
        .post(format!("{server}/_peer/forbid"))
        .json(&json!({"path": "/api/v1/namespaces"}))
        .send()
        .await
        .expect("peer answers");
    assert!(r.status().is_success());
    let kube = provider(
        dir.path(),
        &[private("staging", "eu-west-1", &server)],
        &settings("sphere-system", 5),
    )
    .await;
    let cluster = ClusterId::new("staging", "eu-west-1");
    let mut stream = kube.watch();
    let mut seen = Vec::new();
    next_matching(
        &mut stream,
        "Synced",
        &mut seen,
        |e| matches!(e, ClusterEvent::Synced(c) if *c == cluster),
    )
    .await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClusterEvent::Unreachable { .. })),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClusterEvent::Deployment(d) if d.service == "cart")),
        "{seen:#?}"
    );
    let err = kube.environments().await.unwrap_err();
    assert_err_mentions(&err, "403");
}

/// Polls `read` (errors retried: a read during a network break may fail) until `done`
/// holds of what it gives, within [`DEADLINE`]; the last answer.
async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = anyhow::Result<T>>>(
    what: &str,
    read: impl Fn() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let last = match read().await {
            Ok(v) if done(&v) => return v,
            other => format!("{other:?}"),
        };
        assert!(
            Instant::now() < deadline,
            "no {what} within {DEADLINE:?}; last read: {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `cond` holds (a request the proxy saw), within [`DEADLINE`].
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "no {what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A cluster of the shared peer reached through a counting proxy (every request sphere
/// makes is counted; `cut` breaks the connections).
async fn counted_peer(
    env: &'static str,
    region: &'static str,
) -> (TestCluster, counting_proxy::Counter) {
    let upstream = peers::kube().trim_start_matches("http://").to_string();
    let (url, counter) = counting_proxy::start(upstream).await;
    let cluster = TestCluster {
        env,
        region,
        server: url,
        namespace: None,
    };
    (cluster, counter)
}

/// Locks come from a watch of the lock object (issue 14): once it has listed, reading
/// the locks asks the API server nothing; a lock another process makes arrives through
/// the open watch (no GET, no list again); a watch the network broke resumes from the
/// version it had (watched again, not listed again) and serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_come_from_a_watch_and_a_broken_watch_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let lock_ns = peers::unique("watched");
    let (ours, counter) = counted_peer("production", "eu-west-1").await;
    let kube = provider(dir.path(), &[ours], &settings(&lock_ns, 5)).await;
    // Another sphere, straight to the API server.
    let other_dir = tempfile::tempdir().unwrap();
    let other = provider(
        other_dir.path(),
        &[peer_wide("production", "eu-west-1")],
        &settings(&lock_ns, 5),
    )
    .await;

    assert!(kube.locks().await.unwrap().is_empty());
    let list = format!("GET /api/v1/namespaces/{lock_ns}/configmaps");
    let watch = format!("{list} (watch)");
    until("the lock watch", || counter.get(&watch) >= 1).await;
    // What was asked about the lock object (the environments' watch runs beside it).
    let of_locks = |c: &counting_proxy::Counter| -> BTreeMap<String, u64> {
        (c.snapshot().into_iter())
            .filter(|(k, _)| k.contains("/configmaps"))
            .collect()
    };
    assert_eq!(counter.get(&list), 1, "{:?}", counter.snapshot());
    let before = of_locks(&counter);
    for _ in 0..50 {
        assert!(kube.locks().await.unwrap().is_empty());
    }
    assert_eq!(
        counting_proxy::since(&of_locks(&counter), &before),
        BTreeMap::new(),
        "50 reads of the locks asked the API server"
    );

    other
        .add_lock(lock("payments", Some("production"), None, "incident"))
        .await
        .unwrap();
    let seen = eventually(
        "the other process's lock",
        || kube.locks(),
        |l| l.len() == 1,
    )
    .await;
    assert_eq!(seen[0].service, "payments");
    assert_eq!(
        counting_proxy::since(&of_locks(&counter), &before),
        BTreeMap::new(),
        "the lock came through the open watch"
    );

    // The network breaks the watch; meanwhile another lock is made.
    counter.cut();
    other
        .add_lock(lock("search", Some("production"), None, "migration"))
        .await
        .unwrap();
    eventually(
        "the lock made during the break",
        || kube.locks(),
        |l| l.len() == 2,
    )
    .await;
    until("the watch resumed", || counter.get(&watch) >= 2).await;
    // Serving from the watch again: reads ask nothing.
    let quiet = async {
        loop {
            let at = of_locks(&counter);
            kube.locks().await.ok();
            if of_locks(&counter) == at {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(DEADLINE, quiet)
        .await
        .expect("the resumed watch never served the locks");
    let resumed = of_locks(&counter);
    for _ in 0..20 {
        assert_eq!(kube.locks().await.unwrap().len(), 2);
    }
    assert_eq!(
        of_locks(&counter),
        resumed,
        "reads asked again after the resume"
    );
    other
        .remove_locks("payments", None, None, None)
        .await
        .unwrap();
    eventually("the unlock", || kube.locks(), |l| l.len() == 1).await;
    let all = counting_proxy::since(&of_locks(&counter), &before);
    assert_eq!(
        all.get(&list),
        None,
        "the broken watch listed again instead of resuming: {all:?}"
    );
}

/// Ephemeral environments come from a watch of the labelled namespaces: reading them
/// asks nothing once listed, and an environment another process makes (or deletes)
/// arrives through the watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_come_from_a_watch_of_their_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, counter) = counted_peer("staging", "eu-west-1").await;
    let kube = provider(dir.path(), &[ours], &settings(&peers::unique("envw"), 5)).await;
    let name = peers::unique("wenv");
    let mine = |envs: &Vec<EphemeralEnv>| envs.iter().any(|e| e.name == name);

    assert!(!mine(&kube.environments().await.unwrap()));
    let list = "GET /api/v1/namespaces".to_string();
    let watch = format!("{list} (watch)");
    until("the namespace watch", || counter.get(&watch) >= 1).await;
    let namespaces = |c: &counting_proxy::Counter| -> BTreeMap<String, u64> {
        c.snapshot()
            .into_iter()
            .filter(|(k, _)| {
                k == &list || k == &watch || k.starts_with("GET /api/v1/namespaces/sphere-env-")
            })
            .collect()
    };
    let before = namespaces(&counter);
    assert_eq!(before.get(&list), Some(&1), "{before:?}");
    for _ in 0..20 {
        kube.environments().await.unwrap();
    }
    assert_eq!(
        namespaces(&counter),
        before,
        "reads of the environments asked"
    );

    // Another sphere creates the environment's namespace, as `env create` does.
    let api: Api<Namespace> = Api::all(seeder(peers::kube()).await);
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {
            "name": format!("sphere-env-{name}"),
            "labels": {"sphere.dev/ephemeral-env": name},
            "annotations": {"sphere.dev/from": "staging", "sphere.dev/created-by": "bob"},
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
    let envs = eventually(
        "the other process's environment",
        || kube.environments(),
        mine,
    )
    .await;
    let e = envs.iter().find(|e| e.name == name).unwrap();
    assert_eq!((e.from.as_str(), e.created_by.as_str()), ("staging", "bob"));
    api.delete(&format!("sphere-env-{name}"), &Default::default())
        .await
        .unwrap();
    eventually("the environment gone", || kube.environments(), |e| !mine(e)).await;
    assert_eq!(namespaces(&counter), before, "it came through the watch");
}

/// With watched reads off (`SPHERE_NO_CACHE=1`, the cost bench's "before"), every read
/// of the locks asks each cluster for the lock object, as sphere did before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_watched_reads_every_lock_read_asks_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let lock_ns = peers::unique("unwatched");
    let (ours, counter) = counted_peer("production", "eu-west-1").await;
    let kube = provider(dir.path(), &[ours], &settings(&lock_ns, 5)).await;
    kube.set_watched_reads(false);
    for _ in 0..5 {
        assert!(kube.locks().await.unwrap().is_empty());
    }
    let get = format!("GET /api/v1/namespaces/{lock_ns}/configmaps/{LOCK_OBJECT}");
    assert_eq!(counter.get(&get), 5, "{:?}", counter.snapshot());
    assert_eq!(counter.total(), 5, "{:?}", counter.snapshot());
}

#[tokio::test]
async fn whoami_is_the_user_a_self_subject_review_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clusters = [peer_wide("production", "us-east-1")];
    // Credentials that authenticate a user: the emulator's authenticator reads the
    // bearer token `user:NAME`, as a real API server reads its token.
    let path = kubeconfig(dir.path(), &clusters);
    let text = std::fs::read_to_string(&path).expect("kubeconfig");
    let text = text.replace("user: {}", "user: {token: \"user:amara.okafor\"}");
    std::fs::write(&path, text).expect("kubeconfig");
    let entries = vec![ClusterConfig {
        region: "us-east-1".into(),
        env: "production".into(),
        context: Some("production-us-east-1".into()),
        kubeconfig: Some(path),
        namespace: None,
        aws_region: None,
        aws_profile: None,
    }];
    let p = KubeClusters::new(&entries, &settings("sphere-locks", 10)).await;
    let who = p.whoami().await.expect("a SelfSubjectReview answer");
    assert_eq!(who.as_deref(), Some("amara.okafor"));
}

/// The service view's facts read the service's deployments from the running watch
/// (issue 14): without a watch each refresh lists the workloads; once a running watch
/// has synced, refreshes ask the API server nothing and still see a change as it
/// comes; once the watch is gone, the workloads are read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_view_reads_deployments_from_the_running_watch() {
    use sphere::backend::sim::{Sim, SimOptions};
    use sphere::backend::{Platform, facts};

    let service = "cart-service";
    let dir = tempfile::tempdir().unwrap();
    let (ns, client) = seeded_namespace("facts", service).await;
    let (mut cluster, counter) = counted_peer("production", "eu-west-1").await;
    cluster.namespace = Some(ns.clone());
    let lock_ns = peers::unique("facts-locks");
    let kube = provider(dir.path(), &[cluster], &settings(&lock_ns, 5)).await;
    // The demo's catalog, secrets, repositories and ledger; these clusters.
    let catalog = sphere::backend::catalog::demo_catalog();
    let opts = SimOptions {
        pace: 0.0,
        ..SimOptions::default()
    };
    let sim = Sim::open(opts, catalog.clone()).unwrap();
    let platform = Platform {
        clusters: Arc::new(kube.clone()),
        ..sim.platform()
    };
    // Requests about workloads other than watches.
    let reads = |c: &counting_proxy::Counter| -> u64 {
        (c.snapshot().into_iter())
            .filter(|(k, _)| !k.ends_with("(watch)"))
            .filter(|(k, _)| {
                ["/deployments", "/pods", "/horizontalpodautoscalers"]
                    .iter()
                    .any(|kind| k.contains(kind))
            })
            .map(|(_, n)| n)
            .sum()
    };
    let version = |facts: &facts::ServiceFacts| -> Vec<String> {
        (facts.deployments.iter())
            .map(|d| format!("{}@{}", d.version, d.cluster))
            .collect()
    };

    let before = reads(&counter);
    let f = facts::gather(&platform, &catalog, service).await.unwrap();
    assert_eq!(version(&f), ["1.4.2@production/eu-west-1"], "{f:?}");
    assert!(reads(&counter) > before, "{:?}", counter.snapshot());

    // The watch runs as the TUI runs it: read all along.
    let mut watch = kube.watch();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(ev) = watch.next().await {
            let _ = tx.send(ev);
        }
    });
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(ClusterEvent::Synced(_))) => break,
            Ok(Some(_)) => {}
            other => panic!("no Synced within {DEADLINE:?}: {other:?}"),
        }
    }
    let before = reads(&counter);
    for _ in 0..10 {
        let f = facts::gather(&platform, &catalog, service).await.unwrap();
        assert_eq!(version(&f), ["1.4.2@production/eu-west-1"], "{f:?}");
    }
    assert_eq!(
        reads(&counter),
        before,
        "10 refreshes with a running watch read workloads: {:?}",
        counter.snapshot()
    );

    // A new version arrives through the watch.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": format!("ghcr.io/acme/{service}:1.5.0")}]}}}});
    deps.patch(
        &format!("{service}-deploy"),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
    .expect("new version");
    eventually(
        "the new version in the service view",
        || facts::gather(&platform, &catalog, service),
        |f| version(f) == ["1.5.0@production/eu-west-1"],
    )
    .await;
    assert_eq!(reads(&counter), before, "{:?}", counter.snapshot());

    // The watch gone: read directly again.
    reader.abort();
    let _ = reader.await;
    let f = facts::gather(&platform, &catalog, service).await.unwrap();
    assert_eq!(version(&f), ["1.5.0@production/eu-west-1"], "{f:?}");
    assert!(reads(&counter) > before, "{:?}", counter.snapshot());
}

/// The requests about workloads (deployments, pods, HPAs) `counter` saw after the
/// first `from`, watches left out: method and target, the label selector decoded.
/// (The policy's lock and environment reads come from their own watches.)
fn requests_since(counter: &counting_proxy::Counter, from: usize) -> Vec<String> {
    (counter.requests().into_iter().skip(from))
        .filter(|r| !r.contains("watch=true") && !r.contains("watch=1"))
        .filter(|r| {
            ["/apis/apps/", "/pods", "/horizontalpodautoscalers"]
                .iter()
                .any(|kind| r.contains(kind))
        })
        .map(|r| {
            r.replace("%2F", "/")
                .replace("%3D", "=")
                .replace("%2C", ",")
        })
        .collect()
}

/// An action as the TUI runs it (`tui::fetch::act`): planned, confirmed when it asks,
/// planned again and done; what the TUI was told.
async fn tui_act(
    platform: &sphere::backend::Platform,
    action: sphere::actions::Action,
) -> Result<String, String> {
    use sphere::tui::msg::Msg;
    let policy = sphere::actions::Policy {
        admins: vec!["tester".into()],
        ..sphere::actions::Policy::default()
    };
    let run = |confirmed| {
        let (policy, action) = (policy.clone(), action.clone());
        async move {
            sphere::tui::fetch::act(
                platform,
                policy,
                "tester",
                None,
                action,
                confirmed,
                &mut |_| {},
            )
            .await
        }
    };
    let answer = match run(false).await {
        Msg::NeedsConfirm(..) => run(true).await,
        other => other,
    };
    match answer {
        Msg::Acted(r) => r,
        other => Err(format!("{other:?}")),
    }
}

/// The demo platform, its clock stopped, with `kube` as its clusters (the demo kept
/// alive beside it).
fn demo_with(kube: &KubeClusters) -> (sphere::backend::sim::Sim, sphere::backend::Platform) {
    let opts = sphere::backend::sim::SimOptions {
        pace: 0.0,
        ..Default::default()
    };
    let sim = sphere::backend::sim::Sim::open(opts, sphere::backend::catalog::demo_catalog())
        .expect("the demo opens");
    let platform = sphere::backend::Platform {
        clusters: Arc::new(kube.clone()),
        ..sim.platform()
    };
    (sim, platform)
}

/// An action reads what it acts on, not the platform (issue 14): a restart through the
/// policy, as the TUI runs it (plan, confirm, plan, act), lists only the restarted
/// service's deployments, by its label, on the restarted cluster — no pods, no HPAs,
/// no other service's workloads, nothing of the other cluster; an HPA change lists the
/// cluster's HPAs too. With the workloads' watch running the policy reads nothing (the
/// watch keeps HPAs, and forgets a deleted one: the next HPA change is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_reads_only_its_service_on_its_cluster() {
    use sphere::actions::Action;

    let service = "cart-service";
    let dir = tempfile::tempdir().unwrap();
    let (ns, client) = seeded_namespace("act", service).await;
    seed_service(&client, &ns, "other-service").await;
    let (ns_b, _) = seeded_namespace("act-b", service).await;
    let (mut here, counter) = counted_peer("production", "eu-west-1").await;
    here.namespace = Some(ns.clone());
    let (mut there, other_counter) = counted_peer("production", "us-east-1").await;
    there.namespace = Some(ns_b.clone());
    let kube = provider(
        dir.path(),
        &[here, there],
        &settings(&peers::unique("act-locks"), 5),
    )
    .await;
    let (_sim, platform) = demo_with(&kube);
    let cluster = ClusterId::new("production", "eu-west-1");
    let restart = Action::Restart {
        service: service.into(),
        cluster: cluster.clone(),
    };
    let set_hpa = |min: u32| Action::SetHpa {
        service: service.into(),
        cluster: cluster.clone(),
        min,
        max: 8,
    };
    let deployments = format!("GET /apis/apps/v1/namespaces/{ns}/deployments?");
    let hpas = format!("GET /apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers?");
    let patch = format!("PATCH /apis/apps/v1/namespaces/{ns}/deployments/{service}-deploy?");
    let by_label = format!("labelSelector={LABEL}={service}");
    let listed = |rs: &[String], prefix: &str| rs.iter().filter(|r| r.starts_with(prefix)).count();
    let (from, from_other) = (counter.requests().len(), other_counter.requests().len());

    // No watch: each plan lists the service's deployments on its cluster, by label.
    tui_act(&platform, restart.clone()).await.expect("restart");
    let rs = requests_since(&counter, from);
    assert_eq!(
        listed(&rs, &deployments),
        3,
        "two plans and the restart: {rs:#?}"
    );
    assert_eq!(listed(&rs, &patch), 1, "{rs:#?}");
    assert_eq!(rs.len(), 4, "no other workload read: {rs:#?}");
    assert!(
        (rs.iter().filter(|r| r.starts_with(&deployments))).all(|r| r.contains(&by_label)),
        "every list is the service's: {rs:#?}"
    );
    assert_eq!(
        requests_since(&other_counter, from_other),
        Vec::<String>::new()
    );

    // An HPA change: the service's deployments and the namespace's HPAs, per plan.
    let from = counter.requests().len();
    tui_act(&platform, set_hpa(3)).await.expect("set hpa");
    let rs = requests_since(&counter, from);
    assert!(!rs.iter().any(|r| r.contains("/pods")), "{rs:#?}");
    assert_eq!(
        listed(&rs, &hpas),
        3,
        "two plans and the patch's own: {rs:#?}"
    );
    assert!(
        rs.iter().all(|r| r.starts_with(&deployments)
            || r.starts_with(&hpas)
            || r.starts_with("PATCH /apis/autoscaling/v2/")),
        "{rs:#?}"
    );
    assert_eq!(
        requests_since(&other_counter, from_other),
        Vec::<String>::new()
    );

    // The watch runs, as in the TUI: the plans read nothing; the restart lists once.
    let mut watch = kube.watch();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(ev) = watch.next().await {
            let _ = tx.send(ev);
        }
    });
    let mut synced = BTreeSet::new();
    let deadline = Instant::now() + DEADLINE;
    while synced.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(ClusterEvent::Synced(c))) => {
                synced.insert(c);
            }
            Ok(Some(_)) => {}
            other => panic!("not both clusters synced within {DEADLINE:?}: {other:?}"),
        }
    }
    // (The watch's own lists done.)
    let from_other = other_counter.requests().len();
    let from = counter.requests().len();
    tui_act(&platform, restart.clone()).await.expect("restart");
    let rs = requests_since(&counter, from);
    assert_eq!(
        (listed(&rs, &deployments), listed(&rs, &patch), rs.len()),
        (1, 1, 2),
        "the restart's own list and patch only: {rs:#?}"
    );
    // The HPA's bounds come from the watch (the audit's old → new).
    let from = counter.requests().len();
    tui_act(&platform, set_hpa(4)).await.expect("set hpa");
    let rs = requests_since(&counter, from);
    assert_eq!(listed(&rs, &hpas), 1, "the patch's own list only: {rs:#?}");

    // The HPA deleted: the watch forgets it, and the policy refuses without a read.
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    api.delete(&format!("{service}-hpa"), &Default::default())
        .await
        .expect("delete hpa");
    let deadline = Instant::now() + DEADLINE;
    let refusal = loop {
        match tui_act(&platform, set_hpa(5)).await {
            Err(e) if e.contains("has no HPA") => break e,
            other => assert!(
                Instant::now() < deadline,
                "the deleted HPA still changed after {DEADLINE:?}: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(refusal.contains(service), "{refusal}");
    assert_eq!(
        requests_since(&other_counter, from_other),
        Vec::<String>::new()
    );
    reader.abort();
}

/// An action in an ephemeral environment acts on its namespace in the cluster of its
/// source environment, as the demo does: a restart (and an HPA change) in `pr-8`
/// patches the environment's copy, not the source's; the plans list only the
/// service's deployments in that namespace, by label (no pods, no snapshot of the
/// cluster). An environment that does not exist is named in the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_in_an_ephemeral_environment_acts_on_its_namespace() {
    use sphere::actions::Action;

    let service = "cart-service";
    let dir = tempfile::tempdir().unwrap();
    let server = second_peer();
    let client = seeder(&server).await;
    seed_service(&client, "apps", service).await;
    let upstream = server.trim_start_matches("http://").to_string();
    let (url, counter) = counting_proxy::start(upstream).await;
    let kube = provider(
        dir.path(),
        &[private("staging", "eu-west-1", &url)],
        &settings("sphere-system", 5),
    )
    .await;
    let env = ephemeral("pr-8", &["eu-west-1"], jiff_now() + 86_400);
    assert_eq!(kube.create_environment(&env).await.expect("create"), 1);
    let (_sim, platform) = demo_with(&kube);
    let cluster = ClusterId::new("pr-8", "eu-west-1");
    let ns = "sphere-env-pr-8";

    let from = counter.requests().len();
    let restart = Action::Restart {
        service: service.into(),
        cluster: cluster.clone(),
    };
    tui_act(&platform, restart).await.expect("restart in pr-8");
    let rs = requests_since(&counter, from);
    let deployments = format!("GET /apis/apps/v1/namespaces/{ns}/deployments?");
    let listed = |rs: &[String], prefix: &str| rs.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(
        listed(&rs, &deployments),
        3,
        "two plans and the restart: {rs:#?}"
    );
    let patch = format!("PATCH /apis/apps/v1/namespaces/{ns}/deployments/{service}-deploy?");
    assert_eq!(listed(&rs, &patch), 1, "{rs:#?}");
    assert_eq!(rs.len(), 4, "no pods, nothing of the source: {rs:#?}");
    let restarted = |d: &Deployment| {
        (d.spec.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"))
    };
    let get = |ns: &'static str| {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        async move { api.get(&format!("{service}-deploy")).await.expect("get") }
    };
    assert!(
        restarted(&get(ns).await),
        "the environment's copy restarted"
    );
    assert!(!restarted(&get("apps").await), "the source's left alone");

    let set_hpa = Action::SetHpa {
        service: service.into(),
        cluster: cluster.clone(),
        min: 3,
        max: 8,
    };
    tui_act(&platform, set_hpa).await.expect("hpa in pr-8");
    let min = |ns: &'static str| {
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
        async move {
            let h = api.get(&format!("{service}-hpa")).await.expect("get hpa");
            (h.spec.min_replicas, h.spec.max_replicas)
        }
    };
    assert_eq!(min(ns).await, (Some(3), 8));
    assert_ne!(
        min("apps").await,
        (Some(3), 8),
        "the source's HPA unchanged"
    );

    let nowhere = Action::Restart {
        service: service.into(),
        cluster: ClusterId::new("pr-404", "eu-west-1"),
    };
    let err = tui_act(&platform, nowhere).await.unwrap_err();
    assert!(err.contains("pr-404"), "{err}");
}
