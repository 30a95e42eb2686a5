//! The golden path and a rollback on a configured platform, end to end through the
//! binary. GitHub is a wiremock server that keeps an org's repositories the way GitHub's
//! REST API serves them (generate from a template; read and write files through the
//! contents API, a stale sha refused with 409), the clusters are the Kubernetes
//! emulator, and the registration is kept in the data dir. The golden path runs every
//! step once, and a second run finds each one done; a rollback is a commit to the
//! GitOps repository's version file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::peers;
use crate::e2e_configured::{seed, sphere};
use crate::github_provider::{content, dir_entry, file_commit, not_found, ok, release, repo};

/// An org's repositories: name → (path → (text, sha)).
#[derive(Default)]
struct OrgState {
    repos: BTreeMap<String, BTreeMap<String, (String, String)>>,
    shas: u64,
}

/// GitHub's repository, generate and contents endpoints over [`OrgState`].
#[derive(Clone)]
struct Org {
    base: String,
    state: Arc<Mutex<OrgState>>,
}

impl Org {
    fn next_sha(s: &mut OrgState) -> String {
        s.shas += 1;
        format!("{:040x}", s.shas)
    }

    fn repo_files(&self, name: &str) -> Option<BTreeMap<String, (String, String)>> {
        self.state.lock().unwrap().repos.get(name).cloned()
    }
}

impl Respond for Org {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let p = req.url.path().to_string();
        let parts: Vec<&str> = p.trim_start_matches('/').splitn(5, '/').collect();
        let method = req.method.as_str();
        let mut s = self.state.lock().unwrap();
        match (method, parts.as_slice()) {
            ("POST", ["repos", "acme", "template-service", "generate"]) => {
                let body: Value = serde_json::from_slice(&req.body).expect("json body");
                let name = body["name"].as_str().expect("name").to_string();
                if s.repos.contains_key(&name) {
                    return ResponseTemplate::new(422)
                        .set_body_json(json!({"message": "Repository creation failed."}));
                }
                let sha = Self::next_sha(&mut s);
                let readme = (format!("# {name}\n"), sha);
                s.repos
                    .insert(name.clone(), BTreeMap::from([("README.md".into(), readme)]));
                ResponseTemplate::new(201).set_body_json(repo(&self.base, &name, 9))
            }
            ("GET", ["repos", "acme", name]) => match s.repos.contains_key(*name) {
                true => ok(repo(&self.base, name, 9)),
                false => not_found(),
            },
            ("GET", ["repos", "acme", name, "contents", ..]) => {
                let Some(files) = s.repos.get(*name) else {
                    return not_found();
                };
                let path = parts.get(4).copied().unwrap_or("").trim_end_matches('/');
                if let Some((text, sha)) = files.get(path) {
                    return ok(content(&self.base, name, path, text, sha));
                }
                let prefix = if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}/")
                };
                let entries: Vec<Value> = (files.iter())
                    .filter(|(f, _)| f.starts_with(&prefix) && !f[prefix.len()..].contains('/'))
                    .map(|(f, (_, sha))| dir_entry(&self.base, name, f, sha))
                    .collect();
                if entries.is_empty() && !path.is_empty() {
                    not_found()
                } else {
                    ok(json!(entries))
                }
            }
            ("PUT", ["repos", "acme", name, "contents", path]) => {
                let body: Value = serde_json::from_slice(&req.body).expect("json body");
                let text = base64::engine::general_purpose::STANDARD
                    .decode(body["content"].as_str().expect("content"))
                    .expect("base64");
                let text = String::from_utf8(text).expect("utf-8");
                let sha = Self::next_sha(&mut s);
                let Some(files) = s.repos.get_mut(*name) else {
                    return not_found();
                };
                let current = files.get(*path).map(|(_, sha)| sha.clone());
                if current.as_deref() != body["sha"].as_str() {
                    return ResponseTemplate::new(409).set_body_json(json!({
                        "message": format!("{path} does not match {}", body["sha"])
                    }));
                }
                files.insert(path.to_string(), (text.clone(), sha.clone()));
                let status = if current.is_some() { 200 } else { 201 };
                ResponseTemplate::new(status)
                    .set_body_json(file_commit(&self.base, name, path, &text, &sha))
            }
            _ => ResponseTemplate::new(404)
                .set_body_json(json!({"message": format!("{method} {p}")})),
        }
    }
}

fn write_config(dir: &Path, github: &str, ns: &str) -> std::path::PathBuf {
    let kube = peers::kube();
    std::fs::write(
        dir.join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{kube}\"}}\n\
             contexts:\n- name: dev\n  context: {{cluster: peer, user: u}}\n\
             users:\n- name: u\n  user: {{token: test}}\ncurrent-context: dev\n"
        ),
    )
    .expect("kubeconfig");
    std::fs::create_dir_all(dir.join("catalog")).expect("mkdir");
    std::fs::write(
        dir.join("catalog/catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: payments}\n\
         spec: {type: team, children: [], members: [ada]}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: ada}\n\
         spec: {memberOf: [payments]}\n",
    )
    .expect("catalog");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "platform_name = \"acme golden\"\nuser = \"ada\"\n[catalog]\npaths = [\"catalog\"]\n\
             [[clusters]]\nregion = \"eu-west-1\"\nenv = \"dev\"\ncontext = \"dev\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{ns}\"\n\
             [kubernetes]\nimage = \"ghcr.io/acme/{{service}}:{{version}}\"\n\
             [github]\norg = \"acme\"\napi_url = \"{github}\"\ndiscover_catalog = false\n\
             templates = {{ rust-service = \"acme/template-service\" }}\ntimeout_seconds = 5\n"
        ),
    )
    .expect("config");
    config
}

fn create(dir: &Path, config: &Path, name: &str) -> Value {
    let out = sphere(dir, config)
        .env("GITHUB_TOKEN", "test")
        .args(["service", "create", name, "--owner", "payments"])
        .args(["--description", "Scores payments for fraud", "--yes"])
        .args(["--output", "json"])
        .output()
        .expect("sphere runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "service create: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("json")
}

fn statuses(result: &Value) -> Vec<(String, String)> {
    result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let status = match &s["status"] {
                Value::String(v) => v.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.to_string(),
            };
            (s["step"].as_str().unwrap_or_default().to_string(), status)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_golden_path_on_github_and_kubernetes_runs_once_and_then_is_done() {
    let server = MockServer::start().await;
    let org = Org {
        base: server.uri(),
        state: Arc::default(),
    };
    Mock::given(path_regex("^/repos/acme/"))
        .respond_with(org.clone())
        .mount(&server)
        .await;
    let ns = peers::unique("golden");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &server.uri(), &ns);
    let name = "fraud-scorer";

    let first = create(dir.path(), &config, name);
    assert_eq!(first["ok"], true, "{first:#}");
    let steps = statuses(&first);
    assert_eq!(steps.len(), 5, "{first:#}");
    assert!(
        steps.iter().all(|(_, s)| s == "done"),
        "every step ran: {steps:?}"
    );

    // GitHub holds the repository with the CI workflow and the descriptor.
    let files = org.repo_files(name).expect("the repository was generated");
    let ci = &files
        .get(".github/workflows/ci.yaml")
        .expect("the CI workflow")
        .0;
    assert!(ci.contains("sphere lock check fraud-scorer"), "{ci}");
    let descriptor = &files.get("catalog-info.yaml").expect("the descriptor").0;
    assert!(
        descriptor.contains("name: \"fraud-scorer\"") || descriptor.contains("name: fraud-scorer"),
        "{descriptor}"
    );
    assert!(descriptor.contains("payments"), "{descriptor}");

    // The dev cluster runs it.
    let deployment: Value = reqwest::get(format!(
        "{}/apis/apps/v1/namespaces/{ns}/deployments/{name}",
        peers::kube()
    ))
    .await
    .expect("peer answers")
    .json()
    .await
    .expect("json");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/fraud-scorer:0.1.0"
    );

    // The catalog has it (registered in the data dir), owned by payments.
    let out = sphere(dir.path(), &config)
        .args(["catalog", "list", "--output", "json"])
        .output()
        .expect("sphere runs");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .any(|e| e["name"] == name && e["kind"] == "Component"),
        "{listed:#}"
    );

    // Again: every step is found done; nothing is written twice.
    let shas: Vec<String> = files.values().map(|(_, sha)| sha.clone()).collect();
    let second = create(dir.path(), &config, name);
    assert_eq!(second["ok"], true, "{second:#}");
    assert!(
        statuses(&second).iter().all(|(_, s)| s == "already_done"),
        "{second:#}"
    );
    let again: Vec<String> = (org.repo_files(name).unwrap().values())
        .map(|(_, sha)| sha.clone())
        .collect();
    assert_eq!(shas, again, "no file was written again");
}

/// A rollback on a configured platform, through the binary: the policy reads the
/// release history from GitHub and the running version from Kubernetes; the rollback is
/// a commit to the GitOps repository's version file, made with the sha it read.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_commits_the_earlier_version_to_the_gitops_repository() {
    let server = MockServer::start().await;
    let base = server.uri();
    let org = Org {
        base: base.clone(),
        state: Arc::default(),
    };
    let version_file = "apps/cart/staging/eu-west-1/version";
    {
        let mut s = org.state.lock().unwrap();
        let sha = Org::next_sha(&mut s);
        s.repos.insert(
            "deploy".into(),
            BTreeMap::from([(version_file.to_string(), ("1.4.2\n".to_string(), sha))]),
        );
        let sha = Org::next_sha(&mut s);
        s.repos.insert(
            "cart".into(),
            BTreeMap::from([("README.md".to_string(), ("# cart\n".to_string(), sha))]),
        );
    }
    Mock::given(wiremock::matchers::path("/repos/acme/cart/releases"))
        .respond_with(ok(json!([
            release(&base, "cart", 3, "v1.4.2", "2026-11-20T10:00:00Z", false),
            release(&base, "cart", 2, "v1.4.1", "2026-11-10T10:00:00Z", false),
            release(&base, "cart", 1, "v1.4.0", "2026-11-01T10:00:00Z", false),
        ])))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/repos/acme/"))
        .respond_with(org.clone())
        .mount(&server)
        .await;
    let ns = peers::unique("rollback");
    seed(peers::kube(), &ns, "cart", "1.4.2", 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &base, &ns);
    // The cluster is staging here, and the service is in the catalog with its repo.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("env = \"dev\"", "env = \"staging\"").replace(
            "discover_catalog = false\n",
            "discover_catalog = false\ngitops_repo = \"acme/deploy\"\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("catalog/cart.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n\
         metadata: {name: cart, annotations: {github.com/project-slug: acme/cart}}\n\
         spec: {type: service, lifecycle: production, owner: payments}\n",
    )
    .unwrap();

    let out = sphere(dir.path(), &config)
        .env("GITHUB_TOKEN", "test")
        .args([
            "rollback",
            "cart",
            "--env",
            "staging",
            "--region",
            "eu-west-1",
        ])
        .args(["--to", "1.4.1", "--yes"])
        .output()
        .expect("sphere runs");
    assert!(
        out.status.success(),
        "rollback: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deploy = org.repo_files("deploy").expect("the GitOps repository");
    assert_eq!(
        deploy[version_file].0, "1.4.1\n",
        "the version file was set"
    );

    // A version that was never released is refused, and nothing is committed.
    let out = sphere(dir.path(), &config)
        .env("GITHUB_TOKEN", "test")
        .args([
            "rollback",
            "cart",
            "--env",
            "staging",
            "--region",
            "eu-west-1",
        ])
        .args(["--to", "9.9.9", "--yes"])
        .output()
        .expect("sphere runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("9.9.9"), "{stderr}");
    assert_eq!(org.repo_files("deploy").unwrap()[version_file].0, "1.4.1\n");

    let out = sphere(dir.path(), &config)
        .args(["audit", "--output", "json"])
        .output()
        .expect("sphere runs");
    let audit: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "deployment.rollback"
                && r["outcome"] == "succeeded"
                && r["target"].as_str().unwrap_or("").contains("cart")),
        "{audit:#}"
    );
}

/// A lock may name an ephemeral environment on a configured platform too: the policy
/// reads the environments from the clusters (namespaces), not only the configured list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_may_name_an_ephemeral_environment_on_kubernetes() {
    let server = MockServer::start().await;
    let ns = peers::unique("envlock");
    let service = format!("svc-{ns}");
    seed(peers::kube(), &ns, &service, "1.0.0", 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &server.uri(), &ns);
    // Cluster-wide: an environment is a namespace of its own.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(&format!("namespace = \"{ns}\"\n"), ""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("catalog/svc.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {service}}}\n\
             spec: {{type: service, lifecycle: production, owner: payments}}\n"
        ),
    )
    .unwrap();
    let env = peers::unique("pr");
    let run = |args: &[&str]| {
        sphere(dir.path(), &config)
            .env("GITHUB_TOKEN", "test")
            .args(args)
            .output()
            .expect("sphere runs")
    };
    let said = |out: &std::process::Output| {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let out = run(&[
        "env", "create", &env, "--from", "dev", "--ttl", "1d", "--yes",
    ]);
    assert!(out.status.success(), "env create: {}", said(&out));
    let out = run(&["lock", &service, "--env", &env, "--reason", "hold", "--yes"]);
    assert!(out.status.success(), "lock in {env}: {}", said(&out));
    let out = run(&["lock", "check", &service, "--env", &env]);
    assert_eq!(out.status.code(), Some(3), "lock check: {}", said(&out));
    let out = run(&["unlock", &service, "--env", &env, "--yes"]);
    assert!(
        said(&out).contains("removed 1 lock"),
        "unlock: {}",
        said(&out)
    );
    let out = run(&["lock", "check", &service, "--env", &env]);
    assert_eq!(out.status.code(), Some(0), "lock check: {}", said(&out));
    let out = run(&["env", "delete", &env, "--yes"]);
    assert!(out.status.success(), "env delete: {}", said(&out));
}
