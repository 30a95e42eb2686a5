//! State safety and one world, through the built binary: a broken demo state is
//! refused (never replaced), `lock check` fails closed, `demo reset` keeps a backup,
//! every process shows the same live world, and the demo's own commands are for admins
//! and audited.

use serde_json::Value;
use sphere::backend::ClusterProvider;
use sphere::backend::sim::{Sim, SimOptions};

use crate::common::{code, json, sphere, stderr, stdout, tmp};

fn state_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("data").join("demo").join("state-42.json")
}

#[test]
fn a_broken_state_is_refused_lock_check_fails_closed_and_reset_keeps_a_backup() {
    let dir = tmp();
    let lock = [
        "lock",
        "cart-service",
        "--env",
        "staging",
        "--reason",
        "INC-9",
        "--yes",
    ];
    assert_eq!(code(&sphere(&dir, &lock)), 0);
    let path = state_path(&dir);
    let good = std::fs::read(&path).expect("the state file");
    let truncated = &good[..good.len() / 3];
    std::fs::write(&path, truncated).unwrap();
    // Any command, even one that only reads: refused, the file named, nothing replaced.
    for args in [
        &["audit"][..],
        &["deploy", "matrix"],
        &["lock", "check", "cart-service", "--env", "staging"],
    ] {
        let out = sphere(&dir, args);
        let err = stderr(&out);
        assert_ne!(code(&out), 0, "{args:?} must fail closed: {err}");
        assert_ne!(code(&out), 3, "{args:?}: {err}");
        assert!(err.contains(&path.display().to_string()), "{args:?}: {err}");
        assert!(err.contains("truncated") && err.contains("byte"), "{err}");
        assert!(err.contains("sphere demo reset"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), truncated, "{args:?}");
    }
    // Reset moves it aside without reading it.
    let out = sphere(&dir, &["demo", "reset", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let backups: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{}", stdout(&out));
    assert_eq!(std::fs::read(backups[0].path()).unwrap(), truncated);
    assert!(stdout(&out).contains(".bak"), "{}", stdout(&out));
    let check = ["lock", "check", "cart-service", "--env", "staging"];
    assert_eq!(code(&sphere(&dir, &check)), 0, "a new state");
}

/// (name, restarts, waiting) of every pod of `service`, as `sphere pods` prints them.
fn pods_of(v: &Value) -> Vec<(String, u64, Option<String>)> {
    v["pods"]
        .as_array()
        .expect("pods")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["restarts"].as_u64().unwrap(),
                p["waiting"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_cli_and_a_running_sphere_show_one_world() {
    let dir = tmp();
    let path = state_path(&dir);
    // A TUI's demo, ticking (as its clock does) on the CLI's state.
    let sim = Sim::open(
        SimOptions {
            pace: 0.0,
            state_path: Some(path.clone()),
            ..SimOptions::default()
        },
        sphere::backend::catalog::demo_catalog(),
    )
    .expect("open");
    for _ in 0..12 {
        sim.tick();
    }
    let snap = sim
        .snapshot(&sphere::domain::Scope::default())
        .await
        .unwrap();
    let crashing = snap
        .pods
        .iter()
        .find(|p| p.waiting.is_some())
        .expect("a crash loop")
        .clone();
    let mut want: Vec<(String, u64, Option<String>)> = snap
        .pods
        .iter()
        .filter(|p| p.service == crashing.service)
        .map(|p| (p.name.clone(), u64::from(p.restarts), p.waiting.clone()))
        .collect();
    want.sort();
    let args = ["pods", &crashing.service, "--output", "json"];
    let first = json(&sphere(&dir, &args));
    let mut got = pods_of(&first);
    got.sort();
    assert_eq!(got, want, "the CLI shows the running sphere's pods");
    // A second process agrees with the first, pods and matrix alike.
    assert_eq!(json(&sphere(&dir, &args)), first);
    let matrix = ["deploy", "matrix", "--output", "json"];
    assert_eq!(json(&sphere(&dir, &matrix)), json(&sphere(&dir, &matrix)));
    // And the running one sees the world as the CLI left it.
    sim.tick();
    let out = sphere(&dir, &args);
    let after = sim
        .snapshot(&sphere::domain::Scope::default())
        .await
        .unwrap();
    let mut want: Vec<_> = after
        .pods
        .iter()
        .filter(|p| p.service == crashing.service)
        .map(|p| (p.name.clone(), u64::from(p.restarts), p.waiting.clone()))
        .collect();
    want.sort();
    let mut got = pods_of(&json(&out));
    got.sort();
    assert_eq!(got, want);
}

fn audit(dir: &tempfile::TempDir) -> Vec<Value> {
    json(&sphere(dir, &["audit", "--output", "json"]))
        .as_array()
        .expect("records")
        .clone()
}

#[test]
fn the_demo_commands_are_for_admins_and_audited() {
    let dir = tmp();
    for args in [
        &["demo", "advance", "1d", "--as", "amara.okafor"][..],
        &["demo", "reset", "--yes", "--as", "amara.okafor"],
    ] {
        let out = sphere(&dir, args);
        assert_eq!(code(&out), 4, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("platform admins"), "{}", stderr(&out));
    }
    let records = audit(&dir);
    let refused = |action: &str| {
        records.iter().any(|r| {
            r["action"] == action && r["who"] == "amara.okafor" && r["outcome"] == "refused"
        })
    };
    assert!(
        refused("demo.advance") && refused("demo.reset"),
        "{records:?}"
    );
    // The admin (the demo's `you`) may, and it is recorded.
    let out = sphere(&dir, &["demo", "advance", "2h"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(audit(&dir).iter().any(|r| r["action"] == "demo.advance"
        && r["who"] == "you"
        && r["outcome"] == "succeeded"));
    let out = sphere(&dir, &["demo", "reset", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let records = audit(&dir);
    let reset = records
        .iter()
        .find(|r| r["action"] == "demo.reset")
        .expect("the reset is the new trail's first word");
    assert_eq!(reset["who"], "you");
    assert!(
        reset["reason"].as_str().unwrap().contains(".bak"),
        "{reset}"
    );
}

#[cfg(unix)]
#[test]
fn the_log_and_the_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    assert_eq!(code(&sphere(&dir, &["audit"])), 0);
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(dir.path().join("state").join("sphere.log")), 0o600);
    assert_eq!(mode(dir.path().join("state")), 0o700);
    assert_eq!(mode(dir.path().join("data")), 0o700);
    assert_eq!(mode(dir.path().join("data").join("demo")), 0o700);
    assert_eq!(mode(state_path(&dir)), 0o600);
}
