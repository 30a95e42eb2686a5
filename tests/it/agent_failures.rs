//! `sphere agent` when things fail (issue 15): the agent killed with an alert not yet
//! delivered, one cluster unreachable, the broker restarted. The built binary against
//! the real peers on loopback (tansu, the Kubernetes emulator, a webhook receiver), the
//! clients the built binary too (`deploy matrix --output json` with `[source] agent`).
//! Every wait is on a condition with a deadline.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::kafka::read_raw;
use crate::common::peers;

struct Env {
    dir: tempfile::TempDir,
    port: u16,
    prefix: String,
    broker: String,
}

impl Env {
    fn new(name: &str, broker: String) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            port: peers::free_port(),
            prefix: peers::unique(name),
            broker,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn topic(&self, what: &str) -> String {
        format!("{}.{what}", self.prefix)
    }

    /// `[agent]`: this test's topics and port, quick polls and heartbeats, and `extra`.
    fn agent_section(&self, extra: &str) -> String {
        format!(
            "[agent]\nlisten = \"127.0.0.1:{port}\"\nstate_topic = \"{p}.state\"\n\
             findings_topic = \"{p}.findings\"\nheartbeat_topic = \"{p}.heartbeats\"\n\
             silences_topic = \"{p}.silences\"\npoll_seconds = 1\nheartbeat_seconds = 1\n\
             timeout_seconds = 5\n{extra}\n[agent.properties]\n\"bootstrap.servers\" = \"{b}\"\n",
            port = self.port,
            p = self.prefix,
            b = self.broker,
        )
    }

    /// A client reading from the agent: `[source] agent`, stale past `stale` seconds.
    fn source_section(&self, stale: u64) -> String {
        format!(
            "[source]\nagent = \"{}\"\nstale_seconds = {stale}\ntimeout_seconds = 20\n",
            self.broker
        )
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let file = self.path().join(name);
        std::fs::write(&file, text).unwrap();
        file
    }

    fn command(&self, config: &Path, args: &[&str]) -> Command {
        let d = self.path();
        let mut c = Command::new(env!("CARGO_BIN_EXE_sphere"));
        c.arg("--config")
            .arg(config)
            .args(["--pace", "0"])
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

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        self.command(config, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn agent(&self, config: &Path, log: &str) -> AgentProc {
        let out = std::fs::File::create(self.path().join(log)).unwrap();
        let child = self
            .command(config, &["agent"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        AgentProc {
            child: Some(child),
            port: self.port,
            log: self.path().join(log),
        }
    }

    /// The findings topic, in order (key, JSON), or nothing while it does not exist.
    fn findings(&self) -> Vec<(String, Value)> {
        let (broker, topic) = (self.broker.clone(), self.topic("findings"));
        std::panic::catch_unwind(|| read_raw(&broker, &topic)).unwrap_or_default()
    }

    /// The matrix a client with `config` prints (JSON) and its stderr, or why not.
    fn matrix(&self, config: &Path) -> Result<(Value, String), String> {
        let out = self.run(config, &["deploy", "matrix", "--output", "json"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(err);
        }
        let v = serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {err}"))?;
        Ok((v, err))
    }
}

/// The agent process; killed (SIGKILL) when dropped.
struct AgentProc {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl AgentProc {
    /// SIGKILL, and reaped.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The value of one metric line, when the agent answers.
    fn metric(&self, series: &str) -> Option<f64> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// Fails with `what` and the agent's log when the agent ended or after 90 s.
    fn check(&mut self, what: &str, start: Instant) {
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("the agent ended ({status}) waiting for {what}\n{log}");
        }
        if start.elapsed() > Duration::from_secs(90) {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("{what}: not within 90 s\n{log}");
        }
    }

    async fn wait(&mut self, what: &str, mut ok: impl AsyncFnMut() -> bool) {
        let start = Instant::now();
        while !ok().await {
            self.check(what, start);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `ok` gives a value, failing with `what` and the last answer after 90 s.
async fn wait_for<T>(what: &str, mut ok: impl AsyncFnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match ok().await {
            Ok(v) => return v,
            Err(last) => assert!(
                start.elapsed() < Duration::from_secs(90),
                "{what}: not within 90 s; last: {last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The webhook's POSTs so far (every answer), as JSON.
async fn posts(hook: &wiremock::MockServer) -> Vec<Value> {
    hook.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn answer_with(hook: &wiremock::MockServer, status: u16) {
    hook.reset().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(status))
        .mount(hook)
        .await;
}

fn told(posts: &[Value], id: &str) -> usize {
    posts.iter().filter(|p| p["target"] == id).count()
}

/// The latest record per key of the findings topic, without the sinks' records.
fn latest_findings(records: &[(String, Value)]) -> std::collections::BTreeMap<String, Value> {
    records
        .iter()
        .filter(|(k, _)| !k.starts_with("sink/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_not_delivered_when_the_agent_is_killed_is_delivered_once_after_the_restart() {
    let e = Env::new("fail-alert", peers::kafka().to_string());
    // The webhook refuses at first: every alert stays owed.
    let hook = wiremock::MockServer::start().await;
    answer_with(&hook, 503).await;
    let config = e.write(
        "config.toml",
        &format!(
            "[webhook]\nurl = \"{}/hook\"\nevents = [\"drift\"]\n{}",
            hook.uri(),
            e.agent_section("alert_limit = 1000")
        ),
    );
    let mut agent = e.agent(&config, "agent1.log");
    // The demo's drift of every kind on the topic, and the webhook asked (and refusing).
    agent
        .wait("the findings published and the webhook tried", async || {
            let kinds: BTreeSet<String> = latest_findings(&e.findings())
                .values()
                .filter_map(|v| v["kind"].as_str().map(str::to_string))
                .collect();
            kinds.len() >= 4 && !posts(&hook).await.is_empty()
        })
        .await;
    agent.kill();
    let findings = latest_findings(&e.findings());
    let owed: Vec<String> = findings
        .iter()
        .filter(|(_, v)| v["state"] != "cleared" && v.get("silenced").is_none())
        .map(|(k, _)| k.clone())
        .collect();
    assert!(owed.len() >= 4, "{findings:?}");

    // Started again with the webhook taking them: each owed alert is POSTed, once.
    answer_with(&hook, 200).await;
    let mut agent = e.agent(&config, "agent2.log");
    agent
        .wait("every owed alert delivered", async || {
            let p = posts(&hook).await;
            owed.iter().all(|id| told(&p, id) >= 1)
        })
        .await;
    // ... and recorded as delivered in the sink record.
    agent
        .wait("the deliveries recorded", async || {
            let sink = e
                .findings()
                .into_iter()
                .rev()
                .find(|(k, _)| k == "sink/webhook")
                .map(|(_, v)| v);
            sink.is_some_and(|s| owed.iter().all(|id| s["told"].get(id).is_some()))
        })
        .await;
    let p = posts(&hook).await;
    for id in &owed {
        assert_eq!(told(&p, id), 1, "{id}: {p:#?}");
        let alert = p.iter().find(|a| a["target"] == id.as_str()).unwrap();
        assert!(
            alert["detail"].as_str().unwrap().starts_with("appeared: "),
            "{alert}"
        );
    }
    assert_eq!(told(&p, "rate-limit"), 0);

    // Killed and started once more: what was delivered is not told again.
    agent.kill();
    let mut agent = e.agent(&config, "agent3.log");
    agent
        .wait("two rounds of heartbeats", async || {
            agent_metric(e.port, "sphere_agent_heartbeats_published_total")
                .is_some_and(|n| n >= 10.0)
        })
        .await;
    assert_eq!(
        agent.metric("sphere_agent_alerts_sent_total"),
        Some(0.0),
        "nothing owed"
    );
    let p = posts(&hook).await;
    for id in &owed {
        assert_eq!(told(&p, id), 1, "{id} told again after a restart");
    }
    // Nothing POSTed twice, whatever it was.
    let mut targets: Vec<&str> = p.iter().filter_map(|a| a["target"].as_str()).collect();
    let n = targets.len();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), n, "{p:#?}");
    agent.kill();
}

fn agent_metric(port: u16, series: &str) -> Option<f64> {
    AgentProc {
        child: None,
        port,
        log: PathBuf::new(),
    }
    .metric(series)
}

/// A TCP relay on loopback to `upstream` that can be switched off: while off it takes
/// each connection and closes it at once, and switching off closes every connection
/// open through it (a cluster's API server gone from the network).
struct Switch {
    url: String,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Switch {
    async fn start(upstream: String) -> Switch {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let (on, cuts) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !on.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                        }
                    }
                });
            }
        });
        Switch { url, up, cut }
    }

    fn off(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn on(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn version_in(m: &Value, service: &str, env: &str, region: &str) -> Option<String> {
    let col = m["columns"]
        .as_array()?
        .iter()
        .position(|c| c["env"] == env && c["region"] == region)?;
    let row = m["rows"]
        .as_array()?
        .iter()
        .find(|r| r["service"] == service)?;
    row["cells"][col]["version"].as_str().map(str::to_string)
}

/// The clusters source of the matrix's agent status, and each cluster's entry.
fn clusters_status(m: &Value) -> (Value, std::collections::BTreeMap<String, Value>) {
    let source = m["agent"]["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["source"] == "clusters"))
        .cloned()
        .unwrap_or(Value::Null);
    let each = source["clusters"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| Some((c["cluster"].as_str()?.to_string(), c.clone())))
                .collect()
        })
        .unwrap_or_default();
    (source, each)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cluster_unreachable_is_stale_alone_keeps_its_last_state_and_catches_up() {
    let e = Env::new("fail-cluster", peers::kafka().to_string());
    let service = peers::unique("pay");
    let ns = [peers::unique("af-use1"), peers::unique("af-euw1")];
    crate::e2e_configured::seed(peers::kube(), &ns[0], &service, "1.0.0", 1).await;
    crate::e2e_configured::seed(peers::kube(), &ns[1], &service, "1.0.0", 1).await;
    // eu-west-1's API server is reached through a relay the test switches off.
    let kube = peers::kube().to_string();
    let relay = Switch::start(kube.trim_start_matches("http://").to_string()).await;
    std::fs::write(
        e.path().join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{kube}\"}}\n\
             - name: relayed\n  cluster: {{server: \"{relayed}\"}}\n\
             contexts:\n- name: use1\n  context: {{cluster: peer, user: u, namespace: {a}}}\n\
             - name: euw1\n  context: {{cluster: relayed, user: u, namespace: {b}}}\n\
             users:\n- name: u\n  user: {{token: test}}\ncurrent-context: use1\n",
            relayed = relay.url,
            a = ns[0],
            b = ns[1]
        ),
    )
    .unwrap();
    std::fs::create_dir_all(e.path().join("catalog")).unwrap();
    std::fs::write(
        e.path().join("catalog/catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {service}}}\n\
             spec: {{type: service, lifecycle: production, owner: payments}}\n"
        ),
    )
    .unwrap();
    let platform = format!(
        "[catalog]\npaths = [\"catalog\"]\n[[clusters]]\nregion = \"us-east-1\"\nenv = \"production\"\ncontext = \"use1\"\n\
         kubeconfig = \"kubeconfig\"\nnamespace = \"{a}\"\n\
         [[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\ncontext = \"euw1\"\n\
         kubeconfig = \"kubeconfig\"\nnamespace = \"{b}\"\n",
        a = ns[0],
        b = ns[1],
    );
    let agent_config = e.write("agent.toml", &format!("{platform}{}", e.agent_section("")));
    let client = e.write(
        "client.toml",
        &format!("{platform}{}{}", e.agent_section(""), e.source_section(3)),
    );
    let mut agent = e.agent(&agent_config, "agent.log");
    let run = |c: PathBuf| {
        let e = &e;
        async move { tokio::task::block_in_place(|| e.matrix(&c)) }
    };

    // Both clusters current.
    wait_for("both clusters read through the agent", async || {
        agent.check("both clusters read", Instant::now());
        let (m, _) = run(client.clone()).await?;
        let (_, each) = clusters_status(&m);
        let fresh = |c: &str| each.get(c).is_some_and(|c| c["stale"] == false);
        let v = |r: &str| version_in(&m, &service, "production", r);
        if fresh("production/us-east-1")
            && fresh("production/eu-west-1")
            && v("us-east-1").as_deref() == Some("1.0.0")
            && v("eu-west-1").as_deref() == Some("1.0.0")
        {
            Ok(())
        } else {
            Err(m["agent"].to_string())
        }
    })
    .await;

    // eu-west-1 gone: stale alone, its last state kept; us-east-1 live and followed.
    relay.off();
    crate::agent::set_version(&ns[0], &service, "1.1.0").await;
    let (m, err) = wait_for("eu-west-1 stale alone", async || {
        agent.check("eu-west-1 stale", Instant::now());
        let (m, err) = run(client.clone()).await?;
        let (source, each) = clusters_status(&m);
        let stale = |c: &str| each.get(c).map(|c| c["stale"] == true);
        if stale("production/eu-west-1") == Some(true)
            && stale("production/us-east-1") == Some(false)
            && version_in(&m, &service, "production", "us-east-1").as_deref() == Some("1.1.0")
        {
            assert_eq!(source["stale"], false, "the source is current: {source}");
            Ok((m, err))
        } else {
            Err(m["agent"].to_string())
        }
    })
    .await;
    assert_eq!(
        version_in(&m, &service, "production", "eu-west-1").as_deref(),
        Some("1.0.0"),
        "the last state is kept"
    );
    let (_, each) = clusters_status(&m);
    let euw1 = &each["production/eu-west-1"];
    assert!(
        euw1["error"]
            .as_str()
            .is_some_and(|e| e.contains("watching")),
        "{euw1}"
    );
    assert!(euw1["age_seconds"].as_i64().unwrap() > 3, "{euw1}");
    assert!(
        err.contains("agent: cluster production/eu-west-1 is stale"),
        "{err}"
    );
    assert!(!err.contains("us-east-1 is stale"), "{err}");

    // Changed while away, then back: the client catches up.
    crate::agent::set_version(&ns[1], &service, "2.0.0").await;
    relay.on();
    wait_for("eu-west-1 caught up", async || {
        agent.check("eu-west-1 caught up", Instant::now());
        let (m, err) = run(client.clone()).await?;
        let (source, each) = clusters_status(&m);
        let fresh = |c: &str| each.get(c).is_some_and(|c| c["stale"] == false);
        if fresh("production/eu-west-1")
            && fresh("production/us-east-1")
            && source["stale"] == false
            && version_in(&m, &service, "production", "eu-west-1").as_deref() == Some("2.0.0")
            && !err.contains("cluster production/eu-west-1 is stale")
        {
            Ok(())
        } else {
            Err(format!("{} {err}", m["agent"]))
        }
    })
    .await;
    agent.kill();
}

/// The library's platform reading from the agent with `config_text` (the demo
/// underneath, in memory, for what the agent does not publish): a long-lived client,
/// as the TUI is.
fn client_platform(config_text: &str) -> sphere::backend::Platform {
    use sphere::backend::sim::{Sim, SimOptions};
    let (config, problems) =
        sphere::config::Config::from_str_at(Path::new("client.toml"), config_text);
    assert!(problems.is_empty(), "{problems:?}");
    let sim = Sim::open(
        SimOptions {
            pace: 0.0,
            ..SimOptions::default()
        },
        sphere::backend::catalog::demo_catalog(),
    )
    .unwrap();
    let platform = sphere::backend::agent_source::from_config(sim.platform(), &config).unwrap();
    assert!(platform.agent.is_some(), "reads from the agent");
    platform
}

/// The versions of `service` the platform's snapshot holds, by region.
async fn versions(
    platform: &sphere::backend::Platform,
    service: &str,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let snap = platform
        .clusters
        .snapshot(&sphere::domain::Scope::default())
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(snap
        .deployments
        .iter()
        .filter(|d| d.service == service)
        .map(|d| (d.cluster.region.to_string(), d.version.clone()))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_the_client_keeps_its_last_state_says_so_and_catches_up() {
    // A broker that keeps its topics across a restart, as Kafka does: tansu on S3.
    let bucket = peers::unique("tansu").to_lowercase();
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}", peers::moto()))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "making bucket {bucket}: {}",
        r.status()
    );
    let mut broker = tokio::task::block_in_place(|| {
        peers::OwnedBroker::start_on_s3(peers::free_port(), peers::moto(), &bucket)
    });
    let e = Env::new("fail-broker", broker.addr());
    let service = peers::unique("pay");
    let ns = [peers::unique("ab-use1"), peers::unique("ab-euw1")];
    crate::e2e_configured::seed(peers::kube(), &ns[0], &service, "1.0.0", 1).await;
    crate::e2e_configured::seed(peers::kube(), &ns[1], &service, "1.0.0", 1).await;
    peers::kubeconfig_two_contexts(e.path(), [&ns[0], &ns[1]]);
    let agent_config = e.write(
        "agent.toml",
        &format!(
            "[[clusters]]\nregion = \"us-east-1\"\nenv = \"production\"\ncontext = \"use1\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{a}\"\n\
             [[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\ncontext = \"euw1\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{b}\"\n{agent}",
            a = ns[0],
            b = ns[1],
            agent = e.agent_section("sources = [\"clusters\"]"),
        ),
    );
    let mut agent = e.agent(&agent_config, "agent.log");
    let client_text = format!(
        "{}{}",
        e.agent_section("sources = [\"clusters\"]"),
        e.source_section(60)
    );
    let platform = client_platform(&client_text);
    let feed = platform.agent.clone().unwrap();
    let both = |v: &str| {
        std::collections::BTreeMap::from([
            ("eu-west-1".to_string(), v.to_string()),
            ("us-east-1".to_string(), v.to_string()),
        ])
    };
    wait_for("the client reads both clusters", async || {
        agent.check("the client reads both clusters", Instant::now());
        let v = versions(&platform, &service).await?;
        if v == both("1.0.0") {
            Ok(())
        } else {
            Err(format!("{v:?} {:?}", feed.status()))
        }
    })
    .await;

    // The broker goes: the client says so and keeps what it read.
    tokio::task::block_in_place(|| broker.stop());
    let status = wait_for("the client sees the broker gone", async || {
        let s = feed.status();
        if s.reachable {
            Err(format!("{s:?}"))
        } else {
            Ok(s)
        }
    })
    .await;
    assert!(
        status
            .error
            .as_deref()
            .unwrap_or("")
            .contains(&broker.addr()),
        "{status:?}"
    );
    let notice = platform.repos.notice().unwrap_or_default();
    assert!(
        notice.starts_with("agent unreachable") && notice.ends_with("last state kept"),
        "{notice}"
    );
    assert_eq!(versions(&platform, &service).await.unwrap(), both("1.0.0"));

    // Changed meanwhile; the broker back: the agent publishes it, the client reads it.
    crate::agent::set_version(&ns[1], &service, "2.0.0").await;
    tokio::task::block_in_place(|| broker.resume());
    let resumed = Instant::now();
    let mut want = both("1.0.0");
    want.insert("eu-west-1".into(), "2.0.0".into());
    wait_for(
        "the client caught up after the broker's restart",
        async || {
            agent.check("the client caught up", Instant::now());
            let v = versions(&platform, &service).await?;
            let s = feed.status();
            if v == want && s.reachable && platform.repos.notice().is_none() {
                Ok(())
            } else {
                Err(format!("{v:?} {s:?}"))
            }
        },
    )
    .await;
    // Promptly: the errors queued during the outage are no backlog (they were taken
    // one per round of the feed, 2 s each against this broker: 45 s and more).
    let took = resumed.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "caught up {took:?} after the restart"
    );
    agent.kill();
    drop(platform);
    drop(feed);
}
