//! The secret and flag actions through the built binary, against the persisted demo
//! state, with every directory in a temporary one and the clock stopped.

use crate::common::*;

use std::process::Stdio;

use serde_json::Value;

const VALUE: &str = "pa55-Word_7c1e-never-shown";

/// Every file under the state directory (the log), read as text.
fn state_files_text(dir: &tempfile::TempDir) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.path().join("state")];
    while let Some(p) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                text.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    text
}

fn version_of(list: &Value, key: &str, region: &str) -> Option<String> {
    list.as_array()
        .expect("array")
        .iter()
        .find(|s| s["key"] == key && s["region"] == region)
        .map(|s| s["version_id"].as_str().expect("version").to_string())
}

#[test]
fn put_from_stdin_then_list_and_reveal_and_the_value_is_never_recorded() {
    let dir = tmp();
    let list = [
        "secret",
        "list",
        "payments-api",
        "--env",
        "staging",
        "--output",
        "json",
    ];
    let before = json(&sphere(&dir, &list));
    let old = version_of(&before, "API_KEY", "eu-west-1").expect("the demo has API_KEY");
    assert_eq!(version_of(&before, "NEW_TOKEN", "eu-west-1"), None);

    // A new secret, and an overwrite (staging needs no --yes), both from stdin.
    for key in ["NEW_TOKEN", "API_KEY"] {
        let out = sphere_in(
            &dir,
            &[
                "secret",
                "put",
                "payments-api",
                key,
                "--env",
                "staging",
                "--region",
                "eu-west-1",
                "--output",
                "json",
            ],
            &format!("{VALUE}\n"),
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let rec = json(&out);
        assert_eq!(rec[0]["action"], "secret.put");
        assert_eq!(rec[0]["outcome"], "succeeded");
        assert_eq!(
            rec[0]["target"],
            format!("staging/payments-api/{key}@eu-west-1")
        );
    }
    let after = json(&sphere(&dir, &list));
    assert!(version_of(&after, "NEW_TOKEN", "eu-west-1").is_some());
    let new = version_of(&after, "API_KEY", "eu-west-1").expect("still there");
    assert_ne!(new, old, "a new version");
    let tags = &after
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["key"] == "NEW_TOKEN")
        .expect("new")["tags"];
    assert_eq!(tags["team"], "payments");
    assert_eq!(tags["env"], "staging");

    let out = sphere(
        &dir,
        &[
            "secret",
            "reveal",
            "payments-api",
            "NEW_TOKEN",
            "--env",
            "staging",
            "--region",
            "eu-west-1",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), VALUE, "exactly the value, newline stripped");
    assert!(!stderr(&out).contains(VALUE));

    let audit = sphere(&dir, &["audit", "--output", "json"]);
    assert_eq!(code(&audit), 0);
    let text = stdout(&audit);
    assert!(!text.contains(VALUE), "the audit trail holds the value");
    let records = json(&audit);
    assert!(
        records
            .as_array()
            .expect("array")
            .iter()
            .any(|r| r["action"] == "secret.reveal"
                && r["target"] == "staging/payments-api/NEW_TOKEN@eu-west-1"
                && r["who"] == "you"),
        "{text}"
    );
    let logs = state_files_text(&dir);
    assert!(
        dir.path().join("state").join("sphere.log").exists(),
        "the log is there to check"
    );
    assert!(!logs.contains(VALUE), "a log holds the value");
}

#[test]
fn put_refuses_an_empty_value_and_a_production_overwrite_without_yes() {
    let dir = tmp();
    let args = |env: &'static str, key: &'static str| {
        [
            "secret",
            "put",
            "payments-api",
            key,
            "--env",
            env,
            "--region",
            "eu-west-1",
        ]
    };
    let out = sphere_in(&dir, &args("staging", "EMPTY_ONE"), "\n");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    // The demo's incident lock on payments-api in production stops secret writes
    // there (exit 3): released first, so this tests the confirmation alone.
    let locked = sphere_in(&dir, &args("production", "API_KEY"), VALUE);
    assert_eq!(code(&locked), 3, "{}", stderr(&locked));
    let out = sphere(
        &dir,
        &[
            "unlock",
            "payments-api",
            "--env",
            "production",
            "--all-holders",
            "--reason",
            "test",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere_in(&dir, &args("production", "API_KEY"), VALUE);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    let out = sphere_in(&dir, &args("production", "bad_key"), VALUE);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("key"), "{}", stderr(&out));
    // Above the secret store's 64 KiB: refused before anything is written.
    let big = "x".repeat(70_000);
    let out = sphere_in(&dir, &args("staging", "BIG_ONE"), &big);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("65536"), "{}", stderr(&out));
    let mut with_yes = args("production", "API_KEY").to_vec();
    with_yes.push("--yes");
    let out = sphere_in(&dir, &with_yes, VALUE);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere(
        &dir,
        &[
            "secret",
            "reveal",
            "payments-api",
            "API_KEY",
            "--env",
            "production",
            "--region",
            "eu-west-1",
        ],
    );
    assert_eq!(stdout(&out), VALUE);
    // Someone else's service: refused with exit 4, audited.
    let mut as_other = args("staging", "OTHER").to_vec();
    as_other.extend(["--as", "sofia.moreno"]);
    let out = sphere_in(&dir, &as_other, VALUE);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("ownership"), "{}", stderr(&out));
    // Read-only: refused.
    let mut ro = args("staging", "OTHER").to_vec();
    ro.push("--read-only");
    let out = sphere_in(&dir, &ro, VALUE);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(!stdout(&sphere(&dir, &["audit", "--output", "json"])).contains(VALUE));
}

#[test]
fn delete_needs_yes_and_removes_the_secret() {
    let dir = tmp();
    let args = [
        "secret",
        "delete",
        "payments-api",
        "API_KEY",
        "--env",
        "staging",
        "--region",
        "eu-west-1",
    ];
    let list = [
        "secret",
        "list",
        "payments-api",
        "--env",
        "staging",
        "--output",
        "json",
    ];
    let out = sphere(&dir, &args);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(version_of(&json(&sphere(&dir, &list)), "API_KEY", "eu-west-1").is_some());
    let mut yes = args.to_vec();
    yes.extend(["--yes", "--output", "json"]);
    let out = sphere(&dir, &yes);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)[0]["action"], "secret.delete");
    let after = json(&sphere(&dir, &list));
    assert_eq!(version_of(&after, "API_KEY", "eu-west-1"), None);
    assert!(version_of(&after, "API_KEY", "us-east-1").is_some());
}

#[test]
fn copy_makes_the_missing_drift_finding_vanish() {
    let dir = tmp();
    let drift = ["secret", "drift", "--output", "json"];
    let findings = json(&sphere(&dir, &drift));
    let f = findings
        .as_array()
        .expect("array")
        .iter()
        .find(|f| f["kind"] == "missing" && f["regions"].as_array().is_some_and(|r| r.len() == 1))
        .expect("the demo has a missing secret")
        .clone();
    let (service, env, key) = (
        f["service"].as_str().expect("service"),
        f["env"].as_str().expect("env"),
        f["key"].as_str().expect("key"),
    );
    let to = f["regions"][0].as_str().expect("region");
    let list = json(&sphere(
        &dir,
        &["secret", "list", service, "--env", env, "--output", "json"],
    ));
    let from = list
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["key"] == key)
        .and_then(|s| s["region"].as_str())
        .expect("a region that has it")
        .to_string();
    let copy = |from: &str, to: &str| {
        sphere(
            &dir,
            &[
                "secret", "copy", service, key, "--env", env, "--from", from, "--to", to,
                "--output", "json",
            ],
        )
    };
    // The wrong way round: the source is missing; the message names it.
    let out = copy(to, &from);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("from"), "{}", stderr(&out));

    let out = copy(&from, to);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)[0]["action"], "secret.copy");
    let after = json(&sphere(&dir, &drift));
    assert!(
        !after
            .as_array()
            .expect("array")
            .iter()
            .any(|g| g["service"] == service
                && g["env"] == env
                && g["key"] == key
                && g["kind"] == "missing"),
        "{after:#}"
    );
    // Again: the target has it now.
    let out = copy(&from, to);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("already"), "{}", stderr(&out));
}

fn pending_in(list: &Value, name: &str) -> Vec<(String, Value)> {
    list["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter(|f| f["name"] == name)
        .flat_map(|f| f["cells"].as_array().expect("cells").iter())
        .map(|c| {
            (
                c["cluster"].as_str().expect("cluster").to_string(),
                c["pending"].clone(),
            )
        })
        .collect()
}

#[test]
fn flag_set_shows_pending_in_flag_list() {
    let dir = tmp();
    // An on/off flag takes on or off.
    let out = sphere(
        &dir,
        &[
            "flag",
            "set",
            "payments.apple-pay",
            "maybe",
            "--env",
            "staging",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("on or off"), "{}", stderr(&out));
    let out = sphere(
        &dir,
        &[
            "flag",
            "set",
            "payments.apple-pay",
            "on",
            "--percentage",
            "30",
            "--env",
            "staging",
            "--as",
            "amara.okafor",
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)[0]["action"], "flag.set");
    let list = json(&sphere(&dir, &["flag", "list", "--output", "json"]));
    let cells = pending_in(&list, "payments.apple-pay");
    assert!(!cells.is_empty());
    for (cluster, pending) in cells {
        if cluster.starts_with("staging/") {
            assert_eq!(pending["value"], "on", "{cluster}");
            assert_eq!(pending["percentage"], 30, "{cluster}");
        } else {
            assert!(pending.is_null(), "{cluster}: {pending}");
        }
    }
    // Someone else's flag: exit 4; an unknown flag or a bad percentage: exit 2.
    let out = sphere(
        &dir,
        &[
            "flag",
            "set",
            "checkout.new-flow",
            "on",
            "--as",
            "amara.okafor",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = sphere(&dir, &["flag", "set", "no.such-flag", "on", "--yes"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = sphere(
        &dir,
        &[
            "flag",
            "set",
            "checkout.new-flow",
            "on",
            "--percentage",
            "101",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // Everywhere without --yes and no terminal: exit 2, nothing sent.
    let out = sphere(&dir, &["flag", "set", "checkout.new-flow", "on"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let list = json(&sphere(&dir, &["flag", "list", "--output", "json"]));
    let cells = pending_in(&list, "checkout.new-flow");
    assert!(!cells.is_empty(), "{list:#}");
    assert!(cells.iter().all(|(_, p)| p.is_null()), "{cells:?}");
}

#[test]
fn an_injected_failure_exits_1_and_is_audited_as_failed() {
    let dir = tmp();
    let out = command(
        &dir,
        &[
            "secret",
            "copy",
            "payments-api",
            "API_KEY",
            "--env",
            "staging",
            "--from",
            "eu-west-1",
            "--to",
            "us-east-1",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("runs");
    assert_eq!(code(&out), 2, "the target has it: {}", stderr(&out));
    let out = command(
        &dir,
        &[
            "flag",
            "set",
            "payments.apple-pay",
            "off",
            "--env",
            "dev",
            "--yes",
            "--output",
            "json",
        ],
    )
    .env("SPHERE_DEMO_FAIL", "set_flag")
    .stdin(Stdio::null())
    .output()
    .expect("runs");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)[0]["outcome"], "failed");
    let list = json(&sphere(&dir, &["flag", "list", "--output", "json"]));
    let cells = pending_in(&list, "payments.apple-pay");
    assert!(!cells.is_empty(), "{list:#}");
    assert!(cells.iter().all(|(_, p)| p.is_null()), "{cells:?}");
}
