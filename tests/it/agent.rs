//! `sphere agent` and `sphere drift`, the built binary against the real peers on loopback:
//! the tansu broker, the demo platform and the Kubernetes emulator. The agent runs as its
//! own process; the tests read what it published with the real Kafka client, ask its
//! `/healthz` and `/metrics`, and stop it with SIGKILL and SIGTERM.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::kafka::read_raw;
use crate::common::peers;

/// A directory with the data, config and state dirs, and the agent's config.
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

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn topic(&self, what: &str) -> String {
        format!("{}.{what}", self.prefix)
    }

    /// The `[agent]` section: this test's topics and port, quick polls and heartbeats.
    fn agent_section(&self) -> String {
        format!(
            "[agent]\nlisten = \"127.0.0.1:{port}\"\nstate_topic = \"{s}\"\nfindings_topic = \"{f}\"\n\
             heartbeat_topic = \"{h}\"\npoll_seconds = 1\nheartbeat_seconds = 1\ntimeout_seconds = 5\n\
             [agent.properties]\n\"bootstrap.servers\" = \"{b}\"\n",
            port = self.port,
            s = self.topic("state"),
            f = self.topic("findings"),
            h = self.topic("heartbeats"),
            b = peers::kafka(),
        )
    }

    fn write_config(&self, text: &str) -> PathBuf {
        let file = self.path().join("config.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    fn command(&self, config: &Path, args: &[&str]) -> Command {
        let d = self.path();
        let mut c = Command::new(env!("CARGO_BIN_EXE_sphere"));
        c.arg("--config")
            .arg(config)
            .args(args)
            .env("SPHERE_DATA_DIR", d.join("data"))
            .env("SPHERE_CONFIG_DIR", d.join("config"))
            .env("SPHERE_STATE_DIR", d.join("state"))
            .env("SPHERE_LOG", "info")
            .env_remove("SPHERE_CONFIG");
        c
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        self.command(config, args).output().unwrap()
    }

    fn start(&self, config: &Path, args: &[&str], log: &str) -> AgentProc {
        let out = std::fs::File::create(self.path().join(log)).unwrap();
        let child = self
            .command(config, args)
            .arg("agent")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        AgentProc {
            child: Some(child),
            port: self.port,
            log: self.path().join(log),
        }
    }

    /// Every record of one of this test's topics, in order: (key, JSON; null for a
    /// tombstone).
    fn records(&self, what: &str) -> Vec<(String, Value)> {
        read_raw(peers::kafka(), &self.topic(what))
    }
}

/// The agent process; killed when dropped.
struct AgentProc {
    child: Option<Child>,
    port: u16,
    /// Its stdout (the JSON log).
    log: PathBuf,
}

impl AgentProc {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().unwrap().id()).unwrap()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }

    /// The value of one metric line (`name{labels}`), when the agent answers.
    fn metric(&self, series: &str) -> Option<f64> {
        let (status, body) = self.get("/metrics");
        if status != 200 {
            return None;
        }
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// Waits until `ok` holds, failing with `what` (and the agent's stderr) after 60 s.
    fn wait(&mut self, what: &str, mut ok: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !ok(self) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let mut err = String::new();
                let _ = self
                    .child
                    .as_mut()
                    .unwrap()
                    .stderr
                    .take()
                    .map(|mut e| e.read_to_string(&mut err));
                panic!("the agent ended ({status}) waiting for {what}: {err}");
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let metrics = self.get("/metrics").1;
                panic!("{what}: not within 60 s\n{metrics}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` and waits for the process to end (at most 20 s).
    fn signal(&mut self, signal: i32) -> ExitStatus {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe {
            libc::kill(self.pid(), signal);
        }
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the agent did not end within 20 s of signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One GET on loopback: (status, body); (0, "") when nothing answers.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The latest payload per key (tombstones remove the key).
fn latest(records: &[(String, Value)]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in records {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

const SOURCES: [&str; 5] = ["clusters", "locks", "catalog", "secrets", "flags"];

fn up(a: &AgentProc, source: &str) -> bool {
    a.metric(&format!("sphere_agent_source_up{{source=\"{source}\"}}")) == Some(1.0)
}

fn published(a: &AgentProc, source: &str) -> f64 {
    a.metric(&format!(
        "sphere_agent_records_published_total{{source=\"{source}\"}}"
    ))
    .unwrap_or(0.0)
}

#[test]
fn the_agent_publishes_the_demo_and_after_a_kill_and_restart_publishes_nothing_new() {
    let e = Env::new("agent-demo");
    let config = e.write_config(&e.agent_section());
    // The demo's clock stopped: nothing changes unless someone changes it.
    let mut agent = e.start(&config, &["--pace", "0"], "agent1.log");
    agent.wait("every source read and published", |a| {
        SOURCES.iter().all(|s| up(a, s)) && published(a, "clusters") > 0.0
    });
    // Two more rounds of heartbeats, every source read by then.
    let beats = agent
        .metric("sphere_agent_heartbeats_published_total")
        .unwrap();
    agent.wait("two heartbeats per source", |a| {
        a.metric("sphere_agent_heartbeats_published_total")
            .is_some_and(|n| n >= beats + 10.0)
    });
    let (status, body) = agent.get("/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, metrics) = agent.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "# TYPE sphere_agent_records_published_total counter",
        "# TYPE sphere_agent_sources_failing gauge",
        "sphere_agent_sources_failing 0",
        "# TYPE sphere_agent_watch_lag_seconds gauge",
        "sphere_agent_kafka_up 1",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
    assert_eq!(agent.get("/nope").0, 404);

    let state = e.records("state");
    let first = latest(&state);
    for s in SOURCES {
        assert!(
            first.keys().any(|k| k.starts_with(&format!("{s}/"))),
            "no {s} record in the state topic"
        );
    }
    let total: f64 = SOURCES.iter().map(|s| published(&agent, s)).sum();
    assert_eq!(state.len() as f64, total, "each record published once");
    // Secret metadata, never a value.
    let secret = first
        .iter()
        .find(|(k, _)| k.starts_with("secrets/"))
        .map(|(_, v)| v)
        .unwrap();
    assert!(secret.get("version_id").is_some() && secret.get("value").is_none());
    let dep = first
        .iter()
        .find(|(k, _)| k.starts_with("clusters/"))
        .map(|(_, v)| v)
        .unwrap();
    assert!(dep["version"].is_string(), "{dep}");
    let beats = latest(&e.records("heartbeats"));
    assert_eq!(
        beats.keys().map(String::as_str).collect::<Vec<_>>().len(),
        5
    );
    assert!(beats.values().all(|b| b["ok"] == true), "{beats:?}");
    // The demo has drift of every kind (git-vs-live too; no HPA edited by hand yet):
    // each appeared once.
    let findings = e.records("findings");
    assert!(!findings.is_empty());
    let kinds: std::collections::BTreeSet<&str> = findings
        .iter()
        .filter_map(|(_, v)| v["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["flag", "git", "secret", "version"]
    );
    assert!(findings.iter().all(|(_, v)| v["state"] == "appeared"));
    let ids: std::collections::BTreeSet<&str> = findings.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(ids.len(), findings.len(), "no finding told twice");

    // Killed outright, then started again on the same demo and topics.
    let status = agent.signal(libc::SIGKILL);
    assert!(!status.success());
    let mut again = e.start(&config, &["--pace", "0"], "agent2.log");
    again.wait("every source read again", |a| {
        SOURCES.iter().all(|s| up(a, s))
            && a.metric("sphere_agent_heartbeats_published_total")
                .is_some_and(|n| n >= 10.0)
    });
    for s in SOURCES {
        assert_eq!(
            published(&again, s),
            0.0,
            "{s} published again after a restart"
        );
    }
    assert_eq!(
        again.metric("sphere_agent_findings_published_total"),
        Some(0.0)
    );
    assert_eq!(
        e.records("state").len(),
        state.len(),
        "nothing new in the state topic"
    );
    assert_eq!(
        e.records("findings").len(),
        findings.len(),
        "no finding told again"
    );

    // SIGTERM: a clean stop.
    let status = again.signal(libc::SIGTERM);
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(e.path().join("agent2.log")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).expect("JSON log lines");
    assert_eq!(last["fields"]["message"], "sphere agent stopped", "{log}");
}

/// A configured platform of two production clusters on the emulator (a namespace each),
/// running `service` at `version` in both; the catalog names it.
fn kube_platform(e: &Env, service: &str, ns: [&str; 2], webhook: &str) -> PathBuf {
    peers::kubeconfig_two_contexts(e.path(), ns);
    std::fs::create_dir_all(e.path().join("catalog")).unwrap();
    std::fs::write(
        e.path().join("catalog/catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {service}}}\n\
             spec: {{type: service, lifecycle: production, owner: payments}}\n"
        ),
    )
    .unwrap();
    e.write_config(&format!(
        "[catalog]\npaths = [\"catalog\"]\n\
         [[clusters]]\nregion = \"us-east-1\"\nenv = \"production\"\ncontext = \"use1\"\n\
         kubeconfig = \"kubeconfig\"\nnamespace = \"{a}\"\n\
         [[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\ncontext = \"euw1\"\n\
         kubeconfig = \"kubeconfig\"\nnamespace = \"{b}\"\n\
         [webhook]\nurl = \"{webhook}/hook\"\nevents = [\"drift\"]\n{agent}",
        a = ns[0],
        b = ns[1],
        agent = e.agent_section(),
    ))
}

/// Sets the image tag of `service`'s deployment in `ns` on the emulator.
pub(crate) async fn set_version(ns: &str, service: &str, version: &str) {
    let url = format!(
        "{}/apis/apps/v1/namespaces/{ns}/deployments/{service}",
        peers::kube()
    );
    let r = reqwest::Client::new()
        .patch(&url)
        .header("Content-Type", "application/merge-patch+json")
        .body(
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": format!("registry.example/{service}:{version}")}
            ]}}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PATCH {url}: {}", r.status());
}

fn drift_json(e: &Env, config: &Path) -> (i32, Value) {
    let out = e.run(config, &["drift", "--output", "json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "{err}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_change_on_kubernetes_is_one_finding_when_it_appears_and_one_when_it_clears() {
    let e = Env::new("agent-kube");
    let service = peers::unique("pay");
    let ns = [peers::unique("ag-use1"), peers::unique("ag-euw1")];
    crate::e2e_configured::seed(peers::kube(), &ns[0], &service, "1.0.0", 1).await;
    crate::e2e_configured::seed(peers::kube(), &ns[1], &service, "1.0.0", 1).await;
    // The alert sink: a Slack-compatible webhook (an HTTP server taking POSTs).
    let hook = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let config = kube_platform(&e, &service, [&ns[0], &ns[1]], &hook.uri());
    let id = format!("version/{service}/production");

    // No drift: exit 0.
    let (code, v) = drift_json(&e, &config);
    assert_eq!((code, &v), (0, &json!({"findings": [], "unread": []})));

    let mut agent = e.start(&config, &[], "agent.log");
    agent.wait("the clusters published", |a| {
        up(a, "clusters") && published(a, "clusters") >= 2.0
    });
    // The catalog was read at the first poll too: the watch (which reads the catalog
    // for its workload mapping) no longer holds the catalog's lock while the loop polls
    // (that stalled the agent until the read's 15 s timeout on a fresh start).
    agent.wait("the catalog published", |a| published(a, "catalog") >= 1.0);
    let log = std::fs::read_to_string(e.path().join("agent.log")).unwrap();
    assert!(!log.contains("no answer within"), "{log}");
    let state = latest(&e.records("state"));
    assert_eq!(
        state[&format!("clusters/production/eu-west-1/{service}")]["version"],
        "1.0.0"
    );

    set_version(&ns[1], &service, "2.0.0").await;
    let for_me = |e: &Env| -> Vec<Value> {
        e.records("findings")
            .into_iter()
            .filter(|(k, _)| *k == id)
            .map(|(_, v)| v)
            .collect()
    };
    agent.wait("the drift appeared", |_| !for_me(&e).is_empty());
    let told = for_me(&e);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["state"], "appeared");
    assert_eq!(
        told[0]["regions"],
        json!(["eu-west-1", "us-east-1"]),
        "a tie: both stand out"
    );
    assert_eq!(
        told[0]["detail"],
        "versions differ across regions: 1.0.0 in us-east-1; 2.0.0 in eu-west-1"
    );
    // `sphere drift` says the same, and exits 1.
    let (code, v) = drift_json(&e, &config);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["findings"][0]["id"], id.as_str());
    let out = e.run(&config, &["drift", "--env", "production"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 drift"));

    // Fixed: one "cleared", then nothing more while it stays fixed.
    set_version(&ns[1], &service, "1.0.0").await;
    agent.wait("the drift cleared", |_| for_me(&e).len() >= 2);
    let beats = agent
        .metric("sphere_agent_heartbeats_published_total")
        .unwrap();
    agent.wait("two more heartbeats", |a| {
        a.metric("sphere_agent_heartbeats_published_total")
            .is_some_and(|n| n >= beats + 4.0)
    });
    let told = for_me(&e);
    let states: Vec<&str> = told.iter().filter_map(|v| v["state"].as_str()).collect();
    assert_eq!(states, vec!["appeared", "cleared"]);
    let (code, _) = drift_json(&e, &config);
    assert_eq!(code, 0);

    // The webhook was told each once: appeared, then cleared.
    agent.wait("two alerts", |a| {
        a.metric("sphere_agent_alerts_sent_total")
            .is_some_and(|n| n >= 2.0)
    });
    let alerts: Vec<Value> = hook
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let mine: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["target"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "{alerts:#?}");
    assert_eq!(mine[0]["event"], "drift");
    assert!(
        mine[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("appeared: versions differ"),
        "{}",
        mine[0]
    );
    assert!(
        mine[0]["text"].as_str().unwrap().contains("drift: version"),
        "{}",
        mine[0]
    );
    assert!(mine[1]["detail"].as_str().unwrap().starts_with("cleared: "));
    assert!(
        mine[1]["text"].as_str().unwrap().contains("resolved"),
        "{}",
        mine[1]
    );

    let status = agent.signal(libc::SIGTERM);
    assert!(status.success(), "{status}");
}

#[test]
fn a_bad_agent_section_names_the_file_and_the_key_and_the_agent_does_not_start() {
    let e = Env::new("agent-bad");
    let config = e.write_config(
        "[agent]\nlisten = \"nowhere\"\npoll_secs = 3\n[agent.properties]\n\"bootstrap.servers\" = \"127.0.0.1:1\"\n",
    );
    let out = e.run(&config, &["agent"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    assert!(
        err.contains(&format!("{file}: key `agent.listen`: line 2")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}: key `agent.poll_secs`")),
        "{err}"
    );
    assert!(err.contains("the agent does not start"), "{err}");
    // No [agent] at all.
    let none = e.write_config("theme = \"dark\"\n");
    let out = e.run(&none, &["agent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("there is no [agent] section"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A source that answers slowly holds up neither the clusters nor the heartbeats: the
/// polled reads run on a task of their own. Here the GitOps repository's host holds
/// every request for a minute, past the agent's 15 s read limit. Before, the polls ran
/// in the agent's loop, so the first clusters were published only once that read had
/// timed out (15 s after the start), and again and again at every poll after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_source_holds_up_neither_the_clusters_nor_the_heartbeats() {
    let e = Env::new("agent-slow");
    let service = peers::unique("pay");
    let ns = [peers::unique("sl-use1"), peers::unique("sl-euw1")];
    crate::e2e_configured::seed(peers::kube(), &ns[0], &service, "1.0.0", 1).await;
    crate::e2e_configured::seed(peers::kube(), &ns[1], &service, "1.0.0", 1).await;
    let hook = wiremock::MockServer::start().await;
    let slow = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&slow)
        .await;
    let config = kube_platform(&e, &service, [&ns[0], &ns[1]], &hook.uri());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[github]\norg = \"acme\"\napi_url = \"{}\"\ngitops_repo = \"deploy\"\n\
         discover_catalog = false\ntimeout_seconds = 30\n",
        slow.uri()
    ));
    let config = e.write_config(&text);

    let started = Instant::now();
    let mut agent = e.start(&config, &[], "agent.log");
    agent.wait("the clusters published", |a| {
        up(a, "clusters") && published(a, "clusters") >= 2.0
    });
    let published_after = started.elapsed();
    // The git read is still being held (the first poll's, up to 15 s).
    let asked = slow.received_requests().await.unwrap_or_default();
    assert!(
        !asked.is_empty(),
        "the agent asked for the GitOps repository"
    );
    assert!(
        published_after < Duration::from_secs(12),
        "the clusters waited for the slow read: published after {published_after:?}"
    );
    // A change goes out while the next polls are held too.
    let changed = Instant::now();
    set_version(&ns[1], &service, "2.0.0").await;
    let key = format!("clusters/production/eu-west-1/{service}");
    agent.wait("the change published", |_| {
        latest(&e.records("state"))
            .get(&key)
            .is_some_and(|v| v["version"] == "2.0.0")
    });
    assert!(
        changed.elapsed() < Duration::from_secs(12),
        "the change waited for the slow read: {:?}",
        changed.elapsed()
    );
    // The slow read ends as a failed read, at the read limit.
    agent.wait("the slow read timed out", |_| {
        std::fs::read_to_string(e.path().join("agent.log"))
            .is_ok_and(|log| log.contains("the GitOps repository was not read"))
    });
}
