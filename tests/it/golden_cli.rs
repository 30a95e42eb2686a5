//! `sphere service create` (the golden path, C4) through the built binary, against the
//! persisted demo state, with every directory in a temporary one and the clock stopped.

use crate::common::*;

use serde_json::Value;

fn listed(dir: &tempfile::TempDir, name: &str) -> bool {
    let out = sphere(dir, &["catalog", "list", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out)
        .as_array()
        .expect("a list")
        .iter()
        .any(|e| e["name"] == name)
}

/// The dev cells of the service's matrix row that run something.
fn dev_cells(dir: &tempfile::TempDir, name: &str) -> Vec<Value> {
    let out = sphere(
        dir,
        &["deploy", "matrix", "--env", "dev", "--output", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = json(&out);
    m["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["service"] == name)
        .flat_map(|r| r["cells"].as_array().cloned().unwrap_or_default())
        .filter(|c| !c.is_null())
        .collect()
}

#[test]
fn create_then_a_new_process_lists_it_and_sees_it_deployed_in_dev() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "service",
            "create",
            "fraud-scorer",
            "--owner",
            "payments",
            "--description",
            "Scores payments",
            "--database",
            "postgres",
            "--cache",
            "--replicas",
            "2",
        ],
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for step in ["repository", "ci", "descriptor", "register", "deploy-dev"] {
        assert!(
            text.lines().any(|l| l.starts_with('✓') && l.contains(step)),
            "{step}: {text}"
        );
    }
    assert!(listed(&dir, "fraud-scorer"));
    let cells = dev_cells(&dir, "fraud-scorer");
    assert_eq!(cells.len(), 3, "one per dev region: {cells:?}");
    assert!(
        cells
            .iter()
            .all(|c| c["desired"] == 2 && c["version"] == "0.1.0"),
        "{cells:?}"
    );
}

#[test]
fn a_failed_step_exits_1_and_the_rerun_resumes_from_it() {
    let dir = tmp();
    let args = [
        "service",
        "create",
        "fraud-scorer",
        "--owner",
        "payments",
        "--output",
        "json",
    ];
    let out = sphere_env(&dir, &args, Some("register"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    let steps: Vec<(String, String)> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or("").to_string(),
                s["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("repository", "done"),
            ("ci", "done"),
            ("descriptor", "done"),
            ("register", "failed")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(!listed(&dir, "fraud-scorer"));
    let out = sphere(&dir, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    let statuses = step_statuses(&v);
    assert_eq!(
        statuses,
        [
            "already_done",
            "already_done",
            "already_done",
            "done",
            "done"
        ]
    );
    assert!(listed(&dir, "fraud-scorer"));
    assert_eq!(dev_cells(&dir, "fraud-scorer").len(), 3);
}

/// A failed run is kept in the state directory (per user) across processes:
/// `--retry` runs it again from the step that failed, and success forgets it.
#[test]
fn a_failed_creation_is_kept_for_retry_by_a_later_process_until_it_succeeds() {
    let dir = tmp();
    let kept = dir.path().join("state").join("golden-retry.json");
    let out = sphere(&dir, &["service", "create", "--retry"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no failed service creation of you to retry"));
    let args = [
        "service",
        "create",
        "fraud-scorer",
        "--owner",
        "payments",
        "--description",
        "Scores payments",
        "--replicas",
        "2",
    ];
    let out = sphere_env(&dir, &args, Some("register"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("--retry"), "{}", stderr(&out));
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).expect("kept")).expect("JSON");
    let you = &file["by_user"]["you"];
    assert_eq!(you["request"]["name"], "fraud-scorer");
    assert_eq!(you["request"]["replicas"], 2);
    assert_eq!(you["step"], "register");
    // Another user has nothing to retry.
    let out = sphere(
        &dir,
        &["service", "create", "--retry", "--as", "amara.okafor"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // A new process, only `--retry`: the kept request, from the failed step.
    let out = sphere(&dir, &["service", "create", "--retry", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["service"], "fraud-scorer");
    let statuses = step_statuses(&v);
    assert_eq!(
        statuses,
        [
            "already_done",
            "already_done",
            "already_done",
            "done",
            "done"
        ]
    );
    assert!(listed(&dir, "fraud-scorer"));
    assert!(
        dev_cells(&dir, "fraud-scorer")
            .iter()
            .all(|c| c["desired"] == 2)
    );
    assert!(!kept.exists(), "forgotten once it succeeded");
    let out = sphere(&dir, &["service", "create", "--retry"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // --retry takes no other field.
    let out = sphere(&dir, &["service", "create", "--retry", "x"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn invalid_fields_exit_2_naming_the_field_and_a_non_member_exits_4() {
    let dir = tmp();
    for (args, field) in [
        (vec!["Bad_Name", "--owner", "payments"], "name"),
        (vec!["cart-service", "--owner", "payments"], "name"),
        (vec!["fresh", "--owner", "nobody"], "owner"),
        (
            vec!["fresh", "--owner", "payments", "--replicas", "11"],
            "replicas",
        ),
        (
            vec!["fresh", "--owner", "payments", "--template", "cobol"],
            "template",
        ),
        (
            vec!["fresh", "--owner", "payments", "--database", "oracle"],
            "database",
        ),
    ] {
        let mut all = vec!["service", "create"];
        all.extend(args);
        let out = sphere(&dir, &all);
        assert_eq!(code(&out), 2, "{field}: {}", stderr(&out));
        assert!(stderr(&out).contains(field), "{field}: {}", stderr(&out));
    }
    assert!(!listed(&dir, "fresh"));
    let out = sphere(
        &dir,
        &[
            "service",
            "create",
            "fresh",
            "--owner",
            "payments",
            "--as",
            "sofia.moreno",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("payments"), "{}", stderr(&out));
    assert!(!listed(&dir, "fresh"));
}

#[test]
fn a_rerun_with_other_settings_is_refused_and_changes_nothing() {
    let dir = tmp();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "service", "create", "pay-gw", "--owner", "payments", "--yes",
        ];
        args.extend_from_slice(extra);
        sphere(&dir, &args)
    };
    let out = create(&["--description", "A gateway", "--database", "postgres"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The same settings: every step is done already.
    let out = create(&["--description", "A gateway", "--database", "postgres"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already done"));
    // Other settings: refused, the descriptor kept.
    let out = create(&[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("other settings"), "{}", stderr(&out));
    let shown = sphere(&dir, &["catalog", "show", "pay-gw"]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("A gateway"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
}

/// The status of each step of a golden-path run's JSON, in order.
fn step_statuses(v: &serde_json::Value) -> Vec<&str> {
    v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or(""))
        .collect()
}
