//! `sphere env` and `sphere demo advance` through the built binary, against the
//! persisted demo state, with every directory in a temporary one and the clock
//! stopped (it only moves when `demo advance` moves it).

mod common;
use common::*;

use serde_json::Value;

const DAY: i64 = 86_400;

fn envs(dir: &tempfile::TempDir) -> Vec<Value> {
    let out = sphere(dir, &["env", "list", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out).as_array().cloned().unwrap_or_default()
}

/// service → version in one cluster column of `sphere deploy matrix --output json`.
fn versions(dir: &tempfile::TempDir, env: &str, region: &str) -> Vec<(String, String)> {
    let out = sphere(
        dir,
        &[
            "deploy", "matrix", "--env", env, "--region", region, "--output", "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = json(&out);
    let mut found: Vec<(String, String)> = m["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| {
            let cell = r["cells"].as_array()?.first()?;
            let v = cell.get("version")?.as_str()?;
            Some((r["service"].as_str()?.to_string(), v.to_string()))
        })
        .collect();
    found.sort();
    found
}

fn newest_audit(dir: &tempfile::TempDir) -> Value {
    let a = json(&sphere(dir, &["audit", "--output", "json"]));
    a[0].clone()
}

#[test]
fn create_list_extend_and_delete_an_environment() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "env",
            "create",
            "pr-42",
            "--from",
            "staging",
            "--ttl",
            "7d",
            "--region",
            "eu-west-1",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("created pr-42 from staging in eu-west-1"),
        "{}",
        stdout(&out)
    );

    let list = envs(&dir);
    assert_eq!(list.len(), 1, "{list:?}");
    let e = &list[0];
    assert_eq!(e["name"], "pr-42");
    assert_eq!(e["from"], "staging");
    assert_eq!(e["regions"], serde_json::json!(["eu-west-1"]));
    assert_eq!(e["created_by"], "you");
    let left = e["expires_in_seconds"].as_i64().expect("seconds");
    assert!((7 * DAY - 5..=7 * DAY).contains(&left), "{left}");

    // It is an environment like any other: the matrix has it, at staging's versions.
    let copy = versions(&dir, "pr-42", "eu-west-1");
    assert!(!copy.is_empty());
    assert_eq!(copy, versions(&dir, "staging", "eu-west-1"));
    // And a lock can be scoped to it.
    let out = sphere(
        &dir,
        &[
            "lock",
            "cart-service",
            "--env",
            "pr-42",
            "--reason",
            "demo",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let table = stdout(&sphere(&dir, &["env", "list"]));
    assert!(
        table.contains("pr-42")
            && table.contains("EXPIRES IN")
            && (table.contains(" 7d ") || table.contains(" 6d23h")),
        "{table}"
    );

    // Extend: recorded, and the expiry moves.
    let out = sphere(
        &dir,
        &["env", "extend", "pr-42", "--by", "3d", "--output", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec[0]["action"], "env.extend");
    assert_eq!(rec[0]["outcome"], "succeeded");
    let left = envs(&dir)[0]["expires_in_seconds"].as_i64().unwrap_or(0);
    assert!((10 * DAY - 5..=10 * DAY).contains(&left), "{left}");

    // Delete is destructive: --yes without a terminal.
    let out = sphere(&dir, &["env", "delete", "pr-42"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(envs(&dir).len(), 1, "nothing changed");
    let out = sphere(&dir, &["env", "delete", "pr-42", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(envs(&dir).is_empty());
    assert_eq!(newest_audit(&dir)["action"], "env.delete");
    // Its lock went with it.
    let locks = stdout(&sphere(
        &dir,
        &["lock", "check", "cart-service", "--env", "staging"],
    ));
    assert!(!locks.contains("pr-42"), "{locks}");
    let out = sphere(&dir, &["deploy", "matrix", "--env", "pr-42"]);
    assert_eq!(code(&out), 2, "no such environment any more");
}

#[test]
fn bad_input_exits_2_naming_what_is_wrong() {
    let dir = tmp();
    for (args, says) in [
        (
            vec!["env", "create", "pr-1", "--from", "staging", "--ttl", "7w"],
            "7w",
        ),
        (
            vec!["env", "create", "pr-1", "--from", "staging", "--ttl", "15d"],
            "invalid ttl",
        ),
        (
            vec!["env", "create", "Pr 1", "--from", "staging", "--ttl", "1d"],
            "invalid name",
        ),
        (
            vec!["env", "create", "staging", "--from", "dev", "--ttl", "1d"],
            "exists already",
        ),
        (
            vec!["env", "create", "pr-1", "--from", "qa", "--ttl", "1d"],
            "invalid from",
        ),
        (vec!["env", "extend", "pr-1", "--by", "1d"], "no ephemeral"),
        (vec!["env", "delete", "production", "--yes"], "permanent"),
    ] {
        let out = sphere(&dir, &args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert!(envs(&dir).is_empty());
}

#[test]
fn the_policy_refuses_with_exit_4() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "env",
            "create",
            "pr-1",
            "--from",
            "dev",
            "--ttl",
            "1d",
            "--read-only",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    let out = sphere(
        &dir,
        &[
            "env",
            "create",
            "pr-1",
            "--from",
            "dev",
            "--ttl",
            "1d",
            "--as",
            "amara.okafor",
        ],
    );
    assert_eq!(code(&out), 0, "a team member creates: {}", stderr(&out));
    let out = sphere(
        &dir,
        &[
            "env",
            "extend",
            "pr-1",
            "--by",
            "1h",
            "--as",
            "sofia.moreno",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("created by amara.okafor"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)[0]["outcome"], "refused");
}

#[test]
fn the_demo_clock_expires_an_environment_for_every_process() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &["env", "create", "pr-7", "--from", "dev", "--ttl", "1h"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere(&dir, &["demo", "advance", "30m"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stdout(&out).contains("expired"), "{}", stdout(&out));
    assert_eq!(envs(&dir).len(), 1);
    let out = sphere(&dir, &["demo", "advance", "31m"]);
    assert!(
        stdout(&out).contains("1 environment expired"),
        "{}",
        stdout(&out)
    );
    assert!(envs(&dir).is_empty());
    let r = newest_audit(&dir);
    assert_eq!(r["who"], "system");
    assert_eq!(r["action"], "env.expire");
    assert_eq!(r["target"], "env:pr-7");
    assert_eq!(r["outcome"], "succeeded");
    assert!(
        !versions(&dir, "dev", "us-east-1").is_empty(),
        "dev untouched"
    );
    let out = sphere(&dir, &["demo", "advance", "soon"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn an_injected_failure_exits_1_and_is_recorded() {
    let dir = tmp();
    let out = sphere_env(
        &dir,
        &[
            "env", "create", "pr-8", "--from", "dev", "--ttl", "1d", "--output", "json",
        ],
        Some("create_environment"),
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec[0]["outcome"], "failed");
    assert!(envs(&dir).is_empty());
}

#[test]
fn access_grants_show_when_they_end_and_expire_on_the_clock() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "access",
            "request",
            "payments-api",
            "--permission",
            "operate",
            "--reason",
            "on call",
            "--as",
            "amara.okafor",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let table = stdout(&sphere(&dir, &["access", "list"]));
    assert!(
        table.contains("EXPIRES") && (table.contains("in 8h") || table.contains("in 7h59m")),
        "{table}"
    );
    sphere(&dir, &["demo", "advance", "8h"]);
    let table = stdout(&sphere(&dir, &["access", "list"]));
    assert!(table.contains("expired"), "{table}");
}
