//! `cargo bench --bench cost`: what sphere asks of the real systems, counted by the
//! peers, before (every read goes out as it did: `Caching { off: true }`) and after
//! (one shared catalog, conditional GitHub requests, secret hashes by version).
//!
//! Peers: a GitHub org of 1,000 repositories, each with a `catalog-info.yaml`, served
//! with ETags and 304s as GitHub does (`tests/it/common/github_org.rs`); moto with a
//! service's secrets in 3 regions behind a counting proxy. The Kubernetes emulator is
//! not part of this run (see the README).
//!
//! What each row does, through sphere's own providers:
//! - cold start: the catalog as the TUI's start reads it (the TUI's load and the
//!   workload mapping's), with no cache on disk;
//! - warm start: the same from a new provider, with the cache dir the cold start left;
//! - idle 10 min, catalog pane: the background refreshes (every 30 s after; none before);
//! - idle 10 min, secrets pane: the pane's reads (every 5 s before, 30 s after);
//! - one action: the catalog reads an action makes (the policy twice, the workload
//!   mapping once), plus for the rollback its commit to the GitOps repository.
//!
//! Time is compressed (the intervals are counted, not waited for).
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
use sphere::backend::aws::{AwsOptions, AwsSecrets, AwsTarget};
use sphere::backend::catalog_cache::{CachedCatalog, REFRESH_EVERY};
use sphere::backend::configured::ConfiguredCatalog;
use sphere::backend::github::GithubProvider;
use sphere::backend::github::cache::GithubCache;
use sphere::backend::{CatalogProvider, ReposProvider, SecretsProvider};
use sphere::config::platform::GithubConfig;
use sphere::domain::{ClusterId, SecretValue};
use sphere::tui::model::{POLL, SLOW_POLL};

const ORG: &str = "acme";
const REPOS: usize = 1000;
const SERVICE: &str = "svc-0000";
const KEYS: usize = 10;
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
    env: String,
}

/// One measured row: GitHub (charged, 304), moto (ListSecrets, GetSecretValue).
#[derive(Default, Clone, Copy)]
struct Row {
    gh_charged: u64,
    gh_304: u64,
    gh_descriptors: u64,
    list_secrets: u64,
    get_value: u64,
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
    let (g0, m0) = (p.github.counts(), p.moto.snapshot());
    f.await;
    let g = p.github.counts().since(&g0);
    let m = counting_proxy::since(&p.moto.snapshot(), &m0);
    Row {
        gh_charged: g.charged(),
        gh_304: g.list_304 + g.descriptor_304 + g.other_304,
        gh_descriptors: g.descriptor + g.descriptor_304,
        list_secrets: m.get("ListSecrets").copied().unwrap_or(0),
        get_value: m.get("GetSecretValue").copied().unwrap_or(0),
    }
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
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
        let p = Peers {
            github,
            github_url,
            moto_url,
            moto,
            env: peers::unique("production"),
        };
        // The service's secrets in every region.
        let seed = build(&p, true, tempfile::tempdir()?.path()).await;
        for (region, _) in REGIONS {
            for k in 0..KEYS {
                seed.secrets
                    .put(
                        SERVICE,
                        &p.env,
                        region,
                        &format!("KEY_{k}"),
                        SecretValue::new(format!("v{k}")),
                    )
                    .await?;
            }
        }
        drop(seed);
        let before = scenarios(&p, false).await;
        let after = scenarios(&p, true).await;
        println!(
            "cost: GitHub org of {REPOS} repositories (each with a descriptor), moto with {} \
             secrets of one service in {} regions",
            KEYS * REGIONS.len(),
            REGIONS.len()
        );
        println!(
            "{:<40} {:>26} {:>26}",
            "requests (GitHub charged/304/descr.; AWS List/GetValue)", "before", "after"
        );
        for ((label, b), (_, a)) in before.iter().zip(&after) {
            let cell = |r: &Row| {
                format!(
                    "gh {}/{}/{} aws {}/{}",
                    r.gh_charged, r.gh_304, r.gh_descriptors, r.list_secrets, r.get_value
                )
            };
            println!("{label:<40} {:>26} {:>26}", cell(b), cell(a));
        }
        Ok::<(), anyhow::Error>(())
    })
}
