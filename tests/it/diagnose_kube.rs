//! Why it is broken, on Kubernetes (issue 13), against the Kubernetes API peer on
//! loopback (kmock behind `tests/peers/kube_peer.py`, which serves the pods' `log`
//! subresource and core/v1 events): pod details and events mapped from the objects,
//! the log subresource plain, `previous`, `tailLines`, `sinceSeconds`, followed across a
//! dropped connection without losing or repeating a line, the end of a pod, a merged
//! multi-pod stream over two clusters, and the problems list from a watch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sphere::backend::ClusterProvider;
use sphere::backend::kubernetes::KubeClusters;
use sphere::backend::logs::{LogSource, merged};
use sphere::config::platform::{ClusterConfig, KubernetesConfig};
use sphere::domain::pod::{LogLine, LogQuery};
use sphere::domain::problems::{ProblemInput, ProblemKind, problems};
use sphere::domain::service::LiveState;
use sphere::domain::{ClusterEvent, ClusterId, Scope, Topology};

use crate::common::peers;

const LABEL: &str = "app.kubernetes.io/name";
const WAIT: Duration = Duration::from_secs(15);

/// A kubeconfig with a context per (env, region, namespace), all on the peer.
fn kubeconfig(dir: &Path, clusters: &[(&str, &str)]) -> PathBuf {
    let server = peers::kube();
    let mut text = String::from(
        "apiVersion: v1\nkind: Config\nusers:\n- name: tester\n  user: {}\nclusters:\n",
    );
    for (e, r) in clusters {
        text += &format!("- name: {e}-{r}\n  cluster:\n    server: {server}\n");
    }
    text += "contexts:\n";
    for (e, r) in clusters {
        text += &format!("- name: {e}-{r}\n  context:\n    cluster: {e}-{r}\n    user: tester\n");
    }
    text += &format!("current-context: {}-{}\n", clusters[0].0, clusters[0].1);
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// A provider over clusters `(env, region, namespace)` on the peer.
async fn provider(dir: &Path, clusters: &[(&str, &str, &str)]) -> KubeClusters {
    let pairs: Vec<(&str, &str)> = clusters.iter().map(|(e, r, _)| (*e, *r)).collect();
    let path = kubeconfig(dir, &pairs);
    let entries: Vec<ClusterConfig> = clusters
        .iter()
        .map(|(e, r, ns)| ClusterConfig {
            region: r.to_string(),
            env: e.to_string(),
            context: Some(format!("{e}-{r}")),
            kubeconfig: Some(path.clone()),
            namespace: Some(ns.to_string()),
            aws_region: None,
            aws_profile: None,
        })
        .collect();
    let settings = KubernetesConfig {
        timeout_seconds: 10,
        ..KubernetesConfig::default()
    };
    KubeClusters::new(&entries, &settings).await
}

async fn seeder() -> kube::Client {
    let config = kube::Config::new(peers::kube().parse().expect("peer url"));
    kube::Client::try_from(config).expect("kube client")
}

/// A pod of `service`, owned by the replica set `rs`, with its status.
async fn create_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    service: &str,
    rs: &str,
    status: serde_json::Value,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {LABEL: service},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                 "uid": "rs-uid", "controller": true}]
        },
        "spec": {"nodeName": "node-a", "containers": [{
            "name": "app", "image": format!("ghcr.io/acme/{service}:1.4.2"),
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                          "limits": {"cpu": "500m", "memory": "512Mi"}}
        }]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("pod status");
}

fn crash_status() -> serde_json::Value {
    json!({"status": {
        "phase": "Running",
        "podIP": "10.1.2.3",
        "hostIP": "192.168.0.7",
        "startTime": "2026-11-01T10:00:00Z",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-01T10:00:00Z"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
             "lastTransitionTime": "2026-11-01T10:05:00Z"}
        ],
        "containerStatuses": [{
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 9,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                "startedAt": "2026-11-01T10:04:00Z", "finishedAt": "2026-11-01T10:05:00Z"}}
        }]
    }})
}

fn running_status() -> serde_json::Value {
    json!({"status": {
        "phase": "Running",
        "startTime": "2026-11-01T10:00:00Z",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-11-01T10:00:00Z"}}
        }]
    }})
}

async fn create_deployment(client: &kube::Client, ns: &str, service: &str) {
    let deps: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "labels": {LABEL: service}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {LABEL: service}},
            "template": {"metadata": {"labels": {LABEL: service}},
                         "spec": {"containers": [{"name": "app",
                                  "image": format!("ghcr.io/acme/{service}:1.4.2")}]}}
        }
    }))
    .expect("deployment");
    deps.create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    deps.patch_status(
        service,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": 2, "readyReplicas": 1,
            "updatedReplicas": 2, "availableReplicas": 1, "observedGeneration": 1,
            "conditions": [{"type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "lastUpdateTime": "2026-11-01T10:10:00Z"}]}})),
    )
    .await
    .expect("deployment status");
}

async fn create_event(
    client: &kube::Client,
    ns: &str,
    name: &str,
    kind: &str,
    object: &str,
    reason: &str,
    at: &str,
) {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let e: Event = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": kind, "name": object, "namespace": ns},
        "reason": reason,
        "message": format!("{reason} of {object}"),
        "type": if reason == "BackOff" { "Warning" } else { "Normal" },
        "lastTimestamp": at,
        "count": 2
    }))
    .expect("event");
    events
        .create(&PostParams::default(), &e)
        .await
        .expect("create event");
}

/// Write log lines to a pod's container on the peer (`at`: RFC 3339, or now).
async fn write_logs(ns: &str, pod: &str, previous: bool, lines: &[(&str, Option<&str>)]) {
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .map(|(text, at)| match at {
            Some(at) => json!({"text": text, "at": at}),
            None => json!({"text": text}),
        })
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{}/_peer/logs", peers::kube()))
        .json(&json!({"namespace": ns, "pod": pod, "container": "app",
                      "previous": previous, "lines": lines}))
        .send()
        .await
        .expect("peer answers");
    assert!(r.status().is_success(), "{:?}", r.text().await);
}

/// Ends every open follow stream on the peer (a dropped connection).
async fn cut_streams() {
    reqwest::Client::new()
        .post(format!("{}/_peer/logs/cut", peers::kube()))
        .send()
        .await
        .expect("peer answers");
}

async fn collect(s: BoxStream<'static, LogLine>) -> Vec<String> {
    s.map(|l| l.text).collect().await
}

async fn next_line(s: &mut BoxStream<'static, LogLine>) -> Option<LogLine> {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("a line (or the end) within the deadline")
}

fn ago(seconds: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339()
}

#[tokio::test]
async fn describe_and_events_come_from_the_pod_and_core_v1_events() {
    let dir = tempfile::tempdir().unwrap();
    let ns = peers::unique("diag-describe");
    let client = seeder().await;
    create_deployment(&client, &ns, "cart").await;
    create_pod(
        &client,
        &ns,
        "cart-7d9f-abc12",
        "cart",
        "cart-7d9f",
        crash_status(),
    )
    .await;
    create_pod(
        &client,
        &ns,
        "cart-7d9f-zzz99",
        "cart",
        "cart-7d9f",
        running_status(),
    )
    .await;
    create_event(
        &client,
        &ns,
        "e1",
        "Deployment",
        "cart",
        "ScalingReplicaSet",
        "2026-11-01T09:59:00Z",
    )
    .await;
    create_event(
        &client,
        &ns,
        "e2",
        "ReplicaSet",
        "cart-7d9f",
        "SuccessfulCreate",
        "2026-11-01T10:00:00Z",
    )
    .await;
    create_event(
        &client,
        &ns,
        "e3",
        "Pod",
        "cart-7d9f-abc12",
        "BackOff",
        "2026-11-01T10:06:00Z",
    )
    .await;
    create_event(
        &client,
        &ns,
        "e4",
        "Pod",
        "cart-7d9f-zzz99",
        "Started",
        "2026-11-01T10:01:00Z",
    )
    .await;
    create_event(
        &client,
        &ns,
        "e5",
        "Pod",
        "someone-else",
        "Killing",
        "2026-11-01T10:07:00Z",
    )
    .await;
    let p = provider(dir.path(), &[("production", "eu-west-1", &ns)]).await;
    let cluster = ClusterId::new("production", "eu-west-1");

    let d = p
        .pod_details(&cluster, "cart-7d9f-abc12")
        .await
        .expect("details");
    assert_eq!(d.summary.service, "cart");
    assert_eq!(d.summary.last_termination.as_deref(), Some("OOMKilled"));
    assert_eq!(d.pod_ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(d.host_ip.as_deref(), Some("192.168.0.7"));
    assert_eq!(
        d.owner.as_ref().map(|o| (o.kind.as_str(), o.name.as_str())),
        Some(("ReplicaSet", "cart-7d9f"))
    );
    assert_eq!(d.namespace, ns);
    let c = &d.containers[0];
    assert_eq!(c.image, "ghcr.io/acme/cart:1.4.2");
    assert_eq!(c.restarts, 9);
    assert!(!c.ready);
    assert_eq!(c.state.text(), "Waiting: CrashLoopBackOff");
    let t = c.last_termination.as_ref().expect("last termination");
    assert_eq!(
        (t.reason.as_str(), t.exit_code, t.signal),
        ("OOMKilled", 137, Some(9))
    );
    assert_eq!(t.finished_at, Some(1_793_527_500));
    assert_eq!(c.requests.memory.as_deref(), Some("256Mi"));
    assert_eq!(c.limits.cpu.as_deref(), Some("500m"));
    assert!(
        d.conditions
            .iter()
            .any(|k| k.kind == "Ready" && k.status == "False")
    );
    assert!(p.pod_details(&cluster, "no-such-pod").await.is_err());

    // One pod: its own events and its owners', newest first; not its sibling's.
    let ev = p
        .events(&cluster, "cart", Some("cart-7d9f-abc12"))
        .await
        .expect("events");
    let reasons: Vec<&str> = ev.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["BackOff", "SuccessfulCreate", "ScalingReplicaSet"]
    );
    assert_eq!(ev[0].kind, "Warning");
    assert_eq!(ev[0].count, 2);
    // The service: every pod's too.
    let ev = p.events(&cluster, "cart", None).await.expect("events");
    let reasons: Vec<&str> = ev.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "BackOff",
            "Started",
            "SuccessfulCreate",
            "ScalingReplicaSet"
        ]
    );
    // A service scaled to nothing still has its deployment's events.
    create_deployment(&client, &ns, "idle").await;
    create_event(
        &client,
        &ns,
        "e6",
        "Deployment",
        "idle",
        "ScalingReplicaSet",
        "2026-11-01T11:00:00Z",
    )
    .await;
    let ev = p.events(&cluster, "idle", None).await.expect("events");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].object.name, "idle");
}

#[tokio::test]
async fn the_log_subresource_plain_previous_tail_and_since() {
    let dir = tempfile::tempdir().unwrap();
    let ns = peers::unique("diag-logs");
    let client = seeder().await;
    create_pod(
        &client,
        &ns,
        "cart-1-aaaaa",
        "cart",
        "cart-1",
        crash_status(),
    )
    .await;
    let old = ago(3_600);
    write_logs(
        &ns,
        "cart-1-aaaaa",
        false,
        &[
            ("an hour ago", Some(&old)),
            ("one", None),
            ("two \x1b[31mred\x1b[0m", None),
            ("three", None),
        ],
    )
    .await;
    write_logs(
        &ns,
        "cart-1-aaaaa",
        true,
        &[("heap 97%", None), ("java.lang.OutOfMemoryError", None)],
    )
    .await;
    let p = provider(dir.path(), &[("production", "eu-west-1", &ns)]).await;
    let cluster = ClusterId::new("production", "eu-west-1");
    let read = |q: LogQuery| {
        let p = p.clone();
        let cluster = cluster.clone();
        async move { collect(p.logs(&cluster, "cart-1-aaaaa", &q).await.expect("logs")).await }
    };
    assert_eq!(
        read(LogQuery::default()).await,
        ["an hour ago", "one", "two red", "three"]
    );
    assert_eq!(
        read(LogQuery {
            tail: Some(2),
            ..Default::default()
        })
        .await,
        ["two red", "three"]
    );
    assert_eq!(
        read(LogQuery {
            since_seconds: Some(600),
            ..Default::default()
        })
        .await,
        ["one", "two red", "three"]
    );
    assert_eq!(
        read(LogQuery {
            previous: true,
            ..Default::default()
        })
        .await,
        ["heap 97%", "java.lang.OutOfMemoryError"]
    );
    let lines: Vec<LogLine> = p
        .logs(&cluster, "cart-1-aaaaa", &LogQuery::default())
        .await
        .unwrap()
        .collect()
        .await;
    assert!(lines.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    assert!(
        lines[0].at_ns < lines[1].at_ns - 3_000 * 1_000_000_000,
        "the server's timestamps"
    );
    let bad = LogQuery {
        container: Some("sidecar".into()),
        ..Default::default()
    };
    let err = p
        .logs(&cluster, "cart-1-aaaaa", &bad)
        .await
        .err()
        .expect("no such container");
    assert!(format!("{err:#}").contains("sidecar"), "{err:#}");
    // No previous instance of a pod that never restarted.
    create_pod(
        &client,
        &ns,
        "cart-1-bbbbb",
        "cart",
        "cart-1",
        running_status(),
    )
    .await;
    let prev = LogQuery {
        previous: true,
        ..Default::default()
    };
    assert!(p.logs(&cluster, "cart-1-bbbbb", &prev).await.is_err());
}

#[tokio::test]
async fn a_followed_log_resumes_after_a_dropped_connection_and_ends_with_its_pod() {
    let dir = tempfile::tempdir().unwrap();
    let ns = peers::unique("diag-follow");
    let client = seeder().await;
    create_pod(
        &client,
        &ns,
        "cart-2-aaaaa",
        "cart",
        "cart-2",
        running_status(),
    )
    .await;
    write_logs(&ns, "cart-2-aaaaa", false, &[("one", None)]).await;
    let p = provider(dir.path(), &[("production", "eu-west-1", &ns)]).await;
    let cluster = ClusterId::new("production", "eu-west-1");
    let q = LogQuery {
        follow: true,
        ..Default::default()
    };
    let mut s = p.logs(&cluster, "cart-2-aaaaa", &q).await.expect("follow");
    assert_eq!(next_line(&mut s).await.unwrap().text, "one");
    write_logs(&ns, "cart-2-aaaaa", false, &[("two", None)]).await;
    assert_eq!(next_line(&mut s).await.unwrap().text, "two");
    // The connection drops; lines written meanwhile arrive once the stream resumes,
    // and none told before is told again.
    cut_streams().await;
    write_logs(&ns, "cart-2-aaaaa", false, &[("three", None)]).await;
    assert_eq!(next_line(&mut s).await.unwrap().text, "three");
    write_logs(&ns, "cart-2-aaaaa", false, &[("four", None)]).await;
    assert_eq!(next_line(&mut s).await.unwrap().text, "four");
    // The pod goes away: a clear last line, then the end.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.delete("cart-2-aaaaa", &DeleteParams::default())
        .await
        .expect("delete");
    let last = next_line(&mut s).await.expect("a last line");
    assert!(last.notice, "{last:?}");
    assert!(last.text.contains("went away"), "{}", last.text);
    assert!(next_line(&mut s).await.is_none(), "the stream ends");
}

#[tokio::test]
async fn every_pod_of_a_service_merges_across_clusters_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let (ns_eu, ns_us) = (
        peers::unique("diag-merge-eu"),
        peers::unique("diag-merge-us"),
    );
    let client = seeder().await;
    create_pod(
        &client,
        &ns_eu,
        "cart-3-eeeee",
        "cart",
        "cart-3",
        running_status(),
    )
    .await;
    create_pod(
        &client,
        &ns_us,
        "cart-3-uuuuu",
        "cart",
        "cart-3",
        running_status(),
    )
    .await;
    let (t1, t2, t3, t4) = (ago(40), ago(30), ago(20), ago(10));
    write_logs(
        &ns_eu,
        "cart-3-eeeee",
        false,
        &[("eu 1", Some(&t1)), ("eu 3", Some(&t3))],
    )
    .await;
    write_logs(
        &ns_us,
        "cart-3-uuuuu",
        false,
        &[("us 2", Some(&t2)), ("us 4", Some(&t4))],
    )
    .await;
    let p = provider(
        dir.path(),
        &[
            ("production", "eu-west-1", &ns_eu),
            ("production", "us-east-1", &ns_us),
        ],
    )
    .await;
    let sources = vec![
        LogSource {
            cluster: ClusterId::new("production", "eu-west-1"),
            pod: "cart-3-eeeee".into(),
        },
        LogSource {
            cluster: ClusterId::new("production", "us-east-1"),
            pod: "cart-3-uuuuu".into(),
        },
    ];
    let clusters: std::sync::Arc<dyn ClusterProvider> = std::sync::Arc::new(p.clone());
    let lines: Vec<LogLine> = merged(clusters.clone(), sources.clone(), LogQuery::default())
        .await
        .expect("merged")
        .collect()
        .await;
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["eu 1", "us 2", "eu 3", "us 4"]);
    let prefixes: Vec<String> = lines.iter().map(|l| l.source(false)).collect();
    assert_eq!(
        prefixes,
        [
            "eu-west-1/eeeee",
            "us-east-1/uuuuu",
            "eu-west-1/eeeee",
            "us-east-1/uuuuu"
        ]
    );

    // Followed: the backlog in order, then each pod's new lines, none twice.
    let q = LogQuery {
        follow: true,
        ..Default::default()
    };
    let mut s = merged(clusters, sources, q).await.expect("merged follow");
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_line(&mut s).await.unwrap().text);
    }
    assert_eq!(got, ["eu 1", "us 2", "eu 3", "us 4"]);
    write_logs(&ns_us, "cart-3-uuuuu", false, &[("us 5", None)]).await;
    write_logs(&ns_eu, "cart-3-eeeee", false, &[("eu 6", None)]).await;
    let mut new = vec![
        next_line(&mut s).await.unwrap().text,
        next_line(&mut s).await.unwrap().text,
    ];
    new.sort();
    assert_eq!(new, ["eu 6", "us 5"]);
}

#[tokio::test]
async fn the_problems_list_names_the_crash_loop_from_a_watch() {
    let dir = tempfile::tempdir().unwrap();
    let ns = peers::unique("diag-problems");
    let client = seeder().await;
    create_deployment(&client, &ns, "cart").await;
    create_pod(
        &client,
        &ns,
        "cart-4-crash",
        "cart",
        "cart-4",
        crash_status(),
    )
    .await;
    create_pod(
        &client,
        &ns,
        "cart-4-fine1",
        "cart",
        "cart-4",
        running_status(),
    )
    .await;
    let p = provider(dir.path(), &[("production", "eu-west-1", &ns)]).await;
    let cluster = ClusterId::new("production", "eu-west-1");
    let mut watch = p.watch();
    let mut live = LiveState::default();
    loop {
        let ev = tokio::time::timeout(WAIT, watch.next())
            .await
            .expect("the watch syncs")
            .expect("the watch stays open");
        let synced = matches!(&ev, ClusterEvent::Synced(c) if *c == cluster);
        live.apply(ev);
        if synced {
            break;
        }
    }
    let topology = Topology {
        regions: vec!["eu-west-1".into()],
        environments: vec!["production".into()],
        ..Default::default()
    };
    let list = problems(&ProblemInput {
        live: &live,
        topology: &topology,
        scope: &Scope::default(),
        locks: &[],
        freeze: None,
        secret_drift: &[],
        flag_drift: &[],
        unread: &[],
        now: chrono::Utc::now().timestamp(),
    });
    assert_eq!(list[0].kind, ProblemKind::CrashLoop, "{list:?}");
    assert!(list[0].what.contains("cart-4-crash") && list[0].what.contains("OOMKilled"));
    assert_eq!(
        list[0].next,
        "sphere logs cart-4-crash --env production --region eu-west-1 --previous"
    );
    assert_eq!(list[1].kind, ProblemKind::RolloutStalled, "{list:?}");
    assert_eq!(
        list[1].next,
        "sphere events cart --env production --region eu-west-1"
    );

    // A crash arriving on the watch shows up at the top once applied.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.patch_status(
        "cart-4-fine1",
        &PatchParams::default(),
        &Patch::Merge(crash_status()),
    )
    .await
    .expect("crash");
    loop {
        let ev = tokio::time::timeout(WAIT, watch.next())
            .await
            .expect("an update")
            .expect("open");
        let done =
            matches!(&ev, ClusterEvent::Pod(p) if p.name == "cart-4-fine1" && p.crash_looping());
        live.apply(ev);
        if done {
            break;
        }
    }
    let list = problems(&ProblemInput {
        live: &live,
        topology: &topology,
        scope: &Scope::default(),
        locks: &[],
        freeze: None,
        secret_drift: &[],
        flag_drift: &[],
        unread: &[],
        now: chrono::Utc::now().timestamp(),
    });
    let crashes = list
        .iter()
        .filter(|p| p.kind == ProblemKind::CrashLoop)
        .count();
    assert_eq!(crashes, 2, "{list:?}");
}

/// A configured platform's config: two production clusters on the peer, the catalog
/// (`svc` owned by the Group payments, whose member is ada; bob is in no group), no
/// admins, and `user` at the keyboard.
fn configured(dir: &Path, service: &str, ns: [&str; 2], user: &str) -> PathBuf {
    peers::kubeconfig_two_contexts(dir, ns);
    std::fs::create_dir_all(dir.join("catalog")).expect("mkdir");
    std::fs::write(
        dir.join("catalog/catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: payments}}\n\
             spec: {{type: team, children: [], members: [ada]}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: ada}}\n\
             spec: {{memberOf: [payments]}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: bob}}\n\
             spec: {{memberOf: []}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {service}}}\n\
             spec: {{type: service, lifecycle: production, owner: payments}}\n"
        ),
    )
    .expect("catalog");
    let config = dir.join(format!("config-{user}.toml"));
    std::fs::write(
        &config,
        format!(
            "platform_name = \"diag\"\nuser = \"{user}\"\n[catalog]\npaths = [\"catalog\"]\n\
             [policy]\nadmins = []\n\
             [[clusters]]\nregion = \"us-east-1\"\nenv = \"production\"\ncontext = \"use1\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{a}\"\n\
             [[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\ncontext = \"euw1\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{b}\"\n",
            a = ns[0],
            b = ns[1],
        ),
    )
    .expect("config");
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn production_logs_on_kubernetes_are_refused_to_a_non_owner_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let service = peers::unique("svc");
    let ns = [peers::unique("diag-use1"), peers::unique("diag-euw1")];
    crate::e2e_configured::seed(peers::kube(), &ns[0], &service, "1.0.0", 1).await;
    crate::e2e_configured::seed(peers::kube(), &ns[1], &service, "1.0.0", 1).await;
    let pod = format!("{service}-0");
    let (t1, t2) = (ago(20), ago(10));
    write_logs(&ns[0], &pod, false, &[("from us", Some(&t1))]).await;
    write_logs(&ns[1], &pod, false, &[("from eu", Some(&t2))]).await;
    let run = |user: &str, args: &[&str]| {
        let config = configured(dir.path(), &service, [&ns[0], &ns[1]], user);
        crate::e2e_configured::sphere(dir.path(), &config)
            .args(args)
            .output()
            .expect("sphere runs")
    };
    let out = run("bob", &["logs", &service, "--env", "production"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("--permission read-logs"), "{err}");
    assert!(out.stdout.is_empty());
    let out = run(
        "bob",
        &[
            "events",
            &pod,
            "--env",
            "production",
            "--region",
            "us-east-1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run("ada", &["logs", &service, "--env", "production"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains(" us-east-1/0 from us"), "{text}");
    assert!(lines[1].contains(" eu-west-1/0 from eu"), "{text}");

    let out = run("ada", &["audit", "--output", "json"]);
    let audit: serde_json::Value = serde_json::from_slice(&out.stdout).expect("audit json");
    let reads: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "logs.read")
        .map(|r| {
            (
                r["who"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(reads.contains(&("bob".into(), "refused".into())), "{audit}");
    assert!(
        reads.contains(&("ada".into(), "succeeded".into())),
        "{audit}"
    );
    assert!(!audit.to_string().contains("from us"), "never the lines");
}
