//! `cargo bench --bench cost`: what sphere asks of the real systems, counted by the
//! peers, before (every read goes out as it did: `Caching { off: true }`) and after
//! (one shared catalog, conditional GitHub requests, secret hashes by version).
//!
//! Peers: a GitHub org of 1,000 repositories, each with a `catalog-info.yaml`, served
//! with ETags and 304s as GitHub does (`tests/it/common/github_org.rs`); moto with
//! 2,010 secrets (67 services, 10 keys each, in 3 regions) behind a counting proxy; the
//! Kubernetes emulator (`tests/peers/kube_peer.py`) behind a counting proxy, as 3
//! clusters of the configured platform (`configured::build_with`, the TUI's path).
//!
//! What each row does, through sphere's own providers:
//! - cold start: the catalog as the TUI's start reads it (the TUI's load and the
//!   workload mapping's), with no cache on disk;
//! - warm start: the same from a new provider, with the cache dir the cold start left;
//! - idle 10 min, catalog pane: the background refreshes (every 30 s after; none before);
//! - idle 10 min, secrets pane: the pane's reads (every 5 s before, 30 s after);
//! - one action: the catalog reads an action makes (the policy twice, the workload
//!   mapping once), plus for the rollback its commit to the GitOps repository;
//! - then, on the whole configured platform, per minute idle: the Deployments pane's
//!   lock reads (every 5 s) and the service view's reads (every 5 s before, 30 s
//!   after: the catalog and `facts::gather`: repository, the service's deployments,
//!   secrets, locks; the workloads' watch running, as in the TUI);
//!   the rollback picker's releases opened 10 times in a minute; then a lock, a restart
//!   and a rollback as the TUI runs them (`tui::fetch::act`: the policy's read and
//!   plan, the confirmation when asked, the policy's read and plan again, the act).
//!
//! Time is compressed (the intervals are counted, not waited for). Each platform is
//! read once before its rows (warm: the watches listed, the catalog read).
//!
//! `SPHERE_COST_SERVE=DIR cargo bench --bench cost` keeps the peers up instead, writes
//! `DIR/config.toml` for `sphere`, and prints each peer's requests every 10 s.
//!
//! `SPHERE_BENCH_PODS=N cargo bench --bench cost` measures instead the memory of the
//! configured path: the resident size of this process after the pods watch of one
//! cluster listed N pods from the emulator (kept as the TUI keeps them: summaries).
// A benchmark, like a test, stops with its message when its set-up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/common/counting_proxy.rs"]
mod counting_proxy;
#[path = "../tests/it/common/github_org.rs"]
mod github_org;
#[path = "../tests/it/common/peers.rs"]
mod peers;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::config::{Credentials, SharedCredentialsProvider};
use futures::StreamExt;
use sphere::actions::{Action, Policy};
use sphere::backend::Platform;
use sphere::backend::aws::{AwsOptions, AwsSecrets, AwsTarget};
use sphere::backend::catalog_cache::{CachedCatalog, REFRESH_EVERY};
use sphere::backend::configured::ConfiguredCatalog;
use sphere::backend::configured::{Caching, build_with};
use sphere::backend::facts;
use sphere::backend::github::GithubProvider;
use sphere::backend::github::cache::GithubCache;
use sphere::backend::{CatalogProvider, ReposProvider, SecretsProvider};
use sphere::config::platform::GithubConfig;
use sphere::domain::ClusterEvent;
use sphere::domain::service::LiveState;
use sphere::domain::{ClusterId, SecretValue};
use sphere::tui::fetch::act;
use sphere::tui::model::{POLL, SLOW_POLL};
use sphere::tui::msg::Msg;

const ORG: &str = "acme";
const REPOS: usize = 1000;
const SERVICE: &str = "svc-0000";
const KEYS: usize = 10;
/// Services with secrets besides [`SERVICE`] (10 keys each in every region).
const OTHER_SERVICES: usize = 66;
/// The kube emulator's clusters: production in each region.
const CLUSTERS: [&str; 3] = ["use1", "euw1", "apse2"];
const REGIONS: [(&str, &str); 3] = [
    ("use1", "us-east-1"),
    ("euw1", "eu-west-1"),
    ("apse2", "ap-southeast-2"),
];
const IDLE: Duration = Duration::from_secs(600);

struct Peers {
    github: github_org::GithubOrg,
    github_url: String,
    moto_url: String,
    moto: counting_proxy::Counter,
    kube_url: String,
    kube: counting_proxy::Counter,
    env: String,
    lock_namespace: String,
}

/// One measured row: GitHub (charged, 304), moto (ListSecrets, GetSecretValue), the
/// Kubernetes API (reads: GET and LIST; watch requests; writes).
#[derive(Default, Clone, Copy)]
struct Row {
    gh_charged: u64,
    gh_304: u64,
    gh_descriptors: u64,
    list_secrets: u64,
    get_value: u64,
    kube_reads: u64,
    kube_watches: u64,
    kube_writes: u64,
}

/// A row as the table prints it.
fn cell(r: &Row) -> String {
    format!(
        "gh {}/{}/{} aws {}/{} k8s {}/{}/{}",
        r.gh_charged,
        r.gh_304,
        r.gh_descriptors,
        r.list_secrets,
        r.get_value,
        r.kube_reads,
        r.kube_watches,
        r.kube_writes
    )
}

fn github_config(url: &str) -> GithubConfig {
    GithubConfig {
        org: ORG.to_string(),
        api_url: Some(url.to_string()),
        gitops_repo: Some("deploy".to_string()),
        timeout_seconds: 30,
        ..GithubConfig::default()
    }
}

struct Built {
    catalog: Arc<dyn CatalogProvider>,
    repos: Arc<GithubProvider>,
    secrets: AwsSecrets,
}

async fn build(p: &Peers, after: bool, cache_dir: &std::path::Path) -> Built {
    let cfg = github_config(&p.github_url);
    let cache = after.then(|| GithubCache::open(GithubProvider::cache_file(&cfg, cache_dir)));
    let github = Arc::new(
        GithubProvider::with_cache(&cfg, Some("bench-token".into()), cache).expect("github"),
    );
    let configured = ConfiguredCatalog {
        roots: Vec::new(),
        discovered: Some(github.clone()),
        registered: None,
    };
    let catalog: Arc<dyn CatalogProvider> = if after {
        Arc::new(CachedCatalog::new(configured))
    } else {
        Arc::new(configured)
    };
    let targets: Vec<AwsTarget> = REGIONS
        .iter()
        .map(|(region, aws_region)| AwsTarget {
            env: p.env.clone(),
            region: region.to_string(),
            aws_region: aws_region.to_string(),
            profile: None,
            endpoint_url: Some(p.moto_url.clone()),
        })
        .collect();
    let secrets = AwsSecrets::new(
        &targets,
        AwsOptions {
            timeout: Duration::from_secs(30),
            recovery_window_days: 7,
            concurrency: 4,
            credentials: Some(SharedCredentialsProvider::new(Credentials::new(
                "AKIDSPHEREBENCH",
                "sphere-bench-secret",
                None,
                None,
                "sphere-bench",
            ))),
        },
    )
    .await;
    secrets.remember_value_hashes(after);
    Built {
        catalog,
        repos: github,
        secrets,
    }
}

async fn measure<F: std::future::Future<Output = ()>>(p: &Peers, f: F) -> Row {
    let (g0, m0, k0) = (p.github.counts(), p.moto.snapshot(), p.kube.snapshot());
    f.await;
    let g = p.github.counts().since(&g0);
    let m = counting_proxy::since(&p.moto.snapshot(), &m0);
    let k = counting_proxy::since(&p.kube.snapshot(), &k0);
    let kube = |pick: &dyn Fn(&str) -> bool| -> u64 {
        k.iter().filter(|(op, _)| pick(op)).map(|(_, n)| n).sum()
    };
    Row {
        gh_charged: g.charged(),
        gh_304: g.list_304 + g.descriptor_304 + g.other_304,
        gh_descriptors: g.descriptor + g.descriptor_304,
        list_secrets: m.get("ListSecrets").copied().unwrap_or(0),
        get_value: m.get("GetSecretValue").copied().unwrap_or(0),
        kube_reads: kube(&|op| op.starts_with("GET ") && !op.ends_with("(watch)")),
        kube_watches: kube(&|op| op.ends_with("(watch)")),
        kube_writes: kube(&|op| !op.starts_with("GET ")),
    }
}

/// The `config.toml` of the configured platform over the peers (its kubeconfig
/// written into `dir`).
fn config_text(p: &Peers, dir: &std::path::Path) -> String {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{}\"}}\n\
             contexts:\n- name: bench\n  context: {{cluster: peer, user: u}}\n\
             users:\n- name: u\n  user: {{token: bench}}\ncurrent-context: bench\n",
            p.kube_url
        ),
    )
    .expect("kubeconfig");
    let mut src = String::from("platform_name = \"bench\"\nuser = \"ada\"\n");
    for (region, aws_region) in REGIONS {
        src += &format!(
            "[[clusters]]\nregion = \"{region}\"\nenv = \"{}\"\ncontext = \"bench\"\n\
             kubeconfig = {:?}\naws_region = \"{aws_region}\"\n",
            p.env,
            kubeconfig.display().to_string()
        );
    }
    src += &format!(
        "[kubernetes]\nlock_namespace = \"{}\"\ntimeout_seconds = 30\n\
         [aws]\nendpoint_url = \"{}\"\ntimeout_seconds = 30\n\
         [github]\norg = \"{ORG}\"\napi_url = \"{}\"\ngitops_repo = \"deploy\"\ntimeout_seconds = 30\n",
        p.lock_namespace, p.moto_url, p.github_url
    );
    src
}

/// `SPHERE_COST_SERVE=DIR`: the peers stay up for a person to try `sphere` against
/// (issue 14's trial in a terminal): `DIR/config.toml` is written, and every 10 s a
/// line tells the requests each peer had since the last line and since the start.
async fn serve(p: &Peers, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("config.toml");
    std::fs::write(&config, config_text(p, dir))?;
    println!(
        "serving: GITHUB_TOKEN=bench-token AWS_ACCESS_KEY_ID=AKIDSPHEREBENCH \
         AWS_SECRET_ACCESS_KEY=sphere-bench-secret sphere --config {}",
        config.display()
    );
    println!("(gh charged/304/descr.; aws List/GetValue; k8s read/watch/write)");
    let start = std::time::Instant::now();
    let mut total = Row::default();
    loop {
        let last = measure(p, tokio::time::sleep(Duration::from_secs(10))).await;
        total = Row {
            gh_charged: total.gh_charged + last.gh_charged,
            gh_304: total.gh_304 + last.gh_304,
            gh_descriptors: total.gh_descriptors + last.gh_descriptors,
            list_secrets: total.list_secrets + last.list_secrets,
            get_value: total.get_value + last.get_value,
            kube_reads: total.kube_reads + last.kube_reads,
            kube_watches: total.kube_watches + last.kube_watches,
            kube_writes: total.kube_writes + last.kube_writes,
        };
        println!(
            "{:>5} s  last 10 s: {:<40} since the start: {}",
            start.elapsed().as_secs(),
            cell(&last),
            cell(&total)
        );
    }
}

/// The configured platform over the peers, as `sphere` builds it from `config.toml`
/// (`after`: with its caches and watches; before: `SPHERE_NO_CACHE=1`).
async fn platform(p: &Peers, after: bool, dir: &std::path::Path) -> Platform {
    let src = config_text(p, dir);
    let (config, problems) = sphere::config::Config::from_str_at(&dir.join("config.toml"), &src);
    assert!(problems.is_empty(), "{problems:?}");
    let caching = Caching {
        dir: Some(dir.join("cache")),
        off: !after,
    };
    build_with(&config, dir, caching).await.expect("platform")
}

/// What the service view reads once (`tui::fetch`'s report: the catalog, then the
/// facts of the service from every provider).
async fn service_view(platform: &Platform) {
    let catalog = platform.catalog.load().await.expect("catalog");
    facts::gather(platform, &catalog, SERVICE)
        .await
        .expect("service facts");
}

/// The rows measured on the whole configured platform.
async fn platform_rows(p: &Peers, after: bool) -> Vec<(&'static str, Row)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let platform = platform(p, after, dir.path()).await;
    // The workloads' watch runs as the TUI runs it (read all along), until every
    // cluster has synced; before, the service view reads the clusters all the same.
    let mut watch = platform.clusters.watch();
    let (synced_tx, mut synced) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(event) = watch.next().await {
            if let ClusterEvent::Synced(cluster) = event {
                let _ = synced_tx.send(cluster);
            }
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < CLUSTERS.len() {
        let cluster = tokio::time::timeout(Duration::from_secs(60), synced.recv())
            .await
            .expect("the workloads' watch synced")
            .expect("the watch runs");
        seen.insert(cluster);
    }
    // Warm: the catalog read, the watches listed, the service view read once; below,
    // the lock object and its namespace made (by a lock and its release).
    service_view(&platform).await;
    platform.ledger.locks().await.expect("locks");
    platform
        .clusters
        .environments()
        .await
        .expect("environments");
    let minute = Duration::from_secs(60);
    let mut rows = Vec::new();
    rows.push((
        "idle 1 min: deployments pane (locks, 5 s)",
        measure(p, async {
            for _ in 0..minute.as_secs() / POLL.as_secs() {
                platform.ledger.locks().await.expect("locks");
            }
        })
        .await,
    ));
    rows.push((
        "one service-view open (catalog + facts)",
        measure(p, service_view(&platform)).await,
    ));
    let every = if after { SLOW_POLL } else { POLL };
    rows.push((
        "idle 1 min: service view",
        measure(p, async {
            for _ in 0..minute.as_secs() / every.as_secs() {
                service_view(&platform).await;
            }
        })
        .await,
    ));
    rows.push((
        "rollback picker opened 10x in 1 min",
        measure(p, async {
            for _ in 0..10 {
                platform.repos.releases(SERVICE).await.expect("releases");
            }
        })
        .await,
    ));
    // The actions as the TUI runs them (`tui::fetch::act`): plan (the policy's read,
    // then the question), confirm, plan again and act.
    let cluster = ClusterId {
        env: p.env.clone().into(),
        region: "use1".into(),
    };
    let lock = Action::Lock {
        service: SERVICE.into(),
        env: Some(p.env.clone()),
        region: None,
        reason: "bench".into(),
    };
    // Warm: the lock object and its namespace made (by a lock and its release).
    tui_act(&platform, lock.clone()).await;
    unlock(&platform).await;
    rows.push((
        "one lock (TUI: plan, act; 3 clusters)",
        measure(p, tui_act(&platform, lock)).await,
    ));
    unlock(&platform).await;
    rows.push((
        "one restart (TUI: plan, confirm, plan, act)",
        measure(
            p,
            tui_act(
                &platform,
                Action::Restart {
                    service: SERVICE.into(),
                    cluster: cluster.clone(),
                },
            ),
        )
        .await,
    ));
    let version_file = format!("apps/{SERVICE}/{}/use1/version", p.env);
    p.github.push_file("deploy", &version_file, "1.0.0\n");
    rows.push((
        "one rollback (TUI: plan, confirm, plan, act)",
        measure(
            p,
            tui_act(
                &platform,
                Action::Rollback {
                    service: SERVICE.into(),
                    cluster: cluster.clone(),
                    to: Some("0.9.0".into()),
                },
            ),
        )
        .await,
    ));
    // Back where it was, for the other run.
    p.github.push_file("deploy", &version_file, "1.0.0\n");
    reader.abort();
    rows
}

/// One action as the TUI runs it (`tui::fetch::act`, as `ada`, an admin): planned
/// (the policy's read), confirmed when it asks, planned again and done.
async fn tui_act(platform: &Platform, action: Action) {
    let policy = Policy {
        admins: vec!["ada".into()],
        ..Policy::default()
    };
    let run = |confirmed| {
        let (policy, action) = (policy.clone(), action.clone());
        async move {
            act(
                platform,
                policy,
                "ada",
                None,
                action,
                confirmed,
                &mut |_| {},
            )
            .await
        }
    };
    match run(false).await {
        Msg::Acted(Ok(_)) => {}
        Msg::NeedsConfirm(..) => match run(true).await {
            Msg::Acted(Ok(_)) => {}
            other => panic!("{}: {other:?}", action.describe()),
        },
        other => panic!("{}: {other:?}", action.describe()),
    }
}

/// The bench's lock released (by the ledger, as `sphere unlock` would).
async fn unlock(platform: &Platform) {
    platform
        .ledger
        .remove_locks(SERVICE, None, None, None)
        .await
        .expect("unlock");
}

/// The service's deployment and pods on the emulator, labelled as the mapping expects.
async fn seed_kube(url: &str, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use kube::api::{Api, PostParams};
    let client = kube::Client::try_from(kube::Config::new(url.parse()?))?;
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let labels = serde_json::json!({"app.kubernetes.io/name": SERVICE});
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": SERVICE, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": SERVICE, "image": format!("ghcr.io/acme/{SERVICE}:1.0.0")}]}}
        }
    }))?;
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &d)
        .await?;
    for i in 0..3 {
        Api::<Pod>::namespaced(client.clone(), namespace)
            .create(
                &PostParams::default(),
                &pod(&format!("{SERVICE}-{i}"), namespace)?,
            )
            .await?;
    }
    Ok(())
}

fn pod(name: &str, namespace: &str) -> anyhow::Result<k8s_openapi::api::core::v1::Pod> {
    Ok(serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": SERVICE}},
        "spec": {"nodeName": "node-1", "containers": [{"name": SERVICE, "image": format!("ghcr.io/acme/{SERVICE}:1.0.0")}]},
        "status": {"phase": "Running", "startTime": "2026-12-01T09:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": SERVICE, "ready": true, "restartCount": 0,
                                          "image": format!("ghcr.io/acme/{SERVICE}:1.0.0"), "imageID": "",
                                          "state": {"running": {"startedAt": "2026-12-01T09:00:00Z"}}}]}
    }))?)
}

/// What the `sphere` binary does with its allocator (`main.rs`: one malloc arena for
/// every thread), set before any thread starts.
fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands what the heap freed back to the system, as the TUI does once every cluster
/// synced.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// This process's resident size, in MB.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// This process's resident set by part, in MB, from `/proc/self/smaps`: the heap's
/// main arena (`[heap]`), other anonymous memory (other arenas, thread stacks, large
/// allocations), the bench binary's own pages, and the rest (shared libraries).
#[derive(Clone, Copy, Default)]
struct Split {
    heap: f64,
    anon: f64,
    binary: f64,
    other: f64,
}

impl Split {
    fn read() -> Split {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let exe = std::env::current_exe().ok();
        let exe = exe.as_deref().and_then(|p| p.to_str()).unwrap_or("");
        let mut split = Split::default();
        let mut part = 0;
        for line in smaps.lines() {
            if let Some(kb) = line.strip_prefix("Rss:") {
                let mb = kb
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1024.0;
                match part {
                    0 => split.heap += mb,
                    1 => split.anon += mb,
                    2 => split.binary += mb,
                    _ => split.other += mb,
                }
            } else if line.split_whitespace().nth(1).is_some_and(|f| f.len() == 4)
                && line
                    .split_whitespace()
                    .next()
                    .is_some_and(|r| r.contains('-'))
            {
                // A mapping's header: `start-end perms offset dev inode [path]`.
                let path = line.split_whitespace().nth(5).unwrap_or("");
                part = if path == "[heap]" {
                    0
                } else if path.is_empty() || path.starts_with("[stack") || path == "[anon]" {
                    1
                } else if !exe.is_empty() && path == exe {
                    2
                } else {
                    3
                };
            }
        }
        split
    }

    fn show(&self) -> String {
        format!(
            "heap {:.1}, other anonymous {:.1}, binary {:.1}, libraries {:.1}",
            self.heap, self.anon, self.binary, self.other
        )
    }
}

/// The configured path's memory: one cluster's pods watch over `n` pods on the emulator,
/// the summaries kept by name as the TUI's model keeps them.
async fn memory(n: usize) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, PostParams};
    use sphere::backend::ClusterProvider;
    use sphere::backend::kubernetes::KubeClusters;
    use sphere::config::platform::{ClusterConfig, KubernetesConfig};
    let url = peers::kube().to_string();
    let namespace = peers::unique("mem");
    seed_kube(&url, &namespace).await?;
    let client = kube::Client::try_from(kube::Config::new(url.parse()?))?;
    let api: Api<Pod> = Api::namespaced(client, &namespace);
    let started = std::time::Instant::now();
    let made = futures::stream::iter(3..n)
        .map(|i| {
            let api = api.clone();
            let namespace = namespace.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &pod(&format!("{SERVICE}-{i}"), &namespace)?,
                )
                .await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    made.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    eprintln!("seeded {n} pods in {:.0?}", started.elapsed());
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{url}\"}}\n\
             contexts:\n- name: bench\n  context: {{cluster: peer, user: u}}\n\
             users:\n- name: u\n  user: {{token: bench}}\ncurrent-context: bench\n"
        ),
    )?;
    let entry = ClusterConfig {
        region: "use1".into(),
        env: "production".into(),
        context: Some("bench".into()),
        kubeconfig: Some(kubeconfig),
        namespace: Some(namespace.clone()),
        aws_region: None,
        aws_profile: None,
    };
    let settings = KubernetesConfig {
        timeout_seconds: 600,
        ..KubernetesConfig::default()
    };
    // The seeding's garbage goes back first, so "before" is what the watch starts from.
    trim();
    let before = rss_mb();
    let split_before = Split::read();
    let kube = KubeClusters::new(&[entry], &settings).await;
    let mut stream = kube.watch();
    // The summaries are kept as the TUI's model keeps them.
    let mut live = LiveState::default();
    let started = std::time::Instant::now();
    while let Some(ev) = stream.next().await {
        match ev {
            ClusterEvent::Synced(_) => break,
            ClusterEvent::Unreachable { error, .. } => anyhow::bail!("unreachable: {error}"),
            ev => {
                live.apply(ev);
            }
        }
    }
    let synced = started.elapsed();
    let at_sync = rss_mb();
    // As the TUI does once every cluster has synced (`tui::app`).
    trim();
    // As the issue measured it: resident 30 s after the start, the watch still open.
    let rest = Duration::from_secs(30).saturating_sub(synced);
    let _ = tokio::time::timeout(rest, async {
        while let Some(ev) = stream.next().await {
            live.apply(ev);
        }
    })
    .await;
    let after = rss_mb();
    let split_after = Split::read();
    println!(
        "memory, configured path: pods watch of 1 cluster on the emulator, {} pods kept \
         (listed in {:.1?})",
        live.pod_count(),
        synced
    );
    println!(
        "  resident: {before:.0} MB before the watch, {at_sync:.0} MB at sync, {after:.0} MB after 30 s \
         ({:.0} MB for the watch, {:.1} kB per pod)",
        after - before,
        (after - before) * 1024.0 / live.pod_count().max(1) as f64
    );
    println!("  before the watch (MB): {}", split_before.show());
    println!("  after 30 s (MB):       {}", split_after.show());
    Ok(())
}

async fn scenarios(p: &Peers, after: bool) -> Vec<(&'static str, Row)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    // Each run starts with the whole hour's budget (the "before" run spends it all).
    p.github.set_remaining(5000);
    let b = build(p, after, dir.path()).await;
    rows.push((
        "cold start (catalog)",
        measure(p, async {
            b.catalog.load().await.expect("catalog");
            b.catalog.load().await.expect("catalog");
        })
        .await,
    ));
    drop(b);
    let b = build(p, after, dir.path()).await;
    rows.push((
        "warm start (cache, nothing changed)",
        measure(p, async {
            b.catalog.load().await.expect("catalog");
            b.catalog.load().await.expect("catalog");
        })
        .await,
    ));
    let refreshes = if after {
        (IDLE.as_secs() / REFRESH_EVERY.as_secs()) as usize
    } else {
        0
    };
    rows.push((
        "idle 10 min: catalog pane",
        measure(p, async {
            for _ in 0..refreshes {
                b.catalog.refresh().await.expect("refresh");
            }
        })
        .await,
    ));
    let every = if after { SLOW_POLL } else { POLL };
    let polls = (IDLE.as_secs() / every.as_secs()) as usize;
    rows.push((
        "idle 10 min: secrets pane",
        measure(p, async {
            for _ in 0..polls {
                b.secrets
                    .list_partial(Some(SERVICE))
                    .await
                    .expect("secrets");
            }
            for _ in 0..refreshes {
                b.catalog.refresh().await.expect("refresh");
            }
        })
        .await,
    ));
    rows.push((
        "one restart or lock (catalog reads)",
        measure(p, async {
            for _ in 0..3 {
                b.catalog.load().await.expect("catalog");
            }
        })
        .await,
    ));
    let cluster = ClusterId {
        env: "production".into(),
        region: "use1".into(),
    };
    rows.push((
        "one rollback (catalog reads + commit)",
        measure(p, async {
            for _ in 0..3 {
                b.catalog.load().await.expect("catalog");
            }
            b.repos
                .rollback(SERVICE, &cluster, "0.9.0")
                .await
                .expect("rollback");
        })
        .await,
    ));
    // Back where it was, for the other run.
    p.github.push_file(
        "deploy",
        &format!("apps/{SERVICE}/production/use1/version"),
        "1.0.0\n",
    );
    rows
}

fn main() -> anyhow::Result<()> {
    // The configured platform's credentials come from the environment, as a user's do
    // (set before any thread starts).
    unsafe {
        std::env::set_var("GITHUB_TOKEN", "bench-token");
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDSPHEREBENCH");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "sphere-bench-secret");
        std::env::remove_var("AWS_PROFILE");
    }
    let pods = std::env::var("SPHERE_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if pods.is_some() {
        one_arena();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(n) = pods {
        return rt.block_on(memory(n));
    }
    rt.block_on(async {
        let (_server, github) = github_org::GithubOrg::start(ORG, REPOS, 1).await;
        github.push_file(
            "deploy",
            &format!("apps/{SERVICE}/production/use1/version"),
            "1.0.0\n",
        );
        let github_url = _server.uri();
        let upstream = peers::moto().trim_start_matches("http://").to_string();
        let (moto_url, moto) = counting_proxy::start(upstream).await;
        let upstream = peers::kube().trim_start_matches("http://").to_string();
        let (kube_url, kube) = counting_proxy::start(upstream).await;
        let p = Peers {
            github,
            github_url,
            moto_url,
            moto,
            kube_url,
            kube,
            env: peers::unique("production"),
            lock_namespace: peers::unique("bench-locks"),
        };
        // The service's descriptor names its repository (the service view reads it).
        p.github.push_file(
            SERVICE,
            github_org::DESCRIPTOR,
            &github_org::descriptor(SERVICE).replace(
                "  description:",
                &format!(
                    "  annotations:\n    github.com/project-slug: {ORG}/{SERVICE}\n  description:"
                ),
            ),
        );
        p.github
            .push_file(SERVICE, ".github/workflows/ci.yml", "on: push\n");
        p.github.publish(SERVICE, "v0.9.0");
        p.github.publish(SERVICE, "v1.0.0");
        seed_kube(peers::kube(), &peers::unique("bench-apps")).await?;
        // 2,010 secrets: the service's and 66 others', 10 keys each in every region.
        let seed = build(&p, true, tempfile::tempdir()?.path()).await;
        let started = std::time::Instant::now();
        let puts = (0..=OTHER_SERVICES).flat_map(|s| {
            REGIONS
                .iter()
                .flat_map(move |(region, _)| (0..KEYS).map(move |k| (s, *region, k)))
        });
        let done = futures::stream::iter(puts)
            .map(|(s, region, k)| {
                let (secrets, env) = (&seed.secrets, &p.env);
                async move {
                    let service = if s == 0 {
                        SERVICE.to_string()
                    } else {
                        format!("svc-{s:04}")
                    };
                    secrets
                        .put(
                            &service,
                            env,
                            region,
                            &format!("KEY_{k}"),
                            SecretValue::new(format!("v{k}")),
                        )
                        .await
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        done.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        eprintln!(
            "seeded {} secrets in {:.0?}",
            (OTHER_SERVICES + 1) * KEYS * REGIONS.len(),
            started.elapsed()
        );
        drop(seed);
        if let Ok(dir) = std::env::var("SPHERE_COST_SERVE") {
            return serve(&p, std::path::Path::new(&dir)).await;
        }
        let mut before = scenarios(&p, false).await;
        before.extend(platform_rows(&p, false).await);
        let mut after = scenarios(&p, true).await;
        after.extend(platform_rows(&p, true).await);
        println!(
            "cost: GitHub org of {REPOS} repositories (each with a descriptor), moto with {} \
             secrets ({} of the service) in {} regions, the Kubernetes emulator as {} clusters",
            (OTHER_SERVICES + 1) * KEYS * REGIONS.len(),
            KEYS * REGIONS.len(),
            REGIONS.len(),
            CLUSTERS.len()
        );
        println!(
            "{:<42} {:>44} {:>44}",
            "requests (gh charged/304/descr.; aws List/GetValue; k8s read/watch/write)",
            "before",
            "after"
        );
        for ((label, b), (_, a)) in before.iter().zip(&after) {
            println!("{label:<42} {:>44} {:>44}", cell(b), cell(a));
        }
        Ok::<(), anyhow::Error>(())
    })
}
