//! The policy's corners through the binary: environment names in the config that are
//! no environment fail closed, flags take only their declared variants, and owners
//! find the access requests waiting for them.

use crate::common::*;

fn with_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("mkdir");
    let file = config.join("config.toml");
    std::fs::write(&file, text).expect("config");
    file
}

fn lock_as_owner(dir: &tempfile::TempDir, env: &str) -> std::process::Output {
    // amara.okafor is in payments, which owns payments-api; she is no admin.
    sphere(
        dir,
        &[
            "lock",
            "payments-api",
            "--env",
            env,
            "--reason",
            "INC-1",
            "--as",
            "amara.okafor",
            "--yes",
        ],
    )
}

/// `Production` is not `production`: a problem naming the file and key, and production
/// stays read-only (it was writable, without a word).
#[test]
fn a_misspelt_read_only_env_still_protects_and_is_named() {
    let dir = tmp();
    let file = with_config(&dir, "[policy]\nread_only_envs = [\"Production\"]\n");
    let out = lock_as_owner(&dir, "production");
    assert_eq!(code(&out), 4, "refused: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("read-only"), "{err}");
    assert!(
        err.contains(&format!(
            "{}: key `policy.read_only_envs[0]`",
            file.display()
        )),
        "{err}"
    );
    // Only production: staging stays writable for its owners.
    let out = lock_as_owner(&dir, "staging");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A name that is no environment at all: every environment is read-only for all but
/// admins until it is fixed; admins still act.
#[test]
fn an_unknown_read_only_env_fails_closed_everywhere() {
    let dir = tmp();
    with_config(&dir, "[policy]\nread_only_envs = [\"prdo\"]\n");
    for env in ["staging", "dev", "production"] {
        let out = lock_as_owner(&dir, env);
        assert_eq!(code(&out), 4, "{env}: {}", stderr(&out));
        assert!(stderr(&out).contains("fails closed"), "{}", stderr(&out));
    }
    // The demo's admin (`you`) is exempt, as from every read-only environment.
    let out = sphere(
        &dir,
        &[
            "lock",
            "payments-api",
            "--env",
            "staging",
            "--reason",
            "INC-1",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// `payments.router` declares v1, v2 and shadow: nothing else is sent.
#[test]
fn a_flag_takes_only_its_declared_variants() {
    let dir = tmp();
    let set = |value: &str| {
        sphere(
            &dir,
            &[
                "flag",
                "set",
                "payments.router",
                value,
                "--env",
                "staging",
                "--yes",
            ],
        )
    };
    let out = set("v3");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("payments.router takes one of v1, v2, shadow"),
        "{}",
        stderr(&out)
    );
    let out = set("shadow");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let flags = json(&sphere(&dir, &["flag", "list", "--output", "json"]));
    let pending: Vec<_> = flags["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter(|f| f["name"] == "payments.router")
        .flat_map(|f| f["cells"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["pending"]["value"].as_str().map(str::to_string))
        .collect();
    assert!(pending.iter().all(|v| v == "shadow"), "{pending:?}");
    assert!(!pending.is_empty(), "{flags}");
}

/// `access list --pending` shows what waits for a decision, and nothing decided.
#[test]
fn access_list_pending_shows_only_waiting_requests() {
    let dir = tmp();
    let request = |who: &str, why: &str| {
        let out = sphere(
            &dir,
            &[
                "access",
                "request",
                "payments-api",
                "--permission",
                "operate",
                "--reason",
                why,
                "--as",
                who,
            ],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    request("sofia.moreno", "on call for INC-7");
    request("mei.lin", "pairing on checkout");
    let all = json(&sphere(&dir, &["access", "list", "--output", "json"]));
    let first = all[0]["id"].as_u64().expect("id").to_string();
    let out = sphere(
        &dir,
        &[
            "access",
            "deny",
            &first,
            "--reason",
            "not on call",
            "--as",
            "amara.okafor",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere(&dir, &["access", "list", "--pending"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("mei.lin"), "{table}");
    assert!(table.contains("pairing on checkout"), "{table}");
    assert!(!table.contains("sofia.moreno"), "{table}");
    let pending = json(&sphere(
        &dir,
        &["access", "list", "--pending", "--output", "json"],
    ));
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");
    // The denial's reason is in the audit trail.
    let audit = json(&sphere(&dir, &["audit", "--output", "json"]));
    assert!(
        audit
            .as_array()
            .expect("audit")
            .iter()
            .any(|r| r["action"] == "access.deny" && r["reason"] == "not on call"),
        "{audit}"
    );
}

/// On a configured platform the actor is who the GitHub token belongs to (not `user`
/// from the config), `--as` is impersonation for admins only (a refusal is audited),
/// and an admin's `--as` is audited under both names.
#[tokio::test(flavor = "multi_thread")]
async fn as_is_impersonation_on_a_configured_platform() {
    use crate::github_provider::{get, ok};
    use wiremock::MockServer;
    use wiremock::matchers::bearer_token;
    let server = MockServer::start().await;
    get("/user")
        .and(bearer_token("test-token"))
        .respond_with(ok(
            serde_json::json!({"login": "ada", "id": 1, "type": "User"}),
        ))
        .mount(&server)
        .await;
    let dir = tmp();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).expect("mkdir");
    std::fs::write(
        catalog.join("catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: payments}\n\
         spec: {type: team, children: [], members: [bob]}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: ada}\nspec: {memberOf: []}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: bob}\nspec: {memberOf: [payments]}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: pay}\n\
         spec: {type: service, lifecycle: production, owner: payments}\n",
    )
    .expect("catalog");
    // One cluster on the Kubernetes emulator (the platform needs one).
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{}\"}}\n\
             contexts:\n- name: c\n  context: {{cluster: peer, user: u, namespace: {}}}\n\
             users:\n- name: u\n  user: {{token: test}}\ncurrent-context: c\n",
            crate::common::peers::kube(),
            crate::common::peers::unique("as")
        ),
    )
    .expect("kubeconfig");
    let write = |admins: &str| {
        with_config(
            &dir,
            &format!(
                "user = \"carol\"\n[github]\norg = \"acme\"\napi_url = \"{}\"\ndiscover_catalog = false\n\
                 [catalog]\npaths = [{:?}]\n[policy]\nadmins = [{admins}]\n\
                 [[clusters]]\nregion = \"us-east-1\"\nenv = \"production\"\nkubeconfig = {:?}\n",
                server.uri(),
                catalog.display().to_string(),
                kubeconfig.display().to_string()
            ),
        )
    };
    let run = |args: &[&str]| {
        command(&dir, args)
            .env("GITHUB_TOKEN", "test-token")
            .env_remove("GH_TOKEN")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sphere runs")
    };
    let request = |who: Option<&str>| {
        let mut args = vec![
            "access",
            "request",
            "pay",
            "--permission",
            "operate",
            "--reason",
            "on call",
        ];
        if let Some(w) = who {
            args.extend(["--as", w]);
        }
        run(&args)
    };
    let audit = |run: &dyn Fn(&[&str]) -> std::process::Output| {
        let out = run(&["audit", "--output", "json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        json(&out)
    };
    // ada is no admin: `--as bob` is refused (exit 4) and the refusal is audited as hers.
    write("");
    let out = tokio::task::block_in_place(|| request(Some("bob")));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--as is impersonation"),
        "{}",
        stderr(&out)
    );
    let records = tokio::task::block_in_place(|| audit(&run));
    assert!(
        records
            .as_array()
            .expect("audit")
            .iter()
            .any(|r| r["who"] == "ada"
                && r["action"] == "impersonate"
                && r["target"] == "bob"
                && r["outcome"] == "refused"),
        "{records}"
    );
    // Without --as the actor is the token's login, not the config's `user`.
    let out = tokio::task::block_in_place(|| request(None));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let records = tokio::task::block_in_place(|| audit(&run));
    assert!(
        records
            .as_array()
            .expect("audit")
            .iter()
            .any(|r| r["who"] == "ada" && r["action"] == "access.request"),
        "{records}"
    );
    assert!(!records.to_string().contains("carol"), "{records}");
    // An admin may, and the audit names both.
    write("\"ada\"");
    let out = tokio::task::block_in_place(|| request(Some("bob")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let records = tokio::task::block_in_place(|| audit(&run));
    assert!(
        records
            .as_array()
            .expect("audit")
            .iter()
            .any(|r| r["who"] == "ada as bob" && r["action"] == "access.request"),
        "{records}"
    );
}
