//! Clients reading from `sphere agent` (`[source] agent`, issue 15): the agent runs as its
//! own process on the demo (clock stopped) against the tansu broker on loopback; the
//! clients are the built binary (`deploy matrix --output json`) and, to watch them tail,
//! the library's platform over the same topics. Every wait is on a condition with a
//! deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use sphere::backend::Platform;
use sphere::backend::agent_source::{self, STALE};
use sphere::backend::sim::{Sim, SimOptions};
use sphere::config::Config;
use sphere::domain::{ClusterEvent, ClusterId, Scope};

use crate::common::peers;

struct Env {
    dir: tempfile::TempDir,
    prefix: String,
    broker: String,
}

impl Env {
    fn new(name: &str, broker: String) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            prefix: peers::unique(name),
            broker,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `[agent]`: this test's topics, quick polls and heartbeats.
    fn agent_section(&self) -> String {
        format!(
            "[agent]\nlisten = \"127.0.0.1:{port}\"\nstate_topic = \"{p}.state\"\nfindings_topic = \"{p}.findings\"\n\
             heartbeat_topic = \"{p}.heartbeats\"\npoll_seconds = 1\nheartbeat_seconds = 1\ntimeout_seconds = 5\n\
             [agent.properties]\n\"bootstrap.servers\" = \"{b}\"\n",
            port = peers::free_port(),
            p = self.prefix,
            b = self.broker,
        )
    }

    /// The client's config: the same `[agent]` (its topics) and `[source] agent`.
    fn client_config(&self, stale_seconds: u64) -> String {
        format!(
            "{}[source]\nagent = \"{}\"\nstale_seconds = {stale_seconds}\ntimeout_seconds = 20\n",
            self.agent_section(),
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
            .arg("--pace")
            .arg("0")
            .args(args)
            .env("SPHERE_DATA_DIR", d.join("data"))
            .env("SPHERE_CONFIG_DIR", d.join("config"))
            .env("SPHERE_STATE_DIR", d.join("state"))
            .env_remove("SPHERE_CONFIG");
        c
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        self.command(config, args).output().unwrap()
    }

    fn agent(&self, config: &Path) -> Proc {
        let log = std::fs::File::create(self.path().join("agent.log")).unwrap();
        let child = self
            .command(config, &["agent"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Proc(Some(child))
    }

    /// The matrix as a client with `config` prints it (JSON), or why not.
    fn matrix(&self, config: &Path) -> Result<Value, String> {
        let out = self.run(config, &["deploy", "matrix", "--output", "json"]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }
}

struct Proc(Option<Child>);

impl Proc {
    fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `ok` gives a value, failing with `what` and the last answer after 60 s.
fn wait_for<T>(what: &str, mut ok: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match ok() {
            Ok(v) => return v,
            Err(last) => assert!(
                start.elapsed() < Duration::from_secs(60),
                "{what}: not within 60 s; last: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The rows without what the agent does not publish (pods: `crash_looping`).
fn rows(m: &Value) -> Value {
    let mut rows = m["rows"].clone();
    for r in rows.as_array_mut().unwrap() {
        for c in r["cells"].as_array_mut().unwrap() {
            if let Some(c) = c.as_object_mut() {
                c.remove("crash_looping");
            }
        }
    }
    rows
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

/// The library's platform over the topics (the demo's topology underneath, in memory).
fn client_platform(config_text: &str) -> Platform {
    let (config, problems) = Config::from_str_at(Path::new("client.toml"), config_text);
    assert!(problems.is_empty(), "{problems:?}");
    let sim = Sim::open(
        SimOptions {
            pace: 0.0,
            ..SimOptions::default()
        },
        sphere::backend::catalog::demo_catalog(),
    )
    .unwrap();
    let platform = agent_source::from_config(sim.platform(), &config).unwrap();
    assert!(platform.agent.is_some(), "reads from the agent");
    platform
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The version the watch last told for `service` in `cluster`, following `watch` until
/// `done` holds (at most 60 s).
async fn follow(
    watch: &mut futures::stream::BoxStream<'static, ClusterEvent>,
    mut done: impl FnMut(&ClusterEvent) -> bool,
    what: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Ok(Some(ev)) if done(&ev) => return,
            Ok(Some(_)) => {}
            Ok(None) => panic!("{what}: the watch ended"),
            Err(_) => panic!("{what}: not within 60 s"),
        }
    }
}

#[test]
fn a_client_reads_the_matrix_from_the_agent_tails_a_rollback_and_says_stale_when_it_stops() {
    let e = Env::new("agent-client", peers::kafka().to_string());
    let agent_config = e.write("agent.toml", &e.agent_section());
    let client_text = e.client_config(3);
    let client_config = e.write("client.toml", &client_text);
    let direct_config = e.write("direct.toml", "");
    let mut agent = e.agent(&agent_config);

    // The same answer as a client reading every system itself.
    let direct = e.matrix(&direct_config).unwrap();
    let from_agent = wait_for("the client's matrix equals the direct one", || {
        let m = e.matrix(&client_config)?;
        if rows(&m) == rows(&direct) && m["columns"] == direct["columns"] {
            Ok(m)
        } else {
            Err(format!("{}", m["summary"]))
        }
    });
    assert_eq!(from_agent["summary"], direct["summary"]);
    let status = &from_agent["agent"];
    assert_eq!(status["reachable"], true, "{status}");
    assert_eq!(status["caught_up"], true, "{status}");
    let sources: Vec<&str> = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["source"].as_str())
        .collect();
    assert_eq!(
        sources,
        ["catalog", "clusters", "flags", "locks", "secrets"],
        "{status}"
    );
    assert!(
        direct.get("agent").is_none(),
        "a direct client has no agent"
    );

    let rt = runtime();
    let platform = client_platform(&client_text);
    let service = "cart-service";
    let region = from_agent["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["env"] == "staging")
        .filter_map(|c| c["region"].as_str())
        .find(|r| version_in(&from_agent, service, "staging", r).is_some())
        .expect("cart-service runs in staging")
        .to_string();
    let before = version_in(&from_agent, service, "staging", &region).unwrap();
    let cluster = ClusterId::new("staging", region.as_str());
    let mut watch = rt.block_on(async { platform.clusters.watch() });
    rt.block_on(follow(
        &mut watch,
        |ev| matches!(ev, ClusterEvent::Synced(c) if *c == cluster),
        "the first listing",
    ));

    // A rollback through the demo (another process, directly): the agent publishes it
    // and the client hears it on its watch.
    let out = e.run(
        &direct_config,
        &[
            "rollback", service, "--env", "staging", "--region", &region, "--yes",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut after = String::new();
    rt.block_on(follow(
        &mut watch,
        |ev| match ev {
            ClusterEvent::Deployment(d)
                if d.service == service && d.cluster == cluster && d.version != before =>
            {
                after = d.version.clone();
                true
            }
            _ => false,
        },
        "the rollback on the watch",
    ));
    let direct_after = e.matrix(&direct_config).unwrap();
    assert_eq!(
        version_in(&direct_after, service, "staging", &region).as_deref(),
        Some(after.as_str())
    );
    let feed = platform.agent.clone().unwrap();
    assert!(
        feed.status().stale().next().is_none(),
        "{:?}",
        feed.status()
    );

    // The agent stops: the client keeps what it read and says it is stale once its
    // heartbeats are older than 3 s.
    let kept = rt
        .block_on(platform.clusters.snapshot(&Scope::default()))
        .unwrap();
    agent.stop();
    rt.block_on(follow(
        &mut watch,
        |ev| {
            matches!(ev, ClusterEvent::Unreachable { cluster: c, error }
                if *c == cluster && error.starts_with(STALE))
        },
        "the clusters stale on the watch",
    ));
    let status = feed.status();
    assert!(status.reachable, "{status:?}");
    let stale: Vec<&str> = status.stale().map(|s| s.source.as_str()).collect();
    assert!(stale.contains(&"clusters"), "{status:?}");
    let notice = platform.repos.notice().unwrap_or_default();
    assert!(notice.starts_with("agent stale: "), "{notice}");
    let still = rt
        .block_on(platform.clusters.snapshot(&Scope::default()))
        .unwrap();
    assert_eq!(
        still.deployments, kept.deployments,
        "the last state is kept"
    );
    // The CLI says so too.
    let m = e.matrix(&client_config).unwrap();
    assert_eq!(rows(&m), rows(&direct_after));
    let clusters = m["agent"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "clusters")
        .unwrap()
        .clone();
    assert_eq!(clusters["stale"], true, "{m}");
    assert!(clusters["age_seconds"].as_i64().unwrap() > 3, "{clusters}");
    drop(watch);
    drop(platform);
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn with_the_broker_down_the_client_keeps_the_last_state_and_says_so() {
    let mut broker = peers::OwnedBroker::start(peers::free_port());
    let e = Env::new("agent-client-down", broker.addr());
    let agent_config = e.write("agent.toml", &e.agent_section());
    let client_text = e.client_config(60);
    let client_config = e.write("client.toml", &client_text);
    let mut agent = e.agent(&agent_config);
    wait_for("the client reads every source", || {
        let m = e.matrix(&client_config)?;
        let n = m["agent"]["sources"].as_array().map_or(0, Vec::len);
        if n == 5 && !m["rows"].as_array().unwrap().is_empty() {
            Ok(())
        } else {
            Err(m["agent"].to_string())
        }
    });
    let rt = runtime();
    let platform = client_platform(&client_text);
    let feed = platform.agent.clone().unwrap();
    let kept = rt.block_on(async {
        feed.ready().await.unwrap();
        platform.clusters.snapshot(&Scope::default()).await.unwrap()
    });
    let locks = rt.block_on(platform.ledger.locks()).unwrap();
    assert!(!kept.deployments.is_empty());

    agent.stop();
    broker.stop();
    let status = wait_for("the client sees the broker gone", || {
        let s = feed.status();
        if s.reachable {
            Err(format!("{s:?}"))
        } else {
            Ok(s)
        }
    });
    assert!(
        status
            .error
            .as_deref()
            .unwrap_or("")
            .contains(&broker.addr())
    );
    assert!(status.unreachable_since.is_some());
    let notice = platform.repos.notice().unwrap_or_default();
    assert!(
        notice.starts_with("agent unreachable") && notice.ends_with("last state kept"),
        "{notice}"
    );
    let (still, still_locks) = rt.block_on(async {
        (
            platform.clusters.snapshot(&Scope::default()).await.unwrap(),
            platform.ledger.locks().await.unwrap(),
        )
    });
    assert_eq!(
        still.deployments, kept.deployments,
        "the last state is kept"
    );
    assert_eq!(still_locks, locks);
    // A lock taken now, in the store itself, is not in the agent's copy (it cannot reach
    // it), but an action's policy check reads the store: the lock stops the restart.
    let cluster = kept.deployments[0].cluster.clone();
    let service = kept.deployments[0].service.clone();
    let taken = sphere::domain::Lock {
        service: service.clone(),
        env: Some(cluster.env.to_string()),
        region: None,
        reason: "incident 42".into(),
        by: "ops".into(),
        at: 1,
    };
    let (copy, now, ctx) = rt.block_on(async {
        platform.ledger.add_lock(taken.clone()).await.unwrap();
        let action = sphere::actions::Action::Restart {
            service: service.clone(),
            cluster: cluster.clone(),
        };
        (
            platform.ledger.locks().await.unwrap(),
            platform.ledger.locks_now().await.unwrap(),
            sphere::actions::PolicyContext::gather(
                &platform,
                sphere::actions::Policy::default(),
                &action,
            )
            .await
            .unwrap(),
        )
    });
    assert!(!copy.contains(&taken), "the agent's copy lags: {copy:?}");
    assert!(now.contains(&taken), "{now:?}");
    assert!(
        ctx.locks.contains(&taken),
        "the policy checks the store: {:?}",
        ctx.locks
    );
    // A new process has no last state: it says why it has nothing.
    let out = e.run(&client_config, &["deploy", "matrix", "--output", "json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[source] agent") && err.contains(&broker.addr()),
        "{err}"
    );
    drop(platform);
    drop(feed);
    rt.shutdown_timeout(Duration::from_secs(1));
}
