//! Git-vs-live and HPA drift, alert silences and the alert rate limit: the built binary
//! on the demo platform (its GitOps model), and `sphere agent` against the tansu broker
//! POSTing to a webhook (a real HTTP server on loopback).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::kafka::read_raw;
use crate::common::peers;

struct Env {
    dir: tempfile::TempDir,
    port: u16,
    prefix: String,
}

impl Env {
    fn new(name: &str) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            port: peers::free_port(),
            prefix: peers::unique(name),
        }
    }

    fn topic(&self, what: &str) -> String {
        format!("{}.{what}", self.prefix)
    }

    /// A config: the demo platform, the agent on this test's topics (with `extra` in
    /// `[agent]`), and, with `hook`, the webhook told of drift.
    fn config(&self, hook: Option<&str>, extra: &str) -> PathBuf {
        let webhook = hook
            .map(|h| format!("[webhook]\nurl = \"{h}/hook\"\nevents = [\"drift\"]\n"))
            .unwrap_or_default();
        let text = format!(
            "{webhook}[agent]\nlisten = \"127.0.0.1:{port}\"\nstate_topic = \"{p}.state\"\n\
             findings_topic = \"{p}.findings\"\nheartbeat_topic = \"{p}.heartbeats\"\n\
             silences_topic = \"{p}.silences\"\npoll_seconds = 1\nheartbeat_seconds = 1\n\
             timeout_seconds = 5\n{extra}\n[agent.properties]\n\"bootstrap.servers\" = \"{b}\"\n",
            port = self.port,
            p = self.prefix,
            b = peers::kafka(),
        );
        let file = self.dir.path().join("config.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    fn command(&self, config: Option<&Path>, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(env!("CARGO_BIN_EXE_sphere"));
        if let Some(config) = config {
            c.arg("--config").arg(config);
        }
        c.args(["--pace", "0"])
            .args(args)
            .env("SPHERE_DATA_DIR", d.join("data"))
            .env("SPHERE_CONFIG_DIR", d.join("config"))
            .env("SPHERE_STATE_DIR", d.join("state"))
            .env("SPHERE_LOG", "info")
            .env_remove("SPHERE_CONFIG")
            .env_remove("SPHERE_AS")
            .env_remove("SPHERE_DEMO_FAIL");
        c
    }

    fn run(&self, config: Option<&Path>, args: &[&str]) -> Output {
        self.command(config, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, config: Option<&Path>, args: &[&str]) -> String {
        let out = self.run(config, args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `sphere drift --output json`: (exit code, the report).
    fn drift(&self) -> (i32, Value) {
        let out = self.run(None, &["drift", "--output", "json"]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
        });
        (out.status.code().unwrap(), v)
    }

    fn agent(&self, config: &Path) -> Agent {
        let log = std::fs::File::create(self.dir.path().join("agent.log")).unwrap();
        let child = self
            .command(Some(config), &["agent"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Agent {
            child,
            log: self.dir.path().join("agent.log"),
        }
    }

    /// The findings topic, in order: (id, record).
    fn findings(&self) -> Vec<(String, Value)> {
        read_raw(peers::kafka(), &self.topic("findings"))
    }
}

struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    /// Waits until `ok` holds (at most 90 s), failing with `what` and the agent's log.
    async fn wait(&mut self, what: &str, mut ok: impl AsyncFnMut() -> bool) {
        let start = Instant::now();
        while !ok().await {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("the agent ended ({status}) waiting for {what}\n{log}");
            }
            if start.elapsed() > Duration::from_secs(90) {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("{what}: not within 90 s\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn of_kind<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn git_vs_live_drift_on_the_demo_follows_what_writes_git_and_what_only_changes_live() {
    let e = Env::new("git-demo");
    // The demo has deployments changed by hand (git declares the release before).
    let (code, report) = e.drift();
    assert_eq!(code, 1);
    assert_eq!(report["unread"], serde_json::json!([]), "{report:#}");
    let git = of_kind(&report, "git");
    assert!(!git.is_empty(), "{report:#}");
    let f = git[0];
    let id = f["id"].as_str().unwrap();
    let (service, env, region) = (
        f["subject"].as_str().unwrap(),
        f["env"].as_str().unwrap(),
        f["regions"][0].as_str().unwrap(),
    );
    assert_eq!(id, format!("git/{service}/{env}/{region}"));
    let detail = f["detail"].as_str().unwrap();
    // "runs 3.1.0; git declares 3.0.1 (apps/SERVICE/ENV/REGION/version)"
    let declared = detail
        .split("git declares ")
        .nth(1)
        .and_then(|d| d.split(' ').next())
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(
        detail.ends_with(&format!("(apps/{service}/{env}/{region}/version)")),
        "{detail}"
    );
    // The matrix marks that cell, and only where git and live differ.
    let m: Value = serde_json::from_str(&e.ok(
        None,
        &[
            "deploy", "matrix", "--env", env, "--region", region, "--output", "json",
        ],
    ))
    .unwrap();
    let row = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == service)
        .unwrap();
    assert_eq!(row["cells"][0]["git"]["version"], declared, "{row}");
    let marked = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cells"][0].get("git").is_some())
        .count();
    assert_eq!(
        marked,
        git.iter()
            .filter(|f| f["env"] == env && f["regions"][0] == region)
            .count()
    );

    // An HPA patched by hand (`sphere hpa set`) changes live only: it drifts from git.
    assert!(of_kind(&report, "hpa").is_empty(), "{report:#}");
    e.ok(
        None,
        &[
            "hpa",
            "set",
            "cart-service",
            "--env",
            "staging",
            "--region",
            "us-east-1",
            "--min",
            "2",
            "--max",
            "7",
            "--yes",
        ],
    );
    let (_, report) = e.drift();
    let hpa = of_kind(&report, "hpa");
    assert_eq!(hpa.len(), 1, "{report:#}");
    assert_eq!(hpa[0]["id"], "hpa/cart-service/staging/us-east-1");
    let detail = hpa[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("HPA 2..7 replicas live; git declares "),
        "{detail}"
    );
    assert!(
        detail.ends_with("(apps/cart-service/staging/us-east-1/hpa.yaml)"),
        "{detail}"
    );
    // Set back to what git holds: in sync again.
    let bounds = detail
        .split("git declares ")
        .nth(1)
        .and_then(|d| d.split(' ').next())
        .unwrap();
    let (min, max) = bounds.split_once("..").unwrap();
    e.ok(
        None,
        &[
            "hpa",
            "set",
            "cart-service",
            "--env",
            "staging",
            "--region",
            "us-east-1",
            "--min",
            min,
            "--max",
            max,
            "--yes",
        ],
    );
    let (_, report) = e.drift();
    assert!(of_kind(&report, "hpa").is_empty(), "{report:#}");

    // A restart changes neither the version nor git.
    e.ok(
        None,
        &[
            "restart", service, "--env", env, "--region", region, "--yes",
        ],
    );
    let (_, report) = e.drift();
    assert!(
        of_kind(&report, "git").iter().any(|f| f["id"] == id),
        "{report:#}"
    );
    // A rollback is a commit to git that the cluster follows: in sync afterwards.
    e.ok(
        None,
        &[
            "rollback", service, "--env", env, "--region", region, "--to", declared, "--yes",
        ],
    );
    let (_, report) = e.drift();
    assert!(
        !of_kind(&report, "git").iter().any(|f| f["id"] == id),
        "{report:#}"
    );
}

/// The webhook's POSTs so far, as JSON.
async fn posts(hook: &wiremock::MockServer) -> Vec<Value> {
    hook.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn webhook() -> wiremock::MockServer {
    let hook = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    hook
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_git_drift_is_published_marked_and_posted_once_when_the_silence_expires() {
    let e = Env::new("git-silence");
    let hook = webhook().await;
    let config = e.config(Some(&hook.uri()), "alert_limit = 1000");
    let (_, report) = e.drift();
    let git: Vec<String> = of_kind(&report, "git")
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!git.is_empty());

    // Silenced before the agent sees it: audited, listed with who, why and until when.
    let said = e.ok(
        Some(&config),
        &[
            "alert",
            "silence",
            "git/*",
            "--reason",
            "hotfix being committed",
            "--for",
            "1h",
        ],
    );
    assert!(said.contains("silenced git/* until "), "{said}");
    let listed: Value =
        serde_json::from_str(&e.ok(Some(&config), &["alert", "silences", "--output", "json"]))
            .unwrap();
    assert_eq!(listed[0]["pattern"], "git/*", "{listed}");
    assert_eq!(listed[0]["reason"], "hotfix being committed");
    assert_eq!(listed[0]["active"], true);
    assert!(listed[0]["by"].as_str().is_some_and(|b| !b.is_empty()));
    assert!(listed[0]["until"].as_i64().unwrap() > listed[0]["at"].as_i64().unwrap() + 3_000);
    let audit: Value = serde_json::from_str(&e.ok(
        Some(&config),
        &["audit", "--grep", "alert.silence", "--output", "json"],
    ))
    .unwrap();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "alert.silence" && r["outcome"] == "succeeded"),
        "{audit:#}"
    );

    let mut agent = e.agent(&config);
    // The version drift is told; the git drift is published, marked, and not POSTed.
    agent
        .wait("the git findings published, silenced", async || {
            let f = e.findings_if_any();
            git.iter().all(|id| f.iter().any(|(k, _)| k == id))
        })
        .await;
    for (k, v) in e.findings().iter().filter(|(k, _)| git.contains(k)) {
        assert_eq!(v["state"], "appeared", "{k}: {v}");
        let mark = v["silenced"].as_str().unwrap_or_else(|| panic!("{k}: {v}"));
        assert!(
            mark.starts_with("git/* (by ") && mark.ends_with(": hotfix being committed)"),
            "{mark}"
        );
    }
    agent
        .wait("other drift alerted", async || {
            posts(&hook).await.iter().any(|p| {
                p["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("version/"))
            })
        })
        .await;
    let told = |p: &[Value], id: &str| p.iter().filter(|p| p["target"] == id).count();
    let now = posts(&hook).await;
    for id in &git {
        assert_eq!(told(&now, id), 0, "{id} was POSTed while silenced");
    }

    // The silence set again for a second: it expires, and each is POSTed once.
    e.ok(
        Some(&config),
        &[
            "alert",
            "silence",
            "git/*",
            "--reason",
            "done soon",
            "--for",
            "1s",
        ],
    );
    agent
        .wait("the git drift alerted after the silence", async || {
            let p = posts(&hook).await;
            git.iter().all(|id| told(&p, id) >= 1)
        })
        .await;
    // A few more rounds: nothing told twice, nothing new on the topic for them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p = posts(&hook).await;
    for id in &git {
        assert_eq!(told(&p, id), 1, "{id}");
        let alert = p.iter().find(|p| p["target"] == id.as_str()).unwrap();
        assert!(
            alert["detail"]
                .as_str()
                .unwrap()
                .starts_with("appeared: runs "),
            "{alert}"
        );
        assert!(
            alert["text"].as_str().unwrap().contains("drift: git"),
            "{alert}"
        );
    }
    let records = e.findings();
    for id in &git {
        assert_eq!(records.iter().filter(|(k, _)| k == id).count(), 1, "{id}");
    }
    // Every finding POSTed at most once.
    let mut targets: Vec<&str> = p.iter().filter_map(|p| p["target"].as_str()).collect();
    let n = targets.len();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), n, "{p:#?}");

    // Unsilencing what is not silenced says so.
    let out = e.run(Some(&config), &["alert", "unsilence", "hpa/*"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("there is no silence of hpa/*"),
        "{out:?}"
    );
    e.ok(Some(&config), &["alert", "unsilence", "git/*"]);
    let listed: Value =
        serde_json::from_str(&e.ok(Some(&config), &["alert", "silences", "--output", "json"]))
            .unwrap();
    assert_eq!(listed, serde_json::json!([]));
}

/// A silence removed counts at once, not at the agent's next poll: with `poll_seconds`
/// an hour (the agent reads its sources once, at start), the git findings a silence
/// held are POSTed once `sphere alert unsilence` has written the tombstone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_count_at_once_not_at_the_next_poll() {
    let e = Env::new("git-unsilence");
    let hook = webhook().await;
    let config = e.config(Some(&hook.uri()), "alert_limit = 1000");
    let text = std::fs::read_to_string(&config).unwrap();
    let hourly = text.replace("poll_seconds = 1\n", "poll_seconds = 3600\n");
    assert_ne!(text, hourly);
    std::fs::write(&config, hourly).unwrap();
    let (_, report) = e.drift();
    let git: Vec<String> = of_kind(&report, "git")
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!git.is_empty());
    let silence = [
        "alert", "silence", "git/*", "--reason", "hotfix", "--for", "1h",
    ];
    e.ok(Some(&config), &silence);

    let mut agent = e.agent(&config);
    agent
        .wait("the git findings published, silenced", async || {
            let f = e.findings_if_any();
            git.iter()
                .all(|id| f.iter().any(|(k, v)| k == id && v["silenced"].is_string()))
        })
        .await;
    agent
        .wait("other drift alerted", async || {
            posts(&hook).await.iter().any(|p| {
                p["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("version/"))
            })
        })
        .await;
    let told = |p: &[Value], id: &str| p.iter().filter(|p| p["target"] == id).count();
    let p = posts(&hook).await;
    assert!(git.iter().all(|id| told(&p, id) == 0), "{p:#?}");

    e.ok(Some(&config), &["alert", "unsilence", "git/*"]);
    agent
        .wait(
            "the held git drift alerted after the unsilence",
            async || {
                let p = posts(&hook).await;
                git.iter().all(|id| told(&p, id) == 1)
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_rate_limit_holds_back_the_rest_and_tells_how_many_when_the_window_ends() {
    let e = Env::new("git-rate");
    let hook = webhook().await;
    let config = e.config(
        Some(&hook.uri()),
        "alert_limit = 3\nalert_window_seconds = 4",
    );
    let mut agent = e.agent(&config);
    agent
        .wait("the summary of what was held back", async || {
            posts(&hook)
                .await
                .iter()
                .any(|p| p["target"] == "rate-limit")
        })
        .await;
    // A window more: whatever came after is told too, within the limit again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let findings = e.findings();
    // Without the webhook's sink record (what it was told), which is no finding.
    let ids: Vec<&str> = findings
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with("sink/"))
        .collect();
    assert!(ids.len() > 3, "{ids:?}");
    let p = posts(&hook).await;
    let first = p.iter().position(|p| p["target"] == "rate-limit").unwrap();
    assert_eq!(first, 3, "three alerts, then the limit: {p:#?}");
    let summaries: Vec<&Value> = p.iter().filter(|p| p["target"] == "rate-limit").collect();
    let held: usize = summaries
        .iter()
        .map(|s| {
            let detail = s["detail"].as_str().unwrap();
            assert!(
                detail.contains(" more findings suppressed by the alert rate limit: ")
                    || detail.contains(" more finding suppressed by the alert rate limit: "),
                "{detail}"
            );
            assert_eq!(s["event"], "drift");
            detail.split(' ').next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    let alerted: Vec<&str> = p
        .iter()
        .filter(|p| p["target"] != "rate-limit")
        .map(|p| p["target"].as_str().unwrap())
        .collect();
    // Every finding on the topic was either POSTed or counted in a summary, once.
    assert_eq!(alerted.len() + held, ids.len(), "{p:#?}\n{ids:?}");
    assert!(alerted.iter().all(|a| ids.contains(a)), "{alerted:?}");
    let named = summaries[0]["detail"].as_str().unwrap();
    assert!(
        ids.iter()
            .any(|id| !alerted.contains(id) && named.contains(id)),
        "the summary names what it held back: {named}"
    );
}

impl Env {
    /// The findings topic, or nothing while it does not exist yet.
    fn findings_if_any(&self) -> Vec<(String, Value)> {
        let topic = self.topic("findings");
        std::panic::catch_unwind(|| read_raw(peers::kafka(), &topic)).unwrap_or_default()
    }
}

/// The GitOps repository on the GitHub peer: what git declares is its tree's version and
/// HPA files, read once, then asked again conditionally (a 304 costs nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_provider_reads_what_the_gitops_repository_declares() {
    use sphere::backend::ReposProvider;
    use sphere::backend::github::GithubProvider;
    use sphere::config::platform::GithubConfig;
    use sphere::domain::ClusterId;

    let (server, org) = crate::common::github_org::GithubOrg::start("acme", 0, 0).await;
    org.push_file("deploy", "README.md", "the GitOps repository\n");
    org.push_file("deploy", "apps/pay/production/eu-west-1/version", "1.4.2\n");
    org.push_file("deploy", "apps/pay/production/us-east-1/version", "1.4.1\n");
    org.push_file(
        "deploy",
        "apps/pay/production/eu-west-1/hpa.yaml",
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  minReplicas: 2\n  maxReplicas: 10\n",
    );
    let config = GithubConfig {
        org: "acme".into(),
        api_url: Some(server.uri()),
        gitops_repo: Some("deploy".into()),
        hpa_path: Some("apps/{service}/{env}/{region}/hpa.yaml".into()),
        timeout_seconds: 5,
        ..GithubConfig::default()
    };
    let gh = GithubProvider::new(&config, Some("t".into())).unwrap();
    let d = gh.declared().await.unwrap().expect("a GitOps repository");
    assert_eq!(d.source, "acme/deploy@main");
    let mut versions: Vec<(String, ClusterId, String, String)> = d
        .versions
        .iter()
        .map(|v| {
            (
                v.service.clone(),
                v.cluster.clone(),
                v.version.clone(),
                v.path.clone(),
            )
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        vec![
            (
                "pay".into(),
                ClusterId::new("production", "eu-west-1"),
                "1.4.2".into(),
                "apps/pay/production/eu-west-1/version".into()
            ),
            (
                "pay".into(),
                ClusterId::new("production", "us-east-1"),
                "1.4.1".into(),
                "apps/pay/production/us-east-1/version".into()
            ),
        ]
    );
    assert_eq!(d.hpas.len(), 1);
    assert_eq!((d.hpas[0].min, d.hpas[0].max), (2, 10));

    // Nothing changed: the tree answers 304, no blob is read again.
    let before = org.counts();
    let again = gh.declared().await.unwrap().unwrap();
    assert_eq!(again, d);
    let cost = org.counts().since(&before);
    assert_eq!(cost.other, 0, "{cost:?}");
    // One version changed: its new blob alone is read.
    org.push_file("deploy", "apps/pay/production/us-east-1/version", "1.4.2\n");
    let before = org.counts();
    let d = gh.declared().await.unwrap().unwrap();
    assert!(d.versions.iter().all(|v| v.version == "1.4.2"), "{d:?}");
    let cost = org.counts().since(&before);
    assert_eq!(cost.other, 2, "the tree and the one new blob: {cost:?}");

    // A bad HPA file: an error naming the file and why.
    org.push_file(
        "deploy",
        "apps/pay/production/eu-west-1/hpa.yaml",
        "minReplicas: 2\n",
    );
    let e = format!("{:#}", gh.declared().await.unwrap_err());
    assert!(
        e.contains("apps/pay/production/eu-west-1/hpa.yaml in acme/deploy: no maxReplicas"),
        "{e}"
    );
    // No GitOps repository configured: nothing to compare.
    let none = GithubProvider::new(
        &GithubConfig {
            gitops_repo: None,
            ..config
        },
        None,
    )
    .unwrap();
    assert_eq!(none.declared().await.unwrap(), None);
}
