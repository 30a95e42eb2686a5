//! A configured platform whose clusters are not a full grid: production in us-east-1
//! and eu-west-1, staging in us-east-1 only. Against the Kubernetes emulator and moto,
//! sphere shows the three clusters that exist and never a fourth: the TUI's header
//! counts three, the matrix has three columns, `sphere deploy matrix` answers three,
//! staging's secrets are not "missing" in eu-west-1, and writing one there is refused
//! as a cluster that does not exist.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::peers;
use crate::common::tmux::Tmux;
use crate::e2e_configured::{seed, sphere};

const AWS_ENV: &str = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
                       AWS_EC2_METADATA_DISABLED=true";

/// The configured clusters: (env, region, kubeconfig context).
const CLUSTERS: [(&str, &str, &str); 3] = [
    ("production", "us-east-1", "prod-use1"),
    ("production", "eu-west-1", "prod-euw1"),
    ("staging", "us-east-1", "stg-use1"),
];

/// `DIR/kubeconfig` with a context per cluster on the emulator, each on its namespace;
/// `DIR/catalog` with the service; `DIR/config.toml` naming the three clusters.
fn write_config(dir: &Path, service: &str, ns: &[String; 3]) -> PathBuf {
    let mut contexts = String::new();
    for ((_, _, ctx), ns) in CLUSTERS.iter().zip(ns) {
        contexts.push_str(&format!(
            "- name: {ctx}\n  context: {{cluster: peer, user: u, namespace: {ns}}}\n"
        ));
    }
    std::fs::write(
        dir.join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{}\"}}\n\
             contexts:\n{contexts}users:\n- name: u\n  user: {{token: test}}\n\
             current-context: prod-use1\n",
            peers::kube()
        ),
    )
    .expect("kubeconfig");
    std::fs::create_dir_all(dir.join("catalog")).expect("mkdir");
    std::fs::write(
        dir.join("catalog/catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: payments}}\n\
             spec: {{type: team, children: [], members: [ada]}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: ada}}\n\
             spec: {{memberOf: [payments]}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\n\
             metadata: {{name: {service}, description: Takes the money}}\n\
             spec: {{type: service, lifecycle: production, owner: payments}}\n"
        ),
    )
    .expect("catalog");
    let mut clusters = String::new();
    for ((env, region, ctx), ns) in CLUSTERS.iter().zip(ns) {
        clusters.push_str(&format!(
            "[[clusters]]\nregion = \"{region}\"\nenv = \"{env}\"\ncontext = \"{ctx}\"\n\
             kubeconfig = \"kubeconfig\"\nnamespace = \"{ns}\"\n"
        ));
    }
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "platform_name = \"acme gaps\"\nuser = \"ada\"\n[catalog]\npaths = [\"catalog\"]\n\
             [policy]\nadmins = [\"ada\"]\n{clusters}\
             [aws]\nendpoint_url = \"{moto}\"\ntimeout_seconds = 5\n",
            moto = peers::moto(),
        ),
    )
    .expect("config");
    config
}

/// `sphere secret put` through the real binary (and so the policy and the AWS
/// provider); its output.
fn put_secret(
    dir: &Path,
    config: &Path,
    service: &str,
    (env, region): (&str, &str),
    key: &str,
    value: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = sphere(dir, config)
        .args(["secret", "put", service, key, "--env", env])
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
    child.wait_with_output().expect("sphere ends")
}

fn json_of(out: &std::process::Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{what}: {e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_that_is_not_a_full_grid_shows_only_its_clusters() {
    let service = peers::unique("ledger");
    let ns = [
        peers::unique("gap-prod-use1"),
        peers::unique("gap-prod-euw1"),
        peers::unique("gap-stg-use1"),
    ];
    seed(peers::kube(), &ns[0], &service, "2.0.0", 2).await;
    seed(peers::kube(), &ns[1], &service, "2.0.0", 2).await;
    seed(peers::kube(), &ns[2], &service, "2.1.0", 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &service, &ns);

    // The same secrets wherever each environment runs: no drift anywhere, and
    // staging's are not missing in eu-west-1, where it has no cluster.
    for (env, region) in [
        ("production", "us-east-1"),
        ("production", "eu-west-1"),
        ("staging", "us-east-1"),
    ] {
        let out = put_secret(
            dir.path(),
            &config,
            &service,
            (env, region),
            "DATABASE_URL",
            &format!("pg://{env}"),
        );
        assert!(
            out.status.success(),
            "secret put {env}/{region}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let drift = json_of(
        &sphere(dir.path(), &config)
            .args(["secret", "drift", &service, "--output", "json"])
            .output()
            .expect("sphere runs"),
        "secret drift",
    );
    assert_eq!(drift, Value::Array(Vec::new()), "no drift: {drift:#}");
    // Writing a secret into the cluster that does not exist is refused by name.
    let refused = put_secret(
        dir.path(),
        &config,
        &service,
        ("staging", "eu-west-1"),
        "DATABASE_URL",
        "pg://nowhere",
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a phantom cluster took a secret");
    assert!(
        stderr.contains("staging does not run in eu-west-1"),
        "the refusal names the gap: {stderr}"
    );

    // The matrix, as JSON: the three clusters, in the order configured.
    let matrix = json_of(
        &sphere(dir.path(), &config)
            .args(["deploy", "matrix", "--output", "json"])
            .output()
            .expect("sphere runs"),
        "deploy matrix",
    );
    let columns: Vec<String> = matrix["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            let name = |k: &str| c[k].as_str().unwrap_or("?").to_string();
            format!("{}/{}", name("env"), name("region"))
        })
        .collect();
    assert_eq!(
        columns,
        [
            "production/us-east-1",
            "production/eu-west-1",
            "staging/us-east-1"
        ],
        "{matrix:#}"
    );
    let row = matrix["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["service"] == service.as_str())
        .unwrap_or_else(|| panic!("{service} has a row: {matrix:#}"));
    let versions: Vec<&str> = row["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["version"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(versions, ["2.0.0", "2.0.0", "2.1.0"], "{row:#}");
    // A scope on the gap is a usage error, not an empty answer.
    let out = sphere(dir.path(), &config)
        .args([
            "deploy",
            "matrix",
            "--env",
            "staging",
            "--region",
            "eu-west-1",
        ])
        .output()
        .expect("sphere runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("staging does not run in eu-west-1"),
        "{stderr}"
    );

    // The TUI at 80x24: three clusters live, three columns in the matrix.
    let tui = Tmux::start_with_env(
        80,
        24,
        "",
        &format!("SPHERE_CONFIG={} {AWS_ENV}", config.display()),
    );
    tui.wait_for("the header with the three clusters live", |s| {
        s.contains("acme gaps") && s.contains("live 3 clusters")
    });
    tui.send(&["2"]);
    let screen = tui.wait_for("the matrix with every cluster's version", |s| {
        s.contains("2.1.0") && s.contains("2.0.0")
    });
    let line = screen
        .lines()
        .find(|l| l.contains(&service[..8]))
        .unwrap_or_else(|| panic!("a row for {service}:\n{screen}"));
    assert_eq!(
        line.matches("2.0.0").count() + line.matches("2.1.0").count(),
        3,
        "a cell per cluster:\n{screen}"
    );
    assert!(
        !line.contains('·'),
        "no blank cell for a cluster that does not exist:\n{screen}"
    );
    tui.send(&["q"]);
    tui.wait_for("sphere to exit cleanly", |s| s.contains("SPHERE-EXITED:0"));
}
