//! `sphere env` and `sphere demo advance` through the built binary, against the
//! persisted demo state, with every directory in a temporary one and the clock
//! stopped (it only moves when `demo advance` moves it).

use crate::common::*;

use serde_json::Value;

const DAY: i64 = 86_400;

/// Runs `sphere args` and asserts it exits `expected`, showing its stderr if not.
fn exits(dir: &tempfile::TempDir, args: &[&str], expected: i32) -> std::process::Output {
    let out = sphere(dir, args);
    assert_eq!(code(&out), expected, "{args:?}: {}", stderr(&out));
    out
}

/// Runs `sphere args` and asserts it succeeds.
fn succeeds(dir: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    exits(dir, args, 0)
}

/// `sphere env create NAME --from FROM --ttl TTL` and any further arguments.
fn env_create<'a>(name: &'a str, from: &'a str, ttl: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["env", "create", name, "--from", from, "--ttl", ttl];
    args.extend_from_slice(more);
    args
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{text}");
}

fn envs(dir: &tempfile::TempDir) -> Vec<Value> {
    let out = succeeds(dir, &["env", "list", "--output", "json"]);
    json(&out).as_array().cloned().unwrap_or_default()
}

/// service → version in one cluster column of `sphere deploy matrix --output json`.
fn versions(dir: &tempfile::TempDir, env: &str, region: &str) -> Vec<(String, String)> {
    let args = [
        "deploy", "matrix", "--env", env, "--region", region, "--output", "json",
    ];
    let m = json(&succeeds(dir, &args));
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
    let out = succeeds(
        &dir,
        &env_create("pr-42", "staging", "7d", &["--region", "eu-west-1"]),
    );
    assert_contains(&stdout(&out), "created pr-42 from staging in eu-west-1");

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
    let lock = [
        "lock",
        "cart-service",
        "--env",
        "pr-42",
        "--reason",
        "demo",
        "--yes",
    ];
    succeeds(&dir, &lock);

    let table = stdout(&sphere(&dir, &["env", "list"]));
    assert!(
        table.contains("pr-42")
            && table.contains("EXPIRES IN")
            && (table.contains(" 7d ") || table.contains(" 6d23h")),
        "{table}"
    );

    // Extend: recorded, and the expiry moves.
    let extend = ["env", "extend", "pr-42", "--by", "3d", "--output", "json"];
    let rec = json(&succeeds(&dir, &extend));
    assert_eq!(rec[0]["action"], "env.extend");
    assert_eq!(rec[0]["outcome"], "succeeded");
    let left = envs(&dir)[0]["expires_in_seconds"].as_i64().unwrap_or(0);
    assert!((10 * DAY - 5..=10 * DAY).contains(&left), "{left}");

    // Delete is destructive: --yes without a terminal.
    let out = exits(&dir, &["env", "delete", "pr-42"], 2);
    assert_contains(&stderr(&out), "--yes");
    assert_eq!(envs(&dir).len(), 1, "nothing changed");
    succeeds(&dir, &["env", "delete", "pr-42", "--yes"]);
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
        (env_create("pr-1", "staging", "7w", &[]), "7w"),
        (env_create("pr-1", "staging", "15d", &[]), "invalid ttl"),
        (env_create("Pr 1", "staging", "1d", &[]), "invalid name"),
        (env_create("staging", "dev", "1d", &[]), "exists already"),
        (env_create("pr-1", "qa", "1d", &[]), "invalid from"),
        (vec!["env", "extend", "pr-1", "--by", "1d"], "no ephemeral"),
        (vec!["env", "delete", "production", "--yes"], "permanent"),
    ] {
        let out = exits(&dir, &args, 2);
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert!(envs(&dir).is_empty());
}

#[test]
fn the_policy_refuses_with_exit_4() {
    let dir = tmp();
    let out = exits(&dir, &env_create("pr-1", "dev", "1d", &["--read-only"]), 4);
    assert_contains(&stderr(&out), "read-only");
    // A team member creates.
    succeeds(
        &dir,
        &env_create("pr-1", "dev", "1d", &["--as", "amara.okafor"]),
    );
    let extend = [
        "env",
        "extend",
        "pr-1",
        "--by",
        "1h",
        "--as",
        "sofia.moreno",
        "--output",
        "json",
    ];
    let out = exits(&dir, &extend, 4);
    assert_contains(&stderr(&out), "created by amara.okafor");
    assert_eq!(json(&out)[0]["outcome"], "refused");
}

/// The `EXPIRES IN` column of `sphere env list` for `name`.
fn expires_in(dir: &tempfile::TempDir, name: &str) -> String {
    let table = stdout(&succeeds(dir, &["env", "list"]));
    let head = table.lines().next().unwrap_or_default().to_string();
    let col = head.find("EXPIRES IN").expect("an EXPIRES IN column");
    let row = table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} in {table}"));
    row.chars()
        .skip(head[..col].chars().count())
        .collect::<String>()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Made for 2d, it reads 2d a minute later (as the TUI's ⏳ does, one formatter),
/// not 1d23h59m or a floored 1d; rounded to the nearest day until 1d12h is left.
#[test]
fn time_left_reads_as_it_was_asked_for_rounded_to_the_nearest_unit() {
    let dir = tmp();
    succeeds(&dir, &env_create("pr-2", "dev", "2d", &[]));
    succeeds(&dir, &["demo", "advance", "1m"]);
    assert_eq!(expires_in(&dir, "pr-2"), "2d");
    succeeds(&dir, &["demo", "advance", "11h58m"]);
    assert_eq!(expires_in(&dir, "pr-2"), "2d", "1d12h1m left");
    succeeds(&dir, &["demo", "advance", "2m"]);
    assert_eq!(expires_in(&dir, "pr-2"), "1d", "1d11h59m left");
    succeeds(&dir, &["demo", "advance", "1d11h"]);
    assert_eq!(expires_in(&dir, "pr-2"), "59m");
}

#[test]
fn the_demo_clock_expires_an_environment_for_every_process() {
    let dir = tmp();
    succeeds(&dir, &env_create("pr-7", "dev", "1h", &[]));
    let out = succeeds(&dir, &["demo", "advance", "30m"]);
    assert!(!stdout(&out).contains("expired"), "{}", stdout(&out));
    assert_eq!(envs(&dir).len(), 1);
    let out = sphere(&dir, &["demo", "advance", "31m"]);
    assert_contains(&stdout(&out), "1 environment expired");
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
        &env_create("pr-8", "dev", "1d", &["--output", "json"]),
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
    let request = [
        "access",
        "request",
        "payments-api",
        "--permission",
        "operate",
        "--reason",
        "on call",
        "--as",
        "amara.okafor",
    ];
    succeeds(&dir, &request);
    let table = stdout(&sphere(&dir, &["access", "list"]));
    assert!(
        table.contains("EXPIRES") && (table.contains("in 8h") || table.contains("in 7h59m")),
        "{table}"
    );
    sphere(&dir, &["demo", "advance", "8h"]);
    let table = stdout(&sphere(&dir, &["access", "list"]));
    assert!(table.contains("expired"), "{table}");
}
