//! The action commands through the built binary, against the persisted demo state,
//! with every directory in a temporary one and the clock stopped.

use crate::common::*;

use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn lock_then_check_exits_3_and_unlock_then_0() {
    let dir = tmp();
    let check = ["lock", "check", "cart-service", "--env", "production"];
    assert_eq!(code(&sphere(&dir, &check)), 0, "free at first");
    let out = sphere(
        &dir,
        &[
            "lock",
            "cart-service",
            "--env",
            "production",
            "--reason",
            "INC-7",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere(&dir, &check);
    assert_eq!(code(&out), 3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("by you") && text.contains("INC-7"), "{text}");
    let out = sphere(
        &dir,
        &["unlock", "cart-service", "--env", "production", "--yes"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&sphere(&dir, &check)), 0);
}

#[test]
fn destructive_without_yes_and_no_terminal_exits_2_and_changes_nothing() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "lock",
            "cart-service",
            "--env",
            "staging",
            "--reason",
            "hold",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere(&dir, &["unlock", "cart-service", "--env", "staging"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    let check = ["lock", "check", "cart-service", "--env", "staging"];
    assert_eq!(code(&sphere(&dir, &check)), 3, "still locked");
}

#[test]
fn a_non_owner_is_refused_with_exit_4_and_the_refusal_is_audited() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "lock",
            "cart-service",
            "--env",
            "dev",
            "--reason",
            "mine now",
            "--as",
            "amara.okafor",
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("ownership"), "{}", stderr(&out));
    let printed = json(&out);
    assert_eq!(printed[0]["outcome"], "refused");
    let audit = json(&sphere(&dir, &["audit", "--output", "json"]));
    let newest = &audit[0];
    assert_eq!(newest["who"], "amara.okafor");
    assert_eq!(newest["action"], "lock.add");
    assert_eq!(newest["outcome"], "refused");
    assert!(
        newest["outcome_detail"]
            .as_str()
            .is_some_and(|d| d.contains("group:checkout")),
        "{newest}"
    );
    assert_eq!(
        code(&sphere(
            &dir,
            &["lock", "check", "cart-service", "--env", "dev"]
        )),
        0
    );
    // An unknown user is bad usage.
    let out = sphere(&dir, &["freeze", "off", "--as", "nobody", "--yes"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn read_only_refuses() {
    let dir = tmp();
    let out = sphere(&dir, &["freeze", "on", "--reason", "x", "--read-only"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    let status = json(&sphere(&dir, &["freeze", "status", "--output", "json"]));
    assert_eq!(status["on"], false);
}

#[test]
fn demo_reset_asks_first_and_read_only_keeps_the_state() {
    let dir = tmp();
    let lock = [
        "lock",
        "cart-service",
        "--env",
        "staging",
        "--reason",
        "INC-1",
        "--yes",
    ];
    assert_eq!(code(&sphere(&dir, &lock)), 0);
    let check = ["lock", "check", "cart-service", "--env", "staging"];
    // Without --yes and without a terminal: nothing is forgotten.
    let out = sphere(&dir, &["demo", "reset"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert_eq!(code(&sphere(&dir, &check)), 3, "still locked");
    // Read-only: neither reset nor the clock.
    for args in [
        &["demo", "reset", "--yes", "--read-only"][..],
        &["demo", "advance", "1d", "--read-only"],
    ] {
        let out = sphere(&dir, args);
        assert_eq!(code(&out), 4, "{args:?}: {}", stderr(&out));
    }
    assert_eq!(code(&sphere(&dir, &check)), 3, "still locked");
    assert_eq!(code(&sphere(&dir, &["demo", "reset", "--yes"])), 0);
    assert_eq!(code(&sphere(&dir, &check)), 0, "forgotten");
}

#[test]
fn a_reason_is_stored_without_control_characters() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "lock",
            "cart-service",
            "--env",
            "staging",
            "--reason",
            "\u{1b}[31mINC-4\u{202E} bad\u{9b}2J deploy",
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rec = json(&out);
    let reason = rec[0]["reason"].as_str().expect("a reason").to_string();
    assert!(
        !reason.chars().any(|c| c.is_control() || c == '\u{202E}'),
        "{reason:?}"
    );
    assert!(
        reason.contains("INC-4") && reason.contains("deploy"),
        "{reason:?}"
    );
}

#[test]
fn unlock_says_when_there_was_nothing_and_when_everything_stays_locked() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &["unlock", "cart-service", "--env", "staging", "--yes"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("had no lock to remove"), "{said}");
    let out = sphere(&dir, &["lock", "all", "--reason", "INC-3", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sphere(
        &dir,
        &["unlock", "cart-service", "--env", "staging", "--yes"],
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("the lock on everything still holds"),
        "{said}"
    );
}

fn version_in(matrix: &Value, service: &str, env: &str, region: &str) -> Option<String> {
    let col = matrix["columns"]
        .as_array()?
        .iter()
        .position(|c| c["env"] == env && c["region"] == region)?;
    let row = matrix["rows"]
        .as_array()?
        .iter()
        .find(|r| r["service"] == service)?;
    row["cells"][col]["version"].as_str().map(str::to_string)
}

#[test]
fn rollback_changes_the_version_in_the_matrix() {
    let dir = tmp();
    let matrix = json(&sphere(&dir, &["deploy", "matrix", "--output", "json"]));
    let region = matrix["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["env"] == "staging")
        .filter_map(|c| c["region"].as_str())
        .find(|r| version_in(&matrix, "cart-service", "staging", r).is_some())
        .expect("cart-service runs in staging")
        .to_string();
    let before = version_in(&matrix, "cart-service", "staging", &region).expect("version");
    let out = sphere(
        &dir,
        &[
            "rollback",
            "cart-service",
            "--env",
            "staging",
            "--region",
            &region,
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec[0]["action"], "deployment.rollback");
    assert_eq!(rec[0]["outcome"], "succeeded");
    let matrix = json(&sphere(&dir, &["deploy", "matrix", "--output", "json"]));
    let after = version_in(&matrix, "cart-service", "staging", &region).expect("version");
    assert_ne!(before, after);
    // Back to the newer one: it says it went forward.
    let out = sphere(
        &dir,
        &[
            "rollback",
            "cart-service",
            "--env",
            "staging",
            "--region",
            &region,
            "--to",
            &before,
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("(forward:"), "{said}");
    // A version not in history is bad usage.
    let out = sphere(
        &dir,
        &[
            "rollback",
            "cart-service",
            "--env",
            "staging",
            "--region",
            &region,
            "--to",
            "9.9.9-nope",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("invalid to"), "{}", stderr(&out));
}

#[test]
fn hpa_out_of_bounds_exits_2_naming_the_field() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "hpa",
            "set",
            "cart-service",
            "--env",
            "staging",
            "--region",
            "us-east-1",
            "--min",
            "2",
            "--max",
            "500",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid max"), "{}", stderr(&out));
}

#[test]
fn an_injected_provider_failure_exits_1_and_is_audited_as_failed() {
    let dir = tmp();
    let out = Command::new(env!("CARGO_BIN_EXE_sphere"))
        .args([
            "freeze", "on", "--reason", "release", "--output", "json", "--pace", "0",
        ])
        .env("SPHERE_DATA_DIR", dir.path().join("data"))
        .env("SPHERE_CONFIG_DIR", dir.path().join("config"))
        .env("SPHERE_STATE_DIR", dir.path().join("state"))
        .env("SPHERE_DEMO_FAIL", "set_freeze")
        .env_remove("SPHERE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec[0]["outcome"], "failed");
    let status = json(&sphere(&dir, &["freeze", "status", "--output", "json"]));
    assert_eq!(status["on"], false, "nothing half-done");
}

#[test]
fn two_holders_lock_check_shows_both_and_a_lock_stops_a_rollback_until_overridden() {
    let dir = tmp();
    let lock_as = |who: &str, reason: &str| {
        let mut args = vec![
            "lock",
            "payments-api",
            "--env",
            "staging",
            "--reason",
            reason,
            "--yes",
        ];
        if !who.is_empty() {
            args.extend(["--as", who]);
        }
        sphere(&dir, &args)
    };
    let out = lock_as("", "INC-7");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A second holder (an owner) adds a lock and is told who holds the first.
    let out = lock_as("lukas.becker", "release 12");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("already locked there by you (INC-7)"),
        "{said}"
    );
    let check = sphere(
        &dir,
        &[
            "lock",
            "check",
            "payments-api",
            "--env",
            "staging",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&check), 3);
    let check = json(&check);
    assert_eq!(check["holders"], serde_json::json!(["lukas.becker", "you"]));
    assert_eq!(check["locks"].as_array().map(Vec::len), Some(2));
    // Lukas's unlock removes his own lock; `you` still holds one.
    let out = sphere(
        &dir,
        &[
            "unlock",
            "payments-api",
            "--env",
            "staging",
            "--as",
            "lukas.becker",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("still locked by you (INC-7)"), "{said}");
    // Another holder's lock goes only with --all-holders.
    let out = sphere(
        &dir,
        &[
            "unlock",
            "payments-api",
            "--env",
            "staging",
            "--as",
            "lukas.becker",
            "--yes",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--all-holders"), "{}", stderr(&out));
    let out = sphere(
        &dir,
        &["unlock", "payments-api", "--env", "staging", "--yes"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Everything locked by `you`: someone else's rollback is refused with exit 3.
    let out = sphere(&dir, &["lock", "all", "--reason", "INC-3", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let matrix = json(&sphere(&dir, &["deploy", "matrix", "--output", "json"]));
    let region = matrix["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["env"] == "staging")
        .filter_map(|c| c["region"].as_str())
        .find(|r| version_in(&matrix, "payments-api", "staging", r).is_some())
        .expect("payments-api runs in staging")
        .to_string();
    let rollback = |extra: &[&str]| {
        let mut args = vec![
            "rollback",
            "payments-api",
            "--env",
            "staging",
            "--region",
            &region,
            "--as",
            "amara.okafor",
            "--reason",
            "bad deploy",
            "--yes",
            "--output",
            "json",
        ];
        args.extend(extra);
        sphere(&dir, &args)
    };
    let out = rollback(&[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("locked by you (INC-3)") && stderr(&out).contains("--override-lock"),
        "{}",
        stderr(&out)
    );
    let out = rollback(&["--override-lock", "pages every minute"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec[0]["reason"], "bad deploy");
    assert_eq!(rec[0]["details"]["override.reason"], "pages every minute");
    assert!(rec[0]["details"]["version.from"].is_string(), "{rec}");
    let audit = json(&sphere(&dir, &["audit", "--output", "json"]));
    let refused = audit
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["action"] == "deployment.rollback" && r["outcome"] == "refused")
        .expect("the refusal is audited");
    assert!(
        refused["change"]
            .as_str()
            .is_some_and(|c| c.contains("you (INC-3)")),
        "{refused}"
    );
    let table = sphere(&dir, &["audit"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("CHANGE") && text.contains("override.reason: pages every minute"),
        "{text}"
    );
}
