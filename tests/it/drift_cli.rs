//! The built binary on the demo platform: `secret list|drift`, `flag list`, `audit`.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new(env!("CARGO_BIN_EXE_sphere"))
            .args(args)
            .env("SPHERE_DATA_DIR", d.join("data"))
            .env("SPHERE_CONFIG_DIR", d.join("config"))
            .env("SPHERE_STATE_DIR", d.join("state"))
            .env_remove("SPHERE_CONFIG")
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn secret_drift_finds_all_four_kinds() {
    let e = Env::new();
    let v = e.json(&["secret", "drift", "--output", "json"]);
    let findings = v.as_array().unwrap();
    let kinds: BTreeSet<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["extra", "missing", "tags_differ", "value_differs"]),
        "{v:#}"
    );
    for f in findings {
        assert!(!f["regions"].as_array().unwrap().is_empty());
        for field in ["service", "env", "key", "detail"] {
            assert!(f[field].is_string(), "{field} in {f}");
        }
        assert!(f.get("value").is_none() && f.get("value_hash").is_none());
    }
    // Narrowed to one service: only its findings.
    let svc = findings[0]["service"].as_str().unwrap();
    let one = e.json(&["secret", "drift", svc, "--output", "json"]);
    let one = one.as_array().unwrap();
    assert!(!one.is_empty(), "{svc} has findings");
    assert!(one.iter().all(|f| f["service"] == svc));
    // The table says the same, and exit code 0 either way.
    let out = e.run(&["secret", "drift"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for k in ["missing", "extra", "value_differs", "tags_differ"] {
        assert!(text.contains(k), "{text}");
    }
}

#[test]
fn secret_list_has_metadata_and_never_values() {
    let e = Env::new();
    let drift = e.json(&["secret", "drift", "--output", "json"]);
    let svc = drift[0]["service"].as_str().unwrap().to_string();
    let v = e.json(&["secret", "list", &svc, "--output", "json"]);
    let items = v.as_array().unwrap();
    assert!(!items.is_empty());
    for i in items {
        assert_eq!(i["service"], svc.as_str());
        for field in ["env", "region", "key", "name", "version_id", "tags"] {
            assert!(!i[field].is_null(), "{field} in {i}");
        }
        let keys: BTreeSet<&str> = i.as_object().unwrap().keys().map(String::as_str).collect();
        for banned in ["value", "value_hash", "secret_string", "hash"] {
            assert!(!keys.contains(banned), "{banned} in {i}");
        }
    }
    // The demo's values have recognisable shapes; none of them may be printed.
    let out = e.run(&["secret", "list", &svc, "--output", "json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for shape in ["postgres://", "rediss://", "hooks.slack", "@sentry"] {
        assert!(!text.contains(shape), "a value leaked: {shape}");
    }
    let table = e.run(&["secret", "list", &svc]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("ENV"), "{text}");
    for shape in ["postgres://", "rediss://", "hooks.slack", "@sentry"] {
        assert!(!text.contains(shape), "a value leaked: {shape}");
    }
    // --env and --region narrow the list.
    let env = items[0]["env"].as_str().unwrap();
    let region = items[0]["region"].as_str().unwrap();
    let narrow = e.json(&[
        "secret", "list", &svc, "--env", env, "--region", region, "--output", "json",
    ]);
    let narrow = narrow.as_array().unwrap();
    assert!(!narrow.is_empty(), "{svc} has secrets in {env}/{region}");
    assert!(
        narrow
            .iter()
            .all(|i| i["env"] == env && i["region"] == region)
    );
}

#[test]
fn unknown_region_env_or_service_is_a_usage_error() {
    let e = Env::new();
    let drift = e.json(&["secret", "drift", "--output", "json"]);
    let svc = drift[0]["service"].as_str().unwrap().to_string();
    for args in [
        vec!["secret", "list", &svc, "--region", "mars-1"],
        vec!["secret", "list", &svc, "--env", "prod"],
        vec!["secret", "list", "no-such-service"],
        vec!["secret", "drift", "no-such-service"],
        vec!["secret", "drift", "--env", "qa"],
        vec!["flag", "list", "--env", "qa"],
        vec!["audit", "--since", "yesterday"],
    ] {
        let out = e.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.is_empty(), "{args:?}: a message on stderr");
    }
    let out = e.run(&["secret", "list", &svc, "--region", "mars-1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("mars-1"));
}

#[test]
fn flag_list_shows_drift_and_pending() {
    let e = Env::new();
    let v = e.json(&["flag", "list", "--output", "json"]);
    let flags = v["flags"].as_array().unwrap();
    assert!(flags.len() >= 10);
    let drifted: Vec<&Value> = flags.iter().filter(|f| f["drifted"] == true).collect();
    assert!(!drifted.is_empty(), "{v:#}");
    assert_eq!(v["summary"]["drifted"].as_u64(), Some(drifted.len() as u64));
    assert!(!v["drift"].as_array().unwrap().is_empty());
    let pending: Vec<&Value> = flags
        .iter()
        .flat_map(|f| f["cells"].as_array().unwrap())
        .filter(|c| !c["pending"].is_null())
        .collect();
    assert!(!pending.is_empty(), "{v:#}");
    assert!(pending[0]["pending"]["value"].is_string());
    assert!(pending[0]["pending"]["percentage"].is_u64());
    let cell = &flags[0]["cells"][0];
    for field in ["cluster", "env", "region", "value", "percentage"] {
        assert!(!cell[field].is_null(), "{field} in {cell}");
    }
    // Drift is really a disagreement inside one environment.
    let d = &v["drift"][0];
    assert!(d["variants"].as_array().unwrap().len() >= 2);

    let prod = e.json(&["flag", "list", "--env", "production", "--output", "json"]);
    let clusters = prod["clusters"].as_array().unwrap();
    assert!(!clusters.is_empty(), "{prod:#}");
    assert!(
        clusters
            .iter()
            .all(|c| c.as_str().unwrap().starts_with("production/"))
    );
    let table = e.run(&["flag", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("DRIFT") && text.contains("pending"), "{text}");
}

#[test]
fn audit_lists_the_seeded_records_newest_first() {
    let e = Env::new();
    let v = e.json(&["audit", "--since", "30d", "--output", "json"]);
    let items = v.as_array().unwrap();
    assert!(items.len() >= 10, "{v:#}");
    let ats: Vec<i64> = items.iter().map(|i| i["at"].as_i64().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    let actions: BTreeSet<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    for a in ["freeze.on", "secret.update", "flag.set", "hpa.patch"] {
        assert!(actions.contains(a), "{actions:?}");
    }
    for i in items {
        for field in ["time", "who", "action", "target", "outcome"] {
            assert!(i[field].is_string(), "{field} in {i}");
        }
    }
    assert!(
        items
            .iter()
            .any(|i| i["outcome"] == "refused" && i["outcome_detail"].is_string())
    );
    // A short window keeps fewer.
    let recent = e.json(&["audit", "--since", "3h", "--output", "json"]);
    assert!(recent.as_array().unwrap().len() < items.len());
}
