//! `cargo bench --bench fanout`: what N clients ask of the real systems when each reads
//! them itself (direct) and when they read from one `sphere agent` (issue 15), counted
//! by the peers.
//!
//! Peers: the Kubernetes emulator (`tests/peers/kube_peer.py`) as 3 clusters of the
//! configured platform, moto (Secrets Manager) and the GitHub org peer (the catalog's
//! descriptors), each behind a counter; tansu (`SPHERE_TEST_KAFKA`, else started) as the
//! agent's broker.
//!
//! A client is the configured platform as `sphere` builds it from its config
//! (`configured::build_with`, the TUI's path; with `[source] agent` wrapped by
//! `agent_source::from_config`), each with its own data directory, doing what the TUI
//! does to draw its first full frame and one refresh after: the cluster watch until
//! every cluster has listed, the catalog, the secrets and the locks; then the catalog,
//! the secrets and the locks again. Its watch stays open until the row is counted. The
//! N clients of a row start together.
//!
//! The agent runs in this process (`sphere::agent::run`, as `sphere agent` runs it):
//! its start (until every source is published) is counted once; while the agent rows
//! are counted it keeps running, and what it asks meanwhile is in their counts.
// A benchmark, like a test, stops with its message when its set-up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/common/counting_proxy.rs"]
mod counting_proxy;
#[path = "../tests/it/common/github_org.rs"]
mod github_org;
#[path = "../tests/it/common/peers.rs"]
mod peers;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sphere::backend::Platform;
use sphere::backend::configured::{Caching, build_with};
use sphere::domain::{ClusterEvent, SecretValue};

const ORG: &str = "acme";
const REPOS: usize = 30;
/// One repository in 3 has a descriptor: the catalog's services.
const WITH_DESCRIPTOR: usize = 3;
/// Services deployed on the emulator, and with secrets (3 keys in every region).
const SERVICES: usize = 10;
const KEYS: usize = 3;
const REGIONS: [(&str, &str); 3] = [
    ("use1", "us-east-1"),
    ("euw1", "eu-west-1"),
    ("apse2", "ap-southeast-2"),
];
const CLIENTS: [usize; 3] = [1, 5, 20];
const DEADLINE: Duration = Duration::from_secs(180);

struct Peers {
    github: github_org::GithubOrg,
    github_url: String,
    moto_url: String,
    moto: counting_proxy::Counter,
    kube_url: String,
    kube: counting_proxy::Counter,
    kafka: String,
    env: String,
    lock_namespace: String,
    prefix: String,
    agent_port: u16,
}

#[derive(Default, Clone, Copy)]
struct Row {
    kube_watches: u64,
    kube_reads: u64,
    kube_writes: u64,
    aws: u64,
    github: u64,
    github_304: u64,
}

struct Before {
    github: github_org::Counts,
    moto: std::collections::BTreeMap<String, u64>,
    kube: std::collections::BTreeMap<String, u64>,
}

impl Peers {
    fn before(&self) -> Before {
        Before {
            github: self.github.counts(),
            moto: self.moto.snapshot(),
            kube: self.kube.snapshot(),
        }
    }

    fn since(&self, b: &Before) -> Row {
        let g = self.github.counts().since(&b.github);
        let m = counting_proxy::since(&self.moto.snapshot(), &b.moto);
        let k = counting_proxy::since(&self.kube.snapshot(), &b.kube);
        let kube = |pick: &dyn Fn(&str) -> bool| -> u64 {
            k.iter().filter(|(op, _)| pick(op)).map(|(_, n)| n).sum()
        };
        Row {
            kube_watches: kube(&|op| op.ends_with("(watch)")),
            kube_reads: kube(&|op| op.starts_with("GET ") && !op.ends_with("(watch)")),
            kube_writes: kube(&|op| !op.starts_with("GET ")),
            aws: m.values().sum(),
            github: g.charged(),
            github_304: g.list_304 + g.descriptor_304 + g.other_304,
        }
    }

    /// The config every process shares: the platform, `[agent]` (the agent's topics),
    /// and, for a client of the agent, `[source] agent`.
    fn config(&self, dir: &Path, source: bool) -> sphere::config::Config {
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{}\"}}\n\
                 contexts:\n- name: bench\n  context: {{cluster: peer, user: u}}\n\
                 users:\n- name: u\n  user: {{token: bench}}\ncurrent-context: bench\n",
                self.kube_url
            ),
        )
        .expect("kubeconfig");
        let mut src = String::from("platform_name = \"bench\"\nuser = \"ada\"\n");
        for (region, aws_region) in REGIONS {
            src += &format!(
                "[[clusters]]\nregion = \"{region}\"\nenv = \"{}\"\ncontext = \"bench\"\n\
                 kubeconfig = {:?}\naws_region = \"{aws_region}\"\n",
                self.env,
                kubeconfig.display().to_string()
            );
        }
        src += &format!(
            "[kubernetes]\nlock_namespace = \"{}\"\ntimeout_seconds = 30\n\
             [aws]\nendpoint_url = \"{}\"\ntimeout_seconds = 30\n\
             [github]\norg = \"{ORG}\"\napi_url = \"{}\"\ntimeout_seconds = 30\n\
             [agent]\nlisten = \"127.0.0.1:{}\"\nstate_topic = \"{p}.state\"\n\
             findings_topic = \"{p}.findings\"\nheartbeat_topic = \"{p}.heartbeats\"\n\
             silences_topic = \"{p}.silences\"\ntimeout_seconds = 10\nheartbeat_seconds = 2\n\
             [agent.properties]\n\"bootstrap.servers\" = \"{}\"\n",
            self.lock_namespace,
            self.moto_url,
            self.github_url,
            self.agent_port,
            self.kafka,
            p = self.prefix,
        );
        if source {
            src += &format!(
                "[source]\nagent = \"{}\"\nstale_seconds = 120\ntimeout_seconds = 60\n",
                self.kafka
            );
        }
        let (config, problems) =
            sphere::config::Config::from_str_at(&dir.join("config.toml"), &src);
        assert!(problems.is_empty(), "{problems:?}");
        config
    }

    async fn platform(&self, dir: &Path, source: bool) -> Platform {
        let config = self.config(dir, source);
        let caching = Caching {
            dir: Some(dir.join("cache")),
            off: false,
        };
        let platform = build_with(&config, dir, caching).await.expect("platform");
        sphere::backend::agent_source::from_config(platform, &config).expect("agent source")
    }
}

/// One client's first full frame and one refresh; the watch is left open (drained by
/// the task returned).
async fn client(platform: &Platform) -> tokio::task::JoinHandle<()> {
    let clusters: BTreeSet<_> = platform.clusters.topology().clusters().collect();
    let mut watch = platform.clusters.watch();
    let mut synced = BTreeSet::new();
    while !clusters.iter().all(|c| synced.contains(c)) {
        match watch.next().await.expect("the watch ended") {
            ClusterEvent::Synced(c) => {
                synced.insert(c);
            }
            ClusterEvent::Unreachable { cluster, error } => {
                panic!("{cluster} unreachable: {error}")
            }
            _ => {}
        }
    }
    let catalog = platform.catalog.load().await.expect("catalog");
    assert!(!catalog.entities().is_empty(), "an empty catalog");
    let secrets = platform.secrets.list(None).await.expect("secrets");
    assert_eq!(secrets.len(), SERVICES * KEYS * REGIONS.len());
    platform.ledger.locks().await.expect("locks");
    // One refresh, as the panes poll.
    platform.catalog.refresh().await.expect("catalog");
    platform.secrets.list(None).await.expect("secrets");
    platform.ledger.locks().await.expect("locks");
    tokio::spawn(async move { while watch.next().await.is_some() {} })
}

/// N clients at once: what the peers were asked until every one had its frame and its
/// refresh, and how long the last took.
async fn row(p: &Peers, n: usize, source: bool) -> (Row, Duration) {
    let before = p.before();
    let started = Instant::now();
    let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let runs = dirs.iter().map(|d| async move {
        let platform = p.platform(d.path(), source).await;
        let holder = client(&platform).await;
        (platform, holder)
    });
    let held = tokio::time::timeout(DEADLINE, futures::future::join_all(runs))
        .await
        .expect("the clients drew within the deadline");
    let took = started.elapsed();
    let row = p.since(&before);
    for (platform, holder) in held {
        holder.abort();
        drop(platform);
    }
    (row, took)
}

async fn seed_kube(url: &str, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, PostParams};
    let client = kube::Client::try_from(kube::Config::new(url.parse()?))?;
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    for s in 0..SERVICES {
        let service = format!("svc-{:04}", s * WITH_DESCRIPTOR);
        let labels = serde_json::json!({"app.kubernetes.io/name": service});
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": service, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels},
                             "spec": {"containers": [{"name": service, "image": format!("ghcr.io/acme/{service}:1.0.0")}]}}
            }
        }))?;
        Api::<Deployment>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &d)
            .await?;
    }
    Ok(())
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (server, github) = github_org::GithubOrg::start(ORG, REPOS, WITH_DESCRIPTOR).await;
        let upstream = peers::moto().trim_start_matches("http://").to_string();
        let (moto_url, moto) = counting_proxy::start(upstream).await;
        let upstream = peers::kube().trim_start_matches("http://").to_string();
        let (kube_url, kube) = counting_proxy::start(upstream).await;
        let p = Peers {
            github,
            github_url: server.uri(),
            moto_url,
            moto,
            kube_url,
            kube,
            kafka: peers::kafka().to_string(),
            env: peers::unique("production"),
            lock_namespace: peers::unique("fanout-locks"),
            prefix: peers::unique("fanout"),
            agent_port: peers::free_port(),
        };
        seed_kube(peers::kube(), &peers::unique("fanout-apps")).await?;
        let dir = tempfile::tempdir()?;
        let seed = p.platform(dir.path(), false).await;
        for s in 0..SERVICES {
            for (region, _) in REGIONS {
                for k in 0..KEYS {
                    let service = format!("svc-{:04}", s * WITH_DESCRIPTOR);
                    seed.secrets
                        .put(&service, &p.env, region, &format!("KEY_{k}"), SecretValue::new(format!("v{k}")))
                        .await?;
                }
            }
        }
        drop(seed);

        let mut direct = Vec::new();
        for n in CLIENTS {
            direct.push(row(&p, n, false).await);
        }

        // The agent, in this process, until every source is published and read back.
        let before = p.before();
        let started = Instant::now();
        let config = p.config(dir.path(), false);
        let agent_platform = build_with(
            &config,
            dir.path(),
            Caching {
                dir: Some(dir.path().join("agent-cache")),
                off: false,
            },
        )
        .await?;
        let opts = sphere::agent::Options {
            config: config.agent.clone().expect("[agent]"),
            kafka: None,
            sources: sphere::agent::default_sources(&config, false),
            hash_key: sphere::agent::records::HashKey::new(&[7u8; 32])?,
        };
        let sources = opts.sources.len();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(sphere::agent::run(agent_platform, None, opts, async {
            let _ = stopped.await;
        }));
        let probe_dir = tempfile::tempdir()?;
        let probe = p.platform(probe_dir.path(), true).await;
        let feed = probe.agent.clone().expect("a feed");
        loop {
            let s = feed.status();
            let ready = s.caught_up
                && s.sources.len() == sources
                && s.sources.iter().all(|a| !a.stale)
                && probe.secrets.list(None).await.map(|l| l.len()).unwrap_or(0)
                    == SERVICES * KEYS * REGIONS.len();
            if ready {
                break;
            }
            assert!(started.elapsed() < DEADLINE, "the agent did not publish: {s:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let agent_start = (p.since(&before), started.elapsed());
        drop(probe);

        let mut via = Vec::new();
        for n in CLIENTS {
            via.push(row(&p, n, true).await);
        }
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(30), agent).await;

        println!(
            "fanout: the Kubernetes emulator as {} clusters ({SERVICES} services), moto with {} \
             secrets in {} regions, a GitHub org of {REPOS} repositories ({} descriptors); each client \
             draws its first frame and refreshes once",
            REGIONS.len(),
            SERVICES * KEYS * REGIONS.len(),
            REGIONS.len(),
            REPOS.div_ceil(WITH_DESCRIPTOR),
        );
        println!(
            "{:<26} {:>9} {:>9} {:>9} {:>9} {:>13} {:>9}",
            "", "k8s watch", "k8s read", "k8s write", "aws", "github (304)", "time"
        );
        let line = |label: String, (r, took): &(Row, Duration)| {
            println!(
                "{label:<26} {:>9} {:>9} {:>9} {:>9} {:>13} {:>8.1}s",
                r.kube_watches,
                r.kube_reads,
                r.kube_writes,
                r.aws,
                format!("{} ({})", r.github, r.github_304),
                took.as_secs_f64()
            );
        };
        for (n, r) in CLIENTS.iter().zip(&direct) {
            line(format!("{n} direct clients"), r);
        }
        line("the agent's start (once)".to_string(), &agent_start);
        for (n, r) in CLIENTS.iter().zip(&via) {
            line(format!("{n} clients of the agent"), r);
        }
        Ok::<(), anyhow::Error>(())
    })
}
