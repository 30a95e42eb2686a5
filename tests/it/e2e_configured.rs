//! End to end on a configured platform: `sphere` with a `config.toml` pointing at the real
//! protocol peers (the Kubernetes emulator, moto's AWS server, the tansu Kafka broker),
//! driven in tmux as a user would. The deployments seeded in the emulator show in the
//! matrix with their drift; the secrets written through sphere into moto show their
//! drift in the pane; a flag set through sphere goes out on the command topic, and once
//! the clusters' agent (played by the test) acknowledges it on the state topic the
//! flags pane shows it applied. GitHub is a wiremock server answering GitHub's REST
//! shapes: the service view shows the repository and its workflow from it.

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::kafka::{Agent, create_topics, state};
use crate::common::peers;
use crate::common::tmux::Tmux;
use crate::github_provider::{dir_entry, get, ok, org_repos, org_rulesets, repo};
use serde_json::json;
use sphere::config::platform::KafkaConfig;
use sphere::domain::ClusterId;
use wiremock::MockServer;

const AWS_ENV: &str = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
                       AWS_EC2_METADATA_DISABLED=true";

async fn post(client: &reqwest::Client, url: String, body: serde_json::Value) {
    let r = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("peer answers");
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
}

/// A namespace with one labelled deployment of `service` at `version` and its pods.
pub(crate) async fn seed(server: &str, ns: &str, service: &str, version: &str, pods: usize) {
    let c = reqwest::Client::new();
    post(
        &c,
        format!("{server}/api/v1/namespaces"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    let labels = json!({"app.kubernetes.io/name": service});
    let image = format!("registry.example/{service}:{version}");
    post(
        &c,
        format!("{server}/apis/apps/v1/namespaces/{ns}/deployments"),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": service, "namespace": ns, "labels": labels, "generation": 1},
            "spec": {"replicas": pods, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"observedGeneration": 1, "replicas": pods, "readyReplicas": pods,
                       "updatedReplicas": pods, "availableReplicas": pods,
                       "conditions": [{"type": "Progressing", "status": "True",
                                       "reason": "NewReplicaSetAvailable"}]}
        }),
    )
    .await;
    for i in 0..pods {
        post(
            &c,
            format!("{server}/api/v1/namespaces/{ns}/pods"),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{service}-{i}"), "namespace": ns, "labels": labels},
                "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": image}]},
                "status": {"phase": "Running", "startTime": "2026-11-30T00:00:00Z",
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                                                  "image": image, "imageID": "sha256:0",
                                                  "state": {"running": {}}}]}
            }),
        )
        .await;
    }
}

fn write_config(
    dir: &Path,
    service: &str,
    ns: [&str; 2],
    kafka: &KafkaConfig,
    github: &str,
) -> std::path::PathBuf {
    peers::kubeconfig_two_contexts(dir, ns);
    std::fs::create_dir_all(dir.join("catalog")).expect("mkdir");
    std::fs::write(
        dir.join("catalog/catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: payments}}\n\
             spec: {{type: team, children: [], members: [ada]}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: ada}}\n\
             spec: {{memberOf: [payments]}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\n\
             metadata: {{name: {service}, description: Takes the money,\n\
               annotations: {{github.com/project-slug: acme/{service}}}}}\n\
             spec: {{type: service, lifecycle: production, owner: payments}}\n"
        ),
    )
    .expect("catalog");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "platform_name = \"acme e2e\"\nuser = \"ada\"\n[catalog]\npaths = [\"catalog\"]\n\
             [policy]\nadmins = [\"ada\"]\n\
             [[clusters]]\nregion = \"us-east-1\"\nenv = \"production\"\ncontext = \"use1\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{a}\"\n\
             [[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\ncontext = \"euw1\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{b}\"\n\
             [aws]\nendpoint_url = \"{moto}\"\ntimeout_seconds = 5\n\
             [kafka]\nproperties = {{ \"bootstrap.servers\" = \"{kafka}\" }}\n\
             flag_commands_topic = \"{commands}\"\nflag_state_topic = \"{state}\"\n\
             audit_topic = \"{audit}\"\ntimeout_seconds = 5\n\
             [github]\norg = \"acme\"\napi_url = \"{github}\"\ntimeout_seconds = 5\n",
            a = ns[0],
            b = ns[1],
            moto = peers::moto(),
            kafka = peers::kafka(),
            commands = kafka.flag_commands_topic,
            state = kafka.flag_state_topic,
            audit = kafka.audit_topic,
        ),
    )
    .expect("config");
    config
}

/// The built binary with this test's config and directories.
pub(crate) fn sphere(dir: &Path, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sphere"));
    c.env("SPHERE_CONFIG", config)
        .env("SPHERE_DATA_DIR", dir.join("data"))
        .env("SPHERE_STATE_DIR", dir.join("state"))
        .env("SPHERE_CONFIG_DIR", dir.join("cfg"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// `sphere secret put` through the real binary (and so the AWS provider).
fn put_secret(dir: &Path, config: &Path, service: &str, region: &str, key: &str, value: &str) {
    use std::io::Write;
    let mut child = sphere(dir, config)
        .args(["secret", "put", service, key, "--env", "production"])
        .args(["--region", region, "--yes"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sphere runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(value.as_bytes())
        .expect("value");
    let out = child.wait_with_output().expect("sphere ends");
    assert!(
        out.status.success(),
        "secret put {key}@{region}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tui_shows_emulated_deployments_and_secret_drift_from_moto() {
    let service = peers::unique("checkout");
    let ns = [peers::unique("use1"), peers::unique("euw1")];
    seed(peers::kube(), &ns[0], &service, "1.4.2", 2).await;
    seed(peers::kube(), &ns[1], &service, "1.4.1", 1).await;
    let prefix = peers::unique("e2e");
    let kafka = common::kafka::config(peers::kafka(), &prefix);
    create_topics(&kafka).await;
    let agent = Agent::new(&kafka);
    let clusters = [
        ClusterId::new("production", "us-east-1"),
        ClusterId::new("production", "eu-west-1"),
    ];
    for c in &clusters {
        agent
            .publish(&state("new-checkout", c, "off", 0, None))
            .await;
    }
    let github = MockServer::start().await;
    let base = github.uri();
    get(format!("/repos/acme/{service}"))
        .respond_with(ok(repo(&base, &service, 7)))
        .mount(&github)
        .await;
    get(format!("/repos/acme/{service}/contents/.github/workflows"))
        .respond_with(ok(json!([dir_entry(
            &base,
            &service,
            ".github/workflows/ci.yml",
            "1111111111111111111111111111111111111111"
        )])))
        .mount(&github)
        .await;
    org_rulesets(&base, 1, "merge-freeze", "disabled", "2026-11-01T00:00:00Z")
        .mount(&github)
        .await;
    // Discovery lists the org; the repository has no catalog-info.yaml (a 404).
    org_repos(&base, &[&service]).mount(&github).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &service, [&ns[0], &ns[1]], &kafka, &base);
    put_secret(
        dir.path(),
        &config,
        &service,
        "us-east-1",
        "DATABASE_URL",
        "pg://a",
    );
    put_secret(
        dir.path(),
        &config,
        &service,
        "eu-west-1",
        "DATABASE_URL",
        "pg://b",
    );
    put_secret(dir.path(), &config, &service, "us-east-1", "API_KEY", "k1");

    for (w, h) in [(160, 48), (80, 24)] {
        let tui = Tmux::start_with_env(
            w,
            h,
            "",
            &format!(
                "SPHERE_CONFIG={} GITHUB_TOKEN=test {AWS_ENV}",
                config.display()
            ),
        );
        tui.wait_for("the catalog from the configured files", |s| {
            s.contains("acme e2e") && s.contains(&service[..8]) && s.contains("2 clusters")
        });
        tui.send(&["2"]);
        let matrix = tui.wait_for("the matrix with both regions' versions", |s| {
            s.contains("1.4.2") && s.contains("1.4.1")
        });
        assert!(
            matrix.contains("drifted: 1 in production"),
            "the version drift is summarised at {w}x{h}:\n{matrix}"
        );
        tui.send(&["1"]);
        tui.send(&["4"]);
        let secrets = tui.wait_for("the secrets pane with the drift from moto", |s| {
            s.contains("DATABASE_URL") && s.contains("API_KEY")
        });
        assert!(
            secrets.contains("value differs") && secrets.contains("extra"),
            "both drift findings at {w}x{h}:\n{secrets}"
        );
        assert!(
            !secrets.contains("pg://"),
            "no value is ever drawn:\n{secrets}"
        );
        tui.send(&["5"]);
        tui.wait_for(
            "the flags pane with the state the clusters published",
            |s| s.contains("new-checkout"),
        );
        // The service view: the repository and its workflow from GitHub.
        tui.send(&["1"]);
        tui.send(&["Enter"]);
        tui.wait_for("the service view with the repository from GitHub", |s| {
            s.contains("default branch main") && s.contains("ci.yml")
        });
        tui.send(&["Escape"]);
        tui.send(&["q"]);
        tui.wait_for("sphere to exit cleanly", |s| s.contains("SPHERE-EXITED:0"));
    }

    // A flag change through sphere reaches the command topic; the clusters' agent
    // applies it and acknowledges it on the state topic; the pane shows it applied.
    let out = sphere(dir.path(), &config)
        .args([
            "flag",
            "set",
            "new-checkout",
            "on",
            "--percentage",
            "25",
            "--yes",
        ])
        .output()
        .expect("sphere runs");
    assert!(
        out.status.success(),
        "flag set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = agent.commands().await;
    let (key, cmd) = sent.last().expect("the command is on the topic");
    assert_eq!((key.as_str(), cmd.value.as_str()), ("new-checkout", "on"));
    for c in &clusters {
        agent
            .publish(&state("new-checkout", c, "on", 25, Some(&cmd.id)))
            .await;
    }
    let tui = Tmux::start_with_env(
        120,
        32,
        "",
        &format!("SPHERE_CONFIG={} {AWS_ENV}", config.display()),
    );
    tui.wait_for("the catalog", |s| s.contains("acme e2e"));
    tui.send(&["5"]);
    let flags = tui.wait_for("the acknowledged flag in both clusters", |s| {
        s.lines()
            .any(|l| l.contains("new-checkout") && l.matches("on 25%").count() == 2)
    });
    assert!(
        flags.contains("every change acknowledged") && !flags.contains("pending"),
        "acknowledged everywhere:\n{flags}"
    );
    tui.send(&["q"]);
    tui.wait_for("sphere to exit cleanly", |s| s.contains("SPHERE-EXITED:0"));
}
